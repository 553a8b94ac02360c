/*
 * One-line test helpers for host/rules (the antfu `ni` pattern: `it('x', _('args', 'expected'))`).
 */
import { expect } from 'vitest';
import { WvsUsageError } from '../../host/rules/errors.ts';
import { parseArgs, type DestSpec, type Op, type SvcKey } from '../../host/rules/parse.ts';

const svcText = (s: SvcKey): string =>
  s.fwmark ? `FWM ${s.fwmark}${s.af === 6 ? ' v6' : ''}` : `${s.proto} ${s.af === 6 ? `[${s.addr}]` : s.addr}:${s.port}`;
const destText = (d: DestSpec): string =>
  `${d.af === 6 ? `[${d.addr}]` : d.addr}:${d.port} ${d.fwd} w=${d.weight} x=${d.uthresh} y=${d.lthresh}` +
  (d.fwd === 'Tunnel' ? ` ${d.tunType}:${d.tunPort}:${d.tunFlags}` : '');
const maskText = (af: 4 | 6, m: number): string =>
  af === 6 ? String(m) : [24, 16, 8, 0].map((s) => (m >>> s) & 255).join('.');

/** A compact, stable text for an Op, so expectations fit on one line. */
export function opText(op: Op): string {
  switch (op.cmd) {
    case 'addService': case 'editService':
      return `${op.cmd} ${svcText(op.svc)} ${op.sched} flags=${op.flags} p=${op.timeout} mask=${maskText(op.svc.af, op.netmask)}${op.pe ? ` pe=${op.pe}` : ''}`;
    case 'delService': return `delService ${svcText(op.svc)}`;
    case 'addDest': case 'editDest': case 'delDest': return `${op.cmd} ${svcText(op.svc)} -> ${destText(op.dest)}`;
    case 'list': {
      const f = Object.entries(op.format).filter(([, v]) => v).map(([k]) => k);
      return ['list', op.what, ...(op.svc ? [svcText(op.svc)] : []), ...f].join(' ');
    }
    case 'zero': return `zero${op.svc ? ' ' + svcText(op.svc) : ''}`;
    case 'setTimeouts': return `setTimeouts ${op.timeouts.tcp} ${op.timeouts.tcpfin} ${op.timeouts.udp}`;
    case 'save': return `save${op.numeric ? ' numeric' : ''}`;
    case 'startDaemon': case 'stopDaemon':
      return `${op.cmd} ${op.daemon.state} ${op.daemon.mcastIfn} syncid=${op.daemon.syncid}`;
    default: return op.cmd;
  }
}

/** Parse and show the Op, or "rc=N message" for a usage error. Arguments split on single spaces. */
export function show(args: string | string[]): string {
  try {
    return opText(parseArgs(typeof args === 'string' ? (args === '' ? [] : args.split(' ')) : args));
  } catch (e) {
    if (e instanceof WvsUsageError) return `rc=${e.rc} ${e.message}`;
    throw e;
  }
}

/** `it(name, _(args, expected))` */
export const _ = (args: string | string[], expected: string) => (): void => { expect(show(args)).toBe(expected); };
