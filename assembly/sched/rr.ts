// Round-robin (ip_vs_rr.c). State: a cursor on the last dest chosen (0 = the list head).
// Each pick walks on from the cursor, wrapping once, skipping OVERLOADed and weight-0 dests.
import { schedArea, svcPtr, destPtr, SVC_DEST_HEAD, DEST_NEXT, DEST_FLAGS, DEST_WEIGHT } from "../layout";
import { DEST_F_OVERLOAD } from "../defs";

@inline const RR_CURSOR: u32 = 0;

export function initService(svcIdx: u32): void {
  store<u32>(schedArea(svcIdx), 0, RR_CURSOR);
}

/** The dest is already unlinked: the cursor steps back to the one before it (p->next->prev). */
export function delDest(svcIdx: u32, destIdx: u32, prevIdx: u32): void {
  let area = schedArea(svcIdx);
  if (load<u32>(area, RR_CURSOR) == destIdx) store<u32>(area, prevIdx, RR_CURSOR);
}

@inline function usable(d: u32): bool {
  let dest = destPtr(d);
  return !(load<u8>(dest, DEST_FLAGS) & DEST_F_OVERLOAD) && load<i32>(dest, DEST_WEIGHT) > 0;
}

export function schedule(svcIdx: u32): u32 {
  let area = schedArea(svcIdx);
  let last = load<u32>(area, RR_CURSOR);
  let head = load<u32>(svcPtr(svcIdx), SVC_DEST_HEAD);
  // first pass: after the cursor to the end of the list
  let d = last == 0 ? head : load<u32>(destPtr(last), DEST_NEXT);
  while (d != 0) {
    if (usable(d)) { store<u32>(area, d, RR_CURSOR); return d; }
    d = load<u32>(destPtr(d), DEST_NEXT);
  }
  // second pass (only when we did not start at the head): from the head up to the cursor, inclusive
  if (last != 0) {
    d = head;
    while (d != 0) {
      if (usable(d)) { store<u32>(area, d, RR_CURSOR); return d; }
      if (d == last) break;
      d = load<u32>(destPtr(d), DEST_NEXT);
    }
  }
  return 0;   // "no destination available"
}
