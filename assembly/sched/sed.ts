// Shortest expected delay (ip_vs_sed.c): wlc's walk with overhead = activeconns + 1, i.e. the
// dest minimising (activeconns + 1) / weight. Inactive conns do not count. No state.
import { destHead, destNext, destWeight, destOverloaded, destActive } from "./common";

export function schedule(svcIdx: u32): u32 {
  let d = destHead(svcIdx);
  while (d != 0 && (destOverloaded(d) || destWeight(d) <= 0)) d = destNext(d);
  if (d == 0) return 0;
  let least = d;
  let loh = destActive(d) + 1;
  for (d = destNext(d); d != 0; d = destNext(d)) {
    if (destOverloaded(d)) continue;
    let doh = destActive(d) + 1;
    if (<i64>loh * <i64>destWeight(d) > <i64>doh * <i64>destWeight(least)) { least = d; loh = doh; }
  }
  return least;
}
