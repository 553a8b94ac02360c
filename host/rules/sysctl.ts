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
 *  - absent: no such machinery here (sync daemon, memory defense); refused with the reason.
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
  | { kind: 'int'; apply: (e: Engine, v: number) => void; read: (e: Engine) => number; canon: (v: number) => number }
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

const NO_SYNC = 'wasmvs has no connection synchronization daemon (ipvsadm --start-daemon is refused too)';
const NO_DEFENSE = 'the memory defense (amemthresh, drop_entry, drop_packet) is not implemented: tables have a fixed size, and a full conn table drops new conns under a named counter';

/** Every net.ipv4.vs.* of Linux 6.1, in `sysctl -a` order. */
export const SYSCTLS: Readonly<Record<string, Def>> = {
  am_droprate: { def: '10', kind: 'absent', why: NO_DEFENSE },
  amemthresh: { def: '1024', kind: 'absent', why: NO_DEFENSE },
  backup_only: { def: '0', kind: 'fixed', why: NO_SYNC },
  cache_bypass: { def: '0', kind: 'fixed', why: 'there is no local routing table to bypass to: a packet for no service gets the engine\'s pass verdict' },
  conn_reuse_mode: {
    def: '1', kind: 'int',
    // ip_vs_in: any non-zero value enables the reuse check, bit 1 adds FIN_WAIT conns that never saw a reply
    apply: (e, v) => { e.set('connReuse', v !== 0); e.set('connReuse2', (v & 2) !== 0); },
    read: (e) => (e.setting('connReuse2') ? 3 : e.setting('connReuse') ? 1 : 0),
    canon: (v) => (v === 0 ? 0 : v & 2 ? 3 : 1),
  },
  conntrack: { def: '0', kind: 'fixed', why: 'wasmvs has no netfilter conntrack to keep entries in' },
  drop_entry: { def: '0', kind: 'absent', why: NO_DEFENSE },
  drop_packet: { def: '0', kind: 'absent', why: NO_DEFENSE },
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
  secure_tcp: {
    def: '0', kind: 'defense',
    // proc_do_defense_mode: 0-3. 1 and 2 switch the tcp_states_dos table on only while memory is
    // low (update_defense_level), which never happens here (fixed tables): 2 reads back as 1, as
    // the kernel's does when memory is plentiful. 3 is always on.
    apply: (e, v) => { defense.set(e, v === 2 ? 1 : v); e.set('secureTcp', v === 3); },
    read: (e) => (e.setting('secureTcp') ? 3 : defense.get(e) ?? 0),
  },
  sloppy_sctp: flag('sloppySctp'),
  sloppy_tcp: flag('sloppyTcp'),
  snat_reroute: { def: '1', kind: 'fixed', why: 'NAT replies are written to the device and routed by the host kernel by their new source, as with the default 1' },
  sync_persist_mode: { def: '0', kind: 'absent', why: NO_SYNC },
  sync_ports: { def: '1', kind: 'absent', why: NO_SYNC },
  sync_qlen_max: { def: '3628', kind: 'absent', why: NO_SYNC },
  sync_refresh_period: { def: '0', kind: 'absent', why: NO_SYNC },
  sync_retries: { def: '0', kind: 'absent', why: NO_SYNC },
  sync_sock_size: { def: '0', kind: 'absent', why: NO_SYNC },
  sync_threshold: { def: '3 50', kind: 'absent', why: NO_SYNC },
  sync_version: { def: '1', kind: 'absent', why: NO_SYNC },
};

/** Values the engine has no room for, kept per engine (run_estimation; secure_tcp's automatic modes). */
const estimation = new WeakMap<Engine, number>();
const defense = new WeakMap<Engine, number>();

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
  const v = parseInt32(name, text);
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
