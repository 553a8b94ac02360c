/*
 * test/edge/run.ts - npm run test:edge: the edge examples in the real runtimes (issue 21).
 *
 * For workerd, Deno and Bun (the binaries of the npm packages in node_modules): lay out a user's
 * project in a temp dir (node_modules/wasmvs holding the package's edge module, release.wasm and
 * package.json, i.e. the "./edge" and "./release.wasm" exports; examples/edge/<runtime>/ copied
 * in unchanged, except that workerd's outbound network is widened from "public" to "local" so it
 * may reach the loopback upstreams), start the runtime on a loopback port, and for each scenario
 * send REQUESTS requests one after another, each from a varied client address in X-Client-Addr
 * (what a platform supplies as CF-Connecting-IP / X-Real-IP), quiescing one upstream (weight 0)
 * half-way and bringing it back at three quarters through the admin request. Every request is
 * proxied by the runtime with fetch() to one of five loopback upstream servers (node:http here).
 *
 * The Node engine (wasm/release.wasm via host/engine-node.ts) gets the same rules, written out
 * here, and for each request the datagram the balancer's contract describes (client:port ->
 * VIP:80 on a one-packet UDP service), and its DNAT target says which upstream the request must reach. Every runtime
 * choice (x-wasmvs-upstream), the upstream that really answered, and the client port the
 * runtime used must equal that. A runtime that does not start is a failure. The last line is
 *   edge: workerd, deno, bun: same choices as Node on N requests
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadEngine, repoRoot } from '../../host/engine-node.ts';
import { applyRules } from '../../host/replay/rules.ts';
import { fields, ip } from '../../host/packet-builder.ts';

const ROOT = repoRoot();
const UPSTREAMS = 5;
const QUIESCED = 2;
const ADMIN = 'edge-test-token';

interface Scenario { sched: string; schedFlags?: string; weights: number[] }
/**
 * mh with mh-fallback: a quiesced upstream's clients move to others. Plain sh: as in the kernel,
 * the quiesced dest keeps its buckets (as mh keeps its entries, built from last_weight), so its
 * clients get no server: the balancer answers 503, Node's engine a port unreachable.
 */
export const SCENARIOS: Scenario[] = [
  { sched: 'mh', schedFlags: 'mh-fallback', weights: [1, 2, 3, 2, 1] },
  { sched: 'sh', weights: [3, 1, 2, 1, 1] },
];

interface Runtime { name: string; dir: string; entry: string; argv: (port: number) => string[] }
/**
 * A runtime's binary from node_modules. bun's launcher is only put in place by its postinstall
 * (npm ci --ignore-scripts leaves a stub that exits): then the binary of its platform package.
 */
function bin(name: string): string {
  const shim = join(ROOT, 'node_modules', '.bin', name);
  if (name !== 'bun') return shim;
  const real = join(ROOT, 'node_modules', 'bun', 'bin', 'bun.exe');
  const platform = join(ROOT, 'node_modules', '@oven', `bun-${process.platform}-${process.arch === 'x64' ? 'x64' : process.arch}`, 'bin', 'bun');
  const isElf = (f: string) => {
    try { const b = Buffer.alloc(4), fd = openSync(f, 'r'); readSync(fd, b, 0, 4, 0); closeSync(fd); return b.toString('latin1') === '\x7fELF'; } catch { return false; }
  };
  return isElf(real) || !existsSync(platform) ? shim : platform;
}
export const RUNTIMES: Runtime[] = [
  { name: 'workerd', dir: 'workerd', entry: 'config.capnp', argv: (port) => [bin('workerd'), 'serve', 'config.capnp', '--socket-addr', `http=127.0.0.1:${port}`] },
  { name: 'deno', dir: 'deno', entry: 'main.js', argv: () => [bin('deno'), 'run', '--allow-net', '--allow-env', 'main.js'] },
  { name: 'bun', dir: 'bun', entry: 'server.js', argv: () => [bin('bun'), 'run', 'server.js'] },
];

/** Client i: three in four IPv4 (198.19.0.0/16), one in four IPv6 (2001:2:0:1::/64), spread by a fixed LCG. */
export function clientAddr(i: number): string {
  const h = (Math.imul(i + 1, 2654435761) >>> 0);
  if (i % 4 === 3) return `2001:2:0:1:${(h >>> 16).toString(16)}:${(h & 0xffff).toString(16)}::${(i & 0xff).toString(16)}`;
  return `198.19.${(h >>> 8) & 255}.${(h & 255) || 1}`;
}

/** The balancer's contract (host/edge/balancer.ts), spelled out independently: VIPs, dest addresses, port 80. */
function referenceRules(s: Scenario): string {
  const b = s.schedFlags ? ` -b ${s.schedFlags}` : '';
  const out = [`-A -u 198.18.0.1:80 -s ${s.sched}${b} -o`, `-A -u [2001:2::1]:80 -s ${s.sched}${b} -o`];
  s.weights.forEach((w, i) => {
    out.push(`-a -u 198.18.0.1:80 -r 198.18.1.${i + 1}:80 -m -w ${w}`);
    out.push(`-a -u [2001:2::1]:80 -r [2001:2::1:${i + 1}]:80 -m -w ${w}`);
  });
  return out.join('\n') + '\n';
}

/** The weight of the quiesced upstream before request i (of n): as set, 0 from n/2, back at 3n/4. */
function weightAt(s: Scenario, i: number, n: number): number {
  return i >= n / 2 && i < (3 * n) / 4 ? 0 : s.weights[QUIESCED];
}

/** What the Node engine chooses for requests 0..n-1 (upstream index, -1 for none). */
async function reference(s: Scenario, n: number): Promise<number[]> {
  const e = await loadEngine({ slots: 1, slotSize: 512, headroom: 128, connMax: 1 << 16 });
  applyRules(e, referenceRules(s));
  const picks: number[] = [];
  let w = s.weights[QUIESCED];
  for (let i = 0; i < n; i++) {
    if (weightAt(s, i, n) !== w) {
      w = weightAt(s, i, n);
      applyRules(e, `-e -u 198.18.0.1:80 -r 198.18.1.${QUIESCED + 1}:80 -m -w ${w}\n-e -u [2001:2::1]:80 -r [2001:2::1:${QUIESCED + 1}]:80 -m -w ${w}\n`);
    }
    const src = clientAddr(i), dst = src.includes(':') ? '2001:2::1' : '198.18.0.1';
    const sport = 1024 + i;
    const r = e.processFrame(ip(src, dst, { proto: 'udp', sport, dport: 80 }), 1000 + i);
    if (r.verdict !== 'XMIT') { picks.push(-1); continue; }
    const to = fields(r.data).dst;
    const m = /^(?:198\.18\.1\.|2001:2::1:)(\d+)$/.exec(to);
    if (!m) throw new Error(`reference: datagram ${i} went to ${to}, not a dest of the balancer`);
    picks.push(Number(m[1]) - 1);
  }
  return picks;
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', res));
  const { port } = s.address() as AddressInfo;
  await new Promise((res) => s.close(res));
  return port;
}

/** Five loopback upstreams answering "upstream <i> <path>". */
async function startUpstreams(): Promise<{ urls: string[]; servers: Server[] }> {
  const servers: Server[] = [], urls: string[] = [];
  for (let i = 0; i < UPSTREAMS; i++) {
    const srv = createServer((req, res) => { res.setHeader('content-type', 'text/plain'); res.end(`upstream ${i} ${req.url}`); });
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
    servers.push(srv);
    urls.push(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/`);
  }
  return { urls, servers };
}

/** A user's project: node_modules/wasmvs as npm installs the files the edge exports need, and the example. */
function project(rt: Runtime): string {
  const dir = mkdtempSync(join(tmpdir(), `wasmvs-edge-${rt.name}-${process.pid}-`));
  const pkg = join(dir, 'node_modules', 'wasmvs');
  mkdirSync(join(pkg, 'dist', 'edge'), { recursive: true });
  mkdirSync(join(pkg, 'wasm'), { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  copyFileSync(join(ROOT, 'dist', 'edge', 'wasmvs-edge.js'), join(pkg, 'dist', 'edge', 'wasmvs-edge.js'));
  copyFileSync(join(ROOT, 'wasm', 'release.wasm'), join(pkg, 'wasm', 'release.wasm'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'edge-test', private: true, type: 'module' }) + '\n');
  const src = join(ROOT, 'examples', 'edge', rt.dir);
  for (const f of readdirSync(src)) copyFileSync(join(src, f), join(dir, f));
  if (rt.name === 'workerd') {
    const f = join(dir, rt.entry), text = readFileSync(f, 'utf8');
    const widened = text.replace('allow = ["public"]', 'allow = ["public", "local"]');
    if (widened === text) throw new Error('examples/edge/workerd/config.capnp: no `allow = ["public"]` line to widen for loopback upstreams');
    writeFileSync(f, widened);
  }
  return dir;
}

const children = new Set<ChildProcess>();
function killAll(): void { for (const c of children) c.kill('SIGKILL'); }

async function start(rt: Runtime, dir: string, port: number, config: string): Promise<{ child: ChildProcess; log: () => string; ms: number }> {
  const t0 = performance.now();
  const [cmd, ...args] = rt.argv(port);
  const child = spawn(cmd, args, {
    cwd: dir, stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: dir, WASMVS_CONFIG: config, PORT: String(port), NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', DENO_DIR: join(dir, '.deno') },
  });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  let exited: string | undefined;
  child.on('exit', (code, sig) => { exited = `exited (${code ?? sig})`; children.delete(child); });
  child.on('error', (e) => { exited = `could not start: ${e.message}`; });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`${rt.name}: ${exited} before answering on 127.0.0.1:${port}:\n${out}`);
    try {
      await fetch(`http://127.0.0.1:${port}/_wasmvs/weight`, { signal: AbortSignal.timeout(1000) });
      return { child, log: () => out, ms: performance.now() - t0 };
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`${rt.name}: no answer on 127.0.0.1:${port} within 30 s:\n${out}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

export interface RuntimeResult { name: string; requests: number; startMs: number[]; reqPerSec: number; perUpstream: number[]; unavailable: number }

/** One runtime through every scenario; throws on the first difference. */
async function runRuntime(rt: Runtime, urls: string[], n: number, log: (s: string) => void): Promise<RuntimeResult> {
  const dir = project(rt);
  const result: RuntimeResult = { name: rt.name, requests: 0, startMs: [], reqPerSec: 0, perUpstream: Array(UPSTREAMS).fill(0), unavailable: 0 };
  let busyMs = 0;
  try {
    for (const s of SCENARIOS) {
      const config = JSON.stringify({ sched: s.sched, schedFlags: s.schedFlags, clientHeader: 'x-client-addr', adminToken: ADMIN,
        upstreams: urls.map((url, i) => ({ url, weight: s.weights[i] })) });
      const want = await reference(s, n);
      const label = `${rt.name} ${s.sched}${s.schedFlags ? ' ' + s.schedFlags : ''}`;
      // the comparison is not trivial: several upstreams chosen, none for the quiesced one while at 0
      const used = new Set(want);
      const none = want.flatMap((x, i) => (x === -1 ? [i] : []));
      // no server only for clients of the quiesced upstream while at 0, and only without a fallback
      const noneOk = s.schedFlags ? none.length === 0 : none.length > 0 && none.every((i) => weightAt(s, i, n) === 0);
      if (used.size < 4 || !noneOk) throw new Error(`${label}: the reference uses upstreams ${[...used]}, none for requests ${none}: scenario too weak`);
      if (!want.slice(0, n / 2).includes(QUIESCED) || want.slice(n / 2, (3 * n) / 4).includes(QUIESCED) || !want.slice((3 * n) / 4).includes(QUIESCED)) {
        throw new Error(`${label}: the reference does not show upstream ${QUIESCED} quiesced and back`);
      }
      const port = await freePort();
      const { child, log: out, ms } = await start(rt, dir, port, config);
      result.startMs.push(Math.round(ms));
      try {
        const base = `http://127.0.0.1:${port}`;
        // bad input: a clear answer, not a crash
        const bad = await fetch(`${base}/x`, { headers: { 'x-client-addr': 'not-an-address' } });
        const badText = await bad.text();
        if (bad.status !== 400 || !badText.includes('client address')) throw new Error(`${label}: bad client address answered ${bad.status} ${badText}`);
        let w = s.weights[QUIESCED];
        const t0 = performance.now();
        for (let i = 0; i < n; i++) {
          if (weightAt(s, i, n) !== w) {
            w = weightAt(s, i, n);
            const r = await fetch(`${base}/_wasmvs/weight?upstream=${QUIESCED}&weight=${w}`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN}` } });
            const body = await r.text();
            if (r.status !== 200) throw new Error(`${label}: weight change answered ${r.status} ${body}`);
          }
          const client = clientAddr(i);
          const r = await fetch(`${base}/req/${i}?q=${i}`, { headers: { 'x-client-addr': client } });
          const body = await r.text();
          const got = Number(r.headers.get('x-wasmvs-upstream') ?? -1);
          const ok = want[i] === -1
            ? r.status === 503 && got === -1 && body.startsWith('wasmvs: no upstream available')
            : r.status === 200 && got === want[i] && body === `upstream ${want[i]} /req/${i}?q=${i}` && r.headers.get('x-wasmvs-client') === `${client}:${1024 + i}`;
          if (!ok) {
            throw new Error(`${label}: request ${i} from ${client}: Node chose upstream ${want[i]}, ${rt.name} answered ${r.status} ` +
              `x-wasmvs-upstream ${got} x-wasmvs-client ${r.headers.get('x-wasmvs-client')} body "${body}"\n${out()}`);
          }
          if (got >= 0) result.perUpstream[got]++; else result.unavailable++;
        }
        busyMs += performance.now() - t0;
        result.requests += n;
        log(`edge: ${label}: ${n} requests, every choice as Node's (started in ${Math.round(ms)} ms)`);
      } finally {
        await stop(child);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  result.reqPerSec = Math.round(result.requests / (busyMs / 1000));
  return result;
}

/** Every runtime, every scenario, `n` requests each (n divisible by 4). */
export async function runEdge(n = 600, log: (s: string) => void = console.log): Promise<{ total: number; results: RuntimeResult[]; line: string }> {
  const { urls, servers } = await startUpstreams();
  const results: RuntimeResult[] = [];
  try {
    for (const rt of RUNTIMES) {
      const r = await runRuntime(rt, urls, n, log);
      log(`edge: ${rt.name}: ${r.requests} requests, ${r.reqPerSec} requests/s (one at a time, proxied), per upstream ${r.perUpstream.join('/')}, 503 (no server) ${r.unavailable}`);
      results.push(r);
    }
  } finally {
    killAll();
    for (const s of servers) s.close();
  }
  const total = results.reduce((a, r) => a + r.requests, 0);
  const line = `edge: ${RUNTIMES.map((r) => r.name).join(', ')}: same choices as Node on ${total} requests`;
  log(line);
  return { total, results, line };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => { killAll(); process.exit(130); });
  process.on('exit', killAll);
  const watchdog = setTimeout(() => { console.error('edge: over 5 minutes, giving up'); killAll(); process.exit(1); }, 300_000);
  watchdog.unref();
  runEdge().then(() => process.exit(0), (e) => { console.error(`edge: FAILED: ${e instanceof Error ? e.message : e}`); killAll(); process.exit(1); });
}
