// Locality-based least-connection (ip_vs_lblc.c). A per-service table maps a packet's
// destination address to the dest that served it last. A cached dest is kept while it is
// available, has weight > 0 and is not "overloaded" in lblc's own sense (activeconns >
// weight while some dest of the service has activeconns × 2 < weight; the OVERLOAD flag
// from -x/-y is *not* consulted for a cached dest, as in the kernel); otherwise the
// weighted least-connection dest (skipping OVERLOADed ones) is chosen and cached.
//
// Garbage collection as the kernel's 60 s timer: every 30th run drops entries not used
// for lblc_expiration (24 h). The timer runs lazily, at the first scheduling after it was
// due, once per elapsed 60 s period and at that period's time, so the table seen by every
// scheduling decision is the kernel's. The kernel also trims entries idle for 6 min when it
// holds more than 16384; our table holds LBLC_ENTRY_MAX entries, so when it is full the
// entries idle for 6 min are dropped at once, and if none is, the choice is not cached (the
// kernel's path when it cannot allocate an entry). Entries hold a reference on their dest
// (ip_vs_dest_hold), so a deleted dest stays in the trash while cached.
//
// Area: 0 entries u32 | 4 counter i32 | 8 nextCheck u32 (ms) | 12 free list head u16
//       | 64 buckets 1024 × u16 | 2112 entries, 32 bytes each:
//       0 next u16 | 2 dest u16 | 4 lastuse u32 | 16 addr[16]
import { schedule as wlcSchedule } from "./wlc";
import { schedArea, SCHED_AREA_SIZE } from "../layout";
import { pktDaddr } from "../packet/iph";
import { addrEq, addrCopy } from "../packet/bytes";
import {
  hash32, addrFoldHost, svcAf, destHead, destNext, destWeight, destOverloaded, destAvailable, destOverhead,
  destActive, schedNow, destHold, destPut,
} from "./common";

@inline const TAB_BITS: u32 = 10;
@inline const TAB_SIZE: u32 = 1 << TAB_BITS;
@inline export const CHECK_EXPIRE_INTERVAL: u32 = 60 * 1000;
@inline export const ENTRY_TIMEOUT: u32 = 6 * 60 * 1000;
@inline export const DEFAULT_EXPIRATION: u32 = 24 * 60 * 60 * 1000;
@inline const COUNT_FOR_FULL_EXPIRATION: i32 = 30;
@inline const TIMER_RUNS_MAX: u32 = 4096;   // catch-up bound after a long idle period

@inline const T_ENTRIES: u32 = 0;
@inline const T_COUNTER: u32 = 4;
@inline const T_NEXT_CHECK: u32 = 8;
@inline const T_FREE: u32 = 12;
@inline const T_BUCKETS: u32 = 64;
@inline const T_ENT: u32 = T_BUCKETS + TAB_SIZE * 2;
@inline const ENT_SIZE: u32 = 32;
@inline const E_NEXT: u32 = 0;
@inline const E_DEST: u32 = 2;
@inline const E_LASTUSE: u32 = 4;
@inline const E_ADDR: u32 = 16;
/** Cache entries per service (the registry keeps the area's last 16 bytes). */
@inline export const LBLC_ENTRY_MAX: u32 = (SCHED_AREA_SIZE - 16 - T_ENT) / ENT_SIZE;

@inline function ent(area: usize, i: u32): usize { return area + T_ENT + <usize>(i - 1) * ENT_SIZE; }
@inline function bucket(area: usize, h: u32): usize { return area + T_BUCKETS + (h << 1); }
@inline function hashKey(af: u8, addr: usize): u32 { return hash32(addrFoldHost(af, addr), TAB_BITS); }
/** time_before(a, b) on the wrapping ms clock */
@inline function before(a: u32, b: u32): bool { return <i32>(a - b) < 0; }

export function initService(svcIdx: u32): void {
  let area = schedArea(svcIdx);
  memory.fill(area, 0, T_ENT);
  for (let i: u32 = 1; i <= LBLC_ENTRY_MAX; i++) store<u16>(ent(area, i), i < LBLC_ENTRY_MAX ? <u16>(i + 1) : 0, E_NEXT);
  store<u16>(area, 1, T_FREE);
  store<i32>(area, 1, T_COUNTER);
  store<u32>(area, schedNow() + CHECK_EXPIRE_INTERVAL, T_NEXT_CHECK);
}

/** ip_vs_lblc_flush: drop every entry and its dest reference. */
export function doneService(svcIdx: u32): void {
  let area = schedArea(svcIdx);
  for (let h: u32 = 0; h < TAB_SIZE; h++) {
    let i = <u32>load<u16>(bucket(area, h));
    while (i != 0) {
      let e = ent(area, i);
      destPut(<u32>load<u16>(e, E_DEST));
      i = <u32>load<u16>(e, E_NEXT);
    }
    store<u16>(bucket(area, h), 0);
  }
  store<u32>(area, 0, T_ENTRIES);
}

function lookup(area: usize, af: u8, addr: usize): u32 {
  let i = <u32>load<u16>(bucket(area, hashKey(af, addr)));
  while (i != 0) {
    let e = ent(area, i);
    if (addrEq(e + E_ADDR, addr)) return i;
    i = <u32>load<u16>(e, E_NEXT);
  }
  return 0;
}

/** Drop the entries of every bucket for which `stale(lastuse)`; returns how many went. */
function expire(area: usize, now: u32, age: u32): u32 {
  let n: u32 = 0;
  for (let h: u32 = 0; h < TAB_SIZE; h++) {
    let prev: usize = 0;
    let i = <u32>load<u16>(bucket(area, h));
    while (i != 0) {
      let e = ent(area, i);
      let nxt = <u32>load<u16>(e, E_NEXT);
      if (before(now, load<u32>(e, E_LASTUSE) + age)) { prev = e; i = nxt; continue; }
      if (prev == 0) store<u16>(bucket(area, h), <u16>nxt);
      else store<u16>(prev, <u16>nxt, E_NEXT);
      destPut(<u32>load<u16>(e, E_DEST));
      store<u16>(e, load<u16>(area, T_FREE), E_NEXT);
      store<u16>(area, <u16>i, T_FREE);
      n++;
      i = nxt;
    }
  }
  store<u32>(area, load<u32>(area, T_ENTRIES) - n, T_ENTRIES);
  return n;
}

/** ip_vs_lblc_check_expire, run for every period that fell due before `now`. */
function runTimers(area: usize, now: u32): void {
  let t = load<u32>(area, T_NEXT_CHECK);
  let runs: u32 = 0;
  while (!before(now, t)) {
    if (++runs > TIMER_RUNS_MAX) { t = now + CHECK_EXPIRE_INTERVAL; break; }
    let counter = load<i32>(area, T_COUNTER);
    if (counter % COUNT_FOR_FULL_EXPIRATION == 0) {
      expire(area, t, DEFAULT_EXPIRATION);     // ip_vs_lblc_full_check
      store<i32>(area, 1, T_COUNTER);
    } else {
      // entries never exceed max_size (16384) here: the partial check never runs
      store<i32>(area, counter + 1, T_COUNTER);
    }
    t += CHECK_EXPIRE_INTERVAL;
  }
  store<u32>(area, t, T_NEXT_CHECK);
}

/** ip_vs_lblc_new: cache `d` for `addr` (replacing another dest). */
function cacheDest(area: usize, af: u8, addr: usize, d: u32, now: u32): void {
  let i = lookup(area, af, addr);
  if (i != 0) {
    let e = ent(area, i);
    let old = <u32>load<u16>(e, E_DEST);
    if (old == d) return;
    destPut(old);
    destHold(d);
    store<u16>(e, <u16>d, E_DEST);
    store<u32>(e, now, E_LASTUSE);
    return;
  }
  i = <u32>load<u16>(area, T_FREE);
  if (i == 0) {
    if (expire(area, now, ENTRY_TIMEOUT) == 0) return;   // full: use the dest uncached
    i = <u32>load<u16>(area, T_FREE);
  }
  let e = ent(area, i);
  store<u16>(area, load<u16>(e, E_NEXT), T_FREE);
  addrCopy(e + E_ADDR, addr);
  store<u32>(e, now, E_LASTUSE);
  destHold(d);
  store<u16>(e, <u16>d, E_DEST);
  let b = bucket(area, hashKey(af, addr));
  store<u16>(e, load<u16>(b), E_NEXT);
  store<u16>(b, <u16>i);
  store<u32>(area, load<u32>(area, T_ENTRIES) + 1, T_ENTRIES);
}

/** __ip_vs_lblc_schedule (also lblcr's): the kernel's pick is wlc's, line for line. */
export function leastConn(svcIdx: u32): u32 {
  return wlcSchedule(svcIdx);
}

/** is_overloaded (lblc/lblcr): busier than its weight while another dest is under half of its own. */
export function lbOverloaded(d: u32, svcIdx: u32): bool {
  if (<i64>destActive(d) > <i64>destWeight(d)) {
    for (let o = destHead(svcIdx); o != 0; o = destNext(o)) {
      if (<i64>destActive(o) * 2 < <i64>destWeight(o)) return true;
    }
  }
  return false;
}

export function schedule(svcIdx: u32): u32 {
  let area = schedArea(svcIdx);
  let now = schedNow();
  runTimers(area, now);
  let af = svcAf(svcIdx);
  let daddr = pktDaddr();
  let i = lookup(area, af, daddr);
  if (i != 0) {
    let e = ent(area, i);
    store<u32>(e, now, E_LASTUSE);
    let d = <u32>load<u16>(e, E_DEST);
    if (destAvailable(d) && destWeight(d) > 0 && !lbOverloaded(d, svcIdx)) return d;
  }
  let d = leastConn(svcIdx);
  if (d == 0) return 0;
  cacheDest(area, af, daddr, d, now);
  return d;
}
