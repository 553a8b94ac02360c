/*
 * rr and wrr choose exactly as ip_vs_rr.c / ip_vs_wrr.c do, walking the service's dests in
 * the kernel's order: newest first. Expected sequences are worked out by hand from the
 * kernel's algorithms (wrr: gcd/max-weight/current-weight walk).
 */
import { describe, test, expect } from 'vitest';
import { natEngine, VIP } from '../../helpers/engine.ts';
import { ip, fields } from '../../helpers/pkt.ts';
import type { Engine } from '../../../host/engine.ts';

let port = 10000;
/** n new connections; returns the last octet of the real server each went to ('-' when none). */
function pick(e: Engine, n: number, now = 1000): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = e.processFrame(ip(`198.19.${(port >> 8) & 255}.${port & 255}`, VIP, { proto: 'tcp', sport: port++, dport: 80, flags: 'S' }), now);
    out.push(r.verdict === 'XMIT' ? fields(r.data).dst.split('.')[3] : '-');
  }
  return out;
}
const dests = (ws: number[]) => ws.map((w, i) => ({ addr: `198.18.1.${i + 1}`, weight: w }));

describe('rr', () => {
  test('newest dest first: added 1,2,3 → 3,2,1,3,2,1', async () => {
    const { e } = await natEngine({ sched: 'rr', dests: dests([1, 1, 1]) });
    expect(pick(e, 6)).toEqual(['3', '2', '1', '3', '2', '1']);
  });
  test('weight 0 is skipped (quiescent), existing flows keep their server', async () => {
    const { e, key } = await natEngine({ sched: 'rr', dests: dests([1, 1, 1]) });
    e.processFrame(ip('198.19.9.9', VIP, { proto: 'tcp', sport: 777, dport: 80, flags: 'S' }), 1000);   // → .3
    e.editDest(key, { addr: '198.18.1.3', port: 8080, weight: 0 });
    expect(pick(e, 4)).toEqual(['2', '1', '2', '1']);
    const r = e.processFrame(ip('198.19.9.9', VIP, { proto: 'tcp', sport: 777, dport: 80, flags: 'A' }), 1100);
    expect(fields(r.data).dst).toBe('198.18.1.3');
  });
  test('deleting the cursor dest moves the cursor back (ip_vs_rr_del_dest)', async () => {
    const { e, key } = await natEngine({ sched: 'rr', dests: dests([1, 1, 1, 1]) });
    expect(pick(e, 2)).toEqual(['4', '3']);          // cursor on .3
    e.delDest(key, { addr: '198.18.1.3', port: 8080 });
    expect(pick(e, 4)).toEqual(['2', '1', '4', '2']);
  });
  test('a new dest goes to the head: reached after the cursor wraps', async () => {
    const { e, key } = await natEngine({ sched: 'rr', dests: dests([1, 1]) });
    expect(pick(e, 1)).toEqual(['2']);
    e.addDest(key, { addr: '198.18.1.9', port: 8080, fwd: 'Masq' });
    expect(pick(e, 4)).toEqual(['1', '9', '2', '1']);
  });
  test('no dest available: counted, ICMP port unreachable back to the client', async () => {
    const { e, key } = await natEngine({ sched: 'rr', dests: dests([0]) });
    const r = e.processFrame(ip('198.19.0.1', VIP, { proto: 'tcp', sport: 1234, dport: 80, flags: 'S' }), 1000);
    expect(r.verdict).toBe('LOCAL');
    const f = fields(r.data);
    expect(f).toMatchObject({ src: VIP, dst: '198.19.0.1', proto: 1 });
    expect([f.l4[0], f.l4[1]]).toEqual([3, 3]);
    expect(e.counters().drop_no_destination).toBe(1n);
    void key;
  });
});

/**
 * An independent model of ip_vs_wrr.c (list of weights in kernel order, mark {cl, cw, mw, di}),
 * written from the kernel source for this test; the engine must agree with it pick for pick.
 */
class WrrModel {
  cl = -1; cw = 0; mw = 0; di = 1;
  constructor(public w: number[]) { this.changed(); }          // w[0] = list head (newest)
  private gcd(a: number, b: number): number { return b ? this.gcd(b, a % b) : a; }
  changed(): void {
    let g = 0; for (const x of this.w) if (x > 0) g = g ? this.gcd(x, g) : x;
    this.di = g || 1;
    this.mw = Math.max(0, ...this.w) - (this.di - 1);
    this.cl = -1;
    if (this.cw > this.mw || !this.cw) this.cw = this.mw;
    else if (this.di > 1) this.cw = Math.floor(this.cw / this.di) * this.di + 1;
  }
  pick(): number {
    if (this.mw === 0) return -1;
    const last = this.cl; let d = this.cl, lastPass = false, restarted = false, stop = -2;
    for (;;) {
      for (d = d + 1; d < this.w.length; d++) {
        if (this.w[d] >= this.cw) { this.cl = d; return d; }
        if (d === stop) { this.cl = d; return -1; }
      }
      d = -1;
      this.cw -= this.di;
      if (this.cw <= 0) { this.cw = this.mw; if (lastPass || last === -1) { this.cl = -1; return -1; } restarted = true; }
      lastPass = this.cw <= this.di;
      if (lastPass && restarted && last !== -1) stop = last;
    }
  }
}

describe('wrr', () => {
  test('weights 1,2,3 added in order: the first round runs at cw = 1 (as the kernel: dest_changed keeps cw)', async () => {
    const { e } = await natEngine({ sched: 'wrr', dests: dests([1, 2, 3]) });
    expect(pick(e, 12)).toEqual(['3', '2', '1', '3', '3', '2', '3', '2', '1', '3', '3', '2']);
  });
  // a service built by adding dests one by one, as `ipvsadm -a` does: the model replays the same adds
  test.each([[1, 2, 3], [4, 3, 2], [5, 0, 1], [1, 1, 1], [100, 50, 1], [2, 2, 4, 4, 6], [3, 6, 9], [0, 7, 0, 7]])(
    'weights %j: the same picks as the kernel algorithm, over 3 cycles', async (...ws) => {
      const { e } = await natEngine({ sched: 'wrr', dests: dests(ws) });
      const m = new WrrModel([]);
      ws.forEach((w) => { m.w.unshift(w); m.changed(); });       // newest first
      const total = ws.reduce((a, b) => a + b, 0) * 3 || 3;
      const expected = Array.from({ length: total }, () => { const i = m.pick(); return i < 0 ? '-' : String(ws.length - i); });
      expect(pick(e, total)).toEqual(expected);
    });
  test('over one full cycle each dest gets exactly its weight', async () => {
    const ws = [100, 50, 1, 7];
    const { e } = await natEngine({ sched: 'wrr', dests: dests(ws) });
    const got = pick(e, 158 * 2).slice(158);        // second cycle: the first one starts at cw = 1
    ws.forEach((w, i) => expect(got.filter((x) => x === String(i + 1)).length).toBe(w));
  });
  test('all weights 0: no destination', async () => {
    const { e } = await natEngine({ sched: 'wrr', dests: dests([0, 0]) });
    expect(pick(e, 2)).toEqual(['-', '-']);
  });
  test('weight edits and deletes mid-cycle follow ip_vs_wrr_dest_changed', async () => {
    const ws = [3, 2, 5];
    const { e, key } = await natEngine({ sched: 'wrr', dests: dests(ws) });
    const m = new WrrModel([]);
    ws.forEach((w) => { m.w.unshift(w); m.changed(); });
    const modelPicks = (n: number) => Array.from({ length: n }, () => { const i = m.pick(); return i < 0 ? '-' : String(ws.length - i); });
    expect(pick(e, 7)).toEqual(modelPicks(7));
    e.editDest(key, { addr: '198.18.1.3', port: 8080, weight: 1 });
    m.w[0] = 1; m.changed();
    expect(pick(e, 9)).toEqual(modelPicks(9));
    e.delDest(key, { addr: '198.18.1.2', port: 8080 });
    m.w.splice(1, 1); ws.splice(1, 1, 0);               // keep the model's index → octet mapping
    m.changed();
    const got = pick(e, 8);
    const exp = Array.from({ length: 8 }, () => { const i = m.pick(); return i < 0 ? '-' : ['3', '1'][i]; });
    expect(got).toEqual(exp);
  });
});
