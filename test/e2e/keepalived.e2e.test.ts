// `wasmvs run --keepalived FILE` as an operator meets it, in a NAT lab with real HTTP servers:
// a real server killed during traffic leaves the table within delay_loop + retry ×
// delay_before_retry + connect_timeout while established connections carry on; a wrong status
// code and a wrong digest fail HTTP_GET (weight 0 under inhibit_on_failure, gone without it, back
// after recovery); MISC_CHECK misc_dynamic sets weights; quorum loss switches to the sorry server
// and back; a SIGHUP reload that changes weights and removes a server keeps established
// connections; `wasmvs adm -L -n`, `wasmvs adm --checks` and /metrics show it.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCliDirector, stopCliLab } from './cli-director.ts';
import { labSkipReason } from './env.ts';
import { Lab, LabClient, LAB_VIP } from '../../host/director/lab.ts';
import { controlRequest } from '../../host/control/client.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/wasmvs.js');
const skip = labSkipReason() ?? (existsSync(join(ROOT, 'dist/host/keepalived/daemon.js')) ? null : 'dist/ not built (npm run build)');
if (skip) console.warn(`[test/e2e] keepalived suite skipped: ${skip}`);

/** A real server's HTTP on :8080 (/ → its name, /health → settable status and body), driven over stdin. */
const HEALTH_SERVER = String.raw`
const [name, addr] = process.argv.slice(1);
const http = require('node:http');
let status = 200, body = 'ok ' + name + '\n', srv;
const handler = (req, res) => { if (req.url === '/health') { res.statusCode = status; res.end(body); } else res.end(name + '\n'); };
const open = (cb) => { srv = http.createServer(handler); srv.keepAliveTimeout = 200; srv.listen(8080, addr, cb); };
open(() => console.log('ready'));
let buf = '';
process.stdin.on('data', (d) => {
  buf += d; let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const [cmd, ...rest] = buf.slice(0, i).split(' '); buf = buf.slice(i + 1);
    if (cmd === 'close') { srv.close(); srv.closeIdleConnections(); console.log('done'); }
    else if (cmd === 'open') open(() => console.log('done'));
    else if (cmd === 'status') { status = +rest[0]; console.log('done'); }
    else if (cmd === 'body') { body = rest.join(' ') + '\n'; console.log('done'); }
  }
});
process.stdin.on('end', () => process.exit(0));
`;

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** delay_loop 1 + retry 1 × delay_before_retry 0.5 + connect_timeout 1 */
const BOUND_MS = 2500;

function conf(tmp: string, o: { rs1Weight8080?: number; echoServers?: number[]; echoWeight?: number } = {}): string {
  const hc = (extra: string) => `HTTP_GET {\n      url {\n        path /health\n${extra}      }\n      connect_timeout 1\n      retry 1\n      delay_before_retry 0.5\n    }`;
  const echo = (o.echoServers ?? [11, 12, 13]).map((n) =>
    `  real_server 198.18.1.${n} 7 {\n    weight ${o.echoWeight ?? 1}\n    TCP_CHECK {\n      connect_port 8080\n      connect_timeout 1\n      retry 1\n      delay_before_retry 0.5\n    }\n  }\n`).join('');
  return `! the e2e lab's keepalived.conf
global_defs {
  router_id wasmvs_e2e
}
vrrp_instance VI_1 {
  state MASTER
  interface eth0
  virtual_router_id 51
  priority 100
  virtual_ipaddress {
    ${LAB_VIP}
  }
}
virtual_server ${LAB_VIP} 8080 {
  delay_loop 1
  lb_algo wrr
  lb_kind NAT
  protocol TCP
  real_server 198.18.1.11 8080 {
    weight ${o.rs1Weight8080 ?? 1}
    ${hc('')}
  }
  real_server 198.18.1.12 8080 {
    weight 1
    inhibit_on_failure
    ${hc(`        digest ${md5('ok rs2\n')}\n`)}
  }
  real_server 198.18.1.13 8080 {
    weight 1
    ${hc('        status_code 200\n')}
  }
}
virtual_server ${LAB_VIP} 7 {
  delay_loop 1
  lb_algo rr
  protocol TCP
${echo}}
virtual_server ${LAB_VIP} 81 {
  delay_loop 1
  lb_algo wrr
  protocol TCP
  quorum 2
  sorry_server 198.18.1.13 80
  quorum_up "/bin/sh ${tmp}/note.sh quorum_up"
  quorum_down "/bin/sh ${tmp}/note.sh quorum_down"
  real_server 198.18.1.11 80 {
    MISC_CHECK {
      misc_path "/bin/sh ${tmp}/code.sh 11"
      misc_dynamic
    }
  }
  real_server 198.18.1.12 80 {
    MISC_CHECK {
      misc_path "/bin/sh ${tmp}/code.sh 12"
      misc_dynamic
    }
  }
}
`;
}

describe.skipIf(skip !== null)('wasmvs run --keepalived (NAT lab, root)', () => {
  let lab: Lab;
  let client: LabClient;
  let child: ChildProcess;
  let tmp: string;
  let err = '';
  const hs: ChildProcess[] = [];
  const dev = `wvsk${process.pid % 10000}`;
  const sock = () => join(tmp, 'ctl.sock');
  const adm = (...args: string[]) => spawnSync(process.execPath, [BIN, 'adm', '--socket', sock(), ...args], { encoding: 'utf8', timeout: 10_000 });
  const list = () => adm('-L', '-n').stdout;
  /** the dests of one service in `adm -L -n`: "addr:port weight" */
  const dests = (port: number) => {
    const out: string[] = [];
    let inSvc = false;
    for (const l of list().split('\n')) {
      if (/^(TCP|UDP)/.test(l)) inSvc = l.startsWith(`TCP  ${LAB_VIP}:${port} `);
      else if (inSvc && l.startsWith('  -> ')) { const f = l.trim().split(/\s+/); out.push(`${f[1]} ${f[3]}`); }
    }
    return out;
  };
  const ctl = (i: number, line: string) => new Promise<void>((resolve, reject) => {
    const c = hs[i];
    const t = setTimeout(() => reject(new Error(`health server ${i + 1}: no answer to ${line}`)), 5000);
    const on = (d: Buffer) => { if (String(d).includes('done')) { clearTimeout(t); c.stdout!.off('data', on); resolve(); } };
    c.stdout!.on('data', on);
    c.stdin!.write(line + '\n');
  });
  const waitFor = async (what: string, f: () => boolean, ms: number): Promise<number> => {
    const t0 = Date.now();
    while (!f()) { if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms\n${list()}\n${err.slice(-2000)}`); await sleep(100); }
    return Date.now() - t0;
  };
  const setCode = (n: number, code: number) => writeFileSync(join(tmp, `code-${n}`), `${code}\n`);

  beforeAll(async () => {
    lab = await Lab.create({ tag: 'e2e-ka' });
    tmp = mkdtempSync(join(tmpdir(), 'wvs-ka-'));
    writeFileSync(join(tmp, 'code.sh'), `exit $(cat ${tmp}/code-$1)\n`);
    writeFileSync(join(tmp, 'note.sh'), `echo "$1" >> ${tmp}/notes\n`);
    chmodSync(join(tmp, 'code.sh'), 0o755);
    setCode(11, 0); setCode(12, 0);
    await Promise.all(lab.ns.rs.map((ns, i) => new Promise<void>((resolve, reject) => {
      const c = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', HEALTH_SERVER, `rs${i + 1}`, lab.rsAddrs[i]], { stdio: ['pipe', 'pipe', 'inherit'] });
      hs.push(c);
      const t = setTimeout(() => reject(new Error('health server not ready')), 10_000);
      c.stdout!.once('data', () => { clearTimeout(t); resolve(); });
    })));
    writeFileSync(join(tmp, 'keepalived.conf'), conf(tmp));
    child = await startCliDirector(lab.ns.dir, ['--dev', dev, '--keepalived', join(tmp, 'keepalived.conf'), '--tick-ms', '200', '--socket', sock()],
      () => {}, (s) => { err += s; });
    lab.attachDirector(dev);
    client = await lab.client();
  }, 60_000);

  afterAll(() => {
    for (const c of hs) c.kill('SIGKILL');
    stopCliLab({ client, child, lab, tmp });
  });

  test('starts from the file: VIP routed, vrrp/global_defs left to keepalived, the table as keepalived sets it', async () => {
    expect(err).toContain(`route ${LAB_VIP} dev ${dev}`);
    expect(err).toContain('keepalived: global_defs, vrrp_instance in');
    expect(err).toContain('left to keepalived itself (run keepalived for VRRP next to wasmvs');
    // all 8 checkers have run once (first runs spread over up to 1 s) and passed
    await waitFor('first checks', () => (adm('--checks').stdout.match(/ last ok /g) ?? []).length === 8, 3000);
    expect(dests(8080)).toEqual(['198.18.1.11:8080 1', '198.18.1.12:8080 1', '198.18.1.13:8080 1']);
    expect(dests(81)).toEqual(['198.18.1.11:80 1', '198.18.1.12:80 1']);
    const r = await client.http(30, 8080);
    expect(r).toMatchObject({ errors: 0, names: { rs1: 10, rs2: 10, rs3: 10 } });
  }, 30_000);

  test('a server killed during traffic: gone within delay_loop + retry × delay_before_retry + connect_timeout; established conns to the others carry on', async () => {
    // one established echo conn per real server through VIP:7 (its TCP_CHECK watches :8080)
    const bySid = new Map<string, string>();
    for (const sid of ['e1', 'e2', 'e3']) {
      await client.call('open', { sid, port: 7 });
      bySid.set(sid, (await client.call<string>('send', { sid, text: 'hi' })).split(' ')[0]);
    }
    expect([...bySid.values()].sort()).toEqual(['rs1', 'rs2', 'rs3']);
    const dropsBefore = BigInt(JSON.parse((await controlRequest(sock(), 'GET', '/v1/stats')).body).counters.drop_dest_unavailable ?? 0);
    const traffic = client.http(2000, 8080);   // new connections all through the detection window
    await sleep(200);
    await ctl(0, 'close');   // rs1 stops accepting: new connections refused, established ones live on
    const t0 = Date.now();
    const gone = await waitFor('rs1 out of VIP:8080', () => !dests(8080).some((d) => d.startsWith('198.18.1.11:')), BOUND_MS + 1500);
    console.log(`[keepalived e2e] rs1 left the table ${gone} ms after it stopped accepting (bound ${BOUND_MS} ms)`);
    expect(Date.now() - t0).toBeLessThan(BOUND_MS + 1000);
    const during = await traffic;
    console.log(`[keepalived e2e] during the kill: ${JSON.stringify(during)}`);
    const after = await client.http(40, 8080);
    expect(after).toMatchObject({ errors: 0, names: { rs2: 20, rs3: 20 } });
    expect(dests(7)).toEqual(['198.18.1.12:7 1', '198.18.1.13:7 1']);
    // the echo conns to rs2 and rs3 carry on; the one to rs1 is dropped, as the kernel drops packets
    // of a conn whose dest was deleted (ip_vs_in: !IP_VS_DEST_F_AVAILABLE, expire_nodest_conn 0)
    for (const [sid, name] of bySid) {
      if (name === 'rs1') await expect(client.call<string>('send', { sid, text: 'still', timeoutMs: 1000 })).rejects.toThrow('no answer');
      else expect(await client.call<string>('send', { sid, text: 'still' })).toBe(`${name} still`);
    }
    const dropsAfter = BigInt(JSON.parse((await controlRequest(sock(), 'GET', '/v1/stats')).body).counters.drop_dest_unavailable);
    expect(dropsAfter).toBeGreaterThan(dropsBefore);
  }, 30_000);

  test('a wrong digest fails HTTP_GET: weight 0 under inhibit_on_failure; a wrong status code: the server gone; all back after recovery', async () => {
    await ctl(1, 'body something else');
    await ctl(2, 'status 503');
    await waitFor('rs2 weight 0, rs3 gone', () => dests(8080).join(',') === '198.18.1.12:8080 0', BOUND_MS + 1500);
    expect(list()).toMatch(/ {2}-> 198\.18\.1\.12:8080 {13}Masq {4}0 /);
    const checks = adm('--checks');
    expect(checks.status).toBe(0);
    expect(checks.stdout).toMatch(/-> 198\.18\.1\.12:8080 {2}FAILED {2}weight 1 {2}inhibit_on_failure\n\s+HTTP_GET +DOWN .*digest [0-9a-f]{32} != [0-9a-f]{32}\n/);
    expect(checks.stdout).toMatch(/-> 198\.18\.1\.13:8080 {2}FAILED {2}weight 1\n\s+HTTP_GET +DOWN .*status 503 not in 200\n/);
    const m = await controlRequest(sock(), 'GET', '/metrics');
    expect(m.body).toContain(`wasmvs_check_up{vs="TCP ${LAB_VIP}:8080",rs="198.18.1.12:8080",check="HTTP_GET",index="0"} 0\n`);
    expect(m.body).toContain(`wasmvs_check_up{vs="TCP ${LAB_VIP}:8080",rs="198.18.1.13:8080",check="HTTP_GET",index="0"} 0\n`);
    await ctl(0, 'open'); await ctl(1, 'body ok rs2'); await ctl(2, 'status 200');
    await waitFor('all back (HTTP_GET: two successes, delay_loop apart)', () => dests(8080).join(',') === '198.18.1.11:8080 1,198.18.1.12:8080 1,198.18.1.13:8080 1', 5000);
    expect(await client.http(30, 8080)).toMatchObject({ errors: 0, names: { rs1: 10, rs2: 10, rs3: 10 } });
  }, 30_000);

  test('MISC_CHECK misc_dynamic sets weights (exit code - 2)', async () => {
    setCode(11, 5); setCode(12, 3);
    await waitFor('weights 3 and 1', () => dests(81).join(',') === '198.18.1.11:80 3,198.18.1.12:80 1', 3000);
    expect(await client.http(40, 81)).toMatchObject({ errors: 0, names: { rs1: 30, rs2: 10 } });
    setCode(11, 0); setCode(12, 0);
    await waitFor('weights back to 1', () => dests(81).join(',') === '198.18.1.11:80 1,198.18.1.12:80 1', 3000);
  }, 30_000);

  test('quorum lost → the sorry server alone, quorum_down run; regained → the servers back, quorum_up run', async () => {
    setCode(11, 1);
    await waitFor('sorry server', () => dests(81).join(',') === '198.18.1.13:80 1', 3000);
    expect(await client.http(10, 81)).toMatchObject({ errors: 0, names: { rs3: 10 } });
    setCode(11, 0);
    await waitFor('servers back', () => dests(81).join(',') === '198.18.1.11:80 1,198.18.1.12:80 1', 3000);
    expect(await client.http(10, 81)).toMatchObject({ errors: 0, names: { rs1: 5, rs2: 5 } });
    await waitFor('scripts', () => spawnSync('cat', [join(tmp, 'notes')], { encoding: 'utf8' }).stdout === 'quorum_down\nquorum_up\n', 2000);
  }, 30_000);

  test('SIGHUP reload: changed weights edited in place keep established connections, a deleted server goes; adm --reload too; a broken file changes nothing', async () => {
    const bySid = new Map<string, string>();
    for (const sid of ['r1', 'r2', 'r3']) {
      await client.call('open', { sid, port: 7 });
      bySid.set(sid, (await client.call<string>('send', { sid, text: 'x' })).split(' ')[0]);
    }
    expect([...bySid.values()].sort()).toEqual(['rs1', 'rs2', 'rs3']);
    writeFileSync(join(tmp, 'keepalived.conf'), conf(tmp, { rs1Weight8080: 4, echoServers: [11, 12], echoWeight: 2 }));
    child.kill('SIGHUP');
    await waitFor('reloaded', () => dests(8080)[0] === '198.18.1.11:8080 4' && dests(7).length === 2, 3000);
    expect(dests(7)).toEqual(['198.18.1.11:7 2', '198.18.1.12:7 2']);
    await waitFor('the reload logged', () => /keepalived: reloaded .*keepalived\.conf: 3 virtual server\(s\), 7 real server\(s\)/.test(err), 2000);
    // the conns to rs1 and rs2 (weights changed in place) carry on; rs3's dest was deleted (its conn is dropped, as the kernel does)
    for (const [sid, name] of bySid) {
      if (name === 'rs3') await expect(client.call<string>('send', { sid, text: 'x', timeoutMs: 1000 })).rejects.toThrow('no answer');
      else expect(await client.call<string>('send', { sid, text: 'x' })).toBe(`${name} x`);
    }
    expect(await client.http(60, 8080)).toMatchObject({ errors: 0, names: { rs1: 40, rs2: 10, rs3: 10 } });
    // adm --reload: a file with a mistake is refused, naming the line; the table stays
    writeFileSync(join(tmp, 'keepalived.conf'), conf(tmp).replace('lb_algo wrr', 'lb_algo wrr\n  bogus_keyword 1'));
    const bad = adm('--reload');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/keepalived\.conf:\d+: bogus_keyword: not a virtual_server keyword wasmvs knows/);
    expect(dests(8080)[0]).toBe('198.18.1.11:8080 4');
    writeFileSync(join(tmp, 'keepalived.conf'), conf(tmp));
    const ok = adm('--reload');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^reloaded /);
    expect(dests(8080)[0]).toBe('198.18.1.11:8080 1');
    expect(dests(7)).toEqual(['198.18.1.11:7 1', '198.18.1.12:7 1', '198.18.1.13:7 1']);
  }, 30_000);
});
