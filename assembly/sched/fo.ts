// Weighted fail-over (ip_vs_fo.c): the non-OVERLOADed dest with the highest weight; the
// first one in list order (newest first) wins a tie. Weight 0 never wins. No state.
import { destHead, destNext, destWeight, destOverloaded } from "./common";

export function schedule(svcIdx: u32): u32 {
  let best: u32 = 0;
  let hw: i32 = 0;
  for (let d = destHead(svcIdx); d != 0; d = destNext(d)) {
    let w = destWeight(d);
    if (!destOverloaded(d) && w > hw) { best = d; hw = w; }
  }
  return best;
}
