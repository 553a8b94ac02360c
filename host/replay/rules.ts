/*
 * host/replay/rules.ts - apply ipvsadm-save / -R rules text to a fresh engine.
 *
 * Runtime-agnostic. Only the commands a saved configuration holds are accepted (-A -E -D -a
 * -e -d -C --set); anything else (-L, -S, -Z, daemons) is refused with its line number, since
 * a replay has no terminal to list into. Every failure is a WvsError (WVS_ERR_RULES for
 * syntax, the engine's own WVS_ERR_<errno> for a refused change), message prefixed by the line.
 */
import type { Engine, ServiceKey, ServiceSpec, DestSpec } from '../engine.ts';
import { WvsError } from '../errors.ts';
import { WvsUsageError } from '../rules/errors.ts';
import { parseRestoreLine, splitRulesFile, type SvcKey, type SvcSpec, type DestSpec as RuleDest } from '../rules/parse.ts';
import { SVC_F_HASHED, SVC_F_PERSISTENT } from '../rules/types.ts';

export function serviceKey(k: SvcKey): ServiceKey {
  return k.fwmark ? { fwmark: k.fwmark, af: k.af } : { proto: k.proto ?? undefined, addr: k.addr, port: k.port, af: k.af };
}

function serviceSpec(k: SvcKey, s: SvcSpec): ServiceSpec {
  const persistent = (s.flags & SVC_F_PERSISTENT) !== 0;
  return {
    ...serviceKey(k), sched: s.sched, flags: s.flags & ~(SVC_F_PERSISTENT | SVC_F_HASHED),
    persistent: persistent ? s.timeout : undefined, netmask: s.netmask,
  };
}

function destSpec(d: RuleDest): DestSpec {
  return { addr: d.addr, port: d.port, weight: d.weight, fwd: d.fwd, uthresh: d.uthresh, lthresh: d.lthresh };
}

/** Apply every line of `text`; returns how many commands were applied. */
export function applyRules(engine: Engine, text: string): number {
  let n = 0;
  for (const { line, argv } of splitRulesFile(text)) {
    const at = (msg: string) => `rules line ${line} (${argv.join(' ')}): ${msg}`;
    let op;
    try {
      op = parseRestoreLine(argv, { prog: 'wasmvs replay' });
    } catch (e) {
      if (e instanceof WvsUsageError) throw new WvsError('WVS_ERR_RULES', at(e.message.trim().split('\n')[0]));
      throw e;
    }
    try {
      switch (op.cmd) {
        case 'addService': engine.addService(serviceSpec(op.svc, op)); break;
        case 'editService': engine.editService(serviceSpec(op.svc, op)); break;
        case 'delService': engine.delService(serviceKey(op.svc)); break;
        case 'clear': engine.clear(); break;
        case 'addDest': engine.addDest(serviceKey(op.svc), destSpec(op.dest)); break;
        case 'editDest': engine.editDest(serviceKey(op.svc), destSpec(op.dest)); break;
        case 'delDest': engine.delDest(serviceKey(op.svc), op.dest); break;
        case 'setTimeouts': engine.setTimeouts(op.timeouts); break;
        default:
          throw new WvsError('WVS_ERR_RULES', `'${op.cmd}' is not a configuration command`);
      }
    } catch (e) {
      if (e instanceof WvsError) throw new WvsError(e.code, at(e.message), e.errno);
      throw e;
    }
    n++;
  }
  return n;
}
