// IPv6 DR (-g) end to end: the DR lab with IPv6 (host/director/lab.ts ipv6: true, 2001:2::/48).
// The real servers hold the IPv6 VIP on lo as a /128: Linux answers neighbour solicitations only
// for addresses of the receiving interface, so no sysctl is needed (IPv4's arp_ignore has no IPv6
// counterpart to set). The router solicits the VIP on the LAN and the engine answers; the engine
// resolves the real servers by NS and forwards the client's frames to their MACs; the servers
// answer the client straight through the router. Root only; skipped with the reason otherwise.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { Director } from '../../host/director/director.ts';
import {
  Lab, LabClient, labRules, LAB_BRIDGE, LAB_CLIENT, LAB_CLIENT6, LAB_LINK_ADDR6, LAB_VIP, LAB_VIP6,
} from '../../host/director/lab.ts';
import { labSkipReason } from './env.ts';
import { nsRun } from './link-suite.ts';

const skip = labSkipReason() ?? (() => {
  try { execFileSync('ip', ['-6', 'addr', 'show', 'dev', 'lo'], { stdio: 'ignore', timeout: 5_000 }); return null; } catch { return 'no IPv6 in this kernel'; }
})();
if (skip) console.warn(`[test/e2e] IPv6 DR tests skipped: ${skip}`);

const ipJson = (ns: string, ...args: string[]) => JSON.parse(execFileSync('ip', ['-n', ns, '-j', ...args], { encoding: 'utf8', timeout: 10_000 }));

describe.skipIf(skip !== null)('IPv6 DR (-g) over a TAP: the engine answers NS for the VIP, real servers answer the client directly', () => {
  let lab: Lab, dir: Director, client6: LabClient, client4: LabClient;

  beforeAll(async () => {
    lab = await Lab.create({ tag: 'e2e-d6', forward: 'dr', ipv6: true });
    dir = await Director.start({
      ...lab.tapOptions(), dev: `wvt6${process.pid % 100000}`,
      // the IPv6 VIP:80 rr over the servers' IPv6 addresses, and the IPv4 one as in the DR lab
      rulesText: labRules(lab.rsAddrs6, false, LAB_VIP6, 'dr') + labRules(lab.rsAddrs, false, LAB_VIP, 'dr'),
      tickMs: 100, logLevel: 'warn',
    });
    client6 = await lab.client(LAB_VIP6);
    client4 = await lab.client();
  }, 60_000);

  afterAll(() => {
    client6?.close();
    client4?.close();
    dir?.stop();
    lab?.destroy();
  });

  const svc6 = () => dir.engine.services().find((s) => s.addr === LAB_VIP6 && s.port === 80)!;

  test('the lab: VIP6/128 on lo of every real server, the engine has its IPv6 address on the link', () => {
    for (const ns of lab.ns.rs) {
      const lo = ipJson(ns, '-6', 'addr', 'show', 'dev', 'lo')[0].addr_info.map((a: any) => `${a.local}/${a.prefixlen}`);
      expect(lo).toContain(`${LAB_VIP6}/128`);
    }
    expect(dir.link?.ipv6).toBe(`${LAB_LINK_ADDR6}/64`);
    expect(svc6().dests.map((d) => `${d.addr} ${d.fwd}`).sort()).toEqual(lab.rsAddrs6.map((a) => `${a} Route`));
  });

  test('HTTP over IPv6: 300 new connections to [VIP6]:80 -> exactly 100/100/100, the servers see the client; no reply passes the director', async () => {
    const k0 = dir.engine.counters();
    const lports = Array.from({ length: 300 }, (_, i) => 24_000 + i);
    const r = await client6.call('http', { n: 300, port: 80, path: '/peer', lports });
    const k1 = dir.engine.counters();
    const diag = JSON.stringify(Object.fromEntries(Object.entries(k1).filter(([k, v]) => v !== k0[k]).map(([k, v]) => [k, String(v - k0[k])])));
    expect(r.errors, diag).toBe(0);
    expect(r.names, diag).toEqual({ [`rs1 ${LAB_CLIENT6}`]: 100, [`rs2 ${LAB_CLIENT6}`]: 100, [`rs3 ${LAB_CLIENT6}`]: 100 });
    const svc = svc6();
    for (const d of svc.dests) expect(d.stats.conns).toBe(100n);
    expect(svc.stats.outpkts).toBe(0n);
    expect(svc.stats.inpkts).toBeGreaterThanOrEqual(300n * 4n);
    const conns = dir.engine.conns().filter((c) => c.vaddr === LAB_VIP6 && c.vport === 80);
    expect(conns.length).toBe(300);
    expect(conns.filter((c) => c.caddr !== LAB_CLIENT6 || c.outpkts !== 0 || (c.flags & 0x4) === 0)).toEqual([]);
    expect(new Set(conns.map((c) => c.cport))).toEqual(new Set(lports));
  }, 60_000);

  test('curl -6 from the client namespace: 3 requests, one per real server, answered from the VIP6', async () => {
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      names.push((await nsRun(lab.ns.cli, 'curl', '-6sS', '--max-time', '5', '-w', ' %{remote_ip}', `http://[${LAB_VIP6}]/`)).trim().replace(/\s+/, ' '));
    }
    expect(names.sort()).toEqual([`rs1 ${LAB_VIP6}`, `rs2 ${LAB_VIP6}`, `rs3 ${LAB_VIP6}`]);
  }, 20_000);

  test('IPv4 in the same lab still works: 30 requests -> 10/10/10', async () => {
    const r = await client4.call('http', { n: 30, port: 80, path: '/peer', lports: Array.from({ length: 30 }, (_, i) => 24_400 + i) });
    expect(r.errors).toBe(0);
    expect(r.names).toEqual({ [`rs1 ${LAB_CLIENT}`]: 10, [`rs2 ${LAB_CLIENT}`]: 10, [`rs3 ${LAB_CLIENT}`]: 10 });
  }, 30_000);

  test('the engine learnt every real server\'s MAC by NS; the router learnt the engine\'s MAC for the VIP6 (NS answered by the engine only)', () => {
    for (let i = 0; i < lab.rsAddrs6.length; i++) {
      const [eth0] = ipJson(lab.ns.rs[i], 'link', 'show', 'dev', 'eth0');
      const n = dir.engine.neighbour(lab.rsAddrs6[i]);
      expect(['REACHABLE', 'STALE']).toContain(n.state);
      expect(n.mac).toBe(eth0.address);
    }
    const neigh = ipJson(lab.ns.dir, '-6', 'neigh', 'show', LAB_VIP6, 'dev', LAB_BRIDGE);
    expect(neigh.map((x: any) => x.lladdr)).toEqual([dir.link!.mac]);
    // no real server announced or answered for the VIP6: none of the router's entries for it names a server's MAC
    const rsMacs = lab.ns.rs.map((ns) => ipJson(ns, 'link', 'show', 'dev', 'eth0')[0].address);
    const all = ipJson(lab.ns.dir, '-6', 'neigh', 'show', 'dev', LAB_BRIDGE).filter((x: any) => x.dst === LAB_VIP6);
    expect(all.filter((x: any) => rsMacs.includes(x.lladdr))).toEqual([]);
  });

  test('the router\'s entry for the VIP6 flushed: its next NS is answered by the engine, with the engine\'s MAC', async () => {
    const before = dir.engine.counters().neigh_advert_sent;
    // (ndisc6 is rarely installed) flush the router's entry and send a request: the kernel must solicit the VIP6 again
    execFileSync('ip', ['-n', lab.ns.dir, '-6', 'neigh', 'flush', 'dev', LAB_BRIDGE, 'to', LAB_VIP6]);
    const out = await nsRun(lab.ns.cli, 'curl', '-6sS', '--max-time', '5', `http://[${LAB_VIP6}]/`);
    expect(['rs1', 'rs2', 'rs3']).toContain(out.trim());
    expect(dir.engine.counters().neigh_advert_sent - before).toBeGreaterThanOrEqual(1n);
    const neigh = ipJson(lab.ns.dir, '-6', 'neigh', 'show', LAB_VIP6, 'dev', LAB_BRIDGE);
    expect(neigh.map((x: any) => x.lladdr)).toEqual([dir.link!.mac]);
  }, 20_000);
});
