import { describe, test, expect } from 'vitest';
import { Svc } from './helpers.ts';
import { engine } from '../../helpers/engine.ts';

describe('lblc (ip_vs_lblc.c): a cache by destination address', () => {
  test('sticks to the cached dest until it is busier than its weight and another is under half', async () => {
    const s = await Svc.create('lblc', [{ n: 1, w: 1 }, { n: 2, w: 2 }, { n: 3, w: 3 }]);
    expect(s.seq(12)).toEqual([3, 3, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1]);
  });
  test('the OVERLOAD flag alone does not move a cached dest (lblc\'s own overload rule)', async () => {
    const s = await Svc.create('lblc', [{ n: 1, w: 1 }, { n: 2, w: 5, x: 1 }]);
    expect(s.seq(3)).toEqual([2, 2, 2]);
  });
  test('a quiesced or deleted cached dest is replaced; the deleted one stays held (trash) and comes back', async () => {
    const s = await Svc.create('lblc', [{ n: 1 }, { n: 2 }]);
    expect(s.seq(1)).toEqual([2]);
    s.edit({ n: 2, w: 0 });
    expect(s.seq(2)).toEqual([1, 1]);
    s.edit({ n: 2, w: 1 });
    expect(s.seq(1)).toEqual([1]);           // cache now says .1
    s.del(1);
    expect(s.seq(1)).toEqual([2]);
  });
  test('entries unused for 24 h are collected by the 30-minute full check', async () => {
    const s = await Svc.create('lblc', [{ n: 1 }, { n: 2 }]);
    expect(s.seq(1)).toEqual([2]);
    s.edit({ n: 1, w: 100 });               // a fresh choice would now be .1
    s.now += 23 * 3600_000;
    expect(s.seq(1)).toEqual([2]);          // still cached (used < 24 h ago)
    s.now += 25 * 3600_000;
    expect(s.seq(1)).toEqual([1]);          // expired, rescheduled
  });
  test('scheduler change drops the table and its dest references; a deleted service frees them', async () => {
    const s = await Svc.create('lblc', [{ n: 1 }, { n: 2 }]);
    s.seq(3);
    s.e.editService({ ...s.key, sched: 'rr' });
    s.e.editService({ ...s.key, sched: 'lblc' });
    expect(s.seq(1)).toEqual([1]);
    s.e.delService(s.key);
    const e = await engine();
    expect(e.services()).toEqual([]);
  });
});
