/*
 * A batch group's new out keys are entered together at the group's end (conn/table.ts
 * connOutDefer / connOutFlush: their cache misses overlap). Nothing in the batch may see the
 * difference: each case runs one batch through an engine that queues (the stages forced on, as
 * on a table of ≥ 65,536 conns) and one that does not, and the two must answer byte for byte
 * alike, and as the kernel would: a reply right behind its SYN, FULLNAT's port choice, equal out
 * keys (newest first), conns created and expired inside the batch, a pool running out.
 */
import { describe, test, expect } from 'vitest';
import { engine, VIP, CLIENT, RS } from '../../helpers/engine.ts';
import { ip, fields } from '../../helpers/pkt.ts';
import { connHash, bucketOf } from '../../helpers/connhash.ts';
import type { Engine } from '../../../host/engine.ts';
import { SVC_F_ONEPACKET } from '../../../host/types.ts';

/** CTL_CONN_STAGES (layout.ts; a bench knob): 1 no stages, no queue; 3 | group << 8 stages and the queue. */
function setStages(e: Engine, mode: number): void {
  const inner = e as unknown as { ex: { regionBase(i: number): number | bigint }; c: Record<string, number> };
  new DataView(e.memory.buffer).setUint32(Number(inner.ex.regionBase(0)) + inner.c.CTL_CONN_STAGES, mode, true);
}
const QUEUE = 3, PLAIN = 1;   // 3: the whole batch one group

/** One batch: verdicts, reasons and output bytes. */
function batch(e: Engine, frames: Uint8Array[], now: number) {
  frames.forEach((f, i) => e.writeFrame(i, f));
  e.process(frames.length, now);
  return frames.map((_, i) => ({ ...e.result(i), data: e.output(i) }));
}
/** The same engine set-up twice, one queueing; every batch through both must come out alike. */
async function pair(cfg: Parameters<typeof engine>[0], setup: (e: Engine) => void) {
  const q = await engine({ slots: 64, ...cfg }), p = await engine({ slots: 64, ...cfg });
  setup(q); setup(p);
  setStages(q, QUEUE); setStages(p, PLAIN);
  return (frames: Uint8Array[], now: number) => {
    const a = batch(q, frames, now), b = batch(p, frames, now);
    expect(a.map((r) => [r.verdict, r.reason, Buffer.from(r.data).toString('hex')])).toEqual(b.map((r) => [r.verdict, r.reason, Buffer.from(r.data).toString('hex')]));
    expect(q.conns()).toEqual(p.conns());
    return { r: a, q, p };
  };
}
const tcpKey = { proto: 'TCP', addr: VIP, port: 80 } as const;
const client = (i: number) => `198.19.${i >> 8}.${i & 255}`;

describe('out keys queued in a batch group are seen by everything later in the batch', () => {
  test('NAT: each SYN-ACK right behind its SYN in the same batch finds the conn (un-NATed to the VIP)', async () => {
    const run = await pair({}, (e) => { e.addService({ ...tcpKey, sched: 'rr' }); e.addDest(tcpKey, { addr: RS[0], port: 8080, fwd: 'Masq' }); });
    const frames: Uint8Array[] = [];
    for (let i = 1; i <= 30; i++) {
      frames.push(ip(client(i), VIP, { proto: 'tcp', sport: 40000 + i, dport: 80, flags: 'S', seq: 1 }));
      frames.push(ip(RS[0], client(i), { proto: 'tcp', sport: 8080, dport: 40000 + i, flags: 'SA', seq: 9, ack: 2 }));
    }
    const { r } = run(frames, 1000);
    for (let i = 1; i <= 30; i++) {
      expect(r[2 * i - 2].verdict).toBe('XMIT');
      expect(r[2 * i - 1].verdict, `reply ${i}`).toBe('XMIT');
      expect(fields(r[2 * i - 1].data)).toMatchObject({ src: VIP, sport: 80, dst: client(i), dport: 40000 + i });
    }
  });

  test('FULLNAT: 4 local ports, 6 SYNs in one batch: the port choice sees the ports taken earlier in the batch (then no port: drop_fnat_no_port)', async () => {
    const run = await pair({}, (e) => {
      e.addService({ ...tcpKey, sched: 'rr' });
      e.addDest(tcpKey, { addr: RS[0], port: 8080, fwd: 'FullNat' });
      e.addLaddr(tcpKey, '198.18.2.1');
      e.setFnatPortRange(1025, 1028);
    });
    const { r, q } = run(Array.from({ length: 6 }, (_, i) => ip(client(i + 1), VIP, { proto: 'tcp', sport: 5000, dport: 80, flags: 'S', seq: 1 })), 1000);
    expect(r.slice(0, 4).map((x) => fields(x.data).sport)).toEqual([1025, 1026, 1027, 1028]);
    expect(r.slice(4).map((x) => x.verdict)).toEqual(['DROP', 'DROP']);
    expect(q.conns()).toHaveLength(4);
    // the replies, next batch: each to its own client
    const { r: back } = run([1025, 1026, 1027, 1028].map((p) => ip(RS[0], '198.18.2.1', { proto: 'tcp', sport: 8080, dport: p, flags: 'SA', seq: 9, ack: 2 })), 1001);
    expect(back.map((x) => fields(x.data).dst)).toEqual([1, 2, 3, 4].map(client));
  });

  test('equal out keys (one client port to two VIPs, one real server) in one batch: the reply finds the newest conn', async () => {
    const k = { proto: 'UDP', addr: VIP, port: 53 } as const, k2 = { proto: 'UDP', addr: '198.18.0.101', port: 53 } as const;
    const run = await pair({}, (e) => { for (const s of [k, k2]) { e.addService({ ...s, sched: 'rr' }); e.addDest(s, { addr: RS[0], port: 8080, fwd: 'Masq' }); } });
    const { r } = run([
      ip(CLIENT, VIP, { proto: 'udp', sport: 4000, dport: 53 }),
      ip(CLIENT, '198.18.0.101', { proto: 'udp', sport: 4000, dport: 53 }),
      ip(RS[0], CLIENT, { proto: 'udp', sport: 8080, dport: 4000 }),
    ], 1000);
    expect(fields(r[2].data).src).toBe('198.18.0.101');
  });

  test('one-packet UDP (ops): 3,000 conns created and expired inside their batches leave nothing behind in a 64-conn table', async () => {
    const k = { proto: 'UDP', addr: VIP, port: 53 } as const;
    const run = await pair({ connMax: 64, connInit: 64 }, (e) => { e.addService({ ...k, sched: 'rr', flags: SVC_F_ONEPACKET }); e.addDest(k, { addr: RS[0], port: 8080, fwd: 'Masq' }); });
    for (let b = 0; b < 47; b++) {
      const { r, q } = run(Array.from({ length: 64 }, (_, i) => ip(client(b * 64 + i), VIP, { proto: 'udp', sport: 7000, dport: 53 })), 1000 + b);
      expect(r.every((x) => x.verdict === 'XMIT')).toBe(true);
      expect(q.connCount()).toBe(0);
    }
  });

  test('a pool running out inside a batch: 90 conns whose keys share one bucket are refused exactly where entering them at once refuses them', async () => {
    const k = { proto: 'UDP', addr: VIP, port: 53 } as const;
    const run = await pair({ connMax: 128, connInit: 128, seed: 777, slots: 128 }, (e) => { e.addService({ ...k, sched: 'rr' }); e.addDest(k, { addr: RS[0], port: 8080, fwd: 'Masq' }); });
    const inB = (p: number) => bucketOf(connHash(777, 17, CLIENT, p, VIP, 53), 30);
    const outB = (p: number) => bucketOf(connHash(777, 17, RS[0], 8080, CLIENT, p), 30);
    const target = inB(10000);
    const sports: number[] = [];
    // 40 whose out key lands elsewhere, 50 whose out key lands there too: 140 entries for a chain of 15 + 8 × 15
    for (let p = 10000, single = 0; sports.length < 90; p++) {
      if (inB(p) !== target) continue;
      if (outB(p) === target) sports.push(p); else if (single < 40) { single++; sports.push(p); }
    }
    const { r, q } = run(sports.map((p) => ip(CLIENT, VIP, { proto: 'udp', sport: p, dport: 53 })), 1000);
    const refused = r.filter((x) => x.reason === 'drop_conn_index_full').length;
    expect(refused).toBeGreaterThan(0);
    expect(q.connCount()).toBe(90 - refused);
    // every conn made answers both ways
    const made = sports.filter((_, i) => r[i].verdict === 'XMIT');
    const { r: back } = run(made.map((p) => ip(RS[0], CLIENT, { proto: 'udp', sport: 8080, dport: p })), 1001);
    expect(back.every((x) => x.verdict === 'XMIT' && fields(x.data).src === VIP)).toBe(true);
  });
});
