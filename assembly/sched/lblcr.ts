// Locality-based least-connection with replication (ip_vs_lblcr.c). Like lblc, but a
// destination address maps to a *set* of dests: a packet goes to the set's weighted
// least-connection member (available, weight > 0, not OVERLOADed); when that member is
// "overloaded" (activeconns > weight while some dest of the service is under half its
// weight) or the set has none, the service-wide weighted least-connection dest is chosen
// and added to the set. A set of more than one dest that was not changed for
// lblcr_expiration (24 h) loses its most loaded member. Members are kept newest first.
//
// The same lazy 60 s timer and capacity rules as lblc.ts (full check every 30th run drops
// entries unused for 24 h; a full table drops entries idle for 6 min, else the choice goes
// uncached; a full member pool leaves the set as it is, as a failed kmalloc does).
// Entries and members hold dest references.
//
// Area: 0 entries u32 | 4 counter i32 | 8 nextCheck u32 | 12 free entry u16 | 14 free member u16
//       | 64 buckets 1024 × u16 | 2112 entries, 32 bytes: 0 next u16 | 2 set head u16 |
//       4 lastuse u32 | 8 lastmod u32 | 12 set size u32 | 16 addr[16]
//       | members, 4 bytes: dest u16 | next u16
import { schedArea, SCHED_AREA_SIZE } from "../layout";
import { pktDaddr } from "../packet/iph";
import {
  hash32, addrFoldHost, svcAf, destWeight, destOverloaded, destAvailable, destOverhead, schedNow, destHold, destPut,
} from "./common";
import { lbOverloaded } from "./lblc";
import { schedule as leastConn } from "./wlc";
import {
  CHECK_EXPIRE_INTERVAL, DEFAULT_EXPIRATION, T_COUNTER, T_NEXT_CHECK, T_FREE, T_ENT, ENT_SIZE,
  E_NEXT, E_LASTUSE, ent, before, lookup, flush, runTimers, entryAdd,
} from "./lbtable";


@inline const T_FREE_M: u32 = 14;
@inline export const LBLCR_ENTRY_MAX: u32 = 640;
@inline const T_MEM: u32 = T_ENT + LBLCR_ENTRY_MAX * ENT_SIZE;
@inline export const LBLCR_MEMBER_MAX: u32 = (SCHED_AREA_SIZE - 16 - T_MEM) / 4;
@inline const E_SET: u32 = 2;
@inline const E_LASTMOD: u32 = 8;
@inline const E_SIZE: u32 = 12;

@inline function mem(area: usize, i: u32): usize { return area + T_MEM + <usize>(i - 1) * 4; }
@inline function mDest(area: usize, m: u32): u32 { return <u32>load<u16>(mem(area, m)); }
@inline function mNext(area: usize, m: u32): u32 { return <u32>load<u16>(mem(area, m), 2); }

export function initService(svcIdx: u32): void {
  let area = schedArea(svcIdx);
  memory.fill(area, 0, T_ENT);
  for (let i: u32 = 1; i <= LBLCR_ENTRY_MAX; i++) store<u16>(ent(area, i), i < LBLCR_ENTRY_MAX ? <u16>(i + 1) : 0, E_NEXT);
  for (let i: u32 = 1; i <= LBLCR_MEMBER_MAX; i++) store<u16>(mem(area, i), i < LBLCR_MEMBER_MAX ? <u16>(i + 1) : 0, 2);
  store<u16>(area, 1, T_FREE);
  store<u16>(area, 1, T_FREE_M);
  store<i32>(area, 1, T_COUNTER);
  store<u32>(area, schedNow() + CHECK_EXPIRE_INTERVAL, T_NEXT_CHECK);
}

// ---- dest sets (ip_vs_dest_set_*) ------------------------------------------------------------

/** ip_vs_dest_set_insert: add `d` at the head (unless `check` finds it there already). */
function setInsert(area: usize, e: usize, d: u32, check: bool, now: u32): void {
  if (check) {
    for (let m = <u32>load<u16>(e, E_SET); m != 0; m = mNext(area, m)) if (mDest(area, m) == d) return;
  }
  let m = <u32>load<u16>(area, T_FREE_M);
  if (m == 0) return;
  store<u16>(area, <u16>mNext(area, m), T_FREE_M);
  destHold(d);
  store<u16>(mem(area, m), <u16>d);
  store<u16>(mem(area, m), load<u16>(e, E_SET), 2);
  store<u16>(e, <u16>m, E_SET);
  store<u32>(e, load<u32>(e, E_SIZE) + 1, E_SIZE);
  store<u32>(e, now, E_LASTMOD);
}

/** ip_vs_dest_set_erase */
function setErase(area: usize, e: usize, d: u32, now: u32): void {
  let prev: u32 = 0;
  for (let m = <u32>load<u16>(e, E_SET); m != 0; m = mNext(area, m)) {
    if (mDest(area, m) == d) {
      store<u32>(e, load<u32>(e, E_SIZE) - 1, E_SIZE);
      store<u32>(e, now, E_LASTMOD);
      if (prev == 0) store<u16>(e, <u16>mNext(area, m), E_SET);
      else store<u16>(mem(area, prev), <u16>mNext(area, m), 2);
      destPut(d);
      store<u16>(mem(area, m), load<u16>(area, T_FREE_M), 2);
      store<u16>(area, <u16>m, T_FREE_M);
      return;
    }
    prev = m;
  }
}

function setEraseAll(area: usize, e: usize): void {
  let m = <u32>load<u16>(e, E_SET);
  while (m != 0) {
    let nxt = mNext(area, m);
    destPut(mDest(area, m));
    store<u16>(mem(area, m), load<u16>(area, T_FREE_M), 2);
    store<u16>(area, <u16>m, T_FREE_M);
    m = nxt;
  }
  store<u16>(e, 0, E_SET);
  store<u32>(e, 0, E_SIZE);
}

/** ip_vs_dest_set_min: the weighted least-connection member. */
function setMin(area: usize, e: usize): u32 {
  let m = <u32>load<u16>(e, E_SET);
  while (m != 0) {
    let d = mDest(area, m);
    if (!destOverloaded(d) && destWeight(d) > 0 && destAvailable(d)) break;
    m = mNext(area, m);
  }
  if (m == 0) return 0;
  let least = mDest(area, m);
  let loh = destOverhead(least);
  for (m = mNext(area, m); m != 0; m = mNext(area, m)) {
    let d = mDest(area, m);
    if (destOverloaded(d)) continue;
    let doh = destOverhead(d);
    if (<i64>loh * <i64>destWeight(d) > <i64>doh * <i64>destWeight(least) && destAvailable(d)) { least = d; loh = doh; }
  }
  return least;
}

/** ip_vs_dest_set_max: the weighted most-connection member. */
function setMax(area: usize, e: usize): u32 {
  let m = <u32>load<u16>(e, E_SET);
  while (m != 0 && destWeight(mDest(area, m)) <= 0) m = mNext(area, m);
  if (m == 0) return 0;
  let most = mDest(area, m);
  let moh = destOverhead(most);
  for (m = mNext(area, m); m != 0; m = mNext(area, m)) {
    let d = mDest(area, m);
    let doh = destOverhead(d);
    if (<i64>moh * <i64>destWeight(d) < <i64>doh * <i64>destWeight(most) && destWeight(d) > 0) { most = d; moh = doh; }
  }
  return most;
}

// ---- the table -------------------------------------------------------------------------------

export function doneService(svcIdx: u32): void {
  flush(schedArea(svcIdx), setEraseAll);
}

/** ip_vs_lblcr_new for an address with no entry yet. */
function newEntry(area: usize, af: u8, addr: usize, d: u32, now: u32): void {
  let e = entryAdd(area, af, addr, now, setEraseAll);
  if (e == 0) return;
  store<u16>(e, 0, E_SET);
  store<u32>(e, 0, E_SIZE);
  setInsert(area, e, d, false, now);
}

export function schedule(svcIdx: u32): u32 {
  let area = schedArea(svcIdx);
  let now = schedNow();
  runTimers(area, now, setEraseAll);
  let af = svcAf(svcIdx);
  let daddr = pktDaddr();
  let i = lookup(area, af, daddr);
  if (i != 0) {
    let e = ent(area, i);
    store<u32>(e, now, E_LASTUSE);
    let d = setMin(area, e);
    // more than one member and unchanged for lblcr_expiration: drop the busiest
    if (load<u32>(e, E_SIZE) > 1 && before(load<u32>(e, E_LASTMOD) + DEFAULT_EXPIRATION, now)) {
      let m = setMax(area, e);
      if (m != 0) setErase(area, e, m, now);
    }
    if (d != 0 && !lbOverloaded(d, svcIdx)) return d;
    d = leastConn(svcIdx);
    if (d == 0) return 0;
    setInsert(area, e, d, true, now);
    return d;
  }
  let d = leastConn(svcIdx);
  if (d == 0) return 0;
  newEntry(area, af, daddr, d, now);
  return d;
}
