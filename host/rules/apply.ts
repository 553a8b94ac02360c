/*
 * host/rules/apply.ts - apply ipvsadm-save (-R) rules text to an engine: the one applier used by
 * `wasmvs run --rules`, `wasmvs replay --rules`, the browser page and the edge example.
 *
 * Lines are parsed by host/rules (splitRulesFile + parseRestoreLine, keeping each op's line
 * number) and applied in order through the engine's control calls. Besides ipvsadm's lines a
 * rules file may hold the iptables mangle rules that give packets a firewall mark for `-f`
 * services (the engine has no netfilter: they become MARK hooks at PRE_ROUTING):
 *
 *   iptables -t mangle -A PREROUTING [-s|-d PREFIX] [-p tcp|udp] [--dport P[:Q]] -j MARK --set-mark M
 *
 * Anything that cannot be done from a rules file is an error naming the file and line.
 * No Node APIs: reading the file is the caller's business.
 */
import type { Engine, ServiceKey, ServiceSpec, DestSpec } from '../engine.ts';
import { WvsError } from '../errors.ts';
import { MAX_RULE_LINE, parseRestoreLine, splitRulesFile, type Op, type SvcKey, type SvcSpec, type DestSpec as RuleDestSpec } from './parse.ts';
import { WvsUsageError } from './errors.ts';
import { SVC_F_HASHED, SVC_F_PERSISTENT } from '../types.ts';

/** A rules file could not be used: `file:line: what` in the message. */
export class WvsRulesError extends WvsError {
  constructor(readonly file: string, readonly line: number, readonly text: string, why: string) {
    super('WVS_ERR_RULES', `${file}:${line}: ${why}\n  ${line} | ${text}`);
    this.name = 'WvsRulesError';
  }
}

/** A firewall-mark rule (iptables -t mangle ... -j MARK --set-mark M). */
export interface MarkRule { cmd: 'mark'; mark: number; prefix?: string; matchSource: boolean; proto?: 'TCP' | 'UDP'; dport?: [number, number] }
export interface RuleOp { line: number; text: string; op: Op | MarkRule }

/** The largest rules file wasmvs reads (a -R restore travels in one request of the same size). */
export const MAX_RULES_BYTES = 16 << 20;

/** A line as an error shows it: at most 120 characters, control characters escaped. */
const showLine = (t: string): string =>
  // eslint-disable-next-line no-control-regex
  (t.length > 120 ? t.slice(0, 120) + '...' : t).replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** ipvsadm prints only "Try `ipvsadm -h'" for these; a rules file says what is wrong with the line. */
function whyTryHelp(argv: readonly string[]): string {
  if (!argv[0].startsWith('-')) return `"${showLine(argv[0])}" is not an option: a rules line is an ipvsadm command (-A, -E, -a, -e, -D, -d, -C, --set, ...) or an iptables MARK rule, and # starts a comment`;
  return 'no command on this line (-A, -E, -a, -e, -D, -d, -C, --set, ...): ipvsadm would only say "Try `ipvsadm -h\'"';
}

/**
 * Parse rules text into ops with their line numbers; throws WvsRulesError on a bad line. Lines
 * whose first word starts with # are comments, blank lines are skipped (`-R` on stdin keeps
 * ipvsadm's behaviour and refuses them).
 */
export function parseRules(text: string, file = '<rules>', prog = 'wasmvs'): RuleOp[] {
  if (text.length > MAX_RULES_BYTES) throw new WvsError('WVS_ERR_RULES', `${file}: larger than ${MAX_RULES_BYTES >> 20} MiB (the largest rules file wasmvs reads): is it the right file?`);
  const raw = text.split('\n');
  const long = raw.findIndex((l) => l.length > MAX_RULE_LINE);
  if (long >= 0) throw new WvsError('WVS_ERR_RULES', `${file}:${long + 1}: a line of ${raw[long].length} characters, longer than ${MAX_RULE_LINE} (the longest rules line wasmvs reads); not shown`);
  const out: RuleOp[] = [];
  for (const { line, argv } of splitRulesFile(text)) {
    const lineText = (raw[line - 1] ?? '').trim();
    if (argv[0].startsWith('#')) continue;
    try {
      if (argv[0] === 'iptables' || argv[0] === 'ip6tables') out.push({ line, text: lineText, op: parseMarkRule(argv) });
      else out.push({ line, text: lineText, op: parseRestoreLine(argv, { prog }) });
    } catch (e) {
      if (e instanceof WvsUsageError || (e instanceof WvsError && e.code === 'WVS_ERR_MARK_RULE')) {
        const why = e.message.trim().split('\n')[0];
        throw new WvsRulesError(file, line, showLine(lineText), /^Try `/.test(why) ? whyTryHelp(argv) : why.length > 200 ? why.slice(0, 200) + '...' : why);
      }
      throw e;
    }
  }
  return out;
}

export function engineKey(k: SvcKey): ServiceKey {
  return k.fwmark ? { fwmark: k.fwmark, af: k.af } : { proto: k.proto ?? undefined, addr: k.addr, port: k.port, af: k.af };
}

/** A parsed -A/-E line as the engine's service spec (persistence is its own field there). */
export function engineServiceSpec(k: SvcKey, sp: SvcSpec): ServiceSpec {
  return {
    ...engineKey(k), sched: sp.sched,
    flags: sp.flags & ~(SVC_F_PERSISTENT | SVC_F_HASHED),
    persistent: sp.flags & SVC_F_PERSISTENT ? sp.timeout : undefined,
    netmask: sp.netmask,
  };
}

/** A parsed -a/-e line as the engine's dest spec (tunnel options only for -i). */
export function engineDestSpec(d: RuleDestSpec): DestSpec {
  return {
    addr: d.addr, port: d.port, weight: d.weight, fwd: d.fwd, uthresh: d.uthresh, lthresh: d.lthresh,
    ...(d.fwd === 'Tunnel' ? { tunType: d.tunType, tunPort: d.tunPort, tunFlags: d.tunFlags } : {}),
  };
}

/**
 * How the engine is attached: 'ip' (a TUN director), 'ethernet' (a TAP director), or 'any' (replay,
 * the browser, an edge runtime). Every method is accepted on each, as the kernel accepts it; on a
 * TUN, DR and tunnel dests cannot forward (the engine drops their conns' packets, counted as
 * drop_method_unsupported_on_link) and the director warns about each (host/director/director.ts).
 */
export interface ApplyOptions { link?: 'ip' | 'ethernet' | 'any' }

/** Apply one op; returns a reason string when the op is not something a rules file may do here. */
function applyOp(engine: Engine, op: Op | MarkRule, _o: ApplyOptions): string | null {
  switch (op.cmd) {
    case 'mark':
      // the mangle table sits at NF_IP_PRI_MANGLE (-150) of PRE_ROUTING
      engine.addHook({ point: 'PRE_ROUTING', priority: -150, fn: 'MARK', mark: op.mark, prefix: op.prefix,
        matchSource: op.matchSource, proto: op.proto, dport: op.dport });
      return null;
    case 'addService':
    case 'editService': {
      if (op.pe) return `persistence engine "${op.pe}" is not supported by wasmvs`;
      const spec = engineServiceSpec(op.svc, op);
      if (op.cmd === 'addService') engine.addService(spec); else engine.editService(spec);
      return null;
    }
    case 'delService': engine.delService(engineKey(op.svc)); return null;
    case 'clear': engine.clear(); return null;
    case 'addDest':
    case 'editDest': {
      const d = op.dest;
      if (d.fwd !== 'Masq' && d.fwd !== 'Route' && d.fwd !== 'Tunnel' && d.fwd !== 'FullNat') return `forwarding method ${d.fwd} is not supported by the director`;
      const spec = engineDestSpec(d);
      if (op.cmd === 'addDest') engine.addDest(engineKey(op.svc), spec); else engine.editDest(engineKey(op.svc), spec);
      return null;
    }
    case 'delDest': engine.delDest(engineKey(op.svc), { addr: op.dest.addr, port: op.dest.port }); return null;
    // FULLNAT local addresses (DPVS: -P/-Q -t VIP:PORT -z LADDR; -F IFNAME is ignored)
    case 'addLaddr': engine.addLaddr(engineKey(op.svc), op.laddr.addr); return null;
    case 'delLaddr': engine.delLaddr(engineKey(op.svc), op.laddr.addr); return null;
    case 'setTimeouts': engine.setTimeouts(op.timeouts); return null;
    default:
      return `"${op.cmd}" is not a rule (a rules file holds -A/-E/-D/-a/-e/-d/-C/--set/-P/-Q lines, as ipvsadm-save writes, and iptables MARK lines)`;
  }
}

/**
 * A FULLNAT local address must not be a VIP (the engine takes replies to it for client traffic,
 * and the director routes both into the device): the first -P line naming a VIP of the file, or
 * the first -A line whose VIP is a laddr of an earlier line, throws WvsRulesError.
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
      if (v) throw new WvsRulesError(file, r.line, r.text, `local address ${r.op.laddr.addr} is also a VIP (line ${v.line}): a FULLNAT laddr must not be a VIP`);
    }
    if ((r.op.cmd === 'addService' || r.op.cmd === 'editService') && !r.op.svc.fwmark) {
      const l = laddrs.get(norm(r.op.svc.addr));
      if (l && l.line < r.line) throw new WvsRulesError(file, r.line, r.text, `VIP ${r.op.svc.addr} is also a FULLNAT local address (line ${l.line}): a FULLNAT laddr must not be a VIP`);
    }
  }
}

/** Apply parsed ops to the engine; the first failure throws WvsRulesError naming its line. */
export function applyRules(engine: Engine, ops: readonly RuleOp[], file = '<rules>', o: ApplyOptions = {}): void {
  checkLaddrs(ops, file);
  // size the tables for the whole file at once (they would grow as it is applied anyway)
  engine.reserve({ svcs: ops.filter((r) => r.op.cmd === 'addService').length, dests: ops.filter((r) => r.op.cmd === 'addDest').length });
  for (const r of ops) {
    let why: string | null;
    try { why = applyOp(engine, r.op, o); } catch (e: any) {
      if (e instanceof WvsError) why = e.message; else throw e;
    }
    if (why) throw new WvsRulesError(file, r.line, r.text, why);
  }
}


/** iptables -t mangle -A PREROUTING [-s|-d PREFIX] [-p tcp|udp] [--dport P[:Q]] -j MARK --set-mark M */
export function parseMarkRule(argv: readonly string[]): MarkRule {
  const bad = (why: string): never => { throw new WvsError('WVS_ERR_MARK_RULE', `${argv[0]}: ${why}`); };
  const r: MarkRule = { cmd: 'mark', mark: 0, matchSource: false };
  let table = 'filter', chain = '', target = '';
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    const need = () => { if (v === undefined) bad(`${a} needs a value`); i++; return v!; };
    switch (a) {
      case '-t': case '--table': table = need(); break;
      case '-A': case '--append': case '-I': case '--insert': chain = need(); break;
      case '-s': case '--source': r.prefix = need(); r.matchSource = true; break;
      case '-d': case '--destination': r.prefix = need(); r.matchSource = false; break;
      case '-p': case '--protocol': {
        const p = need().toLowerCase();
        if (p !== 'tcp' && p !== 'udp') bad(`protocol ${p}: only tcp and udp can be matched`);
        r.proto = p === 'tcp' ? 'TCP' : 'UDP'; break;
      }
      case '-m': case '--match': need(); break;            // -m tcp / -m udp / -m multiport-free forms
      case '--dport': case '--destination-port': {
        const m = /^(\d+)(?::(\d+))?$/.exec(need());
        const lo = m ? Number(m[1]) : NaN, hi = m ? Number(m[2] ?? m[1]) : NaN;
        if (!m || lo > hi || hi > 65535) bad(`bad port or range ${v}`);
        r.dport = [lo, hi]; break;
      }
      case '-j': case '--jump': target = need(); break;
      case '--set-mark': case '--set-xmark': {
        const m = Number(need().split('/')[0]);
        if (!Number.isInteger(m) || m < 1 || m > 0xffffffff) bad(`bad mark ${v}`);
        r.mark = m; break;
      }
      default: bad(`option ${a} is not supported in a rules file (only -t mangle -A PREROUTING, -s/-d, -p, --dport, -j MARK --set-mark)`);
    }
  }
  if (table !== 'mangle' || chain !== 'PREROUTING') bad('only "-t mangle -A PREROUTING" rules set marks for wasmvs');
  if (target !== 'MARK' || !r.mark) bad('only "-j MARK --set-mark M" is supported');
  if (r.dport && !r.proto) bad('--dport needs -p tcp or -p udp');
  return r;
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
