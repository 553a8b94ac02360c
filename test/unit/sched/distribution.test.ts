/*
 * test/unit/sched/distribution.test.ts - distribution properties of the schedulers over
 * 100,000 simulated clients (issue 4).
 *
 * Every client is a distinct source address (198.18.16.0 + k, so distinct addr/port pairs too)
 * sending one SYN (for sed/nq/twos/ovf also the ACK that makes its conn ESTABLISHED, right
 * after it in the same batch) through engine.process in batches of 1,024 frames. A SYN_RECV
 * conn already counts as active (tcp_state_active_table), as in the kernel. The clock does not move, so
 * no conn expires while a distribution is measured (connMax 2^17 holds all 100,000).
 *
 * Tolerances: rr, wrr, lc, wlc, sed, nq, fo and ovf are deterministic walks over the load
 * counters, so their shares are asserted exactly (per full wrr cycle, or to within one conn).
 * sh, dh and mh hash the client (or the packet's destination) into a table: a dest's share is
 * its share of the table's buckets plus the hash's unevenness over these keys. The weights are
 * chosen so sh's 256 buckets split exactly by weight (1:3:4:8 = 16:48:64:128 buckets) and dh's
 * 256 buckets split exactly four ways, so bucket share == expected share; the tolerance of
 * ±0.5 percentage points covers the hash noise (binomial σ for 100,000 keys at p = 0.5 is
 * 0.16 pp, hash_32 over consecutive addresses is far more even than that). mh's 4093-entry
 * Maglev table is itself a little uneven (a dest's entries differ from weight × 4093 / Σw by up
 * to one round of turns), and its SipHash client hash is binomial: ±1 pp. twos draws at random
 * (seeded), so its shares are asserted to ±1 pp.
 */
import { describe, test, expect } from 'vitest';
import { engine } from '../../helpers/engine.ts';
import { ip, csum } from '../../helpers/pkt.ts';
import type { Engine } from '../../../host/engine.ts';
import { SH_PORT } from './helpers.ts';

const N = 100_000;
const BATCH = 1024;
const VIP = '198.18.0.100';
const KEY = { proto: 'TCP' as const, addr: VIP, port: 80 };
const rs = (n: number) => `198.18.1.${n}`;
const CLIENT_BASE = (198 << 24 | 18 << 16 | 16 << 8) >>> 0;  // 198.18.16.0: clients up to 198.19.255.255

const sport = (k: number) => 1024 + ((k * 7919) % 64000);

/** A SYN (or ACK) from client k to daddr (4 bytes, host order), checksums recomputed. */
function frame(template: Uint8Array, k: number, daddr?: number): Uint8Array {
  const p = template.slice();
  const v = new DataView(p.buffer);
  v.setUint32(12, CLIENT_BASE + k);
  if (daddr !== undefined) v.setUint32(16, daddr);
  v.setUint16(20, sport(k));
  v.setUint16(10, 0); v.setUint16(10, csum(p.subarray(0, 20)));
  // TCP checksum over the pseudo-header (src, dst, 0, proto, length) and the segment
  const seg = p.subarray(20);
  const ph = new Uint8Array(12);
  ph.set(p.subarray(12, 20), 0); ph[9] = 6; ph[11] = seg.length;
  v.setUint16(36, 0);
  let s = 0;
  for (const b of [ph, seg]) for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  v.setUint16(36, ~s & 0xffff);
  return p;
}
const SYN = ip('198.18.16.0', VIP, { proto: 'tcp', sport: 1024, dport: 80, flags: 'S' });
const ACK = ip('198.18.16.0', VIP, { proto: 'tcp', sport: 1024, dport: 80, flags: 'A', seq: 2 });
const syns = Array.from({ length: N }, (_, k) => frame(SYN, k));
const acks = Array.from({ length: N }, (_, k) => frame(ACK, k));

async function service(sched: string, dests: { n: number; w: number }[], flags = 0, e?: Engine): Promise<Engine> {
  e ??= await engine({ connMax: 1 << 17, slots: BATCH, slotSize: 256 });
  e.addService({ ...KEY, sched, flags });
  for (const d of dests) e.addDest(KEY, { addr: rs(d.n), port: 8080, weight: d.w, fwd: 'Masq' });
  return e;
}

/**
 * Clients [from, to) through the engine at `now`, SYN only or SYN + ACK; the last octet of
 * each client's dest (0: no dest).
 */
function run(e: Engine, opts: { from?: number; to?: number; active?: boolean; now?: number; syn?: Uint8Array[] } = {}): Uint8Array {
  const from = opts.from ?? 0, to = opts.to ?? N, now = opts.now ?? 1000, fr = opts.syn ?? syns;
  const out = new Uint8Array(to - from);
  const per = opts.active ? 2 : 1;
  const step = BATCH / per;
  for (let k = from; k < to; k += step) {
    const n = Math.min(step, to - k);
    for (let i = 0; i < n; i++) {
      e.writeFrame(i * per, fr[k + i]);
      if (opts.active) e.writeFrame(i * per + 1, acks[k + i]);
    }
    e.process(n * per, now);
    const mem = e.memory;
    for (let i = 0; i < n; i++) {
      const r = e.result(i * per);
      out[k + i - from] = r.verdict === 'XMIT' ? mem[e.slotBase + i * per * e.slotSize + r.offset + 19] : 0;
    }
  }
  return out;
}

function tally(xs: Uint8Array): Record<number, number> {
  const o: Record<number, number> = {};
  for (const x of xs) o[x] = (o[x] ?? 0) + 1;
  return o;
}
const share = (t: Record<number, number>, n: number, total = N) => (t[n] ?? 0) / total;
const pp = (t: Record<number, number>, want: (n: number) => number) =>
  W4.map((d) => `${d.n}: ${((share(t, d.n) - want(d.w)) * 100).toFixed(2)}`).join(', ');
/** ActiveConn/InActConn per dest octet. */
function load(e: Engine): Record<number, [number, number]> {
  const o: Record<number, [number, number]> = {};
  for (const d of e.services()[0].dests) o[Number(d.addr.split('.')[3])] = [d.activeconns, d.inactconns];
  return o;
}

const W4 = [{ n: 1, w: 1 }, { n: 2, w: 3 }, { n: 3, w: 4 }, { n: 4, w: 8 }];   // Σ 16: divides 256

describe('round robin family: exact', () => {
  test('rr: 10 dests, weights ignored (1..10), strictly cyclic: 10,000 each', async () => {
    const e = await service('rr', Array.from({ length: 10 }, (_, i) => ({ n: i + 1, w: i + 1 })));
    const out = run(e);
    expect(new Set(out.subarray(0, 10)).size).toBe(10);
    for (let k = 10; k < N; k++) if (out[k] !== out[k - 10]) expect.fail(`client ${k}: ${out[k]} != ${out[k - 10]}`);
    expect(Object.values(tally(out))).toEqual(Array(10).fill(10_000));
  });
  test('wrr 1:2:3:4:5: after the kernel\'s first cw = 0 pass, every full cycle of 15 has exactly w picks of each dest', async () => {
    const ws = [1, 2, 3, 4, 5];
    const e = await service('wrr', ws.map((w, i) => ({ n: i + 1, w })));
    const out = run(e);
    // ip_vs_wrr starts with cw = 0: one pick of every dest (list order, newest first), then
    // cw = max weight, stepping down by the gcd
    expect([...out.subarray(0, 20)]).toEqual([5, 4, 3, 2, 1, 5, 5, 4, 5, 4, 3, 5, 4, 3, 2, 5, 4, 3, 2, 1]);
    const cycles = Math.floor((N - 5) / 15);   // 6666 full cycles, 5 clients over
    for (let c = 0; c < cycles; c++) {
      const t = tally(out.subarray(5 + c * 15, 5 + c * 15 + 15));
      for (let i = 0; i < 5; i++) if (t[i + 1] !== ws[i]) expect.fail(`cycle ${c}: dest ${i + 1} picked ${t[i + 1]} times, weight ${ws[i]}`);
    }
    for (let k = 20; k < N; k++) if (out[k] !== out[k - 15]) expect.fail(`client ${k}: not periodic`);
    expect(tally(out)).toEqual({ 1: 1 + cycles, 2: 1 + 2 * cycles, 3: 1 + 3 * cycles, 4: 1 + 4 * cycles + 2, 5: 1 + 5 * cycles + 3 });
  });
  test('wrr weights with a common divisor (2:4:6) cycle in 6', async () => {
    const e = await service('wrr', [{ n: 1, w: 2 }, { n: 2, w: 4 }, { n: 3, w: 6 }]);
    const out = run(e, { to: 60_000 });
    for (let k = 6; k < out.length; k++) if (out[k] !== out[k - 6]) expect.fail(`client ${k}`);
    expect(tally(out)).toEqual({ 1: 10_000, 2: 20_000, 3: 30_000 });
  });
});

describe('least-connection family: loads end proportional to weight', () => {
  test('lc: 100,000 conns split evenly (±1) whatever the weights', async () => {
    const e = await service('lc', W4);
    const t = tally(run(e));
    for (const d of W4) expect(Math.abs(t[d.n] - N / 4)).toBeLessThanOrEqual(1);
  });
  test('wlc 1:3:4:8: inactive conns per dest = N·w/Σw (±1)', async () => {
    const e = await service('wlc', W4);
    const t = tally(run(e));
    for (const d of W4) expect(Math.abs(t[d.n] - N * d.w / 16)).toBeLessThanOrEqual(1);
    const l = load(e);
    // SYN_RECV counts as active (tcp_state_active_table, Linux ≥ 4.9), so these are ActiveConn
    for (const d of W4) expect(l[d.n]).toEqual([t[d.n], 0]);
  });
  for (const sched of ['sed', 'nq'])
    test(`${sched} 1:3:4:8 with established clients: active conns = N·w/Σw (±1)`, async () => {
      const e = await service(sched, W4);
      const t = tally(run(e, { active: true }));
      for (const d of W4) expect(Math.abs(t[d.n] - N * d.w / 16)).toBeLessThanOrEqual(1);
      const l = load(e);
      for (const d of W4) expect(l[d.n]).toEqual([t[d.n], 0]);
    });
  test('sed: SYN_RECV conns are active, so SYNs alone make the same choices as established clients', async () => {
    const a = run(await service('sed', W4), { to: 20_000 });
    const b = run(await service('sed', W4), { to: 20_000, active: true });
    expect(a).toEqual(b);
    expect(tally(a)).toEqual({ 1: 1250, 2: 3750, 3: 5000, 4: 10_000 });
  });
  test('twos 1:3:4:8 with established clients: shares w/Σw ±1 pp (seeded random draws)', async () => {
    const e = await service('twos', W4);
    const t = tally(run(e, { active: true }));
    console.log(`twos: share - w/16 in pp: ${pp(t, (w) => w / 16)}`);
    for (const d of W4) expect(Math.abs(share(t, d.n) - d.w / 16)).toBeLessThan(0.01);
  });
});

describe('weight-ordered: exact', () => {
  test('fo: every client to the heaviest dest', async () => {
    const e = await service('fo', W4);
    expect(tally(run(e))).toEqual({ 4: N });
  });
  test('ovf: each dest takes weight + 1 active conns, heaviest first, then no dest', async () => {
    const e = await service('ovf', [{ n: 1, w: 9_999 }, { n: 2, w: 19_999 }, { n: 3, w: 29_999 }, { n: 4, w: 39_999 }]);
    const out = run(e, { active: true });
    expect(out.subarray(0, 40_000).every((x) => x === 4)).toBe(true);
    expect(out.subarray(40_000, 70_000).every((x) => x === 3)).toBe(true);
    expect(out.subarray(70_000, 90_000).every((x) => x === 2)).toBe(true);
    expect(out.subarray(90_000).every((x) => x === 1)).toBe(true);
    expect(run(e, { active: true, from: 0, to: 1, syn: [frame(SYN, N + 1)] })).toEqual(new Uint8Array([0]));
  });
});

describe('hashing: shares follow the table', () => {
  test('sh 1:3:4:8 (16/48/64/128 of 256 buckets): share = w/16 ±0.5 pp; sh-port too', async () => {
    for (const flags of [0, SH_PORT]) {
      const e = await service('sh', W4, flags);
      const t = tally(run(e));
      expect(t[0]).toBeUndefined();
      console.log(`sh flags ${flags}: share - w/16 in pp: ${pp(t, (w) => w / 16)}`);
      for (const d of W4) expect(Math.abs(share(t, d.n) - d.w / 16), `sh flags ${flags} dest ${d.n}`).toBeLessThan(0.005);
    }
  });
  test('mh 1:3:4:8: share = w/16 ±1 pp', async () => {
    const e = await service('mh', W4);
    const t = tally(run(e));
    console.log(`mh: share - w/16 in pp: ${pp(t, (w) => w / 16)}`);
    for (const d of W4) expect(Math.abs(share(t, d.n) - d.w / 16), `mh dest ${d.n}`).toBeLessThan(0.01);
  });
  test('dh over 1,024 VIPs: weights ignored (1:3:4:8), 64 buckets each -> 25 % ±0.5 pp; one VIP -> one dest', async () => {
    // dh hashes the destination address: spread clients over 1,024 VIP services (198.18.4.0/22)
    // that share the dest list, so each has the same bucket table.
    const e = await engine({ connMax: 1 << 17, slots: BATCH, slotSize: 256, svcMax: 1100, destMax: 8192 });
    const vip = (j: number) => (198 << 24 | 18 << 16 | 4 << 8) + j;
    for (let j = 0; j < 1024; j++) {
      const a = `198.18.${4 + (j >> 8)}.${j & 255}`;
      e.addService({ proto: 'TCP', addr: a, port: 80, sched: 'dh' });
      for (const d of W4) e.addDest({ proto: 'TCP', addr: a, port: 80 }, { addr: rs(d.n), port: 8080, weight: d.w, fwd: 'Masq' });
    }
    const fr = syns.map((_, k) => frame(SYN, k, vip(k % 1024) >>> 0));
    const out = run(e, { syn: fr });
    const t = tally(out);
    console.log(`dh: share - 1/4 in pp: ${pp(t, () => 0.25)}`);
    for (const d of W4) expect(Math.abs(share(t, d.n) - 0.25), `dh dest ${d.n}`).toBeLessThan(0.005);
    // a VIP's clients all land on one dest
    for (let j = 0; j < 1024; j += 97) expect(new Set(Array.from({ length: 90 }, (_, i) => out[j + i * 1024])).size).toBe(1);
  });
});

describe('removing one of N dests', () => {
  /** Fraction of all clients whose dest changed when dest N is removed (conns expired between). */
  async function moved(sched: string, n: number): Promise<{ moved: number; orphaned: number }> {
    const dests = Array.from({ length: n }, (_, i) => ({ n: i + 1, w: 1 }));
    const e = await service(sched, dests);
    const before = run(e, { now: 1000 });
    e.delDest(KEY, { addr: rs(n), port: 8080 });
    e.tick(200_000);                 // SYN_RECV conns (and the dest in the trash) are gone
    expect(e.connCount()).toBe(0);
    const after = run(e, { now: 200_000 });
    let m = 0, orphaned = 0;
    for (let k = 0; k < N; k++) {
      if (after[k] === 0 || after[k] === n) expect.fail(`client ${k} -> ${after[k]}`);
      if (before[k] === n) orphaned++;
      if (before[k] !== after[k]) m++;
    }
    return { moved: m / N, orphaned: orphaned / N };
  }
  for (const n of [5, 10])
    test(`mh, N = ${n}: about 1/N of the clients move (≤ 1/N + 3 pp); sh moves most`, async () => {
      const mh = await moved('mh', n);
      const sh = await moved('sh', n);
      console.log(`remove 1 of ${n}: mh moved ${(mh.moved * 100).toFixed(2)} % (removed dest had ${(mh.orphaned * 100).toFixed(2)} %), ` +
        `sh moved ${(sh.moved * 100).toFixed(2)} % (removed dest had ${(sh.orphaned * 100).toFixed(2)} %)`);
      expect(mh.moved).toBeGreaterThanOrEqual(mh.orphaned);
      expect(mh.moved).toBeLessThanOrEqual(1 / n + 0.03);
      // sh refills all 256 buckets round-robin over the remaining dests: most clients move
      expect(sh.moved).toBeGreaterThan(0.5);
    });
});
