/*
 * bench/tun.bench.ts - small-UDP packets/s through the director with 1 and 2 workers, next to the
 * raw TUN hairpin, in one run (64-byte IP datagrams, client -> VIP, NAT to 3 real servers).
 *
 *   hairpin:   one thread writes a batch into a TUN, the kernel forwards each frame back into it,
 *              the thread reads them: the ceiling of one core's TUN round trip, no engine, one
 *              read() and one write() per frame (issue 17's yardstick); beside it the same through
 *              io_uring (one io_uring_enter per batch of writes or reads: tun.setIo)
 *   workers N: an IFF_MULTI_QUEUE TUN with N queues and the steering program (host/native/steer.c)
 *              attached; N worker threads over one shared engine (EngineWorker), each with its own
 *              queue and its own generator of client frames whose owner it is: write the batch ->
 *              the kernel routes it to the VIP -> the program puts it on the owner's queue ->
 *              read -> engine NAT -> write -> the kernel forwards to the real servers (a veth into
 *              a namespace that drops them) — `wasmvs run --workers N`'s per-frame path; with
 *              io_uring (the default) and, for before/after in one run, with read()/write() per frame.
 *   UDP bursts: the 1-worker loop on a TUN with offloads, the client frames UDP_SEGMENT super-packets
 *              of 32 datagrams (USO: the kernel forwards each burst whole, the engine NATs it once,
 *              the veth takes it whole): datagrams/s, beside the goal, not instead of it.
 * Goal (issue 17): workers 2 / workers 1 >= 1.6 and each worker >= 0.8 x the hairpin. Needs root;
 * builds its namespaces (198.18.250.0/24 .. 198.18.254.0/24) and removes them. Median of 3 runs of
 * 2 s each. Prints last: `workers 2 / workers 1 = R (X pps / Y pps, hairpin Z pps)`.
 * Run: npm run bench:tun   (npm run build --silent && node dist/bench/tun.bench.js [--seconds S] [--runs N])
 */
import { execFileSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import * as tun from '../host/native/tun.ts';
import { Steering } from '../host/native/steer.ts';
import { engineModule, loadEngine } from '../host/engine-node.ts';
import { ip } from '../host/packet-builder.ts';

if (process.getuid?.() !== 0 || !tun.tunAvailable()) {
  console.error('bench/tun: needs root, /dev/net/tun and the TUN addon (npm install builds it)');
  process.exit(1);
}
const arg = (k: string, d: number) => { const i = process.argv.indexOf(k); return i > 0 ? Number(process.argv[i + 1]) : d; };
const SECONDS = arg('--seconds', 2), RUNS = arg('--runs', 3);
const NS = `wvs-tunb-${process.pid}`, SINK = `wvs-tunk-${process.pid}`;
const sh = (...a: string[]) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] });
const nsx = (...a: string[]) => execFileSync('ip', ['netns', 'exec', NS, ...a], { stdio: ['ignore', 'pipe', 'pipe'] });
const cleanup = () => { for (const n of [NS, SINK]) { try { sh('netns', 'del', n); } catch { /* gone */ } } };
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

const B = 64, STRIDE = 2048, HR = 128, MS = 16;
const VIP = '198.18.254.1';
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];

sh('netns', 'add', NS);
sh('netns', 'add', SINK);
for (const cmd of [
  ['link', 'set', 'lo', 'up'],
  // the real servers' link: a veth whose peer sits in a namespace that drops everything
  ['link', 'add', 'vb0', 'type', 'veth', 'peer', 'name', 'vb1', 'netns', SINK], ['link', 'set', 'vb0', 'up'],
  ['addr', 'add', '198.18.253.254/24', 'dev', 'vb0'],
  ...[1, 2, 3].map((d) => ['neigh', 'add', `198.18.253.${d}`, 'lladdr', `02:00:00:00:00:0${d}`, 'dev', 'vb0', 'nud', 'permanent']),
]) sh('-n', NS, ...cmd);
sh('-n', SINK, 'link', 'set', 'vb1', 'up');
for (const k of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0',
  'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0']) nsx('sysctl', '-qw', k);

/** A TUN with `queues` queues in NS (its fds stay here), routes for `routes` into it. */
function device(name: string, queues: number, routes: string[], offload = false): number[] {
  const d = tun.open(name, 'tun', { ...(queues > 1 ? { queues } : {}), ...(offload ? { offload } : {}) });
  sh('link', 'set', 'dev', name, 'netns', NS);
  sh('-n', NS, 'link', 'set', name, 'up');
  sh('-n', NS, 'addr', 'add', '198.18.250.1/24', 'dev', name);
  for (const r of routes) sh('-n', NS, 'route', 'add', r, 'dev', name);
  nsx('sysctl', '-qw', `net.ipv4.conf.${name}.rp_filter=0`);
  return d.fds;
}

/** B frames laid out like engine slots (meta verdict XMIT: writeBatch sends them). */
function generator(frame: (i: number) => Uint8Array): ArrayBuffer {
  const gen = new ArrayBuffer(B * STRIDE + B * MS);
  const gu8 = new Uint8Array(gen), gdv = new DataView(gen);
  for (let i = 0; i < B; i++) {
    const f = frame(i);
    gu8.set(f, i * STRIDE + HR);
    gdv.setUint32(B * STRIDE + i * MS, HR, true); gdv.setUint32(B * STRIDE + i * MS + 4, f.length, true);
    gu8[B * STRIDE + i * MS + 8] = 1;
  }
  return gen;
}
const udp = (src: string, sport: number, dst: string) => ip(src, dst, { proto: 'udp', sport, dport: 9, payload: new Uint8Array(36) });
/** UDP bursts: SEG datagrams of the same 36-byte payload size in one UDP_SEGMENT super-packet (as a QUIC
 * server's sendmsg with UDP_SEGMENT hands them to the stack), behind the virtio-net header of a TUN
 * with offloads: GSO UDP_L4, gso_size 36, partial checksum (the pseudo-header sum in the field). */
const SEG = 32;
function burst(src: string, sport: number, dst: string): { frame: Uint8Array; ip: Uint8Array } {
  const p = ip(src, dst, { proto: 'udp', sport, dport: 9, payload: new Uint8Array(36 * SEG) });
  let sum = 17 + 8 + 36 * SEG;
  for (let j = 12; j < 20; j += 2) sum += (p[j]! << 8) | p[j + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  new DataView(p.buffer, p.byteOffset).setUint16(26, sum);
  const h = new Uint8Array(10), v = new DataView(h.buffer);
  h[0] = 1; h[1] = 5; v.setUint16(2, 28, true); v.setUint16(4, 36, true); v.setUint16(6, 20, true); v.setUint16(8, 6, true);
  const frame = new Uint8Array(10 + p.length);
  frame.set(h); frame.set(p, 10);
  return { frame, ip: p };
}

function hairpin(io: tun.TunIo): number {
  tun.setIo(io);
  const [fd] = device(`wvbh${process.pid % 10000}`, 1, ['198.18.252.0/24']);
  const gen = generator((i) => udp(`198.18.251.${1 + (i % 200)}`, 20000 + i, `198.18.252.${1 + (i % 200)}`));
  const rxb = new ArrayBuffer(256 * STRIDE + 256 * MS);
  let got = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    tun.writeBatch(fd!, gen, 0, STRIDE, B * STRIDE, MS, B, 1 << 1);
    got += tun.readBatch(fd!, rxb, 0, STRIDE, HR, STRIDE - HR, 256 * STRIDE, MS, 256);
  }
  const pps = got / ((performance.now() - t0) / 1000);
  tun.close(fd!);
  tun.setIo('auto');
  return pps;
}

/** The plain engine on this thread (no worker threads, no shared memory): `wasmvs run` before workers. */
async function plain(): Promise<number> {
  const e = await loadEngine({ connMax: 1 << 16, connInit: 1 << 16, slots: 256, slotSize: 2048 }, 'release');
  const key = { proto: 'UDP' as const, addr: VIP, port: 9 };
  e.addService({ ...key, sched: 'rr' });
  for (let d = 1; d <= 3; d++) e.addDest(key, { addr: `198.18.253.${d}`, port: 9, fwd: 'Masq' });
  const [fd] = device(`wvbp${process.pid % 10000}`, 1, [`${VIP}/32`]);
  const gen = generator((i) => udp(`198.18.251.${1 + (i % 200)}`, 20000 + i, VIP));
  let fwd = 0, now = Date.now();
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    tun.writeBatch(fd!, gen, 0, STRIDE, B * STRIDE, MS, B, 1 << 1);
    const n = tun.readBatch(fd!, e.memory, e.slotBase, e.slotSize, e.headroom, e.slotSize - e.headroom, e.slotMetaBase, e.slotMetaSize, 256);
    if (n === 0) continue;
    e.process(n, now++);
    fwd += tun.writeBatch(fd!, e.memory, e.slotBase, e.slotSize, e.slotMetaBase, e.slotMetaSize, n, (1 << 1) | (1 << 2));
  }
  const pps = fwd / ((performance.now() - t0) / 1000);
  tun.close(fd!);
  return pps;
}

interface WorkerResult { fwd: number; rx: number; redirected: number; batches: number; seconds: number; cpu: number; enters: number }

async function director(workers: number, io: tun.TunIo, bursts = false): Promise<{ pps: number; perWorker: number[]; perCpu: number[]; redirected: number; steered: boolean; counters: string; kernelCalls: number }> {
  // bursts: the device with offloads (USO), the engine's slots as `wasmvs run` sizes them then
  const e = await loadEngine({ workers, connMax: 1 << 16, connInit: 1 << 16,
    ...(bursts ? { link: 'ip-offload' as const, slots: 64, slotSize: 65536 + 512, headroom: 256 } : { slots: 256, slotSize: 2048 }) }, 'mt');
  const key = { proto: 'UDP' as const, addr: VIP, port: 9 };
  e.addService({ ...key, sched: 'rr' });
  for (let d = 1; d <= 3; d++) e.addDest(key, { addr: `198.18.253.${d}`, port: 9, fwd: 'Masq' });
  const fds = device(`wvbd${process.pid % 10000}`, workers, [`${VIP}/32`], bursts);
  // the steering program: each worker's client frames come back on its own queue
  let steer: Steering | undefined;
  try {
    steer = Steering.load(workers);
    steer.attach(fds[0]!);
    steer.setAddrs([{ addr: VIP, kind: 'vip' }]);
  } catch (err) {
    steer?.close();
    steer = undefined;
    console.error(`steering program not loaded (${(err as Error).message}): frames go through the redirect ring`);
  }
  // worker w's clients: source ports whose owner is w (the program's own answer: queueOf)
  const gens: ArrayBuffer[] = [];
  let port = 20000;
  for (let w = 0; w < workers; w++) {
    const frames: Uint8Array[] = [];
    while (frames.length < B) {
      const src = `198.18.251.${1 + (frames.length % 200)}`, sport = port++;
      const b = bursts ? burst(src, sport, VIP) : undefined;
      const f = b ? b.frame : udp(src, sport, VIP);
      if (!steer || workers === 1 || steer.queueOf(b ? b.ip : f) === w) frames.push(f);
    }
    gens.push(generator((i) => frames[i]!));
  }
  const { memory, ctl } = e.shared;
  const go = new Int32Array(new SharedArrayBuffer(4));
  const wasm = engineModule('mt');
  const ths = fds.map((fd, w) => new Worker(new URL('./tun-worker.js', import.meta.url), {
    workerData: { wasm, memory, ctl, worker: w, fd, gen: gens[w], batch: B, stride: STRIDE, metaStride: MS, seconds: SECONDS, go, io },
  }));
  const results = ths.map((t) => new Promise<WorkerResult>((resolve, reject) => {
    t.on('message', (m) => { if (!m.ready) resolve(m as WorkerResult); });
    t.on('error', reject);
  }));
  await Promise.all(ths.map((t) => new Promise<void>((r) => t.once('message', () => r()))));
  Atomics.store(go, 0, 1);
  Atomics.notify(go, 0);
  const rs = await Promise.all(results);
  await Promise.all(ths.map((t) => t.terminate()));
  for (const fd of fds) tun.close(fd);
  steer?.close();
  const perWorker = rs.map((r) => (r.fwd * (bursts ? SEG : 1)) / r.seconds); // datagrams
  const counters = Object.entries(e.counters()).filter(([, v]) => v > 0n).map(([k, v]) => `${k} ${v}`).join(', ');
  const perCpu = rs.map((r) => (r.cpu > 0 ? (r.fwd * (bursts ? SEG : 1)) / r.cpu : NaN));
  // kernel entries per forwarded frame: io_uring_enter calls, or (read()/write()) the generator's write, the reads (one per frame + one EAGAIN per batch) and the output write
  const frames = rs.reduce((a, r) => a + r.fwd, 0);
  const kernelCalls = io === 'uring' ? rs.reduce((a, r) => a + r.enters, 0) / frames : (frames * 3 + rs.reduce((a, r) => a + r.batches, 0)) / frames;
  return { pps: perWorker.reduce((a, b) => a + b, 0), perWorker, perCpu, redirected: rs.reduce((a, r) => a + r.redirected, 0), steered: steer !== undefined, counters, kernelCalls };
}

const h: number[] = [], hu: number[] = [], p1: number[] = [], d1: number[] = [], d2: number[] = [], s1: number[] = [], s2: number[] = [], u1: number[] = [];
const per2: number[][] = [], cpu1: number[] = [], cpu2: number[] = [], cpuS1: number[] = [];
let last1 = '', last2 = '', lastU = '', redirected2 = 0, callsS1 = 0, callsU1 = 0;
for (let r = 0; r < RUNS; r++) {
  h.push(hairpin('syscall'));
  hu.push(hairpin('uring'));
  p1.push(await plain());
  const s = await director(1, 'syscall'); s1.push(s.pps); cpuS1.push(s.perCpu[0]!); callsS1 = s.kernelCalls;
  s2.push((await director(2, 'syscall')).pps);
  const a = await director(1, 'uring'); d1.push(a.pps); last1 = a.counters; cpu1.push(a.perCpu[0]!); callsU1 = a.kernelCalls;
  const b = await director(2, 'uring'); d2.push(b.pps); per2.push(b.perWorker); last2 = b.counters; redirected2 += b.redirected; cpu2.push(...b.perCpu);
  const u = await director(1, 'uring', true); u1.push(u.pps); lastU = u.counters;
}
const hm = median(h), hum = median(hu), pm = median(p1), m1 = median(d1), m2 = median(d2);
const i2 = d2.indexOf(m2);
const row = (path: string, v: number[]) => ({ path, 'packets/s': Math.round(median(v)), 'x hairpin': +(median(v) / hm).toFixed(2), runs: v.map(Math.round).join(' ') });
console.log(`load ${(execFileSync('cat', ['/proc/loadavg']) + '').trim()}`);
console.table([
  row('TUN hairpin: read()+write() per frame, kernel forward, no engine', h),
  row('TUN hairpin through io_uring (one enter per batch)', hu),
  row('plain engine on the main thread (no workers, io_uring)', p1),
  row('director, 1 worker, read()/write() per frame', s1),
  row('director, 2 workers, read()/write() per frame', s2),
  row('director, 1 worker, io_uring (read → engine NAT → write)', d1),
  row('director, 2 workers, io_uring (steered queues, shared engine)', d2),
  row(`UDP bursts: 1 worker, io_uring, USO (${SEG} datagrams per UDP_SEGMENT super-packet), datagrams/s`, u1),
]);
console.log(`2 workers (io_uring), each (median run): ${per2[i2]!.map((x) => `${Math.round(x)} pps = ${(x / hm * 100).toFixed(0)} % of the hairpin (${(x / hum * 100).toFixed(0)} % of the io_uring hairpin)`).join(', ')}; ` +
  `frames through the redirect ring: ${redirected2}`);
console.log(`read()/write() per frame: workers 2 / workers 1 = ${(median(s2) / median(s1)).toFixed(2)}; 1 worker = ${(median(s1) / hm * 100).toFixed(0)} % of the hairpin`);
{
  const p = Steering.load(2);
  p.setAddrs([{ addr: VIP, kind: 'vip' }]);
  const t = [udp('198.18.251.1', 20000, VIP), udp('198.18.253.1', 9, '198.18.251.1')].map((f) => p.testRun(f, 1_000_000).ns);
  p.close();
  console.log(`steering program: ${t[0]} ns per client -> VIP frame, ${t[1]} ns per reply (BPF_PROG_TEST_RUN, 10^6 runs each)`);
}
// on a shared machine the workers may not get a core each: frames per CPU second of the worker
// threads (utime+stime, kernel work in their syscalls included) show the per-frame cost apart from that
console.log(`frames per CPU second of a worker thread (median): 1 worker ${Math.round(median(cpu1))} (read()/write(): ${Math.round(median(cpuS1))}), ` +
  `2 workers ${Math.round(median(cpu2))} (${(median(cpu2) / median(cpu1) * 100).toFixed(0)} %: what sharing the engine costs each worker)`);
console.log(`syscalls per forwarded frame, 1 worker (last run): read()/write() ${callsS1.toFixed(2)}, io_uring ${callsU1.toFixed(3)} (io_uring_enter)`);
console.log(`engine counters (last run): 1 worker: ${last1}; 2 workers: ${last2}; UDP bursts: ${lastU}`);
console.log(`workers 2 / workers 1 = ${(m2 / m1).toFixed(2)} (${Math.round(m2)} pps / ${Math.round(m1)} pps, hairpin ${Math.round(hm)} pps)`);
