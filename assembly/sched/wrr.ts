// Weighted round-robin (ip_vs_wrr.c). State: cl (current dest, 0 = head), cw (current weight),
// mw (max weight minus (gcd - 1)), di (gcd of the positive weights). Each round lowers cw by
// di and picks the dests whose weight ≥ cw, in list order; the kernel's last-pass rule makes
// sure every dest was tried for weight ≥ 1 before reporting overload.
import { schedArea, svcPtr, destPtr, SVC_DEST_HEAD, DEST_NEXT, DEST_FLAGS, DEST_WEIGHT } from "../layout";
import { DEST_F_OVERLOAD } from "../defs";

@inline const WRR_CL: u32 = 0;
@inline const WRR_CW: u32 = 4;
@inline const WRR_MW: u32 = 8;
@inline const WRR_DI: u32 = 12;

function gcd(a: i32, b: i32): i32 {
  while (b != 0) { let t = a % b; a = b; b = t; }
  return a;
}

function gcdWeight(svcIdx: u32): i32 {
  let g: i32 = 0;
  let d = load<u32>(svcPtr(svcIdx), SVC_DEST_HEAD);
  while (d != 0) {
    let w = load<i32>(destPtr(d), DEST_WEIGHT);
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
    d = load<u32>(destPtr(d), DEST_NEXT);
  }
  return g != 0 ? g : 1;
}

function maxWeight(svcIdx: u32): i32 {
  let m: i32 = 0;
  let d = load<u32>(svcPtr(svcIdx), SVC_DEST_HEAD);
  while (d != 0) {
    let w = load<i32>(destPtr(d), DEST_WEIGHT);
    if (w > m) m = w;
    d = load<u32>(destPtr(d), DEST_NEXT);
  }
  return m;
}

export function initService(svcIdx: u32): void {
  let a = schedArea(svcIdx);
  let di = gcdWeight(svcIdx);
  let mw = maxWeight(svcIdx) - (di - 1);
  store<u32>(a, 0, WRR_CL);
  store<i32>(a, di, WRR_DI);
  store<i32>(a, mw, WRR_MW);
  store<i32>(a, mw, WRR_CW);
}

/** ip_vs_wrr_dest_changed: add, delete and edit of a dest all restart from the head. */
export function destChanged(svcIdx: u32): void {
  let a = schedArea(svcIdx);
  let di = gcdWeight(svcIdx);
  let mw = maxWeight(svcIdx) - (di - 1);
  store<u32>(a, 0, WRR_CL);
  store<i32>(a, di, WRR_DI);
  store<i32>(a, mw, WRR_MW);
  let cw = load<i32>(a, WRR_CW);
  if (cw > mw || cw == 0) cw = mw;
  else if (di > 1) cw = (cw / di) * di + 1;
  store<i32>(a, cw, WRR_CW);
}

export function schedule(svcIdx: u32): u32 {
  let a = schedArea(svcIdx);
  let head = load<u32>(svcPtr(svcIdx), SVC_DEST_HEAD);
  let mw = load<i32>(a, WRR_MW);
  let di = load<i32>(a, WRR_DI);
  let cw = load<i32>(a, WRR_CW);
  let d = load<u32>(a, WRR_CL);
  if (mw == 0) return 0;                         // no available dests
  let last = d;
  let stop: u32 = 0;
  let hasStop = false;
  let lastPass = false;
  let restarted = false;
  while (true) {
    // list_for_each_entry_continue: from after d (the head when d == 0) to the end
    d = d == 0 ? head : load<u32>(destPtr(d), DEST_NEXT);
    while (d != 0) {
      let dest = destPtr(d);
      if (!(load<u8>(dest, DEST_FLAGS) & DEST_F_OVERLOAD) && load<i32>(dest, DEST_WEIGHT) >= cw) {
        store<u32>(a, d, WRR_CL);
        store<i32>(a, cw, WRR_CW);
        return d;
      }
      if (hasStop && d == stop) {                 // err_over: all overloaded
        store<u32>(a, d, WRR_CL);
        store<i32>(a, cw, WRR_CW);
        return 0;
      }
      d = load<u32>(dest, DEST_NEXT);
    }
    // d is back at the head
    cw -= di;
    if (cw <= 0) {
      cw = mw;
      if (lastPass || last == 0) {
        store<u32>(a, 0, WRR_CL);
        store<i32>(a, cw, WRR_CW);
        return 0;
      }
      restarted = true;
    }
    lastPass = cw <= di;
    if (lastPass && restarted && last != 0) {
      stop = last; hasStop = true;
    }
  }
  return 0;
}
