/*
 * rr and wrr against Linux 6.1: every run of test/golden/kernel/cases/sched.sh (56 runs: weight
 * sets, add orders, and a dest deleted, quiesced, re-weighted or added mid-run), SYN by SYN.
 */
import { describe, test, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { engine } from '../../helpers/engine.ts';
import { ip, fields } from '../../helpers/pkt.ts';

interface D { dest: string; weight: number }
interface Run { run: number; sched: string; vip: string; nsyn: number; adds: D[]; mod: null | { op: 'del' | 'edit' | 'add'; dest: string; weight?: number; after: number };
  client_ports: number[]; chosen: string[] }

const file = join(import.meta.dirname, '..', '..', 'golden', 'kernel', 'recorded', 'sched', 'sched.jsonl');
const runs: Run[] = existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
const hp = (s: string) => { const i = s.lastIndexOf(':'); return { addr: s.slice(0, i), port: Number(s.slice(i + 1)) }; };

describe.skipIf(runs.length === 0)('rr/wrr vs Linux 6.1 (recorded)', () => {
  test.each(runs.map((r) => [`run ${r.run} ${r.sched} ${r.adds.map((d) => d.weight).join(',')}${r.mod ? ` ${r.mod.op} ${r.mod.dest} after ${r.mod.after}` : ''}`, r] as const))('%s', async (_n, r) => {
    const e = await engine();
    const v = hp(r.vip);
    const key = { proto: 'TCP' as const, addr: v.addr, port: v.port };
    e.addService({ ...key, sched: r.sched });
    for (const d of r.adds) { const x = hp(d.dest); e.addDest(key, { addr: x.addr, port: x.port, weight: d.weight, fwd: 'Masq' }); }
    const got: string[] = [];
    r.client_ports.forEach((port, i) => {
      if (r.mod && i === r.mod.after) {
        const x = hp(r.mod.dest);
        if (r.mod.op === 'del') e.delDest(key, { addr: x.addr, port: x.port });
        else if (r.mod.op === 'edit') e.editDest(key, { addr: x.addr, port: x.port, weight: r.mod.weight ?? 0, fwd: 'Masq' });
        else e.addDest(key, { addr: x.addr, port: x.port, weight: r.mod.weight ?? 1, fwd: 'Masq' });
      }
      const res = e.processFrame(ip('198.19.6.1', v.addr, { proto: 'tcp', sport: port, dport: v.port, flags: 'S' }), 1000 + i);
      if (res.verdict === 'XMIT') { const f = fields(res.data); got.push(`${f.dst}:${f.dport}`); }
    });
    expect(got).toEqual(r.chosen);
  });
});
