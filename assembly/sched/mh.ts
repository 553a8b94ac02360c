// Maglev hashing (ip_vs_mh.c; Eisenbud et al., NSDI 2016, §3.4). Every dest gets a
// preference list over a 4093-entry (prime) lookup table, from an offset and a skip that
// hash its address and port; dests take turns (weight / gcd, shifted so the largest takes
// fewer than 64 turns) claiming their next free preferred entry until the table is full.
// A packet's entry is hsiphash(source address + port) % 4093 (port 0 unless mh-port,
// SVC_F_SCHED2). An unavailable pick (weight 0 or OVERLOADed) means no destination, unless
// mh-fallback (SVC_F_SCHED1) rehashes with offsets ihash, ihash+1, ...
//
// Bit-compatible with a 64-bit kernel: there hsiphash is SipHash-1-3 on 64-bit words
// (lib/siphash.c, BITS_PER_LONG == 64), keyed with the module's fixed keys
// {2654435761, 2654435761} and {2654446892, 2654446892}. The weights used to build the table
// are the dests' last non-zero weights (dest->last_weight), so quiescing a dest (weight 0)
// keeps its entries and only its new conns stop. Rebuilt on every dest add, edit, delete.
//
// Area:  0 gcd i32 | 4 rshift i32 | 64 lookup 4093 × u16 dest index | 8256 bitmap 4096 bits
//        | 8768 dest setup, 8 bytes per dest: offset u16, skip u16, perm u16, turns u16
import { ld16be, ntohs } from "../packet/bytes";
import { schedArea, svcPtr, destPtr, SVC_FLAGS, SVC_NUM_DESTS, DEST_ADDR, DEST_PORT, DEST_LAST_WEIGHT, SCHED_AREA_SIZE } from "../layout";
import { SVC_F_SCHED1, SVC_F_SCHED2, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP } from "../defs";
import { pktSaddr, pSport, pProto } from "../packet/iph";
import { addrFoldHost, svcAf, destHead, destNext, destWeight, destOverloaded } from "./common";

@inline export const MH_TAB_SIZE: u32 = 4093;         // primes[CONFIG_IP_VS_MH_TAB_INDEX(12) - 8]
@inline const MH_TAB_BITS: i32 = 6;                  // CONFIG_IP_VS_MH_TAB_INDEX / 2
@inline const MH_KEY1: u64 = 2654435761;
@inline const MH_KEY2: u64 = 2654446892;

@inline const MH_GCD: u32 = 0;
@inline const MH_RSHIFT: u32 = 4;
@inline const MH_LOOKUP: u32 = 64;
@inline const MH_BITMAP: u32 = 8256;
@inline const MH_SETUP: u32 = 8768;
@inline const MH_SETUP_SIZE: u32 = 8;
/** Dests an mh service can hold here (the kernel allows 4093); the registry keeps the area's last 16 bytes. */
@inline export const MH_DEST_MAX: u32 = (SCHED_AREA_SIZE - 16 - MH_SETUP) / MH_SETUP_SIZE;

// ---- hsiphash, 64-bit flavour: SipHash-1-3 over one u32 -----------------------------------

/** hsiphash(&v, 4, {k, k}) as a 64-bit Linux computes it. */
export function hsiphash1u32(v: u32, k: u64): u32 {
  let v0: u64 = 0x736f6d6570736575 ^ k;
  let v1: u64 = 0x646f72616e646f6d ^ k;
  let v2: u64 = 0x6c7967656e657261 ^ k;
  let v3: u64 = 0x7465646279746573 ^ k;
  let b: u64 = (<u64>4 << 56) | <u64>v;
  v3 ^= b;
  // one compression round
  v0 += v1; v1 = rotl<u64>(v1, 13); v1 ^= v0; v0 = rotl<u64>(v0, 32);
  v2 += v3; v3 = rotl<u64>(v3, 16); v3 ^= v2;
  v0 += v3; v3 = rotl<u64>(v3, 21); v3 ^= v0;
  v2 += v1; v1 = rotl<u64>(v1, 17); v1 ^= v2; v2 = rotl<u64>(v2, 32);
  v0 ^= b;
  v2 ^= 0xff;
  // three finalisation rounds
  for (let i = 0; i < 3; i++) {
    v0 += v1; v1 = rotl<u64>(v1, 13); v1 ^= v0; v0 = rotl<u64>(v0, 32);
    v2 += v3; v3 = rotl<u64>(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl<u64>(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl<u64>(v1, 17); v1 ^= v2; v2 = rotl<u64>(v2, 32);
  }
  return <u32>((v0 ^ v1) ^ (v2 ^ v3));
}

/** ip_vs_mh_hashkey: fold = ntohl(addr_fold), port host order. */
@inline function hashKey(fold: u32, port: u32, k: u64, offset: u32): u32 {
  return hsiphash1u32(offset + port + fold, k);
}

// ---- table build --------------------------------------------------------------------------

function gcd(a: i32, b: i32): i32 {
  while (b != 0) { let t = a % b; a = b; b = t; }
  return a;
}

@inline function lastWeight(d: u32): i32 { return load<i32>(destPtr(d), DEST_LAST_WEIGHT); }

/** ip_vs_mh_gcd_weight: gcd of the positive last weights (0: none). */
function gcdWeight(svcIdx: u32): i32 {
  let g: i32 = 0;
  for (let d = destHead(svcIdx); d != 0; d = destNext(d)) {
    let w = lastWeight(d);
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
  }
  return g;
}

/** ip_vs_mh_shift_weight: keep max(weight / gcd) below 2^MH_TAB_BITS turns. */
function shiftWeight(svcIdx: u32, g: i32): i32 {
  if (g < 1) return 0;
  let mw: i32 = 0;
  for (let d = destHead(svcIdx); d != 0; d = destNext(d)) {
    let w = lastWeight(d);
    if (w > mw) mw = w;
  }
  let fls = 32 - <i32>clz<u32>(<u32>(mw / g));
  let shift = fls - MH_TAB_BITS;
  return shift >= 0 ? shift : 0;
}

function reset(area: usize): void {
  memory.fill(area + MH_LOOKUP, 0, MH_TAB_SIZE << 1);
}

/** ip_vs_mh_dest_changed / init: gcd, shift, permutation, population. */
export function reassign(svcIdx: u32): void {
  let area = schedArea(svcIdx);
  let g = gcdWeight(svcIdx);
  let rshift = shiftWeight(svcIdx, g);
  store<i32>(area, g, MH_GCD);
  store<i32>(area, rshift, MH_RSHIFT);
  let n = <u32>load<u16>(svcPtr(svcIdx), SVC_NUM_DESTS);
  if (g < 1 || n > MH_DEST_MAX) { reset(area); return; }
  let af = svcAf(svcIdx);
  // ip_vs_mh_permutate
  let ds = area + MH_SETUP;
  for (let d = destHead(svcIdx); d != 0; d = destNext(d)) {
    let dest = destPtr(d);
    let fold = addrFoldHost(af, dest + DEST_ADDR);
    let port = ld16be(dest + DEST_PORT);
    let offset = hashKey(fold, port, MH_KEY1, 0) % MH_TAB_SIZE;
    let skip = hashKey(fold, port, MH_KEY2, 0) % (MH_TAB_SIZE - 1) + 1;
    let lw = lastWeight(d);
    let turns = (lw / g) >> rshift;
    if (turns == 0) turns = lw != 0 ? 1 : 0;
    store<u16>(ds, <u16>offset, 0);
    store<u16>(ds, <u16>skip, 2);
    store<u16>(ds, <u16>offset, 4);
    store<u16>(ds, <u16>turns, 6);
    ds += MH_SETUP_SIZE;
  }
  // ip_vs_mh_populate
  let bitmap = area + MH_BITMAP;
  memory.fill(bitmap, 0, 512);
  let head = destHead(svcIdx);
  let filled: u32 = 0;
  let dtCount: u32 = 0;
  let p = head;
  while (true) {
    if (p == 0) p = head;
    ds = area + MH_SETUP;
    while (p != 0) {
      let turns = <u32>load<u16>(ds, 6);
      if (turns < 1) { p = destNext(p); ds += MH_SETUP_SIZE; continue; }
      let c = <u32>load<u16>(ds, 4);
      while (load<u32>(bitmap + ((c >> 5) << 2)) & (1 << (c & 31))) {
        c += <u32>load<u16>(ds, 2);
        if (c >= MH_TAB_SIZE) c -= MH_TAB_SIZE;
      }
      store<u16>(ds, <u16>c, 4);
      let w = bitmap + ((c >> 5) << 2);
      store<u32>(w, load<u32>(w) | (1 << (c & 31)));
      store<u16>(area + MH_LOOKUP + (c << 1), <u16>p);
      if (++filled == MH_TAB_SIZE) return;
      if (++dtCount >= turns) { dtCount = 0; p = destNext(p); ds += MH_SETUP_SIZE; }
    }
  }
}

// ---- scheduling ----------------------------------------------------------------------------

@inline function unavailable(d: u32): bool { return destWeight(d) <= 0 || destOverloaded(d); }

export function schedule(svcIdx: u32): u32 {
  let area = schedArea(svcIdx);
  let flags = load<u32>(svcPtr(svcIdx), SVC_FLAGS);
  let port: u32 = 0;
  if ((flags & SVC_F_SCHED2) && (pProto() == IPPROTO_TCP || pProto() == IPPROTO_UDP || pProto() == IPPROTO_SCTP)) {
    port = ntohs(pSport());
  }
  let fold = addrFoldHost(svcAf(svcIdx), pktSaddr());
  let ihash = hashKey(fold, port, MH_KEY1, 0) % MH_TAB_SIZE;
  let d = <u32>load<u16>(area + MH_LOOKUP + (ihash << 1));
  if (d == 0) return 0;
  if (!unavailable(d)) return d;
  if (!(flags & SVC_F_SCHED1)) return 0;
  // mh-fallback: rehash with growing offsets from the original entry
  for (let offset: u32 = 0; offset < MH_TAB_SIZE; offset++) {
    let roffset = (offset + ihash) % MH_TAB_SIZE;
    d = <u32>load<u16>(area + MH_LOOKUP + ((hashKey(fold, port, MH_KEY1, roffset) % MH_TAB_SIZE) << 1));
    if (d == 0) break;
    if (!unavailable(d)) return d;
  }
  return 0;
}
