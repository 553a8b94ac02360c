import { describe, test, expect } from 'vitest';
import { Svc, counts, SH_FALLBACK, SH_PORT } from './helpers.ts';

const clients = Array.from({ length: 200 }, (_, i) => `198.19.${i >> 4}.${(i * 7) % 250 + 1}`);

describe('sh (ip_vs_sh.c)', () => {
  test('same source address -> same dest, whatever the port (no sh-port)', async () => {
    const s = await Svc.create('sh', [{ n: 1 }, { n: 2 }, { n: 3 }]);
    for (const c of clients.slice(0, 50)) expect(s.syn(c, 2000)).toBe(s.syn(c, 3000));
  });
  test('sh-port spreads one address over the dests', async () => {
    const s = await Svc.create('sh', [{ n: 1 }, { n: 2 }, { n: 3 }], SH_PORT);
    const got = new Set(Array.from({ length: 30 }, (_, i) => s.syn('198.19.9.9', 2000 + i)));
    expect(got.size).toBe(3);
  });
  test('buckets follow the weights (1:2:3 of 256)', async () => {
    const s = await Svc.create('sh', [{ n: 1, w: 1 }, { n: 2, w: 2 }, { n: 3, w: 3 }]);
    const c = counts(clients.map((a, i) => s.syn(a, 1000 + i)));
    expect(c[3]).toBeGreaterThan(c[1]);
  });
  test('a quiescent or OVERLOADed pick is no dest; sh-fallback walks on', async () => {
    for (const [flags, none] of [[0, true], [SH_FALLBACK, false]] as const) {
      const s = await Svc.create('sh', [{ n: 1 }, { n: 2 }, { n: 3 }], flags);
      s.edit({ n: 2, w: 0 });
      const got = clients.map((a, i) => s.syn(a, 1000 + i));
      expect(got.includes(2)).toBe(false);
      expect(got.includes(0)).toBe(none);
    }
  });
  test('delete rebuilds the table over the remaining dests', async () => {
    const s = await Svc.create('sh', [{ n: 1 }, { n: 2 }, { n: 3 }]);
    s.del(2);
    const got = clients.map((a, i) => s.syn(a, 1000 + i));
    expect(new Set(got)).toEqual(new Set([1, 3]));
  });
});
