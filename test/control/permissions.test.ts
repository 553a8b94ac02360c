/*
 * test/control/permissions.test.ts - the control socket refuses other users, oversized and
 * malformed requests (issue 6).
 *
 * The director runs here as root; clients run as uid/gid 65534 (nobody) through
 * `setpriv --reuid=65534 --regid=65534 --clear-groups node ...`. Root only (setpriv needs
 * CAP_SETUID): skipped with the reason otherwise. The request-shape cases that
 * test/control/server.test.ts already covers (bad JSON, wrong field types, 404/405/415) are not
 * repeated; this file adds the size limits, bodies that are not UTF-8, and broken HTTP.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { director, type Director } from './helpers.ts';
import { MAX_BODY } from '../../host/control/server.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'wasmvs.js');
const NOBODY = 65534;

function whyNot(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (setpriv to uid 65534)';
  try { execFileSync('setpriv', ['--version'], { stdio: 'ignore' }); } catch { return 'setpriv (util-linux) is not installed'; }
  return undefined;
}
const skip = whyNot();
if (skip) console.warn(`test/control/permissions.test.ts: skipped: ${skip}`);

/** Run `node ARGS` as uid/gid 65534 with no supplementary groups; stdout, stderr, exit code. */
function asNobody(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string; rc: number }> {
  return new Promise((resolve) => {
    execFile('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, ...args],
      { cwd: '/', timeout: 15_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', ...env } },
      (err, stdout, stderr) => resolve({ stdout, stderr, rc: err ? (typeof (err as any).code === 'number' ? (err as any).code : -1) : 0 }));
  });
}
/** A bare connect() as nobody: prints "connected" or the errno. */
const CONNECT = `const s = require('node:net').connect(process.argv[1]);
s.on('connect', () => { console.log('connected'); s.destroy(); });
s.on('error', (e) => console.log(e.code));`;

let d: Director | undefined;
let extra: string | undefined;
afterEach(async () => {
  await d?.stop(); d = undefined;
  if (extra) rmSync(extra, { recursive: true, force: true });
  extra = undefined;
});

describe.skipIf(!!skip)('another unprivileged user is refused', () => {
  test('default: directory 0700 and socket 0600 owned by root -> EACCES for uid 65534', async () => {
    d = await director();
    expect(statSync(d.sock).mode & 0o777).toBe(0o600);
    expect((await asNobody(['-e', CONNECT, d.sock])).stdout).toBe('EACCES\n');
  });

  test('a world-searchable directory does not help: the socket itself (0600) refuses', async () => {
    extra = mkdtempSync(join(tmpdir(), 'wvs-perm-'));
    chmodSync(extra, 0o711);
    const sock = join(extra, 'wasmvs.sock');
    d = await director({ path: sock });
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    expect((await asNobody(['-e', CONNECT, sock])).stdout).toBe('EACCES\n');
    // wasmvs adm as that user: ipvsadm's "Can't initialize ipvs" with the reason, rc 2, nothing changed
    if (!existsSync(join(ROOT, 'dist', 'host', 'cli.js'))) return void console.warn('permissions: dist/ not built, wasmvs adm part skipped');
    const r = await asNobody([CLI, 'adm', '--socket', sock, '-A', '-t', '198.18.0.100:80', '-s', 'rr']);
    expect(r).toEqual({
      stdout: '',
      // the director is running: say whose socket it is, not "Is the director running?"
      stderr: `Can't initialize ipvs: no wasmvs director on ${sock} (EACCES: permission denied: the socket (uid 0, mode 0600) belongs to the user who started the director; run as that user or root)\n` +
        'The director answers only the user who started it (or root); change the socket\'s mode with care.\n',
      rc: 2,
    });
    expect(d.e.services()).toEqual([]);
  });

  test('control: with mode 0666 the same user gets through (the refusal above is the permission bits)', async () => {
    extra = mkdtempSync(join(tmpdir(), 'wvs-perm-'));
    chmodSync(extra, 0o711);
    const sock = join(extra, 'wasmvs.sock');
    d = await director({ path: sock, mode: 0o666 });
    expect((await asNobody(['-e', CONNECT, sock])).stdout).toBe('connected\n');
    if (!existsSync(join(ROOT, 'dist', 'host', 'cli.js'))) return;
    expect(await asNobody([CLI, 'adm', '--socket', sock, '-L', '--timeout'])).toEqual({ stdout: 'Timeout (tcp tcpfin udp): 900 120 300\n', stderr: '', rc: 0 });
  });
});

/** Raw HTTP over the socket: status line and body (the server may close early). */
function raw(sock: string, bytes: Buffer | string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(sock);
    let out = '';
    const t = setTimeout(() => { s.destroy(); reject(new Error(`no answer in ${timeoutMs} ms; got ${JSON.stringify(out)}`)); }, timeoutMs);
    s.on('data', (c) => { out += c.toString('latin1'); });
    s.on('close', () => { clearTimeout(t); resolve(out); });
    s.on('error', () => { /* EPIPE/ECONNRESET after the server answered and closed: the answer is in `out` */ });
    s.write(bytes);
    s.end();
  });
}
const statusLine = (r: string) => r.split('\r\n')[0];
const body = (r: string) => JSON.parse(r.slice(r.indexOf('\r\n\r\n') + 4));

/** POST with a body streamed in chunks; resolves with status and parsed body. */
function post(sock: string, chunks: Iterable<Buffer>, headers: Record<string, string | number> = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, method: 'POST', path: '/v1/adm', headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
      let t = '';
      res.on('data', (c) => { t += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(t) }));
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

describe('oversized and malformed requests are refused, and the server stays up', () => {
  test(`a body over ${MAX_BODY} bytes -> 413 WVS_ERR_TOO_LARGE; exactly ${MAX_BODY} is read`, async () => {
    d = await director();
    // MAX_BODY bytes of valid JSON: {"argv":["-L","--timeout"],"stdin":"xxxx..."}
    const head = '{"argv":["-L","--timeout"],"stdin":"', tail = '"}';
    const fill = Buffer.alloc(MAX_BODY - head.length - tail.length, 'x');
    const ok = await post(d.sock, [Buffer.from(head), fill, Buffer.from(tail)]);
    expect(ok).toEqual({ status: 200, body: { stdout: 'Timeout (tcp tcpfin udp): 900 120 300\n', stderr: '', rc: 0 } });
    const big = Buffer.concat([Buffer.from(head), fill, Buffer.from('x'), Buffer.from(tail)]);   // MAX_BODY + 1
    const r = await raw(d.sock, Buffer.concat([Buffer.from(`POST /v1/adm HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n`), big]));
    expect(statusLine(r)).toBe('HTTP/1.1 413 Payload Too Large');
    expect(body(r)).toEqual({ error: { code: 'WVS_ERR_TOO_LARGE', message: `request body larger than ${MAX_BODY} bytes` } });
    expect(d.e.services()).toEqual([]);
    // still serving
    expect((await post(d.sock, [Buffer.from('{"argv":["-L","--timeout"]}')])).status).toBe(200);
  });

  test('argv over 4096 elements and prog over 64 characters -> 400 naming the field', async () => {
    d = await director();
    const a = await post(d.sock, [Buffer.from(JSON.stringify({ argv: Array(4097).fill('-n') }))]);
    expect(a).toEqual({ status: 400, body: { error: { code: 'WVS_ERR_BAD_REQUEST', message: "field 'argv' has more than 4096 elements", field: 'argv' } } });
    const p = await post(d.sock, [Buffer.from(JSON.stringify({ argv: ['-L'], prog: 'p'.repeat(65) }))]);
    expect(p).toEqual({ status: 400, body: { error: { code: 'WVS_ERR_BAD_REQUEST', message: "field 'prog' must be a non-empty string of at most 64 characters", field: 'prog' } } });
    // 4096 elements is within the limit: the request reaches ipvsadm's parser (status 200)
    const at = await post(d.sock, [Buffer.from(JSON.stringify({ argv: ['-L', '--timeout', ...Array(4094).fill('-n')] }))]);
    expect(at.status).toBe(200);
  });

  test('a body that is not UTF-8 -> 400 WVS_ERR_BAD_REQUEST', async () => {
    d = await director();
    const r = await post(d.sock, [Buffer.from('{"argv":["-L","'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"]}')]);
    expect(r).toEqual({ status: 400, body: { error: { code: 'WVS_ERR_BAD_REQUEST', message: 'request body is not valid UTF-8' } } });
  });

  test('broken HTTP (garbage, a bad request line, a bad Content-Length) -> 400 and the connection closed', async () => {
    d = await director();
    for (const junk of ['\x00\x01\x02 hello\r\n\r\n', 'GET / HTTP/9\r\n\r\n', 'POST /v1/adm HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n',
      'POST /v1/adm HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}']) {
      expect(await raw(d.sock, junk), JSON.stringify(junk)).toBe('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    }
    expect(d.e.services()).toEqual([]);
    expect((await post(d.sock, [Buffer.from('{"argv":["-L","--timeout"]}')])).status).toBe(200);
  });
});
