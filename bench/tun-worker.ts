/*
 * bench/tun-worker.ts - one worker of bench/tun.bench.ts: the director's per-worker loop on its own
 * queue of a multi-queue TUN, over the engine's shared memory (EngineWorker, docs/workers.md):
 *   write a batch of client -> VIP frames into the kernel (its own generator, frames whose owner is
 *   this worker: the steering program brings them back to this queue) -> frames redirected to us by
 *   the other worker + readBatch -> process -> writeBatch (NAT to the real servers' sink).
 * workerData: { wasm, memory, ctl, worker, fd, gen, batch, stride, metaStride, seconds, go, io }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import * as tun from '../host/native/tun.ts';
import { EngineWorker } from '../host/engine.ts';

interface Data {
  wasm: WebAssembly.Module; memory: WebAssembly.Memory; ctl: number; worker: number; fd: number;
  gen: ArrayBuffer; batch: number; stride: number; metaStride: number; seconds: number; go: Int32Array; io: tun.TunIo;
}
const d = workerData as Data;
tun.setIo(d.io);                                           // this thread's batches: io_uring or read()/write()
const ew = await EngineWorker.create(d.wasm, d.memory, d.ctl, d.worker);
const XMIT_LOCAL = (1 << 1) | (1 << 2);
let mem = new Uint8Array(d.memory.buffer);
parentPort!.postMessage({ ready: true });
Atomics.wait(d.go, 0, 0);                                  // all workers start together

/** This thread's CPU seconds so far (utime + stime of /proc/thread-self/stat, clock ticks of 10 ms). */
const cpu = () => { const f = readFileSync('/proc/thread-self/stat', 'utf8'); const v = f.slice(f.lastIndexOf(')') + 2).split(' '); return (Number(v[11]) + Number(v[12])) / 100; };
let fwd = 0, rx = 0, redirected = 0, batches = 0, now = Date.now();
const c0 = cpu(), e0 = tun.stats().enters, t0 = performance.now(), end = t0 + d.seconds * 1000;
while (performance.now() < end) {
  tun.writeBatch(d.fd, d.gen, 0, d.stride, d.batch * d.stride, d.metaStride, d.batch, 1 << 1);
  ew.enter();
  if (mem.buffer.byteLength !== d.memory.buffer.byteLength) mem = new Uint8Array(d.memory.buffer);
  const r = ew.redirectIn();
  const n = tun.readBatch(d.fd, mem, ew.slotBase + r * ew.slotSize, ew.slotSize, ew.headroom, ew.slotSize - ew.headroom,
    ew.slotMetaBase + r * ew.slotMetaSize, ew.slotMetaSize, ew.slots - r);
  if (r + n > 0) {
    ew.process(r + n, now++);
    fwd += tun.writeBatch(d.fd, mem, ew.slotBase, ew.slotSize, ew.slotMetaBase, ew.slotMetaSize, r + n, XMIT_LOCAL);
    batches++;
  }
  ew.leave();
  rx += n;
  redirected += r;
}
parentPort!.postMessage({ fwd, rx, redirected, batches, seconds: (performance.now() - t0) / 1000, cpu: cpu() - c0, enters: tun.stats().enters - e0 });
