import { describe, test, expect } from 'vitest';
import { Svc } from './helpers.ts';

describe('nq (ip_vs_nq.c): an idle dest first, else sed', () => {
  test('weights 1,2,3: idle dests in list order, then sed', async () => {
    const s = await Svc.create('nq', [{ n: 1, w: 1 }, { n: 2, w: 2 }, { n: 3, w: 3 }]);
    expect(s.seq(12)).toEqual([3, 2, 1, 3, 3, 2, 3, 2, 3, 3, 2, 1]);
  });
  test('an idle quiescent dest is not taken; a new dest is taken at once', async () => {
    const s = await Svc.create('nq', [{ n: 1, w: 0 }, { n: 2, w: 1 }]);
    expect(s.seq(3)).toEqual([2, 2, 2]);
    s.add({ n: 3, w: 1 });
    expect(s.seq(2)).toEqual([3, 3]);
  });
});
