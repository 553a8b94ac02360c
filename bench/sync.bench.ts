/*
 * bench/sync.bench.ts - connection synchronisation (issue 16), the engine alone, one core.
 *
 *  1. backup: conns applied per second from v1 messages (Engine.syncReceive: copy into the
 *     engine + decode + conn insert with the dest lookup), N conns in 1472-byte messages;
 *  2. master: the cost per synced conn: N established flows' 3rd packets (the one
 *     ip_vs_sync_conn_needed sends with sync_threshold 3) processed with the master on, minus
 *     the same with it off, plus taking the messages out (Engine.syncTake);
 *  3. bulk resync: the whole table of N conns into messages.
 * Run: npm run bench:sync  (WVS_BENCH_CONNS, default 200,000)
 */
import { loadEngine } from '../host/engine-node.ts';
import { ip } from '../host/packet-builder.ts';
import type { Engine } from '../host/engine.ts';

const N = Number(process.env.WVS_BENCH_CONNS ?? 200_000);
const BATCH = 256;
const VIP = '198.18.0.100';
const key = { proto: 'TCP' as const, addr: VIP, port: 80 };
const client = (i: number): [string, number] => [`198.19.${(i >> 8) & 255}.${i & 255}`, 1024 + (i >>> 16)];

async function director(): Promise<Engine> {
  const e = await loadEngine({ connMax: N + 1024, connInit: N + 1024, slots: BATCH, slotSize: 2048, seed: 1 }, 'release');
  e.addService({ ...key, sched: 'rr' });
  for (let d = 1; d <= 8; d++) e.addDest(key, { addr: `198.18.1.${d}`, port: 8080, weight: 1, fwd: 'Masq' });
  return e;
}

/** Run N frames of `flags` through e in batches; returns the ms spent in process() and in taking the messages after each batch. */
const taken: Uint8Array[] = [];
function run(e: Engine, flags: string, t: number): number {
  let ms = 0;
  for (let i = 0; i < N; i += BATCH) {
    const n = Math.min(BATCH, N - i);
    const mem = e.memory, dv = new DataView(mem.buffer);
    for (let k = 0; k < n; k++) {
      const [c, p] = client(i + k);
      const f = ip(c, VIP, { proto: 'tcp', sport: p, dport: 80, flags, seq: 1, ack: 1 });
      mem.set(f, e.slotBase + k * e.slotSize + e.headroom);
      dv.setUint32(e.slotMetaBase + k * e.slotMetaSize, e.headroom, true);
      dv.setUint32(e.slotMetaBase + k * e.slotMetaSize + 4, f.length, true);
    }
    const t0 = performance.now();
    e.process(n, t);
    for (const m of e.syncTake(t, 0)) taken.push(m);
    ms += performance.now() - t0;
  }
  return ms;
}

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

// 2. master cost: 3 packets per flow (S, A, A); only the 3rd is synced
const off = await director();
run(off, 'S', 1000); run(off, 'A', 1001);
const msOff = run(off, 'A', 1002);
const on = await director();
on.syncMaster(true, 1);
run(on, 'S', 1000); run(on, 'A', 1001);
taken.length = 0;
const msOn = run(on, 'A', 1002);
const msgs = taken.slice();
const synced = msgs.reduce((s, m) => s + m[4], 0);
console.log(`master: ${fmt(synced)} conns synced in ${msgs.length} messages; process() of the 3rd packets ${msOff.toFixed(1)} ms with the master off, ${msOn.toFixed(1)} ms on (messages taken after each batch)`);
console.log(`master: ${((msOn - msOff) * 1e6 / synced).toFixed(0)} ns per synced conn (decision + record + taking it out); drops ${on.counter('drop_sync_queue_full')}`);

// 1. backup
const b = await director();
const t2 = performance.now();
let applied = 0;
for (const m of msgs) applied += b.syncReceive(m, 1, 6000);
const msB = performance.now() - t2;
console.log(`backup: ${fmt(applied)} conns applied in ${msB.toFixed(1)} ms: ${fmt(applied / msB * 1000)} conns/s`);
const t3 = performance.now();
let again = 0;
for (const m of msgs) again += b.syncReceive(m, 1, 7000);
const msU = performance.now() - t3;
console.log(`backup: ${fmt(again)} updates of existing conns in ${msU.toFixed(1)} ms: ${fmt(again / msU * 1000)} conns/s`);

// 3. bulk
const t4 = performance.now();
const bulk = on.syncBulk(8000);
const msBulk = performance.now() - t4;
console.log(`bulk resync: ${fmt(on.conns().length)} conns in ${bulk.length} messages, ${msBulk.toFixed(1)} ms`);
