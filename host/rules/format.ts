/*
 * host/rules/format.ts - ipvsadm 1.31's output, byte for byte, from ServiceView/ConnView data.
 *
 * Pure functions returning text (each line ends in "\n"). Column widths, truncations and
 * trailing blanks are ipvsadm's printf formats (e.g. dest lines end in "%-10u" for InActConn,
 * so they carry trailing spaces). Ordering is ipvsadm's: libipvs' ipvs_cmp_services /
 * ipvs_cmp_dests through glibc's merge sort, including their int-overflow quirks (addresses
 * more than 2^31 apart compare the wrong way round), unless `nosort`.
 */
import { addrWords } from '../addr.ts';
import { numericResolver, type NameResolver } from './services.ts';
import type { ListFormat } from './parse.ts';
import {
  SVC_F_ONEPACKET, SVC_F_SYNPROXY, SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3, SVC_F_SCHED_MASK,
  type ConnView, type DaemonView, type DestView, type Proto, type ServiceView, type Timeouts,
} from '../types.ts';

export interface FormatOptions extends Partial<ListFormat> {
  /** names for -L/-S without -n (ignored when numeric); default: numbers */
  resolver?: NameResolver;
  /** IPVS version for the header line (default '1.2.1') */
  version?: string;
  /** connection hash table size for the header line (default 4096) */
  size?: number;
  /** print the "IP Virtual Server version" line (false for `-L -t svc`, as ipvsadm) */
  header?: boolean;
}

/* -------------------------------------------------------------- helpers */

const padEnd = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const padStart = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const u64 = (v: bigint | number): bigint => BigInt.asUintN(64, typeof v === 'bigint' ? v : BigInt(Math.trunc(v)));

/** addrport_to_anyname(): "addr:port" or "[v6]:port", names when not numeric; snprintf(.., 60) */
export function addrPortName(af: 4 | 6, addr: string, port: number, proto: Proto | 'IP' | null, numeric: boolean, resolver: NameResolver = numericResolver): string {
  let host = addr, serv = String(port);
  if (!numeric) {
    const r = resolver(addr, port, proto);
    if (r.host !== undefined) host = r.host;
    if (r.service !== undefined) serv = r.service;
  }
  const s = af === 6 ? `[${host}]:${serv}` : `${host}:${serv}`;
  return s.length > 59 ? s.slice(0, 59) : s;
}

/** print_largenum(): 9 columns, K/M/G/T scaled unless exact */
export function largenum(v: bigint | number, exact = false): string {
  const i = u64(v);
  const s = i.toString();
  if (exact) return padStart(s, s.length <= 8 ? 9 : s.length + 1);
  if (i < 100000000n) return padStart(s, 9);
  if (i < 1000000000n) return padStart((i / 1000n).toString(), 8) + 'K';
  if (i < 100000000000n) return padStart((i / 1000000n).toString(), 8) + 'M';
  if (i < 100000000000000n) return padStart((i / 1000000000n).toString(), 8) + 'G';
  return padStart((i / 1000000000000n).toString(), 8) + 'T';
}

const IPPROTO: Record<Proto, number> = { TCP: 6, UDP: 17, SCTP: 132 };
const AF_NUM = { 4: 2, 6: 10 } as const;
/** the protocol ipvsadm's service entry carries: a fwmark service was added with TCP ("a sane value") */
const svcProto = (s: ServiceView): Proto => s.proto ?? 'TCP';
/** the address union as four host-order words (v4 in the first) */
const words4 = (af: 4 | 6, addr: string): number[] => (af === 4 ? [addrWords(4, addr)[0], 0, 0, 0] : addrWords(6, addr));
const cint = (x: number): number => x | 0; // C: unsigned difference stored in an int

/** ipvs_cmp_services() */
export function cmpServices(a: ServiceView, b: ServiceView): number {
  let r = cint((a.fwmark >>> 0) - (b.fwmark >>> 0));
  if (r) return r;
  r = AF_NUM[a.af] - AF_NUM[b.af];
  if (r) return r;
  r = IPPROTO[svcProto(a)] - IPPROTO[svcProto(b)];
  if (r) return r;
  const wa = words4(a.af, a.addr), wb = words4(b.af, b.addr);
  if (a.af === 6) { for (let i = 0; !r && i < 4; i++) r = cint(wa[i] - wb[i]); } else r = cint(wa[0] - wb[0]);
  if (r) return r;
  return a.port - b.port;
}

/** ipvs_cmp_dests(): the first entry's family decides how many words are compared */
export function cmpDests(a: DestView, b: DestView): number {
  let r = 0;
  const wa = words4(a.af, a.addr), wb = words4(b.af, b.addr);
  if (a.af === 6) { for (let i = 0; !r && i < 4; i++) r = cint(wa[i] - wb[i]); } else r = cint(wa[0] - wb[0]);
  if (r) return r;
  return a.port - b.port;
}

/** glibc qsort (msort_with_tmp): top-down merge sort, left half first, ties keep the left element */
export function msort<T>(items: readonly T[], cmp: (a: T, b: T) => number): T[] {
  const b = items.slice();
  const tmp: T[] = new Array(b.length);
  const rec = (lo: number, n: number): void => {
    if (n <= 1) return;
    const n1 = n >> 1, n2 = n - n1;
    rec(lo, n1);
    rec(lo + n1, n2);
    let i = lo, j = lo + n1, k = 0, r1 = n1, r2 = n2;
    while (r1 > 0 && r2 > 0) {
      if (cmp(b[i], b[j]) <= 0) { tmp[k++] = b[i++]; r1--; } else { tmp[k++] = b[j++]; r2--; }
    }
    while (r1 > 0) { tmp[k++] = b[i++]; r1--; }
    for (let m = 0; m < k; m++) b[lo + m] = tmp[m];
  };
  rec(0, b.length);
  return b;
}

/** print_sched_flags(): names depend on the scheduler */
function schedFlagNames(s: ServiceView): string {
  const f: string[] = [];
  if (s.sched === 'sh' || s.sched === 'mh') {
    if (s.flags & SVC_F_SCHED1) f.push(`${s.sched}-fallback`);
    if (s.flags & SVC_F_SCHED2) f.push(`${s.sched}-port`);
  } else {
    if (s.flags & SVC_F_SCHED1) f.push('flag-1');
    if (s.flags & SVC_F_SCHED2) f.push('flag-2');
    if (s.flags & SVC_F_SCHED3) f.push('flag-3');
  }
  return f.join(',');
}

/** DPVS's ipvsadm prints -b for FULLNAT; in ipvsadm 1.31 -b is --sched-flags, so the long form. */
const FWD_SWITCH: Record<DestView['fwd'], string> = { Masq: '-m', Tunnel: '-i', Local: '-g', Route: '-g', FullNat: '--fullnat' };
const TUN_FLAG_SHORT = ['-c', '+c', 'r+c'];
const TUN_FLAG_OPTS = ['--tun-nocsum', '--tun-csum', '--tun-remcsum'];

/** fwd_tun_info() for --tun-info; null -> "n/a" */
function tunInfo(d: DestView): string | null {
  if (d.fwd !== 'Tunnel') return null;
  const t = d.tunType ?? 'ipip';
  const fl = TUN_FLAG_SHORT[d.tunFlags ?? 0] ?? '';
  const s = t === 'ipip' ? 'ipip' : t === 'gue' ? `gue:${d.tunPort ?? 0}:${fl}` : `gre:${fl}`;
  return s.slice(0, 15);
}

/** ipv4 netmask (host-order u32) as inet_ntoa prints it */
const maskText = (m: number): string => `${(m >>> 24) & 255}.${(m >>> 16) & 255}.${(m >>> 8) & 255}.${m & 255}`;

/** The persistence granularity suffix, or '' for the default (/32, /128). */
function maskSuffix(s: ServiceView, word: string): string {
  if (s.af === 4) return (s.netmask >>> 0) !== 0xffffffff ? ` ${word} ${maskText(s.netmask >>> 0)}` : '';
  return s.netmask !== 128 ? ` ${word} ${s.netmask | 0}` : '';
}

/* -------------------------------------------------------------- listing */

/** print_title() */
function title(o: FormatOptions): string {
  const P = padEnd('Prot LocalAddress:Port', 33);
  if (o.stats) return `${P} ${['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map((h) => padStart(h, 8)).join(' ')}\n  -> RemoteAddress:Port\n`;
  if (o.rate) return `${P} ${['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'].map((h) => padStart(h, 8)).join(' ')}\n  -> RemoteAddress:Port\n`;
  if (o.thresholds) return `${P} ${padEnd('Uthreshold', 10)} ${padEnd('Lthreshold', 10)} ${padEnd('ActiveConn', 10)} ${padEnd('InActConn', 10)}\n  -> RemoteAddress:Port\n`;
  if (o.persistentConn) return `${P} ${padEnd('Weight', 9)} ${padEnd('PersistConn', 11)} ${padEnd('ActiveConn', 10)} ${padEnd('InActConn', 10)}\n  -> RemoteAddress:Port\n`;
  if (o.tunInfo) return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n';
  return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
}

/** print_service_entry(): the service line and its dest lines */
function serviceEntry(s: ServiceView, o: FormatOptions, rule: boolean): string {
  const numeric = !!o.numeric;
  const res = o.resolver ?? numericResolver;
  const proto = svcProto(s);
  let name: string;
  if (s.fwmark) {
    const fwm = s.fwmark | 0; // printed with %d in 1.31
    name = rule ? `-f ${fwm}${s.af === 6 ? ' -6' : ''}` : `FWM  ${fwm}${s.af === 6 ? ' IPv6' : ''}`;
  } else {
    const vname = addrPortName(s.af, s.addr, s.port, proto, numeric, res);
    if (rule) name = `${proto === 'TCP' ? '-t' : proto === 'UDP' ? '-u' : '--sctp-service'} ${vname}`;
    else {
      name = `${padEnd(proto, 4)} ${vname}`;
      if (s.af !== 6) name = name.slice(0, 33);
    }
  }
  let out = '';
  if (rule) {
    out += `-A ${name} -s ${s.sched}`;
    if (s.flags & SVC_F_PERSISTENT) out += ` -p ${s.timeout >>> 0}` + maskSuffix(s, '-M');
    if (s.pe) out += ` --pe ${s.pe}`;
    if (s.flags & SVC_F_ONEPACKET) out += ' -o';
    if (s.flags & SVC_F_SYNPROXY) out += ' -j enable';
    if (s.flags & SVC_F_SCHED_MASK) out += ` -b ${schedFlagNames(s)}`;
  } else if (o.stats) {
    const st = s.stats;
    out += padEnd(name, 33) + [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes].map((v) => largenum(v, o.exact)).join('');
  } else if (o.rate) {
    const rt = s.rates;
    out += padEnd(name, 33) + [rt.cps, rt.inpps, rt.outpps, rt.inbps, rt.outbps].map((v) => largenum(v, o.exact)).join('');
  } else {
    out += `${name} ${s.sched}`;
    if (s.flags & SVC_F_SCHED_MASK) out += ` (${schedFlagNames(s)})`;
    if (s.flags & SVC_F_PERSISTENT) {
      out += ` persistent ${s.timeout >>> 0}` + maskSuffix(s, 'mask');
      if (s.pe) out += ` pe ${s.pe}`;
    }
    if (s.flags & SVC_F_ONEPACKET) out += ' ops';
    if (s.flags & SVC_F_SYNPROXY) out += ' synproxy';   // DPVS's ipvsadm
  }
  out += '\n';

  const dests = o.nosort ? s.dests : msort(s.dests, cmpDests);
  for (const d of dests) {
    let dname = addrPortName(d.af, d.addr, d.port, proto, numeric, res);
    if (!rule && d.af !== 6) dname = dname.slice(0, 28);
    const D = `  -> ${padEnd(dname, 28)}`;
    if (rule) {
      let line = `-a ${name} -r ${dname} ${FWD_SWITCH[d.fwd]} -w ${d.weight | 0}`;
      if (d.fwd === 'Tunnel') {
        const t = d.tunType ?? 'ipip';
        const fl = TUN_FLAG_OPTS[d.tunFlags ?? 0] ?? '';
        line += t === 'gre' ? ` --tun-type gre ${fl}` : t === 'gue' ? ` --tun-type gue --tun-port ${d.tunPort ?? 0} ${fl}` : ' --tun-type ipip';
      }
      out += line + '\n';
    } else if (o.stats) {
      const st = d.stats;
      out += D + [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes].map((v) => largenum(v, o.exact)).join('') + '\n';
    } else if (o.rate) {
      const rt = d.rates;
      // a dest's CPS/InPPS/OutPPS are printed with plain %8llu, never scaled
      out += `${D} ${padStart(u64(rt.cps).toString(), 8)} ${padStart(u64(rt.inpps).toString(), 8)} ${padStart(u64(rt.outpps).toString(), 8)}` +
        largenum(rt.inbps, o.exact) + largenum(rt.outbps, o.exact) + '\n';
    } else if (o.thresholds) {
      out += `${D} ${[d.uthresh, d.lthresh, d.activeconns, d.inactconns].map((v) => padEnd(String(v >>> 0), 10)).join(' ')}\n`;
    } else if (o.persistentConn) {
      out += `${D} ${padEnd(String(d.weight >>> 0), 9)} ${padEnd(String(d.persistconns >>> 0), 11)} ${padEnd(String(d.activeconns >>> 0), 10)} ${padEnd(String(d.inactconns >>> 0), 10)}\n`;
    } else if (o.tunInfo) {
      out += `${D} ${padEnd(d.fwd, 7)} ${padEnd(tunInfo(d) ?? 'n/a', 13)} ${padEnd(String(d.weight | 0), 6)} ${padEnd(String(d.activeconns >>> 0), 10)} ${padEnd(String(d.inactconns >>> 0), 10)}\n`;
    } else {
      out += `${D} ${padEnd(d.fwd, 7)} ${padEnd(String(d.weight | 0), 6)} ${padEnd(String(d.activeconns >>> 0), 10)} ${padEnd(String(d.inactconns >>> 0), 10)}\n`;
    }
  }
  return out;
}

/**
 * `ipvsadm -L|-l [-n] [--stats|--rate|--thresholds|--persistent-conn|--tun-info] [--exact] [--nosort]`.
 * For `-L -t svc` pass the one service and `header: false`.
 */
export function formatList(services: readonly ServiceView[], opts: FormatOptions = {}): string {
  return [...formatListPieces(services, opts)].join('');
}

/**
 * formatList in pieces: the header lines, then `per` services at a time (a streamed listing
 * sends each piece and lets the director forward between two).
 */
export function* formatListPieces(services: readonly ServiceView[], opts: FormatOptions = {}, per = 64): Generator<string> {
  let out = '';
  if (opts.header !== false) out += `IP Virtual Server version ${opts.version ?? '1.2.1'} (size=${opts.size ?? 4096})\n`;
  const list = opts.nosort ? services : msort(services, cmpServices);
  yield out + title(opts);
  for (let i = 0; i < list.length; i += per) yield list.slice(i, i + per).map((s) => serviceEntry(s, opts, false)).join('');
}

/** `ipvsadm -S [-n]` (ipvsadm-save): rules that -R reads back. */
export function formatSave(services: readonly ServiceView[], numeric = true, resolver?: NameResolver): string {
  return [...formatSavePieces(services, numeric, resolver)].join('');
}

/** formatSave, `per` services at a time. */
export function* formatSavePieces(services: readonly ServiceView[], numeric = true, resolver?: NameResolver, per = 64): Generator<string> {
  const o: FormatOptions = { numeric, resolver };
  const list = msort(services, cmpServices);
  for (let i = 0; i < list.length; i += per) {
    let out = '';
    for (const s of list.slice(i, i + per)) {
      out += serviceEntry(s, o, true);
      // FULLNAT local addresses (DPVS -P): after the service's servers
      const name = s.fwmark ? `-f ${s.fwmark | 0}${s.af === 6 ? ' -6' : ''}` :
        `${svcProto(s) === 'TCP' ? '-t' : svcProto(s) === 'UDP' ? '-u' : '--sctp-service'} ${addrPortName(s.af, s.addr, s.port, svcProto(s), numeric, resolver)}`;
      for (const l of s.laddrs ?? []) out += `-P ${name} -z ${l}\n`;
    }
    yield out;
  }
}

/**
 * DPVS's `ipvsadm -G [-t VIP:PORT]` (list_laddrs): per service the number of local addresses,
 * then one line per address with its port conflicts and conns. `laddrs` per service as
 * Engine.laddrs() gives them.
 */
export function formatLaddrs(entries: readonly { svc: ServiceView; laddrs: readonly { addr: string; conns: number; conflicts: bigint }[] }[]): string {
  let out = `${padEnd('VIP:VPORT', 20)} ${padEnd('TOTAL', 8)} ${padEnd('SNAT_IP', 20)} ${padEnd('CONFLICTS', 10)} ${padEnd('CONNS', 10)}\n`;
  for (const { svc, laddrs } of entries) {
    out += `${padEnd(addrPortName(svc.af, svc.addr, svc.port, svcProto(svc), true), 20)} ${padEnd(String(laddrs.length), 8)} \n`;
    for (const l of laddrs) out += `${padEnd('', 20)} ${padEnd('', 8)} ${padEnd(l.addr, 20)} ${padEnd(String(l.conflicts), 10)} ${padEnd(String(l.conns), 10)}\n`;
  }
  return out;
}

/** `ipvsadm -L --timeout` */
export function formatTimeouts(t: Timeouts): string {
  return `Timeout (tcp tcpfin udp): ${t.tcp | 0} ${t.tcpfin | 0} ${t.udp | 0}\n`;
}

/** `ipvsadm -L --daemon` (nothing when no daemon runs) */
export function formatDaemon(daemons: readonly DaemonView[]): string {
  let out = '';
  for (const d of daemons) {
    out += `${d.state} sync daemon (mcast=${d.mcastIfn}, syncid=${d.syncid}`;
    if (d.maxlen) out += `, maxlen=${d.maxlen}`;
    if (d.group) out += `, group=${d.group}`;
    if (d.port) out += `, port=${d.port}`;
    if (d.ttl) out += `, ttl=${d.ttl}`;
    out += ')\n';
  }
  return out;
}

export interface ConnFormatOptions { numeric?: boolean; persistentConn?: boolean; resolver?: NameResolver }

/** `ipvsadm -L -c [-n] [--persistent-conn]`: conns in table order (ipvsadm does not sort them). */
export function formatConnList(conns: readonly ConnView[], opts: ConnFormatOptions = {}): string {
  return formatConnHeader(opts) + formatConnLines(conns, opts);
}

/** The two header lines of a conn listing (a streamed listing sends them first, then chunks of lines). */
export function formatConnHeader(opts: ConnFormatOptions = {}): string {
  return 'IPVS connection entries\n' + (opts.persistentConn
    ? `pro expire ${padEnd('state', 11)} ${padEnd('source', 18)} ${padEnd('virtual', 18)} ${padEnd('destination', 18)} ${padEnd('pe name', 16)} pe_data\n`
    : `pro expire ${padEnd('state', 11)} ${padEnd('source', 18)} ${padEnd('virtual', 18)} destination\n`);
}

/** One line per conn, as /proc/net/ip_vs_conn's seq_file shows them. */
export function formatConnLines(conns: readonly ConnView[], opts: ConnFormatOptions = {}): string {
  const numeric = !!opts.numeric;
  const res = opts.resolver ?? numericResolver;
  let out = '';
  for (const c of conns) {
    const proto = c.proto === 'IP' ? null : c.proto;
    const af = c.caddr.includes(':') ? 6 : 4;
    const daf = c.daddr.includes(':') ? 6 : 4;
    const cname = addrPortName(af, c.caddr, c.cport, proto, numeric, res);
    const vname = addrPortName(af, c.vaddr, c.vport, proto, numeric, res);
    const dname = addrPortName(daf, c.daddr, c.dport, proto, numeric, res);
    const secs = Math.max(0, Math.floor(c.expiresMs / 1000));
    const expire = `${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
    const head = `${padEnd(c.proto, 3)} ${padEnd(expire, 6)} ${padEnd(c.state, 11)} ${padEnd(cname, 18)} ${padEnd(vname, 18)}`;
    if (opts.persistentConn && c.pe && c.pedata) out += `${head} ${padEnd(dname, 16)} ${padEnd(c.pe, 18)} ${c.pedata}\n`;
    else out += `${head} ${dname}\n`;
  }
  return out;
}

/** `ipvsadm -v` */
export function versionText(ipvsVersion = '1.2.1'): string {
  return `ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v${ipvsVersion})\n`;
}

/** `ipvsadm -h` (stdout, exit 0) */
export function usageText(prog = 'ipvsadm', ipvsVersion = '1.2.1'): string {
  const p = prog;
  return versionText(ipvsVersion) +
    'Usage:\n' +
    `  ${p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]\n` +
    `  ${p} -D virtual-service\n` +
    `  ${p} -C\n` +
    `  ${p} -R\n` +
    `  ${p} -S [-n]\n` +
    `  ${p} -a|e virtual-service -r server-address [options]\n` +
    `  ${p} -d virtual-service -r server-address\n` +
    `  ${p} -L|l [virtual-service] [options]\n` +
    `  ${p} -Z [virtual-service]\n` +
    `  ${p} --set tcp tcpfin udp\n` +
    `  ${p} --start-daemon {master|backup} [daemon-options]\n` +
    `  ${p} --stop-daemon {master|backup}\n` +
    `  ${p} -h\n\n` +
    'Commands:\n' +
    'Either long or short options are allowed.\n' +
    '  --add-service     -A        add virtual service with options\n' +
    '  --edit-service    -E        edit virtual service with options\n' +
    '  --delete-service  -D        delete virtual service\n' +
    '  --clear           -C        clear the whole table\n' +
    '  --restore         -R        restore rules from stdin\n' +
    '  --save            -S        save rules to stdout\n' +
    '  --add-server      -a        add real server with options\n' +
    '  --edit-server     -e        edit real server with options\n' +
    '  --delete-server   -d        delete real server\n' +
    '  --list            -L|-l     list the table\n' +
    '  --zero            -Z        zero counters in a service or all services\n' +
    '  --set tcp tcpfin udp        set connection timeout values\n' +
    '  --start-daemon              start connection sync daemon\n' +
    '  --stop-daemon               stop connection sync daemon\n' +
    '  --help            -h        display this help message\n\n' +
    'virtual-service:\n' +
    '  --tcp-service|-t  service-address   service-address is host[:port]\n' +
    '  --udp-service|-u  service-address   service-address is host[:port]\n' +
    '  --sctp-service    service-address   service-address is host[:port]\n' +
    '  --fwmark-service|-f fwmark          fwmark is an integer greater than zero\n' +
    '\n' +
    'Options:\n' +
    '  --ipv6         -6                   fwmark entry uses IPv6\n' +
    '  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,\n' +
    '                                      the default scheduler is wlc.\n' +
    '  --pe            engine              alternate persistence engine may be sip,\n' +
    '                                      not set by default.\n' +
    '  --persistent   -p [timeout]         persistent service\n' +
    '  --netmask      -M netmask           persistent granularity mask\n' +
    '  --real-server  -r server-address    server-address is host (and port)\n' +
    '  --gatewaying   -g                   gatewaying (direct routing) (default)\n' +
    '  --ipip         -i                   ipip encapsulation (tunneling)\n' +
    '  --masquerading -m                   masquerading (NAT)\n' +
    '  --tun-type      type                one of ipip|gue|gre,\n' +
    '                                      the default tunnel type is ipip.\n' +
    '  --tun-port      port                tunnel destination port\n' +
    '  --tun-nocsum                        tunnel encapsulation without checksum\n' +
    '  --tun-csum                          tunnel encapsulation with checksum\n' +
    '  --tun-remcsum                       tunnel encapsulation with remote checksum\n' +
    '  --weight       -w weight            capacity of real server\n' +
    '  --u-threshold  -x uthreshold        upper threshold of connections\n' +
    '  --l-threshold  -y lthreshold        lower threshold of connections\n' +
    '  --connection   -c                   output of current IPVS connections\n' +
    '  --timeout                           output of timeout (tcp tcpfin udp)\n' +
    '  --daemon                            output of daemon information\n' +
    '  --stats                             output of statistics information\n' +
    '  --rate                              output of rate information\n' +
    '  --exact                             expand numbers (display exact values)\n' +
    '  --thresholds                        output of thresholds information\n' +
    '  --persistent-conn                   output of persistent connection info\n' +
    '  --tun-info                          output of tunnel information\n' +
    '  --nosort                            disable sorting output of service/server entries\n' +
    '  --sort                              does nothing, for backwards compatibility\n' +
    '  --ops          -o                   one-packet scheduling\n' +
    '  --numeric      -n                   numeric output of addresses and ports\n' +
    '  --sched-flags  -b flags             scheduler flags (comma-separated)\n' +
    'Daemon Options:\n' +
    '  --syncid sid                        syncid for connection sync (default=255)\n' +
    '  --sync-maxlen length                Max sync message length (default=1472)\n' +
    '  --mcast-interface interface         multicast interface for connection sync\n' +
    '  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)\n' +
    '  --mcast-port port                   UDP port (default=8848)\n' +
    '  --mcast-ttl ttl                     Multicast TTL (default=1)\n';
}
