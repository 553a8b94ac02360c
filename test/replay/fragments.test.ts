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
