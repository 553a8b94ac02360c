/*
 * A SYN from the same client addr:port on an existing conn, against Linux 6.1 for
 * net.ipv4.vs.conn_reuse_mode 0..3 (test/golden/kernel/cases/conn-reuse.sh): which conns exist
 * before and after the SYN, on which dest, in which state, the dests' ActiveConn/InActConn, and
 * how many conns the service ever made (--stats).
 */
import { describe, test, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { engine } from '../../helpers/engine.ts';
import { ip } from '../../helpers/pkt.ts';

interface Snap { label: string; client: string; conns: { state: string; vip: string; dest: string }[]; dests: { dest: string; active: number; inact: number }[] }
interface Stat { stats: { service: string; conns: number; inpkts: number; outpkts: number } }
const file = join(import.meta.dirname, '..', '..', 'golden', 'kernel', 'recorded', 'conn-reuse', 'conn-reuse.jsonl');
const lines: (Snap | Stat)[] = existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
const snaps = lines.filter((l): l is Snap => 'label' in l);
const stats = new Map(lines.filter((l): l is Stat => 'stats' in l).map((l) => [l.stats.service, l.stats.conns]));
const hp = (s: string) => { const i = s.lastIndexOf(':'); return { addr: s.slice(0, i), port: Number(s.slice(i + 1)) }; };

// "N reuse_mode=M nat PREFIX + i:S | before SYN" → one case per N (DR needs the DR method: issue 7)
const cases = new Map<number, { mode: number; prefix: string[]; before?: Snap; after?: Snap }>();
for (const s of snaps) {
  const m = /^(\d+) reuse_mode=(\d) (nat|dr) (.*) \+ i:S \| (before|after) SYN$/.exec(s.label);
  if (!m || m[3] !== 'nat') continue;
  const n = Number(m[1]);
  const c = cases.get(n) ?? { mode: Number(m[2]), prefix: m[4].split(' ') };
  if (m[5] === 'before') c.before = s; else c.after = s;
  cases.set(n, c);
}

describe.skipIf(cases.size === 0)('conn reuse vs Linux 6.1 (recorded)', () => {
  test.each([...cases].map(([n, c]) => [`${n}: mode ${c.mode}, ${c.prefix.join(' ')} + i:S`, n, c] as const))('%s', async (_l, n, c) => {
    const e = await engine();
    e.set('connReuse', (c.mode & 1) !== 0);
    e.set('connReuse2', (c.mode & 2) !== 0);
    const vip = hp(c.before!.conns[0]?.vip ?? `198.18.2.4:${2000 + n}`);
    const key = { proto: 'TCP' as const, addr: vip.addr, port: vip.port };
    e.addService({ ...key, sched: 'rr' });
    // dests .11 then .13: newest first, rr gives the first conn to .13
    for (const a of ['198.18.1.11', '198.18.1.13']) e.addDest(key, { addr: a, port: vip.port, fwd: 'Masq' });
    const cl = hp(c.before!.client);
    let now = 1000;
    const send = (p: string) => {
      const [dir, flags] = p.split(':');
      const conn = e.conns().find((x) => x.cport === cl.port);
      const f = dir === 'i' ? ip(cl.addr, vip.addr, { proto: 'tcp', sport: cl.port, dport: vip.port, flags })
        : ip(conn!.daddr, cl.addr, { proto: 'tcp', sport: conn!.dport, dport: cl.port, flags });
      e.processFrame(f, now += 100);
    };
    const view = () => ({
      conns: e.conns().filter((x) => x.cport === cl.port).map((x) => ({ state: x.state, dest: `${x.daddr}:${x.dport}` })),
      dests: e.services()[0].dests.map((d) => ({ dest: `${d.addr}:${d.port}`, active: d.activeconns, inact: d.inactconns })).sort((a, b) => a.dest.localeCompare(b.dest)),
    });
    const kview = (s: Snap) => ({ conns: s.conns.map((x) => ({ state: x.state, dest: x.dest })), dests: [...s.dests].sort((a, b) => a.dest.localeCompare(b.dest)) });
    c.prefix.forEach(send);
    expect(view(), 'before the SYN').toEqual(kview(c.before!));
    send('i:S');
    expect(view(), 'after the SYN').toEqual(kview(c.after!));
    expect(Number(e.services()[0].stats.conns), 'conns ever made').toBe(stats.get(`${vip.addr}:${vip.port}`));
  });
});
