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
// __ip_vs_lblc_schedule (also lblcr's) is wlc's pick, line for line
import { schedule as leastConn } from "./wlc";
import {
  CHECK_EXPIRE_INTERVAL, T_COUNTER, T_NEXT_CHECK, T_FREE, T_ENT, ENT_SIZE, E_NEXT, E_LASTUSE, ent, lookup, flush, runTimers, entryAdd,
} from "./lbtable";
import { schedArea, SCHED_AREA_SIZE } from "../layout";
import { pktDaddr } from "../packet/iph";
import {
  hash32, addrFoldHost, svcAf, destHead, destNext, destWeight, destOverloaded, destAvailable, destOverhead,
  destActive, schedNow, destHold, destPut,
} from "./common";


@inline const E_DEST: u32 = 2;
/** Cache entries per service (the registry keeps the area's last 16 bytes). */
@inline export const LBLC_ENTRY_MAX: u32 = (SCHED_AREA_SIZE - 16 - T_ENT) / ENT_SIZE;


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
  flush(schedArea(svcIdx), releaseEntry);
}

/** What an lblc entry holds: one dest reference. */
function releaseEntry(area: usize, e: usize): void {
  destPut(<u32>load<u16>(e, E_DEST));
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
  let e = entryAdd(area, af, addr, now, releaseEntry);
  if (e == 0) return;                      // full: use the dest uncached
  destHold(d);
  store<u16>(e, <u16>d, E_DEST);
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
  runTimers(area, now, releaseEntry);
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
