// The only place that knows network byte order. Wire fields that the engine only compares
// or copies (ports, addresses) stay in wire order and are never swapped; values that take
// part in arithmetic or are shown to the host are swapped here.

@inline export function ld16be(p: usize): u32 { return <u32>bswap<u16>(load<u16>(p)); }
@inline export function ld32be(p: usize): u32 { return bswap<u32>(load<u32>(p)); }
@inline export function st16be(p: usize, v: u32): void { store<u16>(p, bswap<u16>(<u16>v)); }
@inline export function st32be(p: usize, v: u32): void { store<u32>(p, bswap<u32>(v)); }

/** Wire-order u16 of a host-order port (what load<u16> of the wire field returns). */
@inline export function htons(v: u32): u16 { return bswap<u16>(<u16>v); }
@inline export function ntohs(v: u16): u32 { return <u32>bswap<u16>(v); }
/** The same for 32-bit values (a netmask, a mark written as an address, an identification). */
@inline export function htonl(v: u32): u32 { return bswap<u32>(v); }
@inline export function ntohl(v: u32): u32 { return bswap<u32>(v); }

// Addresses are kept as 16 bytes; IPv4 as the IPv4-mapped form ::ffff:a.b.c.d so one
// compare and one hash serve both families.
@inline export function addrEq(a: usize, b: usize): bool {
  return load<u64>(a) == load<u64>(b) && load<u64>(a, 8) == load<u64>(b, 8);
}
@inline export function addrCopy(dst: usize, src: usize): void {
  store<u64>(dst, load<u64>(src));
  store<u64>(dst, load<u64>(src, 8), 8);
}
/** Write the mapped form of the IPv4 address at `v4` into `dst`. */
@inline export function addrFromV4(dst: usize, v4: usize): void {
  store<u64>(dst, 0);
  store<u32>(dst, 0xffff0000, 8);
  store<u32>(dst, load<u32>(v4), 12);
}
/** Is `a` the mapped form of an IPv4 address (::ffff:a.b.c.d)? */
@inline export function addrIsV4(a: usize): bool {
  return load<u64>(a) == 0 && load<u32>(a, 8) == 0xffff0000;
}
/** Is `a` all zeros (the IPv6 unspecified address, or an unset address field)? */
@inline export function addrIsZero(a: usize): bool {
  return load<u64>(a) == 0 && load<u64>(a, 8) == 0;
}
/** The any-address of family af in the 16-byte form: :: or ::ffff:0.0.0.0. */
@inline export function addrAny(dst: usize, af: u8): void {
  store<u64>(dst, 0);
  store<u64>(dst, af == 4 ? <u64>0xffff0000 : 0, 8);
}

/** 32-bit fold of an address for hashing. */
@inline export function addrFold(a: usize): u32 {
  return load<u32>(a, 12) ^ load<u32>(a, 8) ^ load<u32>(a, 4) ^ load<u32>(a);
}
/** The 16-byte form folded to one 64-bit word (its two halves xored; an IPv4 address keeps all its bits). */
@inline export function addrFold64(a: usize): u64 {
  return load<u64>(a) ^ load<u64>(a, 8);
}
/** Is `a` inside prefix `p`/`plen` (bits counted on the 128-bit form; IPv4 prefixes use 96+len). */
export function addrInPrefix(a: usize, p: usize, plen: u32): bool {
  let i: u32 = 0;
  while (plen >= 8) {
    if (load<u8>(a + i) != load<u8>(p + i)) return false;
    i++; plen -= 8;
  }
  if (plen == 0) return true;
  let mask = <u8>((<u32>0xff << (8 - plen)) & 0xff);
  return (load<u8>(a + i) & mask) == (load<u8>(p + i) & mask);
}
