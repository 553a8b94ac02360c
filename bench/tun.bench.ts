/*
 * bench/tun.bench.ts - the director's packet rate through a real TUN next to the raw TUN hairpin
 * of the same machine, one core, one process, small UDP packets (64-byte IP datagrams).
 *
 *   hairpin:  write a batch into the TUN → the kernel forwards each frame back into the TUN → read it
 *   director: write a batch of client→VIP frames into the TUN → the kernel routes them to the TUN →
 *             read → engine.process (NAT to a real server) → write → the kernel forwards them to the
 *             real servers (a veth into a namespace that drops them) — what `wasmvs run` does per frame
 * Target (issue 5): director ≥ 80 % of the hairpin rate. Needs root; builds its own network
 * namespace (198.18.250.0/24 .. 198.18.254.0/24) and removes it. Median of 3 runs of 2 s each.
 * Run: npm run build --silent && node dist/bench/tun.bench.js
 */
import { execFileSync } from 'node:child_process';
import * as tun from '../host/native/tun.ts';
import { loadEngine } from '../host/engine-node.ts';
import { ip } from '../host/packet-builder.ts';

if (process.getuid?.() !== 0 || !tun.tunAvailable()) {
  console.error('bench/tun: needs root, /dev/net/tun and the TUN addon (npm install builds it)');
  process.exit(1);
}
const NS = `wvs-tunb-${process.pid}`, SINK = `wvs-tunk-${process.pid}`, DEV = `wvsb${process.pid % 10000}`;
const sh = (...a: string[]) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] });
const nsx = (...a: string[]) => execFileSync('ip', ['netns', 'exec', NS, ...a], { stdio: ['ignore', 'pipe', 'pipe'] });
const cleanup = () => { for (const n of [NS, SINK]) { try { sh('netns', 'del', n); } catch { /* gone */ } } };
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

const B = 64, RUNS = 3, SECONDS = 2;
const e = await loadEngine({ connMax: 1 << 16, connInit: 1 << 16, slots: 256, slotSize: 2048 }, 'release');
const key = { proto: 'UDP' as const, addr: '198.18.254.1', port: 9 };
e.addService({ ...key, sched: 'rr' });
for (let d = 1; d <= 3; d++) e.addDest(key, { addr: `198.18.253.${d}`, port: 9, fwd: 'Masq' });

sh('netns', 'add', NS);
sh('netns', 'add', SINK);
const dev = tun.open(DEV, 'tun');
sh('link', 'set', 'dev', DEV, 'netns', NS);
for (const cmd of [
  ['link', 'set', 'lo', 'up'], ['link', 'set', DEV, 'up'], ['addr', 'add', '198.18.250.1/24', 'dev', DEV],
  // the real servers' link: a veth whose peer sits in a namespace that drops everything
  ['link', 'add', 'vb0', 'type', 'veth', 'peer', 'name', 'vb1', 'netns', SINK], ['link', 'set', 'vb0', 'up'],
  ['addr', 'add', '198.18.253.254/24', 'dev', 'vb0'],
  ...[1, 2, 3].map((d) => ['neigh', 'add', `198.18.253.${d}`, 'lladdr', `02:00:00:00:00:0${d}`, 'dev', 'vb0', 'nud', 'permanent']),
  ['route', 'add', '198.18.252.0/24', 'dev', DEV],      // hairpin destinations: back into the TUN
  ['route', 'add', '198.18.254.1/32', 'dev', DEV],      // the VIP: into the TUN (wasmvs run's route)
]) sh('-n', NS, ...cmd);
sh('-n', SINK, 'link', 'set', 'vb1', 'up');
for (const k of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', `net.ipv4.conf.${DEV}.rp_filter=0`,
  'net.ipv4.conf.all.send_redirects=0', `net.ipv4.conf.${DEV}.send_redirects=0`]) nsx('sysctl', '-qw', k);

// generator frames in their own buffer, laid out like engine slots
const STRIDE = 2048, HR = 128, MS = 16;
const gen = new ArrayBuffer(B * STRIDE + B * MS);
const gu8 = new Uint8Array(gen), gdv = new DataView(gen);
function fill(dst: (i: number) => string): void {
  for (let i = 0; i < B; i++) {
    const f = ip(`198.18.251.${1 + (i % 200)}`, dst(i), { proto: 'udp', sport: 20000 + i, dport: 9, payload: new Uint8Array(36) });
    gu8.set(f, i * STRIDE + HR);
    gdv.setUint32(B * STRIDE + i * MS, HR, true); gdv.setUint32(B * STRIDE + i * MS + 4, f.length, true);
    gu8[B * STRIDE + i * MS + 8] = 1;                       // verdict XMIT: writeBatch sends it
  }
}
const mem = e.memory;
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];

function hairpin(): number {
  fill((i) => `198.18.252.${1 + (i % 200)}`);
  let got = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    tun.writeBatch(dev.fd, gen, 0, STRIDE, B * STRIDE, MS, B, 1 << 1);
    got += tun.readBatch(dev.fd, mem, e.slotBase, e.slotSize, e.headroom, e.slotSize - e.headroom, e.slotMetaBase, e.slotMetaSize, 256);
  }
  return got / ((performance.now() - t0) / 1000);
}

function director(): number {
  fill(() => key.addr);
  let fwd = 0, now = Date.now();
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    tun.writeBatch(dev.fd, gen, 0, STRIDE, B * STRIDE, MS, B, 1 << 1);
    const n = tun.readBatch(dev.fd, mem, e.slotBase, e.slotSize, e.headroom, e.slotSize - e.headroom, e.slotMetaBase, e.slotMetaSize, 256);
    if (n === 0) continue;
    e.process(n, now++);
    fwd += tun.writeBatch(dev.fd, mem, e.slotBase, e.slotSize, e.slotMetaBase, e.slotMetaSize, n, (1 << 1) | (1 << 2));
  }
  return fwd / ((performance.now() - t0) / 1000);
}

const h: number[] = [], d: number[] = [];
for (let r = 0; r < RUNS; r++) { h.push(hairpin()); d.push(director()); }
const hm = median(h), dm = median(d);
console.log(`load ${(execFileSync('cat', ['/proc/loadavg']) + '').trim()}`);
console.table([
  { path: 'TUN hairpin (kernel forward, no engine)', 'packets/s': Math.round(hm), runs: h.map((x) => Math.round(x)).join(' ') },
  { path: 'director (read → engine NAT → write)', 'packets/s': Math.round(dm), runs: d.map((x) => Math.round(x)).join(' ') },
]);
console.log(`director / hairpin = ${(dm / hm * 100).toFixed(0)} % (target ≥ 80 %); engine counters: ` +
  Object.entries(e.counters()).filter(([, v]) => v > 0n).map(([k, v]) => `${k} ${v}`).join(', '));
tun.close(dev.fd);
