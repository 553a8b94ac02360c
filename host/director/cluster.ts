/*
 * host/director/cluster.ts - `wasmvs demo cluster`: several directors behind a router that
 * spreads flows over them with ECMP, each director announcing the VIP over BGP (BIRD 2) while it
 * is up; docs/cluster.md is the production recipe this lab follows.
 *
 *   <p>-cli                 <p>-rtr: the ToR router (BIRD, ECMP, L4 hash) and the LAN switch
 *   eth0 198.18.0.2 ─veth─ tocli 198.18.0.1
 *                          lan 198.18.1.1 (bridge) ─ tors1..3 ─veth─ <p>-rs1..3 eth0 198.18.1.11.. (VIP on lo)
 *                            └─ tod1..3 ─veth─ <p>-d1..3: uplink ─ br0 198.18.1.21.. (BIRD's address)
 *                                                              ├─ wvc0: the TAP of `wasmvs run --mode tap`,
 *                                                              │  the engine 198.18.1.101.. (fixed MAC)
 *                                                              └ vip0 (dummy or veth, 198.18.2.1/32): the health gate
 *
 * Director k's BIRD announces 198.18.2.1/32 (protocol direct on vip0) to the router with next
 * hop 198.18.1.10k, the engine's own address; the router's BIRD merges the equal paths into one
 * multipath route and Linux hashes each flow on its 5-tuple (fib_multipath_hash_policy=1) to one
 * engine. Every director has the same rules: mh with mh-port over the three real servers (DR),
 * and sloppy_tcp, so a director that receives a flow mid-stream (because the router rehashed it)
 * creates its conn on the first packet and picks the same real server the old director did
 * (ip_vs_mh_schedule: the choice is a function of the rules and the packet only).
 * DR: replies go from the real servers to the router, never through a director, so no director
 * holds state another one needs (no sync daemon).
 *
 * vip0 is set by a health gate per director (GATE_SCRIPT): up while the director answers on its
 * control socket and no drain file exists. Removing a director: the drain file (the gate sets
 * vip0 down, BIRD withdraws), wait until the router's route has lost the path, SIGTERM the
 * director. Adding it back: start it, remove the drain file, wait for the path. The client
 * keeps ≥ 1,000 TCP conns open and exchanges a line on every one of them before, during and
 * after each change; a conn that is reset, goes silent or is answered by another real server is
 * broken. Last line: `cluster: D directors, C conns, B broken after removing a director, B2
 * broken after adding it back`.
 *
 * --router frr: the router runs FRR's zebra and bgpd instead of BIRD (the directors keep BIRD).
 * --resilient: BIRD's route goes to table 200 and RESILIENT_SCRIPT makes it a resilient nexthop
 * group routed in the main table.
 *
 * Only 198.18.0.0/15; every namespace carries the run's prefix; everything is killed and removed
 * on exit, also on SIGINT/SIGTERM.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ip, ipQuiet, sysctl } from './sys.ts';
import { LabClient } from './lab.ts';
import { SERVER_SCRIPT } from './lab-scripts.ts';
import { birdDirectorConf, birdRouterConf, CLUSTER_CLIENT_SCRIPT, frrRouterConf, GATE_SCRIPT, REAPER_SCRIPT, RESILIENT_SCRIPT } from './cluster-scripts.ts';
import { controlRequest } from '../control/client.ts';

export const CLUSTER_VIP = '198.18.2.1';
export const CLUSTER_PORT = 7;
const ROUTER = '198.18.1.1';
const ROUTER_ASN = 65000;
const CLIENT = '198.18.0.2';
/** director k (1-based): BIRD's (the kernel's) address, the engine's address and MAC, its AS */
const birdAddr = (k: number) => `198.18.1.${20 + k}`;
const engineAddr = (k: number) => `198.18.1.${100 + k}`;
const engineMac = (k: number) => `02:00:00:c1:00:${k.toString(16).padStart(2, '0')}`;
const directorAsn = (k: number) => 65100 + k;
const rsAddr = (i: number) => `198.18.1.${11 + i}`;
/** --resilient: BIRD's table on the router, the resilient nexthop group's id */
const RESILIENT_TABLE = 200;
const RESILIENT_GROUP = 100;

export interface ClusterOptions {
  directors?: number;
  rs?: number;
  conns?: number;
  /** the directors' scheduler (default mh, with mh-port); others show why it must be mh */
  sched?: string;
  /** net.ipv4.vs.sloppy_tcp=1 on the directors (default true) */
  sloppy?: boolean;
  /** the ToR router's BGP daemon: BIRD 2 (default) or FRR (zebra + bgpd) */
  router?: 'bird' | 'frr';
  /** BIRD router: its route as a Linux resilient nexthop group (RESILIENT_SCRIPT) instead of a multipath route */
  resilient?: boolean;
  /** which director to remove and add back (1-based; default 2) */
  remove?: number;
  /** also measure failover after a director's link is cut, and the new-connection rate of one director vs all */
  measure?: boolean;
  /** ms of each new-connection rate run (with measure) */
  rateMs?: number;
  tag?: string;
  log?: (line: string) => void;
}

export interface FailoverResult { detectMs: number; servedMs: number; broken: number; conns: number }

export interface ClusterResult {
  directors: number;
  conns: number;
  broken: number;
  broken2: number;
  /** conns per real server and per director (the director's conn table), after opening */
  perServer: Record<string, number>;
  perDirector: number[];
  /** ms from the withdrawal until the router's route lost the path; from the announcement until it had it again */
  withdrawMs: number;
  announceMs: number;
  /** flows that changed director on removal / addition, and of those, flows between directors that stayed (the router's hash alone) */
  moved: { removal: number; removalStayed: number; addition: number; additionStayed: number };
  /** measure: a director killed (its health gate withdraws), a director's link cut (the router's hold timer) */
  failover?: Record<'crash' | 'host', FailoverResult>;
  /** measure: new conns per second through one director and through all */
  rate?: { one: number; all: number; oneErrors: number; allErrors: number; usPerConn: number; cpuShareMs: number[] };
  lastLine: string;
}

/** The wasmvs CLI entry (bin/wasmvs.js) from the sources (host/director) or the build (dist/host/director). */
function wasmvsBin(): string {
  for (const up of ['../..', '../../..']) {
    const p = join(import.meta.dirname, up, 'bin', 'wasmvs.js');
    if (existsSync(p)) return p;
  }
  throw new Error('bin/wasmvs.js not found beside the sources');
}

function need(cmd: string, pkg: string): void {
  try { execFileSync(cmd, ['--version'], { stdio: 'ignore', timeout: 5_000 }); } catch (e: any) {
    if (e?.code === 'ENOENT') throw new Error(`${cmd} is not installed: apt-get install ${pkg}`);
  }
}

/** Why `wasmvs demo cluster` cannot run here, or null. */
export function clusterSkipReason(): string | null {
  if (process.platform !== 'linux') return 'Linux only (network namespaces, TAP)';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TAP)';
  try { need('bird', 'bird2'); } catch (e) { return (e as Error).message; }
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ClusterLab {
  readonly prefix: string;
  readonly ns: { cli: string; rtr: string; d: string[]; rs: string[] };
  readonly dir: string;
  private made: string[] = [];
  private children: ChildProcess[] = [];
  private directors: (ChildProcess | undefined)[] = [];
  private destroyed = false;
  private readonly exitHook = () => this.destroy();
  readonly rules: string;

  constructor(readonly n: number, readonly rsCount: number, tag: string, private readonly log: (l: string) => void,
    sched = 'mh', private readonly sloppy = true, readonly router: 'bird' | 'frr' = 'bird', readonly resilient = false) {
    this.prefix = `wvs-${tag}-${process.pid}`;
    this.ns = {
      cli: `${this.prefix}-cli`, rtr: `${this.prefix}-rtr`,
      d: Array.from({ length: n }, (_, k) => `${this.prefix}-d${k + 1}`),
      rs: Array.from({ length: rsCount }, (_, i) => `${this.prefix}-rs${i + 1}`),
    };
    this.dir = join(tmpdir(), this.prefix);
    // the same rules on every director: mh over the real servers, hashing source address and port
    this.rules = [`-A -t ${CLUSTER_VIP}:${CLUSTER_PORT} -s ${sched}${sched === 'mh' ? ' -b mh-port' : ''}`,
      ...Array.from({ length: rsCount }, (_, i) => `-a -t ${CLUSTER_VIP}:${CLUSTER_PORT} -r ${rsAddr(i)}:${CLUSTER_PORT} -g -w 1`)].join('\n') + '\n';
    process.once('exit', this.exitHook);
    // whatever this process dies of, the reaper removes what the lab made
    const reaper = spawn('sh', ['-c', REAPER_SCRIPT, 'reaper', this.dir, this.ns.cli, this.ns.rtr, ...this.ns.d, ...this.ns.rs],
      { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    reaper.unref();
    (reaper.stdin as any).unref?.();
  }

  /** Namespaces, links, addresses, the router's BIRD, the real servers' echo servers. */
  async build(): Promise<void> {
    const { cli, rtr, d, rs } = this.ns;
    mkdirSync(this.dir, { recursive: true });
    for (const ns of [cli, rtr, ...d, ...rs]) {
      ip(undefined, 'netns', 'add', ns);
      this.made.push(ns);
      for (const k of ['all', 'default']) { try { sysctl(ns, `net.ipv6.conf.${k}.disable_ipv6`, '1'); } catch { /* no IPv6 */ } }
      ip(ns, 'link', 'set', 'lo', 'up');
    }
    this.log(`namespaces ${this.prefix}-{cli,rtr,d1..${this.n},rs1..${this.rsCount}}`);
    ip(cli, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'tocli', 'netns', rtr);
    ip(cli, 'addr', 'add', `${CLIENT}/24`, 'dev', 'eth0');
    ip(cli, 'link', 'set', 'eth0', 'up');
    ip(cli, 'route', 'add', 'default', 'via', '198.18.0.1');
    // the router: forwards, hashes flows on the 5-tuple over equal paths (L4 policy)
    ip(rtr, 'addr', 'add', '198.18.0.1/24', 'dev', 'tocli');
    ip(rtr, 'link', 'set', 'tocli', 'up');
    ip(rtr, 'link', 'add', 'lan', 'type', 'bridge');
    ip(rtr, 'addr', 'add', `${ROUTER}/24`, 'dev', 'lan');
    ip(rtr, 'link', 'set', 'lan', 'up');
    sysctl(rtr, 'net.ipv4.ip_forward', '1');
    sysctl(rtr, 'net.ipv4.fib_multipath_hash_policy', '1');
    for (const k of ['all', 'default']) sysctl(rtr, `net.ipv4.conf.${k}.rp_filter`, '0');
    rs.forEach((ns, i) => {
      ip(ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `tors${i + 1}`, 'netns', rtr);
      ip(ns, 'addr', 'add', `${rsAddr(i)}/24`, 'dev', 'eth0');
      ip(ns, 'link', 'set', 'eth0', 'up');
      ip(ns, 'route', 'add', 'default', 'via', ROUTER);
      ip(rtr, 'link', 'set', `tors${i + 1}`, 'master', 'lan');
      ip(rtr, 'link', 'set', `tors${i + 1}`, 'up');
      // DR: the VIP is local on every real server, never ARP-answered or announced by it
      for (const k of ['all', 'eth0']) { sysctl(ns, `net.ipv4.conf.${k}.arp_ignore`, '1'); sysctl(ns, `net.ipv4.conf.${k}.arp_announce`, '2'); }
      ip(ns, 'addr', 'add', `${CLUSTER_VIP}/32`, 'dev', 'lo');
    });
    d.forEach((ns, j) => {
      const k = j + 1;
      ip(ns, 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', `tod${k}`, 'netns', rtr);
      ip(rtr, 'link', 'set', `tod${k}`, 'master', 'lan');
      ip(rtr, 'link', 'set', `tod${k}`, 'up');
      // the director host: its uplink and the engine's TAP on one bridge; BIRD speaks from br0
      ip(ns, 'link', 'add', 'br0', 'type', 'bridge');
      ip(ns, 'link', 'set', 'uplink', 'master', 'br0');
      ip(ns, 'link', 'set', 'uplink', 'up');
      ip(ns, 'addr', 'add', `${birdAddr(k)}/24`, 'dev', 'br0');
      ip(ns, 'link', 'set', 'br0', 'up');
      // the health gate: the VIP on a dummy interface, announced while it is up; this kernel
      // never answers ARP for it (the engine owns the VIP's traffic)
      for (const s of ['all', 'default']) sysctl(ns, `net.ipv4.conf.${s}.arp_ignore`, '1');
      // (a dummy device; a veth pair where the kernel has no dummy driver: vip0 down withdraws alike)
      if (!ipQuiet(ns, 'link', 'add', 'vip0', 'type', 'dummy')) {
        ip(ns, 'link', 'add', 'vip0', 'type', 'veth', 'peer', 'name', 'vip0p');
        ip(ns, 'link', 'set', 'vip0p', 'up');
      }
      ip(ns, 'addr', 'add', `${CLUSTER_VIP}/32`, 'dev', 'vip0');
      writeFileSync(join(this.dir, `d${k}.conf`), birdDirectorConf({ routerId: birdAddr(k), asn: directorAsn(k), peer: ROUTER, peerAsn: ROUTER_ASN, engineAddr: engineAddr(k), gate: 'vip0' }));
      writeFileSync(join(this.dir, `d${k}.rules`), this.rules);
    });
    const peers = d.map((_, j) => ({ addr: birdAddr(j + 1), asn: directorAsn(j + 1) }));
    if (this.router === 'frr') this.frr(rtr, frrRouterConf({ routerId: ROUTER, asn: ROUTER_ASN, peers }));
    else {
      writeFileSync(join(this.dir, 'rtr.conf'), birdRouterConf({ routerId: ROUTER, asn: ROUTER_ASN, peers, kernelTable: this.resilient ? RESILIENT_TABLE : undefined }));
      this.bird(rtr, 'rtr');
      if (this.resilient) {
        const g = this.spawnIn(rtr, ['sh', '-c', RESILIENT_SCRIPT, 'resilient', CLUSTER_VIP, String(RESILIENT_TABLE), String(RESILIENT_GROUP), '64', 'lan']);
        for (const st of [g.stdout!, g.stderr!]) st.on('data', (b: Buffer) => { if (!this.destroyed) for (const l of String(b).trim().split('\n')) this.log(`router ${l}`); });
      }
    }
    d.forEach((ns, j) => {
      this.bird(ns, `d${j + 1}`);
      // the health gate: vip0 up while the director answers and is not drained
      const g = this.spawnIn(ns, ['sh', '-c', GATE_SCRIPT, 'gate', this.sock(j + 1), this.drainFile(j + 1), 'vip0']);
      for (const st of [g.stdout!, g.stderr!]) st.on('data', (b: Buffer) => { if (!this.destroyed) for (const l of String(b).trim().split('\n')) this.log(`d${j + 1} ${l}`); });
    });
    await Promise.all(rs.map((ns, i) => this.started(this.spawnIn(ns, [process.execPath, '-e', SERVER_SCRIPT, `rs${i + 1}`, CLUSTER_VIP, '80']), /ready\n/, `real server rs${i + 1}`, 10_000)));
    this.log(`router ${ROUTER} (AS ${ROUTER_ASN}), directors ${d.map((_, j) => `d${j + 1}=${engineAddr(j + 1)} (BIRD ${birdAddr(j + 1)}, AS ${directorAsn(j + 1)})`).join(' ')}, ` +
      `real servers ${rs.map((_, i) => rsAddr(i)).join(' ')} holding ${CLUSTER_VIP} on lo`);
  }

  private spawnIn(ns: string, argv: string[]): ChildProcess {
    const c = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.push(c);
    return c;
  }

  /** Resolve when `what` printed `ready` on stdout or stderr; reject when it exits first or after ms. */
  private started(c: ChildProcess, ready: RegExp, what: string, ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`${what} not ready after ${ms} ms: ${out.slice(-400)}`)), ms);
      const on = (d: Buffer) => { out = (out + d).slice(-4000); if (ready.test(out)) { clearTimeout(t); resolve(); } };
      c.stdout!.on('data', on);
      c.stderr!.on('data', on);
      c.on('exit', (code) => { clearTimeout(t); reject(new Error(`${what} exited (${code}): ${out.slice(-400)}`)); });
    });
  }

  private bird(ns: string, name: string): void {
    const c = this.spawnIn(ns, ['bird', '-f', '-c', join(this.dir, `${name}.conf`), '-s', join(this.dir, `${name}.ctl`), '-P', join(this.dir, `${name}.pid`)]);
    let err = '';
    c.stdout!.resume();
    c.stderr!.on('data', (d: Buffer) => { err = (err + d).slice(-2000); });
    c.on('exit', (code) => { if (!this.destroyed) this.log(`bird in ${ns} exited (${code}): ${err.trim().slice(-300)}`); });
  }

  /** FRR's zebra (the kernel's routes) and bgpd in namespace ns, their sockets and files under the run directory. */
  private frr(ns: string, conf: string): void {
    const d = join(this.dir, 'frr');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'zebra.conf'), 'frr defaults datacenter\n');
    writeFileSync(join(d, 'bgpd.conf'), conf);
    // FRR drops to its own user (Debian's frr, in the frrvty group vtysh needs), keeping the capabilities it needs
    execFileSync('chown', ['-R', 'frr:frr', d], { timeout: 10_000 });
    const common = ['-u', 'frr', '-g', 'frr', '-z', join(d, 'zserv.api'), '--vty_socket', d, '-P', '0', '--log', 'stdout', '--log-level', 'warnings'];
    for (const daemon of ['zebra', 'bgpd']) {
      const c = this.spawnIn(ns, [`/usr/lib/frr/${daemon}`, '-f', join(d, `${daemon}.conf`), '-i', join(d, `${daemon}.pid`), ...common]);
      let err = '';
      for (const st of [c.stdout!, c.stderr!]) st.on('data', (b: Buffer) => { err = (err + b).slice(-2000); });
      c.on('exit', (code) => { if (!this.destroyed) this.log(`FRR ${daemon} in ${ns} exited (${code}): ${err.trim().slice(-300)}`); });
    }
  }

  /** `birdc` on one of the lab's BIRDs ('rtr', 'd1', ...). */
  birdc(name: string, ...cmd: string[]): string {
    return execFileSync('birdc', ['-s', join(this.dir, `${name}.ctl`), ...cmd], { encoding: 'utf8', timeout: 10_000 });
  }

  /** Start director k (1-based): `wasmvs run --mode tap` in its namespace, its TAP on br0; resolves when it forwards. */
  async startDirector(k: number): Promise<void> {
    const c = this.spawnIn(this.ns.d[k - 1], [process.execPath, wasmvsBin(), 'run', '--mode', 'tap', '--dev', 'wvc0', '--bridge', 'br0',
      '--link-addr', engineAddr(k), '--link-mac', engineMac(k), '--rules', join(this.dir, `d${k}.rules`),
      '--sysctl', `net.ipv4.vs.sloppy_tcp=${this.sloppy ? 1 : 0}`, '--socket', this.sock(k), '--log-level', 'info']);
    c.stdin!.end();
    this.directors[k - 1] = c;
    await this.started(c, /Ctrl-C to stop/, `director d${k}`, 20_000);
  }

  private sock(k: number): string { return join(this.dir, `d${k}.sock`); }

  /** SIGTERM director k and wait for it to exit. */
  async stopDirector(k: number): Promise<void> {
    const c = this.directors[k - 1];
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    await Promise.race([gone, sleep(10_000).then(() => { c.kill('SIGKILL'); })]);
    this.directors[k - 1] = undefined;
  }

  /** Director k's conn table size and conns created, from its control socket's /metrics. */
  async directorConns(k: number): Promise<{ conns: number; created: number }> {
    const r = await controlRequest(this.sock(k), 'GET', '/metrics');
    const num = (re: RegExp) => Number(re.exec(r.body)?.[1] ?? NaN);
    return { conns: num(/^wasmvs_connections (\d+)$/m), created: num(/^wasmvs_engine_events_total\{name="conn_created"\} (\d+)$/m) };
  }

  /** CPU time (user + system, ms) director k's process has used so far (/proc/PID/stat). */
  directorCpuMs(k: number): number {
    const pid = this.directors[k - 1]?.pid;
    if (!pid) return 0;
    try {
      // fields after the command's closing parenthesis: utime is the 12th, stime the 13th (clock ticks, 100 Hz on Linux)
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) * 10;
    } catch { return 0; }
  }

  private drainFile(k: number): string { return join(this.dir, `d${k}.drain`); }

  /** Drain director k (its gate withdraws the VIP while it still forwards) or undrain it (announced again once healthy). */
  drain(k: number, on: boolean): void {
    if (on) writeFileSync(this.drainFile(k), 'drained by wasmvs demo cluster\n'); else rmSync(this.drainFile(k), { force: true });
  }

  /** Kill director k without a word (a crash): only its health gate can withdraw the VIP. */
  crashDirector(k: number): void { this.directors[k - 1]?.kill('SIGKILL'); this.directors[k - 1] = undefined; }

  /** The router's next hops for the VIP, as its kernel has them. */
  nextHops(): string[] {
    const routes = JSON.parse(ip(this.ns.rtr, '-j', 'route', 'show', `${CLUSTER_VIP}/32`) || '[]') as any[];
    const r = routes[0];
    if (!r) return [];
    if (r.nhid !== undefined && !r.nexthops && !r.gateway) {
      // a nexthop object (resilient group): its members' gateways
      const [nh] = JSON.parse(ip(this.ns.rtr, '-j', 'nexthop', 'show', 'id', String(r.nhid))) as any[];
      const gw = (id: number) => (JSON.parse(ip(this.ns.rtr, '-j', 'nexthop', 'show', 'id', String(id))) as any[])[0]?.gateway;
      return (nh?.group ? nh.group.map((m: any) => gw(m.id)) : [nh?.gateway]).filter(Boolean).sort();
    }
    return (r.nexthops ? r.nexthops.map((h: any) => h.gateway) : [r.gateway]).filter(Boolean).sort();
  }

  /** Wait until the router's next hops for the VIP are exactly those of `directors` (1-based); calls `tick` meanwhile. Returns ms. */
  async converge(directors: number[], ms: number, tick?: () => Promise<void>): Promise<number> {
    const want = directors.map(engineAddr).sort().join(' ');
    const t0 = Date.now();
    for (;;) {
      const got = this.nextHops().join(' ');
      if (got === want) return Date.now() - t0;
      if (Date.now() - t0 > ms) throw new Error(`the router's route to ${CLUSTER_VIP} is via [${got}], not [${want}] after ${ms} ms`);
      if (tick) await tick(); else await sleep(50);
    }
  }

  async client(): Promise<LabClient> {
    const c = new LabClient(this.spawnIn(this.ns.cli, [process.execPath, '-e', CLUSTER_CLIENT_SCRIPT, CLUSTER_VIP, String(CLUSTER_PORT)]));
    await c.ready;
    return c;
  }

  /** Cut director k's uplink (its host fails: no withdrawal, BIRD's hold timer on the router notices) or restore it. */
  link(k: number, up: boolean): void { ip(this.ns.rtr, 'link', 'set', `tod${k}`, up ? 'up' : 'down'); }

  /** Kill every process, delete the namespaces and the run directory. Idempotent, sync. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.off('exit', this.exitHook);
    for (const c of this.children) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
    for (const ns of this.made.reverse()) ipQuiet(undefined, 'netns', 'del', ns);
    try { rmSync(this.dir, { recursive: true, force: true }); } catch { /* gone */ }
    this.log(`lab ${this.prefix} removed`);
  }
}

/** The whole demo; throws on a lab failure (not on broken conns: those are the result). */
export async function runCluster(o: ClusterOptions = {}, onLab?: (lab: ClusterLab) => void): Promise<ClusterResult> {
  const D = o.directors ?? 3, C = o.conns ?? 1000, k = o.remove ?? 2;
  const log = o.log ?? (() => {});
  if (o.resilient && o.router === 'frr') throw new Error('--resilient is for the BIRD router (its script reads BIRD\'s table)');
  const lab = new ClusterLab(D, 3, o.tag ?? 'cluster', log, o.sched, o.sloppy, o.router, o.resilient);
  onLab?.(lab);
  let client: LabClient | undefined;
  try {
    await lab.build();
    const all = Array.from({ length: D }, (_, j) => j + 1);
    await Promise.all(all.map((j) => lab.startDirector(j)));
    const upMs = await lab.converge(all, 30_000);
    log(`router (${lab.router === 'frr' ? 'FRR' : 'BIRD'}${lab.resilient ? ', resilient nexthop group' : ''}): ${CLUSTER_VIP} via ${lab.nextHops().join(', ')} (${upMs} ms after the directors started; each gate announces once its director answers)`);
    client = await lab.client();
    const opened = await client.call('open', { n: C });
    const openErr = Object.values(opened.errors as Record<string, number>).reduce((a, b) => a + b, 0);
    if (openErr) throw new Error(`${openErr} of ${C} conns could not be opened: ${JSON.stringify(opened.errors)}`);
    const r0 = await client.call('round', { tag: 'r0' });
    if (r0.broken) throw new Error(`${r0.broken} conns broke before any change: ${JSON.stringify(r0.why)}`);
    const perServer = opened.servers as Record<string, number>;
    const perDirector = await Promise.all(all.map(async (j) => (await lab.directorConns(j)).conns));
    const survivors = all.filter((j) => j !== k);
    // conns created per director: a flow that arrives at a director mid-stream creates one (sloppy_tcp)
    const created = async () => Object.fromEntries(await Promise.all(all.map(async (j) => [j, (await lab.directorConns(j).catch(() => ({ created: 0 }))).created] as const)));
    const c0 = await created();
    log(`${C} conns open (${opened.ms} ms); per real server ${JSON.stringify(perServer)}; per director ${perDirector.join(' / ')}`);

    let round = 0;
    const rounds = async (acc: { broken: number; why: Record<string, number> }) => {
      const r = await client!.call('round', { tag: `r${++round}` });
      acc.broken += r.broken;
      for (const [w, n] of Object.entries(r.why as Record<string, number>)) acc.why[w] = (acc.why[w] ?? 0) + n;
    };
    // removal: withdraw (the gate), exchange on every conn while the router converges, stop, exchange
    const rem = { broken: 0, why: {} as Record<string, number> };
    lab.drain(k, true);
    const withdrawMs = await lab.converge(all.filter((j) => j !== k), 20_000, () => rounds(rem));
    log(`d${k} withdrawn: the router's route lost it after ${withdrawMs} ms`);
    await rounds(rem);
    await lab.stopDirector(k);
    log(`d${k} stopped`);
    for (let i = 0; i < 3; i++) await rounds(rem);
    const c1 = await created();
    // every flow of d_k had to move; a flow between two directors that stayed moved only because the router's hash did
    // (without sloppy_tcp a flow that changes director creates no conn there: not countable)
    const sloppy = o.sloppy ?? true;
    const movedStayed = sloppy ? survivors.reduce((a, j) => a + c1[j] - c0[j], 0) - perDirector[k - 1] : 0;
    log(`after removing d${k}: ${rem.broken} broken ${JSON.stringify(rem.why)}; flows that changed director: d${k}'s ${perDirector[k - 1]}` +
      (sloppy ? ` + ${movedStayed} between directors that stayed` : ' (without sloppy_tcp, moves between directors that stayed are not counted)'));

    // addition: start, announce, exchange while the router converges, exchange
    const add = { broken: 0, why: {} as Record<string, number> };
    await lab.startDirector(k);
    await rounds(add);
    lab.drain(k, false);
    const announceMs = await lab.converge(all, 20_000, () => rounds(add));
    log(`d${k} announced again: in the router's route after ${announceMs} ms`);
    for (let i = 0; i < 3; i++) await rounds(add);
    const back = await lab.directorConns(k);
    const c2 = await created();
    // (a lower bound: a flow that goes back to a director that still holds its old conn creates none)
    const movedStayed2 = survivors.reduce((a, j) => a + c2[j] - c1[j], 0);
    log(`after adding d${k} back: ${add.broken} broken ${JSON.stringify(add.why)}; d${k} created ${back.created} conns for flows that came to it mid-stream; ` +
      `at least ${movedStayed2} flows moved between directors that stayed`);

    const res: ClusterResult = { directors: D, conns: C, broken: rem.broken, broken2: add.broken, perServer, perDirector, withdrawMs, announceMs,
      moved: { removal: perDirector[k - 1] + movedStayed, removalStayed: movedStayed, addition: back.created + movedStayed2, additionStayed: movedStayed2 }, lastLine: '' };
    if (o.measure) {
      res.failover = await measureFailover(lab, client, all, k, log);
      res.rate = await measureRate(lab, client, all, o.rateMs ?? 3000, log);
    }
    res.lastLine = `cluster: ${D} directors, ${C} conns, ${res.broken} broken after removing a director, ${res.broken2} broken after adding it back`;
    return res;
  } finally {
    client?.close();
    lab.destroy();
  }
}

/**
 * Failures, without a planned withdrawal. crash: director k is SIGKILLed; its health gate sees the
 * control socket refuse (≤ 200 ms), sets vip0 down, BIRD withdraws. host: director k's uplink
 * is cut; nothing is sent, the router's BIRD notices when BGP's hold timer (3 s here) expires.
 * detectMs: until the router's route lost the path; servedMs: until the slowest conn's echo came
 * back (its lost segments retransmitted by TCP through another director).
 */
async function measureFailover(lab: ClusterLab, client: LabClient, all: number[], k: number, log: (l: string) => void) {
  const out: Record<'crash' | 'host', FailoverResult> = {} as any;
  for (const kind of ['crash', 'host'] as const) {
    const t0 = Date.now();
    if (kind === 'crash') lab.crashDirector(k); else lab.link(k, false);
    const roundP = client.call('round', { tag: `fail-${kind}`, timeoutMs: 30_000 });
    await lab.converge(all.filter((j) => j !== k), 20_000);
    const detectMs = Date.now() - t0;
    const r = await roundP;
    out[kind] = { detectMs, servedMs: r.lastMs as number, broken: r.broken as number, conns: (r.ok + r.broken) as number };
    log(`failure (${kind === 'crash' ? `d${k} killed, its health gate withdraws` : `d${k}'s link cut, the router's BGP hold timer`}): the router dropped the path after ${detectMs} ms; ` +
      `the slowest of ${r.ok + r.broken} conns answered after ${r.lastMs} ms; ${r.broken} broken`);
    if (kind === 'crash') await lab.startDirector(k); else lab.link(k, true);
    await lab.converge(all, 30_000);
  }
  return out;
}

/** New conns per second (connect, one echo, close) through one director, then through all. */
async function measureRate(lab: ClusterLab, client: LabClient, all: number[], ms: number, log: (l: string) => void) {
  const others = all.slice(1);
  for (const j of others) lab.drain(j, true);
  await lab.converge([all[0]], 20_000);
  const cpu0 = all.map((j) => lab.directorCpuMs(j));
  const one = await client.call('rate', { ms });
  const cpu1 = all.map((j) => lab.directorCpuMs(j));
  for (const j of others) lab.drain(j, false);
  await lab.converge(all, 20_000);
  const many = await client.call('rate', { ms });
  const cpu2 = all.map((j) => lab.directorCpuMs(j));
  // the directors' own CPU per new conn: what bounds a director's rate when the client does not
  const usPerConn = one.n ? Math.round(((cpu1[0] - cpu0[0]) * 1000) / one.n) : 0;
  const share = all.map((_, i) => cpu2[i] - cpu1[i]);
  log(`new conns per second: one director ${one.perSec} (${one.errors} errors), ${all.length} directors ${many.perSec} (${many.errors} errors); ` +
    `director CPU ${usPerConn} µs per new conn alone, ${share.join(' / ')} ms each for ${many.n} conns together`);
  return { one: one.perSec as number, all: many.perSec as number, oneErrors: one.errors as number, allErrors: many.errors as number, usPerConn, cpuShareMs: share };
}

const USAGE = `usage: wasmvs demo cluster [--directors D] [--conns C] [--measure] [--sched NAME] [--no-sloppy] [--router bird|frr] [--resilient] [--quiet]
Builds a lab in network namespaces (198.18.0.0/15): a router running BIRD 2 with ECMP (L4 hash), D
directors (default 3; \`wasmvs run --mode tap\`, DR, mh with mh-port, sloppy_tcp) each announcing
${CLUSTER_VIP}/32 over BGP with its own BIRD, three real servers. Opens C long-lived TCP conns
(default 1000) through the router, removes one director (withdraw, then stop), checks every conn,
adds it back, checks again, removes the lab. --measure: also a director's failure (killed; its link cut)
and the new-connection rate of one director vs all. --sched rr / --no-sloppy show what breaks
without mh / without sloppy_tcp. --router frr: the ToR router runs FRR (zebra, bgpd) instead of BIRD. --resilient: the
router's route is a Linux resilient nexthop group made from BIRD's route.
Needs root, bird2, a built tree (npm run build).
Last line: cluster: D directors, C conns, B broken after removing a director, B2 broken after adding it back`;

export async function main(argv: string[]): Promise<number> {
  const o: ClusterOptions = {};
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const int = (min: number, max: number) => {
      const v = argv[++i];
      if (!/^\d+$/.test(v ?? '') || +v < min || +v > max) throw new Error(`${a} needs an integer ${min}..${max}, got ${v ?? 'nothing'}`);
      return +v;
    };
    try {
      if (a === '-h' || a === '--help') { process.stdout.write(USAGE + '\n'); return 0; }
      else if (a === '--quiet') quiet = true;
      else if (a === '--measure') o.measure = true;
      else if (a === '--directors') o.directors = int(2, 9);
      else if (a === '--conns') o.conns = int(1, 20_000);
      else if (a === '--sched' && /^[a-z]+$/.test(argv[i + 1] ?? '')) o.sched = argv[++i];
      else if (a === '--no-sloppy') o.sloppy = false;
      else if (a === '--resilient') o.resilient = true;
      else if (a === '--router' && (argv[i + 1] === 'bird' || argv[i + 1] === 'frr')) o.router = argv[++i] as 'bird' | 'frr';
      else throw new Error(`bad option ${a}`);
    } catch (e) { process.stderr.write(`wasmvs demo cluster: ${(e as Error).message}\n${USAGE}\n`); return 2; }
  }
  const skip = clusterSkipReason();
  if (skip) { process.stderr.write(`wasmvs demo cluster: ${skip}\n`); return 1; }
  o.log = (l) => { if (!quiet) process.stdout.write(l + '\n'); };
  let lab: ClusterLab | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\nwasmvs demo cluster: ${sig}, removing the lab\n`);
    lab?.destroy();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const r = await runCluster(o, (l) => { lab = l; });
    process.stdout.write(r.lastLine + '\n');
    return r.broken === 0 && r.broken2 === 0 ? 0 : 1;
  } catch (e: any) {
    process.stderr.write(`wasmvs demo cluster: ${e?.message ?? e}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
