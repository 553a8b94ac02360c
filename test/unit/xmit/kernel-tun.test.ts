/*
 * DR, IPIP, GUE, GRE (IPv4, IPv6 and mixed families) and tunnel path-MTU against Linux 6.1
 * (test/golden/kernel/cases/persist-tun.sh, parts B and C; recorded/persist-tun/*.pcap), and
 * the fragmentation of tunnelled packets without DF (cases/tun-frag.sh; recorded/tun-frag).
 * Every frame the client sent to a DR/tunnel service goes through a TAP-mode engine (link
 * 'ethernet', the director's MAC/addresses of the recording, the recording's neighbour entries
 * as permanent neighbours). What the engine sends must equal the kernel's frames byte for byte
 * (Ethernet header, outer header, encapsulation, inner packet), in order: the real-server side
 * for forwarded frames, the client side for ICMP frag needed / packet too big. Wildcards, where
 * the kernel is random: a GUE source port (udp_flow_src_port) and so its UDP checksum, an outer
 * IPv4 id without DF (ip_select_ident), the id of an ICMP error, an ICMPv6 flow label; and the
 * GRE checksum, which the kernel leaves to checksum offload (CHECKSUM_PARTIAL: on veth the
 * capture shows 0) while the engine fills it in. Our checksums in those places are verified by
 * recomputation instead.
 */
import { describe, test, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { records } from '../../../host/pcap/read.ts';
import { engine } from '../../helpers/engine.ts';
import type { Engine } from '../../../host/engine.ts';
import { hex, sum16 } from '../../helpers/pkt.ts';

const recorded = join(import.meta.dirname, '../../golden/kernel/recorded');
const frames = (side: string, kase = 'persist-tun') =>
  [...records([new Uint8Array(readFileSync(join(recorded, kase, `${side}-side.pcap`)))])].map((r) => r.data);
const macOf = (b: Uint8Array, o: number) => [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
const CLIENT_MAC = '02:00:00:00:00:02';

/** A service VIP:port (rr) with one dest on the same port: add(proto, vip, port, dest). */
const addService = (e: Engine) => (proto: 'TCP' | 'UDP', addr: string, port: number, d: Parameters<Engine['addDest']>[1]) => {
  const k = { proto, addr, port } as const;
  e.addService({ ...k, sched: 'rr' });
  e.addDest(k, { port, ...d });
};

/** Zero what the kernel chooses at random (see the header); returns a copy. */
function normalize(f: Uint8Array): Uint8Array {
  const b = f.slice();
  const et = (b[12] << 8) | b[13];
  const ip = 14;
  if (et === 0x0800) {
    const df = b[ip + 6] & 0x40;
    const proto = b[ip + 9];
    const first = (((b[ip + 6] << 8) | b[ip + 7]) & 0x1fff) === 0;   // a first fragment (or no fragment)
    const more = (b[ip + 6] & 0x20) !== 0;
    if (!df || proto === 1) { b[ip + 4] = b[ip + 5] = 0; b[ip + 10] = b[ip + 11] = 0; }
    if (first && proto === 17 && ((b[ip + 22] << 8) | b[ip + 23]) === 6080) { b[ip + 20] = b[ip + 21] = 0; b[ip + 26] = b[ip + 27] = 0; }
    // GRE checksum: left to offload by the kernel, except in a fragmented packet (computed in software)
    if (first && !more && proto === 47 && b[ip + 20] & 0x80) b[ip + 24] = b[ip + 25] = 0;
  } else if (et === 0x86dd) {
    b[ip + 1] &= 0xf0; b[ip + 2] = b[ip + 3] = 0;   // flow label
    if (b[ip + 6] === 44) b.fill(0, ip + 44, ip + 48);   // Fragment header identification (ipv6_select_ident)
    if (b[ip + 6] === 17 && ((b[ip + 42] << 8) | b[ip + 43]) === 6080) { b[ip + 40] = b[ip + 41] = 0; b[ip + 46] = b[ip + 47] = 0; }
    if (b[ip + 6] === 47 && b[ip + 40] & 0x80) b[ip + 44] = b[ip + 45] = 0;
  }
  return b;
}

/** Our own checksums in the wildcarded places must still be right. */
function checkOurs(f: Uint8Array): void {
  const et = (f[12] << 8) | f[13];
  const ip = f.subarray(14);
  const hl = et === 0x0800 ? 20 : 40;
  if ((et === 0x0800 ? ip[9] : ip[6]) === 47 && ip[hl] & 0x80) {
    expect(~sum16(ip.subarray(hl)) & 0xffff, 'GRE checksum').toBe(0);
  }
  if (et === 0x0800) {
    expect(~sum16(ip.subarray(0, 20)) & 0xffff, 'outer IPv4 header checksum').toBe(0);
    if (ip[9] === 17 && ((ip[26] << 8) | ip[27]) !== 0) {
      const len = (ip[24] << 8) | ip[25];
      const pseudo = [...ip.subarray(12, 20)];
      const ph = new Uint8Array([...pseudo, 0, 17, len >> 8, len & 255]);
      expect(~sum16(ip.subarray(20, 20 + len), sum16(ph)) & 0xffff, 'GUE UDP checksum').toBe(0);
    }
  }
}

describe('DR and tunnels, replayed against the 6.1 recording', () => {
  test('every forwarded frame and every ICMP frag needed / too big, byte for byte', async () => {
    const cli = frames('client'), dst = frames('dest');
    const e = await engine({ link: 'ethernet', headroom: 256, slotSize: 4096 });
    e.setLink({ mac: '02:00:00:00:01:fe', ipv4: '198.18.1.254', ipv6: '2001:2:0:1::fe' });
    const v4mac = macOf(dst.find((f) => f[12] === 0x08 && f[13] === 0)!, 0);
    const v6mac = macOf(dst.find((f) => f[12] === 0x86)!, 0);
    e.addNeighbour('198.18.1.11', v4mac); e.addNeighbour('198.18.1.12', v4mac); e.addNeighbour('2001:2:0:1::11', v6mac);
    const add = addService(e);
    add('TCP', '198.18.2.20', 80, { addr: '198.18.1.11', fwd: 'Route' });
    add('TCP', '198.18.2.21', 80, { addr: '198.18.1.12', fwd: 'Tunnel' });
    add('UDP', '198.18.2.21', 53, { addr: '198.18.1.12', fwd: 'Tunnel' });
    add('TCP', '198.18.2.22', 80, { addr: '198.18.1.12', fwd: 'Tunnel', tunType: 'gue', tunPort: 6080 });
    add('TCP', '198.18.2.23', 80, { addr: '198.18.1.12', fwd: 'Tunnel', tunType: 'gue', tunPort: 6080, tunFlags: 1 });
    add('TCP', '198.18.2.24', 80, { addr: '198.18.1.12', fwd: 'Tunnel', tunType: 'gue', tunPort: 6080, tunFlags: 2 });
    add('TCP', '198.18.2.25', 80, { addr: '198.18.1.12', fwd: 'Tunnel', tunType: 'gre' });
    add('TCP', '198.18.2.26', 80, { addr: '198.18.1.12', fwd: 'Tunnel', tunType: 'gre', tunFlags: 1 });
    add('TCP', '198.18.2.27', 80, { addr: '2001:2:0:1::11', fwd: 'Tunnel' });
    add('TCP', '2001:2::200', 80, { addr: '2001:2:0:1::11', fwd: 'Tunnel' });
    add('TCP', '2001:2::200', 81, { addr: '2001:2:0:1::11', fwd: 'Route' });
    add('TCP', '2001:2::200', 82, { addr: '198.18.1.12', fwd: 'Tunnel' });
    add('TCP', '2001:2::200', 83, { addr: '2001:2:0:1::11', fwd: 'Tunnel', tunType: 'gue', tunPort: 6080, tunFlags: 1 });
    add('TCP', '2001:2::200', 84, { addr: '2001:2:0:1::11', fwd: 'Tunnel', tunType: 'gre', tunFlags: 1 });

    const inputs = cli.filter((f) => macOf(f, 6) === CLIENT_MAC && (f[13] === 0 || f[12] === 0x86));
    const icmps = cli.filter((f) => macOf(f, 0) === CLIENT_MAC && ((f[12] === 8 && f[23] === 1) || (f[12] === 0x86 && f[20] === 58)));
    const want = { dest: dst.filter((f) => f[12] === 0x08 || f[12] === 0x86), icmp: icmps };
    const got = { dest: [] as Uint8Array[], icmp: [] as Uint8Array[] };
    let t = 0;
    for (const f of inputs) {
      const r = e.processFrame(f, (t += 10));
      if (r.verdict === 'XMIT') got.dest.push(r.data);
      else if (r.verdict === 'LOCAL') got.icmp.push(r.data);
      else expect.fail(`frame ${hex(f.subarray(0, 60))}: ${r.verdict} ${r.reason}`);
    }
    expect(inputs.length).toBeGreaterThan(40);
    expect(got.dest.length).toBe(want.dest.length);
    expect(got.icmp.length).toBe(want.icmp.length);
    expect(got.icmp.length).toBe(5);   // IPIP, GUE, GRE+csum, 6in6, 4in6
    for (let i = 0; i < want.dest.length; i++) {
      expect(hex(normalize(got.dest[i])), `forwarded frame ${i}`).toBe(hex(normalize(want.dest[i])));
      checkOurs(got.dest[i]);
    }
    for (let i = 0; i < want.icmp.length; i++) expect(hex(normalize(got.icmp[i])), `ICMP ${i}`).toBe(hex(normalize(want.icmp[i])));
    expect(e.counters().icmp_frag_needed).toBe(5n);
    // mixed families: a conn's dest address is listed in the dest's family (cp->daf), not the client's
    const daddrs = e.conns().filter((c) => (c.vaddr === '198.18.2.27' && c.vport === 80) || (c.vaddr === '2001:2::200' && c.vport === 82)).map((c) => `${c.vaddr} ${c.daddr}`);
    expect(new Set(daddrs)).toEqual(new Set(['198.18.2.27 2001:2:0:1::11', '2001:2::200 198.18.1.12']));
  });
});

/** Fragments of one outer packet: [ip header id or fragment id, offset, more] per frame. */
function fragInfo(f: Uint8Array): { id: number; off: number; more: boolean } | null {
  const ip = 14;
  if (f[12] === 0x08) {
    const fo = (f[ip + 6] << 8) | f[ip + 7];
    if ((fo & 0x3fff) === 0) return null;
    return { id: (f[ip + 4] << 8) | f[ip + 5], off: (fo & 0x1fff) * 8, more: (fo & 0x2000) !== 0 };
  }
  if (f[ip + 6] !== 44) return null;
  const fo = (f[ip + 42] << 8) | f[ip + 43];
  return { id: new DataView(f.buffer, f.byteOffset).getUint32(ip + 44), off: fo & 0xfff8, more: (fo & 1) !== 0 };
}

describe('802.1Q: DR and tunnel frames keep the tag of the client\'s frame', () => {
  test('a tagged SYN to the IPIP and DR services leaves with the same tag, the rest as the kernel\'s untagged frame', async () => {
    const cli = frames('client'), dst = frames('dest');
    const e = await engine({ link: 'ethernet', headroom: 256, slotSize: 4096 });
    e.setLink({ mac: '02:00:00:00:01:fe', ipv4: '198.18.1.254' });
    const rsMac = macOf(dst.find((f) => f[12] === 0x08 && f[13] === 0)!, 0);
    e.addNeighbour('198.18.1.11', rsMac); e.addNeighbour('198.18.1.12', rsMac);
    for (const [vip, rs, fwd] of [['198.18.2.20', '198.18.1.11', 'Route'], ['198.18.2.21', '198.18.1.12', 'Tunnel']] as const) {
      e.addService({ proto: 'TCP', addr: vip, port: 80, sched: 'rr' });
      e.addDest({ proto: 'TCP', addr: vip, port: 80 }, { addr: rs, port: 80, fwd });
    }
    const tag = (f: Uint8Array, tci: number) => { const t = new Uint8Array(f.length + 4); t.set(f.subarray(0, 12)); t.set([0x81, 0x00, tci >> 8, tci & 255], 12); t.set(f.subarray(12), 16); return t; };
    for (const vipLast of [20, 21]) {
      const syn = cli.find((f) => macOf(f, 6) === CLIENT_MAC && f[13] === 0 && f[12] === 8 && f[33] === vipLast && f[47] === 2)!;
      const want = dst.find((f) => f[12] === 8 && f[13] === 0 && (f[23] === 4 ? f[14 + 20 + 19] === vipLast : f[33] === vipLast) && f[f[23] === 4 ? 14 + 20 + 33 : 47] === 2)!;
      const r = e.processFrame(tag(syn, 0x200a), vipLast);
      expect(r.verdict).toBe('XMIT');
      const untagged = Uint8Array.from([...r.data.subarray(0, 12), ...r.data.subarray(16)]);
      expect(hex(normalize(untagged)), `untagged part, .${vipLast}`).toBe(hex(normalize(want)));
      expect(hex(r.data.subarray(12, 16)), `the tag, .${vipLast}`).toBe('8100200a');
    }
  });
});

describe('tunnelled packets over the path MTU without DF, replayed against the 6.1 recording (cases/tun-frag.sh)', () => {
  test('IPIP, GUE+csum, GRE+csum (IPv4 outer) and 4in6 (IPv6 outer + Fragment header): every fragment byte for byte, in the kernel\'s order', async () => {
    const cli = frames('client', 'tun-frag'), dst = frames('dest', 'tun-frag');
    const e = await engine({ link: 'ethernet', headroom: 256, slotSize: 4096 });
    e.setLink({ mac: '02:00:00:00:01:fe', ipv4: '198.18.1.254', ipv6: '2001:2:0:1::fe' });
    e.addNeighbour('198.18.1.12', macOf(dst.find((f) => f[12] === 0x08 && f[13] === 0)!, 0));
    e.addNeighbour('2001:2:0:1::11', macOf(dst.find((f) => f[12] === 0x86 && f[20] !== 58)!, 0));
    const add = addService(e);
    add('UDP', '198.18.2.21', 53, { addr: '198.18.1.12', fwd: 'Tunnel' });
    add('TCP', '198.18.2.21', 80, { addr: '198.18.1.12', fwd: 'Tunnel' });
    add('TCP', '198.18.2.23', 80, { addr: '198.18.1.12', fwd: 'Tunnel', tunType: 'gue', tunPort: 6080, tunFlags: 1 });
    add('TCP', '198.18.2.26', 80, { addr: '198.18.1.12', fwd: 'Tunnel', tunType: 'gre', tunFlags: 1 });
    add('TCP', '198.18.2.27', 80, { addr: '2001:2:0:1::11', fwd: 'Tunnel' });

    const inputs = cli.filter((f) => macOf(f, 6) === CLIENT_MAC && f[12] === 0x08 && f[13] === 0);
    const want = dst.filter((f) => (f[12] === 0x08 && f[13] === 0) || (f[12] === 0x86 && f[20] !== 58));
    const wantIcmp = cli.filter((f) => macOf(f, 0) === CLIENT_MAC && f[12] === 8 && f[23] === 1);
    const got: Uint8Array[] = [], gotIcmp: Uint8Array[] = [];
    let t = 0;
    for (const f of inputs) {
      const r = e.processFrame(f, (t += 10));
      if (r.verdict === 'XMIT') got.push(r.data);
      else if (r.verdict === 'LOCAL') gotIcmp.push(r.data);
      else expect.fail(`frame ${hex(f.subarray(0, 60))}: ${r.verdict} ${r.reason}`);
      // the fragments after the first leave through drain(), right behind it
      for (let k = e.drain(), i = 0; i < k; i++) got.push(e.output(i));
    }
    expect(inputs.length).toBe(11);
    expect(want.filter((f) => fragInfo(f)).length).toBe(10);     // 5 packets in 2 fragments each
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) {
      expect(hex(normalize(got[i])), `dest frame ${i}`).toBe(hex(normalize(want[i])));
      if (!fragInfo(got[i])) checkOurs(got[i]);
      else if (got[i][12] === 0x08) expect(~sum16(got[i].subarray(14, 34)) & 0xffff, `fragment ${i} header checksum`).toBe(0);
    }
    // our checksums that span fragments (GUE UDP, GRE), on the packet put back together
    for (let i = 0; i < got.length; i++) {
      const a = fragInfo(got[i]);
      if (!a || a.off !== 0) continue;
      const b = got[i + 1];
      if (got[i][12] !== 0x08) continue;
      const whole = new Uint8Array(got[i].length + b.length - 34);
      whole.set(got[i]); whole.set(b.subarray(34), got[i].length);
      const v = new DataView(whole.buffer);
      v.setUint16(14 + 2, whole.length - 14); v.setUint16(14 + 6, 0); v.setUint16(14 + 10, 0);
      v.setUint16(14 + 10, ~sum16(whole.subarray(14, 34)) & 0xffff);
      checkOurs(whole);
    }
    // fragments of one packet share one identification; each packet its own
    const ids = got.map(fragInfo).filter((x) => x !== null);
    expect(ids.map((x) => [x.off, x.more])).toEqual([[0, true], [1480, false], [0, true], [1480, false], [0, true], [1480, false],
      [0, true], [1480, false], [0, true], [1448, false]]);
    for (let i = 0; i < ids.length; i += 2) expect(ids[i + 1].id).toBe(ids[i].id);
    expect(new Set(ids.map((x) => x.id)).size).toBe(5);
    // the DF one: refused with ICMP fragmentation needed, MTU 1480, as the kernel did
    expect(gotIcmp.length).toBe(1);
    expect(hex(normalize(gotIcmp[0]))).toBe(hex(normalize(wantIcmp[0])));
    expect(e.counters()).toMatchObject({ frag_created: 10n, icmp_frag_needed: 1n, drop_frag_no_room: 0n });
  });

  test('on a TUN (raw IP) the same fragments: the first in the slot, the second from drain()', async () => {
    const cli = frames('client', 'tun-frag'), dst = frames('dest', 'tun-frag');
    const e = await engine({ headroom: 256, slotSize: 4096 });
    e.setLink({ mac: '02:00:00:00:01:fe', ipv4: '198.18.1.254' });
    e.addService({ proto: 'UDP', addr: '198.18.2.21', port: 53, sched: 'rr' });
    e.addDest({ proto: 'UDP', addr: '198.18.2.21', port: 53 }, { addr: '198.18.1.12', port: 53, fwd: 'Tunnel' });
    const big = cli.find((f) => f[12] === 0x08 && f[13] === 0 && f[23] === 17 && ((f[16] << 8) | f[17]) === 1500 && !(f[20] & 0x40))!;
    const want = dst.filter((f) => f[12] === 0x08 && f[13] === 0 && f[23] === 4).slice(0, 2).map((f) => f.subarray(14));
    const r = e.processFrame(big.subarray(14), 10);
    expect(r.verdict).toBe('XMIT');
    expect(e.drain()).toBe(1);
    const got = [r.data, e.output(0)];
    const ip = (b: Uint8Array) => { const c = b.slice(); c[4] = c[5] = c[10] = c[11] = 0; return hex(c); };
    expect(got.map(ip)).toEqual(want.map(ip));
    expect(e.drain()).toBe(0);
  });

  test('no room in the hold queue for every fragment: the packet is a counted drop, nothing half-sent; drained, the next one goes', async () => {
    const cli = frames('client', 'tun-frag');
    // 8 slots: a hold queue of 32 (frames waiting for next hops) + 8 (one extra frame per slot)
    const e = await engine({ link: 'ethernet', headroom: 256, slotSize: 4096, slots: 8 });
    e.setLink({ mac: '02:00:00:00:01:fe', ipv4: '198.18.1.254' });
    e.addNeighbour('198.18.1.12', '02:00:00:00:01:01');
    e.addService({ proto: 'UDP', addr: '198.18.2.21', port: 53, sched: 'rr' });
    e.addDest({ proto: 'UDP', addr: '198.18.2.21', port: 53 }, { addr: '198.18.1.12', port: 53, fwd: 'Tunnel' });
    const big = cli.find((f) => f[12] === 0x08 && f[13] === 0 && f[23] === 17 && ((f[16] << 8) | f[17]) === 1500 && !(f[20] & 0x40))!;
    // 40 packets without a drain in between: 40 second fragments fill the queue
    for (let i = 0; i < 40; i++) expect(e.processFrame(big, 1).verdict).toBe('XMIT');
    expect(e.heldFrames()).toBe(40);
    const r = e.processFrame(big, 2);
    expect(r).toMatchObject({ verdict: 'DROP', reason: 'drop_frag_no_room' });
    expect(e.counters()).toMatchObject({ drop_frag_no_room: 1n, frag_created: 80n });
    expect(e.heldFrames()).toBe(40);
    let sent = 0;
    for (let k = e.drain(); k > 0; k = e.drain()) sent += k;
    expect(sent).toBe(40);
    const r2 = e.processFrame(big, 3);
    expect(r2.verdict).toBe('XMIT');
    expect(r2.data.length).toBe(14 + 1500);
    expect(e.drain()).toBe(1);
    expect(e.output(0).length).toBe(14 + 20 + 20);   // the second fragment: 20 bytes of the 1520
    expect(e.counters().frag_created).toBe(82n);
  });

  test('frames waiting for a next hop are capped at 32; fragments of a packet are held whole, behind their first', async () => {
    const cli = frames('client', 'tun-frag');
    const e = await engine({ link: 'ethernet', headroom: 256, slotSize: 4096, slots: 64 });
    e.setLink({ mac: '02:00:00:00:01:fe', ipv4: '198.18.1.254' });
    e.addService({ proto: 'UDP', addr: '198.18.2.21', port: 53, sched: 'rr' });
    e.addDest({ proto: 'UDP', addr: '198.18.2.21', port: 53 }, { addr: '198.18.1.12', port: 53, fwd: 'Tunnel' });
    const big = cli.find((f) => f[12] === 0x08 && f[13] === 0 && f[23] === 17 && ((f[16] << 8) | f[17]) === 1500 && !(f[20] & 0x40))!;
    const verdicts = Array.from({ length: 20 }, (_, i) => e.processFrame(big, 1 + i).verdict);
    // 198.18.1.12 unknown: each packet held whole (first + second fragment); the cap counts first fragments
    expect(verdicts.slice(0, 16)).toEqual(Array(16).fill('STOLEN'));
    expect(e.neighbour('198.18.1.12').state).toBe('INCOMPLETE');
    expect(e.counters().drop_neigh_queue_full).toBe(BigInt(verdicts.filter((v) => v === 'DROP').length));
    // the ARP request goes first; the reply releases every held frame, each packet's first fragment before its second
    expect(e.drain()).toBe(1);
    const arp = Uint8Array.from([2, 0, 0, 0, 1, 0xfe, 2, 0, 0, 0, 1, 1, 8, 6, 0, 1, 8, 0, 6, 4, 0, 2, 2, 0, 0, 0, 1, 1, 198, 18, 1, 12, 2, 0, 0, 0, 1, 0xfe, 198, 18, 1, 254]);
    e.processFrame(arp, 100);
    const out: Uint8Array[] = [];
    for (let k = e.drain(); k > 0; k = e.drain()) for (let i = 0; i < k; i++) out.push(e.output(i));
    const held = verdicts.filter((v) => v === 'STOLEN').length;
    expect(out.length).toBe(2 * held);
    for (let i = 0; i < out.length; i += 2) {
      expect((out[i][14 + 6] << 8 | out[i][14 + 7]) & 0x3fff, `frame ${i}: a first fragment`).toBe(0x2000);
      expect((out[i + 1][14 + 6] << 8 | out[i + 1][14 + 7]) & 0x1fff, `frame ${i + 1}: its second`).toBe(1480 / 8);
      expect(hex(out[i + 1].subarray(14 + 4, 14 + 6))).toBe(hex(out[i].subarray(14 + 4, 14 + 6)));
    }
  });
});
