// One worker thread of the workers stress (test/unit/workers/stress.ts): an engine instance over
// the shared memory (wasm/mt.wasm, raw exports), synthetic UDP flows built here, every batch inside
// the host's barrier (busy / pause words), its conns expired by its own ticks on a fast clock.
// Plain JavaScript: worker_threads run it as it is.
import { parentPort, workerData } from 'node:worker_threads';

const { module, memory, ctl, w, flows, pktsPerFlow, ports, clientNet, durationMs, speed, t0 } = workerData;
const instance = await WebAssembly.instantiate(module, { env: { memory, abort() { throw new Error('engine abort'); } } });
const ex = instance.exports;
if (ex.attach(ctl, w) !== 0) throw new Error('attach failed');

let i32 = new Int32Array(memory.buffer);
const g = (name) => Number(ex[name].value);
let busy, pause, epochAt, epoch, slotBase, metaBase, slots, slotSize, headroom;
const metaSize = g('SLOT_META_SIZE');
function attach() {
  if (ex.attach(ctl, w) !== 0) throw new Error('attach failed');
  busy = (Number(ex.workerWords(w)) + g('WCTL_BUSY')) >>> 2;
  pause = (ctl + g('CTL_PAUSE')) >>> 2;
  epochAt = (ctl + g('CTL_EPOCH')) >>> 2;
  epoch = Atomics.load(i32, epochAt);
  slotBase = Number(ex.regionBase(8)); metaBase = Number(ex.regionBase(7));
  slots = ex.slotCapacity() >>> 0; slotSize = ex.slotBytes() >>> 0; headroom = ex.slotHeadroomBytes() >>> 0;
}
attach();
let reattached = 0;
function enter() {
  for (;;) {
    Atomics.store(i32, busy, 1);
    if (Atomics.load(i32, pause) === 0) break;
    Atomics.store(i32, busy, 0);
    Atomics.notify(i32, busy);
    Atomics.wait(i32, pause, 1, 50);
  }
  if (Atomics.load(i32, epochAt) !== epoch) {
    if (memory.buffer.byteLength !== i32.buffer.byteLength) i32 = new Int32Array(memory.buffer);
    attach();
    reattached++;
  }
}
function leave() { Atomics.store(i32, busy, 0); Atomics.notify(i32, busy); }

// an IPv4/UDP datagram client -> VIP:port with a correct header checksum (UDP checksum 0: none)
const VIP = [198, 18, 0, 100];
function udp(c3, c4, sport, dport, seq) {
  const b = new Uint8Array(28 + 8);
  b.set([0x45, 0, 0, 36, (seq >> 8) & 255, seq & 255, 0x40, 0, 64, 17, 0, 0, 198, clientNet, c3, c4, ...VIP]);
  let s = 0;
  for (let k = 0; k < 20; k += 2) s += (b[k] << 8) | b[k + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  s = ~s & 0xffff; b[10] = s >> 8; b[11] = s & 255;
  b[20] = sport >> 8; b[21] = sport & 255; b[22] = dport >> 8; b[23] = dport & 255; b[25] = 16;
  b.set([w, seq & 255, 1, 2, 3, 4, 5, 6], 28);
  return b;
}

const stats = { sent: 0, xmit: 0, stolen: 0, drop: 0, other: 0, batches: 0, redirectedIn: 0, flowsDone: 0, sentByPort: {} };
const now = () => t0 + (Date.now() - t0) * speed;
const end = Date.now() + durationMs;
let f = 0, p = 0;     // the flow being sent and its next packet
let lastTick = 0;
while (Date.now() < end || p !== 0) {
  // pace: never more in the rings toward the other workers than they can take in a batch
  let full = false;
  for (let o = 0; o < workerData.workers; o++) if (o !== w && (ex.ringFill(w, o) >>> 0) > 32) full = true;
  enter();
  if ((ex.connRoom() >>> 0) < 2 * slots) {
    // ask the control thread to grow the table, wait outside the batch (EngineWorker.needsGrowth)
    leave();
    parentPort.postMessage({ type: 'grow' });
    Atomics.wait(i32, epochAt, epoch, 50);
    enter();
  }
  const k = ex.redirectIn(slots) >>> 0;
  const u8 = new Uint8Array(memory.buffer);
  const dv = new DataView(memory.buffer);
  let m = 0;
  const room = full ? 0 : Math.min(32, slots - k);
  while (m < room && (Date.now() < end || p !== 0)) {
    // flow f: client 198.<net>.<f>>8>.<f&255>, port 1024 + f % 60000; its packets one after the other
    const port = ports[f % ports.length];
    const frame = udp(64 + ((f >> 8) & 127), f & 255, 1024 + (f % 50000), port, p);
    const s = slotBase + (k + m) * slotSize + headroom;
    u8.set(frame, s);
    dv.setUint32(metaBase + (k + m) * metaSize, headroom, true);
    dv.setUint32(metaBase + (k + m) * metaSize + 4, frame.length, true);
    stats.sentByPort[port] = (stats.sentByPort[port] ?? 0) + 1;
    m++; stats.sent++;
    if (++p === pktsPerFlow) { p = 0; f++; stats.flowsDone++; if (f >= flows) break; }
  }
  if (k + m > 0) {
    ex.process(k + m, now());
    for (let i = 0; i < k + m; i++) {
      const v = u8[metaBase + i * metaSize + 8];
      if (v === 1) stats.xmit++; else if (v === 4) stats.stolen++; else if (v === 0) stats.drop++; else stats.other++;
    }
  }
  stats.redirectedIn += k;
  stats.batches++;
  if (Date.now() - lastTick > 5) { ex.tick(now()); lastTick = Date.now(); }
  leave();
  if (f >= flows && p === 0) break;
  if (m === 0 && k === 0) await new Promise((r) => setImmediate(r));
}
// what the others still redirect to us: until every worker has stopped sending and our rings are
// empty (done: a shared count of the workers past their sending loop)
const done = new Int32Array(workerData.done);
Atomics.add(done, 0, 1);
const ringsEmpty = () => { for (let o = 0; o < workerData.workers; o++) if (o !== w && (ex.ringFill(o, w) >>> 0) > 0) return false; return true; };
while (Atomics.load(done, 0) < workerData.workers || !ringsEmpty()) {
  enter();
  const k = ex.redirectIn(slots) >>> 0;
  if (k) {
    ex.process(k, now());
    const u8 = new Uint8Array(memory.buffer);
    for (let i = 0; i < k; i++) { const v = u8[metaBase + i * metaSize + 8]; if (v === 1) stats.xmit++; else if (v === 0) stats.drop++; else stats.other++; }
    stats.redirectedIn += k;
  }
  leave();
  if (!k) await new Promise((r) => setTimeout(r, 2));
}
stats.reattached = reattached;
parentPort.postMessage({ type: 'sent', stats });
parentPort.once('message', () => {
  enter();
  ex.tick(now() + 3_600_000);
  ex.tick(now() + 7_200_000);
  leave();
  parentPort.postMessage({ type: 'done' });
});
