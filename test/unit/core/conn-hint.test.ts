/*
 * The batch stage leaves each frame a hint: the conn of the first in entry whose 6 hash bits
 * matched in the frame's bucket (conn/table.ts connStage). The lookup of a client's packet takes
 * it when that conn is in the index with the packet's key (connInGetInline), and looks as ever
 * otherwise. Nothing may see the difference: random traffic — SYNs, ACKs, FINs, RSTs, new conns
 * and their next packets in the same batch, conns reused (conn_reuse_mode) and expiring inside a
 * batch, templates (persistence), buckets full of 6-bit tag twins in a small table — goes through
 * an engine with the stages forced on and one without, batch by batch: the same verdicts, bytes
 * and conn table.
 */
import { describe, test, expect } from 'vitest';
import { engine, VIP, RS } from '../../helpers/engine.ts';
import { ip } from '../../helpers/pkt.ts';
import type { Engine } from '../../../host/engine.ts';

function setStages(e: Engine, mode: number): void {
  const inner = e as unknown as { ex: { regionBase(i: number): number | bigint }; c: Record<string, number> };
  new DataView(e.memory.buffer).setUint32(Number(inner.ex.regionBase(0)) + inner.c.CTL_CONN_STAGES, mode, true);
}
const STAGED = 3 | (16 << 8), PLAIN = 1;   // groups of 16: hints made before earlier frames of the batch change the table
const key = { proto: 'TCP', addr: VIP, port: 80 } as const;

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

async function pair(cfg: Parameters<typeof engine>[0], setup: (e: Engine) => void): Promise<((frames: Uint8Array[], now: number) => void) & { staged: Engine }> {
  const s = await engine({ slots: 64, ...cfg }), p = await engine({ slots: 64, ...cfg });
  setup(s); setup(p);
  setStages(s, STAGED); setStages(p, PLAIN);
  let n = 0;
  return Object.assign((frames: Uint8Array[], now: number) => {
    const out = (e: Engine) => {
      frames.forEach((f, i) => e.writeFrame(i, f));
      e.process(frames.length, now);
      return frames.map((_, i) => { const r = e.result(i); return [r.verdict, r.reason, r.conn, Buffer.from(e.output(i)).toString('hex')]; });
    };
    n++;
    expect(out(s), `batch ${n}`).toEqual(out(p));
    expect(s.conns(), `batch ${n}`).toEqual(p.conns());
  }, { staged: s });
}

/** Random TCP traffic over `flows` client ports of a few clients: each batch 64 packets of random flows and flags. */
async function randomTraffic(cfg: Parameters<typeof engine>[0], setup: (e: Engine) => void, flows: number, batches: number, seed: number) {
  const run = await pair(cfg, setup);
  const r = rng(seed);
  const flags = ['S', 'A', 'A', 'A', 'PA', 'FA', 'R', 'S'];
  for (let b = 0; b < batches; b++) {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 64; i++) {
      const f = r() % flows;
      const fl = flags[r() % flags.length];
      // now and then a reply from the real server (NAT: the out direction, no hint)
      if (r() % 8 === 0) frames.push(ip(RS[f % 2], `198.19.0.${1 + (f % 3)}`, { proto: 'tcp', sport: 8080, dport: 20000 + f, flags: 'A', seq: 5, ack: 5 }));
      else frames.push(ip(`198.19.0.${1 + (f % 3)}`, VIP, { proto: 'tcp', sport: 20000 + f, dport: 80, flags: fl, seq: 1 + b, ack: 1 }));
    }
    run(frames, 1000 + b * 700);   // 0.7 s a batch: TIME_WAIT and CLOSE conns expire on the way
  }
  return run.staged;
}

describe('the stage hint finds what the lookup finds', () => {
  test('NAT, 2 dests, 300 flows in a 64-conn table (buckets of tag twins), 150 batches', async () => {
    await randomTraffic({ connMax: 64, connInit: 64 }, (e) => {
      e.addService({ ...key, sched: 'rr' });
      e.addDest(key, { addr: RS[0], port: 8080, fwd: 'Masq' });
      e.addDest(key, { addr: RS[1], port: 8080, fwd: 'Masq' });
    }, 300, 150, 1);
  });
  test('the same with conn_reuse_mode and sloppy_tcp (old conns expired by a SYN, ACKs that schedule)', async () => {
    await randomTraffic({ connMax: 128, connInit: 128 }, (e) => {
      e.set('connReuse', true); e.set('sloppyTcp', true);
      e.addService({ ...key, sched: 'wrr' });
      e.addDest(key, { addr: RS[0], port: 8080, fwd: 'Masq', weight: 2 });
      e.addDest(key, { addr: RS[1], port: 8080, fwd: 'Masq' });
    }, 200, 150, 2);
  });
  test('persistence (-p 30): templates share the buckets with their conns', async () => {
    const s = await randomTraffic({ connMax: 128, connInit: 128 }, (e) => {
      e.addService({ ...key, sched: 'rr', persistent: 30 });
      e.addDest(key, { addr: RS[0], port: 8080, fwd: 'Masq' });
      e.addDest(key, { addr: RS[1], port: 8080, fwd: 'Masq' });
    }, 120, 100, 3);
    expect(s.conns().filter((c) => c.flags & 0x1000).length, 'templates in the table').toBeGreaterThan(0);   // IP_VS_CONN_F_TEMPLATE
  });
});

describe('a hint to a conn that left the index inside the batch is not taken', () => {
  test('conn_reuse_mode: a SYN expires the TIME_WAIT conn and makes a new one; the ACK right behind it finds the new one', async () => {
    const setup = (e: Engine) => {
      e.set('connReuse', true);
      e.addService({ ...key, sched: 'rr' });
      e.addDest(key, { addr: RS[0], port: 8080, fwd: 'Masq' });
      e.addDest(key, { addr: RS[1], port: 8080, fwd: 'Masq' });
    };
    const s = await engine({ slots: 64 }), p = await engine({ slots: 64 });
    setup(s); setup(p);
    setStages(s, STAGED); setStages(p, PLAIN);
    const C = '198.19.0.9';
    const c2s = (flags: string, seq: number) => ip(C, VIP, { proto: 'tcp', sport: 33333, dport: 80, flags, seq, ack: 1 });
    const s2c = (rs: string, flags: string) => ip(rs, C, { proto: 'tcp', sport: 8080, dport: 33333, flags, seq: 100, ack: 2 });
    const run = (e: Engine, frames: Uint8Array[], now: number) => {
      frames.forEach((f, i) => e.writeFrame(i, f));
      e.process(frames.length, now);
      return frames.map((_, i) => { const r = e.result(i); return [r.verdict, r.conn, Buffer.from(e.output(i)).toString('hex')]; });
    };
    for (const e of [s, p]) {
      run(e, [c2s('S', 1)], 1000);
      const rs = e.conns()[0].daddr;
      run(e, [s2c(rs, 'SA'), c2s('A', 2)], 1001);
      run(e, [s2c(rs, 'FA'), c2s('FA', 2)], 1002);   // the server closes first: FIN_WAIT, then TIME_WAIT
    }
    expect(s.conns().map((c) => c.state)).toEqual(['TIME_WAIT']);
    // the SYN and its ACK in one group: the ACK's hint (made before the SYN ran) names the old
    // conn's record, which the new conn took over (the pool hands the freed record out first)
    const a = run(s, [c2s('S', 50), c2s('A', 51)], 1003), b = run(p, [c2s('S', 50), c2s('A', 51)], 1003);
    expect(a).toEqual(b);
    expect(s.conns()).toEqual(p.conns());
    expect(s.conns().map((c) => c.state)).toEqual(['ESTABLISHED']);
    expect(a[0][1]).toBe(a[1][1]);
  });
});
