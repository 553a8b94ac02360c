/*
 * host/director/rules.ts - apply an ipvsadm-save (-R) rules file to the engine.
 *
 * Lines are parsed by host/rules (splitRulesFile + parseRestoreLine, what parseRulesFile does,
 * keeping each op's line number) and applied in order through the engine's control calls.
 * Anything the director cannot do from a rules file gives an error naming the file and line.
 */
import { readFileSync } from 'node:fs';
import type { Engine, ServiceKey, ServiceSpec } from '../engine.ts';
import { WvsError } from '../errors.ts';
import { parseRestoreLine, splitRulesFile, type Op, type SvcKey } from '../rules/parse.ts';
import { WvsUsageError } from '../rules/errors.ts';
import { SVC_F_HASHED, SVC_F_PERSISTENT } from '../rules/types.ts';

/** A rules file could not be used: `file:line: what` in the message. */
export class WvsDirectorRulesError extends WvsError {
  constructor(readonly file: string, readonly line: number, readonly text: string, why: string) {
    super('WVS_ERR_RULES', `${file}:${line}: ${why}\n  ${line} | ${text}`);
    this.name = 'WvsDirectorRulesError';
  }
}

export interface RuleOp { line: number; text: string; op: Op }

/** Parse rules text into ops with their line numbers; throws WvsDirectorRulesError on a bad line. */
export function parseRules(text: string, file = '<rules>'): RuleOp[] {
  const raw = text.split('\n');
  const out: RuleOp[] = [];
  for (const { line, argv } of splitRulesFile(text)) {
    const lineText = (raw[line - 1] ?? '').trim();
    try {
      out.push({ line, text: lineText, op: parseRestoreLine(argv, { prog: 'wasmvs' }) });
    } catch (e) {
      if (e instanceof WvsUsageError) throw new WvsDirectorRulesError(file, line, lineText, e.message.trim().split('\n')[0]);
      throw e;
    }
  }
  return out;
}

export function engineKey(k: SvcKey): ServiceKey {
  return k.fwmark ? { fwmark: k.fwmark, af: k.af } : { proto: k.proto ?? undefined, addr: k.addr, port: k.port, af: k.af };
}

/** How the director is attached: 'ip' (TUN: NAT, FULLNAT) or 'ethernet' (TAP: NAT, DR, tunnels). */
export interface ApplyOptions { link?: 'ip' | 'ethernet' }

/** Apply one op; returns a reason string when the op is not something a rules file may do here. */
function applyOp(engine: Engine, op: Op, o: ApplyOptions): string | null {
  switch (op.cmd) {
    case 'addService':
    case 'editService': {
      if (op.pe) return `persistence engine "${op.pe}" is not supported by wasmvs`;
      const spec: ServiceSpec = {
        ...engineKey(op.svc), sched: op.sched,
        flags: op.flags & ~(SVC_F_PERSISTENT | SVC_F_HASHED),
        persistent: op.flags & SVC_F_PERSISTENT ? op.timeout : undefined,
        netmask: op.netmask,
      };
      if (op.cmd === 'addService') engine.addService(spec); else engine.editService(spec);
      return null;
    }
    case 'delService': engine.delService(engineKey(op.svc)); return null;
    case 'clear': engine.clear(); return null;
    case 'addDest':
    case 'editDest': {
      const d = op.dest;
      if (d.fwd !== 'Masq' && (o.link ?? 'ip') === 'ip' && (d.fwd === 'Route' || d.fwd === 'Tunnel')) {
        return `forwarding method ${d.fwd} is not supported by the TUN director (only -m, Masq, and --fullnat; -g and -i need --mode tap)`;
      }
      if (d.fwd === 'FullNat' && (o.link ?? 'ip') !== 'ip') {
        return 'forwarding method FullNat (--fullnat) is not supported by the TAP director (the engine answers ARP/ND for VIPs only, not for local addresses): use --mode tun';
      }
      if (d.fwd !== 'Masq' && d.fwd !== 'Route' && d.fwd !== 'Tunnel' && d.fwd !== 'FullNat') return `forwarding method ${d.fwd} is not supported by the director`;
      const spec = {
        addr: d.addr, port: d.port, weight: d.weight, fwd: d.fwd, uthresh: d.uthresh, lthresh: d.lthresh,
        ...(d.fwd === 'Tunnel' ? { tunType: d.tunType, tunPort: d.tunPort, tunFlags: d.tunFlags } : {}),
      };
      if (op.cmd === 'addDest') engine.addDest(engineKey(op.svc), spec); else engine.editDest(engineKey(op.svc), spec);
      return null;
    }
    case 'delDest': engine.delDest(engineKey(op.svc), { addr: op.dest.addr, port: op.dest.port }); return null;
    // FULLNAT local addresses (DPVS: -P/-Q -t VIP:PORT -z LADDR; -F IFNAME is ignored)
    case 'addLaddr': engine.addLaddr(engineKey(op.svc), op.laddr.addr); return null;
    case 'delLaddr': engine.delLaddr(engineKey(op.svc), op.laddr.addr); return null;
    case 'setTimeouts': engine.setTimeouts(op.timeouts); return null;
    default:
      return `"${op.cmd}" is not a rule (a rules file holds -A/-E/-D/-a/-e/-d/-C/--set lines, as ipvsadm-save writes)`;
  }
}

/**
 * A FULLNAT local address must not be a VIP (the engine takes replies to it for client traffic,
 * and the director routes both into the device): the first -P line naming a VIP of the file, or
 * the first -A line whose VIP is a laddr of an earlier line, throws WvsDirectorRulesError.
 */
export function checkLaddrs(ops: readonly RuleOp[], file = '<rules>'): void {
  const vips = new Map<string, RuleOp>();
  const laddrs = new Map<string, RuleOp>();
  const norm = (a: string) => a.toLowerCase();
  for (const r of ops) {
    if ((r.op.cmd === 'addService' || r.op.cmd === 'editService') && !r.op.svc.fwmark) vips.set(norm(r.op.svc.addr), r);
    if (r.op.cmd === 'addLaddr') laddrs.set(norm(r.op.laddr.addr), r);
  }
  for (const r of ops) {
    if (r.op.cmd === 'addLaddr') {
      const v = vips.get(norm(r.op.laddr.addr));
      if (v) throw new WvsDirectorRulesError(file, r.line, r.text, `local address ${r.op.laddr.addr} is also a VIP (line ${v.line}): a FULLNAT laddr must not be a VIP`);
    }
    if ((r.op.cmd === 'addService' || r.op.cmd === 'editService') && !r.op.svc.fwmark) {
      const l = laddrs.get(norm(r.op.svc.addr));
      if (l && l.line < r.line) throw new WvsDirectorRulesError(file, r.line, r.text, `VIP ${r.op.svc.addr} is also a FULLNAT local address (line ${l.line}): a FULLNAT laddr must not be a VIP`);
    }
  }
}

/** Apply parsed ops to the engine; the first failure throws WvsDirectorRulesError naming its line. */
export function applyRules(engine: Engine, ops: readonly RuleOp[], file = '<rules>', o: ApplyOptions = {}): void {
  checkLaddrs(ops, file);
  for (const r of ops) {
    let why: string | null;
    try { why = applyOp(engine, r.op, o); } catch (e: any) {
      if (e instanceof WvsError) why = e.message; else throw e;
    }
    if (why) throw new WvsDirectorRulesError(file, r.line, r.text, why);
  }
}

/** Read, parse and apply a rules file. */
export function loadRulesFile(engine: Engine, file: string, o: ApplyOptions = {}): RuleOp[] {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e: any) {
    throw new WvsError('WVS_ERR_RULES', `cannot read rules file ${file}: ${e?.code ?? e?.message ?? e}`);
  }
  const ops = parseRules(text, file);
  applyRules(engine, ops, file, o);
  return ops;
}

/** The FULLNAT local addresses (address, family) the -P lines of `ops` add (a later -Q does not remove them). */
export function laddrsOf(ops: readonly RuleOp[]): { addr: string; af: 4 | 6 }[] {
  const seen = new Map<string, 4 | 6>();
  for (const { op } of ops) if (op.cmd === 'addLaddr') seen.set(op.laddr.addr, op.laddr.af);
  return [...seen].map(([addr, af]) => ({ addr, af }));
}

/** The VIPs (address, family) of the services in `ops` that have one (not fwmark services). */
export function vipsOf(ops: readonly RuleOp[]): { addr: string; af: 4 | 6 }[] {
  const seen = new Map<string, 4 | 6>();
  for (const { op } of ops) if (op.cmd === 'addService' && !op.svc.fwmark) seen.set(op.svc.addr, op.svc.af);
  return [...seen].map(([addr, af]) => ({ addr, af }));
}
