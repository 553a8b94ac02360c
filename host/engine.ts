/*
 * host/engine.ts - load the wasmvs engine and drive it through a typed API.
 *
 * Runtime-agnostic: no Node imports. The caller hands over the compiled module (or its
 * bytes); Node reads build/release.wasm (host/engine-node.ts), a browser fetches it. The
 * layout constants come from the module's own exports, so nothing here can drift from
 * assembly/layout.ts.
 */
import { instantiate } from '@assemblyscript/loader';
import { Errno, WvsEngineError, WvsError } from './errors.ts';
import { inetPton6, parseAddr, ntop6, ntoa4 } from './addr.ts';
import type { ServiceView, DestView, ConnView, Stats, Rates, Timeouts, Fwd, Proto } from './types.ts';
import { ZERO_RATES } from './types.ts';

export interface EngineConfig {
  /**
   * The most services, dests and conns the tables may grow to (wasmvs run/replay --svc-max,
   * --dest-max, --conn-max). The tables start at svcInit/destInit/connInit and grow between
   * batches: services and dests when an add finds them full, conns when a batch could fill them.
   */
  svcMax?: number;
  destMax?: number;
  connMax?: number;
  /** initial table sizes (default: 64 services, 256 dests, 4096 conns; never above the limits) */
  svcInit?: number;
  destInit?: number;
  connInit?: number;
  /** frames per batch */
  slots?: number;
  /** bytes per slot, headroom included */
  slotSize?: number;
  /** bytes kept free in front of each frame (encapsulation, ICMP errors) */
  headroom?: number;
  /**
   * 'ip': raw IP frames (TUN, IFF_NO_PI); 'ethernet': TAP; '…-offload': the same behind a 10-byte
   * struct virtio_net_hdr (a device opened with offloads: TCP super-packets, partial checksums)
   */
  link?: 'ip' | 'ethernet' | 'ip-offload' | 'ethernet-offload';
  /** conn hash seed (fixed in replays for determinism) */
  seed?: number;
  /**
   * Worker threads that will share this engine's memory (default 1: the plain engine). More than
   * one needs the shared-memory build (wasm/mt.wasm, host/engine-node.ts engineModule('mt')): the
   * memory becomes a shared WebAssembly.Memory, this instance the control thread's, and each worker
   * runs an EngineWorker over it (docs/workers.md).
   */
  workers?: number;
  /** the SYN proxy's cookie secrets (32 bytes: two SipHash keys); drawn at random when absent */
  synproxySecret?: Uint8Array;
}

/** Default limits: sized for real fleets (the engine's ceilings for services and dests). */
export const DEFAULT_LIMITS = { svcMax: 65535, destMax: 65535, connMax: 1 << 21 } as const;
/** Default initial sizes; a conn table of 4096 buckets, as the kernel's ip_vs_conn_tab_size. */
export const DEFAULT_INIT = { svcInit: 64, destInit: 256, connInit: 4096 } as const;
/** The option of each limit, and the range it takes (the engine's ceilings: assembly/layout.ts). */
export const LIMIT_OPTIONS = {
  svcMax: { option: '--svc-max', table: 'service', unit: 'services', min: 1, max: 65535 },
  destMax: { option: '--dest-max', table: 'dest', unit: 'dests', min: 1, max: 65535 },
  connMax: { option: '--conn-max', table: 'conn', unit: 'conns', min: 1, max: 1 << 24 },
} as const;
export type LimitName = keyof typeof LIMIT_OPTIONS;
/** Check a limit's value: the message names the option and its range. */
export function checkLimit(name: LimitName, v: unknown): string | undefined {
  const o = LIMIT_OPTIONS[name];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < o.min || v > o.max) {
    return `${o.option} must be an integer from ${o.min} to ${o.max} (${o.table} table limit), got ${String(v)}`;
  }
  return undefined;
}

export const Verdict = { DROP: 0, XMIT: 1, LOCAL: 2, PASS: 3, STOLEN: 4 } as const;
/** EngineConfig.link → the engine's linkType. */
const LINK_TYPE: Record<string, number> = { ip: 0, ethernet: 1, 'ip-offload': 2, 'ethernet-offload': 3 };
export type VerdictName = 'DROP' | 'XMIT' | 'LOCAL' | 'PASS' | 'STOLEN';
const VERDICT_NAMES: VerdictName[] = ['DROP', 'XMIT', 'LOCAL', 'PASS', 'STOLEN'];

export const HookPoint = { PRE_ROUTING: 0, LOCAL_IN: 1, FORWARD: 2, LOCAL_OUT: 3, POST_ROUTING: 4 } as const;
export type HookPointName = keyof typeof HookPoint;
export const NfVerdict = { DROP: 0, ACCEPT: 1, STOLEN: 2, QUEUE: 3, REPEAT: 4, STOP: 5 } as const;
export type NfVerdictName = keyof typeof NfVerdict;
export const HookFn = {
  IPVS_IN: 1, IPVS_OUT: 2, IPVS_FWD_ICMP: 3, IPVS_POST: 4, ICMP_ECHO: 5, LOCAL_STACK: 6,
  MATCH_SRC: 16, MATCH_DST: 17, VERDICT: 18, COUNT: 19, MARK: 20,
} as const;
export type HookFnName = keyof typeof HookFn;

/** Engine settings (assembly/defs.ts SET_*). */
export const Setting = {
  passMalformed: 0x1, expireNodestConn: 0x2, icmpEcho: 0x4, connReuse: 0x8, connReuse2: 0x10,
  sloppyTcp: 0x20, secureTcp: 0x40, noTtlDecrement: 0x80, expireQuiescentTemplate: 0x100,
  /** net.ipv4.vs.sloppy_sctp: any chunk but ABORT may create a conn */
  sloppySctp: 0x200,
  /** FULLNAT: never insert the TOA option (DPVS built without toa) */
  noToa: 0x400,
  /**
   * The director's local stack for its VIPs (default on, as the kernel's): a TCP segment to a VIP
   * that IPVS leaves alone (no service on the port, or no conn and not a SYN) gets a RST, a UDP
   * datagram an ICMP port unreachable (counters tcp_reset_sent, icmp_port_unreach_sent)
   */
  localAnswers: 0x800,
  /**
   * The device writes the engine's output back into the host's routing (a TUN): DR has no MAC
   * to rewrite and tunnels no source address there, so their conns' packets are dropped,
   * counted as drop_method_unsupported_on_link (set by the TUN director)
   */
  routedLink: 0x1000,
} as const;
export type SettingName = keyof typeof Setting;

const FWD_CODE: Record<string, number> = { Masq: 0, Local: 1, Tunnel: 2, Route: 3, Bypass: 4, FullNat: 5 };
const FWD_NAME: Fwd[] = ['Masq', 'Local', 'Tunnel', 'Route', 'Masq', 'FullNat'];
const PROTO_NUM: Record<Proto, number> = { TCP: 6, UDP: 17, SCTP: 132 };
const PROTO_NAME: Record<number, Proto> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

export interface ServiceKey { proto?: Proto; addr?: string; port?: number; fwmark?: number; af?: 4 | 6 }
export interface ServiceSpec extends ServiceKey {
  sched?: string;
  /** IP_VS_SVC_F_* bits other than PERSISTENT/HASHED (sched flags, one-packet) */
  flags?: number;
  /** persistence timeout in seconds; undefined = not persistent */
  persistent?: number;
  netmask?: number;
}
export interface DestSpec {
  addr: string;
  port?: number;
  weight?: number;
  fwd?: Fwd;
  uthresh?: number;
  lthresh?: number;
  /** fwd 'Tunnel': encapsulation (ipvsadm --tun-type), default ipip */
  tunType?: 'ipip' | 'gue' | 'gre';
  /** GUE: the UDP destination port (--tun-port) */
  tunPort?: number;
  /** 0 nocsum, 1 csum (--tun-csum), 2 remcsum (--tun-remcsum) */
  tunFlags?: number;
}
/** The director on its Ethernet link (TAP): its MAC and addresses (answered for ARP/ND, tunnel sources). */
/**
 * The director on an Ethernet link (TAP): its MAC, its IPv4/IPv6 address there, each optionally
 * with the link's prefix ("198.18.1.254/24"), and the gateways off-prefix destinations go to
 * (the engine's one-link routing table: client replies of NAT/FULLNAT, routed tunnel real
 * servers). Without a prefix or a gateway every destination is taken to be on the link.
 */
export interface LinkSpec { mac: string; ipv4?: string; ipv6?: string; gateway4?: string; gateway6?: string }
const TUN_CODE = { ipip: 0, gue: 1, gre: 2 } as const;
const TUN_NAME = ['ipip', 'gue', 'gre'] as const;
export const NeighState = ['NONE', 'INCOMPLETE', 'REACHABLE', 'STALE', 'PERMANENT'] as const;

function macBytes(text: string): Uint8Array {
  const p = text.split(':');
  if (p.length !== 6 || !p.every((x) => /^[0-9a-fA-F]{1,2}$/.test(x))) throw new WvsError('WVS_ERR_MAC', `bad MAC address: ${text}`);
  return Uint8Array.from(p.map((x) => parseInt(x, 16)));
}
export interface HookSpec {
  point: HookPointName;
  priority: number;
  fn: HookFnName;
  verdict?: NfVerdictName;
  /** prefix for MATCH_SRC / MATCH_DST / MARK, e.g. "198.18.0.0/24" or "2001:2::/48" */
  prefix?: string;
  /** MARK: the mark to set (skb->mark), which selects a fwmark service (-f MARK) */
  mark?: number;
  /** MARK: match only this protocol */
  proto?: Proto;
  /** MARK: match only these destination ports (one, or an inclusive range) */
  dport?: number | [number, number];
  /** MARK: the prefix is matched against the source address instead of the destination */
  matchSource?: boolean;
}
/** A FULLNAT local address of a service (DPVS ipvsadm -G): conns using it, ports found busy while allocating. */
export interface LaddrView { addr: string; conns: number; conflicts: bigint }
export interface HookView { id: number; point: HookPointName; priority: number; fn: HookFnName; verdict: NfVerdictName; packets: bigint }
/** A conn as the engine holds it: ipvsadm's view plus the index, method and per-conn counters. */
/** A conn as listed, plus its engine indexes: its own, its service's and its dest's (Engine.service(), Engine.dest()). */
export type ConnRecord = ConnView & { index: number; svc: number; dest: number; fwd: Fwd; laddr?: string; lport?: number; inpkts: number; outpkts: number; inbytes: bigint; outbytes: bigint };
export interface SlotResult { verdict: VerdictName; reason: string; offset: number; length: number; conn: number }

interface Exports {
  memory: WebAssembly.Memory;
  [name: string]: any;
}

/** Parse an address to its 16-byte engine form (IPv4 as ::ffff:a.b.c.d). */
export function addrBytes(text: string): { af: 4 | 6; bytes: Uint8Array } {
  const p = parseAddr(text);
  if (!p) throw new WvsError('WVS_ERR_ADDR', `bad address: ${text}`);
  const b = new Uint8Array(16);
  if (p.af === 4) {
    b[10] = 0xff; b[11] = 0xff;
    const parts = p.addr.split('.').map(Number);
    b.set(parts, 12);
    return { af: 4, bytes: b };
  }
  b.set(inetPton6(p.addr)!);
  return { af: 6, bytes: b };
}

/** Text of a 16-byte engine address for family `af`. */
export function addrText(af: number, b: Uint8Array): string {
  if (af === 4) return ntoa4(((b[12] << 24) | (b[13] << 16) | (b[14] << 8) | b[15]) >>> 0);
  return ntop6(b);
}

export class Engine {
  readonly ex: Exports;
  readonly mem: WebAssembly.Memory;
  private u8!: Uint8Array;
  private dv!: DataView;
  private readonly c: Record<string, number> = {};
  private base!: { ctl: number; counters: number; gstats: number; svc: number; dest: number; hooks: number; conn: number; slotMeta: number; slots: number; scratch: number; end: number };
  readonly slots: number;
  readonly slotSize: number;
  readonly headroom: number;
  private destMax = 0;
  private schedIds = new Map<string, number>();
  private counterNames: string[] = [];

  /** How long withWorkersParked waits for a worker to leave its batch before it throws. */
  parkLimitMs = PARK_LIMIT_MS;
  /** Workers sharing the memory (1: the plain engine, which processes frames itself). */
  readonly workers: number;
  /** The limits the tables grow to (EngineConfig svcMax / destMax / connMax). */
  readonly limits: { svcMax: number; destMax: number; connMax: number };
  private connCap = 0;
  private connTarget = 0;

  private constructor(ex: Exports, private readonly getString: (p: number) => string, cfg: Required<EngineConfig>) {
    this.ex = ex;
    this.mem = ex.memory;
    for (const [k, v] of Object.entries(ex)) if (v instanceof WebAssembly.Global) this.c[k] = Number(v.value);
    const drift = enumMismatches(this.c);
    if (drift.length) throw new WvsError('WVS_ERR_ENGINE_MISMATCH', `this wrapper does not match the engine module (rebuild both): ${drift.join('; ')}`);
    this.limits = { svcMax: cfg.svcMax, destMax: cfg.destMax, connMax: cfg.connMax };
    const init = (v: number, max: number) => Math.max(1, Math.min(v, max));
    if (cfg.workers !== 1) {
      const w = ex.setWorkers ? ex.setWorkers(cfg.workers) : Errno.OPNOTSUPP;
      if (w !== 0) throw new WvsEngineError('setWorkers', w, w === Errno.OPNOTSUPP ? `${cfg.workers} workers need the shared-memory engine (wasm/mt.wasm)` : `workers must be 1..64, got ${cfg.workers}`);
    }
    const rc = ex.init(init(cfg.svcInit, cfg.svcMax), init(cfg.destInit, cfg.destMax), init(cfg.connInit, cfg.connMax),
      cfg.slots, cfg.slotSize, cfg.headroom, LINK_TYPE[cfg.link] ?? 0, cfg.seed >>> 0);
    if (rc !== 0) throw new WvsEngineError('init', rc, `engine init failed (${rc}): ${rc === Errno.NOMEM ? 'out of memory' : 'check the slot sizes in the configuration'}`);
    // several workers: this instance is the control thread's, with a group of its own (worker.ts)
    if (cfg.workers > 1) ex.attach(Number(ex.regionBase(0)), cfg.workers);
    this.workers = cfg.workers;
    this.slots = cfg.slots; this.slotSize = cfg.slotSize; this.headroom = cfg.headroom;
    ex.defenseSet(5, cfg.connMax);   // the defense measures free memory up to the table's limit
    this.refreshViews();
    for (let i = 1; i < this.c.SCHED_LAST_ID; i++) this.schedIds.set(getString(ex.schedName(i)), i);
    for (let i = 0; i < this.c.CNT_LAST; i++) this.counterNames.push(getString(ex.counterName(i)));
    this.setSynproxySecret(cfg.synproxySecret);
  }

  /**
   * The SYN proxy's cookie secrets (assembly/synproxy.ts): 32 bytes, two SipHash-2-4 keys; without
   * an argument fresh random ones (cookies handed out before no longer validate).
   */
  setSynproxySecret(secret?: Uint8Array): void {
    const k = secret ?? randomSecret();
    if (k.length !== 32) throw new WvsError('WVS_ERR_INVALID', `the SYN proxy secret is 32 bytes, got ${k.length}`);
    this.u8.set(k, this.base.ctl + this.c.CTL_ADDR0);
    this.ex.synproxySetSecret();
  }

  /** Region bases (the growing tables move when they grow: read again after every grow). */
  private rebase(): void {
    const rb = (i: number) => Number(this.ex.regionBase(i));
    this.base = { ctl: rb(0), counters: rb(1), gstats: rb(2), svc: rb(3), dest: rb(4), hooks: rb(5), conn: rb(6), slotMeta: rb(7), slots: rb(8), scratch: rb(9), end: rb(10) };
    this.destMax = this.ex.capacity(1) >>> 0;
    this.connCap = this.ex.capacity(2) >>> 0;
    // grow the conns before a batch could fill them: a batch creates at most 2 records per
    // packet (a conn and its template); a quarter of the table in reserve keeps growth rare
    this.connTarget = this.connCap - Math.max(2 * this.slots, this.connCap >>> 2);
  }

  /** Capacity of a table now: services, dests, conns, big scheduler areas, ipvsadm's conn table size=, conn index and overflow buckets. */
  capacity(t: 'svc' | 'dest' | 'conn' | 'big' | 'connBuckets' | 'connIndex' | 'connOverflow'): number {
    return this.ex.capacity({ svc: 0, dest: 1, conn: 2, big: 3, connBuckets: 4, connIndex: 5, connOverflow: 6 }[t]) >>> 0;
  }

  /**
   * Grow one table (double it, at least by 64 records, at most to its limit). Only between
   * batches. false: it is at its limit already. Throws when memory cannot grow.
   */
  grow(t: 'svc' | 'dest' | 'conn' | 'big', want = 0): boolean {
    const cur = this.capacity(t);
    const limit = t === 'svc' || t === 'big' ? this.limits.svcMax : t === 'dest' ? this.limits.destMax : this.limits.connMax;
    if (cur >= limit) return false;
    const next = Math.min(limit, Math.max(want, cur * 2, cur + 64));
    const sizes = [0, 0, 0, 0];
    sizes[{ svc: 0, dest: 1, conn: 2, big: 3 }[t]] = next;
    const rc = this.ex.grow(sizes[0], sizes[1], sizes[2], sizes[3]);
    if (rc !== 0) {
      const o = t === 'big' ? 'scheduler area' : LIMIT_OPTIONS[`${t}Max` as LimitName].table;
      throw new WvsEngineError('grow', rc, `cannot grow the ${o} table from ${cur} to ${next}: ${rc === Errno.NOMEM ? 'out of memory (a wasm memory holds at most 4 GiB)' : `error ${rc}`}`);
    }
    this.rebase();
    this.refreshViews();
    return true;
  }

  /** Size the tables for a configuration about to be applied (a rules file): fewer moves. */
  reserve(n: { svcs?: number; dests?: number; conns?: number }): void {
    if (n.svcs && n.svcs > this.capacity('svc')) this.grow('svc', n.svcs);
    if (n.dests && n.dests > this.capacity('dest')) this.grow('dest', n.dests);
    if (n.conns && n.conns > this.capacity('conn')) this.grow('conn', n.conns);
  }

  /**
   * Between batches: grow the conn table when the next batch could come close to filling it
   * (up to connMax, where conns are refused and counted: drop_conn_table_full). true: memory
   * moved (views of it must be taken again).
   */
  /** Would reserveConns grow the table now? (a read: the control thread asks it before parking the workers) */
  connsNearFull(): boolean {
    const used = this.workers > 1 ? this.ex.connPressure() >>> 0 : this.ex.connsInUse() >>> 0;
    return used > this.connTarget;
  }
  reserveConns(): boolean {
    // with workers, a conn partition fills first: the fullest one's count × partitions (worker.ts)
    const used = this.workers > 1 ? this.ex.connPressure() >>> 0 : this.ex.connsInUse() >>> 0;
    if (used <= this.connTarget) return false;
    if (!this.grow('conn')) { this.connTarget = Infinity; return false; }
    return true;
  }

  /** Instantiate from compiled module or wasm bytes. */
  static async create(wasm: WebAssembly.Module | BufferSource, config: EngineConfig = {}): Promise<Engine> {
    const cfg: Required<EngineConfig> = {
      ...DEFAULT_LIMITS, ...DEFAULT_INIT, slots: 256, slotSize: 2048, headroom: 128, link: 'ip', seed: 0x9e3779b9, workers: 1, synproxySecret: undefined as unknown as Uint8Array,
      ...Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)),
    };
    for (const k of Object.keys(LIMIT_OPTIONS) as LimitName[]) {
      const bad = checkLimit(k, cfg[k]);
      if (bad) throw new WvsError('WVS_ERR_LIMIT', bad);
    }
    if (!Number.isInteger(cfg.workers) || cfg.workers < 1 || cfg.workers > 64) throw new WvsError('WVS_ERR_USAGE', `workers must be an integer from 1 to 64, got ${String(cfg.workers)}`);
    const env: Record<string, unknown> = { abort: engineAbort };
    // the shared-memory build imports its memory: one shared WebAssembly.Memory for every worker.
    // A compiled module says so; bytes are not compiled twice for it (a browser's main thread
    // refuses synchronous compiles): the plain build links without, the other on the second try
    const shared = () => new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    if (wasm instanceof WebAssembly.Module && needsMemory(wasm)) env.memory = shared();
    let exports: any;
    try {
      ({ exports } = await instantiate<any>(wasm as any, { env }));
    } catch (e) {
      if (!(e instanceof WebAssembly.LinkError) || env.memory) throw e;
      env.memory = shared();
      ({ exports } = await instantiate<any>(wasm as any, { env }));
    }
    return new Engine(exports as Exports, (p) => (exports as any).__getString(p), cfg);
  }

  /** What a worker thread needs to run an EngineWorker over this engine's memory. */
  get shared(): { memory: WebAssembly.Memory; ctl: number; workers: number } {
    return { memory: this.mem, ctl: this.base.ctl, workers: this.workers };
  }

  /**
   * Run fn with every worker parked between batches (the configuration barrier, docs/workers.md):
   * the control thread raises CTL_PAUSE, waits until no worker is inside a batch, applies the
   * change, and lets them go; a batch sees the configuration before or after, never half.
   * One worker (no worker threads): just fn.
   */
  withWorkersParked<T>(fn: () => T): T {
    if (this.workers === 1) return fn();
    const i32 = new Int32Array(this.mem.buffer);
    const pause = (this.base.ctl + this.c.CTL_PAUSE) >>> 2;
    if (Atomics.load(i32, pause) !== 0) return fn();          // nested: already parked
    Atomics.store(i32, pause, 1);
    try {
      // a batch takes micro- to milliseconds: a worker still busy after PARK_LIMIT_MS is stuck
      // (or died inside a batch): say so rather than hang the control thread
      const until = Date.now() + this.parkLimitMs;
      for (let w = 0; w < this.workers; w++) {
        const busy = (Number(this.ex.workerWords(w)) + this.c.WCTL_BUSY) >>> 2;
        while (Atomics.load(i32, busy) !== 0) {
          if (Date.now() > until) throw new WvsError('WVS_ERR_WORKER_STUCK', `worker ${w} did not leave its batch within ${this.parkLimitMs} ms: the configuration was not changed`);
          Atomics.wait(i32, busy, 1, 5);
        }
      }
      return fn();
    } finally {
      Atomics.store(i32, pause, 0);
      Atomics.notify(i32, pause);
    }
  }

  private refreshViews(): void {
    if (!this.base) this.rebase();
    this.u8 = new Uint8Array(this.mem.buffer);
    this.dv = new DataView(this.mem.buffer);
  }
  private views(): void { if (this.u8.buffer !== this.mem.buffer) this.refreshViews(); }

  /** The engine's memory as bytes (for a TUN addon writing straight into the slots). */
  get memory(): Uint8Array { this.views(); return this.u8; }
  get slotBase(): number { return this.base.slots; }
  get slotMetaBase(): number { return this.base.slotMeta; }
  get slotMetaSize(): number { return this.c.SLOT_META_SIZE; }
  get schedulers(): string[] { return [...this.schedIds.keys()]; }

  // ---- frames ------------------------------------------------------------------------------
  /** Copy a frame into slot i after the headroom. */
  writeFrame(i: number, frame: Uint8Array): void {
    if (i < 0 || i >= this.slots) throw new RangeError(`slot ${i} out of range`);
    if (frame.length > this.slotSize - this.headroom) throw new RangeError(`frame of ${frame.length} bytes does not fit a slot`);
    this.views();
    const s = this.base.slots + i * this.slotSize;
    this.u8.set(frame, s + this.headroom);
    const m = this.base.slotMeta + i * this.c.SLOT_META_SIZE;
    this.dv.setUint32(m + this.c.SLOT_OFF, this.headroom, true);
    this.dv.setUint32(m + this.c.SLOT_LEN, frame.length, true);
  }
  /**
   * Process slots 0..n-1 at nowMs; returns n. First grows the conn table if this batch could
   * come close to filling it (reserveConns): the engine's memory may move then, so take
   * `memory` / `mem.buffer` again after a call rather than before.
   */
  process(n: number, nowMs: number): number {
    if (this.ex.connsInUse() >>> 0 > this.connTarget) this.reserveConns();
    return this.ex.process(n, nowMs) >>> 0;
  }
  /** Expire conns due at nowMs; returns how many expired. */
  tick(nowMs: number): number { return this.ex.tick(nowMs) >>> 0; }
  result(i: number): SlotResult {
    this.views();
    const m = this.base.slotMeta + i * this.c.SLOT_META_SIZE;
    const v = this.u8[m + this.c.SLOT_VERDICT];
    const r = this.dv.getUint16(m + this.c.SLOT_REASON, true);
    return {
      verdict: VERDICT_NAMES[v] ?? 'DROP',
      reason: r ? this.counterNames[r] ?? String(r) : '',
      offset: this.dv.getUint32(m + this.c.SLOT_OFF, true),
      length: this.dv.getUint32(m + this.c.SLOT_LEN, true),
      conn: this.dv.getUint32(m + this.c.SLOT_CONN, true),
    };
  }
  /** The output bytes of slot i (a copy). */
  output(i: number): Uint8Array {
    const r = this.result(i);
    const s = this.base.slots + i * this.slotSize + r.offset;
    return this.u8.slice(s, s + r.length);
  }
  /** One frame in, its verdict and bytes out (tests, replay of single packets). */
  processFrame(frame: Uint8Array, nowMs: number): SlotResult & { data: Uint8Array } {
    this.writeFrame(0, frame);
    this.process(1, nowMs);
    return { ...this.result(0), data: this.output(0) };
  }

  // ---- settings -----------------------------------------------------------------------------
  setting(name: SettingName): boolean { return (this.ex.getFlags() & Setting[name]) !== 0; }
  set(name: SettingName, on: boolean): void {
    const f = this.ex.getFlags() >>> 0;
    this.ex.setFlags(on ? f | Setting[name] : f & ~Setting[name]);
  }
  /** ipvsadm --set tcp tcpfin udp (seconds; 0 leaves a value unchanged). */
  setTimeouts(t: Partial<Timeouts>): void { this.ex.setTimeouts(t.tcp ?? 0, t.tcpfin ?? 0, t.udp ?? 0); }
  timeouts(): Timeouts {
    return {
      tcp: Math.floor(this.ex.getStateTimeout(6, 1) / 1000),
      tcpfin: Math.floor(this.ex.getStateTimeout(6, 4) / 1000),
      udp: Math.floor(this.ex.getStateTimeout(17, 0) / 1000),
    };
  }
  /** Timeout of any protocol state, ms (proto 'TCP' / 'SCTP' states by kernel name, 'UDP'). */
  stateTimeout(proto: Proto, state: string): number {
    return this.ex.getStateTimeout(PROTO_NUM[proto], this.stateId(proto, state)) >>> 0;
  }
  setStateTimeout(proto: Proto, state: string, ms: number): void {
    const rc = this.ex.setStateTimeout(PROTO_NUM[proto], this.stateId(proto, state), ms);
    if (rc < 0) throw new WvsEngineError('set_timeout', rc, `bad state ${proto} ${state}`);
  }
  private stateId(proto: Proto, state: string): number {
    if (proto === 'UDP') return 0;
    const last = proto === 'TCP' ? this.c.TCP_STATE_LAST : this.c.SCTP_STATE_LAST;
    for (let s = 0; s < last; s++) if (this.getString(this.ex.stateName(PROTO_NUM[proto], s)) === state) return s;
    throw new WvsError('WVS_ERR_STATE', `unknown ${proto} state ${state}`);
  }
  stateName(proto: number, state: number): string { return this.getString(this.ex.stateName(proto, state)); }

  // ---- services and dests -------------------------------------------------------------------
  private putAddr(off: number, text: string): 4 | 6 {
    const { af, bytes } = addrBytes(text);
    this.views();
    this.u8.set(bytes, this.base.ctl + off);
    return af;
  }
  private schedId(name: string): number { return this.schedIds.get(name) ?? 0; }
  private fail(op: string, rc: number, what: string): never {
    throw new WvsEngineError(op, rc, `${op} ${what}: ${ENGINE_TEXT[rc] ?? `error ${rc}`}`);
  }
  /**
   * Run an add that may find its table full (-ENOSPC): grow that table and try again, up to
   * its limit; there the error names the table and the option that raises it.
   */
  private withRoom(op: string, f: () => number): number {
    for (;;) {
      const rc = f();
      if (rc !== -28) return rc;
      const t = this.ex.fullTable() >>> 0;
      const name = t === 1 ? 'svc' : t === 3 ? 'big' : 'dest';
      if (this.grow(name)) continue;
      throw new WvsEngineError(op, rc, this.tableFullText(name === 'big' ? 'svc' : name));
    }
  }
  /** "dest table full (4096 dests; raise --dest-max)", or the ceiling when the limit is at it. */
  tableFullText(t: 'svc' | 'dest' | 'conn'): string {
    const o = LIMIT_OPTIONS[`${t}Max` as LimitName];
    const n = this.limits[`${t}Max` as LimitName];
    return `${o.table} table full (${n} ${o.unit}; ${n < o.max ? `raise ${o.option}` : `${o.max} is the most wasmvs can hold`})`;
  }
  /** The engine index of a service, 0 when there is none. */
  serviceIndex(key: ServiceKey): number {
    const af = this.putAddr(this.c.CTL_ADDR0, key.addr ?? (key.af === 6 ? '::' : '0.0.0.0'));
    void af;
    return this.ex.svcLookup(key.proto ? PROTO_NUM[key.proto] : 0, key.port ?? 0, key.fwmark ?? 0) >>> 0;
  }
  private needService(op: string, key: ServiceKey): number {
    const i = this.serviceIndex(key);
    if (!i) this.fail(op, -3, describeKey(key));
    return i;
  }
  addService(spec: ServiceSpec): number {
    const af = this.putAddr(this.c.CTL_ADDR0, spec.addr ?? (spec.af === 6 ? '::' : '0.0.0.0'));
    const flags = (spec.flags ?? 0) | (spec.persistent !== undefined ? 1 : 0);
    const rc = this.withRoom('add_service', () => {
      this.putAddr(this.c.CTL_ADDR0, spec.addr ?? (spec.af === 6 ? '::' : '0.0.0.0'));
      return this.ex.svcAdd(af, spec.proto ? PROTO_NUM[spec.proto] : 0, spec.port ?? 0, spec.fwmark ?? 0,
        this.schedId(spec.sched ?? 'wlc'), flags, spec.persistent ?? 0, spec.netmask ?? (af === 4 ? 0xffffffff : 128));
    });
    if (rc < 0) this.fail('add_service', rc, describeKey(spec));
    return rc;
  }
  editService(spec: ServiceSpec): void {
    const i = this.needService('update_service', spec);
    const flags = (spec.flags ?? 0) | (spec.persistent !== undefined ? 1 : 0);
    const rc = this.withRoom('update_service', () => this.ex.svcEdit(i, this.schedId(spec.sched ?? 'wlc'), flags, spec.persistent ?? 0,
      spec.netmask ?? (addrBytes(spec.addr ?? '0.0.0.0').af === 4 ? 0xffffffff : 128)));
    if (rc < 0) this.fail('update_service', rc, describeKey(spec));
  }
  delService(key: ServiceKey): void {
    const rc = this.ex.svcDel(this.needService('del_service', key));
    if (rc < 0) this.fail('del_service', rc, describeKey(key));
  }
  clear(): void { this.ex.svcFlush(); }
  addDest(key: ServiceKey, d: DestSpec): number {
    const i = this.needService('add_dest', key);
    const af = this.putAddr(this.c.CTL_ADDR1, d.addr);
    const rc = this.withRoom('add_dest', () => {
      this.putAddr(this.c.CTL_ADDR1, d.addr);
      return this.ex.destAdd(i, af, d.port ?? 0, d.weight ?? 1, FWD_CODE[d.fwd ?? 'Masq'], d.uthresh ?? 0, d.lthresh ?? 0);
    });
    if (rc < 0) this.fail('add_dest', rc, `${d.addr}:${d.port ?? 0}`);
    this.destTunnel('add_dest', i, d);
    return rc;
  }
  /** The engine index of a live dest of a service (port 0: the service's), 0 when there is none. */
  destIndex(key: ServiceKey, d: { addr: string; port?: number }): number {
    const i = this.serviceIndex(key);
    if (!i) return 0;
    this.putAddr(this.c.CTL_ADDR1, d.addr);
    return this.ex.destLookup(i, d.port ?? 0) >>> 0;
  }
  editDest(key: ServiceKey, d: DestSpec): void {
    const i = this.needService('update_dest', key);
    const af = this.putAddr(this.c.CTL_ADDR1, d.addr);
    const rc = this.ex.destEdit(i, af, d.port ?? 0, d.weight ?? 1, FWD_CODE[d.fwd ?? 'Masq'], d.uthresh ?? 0, d.lthresh ?? 0);
    if (rc < 0) this.fail('update_dest', rc, `${d.addr}:${d.port ?? 0}`);
    this.destTunnel('update_dest', i, d);
  }
  private destTunnel(op: string, svc: number, d: DestSpec): void {
    const t = d.fwd === 'Tunnel' ? d.tunType ?? 'ipip' : 'ipip';
    this.putAddr(this.c.CTL_ADDR1, d.addr);
    const rc = this.ex.destTunnel(svc, d.port ?? 0, TUN_CODE[t], d.tunPort ?? 0, d.tunFlags ?? 0);
    if (rc < 0) this.fail(op, rc, `${d.addr}:${d.port ?? 0} tunnel ${t}`);
  }

  // ---- the director's link (TAP): ARP/ND, neighbours, tunnels -------------------------------
  /** The director's MAC and its IPv4/IPv6 addresses on the link (ARP/ND answers, tunnel sources, probes). */
  setLink(l: LinkSpec): void {
    this.views();
    this.u8.set(macBytes(l.mac), this.base.ctl + this.c.CTL_ADDR1);
    this.ex.setLink(0, 0);
    for (const [a, want] of [[l.ipv4, 4], [l.ipv6, 6]] as const) {
      if (!a) continue;
      const [addr, plenText] = a.split('/');
      const af = this.putAddr(this.c.CTL_ADDR0, addr);
      const plen = plenText === undefined ? 0 : /^\d{1,3}$/.test(plenText) ? Number(plenText) : -1;
      if (af !== want || plen < 0 || plen > (af === 4 ? 32 : 128)) this.fail('set_link', -22, a);
      this.u8.set(macBytes(l.mac), this.base.ctl + this.c.CTL_ADDR1);
      this.ex.setLink(af, plen);
    }
    for (const [g, want] of [[l.gateway4, 4], [l.gateway6, 6]] as const) {
      const af = this.putAddr(this.c.CTL_ADDR0, g ?? (want === 4 ? '0.0.0.0' : '::'));
      if (af !== want) this.fail('set_link', -22, `gateway ${g}`);
      this.ex.setGateway(af);
    }
  }
  /**
   * TUN (routedLink): the tunnels' outer source per family, the address the host's route toward
   * the real servers takes (the kernel's saddr of __ip_vs_get_out_rt); none: that family's tunnel
   * conns are dropped (drop_method_unsupported_on_link). Kept where setLink keeps the link's own.
   */
  setTunnelSource(s: { ipv4?: string; ipv6?: string }): void {
    for (const [a, want] of [[s.ipv4, 4], [s.ipv6, 6]] as const) {
      const af = this.putAddr(this.c.CTL_ADDR0, a ?? (want === 4 ? '0.0.0.0' : '::'));
      if (af !== want) this.fail('set_tunnel_source', -22, a ?? '');
      this.u8.fill(0, this.base.ctl + this.c.CTL_ADDR1, this.base.ctl + this.c.CTL_ADDR1 + 6);
      this.ex.setLink(af, 0);
    }
  }
  /** Path MTU toward the real servers (tunnel PMTU; default 1500). */
  setTunnelMtu(mtu: number): void {
    const rc = this.ex.setTunnelMtu(mtu);
    if (rc < 0) this.fail('set_mtu', rc, String(mtu));
  }
  /**
   * IP fragment reassembly, per family: the queue lifetime (net.ipv4.ipfrag_time /
   * net.netfilter.nf_conntrack_frag6_timeout, here in ms) and the memory above which no fragment
   * is taken (ipfrag_high_thresh / nf_conntrack_frag6_high_thresh, bytes).
   */
  setFragTime(af: 4 | 6, ms: number): void {
    const rc = this.ex.setFragTime(af, ms);
    if (rc < 0) this.fail('set_frag_time', rc, String(ms));
  }
  setFragHighThresh(af: 4 | 6, bytes: number): void {
    const rc = this.ex.setFragHighThresh(af, bytes >>> 0);
    if (rc < 0) this.fail('set_frag_high_thresh', rc, String(bytes));
  }
  /** Reassembly state: settings, bytes held per family, queues open. */
  fragState(): { time4: number; time6: number; high4: number; high6: number; mem4: number; mem6: number; queues: number } {
    const g = (af: number, w: number) => this.ex.fragSetting(af, w) >>> 0;
    return { time4: g(4, 0), time6: g(6, 0), high4: g(4, 1), high6: g(6, 1), mem4: g(4, 2), mem6: g(6, 2), queues: this.ex.fragQueues() >>> 0 };
  }
  /** ip neigh replace ADDR lladdr MAC [nud permanent]. */
  addNeighbour(addr: string, mac: string, permanent = true): void {
    this.putAddr(this.c.CTL_ADDR0, addr);
    this.u8.set(macBytes(mac), this.base.ctl + this.c.CTL_ADDR1);
    const rc = this.ex.neighAdd(permanent ? 1 : 0);
    if (rc < 0) this.fail('add_neigh', rc, addr);
  }
  delNeighbour(addr: string): void {
    this.putAddr(this.c.CTL_ADDR0, addr);
    const rc = this.ex.neighDelete();
    if (rc < 0) this.fail('del_neigh', rc, addr);
  }
  /** The neighbour entry of addr: state and MAC. */
  neighbour(addr: string): { state: (typeof NeighState)[number]; mac: string } {
    this.putAddr(this.c.CTL_ADDR0, addr);
    const st = this.ex.neighState() >>> 0;
    this.views();
    const m = this.u8.subarray(this.base.ctl + this.c.CTL_ADDR1, this.base.ctl + this.c.CTL_ADDR1 + 6);
    return { state: NeighState[st], mac: st ? [...m].map((x) => x.toString(16).padStart(2, '0')).join(':') : '' };
  }
  /**
   * Frames the engine sends on its own: held frames whose next hop answered, and ARP requests /
   * neighbour solicitations. They are placed in slots 0..n-1 (verdict XMIT); send them like a
   * batch's. Call after process() and tick(). Returns n.
   */
  drain(max = this.slots): number { return this.ex.drain(max) >>> 0; }
  /** Frames waiting in the hold queue (for a neighbour, or for drain). */
  heldFrames(): number { return this.ex.heldFrames() >>> 0; }

  // ---- FULLNAT local addresses (DPVS: ipvsadm -P/-Q/-G -t VIP:PORT -z LADDR) -----------------
  /** Add a local address to a service: FULLNAT conns of its dests take their source from these. */
  addLaddr(key: ServiceKey, addr: string): void {
    const i = this.needService('add_laddr', key);
    const af = this.putAddr(this.c.CTL_ADDR1, addr);
    const rc = this.ex.laddrAdd(i, af);
    if (rc < 0) this.fail('add_laddr', rc, addr);
  }
  delLaddr(key: ServiceKey, addr: string): void {
    const i = this.needService('del_laddr', key);
    this.putAddr(this.c.CTL_ADDR1, addr);
    const rc = this.ex.laddrDel(i);
    if (rc < 0) this.fail('del_laddr', rc, addr);
  }
  /** The local addresses of a service, in the order they were added. */
  laddrs(key: ServiceKey): LaddrView[] {
    const i = this.needService('get_laddr', key);
    return this.laddrsAt(i);
  }
  private laddrsAt(svc: number): LaddrView[] {
    this.views();
    const out: LaddrView[] = [];
    const base = Number(this.ex.regionBase(11));
    for (let n = 0; ; n++) {
      const li = this.ex.laddrNth(svc, n) >>> 0;
      if (!li) break;
      const p = base + li * this.c.LADDR_SIZE;
      out.push({
        addr: this.addrAt(this.u8[p + this.c.LADDR_AF], p + this.c.LADDR_ADDR),
        conns: this.dv.getUint32(p + this.c.LADDR_CONNS, true),
        conflicts: this.dv.getBigUint64(p + this.c.LADDR_CONFLICTS, true),
      });
    }
    return out;
  }
  /** The local port range FULLNAT conns take ports from (default 1025-65535). */
  setFnatPortRange(min: number, max: number): void {
    const rc = this.ex.setFnatPortRange(min, max);
    if (rc < 0) this.fail('set_port_range', rc, `${min}-${max}`);
  }

  delDest(key: ServiceKey, d: { addr: string; port?: number }): void {
    const i = this.needService('del_dest', key);
    this.putAddr(this.c.CTL_ADDR1, d.addr);
    const rc = this.ex.destDel(i, d.port ?? 0);
    if (rc < 0) this.fail('del_dest', rc, `${d.addr}:${d.port ?? 0}`);
  }

  // ---- hooks --------------------------------------------------------------------------------
  addHook(h: HookSpec): number {
    let plen = 0;
    if (h.prefix) {
      const [a, l] = h.prefix.split('/');
      const { af } = addrBytes(a);
      this.putAddr(this.c.CTL_ADDR2, a);
      const bits = l === undefined ? (af === 4 ? 32 : 128) : Number(l);
      if (!Number.isInteger(bits) || bits < 0 || bits > (af === 4 ? 32 : 128)) throw new WvsError('WVS_ERR_PREFIX', `bad prefix ${h.prefix}`);
      plen = af === 4 ? 96 + bits : bits;
    }
    const rc = this.ex.hookAdd(HookPoint[h.point], h.priority, HookFn[h.fn], NfVerdict[h.verdict ?? 'ACCEPT'], plen);
    if (rc < 0) this.fail('add_hook', rc, `${h.point}/${h.fn}`);
    if (h.fn === 'MARK') {
      const [lo, hi] = h.dport === undefined ? [0, 0] : typeof h.dport === 'number' ? [h.dport, h.dport] : h.dport;
      if (!(h.mark! > 0 && h.mark! <= 0xffffffff) || lo > hi || hi > 65535) {
        this.ex.hookDel(rc);
        throw new WvsError('WVS_ERR_HOOK', `bad MARK hook: mark ${h.mark}, ports ${lo}:${hi}`);
      }
      this.ex.hookSetMark(rc, h.mark! >>> 0, h.proto ? PROTO_NUM[h.proto] : 0, lo, hi, h.matchSource ? 1 : 0);
    }
    return rc;
  }
  delHook(id: number): void {
    const rc = this.ex.hookDel(id);
    if (rc < 0) this.fail('del_hook', rc, String(id));
  }
  hooks(): HookView[] {
    this.views();
    const out: HookView[] = [];
    const n = this.ex.hookCount();
    const pts = Object.keys(HookPoint) as HookPointName[];
    const fns = Object.entries(HookFn);
    const vs = Object.keys(NfVerdict) as NfVerdictName[];
    for (let i = 0; i < n; i++) {
      const e = this.base.hooks + i * this.c.HOOK_SIZE;
      out.push({
        id: this.dv.getUint32(e + this.c.HOOK_ID, true),
        point: pts[this.u8[e + this.c.HOOK_POINT]],
        priority: this.dv.getInt32(e + this.c.HOOK_PRIORITY, true),
        fn: fns.find(([, v]) => v === this.u8[e + this.c.HOOK_FN])![0] as HookFnName,
        verdict: vs[this.u8[e + this.c.HOOK_VERDICT]],
        packets: this.dv.getBigUint64(e + this.c.HOOK_PACKETS, true),
      });
    }
    return out;
  }

  // ---- listings -----------------------------------------------------------------------------
  private stats(p: number): Stats {
    const g = (o: number) => this.dv.getBigUint64(p + o, true);
    return { conns: g(this.c.ST_CONNS), inpkts: g(this.c.ST_INPKTS), outpkts: g(this.c.ST_OUTPKTS), inbytes: g(this.c.ST_INBYTES), outbytes: g(this.c.ST_OUTBYTES) };
  }
  private addrAt(af: number, p: number): string { return addrText(af, this.u8.subarray(p, p + 16)); }
  private port(p: number): number { return (this.u8[p] << 8) | this.u8[p + 1]; }

  /** Services with their dests, dests in the kernel's internal order (newest first). */
  services(): ServiceView[] {
    this.views();
    const out: ServiceView[] = [];
    for (let i = this.ex.svcNext(1) >>> 0; i !== 0; i = this.ex.svcNext(i + 1) >>> 0) out.push(this.serviceAt(i));
    return out;
  }
  /** One service by its engine index (ConnRecord.svc); undefined when there is none. */
  service(index: number): ServiceView | undefined {
    this.views();
    if (!Number.isInteger(index) || index < 1 || (this.ex.svcNext(index) >>> 0) !== index) return undefined;
    return this.serviceAt(index);
  }
  /** One dest by its engine index (ConnRecord.dest): a live one, or one in the dest trash its conns still hold. */
  dest(index: number): DestView | undefined {
    this.views();
    if (!Number.isInteger(index) || index < 1 || index > this.destMax) return undefined;
    return this.destAt(index);
  }
  /** The family of dest d (a tunnel's may differ from its service's: cp->daf); `af` when there is no dest. */
  private destAf(d: number, af: 4 | 6): 4 | 6 {
    return d ? this.u8[this.base.dest + d * this.c.DEST_SIZE + this.c.DEST_AF] as 4 | 6 : af;
  }
  private destAt(d: number): DestView {
    const c = this.c;
    const p = this.base.dest + d * c.DEST_SIZE;
    const daf = this.u8[p + c.DEST_AF] as 4 | 6;
    return {
      af: daf, addr: this.addrAt(daf, p + c.DEST_ADDR), port: this.port(p + c.DEST_PORT),
      fwd: FWD_NAME[this.u8[p + c.DEST_FWD]], weight: this.dv.getInt32(p + c.DEST_WEIGHT, true),
      uthresh: this.dv.getUint32(p + c.DEST_UTHRESH, true), lthresh: this.dv.getUint32(p + c.DEST_LTHRESH, true),
      activeconns: this.dv.getUint32(p + c.DEST_ACTIVE, true), inactconns: this.dv.getUint32(p + c.DEST_INACTIVE, true),
      persistconns: this.dv.getUint32(p + c.DEST_PERSIST, true), stats: this.stats(p + c.DEST_STATS), rates: { ...ZERO_RATES },
      ...(this.u8[p + c.DEST_FWD] === FWD_CODE.Tunnel ? {
        tunType: TUN_NAME[this.u8[p + c.DEST_TUN_TYPE]] ?? 'ipip', tunPort: this.port(p + c.DEST_TUN_PORT), tunFlags: this.u8[p + c.DEST_TUN_FLAGS],
      } : {}),
    };
  }
  private serviceAt(i: number): ServiceView {
    const c = this.c;
    const s = this.base.svc + i * c.SVC_SIZE;
    const af = this.u8[s + c.SVC_AF] as 4 | 6;
    const dests: DestView[] = [];
    for (let d = this.dv.getUint32(s + c.SVC_DEST_HEAD, true); d !== 0; d = this.dv.getUint32(this.base.dest + d * c.DEST_SIZE + c.DEST_NEXT, true)) {
      dests.push(this.destAt(d));
    }
    const fwmark = this.dv.getUint32(s + c.SVC_FWMARK, true);
    return {
      af, proto: fwmark ? null : PROTO_NAME[this.u8[s + c.SVC_PROTO]], addr: this.addrAt(af, s + c.SVC_VADDR),
      port: this.port(s + c.SVC_VPORT), fwmark, sched: this.getString(this.ex.schedName(this.u8[s + c.SVC_SCHED])),
      flags: this.dv.getUint32(s + c.SVC_FLAGS, true), timeout: this.dv.getUint32(s + c.SVC_TIMEOUT, true),
      netmask: this.dv.getUint32(s + c.SVC_NETMASK, true), pe: '', stats: this.stats(s + c.SVC_STATS), rates: { ...ZERO_RATES }, dests,
      ...(this.ex.laddrNth(i, 0) ? { laddrs: this.laddrsAt(i).map((l) => l.addr) } : {}),
    };
  }
  /** Every live conn; expiresMs relative to the engine's current clock. */
  conns(): ConnRecord[] { return this.connPage(1, Infinity).conns; }
  /**
   * At most `max` live conns from index `from` on, in table order, and the index to continue
   * from (0: no more). A listing taken page by page between batches sees each conn that lives
   * throughout exactly once, as the kernel's /proc/net/ip_vs_conn read page by page does.
   */
  connPage(from: number, max: number): { conns: ConnRecord[]; next: number } {
    this.views();
    const out: ConnRecord[] = [];
    let i = from >= 1 ? this.ex.connNext(from) >>> 0 : 0;
    for (; i !== 0 && out.length < max; i = this.ex.connNext(i + 1) >>> 0) out.push(this.connAt(i));
    return { conns: out, next: i };
  }
  /** One conn by its index (SlotResult.conn, ConnRecord.index); undefined when it is not live. */
  conn(index: number): ConnRecord | undefined {
    this.views();
    if (!Number.isInteger(index) || index < 1 || (this.ex.connNext(index) >>> 0) !== index) return undefined;
    return this.connAt(index);
  }
  private connAt(i: number): ConnRecord {
    const c = this.c;
    const now = this.dv.getUint32(this.base.ctl + c.CTL_NOW, true);
    const p = this.base.conn + i * c.CONN_SIZE, q = Number(this.ex.regionBase(13)) + i * c.CONN_COLD_SIZE;   // the hot part, the cold part
    const af = this.u8[p + c.CONN_AF] as 4 | 6;
    const proto = this.u8[p + c.CONN_PROTO];
    const left = (this.dv.getUint32(p + c.CONN_EXPIRES, true) - now) | 0;
    const dest = this.dv.getUint16(p + c.CONN_DEST, true);
    return {
      index: i, svc: this.dv.getUint16(q + c.COLD_SVC, true), dest, proto: PROTO_NAME[proto] ?? 'IP', af,
      caddr: this.addrAt(af, p + c.CONN_CADDR), cport: this.port(p + c.CONN_CPORT),
      vaddr: this.addrAt(af, p + c.CONN_VADDR), vport: this.port(p + c.CONN_VPORT),
      daddr: this.addrAt(this.destAf(dest, af), q + c.COLD_DADDR), dport: this.port(p + c.CONN_DPORT),
      state: this.getString(this.ex.connStateName(i)), expiresMs: Math.max(0, left),
      flags: this.dv.getUint16(p + c.CONN_FLAGS, true), fwd: FWD_NAME[this.u8[p + c.CONN_FWD]] ?? 'Masq',
      ...this.connLocal(af, q),
      inpkts: this.dv.getUint32(p + c.CONN_INPKTS, true), outpkts: this.dv.getUint32(q + c.COLD_OUTPKTS, true),
      inbytes: this.u48(p + c.CONN_INBYTES), outbytes: this.u48(q + c.COLD_OUTBYTES),
    };
  }
  /** A conn's 48-bit byte counter (layout.ts conn record). */
  private u48(p: number): bigint { return BigInt(this.dv.getUint32(p, true)) + (BigInt(this.dv.getUint16(p + 4, true)) << 32n); }
  /** A FULLNAT conn's local address and port (DPVS lists them between vaddr and daddr), from its record's cold part q. */
  private connLocal(af: number, q: number): { laddr?: string; lport?: number } {
    const li = this.dv.getUint16(q + this.c.COLD_LADDR, true);
    if (!li) return {};
    const lp = Number(this.ex.regionBase(11)) + li * this.c.LADDR_SIZE;
    return { laddr: this.addrAt(af, lp + this.c.LADDR_ADDR), lport: this.port(q + this.c.COLD_LPORT) };
  }
  connCount(): number { return this.ex.connsInUse() >>> 0; }
  /**
   * Services and their dests by engine index, in listing order (dests newest first): what a
   * caller that keys its own records by index (the control backend) walks.
   */
  serviceIndices(): { svcIdx: number; destIdx: number[] }[] {
    this.views();
    const c = this.c, out: { svcIdx: number; destIdx: number[] }[] = [];
    for (let i = this.ex.svcNext(1) >>> 0; i !== 0; i = this.ex.svcNext(i + 1) >>> 0) {
      const destIdx: number[] = [];
      for (let d = this.dv.getUint32(this.base.svc + i * c.SVC_SIZE + c.SVC_DEST_HEAD, true); d !== 0;
        d = this.dv.getUint32(this.base.dest + d * c.DEST_SIZE + c.DEST_NEXT, true)) destIdx.push(d);
      out.push({ svcIdx: i, destIdx });
    }
    return out;
  }
  /** Estimated rates of one stats block: the totals, service `idx` or dest `idx` (ip_vs_read_estimator). */
  rates(kind: 'total' | 'service' | 'dest', idx = 0): Rates {
    const k = kind === 'total' ? 0 : kind === 'service' ? 1 : 2;
    const r = (w: number) => Number(this.ex.statsRate(k, idx, w));
    return { cps: r(0), inpps: r(1), outpps: r(2), inbps: r(3), outbps: r(4) };
  }
  /** ipvsadm -Z: zero the counters of service `svcIdx` (0: all); 0 or -errno (Errno.NOSVC). */
  zeroStats(svcIdx: number): number { return this.ex.zeroStats(svcIdx) | 0; }
  /** One run of the rate estimator at nowMs (the host calls it every second, as ip_vs_est's timer). */
  estimate(nowMs: number): void { this.ex.estimate(nowMs); }
  /** The conn table capacity (shown where ipvsadm shows the kernel's "size="). */
  connCapacity(): number { return this.ex.connCapacity() >>> 0; }
  /**
   * The conn hash table's bucket count: what the listing header prints as size= (the kernel's
   * ip_vs_conn_tab_size, 4096 by default). 4096 until the conn table grows past 8191 records.
   */
  connTabSize(): number { return this.capacity('connBuckets'); }
  expireConn(index: number): void { this.ex.connExpire(index); }
  /** Global conns/pkts/bytes. */
  globalStats(): Stats { this.views(); return this.stats(this.base.gstats); }
  /** Named counters (drop reasons and more). */
  counters(): Record<string, bigint> {
    const out: Record<string, bigint> = {};
    this.counterNames.forEach((n, i) => { out[n] = BigInt.asUintN(64, BigInt(this.ex.counter(i))); });
    return out;
  }
  /** One named counter, cheaply (a hot loop's check); 0n for an unknown name. */
  counter(name: string): bigint {
    const i = this.counterNames.indexOf(name);
    return i < 0 ? 0n : BigInt.asUintN(64, BigInt(this.ex.counter(i)));
  }
  /** Bytes of engine memory in use (all regions). */
  memoryBytes(): number { return this.base.end; }
  /**
   * A received sync message (ip_vs_sync.c, v1 or v0): the backup creates/updates the conns it
   * describes. syncid 0 accepts any. Returns the conns applied, -1 when the message was dropped
   * (counted: drop_sync_*).
   */
  syncReceive(msg: Uint8Array, syncid: number, nowMs: number): number {
    this.views();
    this.u8.set(msg.subarray(0, 65536), this.base.scratch);
    // the backup's conns go into their owners' partitions: with the workers parked
    return this.withWorkersParked(() => this.ex.syncRecv(msg.length, syncid, nowMs) | 0);
  }
  /**
   * The v1 sync messages (ip_vs_sync_conn's records) for these conns, each at most maxlen bytes
   * (ipvsadm --sync-maxlen, 1472 by default). Conns that are never sent (ONE_PACKET, FULLNAT) are skipped.
   */
  syncEncode(indexes: Iterable<number>, syncid: number, maxlen = 1472): Uint8Array[] {
    this.views();
    const out: Uint8Array[] = [];
    const take = (): void => {
      const size = (this.u8[this.base.scratch + 2] << 8) | this.u8[this.base.scratch + 3];
      if (this.u8[this.base.scratch + 4] > 0) out.push(this.u8.slice(this.base.scratch, this.base.scratch + size));
      this.ex.syncMesgInit(0, syncid);
    };
    this.ex.syncMesgInit(0, syncid);
    for (const i of indexes) {
      if (this.ex.syncMesgAdd(0, maxlen, i) === 0) { take(); this.ex.syncMesgAdd(0, maxlen, i); }
    }
    take();
    return out;
  }
  /** The master side of the sync daemon in the engine: on/off, syncid, sync_maxlen (ipvsadm --sync-maxlen). */
  syncMaster(on: boolean, syncid = 0, maxlen = 1472): void { this.ex.syncSetMaster(on ? 1 : 0, syncid, maxlen); }
  /** A sync sysctl (net.ipv4.vs.sync_*): version, threshold (the first number of sync_threshold), period (its second), refresh_period (ms), retries, persist_mode. */
  syncSysctl(name: 'version' | 'threshold' | 'period' | 'refresh_period' | 'retries' | 'persist_mode', value: number): void {
    this.ex.syncSetSysctl(['version', 'threshold', 'period', 'refresh_period', 'retries', 'persist_mode'].indexOf(name), value >>> 0);
  }
  /**
   * A defense sysctl (assembly/defense.ts): drop_entry, drop_packet, secure_tcp (0-3; a change
   * runs update_defense_level at once, so 1 may read back as 2), amemthresh (pages), am_droprate.
   * Returns 0 or -EINVAL (Errno.INVAL).
   */
  defenseSet(name: DefenseName, value: number): number { return this.ex.defenseSet(DEFENSE_NAMES.indexOf(name), value | 0) | 0; }
  defenseGet(name: DefenseName): number { return this.ex.defenseGet(DEFENSE_NAMES.indexOf(name)) | 0; }
  /**
   * What the last defense run (once a second, from tick(); or a write of a mode) switched on,
   * with the memory it measured: free conn records up to --conn-max, in 4 KiB pages of
   * bytesPerConn each (availNow: measured now).
   */
  defenseState(): DefenseState {
    const lv = this.ex.defenseGet(7) >>> 0;
    return {
      dropEntry: (lv & this.c.DEF_L_DROP_ENTRY) !== 0, dropPacket: (lv & this.c.DEF_L_DROP_PACKET) !== 0,
      secureTcp: (lv & this.c.DEF_L_SECURE_TCP) !== 0, memoryLow: (lv & this.c.DEF_L_NOMEM) !== 0,
      availPages: this.ex.defenseGet(6) | 0, amemthresh: this.defenseGet('amemthresh'), dropRate: this.ex.defenseGet(8) | 0,
      bytesPerConn: this.ex.defenseGet(9) | 0, availNow: this.ex.defenseGet(10) | 0,
    };
  }
  /**
   * The master's messages ready to send (ip_vs_sync_conn filled them while packets went through
   * process()): the full ones, and the one being filled once ageMs old (the kernel's 2 s).
   */
  syncTake(nowMs: number, ageMs = 2000): Uint8Array[] {
    const len = this.ex.syncPending(ageMs, nowMs) >>> 0;
    if (len === 0) return [];
    this.views();
    const base = this.ex.regionBase(12) >>> 0;
    const out: Uint8Array[] = [];
    for (let p = 0; p + 4 <= len;) {
      const size = (this.u8[base + p + 2] << 8) | this.u8[base + p + 3];
      if (size < 4) break;
      out.push(this.u8.slice(base + p, base + p + size));
      p += size;
    }
    this.ex.syncTaken(len);
    return out;
  }
  /**
   * Bulk resync (beyond the kernel): every live conn as ordinary sync records, in as many
   * messages as needed (a kernel backup takes them as updates).
   */
  syncBulk(nowMs: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let from = 1;
    do {
      from = this.ex.syncBulk(from) >>> 0;
      out.push(...this.syncTake(nowMs, 0));
    } while (from !== 0);
    return out;
  }
}

/** The defense sysctls in the engine's defenseSet/defenseGet order. */
export const DEFENSE_NAMES = ['drop_entry', 'drop_packet', 'secure_tcp', 'amemthresh', 'am_droprate'] as const;
export type DefenseName = typeof DEFENSE_NAMES[number];
export interface DefenseState {
  dropEntry: boolean; dropPacket: boolean; secureTcp: boolean; memoryLow: boolean;
  availPages: number; amemthresh: number; dropRate: number; bytesPerConn: number; availNow: number;
}

/**
 * 32 random bytes for the cookie secrets: Web Crypto where the runtime has it (Node, browsers,
 * workerd, Deno, Bun); a bare Web-API realm without it gets Math.random's, which are guessable —
 * give such an engine its own secret (EngineConfig.synproxySecret) before using the SYN proxy there.
 */
function randomSecret(): Uint8Array {
  const k = new Uint8Array(32);
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (c?.getRandomValues) return c.getRandomValues(k);
  for (let i = 0; i < k.length; i++) k[i] = Math.floor(Math.random() * 256);
  return k;
}

const ENGINE_TEXT: Record<number, string> = {
  [Errno.NOENT]: 'No such destination', [Errno.NOSVC]: 'No such service', [Errno.NOMEM]: 'out of memory', [Errno.BUSY]: 'busy',
  [Errno.EXIST]: 'already exists', [Errno.INVAL]: 'invalid argument', [Errno.NOSPC]: 'table full', [Errno.RANGE]: 'Numerical result out of range',
  [Errno.OPNOTSUPP]: 'forwarding method not supported yet', [Errno.AFNOSUPPORT]: 'address family not supported', [Errno.NOSCHED]: 'Scheduler not found',
  [Errno.NETUNREACH]: 'not on the director\'s link (-g, DR, only rewrites the MAC: the real server must be inside the prefix of --link-addr)',
  [Errno.SYNPROXY_FWD]: 'the SYN proxy needs NAT (-m) or FULLNAT real servers: with DR (-g) or tunnels (-i) the real server\'s SYN-ACK goes to the client without passing the director, so the handshake cannot be completed (turn --synproxy off for this service, or use -m)',
};

/** Setting's names → the engine's SET_* names. */
const SETTING_ENGINE_NAME: Record<SettingName, string> = {
  passMalformed: 'PASS_MALFORMED', expireNodestConn: 'EXPIRE_NODEST', icmpEcho: 'ICMP_ECHO', connReuse: 'CONN_REUSE',
  connReuse2: 'CONN_REUSE_2', sloppyTcp: 'SLOPPY_TCP', secureTcp: 'SECURE_TCP', noTtlDecrement: 'NO_TTL_DEC',
  expireQuiescentTemplate: 'EXPIRE_QUIESCENT', sloppySctp: 'SLOPPY_SCTP', noToa: 'NO_TOA', localAnswers: 'LOCAL_ANSWERS',
  routedLink: 'ROUTED_LINK',
};
const FWD_ENGINE_NAME: Record<string, string> = { Masq: 'MASQ', Local: 'LOCALNODE', Tunnel: 'TUNNEL', Route: 'DROUTE', Bypass: 'BYPASS', FullNat: 'FULLNAT' };

/**
 * Every enum value this wrapper uses, with the engine export that defines it (assembly/index.ts
 * "enums, for the host"; the engine is the one source): [host name, host value, engine name].
 */
export function engineEnums(): [string, number, string][] {
  const out: [string, number, string][] = [];
  const add = (group: string, o: Record<string, number>, prefix: string, rename: (k: string) => string = (k) => k) => {
    for (const [k, v] of Object.entries(o)) out.push([`${group}.${k}`, v, `${prefix}${rename(k)}`]);
  };
  add('Verdict', Verdict, 'V_');
  add('HookPoint', HookPoint, 'NF_INET_');
  add('NfVerdict', NfVerdict, 'NF_');
  add('HookFn', HookFn, 'HOOK_FN_');
  add('Setting', Setting, 'SET_', (k) => SETTING_ENGINE_NAME[k as SettingName]);
  add('Fwd', FWD_CODE, 'IP_VS_CONN_F_', (k) => FWD_ENGINE_NAME[k]!);
  add('Errno', Errno, 'E_');
  add('Proto', PROTO_NUM, 'IPPROTO_');
  NeighState.forEach((n, i) => out.push([`NeighState.${n}`, i, `NUD_${n}`]));
  return out;
}

/** Where this wrapper's enums differ from the module's exports (empty: they agree). */
export function enumMismatches(c: Record<string, number>): string[] {
  return engineEnums().filter(([, v, e]) => c[e] !== v).map(([h, v, e]) => `${h} = ${v}, engine ${e} = ${c[e]}`);
}

function describeKey(k: ServiceKey): string {
  if (k.fwmark) return `FWM ${k.fwmark}`;
  const a = k.addr ?? '';
  return `${k.proto ?? ''} ${a.includes(':') ? `[${a}]` : a}:${k.port ?? 0}`;
}

/** How long the control thread waits for the workers to park (Engine.withWorkersParked). */
const PARK_LIMIT_MS = 5000;

/** Does this module import its memory (the shared-memory build, wasm/mt.wasm)? */
function needsMemory(m: WebAssembly.Module): boolean {
  return WebAssembly.Module.imports(m).some((i) => i.module === 'env' && i.name === 'memory' && i.kind === 'memory');
}

/**
 * One worker's engine instance over the shared memory of an Engine created with workers > 1
 * (wasm/mt.wasm): its own packet record, slots, counters and conn partition; the configuration,
 * services, dests and the conn records are the control thread's Engine's (docs/workers.md).
 * A worker thread runs it: redirectIn, read the device into the slots after those, process,
 * write — each batch inside enter()/leave() so the control thread can park it (withWorkersParked).
 */
export class EngineWorker {
  readonly ex: Exports;
  private i32: Int32Array;
  private busy = 0;
  private pause = 0;
  private epoch = -1;
  slotBase = 0;
  slotMetaBase = 0;
  readonly slotMetaSize: number;
  readonly slots: number;
  readonly slotSize: number;
  readonly headroom: number;

  private constructor(ex: Exports, readonly memory: WebAssembly.Memory, readonly ctl: number, readonly worker: number) {
    this.ex = ex;
    this.slotMetaSize = Number(ex.SLOT_META_SIZE.value);
    this.i32 = new Int32Array(memory.buffer);
    this.attach();
    this.slots = ex.slotCapacity() >>> 0;
    this.slotSize = ex.slotBytes() >>> 0;
    this.headroom = ex.slotHeadroomBytes() >>> 0;
  }

  static async create(wasm: WebAssembly.Module, memory: WebAssembly.Memory, ctl: number, worker: number): Promise<EngineWorker> {
    const { exports } = await instantiate<any>(wasm, { env: { abort: engineAbort, memory } });
    return new EngineWorker(exports as Exports, memory, ctl, worker);
  }

  /** Place the regions again (first, and after a grow moved them: CTL_EPOCH changed). */
  private attach(): void {
    const rc = this.ex.attach(this.ctl, this.worker);
    if (rc !== 0) throw new WvsEngineError('attach', rc, `worker ${this.worker}: cannot attach to the engine at ${this.ctl} (${rc})`);
    this.slotBase = Number(this.ex.regionBase(8));
    this.slotMetaBase = Number(this.ex.regionBase(7));
    this.busy = (Number(this.ex.workerWords(this.worker)) + Number(this.ex.WCTL_BUSY.value)) >>> 2;
    this.pause = (this.ctl + Number(this.ex.CTL_PAUSE.value)) >>> 2;
    this.epoch = Atomics.load(this.i32, (this.ctl + Number(this.ex.CTL_EPOCH.value)) >>> 2);
  }

  /** Before a batch: wait while the control thread holds the workers (then attach again if the layout moved). */
  enter(): void {
    const a = this.i32;
    for (;;) {
      Atomics.store(a, this.busy, 1);
      if (Atomics.load(a, this.pause) === 0) break;
      Atomics.store(a, this.busy, 0);
      Atomics.notify(a, this.busy);
      Atomics.wait(a, this.pause, 1, 50);
    }
    if (Atomics.load(a, (this.ctl + Number(this.ex.CTL_EPOCH.value)) >>> 2) !== this.epoch) {
      if (this.memory.buffer.byteLength !== a.buffer.byteLength) this.i32 = new Int32Array(this.memory.buffer);
      this.attach();
    }
  }
  /**
   * This worker's conn partition could fill in the next batch (fewer free records than two per
   * slot: a conn and its template). The worker then asks the control thread to grow the table and
   * waits for it (waitGrown) instead of refusing conns the table could still hold.
   */
  needsGrowth(): boolean { return (this.ex.connRoom() >>> 0) < 2 * this.slots; }
  /** Outside a batch: wait up to ms for the layout to move (a grow), true when it did. */
  waitGrown(ms: number): boolean {
    const at = (this.ctl + Number(this.ex.CTL_EPOCH.value)) >>> 2;
    const r = Atomics.wait(this.i32, at, this.epoch, ms);
    return r !== 'timed-out' || Atomics.load(this.i32, at) !== this.epoch;
  }
  /** After a batch. */
  leave(): void {
    Atomics.store(this.i32, this.busy, 0);
    Atomics.notify(this.i32, this.busy);
  }
  /** Redirected frames into slots 0..: how many (read the device into the slots after them). */
  redirectIn(max = this.slots): number { return this.ex.redirectIn(max) >>> 0; }
  process(n: number, nowMs: number): number { return this.ex.process(n, nowMs) >>> 0; }
  tick(nowMs: number): number { return this.ex.tick(nowMs) >>> 0; }
  drain(max = this.slots): number { return this.ex.drain(max) >>> 0; }
  /** Write a frame into slot i after the headroom (tests, synthetic load). */
  writeFrame(i: number, frame: Uint8Array): void {
    const u8 = new Uint8Array(this.memory.buffer);
    const dv = new DataView(this.memory.buffer);
    u8.set(frame, this.slotBase + i * this.slotSize + this.headroom);
    const m = this.slotMetaBase + i * this.slotMetaSize;
    dv.setUint32(m, this.headroom, true);
    dv.setUint32(m + 4, frame.length, true);
  }
  /** Slot i's verdict (V_*), its conn and its output bytes (a copy). */
  result(i: number): { verdict: VerdictName; reason: number; conn: number; data: Uint8Array } {
    const u8 = new Uint8Array(this.memory.buffer);
    const dv = new DataView(this.memory.buffer);
    const m = this.slotMetaBase + i * this.slotMetaSize;
    const off = dv.getUint32(m, true), len = dv.getUint32(m + 4, true);
    const s = this.slotBase + i * this.slotSize + off;
    return { verdict: VERDICT_NAMES[u8[m + 8]] ?? 'DROP', reason: dv.getUint16(m + 10, true), conn: dv.getUint32(m + 12, true), data: u8.slice(s, s + len) };
  }
}

function engineAbort(msg: number, file: number, line: number, col: number): never {
  throw new WvsError('WVS_ERR_TRAP', `engine aborted at ${line}:${col}`);
}
