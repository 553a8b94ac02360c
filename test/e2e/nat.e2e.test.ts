// The director forwarding real traffic between real Linux TCP/IP stacks: a client namespace,
// the director (engine in this process, its TUN in a director namespace), three real servers
// (host/director/lab.ts). NAT (Masq) only. Root only; skipped with the reason otherwise.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tunAvailable } from '../../host/native/tun.ts';
import { Director } from '../../host/director/director.ts';
import { startLabDirector, stopLabDirector, transferIntact } from './lab-director.ts';
import { Lab, LabClient, labRules, LAB_CLIENT, LAB_VIP } from '../../host/director/lab.ts';

function skipReason(): string | null {
  if (process.platform !== 'linux') return 'Linux only (network namespaces, TUN)';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TUN: CAP_SYS_ADMIN, CAP_NET_ADMIN)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  try { execFileSync('ip', ['-V'], { stdio: 'ignore', timeout: 5_000 }); } catch { return 'iproute2 (`ip`) is not installed'; }
  if (!tunAvailable()) return 'TUN addon not built: npx node-gyp rebuild';
  return null;
}
const skip = skipReason();
if (skip) console.warn(`[test/e2e] director NAT tests skipped: ${skip}`);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe.skipIf(skip !== null)('director NAT through a TUN, real TCP/IP stacks in namespaces', () => {
  let lab: Lab;
  let dir: Director;
  let client: LabClient;
  const key = (port: number, proto: 'TCP' | 'UDP' = 'TCP') => ({ proto, addr: LAB_VIP, port });
  /** The engine's conn for the client's local port lport to VIP:vport. */
  const connOf = (lport: number, vport: number) =>
    dir.engine.conns().find((c) => c.caddr === LAB_CLIENT && c.cport === lport && c.vport === vport);
  async function waitState(lport: number, vport: number, want: string, ms = 3000): Promise<string | undefined> {
    const until = Date.now() + ms;
    let st: string | undefined;
    while (Date.now() < until) {
      st = connOf(lport, vport)?.state;
      if (st === want) return st;
      await sleep(20);
    }
    return st;
  }

  /**
   * n HTTP requests to VIP:port, each on a new TCP connection from its own source port
   * (lportBase + i: no port of this run meets an engine conn of an earlier one), with the
   * engine counters that moved attached to a failure.
   */
  async function httpRun(port: number, n: number, lportBase: number) {
    const k0 = dir.engine.counters();
    const lports = Array.from({ length: n }, (_, i) => lportBase + i);
    const r = await client.call('http', { n, port, lports });
    const k1 = dir.engine.counters();
    const moved = Object.fromEntries(Object.entries(k1).filter(([k, v]) => v !== k0[k]).map(([k, v]) => [k, String(v - k0[k])]));
    return { ...r, diag: JSON.stringify(moved) };
  }

  beforeAll(async () => {
    ({ lab, dir, client } = await startLabDirector({ tag: 'e2e' },
      (l) => ({ dev: `wvs${process.pid % 100000}`, netns: l.ns.dir, rulesText: labRules(l.rsAddrs), tickMs: 100, logLevel: 'warn' })));
  }, 60_000);
  afterAll(() => stopLabDirector({ lab, dir, client }));

  test('the VIP route is in the director namespace, and goes with the director', () => {
    expect(execFileSync('ip', ['-n', lab.ns.dir, 'route', 'show', `${LAB_VIP}/32`], { encoding: 'utf8' })).toContain(`dev ${dir.devName}`);
  });

  test('HTTP rr over 3 dests: 300 requests, a new TCP connection each -> exactly 100/100/100', async () => {
    const r = await httpRun(80, 300, 20_000);
    expect(r.errors, r.diag).toBe(0);
    expect(r.names, r.diag).toEqual({ rs1: 100, rs2: 100, rs3: 100 });
    const svc = dir.engine.services().find((s) => s.port === 80)!;
    for (const d of svc.dests) expect(d.stats.conns).toBe(100n);
  }, 60_000);

  test('HTTP wrr weights 3,2,1: 300 requests -> exactly 150/100/50', async () => {
    const r = await httpRun(81, 300, 20_300);
    expect(r.errors, r.diag).toBe(0);
    expect(r.names, r.diag).toEqual({ rs1: 150, rs2: 100, rs3: 50 });
  }, 60_000);

  test('UDP request/response through the VIP: rr over new source ports, replies from the VIP', async () => {
    const r = await client.call('udp', { port: 53, n: 30, basePort: 42000 });
    expect(r.errors).toBe(0);
    expect(r.names).toEqual({ rs1: 10, rs2: 10, rs3: 10 });
    const udp = dir.engine.conns().filter((c) => c.proto === 'UDP' && c.vport === 53);
    expect(udp.length).toBe(30);
    expect(new Set(udp.map((c) => c.daddr))).toEqual(new Set(lab.rsAddrs));
  }, 30_000);

  test('UDP datagrams of 4000 bytes, IP fragments both ways: reassembled by the engine, NATed, sent on as fragments; answers whole', async () => {
    const k0 = dir.engine.counters();
    const r = await client.call('udp', { port: 53, n: 6, basePort: 42100, pad: 4000 });
    const k1 = dir.engine.counters();
    const moved = (c: string) => k1[c] - (k0[c] ?? 0n);
    expect(r.errors, JSON.stringify({ ok: String(moved('reasm_ok')), held: String(moved('reasm_held')) })).toBe(0);
    expect(r.names).toEqual({ rs1: 2, rs2: 2, rs3: 2 });
    // each request and each answer came in 3 fragments (MTU 1500) and left as 3
    expect(moved('reasm_ok')).toBe(12n);
    expect(moved('reasm_held')).toBe(24n);
    expect(moved('frag_created')).toBe(36n);
    expect(dir.engine.fragState().queues).toBe(0);
  }, 30_000);

  test('a 64 MiB TCP upload and a 64 MiB download through the VIP arrive intact (sha256)', async () => {
    const bytes = 64 << 20;
    const { up, down } = await transferIntact(client, bytes);
    console.info(`[e2e] 64 MiB upload ${up.ms} ms (${(bytes / 1048576 / (up.ms / 1000)).toFixed(0)} MiB/s), download ${down.ms} ms (${(bytes / 1048576 / (down.ms / 1000)).toFixed(0)} MiB/s)`);
  }, 90_000);

  test('weight 0 quiesces a dest: its open connection goes on, new connections go elsewhere', async () => {
    const { lport } = await client.call('open', { sid: 'q', port: 7 });
    const first: string = await client.call('send', { sid: 'q', text: 'one' });
    const [server] = first.split(' ');
    const idx = lab.rsNames.indexOf(server);
    expect(idx).toBeGreaterThanOrEqual(0);
    expect(connOf(lport, 7)?.state).toBe('ESTABLISHED');
    dir.engine.editDest(key(7), { addr: lab.rsAddrs[idx], port: 7, weight: 0 });
    try {
      for (let i = 0; i < 20; i++) expect(await client.call('send', { sid: 'q', text: `more ${i}` })).toBe(`${server} more ${i}`);
      const others: string[] = [];
      for (let i = 0; i < 6; i++) {
        await client.call('open', { sid: `n${i}`, port: 7 });
        others.push((await client.call<string>('send', { sid: `n${i}`, text: 'hi' })).split(' ')[0]);
        await client.call('end', { sid: `n${i}` });
      }
      expect(others).not.toContain(server);
      expect(new Set(others).size).toBe(2);
      expect(await client.call('send', { sid: 'q', text: 'still here' })).toBe(`${server} still here`);
    } finally {
      dir.engine.editDest(key(7), { addr: lab.rsAddrs[idx], port: 7, weight: 1 });
      await client.call('end', { sid: 'q' }).catch(() => {});
    }
  }, 30_000);

  test('client FIN first: ESTABLISHED -> CLOSE_WAIT -> TIME_WAIT, then expiry by tick', async () => {
    dir.engine.setStateTimeout('TCP', 'TIME_WAIT', 400);
    const { lport } = await client.call('open', { sid: 'f', port: 7 });
    expect(await client.call('send', { sid: 'f', text: 'hold 600' })).toMatch(/ ok$/);
    expect(connOf(lport, 7)?.state).toBe('ESTABLISHED');
    await client.call('end', { sid: 'f' }); // client FIN; the server holds its FIN for 600 ms
    expect(await waitState(lport, 7, 'CLOSE_WAIT', 500)).toBe('CLOSE_WAIT');
    expect(await waitState(lport, 7, 'TIME_WAIT', 3000)).toBe('TIME_WAIT');
    await client.call('closed', { sid: 'f' });
    const tw = connOf(lport, 7)!;
    expect(tw.expiresMs).toBeLessThanOrEqual(400);
    // the director's timer (tickMs 100) expires it: the wheel has 1024 ms slots, and a conn
    // stays queued at least at its creation + 3 s (ip_vs_conn_new's initial timeout)
    const until = Date.now() + 4500;
    while (connOf(lport, 7) && Date.now() < until) await sleep(25);
    expect(connOf(lport, 7)).toBeUndefined();
  }, 15_000);

  // a conn that was ESTABLISHED long enough to be re-queued on the wheel (> 3 s) must still leave
  // at its (shorter) TIME_WAIT deadline: the wheel re-queues a conn whose deadline moves earlier
  test('TIME_WAIT of a conn that was ESTABLISHED for 3.5 s expires at its TIME_WAIT deadline', async () => {
    dir.engine.setStateTimeout('TCP', 'TIME_WAIT', 400);
    const { lport } = await client.call('open', { sid: 'l', port: 7 });
    await client.call('send', { sid: 'l', text: 'x' });
    await sleep(3500); // the wheel requeues it at its ESTABLISHED deadline
    await client.call('send', { sid: 'l', text: 'y' });
    await client.call('end', { sid: 'l' });
    expect(await waitState(lport, 7, 'TIME_WAIT', 1000)).toBe('TIME_WAIT');
    await client.call('closed', { sid: 'l' });
    const until = Date.now() + 2500; // 400 ms + one 1024 ms wheel slot + slack
    while (connOf(lport, 7) && Date.now() < until) await sleep(25);
    expect(connOf(lport, 7)).toBeUndefined();
  }, 15_000);

  test('client RST: ESTABLISHED -> CLOSE', async () => {
    const { lport } = await client.call('open', { sid: 'r', port: 7 });
    await client.call('send', { sid: 'r', text: 'x' });
    expect(connOf(lport, 7)?.state).toBe('ESTABLISHED');
    await client.call('reset', { sid: 'r' });
    expect(await waitState(lport, 7, 'CLOSE', 1000)).toBe('CLOSE');
  }, 15_000);

  test('frames not for a VIP and without a conn are passed and written back; routed into the TUN again, the loop ends by TTL', async () => {
    const before = dir.engine.counters().pass ?? 0n;
    // UDP from the client to an address routed into the TUN but not a VIP: the engine says PASS
    execFileSync('ip', ['-n', lab.ns.dir, 'route', 'add', '198.18.3.1/32', 'dev', dir.devName]);
    try {
      const r = await client.call('udp', { host: '198.18.3.1', port: 53, n: 2, timeoutMs: 200 });
      expect(r.errors).toBe(2); // nobody answers
    } finally {
      execFileSync('ip', ['-n', lab.ns.dir, 'route', 'del', '198.18.3.1/32', 'dev', dir.devName]);
    }
    const passed = (dir.engine.counters().pass ?? 0n) - before;
    expect(passed).toBeGreaterThanOrEqual(2n);
    expect(passed).toBeLessThanOrEqual(2n * 64n);   // each pass costs the kernel's forwarding one TTL
    expect(dir.engine.counters().drop_ttl_exceeded ?? 0n).toBe(0n);
  }, 15_000);

  // last in this file: the explicit tick below moves the engine clock 61 s ahead, and the engine
  // clock never runs backwards, so timing tests after it would see every deadline 61 s late
  test('server FIN first: ESTABLISHED -> FIN_WAIT -> TIME_WAIT; expiry through an explicit engine.tick', async () => {
    dir.engine.setStateTimeout('TCP', 'TIME_WAIT', 60_000);
    const { lport } = await client.call('open', { sid: 's', port: 7 });
    await client.call('send', { sid: 's', text: 'x' });
    client.call('send', { sid: 's', text: 'quit', timeoutMs: 300 }).catch(() => {}); // no answer: the server closes
    expect(await waitState(lport, 7, 'FIN_WAIT', 1000)).toBe('FIN_WAIT');
    await client.call('end', { sid: 's' });
    expect(await waitState(lport, 7, 'TIME_WAIT', 1000)).toBe('TIME_WAIT');
    expect(dir.engine.tick(Date.now())).toBeGreaterThanOrEqual(0);
    expect(connOf(lport, 7)?.state).toBe('TIME_WAIT'); // 60 s left
    expect(dir.engine.tick(Date.now() + 61_000)).toBeGreaterThanOrEqual(1);
    expect(connOf(lport, 7)).toBeUndefined();
  }, 15_000);
});
