/*
 * Shared by corpus-*.test.ts. Replays every capture of tcpdump's test suite (830 files, many deliberately malformed, many
 * link types) twice: with rules that match nothing, and with rules built from the capture
 * itself (a TCP/UDP service for each destination seen, two real servers each, sloppy TCP so
 * flows caught mid-stream are scheduled too). Each replay must end with a summary or a clear
 * refusal (PcapError / WvsError): never another exception, never an engine trap.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { WvsError } from '../../host/errors.ts';
import { PcapError } from '../../host/pcap/errors.ts';
import { findL3 } from '../../host/pcap/link.ts';
import { PcapReader } from '../../host/pcap/read.ts';
import { chunked, runReplay } from './helpers.ts';

const repo = resolve(fileURLToPath(import.meta.url), '../../..');
const CORPUS = resolve(repo, '../shared/corpus/tcpdump-tests');
const present = existsSync(CORPUS);
const files = present ? readdirSync(CORPUS).filter((f) => /\.(pcap|pcapng|cap)$/i.test(f) || !f.includes('.')).sort() : [];

const NOTHING = '-A -t 192.0.2.254:9 -s rr\n-a -t 192.0.2.254:9 -r 192.0.2.253:9 -m\n';

/** Test-side: TCP/UDP destinations of the first packets (the engine never sees this code). */
export function rulesFor(bytes: Uint8Array, max = 24): string {
  const seen = new Set<string>();
  const reader = new PcapReader({ clipOverSnaplen: true });
  const lines: string[] = [];
  try {
    reader.push(bytes); reader.end();
    let rec;
    while ((rec = reader.next()) && seen.size < max) {
      const l3 = findL3(rec.linkType, rec.data);
      if (typeof l3 === 'string') continue;
      const p = rec.data.subarray(l3.l3Offset);
      let proto: number, dst: string, l4: number;
      if (l3.family === 4 && p.length >= 20) {
        proto = p[9]; dst = [...p.subarray(16, 20)].join('.'); l4 = (p[0] & 15) * 4;
      } else if (l3.family === 6 && p.length >= 40) {
        proto = p[6]; l4 = 40;
        const w = [...Array(8)].map((_, i) => ((p[8 + 16 + i * 2] << 8) | p[8 + 17 + i * 2]).toString(16));
        dst = `[${w.join(':')}]`;
      } else continue;
      if ((proto !== 6 && proto !== 17) || p.length < l4 + 4) continue;
      const port = (p[l4 + 2] << 8) | p[l4 + 3];
      if (port === 0 || dst === '0.0.0.0' || dst.startsWith('255.') || /^2(2[4-9]|3\d)\./.test(dst)) continue;
      const key = `${proto} ${dst} ${port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const t = proto === 6 ? '-t' : '-u';
      const rs = l3.family === 4 ? ['198.51.100.1', '198.51.100.2'] : ['[2001:db8::1]', '[2001:db8::2]'];
      lines.push(`-A ${t} ${dst}:${port} -s rr`, ...rs.map((r) => `-a ${t} ${dst}:${port} -r ${r}:${port} -m -w 1`));
    }
  } catch (e) {
    if (!(e instanceof PcapError)) throw e;
  }
  return lines.join('\n') + '\n';
}

interface Tally { files: number; summaries: number; refusals: Map<string, number>; stoppedPartWay: number; fed: number; out: number; conns: number }

async function replayAll(list: string[], rules: (b: Uint8Array) => string, t: Tally): Promise<void> {
  for (const f of list) {
    const bytes = new Uint8Array(readFileSync(join(CORPUS, f)));
    t.files++;
    try {
      const { summary: s } = await runReplay(chunked(bytes, 65536), rules(bytes), {
        // small tables keep engine creation cheap (1660 engines); frames over 16 KiB are counted skips
        batch: 64, connMax: 1024, engine: { svcMax: 64, destMax: 256, slotSize: 16384 + 256 }, settings: ['sloppyTcp'],
      });
      t.summaries++;
      const v = s.output.verdicts;
      expect(v.XMIT + v.LOCAL + v.DROP + v.PASS + v.STOLEN, f).toBe(s.input.fed);
      expect(s.output.packets, f).toBe(v.XMIT + v.LOCAL + s.output.sentByEngine);
      expect(s.input.fed + Object.values(s.input.skipped).reduce((a, b) => a + b, 0), f).toBe(s.input.packets);
      if (s.input.error) t.stoppedPartWay++;
      t.fed += s.input.fed; t.out += s.output.packets; t.conns += s.conns.created;
    } catch (e) {
      if (e instanceof PcapError || (e instanceof WvsError && e.code !== 'WVS_ERR_TRAP')) {
        t.refusals.set(e.code, (t.refusals.get(e.code) ?? 0) + 1);
        continue;
      }
      throw new Error(`${f}: ${(e as Error)?.stack ?? e}`);
    }
  }
}

/** One test over the whole corpus with one way of making rules (each mode is its own test file,
 *  so vitest runs the two in parallel). */
export function corpusSuite(name: 'nothing' | 'everything seen'): void {
  const rules = name === 'nothing' ? () => NOTHING : rulesFor;
  describe('replay every tcpdump test capture', () => {
    if (!present) { test.skip(`corpus missing at ${CORPUS}: skipped`, () => {}); return; }
    test(`rules matching ${name}`, async () => {
      const t: Tally = { files: 0, summaries: 0, refusals: new Map(), stoppedPartWay: 0, fed: 0, out: 0, conns: 0 };
      await replayAll(files, rules, t);
      console.log(`[replay corpus, rules matching ${name}] ${t.files} files: ${t.summaries} summaries (${t.stoppedPartWay} stopped part way), ` +
        `${[...t.refusals.values()].reduce((a, b) => a + b, 0)} refused ${JSON.stringify(Object.fromEntries(t.refusals))}; ` +
        `${t.fed} frames fed, ${t.out} written, ${t.conns} conns`);
      expect(t.files).toBe(files.length);
      expect(t.summaries).toBeGreaterThan(files.length / 2);
      if (name === 'everything seen') expect(t.conns).toBeGreaterThan(100);
      else expect(t.conns).toBe(0);
    }, 120_000);
  });
}
