// Scheduler registry (ip_vs_sched.c). Each scheduler lives in its own file and exposes the
// ip_vs_scheduler ops: initService, doneService, addDest, delDest, updDest, schedule. This
// table is the only list of them; dispatch is a switch on the id stored in the service record
// (inlinable, no indirect calls). A new scheduler = one file + one line per op below.
// schedule() returns a dest index (0: no destination available).
//
// Two things every scheduler gets from here:
// - dest->last_weight (the latest non-zero weight, which mh builds its table from) is kept
//   in DEST_LAST_WEIGHT on add and edit, as __ip_vs_update_dest does, whatever the scheduler;
// - init runs once per binding: SVC_SCHED_BOUND marks it bound, so ctl.ts calling
//   initService again for an edit that keeps the scheduler changes nothing (the kernel's
//   ip_vs_edit_service rebinds only when the scheduler changes).
import {
  CTL, CTL_BIG_FREE, CTL_BIG_USED, CTL_FULL_TABLE, SCHED_BIG, bigMax, svcPtr, destPtr, schedArea, SVC_SCHED, SVC_SCHED_BIG, SVC_SCHED_BOUND,
  DEST_WEIGHT, DEST_LAST_WEIGHT, SCHED_AREA_SIZE, SCHED_SMALL_SIZE,
} from "../layout";
import * as rr from "./rr";
import * as wrr from "./wrr";
import * as lc from "./lc";
import * as wlc from "./wlc";
import * as sed from "./sed";
import * as nq from "./nq";
import * as dh from "./dh";
import * as sh from "./sh";
import * as mh from "./mh";
import * as lblc from "./lblc";
import * as lblcr from "./lblcr";
import * as fo from "./fo";
import * as ovf from "./ovf";
import * as twos from "./twos";

@inline export const SCHED_RR: u32 = 1;
@inline export const SCHED_WRR: u32 = 2;
@inline export const SCHED_LC: u32 = 3;
@inline export const SCHED_WLC: u32 = 4;
@inline export const SCHED_SED: u32 = 5;
@inline export const SCHED_NQ: u32 = 6;
@inline export const SCHED_DH: u32 = 7;
@inline export const SCHED_SH: u32 = 8;
@inline export const SCHED_MH: u32 = 9;
@inline export const SCHED_LBLC: u32 = 10;
@inline export const SCHED_LBLCR: u32 = 11;
@inline export const SCHED_FO: u32 = 12;
@inline export const SCHED_OVF: u32 = 13;
@inline export const SCHED_TWOS: u32 = 14;
@inline export const SCHED_LAST: u32 = 15;   // ids are 1..SCHED_LAST-1

/**
 * Schedulers whose tables do not fit the small area every service has: mh's 4093-entry lookup
 * table, lblc/lblcr's caches. A service bound to one takes a big area from the SCHED_BIG pool
 * (and gives it back when it unbinds), so 10,000 rr/wlc services cost 512 bytes each, not 32 KiB.
 */
@inline export function schedNeedsBig(id: u32): bool { return id == SCHED_MH || id == SCHED_LBLC || id == SCHED_LBLCR; }

/**
 * Give service svcIdx the scheduler area `sched` needs, zeroed: a big one from the pool (its
 * free list first, then the untouched top), or its small one. false: the pool is exhausted
 * (CTL_FULL_TABLE 3; the host grows it between batches and retries).
 */
export function schedAreaTake(svcIdx: u32, sched: u32): bool {
  let svc = svcPtr(svcIdx);
  let big = <u32>load<u16>(svc, SVC_SCHED_BIG);
  if (schedNeedsBig(sched) && big == 0) {
    big = load<u32>(CTL, CTL_BIG_FREE);
    if (big != 0) store<u32>(CTL, load<u32>(SCHED_BIG + <usize>(big - 1) * SCHED_AREA_SIZE), CTL_BIG_FREE);
    else {
      let used = load<u32>(CTL, CTL_BIG_USED);
      if (used >= bigMax) { store<u32>(CTL, 3, CTL_FULL_TABLE); return false; }
      big = used + 1;
      store<u32>(CTL, big, CTL_BIG_USED);
    }
    store<u16>(svc, <u16>big, SVC_SCHED_BIG);
  } else if (!schedNeedsBig(sched) && big != 0) {
    schedAreaRelease(svcIdx);
  }
  memory.fill(schedArea(svcIdx), 0, load<u16>(svc, SVC_SCHED_BIG) != 0 ? SCHED_AREA_SIZE : SCHED_SMALL_SIZE);
  return true;
}

/** Would schedAreaTake(svcIdx, sched) succeed? (checked before an edit touches anything) */
export function schedAreaAvailable(svcIdx: u32, sched: u32): bool {
  if (!schedNeedsBig(sched) || load<u16>(svcPtr(svcIdx), SVC_SCHED_BIG) != 0) return true;
  if (load<u32>(CTL, CTL_BIG_FREE) != 0 || load<u32>(CTL, CTL_BIG_USED) < bigMax) return true;
  store<u32>(CTL, 3, CTL_FULL_TABLE);
  return false;
}

/** Return a service's big area (if any) to the pool's free list. */
export function schedAreaRelease(svcIdx: u32): void {
  let svc = svcPtr(svcIdx);
  let big = <u32>load<u16>(svc, SVC_SCHED_BIG);
  if (big == 0) return;
  store<u32>(SCHED_BIG + <usize>(big - 1) * SCHED_AREA_SIZE, load<u32>(CTL, CTL_BIG_FREE));
  store<u32>(CTL, big, CTL_BIG_FREE);
  store<u16>(svc, 0, SVC_SCHED_BIG);
}

/** Scheduler name by id, as `ipvsadm -s` spells it ("" past the end). */
export function schedName(id: u32): string {
  switch (id) {
    case SCHED_RR: return "rr";
    case SCHED_WRR: return "wrr";
    case SCHED_LC: return "lc";
    case SCHED_WLC: return "wlc";
    case SCHED_SED: return "sed";
    case SCHED_NQ: return "nq";
    case SCHED_DH: return "dh";
    case SCHED_SH: return "sh";
    case SCHED_MH: return "mh";
    case SCHED_LBLC: return "lblc";
    case SCHED_LBLCR: return "lblcr";
    case SCHED_FO: return "fo";
    case SCHED_OVF: return "ovf";
    case SCHED_TWOS: return "twos";
  }
  return "";
}

@inline export function schedValid(id: u32): bool { return id >= 1 && id < SCHED_LAST; }
@inline function schedOf(svcIdx: u32): u32 { return <u32>load<u8>(svcPtr(svcIdx), SVC_SCHED); }

/** ip_vs_bind_scheduler → init_service (once per binding). */
export function schedInitService(svcIdx: u32): void {
  if (load<u8>(svcPtr(svcIdx), SVC_SCHED_BOUND) != 0) return;
  switch (schedOf(svcIdx)) {
    case SCHED_RR: rr.initService(svcIdx); break;
    case SCHED_WRR: wrr.initService(svcIdx); break;
    case SCHED_DH: dh.reassign(svcIdx); break;
    case SCHED_SH: sh.reassign(svcIdx); break;
    case SCHED_MH: mh.reassign(svcIdx); break;
    case SCHED_LBLC: lblc.initService(svcIdx); break;
    case SCHED_LBLCR: lblcr.initService(svcIdx); break;
  }
  store<u8>(svcPtr(svcIdx), 1, SVC_SCHED_BOUND);
}

/** ip_vs_unbind_scheduler → done_service: release what the tables hold. */
export function schedDoneService(svcIdx: u32): void {
  if (load<u8>(svcPtr(svcIdx), SVC_SCHED_BOUND) == 0) return;
  switch (schedOf(svcIdx)) {
    case SCHED_LBLC: lblc.doneService(svcIdx); break;
    case SCHED_LBLCR: lblcr.doneService(svcIdx); break;
  }
  store<u8>(svcPtr(svcIdx), 0, SVC_SCHED_BOUND);
}

export function schedAddDest(svcIdx: u32, destIdx: u32): void {
  let dest = destPtr(destIdx);
  store<i32>(dest, load<i32>(dest, DEST_WEIGHT), DEST_LAST_WEIGHT);   // add: always
  switch (schedOf(svcIdx)) {
    case SCHED_WRR: wrr.destChanged(svcIdx); break;
    case SCHED_DH: dh.reassign(svcIdx); break;
    case SCHED_SH: sh.reassign(svcIdx); break;
    case SCHED_MH: mh.reassign(svcIdx); break;
  }
}

/** `prevIdx`: the dest that preceded the removed one in the list (0: it was first). */
export function schedDelDest(svcIdx: u32, destIdx: u32, prevIdx: u32): void {
  switch (schedOf(svcIdx)) {
    case SCHED_RR: rr.delDest(svcIdx, destIdx, prevIdx); break;
    case SCHED_WRR: wrr.destChanged(svcIdx); break;
    case SCHED_DH: dh.reassign(svcIdx); break;
    case SCHED_SH: sh.reassign(svcIdx); break;
    case SCHED_MH: mh.reassign(svcIdx); break;
  }
}

export function schedUpdDest(svcIdx: u32, destIdx: u32): void {
  let dest = destPtr(destIdx);
  let w = load<i32>(dest, DEST_WEIGHT);
  if (w != 0) store<i32>(dest, w, DEST_LAST_WEIGHT);                 // edit: the latest non-zero weight
  switch (schedOf(svcIdx)) {
    case SCHED_WRR: wrr.destChanged(svcIdx); break;
    case SCHED_DH: dh.reassign(svcIdx); break;
    case SCHED_SH: sh.reassign(svcIdx); break;
    case SCHED_MH: mh.reassign(svcIdx); break;
  }
}

export function schedSchedule(svcIdx: u32): u32 {
  switch (schedOf(svcIdx)) {
    case SCHED_RR: return rr.schedule(svcIdx);
    case SCHED_WRR: return wrr.schedule(svcIdx);
    case SCHED_LC: return lc.schedule(svcIdx);
    case SCHED_WLC: return wlc.schedule(svcIdx);
    case SCHED_SED: return sed.schedule(svcIdx);
    case SCHED_NQ: return nq.schedule(svcIdx);
    case SCHED_DH: return dh.schedule(svcIdx);
    case SCHED_SH: return sh.schedule(svcIdx);
    case SCHED_MH: return mh.schedule(svcIdx);
    case SCHED_LBLC: return lblc.schedule(svcIdx);
    case SCHED_LBLCR: return lblcr.schedule(svcIdx);
    case SCHED_FO: return fo.schedule(svcIdx);
    case SCHED_OVF: return ovf.schedule(svcIdx);
    case SCHED_TWOS: return twos.schedule(svcIdx);
  }
  return 0;
}
