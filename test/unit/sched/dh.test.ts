import { describe, test, expect } from 'vitest';
import { Svc } from './helpers.ts';
import { engine } from '../../helpers/engine.ts';

describe('dh (ip_vs_dh.c): hash of the destination address', () => {
  test('every client of one VIP goes to one dest; weights do not matter', async () => {
    const s = await Svc.create('dh', [{ n: 1, w: 1 }, { n: 2, w: 5 }]);
    const got = new Set(Array.from({ length: 20 }, (_, i) => s.syn(`198.19.1.${i + 1}`, 3000 + i)));
    expect(got.size).toBe(1);
  });
  test('VIPs spread over the dests; a quiescent pick is no dest', async () => {
    const e = await engine();
    const picks: number[] = [];
    for (let v = 1; v <= 40; v++) {
      const key = { proto: 'TCP' as const, addr: `198.18.2.${v}`, port: 80 };
      e.addService({ ...key, sched: 'dh' });
      for (const n of [1, 2, 3]) e.addDest(key, { addr: `198.18.1.${n}`, port: 8080, fwd: 'Masq' });
      const s = new Svc(e, key);
      picks.push(s.syn('198.19.0.1', 5000 + v, key.addr));
    }
    expect(new Set(picks)).toEqual(new Set([1, 2, 3]));
    const key = { proto: 'TCP' as const, addr: '198.18.2.1', port: 80 };
    e.editDest(key, { addr: `198.18.1.${picks[0]}`, port: 8080, weight: 0, fwd: 'Masq' });
    expect(new Svc(e, key).syn('198.19.0.2', 6000, key.addr)).toBe(0);
  });
});
