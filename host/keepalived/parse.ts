/*
 * host/keepalived/parse.ts - the LVS part of keepalived 2.2's configuration grammar → a model.
 *
 * Lexing follows keepalived's lib/parser.c: '!' and '#' start a comment outside double quotes,
 * '{' and '}' are tokens of their own, a block may open on the keyword's line or the next one,
 * and `include GLOB` splices other files in (relative paths from the including file's directory).
 * The keyword set of each block is keepalived/check/check_parser.c's (virtual_server,
 * real_server, the checkers of check_tcp.c, check_http.c, check_misc.c, check_udp.c,
 * check_dns.c). Anything this host cannot do is an error naming FILE:LINE and the keyword,
 * never dropped; `global_defs`, `vrrp_*` and `static_*` blocks belong to keepalived itself
 * (run it for VRRP next to wasmvs: docs/keepalived.md) and are skipped with one info line.
 *
 * Defaults as keepalived's (check_data.c alloc_vs/alloc_rs, check_api.c): delay_loop 60 s,
 * connect_timeout 5 s, retry 1 (MISC_CHECK 0, DNS_CHECK 3), delay_before_retry 1 s (HTTP_GET and
 * SSL_GET 3 s, DNS_CHECK delay_loop), quorum 1, weight 1,
 * lvs_sched wlc, lvs_method NAT, persistence_timeout without a value 360 s, HTTP status 200-299.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, basename, join, resolve } from 'node:path';
import { WvsError } from '../errors.ts';
import { parseAddr, inetPton4 } from '../addr.ts';
import { SVC_F_SYNPROXY, type Proto, type Fwd } from '../types.ts';

/** A configuration mistake: `FILE:LINE: keyword: why`. */
export class WvsKeepalivedError extends WvsError {
  constructor(readonly file: string, readonly line: number, why: string) {
    super('WVS_ERR_KEEPALIVED', `${file}:${line}: ${why}`);
    this.name = 'WvsKeepalivedError';
  }
}

export interface Where { file: string; line: number }

export type CheckKind = 'TCP_CHECK' | 'HTTP_GET' | 'SSL_GET' | 'MISC_CHECK' | 'UDP_CHECK' | 'DNS_CHECK';

export interface KaUrl { path: string; digest?: string; status: [number, number][]; virtualhost?: string }

/** One checker of a real server, with the timers it inherited from its real_server / virtual_server. */
export interface KaChecker {
  kind: CheckKind;
  where: Where;
  connectIp?: string;
  connectPort?: number;
  bindto?: string;
  /** ms */
  connectTimeout: number;
  retry: number;
  delayBeforeRetry: number;
  delayLoop: number;
  /** ms: the first check waits a random time up to this (keepalived's warmup) */
  warmup?: number;
  alpha: boolean;
  /** HTTP_GET / SSL_GET */
  urls: KaUrl[];
  virtualhost?: string;
  /** SSL_GET: the SNI name sent (keepalived's enable_sni sends the virtualhost) */
  sni: boolean;
  /** MISC_CHECK */
  miscPath?: string;
  miscTimeout?: number;
  miscDynamic: boolean;
  /** UDP_CHECK */
  payload?: Buffer;
  requireReply?: Buffer | true;
  /** DNS_CHECK */
  dnsType: string;
  dnsName: string;
}

export interface KaRealServer {
  where: Where;
  af: 4 | 6;
  addr: string;
  port: number;
  weight: number;
  fwd: Fwd;
  tunType?: 'ipip' | 'gue' | 'gre';
  tunPort?: number;
  uthresh: number;
  lthresh: number;
  inhibit: boolean;
  notifyUp?: string;
  notifyDown?: string;
  checkers: KaChecker[];
}

/** One IPVS service the virtual_server (or each entry of its group) stands for. */
export interface KaServiceKey { af: 4 | 6; proto: Proto | null; addr: string; port: number; fwmark: number }

export interface KaVirtualServer {
  where: Where;
  /** `10.0.0.1 80`, `fwmark 1`, `group NAME` as written (for logs and metrics) */
  name: string;
  keys: KaServiceKey[];
  sched: string;
  /** IP_VS_SVC_F_* besides persistence (ops, sh-port, ...) */
  flags: number;
  /** seconds, 0: not persistent */
  persistence: number;
  /** v4: host-order mask; v6: prefix length */
  netmask: number;
  quorum: number;
  hysteresis: number;
  quorumUp?: string;
  quorumDown?: string;
  alpha: boolean;
  omega: boolean;
  sorry?: KaRealServer;
  realServers: KaRealServer[];
}

export interface KaConfig {
  file: string;
  virtualServers: KaVirtualServer[];
  /** the blocks left to keepalived itself (global_defs, vrrp_*, static_*), with where they are */
  skipped: { keyword: string; where: Where }[];
  /** every file read (include included) */
  files: string[];
}

// ---------------------------------------------------------------------------------------------
// lexing and the block tree

interface Tok { t: string; file: string; line: number; nl: boolean; quoted: boolean }
interface Node { key: string; args: string[]; where: Where; children?: Node[] }

export interface ReadFn { (path: string): string }
const fsRead: ReadFn = (p) => readFileSync(p, 'utf8');

function lexText(text: string, file: string, out: Tok[], read: ReadFn, depth: number, files: string[]): void {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i];
    const toks: Tok[] = [];
    let j = 0;
    while (j < s.length) {
      const c = s[j];
      if (c === ' ' || c === '\t' || c === '\r') { j++; continue; }
      if (c === '!' || c === '#') break;
      if (c === '{' || c === '}') { toks.push({ t: c, file, line: i + 1, nl: false, quoted: false }); j++; continue; }
      if (c === '"') {
        const e = s.indexOf('"', j + 1);
        if (e < 0) throw new WvsKeepalivedError(file, i + 1, 'unterminated quoted string');
        toks.push({ t: s.slice(j + 1, e), file, line: i + 1, nl: false, quoted: true });
        j = e + 1; continue;
      }
      let e = j;
      while (e < s.length && !' \t\r{}"'.includes(s[e]) && !(e > j && (s[e] === '!' || s[e] === '#'))) e++;
      if (e < s.length && (s[e] === '!' || s[e] === '#')) { toks.push({ t: s.slice(j, e), file, line: i + 1, nl: false, quoted: false }); break; }
      toks.push({ t: s.slice(j, e), file, line: i + 1, nl: false, quoted: false });
      j = e;
    }
    if (!toks.length) continue;
    toks[0].nl = true;
    const first = toks[0];
    if (!first.quoted && (first.t.startsWith('@') || first.t.startsWith('$'))) {
      throw new WvsKeepalivedError(file, i + 1, `${first.t}: configuration variables and conditional lines (@ID, $NAME) are not supported: expand them before giving the file to wasmvs`);
    }
    if (first.t === 'include' && !first.quoted) {
      if (toks.length !== 2) throw new WvsKeepalivedError(file, i + 1, 'include: needs exactly one file name or pattern');
      if (depth >= 8) throw new WvsKeepalivedError(file, i + 1, 'include: nested more than 8 deep (a loop?)');
      for (const f of expandInclude(toks[1].t, file, i + 1)) {
        let sub: string;
        try { sub = read(f); } catch (e: any) { throw new WvsKeepalivedError(file, i + 1, `include ${toks[1].t}: cannot read ${f}: ${e?.code ?? e?.message ?? e}`); }
        files.push(f);
        lexText(sub, f, out, read, depth + 1, files);
      }
      continue;
    }
    out.push(...toks);
  }
}

/** include PATH: relative to the including file; '*', '?' and [..] in the last component as glob(3). */
function expandInclude(pat: string, from: string, line: number): string[] {
  const p = resolve(dirname(from), pat);
  const base = basename(p);
  if (!/[*?[]/.test(base)) return [p];
  const re = new RegExp('^' + base.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$');
  let names: string[];
  try { names = readdirSync(dirname(p)); } catch (e: any) { throw new WvsKeepalivedError(from, line, `include ${pat}: ${e?.code ?? e}`); }
  const hits = names.filter((n) => re.test(n) && !n.startsWith('.')).sort().map((n) => join(dirname(p), n));
  if (!hits.length) throw new WvsKeepalivedError(from, line, `include ${pat}: no file matches`);
  return hits;
}

function buildTree(toks: Tok[]): Node[] {
  let i = 0;
  const block = (open: Tok | null): Node[] => {
    const nodes: Node[] = [];
    while (i < toks.length) {
      const k = toks[i];
      if (k.t === '}' && !k.quoted) { if (!open) throw new WvsKeepalivedError(k.file, k.line, "'}' without a block to close"); i++; return nodes; }
      if (k.t === '{' && !k.quoted) throw new WvsKeepalivedError(k.file, k.line, "'{' without a keyword before it");
      i++;
      const n: Node = { key: k.t, args: [], where: { file: k.file, line: k.line } };
      while (i < toks.length && !toks[i].nl && !((toks[i].t === '{' || toks[i].t === '}') && !toks[i].quoted)) n.args.push(toks[i++].t);
      if (i < toks.length && toks[i].t === '{' && !toks[i].quoted) { const o = toks[i++]; n.children = block(o); }
      nodes.push(n);
    }
    if (open) throw new WvsKeepalivedError(open.file, open.line, "'{' is never closed");
    return nodes;
  };
  return block(null);
}

// ---------------------------------------------------------------------------------------------
// values

const err = (n: Node, why: string): never => { throw new WvsKeepalivedError(n.where.file, n.where.line, `${n.key}: ${why}`); };

function arg(n: Node, i = 0): string {
  const v = n.args[i];
  if (v === undefined) err(n, `needs a value`);
  return v!;
}
function noArgs(n: Node): void { if (n.args.length) err(n, `takes no value, got "${n.args.join(' ')}"`); }
function int(n: Node, lo: number, hi: number, i = 0): number {
  const s = arg(n, i), v = Number(s);
  if (!/^-?\d+$/.test(s) || v < lo || v > hi) err(n, `needs an integer ${lo}..${hi}, got "${s}"`);
  return v;
}
/** A time in seconds with up to 6 decimals (keepalived's read_timer) → ms. */
function timer(n: Node, min = 0): number {
  const s = arg(n);
  if (!/^\d+(\.\d{1,6})?$/.test(s)) err(n, `needs a time in seconds (e.g. 3 or 0.5), got "${s}"`);
  const ms = Math.round(Number(s) * 1000);
  if (ms < min) err(n, `must be at least ${min / 1000} s, got "${s}"`);
  return ms;
}
function addrOf(n: Node, s: string): { af: 4 | 6; addr: string } {
  // keepalived's inet_stosockaddr takes IPv6 bare ("[2001:db8::1]" is "Invalid ... - skipping" there)
  if (s.startsWith('[')) err(n, `"${s}": keepalived takes IPv6 addresses without brackets`);
  const a = parseAddr(s);
  if (!a) err(n, `"${s}" is not an IPv4 or IPv6 address`);
  return a!;
}
function port(n: Node, s: string | undefined, dflt: number): number {
  if (s === undefined) return dflt;
  const v = Number(s);
  if (!/^\d+$/.test(s) || v > 65535) err(n, `"${s}" is not a port (0..65535)`);
  return v;
}
/** A quoted script line (notify_up "/bin/x arg"): its words. */
function script(n: Node): string {
  if (!n.args.length) err(n, 'needs a script path');
  return n.args.join(' ');
}

// ---------------------------------------------------------------------------------------------
// blocks

/** Timers and alpha as a level sets them (undefined: inherited). */
interface Timers { connectTimeout?: number; retry?: number; delayBeforeRetry?: number; delayLoop?: number; warmup?: number; alpha?: boolean; virtualhost?: string; inhibit?: boolean }

function timerKeyword(n: Node, t: Timers): boolean {
  switch (n.key) {
    case 'connect_timeout': t.connectTimeout = timer(n, 1); return true;
    case 'retry': case 'nb_get_retry': t.retry = int(n, 0, 1e6); return true;
    case 'delay_before_retry': t.delayBeforeRetry = timer(n); return true;
    case 'delay_loop': t.delayLoop = timer(n, 1); return true;
    case 'warmup': t.warmup = timer(n); return true;
    case 'alpha': t.alpha = n.args.length ? yesNo(n) : true; return true;
    case 'virtualhost': t.virtualhost = arg(n); return true;
    default: return false;
  }
}
function yesNo(n: Node): boolean {
  const v = arg(n).toLowerCase();
  if (['on', 'true', 'yes'].includes(v)) return true;
  if (['off', 'false', 'no'].includes(v)) return false;
  return err(n, `needs on/off, got "${v}"`);
}

const FWD: Record<string, Fwd> = { NAT: 'Masq', DR: 'Route', TUN: 'Tunnel' };

function method(n: Node, o: { fwd?: Fwd; tunType?: 'ipip' | 'gue' | 'gre'; tunPort?: number }): void {
  const m = arg(n).toUpperCase();
  if (m === 'FNAT' || m === 'FULLNAT') err(n, 'FULLNAT is not a keepalived method; write ipvsadm rules (--rules) for FULLNAT services');
  if (!FWD[m]) err(n, `"${n.args[0]}" is not a forwarding method (NAT, DR, TUN)`);
  o.fwd = FWD[m];
  if (o.fwd !== 'Tunnel') { if (n.args.length > 1) err(n, `${m} takes no options, got "${n.args.slice(1).join(' ')}"`); return; }
  // TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]
  for (let i = 1; i < n.args.length; i++) {
    const a = n.args[i];
    if (a === 'type') {
      const t = n.args[++i];
      if (t !== 'ipip' && t !== 'gue' && t !== 'gre') err(n, `tunnel type "${t ?? ''}": ipip, gue or gre`);
      o.tunType = t as 'ipip' | 'gue' | 'gre';
    } else if (a === 'port') o.tunPort = port(n, n.args[++i], 0);
    else if (a === 'nocsum') { /* the engine sends no tunnel checksums: the default */ }
    else err(n, `tunnel option "${a}" is not supported by wasmvs (type ipip|gue|gre, port N, nocsum)`);
  }
  if (o.tunType === 'gue' && !o.tunPort) err(n, 'TUN type gue needs "port N"');
}

function checker(n: Node, inherit: VsCtx['timers'], rs: KaRealServer): KaChecker {
  const kind = n.key as CheckKind;
  const t: Timers = {};
  const c: KaChecker = {
    kind, where: n.where, connectTimeout: 0, retry: 0, delayBeforeRetry: 0, delayLoop: 0, alpha: false,
    urls: [], sni: false, miscDynamic: false, dnsType: 'SOA', dnsName: '.',
  };
  for (const k of n.children ?? []) {
    if (timerKeyword(k, t)) continue;
    switch (k.key) {
      case 'connect_ip': c.connectIp = addrOf(k, arg(k)).addr; continue;
      case 'connect_port': c.connectPort = port(k, arg(k), 0); continue;
      case 'bindto': c.bindto = addrOf(k, arg(k)).addr; continue;
      case 'log_all_failures': continue;   // logging: every failure is logged here anyway
    }
    if (kind === 'HTTP_GET' || kind === 'SSL_GET') {
      if (k.key === 'url') { c.urls.push(url(k)); continue; }
      if (k.key === 'enable_sni') { c.sni = k.args.length ? yesNo(k) : true; continue; }
    }
    if (kind === 'MISC_CHECK') {
      if (k.key === 'misc_path') { c.miscPath = script(k); continue; }
      if (k.key === 'misc_timeout') { c.miscTimeout = int(k, 1, 86400) * 1000; continue; }
      if (k.key === 'misc_dynamic') { noArgs(k); c.miscDynamic = true; continue; }
      if (k.key === 'user') err(k, 'scripts run as the director\'s user in wasmvs (no per-script user)');
    }
    if (kind === 'UDP_CHECK') {
      if (k.key === 'payload') { c.payload = hexBytes(k); continue; }
      if (k.key === 'require_reply') { c.requireReply = k.args.length ? hexBytes(k) : true; continue; }
    }
    if (kind === 'DNS_CHECK') {
      if (k.key === 'type') { const v = arg(k).toUpperCase(); if (!DNS_TYPES.includes(v)) err(k, `"${v}": one of ${DNS_TYPES.join(' ')}`); c.dnsType = v; continue; }
      if (k.key === 'name') { c.dnsName = arg(k); continue; }
    }
    err(k, `not supported in ${kind} by wasmvs`);
  }
  c.connectTimeout = t.connectTimeout ?? inherit.connectTimeout;
  c.delayLoop = t.delayLoop ?? inherit.delayLoop;
  // defaults by checker (check_api.c 1 and 1 s; check_misc.c retry 0; check_http.c 3 s before a
  // retry; check_dns.c retry 3 and delay_loop before a retry)
  c.retry = t.retry ?? inherit.retry ?? (kind === 'MISC_CHECK' ? 0 : kind === 'DNS_CHECK' ? 3 : 1);
  c.delayBeforeRetry = t.delayBeforeRetry ?? inherit.delayBeforeRetry ??
    (kind === 'HTTP_GET' || kind === 'SSL_GET' ? 3000 : kind === 'DNS_CHECK' ? c.delayLoop : 1000);
  c.warmup = t.warmup ?? inherit.warmup;
  c.alpha = t.alpha ?? inherit.alpha;
  c.virtualhost = t.virtualhost ?? inherit.virtualhost;
  if ((kind === 'HTTP_GET' || kind === 'SSL_GET') && !c.urls.length) err(n, 'needs at least one url { path ... }');
  if (kind === 'MISC_CHECK' && !c.miscPath) err(n, 'needs misc_path');
  if (kind === 'MISC_CHECK' && c.miscTimeout === undefined) c.miscTimeout = c.delayLoop;
  if (!c.connectPort && !rs.port && kind !== 'MISC_CHECK') err(n, 'the real server has no port: give connect_port');
  return c;
}

const DNS_TYPES = ['A', 'NS', 'CNAME', 'SOA', 'MX', 'TXT', 'AAAA'];

function hexBytes(n: Node): Buffer {
  const s = n.args.join('');
  if (!/^([0-9a-fA-F]{2})+$/.test(s)) err(n, `needs hex bytes (e.g. 0a1b2c), got "${n.args.join(' ')}"`);
  return Buffer.from(s, 'hex');
}

function url(n: Node): KaUrl {
  const u: KaUrl = { path: '', status: [] };
  for (const k of n.children ?? []) {
    switch (k.key) {
      case 'path': u.path = arg(k); break;
      case 'digest': {
        const d = arg(k).toLowerCase();
        if (!/^[0-9a-f]{32}$/.test(d)) err(k, `needs an MD5 digest (32 hex digits), got "${k.args[0]}"`);
        u.digest = d; break;
      }
      case 'status_code':
        if (!k.args.length) err(k, 'needs codes or ranges (200 or 200-299)');
        for (const a of k.args) {
          const m = /^(\d{3})(?:-(\d{3}))?$/.exec(a);
          const lo = m ? Number(m[1]) : 0, hi = m ? Number(m[2] ?? m[1]) : 0;
          if (!m || lo < 100 || hi > 999 || lo > hi) err(k, `"${a}" is not a status code or range (100..999)`);
          u.status.push([lo, hi]);
        }
        break;
      case 'virtualhost': u.virtualhost = arg(k); break;
      default: err(k, 'not supported in url by wasmvs (path, digest, status_code, virtualhost)');
    }
  }
  if (!u.path) err(n, 'needs a path');
  if (!u.status.length) u.status.push([200, 299]);   // check_http.c: HTTP_DEFAULT_STATUS_CODE_MIN..MAX
  return u;
}

const CHECKERS = new Set(['TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'MISC_CHECK', 'UDP_CHECK', 'DNS_CHECK']);
const NOT_HERE: Record<string, string> = {
  SMTP_CHECK: 'SMTP_CHECK is not implemented by wasmvs (TCP_CHECK on port 25 checks the listener)',
  PING_CHECK: 'PING_CHECK is not implemented by wasmvs (it needs raw ICMP sockets); use TCP_CHECK',
  BFD_CHECK: 'BFD_CHECK is not implemented by wasmvs',
  FILE_CHECK: 'FILE_CHECK is not implemented by wasmvs; use MISC_CHECK with a script that reads the file',
  track_file: 'track_file is not implemented by wasmvs; use MISC_CHECK',
  smtp_alert: 'wasmvs sends no mail: remove smtp_alert (notify_up/notify_down scripts and /metrics report changes)',
  snmp_name: 'wasmvs has no SNMP agent: remove snmp_name (/metrics reports the checkers)',
  ha_suspend: 'ha_suspend needs VRRP state, which keepalived keeps: not supported by wasmvs',
};

/** What a virtual_server passes down: its method, and timers (retry and delay_before_retry default per checker kind). */
interface VsCtx { fwd: Fwd; tunType?: 'ipip' | 'gue' | 'gre'; tunPort?: number; timers: Timers & { connectTimeout: number; delayLoop: number; alpha: boolean } }

function realServer(n: Node, ctx: VsCtx, fwmarkVs: boolean): KaRealServer {
  const { af, addr } = addrOf(n, arg(n));
  const rs: KaRealServer = {
    where: n.where, af, addr, port: port(n, n.args[1], 0), weight: 1, fwd: ctx.fwd, tunType: ctx.tunType, tunPort: ctx.tunPort,
    uthresh: 0, lthresh: 0, inhibit: ctx.timers.inhibit ?? false, checkers: [],
  };
  if (n.args.length > 2) err(n, `takes IP [PORT], got "${n.args.join(' ')}"`);
  if (!fwmarkVs && n.args[1] === undefined && ctx.fwd === 'Masq') err(n, 'a NAT real server needs a port');
  const t: Timers = {};
  const checks: Node[] = [];
  for (const k of n.children ?? []) {
    if (timerKeyword(k, t)) continue;
    switch (k.key) {
      case 'weight': rs.weight = int(k, 0, 2147483647); continue;
      case 'inhibit_on_failure': rs.inhibit = k.args.length ? yesNo(k) : true; continue;
      case 'notify_up': rs.notifyUp = script(k); continue;
      case 'notify_down': rs.notifyDown = script(k); continue;
      case 'uthreshold': rs.uthresh = int(k, 0, 2147483647); continue;
      case 'lthreshold': rs.lthresh = int(k, 0, 2147483647); continue;
      case 'lvs_method': { const o: Parameters<typeof method>[1] = {}; method(k, o); rs.fwd = o.fwd!; rs.tunType = o.tunType; rs.tunPort = o.tunPort; continue; }
    }
    if (CHECKERS.has(k.key)) { checks.push(k); continue; }
    err(k, NOT_HERE[k.key] ?? 'not a real_server keyword wasmvs knows');
  }
  const inh = { ...ctx.timers, ...Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined)) } as VsCtx['timers'];
  rs.checkers = checks.map((c) => checker(c, inh, rs));
  return rs;
}

function vsKeys(n: Node, groups: Map<string, Node>, proto: Proto | null): { name: string; keys: KaServiceKey[]; fwmark: boolean } {
  if (n.args[0] === 'fwmark') {
    const m = int(n, 1, 0xffffffff, 1);
    if (n.args.length > 2) err(n, `takes fwmark N, got "${n.args.join(' ')}" (the family: ip_family inet6 in the block)`);
    const af = fwmarkFamily(n);
    return { name: `fwmark ${m}`, keys: [{ af, proto: null, addr: af === 6 ? '::' : '0.0.0.0', port: 0, fwmark: m }], fwmark: true };
  }
  if (n.args[0] === 'group') {
    const g = groups.get(arg(n, 1));
    if (!g) err(n, `group "${n.args[1]}" is not defined by a virtual_server_group block before it`);
    const keys: KaServiceKey[] = [];
    let marks = 0;
    for (const e of g!.children ?? []) {
      if (e.key === 'fwmark') { keys.push({ af: 4, proto: null, addr: '0.0.0.0', port: 0, fwmark: int(e, 1, 0xffffffff, 0) }); marks++; continue; }
      // IP[-LAST] [PORT]: a range varies the last IPv4 octet (or the last IPv6 group)
      const m = /^(.*?)(?:-([0-9a-fA-F]+))?$/.exec(e.key)!;
      const first = addrOf(e, m[1]);
      const p = port(e, e.args[0], 0);
      if (!m[2]) { keys.push({ ...first, proto, port: p, fwmark: 0 }); continue; }
      if (first.af === 6) err(e, 'IPv6 address ranges are not supported by wasmvs; list the addresses');
      const start = inetPton4(first.addr)!;
      const last = Number(m[2]);
      if (!/^\d+$/.test(m[2]) || last > 255 || last < (start & 0xff)) err(e, `range end "${m[2]}" must be a last octet ${start & 0xff}..255`);
      for (let o = start & 0xff; o <= last; o++) keys.push({ af: 4, proto, addr: `${first.addr.split('.').slice(0, 3).join('.')}.${o}`, port: p, fwmark: 0 });
    }
    if (!keys.length) err(n, `group "${n.args[1]}" is empty`);
    if (keys.some((k) => !k.fwmark) && proto === null) err(n, 'needs "protocol" for the group\'s address entries');
    return { name: `group ${n.args[1]}`, keys, fwmark: marks === keys.length };
  }
  const a = addrOf(n, arg(n));
  if (n.args.length > 2) err(n, `takes IP PORT, fwmark N or group NAME, got "${n.args.join(' ')}"`);
  return { name: `${a.addr} ${n.args[1] ?? 0}`, keys: [{ ...a, proto, port: port(n, n.args[1], 0), fwmark: 0 }], fwmark: false };
}

/** A fwmark service's family (check_data.c): ip_family, else its real servers' addresses, else IPv4. */
function fwmarkFamily(n: Node): 4 | 6 {
  for (const k of n.children ?? []) if (k.key === 'ip_family') {
    const v = arg(k);
    if (v !== 'inet' && v !== 'inet6') err(k, `"${v}": inet or inet6`);
    return v === 'inet6' ? 6 : 4;
  }
  const rs = (n.children ?? []).find((k) => k.key === 'real_server' && k.args[0]);
  return rs && rs.args[0].includes(':') ? 6 : 4;
}

const FLAGS: Record<string, number> = { ops: 0x4, 'flag-1': 0x8, 'flag-2': 0x10, 'flag-3': 0x20, 'sh-fallback': 0x8, 'sh-port': 0x10, 'mh-fallback': 0x8, 'mh-port': 0x10 };

function virtualServer(n: Node, groups: Map<string, Node>): KaVirtualServer {
  const kids = n.children ?? [];
  // protocol first: the group's keys take it
  let proto: Proto | null = null;
  for (const k of kids) if (k.key === 'protocol') {
    const p = arg(k).toUpperCase();
    if (p !== 'TCP' && p !== 'UDP' && p !== 'SCTP') err(k, `"${k.args[0]}": TCP, UDP or SCTP`);
    proto = p as Proto;
  }
  if (!n.args.length) err(n, 'needs IP PORT, fwmark N or group NAME');
  const isMark = n.args[0] === 'fwmark';
  // check_data.c: no protocol on an address service → the kernel's default, which keepalived makes UDP explicit
  const { name, keys, fwmark } = vsKeys(n, groups, isMark ? null : proto ?? 'UDP');
  const vs: KaVirtualServer = {
    where: n.where, name, keys, sched: 'wlc', flags: 0, persistence: 0, netmask: keys[0].af === 6 ? 128 : 0xffffffff,
    quorum: 1, hysteresis: 0, alpha: false, omega: false, realServers: [],
  };
  const ctx: VsCtx = { fwd: 'Masq', timers: { connectTimeout: 5000, delayLoop: 60000, alpha: false } };
  const rsNodes: Node[] = [];
  let sorry: Node | undefined, sorryInhibit = false, sorryMethod: Node | undefined;
  for (const k of kids) {
    if (k.key === 'inhibit_on_failure') { ctx.timers.inhibit = k.args.length ? yesNo(k) : true; continue; }
    if (k.key === 'alpha') { vs.alpha = k.args.length ? yesNo(k) : true; ctx.timers.alpha = vs.alpha; continue; }
    if (timerKeyword(k, ctx.timers)) continue;
    switch (k.key) {
      case 'protocol': continue;
      case 'lb_algo': case 'lvs_sched': {
        const s = arg(k);
        if (s.length > 15) err(k, `scheduler name "${s}" longer than 15 characters`);
        vs.sched = s; continue;
      }
      case 'lb_kind': case 'lvs_method': method(k, ctx); continue;
      case 'persistence_timeout': vs.persistence = k.args.length ? int(k, 1, 86400 * 31) : 360; continue;
      case 'persistence_granularity': {
        const v = arg(k);
        if (keys[0].af === 6) { vs.netmask = int(k, 1, 128); continue; }
        const m = inetPton4(v);
        if (m === null) err(k, `"${v}" is not an IPv4 netmask`);
        vs.netmask = m! >>> 0; continue;
      }
      case 'ops': case 'hashed': case 'flag-1': case 'flag-2': case 'flag-3': case 'sh-port': case 'sh-fallback': case 'mh-port': case 'mh-fallback':
        noArgs(k);
        if (k.key === 'hashed') err(k, 'the hashed flag is set by the kernel itself; remove it');
        vs.flags |= FLAGS[k.key]; continue;
      case 'syn_proxy':
        // DPVS's keepalived (check_parser.c syn_proxy_handler): the service's SYN proxy on
        noArgs(k);
        if (isMark || proto !== 'TCP') err(k, 'syn_proxy is only for TCP virtual servers (protocol TCP)');
        vs.flags |= SVC_F_SYNPROXY; continue;
      case 'quorum': vs.quorum = int(k, 1, 2147483647); continue;
      case 'hysteresis': vs.hysteresis = int(k, 0, 2147483647); continue;
      case 'quorum_up': vs.quorumUp = script(k); continue;
      case 'quorum_down': vs.quorumDown = script(k); continue;
      case 'omega': noArgs(k); vs.omega = true; continue;
      case 'sorry_server': sorry = k; continue;
      case 'sorry_server_inhibit': sorryInhibit = k.args.length ? yesNo(k) : true; continue;
      case 'sorry_server_lvs_method': sorryMethod = k; continue;
      case 'real_server': rsNodes.push(k); continue;
      case 'ip_family': continue;   // the addresses say the family
      case 'persistence_engine': err(k, 'persistence engines (--pe sip) are not supported by wasmvs');
    }
    err(k, NOT_HERE[k.key] ?? 'not a virtual_server keyword wasmvs knows');
  }
  if (vs.flags & 0x4 && proto !== 'UDP' && !isMark) err(n, 'ops (one-packet scheduling) needs protocol UDP');
  vs.realServers = rsNodes.map((r) => realServer(r, ctx, fwmark));
  if (sorry) {
    const a = addrOf(sorry, arg(sorry));
    const o: Parameters<typeof method>[1] = { fwd: ctx.fwd, tunType: ctx.tunType, tunPort: ctx.tunPort };
    if (sorryMethod) method(sorryMethod, o);
    vs.sorry = { where: sorry.where, ...a, port: port(sorry, sorry.args[1], 0), weight: 1, fwd: o.fwd!, tunType: o.tunType, tunPort: o.tunPort,
      uthresh: 0, lthresh: 0, inhibit: sorryInhibit, checkers: [] };
  }
  // check_data.c: a port-less address service is made persistent (only persistent services may have port 0)
  if (!vs.persistence && keys.some((k) => !k.fwmark && k.port === 0)) vs.persistence = 360;
  const seen = new Set<string>();
  for (const r of vs.realServers) {
    const id = `${r.addr}|${r.port}`;
    if (seen.has(id)) throw new WvsKeepalivedError(r.where.file, r.where.line, `real_server: ${r.addr} ${r.port} is listed twice in this virtual_server`);
    seen.add(id);
  }
  return vs;
}

const SKIP = /^(global_defs|vrrp_.*|static_ipaddress|static_routes|static_rules|linkbeat_.*|garp_group|track_file|track_process|net_namespace.*|instance|use_pid_dir|bfd_instance)$/;

/** Parse keepalived.conf text (include resolved through `read`). */
export function parseKeepalived(text: string, file = '<keepalived.conf>', read: ReadFn = fsRead): KaConfig {
  const toks: Tok[] = [];
  const files = [file];
  lexText(text, file, toks, read, 0, files);
  const tree = buildTree(toks);
  const groups = new Map<string, Node>();
  const cfg: KaConfig = { file, virtualServers: [], skipped: [], files };
  const keyOf = (k: KaServiceKey) => k.fwmark ? `fwm ${k.fwmark} ${k.af}` : `${k.proto} ${k.addr} ${k.port}`;
  const used = new Map<string, KaVirtualServer>();
  for (const n of tree) {
    if (SKIP.test(n.key)) { cfg.skipped.push({ keyword: n.key, where: n.where }); continue; }
    if (n.key === 'virtual_server_group') {
      if (!n.children) err(n, 'needs a { ... } block of IP PORT / fwmark N lines');
      groups.set(arg(n), n); continue;
    }
    if (n.key === 'virtual_server') {
      if (!n.children) err(n, 'needs a { ... } block');
      const vs = virtualServer(n, groups);
      for (const k of vs.keys) {
        const prev = used.get(keyOf(k));
        if (prev) err(n, `service ${keyOf(k)} is also defined at ${prev.where.file}:${prev.where.line}`);
        used.set(keyOf(k), vs);
      }
      cfg.virtualServers.push(vs);
      continue;
    }
    if (n.key === 'SSL') err(n, 'the SSL block (client certificates for SSL_GET) is not supported by wasmvs: SSL_GET runs without a client certificate');
    err(n, 'not a keepalived keyword wasmvs knows (only virtual_server, virtual_server_group, include; global_defs, vrrp_* and static_* are left to keepalived)');
  }
  return cfg;
}

/** Read and parse a keepalived.conf file. */
export function loadKeepalived(file: string, read: ReadFn = fsRead): KaConfig {
  let text: string;
  try { text = read(file); } catch (e: any) { throw new WvsError('WVS_ERR_KEEPALIVED', `cannot read ${file}: ${e?.code ?? e?.message ?? e}`); }
  return parseKeepalived(text, file, read);
}
