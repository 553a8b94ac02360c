/*
 * host/director/director.ts - the director: one engine, one TUN or TAP device, the device loop.
 *
 *   fd readable (libuv poll) → readBatch into the engine's RX slots → engine.process(n, now)
 *   → writeBatch of the XMIT and LOCAL slots back into the same device
 *   → engine.drain() → writeBatch of the frames the engine sends on its own.
 *
 * TUN (`mode: 'tun'`, link 'ip'): a bump in the kernel's routing path; NAT, FULLNAT and tunnels
 * (the VIPs and laddrs routed into it; a tunnel's outer packet written back is routed by the
 * kernel to the real server, its source the one the kernel's route there gives: syncTunnelSource).
 * TAP (`mode: 'tap'`, link 'ethernet'): the engine is a host on an Ethernet segment with its own
 * MAC, address/prefix and gateway (setLink); it answers ARP/ND for the VIPs and FULLNAT local
 * addresses, resolves next hops' MACs itself (held frames, probes: drain()), and forwards every
 * method onto the segment: DR (-g), tunnels (-i), NAT (-m) and FULLNAT, replies to clients
 * through the gateway. The TAP is enslaved to a bridge (`bridge`) or left to the caller.
 *
 * PASS frames on a TUN (not for a VIP, no conn: a real server's ping or DNS query caught by the
 * policy rule) are written back: the kernel routes them on (iif is the TUN now, so the policy
 * rule does not take them again; a route back into the TUN costs a TTL per pass, so a loop ends).
 * Frames for a VIP that nobody takes are the local stack's (RST / port unreachable, or a counted
 * drop): handed back they would come straight in again. On a TAP, PASS frames (the segment's
 * broadcasts) are dropped. The engine's `pass`/`pass_no_conn`/`pass_not_ip` counters say how many.
 * VIP routes follow the configuration (--rules, adm -A/-E/-D/-C/-R, -P): syncRoutes().
 * Conn expiry runs on a timer (engine.tick). Idle, the process sleeps in epoll.
 */
import { isIP } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import { loadEngine, engineModule, repoRoot } from '../engine-node.ts';
import { Engine, Verdict, type LinkSpec } from '../engine.ts';
import * as tun from '../native/tun.ts';
import { DirectorSteering } from './steering.ts';
import { SVC_F_ONEPACKET } from '../types.ts';
import { WvsError } from '../errors.ts';
import { sysctlSet } from '../rules/sysctl.ts';
import { applyRules, loadRulesFile, parseRules, type RuleOp } from './rules.ts';
import { ip, ipQuiet, sysctl } from './sys.ts';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const LEVELS: LogLevel[] = ['error', 'warn', 'info', 'debug'];

export interface DirectorOptions {
  /** TUN/TAP interface name (default wvs0) */
  dev?: string;
  /** 'tun' (default): IP frames, NAT and FULLNAT. 'tap': Ethernet frames, the engine on a link (DR, tunnels, NAT, FULLNAT). */
  mode?: 'tun' | 'tap';
  /** TAP: the engine's MAC on the link (default: derived from the TAP's own MAC, see linkMacFor) */
  linkMac?: string;
  /** TAP: the engine's own IPv4 and/or IPv6 address on the link, ADDR or ADDR/PLEN (ARP/ND probes' source, tunnel source, the link's prefix) */
  linkAddrs?: string[];
  /** TAP: the link's gateway per family: where packets to destinations off the link's prefix go (NAT/FULLNAT replies to clients, routed tunnel real servers) */
  gateways?: string[];
  /**
   * Open the device with offloads (IFF_VNET_HDR + TUNSETOFFLOAD csum/TSO4/TSO6; default true on a
   * TUN, false on a TAP): the kernel hands over TCP super-packets of up to 64 KiB with partial
   * checksums, the engine rewrites each once, and the kernel segments them where they leave (the
   * engine itself, for tunnels) — far fewer frames and syscalls for bulk TCP. false:
   * plain 1500-byte frames.
   */
  offload?: boolean;
  /** TAP: enslave the TAP to this bridge (in netns when given) */
  bridge?: string;
  /** path MTU toward the real servers for tunnels (engine.setTunnelMtu; default 1500) */
  tunnelMtu?: number;
  /**
   * The device's transmit queue toward the director (ip link ... txqueuelen; default 10000, the
   * kernel's own default is 500): a burst (1,000 conns retransmitting at once after a failover)
   * overflows a short queue, and every drop there backs a TCP conn off for seconds
   */
  txqueuelen?: number;
  /**
   * TUN: the tunnels' outer source address, at most one per family (--tunnel-src). Default: for
   * each family, the source the kernel's route toward the family's tunnel real servers takes
   * (`ip route get RIP` → prefsrc), as ip_vs_tunnel_xmit takes its route's saddr.
   */
  tunnelSrc?: string[];
  /** rules file (ipvsadm-save format) */
  rulesFile?: string;
  /** rules text instead of a file */
  rulesText?: string;
  /** TUN: keep `ip route <VIP> dev <dev>` for every VIP and every FULLNAT local address, as services come and go (default true) */
  vipRoutes?: boolean;
  /**
   * Several queues (workers): attach the TUN steering program so each frame reaches its conn's owner
   * worker in the kernel (docs/steering.md; default true). false: the kernel's own flow hash, the
   * engine's redirect ring hands misplaced frames over (what the ring's tests exercise).
   */
  steering?: boolean;
  /**
   * TUN, NAT topology: the real servers' networks whose replies are policy-routed into the
   * device: `ip rule add from CIDR iif rsDev lookup rsTable` + `ip route add default dev <dev>
   * table rsTable`, removed at exit (both families)
   */
  rsNets?: string[];
  /** the interface the real servers are behind (with rsNets) */
  rsDev?: string;
  /** routing table for rsNets (default 100) */
  rsTable?: number;
  /** the local stack's answers for VIPs (RST, port unreachable; engine setting localAnswers, default true) */
  localAnswers?: boolean;
  /** frames per readBatch (at most the engine's slot count) */
  batch?: number;
  /** table limits (--svc-max, --dest-max, --conn-max): the tables start small and grow up to them */
  svcMax?: number;
  destMax?: number;
  connMax?: number;
  /** engine.tick period */
  tickMs?: number;
  logLevel?: LogLevel;
  /** move the TUN into this network namespace (created here, read from here) and configure it there */
  netns?: string;
  /** log sink (default stderr) */
  log?: (line: string) => void;
  /** net.ipv4.vs.* settings applied before the rules and the first frame (host/rules/sysctl.ts) */
  sysctls?: { name: string; value: string }[];
  /**
   * Worker threads, one device queue each (IFF_MULTI_QUEUE), on one engine memory (docs/workers.md).
   * 1 (the default here; `wasmvs run` defaults to the CPUs available): the engine runs in this
   * thread, exactly as without workers.
   */
  workers?: number;
  /** A worker thread died: called once (after the error is logged); default: exit code 1 and stop(). */
  onFatal?: (err: Error) => void;
}

/** The CPUs this process may use: `wasmvs run`'s default --workers. */
export function defaultWorkers(): number { return Math.max(1, Math.min(64, availableParallelism())); }

/**
 * The control thread's view of an engine that worker threads run: every call (adm changes,
 * listings, stats, keepalived's weight changes, sync messages, growth) is made with the workers
 * parked between batches (Engine.withWorkersParked), so a batch sees a configuration before or
 * after a change, never half, and a listing is one moment's.
 */
export function parkedEngine(e: Engine): Engine {
  return new Proxy(e, {
    get(t, k, r) {
      const v = Reflect.get(t, k, r);
      if (typeof v !== 'function' || k === 'withWorkersParked' || k === 'constructor') return v;
      return (...a: unknown[]) => t.withWorkersParked(() => v.apply(t, a));
    },
  });
}

export interface DirectorStats {
  /** times the loop woke up with frames to read (readability callbacks): frames / wakeups is the batching the load gives */
  wakeups: number;
  batches: number;
  rxFrames: number;
  txFrames: number;
  /** TAP: frames the engine sent on its own (engine.drain(): released held frames, ARP/ND probes) */
  drainedFrames: number;
  /** TUN: frames the engine passed (not for a VIP, no conn) written back for the kernel to route */
  passedBack: number;
  /** io_uring_enter calls of the batches, every thread (0 on the read()/write() path: docs/director.md "The loop") */
  ioEnters: number;
}

/**
 * The engine's default MAC on a TAP: the TAP's own MAC with bit 0x04 of the first byte flipped
 * (still unicast and locally administered). It must differ from the TAP's: that one belongs to
 * the host side of the device, and a bridge keeps it as a local address of its port, delivering
 * frames for it to its own stack instead of forwarding them into the TAP.
 */
export function linkMacFor(tapMac: string): string {
  const b = tapMac.split(':').map((x) => parseInt(x, 16));
  b[0] = ((b[0] ^ 0x04) | 0x02) & 0xfe;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Batches drained per readiness callback before other events get a turn. */
const BATCHES_PER_WAKE = 8;
const TX_MASK = (1 << Verdict.XMIT) | (1 << Verdict.LOCAL);
/** A TUN also writes PASS frames back: the kernel routes them (the director acts as a router for them). */
const TUN_TX_MASK = TX_MASK | (1 << Verdict.PASS);
/** At most one "traffic hit a DR/tunnel dest on a TUN" warning per this many ms. */
const METHOD_WARN_MS = 10_000;

export class Director {
  readonly stats: DirectorStats = { wakeups: 0, batches: 0, rxFrames: 0, txFrames: 0, drainedFrames: 0, passedBack: 0, ioEnters: 0 };
  /** TAP: the engine's MAC and addresses on the link, once started */
  link: { mac: string; ipv4?: string; ipv6?: string } | undefined;
  private dev: tun.TunDevice | undefined;
  /** the TUN steering program over the device's queues (several workers), when it loaded */
  private steering: DirectorSteering | undefined;
  /** offloads: whether UDP segmentation offload is asked for now (off while a one-packet UDP service exists) */
  private uso: boolean | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** --workers N > 1: the worker threads, their last stats */
  private threads: Worker[] = [];
  /** unwatched[w] = 1 once worker w has taken its queue out of its event loop (stop(): only then is the fd closed) */
  private unwatched?: Int32Array;
  private threadStats: { rx: number; tx: number; batches: number; redirectedIn: number; enters: number }[] = [];
  private growTimer: ReturnType<typeof setInterval> | undefined;
  private failed = false;
  /** routes of VIPs / laddrs we added, by "af addr": removed when no service needs them any more */
  private vipRoutes = new Map<string, string[]>();
  /** policy rules / table routes we added (rsNets), removed at stop */
  private policy: string[][] = [];
  /** VIP/laddr routes that existed already (not ours: left alone, warned about once) */
  private foreignRoutes = new Set<string>();
  /** DR/tunnel dests on a TUN already warned about ("svc dest") */
  private warnedDests = new Set<string>();
  /** TUN: --tunnel-src per family */
  private tunnelSrcGiven: { ipv4?: string; ipv6?: string } = {};
  /** TUN: the tunnels' outer source per family the engine has (syncTunnelSource) */
  tunnelSrc: { ipv4?: string; ipv6?: string } = {};
  /** TUN: tunnel source / route warnings already given (one each) */
  private warnedTunnel = new Set<string>();
  /** TUN: `ip route get RIP` per tunnel real server, asked once while it is configured (not at every weight change) */
  private tunnelRoutes = new Map<string, { dev?: string; prefsrc?: string } | undefined>();
  private methodDrops = 0n;
  private defenseSaid = '';
  private reclaimSaid = { n: 0n, at: 0 };
  private methodWarnAt = 0;
  private stopped = false;
  private readonly level: number;
  readonly batch: number;

  private constructor(readonly engine: Engine, readonly opts: Required<Pick<DirectorOptions, 'dev' | 'tickMs' | 'vipRoutes'>> & DirectorOptions, readonly rules: RuleOp[]) {
    this.level = LEVELS.indexOf(opts.logLevel ?? 'info');
    this.batch = Math.max(1, Math.min(opts.batch ?? 64, engine.slots));
  }

  get mode(): 'tun' | 'tap' { return this.opts.mode ?? 'tun'; }

  /** The interface name the kernel gave the TUN. */
  get devName(): string { return this.dev?.name ?? this.opts.dev; }
  get fd(): number | undefined { return this.dev?.fd; }

  log(level: LogLevel, msg: string): void {
    if (LEVELS.indexOf(level) > this.level) return;
    (this.opts.log ?? ((l: string) => process.stderr.write(l + '\n')))(`wasmvs: ${msg}`);
  }

  /** Load the engine, apply the rules, open the TUN/TAP, add routes (TUN) or set the link (TAP), start the loop. */
  static async start(o: DirectorOptions = {}): Promise<Director> {
    const mode = o.mode ?? 'tun';
    if (mode !== 'tun' && mode !== 'tap') throw new WvsError('WVS_ERR_USAGE', `--mode ${mode}: "tun" or "tap"`);
    if (mode === 'tap' && o.vipRoutes) throw new WvsError('WVS_ERR_USAGE', '--vip-routes is for --mode tun (on a TAP the engine answers ARP/ND for its VIPs)');
    if (mode === 'tun' && (o.linkMac || o.linkAddrs?.length || o.gateways?.length || o.bridge)) {
      throw new WvsError('WVS_ERR_USAGE', '--link-mac, --link-addr, --gateway and --bridge are for --mode tap');
    }
    if (mode === 'tap' && o.tunnelSrc?.length) throw new WvsError('WVS_ERR_USAGE', '--tunnel-src is for --mode tun (on a TAP the tunnel source is --link-addr)');
    const tunnelSrc = splitTunnelSrc(o.tunnelSrc ?? []);
    const link = mode === 'tap' ? splitLinkAddrs(o.linkAddrs ?? [], o.gateways ?? []) : {};
    // offloads by default on a TUN (bulk TCP moves as super-packets, docs/director.md); on a TAP
    // when asked (--offload): DR, NAT and FULLNAT take them whole, tunnels cut into segments (xmit/gso.ts)
    const offload = o.offload ?? mode === 'tun';
    const workers = o.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new WvsError('WVS_ERR_USAGE', `--workers must be an integer from 1 to 64, got ${String(workers)}`);
    // offloads: slots big enough for a 64 KiB super-packet behind its virtio-net header
    const raw = await loadEngine({
      svcMax: o.svcMax, destMax: o.destMax, connMax: o.connMax, workers,
      link: mode === 'tap' ? (offload ? 'ethernet-offload' : 'ethernet') : offload ? 'ip-offload' : 'ip',
      ...(offload ? { slots: 64, slotSize: 65536 + 512, headroom: 256 } : {}),
    });
    const engine = workers > 1 ? parkedEngine(raw) : raw;
    // the link's prefix before the rules: a -g real server off it is refused when its line is applied
    // (the MAC is the TAP's, known once it is open: setLink again then)
    if (mode === 'tap') engine.setLink({ mac: o.linkMac ?? '02:00:00:00:00:00', ...link });
    for (const s of o.sysctls ?? []) sysctlSet(engine, s.name, s.value);
    const ruleOpts = { link: mode === 'tap' ? 'ethernet' as const : 'ip' as const };
    let rules: RuleOp[] = [];
    if (o.rulesFile) rules = loadRulesFile(engine, o.rulesFile, ruleOpts);
    else if (o.rulesText) { rules = parseRules(o.rulesText); applyRules(engine, rules, '<rules>', ruleOpts); }
    if (mode === 'tap' && !link.ipv4 && rules.some((r) => (r.op.cmd === 'addDest' || r.op.cmd === 'editDest') && r.op.dest.fwd === 'Tunnel' && r.op.dest.af !== 6)) {
      throw new WvsError('WVS_ERR_USAGE', 'tunnel (-i) real servers need the director\'s IPv4 address on the link as the tunnel source: --link-addr ADDR');
    }
    if (o.tunnelMtu !== undefined) engine.setTunnelMtu(o.tunnelMtu);
    // a TUN hands what the engine writes to the host's routing: DR cannot leave on it, nor tunnels
    // without a source of their outer family (counted drops instead of a loop, syncTunnelSource),
    // and frames for a VIP nobody takes are not handed back
    if (mode === 'tun') engine.set('routedLink', true);
    if (o.localAnswers === false) engine.set('localAnswers', false);
    if (o.rsNets?.length && (mode !== 'tun' || !o.rsDev)) throw new WvsError('WVS_ERR_USAGE', '--rs-net needs --mode tun and --rs-dev IF (the interface the real servers are behind)');
    const d = new Director(engine, { ...o, mode, offload, dev: o.dev ?? 'wvs0', tickMs: o.tickMs ?? 1000, vipRoutes: o.vipRoutes ?? mode === 'tun' }, rules);
    d.tunnelSrcGiven = tunnelSrc;
    try {
      d.openDevice();
      if (mode === 'tap') d.setLink(link);
      if (o.steering !== false) d.steering = DirectorSteering.start(d.dev!.fds, mode === 'tap', (l, m) => d.log(l, m));
      d.syncRoutes();
      d.addPolicyRoutes();
      if (workers > 1) await d.startWorkers(raw);
      else d.startLoop();
    } catch (e) {
      d.stop();
      throw e;
    }
    return d;
  }

  private openDevice(): void {
    const mode = this.mode;
    const kind = mode.toUpperCase();
    try {
      const queues = this.opts.workers ?? 1;
      this.dev = tun.open(this.opts.dev, mode, { offload: this.opts.offload === true, ...(queues > 1 ? { queues } : {}) });
    } catch (e: any) {
      if (e?.code === 'EPERM' || e?.code === 'EACCES') {
        throw new WvsError('WVS_ERR_EPERM', `cannot create ${kind} device ${this.opts.dev}: ${e.code} ` +
          '(needs CAP_NET_ADMIN: run as root, or give node the capability: setcap cap_net_admin+ep $(which node))');
      }
      if (e?.code === 'ENOENT') throw new WvsError('WVS_ERR_NO_DEV_TUN', `cannot open /dev/net/tun (${e.message}); load the tun module: modprobe tun`);
      if (e?.code === 'EBUSY' || e?.code === 'EINVAL') {
        const why = e.code === 'EBUSY' ? `another director (or another program) holds ${kind} device ${this.opts.dev}` : `a device named ${this.opts.dev} exists and is not a ${kind}`;
        throw new WvsError('WVS_ERR_DEV_BUSY', `cannot create ${kind} device ${this.opts.dev}: ${e.code} (${why}): ` +
          'give this director another one with --dev NAME (and its own control socket with --socket PATH)');
      }
      throw e;
    }
    const ns = this.opts.netns;
    const name = this.dev.name;
    if (ns) ip(undefined, 'link', 'set', 'dev', name, 'netns', ns);
    // No IPv6 on the device: the kernel's own router solicitations / DAD would only be PASS frames
    // (on a TAP the engine is the host on the link, the kernel's side of it has no addresses).
    try { sysctl(ns, `net.ipv6.conf.${name}.disable_ipv6`, '1'); } catch { /* IPv6 disabled altogether */ }
    if (mode === 'tap' && this.opts.bridge) ip(ns, 'link', 'set', 'dev', name, 'master', this.opts.bridge);
    ip(ns, 'link', 'set', 'dev', name, 'txqueuelen', String(this.opts.txqueuelen ?? 10000));
    ip(ns, 'link', 'set', 'dev', name, 'up');
    this.log('info', `${kind} ${name} up${ns ? ` in netns ${ns}` : ''}${mode === 'tap' && this.opts.bridge ? ` on bridge ${this.opts.bridge}` : ''} ` +
      `(${this.dev.fds.length > 1 ? `${this.dev.fds.length} queues, fds ${this.dev.fds.join(',')}` : `fd ${this.dev.fd}`}, batch ${this.batch}, ${this.engine.slots} slots of ${this.engine.slotSize} B${this.opts.offload ? ', offloads: csum, TSO4, TSO6, USO4, USO6 (6.2+)' : ''}, ${ioPath()})`);
  }

  /** TAP: the engine's MAC and addresses on the link. */
  private setLink(a: Omit<LinkSpec, 'mac'>): void {
    let mac = this.opts.linkMac;
    if (!mac) {
      const tapMac = JSON.parse(ip(this.opts.netns, '-j', 'link', 'show', 'dev', this.devName))[0]?.address as string | undefined;
      if (!tapMac) throw new WvsError('WVS_ERR_IP', `cannot read the MAC of ${this.devName}`);
      mac = linkMacFor(tapMac);
    }
    this.engine.setLink({ mac, ...a });
    this.link = { mac, ...a };
    this.log('info', `link: MAC ${mac}${a.ipv4 ? ` ${a.ipv4}` : ''}${a.ipv6 ? ` ${a.ipv6}` : ''}` +
      `${a.gateway4 ? ` via ${a.gateway4}` : ''}${a.gateway6 ? ` via ${a.gateway6}` : ''} on ${this.devName}`);
  }

  /**
   * After every configuration change (rules, `adm`): TUN with vipRoutes: a /32 (/128) route into
   * the device for every VIP and every FULLNAT local address (the real servers answer FULLNAT
   * conns to a laddr), removed when the last service that needs it goes (same VIP, other ports:
   * kept); fwmark services have no VIP (their traffic must be routed into the device by the
   * operator, e.g. a route per marked destination). TUN: one warning per DR/tunnel dest.
   */
  syncRoutes(): void {
    if (this.stopped) return;
    const want = new Map<string, { addr: string; af: 4 | 6; what: 'VIP' | 'laddr' }>();
    const steer: { addr: string; kind: 'vip' | 'laddr' }[] = [];   // an address may be both: the program's set keeps the two
    const svcs = this.engine.services();
    if (this.mode === 'tun') this.syncTunnelSource(svcs);
    for (const s of svcs) {
      if (!s.fwmark && s.addr) { want.set(`${s.af} ${s.addr}`, { addr: s.addr, af: s.af, what: 'VIP' }); steer.push({ addr: s.addr, kind: 'vip' }); }
      const key = s.fwmark ? { fwmark: s.fwmark, af: s.af } : { proto: s.proto ?? undefined, addr: s.addr, port: s.port };
      for (const l of this.engine.laddrs(key)) {
        const af = isIP(l.addr) === 6 ? 6 : 4;
        steer.push({ addr: l.addr, kind: 'laddr' });
        if (!want.has(`${af} ${l.addr}`)) want.set(`${af} ${l.addr}`, { addr: l.addr, af, what: 'laddr' });
      }
      if (this.mode === 'tun') this.warnMethods(s);
    }
    this.steering?.sync(steer);
    this.syncUso(svcs);
    if (this.mode !== 'tun' || !this.opts.vipRoutes) return;
    for (const [k, args] of [...this.vipRoutes]) {
      if (want.has(k)) continue;
      ipQuiet(this.opts.netns, ...args.map((a) => (a === 'add' ? 'del' : a)));
      this.vipRoutes.delete(k);
      this.log('info', `route ${k.split(' ')[1]} dev ${this.devName} removed (no service uses it any more)`);
    }
    for (const [k, w] of want) if (!this.vipRoutes.has(k)) this.routeIntoDevice(w.addr, w.af, w.what);
  }

  /**
   * Offloads: UDP segmentation offload off while a one-packet (`-o`) UDP service exists (a fwmark
   * one may take UDP too): the kernel's IPVS schedules each datagram of such a service on its own,
   * and a UDP_SEGMENT burst arriving whole would be scheduled once. On again when the last goes.
   */
  private syncUso(svcs: ReturnType<Engine['services']>): void {
    if (!this.opts.offload || !this.dev) return;
    const want = !svcs.some((s) => (s.flags & SVC_F_ONEPACKET) !== 0 && (s.proto === 'UDP' || s.fwmark !== 0));
    if (want === this.uso) return;
    const was = this.uso;
    try {
      tun.setOffload(this.dev.fd, want);
    } catch (e) {
      this.log('warn', `UDP segmentation offload not ${want ? 'enabled' : 'disabled'} (${(e as Error).message})`);
      return;
    }
    if (was !== undefined || !want) {
      this.log('info', want ? 'UDP segmentation offload back on (no one-packet UDP service left)'
        : 'UDP segmentation offload off while a one-packet (-o) UDP service exists: each datagram is scheduled on its own');
    }
    this.uso = want;
  }

  /**
   * TUN: the tunnels' outer source per family, as ip_vs_tunnel_xmit's route toward the real server
   * gives it (__ip_vs_get_out_rt: the route's saddr): --tunnel-src, else `ip route get RIP`'s
   * prefsrc for the family's first tunnel dest that has one (one source per family: a dest whose
   * route says another is warned about). Warns, once each, when a family's tunnel dests have no
   * source (their packets are dropped: drop_method_unsupported_on_link), and when the route to a
   * real server goes into this TUN: the outer packet would come straight back in (a loop).
   */
  private syncTunnelSource(svcs: ReturnType<Engine['services']>): void {
    const rips = new Map<string, 4 | 6>();
    for (const s of svcs) for (const d of s.dests) if (d.fwd === 'Tunnel') rips.set(d.addr, d.af === 6 ? 6 : 4);
    for (const r of this.tunnelRoutes.keys()) if (!rips.has(r)) this.tunnelRoutes.delete(r);
    const want: { ipv4?: string; ipv6?: string } = { ...this.tunnelSrcGiven };
    const warnOnce = (k: string, msg: string) => { if (!this.warnedTunnel.has(k)) { this.warnedTunnel.add(k); this.log('warn', msg); } };
    for (const [rip, af] of rips) {
      const k = af === 4 ? 'ipv4' : 'ipv6';
      if (!this.tunnelRoutes.has(rip)) {
        let r: { dev?: string; prefsrc?: string } | undefined;
        try { r = JSON.parse(ip(this.opts.netns, '-j', af === 6 ? '-6' : '-4', 'route', 'get', rip))[0]; } catch { r = undefined; }
        this.tunnelRoutes.set(rip, r);
      }
      const route = this.tunnelRoutes.get(rip);
      if (route?.dev === this.devName) {
        warnOnce(`loop ${rip}`, `tunnel real server ${rip}: the route to it goes into ${this.devName} (ip route get ${rip}); ` +
          'the outer packets would come back into the director: route the real server via the interface it is behind');
      }
      if (this.tunnelSrcGiven[k] || !route?.prefsrc || route.dev === this.devName) continue;
      if (!want[k]) want[k] = route.prefsrc;
      else if (want[k] !== route.prefsrc) {
        warnOnce(`src ${rip} ${route.prefsrc}`, `tunnel real server ${rip}: its route's source is ${route.prefsrc}, the tunnels' IPv${af} source is ${want[k]} ` +
          '(one per family): give the one you want with --tunnel-src ADDR');
      }
    }
    for (const af of [4, 6] as const) {
      const k = af === 4 ? 'ipv4' : 'ipv6';
      if (want[k] || ![...rips.values()].includes(af)) continue;
      warnOnce(`none ${af}`, `IPv${af} tunnel (-i) real servers: no route to them gives a source address (ip route get RIP: no prefsrc); ` +
        `their packets are dropped (drop_method_unsupported_on_link): give the outer source with --tunnel-src ADDR`);
    }
    if (want.ipv4 === this.tunnelSrc.ipv4 && want.ipv6 === this.tunnelSrc.ipv6) return;
    // the outer IPv4 packet comes back in through the TUN with a source of this host: the kernel
    // drops such a packet as a martian (fib_validate_source) unless the device has accept_local,
    // and its reverse path (a local route) is not the TUN: no strict rp_filter on it
    if (want.ipv4 && !this.tunnelSrc.ipv4) {
      for (const [k, v] of [['accept_local', '1'], ['rp_filter', '0']]) {
        try { sysctl(this.opts.netns, `net.ipv4.conf.${this.devName}.${k}`, v); } catch (e) { this.log('warn', `IPv4 tunnels: ${(e as Error).message}`); }
      }
    }
    // IPv6 is off on the device (openDevice); the outer IPv6 packets must be taken from it: on,
    // but with no address of its own (addr_gen_mode 1: no link-local, no DAD, no solicitations)
    if (want.ipv6 && !this.tunnelSrc.ipv6) {
      for (const [k, v] of [['addr_gen_mode', '1'], ['accept_dad', '0'], ['router_solicitations', '0'], ['disable_ipv6', '0']]) {
        try { sysctl(this.opts.netns, `net.ipv6.conf.${this.devName}.${k}`, v); } catch (e) { this.log('warn', `IPv6 tunnels: ${(e as Error).message}`); }
      }
    }
    this.engine.setTunnelSource(want);
    this.tunnelSrc = want;
    this.log('info', `tunnel source ${[want.ipv4, want.ipv6].filter(Boolean).join(' ') || 'none'}`);
  }

  /** TUN: say once per dest that a DR dest (or a tunnel dest without a source of its family) cannot forward here, and what to do. */
  private warnMethods(s: ReturnType<Engine['services']>[number]): void {
    for (const d of s.dests) {
      if (d.fwd !== 'Route' && d.fwd !== 'Tunnel') continue;
      if (d.fwd === 'Tunnel' && this.tunnelSrc[d.af === 6 ? 'ipv6' : 'ipv4']) continue;
      const svc = s.fwmark ? `FWM ${s.fwmark}` : `${s.proto} ${s.af === 6 ? `[${s.addr}]` : s.addr}:${s.port}`;
      const k = `${svc} ${d.addr}:${d.port}`;
      if (this.warnedDests.has(k)) continue;
      this.warnedDests.add(k);
      this.log('warn', `${svc} -> ${d.af === 6 ? `[${d.addr}]` : d.addr}:${d.port} ${d.fwd === 'Route' ? 'Route (-g, DR)' : 'Tunnel (-i)'}: ` +
        `a TUN cannot carry it (${d.fwd === 'Route' ? 'DR rewrites only the MAC, and a TUN has no L2: the packet would come back for the VIP' : `no IPv${d.af} source address for the outer packet`}); ` +
        `its conns' packets are dropped (drop_method_unsupported_on_link). ${d.fwd === 'Tunnel' ? 'Give one with --tunnel-src ADDR, or use' : 'Use'} --mode tap, or -m (NAT) / --fullnat for this real server`);
    }
  }

  /** TUN with --rs-net: the NAT topology's policy route for the real servers' replies (removed at stop). */
  private addPolicyRoutes(): void {
    const nets = this.opts.rsNets ?? [];
    if (!nets.length) return;
    const table = String(this.opts.rsTable ?? 100);
    for (const fam of [4, 6] as const) {
      const mine = nets.filter((n) => isIP(n.split('/')[0]) === fam);
      if (!mine.length) continue;
      const f = fam === 6 ? '-6' : '-4';
      const route = [f, 'route', 'replace', 'default', 'dev', this.devName, 'table', table];
      ip(this.opts.netns, ...route);
      this.policy.push([f, 'route', 'del', 'default', 'dev', this.devName, 'table', table]);
      for (const n of mine) {
        const rule = [f, 'rule', 'add', 'from', n, 'iif', this.opts.rsDev!, 'lookup', table];
        if (ipQuiet(this.opts.netns, ...rule)) this.policy.push(rule.map((a) => (a === 'add' ? 'del' : a)));
        else this.log('warn', `policy rule not added (one exists already?): ip ${rule.join(' ')}`);
      }
      this.log('info', `replies from ${mine.join(', ')} on ${this.opts.rsDev} routed into ${this.devName} (table ${table})`);
    }
    try { sysctl(this.opts.netns, `net.ipv4.conf.${this.devName}.rp_filter`, '0'); } catch { /* no IPv4 */ }
  }

  /** TUN with vipRoutes: route `addr` into the device (removed again when unused, and at stop); false when not added. */
  routeIntoDevice(addr: string, af: 4 | 6, what: 'VIP' | 'laddr'): boolean {
    if (this.mode !== 'tun' || !this.opts.vipRoutes || this.stopped) return false;
    const k = `${af} ${addr}`;
    if (this.vipRoutes.has(k)) return true;
    if (this.foreignRoutes.has(k)) return false;
    const args = [af === 6 ? '-6' : '-4', 'route', 'add', `${addr}/${af === 6 ? 128 : 32}`, 'dev', this.devName];
    if (!ipQuiet(this.opts.netns, ...args)) {
      this.foreignRoutes.add(k);
      this.log('warn', `route for ${what} ${addr} not added (one exists already?): ip ${args.join(' ')}`);
      return false;
    }
    this.vipRoutes.set(k, args);
    this.log('info', `route ${addr} dev ${this.devName}${what === 'laddr' ? ' (FULLNAT local address)' : ''}`);
    return true;
  }

  /**
   * --workers N > 1: one worker thread per queue (host/director/worker-main.ts), each with an
   * EngineWorker over the engine's shared memory; every pair linked by a MessageChannel to wake each
   * other for redirected frames. This thread keeps the control plane and grows the conn table
   * (workers parked) before a partition could fill. A worker that dies is logged and ends the
   * director (onFatal): it never runs on with fewer workers.
   */
  async startWorkers(raw: Engine): Promise<void> {
    const n = raw.workers;
    const script = workerScript();
    const { memory, ctl } = raw.shared;
    const module = engineModule('mt');
    const ports: (MessagePort | undefined)[][] = Array.from({ length: n }, () => Array<MessagePort | undefined>(n).fill(undefined));
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) { const ch = new MessageChannel(); ports[i]![j] = ch.port1; ports[j]![i] = ch.port2; }
    const ready: Promise<void>[] = [];
    this.unwatched = new Int32Array(new SharedArrayBuffer(4 * n));
    for (let w = 0; w < n; w++) {
      const fd = this.dev!.fds[w]!;
      const mine = ports[w]!;
      const t = new Worker(script, {
        workerData: { module, memory, ctl, worker: w, workers: n, fd, batch: this.batch, tickMs: this.opts.tickMs, mode: this.mode, ports: mine, unwatched: this.unwatched },
        transferList: mine.filter((p): p is MessagePort => p !== undefined),
      });
      this.threads.push(t);
      this.threadStats.push({ rx: 0, tx: 0, batches: 0, redirectedIn: 0, enters: 0 });
      ready.push(new Promise<void>((resolve, reject) => {
        t.on('message', (m: { type: string; rx: number; tx: number; batches: number; redirectedIn: number; enters: number }) => {
          if (m.type === 'ready') { this.log('info', `worker ${w} started: queue ${w} of ${this.devName} (fd ${fd})`); resolve(); }
          else if (m.type === 'grow') { if (!this.stopped && raw.capacity('conn') < raw.limits.connMax) raw.withWorkersParked(() => raw.grow('conn')); }
          else if (m.type === 'stats') { this.threadStats[w] = { rx: m.rx, tx: m.tx, batches: m.batches, redirectedIn: m.redirectedIn, enters: m.enters }; this.sumStats(); }
        });
        t.once('error', (e) => { reject(e); this.workerDied(w, e); });
        t.once('exit', (code) => { if (!this.stopped) this.workerDied(w, new Error(`exited with code ${code}`)); });
      }));
    }
    await Promise.all(ready);
    let refused = 0n;
    this.timer = setInterval(() => {
      if (this.stopped) return;
      if (this.mode === 'tun') this.afterTunBatch();   // the DR/tunnel-on-a-TUN warning, from the summed counters
      const n2 = raw.counter('drop_conn_table_full');
      if (n2 > refused) this.log('warn', `${raw.tableFullText('conn')}: ${n2 - refused} new conn(s) refused (drop_conn_table_full ${n2})`);
      refused = n2;
    }, this.opts.tickMs);
    // a partition fills first: grow the table (workers parked) when the fullest one comes close
    this.growTimer = setInterval(() => {
      if (!this.stopped && raw.connsNearFull()) raw.withWorkersParked(() => raw.reserveConns());
    }, 20);
  }

  private sumStats(): void {
    const s = this.threadStats;
    this.stats.rxFrames = s.reduce((a, x) => a + x.rx, 0);
    this.stats.txFrames = s.reduce((a, x) => a + x.tx, 0);
    this.stats.batches = s.reduce((a, x) => a + x.batches, 0);
    this.stats.ioEnters = s.reduce((a, x) => a + x.enters, 0);
  }

  private workerDied(w: number, e: Error): void {
    if (this.stopped || this.failed) return;
    this.failed = true;
    // a thread that died inside a batch leaves its busy word set: clear it, or parking the
    // workers (every control call, the final table) would wait for it
    const raw = this.engine as Engine;
    const words = Number(raw.ex.workerWords(w));
    if (words) Atomics.store(new Int32Array(raw.shared.memory.buffer), (words + Number(raw.ex.WCTL_BUSY.value)) >>> 2, 0);
    this.log('error', `worker ${w} crashed: ${e.stack ?? e.message}; the director stops (it never runs on with fewer workers)`);
    const err = new WvsError('WVS_ERR_WORKER', `worker ${w} crashed: ${e.message}`);
    if (this.opts.onFatal) this.opts.onFatal(err);
    else { process.exitCode = 1; this.stop(); }
  }

  private startLoop(): void {
    const fd = this.dev!.fd;
    tun.watch(fd, (err) => {
      if (err) { this.log('error', `poll on ${this.devName} failed: ${err.code}`); this.stop(); return; }
      this.stats.wakeups++;
      this.drain();
    });
    let refused = 0n;
    this.timer = setInterval(() => {
      if (this.stopped) return;
      this.engine.tick(Date.now());
      this.sendOwn();
      // conns refused at --conn-max: counted by the engine, said here once per tick that saw some
      const n = this.engine.counters().drop_conn_table_full ?? 0n;
      if (n > refused) this.log('warn', `${this.engine.tableFullText('conn')}: ${n - refused} new conn(s) refused (drop_conn_table_full ${n})`);
      refused = n;
      this.defenseWatch(Date.now());
    }, this.opts.tickMs);
  }

  /**
   * A log line for each change of what the defense strategies do (the engine runs
   * update_defense_level once a second, counted in defense_level_changes), and for half-open
   * conns reclaimed by a full table, at most once in 10 s.
   */
  defenseWatch(nowMs: number): void {
    const e = this.engine;
    const s = e.defenseState();
    const on = [s.dropEntry && 'drop_entry', s.dropPacket && `drop_packet (1 in ${s.dropRate} new-conn packets)`, s.secureTcp && 'secure_tcp'].filter(Boolean);
    const said = `${s.memoryLow} ${on.join(', ')}`;
    if (said !== this.defenseSaid && (this.defenseSaid !== '' || s.memoryLow || on.length)) {
      this.log(s.memoryLow ? 'warn' : 'info', `defense: memory ${s.memoryLow ? 'low' : 'plentiful'} (${s.availPages} pages of conns free ` +
        `${s.memoryLow ? '<' : '>='} amemthresh ${s.amemthresh}): ${on.length ? `${on.join(', ')} acting` : 'no strategy acting'}`);
    }
    this.defenseSaid = said;
    const r = e.counter('conn_half_open_reclaimed');
    if (r > this.reclaimSaid.n && nowMs - this.reclaimSaid.at >= 10_000) {
      this.log('warn', `${e.tableFullText('conn')}: ${r - this.reclaimSaid.n} half-open conn(s) (SYN_RECV, oldest first) gave their record to new conns (conn_half_open_reclaimed ${r})`);
      this.reclaimSaid = { n: r, at: nowMs };
    }
  }

  /** Read, process and write batches until the device is empty (or the per-wake budget is used). */
  drain(): number {
    const dev = this.dev;
    if (!dev || this.stopped) return 0;
    const e = this.engine;
    const metaSize = e.slotMetaSize;
    let total = 0;
    for (let b = 0; b < BATCHES_PER_WAKE; b++) {
      const n = tun.readBatch(dev.fd, e.mem.buffer, e.slotBase, e.slotSize, e.headroom, e.slotSize - e.headroom,
        e.slotMetaBase, metaSize, this.batch);
      if (n === 0) break;
      e.process(n, Date.now());   // may grow the conn table first: memory.buffer is new then
      const tunMode = this.mode === 'tun';
      const sent = tun.writeBatch(dev.fd, e.mem.buffer, e.slotBase, e.slotSize, e.slotMetaBase, metaSize, n, tunMode ? TUN_TX_MASK : TX_MASK);
      this.stats.batches++;
      this.stats.rxFrames += n;
      this.stats.txFrames += sent;
      this.sendOwn();
      this.stats.ioEnters = tun.stats().enters;
      if (tunMode) this.afterTunBatch();
      total += n;
      if (n < this.batch) break;
    }
    return total;
  }

  /** TUN: count the frames written back; warn (rate-limited) when DR/tunnel conns' packets were dropped. */
  private afterTunBatch(): void {
    const e = this.engine;
    this.stats.passedBack = Number(e.counter('pass'));
    const m = e.counter('drop_method_unsupported_on_link');
    if (m === this.methodDrops) return;
    const now = Date.now();
    if (now - this.methodWarnAt >= METHOD_WARN_MS) {
      this.methodWarnAt = now;
      const dests = [...this.warnedDests].join(', ');
      this.log('warn', `${m - this.methodDrops} packet(s) of DR/tunnel conns dropped (drop_method_unsupported_on_link ${m}): ` +
        `a TUN cannot carry ${dests || 'these dests'}; use --mode tap, or -m / --fullnat (tunnels: --tunnel-src ADDR)`);
      this.methodDrops = m;
    }
  }

  /**
   * Send what the engine sends on its own, after process() and tick(): on a TAP released held
   * frames and ARP/ND probes; on both, the fragments after the first of a packet too big for a tunnel.
   */
  private sendOwn(): void {
    const dev = this.dev;
    if (!dev) return;
    const e = this.engine;
    for (;;) {
      const k = e.drain();
      if (k === 0) return;
      const sent = tun.writeBatch(dev.fd, e.mem.buffer, e.slotBase, e.slotSize, e.slotMetaBase, e.slotMetaSize, k, 1 << Verdict.XMIT);
      this.stats.drainedFrames += sent;
      this.stats.txFrames += sent;
      if (k < e.slots) return;
    }
  }

  /** Frames the engine passed (not for a VIP, no conn) that the director dropped. */
  passDropped(): bigint {
    const c = this.engine.counters();
    return c.pass ?? 0n;
  }

  /** Stop reading, close the device, remove the routes we added. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.steering?.stop();
    this.steering = undefined;
    if (this.growTimer) clearInterval(this.growTimer);
    this.growTimer = undefined;
    if (this.threads.length) {
      // the workers' last stats may still be on their way: the frames from the engine's summed counters
      try {
        const c = this.engine.counters();
        this.stats.rxFrames = Number(c.rx ?? 0n);
        this.stats.txFrames = Number((c.tx ?? 0n) + (c.local_reply ?? 0n) + (this.mode === 'tun' ? c.pass ?? 0n : 0n));
      } catch (e) { this.log('warn', `final frame counts: ${(e as Error).message}`); }
    }
    // a worker's queue is closed only once that worker has taken it out of its event loop: an fd
    // closed under another thread's poll makes libuv abort() the process (epoll_ctl: EBADF)
    for (const t of this.threads) t.postMessage({ type: 'stop' });
    const until = Date.now() + 1000;
    const open = new Set<number>();
    this.threads.forEach((_, w) => {
      if (Atomics.wait(this.unwatched!, w, 0, Math.max(0, until - Date.now())) === 'timed-out') {
        open.add(this.dev!.fds[w]!);
        this.log('warn', `worker ${w} did not stop within 1 s: its queue (fd ${this.dev!.fds[w]}) closes with the process`);
      }
    });
    for (const t of this.threads) void t.terminate();
    this.threads = [];
    if (this.dev && this.dev.fds.length > 1) {
      for (const fd of this.dev.fds.slice(1)) { if (!open.has(fd)) { try { tun.close(fd); } catch { /* closed */ } } }
    }
    if (this.dev) {
      try { tun.unwatch(this.dev.fd); } catch { /* not watched */ }
      // routes through the device go with it, but delete ours explicitly first (and say so)
      const routes = [...this.vipRoutes.values()];
      for (const r of routes) ipQuiet(this.opts.netns, ...r.map((a) => (a === 'add' ? 'del' : a)));
      for (const r of this.policy) ipQuiet(this.opts.netns, ...r);
      if (!open.has(this.dev.fd)) { try { tun.close(this.dev.fd); } catch { /* closed */ } }
      this.log('info', `${this.mode.toUpperCase()} ${this.dev.name} closed, ${routes.length} route(s) removed` +
        (this.policy.length ? `, ${this.policy.length} policy rule(s)/route(s) removed` : ''));
      this.dev = undefined;
    }
    this.vipRoutes.clear();
    this.policy = [];
  }
}

/**
 * The worker threads' entry, compiled (worker_threads run JavaScript): next to this file in
 * dist/, or dist/ of the repo when this runs from the sources (tests; `npm run build` makes it).
 */
function workerScript(): string {
  const here = new URL('./worker-main.js', import.meta.url);
  if (here.pathname.includes('/dist/') && existsSync(here)) return here.pathname;
  const built = join(repoRoot(), 'dist', 'host', 'director', 'worker-main.js');
  if (!existsSync(built)) throw new WvsError('WVS_ERR_NO_ENGINE', `${built} is missing: run "npm run build" (worker threads run the compiled host)`);
  return built;
}

/** ADDR or ADDR/PLEN → its family and prefix length (undefined: none given); null when malformed. */
export function parseLinkAddr(v: string): { addr: string; af: 4 | 6; plen?: number } | null {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(v);
  const af = m ? isIP(m[1]) : 0;
  if (!m || af === 0) return null;
  const plen = m[2] === undefined ? undefined : Number(m[2]);
  if (plen !== undefined && plen > (af === 4 ? 32 : 128)) return null;
  return { addr: m[1], af: af as 4 | 6, plen };
}

/** --tunnel-src values → at most one IPv4 and one IPv6 address (throws WVS_ERR_USAGE). */
export function splitTunnelSrc(addrs: readonly string[]): { ipv4?: string; ipv6?: string } {
  const out: { ipv4?: string; ipv6?: string } = {};
  for (const a of addrs) {
    const af = isIP(a);
    if (af === 0) throw new WvsError('WVS_ERR_USAGE', `--tunnel-src ${a}: not an IPv4 or IPv6 address`);
    const k = af === 4 ? 'ipv4' : 'ipv6';
    if (out[k]) throw new WvsError('WVS_ERR_USAGE', `--tunnel-src: one IPv${af} address only (${out[k]}, ${a})`);
    out[k] = a;
  }
  return out;
}

/**
 * --link-addr ADDR[/PLEN] and --gateway ADDR values → the engine's LinkSpec fields: at most one
 * IPv4 and one IPv6 of each (throws WVS_ERR_USAGE). A gateway needs the prefix of its family:
 * it is what tells on-link destinations from the ones behind the gateway.
 */
export function splitLinkAddrs(addrs: readonly string[], gateways: readonly string[] = []): { ipv4?: string; ipv6?: string; gateway4?: string; gateway6?: string } {
  const out: { ipv4?: string; ipv6?: string; gateway4?: string; gateway6?: string } = {};
  for (const a of addrs) {
    const p = parseLinkAddr(a);
    if (!p) throw new WvsError('WVS_ERR_USAGE', `--link-addr ${a}: not an IPv4 or IPv6 address (with an optional /prefix length)`);
    const k = p.af === 4 ? 'ipv4' : 'ipv6';
    if (out[k]) throw new WvsError('WVS_ERR_USAGE', `--link-addr: one IPv${p.af} address only (${out[k]}, ${a})`);
    out[k] = a;
  }
  for (const g of gateways) {
    const af = isIP(g);
    if (af === 0) throw new WvsError('WVS_ERR_USAGE', `--gateway ${g}: not an IPv4 or IPv6 address`);
    const k = af === 4 ? 'gateway4' : 'gateway6';
    if (out[k]) throw new WvsError('WVS_ERR_USAGE', `--gateway: one IPv${af} gateway only (${out[k]}, ${g})`);
    const own = out[af === 4 ? 'ipv4' : 'ipv6'];
    if (own === undefined || parseLinkAddr(own)!.plen === undefined) {
      throw new WvsError('WVS_ERR_USAGE', `--gateway ${g} needs the director's IPv${af} address with its prefix: --link-addr ADDR/PLEN`);
    }
    out[k] = g;
  }
  return out;
}

/** How this process's batches reach the device (tun.setIo 'auto': io_uring where the kernel allows it; each worker thread settles the same way). */
function ioPath(): string {
  if (tun.setIo('auto') === 'uring') return 'I/O: io_uring, one io_uring_enter per batch';
  const why = tun.stats().ioError;
  return `I/O: read()/write() per frame${why ? ` (io_uring: ${why})` : ' (WASMVS_TUN_IO=syscall)'}`;
}
