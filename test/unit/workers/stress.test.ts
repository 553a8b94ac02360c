// Two worker threads (worker_threads, the real thing) creating and expiring conns of the same
// services at once on one shared engine memory (docs/workers.md), with the control thread growing
// the conn table under the barrier meanwhile. Synthetic UDP flows, no TUN: each thread puts its
// frames in its own batches whatever worker owns them, so about half go through the redirect
// rings. Invariants at the end: no conn lost or doubled (one conn per flow, exactly), every frame
// received once and sent once, the counters equal to the frames sent, and after expiry nothing
// left bound to a dest. 6 s here; `npm run stress:workers` runs it for a minute (WVS_STRESS_MS).
import { expect, test } from 'vitest';
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { engineModule } from '../../../host/engine-node.ts';
import { Engine } from '../../../host/engine.ts';

const MS = Number(process.env.WVS_STRESS_MS ?? 6_000);
const VIP = '198.18.0.100';
const RS = ['198.18.1.1', '198.18.1.2', '198.18.1.3'];

test(`two workers creating and expiring conns of the same services for ${MS / 1000} s: no conn lost or doubled, counters = frames`, async () => {
  // WVS_STRESS_MT=path/to/mt.wasm: another build of the shared-memory engine (A/B of engine changes)
  const module = process.env.WVS_STRESS_MT ? new WebAssembly.Module(readFileSync(process.env.WVS_STRESS_MT)) : engineModule('mt');
  const e = await Engine.create(module, { workers: 2, connInit: 256, connMax: 1 << 20, slots: 64 });
  for (const port of [53, 54]) {
    const key = { proto: 'UDP' as const, addr: VIP, port };
    e.addService({ ...key, sched: port === 53 ? 'rr' : 'wlc' });
    for (const a of RS) e.addDest(key, { addr: a, port, fwd: 'Masq' });
  }
  e.setStateTimeout('UDP', 'UDP', 10_000);
  const { memory, ctl } = e.shared;
  const t0 = Date.now();
  const flows = 1_000_000;
  const done = new SharedArrayBuffer(4);   // workers past their sending loop (they drain their rings until all are)   // more than a thread sends in the time: the clock ends the run
  const threads = [0, 1].map((w) => new Worker(new URL('./stress-worker.mjs', import.meta.url), {
    workerData: { module, memory, ctl, w, workers: 2, flows, pktsPerFlow: 3, ports: [53, 54], clientNet: 18 + w, durationMs: MS, speed: 20, t0, done },
  }));
  // the control thread meanwhile: grow the table with the workers parked when a partition gets full
  let grows = 0;
  const grower = setInterval(() => { if (e.connsNearFull()) { e.withWorkersParked(() => e.reserveConns()); grows++; } }, 5);
  const sent = await Promise.all(threads.map((t) => new Promise<any>((resolve, reject) => {
    t.on('message', (m) => {
      if (m.type === 'sent') resolve(m.stats);
      else if (m.type === 'grow' && e.capacity('conn') < e.limits.connMax) { e.withWorkersParked(() => e.grow('conn')); grows++; }
    });
    t.once('error', reject);
  })));
  clearInterval(grower);
  const totalSent = sent.reduce((a, s) => a + s.sent, 0);
  const flowsDone = sent.reduce((a, s) => a + s.flowsDone, 0);
  const c = e.counters();
  const svc = e.services();
  const byPort = (p: number) => svc.find((s) => s.port === p)!;
  const sentTo = (p: number) => sent.reduce((a, s) => a + (s.sentByPort[p] ?? 0), 0);
  const live = e.ex.connsInUse() >>> 0;
  console.info(`[stress workers] ${MS / 1000} s: ${totalSent} frames, ${flowsDone} flows, ${c.redirect_out} redirected, ` +
    `${grows} grows (capacity ${e.capacity('conn')}), ${live} conns live, re-attached ${sent.map((s) => s.reattached).join('/')}`);
  // every frame was received once (where it was read) and sent once (where it was processed)
  expect(c.rx).toBe(BigInt(totalSent));
  expect(Object.fromEntries(Object.entries(c).filter(([k, v]) => k.startsWith("drop") && v !== 0n))).toEqual({});
  expect(c.tx).toBe(BigInt(totalSent));
  expect(sent.reduce((a, s) => a + s.xmit, 0)).toBe(totalSent);
  expect(c.redirect_in).toBe(c.redirect_out);
  expect(c.redirect_out).toBeGreaterThan(0n);
  // one conn per flow, exactly: none lost (a packet without its conn), none doubled (two workers)
  expect(c.conn_created).toBe(BigInt(flowsDone));
  expect(byPort(53).stats.conns + byPort(54).stats.conns).toBe(BigInt(flowsDone));
  expect(byPort(53).stats.inpkts).toBe(BigInt(sentTo(53)));
  expect(byPort(54).stats.inpkts).toBe(BigInt(sentTo(54)));
  expect(c.conn_created - (c.conn_expired ?? 0n)).toBe(BigInt(live));
  // rr over the whole director: within one conn of an even split
  const rr = byPort(53).dests.map((d) => Number(d.stats.conns));
  expect(Math.max(...rr) - Math.min(...rr)).toBeLessThanOrEqual(1);
  // the dests' conn counts are the live conns bound to them
  const bound = svc.flatMap((s) => s.dests).reduce((a, d) => a + d.activeconns + d.inactconns, 0);
  expect(bound).toBe(live);
  // then every worker expires its conns: nothing left, nothing bound
  await Promise.all(threads.map((t) => new Promise<void>((resolve) => { t.on('message', (m) => { if (m.type === 'done') resolve(); }); t.postMessage('final'); })));
  await Promise.all(threads.map((t) => t.terminate()));
  expect(e.ex.connsInUse() >>> 0).toBe(0);
  expect(e.counter('conn_expired')).toBe(BigInt(flowsDone));
  expect(e.services().flatMap((s) => s.dests).map((d) => d.activeconns + d.inactconns + d.persistconns)).toEqual([0, 0, 0, 0, 0, 0]);
}, MS + 60_000);
