/*
 * host/rules/parse.ts - ipvsadm 1.31 command lines and -R input -> typed operations.
 *
 * Pure: never prints, never exits. Mistakes throw WvsUsageError with ipvsadm's text and exit
 * code. The order of checks follows ipvsadm.c (parse_options, then process_options), because
 * the first failing check decides the message:
 *   1. options left to right (popt rules: clusters "-Ln", "-w3", "--weight=3", optional -p arg),
 *      each parsed at once (so "-r" before "-t" sees no service port yet, as in ipvsadm);
 *   2. popt errors ("-x: missing argument"), --set values, leftover arguments, -b flags;
 *   3. commands_v_options; 4. service checks; 5. server checks; 6. list conflicts.
 * The first option must be a command, as ipvsadm requires ("ipvsadm -n -L" is a usage error).
 */
import {
  CMD, CMD_NAMES, COMMANDS_V_OPTIONS, DEF_MCAST_IFN, DEF_PERSISTENT_TIMEOUT, DEF_SCHED, IFNAME_MAX,
  INT_MAX, MAX_TIMEOUT, NUMBER_OF_OPT, OPT, OPT_NAMES, OPTION_TABLE, PENAME_MAX, SCHEDNAME_MAX,
  TUN_NAMES, TUN_OPTS, TUNNEL_TYPES_V_OPTIONS, WEIGHT_MAX,
  type CmdIdx, type OptIdx, type OptionDef, type TunType,
} from './options.ts';
import { WvsUsageError } from './errors.ts';
import { inetAton, inetPton4, inetPton6, ntoa4, ntop6 } from '../addr.ts';
import { servicePort } from './services.ts';
import {
  SVC_F_ONEPACKET, SVC_F_SYNPROXY, SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3, SVC_F_SCHED_MASK,
  type Fwd, type Proto, type Timeouts,
} from '../types.ts';

/** A virtual service as ipvsadm names it: (proto, addr, port) or a fwmark (proto null). */
export interface SvcKey { af: 4 | 6; proto: Proto | null; addr: string; port: number; fwmark: number }

/** A real server with everything -a/-e may carry (defaults as ipvsadm: -g, weight 1). */
export interface DestSpec {
  af: 4 | 6; addr: string; port: number; fwd: Fwd; weight: number; uthresh: number; lthresh: number;
  tunType: TunType; tunPort: number; tunFlags: number;
}

/** Service parameters of -A/-E. flags: IP_VS_SVC_F_*; netmask as in ServiceView. */
export interface SvcSpec { sched: string; flags: number; timeout: number; netmask: number; pe: string }

export interface ListFormat {
  numeric: boolean; stats: boolean; rate: boolean; thresholds: boolean; persistentConn: boolean;
  nosort: boolean; exact: boolean; tunInfo: boolean;
}

export interface DaemonSpec {
  state: 'master' | 'backup'; mcastIfn: string; syncid: number; syncMaxlen: number;
  mcastGroup: string | null; mcastPort: number; mcastTtl: number;
}

export type Op =
  | ({ cmd: 'addService' | 'editService'; svc: SvcKey } & SvcSpec)
  | { cmd: 'delService'; svc: SvcKey }
  | { cmd: 'clear' }
  | { cmd: 'addDest' | 'editDest' | 'delDest'; svc: SvcKey; dest: DestSpec }
  | { cmd: 'list'; what: 'all' | 'service' | 'conns' | 'timeout' | 'daemon'; svc: SvcKey | null; format: ListFormat }
  | { cmd: 'zero'; svc: SvcKey | null }
  | { cmd: 'setTimeouts'; timeouts: Timeouts }
  | { cmd: 'save'; numeric: boolean }
  | { cmd: 'restore' }
  | { cmd: 'startDaemon' | 'stopDaemon'; daemon: DaemonSpec }
  /** DPVS: ipvsadm -P|-Q -t VIP:PORT -z LADDR [-F IFNAME] (FULLNAT local addresses) */
  | { cmd: 'addLaddr' | 'delLaddr'; svc: SvcKey; laddr: { af: 4 | 6; addr: string }; ifname: string }
  /** DPVS: ipvsadm -G [-t VIP:PORT] */
  | { cmd: 'getLaddr'; svc: SvcKey | null }
  | { cmd: 'help' }
  | { cmd: 'version' };

export interface ParseOptions {
  /** argv[0] as ipvsadm prints it in "Try `%s -h' ..." (default 'ipvsadm') */
  prog?: string;
  /** gethostbyname: name -> IPv4 address text; default: no names */
  lookupHost?: (name: string) => string | undefined;
  /** getservbyname: default is the built-in table in services.ts */
  lookupService?: (name: string, proto: Proto | null) => number | undefined;
}

/* ------------------------------------------------------------------ popt */

const POPT_NOARG = 'missing argument';
const POPT_UNWANTEDARG = 'option does not take an argument';
const POPT_BADOPT = 'unknown option';

type PoptNext = { def: OptionDef; arg: string | null } | { end: true } | { error: string };

/** The subset of popt 1.19's poptGetNextOpt that ipvsadm's table uses. */
class Popt {
  next = 0;
  private chars: string | null = null; // rest of a short-option cluster
  private rest = false; // after "--"
  readonly leftovers: string[] = [];
  constructor(private readonly args: readonly string[]) {}

  /** poptBadOption(): the argv element last looked at */
  bad(): string { return this.args[this.next - 1] ?? ''; }

  get(): PoptNext {
    let def: OptionDef | undefined;
    let longArg: string | null = null;
    for (;;) {
      if (this.chars === null) {
        if (this.next >= this.args.length) return { end: true };
        const s = this.args[this.next++];
        if (this.rest || s[0] !== '-' || s === '-') { this.leftovers.push(s); continue; }
        if (s === '--') { this.rest = true; continue; }
        if (s[1] === '-') {
          const body = s.slice(2);
          const eq = body.indexOf('=');
          const name = eq >= 0 ? body.slice(0, eq) : body;
          if (eq >= 0) longArg = body.slice(eq + 1);
          def = OPTION_TABLE.find((o) => o.long === name);
          if (!def) return { error: POPT_BADOPT };
        } else {
          this.chars = s.slice(1); // no ONEDASH long options in ipvsadm's table
        }
      }
      if (this.chars !== null) {
        const c = this.chars[0];
        def = OPTION_TABLE.find((o) => o.short === c);
        if (!def) { this.chars = null; return { error: POPT_BADOPT }; }
        this.chars = this.chars.length > 1 ? this.chars.slice(1) : null;
      }
      break;
    }
    const d = def!;
    if (d.arg === 'none') {
      if (longArg !== null || (this.chars !== null && this.chars[0] === '=')) return { error: POPT_UNWANTEDARG };
      return { def: d, arg: null };
    }
    if (longArg !== null) return { def: d, arg: longArg };
    if (this.chars !== null) {
      const a = this.chars[0] === '=' ? this.chars.slice(1) : this.chars;
      this.chars = null;
      return { def: d, arg: a };
    }
    if (this.next >= this.args.length) {
      if (d.arg !== 'optional') return { error: POPT_NOARG };
      return { def: d, arg: null };
    }
    if (d.arg === 'optional' && this.args[this.next][0] === '-') return { def: d, arg: null };
    return { def: d, arg: this.args[this.next++] };
  }
}

/* --------------------------------------------------------- number helpers */

/** strtol(s, &end, 10) accepting only a whole string: number, or null (no digits / junk / ERANGE). */
function strtol10(s: string): number | null {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)$/.exec(s);
  if (!m) return null;
  const v = BigInt(m[1]);
  if (v > 9223372036854775807n || v < -9223372036854775808n) return null;
  return Number(v);
}

/** string_to_number(): -1 on failure (callers test === -1, like ipvsadm) */
function stringToNumber(s: string, min: number, max: number): number {
  const n = strtol10(s);
  return n !== null && n >= min && n <= max ? n : -1;
}

/** atoi(): leading digits, 0 if none */
function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  if (!m) return 0;
  return Number(BigInt.asIntN(32, BigInt(m[1])));
}

/* ----------------------------------------------------------- the parser */

const fail = (msg: string): never => { throw new WvsUsageError(msg, 2); };

const SERVICE_ADDR = 1;
const SERVICE_PORT = 2;

interface Ce {
  cmd: CmdIdx | -1;
  svc: { af: 0 | 4 | 6; proto: Proto | null; addr: string; port: number; fwmark: number; sched: string; flags: number; timeout: number; netmask: number; pe: string };
  dest: { af: 0 | 4 | 6; addr: string; port: number; fwd: Fwd; weight: number; uthresh: number; lthresh: number; tunType: number; tunPort: number; tunFlags: number };
  timeouts: Timeouts;
  daemon: DaemonSpec;
  laddr: { af: 0 | 4 | 6; addr: string; port: number; proto: Proto | null; ifname: string };
}

/** Parse one ipvsadm command line (without the program name). */
export function parseArgs(argv: readonly string[], opts: ParseOptions = {}): Op {
  const prog = opts.prog ?? 'ipvsadm';
  const tryhelp = (): never => {
    throw new WvsUsageError(`Try \`${prog} -h' or '${prog} --help' for more information.`, 255);
  };
  // "ipvsadm" alone lists the table
  if (argv.length === 0) return { cmd: 'list', what: 'all', svc: null, format: fmtFrom(0) };

  const ce: Ce = {
    cmd: -1,
    svc: { af: 0, proto: null, addr: '', port: 0, fwmark: 0, sched: '', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' },
    dest: { af: 0, addr: '', port: 0, fwd: 'Route', weight: 1, uthresh: 0, lthresh: 0, tunType: 0, tunPort: 0, tunFlags: 0 },
    timeouts: { tcp: 0, tcpfin: 0, udp: 0 },
    daemon: { state: 'master', mcastIfn: '', syncid: 0, syncMaxlen: 0, mcastGroup: null, mcastPort: 0, mcastTtl: 0 },
    laddr: { af: 0, addr: '', port: 0, proto: null, ifname: '' },
  };
  let options = 0n;
  let format = 0;
  let schedFlagsArg = '';
  const setOption = (o: OptIdx): void => {
    const bit = 1n << BigInt(o);
    if (options & bit) fail(`multiple '${OPT_NAMES[o]}' options specified`);
    options |= bit;
  };
  const has = (o: OptIdx): boolean => (options & (1n << BigInt(o))) !== 0n;
  const setCommand = (c: CmdIdx): void => {
    if (ce.cmd !== -1) fail('multiple commands specified');
    ce.cmd = c;
  };

  /** parse_service(): returns SERVICE_* bits and writes into `t` */
  const parseService = (buf: string, t: { af: 0 | 4 | 6; addr: string; port: number; netmask?: number; proto: Proto | null }): number => {
    if (/^\d*$/.test(buf)) return 0; // str_is_digit (also true for "")
    let s = buf;
    let portp: string | null = null;
    if (s[0] === '[') {
      s = s.slice(1);
      const rb = s.indexOf(']');
      if (rb < 0) return 0;
      const after = s.slice(rb + 1);
      s = s.slice(0, rb);
      if (after[0] !== ':') return 0;
      portp = after.slice(1);
    }
    const b6 = inetPton6(s);
    if (b6) {
      t.addr = ntop6(b6);
      t.af = 6;
      if (t.netmask !== undefined) t.netmask = 128;
    } else {
      const colon = s.lastIndexOf(':');
      portp = colon >= 0 ? s.slice(colon + 1) : null; // "[1.2.3.4]:80" loses its port here, as in ipvsadm
      if (colon >= 0) s = s.slice(0, colon);
      let v4 = inetAton(s);
      if (v4 === null) {
        const h = opts.lookupHost?.(s);
        v4 = h !== undefined ? (inetPton4(h) ?? inetAton(h)) : null;
      }
      if (v4 === null) return 0;
      t.addr = ntoa4(v4);
      t.af = 4;
    }
    let result = SERVICE_ADDR;
    if (portp !== null) {
      result |= SERVICE_PORT;
      let n = stringToNumber(portp, 0, 65535);
      if (n === -1) n = (opts.lookupService ?? servicePort)(portp, t.proto) ?? -1;
      if (n === -1) return 0;
      t.port = n;
    }
    return result;
  };

  const popt = new Popt(argv);
  let r = popt.get();
  if (!('def' in r)) return tryhelp();
  switch (r.def.tag) {
    case 'A': setCommand(CMD.ADD); break;
    case 'E': setCommand(CMD.EDIT); break;
    case 'D': setCommand(CMD.DEL); break;
    case 'a': setCommand(CMD.ADDDEST); break;
    case 'e': setCommand(CMD.EDITDEST); break;
    case 'd': setCommand(CMD.DELDEST); break;
    case 'C': setCommand(CMD.FLUSH); break;
    case 'L': case 'l': setCommand(CMD.LIST); break;
    case 'Z': setCommand(CMD.ZERO); break;
    case 'set': setCommand(CMD.TIMEOUT); break;
    case 'R': setCommand(CMD.RESTORE); break;
    case 'S': setCommand(CMD.SAVE); break;
    case 'P': setCommand(CMD.ADDLADDR); break;
    case 'Q': setCommand(CMD.DELLADDR); break;
    case 'G': setCommand(CMD.GETLADDR); break;
    case 'start-daemon': case 'stop-daemon': {
      const start = r.def.tag === 'start-daemon';
      setCommand(start ? CMD.STARTDAEMON : CMD.STOPDAEMON);
      if (r.arg === 'master') ce.daemon.state = 'master';
      else if (r.arg === 'backup') ce.daemon.state = 'backup';
      else fail(start ? 'illegal start-daemon parameter specified' : 'illegal start_daemon specified');
      break;
    }
    case 'h': return { cmd: 'help' };
    case 'v': return { cmd: 'version' };
    default: return tryhelp();
  }

  for (;;) {
    r = popt.get();
    if (!('def' in r)) break;
    const arg = r.arg ?? '';
    switch (r.def.tag) {
      case 't': case 'u': case 'sctp-service': {
        setOption(OPT.SERVICE);
        ce.svc.proto = r.def.tag === 't' ? 'TCP' : r.def.tag === 'u' ? 'UDP' : 'SCTP';
        if (!(parseService(arg, ce.svc) & SERVICE_ADDR)) fail('illegal virtual server address[:port] specified');
        break;
      }
      case 'f':
        setOption(OPT.SERVICE);
        ce.svc.af = 4;
        ce.svc.proto = 'TCP'; // "a sane value, even though it is not used"
        {
          const n = strtol10(arg);
          if (n === null || n <= 0 || n > 0xffffffff) fail(`invalid fwmark value \`${arg}' specified`);
          ce.svc.fwmark = n!;
        }
        break;
      case 's':
        setOption(OPT.SCHEDULER);
        ce.svc.sched = arg.slice(0, SCHEDNAME_MAX);
        break;
      case 'p':
        setOption(OPT.PERSISTENT);
        ce.svc.flags |= SVC_F_PERSISTENT;
        ce.svc.timeout = r.arg === null ? DEF_PERSISTENT_TIMEOUT : parseTimeout(arg, 1, MAX_TIMEOUT);
        break;
      case 'M':
        setOption(OPT.NETMASK);
        if (ce.svc.af !== 6) {
          let m = inetAton(arg);
          if (m === null) { const h = opts.lookupHost?.(arg); m = h !== undefined ? inetAton(h) : null; }
          if (m === null) fail('illegal virtual server persistent mask specified');
          ce.svc.netmask = m!;
        } else {
          ce.svc.netmask = atoi(arg);
          if (ce.svc.netmask < 1 || ce.svc.netmask > 128) fail('illegal ipv6 netmask specified');
        }
        break;
      case 'r': {
        setOption(OPT.SERVER);
        const t = { af: ce.svc.af, addr: ce.svc.addr, port: ce.svc.port, proto: ce.svc.proto };
        const parse = parseService(arg, t);
        ce.dest.af = t.af; ce.dest.addr = t.addr; ce.dest.port = t.port;
        if (!(parse & SERVICE_ADDR)) fail('illegal real server address[:port] specified');
        if (parse === SERVICE_ADDR) ce.dest.port = ce.svc.port; // copy vport if no dport
        break;
      }
      case 'i': setOption(OPT.FORWARD); ce.dest.fwd = 'Tunnel'; break;
      case 'g': setOption(OPT.FORWARD); ce.dest.fwd = 'Route'; break;
      case 'm': setOption(OPT.FORWARD); ce.dest.fwd = 'Masq'; break;
      case 'fullnat': setOption(OPT.FORWARD); ce.dest.fwd = 'FullNat'; break;
      case 'z':
        setOption(OPT.LADDR);
        if (!(parseService(arg, ce.laddr) & SERVICE_ADDR)) fail('illegal local address');
        break;
      case 'F': setOption(OPT.IFNAME); ce.laddr.ifname = arg.slice(0, IFNAME_MAX); break;
      case 'w':
        setOption(OPT.WEIGHT);
        if ((ce.dest.weight = stringToNumber(arg, 0, WEIGHT_MAX)) === -1) fail('illegal weight specified');
        break;
      case 'x':
        setOption(OPT.UTHRESHOLD);
        if ((ce.dest.uthresh = stringToNumber(arg, 0, INT_MAX)) === -1) fail('illegal u_threshold specified');
        break;
      case 'y':
        setOption(OPT.LTHRESHOLD);
        if ((ce.dest.lthresh = stringToNumber(arg, 0, INT_MAX)) === -1) fail('illegal l_threshold specified');
        break;
      case 'c': setOption(OPT.CONNECTION); break;
      case 'n': setOption(OPT.NUMERIC); format |= FMT_NUMERIC; break;
      case 'mcast-interface': setOption(OPT.MCAST); ce.daemon.mcastIfn = arg.slice(0, IFNAME_MAX); break;
      case 'syncid':
        setOption(OPT.SYNCID);
        if ((ce.daemon.syncid = stringToNumber(arg, 0, 255)) === -1) fail('illegal syncid specified');
        break;
      case 'timeout': setOption(OPT.TIMEOUT); break;
      case 'daemon': setOption(OPT.DAEMON); break;
      case 'stats': setOption(OPT.STATS); format |= FMT_STATS; break;
      case 'rate': setOption(OPT.RATE); format |= FMT_RATE; break;
      case 'thresholds': setOption(OPT.THRESHOLDS); format |= FMT_THRESHOLDS; break;
      case 'persistent-conn': setOption(OPT.PERSISTENTCONN); format |= FMT_PERSISTENTCONN; break;
      case 'nosort': setOption(OPT.NOSORT); format |= FMT_NOSORT; break;
      case 'sort': break; // the default; a no-op kept for compatibility
      case 'X': setOption(OPT.EXACT); format |= FMT_EXACT; break;
      case '6':
        if (ce.svc.fwmark) { ce.svc.af = 6; ce.svc.netmask = 128; } else fail('-6 used before -f\n');
        break;
      case 'o': setOption(OPT.ONEPACKET); ce.svc.flags |= SVC_F_ONEPACKET; break;
      case 'j':
        // DPVS's ipvsadm: -j enable|disable (a bare --synproxy enables)
        setOption(OPT.SYNPROXY);
        if (r.arg === null || arg === 'enable') ce.svc.flags |= SVC_F_SYNPROXY;
        else if (arg === 'disable') ce.svc.flags &= ~SVC_F_SYNPROXY;
        else fail('synproxy switch must be enable or disable');
        break;
      case 'pe': setOption(OPT.PERSISTENCE_ENGINE); ce.svc.pe = arg.slice(0, PENAME_MAX); break;
      case 'b': setOption(OPT.SCHED_FLAGS); schedFlagsArg = arg.slice(0, 127); break;
      case 'mcast-group': {
        setOption(OPT.MCAST_GROUP);
        if (arg.includes(':')) {
          const b = inetPton6(arg);
          if (!b || b[0] !== 0xff) fail(`invalid IPv6 mcast-group \`${arg}'`);
          ce.daemon.mcastGroup = ntop6(b!);
        } else {
          const v = inetPton4(arg);
          if (v === null || (v >>> 28) !== 0xe) fail(`invalid IPv4 mcast-group \`${arg}'`);
          ce.daemon.mcastGroup = ntoa4(v!);
        }
        break;
      }
      case 'mcast-port':
        setOption(OPT.MCAST_PORT);
        if ((ce.daemon.mcastPort = stringToNumber(arg, 1, 65535)) === -1) fail('illegal mcast-port specified');
        break;
      case 'mcast-ttl':
        setOption(OPT.MCAST_TTL);
        if ((ce.daemon.mcastTtl = stringToNumber(arg, 1, 255)) === -1) fail('illegal mcast-ttl specified');
        break;
      case 'sync-maxlen':
        setOption(OPT.SYNC_MAXLEN);
        if ((ce.daemon.syncMaxlen = stringToNumber(arg, 1, 65535 - 20 - 8)) === -1) fail('illegal sync-maxlen specified');
        break;
      case 'tun-info': setOption(OPT.TUN_INFO); format |= FMT_TUN_INFO; break;
      case 'tun-type': {
        setOption(OPT.TUN_TYPE);
        const k = (TUN_NAMES as readonly string[]).indexOf(arg);
        if (k < 0) fail('illegal tunnel type specified');
        ce.dest.tunType = k;
        break;
      }
      case 'tun-port':
        setOption(OPT.TUN_PORT);
        if ((ce.dest.tunPort = stringToNumber(arg, 1, 65535)) === -1) fail('illegal tunnel port specified');
        break;
      case 'tun-nocsum': setOption(OPT.TUN_NOCSUM); break; // IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM is 0
      case 'tun-csum': setOption(OPT.TUN_CSUM); ce.dest.tunFlags |= 1; break;
      case 'tun-remcsum': setOption(OPT.TUN_REMCSUM); ce.dest.tunFlags |= 2; break;
      default:
        // a valid option that is not allowed here, e.g. a second command
        fail(`invalid option \`${popt.bad()}'`);
    }
  }
  // popt error in the middle: ipvsadm prints "<arg>: <error>" and returns -1 (exit 255)
  if ('error' in r) throw new WvsUsageError(`${popt.bad()}: ${r.error}`, 255, false);

  let li = 0;
  const nextLeftover = (): string | undefined => popt.leftovers[li++];
  if (ce.cmd === CMD.TIMEOUT) {
    const a = nextLeftover(), b = a !== undefined ? nextLeftover() : undefined, c = b !== undefined ? nextLeftover() : undefined;
    if (a === undefined || b === undefined || c === undefined) fail('--set option requires 3 timeout values');
    ce.timeouts = { tcp: parseTimeout(a!, 0, MAX_TIMEOUT), tcpfin: parseTimeout(b!, 0, MAX_TIMEOUT), udp: parseTimeout(c!, 0, MAX_TIMEOUT) };
  }
  const extra = nextLeftover();
  if (extra !== undefined) fail(`unexpected argument ${extra}`);

  if (schedFlagsArg) {
    ce.svc.flags &= ~SVC_F_SCHED_MASK;
    ce.svc.flags |= parseSchedFlags(ce.svc.sched, schedFlagsArg);
  }

  genericOptCheck(ce.cmd as CmdIdx, options);

  if (ce.cmd === CMD.ADD || ce.cmd === CMD.EDIT) {
    if (!ce.svc.fwmark && !ce.svc.port && !(ce.svc.flags & SVC_F_PERSISTENT)) fail('Zero port specified for non-persistent service');
    if (ce.svc.flags & SVC_F_ONEPACKET && !ce.svc.fwmark && ce.svc.proto !== 'UDP') fail('One-Packet Scheduling is only for UDP virtual services');
    if (ce.svc.flags & SVC_F_SYNPROXY && (ce.svc.fwmark || ce.svc.proto !== 'TCP')) fail('SYN proxy is only for TCP virtual services');
    if (ce.svc.sched === '') ce.svc.sched = DEF_SCHED;
  }
  if (ce.cmd === CMD.STARTDAEMON && ce.daemon.mcastIfn === '') ce.daemon.mcastIfn = DEF_MCAST_IFN;

  if (ce.cmd === CMD.ADDDEST || ce.cmd === CMD.EDITDEST) {
    // with -g/-i the server port must equal the service port (not for fwmark services)
    if (!ce.svc.fwmark && (ce.dest.fwd === 'Tunnel' || ce.dest.fwd === 'Route')) ce.dest.port = ce.svc.port;
    if (ce.dest.af !== ce.svc.af && ce.dest.fwd !== 'Tunnel') fail('Different address family is allowed only for tunneling servers');
    if ((has(OPT.TUN_TYPE) || has(OPT.TUN_PORT) || has(OPT.TUN_NOCSUM) || has(OPT.TUN_CSUM) || has(OPT.TUN_REMCSUM)) && ce.dest.fwd !== 'Tunnel') {
      fail('Tunnel options conflict with forward method');
    }
    tunnelOptCheck(ce.dest.tunType, options);
  }

  const svcKey = (): SvcKey => {
    const af = (ce.svc.af || 4) as 4 | 6;
    if (ce.svc.fwmark) return { af, proto: null, addr: af === 6 ? '::' : '0.0.0.0', port: 0, fwmark: ce.svc.fwmark };
    return { af, proto: ce.svc.proto, addr: ce.svc.addr, port: ce.svc.port, fwmark: 0 };
  };
  const destSpec = (): DestSpec => ({
    af: (ce.dest.af || 4) as 4 | 6, addr: ce.dest.addr, port: ce.dest.port, fwd: ce.dest.fwd, weight: ce.dest.weight,
    uthresh: ce.dest.uthresh, lthresh: ce.dest.lthresh, tunType: TUN_NAMES[ce.dest.tunType], tunPort: ce.dest.tunPort,
    tunFlags: ce.dest.tunFlags,
  });
  const svcSpec = (): SvcSpec => ({ sched: ce.svc.sched, flags: ce.svc.flags, timeout: ce.svc.timeout, netmask: ce.svc.netmask, pe: ce.svc.pe });

  switch (ce.cmd) {
    case CMD.LIST: {
      const any = (...o: OptIdx[]): boolean => o.some(has);
      if ((any(OPT.CONNECTION, OPT.TIMEOUT, OPT.DAEMON) && any(OPT.STATS, OPT.RATE, OPT.THRESHOLDS)) ||
          (any(OPT.TIMEOUT, OPT.DAEMON) && has(OPT.PERSISTENTCONN))) fail('options conflicts in the list command');
      const what = has(OPT.CONNECTION) ? 'conns' : has(OPT.SERVICE) ? 'service' : has(OPT.TIMEOUT) ? 'timeout' : has(OPT.DAEMON) ? 'daemon' : 'all';
      return { cmd: 'list', what, svc: has(OPT.SERVICE) ? svcKey() : null, format: fmtFrom(format) };
    }
    case CMD.RESTORE: return { cmd: 'restore' };
    case CMD.SAVE: return { cmd: 'save', numeric: (format & FMT_NUMERIC) !== 0 };
    case CMD.FLUSH: return { cmd: 'clear' };
    case CMD.ADD: return { cmd: 'addService', svc: svcKey(), ...svcSpec() };
    case CMD.EDIT: return { cmd: 'editService', svc: svcKey(), ...svcSpec() };
    case CMD.DEL: return { cmd: 'delService', svc: svcKey() };
    case CMD.ZERO: return { cmd: 'zero', svc: has(OPT.SERVICE) ? svcKey() : null };
    case CMD.ADDDEST: return { cmd: 'addDest', svc: svcKey(), dest: destSpec() };
    case CMD.EDITDEST: return { cmd: 'editDest', svc: svcKey(), dest: destSpec() };
    case CMD.DELDEST: return { cmd: 'delDest', svc: svcKey(), dest: destSpec() };
    case CMD.TIMEOUT: return { cmd: 'setTimeouts', timeouts: ce.timeouts };
    case CMD.STARTDAEMON: return { cmd: 'startDaemon', daemon: ce.daemon };
    case CMD.STOPDAEMON: return { cmd: 'stopDaemon', daemon: ce.daemon };
    case CMD.ADDLADDR: case CMD.DELLADDR: {
      if (ce.laddr.af !== (ce.svc.af || 4)) fail('local address family differs from the service');
      const laddr = { af: ce.laddr.af as 4 | 6, addr: ce.laddr.addr };
      return { cmd: ce.cmd === CMD.ADDLADDR ? 'addLaddr' : 'delLaddr', svc: svcKey(), laddr, ifname: ce.laddr.ifname };
    }
    case CMD.GETLADDR: return { cmd: 'getLaddr', svc: has(OPT.SERVICE) ? svcKey() : null };
  }
  return tryhelp();
}

function parseTimeout(buf: string, min: number, max: number): number {
  const i = stringToNumber(buf, min, max);
  if (i === -1) fail(`invalid timeout value \`${buf}' specified`);
  return i;
}

/** parse_sched_flags(): comma list; sh-* only with sh, mh-* only with mh (default scheduler wlc). */
function parseSchedFlags(schedName: string, arg: string): number {
  const sched = schedName || DEF_SCHED;
  let flags = 0;
  // strtok skips empty fields; an all-separator string still looks at one (empty) token
  const tokens = arg.split(',').filter((t) => t !== '');
  for (const flag of tokens.length ? tokens : ['']) {
    switch (flag) {
      case 'flag-1': flags |= SVC_F_SCHED1; break;
      case 'flag-2': flags |= SVC_F_SCHED2; break;
      case 'flag-3': flags |= SVC_F_SCHED3; break;
      case 'sh-fallback': case 'sh-port':
        flags |= flag === 'sh-port' ? SVC_F_SCHED2 : SVC_F_SCHED1;
        if (sched !== 'sh') fail(`incompatible scheduler flag \`${flag}'`);
        break;
      case 'mh-fallback': case 'mh-port':
        flags |= flag === 'mh-port' ? SVC_F_SCHED2 : SVC_F_SCHED1;
        if (sched !== 'mh') fail(`incompatible scheduler flag \`${flag}'`);
        break;
      default: fail(`invalid scheduler flag \`${flag}'`);
    }
  }
  return flags;
}

/** generic_opt_check(): walk the options in table order; the first violation decides the message. */
function genericOptCheck(cmd: CmdIdx, options: bigint): void {
  const row = COMMANDS_V_OPTIONS[cmd];
  let last = -1;
  for (let j = 0; j < NUMBER_OF_OPT; j++) {
    const set = (options & (1n << BigInt(j))) !== 0n;
    const v = row[j];
    if (!set) {
      if (v === '+') fail(`You need to supply the '${OPT_NAMES[j]}' option for the '${CMD_NAMES[cmd]}' command`);
    } else {
      if (v === 'x') fail(`Illegal '${OPT_NAMES[j]}' option with the '${CMD_NAMES[cmd]}' command`);
      if (v === '1') {
        if (last < 0) { last = j; continue; }
        fail(`The option '${OPT_NAMES[j]}' conflicts with the '${OPT_NAMES[last]}' option in the '${CMD_NAMES[cmd]}' command`);
      }
    }
  }
}

/** tunnel_opt_check() over tunnel_types_v_options. */
function tunnelOptCheck(tunType: number, options: bigint): void {
  const row = TUNNEL_TYPES_V_OPTIONS[tunType];
  let last = -1;
  for (let j = 0; j < TUN_OPTS.length; j++) {
    const k = TUN_OPTS[j];
    const set = (options & (1n << BigInt(k))) !== 0n;
    if (!set) {
      if (row[j] === '+') fail(`You need to supply the '${OPT_NAMES[k]}' option for the '${TUN_NAMES[tunType]}' tunnel type`);
    } else {
      if (row[j] === 'x') fail(`Illegal '${OPT_NAMES[k]}' option with the '${TUN_NAMES[tunType]}' tunnel type`);
      if (row[j] === '1') {
        if (last < 0) { last = k; continue; }
        fail(`The option '${OPT_NAMES[k]}' conflicts with the '${OPT_NAMES[last]}' option in the '${TUN_NAMES[tunType]}' tunnel type`);
      }
    }
  }
}

/* printing format flags (FMT_*), kept internal; ListFormat is the public shape */
const FMT_NUMERIC = 0x1, FMT_STATS = 0x4, FMT_RATE = 0x8, FMT_THRESHOLDS = 0x10, FMT_PERSISTENTCONN = 0x20;
const FMT_NOSORT = 0x40, FMT_EXACT = 0x80, FMT_TUN_INFO = 0x100;

function fmtFrom(f: number): ListFormat {
  return {
    numeric: (f & FMT_NUMERIC) !== 0, stats: (f & FMT_STATS) !== 0, rate: (f & FMT_RATE) !== 0,
    thresholds: (f & FMT_THRESHOLDS) !== 0, persistentConn: (f & FMT_PERSISTENTCONN) !== 0,
    nosort: (f & FMT_NOSORT) !== 0, exact: (f & FMT_EXACT) !== 0, tunInfo: (f & FMT_TUN_INFO) !== 0,
  };
}

/* ------------------------------------------------------------- -R input */

/** One command line of -R input: 1-based line number and its arguments. */
export interface RestoreLine { line: number; argv: string[] }

/**
 * Split -R input the way ipvsadm's config_stream_read() does: tokens separated by space, tab,
 * CR; a line ends at LF; the token "ipvsadm" is dropped anywhere; lines without tokens are
 * skipped. There are no comments: "#" is an ordinary token (so "# text" is a usage error that
 * ends the restore, as in ipvsadm 1.31). A last line that ends in blanks without a newline is
 * dropped (fscanf meets EOF while skipping them).
 */
/** The longest rules or -R line wasmvs takes (ipvsadm has no limit; a real -a line is about 100 characters). */
export const MAX_RULE_LINE = 4096;

export function splitRulesFile(text: string): RestoreLine[] {
  const out: RestoreLine[] = [];
  const lines = text.split('\n');
  const endsWithNl = text.endsWith('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const isLast = i === lines.length - 1;
    if (isLast && endsWithNl) break; // the empty string after the final "\n"
    if (isLast && !endsWithNl && /[ \t\r]$/.test(raw)) break;
    const argv = raw.split(/[ \t\r]+/).filter((t) => t !== '' && t !== 'ipvsadm');
    if (argv.length > 0) out.push({ line: i + 1, argv });
  }
  return out;
}

/** A rules file could not be parsed: `ops` were parsed before the failing `line`. */
export class WvsRulesError extends WvsUsageError {
  constructor(cause: WvsUsageError, readonly line: number, readonly ops: Op[]) {
    super(cause.message, cause.rc, cause.fatal);
    this.name = 'WvsRulesError';
  }
}

/**
 * Parse ipvsadm-save / -R input into operations. Stops at the first line ipvsadm would reject
 * (throws WvsRulesError carrying the line and the operations before it; ipvsadm applies those
 * first). A "-R" line inside -R input is refused as ipvsadm does (usage hint, rc 255).
 */
export function parseRulesFile(text: string, opts: ParseOptions = {}): Op[] {
  const ops: Op[] = [];
  for (const { line, argv } of splitRulesFile(text)) {
    try {
      ops.push(parseRestoreLine(argv, opts));
    } catch (e) {
      if (e instanceof WvsUsageError) throw new WvsRulesError(e, line, ops);
      throw e;
    }
  }
  return ops;
}

/** One -R line: as parseArgs, but a nested -R is the usage error ipvsadm gives. */
export function parseRestoreLine(argv: readonly string[], opts: ParseOptions = {}): Op {
  const op = parseArgs(argv, opts);
  if (op.cmd === 'restore') {
    const prog = opts.prog ?? 'ipvsadm';
    throw new WvsUsageError(`Try \`${prog} -h' or '${prog} --help' for more information.`, 255);
  }
  return op;
}
