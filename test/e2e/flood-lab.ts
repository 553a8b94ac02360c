// A spoofed-SYN flood against the TUN director, reusable by any e2e file (not a test file
// itself): runFlood(options) builds a NAT lab (host/director/lab.ts), starts the director with
// the given service flags and sysctls, opens `established` connections that keep exchanging
// data, floods the VIP with hping3 from the client namespace while a second client opens new
// HTTP connections in a loop, then stops the flood, waits for the half-open conns to expire and
// reports what happened (RSS of this process, which runs the engine, sampled throughout; the
// control socket asked for the table once a second).
//
// What stays where: the spoofed sources are 198.19.<k>.1 (one per hping3 process, its source
// port counting up per packet, so each packet is a new conn), inside 198.18.0.0/15; the
// director namespace routes 198.19.0.0/16 to a blackhole, so the real servers' SYN-ACKs to them
// end there (as a spoofed address's would on the Internet). Nothing leaves the namespaces.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { Director } from '../../host/director/director.ts';
import { Lab, LabClient, LAB_VIP } from '../../host/director/lab.ts';
import { startControlServer, type ControlServer } from '../../host/control/server.ts';
import { admMain } from '../../host/control/adm-cli.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labSkipReason } from './env.ts';

export interface FloodOptions {
  tag?: string;
  /** flags of the flooded service beyond `-A -t VIP:80 -s rr` (e.g. ['--synproxy']) */
  serviceFlags?: string[];
  /** net.ipv4.vs.* set at start (names without the prefix) */
  sysctls?: Record<string, string>;
  /** the conn table's limit (--conn-max); small enough for the flood to fill it */
  connMax?: number;
  floodMs?: number;
  /** hping3 processes, each with its own spoofed source address */
  floodProcs?: number;
  /** hping3 -i u<N> (µs between packets per process); 0: --flood */
  floodIntervalUs?: number;
  /** established connections that keep exchanging data through the flood */
  established?: number;
  /** the half-open states' timeout (SYN_RECV 60 s, SYNACK 120 s in IPVS), shortened so the drain after the flood is seen in time */
  synRecvTimeoutMs?: number;
}

export interface FloodResult {
  established: { total: number; intact: number; exchanges: number; failures: string[] };
  legit: { tried: number; served: number; errors: number };
  /** `wasmvs adm -L -n` over the control socket once a second during the flood */
  control: { calls: number; ok: number; maxMs: number };
  flood: { sent: number; ms: number; pps: number; engineNewConnPps: number };
  /** this process (the engine's): before the flood, the most seen until the flood ended, at the end (after the drain's listings); fullMin/fullMax: while the table was full (3 s into the flood to its end) */
  rssMiB: { before: number; max: number; after: number; fullMin: number; fullMax: number };
  /** halfOpenAfter: SYN_RECV and SYNACK conns left after the drain */
  conns: { peak: number; limit: number; halfOpenAfter: number; after: number; drainMs: number; afterStates: Record<string, number> };
  /** engine counters that moved during the run */
  counters: Record<string, string>;
  /** the director's log lines */
  log: string[];
}

/** Why the flood lab cannot run here, or null. */
export function floodSkipReason(): string | null {
  const base = labSkipReason();
  if (base) return base;
  try { execFileSync('hping3', ['--version'], { stdio: 'ignore', timeout: 5_000 }); } catch { return 'hping3 is not installed (Debian package hping3; .ci/run installs it)'; }
  return null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const states = (cs: { state: string; caddr: string }[]) => {
  const o: Record<string, number> = {};
  for (const c of cs) { const k = `${c.caddr.startsWith('198.19.') ? 'spoofed' : 'client'} ${c.state}`; o[k] = (o[k] ?? 0) + 1; }
  return o;
};
const mib = () => Math.round(process.memoryUsage().rss / 1048576);

export async function runFlood(o: FloodOptions = {}): Promise<FloodResult> {
  const connMax = o.connMax ?? 16384;
  const floodMs = o.floodMs ?? 15_000;
  const nEst = o.established ?? 20;
  const log: string[] = [];
  const lab = await Lab.create({ tag: o.tag ?? 'flood' });
  let dir: Director | undefined;
  const clients: LabClient[] = [];
  const floods: ChildProcess[] = [];
  const rss: number[] = [];
  let srv: ControlServer | undefined;
  let ctlDir: string | undefined;
  let sampler: ReturnType<typeof setInterval> | undefined;
  try {
    const rs = lab.rsAddrs;
    const rules = [
      `-A -t ${LAB_VIP}:80 -s rr${o.serviceFlags?.length ? ' ' + o.serviceFlags.join(' ') : ''}`,
      ...rs.map((a) => `-a -t ${LAB_VIP}:80 -r ${a}:80 -m`),
      `-A -t ${LAB_VIP}:7 -s rr`,
      ...rs.map((a) => `-a -t ${LAB_VIP}:7 -r ${a}:7 -m`),
    ].join('\n') + '\n';
    dir = await Director.start({
      dev: `wvf${process.pid % 100000}`, netns: lab.ns.dir, rulesText: rules, tickMs: 100, logLevel: 'info', connMax,
      sysctls: Object.entries(o.sysctls ?? {}).map(([name, value]) => ({ name, value })), log: (l) => log.push(l),
    });
    lab.attachDirector(dir.devName);
    execFileSync('ip', ['-n', lab.ns.dir, 'route', 'add', 'blackhole', '198.19.0.0/16'], { timeout: 5_000 });
    // the real servers give up on a spoofed SYN after one SYN-ACK retransmission (3 s, not 63 s):
    // each retransmission renews the conn's timer, and the drain is to be seen within the test
    for (const ns of lab.ns.rs) execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv4.tcp_synack_retries=1'], { timeout: 5_000 });
    const e = dir.engine;
    ctlDir = mkdtempSync(join(tmpdir(), 'wvs-flood-'));
    const sock = join(ctlDir, 'wasmvs.sock');
    srv = await startControlServer(e, { path: sock });
    e.reserve({ conns: connMax });   // the table at its limit before the flood: memory does not move under it
    // both half-open states (SYN_RECV; SYNACK, where secure_tcp's table puts a server's SYN-ACK)
    for (const st of ['SYN_RECV', 'SYNACK']) e.setStateTimeout('TCP', st, o.synRecvTimeoutMs ?? 5_000);
    const est = await lab.client();
    const legit = await lab.client();
    clients.push(est, legit);
    const k0 = e.counters();

    // the established connections, one exchange each before the flood
    const failures: string[] = [];
    let exchanges = 0;
    const broken = new Set<number>();
    await Promise.all(Array.from({ length: nEst }, (_, i) => est.call('open', { sid: i, port: 7 })));
    const exchange = async (i: number, k: number) => {
      if (broken.has(i)) return;
      const text = `t${i}-${k}-${'x'.repeat(200)}`;
      try {
        const got: string = await est.call('send', { sid: i, text, timeoutMs: 8_000 });
        if (!got.endsWith(' ' + text)) { broken.add(i); failures.push(`conn ${i} exchange ${k}: answer ${got.slice(0, 60)}`); } else exchanges++;
      } catch (err) { broken.add(i); failures.push(`conn ${i} exchange ${k}: ${(err as Error).message}`); }
    };
    await Promise.all(Array.from({ length: nEst }, (_, i) => exchange(i, 0)));

    rss.push(mib());
    const rssBefore = rss[0];
    let t0 = Date.now();
    let peak = 0;
    const during: number[] = [];   // RSS while the table is full: from 3 s into the flood to its end
    let floodOn = false;
    sampler = setInterval(() => {
      const m = mib();
      rss.push(m);
      if (floodOn && Date.now() - t0 >= 3_000) during.push(m);
      peak = Math.max(peak, e.connCount());
    }, 250);

    // the flood
    const procs = o.floodProcs ?? 2;
    const iv = o.floodIntervalUs ?? 50;
    const sent: number[] = Array(procs).fill(0);
    const ended: Promise<void>[] = [];
    t0 = Date.now();
    floodOn = true;
    for (let p = 0; p < procs; p++) {
      // bounded however this process ends: timeout(1) stops it, -c caps its packets
      const cap = iv > 0 ? Math.ceil((floodMs / 1000) * (1e6 / iv) * 1.5) : 50_000_000;
      const args = ['netns', 'exec', lab.ns.cli, 'timeout', '-s', 'INT', '-k', '2', String(Math.ceil(floodMs / 1000) + 10),
        'hping3', '-S', '-p', '80', '-a', `198.19.${p + 1}.1`, '-q', '-c', String(cap), ...(iv > 0 ? ['-i', `u${iv}`] : ['--flood']), LAB_VIP];
      const c = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      floods.push(c);
      let out = '';
      c.stdout!.on('data', (d: Buffer) => { out += d; });
      c.stderr!.on('data', (d: Buffer) => { out += d; });
      ended.push(new Promise((res) => c.on('exit', () => {
        const m = /(\d+) packets transmitted/.exec(out);
        sent[p] = m ? Number(m[1]) : 0;
        res();
      })));
    }
    const created0 = e.counter('conn_created');
    // during the flood: new HTTP connections in a loop, the established ones exchanging every 250 ms
    let tried = 0, served = 0, errors = 0;
    const until = t0 + floodMs;
    const legitLoop = (async () => {
      while (Date.now() < until) {
        const r: { names: Record<string, number>; errors: number } = await legit.call('http', { n: 5, port: 80, timeoutMs: 5_000 });
        const ok = Object.values(r.names).reduce((a, b) => a + b, 0);
        tried += ok + r.errors; served += ok; errors += r.errors;
      }
    })();
    const estLoop = (async () => {
      for (let k = 1; Date.now() < until; k++) {
        await Promise.all(Array.from({ length: nEst }, (_, i) => exchange(i, k)));
        await sleep(250);
      }
    })();
    const control = { calls: 0, ok: 0, maxMs: 0 };
    const ctlLoop = (async () => {
      while (Date.now() < until) {
        const s0 = Date.now();
        const r = await admMain(['--socket', sock, '-L', '-n'], { stdin: async () => '' });
        const ms = Date.now() - s0;
        control.calls++;
        if (r.rc === 0 && r.stdout.includes(`TCP  ${LAB_VIP}:80 rr`)) control.ok++;
        control.maxMs = Math.max(control.maxMs, ms);
        await sleep(Math.max(0, 1000 - ms));
      }
    })();
    await Promise.all([legitLoop, estLoop, ctlLoop]);
    const floodEnd = Date.now();
    floodOn = false;
    const rssFloodMax = Math.max(...rss);
    const createdDuring = Number(e.counter('conn_created') - created0);
    for (const c of floods) c.kill('SIGINT');
    await Promise.race([Promise.all(ended), sleep(5_000)]);
    const floodMsReal = floodEnd - t0;

    // the established connections after the flood: one more exchange each
    await Promise.all(Array.from({ length: nEst }, (_, i) => exchange(i, 1_000_000)));
    // drain: every half-open conn expires (its shortened SYN_RECV timeout)
    const d0 = Date.now();
    // (polled cheaply: half-open conns count in their dest's ActiveConn, and on :80 nothing else
    // stays active after the flood; the full listing, which allocates, now and then and at the end)
    const active80 = () => e.services().filter((v) => v.port === 80).flatMap((v) => v.dests).reduce((a, d) => a + d.activeconns, 0);
    const halfOpen = () => e.conns().filter((c) => c.state === 'SYN_RECV' || c.state === 'SYNACK').length;
    let left = -1;
    for (let k = 1; Date.now() - d0 < (o.synRecvTimeoutMs ?? 5_000) + 8_000; k++) {
      if (active80() === 0 || k % 4 === 0) { left = halfOpen(); if (left === 0) break; }
      await sleep(500);
    }
    if (left !== 0) left = halfOpen();
    const drainMs = Date.now() - d0;
    clearInterval(sampler); sampler = undefined;
    rss.push(mib());
    const k1 = e.counters();
    const counters = Object.fromEntries(Object.entries(k1).filter(([k, v]) => v !== k0[k]).map(([k, v]) => [k, String(v - (k0[k] ?? 0n))]));
    const totalSent = sent.reduce((a, b) => a + b, 0);
    return {
      established: { total: nEst, intact: nEst - broken.size, exchanges, failures },
      legit: { tried, served, errors },
      control,
      flood: { sent: totalSent, ms: floodMsReal, pps: Math.round(totalSent / (floodMsReal / 1000)), engineNewConnPps: Math.round(createdDuring / (floodMsReal / 1000)) },
      rssMiB: { before: rssBefore, max: rssFloodMax, after: rss[rss.length - 1], fullMin: Math.min(...during), fullMax: Math.max(...during) },
      conns: { peak, limit: connMax, halfOpenAfter: left, after: e.connCount(), drainMs, afterStates: states(e.conns()) },
      counters,
      log,
    };
  } finally {
    if (sampler) clearInterval(sampler);
    for (const c of floods) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
    for (const c of clients) c.close();
    await srv?.close();
    if (ctlDir) rmSync(ctlDir, { recursive: true, force: true });
    dir?.stop();
    lab.destroy();
  }
}
