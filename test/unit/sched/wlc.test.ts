import { describe, test, expect } from 'vitest';
import { Svc, counts } from './helpers.ts';

describe('wlc (ip_vs_wlc.c): overhead = active*256 + inactive, cross-multiplied with the weights', () => {
  test.each([
    ['1,2,3', [1, 2, 3], [3, 2, 1, 3, 2, 3, 3, 2, 1, 3, 2, 3]],
    ['1,1,1', [1, 1, 1], [3, 2, 1, 3, 2, 1]],
    ['4,1', [4, 1], [2, 1, 1, 1, 1, 2, 1, 1, 1, 1]],
  ])('weights %s', async (_n, ws, want) => {
    const s = await Svc.create('wlc', ws.map((w, i) => ({ n: i + 1, w })));
    expect(s.seq(want.length)).toEqual(want);
  });
  test('long run is proportional to the weights', async () => {
    const s = await Svc.create('wlc', [{ n: 1, w: 1 }, { n: 2, w: 2 }, { n: 3, w: 5 }]);
    expect(counts(s.seq(80))).toEqual({ 1: 10, 2: 20, 3: 50 });
  });
  test('active conns weigh 256 inactive ones', async () => {
    const s = await Svc.create('wlc', [{ n: 1 }, { n: 2 }]);
    s.seq(1, true);                        // .2: one conn (SYN_RECV counts active, as in 6.x)
    expect(s.load()[2]).toEqual([1, 0]);
    expect(s.seq(1)).toEqual([1]);
  });
  test('weight 0 quiescent; -x OVERLOAD skipped; edit back restores', async () => {
    const s = await Svc.create('wlc', [{ n: 1, w: 2 }, { n: 2, w: 0 }, { n: 3, w: 1, x: 1 }]);
    expect(s.seq(4)).toEqual([3, 1, 1, 1]);
    s.edit({ n: 2, w: 2 });
    expect(s.seq(3)).toEqual([2, 2, 2]);
  });
  test('no usable dest -> 0', async () => {
    const s = await Svc.create('wlc', [{ n: 1, w: 0 }]);
    expect(s.seq(1)).toEqual([0]);
  });
});
