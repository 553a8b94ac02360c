// The daemon around the state machine, without root: `wasmvs run --keepalived` option parsing and
// its refusal of a bad file before any device exists, reload of a file (a bad one changes
// nothing), and `wasmvs adm --checks` / `--reload` over a real control socket.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadEngine } from '../../host/engine-node.ts';
import { EngineBackend } from '../../host/control/backend.ts';
import { startControlServer } from '../../host/control/server.ts';
import { admMain } from '../../host/control/adm-cli.ts';
import { formatSave } from '../../host/rules/format.ts';
import { parseRunArgs, RunUsageError } from '../../host/director/run.ts';
import { KeepalivedDaemon, loadChecked } from '../../host/keepalived/daemon.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/wasmvs.js');
const distBuilt = existsSync(join(ROOT, 'dist/host/keepalived/daemon.js'));

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'wvs-ka-d-')); });
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const CONF = (w: number, extra = '') => `virtual_server 198.18.2.1 80 {\n  protocol TCP\n  lb_algo rr\n${extra}  real_server 198.18.1.11 80 {\n    weight ${w}\n  }\n}\n`;

test('run options: --keepalived FILE', () => {
  expect(parseRunArgs(['--keepalived', 'k.conf'])).toEqual({ keepalived: 'k.conf' });
  expect(parseRunArgs(['--keepalived=k.conf', '--rules', 'r'])).toEqual({ keepalived: 'k.conf', rulesFile: 'r' });
  expect(() => parseRunArgs(['--keepalived'])).toThrow(RunUsageError);
});

describe.skipIf(!distBuilt)('wasmvs run --keepalived with a bad file (the CLI; no device is made, no root needed)', () => {
  test('a mistake: exit 1 naming FILE:LINE and the keyword', () => {
    const f = join(tmp, 'bad.conf');
    writeFileSync(f, CONF(1, '  lb_kind NAT\n  delay_loop x\n'));
    const r = spawnSync(process.execPath, [BIN, 'run', '--keepalived', f, '--no-socket'], { encoding: 'utf8', timeout: 15_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`wasmvs run: ${f}:5: delay_loop: needs a time in seconds (e.g. 3 or 0.5), got "x"\n`);
  });
  test('a DR real server on a TUN director: exit 1 naming its line', () => {
    const f = join(tmp, 'dr.conf');
    writeFileSync(f, CONF(1, '  lb_kind DR\n'));
    const r = spawnSync(process.execPath, [BIN, 'run', '--keepalived', f, '--no-socket'], { encoding: 'utf8', timeout: 15_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^wasmvs run: ${f.replace(/[.]/g, '\\.')}:5: 198\\.18\\.1\\.11: lvs_method DR is not supported by the TUN director`));
  });
});

test('reload and adm --checks / --reload over the control socket', async () => {
  const f = join(tmp, 'k.conf');
  writeFileSync(f, CONF(2));
  const e = await loadEngine({ connMax: 1024, slots: 8 });
  // the director syncs its VIP routes on the backend's onChange: the daemon's table must reach it that way
  let changes = 0;
  const be = new EngineBackend(e, { onChange: () => { changes++; } });
  const logs: string[] = [];
  const d = new KeepalivedDaemon(f, loadChecked(f, 'ip'), be, { log: (l, m) => logs.push(`${l}: ${m}`), link: 'ip' });
  d.start();
  expect(changes).toBeGreaterThan(0);
  expect(formatSave(be.services())).toBe('-A -t 198.18.2.1:80 -s rr\n-a -t 198.18.2.1:80 -r 198.18.1.11:80 -m -w 2\n');
  const ctl = await startControlServer(e, { path: join(tmp, 'ctl.sock'), backend: be,
    checks: { text: () => d.health.text(), metrics: () => d.health.metrics(), reload: () => d.reload() } });
  try {
    const sock = ['--socket', ctl.path];
    const c = await admMain([...sock, '--checks']);
    expect(c).toEqual({ stdout: 'TCP 198.18.2.1:80  quorum up (live weight 2, quorum 1, hysteresis 0)\n  -> 198.18.1.11:80  alive  weight 2\n', stderr: '', rc: 0 });
    writeFileSync(f, CONF(5).replace('lb_algo rr', 'lb_algo rr\n  nonsense'));
    const bad = await admMain([...sock, '--reload']);
    expect(bad).toEqual({ stdout: '', stderr: `reload of ${f} refused, the running configuration stays: ${f}:4: nonsense: not a virtual_server keyword wasmvs knows\n`, rc: 1 });
    expect(formatSave(be.services())).toContain('-w 2\n');
    writeFileSync(f, CONF(5));
    expect(await admMain([...sock, '--reload'])).toEqual({ stdout: `reloaded ${f}: 1 virtual server(s), 1 real server(s)\n`, stderr: '', rc: 0 });
    expect(formatSave(be.services())).toBe('-A -t 198.18.2.1:80 -s rr\n-a -t 198.18.2.1:80 -r 198.18.1.11:80 -m -w 5\n');
    // ipvsadm's own commands still pass through unchanged
    expect((await admMain([...sock, '-L', '-n'])).stdout).toMatch(/-> 198\.18\.1\.11:80 +Masq +5 +0 +0 *\n$/);
  } finally {
    d.stop();
    await ctl.close();
  }
  // a director without --keepalived has no /v1/checks
  const plain = await startControlServer(e, { path: join(tmp, 'plain.sock') });
  try {
    expect(await admMain(['--socket', plain.path, '--checks'])).toEqual({ stdout: '', rc: 1,
      stderr: `wasmvs adm --checks: the director on ${plain.path} runs no health checks (start it with wasmvs run --keepalived FILE)\n` });
  } finally { await plain.close(); }
});
