import { describe, test, expect } from 'vitest';
import { Svc } from './helpers.ts';

describe('ovf (ip_vs_ovf.c): highest weight until its active conns exceed the weight', () => {
  test('overflows down the weights, then no dest', async () => {
    const s = await Svc.create('ovf', [{ n: 1, w: 1 }, { n: 2, w: 2 }, { n: 3, w: 3 }]);
    expect(s.seq(12)).toEqual([3, 3, 3, 3, 2, 2, 2, 1, 1, 0, 0, 0]);
  });
  test('weight 0 and OVERLOAD are skipped', async () => {
    const s = await Svc.create('ovf', [{ n: 1, w: 1 }, { n: 2, w: 0 }, { n: 3, w: 9, x: 2 }]);
    expect(s.seq(4)).toEqual([3, 3, 1, 1]);
  });
});
