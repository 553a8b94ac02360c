/*
 * host/replay/demo.ts - the bundled example capture: what a NAT director's inside interface
 * would have seen. Clients talk to a TCP and a UDP virtual service, real servers answer, some
 * flows end with FIN, some with RST, some are left to time out, a few packets are broken.
 *
 * Runtime-agnostic. The capture is generated against the engine itself (KatranSimulator-style):
 * the client's first packet goes through a scratch engine with the same rules, and the conn
 * listing says which real server got the flow, so the replies come from the right server.
 */
import { Engine } from '../engine.ts';
import { writePcap } from '../pcap/write.ts';
import { applyRules } from './rules.ts';
import { replayEngineConfig } from './replay.ts';

export const DEMO_RULES = `-A -t 198.18.0.100:80 -s wrr
-a -t 198.18.0.100:80 -r 198.18.1.1:8080 -m -w 3
-a -t 198.18.0.100:80 -r 198.18.1.2:8080 -m -w 2
-a -t 198.18.0.100:80 -r 198.18.1.3:8080 -m -w 1
-A -u 198.18.0.100:53 -s rr
-a -u 198.18.0.100:53 -r 198.18.1.1:5353 -m -w 1
-a -u 198.18.0.100:53 -r 198.18.1.2:5353 -m -w 1
`;

const ip4 = (s: string) => s.split('.').map(Number);

function sum16(b: Uint8Array, from: number, to: number, init = 0): number {
  let s = init;
  for (let i = from; i + 1 < to; i += 2) s += (b[i] << 8) | b[i + 1];
  if ((to - from) & 1) s += b[to - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

export interface Seg { src: string; dst: string; sport: number; dport: number; proto: 'tcp' | 'udp'; flags?: string; seq?: number; ack?: number; payload?: number }

const TCPF: Record<string, number> = { F: 1, S: 2, R: 4, P: 8, A: 16 };

/** A raw IPv4 TCP/UDP packet with correct checksums; `payload` is a byte count of 'x'. */
export function ipv4(p: Seg, id = 1): Uint8Array {
  const tcp = p.proto === 'tcp';
  const l4len = (tcp ? 20 : 8) + (p.payload ?? 0);
  const b = new Uint8Array(20 + l4len);
  const v = new DataView(b.buffer);
  b[0] = 0x45; v.setUint16(2, b.length); v.setUint16(4, id & 0xffff); v.setUint16(6, 0x4000); b[8] = 64; b[9] = tcp ? 6 : 17;
  b.set(ip4(p.src), 12); b.set(ip4(p.dst), 16);
  v.setUint16(10, ~sum16(b, 0, 20) & 0xffff);
  v.setUint16(20, p.sport); v.setUint16(22, p.dport);
  if (tcp) {
    v.setUint32(24, p.seq ?? 0); v.setUint32(28, p.ack ?? 0); b[32] = 5 << 4;
    b[33] = [...(p.flags ?? 'S')].reduce((a, c) => a | TCPF[c], 0); v.setUint16(34, 64240);
  } else v.setUint16(24, l4len);
  b.fill(0x78, 20 + (tcp ? 20 : 8));
  const pseudo = sum16(b, 12, 20) + (tcp ? 6 : 17) + l4len;
  let c = ~sum16(b, 20, b.length, pseudo) & 0xffff;
  if (!tcp && c === 0) c = 0xffff;
  v.setUint16(tcp ? 36 : 26, c);
  return b;
}

/** Wrap a raw IP packet in Ethernet (the demo is a LINKTYPE_ETHERNET capture, as tcpdump -i eth0 writes). */
export function ether(p: Uint8Array, toDirector: boolean): Uint8Array {
  const f = new Uint8Array(14 + p.length);
  f.set(toDirector ? [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2] : [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
  f[12] = 0x08; f.set(p, 14);
  return f;
}

/** A small PRNG so the demo is the same everywhere (mulberry32). */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Build the demo capture (pcap, Ethernet). ~40 s of traffic, a few hundred packets. */
export async function buildDemoCapture(wasm: WebAssembly.Module | BufferSource, flows = 48): Promise<Uint8Array> {
  const eng = await Engine.create(wasm as any, replayEngineConfig(1, 4096));
  applyRules(eng, DEMO_RULES);
  const rand = rng(7);
  const VIP = '198.18.0.100';
  const T0 = 1_700_000_000_000; // ms
  const evs: { ms: number; frame: Uint8Array }[] = [];
  let id = 1;
  const at = (ms: number, seg: Seg, toDirector = true) => evs.push({ ms, frame: ether(ipv4(seg, id++), toDirector) });
  const rsOf = (client: string, cport: number, ms: number, first: Uint8Array) => {
    eng.processFrame(first.subarray(14), ms);
    const c = eng.conns().find((x) => x.caddr === client && x.cport === cport);
    return c ? c.daddr : '';
  };
  let t = T0;
  for (let f = 0; f < flows; f++) {
    t += Math.floor(200 + rand() * 900);
    const client = `198.18.0.${10 + (f % 40)}`;
    const cport = 40000 + f;
    if (f % 6 === 5) {
      // UDP query/answer
      const q: Seg = { src: client, dst: VIP, sport: cport, dport: 53, proto: 'udp', payload: 32 };
      const first = ether(ipv4(q, 0), true);
      const rs = rsOf(client, cport, t, first);
      at(t, q);
      if (rs) at(t + 2, { src: rs, dst: client, sport: 5353, dport: cport, proto: 'udp', payload: 96 }, false);
      continue;
    }
    const c: Seg = { src: client, dst: VIP, sport: cport, dport: 80, proto: 'tcp' };
    const syn = { ...c, flags: 'S', seq: 1000 };
    const rs = rsOf(client, cport, t, ether(ipv4(syn, 0), true));
    const s: Seg = { src: rs, dst: client, sport: 8080, dport: cport, proto: 'tcp' };
    const rtt = 1 + Math.floor(rand() * 8);
    let u = t;
    at(u, syn);
    at((u += rtt), { ...s, flags: 'SA', seq: 5000, ack: 1001 }, false);
    at((u += rtt), { ...c, flags: 'A', seq: 1001, ack: 5001 });
    at((u += 1), { ...c, flags: 'PA', seq: 1001, ack: 5001, payload: 120 });
    at((u += rtt + Math.floor(rand() * 40)), { ...s, flags: 'PA', seq: 5001, ack: 1121, payload: 900 }, false);
    const end = f % 7;
    if (end === 3) {
      at((u += rtt), { ...c, flags: 'R', seq: 1121 }); // client resets
    } else if (end === 6) {
      // left open: expires in ESTABLISHED after the tcp timeout (not within this capture)
    } else {
      at((u += 50 + Math.floor(rand() * 400)), { ...c, flags: 'FA', seq: 1121, ack: 5901 });
      at((u += rtt), { ...s, flags: 'A', seq: 5901, ack: 1122 }, false);
      at((u += 2), { ...s, flags: 'FA', seq: 5901, ack: 1122 }, false);
      at((u += rtt), { ...c, flags: 'A', seq: 1122, ack: 5902 });
    }
  }
  // noise: a packet to a non-virtual address, an ACK for no conn, a broken IP header
  at(t + 10, { src: '198.18.0.9', dst: '198.18.0.200', sport: 1234, dport: 80, proto: 'tcp', flags: 'S' });
  at(t + 11, { src: '198.18.0.9', dst: VIP, sport: 1235, dport: 80, proto: 'tcp', flags: 'A' });
  const bad = ether(ipv4({ src: '198.18.0.9', dst: VIP, sport: 1236, dport: 80, proto: 'tcp', flags: 'S' }, 9), true);
  bad[14 + 10] ^= 0xff;
  evs.push({ ms: t + 12, frame: bad });
  // late UDP traffic after the UDP timeout (300 s) expired the earlier UDP conns
  at(t + 301_000, { src: '198.18.0.15', dst: VIP, sport: 45000, dport: 53, proto: 'udp', payload: 32 });
  evs.sort((a, b) => a.ms - b.ms);
  return writePcap(evs.map((e) => ({ tsNs: BigInt(Math.round(e.ms * 1000)) * 1000n, data: e.frame })), { linkType: 1 });
}
