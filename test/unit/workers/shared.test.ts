// Several engine instances over one shared memory (wasm/mt.wasm), driven from this thread one
// batch at a time, so every interleaving is exact: the control thread's Engine holds the
// configuration, each EngineWorker its own packet record, slots and conn partition
// (docs/workers.md). What must hold: one scheduler sequence for the whole director, conns found by
// their owner only (a frame on the wrong worker is redirected, not lost nor doubled), templates
// shared, counters and the listing summed, growth re-attaching every worker.
import { describe, expect, test } from 'vitest';
import { engineModule, loadEngine } from '../../../host/engine-node.ts';
import { Engine, EngineWorker } from '../../../host/engine.ts';
import { ip, fields } from '../../../host/packet-builder.ts';

const VIP = '198.18.0.100';
const RS = ['198.18.1.1', '198.18.1.2', '198.18.1.3'];
const CLIENTS = ['198.18.0.2', '198.18.0.3', '198.18.0.4', '198.18.0.5'];

async function director(n: number, opts: { sched?: string; weights?: number[]; persistent?: number; connInit?: number; proto?: 'TCP' | 'UDP' } = {}) {
  const e = await loadEngine({ workers: n, connMax: 1 << 16, connInit: opts.connInit ?? 4096, slots: 64 });
  const key = { proto: opts.proto ?? 'TCP', addr: VIP, port: 80 } as const;
  e.addService({ ...key, sched: opts.sched ?? 'rr', persistent: opts.persistent });
  RS.forEach((a, i) => e.addDest(key, { addr: a, port: 8080, fwd: 'Masq', weight: opts.weights?.[i] ?? 1 }));
  const mod = engineModule('mt');
  const ws: EngineWorker[] = [];
  for (let w = 0; w < n; w++) ws.push(await EngineWorker.create(mod, e.shared.memory, e.shared.ctl, w));
  return { e, ws, key };
}

/** The owner of a frame by the engine's own function (wasm export frameOwner, over the control instance's scratch). */
function owner(e: Engine, f: Uint8Array, n: number): number {
  const scratch = Number(e.ex.regionBase(9));
  new Uint8Array(e.shared.memory.buffer).set(f, scratch);
  return e.ex.frameOwner(f.length, n) >>> 0;
}

/** Run frames through worker w as one batch (after taking what its rings hold); the results of the device frames. */
function batch(w: EngineWorker, frames: Uint8Array[], now: number) {
  w.enter();
  const k = w.redirectIn();
  frames.forEach((f, i) => w.writeFrame(k + i, f));
  w.process(k + frames.length, now);
  const res = Array.from({ length: k + frames.length }, (_, i) => w.result(i));
  w.leave();
  return { redirected: res.slice(0, k), own: res.slice(k) };
}

const syn = (c: string, p: number) => ip(c, VIP, { proto: 'tcp', sport: p, dport: 80, flags: 'S' });

describe('workers over one shared memory (in-thread)', () => {
  test('rr over two workers: the kernel sequence 3,2,1,3,2,1 across both, 100/100/100', async () => {
    const { e, ws } = await director(2);
    const picks: string[] = [];
    const per = [0, 0];
    for (let k = 0; k < 300; k++) {
      const f = syn(CLIENTS[k % 4]!, 20000 + k);
      const o = owner(e, f, 2);
      per[o]!++;
      const r = batch(ws[o]!, [f], 1000 + k).own[0]!;
      expect(r.verdict).toBe('XMIT');
      picks.push(fields(r.data).dst);
    }
    expect(per[0]).toBeGreaterThan(100);   // both workers made conns
    expect(per[1]).toBeGreaterThan(100);
    // newest dest first, as ip_vs_rr walks the list (test/unit/core/rr-wrr.test.ts)
    expect(picks).toEqual(Array.from({ length: 300 }, (_, k) => RS[2 - (k % 3)]));
    expect(e.services()[0]!.dests.map((d) => [d.activeconns + d.inactconns])).toEqual([[100], [100], [100]]);
    // the listing shows every conn, whichever worker has it; counters are the sum
    expect(e.ex.connsInUse() >>> 0).toBe(300);
    expect(e.counter('conn_created')).toBe(300n);
    expect(e.counter('rx')).toBe(300n);
    expect(e.counters().tx).toBe(300n);
    expect(e.services()[0]!.stats.conns).toBe(300n);
    expect(e.services()[0]!.stats.inpkts).toBe(300n);
    // the hook counts, kept per worker during a batch, add up too
    expect(e.hooks().find((h) => h.fn === 'IPVS_IN')!.packets).toBe(300n);
  });

  test('wrr 3:2:1 over two workers: 150/100/50 in the kernel order', async () => {
    const { e, ws } = await director(2, { sched: 'wrr', weights: [3, 2, 1] });
    const got = new Map<string, number>();
    for (let k = 0; k < 300; k++) {
      const f = syn(CLIENTS[k % 4]!, 30000 + k);
      const r = batch(ws[owner(e, f, 2)]!, [f], 1000).own[0]!;
      got.set(fields(r.data).dst, (got.get(fields(r.data).dst) ?? 0) + 1);
    }
    expect(Object.fromEntries(got)).toEqual({ [RS[0]!]: 150, [RS[1]!]: 100, [RS[2]!]: 50 });
  });

  test('a frame on the wrong worker is redirected to its owner, processed once, never lost or doubled', async () => {
    const { e, ws } = await director(2);
    const flows = Array.from({ length: 40 }, (_, k) => syn(CLIENTS[0]!, 40000 + k));
    // everything arrives on worker 0 (no steering): the frames worker 1 owns are stolen into its ring
    const r0 = batch(ws[0]!, flows, 1000);
    const mine = flows.map((f) => owner(e, f, 2) === 0);
    r0.own.forEach((r, i) => expect(r.verdict).toBe(mine[i] ? 'XMIT' : 'STOLEN'));
    const moved = mine.filter((m) => !m).length;
    expect(moved).toBeGreaterThan(5);
    expect(e.counter('redirect_out')).toBe(BigInt(moved));
    // worker 1 takes them at the start of its next batch
    const r1 = batch(ws[1]!, [], 1001);
    expect(r1.redirected).toHaveLength(moved);
    r1.redirected.forEach((r) => expect(r.verdict).toBe('XMIT'));
    expect(e.counter('redirect_in')).toBe(BigInt(moved));
    expect(e.counter('rx')).toBe(40n);   // counted where it was read, not again where it was processed
    expect(e.counter('tx')).toBe(40n);
    expect(e.ex.connsInUse() >>> 0).toBe(40);
    // the replies of worker 1's conns, landing on worker 0 too, go back the same way: the conn is
    // found (un-NATed to the VIP), not a second one made
    const flowsOf1 = flows.filter((_, i) => !mine[i]).map((f) => fields(f));
    const replies = flowsOf1.map((f, j) => ip(r1.redirected[j] ? fields(r1.redirected[j]!.data).dst : RS[0]!, f.src, { proto: 'tcp', sport: 8080, dport: f.sport, flags: 'SA' }));
    const back0 = batch(ws[0]!, replies, 1002);
    back0.own.forEach((r) => expect(r.verdict).toBe('STOLEN'));
    const back1 = batch(ws[1]!, [], 1003);
    expect(back1.redirected.map((r) => r.verdict)).toEqual(replies.map(() => 'XMIT'));
    back1.redirected.forEach((r, j) => {
      expect(fields(r.data).src).toBe(VIP);
      expect(fields(r.data).dport).toBe(flowsOf1[j]!.sport);
    });
    expect(e.ex.connsInUse() >>> 0).toBe(40);
    expect(e.counter('conn_created')).toBe(40n);
  });

  test('a full ring is a counted drop', async () => {
    const { e, ws } = await director(2);
    const theirs: Uint8Array[] = [];
    for (let k = 0; theirs.length < 64 + 10; k++) { const f = syn(CLIENTS[1]!, 10000 + k); if (owner(e, f, 2) === 1) theirs.push(f); }
    const r = batch(ws[0]!, theirs.slice(0, 64), 1000);
    expect(r.own.every((x) => x.verdict === 'STOLEN')).toBe(true);
    const r2 = batch(ws[0]!, theirs.slice(64), 1000);
    expect(r2.own.every((x) => x.verdict === 'DROP')).toBe(true);
    expect(e.counter('drop_redirect_ring_full')).toBe(10n);
    expect(batch(ws[1]!, [], 1001).redirected).toHaveLength(64);
  });

  test('persistence: one client from many ports, on both workers, sticks to one dest (one shared template)', async () => {
    const { e, ws } = await director(2, { persistent: 300 });
    const dests = new Set<string>();
    const per = [0, 0];
    for (let k = 0; k < 60; k++) {
      const f = syn(CLIENTS[2]!, 50000 + k);
      const o = owner(e, f, 2);
      per[o]!++;
      dests.add(fields(batch(ws[o]!, [f], 1000 + k).own[0]!.data).dst);
    }
    expect(per[0]).toBeGreaterThan(0);
    expect(per[1]).toBeGreaterThan(0);
    expect(dests.size).toBe(1);
    const list = e.conns();
    const TEMPLATE = Number(e.ex.CONN_F_TEMPLATE.value);
    expect(list.filter((c) => c.flags & TEMPLATE)).toHaveLength(1);
    expect(list.filter((c) => !(c.flags & TEMPLATE))).toHaveLength(60);
    // the template expires after its conns (each worker's tick expires its own; worker 0 the templates')
    for (let t = 0; t < 4; t++) { for (const w of ws) { w.enter(); w.tick(1000 + 400_000 + t * 400_000); w.leave(); } }
    expect(e.ex.connsInUse() >>> 0).toBe(0);
    expect(e.services()[0]!.dests.map((d) => d.persistconns + d.activeconns + d.inactconns)).toEqual([0, 0, 0]);
  });

  test('the conn table grows under the barrier; every worker attaches again and finds its conns', async () => {
    const { e, ws } = await director(2, { connInit: 64, proto: 'UDP' });
    const cap0 = e.capacity('conn');
    const flows: Uint8Array[] = [];
    for (let k = 0; k < 400; k++) flows.push(ip(CLIENTS[k % 4]!, VIP, { proto: 'udp', sport: 1024 + k, dport: 80, payload: new Uint8Array(8) }));
    for (const f of flows) {
      e.withWorkersParked(() => e.reserveConns());
      const r = batch(ws[owner(e, f, 2)]!, [f], 2000);
      expect(r.own[0]!.verdict).toBe('XMIT');
    }
    expect(e.capacity('conn')).toBeGreaterThan(cap0);
    expect(e.ex.connsInUse() >>> 0).toBe(400);
    // a second datagram of every flow finds its conn: no new conn
    for (const f of flows) batch(ws[owner(e, f, 2)]!, [f], 2001);
    expect(e.counter('conn_created')).toBe(400n);
    expect(e.ex.connsInUse() >>> 0).toBe(400);
  });

  test('FULLNAT: each worker gives local ports of its own slice (lport % 2), so the reply comes back to it', async () => {
    const e = await loadEngine({ workers: 2, connMax: 1 << 14, slots: 64 });
    const key = { proto: 'TCP', addr: VIP, port: 80 } as const;
    e.addService({ ...key, sched: 'rr' });
    e.addDest(key, { addr: RS[0]!, port: 8080, fwd: 'FullNat' });
    e.addLaddr(key, '198.18.3.1');
    const ws = [0, 1].map((w) => EngineWorker.create(engineModule('mt'), e.shared.memory, e.shared.ctl, w));
    const w = await Promise.all(ws);
    for (let k = 0; k < 40; k++) {
      const f = syn(CLIENTS[k % 4]!, 60000 + k);
      const o = owner(e, f, 2);
      const out = batch(w[o]!, [f], 1000).own[0]!;
      expect(out.verdict).toBe('XMIT');
      const fo = fields(out.data);
      expect(fo.src).toBe('198.18.3.1');
      expect(fo.sport % 2).toBe(o);
      const reply = ip(RS[0]!, '198.18.3.1', { proto: 'tcp', sport: 8080, dport: fo.sport, flags: 'SA' });
      expect(owner(e, reply, 2)).toBe(o);
      const back = batch(w[o]!, [reply], 1001).own[0]!;
      expect(back.verdict).toBe('XMIT');
      expect([fields(back.data).dst, fields(back.data).dport]).toEqual([CLIENTS[k % 4], 60000 + k]);
    }
    expect(e.counter('redirect_out')).toBe(0n);
  });

  test('sync backup: received conns go to their owners; their packets find them on the owner, none made anew', async () => {
    // a one-worker master makes the conns
    const master = await loadEngine({ connMax: 4096, slots: 64 });
    const key = { proto: 'TCP', addr: VIP, port: 80 } as const;
    master.addService({ ...key, sched: 'rr' });
    RS.forEach((a) => master.addDest(key, { addr: a, port: 8080, fwd: 'Masq' }));
    const flows = Array.from({ length: 30 }, (_, k) => syn(CLIENTS[k % 4]!, 45000 + k));
    for (const f of flows) master.processFrame(f, 1000);
    const msgs = master.syncEncode(master.conns().map((c) => c.index), 0);
    // the two-worker backup takes them (the control thread, workers parked)
    const { e, ws } = await director(2);
    for (const m of msgs) expect(e.syncReceive(m, 0, 1000)).toBeGreaterThan(0);
    expect(e.ex.connsInUse() >>> 0).toBe(30);
    // after a failover the clients' next segments reach the backup: each is found by its owner
    const acks = flows.map((f) => { const x = fields(f); return ip(x.src, VIP, { proto: 'tcp', sport: x.sport, dport: 80, flags: 'A' }); });
    const dst = new Map(master.conns().map((c) => [`${c.caddr}:${c.cport}`, c.daddr]));
    for (const a of acks) {
      const r = batch(ws[owner(e, a, 2)]!, [a], 1100).own[0]!;
      expect(r.verdict).toBe('XMIT');
      expect(fields(r.data).dst).toBe(dst.get(`${fields(a).src}:${fields(a).sport}`));
    }
    expect(e.counter('conn_created')).toBe(30n);   // the 30 synced ones, none from the packets
    expect(e.ex.connsInUse() >>> 0).toBe(30);
  });

  test('fwmark NAT service: the request (a VIP only its MARK rule knows) and the reply meet at one worker', async () => {
    const e = await loadEngine({ workers: 2, connMax: 1 << 14, slots: 64 });
    e.addHook({ point: 'PRE_ROUTING', priority: -150, fn: 'MARK', prefix: '198.18.0.77/32', mark: 7, proto: 'TCP' });
    e.addService({ fwmark: 7, af: 4, sched: 'rr' });
    RS.forEach((a) => e.addDest({ fwmark: 7, af: 4 }, { addr: a, port: 8080, fwd: 'Masq' }));
    const w = await Promise.all([0, 1].map((k) => EngineWorker.create(engineModule('mt'), e.shared.memory, e.shared.ctl, k)));
    for (let k = 0; k < 30; k++) {
      const f = ip(CLIENTS[k % 4]!, '198.18.0.77', { proto: 'tcp', sport: 61000 + k, dport: 443, flags: 'S' });
      // the kernel's queue: whatever; here always worker 0 — the engine moves it when it is not the owner
      const r0 = batch(w[0]!, [f], 1000).own[0]!;
      const r1 = batch(w[1]!, [], 1000).redirected[0];
      const out = r0.verdict === 'XMIT' ? r0 : r1!;
      expect(out.verdict).toBe('XMIT');
      const fo = fields(out.data);
      const reply = ip(fo.dst, CLIENTS[k % 4]!, { proto: 'tcp', sport: 8080, dport: 61000 + k, flags: 'SA' });
      const o = owner(e, reply, 2);
      expect(o).toBe(r0.verdict === 'XMIT' ? 0 : 1);   // the reply's owner is the worker that made the conn
      const back = batch(w[o]!, [reply], 1001).own[0]!;
      expect(back.verdict).toBe('XMIT');
      expect(fields(back.data).src).toBe('198.18.0.77');
    }
    expect(e.counter('conn_created')).toBe(30n);
  });

  test('a worker stuck inside a batch: parking throws WVS_ERR_WORKER_STUCK, the change is not made, nothing hangs', async () => {
    const { e, ws, key } = await director(2);
    e.parkLimitMs = 100;
    ws[1]!.enter();   // never leaves
    const t0 = Date.now();
    expect(() => e.withWorkersParked(() => e.editService({ ...key, sched: 'wrr' }))).toThrow(expect.objectContaining({ code: 'WVS_ERR_WORKER_STUCK' }));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(e.services()[0]!.sched).toBe('rr');
    ws[1]!.leave();
    e.withWorkersParked(() => e.editService({ ...key, sched: 'wrr' }));
    expect(e.services()[0]!.sched).toBe('wrr');
  });

  test('the shared-memory build given as bytes links on its own (a memory made for it); the plain one as before', async () => {
    const { readFileSync } = await import('node:fs');
    const { repoRoot } = await import('../../../host/engine-node.ts');
    const mt = await Engine.create(readFileSync(`${repoRoot()}/wasm/mt.wasm`), { workers: 2, connMax: 1024 });
    expect(mt.shared.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    const plain = await Engine.create(readFileSync(`${repoRoot()}/wasm/release.wasm`), { connMax: 1024 });
    expect(plain.mem.buffer).toBeInstanceOf(ArrayBuffer);
    await expect(Engine.create(readFileSync(`${repoRoot()}/wasm/release.wasm`), { workers: 2 })).rejects.toThrow(/need the shared-memory engine/);
    // the plain build keeps one worker as a constant (layout.ts): a layout that says more is refused
    const ctl = Number(plain.ex.regionBase(0)), lay = new DataView(plain.mem.buffer, ctl + 292, 4);   // CTL_LAY_WORKERS
    lay.setUint32(0, 2, true);
    expect(plain.ex.attach(ctl, 0)).toBe(-22);
    lay.setUint32(0, 1, true);
    expect(plain.ex.attach(ctl, 0)).toBe(0);
    expect(plain.ex.workers()).toBe(1);
  });

  test('segments that cannot start a conn (a flood of ACKs, RSTs) never wait for the director lock', async () => {
    const { e, ws } = await director(2);
    const i32 = new Int32Array(e.shared.memory.buffer);
    const lock = (e.shared.ctl + Number(e.ex.CTL_LOCK.value)) >>> 2;
    Atomics.store(i32, lock, 2);   // as if worker 1 held it for as long as this test runs
    const strays = Array.from({ length: 20 }, (_, k) => ip(CLIENTS[0]!, VIP, { proto: 'tcp', sport: 33000 + k, dport: 80, flags: k % 2 ? 'A' : 'R' }));
    const mine = strays.filter((f) => owner(e, f, 2) === 0);
    const r = batch(ws[0]!, mine, 1000).own;   // would spin forever if they took the lock
    expect(r.length).toBe(mine.length);
    expect(r.every((x) => x.verdict !== 'XMIT')).toBe(true);
    expect(e.counter('conn_created')).toBe(0n);
    Atomics.store(i32, lock, 0);
  });
});

