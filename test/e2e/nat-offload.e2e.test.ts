// NAT through a TUN with offloads (the default of `wasmvs run` on a TUN): the kernel hands the
// engine TCP super-packets (up to 64 KiB, partial checksums behind a virtio-net header), the
// engine rewrites each whole, the kernel segments them where they leave. Real stacks in
// namespaces (host/director/lab.ts): if a rewritten super-packet or its partial checksum were
// wrong, the real servers' and the client's TCP would drop the segments and the transfers below
// would fail. UDP_SEGMENT bursts cross as UDP super-packets (TUN_F_USO4, 6.2+) and are counted
// per datagram. And the same without offloads (`--no-offload`): 1500-byte frames, one at a time.
// Root only; skipped with the reason otherwise.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Director } from '../../host/director/director.ts';
import { startLabDirector, stopLabDirector, transferIntact } from './lab-director.ts';
import { Lab, LabClient, labRules } from '../../host/director/lab.ts';
import { labSkipReason } from './env.ts';
import { SVC_F_ONEPACKET } from '../../host/types.ts';

const skip = labSkipReason();
if (skip) console.warn(`[test/e2e] NAT with TUN offloads skipped: ${skip}`);

for (const offload of [true, false]) describe.skipIf(skip !== null)(offload ? 'NAT through a TUN with offloads (the default): TCP super-packets rewritten whole' : 'NAT through a TUN without offloads (--no-offload): 1500-byte frames', () => {
  let lab: Lab;
  let dir: Director;
  let client: LabClient;
  const dirLogs: string[] = [];

  beforeAll(async () => {
    ({ lab, dir, client } = await startLabDirector({ tag: offload ? 'e2e-of' : 'e2e-no' }, (l) => ({
      dev: `wv${offload ? 'o' : 'n'}${process.pid % 100000}`, netns: l.ns.dir, rulesText: labRules(l.rsAddrs), tickMs: 100, logLevel: 'info',
      log: (m) => dirLogs.push(m), offload })));
  }, 60_000);
  afterAll(() => stopLabDirector({ lab, dir, client }));

  test('HTTP rr over 3 dests: 300 new connections -> exactly 100/100/100', async () => {
    const r = await client.call('http', { n: 300, port: 80, lports: Array.from({ length: 300 }, (_, i) => 24_000 + i) });
    expect(r.errors).toBe(0);
    expect(r.names).toEqual({ rs1: 100, rs2: 100, rs3: 100 });
  }, 60_000);

  test(`a 64 MiB upload and a 64 MiB download arrive intact (sha256)${offload ? ', carried as super-packets' : ', frame by frame'}`, async () => {
    const bytes = 64 << 20;
    const k0 = dir.engine.counters();
    const { up, down } = await transferIntact(client, bytes);
    const k1 = dir.engine.counters();
    const gso = k1.gso_packets - k0.gso_packets;
    console.info(`[e2e ${offload ? 'offload' : 'no offload'}] 64 MiB upload ${up.ms} ms (${(bytes / 1048576 / (up.ms / 1000)).toFixed(0)} MiB/s), download ${down.ms} ms ` +
      `(${(bytes / 1048576 / (down.ms / 1000)).toFixed(0)} MiB/s); ${gso} super-packets, ${dir.stats.rxFrames} frames read in all`);
    // 128 MiB in 1448-byte segments is ~92,700 frames; super-packets carry most of it
    expect(k1.drop_bad_vnet_hdr).toBe(0n);
    if (offload) {
      expect(gso).toBeGreaterThan(100n);
      expect(dir.stats.rxFrames).toBeLessThan(92_700);
    } else {
      expect(gso).toBe(0n);
      expect(dir.stats.rxFrames).toBeGreaterThan(92_700);
    }
  }, 90_000);

  test(`UDP_SEGMENT bursts: 3 senders x 4 bursts x 10 datagrams arrive intact, each counted once${offload ? ', carried as super-packets' : ''}`, async () => {
    // python3's socket module sets UDP_SEGMENT (SOL_UDP 17, option 103); each burst is one
    // sendto of 10 x 1000 bytes, cut into datagrams by whoever cannot carry it whole. The echo
    // servers answer every datagram ("rsN " + it, as text: the payload is ASCII); the client checks
    // each answer against what it sent.
    const py = String.raw`
import socket, sys, json
out = {'ok': 0, 'bad': 0, 'names': {}}
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
for i, s in enumerate(socks):
    s.bind(('0.0.0.0', 45000 + i)); s.settimeout(3); s.setsockopt(17, 103, 1000)
sent = {}
for b in range(4):
    for i, s in enumerate(socks):
        dg = [(('uso %d %d %d ' % (i, b, k)).encode() + bytes(97 + (j * 7 + k) % 26 for j in range(1000)))[:1000] for k in range(10)]
        for d in dg: sent[d[:16]] = d
        s.sendto(b''.join(dg), (sys.argv[1], 53))
for s in socks:
    for _ in range(40):
        try: m = s.recv(4096)
        except socket.timeout: break
        name, _, d = m.partition(b' ')
        if sent.get(d[:16]) == d: out['ok'] += 1; out['names'][name.decode()] = out['names'].get(name.decode(), 0) + 1
        else: out['bad'] += 1
print(json.dumps(out))`;
    const svc = () => dir.engine.services().find((s) => s.proto === 'UDP' && s.port === 53)!.stats;
    const s0 = svc(), k0 = dir.engine.counters();
    // asynchronously: the director runs on this event loop
    const r = JSON.parse((await promisify(execFile)('ip', ['netns', 'exec', lab.ns.cli, 'python3', '-c', py, lab.vip], { encoding: 'utf8', timeout: 20_000 })).stdout);
    const s1 = svc(), k1 = dir.engine.counters();
    expect(r).toMatchObject({ ok: 120, bad: 0 });
    expect(Object.values(r.names).sort()).toEqual([40, 40, 40]);       // one conn per sender, rr over the 3 dests
    // IPVS counts datagrams (a kernel director sees each one): 120 in, 120 echoed out
    expect(s1.inpkts - s0.inpkts).toBe(120n);
    expect(s1.inbytes - s0.inbytes).toBe(120n * 1028n);
    expect(s1.outpkts - s0.outpkts).toBe(120n);
    expect(k1.drop_bad_vnet_hdr).toBe(0n);
    const gso = k1.gso_packets - k0.gso_packets;
    console.info(`[e2e ${offload ? 'offload' : 'no offload'}] 12 UDP_SEGMENT bursts of 10 datagrams: ${gso} super-packets in`);
    if (offload) expect(gso).toBeGreaterThanOrEqual(12n);
    else expect(gso).toBe(0n);
  }, 30_000);

  test.runIf(offload)('a one-packet (-o) UDP service turns UDP segmentation offload off: each datagram of a burst scheduled on its own', async () => {
    const logs = dirLogs;
    const key = { proto: 'UDP' as const, addr: lab.vip, port: 54 };
    dir.engine.addService({ ...key, sched: 'rr', flags: SVC_F_ONEPACKET });
    for (const a of lab.rsAddrs) dir.engine.addDest(key, { addr: a, port: 53, fwd: 'Masq' });
    try {
      dir.syncRoutes();
      const py = String.raw`
import socket, sys, json
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); s.setsockopt(17, 103, 100)
s.sendto(b''.join(b'one %02d '.ljust(100, b'.') % k for k in range(9)), (sys.argv[1], 54))
names = {}
for _ in range(9):
    try: m = s.recv(4096)
    except socket.timeout: break
    n = m.split(b' ')[0].decode(); names[n] = names.get(n, 0) + 1
print(json.dumps(names))`;
      const k0 = dir.engine.counters();
      const r = JSON.parse((await promisify(execFile)('ip', ['netns', 'exec', lab.ns.cli, 'python3', '-c', py, lab.vip], { encoding: 'utf8', timeout: 20_000 })).stdout);
      // as the kernel's IPVS: nine datagrams, nine schedulings, rr 3/3/3 (one super-packet would have gone to one server)
      expect(r).toEqual({ rs1: 3, rs2: 3, rs3: 3 });
      expect(dir.engine.counters().gso_packets - k0.gso_packets).toBe(0n);
      expect(logs.some((l) => /UDP segmentation offload off while a one-packet \(-o\) UDP service exists/.test(l))).toBe(true);
    } finally {
      dir.engine.delService(key);
      dir.syncRoutes();
    }
    expect(logs.some((l) => /UDP segmentation offload back on/.test(l))).toBe(true);
  }, 30_000);

  test('UDP (no offload asked for it) still goes through: 30 datagrams -> 10/10/10', async () => {
    const r = await client.call('udp', { port: 53, n: 30, basePort: 44000 });
    expect(r.errors).toBe(0);
    expect(r.names).toEqual({ rs1: 10, rs2: 10, rs3: 10 });
  }, 30_000);
});
