// Scheduler registry (ip_vs_sched.c). Each scheduler lives in its own file and exposes the
// ip_vs_scheduler ops: initService, doneService, addDest, delDest, updDest, schedule. This
// table is the only list of them; dispatch is a switch on the id stored in the service record
// (inlinable, no indirect calls). A new scheduler = one file + one line per op below.
// schedule() returns a dest index (0: no destination available).
import { svcPtr, SVC_SCHED } from "../layout";
import * as rr from "./rr";
import * as wrr from "./wrr";

@inline export const SCHED_RR: u32 = 1;
@inline export const SCHED_WRR: u32 = 2;
@inline export const SCHED_LAST: u32 = 3;   // ids are 1..SCHED_LAST-1

/** Scheduler name by id, as `ipvsadm -s` spells it ("" past the end). */
export function schedName(id: u32): string {
  switch (id) {
    case SCHED_RR: return "rr";
    case SCHED_WRR: return "wrr";
  }
  return "";
}

@inline export function schedValid(id: u32): bool { return id >= 1 && id < SCHED_LAST; }
@inline function schedOf(svcIdx: u32): u32 { return <u32>load<u8>(svcPtr(svcIdx), SVC_SCHED); }

export function schedInitService(svcIdx: u32): void {
  switch (schedOf(svcIdx)) {
    case SCHED_RR: rr.initService(svcIdx); break;
    case SCHED_WRR: wrr.initService(svcIdx); break;
  }
}
export function schedDoneService(svcIdx: u32): void {
  // rr, wrr keep nothing outside their per-service area
}
export function schedAddDest(svcIdx: u32, destIdx: u32): void {
  switch (schedOf(svcIdx)) {
    case SCHED_WRR: wrr.destChanged(svcIdx); break;
  }
}
/** `prevIdx`: the dest that preceded the removed one in the list (0: it was first). */
export function schedDelDest(svcIdx: u32, destIdx: u32, prevIdx: u32): void {
  switch (schedOf(svcIdx)) {
    case SCHED_RR: rr.delDest(svcIdx, destIdx, prevIdx); break;
    case SCHED_WRR: wrr.destChanged(svcIdx); break;
  }
}
export function schedUpdDest(svcIdx: u32, destIdx: u32): void {
  switch (schedOf(svcIdx)) {
    case SCHED_WRR: wrr.destChanged(svcIdx); break;
  }
}
export function schedSchedule(svcIdx: u32): u32 {
  switch (schedOf(svcIdx)) {
    case SCHED_RR: return rr.schedule(svcIdx);
    case SCHED_WRR: return wrr.schedule(svcIdx);
  }
  return 0;
}
