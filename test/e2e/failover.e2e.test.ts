/*
 * Director failover that keeps connections (issue 16): two `wasmvs run` directors (TUN, NAT) in
 * namespaces, keepalived's VRRP (vrrp only, Debian's keepalived) moving the addresses, conns
 * synced from the master to the backup by the sync daemon; the master is killed with SIGKILL.
 *
 *   <p>-cli 198.18.0.2 ─┐                       ┌─ <p>-rs1 198.18.1.11, <p>-rs2 198.18.1.12
 *                       │  <p>-sw: bridges      │     (TCP echo servers on :80, default via 198.18.1.1)
 *             front ────┤  front, back          ├──── back
 *   <p>-d1 fnt 198.18.0.11, bck 198.18.1.21 (VRRP priority 150, sync master on b)
 *   <p>-d2 fnt 198.18.0.12, bck 198.18.1.22 (VRRP priority 100, sync backup on b)
 *
 * The set-up that works with the VIP in the TUN: the service address 198.18.2.1 is never a local
 * address; each director routes it into its own TUN (wasmvs run's VIP routes), always. VRRP moves
 * only the two next hops: 198.18.0.1 (the clients' gateway, on fnt) and 198.18.1.1 (the real
 * servers' gateway, on bck), one vrrp_instance with both addresses. Whoever holds them gets the
 * VIP's traffic and the replies; keepalived adding them as local addresses takes nothing the
 * engine needs (they are not the VIP). The replies reach the TUN by wasmvs run's --rs-net rule.
 *
 * Measured: conns that were synced survive (no reset, no broken stream) and the time with no echo
 * is about the VRRP takeover (3 adverts of 1 s + skew).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ip, sysctl } from '../../host/director/sys.ts';
import { tunAvailable } from '../../host/native/tun.ts';
import { startCliDirector } from './cli-director.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/wasmvs.js');
const P = `wvs-fo-${process.pid}`;
const NS = { sw: `${P}-sw`, cli: `${P}-cli`, d1: `${P}-d1`, d2: `${P}-d2`, rs1: `${P}-rs1`, rs2: `${P}-rs2` };
const KEEPALIVED = ['/usr/sbin/keepalived', '/sbin/keepalived'].find((p) => existsSync(p));
const canRun = process.getuid?.() === 0 && tunAvailable() && !!KEEPALIVED && existsSync(join(ROOT, 'dist/host/director/run.js'));
const CONNS = Number(process.env.WVS_FAILOVER_CONNS ?? 1000);

const ECHO = `require('net').createServer((s) => { s.on('data', (d) => s.write(d)); s.on('error', () => {}); }).listen(80, '0.0.0.0');
const u = require('dgram').createSocket('udp4'); u.on('message', (m, r) => u.send(Buffer.concat([m, Buffer.from(' ' + process.argv[1])]), r.port, r.address)); u.bind(53);`;
/** N conns to the VIP, each sends 64 bytes every 100 ms and checks the echo; JSON result after DUR ms. */
const CLIENT = String.raw`
const net = require('net');
const N = +process.argv[1], DUR = +process.argv[2];
let lastAny = 0;
const res = { connected: 0, errors: {}, closed: 0, bad: 0, maxGapMs: 0, globalGapMs: 0, echoes: 0, udpSent: 0, udpGot: 0, udpMaxGapMs: 0, udpServers: [] };
// a UDP stream alongside: one datagram every 50 ms from one port, the echo names the server
const u = require('dgram').createSocket('udp4');
let uLast = 0;
const servers = new Set();
u.on('message', (m) => { const now = Date.now(); res.udpGot++; if (uLast) res.udpMaxGapMs = Math.max(res.udpMaxGapMs, now - uLast); uLast = now; servers.add(m.toString().split(' ')[1]); });
u.bind(46000);
const ut = setInterval(() => { res.udpSent++; u.send('ping', 53, '198.18.2.1'); }, 50);
const start = Date.now();
const conns = [];
for (let i = 0; i < N; i++) {
  const s = net.connect({ host: '198.18.2.1', port: 80 });
  const c = { s, want: '', got: '', last: 0, open: false };
  conns.push(c);
  s.setNoDelay(true);
  s.on('connect', () => { c.open = true; c.last = Date.now(); res.connected++; });
  s.on('data', (d) => { c.got += d.toString(); const now = Date.now(); if (lastAny) res.globalGapMs = Math.max(res.globalGapMs, now - lastAny); lastAny = now; if (c.last) { const g = now - c.last; if (g > res.maxGapMs) { res.maxGapMs = g; res.maxGapAt = [c.last - start, now - start]; } if (g > 10000) res.over10s = (res.over10s || 0) + 1; c.maxg = Math.max(c.maxg || 0, g); } c.last = now; res.echoes++; });
  s.on('error', (e) => { res.errors[e.code] = (res.errors[e.code] || 0) + 1; });
  s.on('close', () => { if (Date.now() - start < DUR) res.closed++; });
}
let k = 0;
const t = setInterval(() => {
  k++;
  for (const c of conns) if (c.open && !c.s.destroyed) { const m = ('x' + k).padEnd(64, '.'); c.want += m; c.s.write(m); }
}, 100);
setTimeout(() => {
  clearInterval(t);
  clearInterval(ut);
  // wait for every echo (conns still in retransmission backoff catch up), at most 20 s
  const end = Date.now() + 20000;
  const done = () => {
    const missing = conns.reduce((a, c) => a + (c.want.length - c.got.length), 0);
    if (missing > 0 && Date.now() < end) { setTimeout(done, 200); return; }
    res.udpServers = [...servers];
    for (const c of conns) { if (c.got !== c.want.slice(0, c.got.length)) res.bad++; c.s.destroy(); }
    res.missing = missing;
    res.catchUpMs = Date.now() - (end - 20000);
    process.stdout.write(JSON.stringify(res));
    process.exit(0);
  };
  setTimeout(done, 500);
}, DUR);
`;

/**
 * The sync daemon follows the VRRP state (keepalived's notify script, as in a real set-up): MASTER
 * runs the sync master, BACKUP/FAULT the sync backup. preempt_delay: a director that comes back
 * (priority 150) takes over only after its sync backup has had time to get the whole table
 * (wasmvs's bulk resync on the backup's start).
 */
const kaConf = (prio: number, notify: string) => `global_defs {
  router_id ${P}-${prio}
  vrrp_garp_master_delay 1
  vrrp_garp_master_repeat 3
  script_user root
}
vrrp_instance fo {
  state BACKUP
  interface fnt
  virtual_router_id 51
  priority ${prio}
  advert_int 1
  preempt_delay 6
  notify ${notify}
  virtual_ipaddress {
    198.18.0.1/24 dev fnt
    198.18.1.1/24 dev bck
  }
}
`;
const notifyScript = (sock: string) => `#!/bin/sh
# keepalived notify: $1 INSTANCE, $2 name, $3 state
A="${process.execPath} ${BIN} adm --socket ${sock}"
case "$3" in
  MASTER) $A --stop-daemon backup; $A --start-daemon master --mcast-interface bck --syncid 1 ;;
  BACKUP|FAULT) $A --stop-daemon master; $A --start-daemon backup --mcast-interface bck --syncid 1 ;;
esac
exit 0
`;

let tmp = '';
const kids: ChildProcess[] = [];
const dirs: Record<'d1' | 'd2', ChildProcess | undefined> = { d1: undefined, d2: undefined };
const kas: Record<'d1' | 'd2', ChildProcess | undefined> = { d1: undefined, d2: undefined };

function destroy(): void {
  for (const c of [...kids, dirs.d1, dirs.d2, kas.d1, kas.d2]) { try { c?.kill('SIGKILL'); } catch { /* gone */ } }
  for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'pids', ns]).stdout?.toString().split('\n').filter(Boolean).forEach((pid) => { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ } });
  for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}

function build(): void {
  for (const ns of Object.values(NS)) {
    ip(undefined, 'netns', 'add', ns);
    for (const k of ['all', 'default']) { try { sysctl(ns, `net.ipv6.conf.${k}.disable_ipv6`, '1'); } catch { /* no IPv6 */ } }
    ip(ns, 'link', 'set', 'lo', 'up');
  }
  for (const br of ['front', 'back']) { ip(NS.sw, 'link', 'add', br, 'type', 'bridge'); ip(NS.sw, 'link', 'set', br, 'up'); }
  let n = 0;
  const plug = (ns: string, dev: string, br: string, addr: string) => {
    const peer = `p${n++}`;
    ip(ns, 'link', 'add', 'name', dev, 'type', 'veth', 'peer', 'name', peer, 'netns', NS.sw);
    ip(ns, 'addr', 'add', addr, 'dev', dev);
    ip(ns, 'link', 'set', dev, 'up');
    ip(NS.sw, 'link', 'set', peer, 'master', br);
    ip(NS.sw, 'link', 'set', peer, 'up');
  };
  plug(NS.cli, 'eth0', 'front', '198.18.0.2/24');
  ip(NS.cli, 'route', 'add', 'default', 'via', '198.18.0.1');
  for (const [d, h] of [['d1', 11], ['d2', 12]] as const) {
    plug(NS[d], 'fnt', 'front', `198.18.0.${h}/24`);
    plug(NS[d], 'bck', 'back', `198.18.1.${h + 10}/24`);
    sysctl(NS[d], 'net.ipv4.ip_forward', '1');
    for (const k of ['all', 'default', 'fnt', 'bck']) sysctl(NS[d], `net.ipv4.conf.${k}.rp_filter`, '0');
  }
  for (const [r, h] of [['rs1', 11], ['rs2', 12]] as const) {
    plug(NS[r], 'eth0', 'back', `198.18.1.${h}/24`);
    ip(NS[r], 'route', 'add', 'default', 'via', '198.18.1.1');
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function adm(d: 'd1' | 'd2', args: string): string {
  const r = spawnSync('ip', ['netns', 'exec', NS[d], process.execPath, BIN, 'adm', '--socket', join(tmp, `${d}.sock`), ...args.split(' ')], { encoding: 'utf8', timeout: 10_000 });
  return `${r.stdout}${r.stderr}`;
}
/** Which directors hold the clients' gateway address (VRRP master): 'd1', 'd2', 'd1+d2' (split brain) or 'none'. */
function holder(): string {
  const h = (['d1', 'd2'] as const).filter((d) => execFileSync('ip', ['-n', NS[d], '-4', 'addr', 'show', 'dev', 'fnt'], { encoding: 'utf8' }).includes('198.18.0.1/24'));
  return h.length ? h.join('+') : 'none';
}
async function startDirector(d: 'd1' | 'd2'): Promise<void> {
  // the TUN's queue towards the director: after a takeover 1,000 conns retransmit at once, and a
  // full queue drops (ip -s link: TX dropped), which backs those conns off for 15-30 s; the
  // director's default (10000) absorbs the burst, the kernel's 500 does not (WVS_FO_QLEN_DEFAULT=1)
  const qlen = process.env.WVS_FO_QLEN_DEFAULT ? ['--txqueuelen', '500'] : [];
  // one worker each: two directors' worker threads on CI's two cores made the gap bound a
  // measure of CPU contention; sync with workers is covered by test/unit/workers/shared.test.ts
  dirs[d] = await startCliDirector(NS[d], ['--rules', join(tmp, 'rules.txt'), '--socket', join(tmp, `${d}.sock`), '--rs-net', '198.18.1.0/24', '--rs-dev', 'bck', '--workers', '1', ...qlen], () => {}, () => {});
  if (!process.env.WVS_FO_QLEN_DEFAULT) expect(execFileSync('ip', ['-n', NS[d], 'link', 'show', 'wvs0'], { encoding: 'utf8' })).toContain('qlen 10000');
}
function startKa(d: 'd1' | 'd2', prio: number): void {
  const conf = join(tmp, `ka-${d}.conf`);
  const notify = join(tmp, `notify-${d}.sh`);
  writeFileSync(notify, notifyScript(join(tmp, `${d}.sock`)), { mode: 0o700 });
  writeFileSync(conf, kaConf(prio, notify));
  kas[d] = spawn('ip', ['netns', 'exec', NS[d], KEEPALIVED!, '-n', '-l', '-P', '-f', conf, '-p', join(tmp, `ka-${d}.pid`), '-r', join(tmp, `ka-${d}-vrrp.pid`)], { stdio: 'ignore' });
}

describe.skipIf(!canRun)('failover: two wasmvs directors, keepalived VRRP, conns synced', () => {
  beforeAll(async () => {
    process.once('exit', destroy);
    tmp = mkdtempSync(join(tmpdir(), 'wvs-fo-'));
    writeFileSync(join(tmp, 'rules.txt'), '-A -t 198.18.2.1:80 -s rr\n-a -t 198.18.2.1:80 -r 198.18.1.11:80 -m\n-a -t 198.18.2.1:80 -r 198.18.1.12:80 -m\n' +
      '-A -u 198.18.2.1:53 -s rr\n-a -u 198.18.2.1:53 -r 198.18.1.11:53 -m\n-a -u 198.18.2.1:53 -r 198.18.1.12:53 -m\n');
    build();
    for (const r of ['rs1', 'rs2'] as const) kids.push(spawn('ip', ['netns', 'exec', NS[r], process.execPath, '-e', ECHO, r], { stdio: 'ignore' }));
    await startDirector('d1');
    await startDirector('d2');
    startKa('d1', 150);
    startKa('d2', 100);
    for (let i = 0; i < 150 && !(holder() === 'd1' && adm('d1', '-L --daemon').startsWith('master') && adm('d2', '-L --daemon').startsWith('backup')); i++) await sleep(100);
  }, 60_000);
  afterAll(() => destroy());

  test(`${CONNS} echo conns keep going when the master is killed (-9), and when it comes back: no reset, no lost byte`, async () => {
    expect(holder()).toBe('d1');
    expect(adm('d1', '-L --daemon')).toBe('master sync daemon (mcast=bck, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n');
    const cli = spawn('ip', ['netns', 'exec', NS.cli, process.execPath, '-e', CLIENT, String(CONNS), '30000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    kids.push(cli);
    let out = '';
    cli.stdout!.on('data', (x) => { out += x; });
    await sleep(4000);
    expect(holder()).toBe('d1');
    const backupList = adm('d2', '-L -n -c').split('\n');
    const backupConns = backupList.filter((l) => l.includes('ESTABLISHED')).length;
    const backupUdp = backupList.filter((l) => l.startsWith('UDP') && l.includes('198.18.0.2:46000')).length;
    // the box dies: its links first (so its keepalived cannot send the priority-0 advert a
    // graceful stop would), then both processes, SIGKILL
    const t0 = Date.now();
    spawnSync('ip', ['-n', NS.d1, 'link', 'set', 'fnt', 'down']);
    spawnSync('ip', ['-n', NS.d1, 'link', 'set', 'bck', 'down']);
    dirs.d1!.kill('SIGKILL');
    kas.d1!.kill('SIGKILL');
    let took = -1;
    for (let i = 0; i < 100; i++) { if (holder() === 'd2') { took = Date.now() - t0; break; } await sleep(100); }
    for (let i = 0; i < 50 && !adm('d2', '-L --daemon').startsWith('master'); i++) await sleep(100);
    expect(adm('d2', '-L --daemon')).toMatch(/^master sync daemon \(mcast=bck, syncid=1/);
    // fail back: the box returns with an empty table; its sync backup gets d2's whole table
    // (bulk resync), then VRRP hands the gateway back after preempt_delay
    await sleep(2000);
    ip(NS.d1, 'link', 'set', 'fnt', 'up');
    ip(NS.d1, 'link', 'set', 'bck', 'up');
    await startDirector('d1');
    startKa('d1', 150);
    const t1 = Date.now();
    let back = -1;
    for (let i = 0; i < 200; i++) { if (holder() === 'd1') { back = Date.now() - t1; break; } await sleep(100); }
    const d1Conns = adm('d1', '-L -n -c').split('\n').filter((l) => l.includes('ESTABLISHED')).length;
    if (process.env.WVS_FO_DIAG) {
      for (const r of ['rs1', 'rs2'] as const) console.log(r, execFileSync('ip', ['-n', NS[r], 'neigh'], { encoding: 'utf8' }));
      console.log('cli', execFileSync('ip', ['-n', NS.cli, 'neigh'], { encoding: 'utf8' }));
      for (const d of ['d1', 'd2'] as const) console.log(d, execFileSync('ip', ['-n', NS[d], 'link', 'show'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('link/ether')).join(' | '));
      console.log('d2 links', execFileSync('ip', ['-n', NS.d2, '-s', 'link', 'show'], { encoding: 'utf8' }));
    }
    await new Promise((r) => cli.on('exit', r));
    const res = JSON.parse(out);
    console.log(`failover: ${backupConns} TCP + ${backupUdp} UDP conns on the backup before the kill; VRRP took ${took} ms; failback after ${back} ms with ${d1Conns} conns on d1; client: ${JSON.stringify(res)}`);
    expect(back).toBeGreaterThan(0);
    expect(d1Conns).toBe(CONNS);
    expect(backupConns).toBe(CONNS);
    expect(took).toBeGreaterThan(0);
    expect(res.connected).toBe(CONNS);
    expect(res.errors).toEqual({});
    expect(res.closed).toBe(0);
    expect(res.bad).toBe(0);
    expect(res.missing).toBe(0);
    // traffic flows again (the first echo on any conn) about when VRRP has moved the gateway
    expect(res.globalGapMs).toBeLessThan(took + 1500);
    // and every conn within its next TCP retransmission after it (RTO from ~200 ms, doubling);
    // with the TUN's default queue of 500 packets the retransmission burst after the takeover
    // overflowed it and 1-19 % of the conns stayed silent 15-30 s (WVS_FO_QLEN_DEFAULT=1 shows it)
    expect(res.maxGapMs).toBeLessThan(2 * took + 1000);
    // the UDP stream: synced (at its 3rd datagram), it goes on to the same real server; lost only
    // while nobody held the gateway
    expect(backupUdp).toBe(1);
    expect(res.udpServers.length).toBe(1);   // the same real server before and after
    expect(res.udpMaxGapMs).toBeLessThan(took + 1000);
    expect(res.udpGot).toBeGreaterThan(res.udpSent / 2);
  }, 150_000);
});
