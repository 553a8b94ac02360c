import { describe, test, expect } from 'vitest';
import { Svc } from './helpers.ts';

describe('lblcr (ip_vs_lblcr.c): a dest set by destination address', () => {
  test('grows the set when its least loaded member is overloaded', async () => {
    const s = await Svc.create('lblcr', [{ n: 1, w: 1 }, { n: 2, w: 2 }, { n: 3, w: 3 }]);
    expect(s.seq(12)).toEqual([3, 3, 3, 3, 2, 2, 2, 1, 1, 3, 2, 3]);
  });
  test('a set unchanged for 24 h loses its busiest member (kept in use, so the entry lives)', async () => {
    const s = await Svc.create('lblcr', [{ n: 1, w: 1 }, { n: 2, w: 1 }]);
    expect(s.seq(4)).toEqual([2, 2, 1, 1]);   // set {1, 2} (newest member first)
    const later = (h: number) => { s.now += h * 3600_000; s.e.tick(s.now); };   // old conns expire
    later(12); expect(s.seq(1)).toEqual([1]);
    later(11); expect(s.seq(1)).toEqual([1]);
    later(2);                                 // set last changed > 24 h ago: .1 (first of the busiest) goes
    expect(s.seq(2)).toEqual([1, 2]);
  });
  test('quiesced members are skipped', async () => {
    const s = await Svc.create('lblcr', [{ n: 1 }, { n: 2 }]);
    expect(s.seq(1)).toEqual([2]);
    s.edit({ n: 2, w: 0 });
    expect(s.seq(2)).toEqual([1, 1]);
  });
});
