// The vectors of test/golden/owner-vectors.json: frames (hex) with N and the owner the conn-owner
// function (docs/workers.md) gives them, from the plain reference in owner-ref.ts. Written by
//   WVS_RECORD_OWNER=1 npx vitest run -c test/vitest.config.ts test/unit/workers/owner.test.ts
// (the test checks the committed file equals what this builds). The vectors are shared by the
// engine's test and the TUN steering program's: change them only when both sides change the function.
import { ip } from '../../../host/packet-builder.ts';
import { ownerRef, type AddrSet } from './owner-ref.ts';

export function buildVectors() {
const set: AddrSet = { vips: ['198.18.0.100', '2001:2::100'], laddrs: ['198.18.3.1', '2001:2:0:3::1'] };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const vectors: { name: string; link: 'tun' | 'tap'; frame: string; n: number; owner: number }[] = [];
const add = (name: string, frame: Uint8Array, link: 'tun' | 'tap' = 'tun') => {
  for (const n of [1, 2, 3, 4, 7, 16]) vectors.push({ name, link, frame: hex(frame), n, owner: ownerRef(frame, n, set, link) });
};

// client -> VIP (TCP, UDP), many client ports: (saddr, sport)
for (const p of [1024, 1025, 40000, 40001, 65535]) add(`tcp client:${p} -> vip:80`, ip('198.18.1.10', '198.18.0.100', { proto: 'tcp', sport: p, dport: 80 }));
for (const p of [5000, 5001]) add(`udp client:${p} -> vip:53`, ip('198.18.1.11', '198.18.0.100', { proto: 'udp', sport: p, dport: 53 }));
// the NAT reply real server -> client: (daddr, dport), the same owner as the request
for (const p of [1024, 1025, 40000, 40001, 65535]) add(`tcp rs:8080 -> client:${p} (NAT reply)`, ip('198.18.2.1', '198.18.1.10', { proto: 'tcp', sport: 8080, dport: p, flags: 'SA' }));
// the NAT reply with the VIP as source (DR/local): still (daddr, dport)
add('tcp vip:80 -> client:40000', ip('198.18.0.100', '198.18.1.10', { proto: 'tcp', sport: 80, dport: 40000, flags: 'A' }));
// FULLNAT reply to a local address: dport % N
for (const p of [1025, 1026, 1027, 1028, 30001]) add(`tcp rs:8080 -> laddr:${p} (FULLNAT reply)`, ip('198.18.2.1', '198.18.3.1', { proto: 'tcp', sport: 8080, dport: p, flags: 'SA' }));
// a laddr without ports (ICMP): not sliced, hashed as "otherwise" with port 0
add('icmp echo -> laddr', ip('198.18.2.1', '198.18.3.1', { proto: 'icmp', type: 8, code: 0, rest: 0x12340001 }));
// ICMP to the VIP and an ICMP error: ports 0
add('icmp echo client -> vip', ip('198.18.1.10', '198.18.0.100', { proto: 'icmp', type: 8, code: 0, rest: 0x12340001 }));
add('icmp frag-needed rs -> client', ip('198.18.2.1', '198.18.1.10', { proto: 'icmp', type: 3, code: 4, rest: 1400,
  payload: ip('198.18.1.10', '198.18.2.1', { proto: 'tcp', sport: 40000, dport: 8080 }).subarray(0, 28) }));
// IPv4 fragments: ports 0 (first fragment too)
{
  const whole = ip('198.18.1.10', '198.18.0.100', { proto: 'udp', sport: 40000, dport: 53, payload: new Uint8Array(64) }, { id: 7 });
  const first = whole.slice(0, 20 + 24); first[6] = 0x20; first[7] = 0; first[2] = 0; first[3] = 44;
  add('udp first fragment (MF) client -> vip', first);
  const later = whole.slice(0, 20 + 16); later[6] = 0; later[7] = 3; later[2] = 0; later[3] = 36;
  add('udp last fragment (offset 24) client -> vip', later);
}
// SCTP (132): ports like TCP/UDP
{
  const s = ip('198.18.1.10', '198.18.0.100', { proto: 'udp', sport: 40000, dport: 5060, payload: new Uint8Array(12) });
  s[9] = 132;
  add('sctp client:40000 -> vip:5060 (proto 132)', s);
  const g = s.slice(); g[9] = 47; add('gre (proto 47) client -> vip: ports 0', g);
}
// IPv6: client -> VIP, reply, FULLNAT reply, an extension header (ports 0), ICMPv6
for (const p of [1024, 40000, 40001]) add(`tcp6 client:${p} -> vip6:80`, ip('2001:2:0:1::10', '2001:2::100', { proto: 'tcp', sport: p, dport: 80 }));
for (const p of [1024, 40000, 40001]) add(`tcp6 rs -> client:${p}`, ip('2001:2:0:2::1', '2001:2:0:1::10', { proto: 'tcp', sport: 8080, dport: p, flags: 'SA' }));
for (const p of [1025, 1026, 1027]) add(`tcp6 rs -> laddr6:${p}`, ip('2001:2:0:2::1', '2001:2:0:3::1', { proto: 'tcp', sport: 8080, dport: p, flags: 'SA' }));
{
  const t = ip('2001:2:0:1::10', '2001:2::100', { proto: 'tcp', sport: 40000, dport: 80 });
  const e = new Uint8Array(t.length + 8);
  e.set(t.subarray(0, 40)); e[6] = 0; // hop-by-hop options first
  e[40] = 6; e[41] = 0; e[42] = 1; e[43] = 4; // next header TCP, PadN
  e.set(t.subarray(40), 48);
  e[4] = (t.length + 8 - 40) >> 8; e[5] = (t.length + 8 - 40) & 0xff;
  add('tcp6 behind a hop-by-hop header client -> vip6: ports 0', e);
}
add('icmpv6 echo client -> vip6', ip('2001:2:0:1::10', '2001:2::100', { proto: 'icmp', type: 128, code: 0, rest: 0x00010001 }));
// TAP: the same owner behind a 14-byte Ethernet header
{
  const p = ip('198.18.1.10', '198.18.0.100', { proto: 'tcp', sport: 40000, dport: 80 });
  const f = new Uint8Array(14 + p.length);
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]); f.set(p, 14);
  add('tap: tcp client:40000 -> vip:80', f, 'tap');
}
// not IP
add('not IP (version 5)', new Uint8Array([0x50, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 1, 10, 198, 18, 0, 100]));

const out = {
  about: 'conn-owner function vectors (docs/workers.md): owner in 0..n-1, n = not IP. Generated by test/golden/owner/record.ts from owner-ref.ts.',
  function: 'ports: TCP/UDP/SCTP only (IPv6: right after the fixed header), 0 for IPv4 fragments; daddr LADDR with ports: dport % n; daddr VIP: (saddr, sport); else (daddr, dport); key32: IPv4 big-endian u32, IPv6 XOR of the four big-endian words; h = ((key32 ^ p) * 0x9E3779B1) mod 2^32; owner = (h >>> 16) % n',
  addressSet: set,
  vectors,
};
return out;
}
