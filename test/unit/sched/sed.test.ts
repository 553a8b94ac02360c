import { describe, test, expect } from 'vitest';
import { Svc } from './helpers.ts';

describe('sed (ip_vs_sed.c): (active + 1) / weight', () => {
  test('weights 1,2,3', async () => {
    const s = await Svc.create('sed', [{ n: 1, w: 1 }, { n: 2, w: 2 }, { n: 3, w: 3 }]);
    expect(s.seq(12)).toEqual([3, 2, 3, 3, 2, 1, 3, 2, 3, 3, 2, 1]);
  });
  test('quiescent and OVERLOADed dests are skipped', async () => {
    const s = await Svc.create('sed', [{ n: 1, w: 1 }, { n: 2, w: 0 }, { n: 3, w: 5, x: 2 }]);
    expect(s.seq(4)).toEqual([3, 3, 1, 1]);
  });
});
