// `--workers 2` (docs/workers.md): the director as two worker threads, one queue of a
// multi-queue TUN each, on one engine memory, between real Linux TCP/IP stacks in namespaces
// (host/director/lab.ts). The kernel spreads flows over the queues by its own hash (no steering
// program here: steering: false; test/e2e/steering.e2e.test.ts has it), so replies and new flows land on the worker that does not own them: the
// redirect ring must carry them, and the director must still act as one (rr/wrr sequences, one
// conn listing, summed counters, adm changes under traffic). Root only; skipped with the reason otherwise.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { records } from '../../host/pcap/read.ts';
import { findL3 } from '../../host/pcap/link.ts';
import { execFileSync } from 'node:child_process';
import * as tun from '../../host/native/tun.ts';
import { tunAvailable } from '../../host/native/tun.ts';
import { Director } from '../../host/director/director.ts';
import { startLabDirector, stopLabDirector, transferIntact } from './lab-director.ts';
import { Lab, LabClient, labRules, LAB_VIP } from '../../host/director/lab.ts';

function skipReason(): string | null {
  if (process.platform !== 'linux') return 'Linux only (network namespaces, TUN)';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TUN: CAP_SYS_ADMIN, CAP_NET_ADMIN)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  try { execFileSync('ip', ['-V'], { stdio: 'ignore', timeout: 5_000 }); } catch { return 'iproute2 (`ip`) is not installed'; }
  if (!tunAvailable()) return 'TUN addon not built: npx node-gyp rebuild';
  if (!existsSync(new URL('../../dist/host/director/worker-main.js', import.meta.url))) return 'dist/ not built: npm run build';
  return null;
}
const skip = skipReason();
if (skip) console.warn(`[test/e2e] director --workers tests skipped: ${skip}`);

describe.skipIf(skip !== null)('director --workers 2 through a multi-queue TUN', () => {
  let lab: Lab;
  let dir: Director;
  let client: LabClient;
  const logs: string[] = [];
  const fatal: Error[] = [];

  async function httpRun(port: number, n: number, lportBase: number) {
    const lports = Array.from({ length: n }, (_, i) => lportBase + i);
    return client.call('http', { n, port, lports });
  }

  beforeAll(async () => {
    ({ lab, dir, client } = await startLabDirector({ tag: 'wk' }, (l) => ({
      dev: `wvk${process.pid % 100000}`, netns: l.ns.dir, rulesText: labRules(l.rsAddrs), tickMs: 100, logLevel: 'info',
      workers: 2, steering: false, log: (m) => logs.push(m), onFatal: (e) => fatal.push(e),
    })));
  }, 60_000);
  afterAll(() => stopLabDirector({ lab, dir, client }));

  test('two queues, two workers started and logged', () => {
    expect(logs.filter((l) => /worker \d started: queue \d of /.test(l))).toHaveLength(2);
    expect(logs.some((l) => /2 queues, fds \d+,\d+/.test(l))).toBe(true);
    // how the batches reach the kernel is on the device line; io_uring wherever the kernel allows it
    const ioLine = logs.find((l) => /I\/O: /.test(l));
    expect(ioLine).toMatch(tun.setIo('auto') === 'uring' ? /I\/O: io_uring, one io_uring_enter per batch/ : /I\/O: read\(\)\/write\(\) per frame \(/);
    expect(execFileSync('ip', ['-n', lab.ns.dir, '-d', 'link', 'show', 'dev', dir.devName], { encoding: 'utf8' })).toMatch(/multi_queue/);
  });

  test('HTTP rr: 300 new TCP connections -> exactly 100/100/100; the listing has them all; counters add up', async () => {
    const r = await httpRun(80, 300, 20_000);
    expect(r.errors).toBe(0);
    expect(r.names).toEqual({ rs1: 100, rs2: 100, rs3: 100 });
    // one snapshot: the table and the listing read with the workers parked together (the last
    // ACKs and FINs may still be on their way between two separate reads)
    const [svcs, all] = dir.engine.withWorkersParked(() => [dir.engine.services(), dir.engine.conns()] as const);
    const svc = svcs.find((s) => s.port === 80)!;
    for (const d of svc.dests) expect(d.stats.conns).toBe(100n);
    expect(svc.stats.conns).toBe(300n);
    const conns = all.filter((c) => c.vport === 80 && c.proto === 'TCP');
    expect(conns).toHaveLength(300);
    const c = dir.engine.counters();
    expect(c.conn_created).toBeGreaterThanOrEqual(300n);
    // without a steering program the kernel's queue choice is not the owner's for about half the
    // frames: the redirect ring carried them, none was dropped for a full ring
    expect(c.redirect_out).toBeGreaterThan(0n);
    expect(c.redirect_in).toBe(c.redirect_out);
    expect(c.drop_redirect_ring_full ?? 0n).toBe(0n);
    // every packet counted once: svc in/out packets equal the per-conn sums
    const inp = conns.reduce((a, x) => a + x.inpkts, 0), outp = conns.reduce((a, x) => a + x.outpkts, 0);
    expect(svc.stats.inpkts).toBe(BigInt(inp));
    expect(svc.stats.outpkts).toBe(BigInt(outp));
  }, 60_000);

  test('HTTP wrr 3,2,1 -> exactly 150/100/50', async () => {
    const r = await httpRun(81, 300, 20_300);
    expect(r.errors).toBe(0);
    expect(r.names).toEqual({ rs1: 150, rs2: 100, rs3: 50 });
  }, 60_000);

  test('UDP request/response: 30 flows, rr 10/10/10', async () => {
    const r = await client.call('udp', { port: 53, n: 30, basePort: 42000 });
    expect(r.errors).toBe(0);
    expect(r.names).toEqual({ rs1: 10, rs2: 10, rs3: 10 });
    // the worker threads' own batches went through io_uring (each thread has its ring): their
    // io_uring_enter calls reach the director's stats with the next tick (tickMs 100)
    if (tun.setIo('auto') === 'uring') {
      const t0 = Date.now();
      while (dir.stats.ioEnters === 0 && Date.now() - t0 < 2_000) await new Promise((res) => setTimeout(res, 50));
      expect(dir.stats.ioEnters).toBeGreaterThan(0);
    }
  }, 30_000);

  test('persistence (-p): 60 connections from as many client ports, landing on both workers, all to one real server', async () => {
    const key = { proto: 'TCP' as const, addr: LAB_VIP, port: 82 };
    dir.engine.addService({ ...key, sched: 'rr', persistent: 300 });
    for (const a of lab.rsAddrs) dir.engine.addDest(key, { addr: a, port: 80, fwd: 'Masq' });
    const out0 = dir.engine.counter('redirect_out');
    const r = await httpRun(82, 60, 23_000);
    expect(r.errors).toBe(0);
    expect(Object.values(r.names)).toEqual([60]);
    // one template for the client, whatever worker made each conn
    const TEMPLATE = Number(dir.engine.ex.CONN_F_TEMPLATE.value);
    const mine = dir.engine.conns().filter((c) => c.vport === 82);
    expect(mine.filter((c) => c.flags & TEMPLATE)).toHaveLength(1);
    expect(mine.filter((c) => !(c.flags & TEMPLATE))).toHaveLength(60);
    expect(dir.engine.counter('redirect_out')).toBeGreaterThan(out0);
    dir.engine.delService(key);
  }, 60_000);

  test('5,000 UDP flows: every one answered and listed; the conn table grows on the workers\' requests, workers parked', async () => {
    const cap0 = dir.engine.capacity('conn');
    const r = await client.call('udp', { n: 5000, port: 53, basePort: 30000 });
    expect(r.errors).toBe(0);
    expect(Object.values(r.names as Record<string, number>).sort()).toEqual([1666, 1667, 1667]);
    expect(dir.engine.conns().filter((c) => c.proto === 'UDP' && c.vport === 53 && c.cport >= 30000 && c.cport < 35000)).toHaveLength(5000);
    expect(dir.engine.capacity('conn')).toBeGreaterThan(cap0);
    expect(dir.engine.counter('drop_conn_table_full')).toBe(0n);
  }, 60_000);

  test('a 64 MiB upload and a 64 MiB download arrive intact (sha256)', async () => {
    const bytes = 64 << 20;
    const { up, down } = await transferIntact(client, bytes);
    console.info(`[e2e workers 2] 64 MiB upload ${up.ms} ms, download ${down.ms} ms`);
  }, 90_000);

  test('adm changes under traffic: weight 0 on one dest mid-run, no error, no new conn to it after the change', async () => {
    const key = { proto: 'TCP' as const, addr: LAB_VIP, port: 80 };
    const run = httpRun(80, 200, 21_000);
    await new Promise((r) => setTimeout(r, 50));
    dir.engine.editDest(key, { addr: lab.rsAddrs[0]!, port: 80, weight: 0 });
    const before = dir.engine.services().find((s) => s.port === 80)!.dests.find((d) => d.addr === lab.rsAddrs[0])!.stats.conns;
    const r = await run;
    expect(r.errors).toBe(0);
    const after = dir.engine.services().find((s) => s.port === 80)!.dests.find((d) => d.addr === lab.rsAddrs[0])!.stats.conns;
    expect(after).toBe(before);
    dir.engine.editDest(key, { addr: lab.rsAddrs[0]!, port: 80, weight: 1 });
  }, 60_000);

  test('fuzzed frames written into the TUN (the kernel spreads them over both queues): corpus packets and mutations, no crash, each counted, traffic still flows', async () => {
    // the IP packets of 60 tcpdump test captures (../shared/corpus/, when present: every protocol and
    // malformation tcpdump knows) and 400 mutations of a SYN to the VIP (flipped bits, cut lengths,
    // other protocols, noise), sent into the device from the director namespace with a packet socket
    const frames: Uint8Array[] = [];
    const corpus = fileURLToPath(new URL('../../../shared/corpus/tcpdump-tests/', import.meta.url));
    if (existsSync(corpus)) {
      for (const f of readdirSync(corpus).filter((n) => /\.pcap(ng)?$/.test(n)).sort().slice(0, 60)) {
        try {
          for (const rec of records([new Uint8Array(readFileSync(join(corpus, f)))])) {
            const l3 = findL3(rec.linkType, rec.data);
            if (typeof l3 !== 'string' && rec.data.length - l3.l3Offset <= 1500) frames.push(rec.data.subarray(l3.l3Offset));
            if (frames.length >= 600) break;
          }
        } catch { /* a capture the reader refuses: skip it */ }
      }
    }
    const file = join(mkdtempSync(join(tmpdir(), 'wvs-fuzz-')), 'frames.bin');
    writeFileSync(file, Buffer.concat(frames.map((f) => { const h = Buffer.alloc(2); h.writeUInt16BE(f.length); return Buffer.concat([h, Buffer.from(f)]); })));
    const script = `
import socket, random, struct, sys
random.seed(17)
dev, path = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
def csum(b):
    if len(b) % 2: b += b'\\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b)); t = (t >> 16) + (t & 0xffff); t += t >> 16
    return (~t) & 0xffff
def syn(sport):
    ip = bytearray(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 40, 1, 0, 64, 6, 0, socket.inet_aton('198.18.0.2'), socket.inet_aton('${LAB_VIP}')))
    ip[10:12] = struct.pack('!H', csum(bytes(ip)))
    return ip + bytearray(struct.pack('!HHIIBBHHH', sport, 80, 1, 0, 0x50, 2, 64240, 0, 0))
out = []
data = open(path, 'rb').read()
i = 0
while i + 2 <= len(data):
    n = struct.unpack('!H', data[i:i+2])[0]; out.append(bytes(data[i+2:i+2+n])); i += 2 + n
for i in range(400):
    f = syn(30000 + i)
    k = i % 4
    if k == 0: f[random.randrange(len(f))] ^= 1 << random.randrange(8)
    elif k == 1: f = f[:random.randrange(1, len(f))]
    elif k == 2: f[9] = random.choice([0, 1, 17, 47, 50, 58, 132, 255])
    else: f = bytearray(random.getrandbits(8) for _ in range(random.randrange(1, 120)))
    out.append(bytes(f))
n = 0
for f in out:
    try:
        s.sendto(f, (dev, 0x86dd if f and f[0] >> 4 == 6 else 0x0800)); n += 1
    except OSError:
        pass
print(n)
`;
    const rx0 = dir.engine.counter('rx');
    const sent = Number(execFileSync('ip', ['netns', 'exec', lab.ns.dir, 'python3', '-c', script, dir.devName, file], { encoding: 'utf8', timeout: 20_000 }).trim());
    expect(sent).toBeGreaterThan(300);
    const until = Date.now() + 3000;
    while (dir.engine.counter('rx') - rx0 < BigInt(sent) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(dir.engine.counter('rx') - rx0).toBeGreaterThanOrEqual(BigInt(sent));
    console.info(`[e2e workers 2] fuzz: ${frames.length} corpus packets + 400 mutations, ${sent} sent into the TUN`);
    // the director is alive and forwards
    const r = await httpRun(80, 30, 22_000);
    expect(r.errors).toBe(0);
  }, 60_000);

  test('a worker thread that dies is logged and ends the director (onFatal), never left running with fewer', async () => {
    expect(fatal).toEqual([]);
    const threads = (dir as unknown as { threads: import('node:worker_threads').Worker[] }).threads;
    await threads[1]!.terminate();
    const until = Date.now() + 3000;
    while (!fatal.length && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(fatal.map((e) => e.message)).toEqual(['worker 1 crashed: exited with code 1']);
    expect(logs.some((l) => /worker 1 crashed: [\s\S]*the director stops \(it never runs on with fewer workers\)/.test(l))).toBe(true);
  }, 10_000);
});

