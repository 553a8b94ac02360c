/*
 * The control socket: permissions, stale sockets, request validation, listings equal to the
 * host/rules formatters on the same engine state, restore semantics, atomicity, metrics.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { ServerResponse } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { director, type Director } from './helpers.ts';
import { controlRequest } from '../../host/control/client.ts';
import { admMain, splitSocketArg } from '../../host/control/adm-cli.ts';
import { startControlServer } from '../../host/control/server.ts';
import { EngineBackend } from '../../host/control/backend.ts';
import { formatConnList, formatList, formatSave, formatTimeouts } from '../../host/rules/format.ts';
import { runAdm } from '../../host/rules/adm.ts';
import { tableResolver } from '../../host/rules/services.ts';
import { CLIENT, VIP, RS, engine as freshEngine } from '../helpers/engine.ts';
import { ip } from '../helpers/pkt.ts';

let d: Director | undefined;
afterEach(async () => { await d?.stop(); d = undefined; });

const post = (sock: string, body: string, type = 'application/json') =>
  new Promise<{ status: number; body: any }>((resolve, reject) => {
    import('node:http').then(({ request }) => {
      const req = request({ socketPath: sock, method: 'POST', path: '/v1/adm', headers: { 'Content-Type': type } }, (res) => {
        let t = '';
        res.on('data', (c) => { t += c; });
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(t) }));
      });
      req.on('error', reject);
      req.end(body);
    });
  });

const RULES = [
  '-A -t 198.18.0.100:80 -s rr',
  '-a -t 198.18.0.100:80 -r 198.18.1.1:8080 -m -w 3',
  '-a -t 198.18.0.100:80 -r 198.18.1.2:8080 -m -w 1 -x 100 -y 10',
  '-A -u 198.18.0.100:53 -s wrr -p 300',
  '-a -u 198.18.0.100:53 -r 198.18.1.3:53 -m',
  '-A -t [2001:2::100]:443 -s rr',
  '-a -t [2001:2::100]:443 -r [2001:2:0:1::1]:443 -m -w 2',
].join('\n') + '\n';

describe('socket file', () => {
  test('directory 0700, socket 0600, removed on close', async () => {
    d = await director();
    expect(statSync(join(d.dir, 'run')).mode & 0o777).toBe(0o700);
    const st = statSync(d.sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(process.getuid!());
    await d.srv.close();
    expect(existsSync(d.sock)).toBe(false);
    rmSync(d.dir, { recursive: true, force: true });
    d = undefined;
  });

  test('mode is configurable; an existing directory is left as it is', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wvs-ctl-'));
    mkdirSync(join(dir, 'shared'), { mode: 0o755 });
    const e = await freshEngine();
    const srv = await startControlServer(e, { path: join(dir, 'shared', 's.sock'), mode: 0o660 });
    expect(statSync(srv.path).mode & 0o777).toBe(0o660);
    expect(statSync(join(dir, 'shared')).mode & 0o777).toBe(0o755);
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a stale socket (nobody listening) is replaced; a live one or a plain file is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wvs-ctl-'));
    const path = join(dir, 's.sock');
    // a bound but never listening socket: connect() gets ECONNREFUSED, like one left by a killed director
    execFileSync('python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path)})`]);
    expect(statSync(path).isSocket()).toBe(true);
    const stale = await admMain(['--socket', path, '-L', '-n']);
    expect(stale.rc).toBe(2);
    expect(stale.stderr).toContain(`no wasmvs director on ${path} (ECONNREFUSED`);
    const e = await freshEngine();
    const srv = await startControlServer(e, { path });
    expect((await admMain(['--socket', path, '-L', '-n'])).rc).toBe(0);
    await expect(startControlServer(e, { path })).rejects.toThrow(/another director is listening/);
    await srv.close();
    writeFileSync(path, 'not a socket');
    await expect(startControlServer(e, { path })).rejects.toThrow(/not a socket/);
    rmSync(dir, { recursive: true, force: true });
  });

  test('a change\'s follow-up queued by the backend (the director\'s route sync) is done before the answer is sent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wvs-ctl-'));
    const e = await freshEngine();
    let synced = 0;
    // as run.ts does: the VIP routes are synced once per burst of changes, on the next turn
    const backend = new EngineBackend(e, { onChange: () => setImmediate(() => { synced++; }) });
    const srv = await startControlServer(e, { path: join(dir, 's.sock'), backend });
    const seen: number[] = [];
    const end = ServerResponse.prototype.end;
    ServerResponse.prototype.end = function (this: ServerResponse, ...a: unknown[]) { seen.push(synced); return (end as (...x: unknown[]) => ServerResponse).apply(this, a); } as typeof end;
    try {
      const r = await admMain(['--socket', srv.path, '-A', '-t', `${VIP}:80`, '-s', 'rr']);
      expect(r.rc, r.stderr).toBe(0);
    } finally {
      ServerResponse.prototype.end = end;
    }
    expect(seen).toEqual([1]);   // 0 when the answer went out before the sync ran
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('no director: a clear message naming the socket, rc 2 (ipvsadm when IPVS cannot be reached)', async () => {
    const path = join(tmpdir(), 'wvs-none', 'nothing.sock');
    const r = await admMain(['--socket', path, '-L', '-n']);
    expect(r).toEqual({
      stdout: '',
      stderr: `Can't initialize ipvs: no wasmvs director on ${path} (ENOENT: no such socket)\n` +
        'Is the director running (wasmvs run)? Name its socket with --socket PATH or WASMVS_SOCKET.\n',
      rc: 2,
    });
    // -h needs no director
    expect((await admMain(['--socket', path, '-h'])).rc).toBe(0);
  });

  test('WASMVS_SOCKET names the socket; --socket wins', async () => {
    d = await director();
    const old = process.env.WASMVS_SOCKET;
    process.env.WASMVS_SOCKET = d.sock;
    try {
      expect((await admMain(['-L', '--timeout'])).stdout).toBe('Timeout (tcp tcpfin udp): 900 120 300\n');
      expect((await admMain(['-L', '--socket', '/nonexistent/x.sock'])).rc).toBe(2);
    } finally {
      if (old === undefined) delete process.env.WASMVS_SOCKET; else process.env.WASMVS_SOCKET = old;
    }
    expect(splitSocketArg(['-L', '--socket=/a', '-n'])).toEqual({ socket: '/a', rest: ['-L', '-n'] });
    expect(splitSocketArg(['--socket']).error).toBe('--socket: missing argument');
  });
});

describe('request validation', () => {
  test.each([
    ['{', 400, undefined, /^request body is not valid JSON/],
    ['[]', 400, undefined, /must be a JSON object/],
    ['{}', 400, 'argv', /missing field 'argv'/],
    ['{"argv":"-L"}', 400, 'argv', /field 'argv' must be an array of strings/],
    ['{"argv":["-L",7]}', 400, 'argv[1]', /field 'argv\[1\]' must be a string, got number/],
    ['{"argv":["-R"],"stdin":5}', 400, 'stdin', /field 'stdin' must be a string/],
    ['{"argv":[],"bogus":1}', 400, 'bogus', /unknown field 'bogus'/],
    ['{"argv":[],"prog":""}', 400, 'prog', /field 'prog'/],
  ])('%s -> %i', async (body, status, field, msg) => {
    d ??= await director();
    const r = await post(d.sock, body);
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe('WVS_ERR_BAD_REQUEST');
    expect(r.body.error.field).toBe(field);
    expect(r.body.error.message).toMatch(msg);
  });

  test('wrong content type 415, unknown path 404, wrong method 405 with Allow', async () => {
    d = await director();
    expect((await post(d.sock, '{"argv":[]}', 'text/plain')).status).toBe(415);
    const nf = await controlRequest(d.sock, 'GET', '/v2/nothing');
    expect(nf.status).toBe(404);
    expect(JSON.parse(nf.body).error.code).toBe('WVS_ERR_NOT_FOUND');
    const m = await controlRequest(d.sock, 'GET', '/v1/adm');
    expect(m.status).toBe(405);
    expect(JSON.parse(m.body).error.message).toBe('GET is not allowed on /v1/adm (allowed: POST)');
    const ok = await post(d.sock, '{"argv":["-L","--timeout"]}');
    expect(ok).toEqual({ status: 200, body: { stdout: 'Timeout (tcp tcpfin udp): 900 120 300\n', stderr: '', rc: 0 } });
  });
});

/** Some traffic: TCP conns to the first service, UDP to the second. */
function traffic(d: Director): void {
  for (let i = 0; i < 5; i++) expect(d.e.processFrame(ip(CLIENT, VIP, { proto: 'tcp', sport: 41000 + i, dport: 80, flags: 'S' }), 1000 + i).verdict).toBe('XMIT');
  for (let i = 0; i < 3; i++) expect(d.e.processFrame(ip(CLIENT, VIP, { proto: 'udp', sport: 42000 + i, dport: 53, payload: new Uint8Array(10) }), 2000).verdict).toBe('XMIT');
  // a reply from a real server for the first TCP conn
  const c = d.e.conns().find((x) => x.proto === 'TCP')!;
  expect(d.e.processFrame(ip(c.daddr, CLIENT, { proto: 'tcp', sport: c.dport, dport: c.cport, flags: 'SA' }), 3000).verdict).toBe('XMIT');
  d.e.ex.estimate(2000); // the first call runs one step: 5 conns in 2 s -> cps (5 << 9) >> 2 = 640 -> 1
}

describe('listings through the socket equal the formatters on the same engine state', () => {
  test('-R, traffic, then every listing', async () => {
    d = await director();
    const r = await d.adm(['-R'], RULES);
    expect(r).toEqual({ stdout: '', stderr: '', rc: 0 });
    traffic(d);
    const be = new EngineBackend(d.e);
    const svcs = be.services();
    expect(svcs[0].stats.conns).toBe(5n);
    expect(svcs[0].rates.cps).toBeGreaterThan(0);
    const info = { version: '1.2.1', size: 4096 };
    const cases: [string, string][] = [
      ['-L -n', formatList(svcs, { numeric: true, ...info })],
      ['-L', formatList(svcs, { numeric: false, resolver: tableResolver, ...info })],
      ['-L -n --stats', formatList(svcs, { numeric: true, stats: true, ...info })],
      ['-L -n --stats --exact', formatList(svcs, { numeric: true, stats: true, exact: true, ...info })],
      ['-L -n --rate', formatList(svcs, { numeric: true, rate: true, ...info })],
      ['-L -n --thresholds', formatList(svcs, { numeric: true, thresholds: true, ...info })],
      ['-L -n --persistent-conn', formatList(svcs, { numeric: true, persistentConn: true, ...info })],
      ['-L -n --nosort', formatList(svcs, { numeric: true, nosort: true, ...info })],
      ['-S -n', formatSave(svcs, true)],
      ['-L -n -c', formatConnList(d.e.conns(), { numeric: true })],
      ['-L --timeout', formatTimeouts(d.e.timeouts())],
    ];
    for (const [args, want] of cases) {
      const got = await d.adm(args);
      expect({ args, ...got }).toEqual({ args, stdout: want, stderr: '', rc: 0 });
    }
    // 8 conns + the persistence template of the -p 300 UDP service's client
    expect((await d.adm('-L -n -c')).stdout.split('\n')).toHaveLength(2 + 8 + 1 + 1);
    // GET /v1/services: the same records as JSON, 64-bit counters as decimal strings
    const js = JSON.parse((await controlRequest(d.sock, 'GET', '/v1/services')).body);
    expect(js[0]).toMatchObject({ proto: 'TCP', addr: VIP, port: 80, sched: 'rr', stats: { conns: '5' } });
    expect(js[0].dests.map((x: any) => x.addr).sort()).toEqual([RS[0], RS[1]]);
    const conns = JSON.parse((await controlRequest(d.sock, 'GET', '/v1/conns')).body);
    expect(conns).toHaveLength(8 + 1);
    const stats = JSON.parse((await controlRequest(d.sock, 'GET', '/v1/stats')).body);
    expect(stats.stats.conns).toBe('8');
    expect(stats.counters.conn_created).toBe('9');   // the template is a conn too (ip_vs_conn_new)
  });

  test('a DR dest on a synproxy service: ipvsadm\'s errno line, then why in wasmvs\'s words; nothing added', async () => {
    d = await director();
    expect((await d.adm('-A -t 198.18.0.100:80 -s rr -j enable')).rc).toBe(0);
    const r = await d.adm('-a -t 198.18.0.100:80 -r 198.18.1.1:80 -g');
    expect(r.rc).toBe(255);
    expect(r.stderr).toBe('Operation not supported with IPv6\nwasmvs: add_dest 198.18.1.1:80: the SYN proxy needs NAT (-m) or FULLNAT real servers: with DR (-g) or ' +
      'tunnels (-i) the real server\'s SYN-ACK goes to the client without passing the director, so the handshake cannot be completed ' +
      '(turn --synproxy off for this service, or use -m)\n');
    expect((await d.adm('-S -n')).stdout).toBe('-A -t 198.18.0.100:80 -s rr -j enable\n');
  });

  test('--set, -Z, -E, -e, -d, -D, -C change the engine', async () => {
    d = await director();
    await d.adm(['-R'], RULES);
    traffic(d);
    expect((await d.adm('--set 100 20 30')).rc).toBe(0);
    expect(d.e.timeouts()).toEqual({ tcp: 100, tcpfin: 20, udp: 30 });
    expect((await d.adm('-Z -t 198.18.0.100:80')).rc).toBe(0);
    const s = new EngineBackend(d.e).services();
    expect(s.find((x) => x.port === 80)!.stats.conns).toBe(0n);
    expect(s.find((x) => x.port === 53)!.stats.conns).toBe(3n);
    expect((await d.adm('-E -t 198.18.0.100:80 -s wrr')).rc).toBe(0);
    expect((await d.adm('-e -t 198.18.0.100:80 -r 198.18.1.1:8080 -m -w 7')).rc).toBe(0);
    expect((await d.adm('-d -t 198.18.0.100:80 -r 198.18.1.2:8080')).rc).toBe(0);
    expect((await d.adm('-D -u 198.18.0.100:53')).rc).toBe(0);
    expect((await d.adm('-S -n')).stdout).toBe([
      '-A -t 198.18.0.100:80 -s wrr',
      '-a -t 198.18.0.100:80 -r 198.18.1.1:8080 -m -w 7',
      '-A -t [2001:2::100]:443 -s rr',
      '-a -t [2001:2::100]:443 -r [2001:2:0:1::1]:443 -m -w 2',
      '',
    ].join('\n'));
    expect((await d.adm('-C')).rc).toBe(0);
    expect(d.e.services()).toEqual([]);
  });
});

describe('restore (-R) keeps ipvsadm behaviour, and a failed line loses nothing', () => {
  const FAILING = [
    '-A -t 198.18.0.100:80 -s rr',                                   // EEXIST
    '-A -t 198.18.0.101:80 -s nosuchsched',                          // ENOENT
    '-E -t 198.18.0.100:80 -s nosuchsched',                          // ENOENT: old scheduler kept
    '-E -t 198.18.0.199:80 -s rr',                                   // ESRCH
    '-D -t 198.18.0.199:80',                                         // ESRCH
    '-a -t 198.18.0.100:80 -r 198.18.1.1:8080 -m -w 9',              // EEXIST: weight 3 kept
    '-a -t 198.18.0.100:80 -r 198.18.1.9:8080 -m -x 10 -y 20',       // ERANGE
    '-e -t 198.18.0.100:80 -r 198.18.1.2:8080 -m -w 5 -x 1 -y 2',    // ERANGE: weight 1 kept
    '-e -t 198.18.0.100:80 -r 198.18.1.9:8080 -m -w 5',              // ENOENT
    '-d -t 198.18.0.100:80 -r 198.18.1.9:8080',                      // ENOENT
    '-a -t 198.18.0.199:80 -r 198.18.1.1:8080 -m',                   // ESRCH
    '-A -t 198.18.0.102:80 -s rr --pe sip',                          // ENOENT: no persistence engines
    '-d -t 198.18.0.100:80 -r 198.18.1.8:8080',                      // ENOENT (gue tunnels are supported now)
  ];

  test('each failing line prints its error, the restore goes on, state and counters are unchanged', async () => {
    d = await director();
    await d.adm(['-R'], RULES);
    traffic(d);
    const before = { save: (await d.adm('-S -n')).stdout, stats: (await d.adm('-L -n --stats --exact')).stdout, conns: d.e.connCount() };
    const r = await d.adm(['-R'], FAILING.join('\n') + '\n');
    expect(r.stderr.split('\n')).toEqual([
      'Service already exists', 'Scheduler or persistence engine not found', 'Scheduler or persistence engine not found',
      'No such service', 'No such service', 'Destination already exists', 'Numerical result out of range',
      'Numerical result out of range', 'No such destination', 'No such destination', 'Service not defined',
      'Scheduler or persistence engine not found', 'No such destination', '',
    ]);
    expect(r.rc).toBe(255); // the last line's result, as ipvsadm
    expect((await d.adm('-S -n')).stdout).toBe(before.save);
    expect((await d.adm('-L -n --stats --exact')).stdout).toBe(before.stats);
    expect(d.e.connCount()).toBe(before.conns);
  });

  test('good lines around bad ones are applied; a usage error ends the restore there', async () => {
    d = await director();
    const r = await d.adm(['-R'], [
      '-A -t 198.18.0.1:80 -s rr',
      '-A -t 198.18.0.1:80 -s rr',
      '-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m',
      '-a -t 198.18.0.1:80 -r 198.18.1.2:80 -m -w -1',
      '-A -t 198.18.0.2:80 -s rr',
    ].join('\n') + '\n');
    expect(r).toEqual({ stdout: '', stderr: 'Service already exists\nillegal weight specified\n', rc: 2 });
    expect((await d.adm('-S -n')).stdout).toBe('-A -t 198.18.0.1:80 -s rr\n-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 1\n');
  });
});

describe('atomicity with respect to the packet loop', () => {
  test('no macrotask (a device read, a batch) runs inside one request, even a long restore', async () => {
    const e = await freshEngine();
    const be = new EngineBackend(e);
    const lines = ['-A -t 198.18.0.100:80 -s rr'];
    for (let i = 1; i <= 200; i++) lines.push(`-a -t 198.18.0.100:80 -r 198.18.${1 + (i >> 8)}.${i & 255}:80 -m`);
    let batches = 0;
    let running = false;
    let interleaved = false;
    const loop = setInterval(() => { batches++; if (running) interleaved = true; }, 0);
    const imm = () => setImmediate(() => { batches++; if (running) interleaved = true; if (batches < 1e6 && !done) imm(); });
    let done = false;
    imm();
    await new Promise((r) => setTimeout(r, 5));
    running = true;
    const r = await runAdm(['-R'], be, { stdin: lines.join('\n') + '\n' });
    running = false;
    done = true;
    clearInterval(loop);
    expect(r.rc).toBe(0);
    expect(e.services()[0].dests).toHaveLength(200);
    expect(batches).toBeGreaterThan(0);
    expect(interleaved).toBe(false);
  });

  test('requests from several clients at once are applied one after another', async () => {
    d = await director();
    await d.adm('-A -t 198.18.0.100:80 -s rr');
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => d!.adm(`-a -t 198.18.0.100:80 -r 198.18.1.${i + 1}:80 -m`)));
    expect(rs.every((r) => r.rc === 0)).toBe(true);
    expect(d.e.services()[0].dests).toHaveLength(40);
  });
});

/** A strict reader of the Prometheus text format 0.0.4. */
function parseProm(text: string): Map<string, { type: string; samples: { labels: Record<string, string>; value: number }[] }> {
  const fams = new Map<string, { type: string; samples: { labels: Record<string, string>; value: number }[] }>();
  const seen = new Set<string>();
  let cur: string | null = null;
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line))) { expect(fams.has(m[1])).toBe(false); cur = m[1]; continue; }
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      expect(m[1]).toBe(cur); fams.set(m[1], { type: m[2], samples: [] }); continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,(?=[a-zA-Z_]))?)*\})? (-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?|NaN|\+Inf|-Inf)$/.exec(line);
    expect(m, `bad line: ${line}`).not.toBeNull();
    expect(m![1]).toBe(cur);
    const labels: Record<string, string> = {};
    for (const lm of (m![2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    const key = m![1] + JSON.stringify(labels);
    expect(seen.has(key), `duplicate series ${key}`).toBe(false);
    seen.add(key);
    fams.get(cur!)!.samples.push({ labels, value: Number(m![3]) });
  }
  return fams;
}

describe('GET /metrics', () => {
  test('Prometheus text that parses, with per service/dest counters, rates, conns and drop reasons', async () => {
    d = await director();
    await d.adm(['-R'], RULES);
    traffic(d);
    d.e.processFrame(new Uint8Array([0x45, 0, 0]), 4000); // truncated: a named drop
    const r = await controlRequest(d.sock, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    const m = parseProm(r.body);
    const one = (name: string, labels: Record<string, string> = {}) =>
      m.get(name)!.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))!.value;
    expect(m.get('wasmvs_service_conns_total')!.type).toBe('counter');
    expect(one('wasmvs_service_conns_total', { proto: 'tcp', vip: VIP, vport: '80' })).toBe(5);
    expect(one('wasmvs_service_conns_total', { proto: 'udp', vip: VIP, vport: '53' })).toBe(3);
    expect(one('wasmvs_dest_in_packets_total', { rip: RS[2], rport: '53' })).toBe(3);
    expect(one('wasmvs_service_out_packets_total', { vport: '80' })).toBe(1);
    expect(one('wasmvs_dest_inactive_conns', { rip: RS[2] }) + one('wasmvs_dest_active_conns', { rip: RS[2] })).toBe(3);
    expect(m.get('wasmvs_service_conn_rate')!.type).toBe('gauge');
    expect(one('wasmvs_service_conn_rate', { vport: '80' })).toBe(new EngineBackend(d.e).services().find((s) => s.port === 80)!.rates.cps);
    expect(one('wasmvs_conns_total')).toBe(8);
    expect(one('wasmvs_connections')).toBe(9);   // conns in the table include the persistence template
    expect(one('wasmvs_engine_events_total', { name: 'drop_truncated' })).toBe(1);
    expect(one('wasmvs_drops_total', { reason: 'truncated' })).toBe(1);
    expect(one('wasmvs_dest_weight', { rip: '2001:2:0:1::1' })).toBe(2);
  });
});
