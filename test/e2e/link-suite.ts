// The DR and tunnel e2e suites (not a test file itself; dr.e2e.test.ts and tun-fwd.e2e.test.ts
// call it): the engine on a TAP on the real servers' LAN (host/director/lab.ts, forward 'dr' |
// 'ipip' | 'gue'), real Linux stacks on both ends, replies straight from the real servers to the
// client. Each file is one lab; the director runs in the test process.

import { afterAll, beforeAll, expect, test } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { Director, type DirectorOptions } from '../../host/director/director.ts';
import { Lab, LabClient, labRules, LAB_BRIDGE, LAB_CLIENT, LAB_LINK_ADDR, LAB_VIP, type LabForward } from '../../host/director/lab.ts';
import { transferIntact } from './lab-director.ts';

export interface LinkLab { lab: Lab; dir: Director; client: LabClient }

/** A command in a namespace, run asynchronously: the director runs in this process and must keep forwarding meanwhile. */
export const nsRun = async (ns: string, cmd: string, ...args: string[]): Promise<string> =>
  (await promisify(execFile)('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: 15_000 })).stdout;

const ipJson = (ns: string, ...args: string[]) => JSON.parse(execFileSync('ip', ['-n', ns, '-j', ...args], { encoding: 'utf8', timeout: 10_000 }));

/** The test: curl from the client namespace, 3 requests to the VIP, one answered by each real server (rr). */
export function curlOnePerServer(cliNs: () => string): void {
  test('curl from the client namespace: 3 requests, one per real server', async () => {
    const names: string[] = [];
    for (let i = 0; i < 3; i++) names.push((await nsRun(cliNs(), 'curl', '-sS', '--max-time', '5', `http://${LAB_VIP}/`)).trim());
    expect(names.sort()).toEqual(['rs1', 'rs2', 'rs3']);
  }, 20_000);
}

/** Define the tests of one DR/tunnel lab inside the caller's describe. */
export function linkSuite(forward: Exclude<LabForward, 'nat'>, tag: string, extra: Partial<DirectorOptions> = {}): LinkLab {
  const ctx = {} as LinkLab;

  /** n HTTP requests to VIP:port, a new TCP connection each from source port lportBase + i. */
  async function httpRun(port: number, n: number, lportBase: number) {
    const k0 = ctx.dir.engine.counters();
    const lports = Array.from({ length: n }, (_, i) => lportBase + i);
    const r = await ctx.client.call('http', { n, port, lports });
    const k1 = ctx.dir.engine.counters();
    const moved = Object.fromEntries(Object.entries(k1).filter(([k, v]) => v !== k0[k]).map(([k, v]) => [k, String(v - k0[k])]));
    return { ...r, diag: JSON.stringify(moved) };
  }
  const svcOf = (port: number, proto = 'TCP') => ctx.dir.engine.services().find((s) => s.port === port && s.proto === proto)!;

  beforeAll(async () => {
    ctx.lab = await Lab.create({ tag, forward });
    ctx.dir = await Director.start({
      ...ctx.lab.tapOptions(), dev: `wvt${tag.slice(-2)}${process.pid % 10000}`,
      rulesText: labRules(ctx.lab.rsAddrs, true, LAB_VIP, forward), tickMs: 100, logLevel: 'warn', ...extra,
    });
    ctx.client = await ctx.lab.client();
  }, 60_000);

  afterAll(() => {
    ctx.client?.close();
    ctx.dir?.stop();
    ctx.lab?.destroy();
  });

  test('the TAP is a port of the LAN bridge; the engine has its own MAC (not the TAP\'s) and address', () => {
    const [link] = ipJson(ctx.lab.ns.dir, 'link', 'show', 'dev', ctx.dir.devName);
    expect(link.master).toBe(LAB_BRIDGE);
    expect(ctx.dir.link?.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(ctx.dir.link?.mac).not.toBe(link.address);
    expect(ctx.dir.link?.ipv4).toBe(LAB_LINK_ADDR);
  });

  test('HTTP rr over 3 dests: 300 requests, a new TCP connection each -> exactly 100/100/100; no reply passes the director', async () => {
    const r = await httpRun(80, 300, 21_000);
    expect(r.errors, r.diag).toBe(0);
    expect(r.names, r.diag).toEqual({ rs1: 100, rs2: 100, rs3: 100 });
    const svc = svcOf(80);
    for (const d of svc.dests) expect(d.stats.conns).toBe(100n);
    // the replies go from the real servers to the router: the engine never sees one
    expect(svc.stats.outpkts).toBe(0n);
    expect(svc.stats.inpkts).toBeGreaterThanOrEqual(300n * 4n);   // SYN, ACK, request, FIN/ACKs
    const conns = ctx.dir.engine.conns().filter((c) => c.vport === 80 && c.caddr === LAB_CLIENT);
    expect(conns.length).toBe(300);
    // every conn still NOOUTPUT (engine flag 0x4, IP_VS_CONN_F_NOOUTPUT): not one reply seen
    expect(conns.filter((c) => c.outpkts !== 0 || (c.flags & 0x4) === 0)).toEqual([]);
    expect(svc.dests.map((d) => d.fwd)).toEqual(Array(3).fill(forward === 'dr' ? 'Route' : 'Tunnel'));
  }, 60_000);

  test('HTTP wrr weights 3,2,1 on :81: 300 requests -> exactly 150/100/50', async () => {
    const r = await httpRun(81, 300, 21_300);
    expect(r.errors, r.diag).toBe(0);
    expect(r.names, r.diag).toEqual({ rs1: 150, rs2: 100, rs3: 50 });
    expect(svcOf(81).stats.outpkts).toBe(0n);
  }, 60_000);

  test('UDP request/response: 30 datagrams over new source ports -> 10/10/10, answers from the VIP, none through the director', async () => {
    const r = await ctx.client.call('udp', { port: 53, n: 30, basePort: 41000 });
    expect(r.errors).toBe(0);
    expect(r.names).toEqual({ rs1: 10, rs2: 10, rs3: 10 });
    expect(svcOf(53, 'UDP').stats.outpkts).toBe(0n);
  }, 30_000);

  curlOnePerServer(() => ctx.lab.ns.cli);

  test('a 16 MiB upload (through the director) and a 16 MiB download (straight from the server) arrive intact', async () => {
    const bytes = 16 << 20;
    const k0 = ctx.dir.engine.counters();
    const { up, down } = await transferIntact(ctx.client, bytes);
    const k1 = ctx.dir.engine.counters();
    console.info(`[e2e ${forward}] 16 MiB upload ${up.ms} ms, download ${down.ms} ms; ` +
      `ICMP frag-needed sent by the engine: ${k1.icmp_frag_needed - k0.icmp_frag_needed}`);
    if (forward !== 'dr') {
      // full-size client segments do not fit a 1500-byte path once encapsulated: the engine refuses
      // them with ICMP fragmentation needed and the client's TCP lowers its path MTU to the VIP
      expect(k1.icmp_frag_needed - k0.icmp_frag_needed).toBeGreaterThanOrEqual(1n);
    }
    expect(svcOf(9).stats.outpkts).toBe(0n);
  }, 60_000);

  test('the engine learnt every real server\'s MAC by ARP, and the router learnt the engine\'s MAC for the VIP', () => {
    for (let i = 0; i < ctx.lab.rsAddrs.length; i++) {
      const [eth0] = ipJson(ctx.lab.ns.rs[i], 'link', 'show', 'dev', 'eth0');
      const n = ctx.dir.engine.neighbour(ctx.lab.rsAddrs[i]);
      expect(['REACHABLE', 'STALE']).toContain(n.state);
      expect(n.mac).toBe(eth0.address);
    }
    const neigh = ipJson(ctx.lab.ns.dir, 'neigh', 'show', LAB_VIP, 'dev', LAB_BRIDGE);
    expect(neigh.map((x: any) => x.lladdr)).toEqual([ctx.dir.link!.mac]);
  });

  return ctx;
}
