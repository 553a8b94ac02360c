// Overflow-connection (ip_vs_ovf.c): the highest-weight dest whose activeconns do not exceed
// its weight; when it fills up (activeconns > weight) the next-highest takes the overflow.
// Skips OVERLOADed and weight-0 dests; ties keep the earlier dest in list order. No state.
import { destHead, destNext, destWeight, destOverloaded, destActive } from "./common";

export function schedule(svcIdx: u32): u32 {
  let h: u32 = 0;
  let hw: i32 = 0;
  for (let d = destHead(svcIdx); d != 0; d = destNext(d)) {
    let w = destWeight(d);
    if (destOverloaded(d) || <i64>destActive(d) > <i64>w || w == 0) continue;
    if (h == 0 || w > hw) { h = d; hw = w; }
  }
  return h;
}
