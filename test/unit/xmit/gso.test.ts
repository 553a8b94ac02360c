/*
 * Tunnels with offloads: a TCP super-packet (virtio-net GSO TCPV4/TCPV6, partial checksum) to a
 * tunnel dest is cut into gso_size segments and each is encapsulated (xmit/gso.ts), as the
 * kernel's GSO does for IPVS's tunnel xmit (tcp_gso_segment / inet_gso_segment / skb_segment).
 *
 * The reference: the same data sent as the individual MSS-sized packets a TCP sender makes
 * (sequence numbers advanced, PSH/FIN on the last, CWR on the first, IPv4 id + 1 each) through
 * an engine without offloads, whose tunnel frames equal Linux 6.1's (kernel-tun.test.ts, the
 * persist-tun and tun-frag recordings). The segments of the super-packet must equal those frames
 * byte for byte, the only difference the outer IPv4 id of a DF packet: per packet ip_select_ident
 * gives 0, while GSO counts up from the whole packet's 0 per segment (inet_gso_segment on the
 * outer header, not FIXEDID) — asserted as 0, 1, 2, ... and the header checksum verified.
 * At the end: the same against 6.1's own GSO of IPVS tunnel packets (recorded/gso-tun).
 */
import { describe, test, expect } from 'vitest';
import { engine, VIP, CLIENT, VIP6, CLIENT6 } from '../../helpers/engine.ts';
import type { Engine, EngineConfig } from '../../../host/engine.ts';
import { ip, hex, sum16, fields, cat, fold, vnetHdr } from '../../helpers/pkt.ts';

const VNET = 10;
const RS4 = '198.18.1.12', RS6 = '2001:2:0:1::11';
const TS = Uint8Array.from([1, 1, 8, 10, 0, 0, 0x30, 0x39, 0, 0, 0x10, 0x92]);   // NOP NOP timestamps: a 32-byte TCP header
const data = (n: number, seed = 0) => new Uint8Array(n).map((_, i) => (i * 7 + seed) & 255);

/** The pseudo-header sum (not complemented) a CHECKSUM_PARTIAL TCP packet carries in its checksum field. */
function pseudo(pkt: Uint8Array): number {
  const v6 = pkt[0] >> 4 === 6, hl = v6 ? 40 : 20;
  const src = v6 ? pkt.subarray(8, 24) : pkt.subarray(12, 16), dst = v6 ? pkt.subarray(24, 40) : pkt.subarray(16, 20);
  return fold(sum16(src) + sum16(dst) + 6 + pkt.length - hl);
}

interface Flow { src: string; dst: string; sport: number; dport: number; flags?: string; cwr?: boolean; df?: boolean; ttl?: number; seq?: number }
/** One TCP packet of the flow (IPv4 id `id`), the CWR bit set on request (the builder has no letter for it). */
function tcp(f: Flow, seq: number, payload: Uint8Array, flags: string, cwr: boolean, id: number): Uint8Array {
  const p = ip(f.src, f.dst, { proto: 'tcp', sport: f.sport, dport: f.dport, flags, seq, ack: 5001, payload, options: TS }, { ttl: f.ttl ?? 64, id, df: f.df });
  if (cwr) {
    const hl = p[0] >> 4 === 6 ? 40 : 20;
    p[hl + 13] |= 0x80;
    const v = new DataView(p.buffer);
    v.setUint16(hl + 16, 0);
    const ph = fold(pseudo(p) + sum16(p.subarray(hl)));
    v.setUint16(hl + 16, ~ph & 0xffff);
  }
  return p;
}
/** What a TCP sender puts on the wire for `total` bytes at MSS `mss`: PSH/FIN on the last, CWR on the first. */
function segments(f: Flow, total: number, mss: number, id0 = 0x1000): Uint8Array[] {
  const body = data(total), out: Uint8Array[] = [];
  const fl = f.flags ?? 'PA';
  for (let off = 0, k = 0; off < total; off += mss, k++) {
    const last = off + mss >= total;
    out.push(tcp(f, (f.seq ?? 1001) + off, body.subarray(off, Math.min(total, off + mss)), last ? fl : fl.replace(/[FP]/g, ''), f.cwr === true && k === 0, (id0 + k) & 0xffff));
  }
  return out;
}
/** The same data as one super-packet, as the TUN hands it over: GSO TCPV4/V6, NEEDS_CSUM, the pseudo-header sum in the field. */
function superPacket(f: Flow, total: number, mss: number, id0 = 0x1000, l2: Uint8Array = new Uint8Array(0)): Uint8Array {
  const p = tcp(f, f.seq ?? 1001, data(total), f.flags ?? 'PA', f.cwr === true, id0);
  const v6 = p[0] >> 4 === 6, hl = v6 ? 40 : 20;
  new DataView(p.buffer).setUint16(hl + 16, pseudo(p));
  return cat(vnetHdr({ flags: 1, gso: v6 ? 4 : 1, hdrLen: hl + 32, gsoSize: mss, csumStart: l2.length + hl, csumOffset: 16 }), l2, p);
}

/** Every frame a packet makes: the slot's own (if sent) and what drain() sends after it; vnet headers checked empty and cut. */
function run(e: Engine, frame: Uint8Array, t: number, vnet: boolean): { verdict: string; reason: string; frames: Uint8Array[] } {
  const r = e.processFrame(frame, t);
  const frames: Uint8Array[] = [];
  const cut = (b: Uint8Array) => {
    if (!vnet) return b;
    expect([...b.subarray(0, VNET)], 'an empty virtio-net header: no offload asked').toEqual(Array(VNET).fill(0));
    return b.subarray(VNET);
  };
  if (r.verdict === 'XMIT' || r.verdict === 'LOCAL') frames.push(cut(r.data));
  for (let k = e.drain(); k > 0; k = e.drain()) for (let i = 0; i < k; i++) frames.push(cut(e.output(i)));
  return { verdict: r.verdict, reason: r.reason, frames };
}

type Dest = { addr: string; tunType?: 'ipip' | 'gue' | 'gre'; tunPort?: number; tunFlags?: number };
async function tunnelEngine(link: EngineConfig['link'], vip: string, d: Dest, mtu?: number): Promise<Engine> {
  const big = link === 'ip-offload' || link === 'ethernet-offload';
  const e = await engine({ link, headroom: 256, slots: 8, ...(big ? { slotSize: 65536 + 512 } : { slotSize: 4096 }) });
  if (link === 'ethernet' || link === 'ethernet-offload') {
    e.setLink({ mac: '02:00:00:00:01:fe', ipv4: '198.18.1.254', ipv6: '2001:2:0:1::fe' });
    e.addNeighbour(RS4, '02:00:00:00:01:0c'); e.addNeighbour(RS6, '02:00:00:00:01:0b');
  }
  if (mtu) e.setTunnelMtu(mtu);
  const k = { proto: 'TCP', addr: vip, port: 80 } as const;
  e.addService({ ...k, sched: 'rr' });
  e.addDest(k, { port: 80, fwd: 'Tunnel', ...d });   // accepted with offloads on (once refused)
  return e;
}

/** The outer IPv4 header at o: its id, then id and checksum zeroed (a copy) — after checking the checksum. */
function outerId(f: Uint8Array, o: number): { id: number; df: boolean; rest: Uint8Array } {
  const b = f.slice();
  expect(~sum16(b.subarray(o, o + 20)) & 0xffff, 'outer IPv4 header checksum').toBe(0);
  const id = (b[o + 4] << 8) | b[o + 5], df = (b[o + 6] & 0x40) !== 0;
  b[o + 4] = b[o + 5] = b[o + 10] = b[o + 11] = 0;
  return { id, df, rest: b };
}

/** Segments against the per-packet frames: equal but for the outer id of DF packets (0 per packet, 0..n-1 by GSO). */
function expectSameFrames(got: Uint8Array[], want: Uint8Array[], l2: number): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i][l2] >> 4 === 4) {
      const g = outerId(got[i], l2), w = outerId(want[i], l2);
      if (w.df) { expect(w.id).toBe(0); expect(g.id, `outer id of segment ${i}`).toBe(i); }
      else expect(g.id, `outer id of segment ${i}`).toBe(w.id);
      expect(hex(g.rest), `segment ${i}`).toBe(hex(w.rest));
    } else {
      expect(hex(got[i]), `segment ${i}`).toBe(hex(want[i]));
    }
  }
}

const KINDS: [string, string, string, Dest][] = [
  ['IPIP 4in4', CLIENT, VIP, { addr: RS4 }],
  ['GUE 4in4', CLIENT, VIP, { addr: RS4, tunType: 'gue', tunPort: 6080 }],
  ['GUE 4in4 +csum', CLIENT, VIP, { addr: RS4, tunType: 'gue', tunPort: 6080, tunFlags: 1 }],
  ['GUE 4in4 remcsum', CLIENT, VIP, { addr: RS4, tunType: 'gue', tunPort: 6080, tunFlags: 2 }],
  ['GRE 4in4', CLIENT, VIP, { addr: RS4, tunType: 'gre' }],
  ['GRE 4in4 +csum', CLIENT, VIP, { addr: RS4, tunType: 'gre', tunFlags: 1 }],
  ['IPIP 6in6', CLIENT6, VIP6, { addr: RS6 }],
  ['GUE 6in6 +csum', CLIENT6, VIP6, { addr: RS6, tunType: 'gue', tunPort: 6080, tunFlags: 1 }],
  ['GRE 6in6 +csum', CLIENT6, VIP6, { addr: RS6, tunType: 'gre', tunFlags: 1 }],
  ['IPIP 4in6', CLIENT, VIP, { addr: RS6 }],
  ['IPIP 6in4', CLIENT6, VIP6, { addr: RS4 }],
  ['GRE 6in4 +csum', CLIENT6, VIP6, { addr: RS4, tunType: 'gre', tunFlags: 1 }],
];

describe('a TCP super-packet through a tunnel dest (TUN with offloads): the segments equal the per-packet frames', () => {
  for (const [name, client, vip, d] of KINDS) {
    // IPv6 inside: 40 bytes of header more, so a smaller MSS keeps the segments inside the tunnel's MTU
    const mss = client === CLIENT ? 1400 : 1360;
    test(`${name}: 20,000 bytes at gso_size ${mss} (15 segments, the last ${20_000 - 14 * mss}), CWR, PSH`, async () => {
      const f: Flow = { src: client, dst: vip, sport: 40100, dport: 80, cwr: true };
      const ref = await tunnelEngine('ip', vip, d);
      const gso = await tunnelEngine('ip-offload', vip, d);
      const syn = ip(client, vip, { proto: 'tcp', sport: 40100, dport: 80, flags: 'S', seq: 1000 });
      expect(run(ref, syn, 1, false).frames.length).toBe(1);
      expect(run(gso, cat(vnetHdr(), syn), 1, true).frames.length).toBe(1);
      const want = segments(f, 20_000, mss).flatMap((s, i) => run(ref, s, 2 + i, false).frames);
      const got = run(gso, superPacket(f, 20_000, mss), 2, true);
      expect(got.verdict).toBe('XMIT');
      expect(want.length).toBe(15);
      expectSameFrames(got.frames, want, 0);
      expect(gso.counters()).toMatchObject({ gso_packets: 1n, gso_segments: 15n, drop_gso_no_room: 0n });
      // the conn counts the super-packet as one packet of all its bytes, as IPVS counts a GSO skb
      const c = gso.conns()[0];
      expect([c.state, c.inpkts]).toEqual(['ESTABLISHED', 2]);
    });
  }

  test('the segments one by one: sequence numbers, PSH and FIN on the last only, CWR on the first only, inner ids +1, full checksums', async () => {
    const f: Flow = { src: CLIENT, dst: VIP, sport: 40101, dport: 80, flags: 'FPA', cwr: true };
    const e = await tunnelEngine('ip-offload', VIP, { addr: RS4 });
    run(e, cat(vnetHdr(), ip(CLIENT, VIP, { proto: 'tcp', sport: 40101, dport: 80, flags: 'S', seq: 1000 })), 1, true);
    const out = run(e, superPacket(f, 10_000, 1400, 0xfffe), 2, true).frames;
    expect(out.length).toBe(8);
    out.forEach((o, k) => {
      const inner = o.subarray(20);
      const fl = fields(inner);
      const last = k === 7;
      expect(fl).toMatchObject({ src: CLIENT, dst: VIP, sport: 40101, dport: 80, ttl: 63 });
      expect(inner.length).toBe(20 + 32 + (last ? 10_000 - 7 * 1400 : 1400));
      expect(new DataView(inner.buffer, inner.byteOffset).getUint32(24)).toBe(1001 + k * 1400);
      expect(new DataView(inner.buffer, inner.byteOffset).getUint16(4)).toBe((0xfffe + k) & 0xffff);   // wraps past 65535
      expect(inner[33], `flags of segment ${k}`).toBe((k === 0 ? 0x80 : 0) | 0x10 | (last ? 0x09 : 0));
      expect(~sum16(inner.subarray(0, 20)) & 0xffff).toBe(0);
      expect(~fold(pseudo(inner) + sum16(inner.subarray(20))) & 0xffff, `TCP checksum of segment ${k}`).toBe(0);
      expect(Buffer.from(inner.subarray(52)).equals(Buffer.from(data(10_000).subarray(k * 1400, (k + 1) * 1400)))).toBe(true);
    });
  });

  test('gso_size as large as the payload: one packet, sent whole with its checksum finished (tcp_gso_segment leaves it)', async () => {
    const f: Flow = { src: CLIENT, dst: VIP, sport: 40102, dport: 80 };
    const ref = await tunnelEngine('ip', VIP, { addr: RS4 });
    const e = await tunnelEngine('ip-offload', VIP, { addr: RS4 });
    const syn = ip(CLIENT, VIP, { proto: 'tcp', sport: 40102, dport: 80, flags: 'S', seq: 1000 });
    run(ref, syn, 1, false); run(e, cat(vnetHdr(), syn), 1, true);
    const want = run(ref, segments(f, 1000, 1400)[0], 2, false).frames;
    const got = run(e, superPacket(f, 1000, 1400), 2, true);
    expect(got.verdict).toBe('XMIT');
    expect(got.frames.map(hex)).toEqual(want.map(hex));
    expect(e.counters()).toMatchObject({ gso_packets: 1n, gso_segments: 0n });
  });

  test('DF and segments too big for the tunnel: ICMP frag needed with the MTU left inside, quoting the super-packet as it came (as 6.1, recorded below)', async () => {
    const f: Flow = { src: CLIENT, dst: VIP, sport: 40103, dport: 80 };
    const e = await tunnelEngine('ip-offload', VIP, { addr: RS4 });
    run(e, cat(vnetHdr(), ip(CLIENT, VIP, { proto: 'tcp', sport: 40103, dport: 80, flags: 'S', seq: 1000 })), 1, true);
    const sp = superPacket(f, 10_000, 1448);                          // segments of 1500 bytes: 1520 once encapsulated
    const got = run(e, sp, 2, true);
    expect(got.verdict).toBe('LOCAL');
    expect(got.frames.length).toBe(1);
    const icmp = got.frames[0];
    expect(fields(icmp)).toMatchObject({ src: VIP, dst: CLIENT, proto: 1 });
    expect([icmp[20], icmp[21], (icmp[26] << 8) | icmp[27]]).toEqual([3, 4, 1480]);
    expect(icmp.length).toBe(576);
    // the quote: the super-packet's own header (total length 10,052, TTL decremented), its TCP
    // header with PSH and the partial checksum as it came
    const q = icmp.subarray(28), inner = sp.subarray(VNET);
    expect((q[2] << 8) | q[3]).toBe(20 + 32 + 10_000);
    expect(q[8]).toBe(63);
    expect(hex(q.subarray(20, 548))).toBe(hex(inner.subarray(20, 548)));
    expect(e.counters()).toMatchObject({ icmp_frag_needed: 1n, gso_segments: 0n });
  });

  for (const [name, client, vip, d] of [['IPIP 4in4', CLIENT, VIP, { addr: RS4 }], ['GRE 4in6 +csum', CLIENT, VIP, { addr: RS6, tunType: 'gre', tunFlags: 1 }]] as [string, string, string, Dest][]) {
    test(`${name}, no DF and segments over the path MTU: each segment fragmented as the packet alone would be`, async () => {
      const f: Flow = { src: client, dst: vip, sport: 40104, dport: 80, df: false };
      const ref = await tunnelEngine('ip', vip, d);
      const e = await tunnelEngine('ip-offload', vip, d);
      const syn = ip(client, vip, { proto: 'tcp', sport: 40104, dport: 80, flags: 'S', seq: 1000 });
      run(ref, syn, 1, false); run(e, cat(vnetHdr(), syn), 1, true);
      const want = segments(f, 6000, 1448).flatMap((s, i) => run(ref, s, 2 + i, false).frames);
      const got = run(e, superPacket(f, 6000, 1448), 2, true);
      expect(want.length).toBe(9);                                      // 4 segments in 2 fragments each, the last whole
      expect(got.frames.map(hex)).toEqual(want.map(hex));               // ids included: one per segment, in order
      expect(e.counters()).toMatchObject({ gso_segments: 5n, frag_created: 8n });
    });
  }

  test('a batch of super-packets: every segment leaves, in order, through drain()', async () => {
    const e = await tunnelEngine('ip-offload', VIP, { addr: RS4 });
    const flows = [0, 1, 2, 3, 4, 5, 6, 7].map((i): Flow => ({ src: CLIENT, dst: VIP, sport: 41000 + i, dport: 80 }));
    flows.forEach((f, i) => run(e, cat(vnetHdr(), ip(CLIENT, VIP, { proto: 'tcp', sport: f.sport, dport: 80, flags: 'S', seq: 1000 })), 1 + i, true));
    flows.forEach((f, i) => e.writeFrame(i, superPacket(f, 64_400, 1400)));   // 46 segments each
    e.process(8, 20);
    const slots = flows.map((_, i) => e.result(i));
    expect(slots.every((r) => r.verdict === 'XMIT')).toBe(true);
    const rest: Uint8Array[] = [];
    for (let k = e.drain(); k > 0; k = e.drain()) for (let i = 0; i < k; i++) rest.push(e.output(i).subarray(VNET));
    expect(rest.length).toBe(8 * 45);                                  // the first of each in its slot
    // segments 1..45 of flow 0, then of flow 1, ...: in order, sequence numbers counting up
    rest.forEach((o, j) => {
      const fl = fields(o.subarray(20));
      expect(fl.sport).toBe(41000 + Math.floor(j / 45));
      expect(new DataView(o.buffer, o.byteOffset).getUint32(20 + 24)).toBe(1001 + ((j % 45) + 1) * 1400);
    });
    expect(e.counters()).toMatchObject({ gso_segments: 8n * 46n, drop_gso_no_room: 0n });
  });
});

describe('a TAP with offloads (--offload): segments framed for the real server', () => {
  const ETH = Uint8Array.from([2, 0, 0, 0, 1, 0xfe, 2, 0, 0, 0, 0, 2, 8, 0]);
  const ETH6 = Uint8Array.from([2, 0, 0, 0, 1, 0xfe, 2, 0, 0, 0, 0, 2, 0x86, 0xdd]);
  for (const [name, client, vip, d, eth] of [
    ['GUE 4in4 +csum', CLIENT, VIP, { addr: RS4, tunType: 'gue', tunPort: 6080, tunFlags: 1 }, ETH],
    ['IPIP 6in6', CLIENT6, VIP6, { addr: RS6 }, ETH6],
    ['GRE 4in4 +csum, an 802.1Q tag', CLIENT, VIP, { addr: RS4, tunType: 'gre', tunFlags: 1 }, Uint8Array.from([...ETH.subarray(0, 12), 0x81, 0, 0x20, 0x0a, 8, 0])],
  ] as [string, string, string, Dest, Uint8Array][]) {
    test(`${name}: equal to the per-packet frames, MACs${eth.length > 14 ? ', the tag' : ''} and all`, async () => {
      const f: Flow = { src: client, dst: vip, sport: 40200, dport: 80 };
      const ref = await tunnelEngine('ethernet', vip, d);
      const e = await tunnelEngine('ethernet-offload', vip, d);
      const syn = cat(eth, ip(client, vip, { proto: 'tcp', sport: 40200, dport: 80, flags: 'S', seq: 1000 }));
      run(ref, syn, 1, false); run(e, cat(vnetHdr(), syn), 1, true);
      const mss = client === CLIENT ? 1400 : 1360;
      const want = segments(f, 30_000, mss).flatMap((s, i) => run(ref, cat(eth, s), 2 + i, false).frames);
      const got = run(e, superPacket(f, 30_000, mss, 0x1000, eth), 2, true);
      expect(got.verdict).toBe('XMIT');
      expectSameFrames(got.frames, want, eth.length);
      if (eth.length > 14) expect(got.frames.every((o) => hex(o.subarray(12, 16)) === '8100200a')).toBe(true);
    });
  }
});

describe('super-packets the engine cannot cut: counted drops, never a trap', () => {
  test('gso_size 0, a TCPV4 type on an IPv6 packet, gso_size 1 (20,000 segments: no room) — and the next packet goes on', async () => {
    const e = await tunnelEngine('ip-offload', VIP, { addr: RS4 });
    const e6 = await tunnelEngine('ip-offload', VIP6, { addr: RS6 });
    const f: Flow = { src: CLIENT, dst: VIP, sport: 40300, dport: 80 };
    run(e, cat(vnetHdr(), ip(CLIENT, VIP, { proto: 'tcp', sport: 40300, dport: 80, flags: 'S', seq: 1000 })), 1, true);
    const zero = superPacket(f, 5000, 1400); new DataView(zero.buffer).setUint16(4, 0, true);
    expect(run(e, zero, 2, true)).toMatchObject({ verdict: 'DROP', reason: 'drop_bad_vnet_hdr', frames: [] });
    const f6: Flow = { src: CLIENT6, dst: VIP6, sport: 40300, dport: 80 };
    const v4type = superPacket(f6, 5000, 1400); v4type[1] = 1;
    expect(run(e6, v4type, 2, true)).toMatchObject({ verdict: 'DROP', reason: 'drop_bad_vnet_hdr' });
    const tiny = superPacket(f, 20_000, 1);
    expect(run(e, tiny, 3, true)).toMatchObject({ verdict: 'DROP', reason: 'drop_gso_no_room', frames: [] });
    expect(e.heldFrames()).toBe(0);
    const ok = run(e, superPacket(f, 5000, 1400), 4, true);
    expect([ok.verdict, ok.frames.length]).toEqual(['XMIT', 4]);
    expect(e.counters()).toMatchObject({ drop_bad_vnet_hdr: 1n, drop_gso_no_room: 1n, gso_segments: 4n });
  });
});

/*
 * Against Linux 6.1 (test/golden/kernel/cases/gso-tun.sh, recorded/gso-tun): the client sent
 * each super-packet through a packet socket with a virtio-net header (gso_size 1400, then 1460),
 * IPVS tunnelled it and 6.1's GSO cut it in software on a vd1 without TSO or checksum offload.
 * Each client frame goes through a TAP engine with offloads, the super-packets behind the header
 * the TAP would give them. Every segment must equal the kernel's byte for byte: inner and outer
 * headers, outer ids 0, 1, 2, … with DF, every checksum (TCP, GUE's UDP, GRE's). Wildcards, where
 * the kernel is random: the outer id without DF (hashed; ours must still be one per segment, its
 * fragments sharing it), GUE's source port and so its UDP checksum, the ICMP error's IPv4 id.
 */
describe('against the 6.1 recording of super-packets through IPVS tunnels (cases/gso-tun.sh)', () => {
  test('IPIP, GUE+csum, GRE, GRE+csum, 6in6, 6in4, 4in6 segments; DF over the MTU: ICMP frag needed quoting the super-packet; no DF: each segment fragmented', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { records } = await import('../../../host/pcap/read.ts');
    const dir = join(import.meta.dirname, '../../golden/kernel/recorded/gso-tun');
    const frames = (side: string) => [...records([new Uint8Array(readFileSync(join(dir, `${side}-side.pcap`)))])].map((r) => r.data);
    const mac = (b: Uint8Array, o: number) => [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
    const v4 = (f: Uint8Array) => f[12] === 8 && f[13] === 0;
    const v6 = (f: Uint8Array) => f[12] === 0x86 && f[13] === 0xdd && f[20] !== 58;   // not ICMPv6 (router solicitations)
    const cli = frames('client'), dst = frames('dest');
    const e = await engine({ link: 'ethernet-offload', slotSize: 65536 + 512, headroom: 256, slots: 8 });
    e.setLink({ mac: '02:00:00:00:01:fe', ipv4: '198.18.1.254', ipv6: '2001:2:0:1::fe' });
    e.addNeighbour('198.18.1.12', mac(dst.find(v4)!, 0));
    e.addNeighbour('2001:2:0:1::11', mac(dst.find(v6)!, 0));
    const add = (vip: string, port: number, rs: string, d: Omit<Dest, 'addr'> = {}) => {
      const k = { proto: 'TCP', addr: vip, port } as const;
      e.addService({ ...k, sched: 'rr' });
      e.addDest(k, { addr: rs, port, fwd: 'Tunnel', ...d });
    };
    add('198.18.2.21', 80, '198.18.1.12');
    add('198.18.2.23', 80, '198.18.1.12', { tunType: 'gue', tunPort: 6080, tunFlags: 1 });
    add('198.18.2.25', 80, '198.18.1.12', { tunType: 'gre' });
    add('198.18.2.26', 80, '198.18.1.12', { tunType: 'gre', tunFlags: 1 });
    add('2001:2::200', 80, '2001:2:0:1::11');
    add('2001:2::200', 82, '198.18.1.12');
    add('198.18.2.27', 80, '2001:2:0:1::11');
    const inputs = cli.filter((f) => mac(f, 6) === '02:00:00:00:00:02' && (v4(f) || v6(f)));
    const supers = inputs.filter((f) => f.length > 1514);
    expect([inputs.length, supers.length]).toEqual([18, 9]);
    const MSS = [1400, 1400, 1400, 1400, 1460, 1460, 1360, 1360, 1400];
    const got: Uint8Array[] = [], gotIcmp: Uint8Array[] = [];
    let t = 0;
    for (const f of inputs) {
      const s = supers.indexOf(f), hl = v6(f) ? 40 : 20;
      // what a TAP with offloads reads for it: GSO TCPv4/v6, csum_start from the Ethernet header
      const hdr = s < 0 ? vnetHdr() : vnetHdr({ flags: 1, gso: hl === 40 ? 4 : 1, hdrLen: 14 + hl + 20, gsoSize: MSS[s], csumStart: 14 + hl, csumOffset: 16 });
      const r = run(e, cat(hdr, f), (t += 10), true);
      if (r.verdict === 'XMIT') got.push(...r.frames);
      else if (r.verdict === 'LOCAL') { gotIcmp.push(r.frames[0]); got.push(...r.frames.slice(1)); }
      else expect.fail(`${r.verdict} ${r.reason}`);
    }
    const want = dst.filter((f) => v4(f) || v6(f));
    const wantIcmp = cli.filter((f) => mac(f, 0) === '02:00:00:00:00:02' && v4(f) && f[23] === 1);
    // G1-G4: SYN + 15 each; G5: SYN; G6: SYN + 6 × 2 fragments + 1; G7-G9: SYN + 15 each
    expect([want.length, wantIcmp.length]).toEqual([4 * 16 + 1 + 14 + 3 * 16, 1]);
    expect(got.length).toBe(want.length);
    const norm = (f: Uint8Array) => {
      const b = f.slice(), ip = 14;
      if (v6(b)) { b[ip + 1] &= 0xf0; b[ip + 2] = b[ip + 3] = 0; return hex(b); }   // the outer flow label
      const df = (b[ip + 6] & 0x40) !== 0;
      if (!df || b[ip + 9] === 1) { b[ip + 4] = b[ip + 5] = b[ip + 10] = b[ip + 11] = 0; }
      if (b[ip + 9] === 17) { b[ip + 20] = b[ip + 21] = 0; b[ip + 26] = b[ip + 27] = 0; }
      return hex(b);
    };
    for (let i = 0; i < want.length; i++) {
      expect(norm(got[i]), `dest frame ${i}`).toBe(norm(want[i]));
      if (v4(got[i])) expect(~sum16(got[i].subarray(14, 34)) & 0xffff, `frame ${i} outer header checksum`).toBe(0);
    }
    // GUE's UDP checksum, wildcarded with its source port above: ours must verify
    for (const f of got.filter((x) => v4(x) && x[23] === 17)) {
      const ip = f.subarray(14), len = (ip[24] << 8) | ip[25];
      expect(~sum16(ip.subarray(20, 20 + len), sum16(Uint8Array.from([...ip.subarray(12, 20), 0, 17, len >> 8, len & 255]))) & 0xffff).toBe(0);
    }
    // no DF (G6, frames 66..78): one id per segment, shared by its two fragments, the next segment's one more
    const g6 = got.slice(66, 79).map((f) => ({ id: (f[18] << 8) | f[19], more: (f[20] & 0x20) !== 0 }));
    for (let k = 0; k < 6; k++) expect([g6[2 * k].id, g6[2 * k + 1].id, g6[2 * k].more, g6[2 * k + 1].more]).toEqual([g6[0].id + k, g6[0].id + k, true, false]);
    expect(g6[12].id).toBe(g6[0].id + 6);
    expect(gotIcmp.map(norm)).toEqual(wantIcmp.map(norm));
    expect(e.counters()).toMatchObject({ gso_packets: 9n, gso_segments: 7n * 15n + 7n, icmp_frag_needed: 1n, frag_created: 12n });
  });
});

/*
 * The hold queue's bytes are one arena (neigh.ts): frames waiting for a next hop keep their
 * room while everything else comes and goes; when the arena's end is reached the waiting frames
 * are moved to its start (compaction). A super-packet to a real server still being resolved is
 * held whole — its first segment and the others — and leaves in order once the ARP answer comes,
 * byte for byte as if the neighbour had been known, after a hundred other super-packets forced
 * the arena to compact around it.
 */
describe('super-packets and the hold queue on a TAP', () => {
  test('held while the real server is resolved, compacted around, released in order after the ARP reply', async () => {
    const ETH = Uint8Array.from([2, 0, 0, 0, 1, 0xfe, 2, 0, 0, 0, 0, 2, 8, 0]);
    const RSMAC = [2, 0, 0, 0, 1, 0x0c];
    const mk = async (known: boolean) => {
      const e = await engine({ link: 'ethernet-offload', headroom: 256, slots: 8, slotSize: 65536 + 512 });
      e.setLink({ mac: '02:00:00:00:01:fe', ipv4: '198.18.1.254' });
      if (known) e.addNeighbour(RS4, '02:00:00:00:01:0c');
      e.addNeighbour('198.18.1.13', '02:00:00:00:01:0d');
      for (const [port, rs] of [[80, RS4], [81, '198.18.1.13']] as const) {
        e.addService({ proto: 'TCP', addr: VIP, port, sched: 'rr' });
        e.addDest({ proto: 'TCP', addr: VIP, port }, { addr: rs, port, fwd: 'Tunnel' });
      }
      return e;
    };
    const f: Flow = { src: CLIENT, dst: VIP, sport: 40500, dport: 80 };
    const syn = cat(vnetHdr(), ETH, ip(CLIENT, VIP, { proto: 'tcp', sport: 40500, dport: 80, flags: 'S', seq: 1000 }));
    const ref = await mk(true);
    const want = [...run(ref, syn, 1, true).frames, ...run(ref, superPacket(f, 64_400, 1400, 0x1000, ETH), 2, true).frames];
    expect(want.length).toBe(1 + 46);

    const e = await mk(false);
    expect(run(e, syn, 1, true).verdict).toBe('STOLEN');            // held; the ARP request went through drain()
    expect(run(e, superPacket(f, 64_400, 1400, 0x1000, ETH), 2, true)).toMatchObject({ verdict: 'STOLEN', frames: [] });
    expect(e.heldFrames()).toBe(1 + 46);
    // a hundred super-packets (7 MB of segments) to the known real server meanwhile: the arena
    // (2.7 MB here) is used up again and again around the 47 waiting frames
    const g: Flow = { src: CLIENT, dst: VIP, sport: 40501, dport: 81 };
    run(e, cat(vnetHdr(), ETH, ip(CLIENT, VIP, { proto: 'tcp', sport: 40501, dport: 81, flags: 'S', seq: 1000 })), 3, true);
    for (let i = 0; i < 100; i++) {
      const out = run(e, superPacket({ ...g, seq: 1001 + i * 64_400 }, 64_400, 1400, 0x1000, ETH), 4 + i, true);
      expect(out.frames.length, `super-packet ${i}`).toBe(46);
      out.frames.forEach((o, k) => expect(new DataView(o.buffer, o.byteOffset).getUint32(14 + 20 + 20 + 4)).toBe(1001 + i * 64_400 + k * 1400));
    }
    expect(e.heldFrames()).toBe(47);
    // the ARP reply: the 47 held frames leave, in order, equal to the frames sent when the MAC was known
    const reply = cat(vnetHdr(), Uint8Array.from([2, 0, 0, 0, 1, 0xfe, ...RSMAC, 8, 6, 0, 1, 8, 0, 6, 4, 0, 2, ...RSMAC, 198, 18, 1, 12, 2, 0, 0, 0, 1, 0xfe, 198, 18, 1, 254]));
    const rel = run(e, reply, 200, true);
    expect(rel.frames.map(hex)).toEqual(want.map(hex));
    expect(e.heldFrames()).toBe(0);
    expect(e.counters()).toMatchObject({ drop_gso_no_room: 0n, drop_neigh_queue_full: 0n, gso_segments: 101n * 46n });
  });
});
