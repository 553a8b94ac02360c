// DR (-g) end to end: the engine on a TAP on the real servers' LAN, real Linux real servers that
// hold the VIP on lo (arp_ignore=1, arp_announce=2, as the LVS-DR guides say) and answer the
// client directly. Root only; skipped with the reason otherwise. Lab: host/director/lab.ts.

import { describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { LAB_BRIDGE, LAB_VIP } from '../../host/director/lab.ts';
import { labSkipReason } from './env.ts';
import { linkSuite, nsRun } from './link-suite.ts';

const skip = labSkipReason();
if (skip) console.warn(`[test/e2e] DR tests skipped: ${skip}`);

describe.skipIf(skip !== null)('DR (-g) over a TAP: real servers answer the client directly', () => {
  const ctx = linkSuite('dr', 'e2e-dr');

  test('ARP for the VIP on the LAN is answered by the engine only (the real servers hold it on lo, arp_ignore=1)', async () => {
    const before = ctx.dir.engine.counters().neigh_advert_sent;
    // busybox arping from the router: 3 requests, one reply each, every reply with the engine's MAC
    const out = await nsRun(ctx.lab.ns.dir, 'busybox', 'arping', '-c', '3', '-w', '4', '-I', LAB_BRIDGE, LAB_VIP);
    const replies = [...out.matchAll(/reply from ([0-9.]+) \[([0-9a-fA-F:]+)\]/g)].map((m) => `${m[1]} ${m[2].toLowerCase()}`);
    expect(replies, out).toEqual(Array(3).fill(`${LAB_VIP} ${ctx.dir.link!.mac}`));
    expect(out).toMatch(/Received 3 response/);
    expect(ctx.dir.engine.counters().neigh_advert_sent - before).toBe(3n);
    // and the real servers really hold the VIP (on lo), so the DR frames are theirs to take
    for (const ns of ctx.lab.ns.rs) expect(execFileSync('ip', ['-n', ns, 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' })).toContain(`${LAB_VIP}/32`);
  }, 20_000);
});

describe.skipIf(skip !== null)('DR (-g) over a TAP with offloads (--offload): super-frames forwarded whole', () => {
  const ctx = linkSuite('dr', 'e2e-do', { offload: true });

  test('the 16 MiB upload went through the engine as super-packets (GSO), none refused', () => {
    const c = ctx.dir.engine.counters();
    expect(c.gso_packets).toBeGreaterThan(50n);
    expect(c.drop_bad_vnet_hdr).toBe(0n);
  });
});

describe.skipIf(skip !== null)('DR (-g) over a two-queue TAP with --workers 2 (docs/workers.md)', () => {
  // the same suite: ARP/ND answered and next hops resolved under the director's lock, the
  // neighbour table and its hold queue shared by both workers
  const ctx = linkSuite('dr', 'e2e-dw', { workers: 2, steering: false });   // the kernel's flow hash: the ring carries the misplaced frames (steering.e2e has the program)

  test('both workers carried frames; the ARP answers came from the one neighbour table', () => {
    const c = ctx.dir.engine.counters();
    expect(c.redirect_out).toBeGreaterThan(0n);
    expect(c.redirect_in).toBe(c.redirect_out);
    expect(c.neigh_advert_sent).toBeGreaterThan(0n);
  });
});
