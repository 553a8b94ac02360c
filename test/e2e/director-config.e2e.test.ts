// The TUN director configured the usual way: started empty, services added with `wasmvs adm`
// (the real CLI, `node bin/wasmvs.js run`, in a NAT lab's director namespace).
//  * VIP routes follow adm -A / -D (shared VIP kept until its last service goes);
//  * --rs-net manages the NAT policy route (table 100), put back by a restart;
//  * a real server still reaches other hosts (ping to the client: PASS frames written back);
//  * a VIP port without a service: curl fails at once with "Connection refused" (the local RST);
//  * a -g dest (and the ipvsadm default without -m/-i, and -e without a method) on the TUN: accepted,
//    one warning naming the dest, its packets dropped as drop_method_unsupported_on_link, no TTL loop.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCliDirector, stopCliLab } from './cli-director.ts';
import { labSkipReason } from './env.ts';
import { Lab, LabClient, LAB_VIP, LAB_TABLE, LAB_RS_NET } from '../../host/director/lab.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/wasmvs.js');
const skip = labSkipReason() ?? (existsSync(join(ROOT, 'dist/host/director/run.js')) ? null : 'needs dist/: npx tsc -p tsconfig.build.json');
const hasCurl = spawnSync('curl', ['--version']).status === 0;
const VIP2 = '198.18.2.2';

describe.skipIf(!!skip)(`the TUN director configured with adm ${skip ? `(skipped: ${skip})` : ''}`, () => {
  let lab: Lab, client: LabClient, tmp: string, child: ChildProcess | undefined;
  let err = '';
  const dev = `wvc${process.pid % 100000}`;
  const args = () => ['--dev', dev, '--tick-ms', '200', '--socket', join(tmp, 'ctl.sock'), '--metrics', '127.0.0.1:19119',
    '--rs-net', LAB_RS_NET, '--rs-dev', 'rsbr'];
  const adm = (...a: string[]) => spawnSync(process.execPath, [BIN, 'adm', '--socket', join(tmp, 'ctl.sock'), ...a], { encoding: 'utf8', timeout: 10_000 });
  const inDir = (...a: string[]) => execFileSync('ip', ['-n', lab.ns.dir, ...a], { encoding: 'utf8' });
  const counter = (name: string) => {
    const t = execFileSync('ip', ['netns', 'exec', lab.ns.dir, 'curl', '-sS', '--max-time', '5', 'http://127.0.0.1:19119/metrics'], { encoding: 'utf8' });
    const m = new RegExp(`^wasmvs_engine_events_total\\{name="${name}"\\} (\\d+)$`, 'm').exec(t);
    return m ? Number(m[1]) : NaN;
  };
  const stop = async () => {
    const c = child!;
    const code = await new Promise<number | null>((resolve) => { c.on('exit', resolve); c.kill('SIGTERM'); });
    child = undefined;
    return code;
  };

  beforeAll(async () => {
    lab = await Lab.create({ tag: 'e2e-dcfg' });
    tmp = mkdtempSync(join(tmpdir(), 'wvs-dcfg-'));
    child = await startCliDirector(lab.ns.dir, args(), () => {}, (s) => { err += s; });
    client = await lab.client();
  }, 60_000);
  afterAll(() => {
    stopCliLab({ client, child, lab, tmp });
  });

  test('started empty: adm -A/-a routes the VIP and forwards; -D of one of two services on that VIP keeps its route', async () => {
    expect(inDir('route', 'show', 'table', LAB_TABLE)).toContain(`default dev ${dev}`);
    expect(inDir('route', 'show', `${LAB_VIP}/32`)).toBe('');
    expect(adm('-A', '-t', `${LAB_VIP}:80`, '-s', 'rr').status).toBe(0);
    for (const rs of lab.rsAddrs) expect(adm('-a', '-t', `${LAB_VIP}:80`, '-r', `${rs}:80`, '-m').status).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(inDir('route', 'show', `${LAB_VIP}/32`)).toContain(dev);
    expect(await client.http(30, 80)).toMatchObject({ errors: 0, names: { rs1: 10, rs2: 10, rs3: 10 } });
    // a second service on the same VIP, deleted again: the route stays for :80
    expect(adm('-A', '-u', `${LAB_VIP}:53`, '-s', 'rr').status).toBe(0);
    expect(adm('-D', '-u', `${LAB_VIP}:53`).status).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(inDir('route', 'show', `${LAB_VIP}/32`)).toContain(dev);
    expect(await client.http(3, 80)).toMatchObject({ errors: 0 });
  }, 60_000);

  test.skipIf(!hasCurl)('a VIP port without a service: curl fails at once with "Connection refused" (the local stack\'s RST)', () => {
    const t0 = Date.now();
    const r = spawnSync('ip', ['netns', 'exec', lab.ns.cli, 'curl', '-sS', '--max-time', '5', `http://${LAB_VIP}:81/`], { encoding: 'utf8' });
    expect(r.status).toBe(7);
    // curl ≥ 7.88 says "Couldn't connect to server" for ECONNREFUSED (exit 7, at once); older ones "Connection refused"
    expect(r.stderr).toMatch(/Connection refused|Couldn't connect to server/);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(counter('tcp_reset_sent')).toBeGreaterThanOrEqual(1);
  });

  test('a real server still reaches the client (ping through the policy route: written back to the kernel)', () => {
    const r = spawnSync('ip', ['netns', 'exec', lab.ns.rs[0], 'ping', '-c', '3', '-i', '0.2', '-W', '2', '198.18.0.2'], { encoding: 'utf8', timeout: 15_000 });
    expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
    expect(counter('pass')).toBeGreaterThanOrEqual(3);
    expect(counter('drop_ttl_exceeded')).toBe(0);
  });

  test.skipIf(!hasCurl)('-g on a TUN (and the default without -m/-i, -e without a method): accepted, warned once per dest, dropped and counted, no loop', async () => {
    expect(adm('-A', '-t', `${VIP2}:80`, '-s', 'rr').status).toBe(0);
    expect(adm('-a', '-t', `${VIP2}:80`, '-r', `${lab.rsAddrs[0]}:80`, '-g').status).toBe(0);
    expect(adm('-a', '-t', `${VIP2}:80`, '-r', `${lab.rsAddrs[1]}:80`).status).toBe(0);          // ipvsadm's default: -g
    expect(adm('-e', '-t', `${VIP2}:80`, '-r', `${lab.rsAddrs[1]}:80`, '-w', '2').status).toBe(0);
    expect(adm('-L', '-n', '-t', `${VIP2}:80`).stdout).toMatch(/198\.18\.1\.12:80 +Route +2/);
    const r = spawnSync('ip', ['netns', 'exec', lab.ns.cli, 'curl', '-sS', '--max-time', '2', `http://${VIP2}/`], { encoding: 'utf8' });
    expect(r.status).toBe(28);                                                                     // timed out: the SYNs are dropped
    expect(counter('drop_method_unsupported_on_link')).toBeGreaterThanOrEqual(1);
    expect(counter('drop_ttl_exceeded')).toBe(0);
    await new Promise((r) => setTimeout(r, 300));     // the director's stderr, read while this test waits
    expect(err).toMatch(new RegExp(`TCP ${VIP2}:80 -> ${lab.rsAddrs[0]}:80 Route \\(-g, DR\\): a TUN cannot carry it.*use --mode tap, or -m`, 'i'));
    expect(err.match(new RegExp(`-> ${lab.rsAddrs[1]}:80 Route`, 'g'))).toHaveLength(1);          // -e did not warn again
    expect(err).toMatch(/packet\(s\) of DR\/tunnel conns dropped \(drop_method_unsupported_on_link/);
    expect(inDir('route', 'show', `${VIP2}/32`)).toContain(dev);
    expect(adm('-D', '-t', `${VIP2}:80`).status).toBe(0);
  }, 30_000);

  test('-C removes every VIP route, -R (a restore on stdin) brings them back', async () => {
    expect(adm('-C').status).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(inDir('route', 'show', `${LAB_VIP}/32`)).toBe('');
    const rules = `-A -t ${LAB_VIP}:80 -s rr\n${lab.rsAddrs.map((rs) => `-a -t ${LAB_VIP}:80 -r ${rs}:80 -m -w 1`).join('\n')}\n-A -t ${VIP2}:80 -s rr\n`;
    const r = spawnSync(process.execPath, [BIN, 'adm', '--socket', join(tmp, 'ctl.sock'), '-R'], { input: rules, encoding: 'utf8', timeout: 10_000 });
    expect(r.status).toBe(0);
    await new Promise((r2) => setTimeout(r2, 100));
    expect(inDir('route', 'show', `${LAB_VIP}/32`)).toContain(dev);
    expect(inDir('route', 'show', `${VIP2}/32`)).toContain(dev);
    expect(await client.http(3, 80)).toMatchObject({ errors: 0 });
    expect(adm('-D', '-t', `${VIP2}:80`).status).toBe(0);
  }, 30_000);

  test('the same -g dest from --rules (in-process Director): accepted, warned, route added', async () => {
    const { Director } = await import('../../host/director/director.ts');
    const log: string[] = [];
    const d = await Director.start({ dev: `wvr${process.pid % 100000}`, netns: lab.ns.dir, log: (l) => log.push(l),
      rulesText: `-A -t 198.18.2.3:80 -s rr\n-a -t 198.18.2.3:80 -r ${lab.rsAddrs[2]}:80\n` });
    try {
      expect(log.join('\n')).toMatch(new RegExp(`TCP 198\\.18\\.2\\.3:80 -> ${lab.rsAddrs[2].replaceAll('.', '\\.')}:80 Route \\(-g, DR\\): a TUN cannot carry it`));
      expect(inDir('route', 'show', '198.18.2.3/32')).toContain(d.devName);
      expect(d.engine.setting('routedLink')).toBe(true);
    } finally { d.stop(); }
    expect(inDir('route', 'show', '198.18.2.3/32')).toBe('');
  }, 30_000);

  test('-D removes the route; a restart puts the policy route back; SIGTERM removes what it added', async () => {
    await new Promise((r) => setTimeout(r, 100));
    expect(inDir('route', 'show', `${VIP2}/32`)).toBe('');
    expect(await stop()).toBe(0);
    expect(inDir('route', 'show', 'table', LAB_TABLE)).toBe('');
    expect(inDir('route', 'show', `${LAB_VIP}/32`)).toBe('');
    child = await startCliDirector(lab.ns.dir, args(), () => {}, (s) => { err += s; });
    expect(inDir('route', 'show', 'table', LAB_TABLE)).toContain(`default dev ${dev}`);
    expect(await stop()).toBe(0);
  }, 60_000);
});
