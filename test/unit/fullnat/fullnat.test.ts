/*
 * FULLNAT (DPVS's mode): golden frames in and out, built by hand with the test packet builder,
 * whose checksums are full recomputations (RFC 1071) independent of the engine's incremental
 * code; every output is also re-verified with checkPacket. Covers the local address pool and
 * port allocation (round robin over laddrs, no collision per (laddr, daddr, dport), exhaustion as
 * a named drop, ports back on expiry), the TOA option (DPVS kmod/toa: kind 254, len 8 / 20) on
 * the client's packets acknowledging the SYN-ACK, the SYN-ACK's MSS lowered by the option length,
 * option pruning when there is no room, UDP, IPv6 and ICMP errors.
 */
import { describe, test, expect } from 'vitest';
import { engine, VIP, CLIENT, RS, VIP6, CLIENT6, RS6 } from '../../helpers/engine.ts';
import { ip, checkPacket, hex, parseIp, cat } from '../../helpers/pkt.ts';
import type { Engine } from '../../../host/engine.ts';

const LADDR = ['198.18.2.1', '198.18.2.2'];
const LADDR6 = '2001:2:0:2::1';
const key = { proto: 'TCP', addr: VIP, port: 80 } as const;

async function fnat(opts: { dests?: string[]; laddrs?: string[]; proto?: 'TCP' | 'UDP' } = {}): Promise<Engine> {
  const e = await engine();
  const k = { ...key, proto: opts.proto ?? 'TCP' };
  e.addService({ ...k, sched: 'rr' });
  for (const d of opts.dests ?? [RS[0]]) e.addDest(k, { addr: d, port: 8080, fwd: 'FullNat' });
  for (const l of opts.laddrs ?? [LADDR[0]]) e.addLaddr(k, l);
  return e;
}

/** Typical Linux option blocks. */
const MSS = (v: number) => [2, 4, v >> 8, v & 255];
const SYN_OPTS = new Uint8Array([...MSS(1460), 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]);   // MSS SACKP TS NOP WS
const ACK_OPTS = new Uint8Array([1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 9]);                             // NOP NOP TS
const toa4 = (port: number, addr: string) => new Uint8Array([254, 8, port >> 8, port & 255, ...parseIp(addr).b]);
const toa6 = (port: number, addr: string) => new Uint8Array([254, 20, port >> 8, port & 255, ...parseIp(addr).b]);
const text = (s: string) => new TextEncoder().encode(s);

function xmit(e: Engine, frame: Uint8Array, now = 1000): Uint8Array {
  const r = e.processFrame(frame, now);
  expect(r.verdict, r.reason).toBe('XMIT');
  expect(checkPacket(r.data)).toEqual([]);
  return r.data;
}

describe('FULLNAT TCP, IPv4: a whole connection', () => {
  test('SYN → laddr:lport → RS; SYN-ACK MSS lowered; TOA on the handshake ACK and first data; none after the server spoke', async () => {
    const e = await fnat();
    // SYN: client:40000 → VIP:80 becomes laddr:1025 → RS:8080; options, seq untouched
    const syn = ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'S', seq: 1000, options: SYN_OPTS });
    expect(hex(xmit(e, syn))).toBe(hex(ip(LADDR[0], RS[0], { proto: 'tcp', sport: 1025, dport: 8080, flags: 'S', seq: 1000, options: SYN_OPTS }, { ttl: 63 })));
    const [c] = e.conns();
    expect(c).toMatchObject({ laddr: LADDR[0], lport: 1025, daddr: RS[0], dport: 8080, state: 'SYN_RECV' });

    // SYN-ACK: RS:8080 → laddr:1025 becomes VIP:80 → client:40000 with MSS 1460 - 8
    const synack = ip(RS[0], LADDR[0], { proto: 'tcp', sport: 8080, dport: 1025, flags: 'SA', seq: 5000, ack: 1001, options: SYN_OPTS });
    expect(hex(xmit(e, synack))).toBe(hex(ip(VIP, CLIENT, { proto: 'tcp', sport: 80, dport: 40000, flags: 'SA', seq: 5000, ack: 1001,
      options: new Uint8Array([...MSS(1452), ...SYN_OPTS.subarray(4)]) }, { ttl: 63 })));

    // the handshake ACK carries TOA (client address and port) before its own options
    const ack = ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A', seq: 1001, ack: 5001, options: ACK_OPTS });
    expect(hex(xmit(e, ack))).toBe(hex(ip(LADDR[0], RS[0], { proto: 'tcp', sport: 1025, dport: 8080, flags: 'A', seq: 1001, ack: 5001,
      options: cat(toa4(40000, CLIENT), ACK_OPTS) }, { ttl: 63 })));
    // so does the request (it still acknowledges only the SYN-ACK)
    const req = ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'PA', seq: 1001, ack: 5001, options: ACK_OPTS, payload: text('GET / HTTP/1.0\r\n\r\n') });
    const out = xmit(e, req);
    expect(hex(out)).toBe(hex(ip(LADDR[0], RS[0], { proto: 'tcp', sport: 1025, dport: 8080, flags: 'PA', seq: 1001, ack: 5001,
      options: cat(toa4(40000, CLIENT), ACK_OPTS), payload: text('GET / HTTP/1.0\r\n\r\n') }, { ttl: 63 })));
    expect(out.length).toBe(req.length + 8);

    // the server answers with data: from now on the client's ACKs pass without TOA
    const resp = ip(RS[0], LADDR[0], { proto: 'tcp', sport: 8080, dport: 1025, flags: 'PA', seq: 5001, ack: 1019, payload: text('HTTP/1.0 200 OK\r\n\r\n') });
    expect(hex(xmit(e, resp))).toBe(hex(ip(VIP, CLIENT, { proto: 'tcp', sport: 80, dport: 40000, flags: 'PA', seq: 5001, ack: 1019, payload: text('HTTP/1.0 200 OK\r\n\r\n') }, { ttl: 63 })));
    const ack2 = ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A', seq: 1019, ack: 5020 });
    expect(hex(xmit(e, ack2))).toBe(hex(ip(LADDR[0], RS[0], { proto: 'tcp', sport: 1025, dport: 8080, flags: 'A', seq: 1019, ack: 5020 }, { ttl: 63 })));

    expect(e.counters()).toMatchObject({ toa_added: 2n, toa_no_room: 0n });
    expect(e.conns()[0]).toMatchObject({ state: 'ESTABLISHED', inpkts: 4, outpkts: 2 });
    expect(e.services()[0].dests[0]).toMatchObject({ fwd: 'FullNat', activeconns: 1, inactconns: 0 });
  });

  test('noToa: no option, no MSS change', async () => {
    const e = await fnat();
    e.set('noToa', true);
    xmit(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'S', seq: 1 }));
    const sa = xmit(e, ip(RS[0], LADDR[0], { proto: 'tcp', sport: 8080, dport: 1025, flags: 'SA', seq: 9, ack: 2, options: new Uint8Array(MSS(1460)) }));
    expect([...sa.subarray(40, 44)]).toEqual(MSS(1460));
    const a = xmit(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A', seq: 2, ack: 10 }));
    expect(a.length).toBe(40);
    expect(e.counters().toa_added).toBe(0n);
  });

  test('no option room: NOPs and old TOA pruned, then all but the timestamp; the payload is kept', async () => {
    const e = await fnat();
    xmit(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 40001, dport: 80, flags: 'S', seq: 1 }));
    xmit(e, ip(RS[0], LADDR[0], { proto: 'tcp', sport: 8080, dport: 1025, flags: 'SA', seq: 9, ack: 2 }));
    const ts = [8, 10, 1, 2, 3, 4, 5, 6, 7, 8];
    const sack = [5, 26, ...Array(24).fill(0).map((_, i) => i)];
    // 40 bytes of options: NOP NOP TS NOP NOP SACK(3 blocks)
    const full = new Uint8Array([1, 1, ...ts, 1, 1, ...sack]);
    expect(full.length).toBe(40);
    const out = xmit(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 40001, dport: 80, flags: 'PA', seq: 2, ack: 10, options: full, payload: text('hello') }));
    expect(hex(out)).toBe(hex(ip(LADDR[0], RS[0], { proto: 'tcp', sport: 1025, dport: 8080, flags: 'PA', seq: 2, ack: 10,
      options: cat(toa4(40001, CLIENT), new Uint8Array([...ts, 0, 0])), payload: text('hello') }, { ttl: 63 })));
    // a spoofed TOA from the client is dropped by the first pass when room is needed
    const spoof = new Uint8Array([254, 8, 0, 1, 10, 0, 0, 1, ...ts, 1, 1, ...Array(20).fill(1)]);
    expect(spoof.length).toBe(40);
    const out2 = xmit(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 40001, dport: 80, flags: 'A', seq: 7, ack: 10, options: spoof }));
    expect(hex(out2)).toBe(hex(ip(LADDR[0], RS[0], { proto: 'tcp', sport: 1025, dport: 8080, flags: 'A', seq: 7, ack: 10,
      options: cat(toa4(40001, CLIENT), new Uint8Array([...ts, 0, 0])) }, { ttl: 63 })));
    expect(e.counters().toa_added).toBe(2n);
  });

  test('over the path MTU with nothing to prune: forwarded without TOA, counted', async () => {
    const e = await fnat();
    e.setTunnelMtu(1280);
    xmit(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 40002, dport: 80, flags: 'S', seq: 1 }));
    xmit(e, ip(RS[0], LADDR[0], { proto: 'tcp', sport: 8080, dport: 1025, flags: 'SA', seq: 9, ack: 2 }));
    const big = ip(CLIENT, VIP, { proto: 'tcp', sport: 40002, dport: 80, flags: 'A', seq: 2, ack: 10, payload: new Uint8Array(1276 - 40) });
    const out = xmit(e, big);
    expect(out.length).toBe(1276);
    expect(e.counters()).toMatchObject({ toa_added: 0n, toa_no_room: 1n });
  });
});

describe('FULLNAT local addresses and ports', () => {
  test('ports per (laddr, daddr, dport) without collisions; exhaustion is a counted drop; expiry returns the ports', async () => {
    const e = await fnat({ dests: [RS[0], RS[1]] });
    e.setFnatPortRange(2000, 2002);
    const got: string[] = [];
    for (let i = 0; i < 6; i++) {
      const o = xmit(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 41000 + i, dport: 80, flags: 'S' }));
      got.push(`${[...o.subarray(16, 20)].join('.')}:${(o[20] << 8) | o[21]}`);
    }
    // rr alternates the dests; each dest gets the three ports of the range once
    expect(got.sort()).toEqual([`${RS[0]}:2000`, `${RS[0]}:2001`, `${RS[0]}:2002`, `${RS[1]}:2000`, `${RS[1]}:2001`, `${RS[1]}:2002`].sort());
    const r = e.processFrame(ip(CLIENT, VIP, { proto: 'tcp', sport: 41010, dport: 80, flags: 'S' }), 1000);
    expect(r).toMatchObject({ verdict: 'DROP', reason: 'drop_fnat_no_port' });
    expect(e.counters().drop_fnat_no_port).toBe(1n);
    expect(e.connCount()).toBe(6);
    // the cursor walks the range once per conn, whatever the dest: no port was found busy until
    // the refused SYN looked at all three
    expect(e.laddrs(key)).toEqual([{ addr: LADDR[0], conns: 6, conflicts: 3n }]);
    // SYN_RECV conns time out after 60 s: every port comes back
    expect(e.tick(1000 + 62_000)).toBe(6);
    expect(e.laddrs(key)[0].conns).toBe(0);
    const o = xmit(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 41011, dport: 80, flags: 'S' }), 64_000);
    expect((o[20] << 8) | o[21]).toBeGreaterThanOrEqual(2000);
  });

  test('round robin over laddrs; replies found by laddr:lport; no laddr → named drop', async () => {
    const e = await fnat({ laddrs: LADDR });
    const a = xmit(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 42000, dport: 80, flags: 'S' }));
    const b = xmit(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 42001, dport: 80, flags: 'S' }));
    expect([[...a.subarray(12, 16)].join('.'), [...b.subarray(12, 16)].join('.')]).toEqual(LADDR);
    // both got port 1025 (different laddrs): the reply to the second laddr reaches the second client
    const rb = xmit(e, ip(RS[0], LADDR[1], { proto: 'tcp', sport: 8080, dport: 1025, flags: 'SA', ack: 2 }));
    expect(hex(rb)).toBe(hex(ip(VIP, CLIENT, { proto: 'tcp', sport: 80, dport: 42001, flags: 'SA', ack: 2 }, { ttl: 63 })));
    // a reply to a port nobody holds is not ours
    expect(e.processFrame(ip(RS[0], LADDR[1], { proto: 'tcp', sport: 8080, dport: 1026, flags: 'A' }), 1000).verdict).toBe('PASS');
    e.delLaddr(key, LADDR[0]);
    e.delLaddr(key, LADDR[1]);
    expect(e.laddrs(key)).toEqual([]);
    // existing conns keep their (deleted) laddr until they go
    expect(xmit(e, ip(RS[0], LADDR[0], { proto: 'tcp', sport: 8080, dport: 1025, flags: 'SA', ack: 2 })).length).toBe(40);
    const r = e.processFrame(ip(CLIENT, VIP, { proto: 'tcp', sport: 42002, dport: 80, flags: 'S' }), 1000);
    expect(r).toMatchObject({ verdict: 'DROP', reason: 'drop_fnat_no_laddr' });
    expect(() => e.addLaddr(key, '2001:2::9')).toThrow(/address family/);
    e.addLaddr(key, LADDR[0]);
    expect(() => e.addLaddr(key, LADDR[0])).toThrow(/already exists/);
  });
});

describe('FULLNAT UDP, IPv6, ICMP', () => {
  test('UDP both ways, checksums recomputed independently', async () => {
    const e = await fnat({ proto: 'UDP' });
    const q = xmit(e, ip(CLIENT, VIP, { proto: 'udp', sport: 5353, dport: 80, payload: text('query') }));
    expect(hex(q)).toBe(hex(ip(LADDR[0], RS[0], { proto: 'udp', sport: 1025, dport: 8080, payload: text('query') }, { ttl: 63 })));
    const a = xmit(e, ip(RS[0], LADDR[0], { proto: 'udp', sport: 8080, dport: 1025, payload: text('answer') }));
    expect(hex(a)).toBe(hex(ip(VIP, CLIENT, { proto: 'udp', sport: 80, dport: 5353, payload: text('answer') }, { ttl: 63 })));
    // a zero IPv4 UDP checksum stays zero
    const z = xmit(e, ip(CLIENT, VIP, { proto: 'udp', sport: 5353, dport: 80, payload: text('q2'), zeroCsum: true }));
    expect(hex(z)).toBe(hex(ip(LADDR[0], RS[0], { proto: 'udp', sport: 1025, dport: 8080, payload: text('q2'), zeroCsum: true }, { ttl: 63 })));
  });

  test('IPv6: TOA of 20 bytes with the client address', async () => {
    const e = await engine();
    const k = { proto: 'TCP', addr: VIP6, port: 80 } as const;
    e.addService({ ...k, sched: 'rr' });
    e.addDest(k, { addr: RS6[0], port: 8080, fwd: 'FullNat' });
    e.addLaddr(k, LADDR6);
    xmit(e, ip(CLIENT6, VIP6, { proto: 'tcp', sport: 40000, dport: 80, flags: 'S', seq: 1, options: new Uint8Array(MSS(1440)) }));
    const sa = xmit(e, ip(RS6[0], LADDR6, { proto: 'tcp', sport: 8080, dport: 1025, flags: 'SA', seq: 9, ack: 2, options: new Uint8Array(MSS(1440)) }));
    expect(hex(sa)).toBe(hex(ip(VIP6, CLIENT6, { proto: 'tcp', sport: 80, dport: 40000, flags: 'SA', seq: 9, ack: 2, options: new Uint8Array(MSS(1420)) }, { ttl: 63 })));
    const a = xmit(e, ip(CLIENT6, VIP6, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A', seq: 2, ack: 10 }));
    expect(hex(a)).toBe(hex(ip(LADDR6, RS6[0], { proto: 'tcp', sport: 1025, dport: 8080, flags: 'A', seq: 2, ack: 10, options: toa6(40000, CLIENT6) }, { ttl: 63 })));
  });

  test('ICMP errors both ways are translated through laddr', async () => {
    const e = await fnat({ proto: 'UDP' });
    const fwd = xmit(e, ip(CLIENT, VIP, { proto: 'udp', sport: 5353, dport: 80, payload: text('q') }));
    // the real server says port unreachable about what it got (laddr:1025 → RS:8080)
    const err = ip(RS[0], LADDR[0], { proto: 'icmp', type: 3, code: 3, payload: fwd });
    const out = xmit(e, err);
    const quoted = ip(CLIENT, VIP, { proto: 'udp', sport: 5353, dport: 80, payload: text('q') }, { ttl: 63 });
    // outer VIP → client, the quoted packet back as the client sent it (its UDP checksum untouched)
    const want = ip(VIP, CLIENT, { proto: 'icmp', type: 3, code: 3, payload: cat(quoted.subarray(0, 26), fwd.subarray(26, 28), quoted.subarray(28)) }, { ttl: 63 });
    expect(hex(out)).toBe(hex(want));
    // the client complains about a reply (VIP:80 → client:5353): to the real server, as laddr
    const rep = xmit(e, ip(RS[0], LADDR[0], { proto: 'udp', sport: 8080, dport: 1025, payload: text('a') }));
    const out2 = xmit(e, ip(CLIENT, VIP, { proto: 'icmp', type: 3, code: 3, payload: rep }));
    expect([...out2.subarray(12, 16)].join('.') + ' ' + [...out2.subarray(16, 20)].join('.')).toBe(`${LADDR[0]} ${RS[0]}`);
    const inner = out2.subarray(28);
    expect([...inner.subarray(12, 16)].join('.') + ':' + ((inner[20] << 8) | inner[21])).toBe(`${RS[0]}:8080`);
    expect([...inner.subarray(16, 20)].join('.') + ':' + ((inner[22] << 8) | inner[23])).toBe(`${LADDR[0]}:1025`);
  });
});
