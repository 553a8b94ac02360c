import { describe, test, expect } from 'vitest';
import { Svc, counts, MH_FALLBACK, MH_PORT } from './helpers.ts';

const clients = Array.from({ length: 1000 }, (_, i) => `198.19.${(i >> 8) + 10}.${(i % 250) + 1}`);
const pick = (s: Svc) => clients.map((a, i) => s.syn(a, 20000 + i));

describe('mh (ip_vs_mh.c): Maglev, 4093 entries', () => {
  test('same address -> same dest whatever the port; mh-port spreads', async () => {
    const s = await Svc.create('mh', [{ n: 1 }, { n: 2 }, { n: 3 }]);
    for (const c of clients.slice(0, 40)) expect(s.syn(c, 2000)).toBe(s.syn(c, 3000));
    const p = await Svc.create('mh', [{ n: 1 }, { n: 2 }, { n: 3 }], MH_PORT);
    expect(new Set(Array.from({ length: 30 }, (_, i) => p.syn('198.19.9.9', 2000 + i))).size).toBe(3);
  });
  test('does not depend on the order dests were added', async () => {
    const a = await Svc.create('mh', [{ n: 1, w: 1 }, { n: 2, w: 2 }, { n: 3, w: 3 }]);
    const b = await Svc.create('mh', [{ n: 3, w: 3 }, { n: 1, w: 1 }, { n: 2, w: 2 }]);
    expect(pick(b)).toEqual(pick(a));
  });
  test('weights scale by their gcd (2:4:6 == 1:2:3)', async () => {
    const a = await Svc.create('mh', [{ n: 1, w: 1 }, { n: 2, w: 2 }, { n: 3, w: 3 }]);
    const b = await Svc.create('mh', [{ n: 1, w: 2 }, { n: 2, w: 4 }, { n: 3, w: 6 }]);
    expect(pick(b)).toEqual(pick(a));
  });
  test('removal disrupts only the removed dest\'s clients (bounded)', async () => {
    const s = await Svc.create('mh', [1, 2, 3, 4, 5].map((n) => ({ n })));
    const before = pick(s);
    s.del(4);
    const t = await Svc.create('mh', [1, 2, 3, 5].map((n) => ({ n })));
    const after = pick(t);
    let moved = 0;
    for (let i = 0; i < clients.length; i++) if (before[i] !== 4 && before[i] !== after[i]) moved++;
    expect(after.includes(4)).toBe(false);
    expect(moved / clients.length).toBeLessThan(0.05);   // Maglev: a few percent besides the removed share
  });
  test('quiesced (weight 0) keeps its table entries: no dest, or fallback', async () => {
    const s = await Svc.create('mh', [{ n: 1 }, { n: 2 }, { n: 3 }]);
    const before = pick(s);
    s.edit({ n: 2, w: 0 });
    const q = clients.map((a, i) => s.syn(a, 30000 + i));
    for (let i = 0; i < clients.length; i++) expect(q[i]).toBe(before[i] === 2 ? 0 : before[i]);
    const f = await Svc.create('mh', [{ n: 1 }, { n: 2 }, { n: 3 }], MH_FALLBACK);
    f.edit({ n: 2, w: 0 });
    const g = counts(pick(f));
    expect(g[0]).toBeUndefined();
    expect(g[2]).toBeUndefined();
  });
  test('no dests / all weight 0 -> no dest', async () => {
    const s = await Svc.create('mh', []);
    expect(s.seq(1)).toEqual([0]);
    s.add({ n: 1, w: 0 });
    expect(s.seq(1)).toEqual([0]);
  });
});
