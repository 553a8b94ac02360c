/* Replay of a capture whose packets the engine fragments (a UDP datagram without DF, too big for
 * an IPIP tunnel once encapsulated): the second fragment, sent by the engine besides the slot's
 * own frame (drain()), is in the output capture right behind the first, for any batch size. */
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { records } from '../../host/pcap/read.ts';
import { runReplay } from './helpers.ts';

const input = new Uint8Array(readFileSync(join(import.meta.dirname, '../golden/kernel/recorded/tun-frag/client-side.pcap')));
const rules = '-A -u 198.18.2.21:53 -s rr\n-a -u 198.18.2.21:53 -r 198.18.1.12:53 -i -w 1\n';

describe('replay: fragments of tunnelled packets', () => {
  test('F1 (1500-byte UDP, no DF) → 2 fragments, F2 (fits) → 1 packet, F3 (DF) → ICMP frag needed; same output at batch 1 and 256', async () => {
    const outs: Uint8Array[][] = [];
    for (const batch of [1, 256]) {
      const { summary, out } = await runReplay(input, rules, { batch });
      const frames = [...records([out])].map((r) => r.data);
      // raw IP out: IPIP (proto 4) frames and the ICMP error; then the local stack's RSTs to the
      // capture's TCP segments for VIP:80, a port these rules have no service for
      const shape = frames.map((f) => `${f[9]} ${(f[2] << 8) | f[3]} ${((f[6] << 8) | f[7]) & 0x3fff}`);
      expect(shape).toEqual(['4 1500 8192', '4 40 185', '4 1500 0', '1 576 0', '6 40 0', '6 40 0']);   // MF|0, offset 1480/8, whole, ICMP, RST, RST
      expect(summary.output.packets).toBe(6);
      expect(summary.engine.counters.frag_created).toBe(2);
      expect(summary.engine.counters.icmp_frag_needed).toBe(1);
      outs.push(frames);
    }
    expect(outs[0].map((f) => Buffer.from(f).toString('hex'))).toEqual(outs[1].map((f) => Buffer.from(f).toString('hex')));
  });
});

/* Replay of a capture of fragments arriving (the kernel oracle's nat-frag client side): the engine
 * reassembles them and the output holds each datagram as the fragments it came in, as the
 * kernel's dest side does; the same frames at any batch size. */
describe('replay: fragments arriving, reassembled and sent on', () => {
  const dir = join(import.meta.dirname, '../golden/kernel/recorded/nat-frag');
  const natRules = '-A -u 198.18.2.31:53 -s rr\n-a -u 198.18.2.31:53 -r 198.18.1.13:5353 -m -w 1\n' +
    '-A -u [2001:2::200]:53 -s rr\n-a -u [2001:2::200]:53 -r [2001:2:0:1::13]:5353 -m -w 1\n';
  const hexOf = (f: Uint8Array) => Buffer.from(f).toString('hex');
  // IPv6 fragment identifications are the sender's own choice (the kernel's are random)
  const masked = (f: Uint8Array) => { const q = f.slice(); if (q[0] >> 4 === 6 && q[6] === 44) q.fill(0, 44, 48); return hexOf(q); };
  test('42 frames, the kernel\'s, at batch 1 in its order; at batch 256 the same frames', async () => {
    const inp = new Uint8Array(readFileSync(join(dir, 'client-side.pcap')));
    const kernel = [...records([new Uint8Array(readFileSync(join(dir, 'dest-side.pcap')))])].map((r) => r.data.subarray(14))
      .filter((p) => (p[0] >> 4 === 4 ? p[19] === 13 && p[18] === 1 : p[39] === 0x13 && p[6] !== 58));
    expect(kernel.length).toBe(42);
    const runs: string[][] = [];
    for (const batch of [1, 256]) {
      const { summary, out } = await runReplay(inp, natRules, { batch });
      const frames = [...records([out])].map((r) => r.data);
      runs.push(frames.map(masked));
      expect(summary.engine.counters.reasm_ok).toBe(15);
      expect(summary.engine.counters.reasm_held).toBe(38);   // 58 fragments: 15 completed a datagram, 4 dropped (2 overlaps, 2 duplicates), 1 went on as it was
    }
    expect(runs[0]).toEqual(kernel.map(masked));
    expect([...runs[1]].sort()).toEqual([...runs[0]].sort());
  });
});
