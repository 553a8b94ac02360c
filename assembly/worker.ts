// Workers (issue 17): which worker owns a frame. With N workers on one shared memory every conn
// belongs to one worker, the one this function names for its packets in both directions, so the
// packet path finds and changes a conn without a lock (docs/workers.md). The same function runs
// in the TUN's steering program (host/native/steer.c, TUNSETSTEERINGEBPF) so that the kernel
// already puts a frame on its owner's queue; the engine computes it again for what arrives on
// another queue and hands such a frame to its owner through the redirect ring.
//
// The function (fixed between the engine and the steering program; test/golden/owner-vectors.json):
//  1. ports from TCP / UDP / SCTP only (IPv6: only right after the fixed header); 0 for every
//     other protocol and for IPv4 fragments;
//  2. daddr a FULLNAT local address and ports present: owner = dport % N (the local ports are
//     sliced per worker as DPVS slices them per lcore: laddr.ts gives a conn of worker w a port
//     with lport % N == w, so the real server's reply comes back to w);
//     daddr a VIP: (a, p) = (saddr, sport); otherwise (a, p) = (daddr, dport) — the client side
//     of a conn is never rewritten by NAT, so both directions hash the same (caddr, cport);
//  3. key32(a): IPv4 as a big-endian u32, IPv6 the XOR of its four big-endian words;
//     h = (key32(a) ^ p) * 0x9E3779B1 (mod 2^32); owner = (h >>> 16) % N.
import { ld16be, ld32be } from "./packet/bytes";
import { isVip } from "./route";
import { laddrIsLocal } from "./laddr";
import { CTL, CTL_LADDR_LIVE, PKT, PKT_OWNER_ADDR, linkType } from "./layout";
import { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP } from "./defs";

@inline function hasPorts(proto: u32): bool { return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP; }

/** The owner hash of (a, p): a as key32, p host order. */
@inline export function ownerHash(key32: u32, port: u32, n: u32): u32 {
  return ((key32 ^ port) * 0x9e3779b1 >>> 16) % n;
}

/** The owner of the frame at `frame` (len bytes; TAP: behind a 14-byte Ethernet header, no VLAN). */
export function ownerOfFrame(frame: usize, len: u32, n: u32): u32 {
  if (linkType == 1) {
    if (len < 14) return n;
    return ownerOfIp(frame + 14, len - 14, n);
  }
  return ownerOfIp(frame, len, n);
}

/**
 * The owner of the IP packet at `ip` (len bytes, no link header) among n workers, or n when it
 * cannot be parsed (too short, not IP): such a frame stays where it is.
 */
export function ownerOfIp(ip: usize, len: u32, n: u32): u32 {
  if (n <= 1) return 0;
  if (len < 1) return n;
  let ver = <u32>load<u8>(ip) >> 4;
  let sport: u32 = 0, dport: u32 = 0, skey: u32, dkey: u32;
  let ports = false;
  let daddr = PKT + PKT_OWNER_ADDR;   // the 16-byte form of daddr, for the VIP / laddr lookups
  if (ver == 4) {
    if (len < 20) return n;
    let ihl = (<u32>load<u8>(ip) & 0xf) << 2;
    if (ihl < 20 || ihl > len) return n;
    let proto = <u32>load<u8>(ip, 9);
    let frag = (ld16be(ip + 6) & 0x3fff) != 0;
    if (hasPorts(proto) && !frag && ihl + 4 <= len) { ports = true; sport = ld16be(ip + ihl); dport = ld16be(ip + ihl + 2); }
    skey = ld32be(ip + 12);
    dkey = ld32be(ip + 16);
    store<u64>(daddr, 0);
    store<u32>(daddr, 0xffff0000, 8);
    store<u32>(daddr, load<u32>(ip, 16), 12);
  } else if (ver == 6) {
    if (len < 40) return n;
    let proto = <u32>load<u8>(ip, 6);
    if (hasPorts(proto) && len >= 44) { ports = true; sport = ld16be(ip + 40); dport = ld16be(ip + 42); }
    skey = ld32be(ip + 8) ^ ld32be(ip + 12) ^ ld32be(ip + 16) ^ ld32be(ip + 20);
    dkey = ld32be(ip + 24) ^ ld32be(ip + 28) ^ ld32be(ip + 32) ^ ld32be(ip + 36);
    memory.copy(daddr, ip + 24, 16);
  } else return n;
  if (ports && load<u32>(CTL, CTL_LADDR_LIVE) != 0 && laddrIsLocal(daddr)) return dport % n;
  if (isVip(daddr)) return ownerHash(skey, sport, n);
  return ownerHash(dkey, dport, n);
}
