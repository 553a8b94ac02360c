// NAT (-m) and FULLNAT (--fullnat) with the engine on a TAP, end to end: the engine is a host on
// the real servers' LAN (198.18.1.254/24, gateway the router 198.18.1.1; host/director/lab.ts
// device 'tap'); the client is behind the router. NAT: the real servers' default route is the
// engine's own address (it answers ARP for it), so every reply passes the engine and leaves from
// the VIP to the router's MAC. FULLNAT: the real servers have no route off their /24; the laddrs
// are on it (ARP-answered by the engine) and are all the servers ever see as the peer.
// Root only; skipped with the reason otherwise. The director runs in the test process.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { Director } from '../../host/director/director.ts';
import {
  Lab, LabClient, labRules, LAB_BRIDGE, LAB_CLIENT, LAB_LINK_ADDR, LAB_ROUTER, LAB_TAP_LADDRS, LAB_VIP, type LabForward,
} from '../../host/director/lab.ts';
import { labSkipReason } from './env.ts';
import { transferIntact } from './lab-director.ts';
import { nsRun, curlOnePerServer } from './link-suite.ts';

const skip = labSkipReason();
if (skip) console.warn(`[test/e2e] NAT/FULLNAT over a TAP tests skipped: ${skip}`);

const ipJson = (ns: string, ...args: string[]) => JSON.parse(execFileSync('ip', ['-n', ns, '-j', ...args], { encoding: 'utf8', timeout: 10_000 }));
const macOf = (ns: string, dev: string): string => ipJson(ns, 'link', 'show', 'dev', dev)[0].address;

interface Ctx { lab: Lab; dir: Director; client: LabClient }

/** Lab + in-process director on the lab's LAN, for NAT or FULLNAT. */
function setup(forward: Extract<LabForward, 'nat' | 'fullnat'>, tag: string, offload = false): Ctx {
  const ctx = {} as Ctx;
  beforeAll(async () => {
    ctx.lab = await Lab.create({ tag, forward, device: 'tap' });
    ctx.dir = await Director.start({
      ...ctx.lab.tapOptions(), dev: `wvt${tag.slice(-2)}${process.pid % 10000}`,
      rulesText: labRules(ctx.lab.rsAddrs, true, LAB_VIP, forward, ctx.lab.laddrs), tickMs: 100, logLevel: 'warn', offload,
    });
    ctx.client = await ctx.lab.client();
  }, 60_000);
  afterAll(() => {
    ctx.client?.close();
    ctx.dir?.stop();
    ctx.lab?.destroy();
  });
  return ctx;
}

/** Engine counters that moved during fn, as a diagnostic string, with fn's result. */
async function withDiag<T>(ctx: Ctx, fn: () => Promise<T>): Promise<T & { diag: string }> {
  const k0 = ctx.dir.engine.counters();
  const r = await fn();
  const k1 = ctx.dir.engine.counters();
  const moved = Object.fromEntries(Object.entries(k1).filter(([k, v]) => v !== k0[k]).map(([k, v]) => [k, String(v - k0[k])]));
  return { ...r, diag: JSON.stringify(moved) };
}

const svcOf = (ctx: Ctx, port: number, proto = 'TCP') => ctx.dir.engine.services().find((s) => s.port === port && s.proto === proto)!;

describe.skipIf(skip !== null)('NAT (-m) over a TAP: real servers route via the engine, replies leave from the VIP to the gateway', () => {
  const ctx = setup('nat', 'e2e-tn');

  test('the link: ADDR/24 with the router as gateway; real servers\' default route is the engine\'s address', () => {
    expect(ctx.dir.link?.ipv4).toBe(`${LAB_LINK_ADDR}/24`);
    expect((ctx.dir.link as { gateway4?: string } | undefined)?.gateway4).toBe(LAB_ROUTER);
    const [link] = ipJson(ctx.lab.ns.dir, 'link', 'show', 'dev', ctx.dir.devName);
    expect(link.master).toBe(LAB_BRIDGE);
    for (const ns of ctx.lab.ns.rs) {
      expect(ipJson(ns, 'route', 'show', 'default').map((r: any) => r.gateway)).toEqual([LAB_LINK_ADDR]);
    }
  });

  test('HTTP rr: 300 new connections -> exactly 100/100/100, each server sees the client; every conn\'s replies passed the engine', async () => {
    const lports = Array.from({ length: 300 }, (_, i) => 22_000 + i);
    const r = await withDiag(ctx, () => ctx.client.call('http', { n: 300, port: 80, path: '/peer', lports }));
    expect(r.errors, r.diag).toBe(0);
    // NAT keeps the client's address: the servers see 198.18.0.2
    expect(r.names, r.diag).toEqual({ [`rs1 ${LAB_CLIENT}`]: 100, [`rs2 ${LAB_CLIENT}`]: 100, [`rs3 ${LAB_CLIENT}`]: 100 });
    const svc = svcOf(ctx, 80);
    expect(svc.dests.map((d) => d.fwd)).toEqual(['Masq', 'Masq', 'Masq']);
    for (const d of svc.dests) expect(d.stats.conns).toBe(100n);
    // per conn: SYN-ACK, response, FIN (at least 3 replies each) all through the engine
    expect(svc.stats.outpkts).toBeGreaterThanOrEqual(300n * 3n);
    const conns = ctx.dir.engine.conns().filter((c) => c.vport === 80 && c.caddr === LAB_CLIENT);
    expect(conns.length).toBe(300);
    expect(conns.filter((c) => c.outpkts < 2 || (c.flags & 0x4) !== 0)).toEqual([]);   // no NOOUTPUT conn left
    expect(new Set(conns.map((c) => c.cport))).toEqual(new Set(lports));
  }, 60_000);

  test('curl from the client namespace gets its answers from the VIP (TCP to the VIP completes only if the replies come from it)', async () => {
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      // %{remote_ip}: the peer of the client's connection
      const out = await nsRun(ctx.lab.ns.cli, 'curl', '-sS', '--max-time', '5', '-w', ' %{remote_ip}', `http://${LAB_VIP}/`);
      names.push(out.trim().replace(/\s+/, ' '));
    }
    expect(names.sort()).toEqual([`rs1 ${LAB_VIP}`, `rs2 ${LAB_VIP}`, `rs3 ${LAB_VIP}`]);
    // the client cannot reach a real server by itself: there is no path back from one but via the engine,
    // which drops what is not for a VIP (a control: the server's own address is not answered)
    const direct = spawnSync('ip', ['netns', 'exec', ctx.lab.ns.cli, 'curl', '-sS', '--max-time', '2', `http://${ctx.lab.rsAddrs[0]}/`], { encoding: 'utf8', timeout: 10_000 });
    expect(direct.status).not.toBe(0);
  }, 30_000);

  test('HTTP wrr weights 3,2,1 on :81 (to :80): 300 requests -> exactly 150/100/50', async () => {
    const lports = Array.from({ length: 300 }, (_, i) => 22_400 + i);
    const r = await withDiag(ctx, () => ctx.client.call('http', { n: 300, port: 81, lports }));
    expect(r.errors, r.diag).toBe(0);
    expect(r.names, r.diag).toEqual({ rs1: 150, rs2: 100, rs3: 50 });
    expect(svcOf(ctx, 81).stats.outpkts).toBeGreaterThanOrEqual(900n);
  }, 60_000);

  test('UDP: 30 datagrams over new source ports -> 10/10/10, answered through the engine, each server sees the client', async () => {
    const r = await ctx.client.call('udp', { port: 53, n: 30, peer: true, basePort: 42000 });
    expect(r.errors).toBe(0);
    expect(r.names).toEqual({ [`rs1 ${LAB_CLIENT}`]: 10, [`rs2 ${LAB_CLIENT}`]: 10, [`rs3 ${LAB_CLIENT}`]: 10 });
    expect(svcOf(ctx, 53, 'UDP').stats.outpkts).toBe(30n);
  }, 30_000);

  test('a 16 MiB upload and a 16 MiB download, both ways through the engine, arrive intact', async () => {
    const bytes = 16 << 20;
    const o9 = svcOf(ctx, 9).stats, o80 = svcOf(ctx, 80).stats;
    const { up, down } = await transferIntact(ctx.client, bytes);
    console.info(`[e2e tap-nat] 16 MiB upload ${up.ms} ms, download ${down.ms} ms`);
    const n9 = svcOf(ctx, 9).stats, n80 = svcOf(ctx, 80).stats;
    expect(n9.inbytes - o9.inbytes).toBeGreaterThan(BigInt(bytes));
    expect(n9.outpkts - o9.outpkts).toBeGreaterThan(0n);          // the upload's ACKs came back through the engine
    expect(n80.outbytes - o80.outbytes).toBeGreaterThan(BigInt(bytes));   // the download itself did
  }, 90_000);

  test('the engine learnt the router\'s MAC (its gateway) and every real server\'s by ARP; the servers and the router hold the engine\'s MAC', () => {
    const gw = ctx.dir.engine.neighbour(LAB_ROUTER);
    expect(['REACHABLE', 'STALE']).toContain(gw.state);
    expect(gw.mac).toBe(macOf(ctx.lab.ns.dir, LAB_BRIDGE));
    for (let i = 0; i < ctx.lab.rsAddrs.length; i++) {
      const n = ctx.dir.engine.neighbour(ctx.lab.rsAddrs[i]);
      expect(['REACHABLE', 'STALE']).toContain(n.state);
      expect(n.mac).toBe(macOf(ctx.lab.ns.rs[i], 'eth0'));
      // the real server ARPed for its default router 198.18.1.254: the engine answered
      expect(ipJson(ctx.lab.ns.rs[i], 'neigh', 'show', LAB_LINK_ADDR, 'dev', 'eth0').map((x: any) => x.lladdr)).toEqual([ctx.dir.link!.mac]);
    }
    expect(ipJson(ctx.lab.ns.dir, 'neigh', 'show', LAB_VIP, 'dev', LAB_BRIDGE).map((x: any) => x.lladdr)).toEqual([ctx.dir.link!.mac]);
  });
});

describe.skipIf(skip !== null)('FULLNAT (--fullnat) over a TAP with offloads: real servers without a route to the clients answer laddrs on their LAN', () => {
  const ctx = setup('fullnat', 'e2e-tf', true);

  test('the real servers have no route but their LAN: the client is unreachable from them', () => {
    for (const ns of ctx.lab.ns.rs) {
      expect(ipJson(ns, 'route', 'show').map((r: any) => r.dst)).toEqual(['198.18.1.0/24']);
      const r = spawnSync('ip', ['-n', ns, 'route', 'get', LAB_CLIENT], { encoding: 'utf8' });
      expect(r.status, r.stdout).not.toBe(0);   // Network is unreachable
    }
    expect(ctx.dir.engine.laddrs({ proto: 'TCP', addr: LAB_VIP, port: 80 }).map((l) => l.addr)).toEqual(LAB_TAP_LADDRS);
  });

  test('HTTP rr: 300 new connections -> exactly 100/100/100; each server sees only the laddrs as the peer, 50 conns from each', async () => {
    const lports = Array.from({ length: 300 }, (_, i) => 23_000 + i);
    const r = await withDiag(ctx, () => ctx.client.call('http', { n: 300, port: 80, path: '/peer', lports }));
    expect(r.errors, r.diag).toBe(0);
    // conn i: dest i % 3 (rr), laddr i % 2 (round robin per service): every (server, laddr) pair 50 times
    const want: Record<string, number> = {};
    for (const n of ['rs1', 'rs2', 'rs3']) for (const l of LAB_TAP_LADDRS) want[`${n} ${l}`] = 50;
    expect(r.names, r.diag).toEqual(want);
    const svc = svcOf(ctx, 80);
    expect(svc.dests.map((d) => d.fwd)).toEqual(['FullNat', 'FullNat', 'FullNat']);
    for (const d of svc.dests) expect(d.stats.conns).toBe(100n);
    expect(svc.stats.outpkts).toBeGreaterThanOrEqual(300n * 3n);
    const conns = ctx.dir.engine.conns().filter((c) => c.vport === 80 && c.caddr === LAB_CLIENT);
    expect(conns.length).toBe(300);
    expect(conns.filter((c) => c.outpkts < 2)).toEqual([]);
  }, 60_000);

  curlOnePerServer(() => ctx.lab.ns.cli);

  test('UDP rr: 30 request/responses -> 10/10/10, each from a laddr', async () => {
    const r = await ctx.client.call<{ names: Record<string, number>; errors: number }>('udp', { n: 30, port: 53, peer: true, basePort: 43000 });
    expect(r.errors).toBe(0);
    const perServer: Record<string, number> = {};
    for (const [k, n] of Object.entries(r.names)) {
      const [name, peer] = k.split(' ');
      expect(LAB_TAP_LADDRS, k).toContain(peer);
      perServer[name] = (perServer[name] ?? 0) + n;
    }
    expect(perServer).toEqual({ rs1: 10, rs2: 10, rs3: 10 });
    expect(svcOf(ctx, 53, 'UDP').stats.outpkts).toBe(30n);
  }, 30_000);

  test('a 16 MiB upload and a 16 MiB download arrive intact', async () => {
    const bytes = 16 << 20;
    const { up, down } = await transferIntact(ctx.client, bytes);
    console.info(`[e2e tap-fullnat] 16 MiB upload ${up.ms} ms, download ${down.ms} ms`);
  }, 90_000);

  test('the real servers resolved the laddrs to the engine\'s MAC; the engine learnt the router\'s MAC', () => {
    for (const ns of ctx.lab.ns.rs) {
      const got = LAB_TAP_LADDRS.map((l) => ipJson(ns, 'neigh', 'show', l, 'dev', 'eth0').map((x: any) => x.lladdr));
      expect(got).toEqual(LAB_TAP_LADDRS.map(() => [ctx.dir.link!.mac]));
    }
    const gw = ctx.dir.engine.neighbour(LAB_ROUTER);
    expect(['REACHABLE', 'STALE']).toContain(gw.state);
    expect(gw.mac).toBe(macOf(ctx.lab.ns.dir, LAB_BRIDGE));
  });

  test('offloads: super-packets went through whole, and every conn\'s TOA still went in (partial checksums finished first)', () => {
    const c = ctx.dir.engine.counters();
    expect(c.gso_packets).toBeGreaterThan(50n);
    expect(c.drop_bad_vnet_hdr).toBe(0n);
    expect(c.toa_added).toBeGreaterThanOrEqual(300n);
  });
});
