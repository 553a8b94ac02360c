/*
 * Table limits and growth (issue 13): the tables start small and grow between batches up to
 * the limits (--svc-max, --dest-max, --conn-max); a full table's error names the table and the
 * option; counters and scheduler state belong to the service and dest they count, so a reused
 * record starts from zero while a dest in the trash keeps its counters (ip_vs_trash_get_dest).
 */
import { describe, test, expect } from 'vitest';
import { engine, natEngine, VIP, CLIENT, RS } from '../../helpers/engine.ts';
import { ip, fields } from '../../helpers/pkt.ts';
import { parseRunArgs } from '../../../host/director/run.ts';
import { parseReplayArgs } from '../../../host/replay/cli.ts';
import { replayEngineConfig } from '../../../host/replay/replay.ts';
import { applyRules } from '../../../host/replay/rules.ts';

const udp = (sport: number) => ip(CLIENT, VIP, { proto: 'udp', sport, dport: 53 });
const syn = (sport: number, dport = 53) => ip(CLIENT, VIP, { proto: 'tcp', sport, dport, flags: 'S' });
const ack = (sport: number) => ip(CLIENT, VIP, { proto: 'tcp', sport, dport: 80, flags: 'A', seq: 2 });
const synAck = (rs: string, sport: number) => ip(rs, CLIENT, { proto: 'tcp', sport: 8080, dport: sport, flags: 'SA' });

describe('counters belong to the service and dest they count', () => {
  test('delete a UDP service with conns, add a TCP service on the same VIP:port: its dests start at 0 (lc chooses as on fresh dests)', async () => {
    const e = await engine();
    const u = { proto: 'UDP', addr: VIP, port: 53 } as const;
    e.addService({ ...u, sched: 'rr' });
    e.addDest(u, { addr: RS[0], port: 53, fwd: 'Masq' });
    for (const p of [5001, 5002, 5003]) expect(e.processFrame(udp(p), 1).verdict).toBe('XMIT');
    expect(e.services()[0].dests[0]).toMatchObject({ inactconns: 3 });
    e.delService(u);
    const t = { proto: 'TCP', addr: VIP, port: 53 } as const;
    e.addService({ ...t, sched: 'lc' });
    e.addDest(t, { addr: RS[1], port: 53, fwd: 'Masq' });
    e.addDest(t, { addr: RS[0], port: 53, fwd: 'Masq' });   // newest first: RS[0] is lc's first candidate
    const d0 = e.services()[0].dests.find((d) => d.addr === RS[0])!;
    expect([d0.activeconns, d0.inactconns, d0.persistconns, d0.stats.conns]).toEqual([0, 0, 0, 0n]);
    // with the UDP server's InActConn 3 carried over, lc would pick RS[1]
    expect(fields(e.processFrame(syn(6000), 2).data).dst).toBe(RS[0]);
    // the old UDP conns still count against the deleted (trashed) dest, not the new one
    expect(e.conns().filter((c) => c.proto === 'UDP')).toHaveLength(3);
    expect(e.services()[0].stats.conns).toBe(1n);
  });
  test('-C then the same service again: the dest comes back from the trash with its counters, as the kernel\'s does', async () => {
    const e = await engine();
    const u = { proto: 'UDP', addr: VIP, port: 53 } as const;
    e.addService({ ...u, sched: 'rr' });
    e.addDest(u, { addr: RS[0], port: 53, fwd: 'Masq' });
    for (const p of [5001, 5002]) e.processFrame(udp(p), 1);
    e.clear();
    e.addService({ ...u, sched: 'rr' });
    e.addDest(u, { addr: RS[0], port: 53, fwd: 'Masq' });
    expect(e.services()[0].dests[0]).toMatchObject({ inactconns: 2 });
    expect(e.services()[0].dests[0].stats.conns).toBe(2n);
    // once those conns expire the trash is empty: the next add-after-delete is fresh
    e.tick(10 * 60_000);
    e.delService(u);
    e.addService({ ...u, sched: 'rr' });
    e.addDest(u, { addr: RS[0], port: 53, fwd: 'Masq' });
    expect(e.services()[0].dests[0]).toMatchObject({ inactconns: 0 });
    expect(e.services()[0].dests[0].stats.conns).toBe(0n);
  });
  test('a deleted dest re-added to its service while its conns live keeps them (trash), another service\'s same address does not', async () => {
    const { e, key } = await natEngine({ proto: 'TCP', dests: [{ addr: RS[0] }] });
    e.processFrame(ip(CLIENT, VIP, { proto: 'tcp', sport: 7000, dport: 80, flags: 'S' }), 1);
    e.delDest(key, { addr: RS[0], port: 8080 });
    const other = { proto: 'TCP', addr: VIP, port: 81 } as const;
    e.addService({ ...other, sched: 'rr' });
    e.addDest(other, { addr: RS[0], port: 8080, fwd: 'Masq' });
    const conns = (port: number) => { const d = e.services().find((s) => s.port === port)!.dests[0]; return [d.activeconns, d.inactconns, d.stats.conns]; };
    expect(conns(81)).toEqual([0, 0, 0n]);
    e.addDest(key, { addr: RS[0], port: 8080, fwd: 'Masq' });
    expect(conns(80)).toEqual([1, 0, 1n]);
  });
});

describe('tables grow between batches up to their limits', () => {
  test('conns: a 16-record table grows to 256 as conns arrive; every conn stays findable both ways; at the limit new conns are refused and counted', async () => {
    const { e } = await natEngine({ cfg: { connInit: 16, connMax: 256, slots: 8 } });
    expect(e.capacity('conn')).toBe(16);
    for (let i = 0; i < 200; i++) expect(e.processFrame(syn(10000 + i, 80), 1).verdict).toBe('XMIT');
    expect(e.capacity('conn')).toBeGreaterThanOrEqual(200);
    expect(e.connCount()).toBe(200);
    // out path (out keys) and in path (in keys) for every conn, in the index rebuilt at each growth
    for (let i = 0; i < 200; i++) {
      const r = e.processFrame(synAck(RS[0], 10000 + i), 2);
      expect(r.verdict, `reply ${i}`).toBe('XMIT');
      expect(fields(r.data).src).toBe(VIP);
      expect(e.processFrame(ack(10000 + i), 3).verdict).toBe('XMIT');
    }
    expect(e.connCount()).toBe(200);
    expect(e.conns().filter((c) => c.state === 'ESTABLISHED')).toHaveLength(200);
    for (let i = 200; i < 256; i++) expect(e.processFrame(syn(10000 + i, 80), 4).verdict).toBe('XMIT');
    expect(e.capacity('conn')).toBe(256);
    expect(e.connTabSize()).toBe(256);   // ipvsadm's size= (the kernel's conn_tab_size form)
    expect(e.capacity('connIndex')).toBe(60);   // index buckets of 15 entries: 256 conns × 15/64 (layout.ts connIdxBucketsFor)
    expect(e.capacity('connOverflow')).toBe(8);   // 256 / 64 overflow buckets but at least 8 (and the pool's header)
    // full: a new conn takes the oldest half-open one's record (defense.ts); with every conn
    // established there is none, and it is refused
    expect(e.processFrame(syn(20000, 80), 5).verdict).toBe('XMIT');
    expect(e.conns().some((c) => c.cport === 10200)).toBe(false);
    for (let i = 201; i < 256; i++) e.processFrame(ack(10000 + i), 5);
    e.processFrame(ack(20000), 5);
    expect(e.processFrame(syn(20001, 80), 6)).toMatchObject({ verdict: 'DROP', reason: 'drop_conn_table_full' });
    expect(e.counters().drop_conn_table_full).toBe(1n);
    expect(e.counters().conn_half_open_reclaimed).toBe(1n);
  });
  test('services and dests grow past their initial sizes; at the limit the error names the table and the option', async () => {
    const e = await engine({ svcMax: 100, destMax: 150, svcInit: 8, destInit: 8 });
    for (let i = 0; i < 100; i++) {
      e.addService({ proto: 'TCP', addr: VIP, port: 1000 + i, sched: 'wlc' });
      if (i < 75) for (const rs of RS.slice(0, 2)) e.addDest({ proto: 'TCP', addr: VIP, port: 1000 + i }, { addr: rs, port: 80, fwd: 'Masq' });
    }
    expect(() => e.addService({ proto: 'TCP', addr: VIP, port: 2000 })).toThrow('service table full (100 services; raise --svc-max)');
    expect(() => e.addDest({ proto: 'TCP', addr: VIP, port: 1099 }, { addr: RS[0], port: 80 })).toThrow('dest table full (150 dests; raise --dest-max)');
    const all = e.services();
    expect(all).toHaveLength(100);
    expect(all.reduce((n, s) => n + s.dests.length, 0)).toBe(150);
    // every service still forwards to its own dests after the moves
    const r = e.processFrame(syn(3000, 1074), 1);
    expect(r.verdict).toBe('XMIT');
    expect(e.conns()[0]).toMatchObject({ vport: 1074, dport: 80 });
  });
  test('at the ceiling the text says so: 65535 dests are the most an index can name', async () => {
    const e = await engine();
    expect(e.tableFullText('dest')).toBe('dest table full (65535 dests; 65535 is the most wasmvs can hold)');
  });
  test('mh/lblc/lblcr take big scheduler areas from a pool that grows; 300 mh services schedule, rr ones cost none', async () => {
    const e = await engine({ svcInit: 4 });
    for (let i = 0; i < 300; i++) {
      const k = { proto: 'TCP', addr: VIP, port: 1000 + i } as const;
      e.addService({ ...k, sched: i % 2 ? 'mh' : 'rr' });
      e.addDest(k, { addr: RS[i % 3], port: 80, fwd: 'Masq' });
    }
    expect(e.capacity('big')).toBeGreaterThanOrEqual(150);
    expect(e.capacity('big')).toBeLessThan(300);
    for (const i of [1, 151, 299]) {
      const r = e.processFrame(syn(4000 + i, 1000 + i), 1);
      expect(r.verdict).toBe('XMIT');
      expect(fields(r.data).dst).toBe(RS[i % 3]);
    }
    // an rr service edited to lblcr takes an area (its table starts empty), back to rr gives it back
    const k = { proto: 'TCP', addr: VIP, port: 1000 } as const;
    e.editService({ ...k, sched: 'lblcr' });
    expect(e.processFrame(syn(5000, 1000), 2).verdict).toBe('XMIT');
    e.editService({ ...k, sched: 'rr' });
    expect(e.processFrame(syn(5001, 1000), 3).verdict).toBe('XMIT');
  });
});

describe('many services on one address (NodePorts)', () => {
  test('5,000 TCP services on one VIP plus fwmark services: each found by its own hash chain; the VIP is local for any port', async () => {
    const e = await engine();
    const t0 = performance.now();
    for (let i = 0; i < 5000; i++) {
      const k = { proto: 'TCP', addr: VIP, port: 30000 + i } as const;
      e.addService({ ...k, sched: 'rr' });
      e.addDest(k, { addr: RS[i % 3], port: 8080, fwd: 'Masq' });
    }
    for (let m = 1; m <= 50; m++) { e.addService({ fwmark: m, af: 4, sched: 'rr' }); e.addDest({ fwmark: m, af: 4 }, { addr: RS[0], port: 80, fwd: 'Masq' }); }
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(20_000);
    for (const i of [0, 2500, 4999]) {
      const r = e.processFrame(syn(40000 + i, 30000 + i), 1);
      expect(r.verdict).toBe('XMIT');
      expect(fields(r.data).dst).toBe(RS[i % 3]);
    }
    // a port of the VIP without a service: the VIP is still a local address, whose stack answers a RST
    expect(e.processFrame(syn(40001, 29999), 1).verdict).toBe('LOCAL');
    expect(e.counters().tcp_reset_sent).toBe(1n);
    e.delService({ proto: 'TCP', addr: VIP, port: 32500 });
    expect(e.serviceIndex({ proto: 'TCP', addr: VIP, port: 32500 })).toBe(0);
    expect(e.serviceIndex({ proto: 'TCP', addr: VIP, port: 32501 })).not.toBe(0);
    expect(e.serviceIndex({ fwmark: 37, af: 4 })).not.toBe(0);
    expect(e.serviceIndex({ fwmark: 37, af: 6 })).toBe(0);
  });
});

describe('wasmvs replay sizes its tables from the rules', () => {
  test('a rules file of 1,000 services × 3 real servers loads with the defaults (412 used to fail at 256)', async () => {
    const e = await engine(replayEngineConfig(8));
    const lines: string[] = [];
    for (let i = 0; i < 1000; i++) {
      lines.push(`-A -t 198.18.${i >> 8}.${i & 255}:80 -s ${i % 3 ? 'wlc' : 'mh'}`);
      for (let j = 1; j <= 3; j++) lines.push(`-a -t 198.18.${i >> 8}.${i & 255}:80 -r 198.19.${j}.${i & 255}:8080 -m`);
    }
    expect(applyRules(e, lines.join('\n') + '\n')).toBe(4000);
    expect(e.capacity('svc')).toBe(1000);     // sized from the file at once
    expect(e.capacity('dest')).toBe(3000);
    expect(e.services()).toHaveLength(1000);
    const r = e.processFrame(ip(CLIENT, '198.18.3.231', { proto: 'tcp', sport: 999, dport: 80, flags: 'S' }), 1);
    expect(r.verdict).toBe('XMIT');
    expect(fields(r.data).dst).toMatch(/^198\.19\.[123]\.231$/);
  });
});

describe('limit options: out of range names the option and the range', () => {
  test('engine', async () => {
    await expect(engine({ connMax: 0 })).rejects.toThrow('--conn-max must be an integer from 1 to 16777216 (conn table limit), got 0');
    await expect(engine({ svcMax: 70000 })).rejects.toThrow('--svc-max must be an integer from 1 to 65535 (service table limit), got 70000');
  });
  test('wasmvs run and wasmvs replay', () => {
    expect(parseRunArgs(['--svc-max', '1000', '--dest-max', '5000', '--conn-max', '4000000'])).toMatchObject({ svcMax: 1000, destMax: 5000, connMax: 4000000 });
    expect(() => parseRunArgs(['--conn-max', '99999999'])).toThrow('--conn-max must be an integer from 1 to 16777216 (conn table limit), got 99999999');
    expect(() => parseRunArgs(['--dest-max', 'many'])).toThrow('--dest-max must be an integer from 1 to 65535 (dest table limit), got many');
    expect(parseReplayArgs(['a.pcap', '--rules', 'r', '--svc-max', '500', '--conns', '1000'])).toMatchObject({ svcMax: 500, connMax: 1000 });
    expect(() => parseReplayArgs(['a.pcap', '--rules', 'r', '--svc-max', '0'])).toThrow('--svc-max must be an integer from 1 to 65535');
  });
});
