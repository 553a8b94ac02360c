/*
 * Replays the kernel oracle's scheduler recordings (test/golden/sched/*.jsonl, recorded on a
 * real Linux 6.1 x86-64 IPVS by /work/shared/kernel-oracle) through the engine: the same
 * services, the dests added in the recorded order, a SYN from the same client address and
 * port, and the engine must pick the same real server for every probe.
 */
import { describe, test, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { engine } from '../../helpers/engine.ts';
import { ip, fields } from '../../helpers/pkt.ts';

interface Probe {
  run: number; sched: string; flags: string; dests: { addr: string; weight: number }[];
  client_addr: string; client_port: number; vip: string; chosen: string;
}

const GOLDEN = join(import.meta.dirname, '../../golden/sched');
const FLAG_BITS: Record<string, number> = { 'sh-fallback': 0x8, 'mh-fallback': 0x8, 'sh-port': 0x10, 'mh-port': 0x10 };

function load(file: string): Probe[] {
  return readFileSync(join(GOLDEN, file), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}
const split = (ap: string) => { const i = ap.lastIndexOf(':'); return { addr: ap.slice(0, i), port: Number(ap.slice(i + 1)) }; };

/** Replay one run (one or more services); returns the probes whose choice differs. */
async function replay(probes: Probe[]): Promise<{ probe: Probe; got: string }[]> {
  const e = await engine({ connMax: 8192, svcMax: 256, destMax: 1024 });
  const services = new Set<string>();
  const bad: { probe: Probe; got: string }[] = [];
  let now = 1000;
  for (const p of probes) {
    const v = split(p.vip);
    const key = { proto: 'TCP' as const, addr: v.addr, port: v.port };
    if (!services.has(p.vip)) {
      services.add(p.vip);
      const flags = p.flags.split(',').filter(Boolean).reduce((a, f) => a | FLAG_BITS[f], 0);
      e.addService({ ...key, sched: p.sched, flags });
      for (const d of p.dests) {
        const r = split(d.addr);
        e.addDest(key, { addr: r.addr, port: r.port, weight: d.weight, fwd: 'Masq' });
      }
    }
    const out = e.processFrame(ip(p.client_addr, v.addr, { proto: 'tcp', sport: p.client_port, dport: v.port, flags: 'S' }), now++);
    const f = out.verdict === 'XMIT' ? fields(out.data) : undefined;
    const got = f ? `${f.dst}:${f.dport}` : out.verdict;
    if (got !== p.chosen) bad.push({ probe: p, got });
  }
  return bad;
}

function byRun(probes: Probe[]): Map<number, Probe[]> {
  const m = new Map<number, Probe[]>();
  for (const p of probes) m.set(p.run, [...(m.get(p.run) ?? []), p]);
  return m;
}

describe('kernel oracle: b-sched (sh, sh-port, mh, mh-port, dh; 4600 probes)', () => {
  const probes = load('b-sched/sched.jsonl');
  test('all probes are there', () => expect(probes).toHaveLength(4600));
  const runs = [...byRun(probes)];
  test.each(runs.map(([run, ps]) => [run, ps[0].sched, ps[0].flags || '-', ps.length, ps] as const))(
    'run %i: %s flags %s (%i probes)', async (_run, _s, _f, _n, ps) => {
      const bad = await replay(ps);
      expect(bad.slice(0, 5), `${bad.length} of ${ps.length} differ`).toEqual([]);
    });
  test('negative control: sh with the dests added in another order disagrees (the replay can tell)', async () => {
    const ps = byRun(probes).get(1)!.map((p) => ({ ...p, dests: [...p.dests].reverse() }));
    expect((await replay(ps)).length).toBeGreaterThan(100);
  });
});

interface LoadRun {
  run: number; sched: string; flags: string; port: number; dests: { addr: string; weight: number; x: number }[];
  cut: number; op: string; n: number; conns: [string, string][];
}

/** Replay one d-sched-load run SYN by SYN; returns the probes whose outcome differs. */
async function replayLoad(r: LoadRun): Promise<{ k: number; want: string; got: string }[]> {
  const e = await engine({ connMax: 4096 });
  const key = { proto: 'TCP' as const, addr: '198.18.0.100', port: r.port };
  const flags = r.flags.split(',').filter(Boolean).reduce((a, f) => a | FLAG_BITS[f], 0);
  e.addService({ ...key, sched: r.sched, flags });
  for (const d of r.dests) {
    const a = split(d.addr);
    e.addDest(key, { addr: a.addr, port: a.port, weight: d.weight, uthresh: d.x, fwd: 'Masq' });
  }
  const want = new Map(r.conns.map(([c, d]) => [c, d]));
  const bad: { k: number; want: string; got: string }[] = [];
  for (let k = 1; k <= r.n; k++) {
    if (k === r.cut + 1 && r.op) {
      const [op, target] = r.op.split(' ');
      const a = split(target);
      if (op === 'del') e.delDest(key, { addr: a.addr, port: a.port });
      else if (op === 'w0') e.editDest(key, { addr: a.addr, port: a.port, weight: 0, fwd: 'Masq' });
    }
    const client = `198.19.${Math.floor(k / 250)}.${(k % 250) + 1}`;
    const out = e.processFrame(ip(client, key.addr, { proto: 'tcp', sport: 10000 + k, dport: r.port, flags: 'S' }), 1000 + k);
    const f = out.verdict === 'XMIT' ? fields(out.data) : undefined;
    const got = f ? `${f.dst}:${f.dport}` : 'none';
    const exp = want.get(`${client}:${10000 + k}`) ?? 'none';
    if (got !== exp) bad.push({ k, want: exp, got });
  }
  return bad;
}

describe('kernel oracle: d-sched-load (lc wlc sed nq fo ovf lblc lblcr, -x, -w 0, deletes, fallback)', () => {
  const runs: LoadRun[] = readFileSync(join(GOLDEN, 'd-sched-load/sched-load.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  test('all runs are there', () => expect(runs.map((r) => r.n).reduce((a, b) => a + b, 0)).toBe(2170));
  test.each(runs.map((r) => [r.run, r.sched, r.flags || '-', r.op || '-', r.n, r] as const))(
    'run %i: %s flags %s op %s (%i probes)', async (_run, _s, _f, _o, _n, r) => {
      const bad = await replayLoad(r);
      expect(bad.slice(0, 5), `${bad.length} of ${r.n} differ`).toEqual([]);
    });
});
