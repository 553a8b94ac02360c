/*
 * DR over TAP without static neighbours: the engine resolves the real server's MAC itself
 * (ARP / neighbour solicitation), holds the frames meanwhile (STOLEN), releases them through
 * drain(), answers ARP / NS for its VIPs, and counts what it has to drop.
 */
import { describe, test, expect } from 'vitest';
import { engine } from '../../helpers/engine.ts';
import { ip, hex, unhex } from '../../helpers/pkt.ts';

const DIR_MAC = '02:00:00:00:01:fe', RS_MAC = '02:00:00:00:01:01', CL_MAC = '02:00:00:00:00:02';
const mac = (m: string) => Uint8Array.from(m.split(':').map((x) => parseInt(x, 16)));
const eth = (dst: string, src: string, type: number, payload: Uint8Array) => {
  const f = new Uint8Array(14 + payload.length);
  f.set(mac(dst)); f.set(mac(src), 6); f[12] = type >> 8; f[13] = type & 255; f.set(payload, 14);
  return f;
};
const arp = (op: number, sha: string, spa: number[], tha: string, tpa: number[]) =>
  Uint8Array.from([0, 1, 8, 0, 6, 4, 0, op, ...mac(sha), ...spa, ...mac(tha), ...tpa]);

async function drEngine() {
  const e = await engine({ link: 'ethernet' });
  e.setLink({ mac: DIR_MAC, ipv4: '198.18.1.254', ipv6: '2001:2:0:1::fe' });
  const k = { proto: 'TCP', addr: '198.18.2.20', port: 80 } as const;
  e.addService({ ...k, sched: 'rr' });
  e.addDest(k, { addr: '198.18.1.11', port: 80, fwd: 'Route' });
  return e;
}
const syn = (sport: number) => eth(DIR_MAC, CL_MAC, 0x0800, ip('198.19.0.1', '198.18.2.20', { proto: 'tcp', sport, dport: 80, flags: 'S' }));

describe('neighbour resolution on a TAP link', () => {
  test('held while resolving, ARP request sent, released after the reply with the new MAC', async () => {
    const e = await drEngine();
    const r1 = e.processFrame(syn(1000), 0);
    expect(r1.verdict).toBe('STOLEN');
    expect(e.processFrame(syn(1001), 10).verdict).toBe('STOLEN');
    expect(e.neighbour('198.18.1.11').state).toBe('INCOMPLETE');
    // one ARP request so far (the second frame is within the retransmit second)
    expect(e.drain()).toBe(1);
    const req = e.output(0);
    expect(hex(req)).toBe(hex(eth('ff:ff:ff:ff:ff:ff', DIR_MAC, 0x0806,
      arp(1, DIR_MAC, [198, 18, 1, 254], '00:00:00:00:00:00', [198, 18, 1, 11]))));
    // the reply
    const rep = e.processFrame(eth(DIR_MAC, RS_MAC, 0x0806, arp(2, RS_MAC, [198, 18, 1, 11], DIR_MAC, [198, 18, 1, 254])), 20);
    expect(rep.verdict).toBe('STOLEN');
    expect(e.neighbour('198.18.1.11')).toEqual({ state: 'REACHABLE', mac: RS_MAC });
    expect(e.drain()).toBe(2);
    for (const i of [0, 1]) {
      const f = e.output(i);
      expect(hex(f.subarray(0, 12))).toBe(hex(Uint8Array.from([...mac(RS_MAC), ...mac(DIR_MAC)])));
      expect(f[14 + 8]).toBe(63);   // TTL decremented, IP unchanged otherwise (DR)
    }
    expect(e.heldFrames()).toBe(0);
    // from now on straight through
    const r3 = e.processFrame(syn(1002), 30);
    expect(r3.verdict).toBe('XMIT');
    expect(hex(r3.data.subarray(0, 6))).toBe(hex(mac(RS_MAC)));
    expect(e.counters()).toMatchObject({ neigh_held: 2n, neigh_solicit_sent: 1n });
  });

  test('no answer: probed each second, then the held frames are dropped and counted', async () => {
    const e = await drEngine();
    e.processFrame(syn(1000), 0);
    for (let t = 1000; t <= 4000; t += 1000) e.tick(t);
    expect(e.counters().neigh_solicit_sent).toBe(3n);
    expect(e.counters().drop_neigh_failed).toBe(1n);
    expect(e.neighbour('198.18.1.11').state).toBe('NONE');
    expect(e.drain()).toBe(3);   // the three probes
    expect(e.heldFrames()).toBe(0);
  });

  test('the hold queue is bounded', async () => {
    const e = await drEngine();
    let stolen = 0, dropped = 0;
    for (let i = 0; i < 40; i++) {
      const r = e.processFrame(syn(2000 + i), 0);
      if (r.verdict === 'STOLEN') stolen++;
      else if (r.verdict === 'DROP' && r.reason === 'drop_neigh_queue_full') dropped++;
    }
    expect(stolen + dropped).toBe(40);
    expect(dropped).toBeGreaterThan(0);
    expect(e.counters().drop_neigh_queue_full).toBe(BigInt(dropped));
  });

  test('ARP requests for a VIP and for the director are answered; others pass', async () => {
    const e = await drEngine();
    const ask = (tpa: number[]) => e.processFrame(eth('ff:ff:ff:ff:ff:ff', RS_MAC, 0x0806, arp(1, RS_MAC, [198, 18, 1, 11], '00:00:00:00:00:00', tpa)), 0);
    const r = ask([198, 18, 2, 20]);
    expect(r.verdict).toBe('LOCAL');
    expect(hex(r.data)).toBe(hex(eth(RS_MAC, DIR_MAC, 0x0806, arp(2, DIR_MAC, [198, 18, 2, 20], RS_MAC, [198, 18, 1, 11]))));
    expect(ask([198, 18, 1, 254]).verdict).toBe('LOCAL');
    expect(ask([198, 18, 1, 77]).verdict).toBe('PASS');
  });

  test('IPv6: neighbour solicitation for a VIP answered with an advertisement', async () => {
    const e = await engine({ link: 'ethernet' });
    e.setLink({ mac: DIR_MAC, ipv6: '2001:2:0:1::fe' });
    e.addService({ proto: 'TCP', addr: '2001:2::200', port: 81, sched: 'rr' });
    // NS from 2001:2:0:1::11 for 2001:2::200 with a source link-layer option
    const target = unhex('20010002000000000000000000000200');
    const ns = new Uint8Array(32);
    ns[0] = 135; ns.set(target, 8); ns[24] = 1; ns[25] = 1; ns.set(mac(RS_MAC), 26);
    const pkt = ip('2001:2:0:1::11', 'ff02::1:ff00:200', { proto: 'icmp', type: 135, code: 0, payload: ns.subarray(8) }, { ttl: 255 });
    const r = e.processFrame(eth('33:33:ff:00:02:00', RS_MAC, 0x86dd, pkt), 0);
    expect(r.verdict).toBe('LOCAL');
    const na = r.data;
    expect(hex(na.subarray(0, 12))).toBe(hex(Uint8Array.from([...mac(RS_MAC), ...mac(DIR_MAC)])));
    expect(na[14 + 40]).toBe(136);
    expect(hex(na.subarray(14 + 8, 14 + 24))).toBe(hex(target));                      // from the VIP
    expect(hex(na.subarray(14 + 48, 14 + 64))).toBe(hex(target));                     // target
    expect(hex(na.subarray(14 + 66, 14 + 72))).toBe(hex(mac(DIR_MAC)));               // target lladdr
  });
});
