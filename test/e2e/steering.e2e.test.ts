// `--workers 2` with the TUN steering program (docs/steering.md, the director's default with
// several queues; on a TUN, and on a TAP behind the Ethernet header, NAT and DR): the kernel puts every frame on the queue of the worker that owns its conn, so
// plain NAT and FULLNAT traffic never needs the engine's redirect ring — client -> VIP frames by
// (caddr, cport), NAT replies by the same pair, FULLNAT replies by lport % N. Between real Linux
// TCP/IP stacks in namespaces (host/director/lab.ts). Root only; skipped with the reason otherwise.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { existsSync } from 'node:fs';
import { Director } from '../../host/director/director.ts';
import { startLabDirector, stopLabDirector } from './lab-director.ts';
import { Lab, LabClient, labRules, LAB_LADDRS } from '../../host/director/lab.ts';
import { labSkipReason } from './env.ts';

const skip = labSkipReason() ?? (existsSync(new URL('../../dist/host/director/worker-main.js', import.meta.url)) ? null : 'dist/ not built: npm run build');
if (skip) console.warn(`[test/e2e] steering with --workers 2 skipped: ${skip}`);

const CASES = [['nat', 'tun'], ['fullnat', 'tun'], ['nat', 'tap'], ['dr', 'tap']] as const;
for (const [forward, device] of CASES) describe.skipIf(skip !== null)(`--workers 2 with the steering program: ${forward.toUpperCase()} on a ${device.toUpperCase()} needs no redirect`, () => {
  let lab: Lab;
  let dir: Director;
  let client: LabClient;
  const logs: string[] = [];

  beforeAll(async () => {
    const tag = `s${forward[0]}${device[1]}`;
    ({ lab, dir, client } = await startLabDirector({ tag, forward, device }, (l) => ({
      ...(device === 'tap' ? l.tapOptions() : { netns: l.ns.dir }),
      dev: `wv${tag}${process.pid % 10000}`, tickMs: 100, logLevel: 'info',
      rulesText: labRules(l.rsAddrs, true, undefined, forward, l.laddrs), workers: 2, log: (m) => logs.push(m),
    }), forward === 'nat' && device === 'tun'));
  }, 60_000);
  afterAll(() => stopLabDirector({ lab, dir, client }));

  test('the program is attached (logged), no fallback warning', () => {
    expect(logs.some((l) => /steering program attached: 2 queues/.test(l))).toBe(true);
    expect(logs.some((l) => /steering program not loaded/.test(l))).toBe(false);
  });

  test('300 HTTP connections rr 100/100/100 and 30 UDP flows 10/10/10 with the redirect counters at 0; both workers used', async () => {
    const c0 = dir.engine.counters();
    const r = await client.call('http', { n: 300, port: 80, lports: Array.from({ length: 300 }, (_, i) => 26_000 + i) });
    expect(r.errors).toBe(0);
    expect(r.names).toEqual({ rs1: 100, rs2: 100, rs3: 100 });
    const u = await client.call('udp', { port: 53, n: 30, basePort: 46000 });
    expect(u.errors).toBe(0);
    expect(u.names).toEqual({ rs1: 10, rs2: 10, rs3: 10 });
    const c1 = dir.engine.counters();
    expect(c1.redirect_out - c0.redirect_out).toBe(0n);
    expect(c1.redirect_in - c0.redirect_in).toBe(0n);
    expect(c1.conn_created - c0.conn_created).toBe(330n);
    // both workers took frames (the owner function spreads client ports): their last reported stats
    await new Promise((r) => setTimeout(r, 300));
    const per = (dir as unknown as { threadStats: { rx: number }[] }).threadStats;
    expect(per).toHaveLength(2);
    for (const w of per) expect(w.rx).toBeGreaterThan(100);
  }, 60_000);

  test.runIf(device === 'tun')('a VIP added at run time joins the program\'s address set with the route (syncRoutes): its flows need no redirect either', async () => {
    const vip2 = '198.18.2.77';
    const key = { proto: 'UDP' as const, addr: vip2, port: 53 };
    dir.engine.addService({ ...key, sched: 'rr' });
    for (const a of lab.rsAddrs) dir.engine.addDest(key, { addr: a, port: 53, fwd: forward === 'nat' ? 'Masq' : 'FullNat' });
    if (forward === 'fullnat') dir.engine.addLaddr(key, LAB_LADDRS[1]!);   // the real servers route the lab's laddrs to the director
    dir.syncRoutes();                                 // what `adm` and keepalived reloads trigger
    try {
      const c0 = dir.engine.counters();
      const u = await client.call('udp', { port: 53, n: 30, basePort: 47000, host: vip2 });
      expect(u.errors).toBe(0);
      expect(u.names).toEqual({ rs1: 10, rs2: 10, rs3: 10 });
      expect(dir.engine.counters().redirect_out - c0.redirect_out).toBe(0n);
    } finally {
      dir.engine.delService(key);
      dir.syncRoutes();
    }
  }, 30_000);
});
