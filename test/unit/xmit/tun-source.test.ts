/*
 * Tunnels on a TUN director (engine setting routedLink): the outer packet is written back into
 * the TUN for the host to route to the real server, its source the one the host's route gives
 * (Engine.setTunnelSource: the director's --tunnel-src or `ip route get RIP`'s prefsrc), as
 * ip_vs_tunnel_xmit takes the saddr of __ip_vs_get_out_rt's route. The reference is the TAP
 * engine (whose tunnel frames equal Linux 6.1's: kernel-tun.test.ts) with the same address on
 * its link: the TUN's outer packets must equal its frames minus the Ethernet header, byte for
 * byte; with offloads the segments of a super-packet too (the drained ones included). No source
 * of the outer family: the packet is dropped and counted (drop_method_unsupported_on_link); DR
 * stays a counted drop on a TUN whatever the source.
 */
import { describe, test, expect } from 'vitest';
import { engine, VIP, CLIENT, VIP6, CLIENT6 } from '../../helpers/engine.ts';
import type { Engine, EngineConfig } from '../../../host/engine.ts';
import { ip, hex, sum16, cat, fold } from '../../helpers/pkt.ts';

const SRC4 = '198.18.1.254', SRC6 = '2001:2:0:1::fe';
const RS4 = '198.18.1.12', RS6 = '2001:2:0:1::11';
const DIR_MAC = [2, 0, 0, 0, 1, 0xfe], CLI_MAC = [2, 0, 0, 0, 0, 2];
const VNET = 10;
type Dest = Parameters<Engine['addDest']>[1];

const eth = (pkt: Uint8Array) => cat(Uint8Array.from([...DIR_MAC, ...CLI_MAC, pkt[0] >> 4 === 6 ? 0x86 : 0x08, pkt[0] >> 4 === 6 ? 0xdd : 0x00]), pkt);

async function tunEngine(link: EngineConfig['link'], vip: string, d: Dest, src: { ipv4?: string; ipv6?: string } | null): Promise<Engine> {
  const big = link === 'ip-offload' || link === 'ethernet-offload';
  const e = await engine({ link, headroom: 256, slots: 8, ...(big ? { slotSize: 65536 + 512 } : { slotSize: 4096 }) });
  if (link === 'ethernet' || link === 'ethernet-offload') {
    e.setLink({ mac: '02:00:00:00:01:fe', ipv4: SRC4, ipv6: SRC6 });
    e.addNeighbour(RS4, '02:00:00:00:01:0c'); e.addNeighbour(RS6, '02:00:00:00:01:0b');
  } else {
    e.set('routedLink', true);
    if (src) e.setTunnelSource(src);
  }
  const k = { proto: 'TCP', addr: vip, port: 80 } as const;
  e.addService({ ...k, sched: 'rr' });
  e.addDest(k, { port: 80, ...d });
  return e;
}

/** Every frame a packet makes: the slot's own and what drain() sends after it, virtio-net headers (empty) cut. */
function run(e: Engine, frame: Uint8Array, t: number, vnet: boolean): { verdict: string; reason: string; frames: Uint8Array[] } {
  const r = e.processFrame(vnet ? cat(new Uint8Array(VNET), frame) : frame, t);
  const cut = (b: Uint8Array) => {
    if (!vnet) return b;
    expect([...b.subarray(0, VNET)], 'an empty virtio-net header').toEqual(Array(VNET).fill(0));
    return b.subarray(VNET);
  };
  const frames: Uint8Array[] = [];
  if (r.verdict === 'XMIT') frames.push(cut(r.data).slice());
  for (let k = e.drain(); k > 0; k = e.drain()) for (let i = 0; i < k; i++) frames.push(cut(e.output(i)).slice());
  return { verdict: r.verdict, reason: r.reason, frames };
}

const KINDS: [string, string, string, Dest][] = [
  ['IPIP 4in4', CLIENT, VIP, { addr: RS4, fwd: 'Tunnel' }],
  ['GUE 4in4 +csum', CLIENT, VIP, { addr: RS4, fwd: 'Tunnel', tunType: 'gue', tunPort: 6080, tunFlags: 1 }],
  ['GRE 4in4', CLIENT, VIP, { addr: RS4, fwd: 'Tunnel', tunType: 'gre' }],
  ['GRE 4in4 +csum', CLIENT, VIP, { addr: RS4, fwd: 'Tunnel', tunType: 'gre', tunFlags: 1 }],
  ['IPIP 6in6', CLIENT6, VIP6, { addr: RS6, fwd: 'Tunnel' }],
  ['GUE 6in6 +csum', CLIENT6, VIP6, { addr: RS6, fwd: 'Tunnel', tunType: 'gue', tunPort: 6080, tunFlags: 1 }],
  ['GRE 6in6', CLIENT6, VIP6, { addr: RS6, fwd: 'Tunnel', tunType: 'gre' }],
  ['IPIP 4in6', CLIENT, VIP, { addr: RS6, fwd: 'Tunnel' }],
  ['IPIP 6in4', CLIENT6, VIP6, { addr: RS4, fwd: 'Tunnel' }],
];

describe('tunnels on a TUN with a tunnel source: the TAP\'s frames minus the Ethernet header', () => {
  for (const [name, client, vip, d] of KINDS) {
    test(`${name}: SYN, data without DF (outer id counted), data with DF; outer source ${d.addr.includes(':') ? SRC6 : SRC4}`, async () => {
      const tap = await tunEngine('ethernet', vip, d, null);
      const tunE = await tunEngine('ip', vip, d, { ipv4: SRC4, ipv6: SRC6 });
      const pkts = [
        ip(client, vip, { proto: 'tcp', sport: 40000, dport: 80, flags: 'S', seq: 1000 }, { tos: 0x03 }),
        ip(client, vip, { proto: 'tcp', sport: 40000, dport: 80, flags: 'PA', seq: 1001, ack: 1, payload: new Uint8Array(700).fill(7) }, { df: false, id: 0x1234 }),
        ip(client, vip, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A', seq: 1701, ack: 1 }, { df: true }),
      ];
      pkts.forEach((p, i) => {
        const want = run(tap, eth(p), i + 1, false);
        const got = run(tunE, p, i + 1, false);
        expect([got.verdict, got.reason]).toEqual(['XMIT', '']);
        expect(want.frames.length).toBe(1);
        expect(got.frames.map(hex), `packet ${i}`).toEqual(want.frames.map((f) => hex(f.subarray(14))));
      });
      expect(tunE.counters()).toMatchObject({ drop_method_unsupported_on_link: 0n });
    });
  }

  test('the outer header names the source given, and a new source applies to the next packet', async () => {
    const e = await tunEngine('ip', VIP, { addr: RS4, fwd: 'Tunnel' }, { ipv4: SRC4 });
    const syn = (sport: number) => ip(CLIENT, VIP, { proto: 'tcp', sport, dport: 80, flags: 'S', seq: 1 });
    let f = run(e, syn(40010), 1, false).frames[0];
    expect([...f.subarray(12, 16)].join('.')).toBe(SRC4);
    expect([...f.subarray(16, 20)].join('.')).toBe(RS4);
    expect(f[9]).toBe(4);
    expect(~sum16(f.subarray(0, 20)) & 0xffff).toBe(0);
    e.setTunnelSource({ ipv4: '198.18.1.253' });
    f = run(e, syn(40011), 2, false).frames[0];
    expect([...f.subarray(12, 16)].join('.')).toBe('198.18.1.253');
    expect(~sum16(f.subarray(0, 20)) & 0xffff).toBe(0);
  });
});

describe('tunnels on a TUN without a source of the outer family: counted drops, as before', () => {
  test.each([
    ['no source at all', RS4, null],
    ['IPv6 source only, IPv4 real server', RS4, { ipv6: SRC6 }],
    ['IPv4 source only, IPv6 real server', RS6, { ipv4: SRC4 }],
    ['a source set, then removed', RS4, 'removed'],
  ] as const)('%s', async (_name, rs, src) => {
    const e = await tunEngine('ip', VIP, { addr: rs, fwd: 'Tunnel' }, src === 'removed' ? { ipv4: SRC4 } : src);
    if (src === 'removed') e.setTunnelSource({});
    const r = run(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 40020, dport: 80, flags: 'S', seq: 1 }), 1, false);
    expect([r.verdict, r.reason, r.frames.length]).toEqual(['DROP', 'drop_method_unsupported_on_link', 0]);
    expect(e.counters().drop_method_unsupported_on_link).toBe(1n);
  });

  test('DR stays a counted drop on a TUN with a tunnel source (no L2: the packet would come back for the VIP)', async () => {
    const e = await tunEngine('ip', VIP, { addr: RS4, fwd: 'Route' }, { ipv4: SRC4, ipv6: SRC6 });
    const r = run(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 40030, dport: 80, flags: 'S', seq: 1 }), 1, false);
    expect([r.verdict, r.reason]).toEqual(['DROP', 'drop_method_unsupported_on_link']);
  });

  test('a source of the wrong family is refused with a clear error', async () => {
    const e = await tunEngine('ip', VIP, { addr: RS4, fwd: 'Tunnel' }, null);
    expect(() => e.setTunnelSource({ ipv4: SRC6 })).toThrow(/set_tunnel_source 2001:2:0:1::fe/);
  });
});

/** A TCP super-packet as a TUN/TAP with offloads hands it over: GSO TCPV4/V6, NEEDS_CSUM, the pseudo-header sum in the field. */
function superPacket(src: string, dst: string, total: number, mss: number, l2: number): Uint8Array {
  const p = ip(src, dst, { proto: 'tcp', sport: 40100, dport: 80, flags: 'PA', seq: 1001, ack: 5001, payload: new Uint8Array(total).map((_, i) => (i * 7) & 255) }, { ttl: 64, id: 0x1000, df: true });
  const v6 = p[0] >> 4 === 6, hl = v6 ? 40 : 20;
  const s = v6 ? p.subarray(8, 40) : p.subarray(12, 20);
  new DataView(p.buffer, p.byteOffset).setUint16(hl + 16, fold(sum16(s) + 6 + p.length - hl));
  const h = new Uint8Array(VNET), v = new DataView(h.buffer);
  h[0] = 1; h[1] = v6 ? 4 : 1;
  v.setUint16(2, hl + 20, true); v.setUint16(4, mss, true); v.setUint16(6, l2 + hl, true); v.setUint16(8, 16, true);
  return cat(h, l2 ? eth(p).subarray(0, 14) : new Uint8Array(0), p);
}

describe('a TCP super-packet to a tunnel dest on a TUN with offloads (the default): segments equal the TAP\'s, drained ones included', () => {
  for (const [name, client, vip, d] of KINDS.filter((k) => ['IPIP 4in4', 'GUE 4in4 +csum', 'GRE 6in6', 'IPIP 4in6'].includes(k[0]))) {
    test(`${name}: 20,000 bytes at gso_size 1300 (16 segments)`, async () => {
      const tap = await tunEngine('ethernet-offload', vip, d, null);
      const tunE = await tunEngine('ip-offload', vip, d, { ipv4: SRC4, ipv6: SRC6 });
      const syn = ip(client, vip, { proto: 'tcp', sport: 40100, dport: 80, flags: 'S', seq: 1000 });
      expect(run(tap, eth(syn), 1, true).frames.length).toBe(1);
      expect(run(tunE, syn, 1, true).frames.length).toBe(1);
      const r = tap.processFrame(superPacket(client, vip, 20_000, 1300, 14), 2);
      const want: Uint8Array[] = [];
      if (r.verdict === 'XMIT') want.push(r.data.subarray(VNET).slice());
      for (let k = tap.drain(); k > 0; k = tap.drain()) for (let i = 0; i < k; i++) want.push(tap.output(i).subarray(VNET).slice());
      const t = tunE.processFrame(superPacket(client, vip, 20_000, 1300, 0), 2);
      expect([t.verdict, t.reason]).toEqual(['XMIT', '']);
      const got: Uint8Array[] = [t.data.subarray(VNET).slice()];
      expect([...t.data.subarray(0, VNET)]).toEqual(Array(VNET).fill(0));
      for (let k = tunE.drain(); k > 0; k = tunE.drain()) for (let i = 0; i < k; i++) got.push(tunE.output(i).subarray(VNET).slice());
      expect(want.length).toBe(16);
      expect(got.map(hex)).toEqual(want.map((f) => hex(f.subarray(14))));
      expect(tunE.counters()).toMatchObject({ gso_packets: 1n, gso_segments: 16n, drop_gso_no_room: 0n, drop_method_unsupported_on_link: 0n });
    });
  }
});
