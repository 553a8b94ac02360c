/*
 * NAT and FULLNAT on a TAP, and the engine's one-link routing (assembly/xmit/output.ts nextHop):
 * the director is a host on the link with an address/prefix and a gateway; a rewritten packet
 * leaves to the MAC of its next hop — the real server (on the prefix) or the gateway (off it:
 * clients behind the router, routed tunnel real servers). The engine answers ARP for FULLNAT
 * local addresses, so real servers can reply to them.
 */
import { describe, test, expect } from 'vitest';
import { engine } from '../../helpers/engine.ts';
import { ip, hex, fields } from '../../helpers/pkt.ts';

const DIR_MAC = '02:00:00:00:01:fe', RS_MAC = '02:00:00:00:01:0b', GW_MAC = '02:00:00:00:01:01', NEAR_MAC = '02:00:00:00:01:32';
const VIP = '198.18.2.1', RS = '198.18.1.11', GW = '198.18.1.1', CLIENT = '198.19.0.2', NEAR = '198.18.1.50', LADDR = '198.18.1.200';
const mac = (m: string) => Uint8Array.from(m.split(':').map((x) => parseInt(x, 16)));
const eth = (dst: string, src: string, type: number, payload: Uint8Array) => {
  const f = new Uint8Array(14 + payload.length);
  f.set(mac(dst)); f.set(mac(src), 6); f[12] = type >> 8; f[13] = type & 255; f.set(payload, 14);
  return f;
};
const arp = (op: number, sha: string, spa: string, tha: string, tpa: string) =>
  Uint8Array.from([0, 1, 8, 0, 6, 4, 0, op, ...mac(sha), ...spa.split('.').map(Number), ...mac(tha), ...tpa.split('.').map(Number)]);
const macs = (f: Uint8Array) => [hex(f.subarray(0, 6)), hex(f.subarray(6, 12))];
const tcp = (src: string, sport: number, dst: string, dport: number, flags: string) => ip(src, dst, { proto: 'tcp', sport, dport, flags });

async function tapEngine(fwd: 'Masq' | 'FullNat', link: { ipv4?: string; gateway4?: string } = { ipv4: '198.18.1.254/24', gateway4: GW }) {
  const e = await engine({ link: 'ethernet' });
  e.setLink({ mac: DIR_MAC, ...link });
  const k = { proto: 'TCP', addr: VIP, port: 80 } as const;
  e.addService({ ...k, sched: 'rr' });
  e.addDest(k, { addr: RS, port: 8080, fwd });
  if (fwd === 'FullNat') e.addLaddr(k, LADDR);
  e.addNeighbour(RS, RS_MAC); e.addNeighbour(GW, GW_MAC); e.addNeighbour(NEAR, NEAR_MAC);
  return e;
}

describe('NAT (-m) on a TAP', () => {
  test('client SYN → to the real server\'s MAC; its SYN-ACK → from the VIP to the gateway\'s MAC (the client is off the /24)', async () => {
    const e = await tapEngine('Masq');
    const r1 = e.processFrame(eth(DIR_MAC, GW_MAC, 0x0800, tcp(CLIENT, 40000, VIP, 80, 'S')), 1);
    expect(r1.verdict).toBe('XMIT');
    expect(macs(r1.data)).toEqual([hex(mac(RS_MAC)), hex(mac(DIR_MAC))]);
    expect(fields(r1.data.subarray(14))).toMatchObject({ src: CLIENT, dst: RS, dport: 8080, ttl: 63 });
    const r2 = e.processFrame(eth(DIR_MAC, RS_MAC, 0x0800, tcp(RS, 8080, CLIENT, 40000, 'SA')), 2);
    expect(r2.verdict).toBe('XMIT');
    expect(macs(r2.data)).toEqual([hex(mac(GW_MAC)), hex(mac(DIR_MAC))]);
    expect(fields(r2.data.subarray(14))).toMatchObject({ src: VIP, sport: 80, dst: CLIENT, dport: 40000 });
  });

  test('a client on the link itself gets the reply straight to its own MAC', async () => {
    const e = await tapEngine('Masq');
    e.processFrame(eth(DIR_MAC, NEAR_MAC, 0x0800, tcp(NEAR, 40001, VIP, 80, 'S')), 1);
    const r = e.processFrame(eth(DIR_MAC, RS_MAC, 0x0800, tcp(RS, 8080, NEAR, 40001, 'SA')), 2);
    expect(macs(r.data)[0]).toBe(hex(mac(NEAR_MAC)));
  });

  test('no prefix given: every destination is on the link (the client\'s own address is ARPed for)', async () => {
    const e = await tapEngine('Masq', { ipv4: '198.18.1.254', gateway4: GW });
    e.processFrame(eth(DIR_MAC, GW_MAC, 0x0800, tcp(CLIENT, 40002, VIP, 80, 'S')), 1);
    const r = e.processFrame(eth(DIR_MAC, RS_MAC, 0x0800, tcp(RS, 8080, CLIENT, 40002, 'SA')), 2);
    expect(r.verdict).toBe('STOLEN');
    expect(e.neighbour(CLIENT).state).toBe('INCOMPLETE');
  });

  test('the gateway not resolved yet: the reply is held, an ARP request for the gateway goes out, then the reply', async () => {
    const e = await engine({ link: 'ethernet' });
    e.setLink({ mac: DIR_MAC, ipv4: '198.18.1.254/24', gateway4: GW });
    const k = { proto: 'TCP', addr: VIP, port: 80 } as const;
    e.addService({ ...k, sched: 'rr' });
    e.addDest(k, { addr: RS, port: 8080, fwd: 'Masq' });
    e.addNeighbour(RS, RS_MAC);
    e.processFrame(eth(DIR_MAC, GW_MAC, 0x0800, tcp(CLIENT, 40003, VIP, 80, 'S')), 1);
    expect(e.processFrame(eth(DIR_MAC, RS_MAC, 0x0800, tcp(RS, 8080, CLIENT, 40003, 'SA')), 2).verdict).toBe('STOLEN');
    expect(e.drain()).toBe(1);
    expect(hex(e.output(0))).toBe(hex(eth('ff:ff:ff:ff:ff:ff', DIR_MAC, 0x0806, arp(1, DIR_MAC, '198.18.1.254', '00:00:00:00:00:00', GW))));
    e.processFrame(eth(DIR_MAC, GW_MAC, 0x0806, arp(2, GW_MAC, GW, DIR_MAC, '198.18.1.254')), 3);
    expect(e.drain()).toBe(1);
    const f = e.output(0);
    expect(macs(f)).toEqual([hex(mac(GW_MAC)), hex(mac(DIR_MAC))]);
    expect(fields(f.subarray(14))).toMatchObject({ src: VIP, dst: CLIENT });
  });

  test('bad link settings are refused with the value named', async () => {
    const e = await engine({ link: 'ethernet' });
    expect(() => e.setLink({ mac: DIR_MAC, ipv4: '198.18.1.254/33' })).toThrow(/198\.18\.1\.254\/33/);
    expect(() => e.setLink({ mac: DIR_MAC, ipv4: '2001:2::1/64' })).toThrow(/2001:2::1\/64/);
    expect(() => e.setLink({ mac: DIR_MAC, gateway4: '2001:2::1' })).toThrow(/gateway 2001:2::1/);
  });
});

describe('FULLNAT (--fullnat) on a TAP', () => {
  test('ARP for the local address is answered with the engine\'s MAC; client → laddr → real server; its reply → VIP → gateway', async () => {
    const e = await tapEngine('FullNat');
    const a = e.processFrame(eth('ff:ff:ff:ff:ff:ff', RS_MAC, 0x0806, arp(1, RS_MAC, RS, '00:00:00:00:00:00', LADDR)), 1);
    expect(a.verdict).toBe('LOCAL');
    expect(hex(a.data)).toBe(hex(eth(RS_MAC, DIR_MAC, 0x0806, arp(2, DIR_MAC, LADDR, RS_MAC, RS))));
    const r1 = e.processFrame(eth(DIR_MAC, GW_MAC, 0x0800, tcp(CLIENT, 40000, VIP, 80, 'S')), 2);
    expect(r1.verdict).toBe('XMIT');
    expect(macs(r1.data)).toEqual([hex(mac(RS_MAC)), hex(mac(DIR_MAC))]);
    const f1 = fields(r1.data.subarray(14));
    expect(f1).toMatchObject({ src: LADDR, dst: RS, dport: 8080 });
    const r2 = e.processFrame(eth(DIR_MAC, RS_MAC, 0x0800, tcp(RS, 8080, LADDR, f1.sport, 'SA')), 3);
    expect(r2.verdict).toBe('XMIT');
    expect(macs(r2.data)).toEqual([hex(mac(GW_MAC)), hex(mac(DIR_MAC))]);
    expect(fields(r2.data.subarray(14))).toMatchObject({ src: VIP, sport: 80, dst: CLIENT, dport: 40000 });
  });

  test('ARP for an address that is neither a VIP, a laddr nor the director\'s is not answered', async () => {
    const e = await tapEngine('FullNat');
    const a = e.processFrame(eth('ff:ff:ff:ff:ff:ff', RS_MAC, 0x0806, arp(1, RS_MAC, RS, '00:00:00:00:00:00', '198.18.1.201')), 1);
    expect(a.verdict).not.toBe('LOCAL');
  });
});

describe('DR (-g) needs the real server on the link', () => {
  test('a -g dest off the link\'s prefix is refused, naming why; on it, or with no prefix set, it is taken; -i and -m off it are fine', async () => {
    const e = await engine({ link: 'ethernet' });
    e.setLink({ mac: DIR_MAC, ipv4: '198.18.1.254/24', gateway4: GW });
    const k = { proto: 'TCP', addr: VIP, port: 80 } as const;
    e.addService({ ...k, sched: 'rr' });
    expect(() => e.addDest(k, { addr: '198.19.7.7', port: 80, fwd: 'Route' })).toThrow(/198\.19\.7\.7:80.*not on the director's link \(-g, DR/);
    e.addDest(k, { addr: RS, port: 80, fwd: 'Route' });
    expect(() => e.editDest(k, { addr: RS, port: 80, fwd: 'Route', weight: 2 })).not.toThrow();
    e.addDest(k, { addr: '198.19.7.7', port: 81, fwd: 'Tunnel' });
    e.addDest(k, { addr: '198.19.7.8', port: 80, fwd: 'Masq' });
    expect(e.services()[0].dests.map((d) => `${d.addr} ${d.fwd}`).sort()).toEqual([`${RS} Route`, '198.19.7.7 Tunnel', '198.19.7.8 Masq']);
    const u = await engine({ link: 'ethernet' });
    u.setLink({ mac: DIR_MAC, ipv4: '198.18.1.254' });
    u.addService({ ...k, sched: 'rr' });
    expect(() => u.addDest(k, { addr: '198.19.7.7', port: 80, fwd: 'Route' })).not.toThrow();
  });
});

describe('tunnels to routed real servers', () => {
  test('an IPIP real server off the link\'s prefix: the outer frame goes to the gateway\'s MAC', async () => {
    const e = await engine({ link: 'ethernet' });
    e.setLink({ mac: DIR_MAC, ipv4: '198.18.1.254/24', gateway4: GW });
    e.addNeighbour(GW, GW_MAC);
    const k = { proto: 'TCP', addr: VIP, port: 80 } as const;
    e.addService({ ...k, sched: 'rr' });
    e.addDest(k, { addr: '198.19.7.7', port: 80, fwd: 'Tunnel' });
    const r = e.processFrame(eth(DIR_MAC, GW_MAC, 0x0800, tcp(CLIENT, 40000, VIP, 80, 'S')), 1);
    expect(r.verdict).toBe('XMIT');
    expect(macs(r.data)).toEqual([hex(mac(GW_MAC)), hex(mac(DIR_MAC))]);
    expect(fields(r.data.subarray(14))).toMatchObject({ src: '198.18.1.254', dst: '198.19.7.7', proto: 4 });
  });
});

describe('POST_ROUTING comes before the neighbour layer (ip_output → ip_finish_output)', () => {
  test('a POST_ROUTING DROP of a DR packet to an unresolved real server: dropped, nothing held, no ARP request', async () => {
    const e = await engine({ link: 'ethernet' });
    e.setLink({ mac: DIR_MAC, ipv4: '198.18.1.254/24' });
    const k = { proto: 'TCP', addr: VIP, port: 80 } as const;
    e.addService({ ...k, sched: 'rr' });
    e.addDest(k, { addr: RS, port: 80, fwd: 'Route' });
    e.addHook({ point: 'POST_ROUTING', priority: 10, fn: 'MATCH_SRC', verdict: 'DROP', prefix: `${CLIENT}/32` });
    const r = e.processFrame(eth(DIR_MAC, GW_MAC, 0x0800, tcp(CLIENT, 40000, VIP, 80, 'S')), 1);
    expect(r).toMatchObject({ verdict: 'DROP', reason: 'drop_by_hook' });
    expect(e.heldFrames()).toBe(0);
    expect(e.drain()).toBe(0);
    expect(e.neighbour(RS).state).toBe('NONE');
    // another client is not matched: held while the real server is resolved, as usual
    expect(e.processFrame(eth(DIR_MAC, GW_MAC, 0x0800, tcp('198.19.0.3', 40000, VIP, 80, 'S')), 2).verdict).toBe('STOLEN');
    expect(e.drain()).toBe(1);   // the ARP request
  });
});

describe('VLAN-tagged segments', () => {
  const tagged = (f: Uint8Array, tags: number[][]) => {
    const t = new Uint8Array(f.length + 4 * tags.length);
    t.set(f.subarray(0, 12));
    tags.forEach((x, i) => t.set(x, 12 + 4 * i));
    t.set(f.subarray(12), 12 + 4 * tags.length);
    return t;
  };
  for (const tags of [[[0x81, 0x00, 0x00, 0x0a]], [[0x88, 0xa8, 0x00, 0x64], [0x81, 0x00, 0x00, 0x0a]]]) {
    test(`${tags.length === 1 ? '802.1Q' : '802.1ad + 802.1Q'}: a DR frame to an unresolved real server is held, the ARP request carries the frame's tags, the tagged reply releases it tagged`, async () => {
      const e = await engine({ link: 'ethernet' });
      e.setLink({ mac: DIR_MAC, ipv4: '198.18.1.254/24' });
      const k = { proto: 'TCP', addr: VIP, port: 80 } as const;
      e.addService({ ...k, sched: 'rr' });
      e.addDest(k, { addr: RS, port: 80, fwd: 'Route' });
      expect(e.processFrame(tagged(eth(DIR_MAC, GW_MAC, 0x0800, tcp(CLIENT, 40000, VIP, 80, 'S')), tags), 1).verdict).toBe('STOLEN');
      expect(e.drain()).toBe(1);
      expect(hex(e.output(0))).toBe(hex(tagged(eth('ff:ff:ff:ff:ff:ff', DIR_MAC, 0x0806, arp(1, DIR_MAC, '198.18.1.254', '00:00:00:00:00:00', RS)), tags)));
      e.processFrame(tagged(eth(DIR_MAC, RS_MAC, 0x0806, arp(2, RS_MAC, RS, DIR_MAC, '198.18.1.254')), tags), 2);
      expect(e.neighbour(RS)).toEqual({ state: 'REACHABLE', mac: RS_MAC });
      expect(e.drain()).toBe(1);
      const f = e.output(0);
      expect(macs(f)).toEqual([hex(mac(RS_MAC)), hex(mac(DIR_MAC))]);
      expect(hex(f.subarray(12, 12 + 4 * tags.length))).toBe(hex(Uint8Array.from(tags.flat())));
    });
  }
});
