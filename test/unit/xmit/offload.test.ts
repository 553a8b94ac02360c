/*
 * A TUN with offloads (engine link 'ip-offload'): every frame behind a struct virtio_net_hdr;
 * TCP super-packets (GSO) up to 64 KiB with a partial checksum (NEEDS_CSUM: the field holds the
 * pseudo-header sum, the rest is summed by whoever segments). NAT rewrites them whole: addresses
 * and ports, the partial checksum by the address delta only (tcp_partial_csum_update), the
 * header passed on untouched; finished as a NIC would, the checksum must be right for the new
 * addresses. Frames the engine builds itself get a header of their own.
 */
import { describe, test, expect } from 'vitest';
import { engine, VIP, CLIENT, RS, VIP6, CLIENT6, RS6 } from '../../helpers/engine.ts';
import { ip, fields, sum16, cat, fold, vnetHdr } from '../../helpers/pkt.ts';

const VNET = 10;
/** struct virtio_net_hdr (little-endian, as the tun driver writes it on x86). */

/** The pseudo-header sum of a TCP segment (not complemented), as CHECKSUM_PARTIAL leaves it in the field. */
function pseudo(pkt: Uint8Array): number {
  const v6 = pkt[0] >> 4 === 6, hl = v6 ? 40 : (pkt[0] & 15) * 4;
  const len = pkt.length - hl;
  const src = v6 ? pkt.subarray(8, 24) : pkt.subarray(12, 16), dst = v6 ? pkt.subarray(24, 40) : pkt.subarray(16, 20);
  return fold(sum16(src) + sum16(dst) + 6 + len);
}
/** A super-packet as the kernel hands it over: partial checksum, GSO TCPv4/v6 with MSS 1448. */
function gsoFrame(src: string, sport: number, dst: string, dport: number, payload: number, ttl = 64): Uint8Array {
  const p = ip(src, dst, { proto: 'tcp', sport, dport, flags: 'PA', seq: 1001, ack: 5001, payload: new Uint8Array(payload).map((_, i) => i * 7) }, { ttl });
  const v6 = p[0] >> 4 === 6, hl = v6 ? 40 : 20;
  new DataView(p.buffer).setUint16(hl + 16, pseudo(p));
  return cat(vnetHdr({ flags: 1, gso: v6 ? 4 : 1, hdrLen: hl + 20, gsoSize: 1448, csumStart: hl, csumOffset: 16 }), p);
}
/** Finish a partial checksum as a NIC does: sum from csum_start to the end (the field included), complement. */
function finishCsum(pkt: Uint8Array, start: number, offset: number): Uint8Array {
  const out = pkt.slice();
  const c = ~fold(sum16(out.subarray(start))) & 0xffff;
  new DataView(out.buffer).setUint16(start + offset, c);
  return out;
}
/** A full, correct TCP checksum of pkt (recomputed from nothing). */
function fullCsumOk(pkt: Uint8Array): boolean {
  const v6 = pkt[0] >> 4 === 6, hl = v6 ? 40 : 20;
  return (~fold(pseudo(pkt) + sum16(pkt.subarray(hl))) & 0xffff) === 0;
}
const plain = (p: Uint8Array) => cat(vnetHdr(), p);

async function natOffload(vip: string, rs: string, v6 = false) {
  const e = await engine({ link: 'ip-offload', slotSize: 65536 + 512, headroom: 256, slots: 8 });
  const k = { proto: 'TCP', addr: vip, port: 80 } as const;
  e.addService({ ...k, sched: 'rr' });
  e.addDest(k, { addr: rs, port: 8080, fwd: 'Masq' });
  return { e, v6 };
}

/** A FULLNAT service (laddr 198.18.1.200) with a conn from CLIENT:sport past its SYN and SYN-ACK: the next data is TOA's packet. */
async function fnatHandshake(sport: number) {
  const e = await engine({ link: 'ip-offload', slotSize: 65536 + 512, headroom: 256, slots: 8 });
  const k = { proto: 'TCP', addr: VIP, port: 80 } as const;
  e.addService({ ...k, sched: 'rr' });
  e.addDest(k, { addr: RS[0], port: 8080, fwd: 'FullNat' });
  e.addLaddr(k, '198.18.1.200');
  const s = e.processFrame(plain(ip(CLIENT, VIP, { proto: 'tcp', sport, dport: 80, flags: 'S' })), 1);
  const lport = fields(s.data.subarray(VNET)).sport;
  e.processFrame(plain(ip(RS[0], '198.18.1.200', { proto: 'tcp', sport: 8080, dport: lport, flags: 'SA' })), 2);
  return e;
}

describe('TCP super-packets with partial checksums through NAT (TUN offloads)', () => {
  for (const [name, vip, client, rs] of [['IPv4', VIP, CLIENT, RS[0]], ['IPv6', VIP6, CLIENT6, RS6[0]]] as const) {
    test(`${name}: a 30,000-byte super-packet in and its reply out, rewritten whole; finished like a NIC does, each checksum is right`, async () => {
      const { e } = await natOffload(vip, rs);
      const syn = e.processFrame(plain(ip(client, vip, { proto: 'tcp', sport: 40000, dport: 80, flags: 'S' })), 1);
      expect(syn.verdict).toBe('XMIT');
      expect([...syn.data.subarray(0, VNET)]).toEqual(Array(VNET).fill(0));   // a plain frame keeps its (empty) header
      const hl = name === 'IPv4' ? 20 : 40;
      // in: client → VIP becomes client → RS:8080
      const gin = gsoFrame(client, 40000, vip, 80, 30_000);
      const r = e.processFrame(gin, 2);
      expect(r.verdict).toBe('XMIT');
      expect(r.data.length).toBe(gin.length);
      expect([...r.data.subarray(0, VNET)]).toEqual([...gin.subarray(0, VNET)]);   // GSO type, MSS, csum_start/offset as they came
      const out = r.data.subarray(VNET);
      expect(fields(out)).toMatchObject({ src: client, dst: rs, sport: 40000, dport: 8080, ttl: 63 });
      if (name === 'IPv4') expect(~sum16(out.subarray(0, 20)) & 0xffff).toBe(0);     // the IPv4 header checksum is full
      expect(new DataView(out.buffer, out.byteOffset).getUint16(hl + 16)).toBe(pseudo(out));   // still the pseudo-header sum
      expect(fullCsumOk(finishCsum(out, hl, 16))).toBe(true);
      expect(Buffer.from(out.subarray(hl + 20)).equals(Buffer.from(gin.subarray(VNET + hl + 20)))).toBe(true);   // payload untouched
      // out: RS:8080 → client becomes VIP:80 → client
      const gout = gsoFrame(rs, 8080, client, 40000, 20_000);
      const r2 = e.processFrame(gout, 3);
      expect(r2.verdict).toBe('XMIT');
      const back = r2.data.subarray(VNET);
      expect(fields(back)).toMatchObject({ src: vip, sport: 80, dst: client, dport: 40000 });
      expect(new DataView(back.buffer, back.byteOffset).getUint16(hl + 16)).toBe(pseudo(back));
      expect(fullCsumOk(finishCsum(back, hl, 16))).toBe(true);
      expect(e.counters()).toMatchObject({ gso_packets: 2n, drop_bad_vnet_hdr: 0n });
      const c = e.conns()[0];
      expect([c.state, c.inpkts, c.outpkts]).toEqual(['ESTABLISHED', 2, 1]);
    });
  }

  test('a frame the engine builds (ICMP time exceeded for a super-packet at TTL 1) leaves behind a header of its own: no offload', async () => {
    const { e } = await natOffload(VIP, RS[0]);
    e.processFrame(plain(ip(CLIENT, VIP, { proto: 'tcp', sport: 40001, dport: 80, flags: 'S' })), 1);
    const r = e.processFrame(gsoFrame(CLIENT, 40001, VIP, 80, 5000, 1), 2);
    expect(r.verdict).toBe('LOCAL');
    expect([...r.data.subarray(0, VNET)]).toEqual(Array(VNET).fill(0));
    const icmp = r.data.subarray(VNET);
    expect(fields(icmp)).toMatchObject({ src: VIP, dst: CLIENT, proto: 1 });
    expect(icmp[20]).toBe(11);   // time exceeded
  });

  test('headers we did not ask for are counted drops: a UDP GSO type, a checksum start that is not the TCP header\'s', async () => {
    const { e } = await natOffload(VIP, RS[0]);
    const g = gsoFrame(CLIENT, 40002, VIP, 80, 3000);
    const udpGso = g.slice(); udpGso[1] = 3;                       // VIRTIO_NET_HDR_GSO_UDP
    const badStart = g.slice(); new DataView(badStart.buffer).setUint16(6, 14, true);
    for (const f of [udpGso, badStart, g.subarray(0, 6)]) {
      const r = e.processFrame(f, 1);
      expect(r.verdict).toBe('DROP');
      expect(['drop_bad_vnet_hdr', 'drop_truncated']).toContain(r.reason);
    }
    expect(e.counters()).toMatchObject({ drop_bad_vnet_hdr: 2n, drop_truncated: 1n });
  });

  test('FULLNAT: both addresses on the partial checksum; no TOA into a super-packet (counted as no room)', async () => {
    const e = await fnatHandshake(40003);
    const r = e.processFrame(gsoFrame(CLIENT, 40003, VIP, 80, 10_000), 3);   // the first data: TOA's packet
    expect(r.verdict).toBe('XMIT');
    const out = r.data.subarray(VNET);
    expect(fields(out)).toMatchObject({ src: '198.18.1.200', dst: RS[0], dport: 8080 });
    expect(out.length).toBe(20 + 20 + 10_000);                      // no option inserted
    expect(new DataView(out.buffer, out.byteOffset).getUint16(36)).toBe(pseudo(out));
    expect(fullCsumOk(finishCsum(out, 20, 16))).toBe(true);
    expect(e.counters()).toMatchObject({ toa_added: 0n, toa_no_room: 1n });
  });

  test('FULLNAT: a single first-data packet with a partial checksum gets its TOA: the checksum is finished first, NEEDS_CSUM cleared', async () => {
    const e = await fnatHandshake(40004);
    // a small request, partial checksum as a veth hands it on, no GSO
    const p = ip(CLIENT, VIP, { proto: 'tcp', sport: 40004, dport: 80, flags: 'PA', seq: 1001, ack: 5001, payload: new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n') });
    new DataView(p.buffer).setUint16(36, pseudo(p));
    const r = e.processFrame(cat(vnetHdr({ flags: 1, csumStart: 20, csumOffset: 16 }), p), 3);
    expect(r.verdict).toBe('XMIT');
    expect(r.data[0] & 1).toBe(0);                                  // NEEDS_CSUM cleared: the checksum is full now
    const out = r.data.subarray(VNET);
    expect(out.length).toBe(p.length + 8);                          // the TOA option (kind 254, 8 bytes)
    expect(out[40]).toBe(254);
    expect(fullCsumOk(out)).toBe(true);
    expect(e.counters()).toMatchObject({ toa_added: 1n, toa_no_room: 0n });
  });
});

describe('a TAP with offloads (engine link \'ethernet-offload\')', () => {
  const ETH = Uint8Array.from([2, 0, 0, 0, 1, 0xfe, 2, 0, 0, 0, 1, 1, 8, 0]);   // to the engine's MAC, IPv4
  test('DR: a super-frame leaves whole with the header it came with (csum_start counts the Ethernet header); tunnel dests taken too', async () => {
    const e = await engine({ link: 'ethernet-offload', slotSize: 65536 + 512, headroom: 256, slots: 8 });
    e.setLink({ mac: '02:00:00:00:01:fe', ipv4: '198.18.1.254/24' });
    e.addNeighbour(RS[0], '02:00:00:00:01:0b');
    const k = { proto: 'TCP', addr: VIP, port: 80 } as const;
    e.addService({ ...k, sched: 'rr' });
    e.addDest(k, { addr: RS[0], port: 80, fwd: 'Route' });
    e.addDest(k, { addr: RS[1], port: 80, fwd: 'Tunnel' });   // super-packets are segmented for them (gso.test.ts)
    expect(e.services()[0].dests.map((d) => d.fwd).sort()).toEqual(['Route', 'Tunnel']);
    e.editDest(k, { addr: RS[1], port: 80, fwd: 'Tunnel', weight: 0 });   // only the DR dest is scheduled below
    expect(e.processFrame(cat(vnetHdr(), ETH, ip(CLIENT, VIP, { proto: 'tcp', sport: 40010, dport: 80, flags: 'S' })), 1).verdict).toBe('XMIT');
    const g = gsoFrame(CLIENT, 40010, VIP, 80, 20_000);
    const hdr = g.slice(0, VNET);
    new DataView(hdr.buffer).setUint16(6, 14 + 20, true);                          // csum_start from the Ethernet header
    const frame = cat(hdr, ETH, g.subarray(VNET));
    const r = e.processFrame(frame, 1);
    expect(r.verdict).toBe('XMIT');
    expect([...r.data.subarray(0, VNET)]).toEqual([...hdr]);
    expect([...r.data.subarray(VNET, VNET + 6)]).toEqual([2, 0, 0, 0, 1, 0x0b]);   // the real server's MAC
    expect(r.data.length).toBe(frame.length);
    expect(fields(r.data.subarray(VNET + 14))).toMatchObject({ src: CLIENT, dst: VIP, ttl: 63 });
    // the same header with csum_start from the IP header (as on a TUN) is not where the kernel puts it here
    const bad = frame.slice(); new DataView(bad.buffer).setUint16(6, 20, true);
    expect(e.processFrame(bad, 2)).toMatchObject({ verdict: 'DROP', reason: 'drop_bad_vnet_hdr' });
  });
});
