import { describe, test, expect } from 'vitest';
import { Svc } from './helpers.ts';

describe('fo (ip_vs_fo.c): highest weight available', () => {
  test('highest weight, ties to the newest', async () => {
    const s = await Svc.create('fo', [{ n: 1, w: 2 }, { n: 2, w: 5 }, { n: 3, w: 5 }]);
    expect(s.seq(3)).toEqual([3, 3, 3]);
  });
  test('fails over on OVERLOAD and on weight 0, then back', async () => {
    const s = await Svc.create('fo', [{ n: 1, w: 2 }, { n: 2, w: 5, x: 2 }]);
    expect(s.seq(4)).toEqual([2, 2, 1, 1]);
    const t = await Svc.create('fo', [{ n: 1, w: 2 }, { n: 2, w: 5 }]);
    t.edit({ n: 2, w: 0 });
    expect(t.seq(1)).toEqual([1]);
    t.edit({ n: 2, w: 5 });
    expect(t.seq(1)).toEqual([2]);
    t.edit({ n: 1, w: 0 }); t.edit({ n: 2, w: 0 });
    expect(t.seq(1)).toEqual([0]);
  });
});
