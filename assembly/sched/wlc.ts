// Weighted least-connection (ip_vs_wlc.c). The first usable dest (not OVERLOADed, weight > 0)
// starts as the least loaded; every later non-OVERLOADed dest replaces it when
// loh × weight(dest) > doh × weight(least) (64-bit cross-multiplication, no division), so
// ties keep the earlier dest in list order (newest first). Overhead: activeconns × 256 +
// inactconns. No per-service state.
import { destHead, destNext, destWeight, destOverloaded, destOverhead } from "./common";

export function schedule(svcIdx: u32): u32 {
  let d = destHead(svcIdx);
  while (d != 0 && (destOverloaded(d) || destWeight(d) <= 0)) d = destNext(d);
  if (d == 0) return 0;
  let least = d;
  let loh = destOverhead(d);
  for (d = destNext(d); d != 0; d = destNext(d)) {
    if (destOverloaded(d)) continue;
    let doh = destOverhead(d);
    if (<i64>loh * <i64>destWeight(d) > <i64>doh * <i64>destWeight(least)) { least = d; loh = doh; }
  }
  return least;
}
