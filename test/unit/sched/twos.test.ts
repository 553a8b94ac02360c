import { describe, test, expect } from 'vitest';
import { Svc, counts } from './helpers.ts';

describe('twos (ip_vs_twos.c): weighted random two choices, seeded', () => {
  test('the same seed replays the same choices; another seed differs', async () => {
    const a = await Svc.create('twos', [{ n: 1, w: 1 }, { n: 2, w: 2 }, { n: 3, w: 3 }], 0, { seed: 42 });
    const b = await Svc.create('twos', [{ n: 1, w: 1 }, { n: 2, w: 2 }, { n: 3, w: 3 }], 0, { seed: 42 });
    const c = await Svc.create('twos', [{ n: 1, w: 1 }, { n: 2, w: 2 }, { n: 3, w: 3 }], 0, { seed: 7 });
    const sa = a.seq(60);
    expect(b.seq(60)).toEqual(sa);
    expect(c.seq(60)).not.toEqual(sa);
  });
  test('load follows the weights; quiescent and OVERLOADed never chosen', async () => {
    const s = await Svc.create('twos', [{ n: 1, w: 1 }, { n: 2, w: 3 }, { n: 3, w: 0 }, { n: 4, w: 9, x: 1 }]);
    const c = counts(s.seq(400));
    expect(c[3]).toBeUndefined();
    expect(c[4]).toBe(1);
    expect(c[2]).toBeGreaterThan(2 * c[1]);
    expect(c[1] + c[2] + c[4]).toBe(400);
  });
  test('none usable -> 0', async () => {
    const s = await Svc.create('twos', [{ n: 1, w: 0 }]);
    expect(s.seq(1)).toEqual([0]);
  });
});
