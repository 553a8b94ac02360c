/*
 * One-packet scheduling (ipvsadm -o, IP_VS_SVC_F_ONEPACKET) against Linux 6.1 IPVS.
 *
 * test/golden/kernel/recorded/ops/ was made by cases/ops.sh: rr over three dests, six UDP
 * datagrams from one client port to a service with -o (VIP:53) and to one without (VIP:54).
 * The kernel schedules every -o datagram anew (ip_vs_schedule marks the conn
 * IP_VS_CONN_F_ONE_PACKET: ip_vs_conn_new does not hash it, ip_vs_conn_put expires it at once),
 * so they go round the dests and no conn is left; without -o the first datagram's conn takes
 * them all. The engine gets the recorded `ipvsadm -S -n` rules and the client's datagrams in
 * order; what it forwards must equal, byte for byte, what the kernel sent to the real servers;
 * after each datagram the client's conns must be the kernel's (jsnap), and at the end
 * `ipvsadm -L -n --stats --exact` must be the kernel's. ipvsadm refused -o on the TCP service;
 * so does the rules parser, with the same text.
 */
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseRules, applyRules } from '../../host/rules/apply.ts';
import { formatList } from '../../host/rules/format.ts';
import { engine } from '../helpers/engine.ts';
import { hex, ip, unhex } from '../helpers/pkt.ts';

const dir = join(import.meta.dirname, 'kernel', 'recorded', 'ops');
const jsonl = (f: string) => readFileSync(join(dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const stdout = readFileSync(join(dir, 'stdout.txt'), 'utf8');
const block = (cmd: string) => stdout.split(`=== $ ${cmd} ===\n`)[1].split('--- rc=0')[0];

describe('one-packet scheduling as Linux 6.1', () => {
  test('-o on UDP: every datagram scheduled anew, no conn kept; without -o one conn takes them all', async () => {
    const e = await engine();
    applyRules(e, parseRules(block('ipvsadm -S -n'), 'ops'), 'ops', { link: 'any' });
    const sent = jsonl('client-side.jsonl').map((r) => unhex(r.ip)).filter((p) => p[9] === 17);
    const fwd = jsonl('dest-side.jsonl').map((r) => r.ip as string).filter((h) => h.slice(18, 20) === '11');
    const snaps = jsonl('ops.jsonl').filter((s) => s.label.startsWith('udp'));
    expect([sent.length, fwd.length, snaps.length]).toEqual([12, 12, 12]);
    sent.forEach((p, i) => {
      const r = e.processFrame(p, 1000 + i * 100);
      expect(r.verdict, snaps[i].label).toBe('XMIT');
      expect(hex(r.data), snaps[i].label).toBe(fwd[i]);
      const vport = (p[22] << 8) | p[23];
      const conns = e.conns().filter((c) => c.cport === 30001 && c.vport === vport).map((c) => `${c.daddr}:${c.dport}`);
      expect(conns, snaps[i].label).toEqual(snaps[i].conns.map((c: { dest: string }) => c.dest));
    });
    expect(formatList(e.services(), { numeric: true, stats: true, exact: true })).toBe(block('ipvsadm -L -n --stats --exact'));
  });

  test('-o conns leave no record behind: a table of 16 carries any number of datagrams', async () => {
    const e = await engine({ connMax: 16 });
    applyRules(e, parseRules('-A -u 198.18.2.2:53 -s rr -o\n-a -u 198.18.2.2:53 -r 198.18.1.11:53 -m\n', 'ops'), 'ops', { link: 'any' });
    for (let i = 0; i < 100; i++) {
      const r = e.processFrame(ip(`198.19.0.${i + 1}`, '198.18.2.2', { proto: 'udp', sport: 30001, dport: 53 }), 1000);
      expect([r.verdict, r.conn]).toEqual(['XMIT', 0]);
    }
    expect(e.conns()).toEqual([]);
    expect(e.counters().drop_conn_table_full).toBe(0n);
  });

  test('-o on a TCP service is refused with ipvsadm\'s text', () => {
    expect(stdout.split('\n')[0]).toBe('One-Packet Scheduling is only for UDP virtual services');
    expect(() => parseRules('-A -t 198.18.2.2:80 -s rr -o\n', 'ops')).toThrow(/One-Packet Scheduling is only for UDP virtual services/);
  });
});
