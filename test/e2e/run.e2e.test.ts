// `wasmvs run` as users meet it: option parsing, rules-file errors naming the line, the error
// without CAP_NET_ADMIN, and the real CLI (node bin/wasmvs.js run) forwarding HTTP in a lab,
// stopped by SIGTERM with the final table printed and its routes removed.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { startCliDirector, stopCliLab } from './cli-director.ts';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRunArgs, RunUsageError } from '../../host/director/run.ts';
import { parseRules, applyRules, WvsDirectorRulesError } from '../../host/director/rules.ts';
import { loadEngine } from '../../host/engine-node.ts';
import { tunAvailable } from '../../host/native/tun.ts';
import { ip } from '../../host/packet-builder.ts';
import { Lab, LabClient, labRules, LAB_BRIDGE, LAB_LINK_ADDR, LAB_TABLE, LAB_VIP } from '../../host/director/lab.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/wasmvs.js');
const distBuilt = existsSync(join(ROOT, 'dist/host/director/run.js'));

describe('run options (pure)', () => {
  test.each([
    [[], {}],
    [['--dev', 'lb0', '--mode', 'tun', '--rules', 'r.txt', '--no-vip-routes', '--batch', '32', '--conn-max', '1024', '--tick-ms', '250', '--log-level', 'debug'],
      { dev: 'lb0', mode: 'tun', rulesFile: 'r.txt', vipRoutes: false, batch: 32, connMax: 1024, tickMs: 250, logLevel: 'debug' }],
    [['--svc-max', '20000', '--dest-max=65535', '--conn-max', '4000000'], { svcMax: 20000, destMax: 65535, connMax: 4000000 }],
    [['--dev=lb1', '--vip-routes', '--netns', 'x'], { dev: 'lb1', vipRoutes: true, netns: 'x' }],
    [['--offload'], { offload: true }],
    [['--tunnel-src', '198.18.1.254', '--tunnel-src=2001:2:0:1::fe', '--tunnel-mtu', '1400'], { tunnelSrc: ['198.18.1.254', '2001:2:0:1::fe'], tunnelMtu: 1400 }],
    [['--rs-net', '198.18.1.0/24', '--rs-net=2001:2:0:1::/64', '--rs-dev', 'rsnet', '--rs-table', '7', '--no-local-answers'],
      { rsNets: ['198.18.1.0/24', '2001:2:0:1::/64'], rsDev: 'rsnet', rsTable: 7, localAnswers: false }],
    [['--no-offload'], { offload: false }],
    [['--mode', 'tap', '--offload'], { mode: 'tap', offload: true }],
    [['--mode', 'tap', '--link-mac', '02:AA:00:00:01:FE', '--link-addr', '198.18.1.254', '--link-addr=2001:2::fe', '--bridge', 'lan', '--tunnel-mtu', '1400'],
      { mode: 'tap', linkMac: '02:aa:00:00:01:fe', linkAddrs: ['198.18.1.254', '2001:2::fe'], bridge: 'lan', tunnelMtu: 1400 }],
    [['--mode', 'tap', '--link-addr', '198.18.1.254/24', '--gateway', '198.18.1.1', '--link-addr', '2001:2:0:1::fe/64', '--gateway=2001:2:0:1::1'],
      { mode: 'tap', linkAddrs: ['198.18.1.254/24', '2001:2:0:1::fe/64'], gateways: ['198.18.1.1', '2001:2:0:1::1'] }],
  ])('%j', (argv, want) => expect(parseRunArgs(argv)).toEqual(want));

  test.each([
    [['--mode', 'tup'], /--mode tup: "tun" or "tap"/],
    [['--rs-net', '198.18.1.0/24'], /--rs-net needs --rs-dev IF/],
    [['--rs-net', '198.18.1.1', '--rs-dev', 'x'], /--rs-net needs a network like 198\.18\.1\.0\/24, got 198\.18\.1\.1/],
    [['--rs-net', '198.18.1.0/33', '--rs-dev', 'x'], /--rs-net needs a network/],
    [['--rs-dev', 'x'], /--rs-dev goes with --rs-net CIDR/],
    [['--mode', 'tap', '--rs-net', '198.18.1.0/24', '--rs-dev', 'x'], /--rs-net is for --mode tun/],
    [['--link-addr', '198.18.1.254'], /need --mode tap/],
    [['--mode', 'tap', '--vip-routes'], /--vip-routes is for --mode tun/],
    [['--mode', 'tap', '--link-mac', '03:00:00:00:00:01'], /--link-mac needs a unicast MAC/],
    [['--mode', 'tap', '--link-addr', 'lan0'], /--link-addr needs an IPv4 or IPv6 address with an optional \/prefix length, got lan0/],
    [['--mode', 'tap', '--link-addr', '198.18.1.254/33'], /--link-addr needs an IPv4 or IPv6 address with an optional \/prefix length, got 198\.18\.1\.254\/33/],
    [['--mode', 'tap', '--link-addr', '198.18.1.254', '--link-addr', '198.18.1.253'], /--link-addr: one IPv4 address only \(198\.18\.1\.254, 198\.18\.1\.253\)/],
    [['--mode', 'tap', '--link-addr', '198.18.1.254', '--gateway', '198.18.1.1'], /--gateway 198\.18\.1\.1 needs the director's IPv4 address with its prefix: --link-addr ADDR\/PLEN/],
    [['--mode', 'tap', '--link-addr', '198.18.1.254/24', '--gateway', 'router'], /--gateway needs an IPv4 or IPv6 address, got router/],
    [['--mode', 'tap', '--link-addr', '198.18.1.254/24', '--gateway', '198.18.1.1', '--gateway', '198.18.1.2'], /--gateway: one IPv4 gateway only/],
    [['--gateway', '198.18.1.1'], /--gateway and --bridge need --mode tap/],
    [['--tunnel-src', 'lan0'], /--tunnel-src needs an IPv4 or IPv6 address, got lan0/],
    [['--tunnel-src', '198.18.1.254', '--tunnel-src', '198.18.1.253'], /--tunnel-src: one IPv4 address only \(198\.18\.1\.254, 198\.18\.1\.253\)/],
    [['--mode', 'tap', '--tunnel-src', '198.18.1.254'], /--tunnel-src is for --mode tun \(on a tap the tunnel source is --link-addr\)/],
    [['--batch', '0'], /--batch needs an integer >= 1, got 0/],
    [['--dev', 'a-name-longer-than-15'], /1\.\.15 characters/],
    [['--log-level', 'loud'], /--log-level must be/],
    [['--frobnicate'], /unknown option --frobnicate/],
    [['--conn-max', '0'], /^--conn-max must be an integer from 1 to 16777216 \(conn table limit\), got 0$/],
    [['--svc-max', '65536'], /^--svc-max must be an integer from 1 to 65535 \(service table limit\), got 65536$/],
  ])('%j is refused', (argv, msg) => {
    expect(() => parseRunArgs(argv)).toThrow(RunUsageError);
    expect(() => parseRunArgs(argv)).toThrow(msg);
  });
});

describe('rules files', () => {
  test('a parse error names the file and the line', () => {
    expect(() => parseRules('-A -t 198.18.2.1:80 -s rr\n\n-a -t 198.18.2.1:80 -r 198.18.1.11:80 -m -w x\n', 'lb.rules'))
      .toThrow(/^lb\.rules:3: .*\n  3 \| -a -t 198\.18\.2\.1:80 -r 198\.18\.1\.11:80 -m -w x$/);
  });
  test('-g and -i lines are applied on a TUN as the kernel takes them (the director warns and the engine drops their packets); a non-rule line is refused naming the line', async () => {
    const e = await loadEngine({ connMax: 1024, slots: 8 });
    applyRules(e, parseRules('-A -t 198.18.2.1:80 -s rr\n-a -t 198.18.2.1:80 -r 198.18.1.11:80 -g\n-a -t 198.18.2.1:80 -r 198.18.1.12:80 -i\n', 'lb.rules'), 'lb.rules');
    expect(e.services()[0].dests.map((d) => d.fwd).sort()).toEqual(['Route', 'Tunnel']);
    // on the TUN (routedLink) a DR conn's SYN is a counted drop, not a packet that loops back in for the VIP
    e.set('routedLink', true);
    const syn = ip('198.18.0.2', '198.18.2.1', { proto: 'tcp', sport: 4000, dport: 80, flags: 'S' });
    const r = e.processFrame(syn, 1);
    expect([r.verdict, r.reason]).toEqual(['DROP', 'drop_method_unsupported_on_link']);
    e.set('routedLink', false);
    expect(e.processFrame(ip('198.18.0.2', '198.18.2.1', { proto: 'tcp', sport: 4001, dport: 80, flags: 'S' }), 2).verdict).toBe('XMIT');
    // on a TAP (link 'ethernet') DR and tunnel dests are applied, tunnel type and port included
    const t = await loadEngine({ connMax: 1024, slots: 8, link: 'ethernet' });
    applyRules(t, parseRules('-A -t 198.18.2.1:80 -s rr\n-a -t 198.18.2.1:80 -r 198.18.1.11 -g\n-a -t 198.18.2.1:80 -r 198.18.1.12 -i --tun-type gue --tun-port 6080\n'), 'x', { link: 'ethernet' });
    expect(t.services()[0].dests.map((d) => [d.addr, d.port, d.fwd, d.tunType, d.tunPort]).sort()).toEqual([
      ['198.18.1.11', 80, 'Route', undefined, undefined], ['198.18.1.12', 80, 'Tunnel', 'gue', 6080]]);
    expect(() => applyRules(e, parseRules('-L -n\n', 'x'), 'x')).toThrow(/^x:1: "list" is not a rule/);
  });
  test('an engine refusal names the line', async () => {
    const e = await loadEngine({ connMax: 1024, slots: 8 });
    const ops = parseRules('-A -t 198.18.2.1:80 -s nosuchsched\n', 'f');
    expect(() => applyRules(e, ops, 'f')).toThrow(/^f:1: add_service TCP 198\.18\.2\.1:80: Scheduler not found/);
  });
  test('the lab rules apply, persistent flag and timeouts included', async () => {
    const e = await loadEngine({ connMax: 1024, slots: 8 });
    applyRules(e, parseRules(labRules(['198.18.1.11', '198.18.1.12']) + '-A -t 198.18.2.2:443 -s rr -p 300\n--set 900 120 300\n'));
    const s = e.services();
    expect(s.map((x) => `${x.proto} ${x.port} ${x.sched} ${x.dests.length}`).sort()).toEqual(
      ['TCP 443 rr 0', 'TCP 7 rr 2', 'TCP 80 rr 2', 'TCP 81 wrr 2', 'TCP 9 rr 2', 'UDP 53 rr 2'].sort());
    expect(s.find((x) => x.port === 443)!.timeout).toBe(300);
    expect(e.timeouts()).toEqual({ tcp: 900, tcpfin: 120, udp: 300 });
  });
});

const rootReason = process.getuid?.() !== 0 ? 'needs root' : !tunAvailable() ? 'TUN addon not built' :
  !distBuilt ? 'dist/ not built (npx tsc -p tsconfig.build.json)' : null;
if (rootReason) console.warn(`[test/e2e] wasmvs run CLI tests skipped: ${rootReason}`);

describe.skipIf(rootReason !== null)('wasmvs run (the CLI, root)', () => {
  test('without CAP_NET_ADMIN: exit 1 and an error naming EPERM and the capability', () => {
    const r = spawnSync('setpriv', ['--inh-caps=-net_admin', '--bounding-set=-net_admin', process.execPath, BIN, 'run', '--dev', `wvsp${process.pid % 10000}`],
      { encoding: 'utf8', timeout: 15_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot create TUN device wvsp\d+: EPERM \(needs CAP_NET_ADMIN/);
  }, 20_000);

  test('wasmvs demo as an ordinary user: exit 1 and a clear "needs root"', () => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, 'demo'],
      { encoding: 'utf8', timeout: 15_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^wasmvs demo: needs root: it creates network namespaces/);
  }, 20_000);

  describe('in a lab', () => {
    let lab: Lab;
    let client: LabClient;
    let child: ChildProcess;
    let tmp: string;
    let out = '', err = '';
    const dev = `wvsr${process.pid % 10000}`;

    beforeAll(async () => {
      lab = await Lab.create({ tag: 'e2e-run' });
      tmp = mkdtempSync(join(tmpdir(), 'wvs-run-'));
      writeFileSync(join(tmp, 'lab.rules'), labRules(lab.rsAddrs, false));
      // the director process lives in the director namespace: its TUN and routes are made there
      // --workers 1: the table's growth steps below (size=4096 → 8192) are one worker's; with
      // workers the conn partitions grow earlier (docs/workers.md; test/e2e/workers.e2e.test.ts)
      child = await startCliDirector(lab.ns.dir, ['--workers', '1', '--dev', dev, '--rules', join(tmp, 'lab.rules'), '--tick-ms', '200',
        '--socket', join(tmp, 'ctl.sock'), '--metrics', '127.0.0.1:19109'], (s) => { out += s; }, (s) => { err += s; });
      lab.attachDirector(dev);
      client = await lab.client();
    }, 60_000);

    afterAll(() => {
      stopCliLab({ client, child, lab, tmp });
    });

    test('forwards HTTP; wasmvs adm lists and edits it over the socket; SIGTERM closes the TUN, removes the VIP route, prints the table, exits 0', async () => {
      expect(err).toContain(`route ${LAB_VIP} dev ${dev}`);
      expect(execFileSync('ip', ['-n', lab.ns.dir, 'route', 'show', `${LAB_VIP}/32`], { encoding: 'utf8' })).toContain(dev);
      const r = await client.http(60, 80);
      expect(r).toMatchObject({ errors: 0, names: { rs1: 20, rs2: 20, rs3: 20 } });
      // `wasmvs adm` (ipvsadm syntax) against the running director over its control socket
      const adm = (...args: string[]) => spawnSync(process.execPath, [BIN, 'adm', '--socket', join(tmp, 'ctl.sock'), ...args], { encoding: 'utf8', timeout: 10_000 });
      const l = adm('-L', '-n', '--stats', '--exact');
      expect(l.status).toBe(0);
      expect(l.stdout).toMatch(new RegExp(`^TCP  ${LAB_VIP.replaceAll('.', '\\.')}:80 +60 `, 'm'));
      expect(adm('-e', '-t', `${LAB_VIP}:80`, '-r', '198.18.1.11:80', '-m', '-w', '0').status).toBe(0);
      expect(adm('-L', '-n').stdout).toMatch(/-> 198\.18\.1\.11:80 +Masq +0 /);
      const r2 = await client.http(20, 80);
      expect(r2).toMatchObject({ errors: 0, names: { rs2: 10, rs3: 10 } });
      // delete it: nothing goes there; add it back: it takes its share again
      expect(adm('-d', '-t', `${LAB_VIP}:80`, '-r', '198.18.1.11:80').status).toBe(0);
      expect(await client.http(10, 80)).toMatchObject({ errors: 0, names: { rs2: 5, rs3: 5 } });
      expect(adm('-a', '-t', `${LAB_VIP}:80`, '-r', '198.18.1.11:80', '-m', '-w', '1').status).toBe(0);
      expect(await client.http(30, 80)).toMatchObject({ errors: 0, names: { rs1: 10, rs2: 10, rs3: 10 } });
      // --metrics: Prometheus text on the director's loopback
      const prom = execFileSync('ip', ['netns', 'exec', lab.ns.dir, 'curl', '-sS', '--max-time', '5', 'http://127.0.0.1:19109/metrics'], { encoding: 'utf8' });
      expect(prom).toMatch(new RegExp(`^wasmvs_service_conns_total\\{proto="tcp",vip="${LAB_VIP}",vport="80"[^}]*\\} 120$`, 'm'));
      const bad = adm('-a', '-t', `${LAB_VIP}:80`, '-r', '198.18.1.12:80', '-m');
      expect([bad.status, bad.stderr.trim()]).toEqual([255, 'Destination already exists']);
      // default limits: the conn table starts at 4096 records (size=4096) and grows under traffic:
      // 5,000 UDP flows (one source port each) all answered, all listed, size= follows the table
      expect(adm('-L', '-n').stdout.split('\n')[0]).toBe('IP Virtual Server version 1.2.1 (size=4096)');
      expect(adm('-A', '-u', `${LAB_VIP}:53`, '-s', 'rr').status).toBe(0);
      for (const a of lab.rsAddrs) expect(adm('-a', '-u', `${LAB_VIP}:53`, '-r', `${a}:53`, '-m').status).toBe(0);
      const t0 = Date.now();
      const u = await client.call('udp', { n: 5000, port: 53, basePort: 20000 });
      console.log(`5,000 UDP flows through the director: ${Date.now() - t0} ms`);
      expect(u.errors).toBe(0);
      expect(Object.values(u.names as Record<string, number>).sort()).toEqual([1666, 1667, 1667]);
      const lc = adm('-L', '-n', '-c');
      expect(lc.stdout.split('\n').filter((l) => /^UDP /.test(l))).toHaveLength(5000);
      expect(adm('-L', '-n').stdout.split('\n')[0]).toBe('IP Virtual Server version 1.2.1 (size=8192)');
      const code = await new Promise<number | null>((resolve) => { child.on('exit', resolve); child.kill('SIGTERM'); });
      expect(code).toBe(0);
      expect(out).toMatch(new RegExp(`^TCP  ${LAB_VIP.replaceAll('.', '\\.')}:80 +120 `, 'm'));
      expect(out).toMatch(/-> 198\.18\.1\.11:80 +30 /);     // its 20 came back with it from the trash, +10
      expect(err).toContain(`TUN ${dev} closed, 1 route(s) removed`);
      expect(execFileSync('ip', ['-n', lab.ns.dir, 'route', 'show', `${LAB_VIP}/32`], { encoding: 'utf8' })).toBe('');
      expect(execFileSync('ip', ['-n', lab.ns.dir, 'link'], { encoding: 'utf8' })).not.toContain(dev);
      void LAB_TABLE;
    }, 60_000);
  });
  describe('--mode tap in a DR lab', () => {
    let lab: Lab;
    let client: LabClient;
    let child: ChildProcess;
    let tmp: string;
    let out = '', err = '';
    const dev = `wvsa${process.pid % 10000}`;
    const mac = '02:00:00:00:01:fe';

    beforeAll(async () => {
      lab = await Lab.create({ tag: 'e2e-rtap', forward: 'dr' });
      tmp = mkdtempSync(join(tmpdir(), 'wvs-run-'));
      writeFileSync(join(tmp, 'dr.rules'), labRules(lab.rsAddrs, false, LAB_VIP, 'dr'));
      child = await startCliDirector(lab.ns.dir, ['--mode', 'tap', '--dev', dev, '--bridge', LAB_BRIDGE,
        '--link-mac', mac, '--link-addr', LAB_LINK_ADDR, '--rules', join(tmp, 'dr.rules'), '--tick-ms', '200', '--no-socket'],
        (s) => { out += s; }, (s) => { err += s; });
      client = await lab.client();
    }, 60_000);

    afterAll(() => {
      stopCliLab({ client, child, lab, tmp });
    });

    test('forwards HTTP by DR (rr 30 -> 10/10/10, no reply through it); SIGTERM closes the TAP, prints the table with 0 outpkts, exits 0', async () => {
      expect(err).toContain(`TAP ${dev} up on bridge ${LAB_BRIDGE}`);
      expect(err).toContain(`link: MAC ${mac} ${LAB_LINK_ADDR} on ${dev}`);
      expect(execFileSync('ip', ['-n', lab.ns.dir, 'link', 'show', 'dev', dev], { encoding: 'utf8' })).toContain(`master ${LAB_BRIDGE}`);
      expect(await client.http(30, 80)).toMatchObject({ errors: 0, names: { rs1: 10, rs2: 10, rs3: 10 } });
      expect(execFileSync('ip', ['-n', lab.ns.dir, 'neigh', 'show', LAB_VIP], { encoding: 'utf8' })).toContain(`lladdr ${mac}`);
      const code = await new Promise<number | null>((resolve) => { child.on('exit', resolve); child.kill('SIGTERM'); });
      expect(code).toBe(0);
      // -L -n --stats: Conns InPkts OutPkts ...; every dest 10 conns and 0 packets out
      expect(out).toMatch(new RegExp(`^TCP  ${LAB_VIP.replaceAll('.', '\\.')}:80 +30 +\\d+ +0 `, 'm'));
      for (const a of lab.rsAddrs) expect(out).toMatch(new RegExp(`-> ${a.replaceAll('.', '\\.')}:80 +10 +\\d+ +0 `));
      expect(out).toMatch(/sent by the engine itself: ARP requests, released frames\); ARP\/ND answers [1-9]/);
      expect(err).toContain(`TAP ${dev} closed`);
      expect(execFileSync('ip', ['-n', lab.ns.dir, 'link'], { encoding: 'utf8' })).not.toContain(dev);
    }, 30_000);
  });
});
