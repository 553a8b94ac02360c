/*
 * The conn index (issue 20, assembly/conn/table.ts): 64-byte buckets of 15 entries (6 hash bits,
 * the direction, the conn index), an overflow pool of buckets for full ones, entries packed
 * newest first. The keys here are chosen with a copy of the engine's hash (helpers/connhash.ts)
 * so that many conns share one bucket: its overflow buckets take the 16th entry on, a conn that needs a bucket when
 * the pool is empty is refused and counted, expiring conns gives the bucket back, and every
 * conn stays findable in both directions throughout.
 */
import { describe, test, expect } from 'vitest';
import { engine, natEngine, VIP, CLIENT, RS } from '../../helpers/engine.ts';
import { ip, fields } from '../../helpers/pkt.ts';
import { connHash as hashOf, bucketOf as bucketIn } from '../../helpers/connhash.ts';

const SEED = 777;
const connHash = (proto: number, a1: string, p1: number, a2: string, p2: number) => hashOf(SEED, proto, a1, p1, a2, p2);

const CONNS = 128;
const BUCKETS = (CONNS * 15) >>> 6;          // layout.ts connIdxBucketsFor: 30
const POOL = 8;                               // connOvfBucketsFor: 128 / 64, but at least 8
const bucketOf = (h: number) => bucketIn(h, BUCKETS);
const UDP = 17;
const inBucket = (sport: number) => bucketOf(connHash(UDP, CLIENT, sport, VIP, 53));
const outBucket = (sport: number) => bucketOf(connHash(UDP, RS[0], 8080, CLIENT, sport));

const query = (sport: number) => ip(CLIENT, VIP, { proto: 'udp', sport, dport: 53 });
const answer = (sport: number) => ip(RS[0], CLIENT, { proto: 'udp', sport: 8080, dport: sport });

/**
 * What the index must do, modelled on bucket occupancy alone: a chain of n entries uses
 * ceil((n - 15) / 15) overflow buckets; a conn is refused when its two entries would need more
 * than the pool holds (POOL buckets besides the header).
 */
function model(sports: number[]): boolean[] {
  const n = new Array<number>(BUCKETS).fill(0);
  const used = () => n.reduce((s, c) => s + Math.max(0, Math.ceil((c - 15) / 15)), 0);
  return sports.map((p) => {
    n[inBucket(p)]++; n[outBucket(p)]++;
    if (used() <= POOL) return true;
    n[inBucket(p)]--; n[outBucket(p)]--;
    return false;
  });
}

describe('the conn index: 64-byte buckets, an overflow pool, packed newest first', () => {
  test('a conn costs at most 128 bytes, its record (sync bookkeeping included), index and overflow pool together', async () => {
    const small = await engine({ connMax: 1 << 10, connInit: 1 << 10 });
    const big = await engine({ connMax: 1 << 17, connInit: 1 << 17 });
    const perConn = (big.memoryBytes() - small.memoryBytes()) / ((1 << 17) - (1 << 10));
    expect(perConn).toBeLessThanOrEqual(128);
    expect(perConn).toBeGreaterThan(127);   // 112 + 15/64 × 64 + 1/64 × 64, memory in 64 KiB pages
  });

  test('90 clients whose in keys (and 50 of them their out keys too) share one bucket: 15 in the bucket, the rest in its overflow buckets until the pool is spent (drop_conn_index_full); all found both ways; expiry returns the buckets', async () => {
    const { e } = await natEngine({ proto: 'UDP', port: 53, cfg: { connMax: CONNS, connInit: CONNS, seed: SEED, slots: 8 } });
    expect(e.capacity('connIndex')).toBe(BUCKETS);
    expect(e.capacity('connOverflow')).toBe(POOL);
    // client ports whose in key lands in the bucket of port 10000's: 40 with their out key
    // elsewhere, 50 with it there too: 140 entries for a chain of 15 + 8 × 15
    const target = inBucket(10000);
    const sports: number[] = [];
    let single = 0, both = 0;
    for (let p = 10000; single < 40 || both < 50; p++) {
      if (inBucket(p) !== target) continue;
      if (outBucket(p) === target) { if (both < 50) { both++; sports.push(p); } } else if (single < 40) { single++; sports.push(p); }
    }
    const want = model(sports);
    expect(want.filter((x) => x).length).toBeGreaterThanOrEqual(60);   // the overflow buckets were used
    expect(want.filter((x) => !x).length).toBeGreaterThan(0);          // and spent
    const got = sports.map((p) => e.processFrame(query(p), 1000));
    expect(got.map((r) => r.verdict === 'XMIT')).toEqual(want);
    for (const [k, r] of got.entries()) if (!want[k]) expect(r).toMatchObject({ verdict: 'DROP', reason: 'drop_conn_index_full' });
    expect(e.counters().drop_conn_index_full).toBe(BigInt(want.filter((x) => !x).length));
    const made = sports.filter((_, k) => want[k]);
    expect(e.connCount()).toBe(made.length);
    // every conn is found in both directions: a second query keeps its conn, an answer is un-NATed
    for (const p of made) {
      const r = e.processFrame(query(p), 2000);
      expect(r.verdict, `query ${p}`).toBe('XMIT');
      expect(fields(r.data).dst).toBe(RS[0]);
      const a = e.processFrame(answer(p), 2000);
      expect(a.verdict, `answer ${p}`).toBe('XMIT');
      expect(fields(a.data)).toMatchObject({ src: VIP, sport: 53, dst: CLIENT, dport: p });
    }
    expect(e.connCount()).toBe(made.length);
    // the first half renewed at 200 s: the others expire at 302 s (5 min UDP timeout), and with
    // them the entries that filled the overflow bucket
    const half = made.slice(0, made.length >> 1);
    for (const p of half) expect(e.processFrame(query(p), 200_000).verdict).toBe('XMIT');
    e.tick(303_000);
    expect(e.connCount()).toBe(half.length);
    for (const p of made.slice(half.length)) expect(e.processFrame(answer(p), 303_000).verdict, `expired ${p}`).not.toBe('XMIT');
    for (const p of half) expect(fields(e.processFrame(answer(p), 303_000).data)).toMatchObject({ src: VIP, dport: p });
    // all expired: the pool is whole again, and the same 90 clients get the same answers
    e.tick(800_000);
    expect(e.connCount()).toBe(0);
    const again = sports.map((p) => e.processFrame(query(p), 900_000).verdict === 'XMIT');
    expect(again).toEqual(want);
  });

  test('a 64-conn table takes 64 conns whose in and out keys all land in one bucket: the pool\'s floor of 8 buckets holds any 128 entries (with 1, conns were refused long before the table was full)', async () => {
    const { e } = await natEngine({ proto: 'UDP', port: 53, cfg: { connMax: 64, connInit: 64, seed: SEED, slots: 8 } });
    const buckets = e.capacity('connIndex');
    expect(e.capacity('connOverflow')).toBe(POOL);
    const inB = (p: number) => bucketIn(connHash(UDP, CLIENT, p, VIP, 53), buckets);
    const outB = (p: number) => bucketIn(connHash(UDP, RS[0], 8080, CLIENT, p), buckets);
    const target = inB(10000);
    const sports: number[] = [];
    for (let p = 10000; sports.length < 64; p++) if (inB(p) === target && outB(p) === target) sports.push(p);
    for (const p of sports) expect(e.processFrame(query(p), 1000).verdict, `query ${p}`).toBe('XMIT');
    expect(e.connCount()).toBe(64);
    expect(e.counters().drop_conn_index_full).toBe(0n);
    for (const p of sports) expect(fields(e.processFrame(answer(p), 1000).data)).toMatchObject({ src: VIP, dport: p });
  });

  test('equal out keys (one client port to two VIPs, one real server): the reply finds the newest conn, then the older once the newest is gone', async () => {
    const { e } = await natEngine({ proto: 'UDP', port: 53, cfg: { seed: SEED } });
    const VIP2 = '198.18.0.101';
    const k2 = { proto: 'UDP', addr: VIP2, port: 53 } as const;
    e.addService({ ...k2, sched: 'rr' });
    e.addDest(k2, { addr: RS[0], port: 8080, fwd: 'Masq' });
    const query2 = ip(CLIENT, VIP2, { proto: 'udp', sport: 4000, dport: 53 });
    expect(e.processFrame(query(4000), 1000).verdict).toBe('XMIT');       // conn A (VIP)
    expect(e.processFrame(query2, 2000).verdict).toBe('XMIT');            // conn B (VIP2), same out key
    expect(fields(e.processFrame(answer(4000), 2000).data).src).toBe(VIP2);   // newest first (hlist_add_head)
    expect(e.processFrame(query(4000), 250_000).verdict).toBe('XMIT');    // A renewed: B now expires first
    e.tick(303_000);                                                      // B gone (expired at 302 s)
    expect(e.connCount()).toBe(1);
    expect(fields(e.processFrame(answer(4000), 303_000).data).src).toBe(VIP);
  });
});
