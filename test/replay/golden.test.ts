/*
 * Golden replay: a small Ethernet capture of one TCP flow (handshake, data both ways, FIN both
 * ways) and one UDP exchange through a NAT director, plus noise, is replayed and the output
 * pcap must equal test/replay/golden/nat-tcp-udp.out.pcap byte for byte.
 * Regenerate after an intended engine change: UPDATE_GOLDEN=1 npx vitest run -c test/vitest.config.ts test/replay
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { records } from '../../host/pcap/read.ts';
import { formatSummary } from '../../host/replay/report.ts';
import { checkPacket, fields } from '../helpers/pkt.ts';
import { CLIENT, goldenInput, RS1, RS2, RULES, VIP } from './golden-input.ts';
import { chunked, runReplay } from './helpers.ts';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden');
function golden(name: string, bytes: Uint8Array): Uint8Array {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN) {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, bytes);
  }
  if (!existsSync(file)) throw new Error(`${file} is missing: run with UPDATE_GOLDEN=1 once and commit it`);
  return new Uint8Array(readFileSync(file));
}

describe('golden replay', () => {
  test('output pcap equals the committed golden file, and replays are identical', async () => {
    const input = goldenInput();
    expect(golden('nat-tcp-udp.in.pcap', input)).toEqual(input);
    const a = await runReplay(input, RULES);
    const b = await runReplay(chunked(input, 7), RULES); // odd chunks: same bytes out
    const c = await runReplay(input, RULES, { batch: 1 });
    expect(b.out).toEqual(a.out);
    expect(c.out).toEqual(a.out);
    expect(JSON.stringify(b.summary)).toBe(JSON.stringify(a.summary));
    expect(a.out).toEqual(golden('nat-tcp-udp.out.pcap', a.out));
    // what the output holds: 10 NATed frames with valid checksums, in input order, then the
    // local stack's RST to the ACK without a conn (tcp_v4_send_reset: seq = its ack)
    const outRecs = [...records([a.out])];
    expect(outRecs.map((r) => r.linkType)).toEqual(Array(11).fill(101));
    for (const r of outRecs) expect(checkPacket(r.data)).toEqual([]);
    const f = outRecs.map((r) => fields(r.data));
    expect(f[0]).toMatchObject({ src: CLIENT, dst: RS1, sport: 40001, dport: 8080 });
    expect(f[1]).toMatchObject({ src: VIP, dst: CLIENT, sport: 80, dport: 40001 });
    expect(f[8]).toMatchObject({ src: CLIENT, dst: RS2, sport: 5000, dport: 5353 });
    expect(f[9]).toMatchObject({ src: VIP, dst: CLIENT, sport: 53, dport: 5000 });
    expect(f[10]).toMatchObject({ src: VIP, dst: CLIENT, sport: 80, dport: 40003 });
    const inRecs = [...records([input])];
    expect(outRecs.map((r) => r.tsNs).slice(0, 10)).toEqual(inRecs.slice(0, 10).map((r) => r.tsNs));
  });

  test('summary: verdicts, drop reasons, conns per service and server, transitions', async () => {
    const { summary: s } = await runReplay(goldenInput(), RULES, { batch: 1 });
    expect(s.input).toMatchObject({ format: 'pcap', packets: 13, fed: 13, skipped: {}, error: null, linkTypes: { 1: 13 } });
    expect(s.output.verdicts).toEqual({ DROP: 1, LOCAL: 1, PASS: 1, STOLEN: 0, XMIT: 10 });
    expect(s.output.dropReasons).toEqual({ drop_bad_ip_checksum: 1 });
    expect(s.conns.created).toBe(2);
    expect(s.conns.byService.map((x) => [x.service, x.conns, x.dests.map((d) => [d.rs, d.conns])])).toEqual([
      [`TCP ${VIP}:80`, 1, [[`${RS1}:8080`, 1]]],
      [`UDP ${VIP}:53`, 1, [[`${RS2}:5353`, 1]]],
    ]);
    expect(s.conns.transitions).toEqual({
      // the kernel's tcp_states[]: a FIN from the server in CLOSE_WAIT goes straight to TIME_WAIT
      'CLOSE_WAIT>TIME_WAIT': 1, 'ESTABLISHED>CLOSE_WAIT': 1, 'NONE>SYN_RECV': 1, 'NONE>UDP': 1, 'SYN_RECV>ESTABLISHED': 1,
    });
    expect(s.table).toContain(`TCP  ${VIP}:80`);
    expect(formatSummary(s)).toContain('drop_bad_ip_checksum');
  });
});
