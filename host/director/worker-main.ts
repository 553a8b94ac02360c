/*
 * host/director/worker-main.ts - one worker thread of `wasmvs run --workers N` (docs/workers.md).
 *
 * It owns one queue of the multi-queue TUN/TAP (its fd, opened by the control thread) and one
 * EngineWorker over the engine's shared memory. Per readiness of its queue (libuv poll, level
 * triggered) it runs batches: park if the control thread asks (enter), take the frames other
 * workers redirected to it (redirectIn), read its queue into the slots after them, process, write
 * what goes out back into its queue, then wake the workers it redirected frames to. Conn expiry
 * of its own conns runs on its own timer. Nothing else: configuration, listings, stats, the
 * control socket and sync I/O stay on the control thread.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { EngineWorker, Verdict } from '../engine.ts';
import * as tun from '../native/tun.ts';

export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctl: number;
  worker: number;
  workers: number;
  fd: number;
  batch: number;
  tickMs: number;
  mode: 'tun' | 'tap';
  /** ports[w]: a channel to worker w (undefined for this one), to wake it for redirected frames */
  ports: (MessagePort | undefined)[];
  /** set [worker] to 1 (and notified) once the queue is out of this thread's event loop: the director closes it only then */
  unwatched: Int32Array;
}

const TX_MASK = (1 << Verdict.XMIT) | (1 << Verdict.LOCAL);
const TUN_TX_MASK = TX_MASK | (1 << Verdict.PASS);
const BATCHES_PER_WAKE = 8;

async function main(init: WorkerInit): Promise<void> {
  const w = await EngineWorker.create(init.module, init.memory, init.ctl, init.worker);
  const mask = init.mode === 'tun' ? TUN_TX_MASK : TX_MASK;
  const stats = { rx: 0, tx: 0, batches: 0, redirectedIn: 0, enters: 0 };
  const mem = () => new Uint8Array(init.memory.buffer);
  let stopped = false;
  let askedGrowAt = 0;

  /** Other workers with frames from us waiting in their ring: wake them. */
  const wakeOthers = () => {
    for (let o = 0; o < init.workers; o++) {
      if (o !== init.worker && (w.ex.ringFill(init.worker, o) >>> 0) > 0) init.ports[o]?.postMessage(0);
    }
  };
  const sendOwn = () => {
    for (;;) {
      const k = w.drain();
      if (k === 0) return;
      stats.tx += tun.writeBatch(init.fd, mem(), w.slotBase, w.slotSize, w.slotMetaBase, w.slotMetaSize, k, 1 << Verdict.XMIT);
      if (k < w.slots) return;
    }
  };
  const run = () => {
    if (stopped) return;
    for (let b = 0; b < BATCHES_PER_WAKE; b++) {
      w.enter();
      if (w.needsGrowth() && Date.now() - askedGrowAt > 100) {
        // the control thread grows the table (workers parked) while this one waits outside a batch
        askedGrowAt = Date.now();
        w.leave();
        parentPort!.postMessage({ type: 'grow' });
        w.waitGrown(50);
        w.enter();
      }
      let n = 0, k = 0;
      try {
        k = w.redirectIn(w.slots);
        const room = Math.min(init.batch, w.slots - k);
        const m = mem();
        n = room > 0 ? tun.readBatch(init.fd, m, w.slotBase + k * w.slotSize, w.slotSize, w.headroom, w.slotSize - w.headroom,
          w.slotMetaBase + k * w.slotMetaSize, w.slotMetaSize, room) : 0;
        if (k + n === 0) break;
        w.process(k + n, Date.now());
        stats.tx += tun.writeBatch(init.fd, mem(), w.slotBase, w.slotSize, w.slotMetaBase, w.slotMetaSize, k + n, mask);
        sendOwn();
        stats.rx += n; stats.redirectedIn += k; stats.batches++;
      } finally {
        w.leave();
      }
      wakeOthers();
      if (n < init.batch && k === 0) break;
    }
  };
  tun.watch(init.fd, (err) => {
    if (err) throw err;   // becomes the thread's 'error': the director logs it and exits non-zero
    run();
  });
  for (const p of init.ports) p?.on('message', run);   // frames redirected to us
  const timer = setInterval(() => {
    w.enter();
    try { w.tick(Date.now()); sendOwn(); } finally { w.leave(); }
    wakeOthers();
    run();
    stats.enters = tun.stats().enters;   // this thread's io_uring_enter calls (0 on the read()/write() path)
    parentPort!.postMessage({ type: 'stats', ...stats });
  }, init.tickMs);
  parentPort!.on('message', (m: { type: string }) => {
    if (m.type !== 'stop') return;
    stopped = true;
    clearInterval(timer);
    tun.unwatch(init.fd);
    Atomics.store(init.unwatched, init.worker, 1);
    Atomics.notify(init.unwatched, init.worker);
    for (const p of init.ports) p?.close();
    stats.enters = tun.stats().enters;
    parentPort!.postMessage({ type: 'stats', ...stats });
    parentPort!.close();
  });
  parentPort!.postMessage({ type: 'ready' });
}

main(workerData as WorkerInit).catch((e) => { throw e; });
