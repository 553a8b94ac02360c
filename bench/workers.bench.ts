/*
 * bench/workers.bench.ts - what running on shared memory costs one worker (docs/workers.md):
 * the plain engine (wasm/release.wasm) against the shared-memory build (wasm/mt.wasm: atomic adds
 * for the shared statistics and counts) as one worker, and as worker 0 of two (the director's lock
 * on new conns, the owner check on every frame), in the same process, interleaved, best of
 * ROUNDS (this machine is shared: the minimum is the engine's cost, the rest is noise).
 *   new conns:    SYNs from distinct clients into an empty table (schedule + conn insert + DNAT)
 *   established:  ACKs of those flows, random order
 *   mt2own:       worker 0 of two given only the flows it owns (a steering program's result)
 * Run: npm run bench:workers   (WVS_BENCH_CONNS, WVS_BENCH_ROUNDS)
 */
import { loadEngine, engineModule } from '../host/engine-node.ts';
import { readFileSync } from 'node:fs';
import { Engine, EngineWorker } from '../host/engine.ts';
import { ip } from '../host/packet-builder.ts';

const N = Number(process.env.WVS_BENCH_CONNS ?? 131072);
const ROUNDS = Number(process.env.WVS_BENCH_ROUNDS ?? 5);
const BATCH = 256;
const VIP = '198.18.0.100';
const key = { proto: 'TCP' as const, addr: VIP, port: 80 };

function frames(flags: string): Uint8Array {
  const out = new Uint8Array(N * 40);
  for (let i = 0; i < N; i++) out.set(ip(`198.19.${(i >> 8) & 255}.${i & 255}`, VIP, { proto: 'tcp', sport: 1024 + (i >>> 16), dport: 80, flags, seq: 1, ack: 1 }), i * 40);
  return out;
}
const syns = frames('S'), acks = frames('A');
const order = Uint32Array.from({ length: N }, (_, i) => i);
for (let i = N - 1; i > 0; i--) { const j = (i * 2654435761) % (i + 1); [order[i], order[j]] = [order[j]!, order[i]!]; }

interface Runner { mem: () => Uint8Array; slotBase: number; stride: number; hr: number; meta: number; msz: number; process: (n: number, now: number) => void }

/** Time process() over all N frames (in the given order), copying each batch in outside the timing; ns per frame. */
function run(r: Runner, buf: Uint8Array, idx: ArrayLike<number>, now: number): number {
  let t = 0;
  const total = idx.length;
  for (let i = 0; i < total; i += BATCH) {
    const n = Math.min(BATCH, total - i);
    const mem = r.mem();
    const dv = new DataView(mem.buffer, mem.byteOffset);
    for (let k = 0; k < n; k++) {
      const f = idx[i + k]!;
      mem.set(buf.subarray(f * 40, f * 40 + 40), r.slotBase + k * r.stride + r.hr);
      dv.setUint32(r.meta + k * r.msz, r.hr, true);
      dv.setUint32(r.meta + k * r.msz + 4, 40, true);
    }
    const t0 = performance.now();
    r.process(n, now);
    t += performance.now() - t0;
  }
  return (t * 1e6) / total;
}

/** For mt2own: the flows worker 0 owns (what it sees with a steering program: no redirect). */
let own0: Uint32Array | undefined;
async function ownedBy0(): Promise<Uint32Array> {
  if (own0) return own0;
  const e = await loadEngine({ workers: 2, connMax: 1 << 10 }, 'mt');
  e.addService({ ...key, sched: 'rr' });
  const scratch = Number(e.ex.regionBase(9));
  const keep: number[] = [];
  for (const i of order) {
    new Uint8Array(e.shared.memory.buffer).set(syns.subarray(i * 40, i * 40 + 40), scratch);
    if ((e.ex.frameOwner(40, 2) >>> 0) === 0) keep.push(i);
  }
  return (own0 = Uint32Array.from(keep));
}

/** WVS_BENCH_BASE=path/to/release.wasm: an earlier plain build, run as 'base' (the single-worker before/after). */
const BASE = process.env.WVS_BENCH_BASE;
async function setup(kind: 'base' | 'release' | 'mt' | 'mt2' | 'mt2own'): Promise<Runner> {
  const workers = kind === 'mt2' || kind === 'mt2own' ? 2 : 1;
  const cfg = { connMax: 1 << 20, connInit: 1 << 19, slots: BATCH, seed: 12345, workers };
  const e: Engine = kind === 'base'
    ? await Engine.create(new WebAssembly.Module(readFileSync(BASE!)), cfg)
    : await loadEngine(cfg, kind === 'release' ? 'release' : 'mt');
  e.addService({ ...key, sched: 'rr' });
  for (let d = 1; d <= 8; d++) e.addDest(key, { addr: `198.18.1.${d}`, port: 8080, fwd: 'Masq' });
  if (kind === 'base' || kind === 'release' || kind === 'mt') {
    return { mem: () => e.memory, slotBase: e.slotBase, stride: e.slotSize, hr: e.headroom, meta: e.slotMetaBase, msz: e.slotMetaSize, process: (n, now) => { e.ex.process(n, now); } };
  }
  // worker 0 of two: every frame goes through the owner check; those worker 1 owns are redirected
  // (a copy into the ring) — the fast path with a steering program would not see them at all
  const w = await EngineWorker.create(engineModule('mt'), e.shared.memory, e.shared.ctl, 0);
  const w1 = await EngineWorker.create(engineModule('mt'), e.shared.memory, e.shared.ctl, 1);
  return {
    mem: () => new Uint8Array(e.shared.memory.buffer), slotBase: w.slotBase, stride: w.slotSize, hr: w.headroom, meta: w.slotMetaBase, msz: w.slotMetaSize,
    process: (n, now) => { w.process(n, now); w1.process(w1.redirectIn(), now); },
  };
}

const best: Record<string, { syn: number; ack: number }> = {};
const mine = await ownedBy0();
for (let r = 0; r < ROUNDS; r++) {
  for (const kind of [...(BASE ? ['base'] as const : []), 'release', 'mt', 'mt2', 'mt2own'] as const) {
    const x = await setup(kind);
    const idx = kind === 'mt2own' ? mine : order;
    const syn = run(x, syns, idx, 1000);
    const ack = run(x, acks, idx, 2000);
    const b = (best[kind] ??= { syn: Infinity, ack: Infinity });
    b.syn = Math.min(b.syn, syn); b.ack = Math.min(b.ack, ack);
  }
}
const f = (v: number) => `${v.toFixed(0)} ns`;
console.log(`${N.toLocaleString()} flows, best of ${ROUNDS} (ns per frame, process() only)`);
for (const [k, v] of Object.entries(best)) console.log(`${k.padEnd(8)} new conn ${f(v.syn).padStart(8)}   established ${f(v.ack).padStart(8)}`);
const rel = best.release!, mt = best.mt!, mt2 = best.mt2!, own = best.mt2own!;
if (best.base) console.log(`plain build now / ${BASE}: new conn ${(rel.syn / best.base.syn).toFixed(2)}x, established ${(rel.ack / best.base.ack).toFixed(2)}x`);
console.log(`shared memory + atomics (mt, 1 worker) / release: new conn ${(mt.syn / rel.syn).toFixed(2)}x, established ${(mt.ack / rel.ack).toFixed(2)}x`);
console.log(`worker 0 of 2, its own flows only (owner check + the lock on new conns, as with steering): new conn ${(own.syn / rel.syn).toFixed(2)}x, established ${(own.ack / rel.ack).toFixed(2)}x`);
console.log(`worker 0 of 2, every flow (half redirected to worker 1 and processed there, per frame): new conn ${(mt2.syn / rel.syn).toFixed(2)}x, established ${(mt2.ack / rel.ack).toFixed(2)}x`);
