// The dest trash (ipvs->dest_trash): deleted dests still bound to conns or scheduler tables.
// A trashed dest keeps its counters and stays bound to the service it was deleted from (its
// DEST_SVC, as dest->svc keeps the old ip_vs_service alive): that service record is not reused
// while SVC_TRASH_REFS counts such dests, so their conns never feed another service's stats.
// A doubly linked list (DEST_NEXT is free once the dest left its service's list), so the last
// reference going away unlinks it at once; ctl.ts's ip_vs_trash_get_dest walks it.
import {
  CTL, CTL_DEST_TRASH, CTL_DEST_FREE_HINT, CTL_SVC_FREE_HINT, SVC_USED, destPtr, svcPtr, DEST_NEXT, DEST_TRASH_PREV, DEST_SVC, DEST_USED, SVC_TRASH_REFS,
} from "./layout";
import { DEST_TRASH } from "./defs";

export function trashPut(d: u32): void {
  let dest = destPtr(d);
  store<u8>(dest, DEST_TRASH, DEST_USED);
  let head = load<u32>(CTL, CTL_DEST_TRASH);
  store<u32>(dest, head, DEST_NEXT);
  store<u32>(dest, 0, DEST_TRASH_PREV);
  if (head != 0) store<u32>(destPtr(head), d, DEST_TRASH_PREV);
  store<u32>(CTL, d, CTL_DEST_TRASH);
  let svc = svcPtr(load<u32>(dest, DEST_SVC));
  store<u16>(svc, load<u16>(svc, SVC_TRASH_REFS) + 1, SVC_TRASH_REFS);
}

export function trashTake(d: u32): void {
  let dest = destPtr(d);
  let prev = load<u32>(dest, DEST_TRASH_PREV), next = load<u32>(dest, DEST_NEXT);
  if (prev == 0) store<u32>(CTL, next, CTL_DEST_TRASH);
  else store<u32>(destPtr(prev), next, DEST_NEXT);
  if (next != 0) store<u32>(destPtr(next), prev, DEST_TRASH_PREV);
  let si = load<u32>(dest, DEST_SVC);
  let svc = svcPtr(si);
  let refs = load<u16>(svc, SVC_TRASH_REFS) - 1;
  store<u16>(svc, refs, SVC_TRASH_REFS);
  // a deleted service's record is free again once its last trashed dest goes
  if (refs == 0 && !load<u8>(svc, SVC_USED) && si < load<u32>(CTL, CTL_SVC_FREE_HINT)) store<u32>(CTL, si, CTL_SVC_FREE_HINT);
}

/** A dest record became free: searches for a free one start at or below it again. */
export function destFreed(i: u32): void {
  store<u8>(destPtr(i), 0, DEST_USED);
  if (i < load<u32>(CTL, CTL_DEST_FREE_HINT)) store<u32>(CTL, i, CTL_DEST_FREE_HINT);
}

/** The last reference to a trashed dest went away (ip_vs_dest_put → ip_vs_dest_trash_expire): free it. */
export function trashRelease(d: u32): void {
  trashTake(d);
  destFreed(d);
}
