/*
 * The in/out paths' rules that are not the state table: what schedules, conn reuse, deleted and
 * quiesced servers (expire_nodest_conn), a full conn table, statistics, per-conn bytes.
 */
import { describe, test, expect } from 'vitest';
import { natEngine, VIP, CLIENT, RS } from '../../helpers/engine.ts';
import { ip, fields, checkPacket } from '../../helpers/pkt.ts';

const syn = (sport: number, src = CLIENT) => ip(src, VIP, { proto: 'tcp', sport, dport: 80, flags: 'S' });
const inp = (sport: number, flags: string, payload?: Uint8Array) => ip(CLIENT, VIP, { proto: 'tcp', sport, dport: 80, flags, payload });
const out = (sport: number, flags: string, rs = RS[0], payload?: Uint8Array) => ip(rs, CLIENT, { proto: 'tcp', sport: 8080, dport: sport, flags, payload });

describe('scheduling a new conn (tcp_conn_schedule, ip_vs_schedule)', () => {
  test('only a SYN without RST schedules; the local stack resets the others (a RST gets nothing)', async () => {
    const { e } = await natEngine();
    for (const f of ['A', 'FA', 'R', 'SR', 'PA', '']) {
      expect(e.processFrame(inp(1000, f), 1).verdict, f).toBe(f.includes('R') ? 'PASS' : 'LOCAL');
    }
    expect(e.conns()).toHaveLength(0);
    expect(e.counters().pass_no_conn).toBe(6n);
    expect(e.counters().tcp_reset_sent).toBe(4n);
    e.set('localAnswers', false);
    expect(e.processFrame(inp(1000, 'A'), 1).verdict).toBe('PASS');
    e.set('sloppyTcp', true);
    expect(e.processFrame(inp(1001, 'A'), 2).verdict).toBe('XMIT');
    expect(e.conns()[0].state).toBe('ESTABLISHED');
  });
  test('client source port 20 (active FTP data) is never scheduled', async () => {
    const { e } = await natEngine();
    expect(e.processFrame(syn(20), 1).verdict).toBe('LOCAL');    // the local stack's RST
    expect(e.conns()).toHaveLength(0);
  });
  test('a VIP port with no service gets the local stack\'s RST; an address that is no VIP is forwarded untouched (PASS)', async () => {
    const { e } = await natEngine();
    expect(e.processFrame(ip(CLIENT, VIP, { proto: 'tcp', sport: 1, dport: 81, flags: 'S' }), 1).verdict).toBe('LOCAL');
    expect(e.processFrame(ip(CLIENT, '198.18.9.9', { proto: 'tcp', sport: 1, dport: 80, flags: 'S' }), 1).verdict).toBe('PASS');
  });
  test('a SYN on a TIME_WAIT conn reschedules (conn_reuse_mode 1); with reuse off it stays', async () => {
    const { e } = await natEngine({ dests: [{ addr: RS[0] }, { addr: RS[1] }] });
    const path = () => { e.processFrame(syn(2000), 1); e.processFrame(out(2000, 'SA', fields(e.output(0)).dst), 2); };
    e.processFrame(syn(2000), 1);
    const first = fields(e.output(0)).dst;
    e.processFrame(out(2000, 'SA', first), 2);
    e.processFrame(inp(2000, 'A'), 3);
    e.processFrame(inp(2000, 'FA'), 4);
    e.processFrame(out(2000, 'FA', first), 5);
    expect(e.conns()[0].state).toBe('TIME_WAIT');
    const r = e.processFrame(syn(2000), 6);
    expect(fields(r.data).dst).not.toBe(first);        // rr moved on: a new conn, a new server
    expect(e.conns().map((c) => c.state)).toEqual(['SYN_RECV']);
    expect(e.counters().conn_rescheduled).toBe(1n);
    void path;
  });
});

describe('deleted and quiesced real servers', () => {
  test('deleted dest, expire_nodest_conn off: packets of its conns are dropped, the conn stays', async () => {
    const { e, key } = await natEngine({ dests: [{ addr: RS[0] }, { addr: RS[1] }] });
    e.processFrame(syn(3000), 1);                                  // → RS[1] (newest first)
    expect(fields(e.output(0)).dst).toBe(RS[1]);
    e.delDest(key, { addr: RS[1], port: 8080 });
    const r = e.processFrame(inp(3000, 'A'), 2);
    expect(r).toMatchObject({ verdict: 'DROP', reason: 'drop_dest_unavailable' });
    expect(e.conns()).toHaveLength(1);
    expect(e.services()[0].dests.map((d) => d.addr)).toEqual([RS[0]]);
    // the conn still names its (trashed) dest and its service by engine index
    const c = e.conns()[0];
    expect(e.conn(c.index)).toEqual(c);
    expect(e.dest(c.dest)).toMatchObject({ addr: RS[1], port: 8080, activeconns: 1 });
    expect(e.service(c.svc)).toMatchObject({ proto: 'TCP', addr: VIP, port: 80 });
    expect([e.service(0), e.service(c.svc + 1), e.dest(0), e.dest(1 << 20)]).toEqual([undefined, undefined, undefined, undefined]);
  });
  test('deleted dest, expire_nodest_conn on: the conn expires and a SYN is scheduled anew', async () => {
    const { e, key } = await natEngine({ dests: [{ addr: RS[0] }, { addr: RS[1] }] });
    e.set('expireNodestConn', true);
    e.processFrame(syn(3001), 1);
    e.delDest(key, { addr: RS[1], port: 8080 });
    expect(e.processFrame(inp(3001, 'A'), 2).verdict).toBe('LOCAL');    // no conn, not a SYN: RST
    expect(e.conns()).toHaveLength(0);
    const r = e.processFrame(syn(3001), 3);
    expect(fields(r.data).dst).toBe(RS[0]);
  });
  test('re-adding a deleted dest that still has conns brings it back with its counters (trash)', async () => {
    const { e, key } = await natEngine({ dests: [{ addr: RS[0] }] });
    e.processFrame(syn(3002), 1);
    e.delDest(key, { addr: RS[0], port: 8080 });
    e.addDest(key, { addr: RS[0], port: 8080, fwd: 'Masq' });
    expect(e.services()[0].dests[0]).toMatchObject({ activeconns: 1 });
    expect(e.processFrame(inp(3002, 'A'), 2).verdict).toBe('XMIT');
  });
  test('quiesced (weight 0), expire_nodest_conn on: a new SYN on an old conn is rescheduled', async () => {
    const { e, key } = await natEngine({ dests: [{ addr: RS[0] }, { addr: RS[1] }] });
    e.set('expireNodestConn', true);
    e.processFrame(syn(3003), 1);
    e.editDest(key, { addr: RS[1], port: 8080, weight: 0 });
    expect(e.processFrame(inp(3003, 'A'), 2).verdict).toBe('XMIT');  // its flow goes on
    expect(fields(e.processFrame(syn(3003), 3).data).dst).toBe(RS[0]);
  });
  test('service deletion: the address is no VIP any more, its old conns forward nothing and expire', async () => {
    const { e, key } = await natEngine();
    e.processFrame(syn(3004), 1);
    e.delService(key);
    expect(e.processFrame(inp(3004, 'A'), 2).verdict).toBe('PASS');
    expect(e.services()).toEqual([]);
    expect(e.tick(10 * 60_000)).toBe(1);
  });
});

describe('conn table full', () => {
  test('a table full of established conns refuses new conns with a counted drop; existing flows and state intact', async () => {
    // (a half-open conn would give its record to the new one: test/unit/core/defense.test.ts)
    const { e } = await natEngine({ cfg: { connMax: 8 } });
    for (let i = 0; i < 8; i++) expect(e.processFrame(syn(4000 + i), 1).verdict).toBe('XMIT');
    for (let i = 0; i < 8; i++) if (i !== 3) expect(e.processFrame(inp(4000 + i, 'A'), 1).verdict).toBe('XMIT');
    expect(e.processFrame(syn(4999), 1).verdict).toBe('XMIT');   // took 4003's record, the one half-open
    expect(e.processFrame(inp(4999, 'A'), 1).verdict).toBe('XMIT');
    const before = e.conns().map((c) => `${c.cport} ${c.state}`).sort();
    expect(before.every((c) => c.endsWith('ESTABLISHED'))).toBe(true);
    const r = e.processFrame(syn(5000), 2);
    expect(r).toMatchObject({ verdict: 'DROP', reason: 'drop_conn_table_full' });
    expect(e.counters().drop_conn_table_full).toBe(1n);
    expect(e.conns().map((c) => `${c.cport} ${c.state}`).sort()).toEqual(before);
    expect(e.processFrame(inp(4002, 'A'), 3).verdict).toBe('XMIT');
    // after expiry (ESTABLISHED: 15 minutes) the records come back to the pool
    expect(e.tick(3 + 900_000)).toBe(8);
    expect(e.processFrame(syn(5000), 900_010).verdict).toBe('XMIT');
  });
});

describe('statistics', () => {
  test('conns/pkts/bytes per service, dest, global and per conn (IP lengths, as ip_vs_in/out_stats)', async () => {
    const { e } = await natEngine();
    const a = syn(6000), b = out(6000, 'SA'), c = inp(6000, 'PA', new Uint8Array(100)), d = out(6000, 'PA', RS[0], new Uint8Array(1000));
    [a, b, c, d].forEach((f, i) => expect(e.processFrame(f, i + 1).verdict).toBe('XMIT'));
    const want = { conns: 1n, inpkts: 2n, outpkts: 2n, inbytes: BigInt(a.length + c.length), outbytes: BigInt(b.length + d.length) };
    const s = e.services()[0];
    expect(s.stats).toEqual(want);
    expect(s.dests[0].stats).toEqual(want);
    expect(e.globalStats()).toEqual(want);
    expect(e.conns()[0]).toMatchObject({ inpkts: 2, outpkts: 2, inbytes: want.inbytes, outbytes: want.outbytes });
  });
});

describe('NAT details', () => {
  test('TTL 1 on the way in: dropped, ICMP time exceeded from the VIP (decrement_ttl)', async () => {
    const { e } = await natEngine();
    const r = e.processFrame(ip(CLIENT, VIP, { proto: 'tcp', sport: 7000, dport: 80, flags: 'S' }, { ttl: 1 }), 1);
    expect(r.verdict).toBe('LOCAL');
    const f = fields(r.data);
    expect(f).toMatchObject({ src: VIP, dst: CLIENT, proto: 1 });
    expect([f.l4[0], f.l4[1]]).toEqual([11, 0]);
    expect(checkPacket(r.data)).toEqual([]);
    expect(e.counters().drop_ttl_exceeded).toBe(1n);
  });
  test('IPv4 options are carried and the header checksum stays right', async () => {
    const { e } = await natEngine();
    const p = syn(7001);
    const q = new Uint8Array(p.length + 4);          // add a 4-byte option (NOP NOP NOP EOL)
    q.set(p.subarray(0, 20)); q.set([1, 1, 1, 0], 20); q.set(p.subarray(20), 24);
    q[0] = 0x46; q[3] += 4; q[10] = 0; q[11] = 0;
    let s = 0; for (let i = 0; i < 24; i += 2) s += (q[i] << 8) | q[i + 1];
    while (s > 0xffff) s = (s & 0xffff) + (s >> 16);
    q[10] = (~s >> 8) & 0xff; q[11] = ~s & 0xff;
    const r = e.processFrame(q, 1);
    expect(r.verdict).toBe('XMIT');
    expect(checkPacket(r.data)).toEqual([]);
    expect(fields(r.data)).toMatchObject({ dst: RS[0], dport: 8080 });
  });
  test('echo request to the VIP is answered; off by setting', async () => {
    const { e } = await natEngine();
    const r = e.processFrame(ip(CLIENT, VIP, { proto: 'icmp', type: 8, rest: 0x12340001, payload: new Uint8Array([1, 2, 3]) }), 1);
    expect(r.verdict).toBe('LOCAL');
    expect(fields(r.data)).toMatchObject({ src: VIP, dst: CLIENT });
    expect(r.data[20]).toBe(0);
    expect(checkPacket(r.data)).toEqual([]);
    e.set('icmpEcho', false);
    expect(e.processFrame(ip(CLIENT, VIP, { proto: 'icmp', type: 8 }), 2).verdict).toBe('PASS');
  });
});

describe('conn records for the host', () => {
  test('a slot names its conn; conn(index) reads it, with its method; gone after expiry', async () => {
    const { e } = await natEngine();
    const r = e.processFrame(syn(8000), 1);
    expect(r.conn).toBeGreaterThan(0);
    expect(e.conn(r.conn)).toMatchObject({ index: r.conn, cport: 8000, daddr: RS[0], fwd: 'Masq', state: 'SYN_RECV', inpkts: 1 });
    expect(e.conns()).toEqual([e.conn(r.conn)]);
    expect(e.conn(0)).toBeUndefined();
    expect(e.conn(r.conn + 1)).toBeUndefined();
    e.tick(1 + 60_000);
    expect(e.conn(r.conn)).toBeUndefined();
  });
});
