/*
 * host/rules/sysctl.ts - the net.ipv4.vs.* sysctls, by their kernel names: which ones wasmvs
 * implements, their defaults, the values the kernel's proc handlers accept, and how each one
 * maps onto an engine setting (assembly/defs.ts SET_*).
 *
 * Names and defaults are Linux 6.1's (test/golden/kernel/recorded/sysctl: `sysctl -a` in the
 * oracle VM, and what each proc handler accepted). Three kinds:
 *  - settable: any value the kernel accepts is accepted and read back as the kernel reads it;
 *  - fixed: wasmvs behaves as the kernel does with the default value; writing the default is
 *    accepted, any other value is refused with the reason (listed with its value);
 *  - absent: no such machinery here; refused with the reason (none today).
 * One table per engine (sysctlsOf), so `wasmvs run --sysctl`, `wasmvs adm --sysctl` and the
 * listing see the same values. No Node APIs.
 */
import type { Engine, SettingName } from '../engine.ts';
import { WvsError } from '../errors.ts';

export const SYSCTL_PREFIX = 'net.ipv4.vs.';

/** A sysctl that cannot be read or written as asked: `errno` as sysctl(8) would report it. */
export class WvsSysctlError extends WvsError {
  constructor(message: string, errno: 'EINVAL' | 'ENOENT' | 'EOPNOTSUPP') {
    super('WVS_ERR_SYSCTL', message, errno);
    this.name = 'WvsSysctlError';
  }
}

type Kind =
  /** read: the engine's value in canonical form; canon: a written value in that form */
  | { kind: 'int'; apply: (e: Engine, v: number) => void; read: (e: Engine) => number; canon: (v: number) => number; check?: (v: number) => string | null }
  /** sync_threshold: two ints (proc_do_sync_threshold); a write of one changes the first only */
  | { kind: 'pair'; apply: (e: Engine, v: [number, number]) => void; read: (e: Engine) => [number, number]; check: (v: [number, number]) => string | null }
  | { kind: 'defense'; apply: (e: Engine, v: number) => void; read: (e: Engine) => number }
  | { kind: 'fixed'; why: string }
  | { kind: 'absent'; why: string };
type Def = { def: string } & Kind;

/** An on/off engine setting behind a proc_dointvec sysctl: any int, non-zero is on. */
const flag = (s: SettingName): Def => ({
  def: '0', kind: 'int',
  apply: (e, v) => e.set(s, v !== 0),
  read: (e) => (e.setting(s) ? 1 : 0),
  canon: (v) => (v !== 0 ? 1 : 0),
});

const NO_BACKUP_ONLY = 'a backup keeps forwarding as any director does (backup_only=1, a backup that only syncs, is not implemented)';

/** The sync sysctls, per engine (the sync daemon, host/sync/, reads sync_ports, sync_sock_size, sync_qlen_max). */
const syncVals = new WeakMap<Engine, Map<string, number>>();
/** A sync sysctl's current value (sync_threshold: its first number; sync_period: its second). */
export function syncSetting(e: Engine, name: string): number {
  const v = syncVals.get(e)?.get(name);
  if (v !== undefined) return v;
  return name === 'sync_period' ? 50 : Number(SYSCTLS[name].def.split(' ')[0]);
}
function syncPut(e: Engine, name: string, v: number): void {
  let m = syncVals.get(e);
  if (!m) syncVals.set(e, (m = new Map()));
  m.set(name, v);
}
/** A sync sysctl of one int; `to` gives the engine's setting (sync.ts syncSetSysctl) if it has one. */
const syncInt = (name: string, def: string, check: ((v: number) => string | null) | undefined,
  to?: [Parameters<Engine['syncSysctl']>[0], (v: number) => number]): Def => ({
  def, kind: 'int', check,
  apply: (e, v) => { syncPut(e, name, v); if (to) e.syncSysctl(to[0], to[1](v)); },
  read: (e) => syncSetting(e, name),
  canon: (v) => v,
});
/** A defense mode (proc_do_defense_mode: 0-3), kept and switched by the engine (assembly/defense.ts). */
const defenseMode = (name: 'drop_entry' | 'drop_packet' | 'secure_tcp'): Def => ({
  def: '0', kind: 'defense',
  apply: (e, v) => { e.defenseSet(name, v); },
  read: (e) => e.defenseGet(name),
});
/** amemthresh, am_droprate: plain proc_dointvec ints, read by the engine's next defense run. */
const defenseInt = (name: 'amemthresh' | 'am_droprate', def: string): Def => ({
  def, kind: 'int', apply: (e, v) => { e.defenseSet(name, v); }, read: (e) => e.defenseGet(name), canon: (v) => v,
});

/** Every net.ipv4.vs.* of Linux 6.1, in `sysctl -a` order. */
export const SYSCTLS: Readonly<Record<string, Def>> = {
  am_droprate: defenseInt('am_droprate', '10'),
  amemthresh: defenseInt('amemthresh', '1024'),
  backup_only: { def: '0', kind: 'fixed', why: NO_BACKUP_ONLY },
  cache_bypass: { def: '0', kind: 'fixed', why: 'there is no local routing table to bypass to: a packet for no service gets the engine\'s pass verdict' },
  conn_reuse_mode: {
    def: '1', kind: 'int',
    // ip_vs_in: any non-zero value enables the reuse check, bit 1 adds FIN_WAIT conns that never saw a reply
    apply: (e, v) => { e.set('connReuse', v !== 0); e.set('connReuse2', (v & 2) !== 0); },
    read: (e) => (e.setting('connReuse2') ? 3 : e.setting('connReuse') ? 1 : 0),
    canon: (v) => (v === 0 ? 0 : v & 2 ? 3 : 1),
  },
  conntrack: { def: '0', kind: 'fixed', why: 'wasmvs has no netfilter conntrack to keep entries in' },
  drop_entry: defenseMode('drop_entry'),
  drop_packet: defenseMode('drop_packet'),
  expire_nodest_conn: flag('expireNodestConn'),
  expire_quiescent_template: flag('expireQuiescentTemplate'),
  ignore_tunneled: { def: '0', kind: 'fixed', why: 'the engine never sees packets a local tunnel device decapsulated, so there is nothing to ignore' },
  lblc_expiration: { def: '86400', kind: 'fixed', why: 'the lblc scheduler expires its entries after the kernel\'s default 24 h (assembly/sched/lblc.ts)' },
  lblcr_expiration: { def: '86400', kind: 'fixed', why: 'the lblcr scheduler expires its sets after the kernel\'s default 24 h (assembly/sched/lblcr.ts)' },
  nat_icmp_send: { def: '0', kind: 'fixed', why: 'a NAT real server\'s packet that matches no conn is passed on, as the kernel does with 0; the ICMP port unreachable of 1 is not implemented' },
  pmtu_disc: { def: '1', kind: 'fixed', why: 'a packet too big for a tunnel with DF set is always answered with ICMP fragmentation needed, as with the default 1' },
  run_estimation: {
    def: '1', kind: 'int',
    // the host's estimator timer asks estimationOn() before each run (ip_vs_est: rates freeze at 0)
    apply: (e, v) => { estimation.set(e, v); },
    read: (e) => estimation.get(e) ?? 1,
    canon: (v) => v,
  },
  schedule_icmp: { def: '0', kind: 'fixed', why: 'ICMP errors that match no conn are never scheduled to a real server, as with the default 0' },
  // 1 and 2 switch the tcp_states_dos table on only while memory is low (2), 3 always
  secure_tcp: defenseMode('secure_tcp'),
  sloppy_sctp: flag('sloppySctp'),
  sloppy_tcp: flag('sloppyTcp'),
  snat_reroute: { def: '1', kind: 'fixed', why: 'NAT replies are written to the device and routed by the host kernel by their new source, as with the default 1' },
  // the sync daemon (ip_vs_sync.c; the engine's part in assembly/sync.ts), proc handlers as 6.1's
  // (test/golden/kernel/recorded/sysctl: what each accepted)
  sync_persist_mode: syncInt('sync_persist_mode', '0', undefined, ['persist_mode', (v) => (v !== 0 ? 1 : 0)]),
  sync_ports: syncInt('sync_ports', '1', (v) => (v < 1 || (v & (v - 1)) !== 0 ? 'not a power of two of at least 1 (proc_do_sync_ports)' : null)),
  sync_qlen_max: syncInt('sync_qlen_max', '3628', (v) => (v < 0 ? 'negative (proc_doulongvec_minmax)' : null)),
  // proc_dointvec_jiffies: seconds; a negative one is a huge unsigned period in the kernel: no limit but min_diff
  sync_refresh_period: syncInt('sync_refresh_period', '0', undefined, ['refresh_period', (v) => (v < 0 ? 0xffffffff : Math.min(v * 1000, 0xffffffff))]),
  sync_retries: syncInt('sync_retries', '0', (v) => (v < 0 || v > 3 ? 'out of range 0-3 (proc_dointvec_minmax)' : null), ['retries', (v) => v]),
  sync_sock_size: syncInt('sync_sock_size', '0', undefined),
  sync_threshold: {
    def: '3 50', kind: 'pair',
    apply: (e, [t, p]) => { syncPut(e, 'sync_threshold', t); syncPut(e, 'sync_period', p); e.syncSysctl('threshold', t); e.syncSysctl('period', p); },
    read: (e) => [syncSetting(e, 'sync_threshold'), syncSetting(e, 'sync_period')],
    check: ([t, p]) => (t < 0 || p < 0 || (t >= p && p !== 0) ? 'the threshold must be below the period (or the period 0), neither negative (proc_do_sync_threshold)' : null),
  },
  sync_version: syncInt('sync_version', '1', (v) => (v !== 0 && v !== 1 ? 'only 0 or 1 (proc_do_sync_mode)' : null), ['version', (v) => v]),
};

/** Values the engine has no room for, kept per engine (run_estimation). */
const estimation = new WeakMap<Engine, number>();

/** The last value written to a proc_dointvec sysctl (the kernel reads back what was written). */
const written = new WeakMap<Engine, Map<string, number>>();

/** "net.ipv4.vs.sloppy_tcp", "net/ipv4/vs/sloppy_tcp" or "sloppy_tcp" -> "sloppy_tcp". */
export function sysctlName(s: string): string {
  const n = s.replace(/\//g, '.');
  return n.startsWith(SYSCTL_PREFIX) ? n.slice(SYSCTL_PREFIX.length) : n;
}

/** `sysctl -a` format. */
export const formatSysctl = (name: string, value: string): string => `${SYSCTL_PREFIX}${name} = ${value}\n`;

function lookup(name: string): Exclude<Def, { kind: 'absent' }> {
  const d = Object.prototype.hasOwnProperty.call(SYSCTLS, name) ? SYSCTLS[name] : undefined;
  if (!d) throw new WvsSysctlError(`${SYSCTL_PREFIX}${name}: no such IPVS sysctl (Linux 6.1 has: ${Object.keys(SYSCTLS).join(', ')})`, 'ENOENT');
  if (d.kind === 'absent') throw new WvsSysctlError(`${SYSCTL_PREFIX}${name}: not implemented by wasmvs: ${d.why}`, 'EOPNOTSUPP');
  return d;
}

/** proc_dointvec's reading of one int: optional '-', digits, then only whitespace and more ints (ignored). */
function parseInt32(name: string, text: string): number {
  const m = /^\s*(-?\d+)(?:\s[\s\S]*)?$/.exec(text);
  const v = m ? Number(m[1]) : NaN;
  if (!Number.isInteger(v) || v > 0x7fffffff || v < -0x80000000) {
    throw new WvsSysctlError(`${SYSCTL_PREFIX}${name}: "${text.length > 40 ? text.slice(0, 40) + '...' : text}" is not an integer (the kernel's proc_dointvec refuses it: Invalid argument)`, 'EINVAL');
  }
  return v;
}

/** The value as `sysctl NAME` prints it. */
export function sysctlGet(e: Engine, name: string): string {
  const d = lookup(name);
  if (d.kind === 'fixed') return d.def;
  if (d.kind === 'pair') return d.read(e).join(' ');
  const now = d.read(e);
  // a written value reads back as written while the engine still says what it said (an engine
  // flag set directly, e.g. by a test, wins)
  const w = written.get(e)?.get(name);
  if (w !== undefined && d.kind === 'int' && d.canon(w) === now) return String(w);
  return String(now);
}

/** Write a value as `sysctl -w NAME=VALUE` would; returns what reads back. Throws WvsSysctlError. */
export function sysctlSet(e: Engine, name: string, text: string): string {
  const d = lookup(name);
  if (d.kind === 'fixed') {
    // read as the kernel's proc_dointvec would ("1 2" is 1), then compared with the one value wasmvs has
    if (parseInt32(name, text) === Number(d.def)) return d.def;
    throw new WvsSysctlError(`${SYSCTL_PREFIX}${name} = ${text.trim()}: not implemented by wasmvs, only ${d.def}: ${d.why}`, 'EOPNOTSUPP');
  }
  if (d.kind === 'pair') {
    // proc_dointvec over two ints: the ones given replace, from the first
    const m = /^\s*(-?\d+)(?:\s+(-?\d+))?(?:\s[\s\S]*)?$/.exec(text);
    const cur = d.read(e);
    const v: [number, number] = [m ? Number(m[1]) : NaN, m?.[2] !== undefined ? Number(m[2]) : cur[1]];
    if (!m || !v.every((x) => Number.isInteger(x) && Math.abs(x) <= 0x7fffffff)) { parseInt32(name, text); parseInt32(name, '?'); }
    const why = d.check(v);
    if (why) throw new WvsSysctlError(`${SYSCTL_PREFIX}${name}: "${text.trim()}": ${why}: Invalid argument`, 'EINVAL');
    d.apply(e, v);
    return sysctlGet(e, name);
  }
  const v = parseInt32(name, text);
  if (d.kind === 'int' && d.check) {
    const why = d.check(v);
    if (why) throw new WvsSysctlError(`${SYSCTL_PREFIX}${name}: ${v} is ${why}: Invalid argument`, 'EINVAL');
  }
  if (d.kind === 'defense' && (v < 0 || v > 3)) {
    throw new WvsSysctlError(`${SYSCTL_PREFIX}${name}: ${v} is out of range 0-3 (the kernel's proc_do_defense_mode refuses it: Invalid argument)`, 'EINVAL');
  }
  d.apply(e, v);
  if (d.kind === 'int') {
    let m = written.get(e);
    if (!m) written.set(e, (m = new Map()));
    m.set(name, v);
  }
  return sysctlGet(e, name);
}

/** Every sysctl wasmvs implements or fixes, with its value (`sysctl -a | grep net.ipv4.vs`). */
export function sysctlList(e: Engine): { name: string; value: string }[] {
  return Object.entries(SYSCTLS).filter(([, d]) => d.kind !== 'absent').map(([name]) => ({ name, value: sysctlGet(e, name) }));
}

/** Whether the rate estimator should run (net.ipv4.vs.run_estimation). */
export const estimationOn = (e: Engine): boolean => (estimation.get(e) ?? 1) !== 0;

/** "NAME=VALUE" (NAME with or without net.ipv4.vs.) -> parts; the value as given. */
export function parseSysctlArg(arg: string): { name: string; value?: string } {
  const eq = arg.indexOf('=');
  if (eq < 0) return { name: sysctlName(arg.trim()) };
  return { name: sysctlName(arg.slice(0, eq).trim()), value: arg.slice(eq + 1) };
}
