/*
 * bench/e2e/compare.ts - wasmvs against what users run instead, end to end, on one topology.
 *
 *   <p>-cli  eth0 198.18.0.2 ─veth─ tocli 198.18.0.1   <p>-dir (every balancer runs here, one at a time)
 *                                  rsbr 198.18.1.1 (bridge) ─veth─ eth0 198.18.1.11..13  <p>-rs1..3
 *   VIP 198.18.2.1: routed to the director (the client's default route); the proxies bind it on lo,
 *   nftables DNATs it in prerouting, wasmvs routes it into its TUN (docs/director.md recipe).
 *
 * Every real server runs nginx (a 1 KiB file, /1k.html), an iperf3 server (:5201) and a UDP sink
 * (sockperf server, :11111). The namespaces are built afresh for each peer (same names, same
 * configuration), so no conntrack, TIME_WAIT or port state of one peer reaches the next. Peers:
 *   none      client straight to 198.18.1.11 through the director's plain IP forwarding (the ceiling)
 *   nftables  kernel NAT: dnat to numgen random mod 3 map (kube-proxy nftables mode); jhash on ip
 *             saddr for :5201 (iperf3 needs source affinity)
 *   haproxy   TCP mode, roundrobin; balance source for :5201; no UDP (not in HAProxy)
 *   nginx     stream module, round robin; hash $remote_addr for :5201; UDP upstreams max_fails=0
 *   wasmvs    NAT on a TUN: TCP :80 rr, TCP :5201 sh, UDP :11111 rr (bench/e2e/wvs-director.ts =
 *             `wasmvs run` plus its counters at exit), --no-offload; wasmvs-offload: the same with
 *             offloads, i.e. `wasmvs run` as it starts by default; both with --workers defaulting
 *             to the CPUs available (one TUN queue each, the steering program attached);
 *             wasmvs-rw: wasmvs-offload with WASMVS_TUN_IO=syscall (one read()/write() per frame
 *             instead of io_uring batches: before/after in one run; not in the default list)
 * Figures (median of --runs runs of --duration seconds each): HTTP short connections/s (wrk,
 * Connection: close), keep-alive requests/s (wrk), TCP bulk throughput (iperf3 -P 2), small-UDP
 * packets/s delivered to the real servers (sockperf throughput, one flow, 18-byte payloads; counted
 * at the servers' eth0: rx_packets), and the CPU the machine spent (/proc/stat, all cores) per
 * 1000 connections / per GB / per million packets, minus what the no-balancer run spent per unit.
 *
 * Run (root): npx tsc -p tsconfig.build.json && node dist/bench/e2e/compare.js [options]
 * Only namespaces it creates (wvs-bench-<pid>-*); all removed at exit, on error and on Ctrl-C.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** the repo root: this file runs as dist/bench/e2e/compare.js (or from bench/e2e with a TS loader) */
const ROOT = [join(HERE, '../../..'), join(HERE, '../..')].find((d) => existsSync(join(d, 'package.json')) && existsSync(join(d, 'bin/wasmvs.js')))!;
const WVS_DIRECTOR = join(HERE, 'wvs-director.js');

const USAGE = `usage: node dist/bench/e2e/compare.js [options]     (root; npm run bench:e2e)
  --duration S      seconds per load run (default 5)
  --runs N          runs per figure, the median is reported (default 3)
  --peers LIST      comma list of none,nftables,haproxy,nginx,wasmvs,wasmvs-offload,wasmvs-rw (default all but wasmvs-rw; none is always run first)
  --tests LIST      comma list of short,keepalive,bulk,udp (default all)
  --conns N         wrk connections (default 32)
  --json FILE       results file (default bench/e2e/results/latest.json)
  --no-install      do not apt-get install missing tools
Builds network namespaces wvs-bench-<pid>-{cli,dir,rs1,rs2,rs3}, addresses in 198.18.0.0/15,
and removes them at exit (also on Ctrl-C). Total time about 3 + peers x tests x runs x (duration + 1.5) s.`;

// ---------------------------------------------------------------- options
interface Opts { duration: number; runs: number; peers: PeerName[]; tests: TestName[]; conns: number; json: string; install: boolean }
type PeerName = 'none' | 'nftables' | 'haproxy' | 'nginx' | 'wasmvs' | 'wasmvs-offload' | 'wasmvs-rw';
type TestName = 'short' | 'keepalive' | 'bulk' | 'udp';
const PEERS: PeerName[] = ['none', 'nftables', 'haproxy', 'nginx', 'wasmvs', 'wasmvs-offload'];
const ALL_PEERS: PeerName[] = [...PEERS, 'wasmvs-rw'];
const TESTS: TestName[] = ['short', 'keepalive', 'bulk', 'udp'];

function parseOpts(argv: string[]): Opts | 'help' {
  const o: Opts = { duration: 5, runs: 3, peers: [...PEERS], tests: [...TESTS], conns: 32, json: join(ROOT, 'bench/e2e/results/latest.json'), install: true };
  const int = (flag: string, v: string | undefined, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} needs an integer ${min}..${max}, got ${v ?? 'nothing'}`);
    return n;
  };
  const list = <T extends string>(flag: string, v: string | undefined, all: readonly T[]): T[] => {
    const xs = (v ?? '').split(',').filter(Boolean);
    for (const x of xs) if (!all.includes(x as T)) throw new Error(`${flag}: unknown "${x}" (one of ${all.join(', ')})`);
    if (!xs.length) throw new Error(`${flag} needs a list`);
    return all.filter((a) => xs.includes(a));
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '-h': case '--help': return 'help';
      case '--duration': o.duration = int(a, argv[++i], 1, 60); break;
      case '--runs': o.runs = int(a, argv[++i], 1, 15); break;
      case '--conns': o.conns = int(a, argv[++i], 1, 4000); break;
      case '--peers': o.peers = list(a, argv[++i], ALL_PEERS); break;
      case '--tests': o.tests = list(a, argv[++i], TESTS); break;
      case '--json': { const v = argv[++i]; if (!v) throw new Error('--json needs a file'); o.json = v; break; }
      case '--no-install': o.install = false; break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (!o.peers.includes('none')) o.peers.unshift('none'); // the ceiling and the CPU baseline
  return o;
}

// ---------------------------------------------------------------- small helpers
const log = (s: string) => process.stderr.write(s + '\n');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function sh(cmd: string, args: string[], opts: { input?: string; timeout?: number } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input: opts.input, stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeout ?? 20_000 });
  } catch (e: any) {
    throw new Error(`${cmd} ${args.join(' ')}: ${String(e?.stderr || e?.message || e).trim()}`);
  }
}
const ip = (ns: string | undefined, ...args: string[]) => sh('ip', ns ? ['-n', ns, ...args] : args);
const nsExec = (ns: string, cmd: string, ...args: string[]) => sh('ip', ['netns', 'exec', ns, cmd, ...args]);
const sysctl = (ns: string, key: string, value: string) => nsExec(ns, 'sysctl', '-qw', `${key}=${value}`);

/** Run a command to completion (async, bounded); resolves with stdout+stderr, rejects on failure. */
function run(ns: string, cmd: string, args: string[], timeoutMs: number): Promise<{ out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(c);
    let out = '', err = '';
    c.stdout!.on('data', (d) => { out += d; });
    c.stderr!.on('data', (d) => { err += d; });
    const t = setTimeout(() => { c.kill('SIGKILL'); }, timeoutMs);
    c.on('exit', (code, sig) => {
      clearTimeout(t);
      live.delete(c);
      if (code === 0) resolve({ out, err });
      else reject(new Error(`${cmd} ${args.join(' ')} in ${ns}: ${sig ? `killed (${sig}) after ${timeoutMs} ms` : `exit ${code}`}: ${(err || out).trim().slice(-600)}`));
    });
  });
}

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const CLK_TCK = Number(sh('getconf', ['CLK_TCK']).trim()) || 100;
/** Machine-wide busy CPU seconds so far (all cores; idle and iowait excluded). */
function cpuBusy(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  void idle; void iowait;
  return (user + nice + system + irq + softirq + (steal ?? 0)) / CLK_TCK;
}
/** utime+stime of a process (all its threads) in seconds, 0 when gone. */
function procCpu(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch { return 0; }
}
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).join(' ');

// ---------------------------------------------------------------- topology
const P = `wvs-bench-${process.pid}`;
const NS = { cli: `${P}-cli`, dir: `${P}-dir`, rs: [1, 2, 3].map((i) => `${P}-rs${i}`) };
const CLIENT = '198.18.0.2';
const VIP = '198.18.2.1';
const RS = ['198.18.1.11', '198.18.1.12', '198.18.1.13'];
const RS_NET = '198.18.1.0/24';
const TUN = `wvsb${process.pid % 100000}`;
const PORT = { http: 80, iperf: 5201, udp: 11111 };
const made: string[] = [];
const live = new Set<ChildProcess>();
let tmp = '';
let cleaned = false;

/** Kill what we started (children, then anything left inside our namespaces), delete the namespaces. */
function teardown(): void {
  for (const c of live) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
  for (const ns of made) {
    let pids: string[] = [];
    try { pids = sh('ip', ['netns', 'pids', ns], { timeout: 5000 }).split(/\s+/).filter(Boolean); } catch { /* gone */ }
    for (const p of pids) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
  }
  for (const ns of [...made].reverse()) { try { ip(undefined, 'netns', 'del', ns); } catch { /* gone */ } }
  made.length = 0;
}

/** teardown() and the temporary files; at exit, on error, on Ctrl-C. Idempotent. */
function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  const had = made.length > 0;
  teardown();
  if (had) log(`namespaces ${P}-* removed`);
  if (tmp) { try { rmSync(tmp, { recursive: true, force: true }); } catch { /* ignore */ } }
}

function buildTopology(): void {
  for (const ns of [NS.cli, NS.dir, ...NS.rs]) {
    ip(undefined, 'netns', 'add', ns);
    made.push(ns);
    for (const k of ['all', 'default']) { try { sysctl(ns, `net.ipv6.conf.${k}.disable_ipv6`, '1'); } catch { /* no IPv6 */ } }
    ip(ns, 'link', 'set', 'lo', 'up');
  }
  ip(NS.cli, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'tocli', 'netns', NS.dir);
  ip(NS.cli, 'addr', 'add', `${CLIENT}/24`, 'dev', 'eth0');
  ip(NS.cli, 'link', 'set', 'eth0', 'up');
  ip(NS.cli, 'route', 'add', 'default', 'via', '198.18.0.1');
  ip(NS.dir, 'addr', 'add', '198.18.0.1/24', 'dev', 'tocli');
  ip(NS.dir, 'link', 'set', 'tocli', 'up');
  ip(NS.dir, 'link', 'add', 'rsbr', 'type', 'bridge');
  ip(NS.dir, 'addr', 'add', '198.18.1.1/24', 'dev', 'rsbr');
  ip(NS.dir, 'link', 'set', 'rsbr', 'up');
  NS.rs.forEach((ns, i) => {
    ip(ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `tors${i + 1}`, 'netns', NS.dir);
    ip(ns, 'addr', 'add', `${RS[i]}/24`, 'dev', 'eth0');
    ip(ns, 'link', 'set', 'eth0', 'up');
    ip(ns, 'route', 'add', 'default', 'via', '198.18.1.1');
    ip(NS.dir, 'link', 'set', `tors${i + 1}`, 'master', 'rsbr');
    ip(NS.dir, 'link', 'set', `tors${i + 1}`, 'up');
  });
  sysctl(NS.dir, 'net.ipv4.ip_forward', '1');
  // wrk closes first (client TIME_WAIT, 60 s): without reuse one client address runs out of its
  // 28k ports in seconds. With it, ports come back after ~1 s, so every balancer sees SYNs for
  // address/port pairs it saw a moment ago (IPVS: conn_reuse). The proxies get the same setting.
  sysctl(NS.cli, 'net.ipv4.tcp_tw_reuse', '1');
  sysctl(NS.dir, 'net.ipv4.tcp_tw_reuse', '1');
  for (const k of ['all', 'default', 'tocli', 'rsbr']) sysctl(NS.dir, `net.ipv4.conf.${k}.rp_filter`, '0');
}

/** Start a long-running process in a namespace; its output goes to a file under tmp. */
function startIn(ns: string, name: string, cmd: string, args: string[]): ChildProcess {
  const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(c);
  const f = join(tmp, `${name}.log`);
  const w = (d: Buffer) => { try { writeFileSync(f, d, { flag: 'a' }); } catch { /* tmp gone */ } };
  c.stdout!.on('data', w);
  c.stderr!.on('data', w);
  c.on('exit', () => live.delete(c));
  return c;
}

async function stop(c: ChildProcess, sig: NodeJS.Signals = 'SIGTERM', ms = 5000): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => { try { c.kill('SIGKILL'); } catch { /* gone */ } resolve(); }, ms);
    c.once('exit', () => { clearTimeout(t); resolve(); });
    c.kill(sig);
  });
}

/** Wait until something listens on proto/port in ns (ss). */
async function waitListen(ns: string, proto: 'tcp' | 'udp', port: number, what: string, child?: ChildProcess): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < 10_000) {
    if (child && child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}); see its log`);
    const out = nsExec(ns, 'ss', '-Hn', proto === 'tcp' ? '-lt' : '-lu', `sport = :${port}`);
    if (out.trim()) return;
    await sleep(100);
  }
  throw new Error(`${what}: nothing listens on ${proto} :${port} in ${ns} after 10 s`);
}

function nginxServerConf(i: number): string {
  const d = join(tmp, `rs${i + 1}`);
  mkdirSync(join(d, 'www'), { recursive: true });
  writeFileSync(join(d, 'www/1k.html'), 'x'.repeat(1023) + '\n');
  return `daemon off;
worker_processes 1;
worker_rlimit_nofile 19000;
pid ${d}/nginx.pid;
error_log ${d}/nginx.err warn;
events { worker_connections 8000; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${d}/body; proxy_temp_path ${d}/proxy; fastcgi_temp_path ${d}/fcgi; uwsgi_temp_path ${d}/uwsgi; scgi_temp_path ${d}/scgi;
  server { listen ${RS[i]}:${PORT.http} backlog=4096 default_server; root ${d}/www; }
}
`;
}

async function startServers(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const ns = NS.rs[i];
    const conf = join(tmp, `rs${i + 1}.nginx.conf`);
    writeFileSync(conf, nginxServerConf(i));
    const ng = startIn(ns, `rs${i + 1}-nginx`, 'nginx', ['-c', conf, '-p', join(tmp, `rs${i + 1}`)]);
    const ip3 = startIn(ns, `rs${i + 1}-iperf3`, 'iperf3', ['-s', '-B', RS[i], '-p', String(PORT.iperf)]);
    const sp = startIn(ns, `rs${i + 1}-sockperf`, 'sockperf', ['sr', '-i', RS[i], '-p', String(PORT.udp)]);
    await waitListen(ns, 'tcp', PORT.http, `nginx in rs${i + 1}`, ng);
    await waitListen(ns, 'tcp', PORT.iperf, `iperf3 in rs${i + 1}`, ip3);
    await waitListen(ns, 'udp', PORT.udp, `sockperf in rs${i + 1}`, sp);
  }
}

/** Packets received by a real server's eth0: what the balancer delivered (the sink may drop some). */
function rxPackets(ns: string): number {
  return Number(nsExec(ns, 'cat', '/sys/class/net/eth0/statistics/rx_packets').trim());
}

// ---------------------------------------------------------------- peers
interface Peer {
  name: PeerName;
  target: string;
  /** no UDP in this peer */
  noUdp?: boolean;
  start(): Promise<void>;
  stop(): Promise<Record<string, unknown>>;
  /** pids whose CPU time is the balancer's (user-space peers) */
  pids(): number[];
}

function dirPids(): number[] {
  try { return sh('ip', ['netns', 'pids', NS.dir]).split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
}

function peerNone(): Peer {
  return { name: 'none', target: RS[0], async start() { /* nothing */ }, async stop() { return {}; }, pids: () => [] };
}

function peerNft(): Peer {
  const map = `{ 0 : ${RS[0]}, 1 : ${RS[1]}, 2 : ${RS[2]} }`;
  const rules = `table ip wvsbench {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${VIP} tcp dport ${PORT.http} dnat to numgen random mod 3 map ${map}
    ip daddr ${VIP} tcp dport ${PORT.iperf} dnat to jhash ip saddr mod 3 map ${map}
    ip daddr ${VIP} udp dport ${PORT.udp} dnat to numgen random mod 3 map ${map}
  }
}
`;
  return {
    name: 'nftables', target: VIP, pids: () => [],
    async start() { sh('ip', ['netns', 'exec', NS.dir, 'nft', '-f', '-'], { input: rules }); },
    async stop() {
      let counters = '';
      try { counters = nsExec(NS.dir, 'cat', '/proc/sys/net/netfilter/nf_conntrack_count').trim(); } catch { /* no conntrack */ }
      nsExec(NS.dir, 'nft', 'delete', 'table', 'ip', 'wvsbench');
      return { conntrack_entries_at_end: Number(counters) };
    },
  };
}

/** VIP on the director's lo, for the proxies to bind. */
const vipOnLo = (on: boolean) => ip(NS.dir, 'addr', on ? 'add' : 'del', `${VIP}/32`, 'dev', 'lo');

function peerHaproxy(): Peer {
  let c: ChildProcess | undefined;
  const servers = (port: number) => RS.map((a, i) => `  server rs${i + 1} ${a}:${port}`).join('\n');
  const conf = `global
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend http
  bind ${VIP}:${PORT.http}
  default_backend http
backend http
  balance roundrobin
${servers(PORT.http)}
frontend iperf
  bind ${VIP}:${PORT.iperf}
  default_backend iperf
backend iperf
  balance source
${servers(PORT.iperf)}
`;
  return {
    name: 'haproxy', target: VIP, noUdp: true, pids: () => (c?.pid ? [c.pid] : []),
    async start() {
      vipOnLo(true);
      const f = join(tmp, 'haproxy.cfg');
      writeFileSync(f, conf);
      c = startIn(NS.dir, 'haproxy', 'haproxy', ['-db', '-f', f]);
      await waitListen(NS.dir, 'tcp', PORT.http, 'haproxy', c);
    },
    async stop() { if (c) await stop(c, 'SIGUSR1'); vipOnLo(false); return {}; },
  };
}

function peerNginx(): Peer {
  let c: ChildProcess | undefined;
  const d = join(tmp, 'lb-nginx');
  const servers = (port: number, extra = '') => RS.map((a) => `    server ${a}:${port}${extra};`).join('\n');
  const conf = `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
worker_processes 2;
worker_rlimit_nofile 19000;
pid ${d}/nginx.pid;
error_log ${d}/nginx.err warn;
events { worker_connections 8000; }
stream {
  upstream http {
${servers(PORT.http)}
  }
  upstream iperf {
    hash $remote_addr;
${servers(PORT.iperf)}
  }
  upstream udp {
${servers(PORT.udp, ' max_fails=0')}
  }
  server { listen ${VIP}:${PORT.http} backlog=4096; proxy_pass http; }
  server { listen ${VIP}:${PORT.iperf}; proxy_pass iperf; }
  server { listen ${VIP}:${PORT.udp} udp; proxy_pass udp; proxy_responses 0; proxy_timeout 10s; }
}
`;
  let pids: number[] = [];
  return {
    name: 'nginx', target: VIP, pids: () => pids,
    async start() {
      vipOnLo(true);
      mkdirSync(d, { recursive: true });
      const f = join(tmp, 'lb-nginx.conf');
      writeFileSync(f, conf);
      c = startIn(NS.dir, 'lb-nginx', 'nginx', ['-c', f, '-p', d]);
      await waitListen(NS.dir, 'tcp', PORT.http, 'nginx (stream)', c);
      await sleep(200);
      pids = dirPids(); // master and workers
    },
    async stop() { if (c) await stop(c, 'SIGQUIT'); vipOnLo(false); return {}; },
  };
}

/** wasmvs run (NAT on a TUN): without (--no-offload) or with TUN offloads (--offload, the default of wasmvs run);
 * rw: the TUN batches by read()/write() per frame (WASMVS_TUN_IO=syscall) instead of io_uring. */
function peerWasmvs(offload = false, rw = false): Peer {
  let c: ChildProcess | undefined;
  let out = '', err = '';
  const svc = (flag: string, port: number, sched: string) =>
    [`-A ${flag} ${VIP}:${port} -s ${sched}`, ...RS.map((a) => `-a ${flag} ${VIP}:${port} -r ${a}:${port} -m -w 1`)].join('\n');
  const rules = [svc('-t', PORT.http, 'rr'), svc('-t', PORT.iperf, 'sh'), svc('-u', PORT.udp, 'rr')].join('\n') + '\n';
  return {
    name: rw ? 'wasmvs-rw' : offload ? 'wasmvs-offload' : 'wasmvs', target: VIP, pids: () => (c?.pid ? [c.pid] : []),
    async start() {
      const f = join(tmp, 'wasmvs.rules');
      writeFileSync(f, rules);
      c = spawn('ip', ['netns', 'exec', NS.dir, process.execPath, WVS_DIRECTOR, '--dev', TUN, '--rules', f, '--conn-max', '262144', '--log-level', 'info',
        offload ? '--offload' : '--no-offload'],
        { stdio: ['ignore', 'pipe', 'pipe'], env: rw ? { ...process.env, WASMVS_TUN_IO: 'syscall' } : process.env });
      live.add(c);
      c.on('exit', () => live.delete(c!));
      c.stdout!.on('data', (d) => { out += d; });
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`wasmvs did not start in 15 s: ${err}`)), 15_000);
        c!.stderr!.on('data', (d) => { err += d; if (err.includes('Ctrl-C to stop')) { clearTimeout(t); resolve(); } });
        c!.on('exit', (code) => { clearTimeout(t); reject(new Error(`wasmvs exited ${code}: ${err}`)); });
      });
      // docs/director.md: no rp_filter on the TUN; replies of the real servers into the TUN
      sysctl(NS.dir, `net.ipv4.conf.${TUN}.rp_filter`, '0');
      ip(NS.dir, 'rule', 'add', 'from', RS_NET, 'iif', 'rsbr', 'lookup', '100', 'pref', '100');
      ip(NS.dir, 'route', 'replace', 'default', 'dev', TUN, 'table', '100');
    },
    async stop() {
      // frames the kernel could not queue to the TUN because the director had not read them yet
      let tunTxDropped: number | undefined;
      try { tunTxDropped = Number(nsExec(NS.dir, 'cat', `/sys/class/net/${TUN}/statistics/tx_dropped`).trim()); } catch { /* gone */ }
      if (c) await stop(c, 'SIGTERM', 15_000);
      try { ip(NS.dir, 'rule', 'del', 'pref', '100'); } catch { /* gone */ }
      try { ip(NS.dir, 'route', 'flush', 'table', '100'); } catch { /* gone with the TUN */ }
      const m = /^WVS_COUNTERS (.*)$/m.exec(out);
      const counters = m ? JSON.parse(m[1]) as Record<string, string> : undefined;
      const table = out.replace(/^WVS_COUNTERS .*\n?/m, '');
      const workers = Number(/(\d+) queues, fds/.exec(err)?.[1] ?? 1);   // the director's start line
      const io = /I\/O: (io_uring|read\(\)\/write\(\) per frame)/.exec(err)?.[1]; // the director's device line
      if (!counters) log(`wasmvs: no counters at exit; stderr:\n${err.slice(-2000)}`);
      return { counters, table, tunTxDropped, workers, io };
    },
  };
}

const PEER_MAKERS: Record<PeerName, () => Peer> = {
  none: peerNone, nftables: peerNft, haproxy: peerHaproxy, nginx: peerNginx, wasmvs: () => peerWasmvs(), 'wasmvs-offload': () => peerWasmvs(true),
  'wasmvs-rw': () => peerWasmvs(true, true),
};

// ---------------------------------------------------------------- load runs
interface RunResult {
  test: TestName; peer: PeerName; run: number; loadavg: string;
  /** the figure: conn/s, req/s, bit/s, packets/s */
  value: number;
  /** units of work done: connections, requests, bytes, packets */
  work: number;
  /** machine busy CPU seconds during the run; the peer's processes' CPU seconds */
  cpu: number; peerCpu: number; seconds: number;
  errors: number; note?: string;
  /** udp: packets/s the sender sent */
  offered?: number;
}

async function loadRun(test: TestName, peer: Peer, o: Opts, runNo: number): Promise<RunResult> {
  const la = loadavg();
  const D = o.duration;
  const tmo = (D + 20) * 1000;
  const pids = peer.pids();
  const p0 = pids.reduce((s, p) => s + procCpu(p), 0);
  const c0 = cpuBusy();
  const t0 = process.hrtime.bigint();
  let value = NaN, work = NaN, errors = 0, note: string | undefined, offered: number | undefined;
  if (test === 'short' || test === 'keepalive') {
    const args = ['-t1', `-c${o.conns}`, `-d${D}s`, '--timeout', '2s', ...(test === 'short' ? ['-H', 'Connection: close'] : []), `http://${peer.target}/1k.html`];
    const { out } = await run(NS.cli, 'wrk', args, tmo);
    const req = /(\d+) requests in ([\d.]+)(\w+)/.exec(out);
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
    if (!req || !rps) throw new Error(`wrk output not understood:\n${out}`);
    value = Number(rps[1]);
    work = Number(req[1]);
    const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
    errors = (se ? se.slice(1).reduce((s, x) => s + Number(x), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
    if (errors) note = (se?.[0] ?? '') + (non2xx ? ` ${non2xx[0]}` : '');
  } else if (test === 'bulk') {
    const { out } = await run(NS.cli, 'iperf3', ['-c', peer.target, '-p', String(PORT.iperf), '-t', String(D), '-P', '2', '-J'], tmo);
    const j = JSON.parse(out);
    if (j.error) throw new Error(`iperf3: ${j.error}`);
    value = j.end.sum_received.bits_per_second;
    work = j.end.sum_received.bytes;
  } else {
    const rs = peer.name === 'none' ? [NS.rs[0]] : NS.rs;
    const u0 = rs.map(rxPackets);
    const { out } = await run(NS.cli, 'sockperf', ['tp', '-i', peer.target, '-p', String(PORT.udp), '-m', '18', '-t', String(D)], tmo);
    await sleep(300); // let the last packets land
    const delivered = rs.map(rxPackets).reduce((s, v, i) => s + v - u0[i], 0);
    const sent = /Total of (\d+) messages sent in ([\d.]+) sec/.exec(out);
    if (!sent) throw new Error(`sockperf output not understood:\n${out}`);
    const secs = Number(sent[2]);
    value = delivered / secs;
    offered = Number(sent[1]) / secs;
    work = delivered;
    const lost = Number(sent[1]) - delivered;
    if (lost > 0) note = `sent ${sent[1]} (${Math.round(Number(sent[1]) / secs)}/s), delivered ${delivered}`;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuBusy() - c0;
  const peerCpu = pids.reduce((s, p) => s + procCpu(p), 0) - p0;
  return { test, peer: peer.name, run: runNo, loadavg: la, value, work, cpu, peerCpu, seconds, errors, note, offered };
}

// ---------------------------------------------------------------- report
const UNIT: Record<TestName, { name: string; scale: number; fmt: (v: number) => string; cpuUnit: string; per: number }> = {
  short: { name: 'short conn/s', scale: 1, fmt: (v) => Math.round(v).toLocaleString('en-US'), cpuUnit: 'CPU s/1k conn', per: 1000 },
  keepalive: { name: 'keep-alive req/s', scale: 1, fmt: (v) => Math.round(v).toLocaleString('en-US'), cpuUnit: 'CPU s/1M req', per: 1e6 },
  bulk: { name: 'TCP Gbit/s', scale: 1e-9, fmt: (v) => v.toFixed(2), cpuUnit: 'CPU s/GB', per: 1e9 },
  udp: { name: 'UDP kpps', scale: 1e-3, fmt: (v) => v.toFixed(0), cpuUnit: 'CPU s/Mpkt', per: 1e6 },
};

interface Summary { peer: PeerName; test: TestName; median: number; offered?: number; cpuPerUnit: number; extraCpuPerUnit: number; peerCpuPerUnit: number; errors: number; runs: RunResult[] }

function summarize(results: RunResult[], peers: PeerName[], tests: TestName[]): Summary[] {
  const out: Summary[] = [];
  const base = new Map<TestName, number>();
  for (const peer of peers) for (const test of tests) {
    const rs = results.filter((r) => r.peer === peer && r.test === test);
    if (!rs.length) continue;
    const per = UNIT[test].per;
    const cpuPerUnit = median(rs.map((r) => (r.cpu / r.work) * per));
    if (peer === 'none') base.set(test, cpuPerUnit);
    out.push({
      peer, test, median: median(rs.map((r) => r.value)), cpuPerUnit,
      offered: test === 'udp' ? median(rs.map((r) => r.offered ?? NaN)) : undefined,
      extraCpuPerUnit: cpuPerUnit - (base.get(test) ?? NaN),
      peerCpuPerUnit: median(rs.map((r) => (r.peerCpu / r.work) * per)),
      errors: rs.reduce((s, r) => s + r.errors, 0), runs: rs,
    });
  }
  return out;
}

function table(sum: Summary[], peers: PeerName[], tests: TestName[]): string {
  const get = (p: PeerName, t: TestName) => sum.find((s) => s.peer === p && s.test === t);
  const head = ['peer', ...tests.map((t) => `${UNIT[t].name} (×nft)`), ...tests.filter((t) => t !== 'keepalive').map((t) => `${UNIT[t].cpuUnit} +over none`)];
  const rows = peers.map((p) => {
    const cells: string[] = [p];
    for (const t of tests) {
      const s = get(p, t), n = get('nftables', t);
      if (!s || !Number.isFinite(s.median) || s.median === 0) { cells.push(s ? 'fail' : 'n/a'); continue; }
      const ratio = n && n.median > 0 && p !== 'nftables' ? ` (${(s.median / n.median).toFixed(2)})` : '';
      cells.push(`${UNIT[t].fmt(s.median * UNIT[t].scale)}${ratio}${s.errors ? ' !' : ''}`);
    }
    for (const t of tests.filter((x) => x !== 'keepalive')) {
      const s = get(p, t);
      if (!s || !Number.isFinite(s.median) || s.median === 0) { cells.push('n/a'); continue; }
      const digits = t === 'short' ? 3 : 2;
      cells.push(p === 'none' ? `${s.cpuPerUnit.toFixed(digits)} (base)` : `${s.extraCpuPerUnit >= 0 ? '+' : ''}${s.extraCpuPerUnit.toFixed(digits)}`);
    }
    return cells;
  });
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ') + ' |';
  return [line(head), '| ' + w.map((n, i) => (i === 0 ? '-'.repeat(n) : '-'.repeat(n - 1) + ':')).join(' | ') + ' |', ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------- main
const TOOLS: [string, string][] = [['nft', 'nftables'], ['haproxy', 'haproxy'], ['nginx', 'nginx'],
  ['iperf3', 'iperf3'], ['wrk', 'wrk'], ['sockperf', 'sockperf'], ['ss', 'iproute2']];

function have(cmd: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; }
}

function ensureTools(o: Opts): void {
  const missing = TOOLS.filter(([c]) => !have(c)).map(([, p]) => p);
  if (!existsSync('/usr/lib/nginx/modules/ngx_stream_module.so')) missing.push('libnginx-mod-stream');
  if (!missing.length) return;
  if (!o.install) throw new Error(`missing: ${missing.join(' ')} (apt-get install -y ${missing.join(' ')}, or drop --no-install)`);
  log(`installing ${missing.join(' ')} (apt-get) ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 300_000 });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 600_000 });
  // the Debian packages start system services; we only want the binaries
  for (const s of ['nginx', 'haproxy']) { try { execFileSync('systemctl', ['disable', '--now', s], { stdio: 'ignore', timeout: 20_000 }); } catch { /* no systemd */ } }
}

function machine(): Record<string, string | number> {
  const c = cpus();
  let kernel = '';
  try { kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(); } catch { /* */ }
  const ver = (cmd: string, args: string[], re: RegExp) => {
    let out = '';
    try { out = execFileSync('sh', ['-c', `${cmd} ${args.join(' ')} 2>&1; true`], { encoding: 'utf8', timeout: 10_000 }); } catch { /* */ }
    return re.exec(out)?.[1] ?? '?';
  };
  return {
    host: hostname(), cpu: `${c.length} x ${c[0]?.model ?? '?'}`, memGiB: Math.round(totalmem() / 2 ** 30), kernel, node: process.version,
    nft: ver('nft', ['--version'], /v([\d.]+)/), haproxy: ver('haproxy', ['-v'], /version ([\d.]+)/), nginx: ver('nginx', ['-v'], /nginx\/([\d.]+)/),
    iperf3: ver('iperf3', ['--version'], /iperf ([\d.]+)/), wrk: ver('wrk', ['-v'], /^wrk (\S+)/m), sockperf: ver('sockperf', ['--version'], /[Vv]ersion:?\s*(\d\S*)/),
  };
}

async function main(argv: string[]): Promise<number> {
  let o: Opts | 'help';
  try { o = parseOpts(argv); } catch (e: any) { process.stderr.write(`bench:e2e: ${e.message}\n${USAGE}\n`); return 2; }
  if (o === 'help') { process.stdout.write(USAGE + '\n'); return 0; }
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    process.stderr.write('bench:e2e: needs root on Linux: it creates network namespaces, veth links, a TUN device and nftables rules, ' +
      'and installs the peers with apt-get. Run it as root: sudo npm run bench:e2e\n');
    return 1;
  }
  if (!existsSync(WVS_DIRECTOR) || !existsSync(join(ROOT, 'wasm/release.wasm'))) {
    process.stderr.write(`bench:e2e: build first: npx asc assembly/index.ts --target release && npx tsc -p tsconfig.build.json (missing ${WVS_DIRECTOR} or wasm/release.wasm)\n`);
    return 1;
  }
  ensureTools(o);
  const onSig = (sig: NodeJS.Signals) => { log(`\n${sig}: cleaning up`); cleanup(); process.exit(130); };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  process.on('exit', cleanup);

  const started = new Date();
  tmp = mkdtempSync(join(tmpdir(), 'wvs-bench-'));
  chmodSync(tmp, 0o755); // nginx workers run as nobody
  const results: RunResult[] = [];
  const extras: Record<string, unknown> = {};
  const failures: string[] = [];
  const mach = machine();
  log(`machine: ${mach.cpu}, ${mach.memGiB} GiB, Linux ${mach.kernel}, node ${mach.node}; loadavg ${loadavg()}`);
  try {
    log(`topology ${P}-{cli,dir,rs1..3}, built afresh for each peer (no conntrack, TIME_WAIT or neighbour state carried over); ` +
      `servers: nginx :80 (/1k.html), iperf3 :5201, sockperf UDP sink :11111`);
    for (const name of o.peers) {
      const peer = PEER_MAKERS[name]();
      log(`== ${name} (target ${peer.target})`);
      try {
        buildTopology();
        await startServers();
        await peer.start();
        for (const test of o.tests) {
          if (test === 'udp' && peer.noUdp) { log(`   ${test}: n/a (${name} has no UDP)`); continue; }
          for (let r = 1; r <= o.runs; r++) {
            try {
              const res = await loadRun(test, peer, o, r);
              results.push(res);
              const u = UNIT[test];
              log(`   ${test.padEnd(9)} run ${r}: ${u.fmt(res.value * u.scale).padStart(9)} ${u.name}  cpu ${res.cpu.toFixed(2)} s (peer procs ${res.peerCpu.toFixed(2)} s) in ${res.seconds.toFixed(1)} s` +
                `${res.errors ? `  errors ${res.errors}` : ''}${res.note ? `  [${res.note}]` : ''}  loadavg before: ${res.loadavg}`);
            } catch (e: any) {
              failures.push(`${name} ${test} run ${r}: ${e.message}`);
              log(`   ${test} run ${r}: FAILED: ${e.message}`);
            }
            await sleep(1000); // let TIME_WAIT/FIN traffic settle a bit between runs
          }
        }
      } catch (e: any) {
        failures.push(`${name}: ${e.message}`);
        log(`   ${name}: FAILED: ${e.message}`);
      } finally {
        try { extras[name] = await peer.stop(); } catch (e: any) { failures.push(`${name} stop: ${e.message}`); }
        teardown();
      }
    }
  } finally {
    cleanup();
  }

  const sum = summarize(results, o.peers, o.tests);
  const tab = table(sum, o.peers, o.tests);
  const lines: string[] = [
    '',
    `wasmvs end-to-end comparison, ${started.toISOString()}; ${mach.cpu}, Linux ${mach.kernel}; ${o.runs} runs x ${o.duration} s, median; wrk -t1 -c${o.conns}`,
    tab,
    '(×nft) = ratio to nftables; "!" = errors in some run; CPU = machine busy seconds (/proc/stat, all cores) per unit, minus the no-balancer run\'s',
  ];
  const udp = sum.filter((s) => s.test === 'udp');
  if (udp.length) lines.push(`UDP sent by the client (kpps, median): ${udp.map((s) => `${s.peer} ${((s.offered ?? NaN) / 1e3).toFixed(0)}`).join(', ')}`);
  const own = sum.filter((s) => s.peer === 'haproxy' || s.peer === 'nginx' || s.peer.startsWith('wasmvs'));
  if (own.length) {
    lines.push('CPU of the balancer\'s own processes (utime+stime), median per unit:');
    for (const p of ['haproxy', 'nginx', 'wasmvs', 'wasmvs-offload', 'wasmvs-rw'] as PeerName[]) {
      const xs = own.filter((s) => s.peer === p && Number.isFinite(s.peerCpuPerUnit));
      if (xs.length) lines.push(`  ${p.padEnd(8)} ${xs.map((s) => `${s.peerCpuPerUnit.toFixed(s.test === 'short' ? 3 : 2)} ${UNIT[s.test].cpuUnit.replace('CPU ', '')}`).join(', ')}`);
    }
  }
  const g = (p: PeerName, t: TestName) => sum.find((s) => s.peer === p && s.test === t)?.median ?? NaN;
  // issue 17's goals, for wasmvs as `wasmvs run` starts it (offloads, one worker per CPU: the wasmvs-offload peer)
  const main = o.peers.includes('wasmvs-offload') ? 'wasmvs-offload' : o.peers.includes('wasmvs') ? 'wasmvs' : undefined;
  if (main) {
    const goal = (t: TestName, min: number, what: string) => {
      const r = g(main, t) / g('nftables', t);
      return `${what} >= ${min.toFixed(1)}x nftables: ${Number.isFinite(r) ? `${r.toFixed(2)}x ${r >= min ? 'met' : 'NOT met'}` : 'n/a'}`;
    };
    lines.push(`targets (${main}, workers ${(extras[main] as { workers?: number } | undefined)?.workers ?? '?'}): ` +
      `${goal('short', 1.2, 'short conn/s')}; ${goal('bulk', 1.0, 'TCP bulk')}; ${goal('udp', 0.9, 'small UDP')}`);
  }
  for (const name of ['wasmvs', 'wasmvs-offload', 'wasmvs-rw'] as const) {
    const wv = extras[name] as { counters?: Record<string, string>; table?: string } | undefined;
    if (wv?.counters) {
      const c = wv.counters;
      const nz = Object.entries(c).filter(([k, v]) => v !== '0' && (k.startsWith('drop') || k.startsWith('pass') || k.startsWith('conn') || k.startsWith('redirect') || k === 'rx' || k === 'tx' || k === 'gso_packets'));
      lines.push(`${name} counters at exit: ${nz.map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
        `frames dropped by the kernel at the TUN queue (director not reading fast enough): ${(wv as { tunTxDropped?: number }).tunTxDropped ?? '?'}; ` +
        `I/O: ${(wv as { io?: string }).io ?? '?'}`);
    }
  }
  if (failures.length) lines.push('failures:', ...failures.map((f) => `  ${f}`));
  process.stdout.write(lines.join('\n') + '\n');

  mkdirSync(dirname(o.json), { recursive: true });
  writeFileSync(o.json, JSON.stringify({ started: started.toISOString(), machine: mach, options: o, summary: sum.map(({ runs, ...s }) => s), runs: results, peers: extras, failures, table: tab }, null, 2) + '\n');
  log(`results: ${o.json}`);
  return failures.length ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => { cleanup(); process.exit(code); }, (e) => {
  cleanup();
  process.stderr.write(`bench:e2e: ${e?.stack ?? e}\n`);
  process.exit(1);
});
