/* test/replay/helpers.ts - run the replay core over bytes in memory, collecting the output pcap. */
import { engineModule } from '../../host/engine-node.ts';
import { replay, type ReplayOptions, type ReplaySummary } from '../../host/replay/replay.ts';

export function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < bytes.length; o += size) out.push(bytes.subarray(o, o + size));
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export async function runReplay(input: Uint8Array | Uint8Array[], rules: string, opts: Partial<ReplayOptions> = {}): Promise<{ summary: ReplaySummary; out: Uint8Array }> {
  const parts: Uint8Array[] = [];
  const summary = await replay(Array.isArray(input) ? input : [input], {
    wasm: engineModule(), rules, output: (c) => { parts.push(c.slice()); }, ...opts,
  });
  return { summary, out: concat(parts) };
}
