/*
 * bench/xmit.bench.ts - engine cost per packet for each forwarding method next to NAT, on the
 * same 1,000,000-conn table (issue 7: DR and IPIP should be no slower than NAT).
 * For each method: a fresh engine, 1M conns made by SYNs, then established ACKs to random flows
 * in batches of 256; only engine.process() (+ drain(), where frames leave through it) is timed.
 * DR and "NAT on a TAP" run on a TAP (Ethernet frames, next hops by the engine's link routing),
 * the others on a TUN (raw IP). "IPIP, no DF, 1500 B" sends full-size segments without DF: each
 * leaves as two fragments (the second through drain()). Run: npm run bench:xmit
 * Then tunnels with offloads: 64 flows sending 64,000-byte TCP super-packets (gso_size 1400: 46
 * segments each) in batches of 64 through a TUN with offloads; process() + drain() timed, per
 * super-packet and per segment, next to the same bytes as 46 single packets without offloads.
 */
import { loadEngine } from '../host/engine-node.ts';
import { ip } from '../host/packet-builder.ts';
import type { DestSpec } from '../host/engine.ts';

const N = Number(process.env.WVS_BENCH_CONNS ?? 1_000_000);
const BATCH = 256, VIP = '198.18.0.100';
const key = { proto: 'TCP' as const, addr: VIP, port: 80 };
const ETH = new Uint8Array([0x02, 0, 0, 0, 0, 0xaa, 0x02, 0, 0, 0, 0, 0xbb, 0x08, 0x00]);   // to the director's MAC

const METHODS: { name: string; link: 'ip' | 'ethernet'; dest: Partial<DestSpec>; big?: boolean }[] = [
  { name: 'NAT (-m)', link: 'ip', dest: { fwd: 'Masq' } },
  { name: 'NAT (-m) on a TAP', link: 'ethernet', dest: { fwd: 'Masq' } },
  { name: 'FULLNAT (--fullnat)', link: 'ip', dest: { fwd: 'FullNat' } },
  { name: 'DR (-g)', link: 'ethernet', dest: { fwd: 'Route' } },
  { name: 'IPIP (-i)', link: 'ip', dest: { fwd: 'Tunnel', tunType: 'ipip' } },
  { name: 'GUE (-i --tun-type gue)', link: 'ip', dest: { fwd: 'Tunnel', tunType: 'gue', tunPort: 6080 } },
  { name: 'GRE (-i --tun-type gre)', link: 'ip', dest: { fwd: 'Tunnel', tunType: 'gre' } },
  { name: 'IPIP, no DF, 1500 B (2 fragments)', link: 'ip', dest: { fwd: 'Tunnel', tunType: 'ipip' }, big: true },
];

/**
 * One frame per flow. big: 1500-byte segments without DF, of which only the 40 header bytes are
 * kept (frameLen says 1500; the payload is whatever the slot holds: nothing reads it).
 */
function frames(n: number, flags: string, eth: boolean, big = false): { buf: Uint8Array; len: number; frameLen: number } {
  const len = 40 + (eth ? 14 : 0);
  const buf = new Uint8Array(n * len);
  const payload = big ? new Uint8Array(1460) : undefined;
  for (let i = 0; i < n; i++) {
    const f = ip(`198.19.${(i >> 8) & 255}.${i & 255}`, VIP, { proto: 'tcp', sport: 1024 + (i >>> 16), dport: 80, flags, seq: 1, ack: 1, payload }, { df: !big });
    if (eth) buf.set(ETH, i * len);
    buf.set(f.subarray(0, 40), i * len + (eth ? 14 : 0));
  }
  return { buf, len, frameLen: big ? 1500 + (eth ? 14 : 0) : len };
}

const rows = [];
for (const m of METHODS) {
  const e = await loadEngine({ connMax: 1 << 20, connInit: 1 << 20, slots: BATCH, slotSize: 2048, link: m.link, seed: 7 }, 'release');
  if (m.link === 'ethernet') {
    e.setLink({ mac: '02:00:00:00:00:aa', ipv4: '198.18.1.254/24', gateway4: '198.18.1.250' });
    e.addNeighbour('198.18.1.250', '02:00:00:00:01:fa');
  } else e.setLink({ mac: '02:00:00:00:00:aa', ipv4: '198.18.1.254' });
  e.addService({ ...key, sched: 'rr' });
  if (m.dest.fwd === 'FullNat') for (let l = 200; l < 204; l++) e.addLaddr(key, `198.18.1.${l}`);
  for (let d = 1; d <= 8; d++) {
    const addr = `198.18.1.${d}`;
    e.addDest(key, { addr, port: m.dest.fwd === 'Masq' ? 8080 : 80, weight: 1, ...m.dest } as DestSpec);
    if (m.link === 'ethernet') e.addNeighbour(addr, `02:00:00:00:01:0${d}`);
  }
  const mem = e.memory, dv = new DataView(mem.buffer);
  const eth = m.link === 'ethernet';
  const load = (f: { buf: Uint8Array; len: number; frameLen: number }, idx: (k: number) => number, n: number) => {
    for (let k = 0; k < n; k++) {
      const i = idx(k);
      mem.set(f.buf.subarray(i * f.len, (i + 1) * f.len), e.slotBase + k * e.slotSize + e.headroom);
      dv.setUint32(e.slotMetaBase + k * e.slotMetaSize, e.headroom, true);
      dv.setUint32(e.slotMetaBase + k * e.slotMetaSize + 4, f.frameLen, true);
    }
  };
  const syn = frames(N, 'S', eth), ack = frames(N, 'A', eth, m.big);
  let now = 1000, tNew = 0;
  for (let i = 0; i < N; i += BATCH) {
    const n = Math.min(BATCH, N - i);
    load(syn, (k) => i + k, n);
    const t0 = performance.now(); e.process(n, now); tNew += performance.now() - t0;
  }
  let x = 88172645;
  const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % N; };
  let t = 0, pk = 0, ok = 0;
  for (let r = 0; r < Math.floor(2 * N / BATCH); r++) {
    load(ack, () => rnd(), BATCH);
    const t0 = performance.now(); e.process(BATCH, now += 1); if (m.big) while (e.drain() === e.slots); t += performance.now() - t0;
    pk += BATCH;
    if (r === 0) for (let k = 0; k < BATCH; k++) if (e.result(k).verdict === 'XMIT') ok++;
  }
  rows.push({ method: m.name, conns: e.connCount(), 'new conn ns': Math.round(tNew * 1e6 / N), 'established ns/pkt': Math.round(t * 1e6 / pk), 'first batch forwarded': `${ok}/${BATCH}`,
    ...(m.big ? { fragments: String(e.counters().frag_created) } : {}) });
}
console.log(`load ${(await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').trim()}`);
console.table(rows);

// ---- tunnels with offloads: software GSO of super-packets (xmit/gso.ts) --------------------------
const GSO_FLOWS = 64, GSO_PAY = 64_000, GSO_MSS = 1400, GSO_ROUNDS = Number(process.env.WVS_BENCH_GSO_ROUNDS ?? 200);
const gsoRows = [];
for (const t of [{ name: 'IPIP', dest: { tunType: 'ipip' } }, { name: 'GRE +csum', dest: { tunType: 'gre', tunFlags: 1 } }, { name: 'GUE +csum', dest: { tunType: 'gue', tunPort: 6080, tunFlags: 1 } }] as const) {
  for (const offload of [true, false]) {
    const segs = Math.ceil(GSO_PAY / GSO_MSS);
    const e = await loadEngine({ connMax: 1024, slots: offload ? GSO_FLOWS : 256, slotSize: offload ? 65536 + 512 : 2048, link: offload ? 'ip-offload' : 'ip', seed: 7 }, 'release');
    e.setLink({ mac: '02:00:00:00:00:aa', ipv4: '198.18.1.254' });
    e.addService({ ...key, sched: 'rr' });
    for (let d = 1; d <= 8; d++) e.addDest(key, { addr: `198.18.1.${d}`, port: 80, weight: 1, fwd: 'Tunnel', ...t.dest } as DestSpec);
    const vnet = offload ? 10 : 0;
    const put = (k: number, f: Uint8Array, hdr?: Uint8Array) => {
      const at = e.slotBase + k * e.slotSize + e.headroom;
      if (hdr) e.memory.set(hdr, at);
      e.memory.set(f, at + vnet);
      new DataView(e.memory.buffer).setUint32(e.slotMetaBase + k * e.slotMetaSize, e.headroom, true);
      new DataView(e.memory.buffer).setUint32(e.slotMetaBase + k * e.slotMetaSize + 4, f.length + vnet, true);
    };
    const src = (i: number) => `198.19.0.${i + 1}`;
    for (let i = 0; i < GSO_FLOWS; i++) put(i, ip(src(i), VIP, { proto: 'tcp', sport: 2000, dport: 80, flags: 'S' }), offload ? new Uint8Array(10) : undefined);
    e.process(GSO_FLOWS, 1);
    while (e.drain() === e.slots);
    // GSO TCPV4, NEEDS_CSUM at the TCP checksum (csum_start 20, offset 16), gso_size 1400
    const hdr = new Uint8Array([1, 1, 40, 0, GSO_MSS & 255, GSO_MSS >> 8, 20, 0, 16, 0]);
    const big = Array.from({ length: GSO_FLOWS }, (_, i) => ip(src(i), VIP, { proto: 'tcp', sport: 2000, dport: 80, flags: 'PA', seq: 2, ack: 1, payload: new Uint8Array(GSO_PAY) }));
    const single = Array.from({ length: GSO_FLOWS }, (_, i) => ip(src(i), VIP, { proto: 'tcp', sport: 2000, dport: 80, flags: 'A', seq: 2, ack: 1, payload: new Uint8Array(GSO_MSS) }));
    let time = 0, sent = 0, now = 10;
    for (let r = 0; r < GSO_ROUNDS; r++) {
      if (offload) {
        for (let k = 0; k < GSO_FLOWS; k++) put(k, big[k], hdr);
        const t0 = performance.now(); e.process(GSO_FLOWS, now += 1); for (let n = e.drain(); n > 0; n = e.drain()) sent += n; time += performance.now() - t0;
        sent += GSO_FLOWS;
      } else {
        // the same bytes as single packets: 46 per flow, 256 per batch
        for (let left = GSO_FLOWS * segs; left > 0; left -= 256) {
          const n = Math.min(256, left);
          for (let k = 0; k < n; k++) put(k, single[k % GSO_FLOWS]);
          const t0 = performance.now(); e.process(n, now += 1); time += performance.now() - t0;
          sent += n;
        }
      }
    }
    const c = e.counters();
    gsoRows.push({ tunnel: t.name, input: offload ? `${GSO_PAY} B super-packets (TUN offloads)` : `${GSO_MSS} B packets (no offloads)`,
      'ns per super-packet': offload ? Math.round(time * 1e6 / (GSO_ROUNDS * GSO_FLOWS)) : Math.round(time * 1e6 / (GSO_ROUNDS * GSO_FLOWS)),
      'ns per segment sent': Math.round(time * 1e6 / sent), 'frames sent': sent, 'Gbit/s of payload': +((GSO_ROUNDS * GSO_FLOWS * GSO_PAY * 8) / (time * 1e6)).toFixed(1),
      drops: String(c.drop) });
  }
}
console.table(gsoRows);
