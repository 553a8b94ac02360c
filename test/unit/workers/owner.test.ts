// The conn-owner function (docs/workers.md): the engine's (assembly/worker.ts) against the vectors
// of test/golden/owner-vectors.json, which the TUN steering program is checked against as well.
import { expect, test } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { buildVectors } from '../../golden/owner/record.ts';
import { ownerRef } from '../../golden/owner/owner-ref.ts';
import { loadEngine } from '../../../host/engine-node.ts';

const FILE = new URL('../../golden/owner-vectors.json', import.meta.url);
if (process.env.WVS_RECORD_OWNER) writeFileSync(FILE, JSON.stringify(buildVectors(), null, 1) + '\n');
const golden = JSON.parse(readFileSync(FILE, 'utf8')) as ReturnType<typeof buildVectors>;

test('the committed vectors are what the reference builds (both sides read the same file)', () => {
  expect(buildVectors()).toEqual(golden);
  expect(golden.vectors.length).toBeGreaterThan(200);
});

test('key32 and the hash by hand: 198.18.0.1 port 0 among 2 and 3 workers', () => {
  // key32 = 0xC6120001; h = 0xC6120001 * 0x9E3779B1 mod 2^32; owner = (h >>> 16) % n
  const h = Number((0xc6120001n * 0x9e3779b1n) & 0xffffffffn);
  const f = Uint8Array.from([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 1, 10, 198, 18, 0, 1]);
  expect(ownerRef(f, 2, { vips: [], laddrs: [] })).toBe((h >>> 16) % 2);
  expect(ownerRef(f, 3, { vips: [], laddrs: [] })).toBe((h >>> 16) % 3);
});

test('both directions of a NAT conn have one owner; FULLNAT replies go to lport % N; client ports spread', () => {
  const by = (name: string, n: number) => golden.vectors.find((v) => v.name === name && v.n === n)!.owner;
  for (const n of [2, 3, 4, 7, 16]) {
    for (const p of [1024, 1025, 40000, 40001, 65535]) expect(by(`tcp rs:8080 -> client:${p} (NAT reply)`, n)).toBe(by(`tcp client:${p} -> vip:80`, n));
    for (const p of [1025, 1026, 1027, 1028, 30001]) expect(by(`tcp rs:8080 -> laddr:${p} (FULLNAT reply)`, n)).toBe(p % n);
  }
  const owners2 = new Set([1024, 1025, 40000, 40001, 65535].map((p) => by(`tcp client:${p} -> vip:80`, 2)));
  expect(owners2).toEqual(new Set([0, 1]));
});

test('the engine computes the same owner for every vector (its VIPs and local addresses configured)', async () => {
  for (const link of ['tun', 'tap'] as const) {
    const e = await loadEngine({ link: link === 'tun' ? 'ip' : 'ethernet' });
    for (const vip of golden.addressSet.vips) {
      e.addService({ proto: 'TCP', addr: vip, port: 80, sched: 'rr' });
    }
    // local addresses belong to a FULLNAT service of their own family
    e.addService({ proto: 'TCP', addr: '198.18.0.200', port: 80, sched: 'rr' });
    e.addService({ proto: 'TCP', addr: '2001:2::200', port: 80, sched: 'rr' });
    e.addLaddr({ proto: 'TCP', addr: '198.18.0.200', port: 80 }, golden.addressSet.laddrs[0]!);
    e.addLaddr({ proto: 'TCP', addr: '2001:2::200', port: 80 }, golden.addressSet.laddrs[1]!);
    const vs = golden.vectors.filter((v) => v.link === link);
    expect(vs.length).toBeGreaterThan(0);
    for (const v of vs) {
      const f = Buffer.from(v.frame, 'hex');
      const scratch = Number(e.ex.regionBase(9));
      e.memory.set(f, scratch);
      expect([v.name, v.n, e.ex.frameOwner(f.length, v.n)]).toEqual([v.name, v.n, v.owner]);
    }
  }
});
