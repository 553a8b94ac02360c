import { describe, test, expect } from 'vitest';
import { Svc } from './helpers.ts';

// Dests are added 1, 2, 3: the kernel's list (and every walk) is newest first: 3, 2, 1.
describe('lc (ip_vs_lc.c)', () => {
  test('ignores weights: equal overhead goes to the first dest in list order', async () => {
    const s = await Svc.create('lc', [{ n: 1, w: 1 }, { n: 2, w: 2 }, { n: 3, w: 3 }]);
    expect(s.seq(9)).toEqual([3, 2, 1, 3, 2, 1, 3, 2, 1]);
  });
  test('fills the least loaded dest first', async () => {
    const s = await Svc.create('lc', [{ n: 1 }, { n: 2 }]);
    expect(s.seq(4)).toEqual([2, 1, 2, 1]);
    s.add({ n: 3 });
    expect(s.seq(4)).toEqual([3, 3, 3, 2]);
  });
  test('weight 0 is quiescent, OVERLOAD (-x) is skipped, none left -> no dest', async () => {
    const s = await Svc.create('lc', [{ n: 1, w: 0 }, { n: 2, x: 2 }, { n: 3 }]);
    expect(s.seq(5)).toEqual([3, 2, 3, 2, 3]);   // .2 is OVERLOADed at 2 conns
    expect(s.seq(2)).toEqual([3, 3]);
    s.del(3);
    expect(s.seq(1)).toEqual([0]);
  });
  test('removal: the walk continues over the remaining dests', async () => {
    const s = await Svc.create('lc', [{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(s.seq(3)).toEqual([3, 2, 1]);
    s.del(2);
    expect(s.seq(4)).toEqual([3, 1, 3, 1]);
  });
});
