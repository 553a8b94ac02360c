/*
 * bench/ab-resident.ts - two engine builds on the resident established case, in one process,
 * rounds interleaved (A B, B A, ...), so that a shared machine's noise falls on both alike.
 *
 * Each build runs the bench's resident case (bench/engine.bench.ts section 4 and
 * bench/ir.ts (est): 4,096 NAT conns over 8 dests, 40-byte IPv4 TCP ACKs in random
 * order, batches of 256), timed in CPU time of process(). Prints per build the minimum, first
 * quartile and median ns/packet of 30 rounds of 65,536 packets, and B/A per round.
 *
 * Run: npm run build --silent && node dist/bench/ab-resident.js A.wasm B.wasm
 *      (e.g. A: a release.wasm built from an earlier commit with `asc assembly/index.ts --target
 *      release --outFile /tmp/a.wasm`, B: wasm/release.wasm)
 */
import { readFileSync } from 'node:fs';
import { Engine } from '../host/engine.ts';
import { ip } from '../host/packet-builder.ts';

const BATCH = 256, CONNS = 4096, VIP = '198.18.0.100', ROUNDS = 30, PER_ROUND = 65536;
const files = process.argv.slice(2, 4);
if (files.length !== 2) { console.error('usage: node dist/bench/ab-resident.js A.wasm B.wasm'); process.exit(2); }

const frame = (i: number, flags: string) => ip(`198.19.${(i >> 8) & 255}.${i & 255}`, VIP, { proto: 'tcp', sport: 1024, dport: 80, flags, seq: 1, ack: 1 });
const syns = Array.from({ length: CONNS }, (_, i) => frame(i, 'S'));
const acks = Array.from({ length: CONNS }, (_, i) => frame(i, 'A'));
let x = 2463534242;
const rnd = Uint32Array.from({ length: 1 << 20 }, () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % CONNS; });
let now = 1000;

async function engine(file: string): Promise<Engine> {
  const e = await Engine.create(new WebAssembly.Module(readFileSync(file)), { connMax: CONNS, connInit: CONNS, slots: BATCH, slotSize: 2048, seed: 12345 });
  const key = { proto: 'TCP' as const, addr: VIP, port: 80 };
  e.addService({ ...key, sched: 'rr' });
  for (let d = 1; d <= 8; d++) e.addDest(key, { addr: `198.18.1.${d}`, port: 8080, weight: 1, fwd: 'Masq' });
  return e;
}

/** CPU ns per packet of `pkts` frames of fr (frame idx(k) for the k-th) through e. */
function run(e: Engine, fr: Uint8Array[], idx: (k: number) => number, start: number, pkts: number): number {
  const m = e.memory, d = new DataView(m.buffer);
  let ms = 0;
  for (let k = 0; k < pkts; k += BATCH) {
    for (let j = 0; j < BATCH; j++) {
      const f = fr[idx(start + k + j)];
      m.set(f, e.slotBase + j * e.slotSize + e.headroom);
      d.setUint32(e.slotMetaBase + j * e.slotMetaSize, e.headroom, true);
      d.setUint32(e.slotMetaBase + j * e.slotMetaSize + 4, f.length, true);
    }
    const c0 = process.cpuUsage();
    e.process(BATCH, now += 1);
    const c = process.cpuUsage(c0);
    ms += (c.user + c.system) / 1000;
  }
  return ms * 1e6 / pkts;
}

const es = [await engine(files[0]), await engine(files[1])];
for (const e of es) { run(e, syns, (k) => k % CONNS, 0, CONNS); run(e, acks, (k) => k % CONNS, 0, CONNS); }   // conns made, ESTABLISHED
const ns: number[][] = [[], []];
for (let r = 0; r < ROUNDS; r++) {
  for (const w of r & 1 ? [1, 0] : [0, 1]) ns[w].push(run(es[w], acks, (k) => rnd[k % rnd.length], r * PER_ROUND, PER_ROUND));
}
const q = (a: number[], f: number) => [...a].sort((p, s) => p - s)[Math.floor((a.length - 1) * f)];
['A', 'B'].forEach((n, w) => console.log(`${n} ${files[w]}: min ${q(ns[w], 0).toFixed(1)}, p25 ${q(ns[w], 0.25).toFixed(1)}, median ${q(ns[w], 0.5).toFixed(1)} ns/packet`));
const ratio = ns[1].map((v, i) => v / ns[0][i]);
console.log(`B/A per round: median ${q(ratio, 0.5).toFixed(2)} [${q(ratio, 0).toFixed(2)}-${q(ratio, 1).toFixed(2)}]`);
