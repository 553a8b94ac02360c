/*
 * bench/sched.bench.ts - the cost of a new connection per scheduler, with 10 and 1,000 dests.
 *
 * One NAT service per (scheduler, dest count); dest d is 198.18.(8 + d>>8).(d&255):8080 with
 * weight 1 + d % 8 (ovf: 1,000 × that, so it never runs out of room). Each iteration writes 256
 * SYN frames from distinct clients into the slots (untimed, beforeEach) and times one
 * engine.process over them, so every frame takes the whole new-conn path: parse, conn lookup
 * (a miss), the scheduler's decision, conn insert, DNAT. Between iterations (untimed,
 * afterEach) the clock jumps past the SYN_RECV timeout and tick() expires the batch, keeping the
 * table small and the dests' loads near zero.
 *
 * The table prints ns per new conn (the whole path, mean over the batches) for 10 and 1,000
 * dests and the difference: everything but the scheduler's decision is the same in both, so the
 * difference is what 990 more dests cost the decision (O(1) for rr, wrr, dh, sh, mh; a walk of
 * every dest for lc, wlc, sed, nq, fo, ovf, twos, and for lblc/lblcr when they re-pick).
 * Run: npm run build && node dist/bench/sched.bench.js        (WVS_BENCH_MS=300 for a quick run)
 */
import { Bench } from 'tinybench';
import { loadEngine } from '../host/engine-node.ts';
import { ip } from '../host/packet-builder.ts';

const BATCH = 256;
const ROUNDS = 16;   // distinct client sets, cycled
const SCHEDS = ['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'dh', 'sh', 'mh', 'lblc', 'lblcr', 'fo', 'ovf', 'twos'];
const SIZES = [10, 1000];
const VIP = '198.18.0.100';
const TIME = Number(process.env.WVS_BENCH_MS ?? 1000);

const frames: Uint8Array[][] = [];
for (let r = 0; r < ROUNDS; r++) {
  const batch: Uint8Array[] = [];
  for (let i = 0; i < BATCH; i++) {
    const k = r * BATCH + i;
    batch.push(ip(`198.19.${(k >> 8) & 255}.${(k & 255) || 1}`, VIP, { proto: 'tcp', sport: 1024 + k, dport: 80, flags: 'S' }));
  }
  frames.push(batch);
}

const bench = new Bench({ time: TIME, warmupTime: Math.min(200, TIME / 5) });
// a throwaway first task (rr, 10 dests, not printed): the first task measured otherwise runs slow
for (const size of [0, ...SIZES]) {
  for (const sched of size === 0 ? ['rr'] : SCHEDS) {
    const e = await loadEngine({ connMax: 1 << 14, connInit: 1 << 14, slots: BATCH, slotSize: 2048, destMax: 4096, destInit: 4096 }, 'release');
    const key = { proto: 'TCP' as const, addr: VIP, port: 80 };
    e.addService({ ...key, sched });
    for (let d = 0; d < (size || 10); d++) {
      const w = 1 + (d % 8);
      e.addDest(key, { addr: `198.18.${8 + (d >> 8)}.${d & 255}`, port: 8080, weight: sched === 'ovf' ? 1000 * w : w, fwd: 'Masq' });
    }
    let now = 1000;
    let round = 0;
    bench.add(`${sched}/${size}`, () => { e.process(BATCH, now); }, {
      beforeEach: () => { const batch = frames[round]; for (let i = 0; i < BATCH; i++) e.writeFrame(i, batch[i]); },
      afterEach: () => {
        if (e.result(0).verdict !== 'XMIT') throw new Error(`${sched}/${size}: no dest chosen (${e.result(0).reason})`);
        now += 61_000; e.tick(now); round = (round + 1) % ROUNDS;
      },
    });
  }
}

await bench.run();
const ns = new Map<string, number>();
for (const t of bench.tasks) {
  const r = t.result as any;
  const mean: number | undefined = r?.latency?.mean ?? r?.mean;   // ms per batch
  ns.set(t.name, mean ? (mean * 1e6) / BATCH : NaN);
}
const f = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const rows = SCHEDS.map((s) => {
  const a = ns.get(`${s}/10`)!, b = ns.get(`${s}/1000`)!;
  return {
    scheduler: s,
    'ns/conn, 10 dests': f(a), 'ns/conn, 1000 dests': f(b), '1000 - 10 (ns)': f(b - a),
    'M conns/s, 10 / 1000': `${(1e3 / a).toFixed(2)} / ${(1e3 / b).toFixed(2)}`,
  };
});
console.log(`new conns through engine.process, ${BATCH} SYNs per batch, ${TIME} ms per task (mean)`);
console.table(rows);
