// NAT through a TUN with offloads (the default of `wasmvs run` on a TUN): the kernel hands the
// engine TCP super-packets (up to 64 KiB, partial checksums behind a virtio-net header), the
// engine rewrites each whole, the kernel segments them where they leave. Real stacks in
// namespaces (host/director/lab.ts): if a rewritten super-packet or its partial checksum were
// wrong, the real servers' and the client's TCP would drop the segments and the transfers below
// would fail. And the same without offloads (`--no-offload`): 1500-byte frames, one at a time.
// Root only; skipped with the reason otherwise.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Director } from '../../host/director/director.ts';
import { Lab, LabClient, labRules } from '../../host/director/lab.ts';
import { labSkipReason } from './env.ts';

const skip = labSkipReason();
if (skip) console.warn(`[test/e2e] NAT with TUN offloads skipped: ${skip}`);

for (const offload of [true, false]) describe.skipIf(skip !== null)(offload ? 'NAT through a TUN with offloads (the default): TCP super-packets rewritten whole' : 'NAT through a TUN without offloads (--no-offload): 1500-byte frames', () => {
  let lab: Lab;
  let dir: Director;
  let client: LabClient;

  beforeAll(async () => {
    lab = await Lab.create({ tag: offload ? 'e2e-of' : 'e2e-no' });
    dir = await Director.start({ dev: `wv${offload ? 'o' : 'n'}${process.pid % 100000}`, netns: lab.ns.dir, rulesText: labRules(lab.rsAddrs), tickMs: 100, logLevel: 'warn', offload });
    lab.attachDirector(dir.devName);
    client = await lab.client();
  }, 60_000);

  afterAll(() => {
    client?.close();
    dir?.stop();
    lab?.destroy();
  });

  test('HTTP rr over 3 dests: 300 new connections -> exactly 100/100/100', async () => {
    const r = await client.call('http', { n: 300, port: 80, lports: Array.from({ length: 300 }, (_, i) => 24_000 + i) });
    expect(r.errors).toBe(0);
    expect(r.names).toEqual({ rs1: 100, rs2: 100, rs3: 100 });
  }, 60_000);

  test(`a 64 MiB upload and a 64 MiB download arrive intact (sha256)${offload ? ', carried as super-packets' : ', frame by frame'}`, async () => {
    const bytes = 64 << 20;
    const k0 = dir.engine.counters();
    const up = await client.call('upload', { port: 9, bytes });
    expect(up.n).toBe(bytes);
    expect(up.hash).toBe(up.expected);
    const down = await client.call('download', { port: 80, bytes });
    expect(down.n).toBe(bytes);
    expect(down.hash).toBe(down.expected);
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

  test('UDP (no offload asked for it) still goes through: 30 datagrams -> 10/10/10', async () => {
    const r = await client.call('udp', { port: 53, n: 30, basePort: 44000 });
    expect(r.errors).toBe(0);
    expect(r.names).toEqual({ rs1: 10, rs2: 10, rs3: 10 });
  }, 30_000);
});
