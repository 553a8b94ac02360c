// Least-connection (ip_vs_lc.c). Walks the dest list (newest first) and keeps the first dest
// with the smallest overhead (activeconns × 256 + inactconns); ties keep the earlier one.
// OVERLOADed and weight-0 (quiesced) dests are skipped. No per-service state.
import { destHead, destNext, destWeight, destOverloaded, destOverhead } from "./common";

export function schedule(svcIdx: u32): u32 {
  let least: u32 = 0;
  let loh: u32 = 0;
  for (let d = destHead(svcIdx); d != 0; d = destNext(d)) {
    if (destOverloaded(d) || destWeight(d) == 0) continue;
    let doh = destOverhead(d);
    if (least == 0 || doh < loh) { least = d; loh = doh; }
  }
  return least;   // 0: "no destination available"
}
