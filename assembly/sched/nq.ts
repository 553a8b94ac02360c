// Never queue (ip_vs_nq.c): the first usable dest with no active conns wins at once;
// otherwise the sed choice ((activeconns + 1) / weight, ties keep the earlier dest).
// OVERLOADed and weight-0 dests are skipped. No state.
import { destHead, destNext, destWeight, destOverloaded, destActive } from "./common";

export function schedule(svcIdx: u32): u32 {
  let least: u32 = 0;
  let loh: u32 = 0;
  for (let d = destHead(svcIdx); d != 0; d = destNext(d)) {
    let w = destWeight(d);
    if (destOverloaded(d) || w == 0) continue;
    let a = destActive(d);
    if (a == 0) return d;              // idle: no queueing at all
    let doh = a + 1;
    if (least == 0 || <i64>loh * <i64>w > <i64>doh * <i64>destWeight(least)) { least = d; loh = doh; }
  }
  return least;
}
