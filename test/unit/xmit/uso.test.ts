/*
 * UDP segmentation offload on a TUN (TUN_F_USO4/USO6, Linux 6.2+; engine link 'ip-offload'): a
 * UDP_SEGMENT sender's burst arrives as one super-packet behind a struct virtio_net_hdr with
 * gso_type VIRTIO_NET_HDR_GSO_UDP_L4 (5), gso_size the datagram payload, NEEDS_CSUM with the
 * pseudo-header sum (whole UDP length) in the checksum field, the UDP length the whole's — as
 * recorded from this kernel's tun (udp_send_skb's GSO path: a 2,563-byte burst at gso_size 1000
 * came as `01 05 1c00 e803 1400 0600`, UDP length 2571).
 *  - NAT rewrites it whole (addresses, ports, the partial checksum by the address delta) and
 *    hands it back with the same header: the kernel cuts it into datagrams (__udp_gso_segment);
 *  - IPVS on a kernel director sees the datagrams one by one (no UDP GRO on a forwarding path by
 *    default): InPkts/OutPkts count each, InBytes/OutBytes each one's IP length;
 *  - a tunnel dest cuts it here (xmit/gso.ts): its frames equal those of the same datagrams sent
 *    one by one through an engine without offloads.
 */
import { describe, test, expect } from 'vitest';
import { engine, VIP, CLIENT, RS, VIP6, CLIENT6, RS6 } from '../../helpers/engine.ts';
import type { Engine } from '../../../host/engine.ts';
import { ip, fields, hex, sum16, cat, fold, vnetHdr } from '../../helpers/pkt.ts';

const VNET = 10;
const data = (n: number) => new Uint8Array(n).map((_, i) => (i * 7 + 3) & 255);

/** The UDP pseudo-header sum (not complemented) of pkt, with its UDP length field as the length. */
function pseudo(pkt: Uint8Array): number {
  const v6 = pkt[0] >> 4 === 6, hl = v6 ? 40 : 20;
  const src = v6 ? pkt.subarray(8, 24) : pkt.subarray(12, 16), dst = v6 ? pkt.subarray(24, 40) : pkt.subarray(16, 20);
  return fold(sum16(src) + sum16(dst) + 17 + ((pkt[hl + 4] << 8) | pkt[hl + 5]));
}
/** What a UDP_SEGMENT sender's burst is on the TUN: one UDP datagram with all the payload, partial checksum, GSO UDP_L4. */
function usoFrame(src: string, sport: number, dst: string, dport: number, payload: Uint8Array, gsoSize: number, o: { ttl?: number; id?: number } = {}): Uint8Array {
  const p = ip(src, dst, { proto: 'udp', sport, dport, payload }, { ttl: o.ttl ?? 64, id: o.id ?? 0x2000 });
  const v6 = p[0] >> 4 === 6, hl = v6 ? 40 : 20;
  new DataView(p.buffer).setUint16(hl + 6, pseudo(p));
  return cat(vnetHdr({ flags: 1, gso: 5, hdrLen: hl + 8, gsoSize, csumStart: hl, csumOffset: 6 }), p);
}
const plain = (p: Uint8Array) => cat(vnetHdr(), p);

async function natEngine(vip: string, rs: string) {
  const e = await engine({ link: 'ip-offload', slotSize: 65536 + 512, headroom: 256, slots: 8 });
  const k = { proto: 'UDP', addr: vip, port: 53 } as const;
  e.addService({ ...k, sched: 'rr' });
  e.addDest(k, { addr: rs, port: 5353, fwd: 'Masq' });
  return e;
}

describe('UDP super-packets (USO) through NAT: rewritten whole, counted per datagram', () => {
  for (const [name, vip, client, rs] of [['IPv4', VIP, CLIENT, RS[0]], ['IPv6', VIP6, CLIENT6, RS6[0]]] as const) {
    test(`${name}: a 2,563-byte burst at gso_size 1000 in, a 4,000-byte reply burst out`, async () => {
      const e = await natEngine(vip, rs);
      const hl = name === 'IPv4' ? 20 : 40;
      const body = data(2563);
      const gin = usoFrame(client, 40000, vip, 53, body, 1000);
      const r = e.processFrame(gin, 1);
      expect([r.verdict, r.reason]).toEqual(['XMIT', '']);
      // exact bytes: the header as it came, the datagram rewritten to RS:5353 with TTL - 1 and the
      // pseudo-header sum of its new addresses (whole length) left in the checksum field
      const want = ip(client, rs, { proto: 'udp', sport: 40000, dport: 5353, payload: body }, { ttl: 63, id: 0x2000 });
      new DataView(want.buffer).setUint16(hl + 6, pseudo(want));
      expect(hex(r.data)).toBe(hex(cat(gin.subarray(0, VNET), want)));
      // three datagrams (1000 + 1000 + 563 bytes), as IPVS on a kernel director counts them
      const perIp = hl + 8;
      const inBytes = BigInt(3 * perIp + 2563);
      const svc = e.services()[0];
      expect(svc.stats).toMatchObject({ conns: 1n, inpkts: 3n, inbytes: inBytes, outpkts: 0n });
      expect(svc.dests[0].stats).toMatchObject({ inpkts: 3n, inbytes: inBytes });
      expect(e.globalStats()).toMatchObject({ inpkts: 3n, inbytes: inBytes });
      expect(e.conns()[0]).toMatchObject({ inpkts: 3 });

      // the reply burst: RS:5353 -> client becomes VIP:53 -> client, 4 datagrams of 1000
      const back = data(4000);
      const gout = usoFrame(rs, 5353, client, 40000, back, 1000, { id: 0x3000 });
      const r2 = e.processFrame(gout, 2);
      expect([r2.verdict, r2.reason]).toEqual(['XMIT', '']);
      const want2 = ip(vip, client, { proto: 'udp', sport: 53, dport: 40000, payload: back }, { ttl: 63, id: 0x3000 });
      new DataView(want2.buffer).setUint16(hl + 6, pseudo(want2));
      expect(hex(r2.data)).toBe(hex(cat(gout.subarray(0, VNET), want2)));
      expect(e.services()[0].stats).toMatchObject({ outpkts: 4n, outbytes: BigInt(4 * perIp + 4000) });
      expect(e.conns()[0]).toMatchObject({ inpkts: 3, outpkts: 4 });
      expect(e.counters()).toMatchObject({ gso_packets: 2n, drop_bad_vnet_hdr: 0n });
    });
  }

  test('a burst of one datagram (payload <= gso_size) counts once; plain datagrams as before', async () => {
    const e = await natEngine(VIP, RS[0]);
    expect(e.processFrame(usoFrame(CLIENT, 40001, VIP, 53, data(800), 1000), 1).verdict).toBe('XMIT');
    expect(e.processFrame(plain(ip(CLIENT, VIP, { proto: 'udp', sport: 40001, dport: 53, payload: data(10) })), 2).verdict).toBe('XMIT');
    expect(e.services()[0].stats).toMatchObject({ inpkts: 2n, inbytes: BigInt(28 + 800 + 28 + 10) });
  });

  test('UDP_L4 headers that do not fit are counted drops: on TCP, without NEEDS_CSUM, gso_size 0', async () => {
    const e = await natEngine(VIP, RS[0]);
    const g = usoFrame(CLIENT, 40002, VIP, 53, data(3000), 1000);
    const noCsum = g.slice(); noCsum[0] = 0;
    const size0 = g.slice(); size0[4] = 0; size0[5] = 0;
    const tcp = ip(CLIENT, VIP, { proto: 'tcp', sport: 40002, dport: 53, flags: 'PA', payload: data(3000) });
    const onTcp = cat(vnetHdr({ flags: 1, gso: 5, hdrLen: 40, gsoSize: 1000, csumStart: 20, csumOffset: 16 }), tcp);
    for (const f of [noCsum, size0, onTcp]) expect(e.processFrame(f, 1)).toMatchObject({ verdict: 'DROP', reason: 'drop_bad_vnet_hdr' });
    expect(e.counters()).toMatchObject({ drop_bad_vnet_hdr: 3n });
    expect(e.conns()).toHaveLength(0);
  });
});

/** Every frame a packet makes (the slot's own and what drain() sends after it), vnet headers checked empty and cut. */
function run(e: Engine, frame: Uint8Array, t: number, vnet: boolean): Uint8Array[] {
  const r = e.processFrame(frame, t);
  const frames: Uint8Array[] = [];
  const cut = (b: Uint8Array) => {
    if (!vnet) return b;
    expect([...b.subarray(0, VNET)], 'an empty virtio-net header: no offload asked').toEqual(Array(VNET).fill(0));
    return b.subarray(VNET);
  };
  if (r.verdict === 'XMIT') frames.push(cut(r.data));
  for (let k = e.drain(); k > 0; k = e.drain()) for (let i = 0; i < k; i++) frames.push(cut(e.output(i)));
  return frames;
}

describe('a UDP super-packet to a tunnel dest is cut here: the datagrams equal those sent one by one', () => {
  for (const [name, client, vip, rs, tun] of [
    ['IPIP 4in4', CLIENT, VIP, RS[0], {}],
    ['GUE 4in4 +csum', CLIENT, VIP, RS[0], { tunType: 'gue', tunPort: 6080, tunFlags: 1 }],
    ['IPIP 6in6', CLIENT6, VIP6, RS6[0], {}],
    ['GRE 6in4', CLIENT6, VIP6, RS[0], { tunType: 'gre' }],
  ] as const) {
    test(name, async () => {
      const mk = async (link: 'ip' | 'ip-offload') => {
        const e = await engine({ link, headroom: 256, slots: 8, slotSize: link === 'ip' ? 4096 : 65536 + 512 });
        const k = { proto: 'UDP', addr: vip, port: 53 } as const;
        e.addService({ ...k, sched: 'rr' });
        e.addDest(k, { addr: rs, port: 53, fwd: 'Tunnel', ...tun });
        return e;
      };
      const ref = await mk('ip'), gso = await mk('ip-offload');
      const body = data(2 * 1200 + 77);
      // one by one: what the sender's kernel puts on the wire without USO (IPv4 id + 1 each)
      const one: Uint8Array[] = [];
      for (let off = 0, k = 0; off < body.length; off += 1200, k++) {
        const p = ip(client, vip, { proto: 'udp', sport: 40010, dport: 53, payload: body.subarray(off, Math.min(body.length, off + 1200)) }, { id: 0x2000 + k });
        one.push(...run(ref, p, 1 + k, false));
      }
      const segs = run(gso, usoFrame(client, 40010, vip, 53, body, 1200), 1, true);
      expect(segs).toHaveLength(3);
      // equal but for the outer IPv4 id of a DF packet: 0 per packet (ip_select_ident), counted up
      // per segment by GSO from the whole's 0 (inet_gso_segment on the outer header, as gso.test.ts)
      const outer = (f: Uint8Array, k: number, gsoSide: boolean) => {
        if (f[0] >> 4 !== 4) return hex(f);
        expect(~sum16(f.subarray(0, 20)) & 0xffff, 'outer IPv4 header checksum').toBe(0);
        if (f[6] & 0x40) expect((f[4] << 8) | f[5], `outer id of segment ${k}`).toBe(gsoSide ? k : 0);
        const c = f.slice(); c[4] = c[5] = c[10] = c[11] = 0;
        return hex(c);
      };
      expect(segs.map((f, k) => outer(f, k, true))).toEqual(one.map((f, k) => outer(f, k, false)));
      expect(gso.counters()).toMatchObject({ gso_packets: 1n, gso_segments: 3n });
      expect(gso.services()[0].stats).toMatchObject(ref.services()[0].stats);
    });
  }
});
