/*
 * test/control/bounds.test.ts - the control socket cannot be exhausted (issue 13): a cap on
 * connections at once (with a log line), idle ones closed, and `adm` explains a closed
 * connection instead of printing "write EPIPE".
 */
import { afterEach, describe, expect, test } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { director, type Director } from './helpers.ts';
import { admMain } from '../../host/control/adm-cli.ts';
import { controlRequest } from '../../host/control/client.ts';
import { ip } from '../helpers/pkt.ts';
import { IDLE_MS, MAX_CONNS } from '../../host/control/server.ts';

let d: Director | undefined;
const socks: Socket[] = [];
afterEach(async () => {
  for (const s of socks.splice(0)) s.destroy();
  await d?.stop(); d = undefined;
});

const open = (path: string) => new Promise<Socket>((resolve, reject) => {
  const s = connect(path);
  socks.push(s);
  s.once('connect', () => resolve(s));
  s.once('error', reject);
});
const closed = (s: Socket, ms: number) => new Promise<boolean>((resolve) => {
  if (s.destroyed) return resolve(true);
  const t = setTimeout(() => resolve(false), ms);
  s.once('close', () => { clearTimeout(t); resolve(true); });
  s.on('error', () => undefined);
});

describe('control connections', () => {
  test('over the cap: the new connection is closed, one log line names the limit, adm says what happened', async () => {
    const logs: string[] = [];
    d = await director({ maxConns: 4, idleMs: 60_000, log: (lvl, m) => logs.push(`${lvl}: ${m}`) });
    for (let i = 0; i < 4; i++) await open(d.sock);
    const extra = await open(d.sock);
    expect(await closed(extra, 2000)).toBe(true);
    const r = await admMain(['--socket', d.sock, '-L', '-n'], { prog: 'wasmvs adm' });
    expect(r.rc).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^wasmvs adm: the director on ${d.sock} closed the connection before answering \\((ECONNRESET|EPIPE)\\): it takes at most 64 control connections at once and closes idle ones after 10 s; its log says when it refused one\\. Try again\\n$`));
    expect(r.stderr).not.toMatch(/^write EPIPE/);
    expect(logs).toEqual([`warn: control socket ${d.sock}: 4 connections are open (the limit); closed 1 new one(s) since start. Idle ones close after 60 s`]);
    // the idle four go away: the director answers again
    for (const s of socks.splice(0)) s.destroy();
    await new Promise((res) => setTimeout(res, 50));
    expect((await admMain(['--socket', d.sock, '-L', '-n'])).rc).toBe(0);
  });

  test('the defaults: 64 connections at once, 10 s idle (the process keeps its file descriptors)', async () => {
    const logs: string[] = [];
    d = await director({ log: (lvl, m) => logs.push(`${lvl}: ${m}`) });
    const all = await Promise.all(Array.from({ length: 80 }, () => open(d!.sock)));
    const gone = await Promise.all(all.map((s) => closed(s, 1000)));
    expect(gone.filter(Boolean).length).toBe(80 - MAX_CONNS);
    expect(MAX_CONNS).toBe(64);
    expect(IDLE_MS).toBe(10_000);
    expect(logs).toHaveLength(1);
  });

  test('adm keeps no connection open after its answer (a kept-alive one could be closed by the director just as it is reused)', async () => {
    d = await director();
    let opened = 0;
    d.srv.server.on('connection', () => { opened++; });
    for (let i = 0; i < 3; i++) expect((await admMain(['--socket', d.sock, '--sysctl', 'sloppy_tcp'])).rc).toBe(0);
    expect((await admMain(['--socket', d.sock, '-L', '-n'], { stdout: () => undefined })).rc).toBe(0);
    await new Promise((res) => setTimeout(res, 50));
    const open = await new Promise<number>((res, rej) => d!.srv.server.getConnections((e, n) => (e ? rej(e) : res(n))));
    expect([opened, open]).toEqual([4, 0]);
  });

  test('an answer that takes longer than idleMs is not cut: only a silent client is idle', async () => {
    d = await director({ idleMs: 100, cfg: { connMax: 65536, slots: 256 } });
    await admMain(['--socket', d.sock, '-A', '-u', '198.18.0.100:53', '-s', 'rr']);
    await admMain(['--socket', d.sock, '-a', '-u', '198.18.0.100:53', '-r', '198.18.1.1:53', '-m']);
    const n = 50_000;
    for (let i = 0; i < n;) {
      const k = Math.min(256, n - i);
      for (let j = 0; j < k; j++, i++) d.e.writeFrame(j, ip(`198.19.${(i >> 8) & 255}.${i & 255}`, '198.18.0.100', { proto: 'udp', sport: 1000, dport: 53, payload: new Uint8Array(4) }));
      d.e.process(k, 1000);
    }
    const t0 = performance.now();
    const r = await controlRequest(d.sock, 'POST', '/v1/adm', JSON.stringify({ argv: ['-L', '-n', '-c'] }));
    expect(performance.now() - t0).toBeGreaterThan(100);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).stdout.split('\n')).toHaveLength(n + 3);
  }, 30_000);

  test('an idle connection is closed after idleMs; one that sends a request in time is answered', async () => {
    d = await director({ idleMs: 300 });
    const idle = await open(d.sock);
    const t0 = Date.now();
    expect(await closed(idle, 5000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect((await admMain(['--socket', d.sock, '-L', '--timeout'])).stdout).toBe('Timeout (tcp tcpfin udp): 900 120 300\n');
  });
});

describe('messages', () => {
  test('--socket naming a regular file or a directory says what it is, not "left over from a director"', async () => {
    const r = await admMain(['--socket', '/etc/passwd', '-L', '-n']);
    expect(r).toEqual({
      stdout: '',
      stderr: "Can't initialize ipvs: no wasmvs director on /etc/passwd (ECONNREFUSED: not a socket but a regular file: name the director's socket with --socket)\n" +
        'Is the director running (wasmvs run)? Name its socket with --socket PATH or WASMVS_SOCKET.\n',
      rc: 2,
    });
    expect((await admMain(['--socket', '/tmp', '-L'])).stderr).toMatch(/^Can't initialize ipvs: no wasmvs director on \/tmp \(ECONNREFUSED: not a socket but a directory: /);
  });

  test.skipIf(!existsSync(join(import.meta.dirname, '..', '..', 'dist', 'host', 'cli.js')))('usage errors name wasmvs\'s own command: wasmvs adm, wasmvsadm', async () => {
    d = await director();
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'wasmvs.js');
    const run = (argv0: string, ...args: string[]) => new Promise<{ stderr: string; rc: number | null }>((resolve) => {
      const p = spawn(process.execPath, [argv0, ...args]);
      let se = '';
      p.stderr.on('data', (c) => { se += c; });
      p.on('close', (rc) => resolve({ stderr: se, rc }));
    });
    expect(await run(bin, 'adm', '--socket', d.sock, '-s', 'rr')).toEqual({ stderr: 'Try `wasmvs adm -h\' or \'wasmvs adm --help\' for more information.\n', rc: 255 });
    const link = join(d.dir, 'wasmvsadm');
    symlinkSync(bin, link);
    expect((await run(link, '--socket', d.sock, '-X')).stderr).toContain("Try `wasmvsadm -h' or 'wasmvsadm --help' for more information.\n");
  });
});
