/*
 * NAT's checksum updates at every checksum value: the TCP/UDP checksum is updated incrementally
 * (RFC 1624 eqn. 3, as tcp/udp_fast_csum_update), so whatever the sender's checksum was, the
 * packet's one's-complement sum is the same after DNAT as before (a valid packet stays valid, a
 * bad one stays exactly as bad); the IPv4 header checksum after the TTL and address change is
 * valid at every header. The fold of the wide sums (packet/csum.ts csumFold) is reached with
 * every 16-bit value here, the end-around carries and both zeros included.
 */
import { describe, test, expect } from 'vitest';
import { natEngine, VIP, CLIENT } from '../../helpers/engine.ts';
import { ip, sum16, parseIp } from '../../helpers/pkt.ts';

/** The one's-complement sum of an IPv4 TCP/UDP datagram's segment and pseudo-header, mod 0xffff (both zeros alike). */
function l4Sum(p: Uint8Array): number {
  const hl = (p[0] & 15) * 4, seg = p.subarray(hl);
  const ph = new Uint8Array(12);
  ph.set(p.subarray(12, 20), 0); ph[9] = p[9]; ph[10] = seg.length >> 8; ph[11] = seg.length & 0xff;
  return sum16(seg, sum16(ph)) % 0xffff;
}

describe('NAT checksums at every value', () => {
  test('TCP: all 65,536 checksum values of an established ACK keep the packet\'s sum through DNAT', async () => {
    const { e } = await natEngine();
    expect(e.processFrame(ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'S' }), 1).verdict).toBe('XMIT');
    const ack = ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A', seq: 2, ack: 77 });
    let bad = 0, valid = 0;
    for (let c = 0; c < 0x10000; c++) {
      ack[20 + 16] = c >> 8; ack[20 + 17] = c & 0xff;
      const r = e.processFrame(ack, 2);
      if (r.verdict !== 'XMIT' || l4Sum(r.data) !== l4Sum(ack) || sum16(r.data.subarray(0, 20)) !== 0xffff) bad++;
      if (l4Sum(ack) === 0 && l4Sum(r.data) === 0) valid++;
    }
    expect(bad).toBe(0);
    expect(valid).toBe(1);   // the sender's one valid checksum stays valid
  });
  test('UDP: every non-zero checksum keeps the sum and never becomes 0 (CSUM_MANGLED_0); zero stays zero', async () => {
    const { e } = await natEngine({ proto: 'UDP', port: 53 });
    const d = ip(CLIENT, VIP, { proto: 'udp', sport: 40001, dport: 53, payload: new Uint8Array([1, 2, 3, 4, 5]) });
    let bad = 0;
    for (let c = 0; c < 0x10000; c++) {
      d[20 + 6] = c >> 8; d[20 + 7] = c & 0xff;
      const r = e.processFrame(d, 1 + (c >> 10));
      const out = (r.data[26] << 8) | r.data[27];
      if (c === 0 ? out !== 0 : out === 0 || l4Sum(r.data) !== l4Sum(d)) bad++;
    }
    expect(bad).toBe(0);
  });
  test('IPv4 header: every identification value gives a valid header after TTL and destination change', async () => {
    const { e } = await natEngine();
    expect(e.processFrame(ip(CLIENT, VIP, { proto: 'tcp', sport: 40002, dport: 80, flags: 'S' }), 1).verdict).toBe('XMIT');
    const rs = parseIp('198.18.1.1').b;
    let bad = 0;
    for (let id = 0; id < 0x10000; id++) {
      const r = e.processFrame(ip(CLIENT, VIP, { proto: 'tcp', sport: 40002, dport: 80, flags: 'A' }, { id, ttl: 1 + (id % 254) + 1 }), 2);
      const h = r.data.subarray(0, 20);
      if (sum16(h) !== 0xffff || h[8] !== (id % 254) + 1 || h[16] !== rs[0] || h[19] !== rs[3]) bad++;
    }
    expect(bad).toBe(0);
  });
});
