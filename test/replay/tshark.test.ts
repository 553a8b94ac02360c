/*
 * The golden replay's output, checked by an independent dissector: `wasmvs replay` on
 * test/replay/golden/nat-tcp-udp.in.pcap, then tshark with IPv4/TCP/UDP checksum validation
 * switched on. Every frame must dissect without a malformed-packet exception, with every checksum
 * "Good" (status 1) and no expert item at warning or error level. Negative controls show the
 * same tshark invocation does catch a bad TCP checksum, a bad IPv4 header checksum and a
 * truncated TCP header. Skipped, with the reason printed, when tshark is not installed
 * (Debian: apt-get install tshark).
 *
 * The golden UDP exchange (ports 53 and 5353) carries a short text payload, not a DNS message:
 * the DNS and mDNS dissectors are disabled so that payload is plain data; IP and UDP (length,
 * checksum) are still dissected and checked.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { main } from '../../host/replay/cli.ts';
import { records } from '../../host/pcap/read.ts';
import { writePcap } from '../../host/pcap/write.ts';
import { RULES } from './golden-input.ts';

const GOLDEN_IN = join(import.meta.dirname, 'golden', 'nat-tcp-udp.in.pcap');
const GOLDEN_OUT = join(import.meta.dirname, 'golden', 'nat-tcp-udp.out.pcap');

function tsharkMissing(): string | undefined {
  try { execFileSync('tshark', ['--version'], { stdio: 'ignore', timeout: 20_000 }); return undefined; } catch (e) {
    return `tshark is not installed (${(e as NodeJS.ErrnoException).code ?? 'failed'}): apt-get install tshark`;
  }
}
const missing = tsharkMissing();
if (missing) console.warn(`test/replay/tshark.test.ts: skipped: ${missing}`);

const FIELDS = ['frame.number', '_ws.malformed', '_ws.expert.severity', '_ws.expert.message', 'ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status'];
interface Frame { n: number; malformed: string; severity: number[]; expert: string; ip: string; tcp: string; udp: string }

/** tshark over a pcap: one row per frame. */
function tshark(file: string): Frame[] {
  const out = execFileSync('tshark', [
    '-r', file, '-n',
    '--disable-protocol', 'dns', '--disable-protocol', 'mdns',
    '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
    '-T', 'fields', '-E', 'separator=|', ...FIELDS.flatMap((f) => ['-e', f]),
  ], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'ignore'] });
  return out.trimEnd().split('\n').map((l) => {
    const [n, malformed, sev, expert, ip, tcp, udp] = l.split('|');
    return { n: Number(n), malformed, severity: sev ? sev.split(',').map(Number) : [], expert, ip, tcp, udp };
  });
}
/** expert severities (epan/proto.h): chat 0x200000, note 0x400000, warn 0x600000, error 0x800000 */
const PI_WARN = 0x600000;

const dir = mkdtempSync(join(tmpdir(), 'wasmvs-tshark-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!!missing)('tshark validates the golden replay output', () => {
  const out = join(dir, 'out.pcap');

  test('wasmvs replay --out: 11 frames, none malformed, every checksum good, no warnings', async () => {
    const rules = join(dir, 'rules');
    writeFileSync(rules, RULES);
    const o = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let rc: number;
    try { rc = await main([GOLDEN_IN, '--rules', rules, '--out', out]); } finally { o.mockRestore(); }
    expect(rc).toBe(0);
    expect(new Uint8Array(readFileSync(out))).toEqual(new Uint8Array(readFileSync(GOLDEN_OUT)));
    const f = tshark(out);
    expect(f.map((x) => x.n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    for (const x of f) {
      expect(x.malformed, `frame ${x.n}`).toBe('');
      // frame 11 is a RST, which tshark's expert info reports as a warning ("Connection reset")
      if (x.n !== 11) expect(x.severity.filter((s) => s >= PI_WARN), `frame ${x.n}: ${x.expert}`).toEqual([]);
      else expect(x.expert).toMatch(/Connection reset/);
      expect(x.ip, `frame ${x.n} ip checksum`).toBe('1');
    }
    // 8 TCP frames, 2 UDP frames, then the local stack's RST to the ACK without a conn; every L4 checksum good
    expect(f.map((x) => [x.tcp, x.udp])).toEqual([...Array(8).fill(['1', '']), ['', '1'], ['', '1'], ['1', '']]);
  });

  test('negative controls: the same check flags a bad TCP checksum, a bad IPv4 checksum, a truncated header', () => {
    const recs = [...records([new Uint8Array(readFileSync(out))])].map((r) => ({ tsNs: r.tsNs, data: r.data.slice() }));
    const syn = recs[0].data;
    const badTcp = syn.slice(); badTcp[20 + 16] ^= 0xff;
    const badIp = syn.slice(); badIp[10] ^= 0xff;
    const cut = syn.slice(0, 30);            // IPv4 header says 40 bytes (44 with options): TCP header cut
    const file = join(dir, 'bad.pcap');
    writeFileSync(file, writePcap([badTcp, badIp, cut].map((data, i) => ({ tsNs: recs[0].tsNs + BigInt(i), data })), { linkType: 101 }));
    const f = tshark(file);
    expect(f).toHaveLength(3);
    expect([f[0].ip, f[0].tcp]).toEqual(['1', '0']);
    expect(f[0].expert).toMatch(/Bad checksum/);
    expect(f[1].ip).toBe('0');
    expect(f[1].expert).toMatch(/Bad checksum/);
    expect(f[2].malformed).toMatch(/Malformed Packet: TCP/);
    expect(f[2].expert).toMatch(/IPv4 total length exceeds packet length \(30 bytes\)/);
  });
});
