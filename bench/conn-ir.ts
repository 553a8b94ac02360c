/*
 * bench/conn-ir.ts - a repeatable instruction count for the conn index (issue 20), to run under
 * callgrind: timings on this shared machine move by 2x, instruction counts do not.
 *
 *   node dist/bench/conn-ir.js new N    N SYNs from distinct clients (rr over 8 NAT dests) into a
 *                                       1M-conn table that already holds 131,072 conns
 *   node dist/bench/conn-ir.js est N    N established ACKs over a 4,096-conn table (random flows)
 *   node dist/bench/conn-ir.js est1m N  the same over 1,048,576 conns (the stages on)
 *
 * bench/conn-ir.sh runs each mode twice under valgrind --tool=callgrind (node --no-liftoff
 * --perf-basic-prof), with two N, and prints the difference per packet: start-up and the table's
 * filling cancel, what is left is one more packet's instructions, all of it (the host's copy of
 * the frame into its slot included) and the engine's wasm functions alone (V8's perf map names
 * the JIT code's address ranges). docs/engine.md has the figures.
 */
import { readFileSync } from 'node:fs';
import { loadEngine } from '../host/engine-node.ts';
import { Engine } from '../host/engine.ts';
import { ip } from '../host/packet-builder.ts';

const mode = process.argv[2] ?? 'new';
const N = Number(process.argv[3] ?? 65536);
const BATCH = 256;
const VIP = '198.18.0.100';
const key = { proto: 'TCP' as const, addr: VIP, port: 80 };
const big = mode !== 'est';
const TABLE = big ? 1 << 20 : 4096;
const NEW_MAX = 131072;
const PRE = mode === 'new' ? 131072 : mode === 'est' ? 4096 : 1 << 20;

function client(i: number): [string, number] {
  return [`198.19.${(i >> 8) & 255}.${i & 255}`, 1024 + (i >>> 16)];
}
/**
 * 40-byte IPv4 + TCP frames for clients from..from+n-1, in one buffer: one frame built, the
 * others its copies with the source address and port and both checksums set (under callgrind
 * the packet builder for each frame took minutes).
 */
function frames(from: number, n: number, flags: string): Uint8Array {
  const t = ip('198.19.0.0', VIP, { proto: 'tcp', sport: 1024, dport: 80, flags, seq: 1, ack: 1 });
  const out = new Uint8Array(n * 40);
  const sum = (b: Uint8Array, o: number, len: number, acc: number) => {
    for (let k = 0; k < len; k += 2) acc += (b[o + k] << 8) | b[o + k + 1];
    return acc;
  };
  const fold = (x: number) => { while (x > 0xffff) x = (x & 0xffff) + (x >>> 16); return ~x & 0xffff; };
  for (let i = 0; i < n; i++) {
    const f = out.subarray(i * 40, i * 40 + 40);
    f.set(t);
    const [c, p] = client(from + i);
    f.set(c.split('.').map(Number), 12);
    f[20] = p >> 8; f[21] = p & 255;
    f[10] = f[11] = 0;
    const ipc = fold(sum(f, 0, 20, 0));
    f[10] = ipc >> 8; f[11] = ipc & 255;
    f[36] = f[37] = 0;
    const tc = fold(sum(f, 12, 8, 6 + 20) + sum(f, 20, 20, 0));   // pseudo header: addresses, protocol, TCP length
    f[36] = tc >> 8; f[37] = tc & 255;
  }
  return out;
}

const cfg = { connMax: TABLE, connInit: TABLE, slots: BATCH, slotSize: 2048, seed: 12345 };
// WVS_IR_WASM: the release build with its name section (asc --debug: the same code), so that
// V8's perf map names the functions
const wasmFile = process.env.WVS_IR_WASM;
const e = wasmFile ? await Engine.create(new WebAssembly.Module(readFileSync(wasmFile)), cfg) : await loadEngine(cfg);
e.addService({ ...key, sched: 'rr' });
for (let d = 1; d <= 8; d++) e.addDest(key, { addr: `198.18.1.${d}`, port: 8080, weight: 1, fwd: 'Masq' });
const mem = e.memory, dv = new DataView(mem.buffer);
function run(buf: Uint8Array, idx: (k: number) => number, count: number, now: number): void {
  for (let i = 0; i < count; i += BATCH) {
    const n = Math.min(BATCH, count - i);
    for (let k = 0; k < n; k++) {
      const f = idx(i + k);
      mem.set(buf.subarray(f * 40, f * 40 + 40), e.slotBase + k * e.slotSize + e.headroom);
      dv.setUint32(e.slotMetaBase + k * e.slotMetaSize, e.headroom, true);
      dv.setUint32(e.slotMetaBase + k * e.slotMetaSize + 4, 40, true);
    }
    e.process(n, now);
  }
}
// the table's first conns (the same in both runs of a pair)
run(frames(0, PRE, 'S'), (k) => k, PRE, 1000);
if (mode === 'new') {
  // built for the largest N whatever N is: only the processing differs between the two runs
  run(frames(PRE, NEW_MAX, 'S'), (k) => k, Math.min(N, NEW_MAX), 1001);
} else {
  const acks = frames(0, PRE, 'A');
  let x = 2463534242;
  run(acks, () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % PRE; }, N, 1001);
}
let xmit = 0;
for (let k = 0; k < Math.min(BATCH, N); k++) if (e.result(k).verdict === 'XMIT') xmit++;
console.log(`${mode} ${N}: ${e.connCount()} conns, last batch ${xmit} forwarded`);
