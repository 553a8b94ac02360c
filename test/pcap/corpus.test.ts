// Reads every capture of tcpdump's test suite (many deliberately malformed) through the
// streaming reader and link.ts. Each file must finish with counters or end in a PcapError:
// never another exception, never a hang. Node APIs are fine here (test side only).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { PcapError } from '../../host/pcap/errors.ts';
import { findL3 } from '../../host/pcap/link.ts';
import { PcapReader, type PcapReaderOptions, type PcapRecord } from '../../host/pcap/read.ts';

const repo = resolve(fileURLToPath(import.meta.url), '../../..');
const CORPUS = resolve(repo, '../shared/corpus/tcpdump-tests');
const present = existsSync(CORPUS);
const CHUNK = 4093; // odd size: records straddle chunk borders all the time

interface Outcome {
  ok: boolean;
  code?: string;
  packets: number;
  truncated: number;
  skippedBlocks: number;
  l3: number;
  skipReasons: Map<string, number>;
}

function readFile(bytes: Uint8Array, opts?: PcapReaderOptions): Outcome {
  const reader = new PcapReader(opts);
  const out: Outcome = { ok: true, packets: 0, truncated: 0, skippedBlocks: 0, l3: 0, skipReasons: new Map() };
  // Every next() either returns a record (which consumed >= 12 bytes) or null (wait/finish),
  // so more calls than bytes + chunks means the reader is spinning.
  let budget = bytes.length + bytes.length / CHUNK + 16;
  const take = (rec: PcapRecord) => {
    const r = findL3(rec.linkType, rec.data);
    if (typeof r === 'string') {
      const key = r.startsWith('unsupported') ? 'unsupported link type' : r;
      out.skipReasons.set(key, (out.skipReasons.get(key) ?? 0) + 1);
    } else {
      expect(r.l3Offset).toBeLessThanOrEqual(rec.data.length);
      out.l3++;
    }
  };
  const drain = () => {
    let rec: PcapRecord | null;
    while ((rec = reader.next())) {
      if (--budget < 0) throw new Error('reader does not make progress');
      take(rec);
    }
    if (--budget < 0) throw new Error('reader does not make progress');
  };
  try {
    for (let o = 0; o < bytes.length; o += CHUNK) {
      reader.push(bytes.subarray(o, o + CHUNK));
      drain();
    }
    reader.end();
    drain();
    expect(reader.done).toBe(true);
  } catch (e) {
    if (!(e instanceof PcapError)) throw e; // the test fails on anything else
    out.ok = false;
    out.code = e.code;
  }
  out.packets = reader.counters.packets;
  out.truncated = reader.counters.truncated;
  out.skippedBlocks = reader.counters.skippedBlocks;
  return out;
}

describe('tcpdump test corpus', () => {
  test.skipIf(!present)(`every file in ${CORPUS} reads to counters or a PcapError`, () => {
    const files = readdirSync(CORPUS).sort();
    expect(files.length).toBeGreaterThan(0);
    const t0 = performance.now();
    const codes = new Map<string, string[]>();
    const reasons = new Map<string, number>();
    let ok = 0;
    let refused = 0;
    let packets = 0;
    let l3 = 0;
    let truncated = 0;
    let skippedBlocks = 0;
    for (const name of files) {
      const bytes = new Uint8Array(readFileSync(join(CORPUS, name)));
      let o: Outcome;
      try {
        o = readFile(bytes);
      } catch (e) {
        throw new Error(`${name}: ${(e as Error).stack}`);
      }
      packets += o.packets;
      l3 += o.l3;
      truncated += o.truncated;
      skippedBlocks += o.skippedBlocks;
      for (const [k, v] of o.skipReasons) reasons.set(k, (reasons.get(k) ?? 0) + v);
      if (o.ok) ok++;
      else {
        refused++;
        codes.set(o.code!, [...(codes.get(o.code!) ?? []), name]);
      }
    }
    const ms = performance.now() - t0;
    const lines = [
      `corpus: ${files.length} files, ${ok} ok, ${refused} refused, ${packets} packets ` +
        `(${l3} with an IP header located), ${truncated} truncated, ${skippedBlocks} pcapng blocks skipped, ${ms.toFixed(0)} ms`,
      ...[...codes].map(([c, names]) => `  refused ${c}: ${names.length} (${names.slice(0, 6).join(', ')}${names.length > 6 ? ', ...' : ''})`),
      ...[...reasons].map(([r, n]) => `  link skip "${r}": ${n}`),
    ];
    console.log(lines.join('\n'));
    expect(ok + refused).toBe(files.length);
    expect(ok).toBeGreaterThan(files.length / 2);

    // Same files with libpcap's leniency (cut to snaplen), and every file cut at 70 %:
    // still only counters or PcapErrors.
    let clipOk = 0;
    let clipped = 0;
    let cutOk = 0;
    let cutTruncated = 0;
    for (const name of files) {
      const bytes = new Uint8Array(readFileSync(join(CORPUS, name)));
      const c = readFile(bytes, { clipOverSnaplen: true });
      if (c.ok) clipOk++;
      const cut = readFile(bytes.subarray(0, Math.floor(bytes.length * 0.7)));
      if (cut.ok) cutOk++;
      cutTruncated += cut.truncated;
    }
    for (const [code, names] of codes) if (code === 'WVS_ERR_PCAP_CAPLEN') clipped = names.length;
    console.log(
      `corpus with clipOverSnaplen: ${clipOk} ok (${clipped} files were refused for capLen > snaplen by default)\n` +
        `corpus cut at 70 %: ${cutOk} ok, ${files.length - cutOk} refused, ${cutTruncated} truncated notes`,
    );
    expect(clipOk).toBeGreaterThanOrEqual(ok);
  });

  test.runIf(!present)('corpus folder absent: skipped', () => {
    console.log(`tcpdump corpus not found at ${CORPUS}: corpus test skipped`);
  });
});
