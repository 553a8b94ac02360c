// Internet checksum (RFC 1071) and incremental updates (RFC 1624, eqn. 3), done the way the
// kernel's IPVS does them (ip_vs_check_diff2/4/16 + csum_fold) so the bytes we emit equal the
// kernel's, including which of the two zero representations comes out.
//
// All sums run on 16-bit words exactly as they sit in memory (little-endian loads). The
// one's-complement sum is byte-order independent (RFC 1071 §2(B)), so a sum of swapped words,
// stored back with the same little-endian store, is the right checksum in wire order.
import { htons } from "./bytes";

/** Fold a wide one's-complement sum to 16 bits (end-around carry). */
@inline export function csumFold(s: u64): u32 {
  s = (s & 0xffffffff) + (s >> 32);   // ≤ 2^33 - 2 for any u64
  s = (s & 0xffffffff) + (s >> 32);   // the end-around carry: < 2^32
  // 32 → 16 bits with the end-around carry in one add (csum_fold): the upper half of
  // x + (x rotated by 16) is hi + lo + the carry out of lo + hi
  let x = <u32>s;
  return (x + rotr<u32>(x, 16)) >> 16;
}

/** Sum `len` bytes at `p` (memory-order words), added to `init`. */
export function csumPartial(p: usize, len: u32, init: u64): u64 {
  let s = init;
  let end = p + len;
  while (p + 8 <= end) {
    let w = load<u64>(p);
    s += (w & 0xffffffff) + (w >> 32);
    p += 8;
  }
  if (p + 4 <= end) { s += <u64>load<u32>(p); p += 4; }
  if (p + 2 <= end) { s += <u64>load<u16>(p); p += 2; }
  if (p < end) s += <u64>load<u8>(p);   // odd byte: the high-order byte of a zero-padded word
  return s;
}

/** Sum of a 16-byte address in memory order. */
@inline export function csumAddr16(a: usize): u64 {
  return <u64>load<u32>(a) + <u64>load<u32>(a, 4) + <u64>load<u32>(a, 8) + <u64>load<u32>(a, 12);
}

/** Is the IPv4 header checksum right? (ip_rcv's check; the common 20-byte header unrolled) */
@inline export function ipv4CsumOk(ip: usize, ihl: u32): bool {
  if (ihl == 20) {
    let s: u64 = <u64>load<u32>(ip) + <u64>load<u32>(ip, 4) + <u64>load<u32>(ip, 8) + <u64>load<u32>(ip, 12) + <u64>load<u32>(ip, 16);
    return csumFold(s) == 0xffff;
  }
  return csumFold(csumPartial(ip, ihl, 0)) == 0xffff;
}

/**
 * The IPv4 header checksum after NAT changed the TTL/protocol word and one address, updated
 * incrementally (RFC 1624 eqn. 3). Equal to ip_send_check's full recomputation: both land in
 * 0..0xfffe (the 0xffff0000 term of the 32-bit complement keeps the sum from folding to zero).
 */
export function ipv4HdrUpdate(ip: usize, oldWord: u16, oldAddr: u32, newAddr: u32): void {
  let s = startDiff(load<u16>(ip, 10));
  s += <u64>(~(<u32>oldWord) & 0xffff) + <u64>load<u16>(ip, 8);
  let from: u32 = ~oldAddr;
  s += <u64>from + <u64>newAddr;
  store<u16>(ip, <u16>(~csumFold(s) & 0xffff), 10);
}

/** IPv4 header checksum, computed in full (ip_send_check). */
export function ipv4SendCheck(ip: usize, ihl: u32): void {
  store<u16>(ip, 0, 10);
  store<u16>(ip, <u16>(~csumFold(csumPartial(ip, ihl, 0)) & 0xffff), 10);
}

/** Full checksum of a buffer (ip_compute_csum): the ICMP checksum. */
@inline export function computeCsum(p: usize, len: u32): u16 {
  return <u16>(~csumFold(csumPartial(p, len, 0)) & 0xffff);
}

/** Pseudo-header sum for TCP/UDP/ICMPv6 (RFC 793, RFC 768, RFC 8200 §8.1); addresses 16-byte form. */
export function pseudoSum(af: u8, saddr: usize, daddr: usize, proto: u8, len: u32): u64 {
  let s: u64 = <u64>htons(proto) + <u64>htons(len & 0xffff) + <u64>htons(len >> 16);
  if (af == 4) return s + <u64>load<u32>(saddr, 12) + <u64>load<u32>(daddr, 12);
  return s + csumAddr16(saddr) + csumAddr16(daddr);
}

/** A TCP/UDP/ICMPv6 checksum computed in full: `len` bytes at `p` (checksum field zeroed) plus the pseudo-header. */
export function l4CsumFull(af: u8, saddr: usize, daddr: usize, proto: u8, p: usize, len: u32): u16 {
  return <u16>(~csumFold(csumPartial(p, len, pseudoSum(af, saddr, daddr, proto, len))) & 0xffff);
}

// ---- incremental updates, as tcp_fast_csum_update / udp_fast_csum_update ----------------------
// new = ~fold(~old_check + ~from + to). `~csum_unfold(check)` in the kernel is a 32-bit NOT, so
// it contributes 0xffff0000 as well; that term is kept so the zero representation matches.

@inline function startDiff(check: u16): u64 {
  return <u64>(~(<u32>check));
}
/** Update `check` for a 4-byte (IPv4) address and a 2-byte port change. */
export function csumUpdate4p(check: u16, fromAddr: u32, toAddr: u32, fromPort: u16, toPort: u16): u16 {
  let s = startDiff(check);
  s += <u64>(~(<u32>fromPort) & 0xffff) + <u64>toPort;
  s += <u64>(~fromAddr) + <u64>toAddr;
  return <u16>(~csumFold(s) & 0xffff);
}
/** Update `check` for a 16-byte (IPv6) address and a 2-byte port change. */
export function csumUpdate16p(check: u16, fromAddr: usize, toAddr: usize, fromPort: u16, toPort: u16): u16 {
  let s = startDiff(check);
  s += <u64>(~(<u32>fromPort) & 0xffff) + <u64>toPort;
  for (let i: usize = 0; i < 16; i += 4) {
    // complement in 32 bits: written as `<u64>(~load<u32>(p))` asc widens the load first and
    // complements all 64 bits, which loses the end-around carries
    let from: u32 = ~load<u32>(fromAddr + i);
    s += <u64>from + <u64>load<u32>(toAddr + i);
  }
  return <u16>(~csumFold(s) & 0xffff);
}
/**
 * An address change on a partial transport checksum (CHECKSUM_PARTIAL: a TUN frame whose
 * virtio-net header says NEEDS_CSUM). The field holds the pseudo-header sum, not complemented,
 * and the device sums the rest — ports included — when it finishes the checksum; so only the
 * address counts, without the outer complements (inet_proto_csum_replace4/16, pseudohdr, for
 * CHECKSUM_PARTIAL). af 4: the addresses' last 4 bytes (16-byte form); 6: all 16.
 */
export function csumPartialUpdate(af: u8, check: u16, fromAddr: usize, toAddr: usize): u16 {
  let c = <u16>(~check & 0xffff);
  let n = af == 4 ? csumUpdate4p(c, load<u32>(fromAddr, 12), load<u32>(toAddr, 12), 0, 0) : csumUpdate16p(c, fromAddr, toAddr, 0, 0);
  return <u16>(~n & 0xffff);
}
/** Update `check` for a 2-byte field change only (ports, ICMP ids). */
export function csumUpdate2(check: u16, from: u16, to: u16): u16 {
  let s = startDiff(check);
  s += <u64>(~(<u32>from) & 0xffff) + <u64>to;
  return <u16>(~csumFold(s) & 0xffff);
}
