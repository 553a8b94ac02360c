/*
 * test/e2e/run-control.e2e.test.ts - `wasmvs run` as an operator starts it (issue 13): sysctls
 * by their kernel names at start and through `wasmvs adm`, a rules file with comments, and a
 * second director on the same device or socket told which option to change. The real CLI in a
 * network namespace this test creates (per-process name, removed at the end and on SIGTERM).
 * Root, the TUN addon and dist/ needed; skipped with the reason otherwise.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCliDirector } from './cli-director.ts';
import { tunAvailable } from '../../host/native/tun.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'wasmvs.js');
const why = process.getuid?.() !== 0 ? 'needs root' : !tunAvailable() ? 'TUN addon not built' :
  !existsSync(join(ROOT, 'dist', 'host', 'cli.js')) ? 'dist/ not built (npm run build)' : null;
if (why) console.warn(`test/e2e/run-control.e2e.test.ts: skipped: ${why}`);

describe.skipIf(why !== null)('wasmvs run: sysctls, comments, a second director', () => {
  const ns = `wvs-runctl-${process.pid}`;
  const dev = `wvsc${process.pid % 10000}`;
  let tmp: string;
  let child: ChildProcess | undefined;
  let err = '';
  const sock = () => join(tmp, 'a.sock');
  const cleanup = () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* gone */ }
  };
  const onSig = () => { cleanup(); process.exit(1); };
  /** `wasmvs ARGS` inside the namespace; stdout, stderr, exit code. */
  const cli = (...args: string[]) => {
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, BIN, ...args], { encoding: 'utf8', timeout: 20_000 });
    return { stdout: r.stdout, stderr: r.stderr, rc: r.status };
  };

  beforeAll(async () => {
    process.on('SIGTERM', onSig);
    tmp = mkdtempSync(join(tmpdir(), 'wvs-runctl-'));
    execFileSync('ip', ['netns', 'add', ns]);
    writeFileSync(join(tmp, 'lb.rules'), [
      '# web farm', '', '-A -t 198.18.2.1:80 -s wrr', '   # the first server', '-a -t 198.18.2.1:80 -r 198.18.1.11:80 -m -w 2', '\t',
      '-A -u 198.18.2.1:53 -s rr', '-a -u 198.18.2.1:53 -r 198.18.1.12:53 -m', '',
    ].join('\n'));
    child = await startCliDirector(ns, ['--dev', dev, '--rules', join(tmp, 'lb.rules'), '--socket', sock(),
      '--sysctl', 'net.ipv4.vs.expire_nodest_conn=1', '--sysctl=sloppy_tcp=1', '--sysctl', 'conn_reuse_mode=2'], () => undefined, (s) => { err += s; });
  }, 30_000);

  afterAll(() => {
    cleanup();
    process.off('SIGTERM', onSig);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('--sysctl at start reads back through adm --sysctl; changed at run time; the commented rules file applied', () => {
    // the start-up log says how to reach it
    expect(err).toContain(`control socket ${sock()}: wasmvs adm -L -n --socket ${sock()} (npx wasmvs adm / npx wasmvsadm outside a global install)`);
    expect(cli('adm', '--socket', sock(), '--sysctl', 'expire_nodest_conn', '--sysctl', 'sloppy_tcp', '--sysctl', 'net.ipv4.vs.conn_reuse_mode')).toEqual({
      stdout: 'net.ipv4.vs.expire_nodest_conn = 1\nnet.ipv4.vs.sloppy_tcp = 1\nnet.ipv4.vs.conn_reuse_mode = 2\n', stderr: '', rc: 0,
    });
    expect(cli('adm', '--socket', sock(), '--sysctl', 'expire_nodest_conn=0').stdout).toBe('net.ipv4.vs.expire_nodest_conn = 0\n');
    const all = cli('adm', '--socket', sock(), '--sysctl');
    expect(all.rc).toBe(0);
    expect(all.stdout).toMatch(/^net\.ipv4\.vs\.am_droprate = 10\nnet\.ipv4\.vs\.amemthresh = 1024\nnet\.ipv4\.vs\.backup_only = 0\n/);
    expect(all.stdout).toContain('net.ipv4.vs.expire_nodest_conn = 0\nnet.ipv4.vs.expire_quiescent_template = 0\n');
    // every net.ipv4.vs.* of 6.1 (29): the 17 of the control plane, the 4 of the defense and the 8 sync_* ones
    expect(all.stdout.trimEnd().split('\n')).toHaveLength(29);
    expect(all.stdout).toContain('net.ipv4.vs.sync_threshold = 3 50\n');
    expect(cli('adm', '--socket', sock(), '-S', '-n').stdout).toBe(
      '-A -t 198.18.2.1:80 -s wrr\n-a -t 198.18.2.1:80 -r 198.18.1.11:80 -m -w 2\n-A -u 198.18.2.1:53 -s rr\n-a -u 198.18.2.1:53 -r 198.18.1.12:53 -m -w 1\n');
  });

  test('a second director on the same device is told to use --dev; on the same socket, --socket', () => {
    const dup = cli('run', '--dev', dev, '--no-socket', '--no-vip-routes');
    expect(dup.rc).toBe(1);
    expect(dup.stderr).toContain(`wasmvs run: cannot create TUN device ${dev}: EBUSY (another director (or another program) holds TUN device ${dev}): give this director another one with --dev NAME (and its own control socket with --socket PATH)\n`);
    // refused after its worker threads started: stopping them must not close a queue under a
    // worker's poll (libuv aborts the process on the EBADF; it did, about one start in ten under load)
    for (let k = 0; k < 4; k++) {
      const again = cli('run', '--dev', `${dev}b`, '--socket', sock(), '--no-vip-routes', '--workers', '2');
      expect(again.rc, again.stderr).toBe(1);   // null: killed by a signal (the abort)
    }
    const dupSock = cli('run', '--dev', `${dev}b`, '--socket', sock(), '--no-vip-routes');
    expect(dupSock.rc).toBe(1);
    expect(dupSock.stderr).toContain(`control socket: another director is listening on ${sock()}: give this one its own socket with --socket PATH (its \`wasmvs adm\` then needs --socket PATH too), or start it with --no-socket\n`);
    // the refused one left nothing behind: its device is gone, the first director still answers
    expect(execFileSync('ip', ['-n', ns, 'link'], { encoding: 'utf8' })).not.toContain(`${dev}b`);
    expect(cli('adm', '--socket', sock(), '-L', '-n').rc).toBe(0);
  });

  test('a refused --sysctl stops the start with the reason, before any device exists', () => {
    const r = cli('run', '--dev', `${dev}c`, '--no-socket', '--sysctl', 'nat_icmp_send=1');
    expect(r.rc).toBe(1);
    expect(r.stderr).toMatch(/^wasmvs run: net\.ipv4\.vs\.nat_icmp_send = 1: not implemented by wasmvs, only 0: /);
    expect(execFileSync('ip', ['-n', ns, 'link'], { encoding: 'utf8' })).not.toContain(`${dev}c`);
    expect(cli('run', '--sysctl', 'secure_tcp=9').stderr).toBe('wasmvs run: net.ipv4.vs.secure_tcp: 9 is out of range 0-3 (the kernel\'s proc_do_defense_mode refuses it: Invalid argument)\n');
  });
});
