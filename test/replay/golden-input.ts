/* test/replay/golden-input.ts - the golden replay's input capture and rules (also used by test/web). */
import { writePcap } from '../../host/pcap/write.ts';
import { ip } from '../helpers/pkt.ts';

export const VIP = '198.18.0.100', CLIENT = '198.18.0.2', RS1 = '198.18.1.1', RS2 = '198.18.1.2', OTHER = '198.18.0.200';

export const RULES = `-A -t ${VIP}:80 -s rr
-a -t ${VIP}:80 -r ${RS1}:8080 -m -w 1
-A -u ${VIP}:53 -s rr
-a -u ${VIP}:53 -r ${RS2}:5353 -m -w 1
`;

export const eth = (p: Uint8Array) => { const f = new Uint8Array(14 + p.length); f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]); f[12] = 8; f.set(p, 14); return f; };
const text = (s: string) => new TextEncoder().encode(s);

/** The input capture: [ms offset, raw IP packet]. */
export function goldenInput(): Uint8Array {
  const c = { proto: 'tcp' as const, sport: 40001, dport: 80 };
  const s = { proto: 'tcp' as const, sport: 8080, dport: 40001 };
  const pk: [number, Uint8Array][] = [
    [0, ip(CLIENT, VIP, { ...c, flags: 'S', seq: 100 })],
    [1.5, ip(RS1, CLIENT, { ...s, flags: 'SA', seq: 900, ack: 101 })],
    [3, ip(CLIENT, VIP, { ...c, flags: 'A', seq: 101, ack: 901 })],
    [3.25, ip(CLIENT, VIP, { ...c, flags: 'PA', seq: 101, ack: 901, payload: text('GET / HTTP/1.0\r\n\r\n') })],
    [10, ip(RS1, CLIENT, { ...s, flags: 'PA', seq: 901, ack: 119, payload: text('HTTP/1.0 200 OK\r\n\r\nhello') })],
    [12, ip(CLIENT, VIP, { ...c, flags: 'FA', seq: 119, ack: 925 })],
    [13, ip(RS1, CLIENT, { ...s, flags: 'FA', seq: 925, ack: 120 })],
    [14, ip(CLIENT, VIP, { ...c, flags: 'A', seq: 120, ack: 926 })],
    [20, ip(CLIENT, VIP, { proto: 'udp', sport: 5000, dport: 53, payload: text('query') })],
    [20.5, ip(RS2, CLIENT, { proto: 'udp', sport: 5353, dport: 5000, payload: text('answer') })],
    [21, ip(CLIENT, OTHER, { proto: 'tcp', sport: 40002, dport: 80, flags: 'S' })], // not a VIP: PASS
    [22, ip(CLIENT, VIP, { proto: 'tcp', sport: 40003, dport: 80, flags: 'A' })], // no conn, no SYN: the local stack's RST (LOCAL)
  ];
  const bad = ip(CLIENT, VIP, { proto: 'tcp', sport: 40004, dport: 80, flags: 'S' });
  bad[10] ^= 0xff; // broken IPv4 header checksum: dropped
  pk.push([23, bad]);
  const T0 = 1_700_000_000_000_000n; // µs
  return writePcap(pk.map(([ms, p]) => ({ tsNs: (T0 + BigInt(Math.round(ms * 1000))) * 1000n, data: eth(p) })), { linkType: 1 });
}

