/*
 * The local stack's answers for a VIP (assembly/xmit/local.ts) beyond the kernel recording
 * (test/golden/kernel-local-answers.test.ts has the bytes): on a TAP (the reply to the sender's
 * MAC), on a TUN with offloads (a super-packet without a conn: the RST gets a header asking for
 * no offload), what gets no answer (RST, bad checksum), the setting, and a routed link (TUN
 * director: VIP frames nobody takes are counted drops, DR/tunnel conns' packets too).
 */
import { describe, test, expect } from 'vitest';
import { engine, natEngine, VIP, CLIENT, RS, VIP6, CLIENT6 } from '../../helpers/engine.ts';
import { ip, hex, fields, checkPacket } from '../../helpers/pkt.ts';

const tcpTo = (port: number, flags: string, extra: { seq?: number; ack?: number; payload?: Uint8Array } = {}, dst = VIP, src = CLIENT) =>
  ip(src, dst, { proto: 'tcp', sport: 40000, dport: port, flags, ...extra });
const th = (p: Uint8Array) => p.subarray(p[0] >> 4 === 4 ? 20 : 40);
const be32 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset).getUint32(o);

describe('local answers', () => {
  test('RST fields: ACK segment → RST seq=ack; SYN with data → RST|ACK ack=seq+len+1; IPv6 likewise; checksums right', async () => {
    const { e } = await natEngine();
    e.addService({ proto: 'TCP', addr: VIP6, port: 80, sched: 'rr' });
    const a = e.processFrame(tcpTo(81, 'A', { seq: 2000, ack: 7000 }), 1);
    expect(a.verdict).toBe('LOCAL');
    expect(checkPacket(a.data)).toEqual([]);
    expect(fields(a.data)).toMatchObject({ src: VIP, dst: CLIENT, sport: 81, dport: 40000 });
    expect([th(a.data)[13], be32(th(a.data), 4), be32(th(a.data), 8), a.data.length]).toEqual([0x04, 7000, 0, 40]);
    const s = e.processFrame(tcpTo(81, 'S', { seq: 6500, payload: new Uint8Array(3) }), 2);
    expect([th(s.data)[13], be32(th(s.data), 4), be32(th(s.data), 8)]).toEqual([0x14, 0, 6504]);
    const s6 = e.processFrame(tcpTo(81, 'FA', { seq: 10, ack: 20 }, VIP6, CLIENT6), 3);
    expect(s6.verdict).toBe('LOCAL');
    expect(checkPacket(s6.data)).toEqual([]);
    expect([s6.data.length, s6.data[7], th(s6.data)[13], be32(th(s6.data), 4)]).toEqual([60, 64, 0x04, 20]);
    expect(e.counters().tcp_reset_sent).toBe(3n);
  });

  test('no answer to a RST or to a segment with a bad checksum; UDP without checksum is answered; off by setting', async () => {
    const { e } = await natEngine();
    expect(e.processFrame(tcpTo(81, 'R'), 1).verdict).toBe('PASS');
    const bad = tcpTo(81, 'S'); bad[20 + 16] ^= 0xff;
    expect(e.processFrame(bad, 2).verdict).toBe('PASS');
    const u = ip(CLIENT, VIP, { proto: 'udp', sport: 5000, dport: 55, payload: new Uint8Array(4) });
    u[20 + 6] = u[20 + 7] = 0;                              // no UDP checksum (RFC 768)
    const r = e.processFrame(u, 3);
    expect(r.verdict).toBe('LOCAL');
    expect([r.data[9], r.data[20], r.data[21]]).toEqual([1, 3, 3]);   // ICMP port unreachable
    expect(e.counters()).toMatchObject({ tcp_reset_sent: 0n, icmp_port_unreach_sent: 1n });
    e.set('localAnswers', false);
    expect(e.processFrame(tcpTo(81, 'S'), 4).verdict).toBe('PASS');
    expect(e.processFrame(ip(CLIENT, VIP, { proto: 'udp', sport: 5001, dport: 55 }), 5).verdict).toBe('PASS');
  });

  test('a routed link (TUN director): what nobody takes for a VIP is a counted drop, not handed back; non-VIP frames still pass', async () => {
    const { e } = await natEngine();
    e.set('routedLink', true);
    const r = e.processFrame(tcpTo(81, 'R'), 1);
    expect([r.verdict, r.reason]).toEqual(['DROP', 'drop_local_not_taken']);
    expect(e.processFrame(ip(CLIENT, VIP, { proto: 'icmp', type: 13, code: 0 } as any), 2).reason).toBe('drop_local_not_taken');
    expect(e.processFrame(ip(CLIENT, '198.18.9.9', { proto: 'tcp', sport: 1, dport: 80, flags: 'S' }), 3).verdict).toBe('PASS');
    expect(e.processFrame(tcpTo(81, 'S'), 4).verdict).toBe('LOCAL');
  });

  test('a tunnel conn on a routed link is a counted drop too', async () => {
    const e = await engine();
    const k = { proto: 'TCP', addr: VIP, port: 80 } as const;
    e.addService({ ...k, sched: 'rr' }); e.addDest(k, { addr: RS[0], port: 80, fwd: 'Tunnel' });
    e.set('routedLink', true);
    const r = e.processFrame(tcpTo(80, 'S'), 1);
    expect([r.verdict, r.reason]).toEqual(['DROP', 'drop_method_unsupported_on_link']);
    expect(e.counters().drop_ttl_exceeded).toBe(0n);
  });

  test('on a TAP: the RST goes back to the sender\'s MAC from ours', async () => {
    const e = await engine({ link: 'ethernet' });
    e.setLink({ mac: '02:00:00:00:01:fe', ipv4: '198.18.1.254/24' });
    e.addService({ proto: 'TCP', addr: VIP, port: 80, sched: 'rr' });
    const frame = new Uint8Array([2, 0, 0, 0, 1, 0xfe, 2, 0, 0, 0, 1, 1, 8, 0, ...tcpTo(81, 'S', { seq: 1 })]);
    const r = e.processFrame(frame, 1);
    expect(r.verdict).toBe('LOCAL');
    expect([hex(r.data.subarray(0, 6)), hex(r.data.subarray(6, 12)), hex(r.data.subarray(12, 14))]).toEqual(['020000000101', '0200000001fe', '0800']);
    expect(checkPacket(r.data.subarray(14))).toEqual([]);
    expect([r.data.length, th(r.data.subarray(14))[13]]).toEqual([54, 0x14]);
  });

  test('on a TUN with offloads: a super-packet without a conn gets a 40-byte RST behind a header asking for no offload', async () => {
    const e = await engine({ link: 'ip-offload', slotSize: 65536 + 512, headroom: 256, slots: 8 });
    e.addService({ proto: 'TCP', addr: VIP, port: 80, sched: 'rr' });
    const seg = tcpTo(80, 'PA', { seq: 1001, ack: 5001, payload: new Uint8Array(3000) });
    const hdr = new Uint8Array(10); hdr[0] = 1; hdr[1] = 1; new DataView(hdr.buffer).setUint16(2, 40, true);
    new DataView(hdr.buffer).setUint16(4, 1448, true); new DataView(hdr.buffer).setUint16(6, 20, true); new DataView(hdr.buffer).setUint16(8, 16, true);
    const r = e.processFrame(new Uint8Array([...hdr, ...seg]), 1);     // (a partial checksum is trusted)
    expect(r.verdict).toBe('LOCAL');
    expect(hex(r.data.subarray(0, 10))).toBe('00'.repeat(10));
    expect(r.data.length).toBe(50);
    expect(checkPacket(r.data.subarray(10))).toEqual([]);
    expect(be32(th(r.data.subarray(10)), 4)).toBe(5001);
  });
});
