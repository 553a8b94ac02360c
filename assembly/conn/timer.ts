// Conn expiry on a timer wheel (the kernel gives each conn a timer_list). A conn sits on
// exactly one wheel list (doubly linked, so it can leave in O(1)), keyed by its deadline when it
// was (re)queued. Renewing a timeout on each packet is a single store to CONN_EXPIRES: tick()
// re-queues a conn whose deadline moved on instead of expiring it. A deadline that moves
// *earlier* (a state with a shorter timeout: ESTABLISHED → TIME_WAIT) re-queues the conn at
// once (timerRequeue). Granularity 2^WHEEL_SHIFT ms; deadlines are engine milliseconds (u32,
// wrap-safe compares).
import {
  WCTL, WCTL_WHEEL_CURSOR, WHEEL, WHEEL_SLOTS, WHEEL_SHIFT, connPtr, connCold, COLD_NEXT_TIMER, COLD_PREV_TIMER, CONN_EXPIRES,
} from "../layout";

/** Marks a back link that names the wheel slot (the conn is first on it), not a conn. */
@inline const WHEEL_HEAD: u32 = 0x80000000;

@inline function slotIdx(expires: u32): u32 { return (expires >> WHEEL_SHIFT) & (WHEEL_SLOTS - 1); }
@inline function slotPtr(idx: u32): usize { return WHEEL + (<usize>idx << 2); }

export function timerAdd(ci: u32): void {
  let cc = connCold(ci);
  let s = slotIdx(load<u32>(connPtr(ci), CONN_EXPIRES));
  let head = load<u32>(slotPtr(s));
  store<u32>(cc, head, COLD_NEXT_TIMER);
  store<u32>(cc, WHEEL_HEAD | s, COLD_PREV_TIMER);
  if (head != 0) store<u32>(connCold(head), ci, COLD_PREV_TIMER);
  store<u32>(slotPtr(s), ci);
}

/** Take a queued conn off its wheel list. */
export function timerDel(ci: u32): void {
  let cc = connCold(ci);
  let prev = load<u32>(cc, COLD_PREV_TIMER);
  let next = load<u32>(cc, COLD_NEXT_TIMER);
  if (prev & WHEEL_HEAD) store<u32>(slotPtr(prev & ~WHEEL_HEAD), next);
  else store<u32>(connCold(prev), next, COLD_NEXT_TIMER);
  if (next != 0) store<u32>(connCold(next), prev, COLD_PREV_TIMER);
}

/** The deadline moved earlier than where the conn is queued: queue it again. */
export function timerRequeue(ci: u32): void {
  timerDel(ci);
  timerAdd(ci);
}

export function timerInit(now: u32): void {
  store<u32>(WCTL, now >> WHEEL_SHIFT, WCTL_WHEEL_CURSOR);
}

/** The wheel slots due at `now`: cursor..target, wrap-safe; -1 when the clock went backwards. */
export function timerDueSteps(now: u32): i32 {
  let steps = (now >> WHEEL_SHIFT) - load<u32>(WCTL, WCTL_WHEEL_CURSOR);
  if (<i32>steps < 0) return -1;
  return <i32>(steps >= WHEEL_SLOTS ? WHEEL_SLOTS - 1 : steps);
}

/** Detach the list of the k-th slot after the cursor; returns its first conn (0: empty). */
export function timerTake(k: u32): u32 {
  let s = slotPtr((load<u32>(WCTL, WCTL_WHEEL_CURSOR) + k) & (WHEEL_SLOTS - 1));
  let ci = load<u32>(s);
  store<u32>(s, 0);
  return ci;
}

/** The wheel has been walked up to now's slot (which is walked again next time). */
export function timerDone(now: u32): void {
  store<u32>(WCTL, now >> WHEEL_SHIFT, WCTL_WHEEL_CURSOR);
}
