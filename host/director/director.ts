/*
 * host/director/director.ts - the TUN director: one engine, one TUN device, the device loop.
 *
 *   TUN fd readable (libuv poll) → readBatch into the engine's RX slots → engine.process(n, now)
 *   → writeBatch of the XMIT and LOCAL slots back into the same TUN → the kernel routes them on.
 *
 * PASS frames (not for a VIP, no conn: router solicitations, stray traffic routed into the TUN)
 * are dropped and counted: the director has no local stack behind the TUN to hand them to. The
 * engine's `pass`/`pass_no_conn`/`pass_not_ip` counters say how many.
 * Conn expiry runs on a timer (engine.tick). Idle, the process sleeps in epoll.
 */
import { loadEngine } from '../engine-node.ts';
import { Engine, Verdict } from '../engine.ts';
import * as tun from '../native/tun.ts';
import { WvsError } from '../errors.ts';
import { applyRules, loadRulesFile, parseRules, vipsOf, type RuleOp } from './rules.ts';
import { ip, ipQuiet, sysctl } from './sys.ts';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const LEVELS: LogLevel[] = ['error', 'warn', 'info', 'debug'];

export interface DirectorOptions {
  /** TUN interface name (default wvs0) */
  dev?: string;
  mode?: 'tun';
  /** rules file (ipvsadm-save format) */
  rulesFile?: string;
  /** rules text instead of a file */
  rulesText?: string;
  /** install `ip route <VIP> dev <dev>` for every VIP (default true) */
  vipRoutes?: boolean;
  /** frames per readBatch (at most the engine's slot count) */
  batch?: number;
  connMax?: number;
  /** engine.tick period */
  tickMs?: number;
  logLevel?: LogLevel;
  /** move the TUN into this network namespace (created here, read from here) and configure it there */
  netns?: string;
  /** log sink (default stderr) */
  log?: (line: string) => void;
}

export interface DirectorStats {
  batches: number;
  rxFrames: number;
  txFrames: number;
}

/** Batches drained per readiness callback before other events get a turn. */
const BATCHES_PER_WAKE = 8;
const TX_MASK = (1 << Verdict.XMIT) | (1 << Verdict.LOCAL);

export class Director {
  readonly stats: DirectorStats = { batches: 0, rxFrames: 0, txFrames: 0 };
  private dev: tun.TunDevice | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private routes: string[][] = [];
  private stopped = false;
  private readonly level: number;
  readonly batch: number;

  private constructor(readonly engine: Engine, readonly opts: Required<Pick<DirectorOptions, 'dev' | 'tickMs' | 'vipRoutes'>> & DirectorOptions, readonly rules: RuleOp[]) {
    this.level = LEVELS.indexOf(opts.logLevel ?? 'info');
    this.batch = Math.max(1, Math.min(opts.batch ?? 64, engine.slots));
  }

  /** The interface name the kernel gave the TUN. */
  get devName(): string { return this.dev?.name ?? this.opts.dev; }
  get fd(): number | undefined { return this.dev?.fd; }

  log(level: LogLevel, msg: string): void {
    if (LEVELS.indexOf(level) > this.level) return;
    (this.opts.log ?? ((l: string) => process.stderr.write(l + '\n')))(`wasmvs: ${msg}`);
  }

  /** Load the engine, apply the rules, open the TUN, add routes, start the loop. */
  static async start(o: DirectorOptions = {}): Promise<Director> {
    if ((o.mode ?? 'tun') !== 'tun') throw new WvsError('WVS_ERR_USAGE', `--mode ${o.mode}: only tun is supported (tap later)`);
    const engine = await loadEngine({ connMax: o.connMax ?? 1 << 16 });
    let rules: RuleOp[] = [];
    if (o.rulesFile) rules = loadRulesFile(engine, o.rulesFile);
    else if (o.rulesText) { rules = parseRules(o.rulesText); applyRules(engine, rules); }
    const d = new Director(engine, { ...o, dev: o.dev ?? 'wvs0', tickMs: o.tickMs ?? 1000, vipRoutes: o.vipRoutes ?? true }, rules);
    try {
      d.openDevice();
      if (d.opts.vipRoutes) d.addVipRoutes();
      d.startLoop();
    } catch (e) {
      d.stop();
      throw e;
    }
    return d;
  }

  private openDevice(): void {
    try {
      this.dev = tun.open(this.opts.dev, 'tun');
    } catch (e: any) {
      if (e?.code === 'EPERM' || e?.code === 'EACCES') {
        throw new WvsError('WVS_ERR_EPERM', `cannot create TUN device ${this.opts.dev}: ${e.code} ` +
          '(needs CAP_NET_ADMIN: run as root, or give node the capability: setcap cap_net_admin+ep $(which node))');
      }
      if (e?.code === 'ENOENT') throw new WvsError('WVS_ERR_NO_DEV_TUN', `cannot open /dev/net/tun (${e.message}); load the tun module: modprobe tun`);
      throw e;
    }
    const ns = this.opts.netns;
    const name = this.dev.name;
    if (ns) ip(undefined, 'link', 'set', 'dev', name, 'netns', ns);
    // No IPv6 on the TUN: the kernel's router solicitations would only be PASS frames.
    try { sysctl(ns, `net.ipv6.conf.${name}.disable_ipv6`, '1'); } catch { /* IPv6 disabled altogether */ }
    ip(ns, 'link', 'set', 'dev', name, 'up');
    this.log('info', `TUN ${name} up${ns ? ` in netns ${ns}` : ''} (fd ${this.dev.fd}, batch ${this.batch}, ${this.engine.slots} slots of ${this.engine.slotSize} B)`);
  }

  private addVipRoutes(): void {
    for (const { addr, af } of vipsOf(this.rules)) {
      const args = [af === 6 ? '-6' : '-4', 'route', 'add', `${addr}/${af === 6 ? 128 : 32}`, 'dev', this.devName];
      if (!ipQuiet(this.opts.netns, ...args)) {
        this.log('warn', `route for VIP ${addr} not added (one exists already?): ip ${args.join(' ')}`);
        continue;
      }
      this.routes.push(args);
      this.log('info', `route ${addr} dev ${this.devName}`);
    }
  }

  private startLoop(): void {
    const fd = this.dev!.fd;
    tun.watch(fd, (err) => {
      if (err) { this.log('error', `poll on ${this.devName} failed: ${err.code}`); this.stop(); return; }
      this.drain();
    });
    this.timer = setInterval(() => this.engine.tick(Date.now()), this.opts.tickMs);
  }

  /** Read, process and write batches until the TUN is empty (or the per-wake budget is used). */
  drain(): number {
    const dev = this.dev;
    if (!dev || this.stopped) return 0;
    const e = this.engine;
    const mem = e.mem.buffer;
    const metaSize = e.slotMetaSize;
    let total = 0;
    for (let b = 0; b < BATCHES_PER_WAKE; b++) {
      const n = tun.readBatch(dev.fd, mem, e.slotBase, e.slotSize, e.headroom, e.slotSize - e.headroom,
        e.slotMetaBase, metaSize, this.batch);
      if (n === 0) break;
      e.process(n, Date.now());
      const sent = tun.writeBatch(dev.fd, mem, e.slotBase, e.slotSize, e.slotMetaBase, metaSize, n, TX_MASK);
      this.stats.batches++;
      this.stats.rxFrames += n;
      this.stats.txFrames += sent;
      total += n;
      if (n < this.batch) break;
    }
    return total;
  }

  /** Frames the engine passed (not for a VIP, no conn) that the director dropped. */
  passDropped(): bigint {
    const c = this.engine.counters();
    return c.pass ?? 0n;
  }

  /** Stop reading, close the TUN, remove the routes we added. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.dev) {
      try { tun.unwatch(this.dev.fd); } catch { /* not watched */ }
      // routes through the device go with it, but delete ours explicitly first (and say so)
      for (const r of this.routes) ipQuiet(this.opts.netns, ...r.map((a) => (a === 'add' ? 'del' : a)));
      try { tun.close(this.dev.fd); } catch { /* closed */ }
      this.log('info', `TUN ${this.dev.name} closed, ${this.routes.length} route(s) removed`);
      this.dev = undefined;
    }
    this.routes = [];
  }
}
