/*
 * bench/sched.bench.ts - new-connection scheduling rate per scheduler.
 *
 * One NAT service with 8 dests (weights 1..8) per scheduler; each iteration writes 256 SYN
 * frames from distinct clients into the slots and runs engine.process once, so every frame
 * creates a conn through the scheduler. Between iterations (untimed, afterEach) the clock
 * jumps past the SYN_RECV timeout and tick() expires the batch, keeping the table small.
 * Run: npm run build:host && node dist/bench/sched.bench.js   (after npm run build:wasm)
 */
import { Bench } from 'tinybench';
import { loadEngine } from '../host/engine-node.ts';
import { ip } from '../host/packet-builder.ts';

const BATCH = 256;
const ROUNDS = 16;   // distinct client sets, cycled
const SCHEDS = ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'dh', 'sh', 'mh', 'lblc', 'lblcr', 'fo', 'ovf', 'twos'];
const VIP = '198.18.0.100';

const frames: Uint8Array[][] = [];
for (let r = 0; r < ROUNDS; r++) {
  const batch: Uint8Array[] = [];
  for (let i = 0; i < BATCH; i++) {
    const k = r * BATCH + i;
    batch.push(ip(`198.19.${(k >> 8) & 255}.${(k & 255) || 1}`, VIP, { proto: 'tcp', sport: 1024 + k, dport: 80, flags: 'S' }));
  }
  frames.push(batch);
}

const bench = new Bench({ time: 1000, warmupTime: 200 });
for (const sched of SCHEDS) {
  const e = await loadEngine({ connMax: 1 << 14, slots: BATCH, slotSize: 2048 }, 'release');
  const key = { proto: 'TCP' as const, addr: VIP, port: 80 };
  e.addService({ ...key, sched });
  // ovf stops at activeconns > weight: give it room for a whole batch
  for (let d = 1; d <= 8; d++) e.addDest(key, { addr: `198.18.1.${d}`, port: 8080, weight: sched === 'ovf' ? 100 * d : d, fwd: 'Masq' });
  let now = 1000;
  let round = 0;
  bench.add(`${sched} x${BATCH} SYN`, () => {
    const batch = frames[round];
    for (let i = 0; i < BATCH; i++) e.writeFrame(i, batch[i]);
    e.process(BATCH, now);
  }, {
    afterEach: () => { now += 61_000; e.tick(now); round = (round + 1) % ROUNDS; },
  });
}

await bench.run();
console.table(bench.table((t) => {
  const r = t.result as any;
  const mean = r?.latency?.mean ?? r?.mean;
  return { task: t.name, 'batches/s': Math.round(r?.throughput?.mean ?? r?.hz ?? 0), 'new conns/s': mean ? Math.round(BATCH * 1000 / mean) : 0 };
}));
