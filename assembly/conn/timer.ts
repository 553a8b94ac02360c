// Conn expiry on a timer wheel (the kernel gives each conn a timer_list). A conn sits on
// exactly one wheel list, keyed by its deadline when it was (re)queued; renewing a timeout
// on each packet is a single store to CONN_EXPIRES, and tick() re-queues a conn whose
// deadline moved on instead of expiring it. Granularity 2^WHEEL_SHIFT ms; deadlines are
// engine milliseconds (u32, wrap-safe compares).
import {
  CTL, CTL_NOW, CTL_WHEEL_CURSOR, WHEEL, WHEEL_SLOTS, WHEEL_SHIFT, connPtr, CONN_NEXT_TIMER, CONN_EXPIRES, CONN_FLAGS,
} from "../layout";
import { connFree, CONN_F_DEAD } from "./table";
import { connKill } from "./conn";

@inline function slotOf(expires: u32): usize {
  return WHEEL + (<usize>((expires >> WHEEL_SHIFT) & (WHEEL_SLOTS - 1)) << 2);
}

export function timerAdd(ci: u32): void {
  let cp = connPtr(ci);
  let s = slotOf(load<u32>(cp, CONN_EXPIRES));
  store<u32>(cp, load<u32>(s), CONN_NEXT_TIMER);
  store<u32>(s, ci);
}

export function timerInit(now: u32): void {
  store<u32>(CTL, now >> WHEEL_SHIFT, CTL_WHEEL_CURSOR);
}

/** Expire every conn whose deadline is ≤ now. Returns how many expired. */
export function timerTick(now: u32): u32 {
  let cur = load<u32>(CTL, CTL_WHEEL_CURSOR);
  let target = now >> WHEEL_SHIFT;
  let steps = target - cur;                        // wrap-safe
  if (<i32>steps < 0) return 0;                    // clock went backwards: nothing is due
  if (steps >= WHEEL_SLOTS) steps = WHEEL_SLOTS - 1;
  let expired: u32 = 0;
  // process slots cur..target inclusive; the target slot is processed again next time
  for (let k: u32 = 0; k <= steps; k++) {
    let s = slotOf((cur + k) << WHEEL_SHIFT);
    let ci = load<u32>(s);
    store<u32>(s, 0);
    while (ci != 0) {
      let cp = connPtr(ci);
      let next = load<u32>(cp, CONN_NEXT_TIMER);
      if (load<u16>(cp, CONN_FLAGS) & CONN_F_DEAD) {
        connFree(ci);
      } else if (<i32>(now - load<u32>(cp, CONN_EXPIRES)) >= 0) {
        connKill(ci);
        connFree(ci);
        expired++;
      } else {
        timerAdd(ci);
      }
      ci = next;
    }
  }
  store<u32>(CTL, target, CTL_WHEEL_CURSOR);
  return expired;
}
