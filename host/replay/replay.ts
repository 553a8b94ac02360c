/*
 * host/replay/replay.ts - replay a capture through the engine (the runtime-agnostic core).
 *
 * No Node APIs: the Node CLI (cli.ts), the browser Worker (host/web/worker.ts) and tests all call
 * `replay()` with a stream of capture bytes, the rules text and the compiled engine module.
 *
 *   capture chunks ─▶ PcapReader ─▶ findL3 (strip the link header) ─▶ engine slots
 *        ─▶ tick(t) + process(n, t) ─▶ XMIT/LOCAL frames ─▶ PcapWriter (raw IP, 101) ─▶ output()
 *
 * Time: the capture's timestamps are the engine clock (ms with a µs fraction). A batch holds up
 * to `batch` frames that fall in the same engine millisecond, so every frame is processed at
 * its own capture time; tick() runs before each batch at that batch's time, so conns due by
 * then expire first, as the kernel's timers would. Timestamps that go backwards are held at the
 * latest time seen (the engine clock never goes back either).
 *
 * Determinism: a fresh engine with a fixed hash seed per replay, no wall clock in any decision,
 * output in input order, summary maps with sorted keys. Same input → byte-identical output and
 * summary, whatever `speed` or chunking.
 *
 * Conn state transitions are sampled: after each batch, every conn a slot of the batch touched
 * is read back, so two changes of one conn inside one batch (same ms) count as one transition.
 * `batch: 1` makes the sampling exact per packet.
 */
import { Engine, type EngineConfig, type SettingName } from '../engine.ts';
import type { DestView, ServiceView } from '../types.ts';
import { WvsError } from '../errors.ts';
import { PcapError } from '../pcap/errors.ts';
import { partialCsum } from '../pcap/csum.ts';
import { findL3 } from '../pcap/link.ts';
import { PcapReader, type PcapReaderOptions } from '../pcap/read.ts';
import { PcapWriter } from '../pcap/write.ts';
import { formatList } from '../rules/format.ts';
import { sysctlSet } from '../rules/sysctl.ts';
import { applyRules } from './rules.ts';

export type ChunkSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | ReadableStream<Uint8Array>;

export interface ReplayOptions {
  /** the compiled engine (wasm/release.wasm) or its bytes */
  wasm: WebAssembly.Module | BufferSource;
  /** ipvsadm-save / -R text */
  rules: string;
  /** frames per engine call (= engine slots), default 256 */
  batch?: number;
  /** the most conns (the table starts at 4096 and grows to it; default: the engine's, 2,097,152) */
  connMax?: number;
  /** other engine sizes (svcMax, destMax, slotSize...); link is always 'ip', the seed fixed */
  engine?: Pick<EngineConfig, 'svcMax' | 'destMax' | 'slotSize' | 'headroom'>;
  /** engine settings to switch on (e.g. 'sloppyTcp' to pick up flows mid-stream) */
  settings?: SettingName[];
  /** net.ipv4.vs.* sysctls by name, as the live director had them (host/rules/sysctl.ts) */
  sysctls?: { name: string; value: string }[];
  /** receives the output pcap (header first, then one chunk per batch that produced frames) */
  output?: (chunk: Uint8Array) => void | Promise<void>;
  /** called after every batch */
  onProgress?: (p: ReplayProgress) => void | Promise<void>;
  /** 0 = as fast as possible (default); 1 = capture speed; N = N times capture speed */
  speed?: number;
  /** keep the state history of up to this many flows in the summary (default 0: none) */
  keepFlows?: number;
  /** most buckets in the per-real-server timeline (default 200) */
  timelineBuckets?: number;
  /** reader options; clipOverSnaplen defaults to true (as libpcap) */
  reader?: PcapReaderOptions;
  /**
   * TCP/UDP checksums left partial by checksum offload (captured on the sending host, before the
   * NIC finished them: host/pcap/csum.ts) are completed before the engine sees the packet, as the
   * NIC would have; true passes them as captured (default false). Counted either way.
   */
  keepPartialCsum?: boolean;
}

export interface ReplayProgress { packets: number; bytes: number; captureMs: number; outPackets: number }

export interface FlowState { ms: number; state: string }
export interface FlowRecord {
  id: number; proto: string; client: string; vip: string; rs: string; service: string;
  /** capture ms (relative to the first packet) of each sampled state, the first is creation */
  states: FlowState[];
  /** packets of the flow seen in output order (in + out direction) */
  packets: number;
}

export interface ReplaySummary {
  input: {
    format: string;
    /** packet records read from the capture */
    packets: number;
    bytes: number;
    /** frames handed to the engine */
    fed: number;
    /** frames not handed to the engine, by reason (link layer not IP, truncated, ...) */
    skipped: Record<string, number>;
    /** first packet number skipped for each reason */
    firstSkipped: Record<string, number>;
    linkTypes: Record<string, number>;
    truncated: number;
    clipped: number;
    skippedBlocks: number;
    notes: string[];
    /** the capture stopped being readable here (packets before it were replayed) */
    error: { code: string; message: string; packet: number; offset: number } | null;
    firstMs: number | null;
    lastMs: number | null;
    /** timestamps that went backwards and were held at the latest time */
    timeBackwards: number;
    /** TCP/UDP packets whose checksum the capture holds only partly (checksum offload) */
    partialCsum: number;
    /** of those, completed before the engine saw them (0 with keepPartialCsum) */
    partialCsumCompleted: number;
  };
  /** sentByEngine: frames the engine sent besides the slots' own (drain(): fragments after the first, ICMP errors of expired reassembly, ARP/ND) */
  output: { packets: number; bytes: number; sentByEngine: number; verdicts: Record<string, number>; dropReasons: Record<string, number> };
  engine: { counters: Record<string, number>; global: { conns: number; inpkts: number; outpkts: number; inbytes: number; outbytes: number } };
  conns: {
    created: number;
    byService: { service: string; conns: number; inpkts: number; outpkts: number; dests: { rs: string; conns: number; inpkts: number; outpkts: number }[] }[];
    transitions: Record<string, number>;
    timeoutsFired: number;
    liveAtEnd: number;
  };
  timeline: { startMs: number; bucketMs: number; rs: string[]; counts: number[][] };
  flows: FlowRecord[];
  table: string;
  batches: number;
}

/** Engine configuration of every replay: raw IP slots big enough for any IP packet. */
export function replayEngineConfig(batch = 256, connMax?: number): EngineConfig {
  // the SYN proxy's cookie secret fixed too (zeros): a replay's cookies are the same every run
  return { link: 'ip', slots: batch, slotSize: 65536 + 256, headroom: 256, connMax, seed: 0x5eed1e55, synproxySecret: new Uint8Array(32) };
}

const VERDICTS = ['XMIT', 'LOCAL', 'DROP', 'PASS', 'STOLEN'];
const NS_PER_US = 1000n;

/** Capture ns → engine ms with a µs fraction (exact in a double for any 32-bit-seconds time). */
export function tsToMs(tsNs: bigint): number { return Number(tsNs / NS_PER_US) / 1000; }

const sorted = (m: Map<string, number>): Record<string, number> => {
  const o: Record<string, number> = {};
  for (const k of [...m.keys()].sort()) o[k] = m.get(k)!;
  return o;
};
const bump = (m: Map<string, number>, k: string, n = 1) => m.set(k, (m.get(k) ?? 0) + n);
const hostPort = (af: number, a: string, p: number) => (af === 6 ? `[${a}]:${p}` : `${a}:${p}`);
/** How a summary names a service ("TCP 198.18.0.1:80", "FWM 7") and a real server ("198.18.1.1:8080"). */
export const serviceLabel = (s: ServiceView | undefined): string => !s ? '?' : s.fwmark ? `FWM ${s.fwmark}` : `${s.proto} ${hostPort(s.af, s.addr, s.port)}`;
export const destLabel = (d: DestView | undefined): string => (d ? hostPort(d.af, d.addr, d.port) : '?');
interface Tracked { key: string; state: string; flow: FlowRecord | null }

/** Per-real-server new conns over capture time, in at most `max` buckets (widths double). */
class Timeline {
  startMs = 0; bucketMs = 100; rs: string[] = []; counts: number[][] = [];
  private rsIdx = new Map<string, number>();
  constructor(private max: number) {}
  add(relMs: number, rs: string): void {
    let d = this.rsIdx.get(rs);
    if (d === undefined) { d = this.rs.length; this.rsIdx.set(rs, d); this.rs.push(rs); for (const c of this.counts) c.push(0); }
    let b = Math.floor(relMs / this.bucketMs);
    while (b >= this.max) {
      const merged: number[][] = [];
      for (let i = 0; i < this.counts.length; i += 2) {
        const a = this.counts[i], c = this.counts[i + 1];
        merged.push(a.map((v, j) => v + (c ? c[j] : 0)));
      }
      this.counts = merged; this.bucketMs *= 2; b = Math.floor(relMs / this.bucketMs);
    }
    while (this.counts.length <= b) this.counts.push(new Array(this.rs.length).fill(0));
    this.counts[b][d]++;
  }
}

async function* chunksOf(src: ChunkSource, seen: { bytes: number }): AsyncGenerator<Uint8Array> {
  if ('getReader' in src) {
    const r = src.getReader();
    try {
      for (;;) { const { value, done } = await r.read(); if (done) return; seen.bytes += value.length; yield value; }
    } finally { r.releaseLock(); }
  }
  for await (const c of src as AsyncIterable<Uint8Array>) { seen.bytes += c.length; yield c; }
}

const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

/** Replay `source` (a pcap or pcapng byte stream) through a fresh engine configured by `opts.rules`. */
export async function replay(source: ChunkSource, opts: ReplayOptions): Promise<ReplaySummary> {
  const batch = opts.batch ?? 256;
  const engine = await Engine.create(opts.wasm as any, { ...replayEngineConfig(batch, opts.connMax), ...opts.engine });
  for (const s of opts.settings ?? []) engine.set(s, true);
  for (const s of opts.sysctls ?? []) sysctlSet(engine, s.name, s.value);
  applyRules(engine, opts.rules);
  const maxFrame = engine.slotSize - engine.headroom;
  const writer = new PcapWriter();
  const reader = new PcapReader({ clipOverSnaplen: true, ...opts.reader });
  const speed = opts.speed ?? 0;
  const keepFlows = opts.keepFlows ?? 0;

  const skipped = new Map<string, number>(), firstSkipped = new Map<string, number>(), linkTypes = new Map<string, number>();
  const verdicts = new Map<string, number>(VERDICTS.map((v) => [v, 0]));
  const dropReasons = new Map<string, number>(), transitions = new Map<string, number>();
  const tracked = new Map<number, Tracked>();
  const flows: FlowRecord[] = [];
  const timeline = new Timeline(opts.timelineBuckets ?? 200);
  const seen = { bytes: 0 };
  let packets = 0, fed = 0, outPackets = 0, sentByEngine = 0, outBytes = 0, timeoutsFired = 0, created = 0, batches = 0, timeBackwards = 0;
  let firstMs: number | null = null, lastMs: number | null = null, clampedTs = 0, partial = 0;
  const completeCsum = !opts.keepPartialCsum;
  let error: ReplaySummary['input']['error'] = null;
  let wallStart = 0;

  // the pending batch: frames are already in the engine's slots
  const pendTs: bigint[] = [];
  let batchMs = 0, batchKey = -1;

  const skip = (reason: string, index: number) => {
    bump(skipped, reason);
    if (!firstSkipped.has(reason)) firstSkipped.set(reason, index);
  };

  const flush = async () => {
    const n = pendTs.length;
    if (n === 0) return;
    batches++;
    if (speed > 0) {
      const due = wallStart + (batchMs - firstMs!) / speed;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
    }
    const expired = engine.tick(batchMs);
    timeoutsFired += expired;
    if (expired > 0) for (const i of tracked.keys()) if (!engine.conn(i)) tracked.delete(i);
    engine.process(n, batchMs);
    const parts: Uint8Array[] = [];
    const touched = new Set<number>();
    for (let i = 0; i < n; i++) {
      const r = engine.result(i);
      bump(verdicts, r.verdict);
      if (r.verdict === 'DROP') bump(dropReasons, r.reason || 'drop');
      if (r.conn) {
        touched.add(r.conn);
        const t = tracked.get(r.conn);
        if (t?.flow) t.flow.packets++;
      }
      if (r.verdict === 'XMIT' || r.verdict === 'LOCAL') {
        let ts = pendTs[i];
        if (ts < 0n || ts >= 0x100000000n * 1_000_000_000n) { ts = ts < 0n ? 0n : 0xffffffffn * 1_000_000_000n; clampedTs++; }
        const rec = writer.record(ts, engine.output(i));
        parts.push(rec);
        outPackets++; outBytes += r.length;
      }
    }
    // frames the engine sends besides the slots' own (fragments after the first of a packet too big
    // for a tunnel) follow the batch, with its last timestamp (exactly behind their packet with --batch 1)
    for (let k = engine.drain(); k > 0; k = k === engine.slots ? engine.drain() : 0) {
      let ts = pendTs[n - 1];
      if (ts < 0n || ts >= 0x100000000n * 1_000_000_000n) ts = ts < 0n ? 0n : 0xffffffffn * 1_000_000_000n;
      for (let i = 0; i < k; i++) {
        parts.push(writer.record(ts, engine.output(i)));
        outPackets++; sentByEngine++; outBytes += engine.result(i).length;
      }
    }
    const rel = batchMs - firstMs!;
    for (const ci of touched) {
      const c = engine.conn(ci);
      if (!c) continue;
      const key = `${c.proto} ${c.caddr} ${c.cport} ${c.vaddr} ${c.vport} ${c.svc} ${c.dest}`;
      const t = tracked.get(ci);
      if (!t || t.key !== key) {
        created++;
        const rs = destLabel(engine.dest(c.dest));
        const st = c.state;
        bump(transitions, `NONE>${st}`);
        timeline.add(rel, rs);
        let flow: FlowRecord | null = null;
        if (flows.length < keepFlows) {
          flow = {
            id: flows.length + 1, proto: c.proto,
            client: hostPort(c.af, c.caddr, c.cport), vip: hostPort(c.af, c.vaddr, c.vport), rs, service: serviceLabel(engine.service(c.svc)),
            states: [{ ms: rel, state: st }], packets: 0,
          };
          flows.push(flow);
          for (let i = 0; i < n; i++) if (engine.result(i).conn === ci) flow.packets++;
        }
        tracked.set(ci, { key, state: c.state, flow });
      } else if (t.state !== c.state) {
        bump(transitions, `${t.state}>${c.state}`);
        t.state = c.state;
        t.flow?.states.push({ ms: rel, state: c.state });
      }
    }
    pendTs.length = 0;
    if (parts.length && opts.output) {
      let len = 0;
      for (const p of parts) len += p.length;
      const out = new Uint8Array(len);
      let o = 0;
      for (const p of parts) { out.set(p, o); o += p.length; }
      await opts.output(out);
    }
    if (opts.onProgress) await opts.onProgress({ packets, bytes: seen.bytes, captureMs: rel, outPackets });
  };

  if (opts.output) await opts.output(writer.header());
  wallStart = performance.now();
  try {
    for await (const chunk of chunksOf(source, seen)) {
      reader.push(chunk);
      let rec;
      while ((rec = reader.next())) await take(rec);
    }
    reader.end();
    let rec;
    while ((rec = reader.next())) await take(rec);
  } catch (e) {
    if (!(e instanceof PcapError)) throw e;
    if (packets === 0 && pendTs.length === 0) throw e; // nothing readable: refuse the file
    error = { code: e.code, message: e.message, packet: e.packet, offset: e.offset };
  }
  await flush();
  if (lastMs !== null) timeoutsFired += engine.tick(lastMs);

  async function take(rec: { index: number; tsNs: bigint; linkType: number; data: Uint8Array }) {
    packets++;
    bump(linkTypes, String(rec.linkType));
    const l3 = findL3(rec.linkType, rec.data);
    if (typeof l3 === 'string') { skip(l3, rec.index); return; }
    let frame = rec.data.subarray(l3.l3Offset);
    if (frame.length === 0) { skip('empty frame', rec.index); return; }
    // the check runs on a copy only when it must write (the capture's bytes stay as they were)
    if (partialCsum(frame, false) === 'partial') {
      partial++;
      if (completeCsum) { frame = frame.slice(); partialCsum(frame, true); }
    }
    if (frame.length > maxFrame) { skip(`frame over ${maxFrame} bytes`, rec.index); return; }
    let ms = tsToMs(rec.tsNs);
    if (firstMs === null) { firstMs = ms; lastMs = ms; }
    if (ms < lastMs!) { timeBackwards++; ms = lastMs!; }
    lastMs = ms;
    const key = Math.floor(ms - firstMs);
    if (pendTs.length > 0 && (key !== batchKey || pendTs.length === batch)) await flush();
    if (pendTs.length === 0) { batchMs = ms; batchKey = key; }
    engine.writeFrame(pendTs.length, frame);
    pendTs.push(rec.tsNs);
    fed++;
  }

  const services = engine.services();
  const c = reader.counters;
  const num = (v: bigint) => Number(v);
  const counters: Record<string, number> = {};
  for (const [k, v] of Object.entries(engine.counters())) counters[k] = num(v);
  const g = engine.globalStats();
  if (clampedTs) c.notes.push(`${clampedTs} output timestamps outside the pcap range were clamped`);
  return {
    input: {
      format: reader.format ?? 'unknown', packets, bytes: seen.bytes, fed, skipped: sorted(skipped), firstSkipped: sorted(firstSkipped),
      linkTypes: sorted(linkTypes), truncated: c.truncated, clipped: c.clipped, skippedBlocks: c.skippedBlocks, notes: [...c.notes],
      error, firstMs, lastMs, timeBackwards, partialCsum: partial, partialCsumCompleted: completeCsum ? partial : 0,
    },
    output: { packets: outPackets, bytes: outBytes, sentByEngine, verdicts: sorted(verdicts), dropReasons: sorted(dropReasons) },
    engine: { counters, global: { conns: num(g.conns), inpkts: num(g.inpkts), outpkts: num(g.outpkts), inbytes: num(g.inbytes), outbytes: num(g.outbytes) } },
    conns: {
      created,
      byService: services.map((s) => ({
        service: serviceLabel(s),
        conns: num(s.stats.conns), inpkts: num(s.stats.inpkts), outpkts: num(s.stats.outpkts),
        dests: s.dests.map((d) => ({ rs: destLabel(d), conns: num(d.stats.conns), inpkts: num(d.stats.inpkts), outpkts: num(d.stats.outpkts) })),
      })),
      transitions: sorted(transitions), timeoutsFired, liveAtEnd: engine.connCount(),
    },
    timeline: { startMs: firstMs ?? 0, bucketMs: timeline.bucketMs, rs: timeline.rs, counts: timeline.counts },
    flows,
    table: formatList(services, { numeric: true, stats: true, size: engine.connTabSize() }),
    batches,
  };
}

export { WvsError, PcapError };
