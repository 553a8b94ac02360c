// The SYN proxy (assembly/synproxy.ts) between real Linux TCP/IP stacks: the NAT lab
// (host/director/lab.ts) with `-j enable` on its TCP services. Every connection's handshake is
// answered by the director with a cookie, the real server's opened only after the client's ACK,
// and every segment after it translated (sequence numbers, SACK, timestamps, windows): HTTP in
// round robin, curl, 64 MiB both ways intact, the ipvsadm listing and the conns ESTABLISHED; then
// a spoofed-SYN flood (test/e2e/flood-lab.ts, hping3) against a synproxy service: no conn is
// made for a spoofed SYN, 20/20 established transfers intact, >= 99 % of new connections served.
// Root only (and hping3 for the flood); skipped with the reason otherwise.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { Director } from '../../host/director/director.ts';
import { startLabDirector, stopLabDirector, transferIntact } from './lab-director.ts';
import { Lab, LabClient, labRules, LAB_CLIENT, LAB_LADDRS, LAB_VIP } from '../../host/director/lab.ts';
import { formatList, formatSave, formatConnList } from '../../host/rules/format.ts';
import { labSkipReason } from './env.ts';
import { floodSkipReason, runFlood } from './flood-lab.ts';

const skip = labSkipReason();
if (skip) console.warn(`[test/e2e] SYN proxy lab tests skipped: ${skip}`);
const hasCurl = spawnSync('curl', ['--version'], { stdio: 'ignore', timeout: 5_000 }).status === 0;
const floodSkip = floodSkipReason();
if (!skip && floodSkip) console.warn(`[test/e2e] SYN proxy flood skipped: ${floodSkip}`);

/** The lab's rules with the SYN proxy on every TCP service (DPVS's ipvsadm syntax). */
const synproxyRules = (rs: readonly string[]) => labRules(rs).replace(/^(-A -t .*)$/gm, '$1 -j enable');

describe.skipIf(skip !== null)('SYN proxy through the TUN director (NAT), real TCP/IP stacks in namespaces', () => {
  let lab: Lab;
  let dir: Director;
  let client: LabClient;
  const show = (k: Record<string, bigint>) => JSON.stringify(k, (_, v) => (typeof v === 'bigint' ? String(v) : v));
  const moved = (k0: Record<string, bigint>) => {
    const k1 = dir.engine.counters();
    return Object.fromEntries(Object.entries(k1).filter(([k, v]) => v !== k0[k]).map(([k, v]) => [k, v - (k0[k] ?? 0n)])) as Record<string, bigint>;
  };

  beforeAll(async () => {
    ({ lab, dir, client } = await startLabDirector({ tag: 'e2e-sp' },
      (l) => ({ dev: `wsp${process.pid % 100000}`, netns: l.ns.dir, rulesText: synproxyRules(l.rsAddrs), tickMs: 100, logLevel: 'warn' })));
  }, 60_000);
  afterAll(() => stopLabDirector({ lab, dir, client }));

  test('ipvsadm -L -n shows "synproxy" as DPVS\'s ipvsadm does, -S saves -j enable', () => {
    const list = formatList(dir.engine.services(), { numeric: true });
    expect(list).toContain(`TCP  ${LAB_VIP}:80 rr synproxy\n`);
    expect(list).toContain(`TCP  ${LAB_VIP}:81 wrr synproxy\n`);
    expect(list).toContain(`UDP  ${LAB_VIP}:53 rr\n`);
    expect(formatSave(dir.engine.services())).toContain(`-A -t ${LAB_VIP}:80 -s rr -j enable\n`);
  });

  test('300 HTTP requests, a new TCP connection each: every one through a cookie, exactly 100/100/100', async () => {
    const k0 = dir.engine.counters();
    const r = await client.call<{ names: Record<string, number>; errors: number }>('http', { n: 300, port: 80, lports: Array.from({ length: 300 }, (_, i) => 21_000 + i) });
    const k = moved(k0);
    expect(r.errors, show(k)).toBe(0);
    expect(r.names, show(k)).toEqual({ rs1: 100, rs2: 100, rs3: 100 });
    expect(k.synproxy_cookie_sent, show(k)).toBe(300n);
    expect(k.synproxy_cookie_ok).toBe(300n);
    expect(k.synproxy_established).toBe(300n);
    expect(k.synproxy_bad_cookie ?? 0n).toBe(0n);
    expect(k.drop_synproxy_rs_unexpected ?? 0n).toBe(0n);
  }, 30_000);

  test.skipIf(!hasCurl)('curl through the VIP', async () => {
    // asynchronously: the director runs in this process's event loop
    const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', lab.ns.cli, 'curl', '-sS', '--max-time', '5', '-o', '/dev/null',
      '-w', '%{http_code} %{remote_ip}', `http://${LAB_VIP}/`], { encoding: 'utf8', timeout: 10_000 });
    expect(stdout).toBe(`200 ${LAB_VIP}`);
  });

  test('a 64 MiB TCP upload and a 64 MiB download arrive intact (sha256), translated segment by segment', async () => {
    const bytes = 64 << 20;
    const k0 = dir.engine.counters();
    const { up, down } = await transferIntact(client, bytes);
    const k = moved(k0);
    expect(k.synproxy_established).toBe(2n);
    console.info(`[e2e] SYN proxy: 64 MiB upload ${up.ms} ms (${(bytes / 1048576 / (up.ms / 1000)).toFixed(0)} MiB/s), download ${down.ms} ms (${(bytes / 1048576 / (down.ms / 1000)).toFixed(0)} MiB/s)`);
  }, 90_000);

  test('an open conn is listed ESTABLISHED with the kernel\'s 15-minute timeout (-L -n -c)', async () => {
    const { lport } = await client.call<{ lport: number }>('open', { sid: 'sp', port: 7 });
    try {
      expect(await client.call('send', { sid: 'sp', text: 'hello' })).toMatch(/ hello$/);
      const c = dir.engine.conns().find((x) => x.caddr === LAB_CLIENT && x.cport === lport && x.vport === 7)!;
      expect(c).toMatchObject({ state: 'ESTABLISHED', proto: 'TCP' });
      expect(c.expiresMs).toBeGreaterThan(890_000);
      const line = formatConnList([c], { numeric: true }).split('\n').find((l) => l.includes(`:${lport}`))!;
      expect(line).toMatch(new RegExp(`^TCP 1[45]:\\d\\d  ESTABLISHED ${LAB_CLIENT.replace(/\./g, '\\.')}:${lport} +${LAB_VIP.replace(/\./g, '\\.')}:7 +198\\.18\\.1\\.1\\d:7`));
    } finally {
      await client.call('end', { sid: 'sp' }).catch(() => {});
    }
  });
});

describe.skipIf(skip !== null)('SYN proxy with FULLNAT real servers (no route to the clients)', () => {
  let lab: Lab;
  let dir: Director;
  let client: LabClient;
  beforeAll(async () => {
    lab = await Lab.create({ tag: 'e2e-spf', forward: 'fullnat' });
    dir = await Director.start({ dev: `wsf${process.pid % 100000}`, netns: lab.ns.dir, rulesText: labRules(lab.rsAddrs, true, LAB_VIP, 'fullnat').replace(/^(-A -t .*)$/gm, '$1 -j enable'),
      tickMs: 100, logLevel: 'warn' });
    client = await lab.client();
  }, 60_000);
  afterAll(() => {
    client?.close();
    dir?.stop();
    lab?.destroy();
  });

  test('60 HTTP requests through cookies: 20/20/20, each server sees a local address as the peer; 16 MiB down intact', async () => {
    const r = await client.call<{ names: Record<string, number>; errors: number }>('http', { n: 60, port: 80, path: '/peer', lports: Array.from({ length: 60 }, (_, i) => 23_000 + i) });
    expect(r.errors).toBe(0);
    const per: Record<string, number> = {};
    for (const [k, n] of Object.entries(r.names)) {
      const [name, peer] = k.split(' ');
      expect(LAB_LADDRS).toContain(peer);
      per[name] = (per[name] ?? 0) + n;
    }
    expect(per).toEqual({ rs1: 20, rs2: 20, rs3: 20 });
    const down = await client.call('download', { port: 80, bytes: 16 << 20 });
    expect(down.hash).toBe(down.expected);
    const k = dir.engine.counters();
    expect(k.synproxy_established).toBe(61n);
    expect(k.toa_added).toBeGreaterThan(0n);
  }, 60_000);
});

describe.skipIf(skip !== null || floodSkip !== null)('spoofed SYN flood against a synproxy service', () => {
  test('no conn per spoofed SYN: 20/20 established intact, >= 99 % of new connections served, RSS flat', async () => {
    const r = await runFlood({ tag: 'sp-flood', serviceFlags: ['-j', 'enable'], floodMs: 10_000 });
    const report = JSON.stringify({ ...r, log: r.log.slice(0, 8) }, null, 1);
    console.log(`[flood] SYN proxy: ${report}`);
    expect(r.established.failures, report).toEqual([]);
    expect(r.established.intact).toBe(20);
    expect(r.legit.tried, report).toBeGreaterThan(100);
    expect(r.legit.served / r.legit.tried, report).toBeGreaterThanOrEqual(0.99);
    // the spoofed SYNs were answered with cookies and made no conn: the table never filled
    expect(BigInt(r.counters.synproxy_cookie_sent ?? '0'), report).toBeGreaterThan(BigInt(r.legit.tried));
    // every conn made is a legitimate client's (or one of the 20 transfers'): none per spoofed SYN
    expect(BigInt(r.counters.conn_created ?? '0'), report).toBeLessThanOrEqual(BigInt(r.legit.tried + 20));
    expect(r.conns.peak, report).toBeLessThan(r.conns.limit);
    expect(r.counters.drop_conn_table_full ?? '0', report).toBe('0');
    expect(r.rssMiB.max - r.rssMiB.before, report).toBeLessThan(64);
    expect(r.conns.halfOpenAfter, report).toBe(0);
  }, 90_000);
});
