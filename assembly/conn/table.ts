// Conn table (ip_vs_conn.c): a pool of fixed records with a free list, and one bucketized index
// holding every conn twice — keyed as a client→VIP packet sees it (in) and as a real server→client
// reply sees it (out), like DPVS's tuplehash[2]. Both keys hash the packet's (src, sport, dst,
// dport) the same way, so a packet's hash names one bucket whichever direction it goes.
//
// The index (layout.ts "conn index"): 64-byte buckets of 15 entries, tag << 25 | conn index, and
// a link to an overflow bucket. A lookup reads one line: the tags (6 hash bits + the direction)
// reject all but ~1/64 of the other entries, and only a tag match reads a record. Entries stay
// packed and newest first (a new one goes in front, a delete shifts the rest down and pulls one
// up from the overflow bucket, whose last entry leaving returns it to the pool), so a lookup
// stops at the first empty entry, finds the newest of equal keys first (hlist_add_head), and
// nothing is left behind by deletes. The overflow pool is bounded (connOvfBucketsFor): a conn
// that would need a bucket when none is left is refused and counted (CNT_CONN_INDEX_FULL).
//
// Everything is reached through CONN_IDX / CONN_OVF / connIdxBuckets and the free list in WCTL:
// a single-threaded structure over whatever base and size the layout gives it — with several
// workers, the current conn partition's (layout.ts partSelect; worker.ts).
import {
  CTL, WCTL, WCTL_CONN_FREE, WCTL_CONN_COUNT, CTL_HASH_SEED, connMax, connPtr, connCold, coldOf, connIndexOf, PKT, PKT_CONN_HINT, SLOT_META_SIZE, COLD_NEXT_TIMER, NPARTS, PART,
  CONN_CADDR, CONN_VADDR, COLD_DADDR, CONN_CPORT, CONN_VPORT, CONN_DPORT,
  CONN_PROTO, CONN_FLAGS, CONN_SIZE, CONN_COLD_SIZE, CONN, COLD_LADDR, COLD_LPORT, LADDR_ADDR, laddrPtr,
  SP_POOL, SP_SLOTS, SP_SIZE, SP_SEQ, WCTL_SP_FREE, WCTL_SP_USED, COLD_SYNC, PARTS, PART_SIZE,
  CONN_IDX, CONN_OVF, connIdxBuckets, connOvfBuckets, IDX_BUCKET, IDX_SLOTS, IDX_LINK, OVF_FREE, OVF_AVAIL,
  SCRATCH, SCRATCH_OUTQ, OUTQ_MAX,
} from "../layout";
import { addrEq, addrFold64 } from "../packet/bytes";
import { CONN_F_TEMPLATE, CONN_F_SYNPROXY, CNT_CONN_INDEX_FULL } from "../defs";
import { cntInc } from "../stats";

@inline export const CONN_F_HASHED: u16 = 0x0040;   // IP_VS_CONN_F_HASHED: findable in both directions
@inline export const CONN_F_DEAD: u16 = 0x8000;     // unhashed; the timer wheel returns it to the pool

@inline const IDX_INDEX_MASK: u32 = 0x01ffffff;     // conn index: 25 bits (CONN_LIMIT is 2^24)
@inline const IDX_TAG_MASK: u32 = 0xfe000000;       // tag: hash bits 0..5, then the direction
@inline const IDX_SIG_MASK: u32 = 0xfc000000;       // the hash bits alone (either direction)
@inline const IDX_DIR_SHIFT: u32 = 25;              // the direction bit's place
@inline const DIR_IN: u32 = 0;
@inline const DIR_OUT: u32 = 1;
@inline const LAST_SLOT: usize = (IDX_SLOTS - 1) << 2;

/** Build the free list over the whole pool (index 0 is the null conn) and an empty index. */
export function connTableInit(): void {
  for (let i: u32 = 1; i < connMax; i++) store<u32>(connCold(i), i + 1, COLD_NEXT_TIMER);
  store<u32>(connCold(connMax), 0, COLD_NEXT_TIMER);
  store<u32>(WCTL, connMax > 0 ? 1 : 0, WCTL_CONN_FREE);
  store<u32>(WCTL, 0, WCTL_CONN_COUNT);
  idxInit();
}

@inline export function connCount(): u32 { return load<u32>(WCTL, WCTL_CONN_COUNT); }

/** Hash of (proto, addr1, port1, addr2, port2), seeded at init (ip_vs_conn_hashkey uses jhash + rnd). */
@inline export function connHash(proto: u8, a1: usize, p1: u16, a2: usize, p2: u16): u32 {
  return connHashWords(proto, addrFold64(a1), addrFold64(a2), <u32>p1 | (<u32>p2 << 16));
}
/**
 * The same hash from the addresses folded to 64 bits (addrFold64; the batch stages fold them
 * from the wire) and the ports as one word, port1 | port2 << 16 (as a u32 load of the
 * transport header's first four bytes has them). 64-bit multiplies: one over both addresses, whose high half is then folded
 * down (a multiply carries bits only upwards: without it the high bits of the addresses, the
 * last bytes of an IPv4 address as loaded, would reach only the top of the product); one over
 * the ports and protocol, independent of it; one over both. Without the ports' own multiply
 * two clients' port ranges landed in shifted copies of each other's buckets (1.8x a random
 * hash's variance). The bucket is the top bits, the tag the low ones (idxBucket, idxTag);
 * key sets that differ in few bits (a client /16, one client's ports) load the buckets as a
 * random hash would (test/unit/core/conn-hash.test.ts), as MurmurHash3's 32-bit rounds did, in
 * about half the instructions.
 */
@inline export function connHashWords(proto: u8, w1: u64, w2: u64, ports: u32): u32 {
  let h = (w1 ^ rotr<u64>(w2, 32) ^ <u64>load<u32>(CTL, CTL_HASH_SEED)) * 0x9e3779b97f4a7c15;
  h ^= h >> 32;
  h = (h ^ (<u64>ports | (<u64>proto << 32)) * 0x94d049bb133111eb) * 0xd6e8feb86659fd93;
  return <u32>(h >> 32);
}

// ---- the index -----------------------------------------------------------------------------------

/** The main bucket of a hash: its high bits, scaled to the bucket count (any count, not a power of two). */
@inline function idxBucket(h: u32): usize { return bucketOf(CONN_IDX, connIdxBuckets, h); }
/** The same from the index's base and bucket count (in locals: V8 reloads a global at every use). */
@inline function bucketOf(idx: usize, buckets: u32, h: u32): usize {
  return idx + (<usize>((<u64>h * <u64>buckets) >> 32) << 6);
}
@inline function idxTag(h: u32, dir: u32): u32 { return ((h & 0x3f) << 26) | (dir << IDX_DIR_SHIFT); }
@inline function ovfPtr(k: u32): usize { return CONN_OVF + (<usize>k << 6); }

function idxInit(): void {
  memory.fill(CONN_IDX, 0, <usize>connIdxBuckets * IDX_BUCKET + <usize>connOvfBuckets * IDX_BUCKET);
  // the overflow pool's free list: buckets 1..n-1, linked through their link word
  let n = connOvfBuckets;
  for (let k: u32 = 1; k + 1 < n; k++) store<u32>(ovfPtr(k), k + 1, IDX_LINK);
  store<u32>(CONN_OVF, n > 1 ? 1 : 0, OVF_FREE);
  store<u32>(CONN_OVF, n - 1, OVF_AVAIL);
}

/** The last bucket of b's chain. */
@inline function chainTail(b: usize): usize {
  let l = load<u32>(b, IDX_LINK);
  while (l != 0) { b = ovfPtr(l); l = load<u32>(b, IDX_LINK); }
  return b;
}

/**
 * Put entry w in front of bucket b's chain; the pool must have a bucket if the chain is full.
 * All 14 entries roll one slot on, whatever the bucket holds: no branch waits for the bucket's
 * line (on a new conn's out key, a miss), where stopping at the first empty slot would be
 * mispredicted and replay everything after it. Four loads and four stores (three of 16 bytes,
 * one of 8) move the 56 bytes: memory.copy is a call out of the compiled code, and a loop of
 * 14 u32 moves cost ~90 instructions.
 */
function idxInsert(b: usize, w: u32): void {
  while (true) {
    let carry = load<u32>(b + LAST_SLOT);
    let v0 = load<v128>(b), v1 = load<v128>(b, 16), v2 = load<v128>(b, 32), v3 = load<u64>(b, 48);
    store<v128>(b, v0, 4); store<v128>(b, v1, 20); store<v128>(b, v2, 36); store<u64>(b, v3, 52);
    store<u32>(b, w);
    if (carry == 0) return;
    // the bucket was full: its oldest entry moves on to the front of the next one
    let l = load<u32>(b, IDX_LINK);
    if (l == 0) {
      l = load<u32>(CONN_OVF, OVF_FREE);
      let nb = ovfPtr(l);
      store<u32>(CONN_OVF, load<u32>(nb, IDX_LINK), OVF_FREE);
      store<u32>(CONN_OVF, load<u32>(CONN_OVF, OVF_AVAIL) - 1, OVF_AVAIL);
      store<u32>(nb, 0, IDX_LINK);
      store<u32>(b, l, IDX_LINK);
    }
    b = ovfPtr(l); w = carry;
  }
}

/** Take entry w out of bucket b's chain (absent: nothing changes): the rest moves down, nothing marks the hole. */
function idxRemove(b: usize, w: u32): void {
  let s: usize = 0;
  while (load<u32>(b + s) != w) {
    s += 4;
    if (s > LAST_SLOT) {
      let l = load<u32>(b, IDX_LINK);
      if (l == 0) return;                         // not there: nothing to take out (never a walk off the chain)
      b = ovfPtr(l); s = 0;
    }
  }
  while (true) {
    // the entries after it roll down one slot, up to the first empty one
    for (; s < LAST_SLOT; s += 4) {
      let nx = load<u32>(b + s + 4);
      store<u32>(b + s, nx);
      if (nx == 0) return;                        // not full: no overflow bucket behind it
    }
    let l = load<u32>(b, IDX_LINK);
    if (l == 0) { store<u32>(b + LAST_SLOT, 0); return; }
    // b was full: the next bucket's newest entry comes up to keep it full
    let nb = ovfPtr(l);
    store<u32>(b + LAST_SLOT, load<u32>(nb));
    if (load<u32>(nb, 4) == 0) {
      // that was its only entry: the bucket goes back to the pool
      store<u32>(nb, 0);
      store<u32>(nb, load<u32>(CONN_OVF, OVF_FREE), IDX_LINK);
      store<u32>(CONN_OVF, l, OVF_FREE);
      store<u32>(CONN_OVF, load<u32>(CONN_OVF, OVF_AVAIL) + 1, OVF_AVAIL);
      store<u32>(b, 0, IDX_LINK);
      return;
    }
    b = nb; s = 0;
  }
}

/**
 * Overflow buckets two new entries in the chains of a and b need (0 or 1 each; a == b: the
 * same chain takes both, one bucket at most).
 */
@inline function idxNeed(a: usize, b: usize): u32 {
  let ta = chainTail(a);
  if (a == b) return load<u32>(ta + LAST_SLOT - 4) != 0 ? 1 : 0;
  let tb = chainTail(b);
  return (load<u32>(ta + LAST_SLOT) != 0 ? 1 : 0) + (load<u32>(tb + LAST_SLOT) != 0 ? 1 : 0);
}

// ---- lookups ---------------------------------------------------------------------------------------

@inline const FIND_CONN_IN: u32 = 0;
@inline const FIND_TEMPLATE: u32 = 1;
@inline const FIND_CONN_OUT: u32 = 2;

/**
 * The out key's second half: caddr:cport, or for a FULLNAT conn its laddr:lport (the address
 * the real server answers to), as DPVS overwrites tuplehash_out in dp_vs_laddr_bind.
 */
@inline function outAddr(cp: usize, cc: usize): usize {
  let li = <u32>load<u16>(cc, COLD_LADDR);
  return li != 0 ? laddrPtr(li) + LADDR_ADDR : cp + CONN_CADDR;
}
/** ... and its port. cp, cc: the conn's hot and cold parts. */
@inline function outPort(cp: usize, cc: usize): u16 {
  return load<u16>(cc, COLD_LADDR) != 0 ? load<u16>(cc, COLD_LPORT) : load<u16>(cp, CONN_CPORT);
}

@inline const KEY_VPORT: u64 = (CONN_VPORT - CONN_CPORT) << 3;
@inline const KEY_PROTO: u64 = (CONN_PROTO - CONN_CPORT) << 3;
@inline const KEY_MASK: u64 = 0xffff | (<u64>0xffff << KEY_VPORT) | (<u64>0xff << KEY_PROTO);
/**
 * Does conn cp have this key? A tag match is almost always the conn (1 in 64 of the other
 * entries get that far), so the whole key is compared at once, without a branch per field:
 * the two addresses as 16-byte vectors, the ports and protocol as one word of the record.
 */
@inline function keyMatch(what: u32, cp: usize, proto: u8, a1: usize, p1: u16, a2: usize, p2: u16): bool {
  if (what == FIND_CONN_OUT) {
    let tpl = (load<u16>(cp, CONN_FLAGS) & CONN_F_TEMPLATE) != 0;
    let cc = coldOf(cp);
    let d = v128.or(v128.xor(load<v128>(cc, COLD_DADDR), load<v128>(a1)), v128.xor(load<v128>(outAddr(cp, cc)), load<v128>(a2)));
    return !tpl & (load<u8>(cp, CONN_PROTO) == proto) & (load<u16>(cp, CONN_DPORT) == p1) & (outPort(cp, cc) == p2) & !v128.any_true(d);
  }
  return keyMatchIn(cp, proto, a1, p1, a2, p2, what == FIND_TEMPLATE ? CONN_F_TEMPLATE : 0, CONN_F_TEMPLATE);
}
/**
 * The in key's match, and the flags under `mask` equal to `flags`. The 16 bytes from
 * CONN_CPORT hold the vport, the protocol and the flags too (layout.ts; the shifts follow it):
 * the key's ports and protocol in the first 8, the flags in the next.
 */
@inline function keyMatchIn(cp: usize, proto: u8, a1: usize, p1: u16, a2: usize, p2: u16, flags: u32, mask: u32): bool {
  let want = i64x2(<u64>p1 | (<u64>p2 << KEY_VPORT) | (<u64>proto << KEY_PROTO), <u64>flags << KEY_FLAGS);
  let k = v128.and(v128.xor(load<v128>(cp, CONN_CPORT), want), i64x2(KEY_MASK, <u64>mask << KEY_FLAGS));
  return !v128.any_true(v128.or(v128.or(v128.xor(load<v128>(cp, CONN_CADDR), load<v128>(a1)),
    v128.xor(load<v128>(cp, CONN_VADDR), load<v128>(a2))), k));
}
@inline const KEY_FLAGS: u64 = (CONN_FLAGS - CONN_CPORT - 8) << 3;

@inline const SCAN_FULL: u32 = 0x10000;
/**
 * One bucket's entries in a single look (wasm SIMD, no loop over the slots): bit s set when slot
 * s holds an entry whose tag bits (`mask`) are `want` and no empty slot comes before it; plus
 * SCAN_FULL when all 15 slots are taken (only then can an overflow bucket follow). The slot
 * loop this replaces cost ~25 instructions a slot (docs/engine.md).
 */
@inline function bucketScan(b: usize, want: u32, mask: u32): u32 {
  let v0 = load<v128>(b), v1 = load<v128>(b, 16), v2 = load<v128>(b, 32), v3 = load<v128>(b, 48);
  let e = bucketTagsOf(v0, v1, v2, v3, i32x4.splat(want), i32x4.splat(mask)), z = i32x4.splat(0);
  let ez = i8x16.narrow_i16x8_s(
    i16x8.narrow_i32x4_s(i32x4.eq(v0, z), i32x4.eq(v1, z)),
    i16x8.narrow_i32x4_s(i32x4.eq(v2, z), i32x4.eq(v3, z)));
  // slot 15 is the link word: the first empty slot is at most there
  let first = ctz<u32>(i8x16.bitmask(ez) | 0x8000);
  return (i8x16.bitmask(e) & ((1 << first) - 1)) | (first == IDX_SLOTS ? SCAN_FULL : 0);
}
/** Slot s's lane all ones when its tag bits (`mask`) are `want` (empty slots and the link word included). */
@inline function bucketTagsOf(v0: v128, v1: v128, v2: v128, v3: v128, tw: v128, tm: v128): v128 {
  return i8x16.narrow_i16x8_s(
    i16x8.narrow_i32x4_s(i32x4.eq(v128.and(v0, tm), tw), i32x4.eq(v128.and(v1, tm), tw)),
    i16x8.narrow_i32x4_s(i32x4.eq(v128.and(v2, tm), tw), i32x4.eq(v128.and(v3, tm), tw)));
}
/** bit s set when slot s's tag bits are `want`, whatever comes before it (bit 15: the link word). */
@inline function bucketTags(b: usize, want: u32, mask: u32): u32 {
  return bucketTagsAt(b, i32x4.splat(want), i32x4.splat(mask));
}
/** bucketTags with the wanted tag and the mask as vectors (the batch stage keeps the mask in a register). */
@inline function bucketTagsAt(b: usize, tw: v128, tm: v128): u32 {
  return i8x16.bitmask(bucketTagsOf(load<v128>(b), load<v128>(b, 16), load<v128>(b, 32), load<v128>(b, 48), tw, tm));
}

/** The newest conn whose key (in or out, as `what` says) is this one, or 0. */
function idxFind(what: u32, proto: u8, a1: usize, p1: u16, a2: usize, p2: u16): u32 {
  let h = connHash(proto, a1, p1, a2, p2);
  let want = idxTag(h, what == FIND_CONN_OUT ? DIR_OUT : DIR_IN);
  let b = idxBucket(h);
  while (true) {
    let r = bucketScan(b, want, IDX_TAG_MASK);
    // matching slots in order: the newest of equal keys first
    for (let m = r & 0x7fff; m != 0; m &= m - 1) {
      let i = load<u32>(b + (<usize>ctz<u32>(m) << 2)) & IDX_INDEX_MASK;
      if (keyMatch(what, connPtr(i), proto, a1, p1, a2, p2)) return i;
    }
    if (!(r & SCAN_FULL)) return 0;               // packed: nothing after an empty slot
    let l = load<u32>(b, IDX_LINK);
    if (l == 0) return 0;
    b = ovfPtr(l);
  }
}

/**
 * connInGet inlined where every packet in looks its conn up (core.ts ipvsInHook): the main
 * bucket's first tag match is checked here — almost always the conn, or no match at all in a
 * bucket with room (no conn) — and anything else is idxFind's, from the start. The same answer
 * as idxFind's (the first match in slot order is the newest), without its call and its loops.
 */
@inline export function connInGetInline(proto: u8, caddr: usize, cport: u16, vaddr: usize, vport: u16): u32 {
  // the batch stage's hint (connStage): the conn of the first in entry whose tag matched in this
  // frame's main bucket. If it is in the index with this key, it is the conn the look below
  // finds (no two conns in the index share an in key; templates have their flag) — without
  // the hash and the bucket's scan
  let hint = <usize>load<u32>(PKT, PKT_CONN_HINT);
  if (hint != 0 && keyMatchIn(hint, proto, caddr, cport, vaddr, vport, CONN_F_HASHED, CONN_F_HASHED | CONN_F_TEMPLATE)) return connIndexOf(hint);
  let h = connHash(proto, caddr, cport, vaddr, vport);
  let b = idxBucket(h);
  let m = bucketTags(b, idxTag(h, DIR_IN), IDX_TAG_MASK) & 0x7fff;
  let i: u32 = 0;
  if (m != 0) {
    // entries are packed: a match that is an empty slot (tag 0) ends them, nothing matched before it
    i = load<u32>(b + (<usize>ctz<u32>(m) << 2)) & IDX_INDEX_MASK;
    if (i != 0 && !keyMatch(FIND_CONN_IN, connPtr(i), proto, caddr, cport, vaddr, vport)) i = idxFind(FIND_CONN_IN, proto, caddr, cport, vaddr, vport);
  } else if (load<u32>(b + LAST_SLOT) != 0) i = idxFind(FIND_CONN_IN, proto, caddr, cport, vaddr, vport);   // full: the chain goes on
  return i;
}

/** ip_vs_conn_in_get: the conn of a client→VIP packet. */
export function connInGet(proto: u8, caddr: usize, cport: u16, vaddr: usize, vport: u16): u32 {
  return idxFind(FIND_CONN_IN, proto, caddr, cport, vaddr, vport);
}

/** ip_vs_ct_in_get: the persistence template (cport 0) with this key, or 0. */
export function ctInGet(proto: u8, caddr: usize, vaddr: usize, vport: u16): u32 {
  return idxFind(FIND_TEMPLATE, proto, caddr, 0, vaddr, vport);
}

/**
 * ip_vs_conn_out_get: the conn of a real server→client packet (source daddr:dport, destination
 * caddr:cport, or laddr:lport for FULLNAT).
 */
export function connOutGet(proto: u8, daddr: usize, dport: u16, caddr: usize, cport: u16): u32 {
  if (load<u32>(outq()) != 0) {
    let i = outqFind(proto, daddr, dport, caddr, cport);
    if (i != 0) return i;
  }
  return idxFind(FIND_CONN_OUT, proto, daddr, dport, caddr, cport);
}

// ---- the batch stages (batch.ts) -------------------------------------------------------------------

let stageSink: u32 = 0;
/**
 * Before a batch is processed: touch the bucket of every frame's hash, then every record a
 * bucket's tags point at (the entries of either direction whose 6 hash bits match). The loads
 * of one stage do not depend on each other, so the CPU overlaps their cache misses (wasm has no
 * prefetch instruction: these loads are the prefetch); the lookups that follow hit the cache.
 * The records are touched in a loop of their own, after their addresses are gathered: a touch
 * blocks the CPU's reorder window once it is the oldest load still missing, so the fewer
 * instructions between two touches, the more misses are in flight together (the bucket scans
 * between them held ~7 frames' records in flight; the tight loop, the window's worth: a stage
 * 96 → 65 ns a packet on the 1M table, docs/engine.md). `records` false: the buckets only.
 * The addresses go after the hashes in SCRATCH, at most STAGE_PTRS_PER_FRAME a frame (more
 * tag matches in one bucket are rare, and a record not touched is only a miss later), then the
 * list of frames with more than one.
 */
export function connStage(hashes: usize, n: u32, records: bool, hints: usize): void {
  let sink: u32 = 0;
  // each hash is replaced by its bucket's address with the tag bits in its low 6 (a bucket is
  // 64-byte aligned): the records' loop needs both and no second multiply
  let idx = CONN_IDX, buckets = connIdxBuckets;
  for (let at = hashes, end = hashes + (<usize>n << 2); at < end; at += 4) {
    let h = load<u32>(at);
    let b = bucketOf(idx, buckets, h);
    sink += load<u32>(b);
    store<u32>(at, <u32>b | (h & 0x3f));
  }
  if (records) {
    // ptrs[i] for frame i: the record of its bucket's first slot whose 6 hash bits match (either
    // direction), record 0 (the null one, cached) when none does; an empty slot matching tag 0
    // names record 0 too. A record's address is 16-byte aligned: its low bit carries the entry's
    // direction. The frames with more matches (one in eight: 6 bits against ~8 entries; the
    // first is the newest, almost always the conn) are listed, and their further matches go
    // after the n in a pass of their own, up to STAGE_PTRS_PER_FRAME a frame on average: the
    // loop over every frame has no inner loop (which made V8 keep its values on the stack).
    let ptrs = hashes + (<usize>n << 2);
    let more = ptrs + (<usize>n << 3);
    let nMore: u32 = 0;
    let tm = i32x4.splat(IDX_SIG_MASK);
    for (let i: u32 = 0; i < n; i++) {
      let v = load<u32>(hashes + (<usize>i << 2));
      let b = <usize>(v & ~0x3f);
      let m = bucketTagsAt(b, i32x4.splat((v & 0x3f) << 26), tm) & 0x7fff;
      let e = select<u32>(load<u32>(b + (<usize>ctz<u32>(m | 0x8000) << 2)), 0, m != 0);
      let p = stagePtr(e);
      store<u32>(ptrs + (<usize>i << 2), p);
      // the frame's hint for its lookup (connInGetInline): an in entry's conn, else none
      store<u32>(hints + <usize>i * SLOT_META_SIZE, select<u32>(p, 0, (m != 0) & !(p & 1)));
      store<u32>(more + (<usize>nMore << 2), i);
      nMore += <u32>((m & (m - 1)) != 0);
    }
    let k = n, kMax = n * STAGE_PTRS_PER_FRAME;
    for (let x: u32 = 0; x < nMore; x++) {
      let v = load<u32>(hashes + (<usize>load<u32>(more + (<usize>x << 2)) << 2));
      let b = <usize>(v & ~0x3f);
      let m = bucketTagsAt(b, i32x4.splat((v & 0x3f) << 26), tm) & 0x7fff;
      for (m &= m - 1; m != 0 && k < kMax; m &= m - 1) {
        store<u32>(ptrs + (<usize>k << 2), stagePtr(load<u32>(b + (<usize>ctz<u32>(m) << 2))));
        k++;
      }
    }
    // the lines the packet reads and writes: an in entry's conn, its hot part (one line); an
    // out entry's, its cold part too (one line or two: 48 bytes from 0, 16, 32 or 48 into one)
    for (let j: u32 = 0; j < k; j++) {
      let v = load<u32>(ptrs + (<usize>j << 2));
      let p = <usize>(v & ~1);
      sink += load<u32>(p);
      if (v & 1) { let c = coldOf(p); sink += load<u32>(c) + <u32>load<u8>(c, CONN_COLD_SIZE - 1); }
    }
  }
  stageSink += sink;
}
/** Record addresses gathered per frame by connStage (on average over the group). */
@inline const STAGE_PTRS_PER_FRAME: u32 = 2;
/** Index entry e as connStage gathers it: its conn's hot part, the direction in the low bit. */
@inline function stagePtr(e: u32): u32 { return <u32>connPtr(e & IDX_INDEX_MASK) | ((e >> IDX_DIR_SHIFT) & 1); }

// ---- the pool ----------------------------------------------------------------------------------------

/** Take a record off the free list, zeroed (its sync bookkeeping too). 0 when the table is full. */
export function connAlloc(): u32 {
  let i = load<u32>(WCTL, WCTL_CONN_FREE);
  if (i == 0) return 0;
  let cp = connPtr(i);
  let cc = connCold(i);
  store<u32>(WCTL, load<u32>(cc, COLD_NEXT_TIMER), WCTL_CONN_FREE);
  let z = i64x2.splat(0);                          // not memory.fill: a call out
  for (let o: usize = 0; o < CONN_SIZE; o += 16) store<v128>(cp + o, z);
  for (let o: usize = 0; o < CONN_COLD_SIZE; o += 16) store<v128>(cc + o, z);
  return i;
}

/** Return a (dead, unhashed) record to the pool (and a synproxy conn's delta entry to its own). */
export function connFree(i: u32): void {
  let cp = connPtr(i);
  if (load<u16>(cp, CONN_FLAGS) & CONN_F_SYNPROXY) connSpFree(i);
  store<u16>(cp, 0, CONN_FLAGS);
  store<u8>(cp, 0, CONN_PROTO);
  store<u32>(connCold(i), load<u32>(WCTL, WCTL_CONN_FREE), COLD_NEXT_TIMER);
  store<u32>(WCTL, i, WCTL_CONN_FREE);
}

@inline function inHash(cp: usize): u32 {
  return connHash(load<u8>(cp, CONN_PROTO), cp + CONN_CADDR, load<u16>(cp, CONN_CPORT), cp + CONN_VADDR, load<u16>(cp, CONN_VPORT));
}
@inline function outHash(cp: usize): u32 {
  let cc = coldOf(cp);
  return connHash(load<u8>(cp, CONN_PROTO), cc + COLD_DADDR, load<u16>(cp, CONN_DPORT), outAddr(cp, cc), outPort(cp, cc));
}

// ---- deferred out keys -------------------------------------------------------------------------------
// A new conn's out key lands in a bucket nothing has touched (its key depends on the dest the
// scheduler picked): entered at once, its cache and TLB miss stalls the conn's set-up (~170 ns
// of a new conn's ~440 at 1M conns, docs/engine.md). Within a batch group the out entries wait
// in a queue (SCRATCH_OUTQ) and are entered together when the group is done (connOutFlush),
// their misses overlapping. Nothing sees the difference: an out lookup reads the queue first
// (newest first), an unhash takes its entry out of it, and a conn is queued only while the
// pool keeps one overflow bucket for every queued entry (each takes at most one), so what is
// refused is what entering it at once would refuse (test/unit/core/conn-outq.test.ts).

@inline function outq(): usize { return SCRATCH + SCRATCH_OUTQ; }
/** Queued entry k (1-based: the header's 8 bytes first): the bucket's address u32, the index entry u32. */
@inline function outqEntry(q: usize, k: u32): usize { return q + 8 + (<usize>k << 3); }

/** Start queueing out entries (a batch group, batch.ts) for the current partition. */
export function connOutDefer(): void {
  store<u32>(outq(), 0);
  store<u32>(outq(), <u32>CONN_OVF, 4);
}

/** Enter the queued out entries, oldest first, and stop queueing. */
export function connOutFlush(): void {
  let q = outq();
  let n = load<u32>(q);
  // every bucket touched first: independent loads, their misses in flight together
  let sink: u32 = 0;
  for (let k: u32 = 1; k <= n; k++) sink += load<u32>(<usize>load<u32>(outqEntry(q, k)), LAST_SLOT);
  stageSink += sink;
  for (let k: u32 = 1; k <= n; k++) {
    let e = outqEntry(q, k);
    idxInsert(<usize>load<u32>(e), load<u32>(e, 4));
  }
  store<u32>(q, 0);
  store<u32>(q, 0, 4);
}

/** The newest queued out entry with this key (queued entries are newer than the index's), or 0. */
function outqFind(proto: u8, a1: usize, p1: u16, a2: usize, p2: u16): u32 {
  let h = connHash(proto, a1, p1, a2, p2);
  let want = idxTag(h, DIR_OUT);
  let b = idxBucket(h);
  let q = outq();
  for (let k = load<u32>(q); k > 0; k--) {
    let e = outqEntry(q, k);
    let w = load<u32>(e, 4);
    if (<usize>load<u32>(e) == b && (w & IDX_TAG_MASK) == want && keyMatch(FIND_CONN_OUT, connPtr(w & IDX_INDEX_MASK), proto, a1, p1, a2, p2)) return w & IDX_INDEX_MASK;
  }
  return 0;
}

/** Take conn i's out entry out of the queue: true when it was there. */
function outqRemove(i: u32): bool {
  let q = outq();
  let n = load<u32>(q);
  for (let k: u32 = 1; k <= n; k++) {
    let e = outqEntry(q, k);
    if ((load<u32>(e, 4) & IDX_INDEX_MASK) != i) continue;
    for (; k < n; k++) { e = outqEntry(q, k); store<u64>(e, load<u64>(e, 8)); }
    store<u32>(q, n - 1);
    return true;
  }
  return false;
}

/**
 * ip_vs_conn_hash: enter both keys in the index; the record's tuple fields must be set. False
 * (nothing changed) when the index has no overflow bucket left for them: the caller counts
 * CNT_CONN_INDEX_FULL and drops the conn.
 */
export function connHashIn(i: u32): bool {
  let cp = connPtr(i);
  let hin = inHash(cp), hout = outHash(cp);
  let bin = idxBucket(hin), bout = idxBucket(hout);
  let q = outq();
  let queued = false;
  if (load<u32>(q, 4) == <u32>CONN_OVF) {
    let n = load<u32>(q);
    let inNeed: u32 = load<u32>(chainTail(bin) + LAST_SLOT) != 0 ? 1 : 0;
    if (n < OUTQ_MAX && inNeed + n + 1 <= load<u32>(CONN_OVF, OVF_AVAIL)) queued = true;
    else {
      // the queue full, or the pool low: what is queued goes in now, this conn as it would alone
      connOutFlush();
      connOutDefer();
    }
  }
  if (!queued && idxNeed(bin, bout) > load<u32>(CONN_OVF, OVF_AVAIL)) return false;
  idxInsert(bin, idxTag(hin, DIR_IN) | i);
  if (queued) {
    let n = load<u32>(q) + 1;
    let e = outqEntry(q, n);
    store<u32>(e, <u32>bout);
    store<u32>(e, idxTag(hout, DIR_OUT) | i, 4);
    store<u32>(q, n);
  } else idxInsert(bout, idxTag(hout, DIR_OUT) | i);
  store<u16>(cp, load<u16>(cp, CONN_FLAGS) | CONN_F_HASHED, CONN_FLAGS);
  store<u32>(WCTL, load<u32>(WCTL, WCTL_CONN_COUNT) + 1, WCTL_CONN_COUNT);
  return true;
}

/** ip_vs_conn_unhash: take both keys out of the index; the record stays allocated. */
export function connUnhash(i: u32): void {
  let cp = connPtr(i);
  let flags = load<u16>(cp, CONN_FLAGS);
  if (!(flags & CONN_F_HASHED)) return;
  let hin = inHash(cp), hout = outHash(cp);
  idxRemove(idxBucket(hin), idxTag(hin, DIR_IN) | i);
  if (load<u32>(outq()) == 0 || !outqRemove(i)) idxRemove(idxBucket(hout), idxTag(hout, DIR_OUT) | i);
  store<u16>(cp, flags & ~CONN_F_HASHED, CONN_FLAGS);
  store<u32>(WCTL, load<u32>(WCTL, WCTL_CONN_COUNT) - 1, WCTL_CONN_COUNT);
}

/** Next conn index ≥ i that is hashed (live), or 0. For listings. */
export function connNextLive(i: u32): u32 {
  if (i == 0) i = 1;
  for (; i <= connMax; i++) {
    if (load<u16>(CONN + <usize>i * CONN_SIZE, CONN_FLAGS) & CONN_F_HASHED) return i;
  }
  return 0;
}

/**
 * After layoutGrow (which cleared the index at its new size): link records oldMax+1..connMax
 * into the free list (in index order, before the old free records), and enter every hashed
 * conn in the index again (connReindex). One partition; worker.ts partsGrow does each of many.
 */
export function connTableGrow(oldMax: u32): void {
  if (connMax > oldMax) {
    for (let i = oldMax + 1; i < connMax; i++) store<u32>(connCold(i), i + 1, COLD_NEXT_TIMER);
    store<u32>(connCold(connMax), load<u32>(WCTL, WCTL_CONN_FREE), COLD_NEXT_TIMER);
    store<u32>(WCTL, oldMax + 1, WCTL_CONN_FREE);
  }
  connReindex();
}

/**
 * A fresh index for the current partition, holding its hashed conns again (indexes ≡ PART
 * mod NPARTS: worker.ts partOf), in index order (conns with equal keys — two services' conns to
 * one real server from one client port — are then found highest index first). A conn the index
 * cannot take (its overflow pool spent: not expected, the index grew with the pool) is left
 * unhashed and counted; its timer still expires it.
 */
export function connReindex(): void {
  idxInit();
  store<u32>(WCTL, 0, WCTL_CONN_COUNT);
  let first: u32 = NPARTS == 1 ? 1 : (PART == 0 ? NPARTS : PART);
  for (let i = first; i <= connMax; i += NPARTS) {
    let cp = connPtr(i);
    let flags = load<u16>(cp, CONN_FLAGS);
    if (!(flags & CONN_F_HASHED)) continue;
    store<u16>(cp, flags & ~CONN_F_HASHED, CONN_FLAGS);
    if (!connHashIn(i)) cntInc(CNT_CONN_INDEX_FULL);
  }
}

// ---- the SYN proxy's delta entries (layout.ts SP_POOL) -----------------------------------------------
// One pool per conn partition, used only by the partition's owner (a conn's partition: its index
// mod NPARTS, worker.ts partOf), so no lock. The conn's sync word holds its entry's index + 1.

@inline function spPart(ci: u32): u32 { return NPARTS == 1 ? 0 : ci % NPARTS; }
@inline function spEntry(part: u32, k: u32): usize { return SP_POOL + (<usize>part * SP_SLOTS + <usize>k) * SP_SIZE; }

/** The delta entry of synproxy conn ci (connSpAlloc gave it one). */
@inline export function connSpPtr(ci: u32): usize {
  return spEntry(spPart(ci), load<u32>(connCold(ci), COLD_SYNC) - 1);
}

/** A delta entry for conn ci, zeroed; false when its partition's SP_SLOTS are all in use. */
export function connSpAlloc(ci: u32): bool {
  let part = spPart(ci);
  let w = PARTS + <usize>part * PART_SIZE;
  let k = load<u32>(w, WCTL_SP_FREE);
  if (k != 0) {
    store<u32>(w, load<u32>(spEntry(part, k - 1), SP_SEQ), WCTL_SP_FREE);
  } else {
    let used = load<u32>(w, WCTL_SP_USED);
    if (used >= SP_SLOTS) return false;
    store<u32>(w, used + 1, WCTL_SP_USED);
    k = used + 1;
  }
  let e = spEntry(part, k - 1);
  store<u64>(e, 0); store<u32>(e, 0, 8);
  store<u32>(connCold(ci), k, COLD_SYNC);
  return true;
}

function connSpFree(ci: u32): void {
  let k = load<u32>(connCold(ci), COLD_SYNC);
  if (k == 0) return;
  let part = spPart(ci);
  let w = PARTS + <usize>part * PART_SIZE;
  store<u32>(spEntry(part, k - 1), load<u32>(w, WCTL_SP_FREE), SP_SEQ);
  store<u32>(w, k, WCTL_SP_FREE);
  store<u32>(connCold(ci), 0, COLD_SYNC);
}
