// Conn table (ip_vs_conn.c): a pool of fixed records with a free list, and two chained hash
// indexes — one keyed as a client→VIP packet sees the conn (in), one as a real server→client
// reply sees it (out) — like DPVS's tuplehash[2]. Links are conn indices (0 = end).
import {
  CTL, WCTL, WCTL_CONN_FREE, WCTL_CONN_COUNT, CTL_HASH_SEED, CONN_TAB_IN, CONN_TAB_OUT, connMask, connMax, connPtr,
  CONN_NEXT_IN, CONN_NEXT_OUT, CONN_CADDR, CONN_VADDR, CONN_DADDR, CONN_CPORT, CONN_VPORT, CONN_DPORT,
  CONN_PROTO, CONN_FLAGS, CONN_SIZE, CONN, CONN_LADDR, CONN_LPORT, LADDR_ADDR, laddrPtr,
  csyncPtr,
} from "../layout";
import { addrEq, addrFold } from "../packet/bytes";
import { CONN_F_TEMPLATE } from "../defs";

@inline export const CONN_F_HASHED: u16 = 0x0040;   // IP_VS_CONN_F_HASHED: findable in both indexes
@inline export const CONN_F_DEAD: u16 = 0x8000;     // unhashed; the timer wheel returns it to the pool

/** Build the free list over the whole pool (index 0 is the null conn). */
export function connTableInit(): void {
  for (let i: u32 = 1; i < connMax; i++) store<u32>(connPtr(i), i + 1, CONN_NEXT_IN);
  store<u32>(connPtr(connMax), 0, CONN_NEXT_IN);
  store<u32>(WCTL, connMax > 0 ? 1 : 0, WCTL_CONN_FREE);
  store<u32>(WCTL, 0, WCTL_CONN_COUNT);
}

@inline export function connCount(): u32 { return load<u32>(WCTL, WCTL_CONN_COUNT); }

@inline function fmix(h: u32): u32 {
  h ^= h >> 16; h *= 0x85ebca6b; h ^= h >> 13; h *= 0xc2b2ae35; h ^= h >> 16;
  return h;
}
/** Hash of (proto, addr1, port1, addr2, port2), seeded at init (ip_vs_conn_hashkey uses jhash + rnd). */
@inline export function connHash(proto: u8, a1: usize, p1: u16, a2: usize, p2: u16): u32 {
  return connHashFolded(proto, addrFold(a1), p1, addrFold(a2), p2);
}
/** The same hash from folded addresses (the batch prefetch computes them from the wire). */
@inline export function connHashFolded(proto: u8, f1: u32, p1: u16, f2: u32, p2: u16): u32 {
  let h = load<u32>(CTL, CTL_HASH_SEED) ^ <u32>proto;
  h = (h ^ f1) * 0x9e3779b1;
  h = (h ^ f2) * 0x85ebca77;
  h ^= <u32>p1 | (<u32>p2 << 16);
  return fmix(h) & connMask;
}

let prefetchSink: u32 = 0;
/**
 * Touch the hash buckets, then the first conn of each chain, for a whole batch before any
 * packet is processed. The loads are independent of each other, so the CPU overlaps their
 * cache misses (wasm has no prefetch instruction); the lookups that follow then hit the cache.
 * An in-key (caddr, cport, vaddr, vport) and an out-key (daddr, dport, caddr, cport) put the
 * packet's (src, sport, dst, dport) in the same places, so one hash serves both tables.
 */
export function connPrefetch(hashes: usize, n: u32): void {
  let sink: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    let h = <usize>load<u32>(hashes + (<usize>i << 2)) << 2;
    sink += load<u32>(CONN_TAB_IN + h) + load<u32>(CONN_TAB_OUT + h);
  }
  for (let i: u32 = 0; i < n; i++) {
    let h = <usize>load<u32>(hashes + (<usize>i << 2)) << 2;
    let a = load<u32>(CONN_TAB_IN + h), b = load<u32>(CONN_TAB_OUT + h);
    // every cache line of the record (120 bytes span two or three lines)
    if (a != 0) { let p = connPtr(a); sink += load<u32>(p) + load<u32>(p, 60) + load<u32>(p, CONN_SIZE - 4); }
    if (b != 0) { let p = connPtr(b); sink += load<u32>(p) + load<u32>(p, 60) + load<u32>(p, CONN_SIZE - 4); }
  }
  prefetchSink += sink;
}

/**
 * The out key's second half: caddr:cport, or for a FULLNAT conn its laddr:lport (the address
 * the real server answers to), as DPVS overwrites tuplehash_out in dp_vs_laddr_bind.
 */
@inline function outAddr(cp: usize): usize {
  let li = <u32>load<u16>(cp, CONN_LADDR);
  return li != 0 ? laddrPtr(li) + LADDR_ADDR : cp + CONN_CADDR;
}
@inline function outPort(cp: usize): u16 {
  return load<u16>(cp, CONN_LADDR) != 0 ? load<u16>(cp, CONN_LPORT) : load<u16>(cp, CONN_CPORT);
}

/** ip_vs_conn_in_get: the conn of a client→VIP packet. */
export function connInGet(proto: u8, caddr: usize, cport: u16, vaddr: usize, vport: u16): u32 {
  let i = load<u32>(CONN_TAB_IN + (<usize>connHash(proto, caddr, cport, vaddr, vport) << 2));
  while (i != 0) {
    let cp = connPtr(i);
    if (load<u16>(cp, CONN_CPORT) == cport && load<u16>(cp, CONN_VPORT) == vport &&
        load<u8>(cp, CONN_PROTO) == proto &&
        addrEq(cp + CONN_CADDR, caddr) && addrEq(cp + CONN_VADDR, vaddr) &&
        !(load<u16>(cp, CONN_FLAGS) & CONN_F_TEMPLATE)) return i;
    i = load<u32>(cp, CONN_NEXT_IN);
  }
  return 0;
}

/** ip_vs_ct_in_get: the persistence template (cport 0) with this key, or 0. */
export function ctInGet(proto: u8, caddr: usize, vaddr: usize, vport: u16): u32 {
  let i = load<u32>(CONN_TAB_IN + (<usize>connHash(proto, caddr, 0, vaddr, vport) << 2));
  while (i != 0) {
    let cp = connPtr(i);
    if (load<u16>(cp, CONN_CPORT) == 0 && load<u16>(cp, CONN_VPORT) == vport &&
        load<u8>(cp, CONN_PROTO) == proto && (load<u16>(cp, CONN_FLAGS) & CONN_F_TEMPLATE) &&
        addrEq(cp + CONN_CADDR, caddr) && addrEq(cp + CONN_VADDR, vaddr)) return i;
    i = load<u32>(cp, CONN_NEXT_IN);
  }
  return 0;
}

/**
 * ip_vs_conn_out_get: the conn of a real server→client packet (source daddr:dport, destination
 * caddr:cport, or laddr:lport for FULLNAT).
 */
export function connOutGet(proto: u8, daddr: usize, dport: u16, caddr: usize, cport: u16): u32 {
  let i = load<u32>(CONN_TAB_OUT + (<usize>connHash(proto, daddr, dport, caddr, cport) << 2));
  while (i != 0) {
    let cp = connPtr(i);
    if (load<u16>(cp, CONN_DPORT) == dport && outPort(cp) == cport &&
        load<u8>(cp, CONN_PROTO) == proto &&
        addrEq(cp + CONN_DADDR, daddr) && addrEq(outAddr(cp), caddr) &&
        !(load<u16>(cp, CONN_FLAGS) & CONN_F_TEMPLATE)) return i;
    i = load<u32>(cp, CONN_NEXT_OUT);
  }
  return 0;
}

/** Take a record off the free list, zeroed. 0 when the table is full. */
export function connAlloc(): u32 {
  let i = load<u32>(WCTL, WCTL_CONN_FREE);
  if (i == 0) return 0;
  let cp = connPtr(i);
  store<u32>(WCTL, load<u32>(cp, CONN_NEXT_IN), WCTL_CONN_FREE);
  memory.fill(cp, 0, CONN_SIZE);
  store<u32>(csyncPtr(i), 0);   // its sync bookkeeping (sync.ts) starts from zero too
  return i;
}

/** Return a (dead, unhashed) record to the pool. */
export function connFree(i: u32): void {
  let cp = connPtr(i);
  store<u16>(cp, 0, CONN_FLAGS);
  store<u8>(cp, 0, CONN_PROTO);
  store<u32>(cp, load<u32>(WCTL, WCTL_CONN_FREE), CONN_NEXT_IN);
  store<u32>(WCTL, i, WCTL_CONN_FREE);
}

/** ip_vs_conn_hash: link into both indexes; the record's tuple fields must be set. */
export function connHashIn(i: u32): void {
  let cp = connPtr(i);
  let proto = load<u8>(cp, CONN_PROTO);
  let hin = CONN_TAB_IN + (<usize>connHash(proto, cp + CONN_CADDR, load<u16>(cp, CONN_CPORT), cp + CONN_VADDR, load<u16>(cp, CONN_VPORT)) << 2);
  let hout = CONN_TAB_OUT + (<usize>connHash(proto, cp + CONN_DADDR, load<u16>(cp, CONN_DPORT), outAddr(cp), outPort(cp)) << 2);
  store<u32>(cp, load<u32>(hin), CONN_NEXT_IN);
  store<u32>(hin, i);
  store<u32>(cp, load<u32>(hout), CONN_NEXT_OUT);
  store<u32>(hout, i);
  store<u16>(cp, load<u16>(cp, CONN_FLAGS) | CONN_F_HASHED, CONN_FLAGS);
  store<u32>(WCTL, load<u32>(WCTL, WCTL_CONN_COUNT) + 1, WCTL_CONN_COUNT);
}

/** ip_vs_conn_unhash: unlink from both chains; the record stays allocated. */
export function connUnhash(i: u32): void {
  let cp = connPtr(i);
  let flags = load<u16>(cp, CONN_FLAGS);
  if (!(flags & CONN_F_HASHED)) return;
  let proto = load<u8>(cp, CONN_PROTO);
  let hin = CONN_TAB_IN + (<usize>connHash(proto, cp + CONN_CADDR, load<u16>(cp, CONN_CPORT), cp + CONN_VADDR, load<u16>(cp, CONN_VPORT)) << 2);
  unlinkChain(hin, i, CONN_NEXT_IN);
  let hout = CONN_TAB_OUT + (<usize>connHash(proto, cp + CONN_DADDR, load<u16>(cp, CONN_DPORT), outAddr(cp), outPort(cp)) << 2);
  unlinkChain(hout, i, CONN_NEXT_OUT);
  store<u16>(cp, flags & ~CONN_F_HASHED, CONN_FLAGS);
  store<u32>(WCTL, load<u32>(WCTL, WCTL_CONN_COUNT) - 1, WCTL_CONN_COUNT);
}

// `link` is the field offset of the chain pointer (CONN_NEXT_IN or CONN_NEXT_OUT)
function unlinkChain(head: usize, i: u32, link: u32): void {
  let cur = load<u32>(head);
  if (cur == i) { store<u32>(head, load<u32>(connPtr(i) + link)); return; }
  while (cur != 0) {
    let p = connPtr(cur) + link;
    let nxt = load<u32>(p);
    if (nxt == i) { store<u32>(p, load<u32>(connPtr(i) + link)); return; }
    cur = nxt;
  }
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
 * After layoutGrow: link records oldMax+1..connMax into the free list (in index order, before
 * the old free records), and re-chain both indexes when the bucket count changed. Growth only
 * multiplies the (power-of-two) bucket count, so a conn of old bucket b lands in a bucket
 * b + k·oldBuckets; each old chain is reversed first and then pushed head-first into its new
 * chains, which keeps every chain's order (newest first, as hlist_add_head leaves it).
 */
export function connTableGrow(oldMax: u32, oldBuckets: u32): void {
  if (connMax > oldMax) {
    for (let i = oldMax + 1; i < connMax; i++) store<u32>(connPtr(i), i + 1, CONN_NEXT_IN);
    store<u32>(connPtr(connMax), load<u32>(WCTL, WCTL_CONN_FREE), CONN_NEXT_IN);
    store<u32>(WCTL, oldMax + 1, WCTL_CONN_FREE);
  }
  if (connMask + 1 == oldBuckets) return;
  rechain(CONN_TAB_IN, CONN_NEXT_IN, oldBuckets, true);
  rechain(CONN_TAB_OUT, CONN_NEXT_OUT, oldBuckets, false);
}

function rechain(tab: usize, nextOff: usize, oldBuckets: u32, dirIn: bool): void {
  for (let b: u32 = 0; b < oldBuckets; b++) {
    let head = tab + (<usize>b << 2);
    // reverse the old chain
    let rev: u32 = 0;
    let i = load<u32>(head);
    while (i != 0) { let nx = load<u32>(connPtr(i) + nextOff); store<u32>(connPtr(i) + nextOff, rev); rev = i; i = nx; }
    store<u32>(head, 0);
    // oldest first, each pushed on its new chain's head
    i = rev;
    while (i != 0) {
      let cp = connPtr(i);
      let nx = load<u32>(cp + nextOff);
      let proto = load<u8>(cp, CONN_PROTO);
      let h = dirIn
        ? connHash(proto, cp + CONN_CADDR, load<u16>(cp, CONN_CPORT), cp + CONN_VADDR, load<u16>(cp, CONN_VPORT))
        : connHash(proto, cp + CONN_DADDR, load<u16>(cp, CONN_DPORT), outAddr(cp), outPort(cp));
      let nb = tab + (<usize>h << 2);
      store<u32>(cp + nextOff, load<u32>(nb));
      store<u32>(nb, i);
      i = nx;
    }
  }
}
