// Power of two choices (ip_vs_twos.c, Linux 6.2+): two dests drawn at random, each with
// probability proportional to its weight, and the one with the lower overhead / weight wins.
// The kernel draws with prandom_u32(); we draw from a xorshift32 generator whose state lives
// in CTL_SCHED_RNG, seeded from the engine's hash seed (EngineConfig.seed) on first use, so a
// replay with the same seed and the same packets makes the same choices. One generator is
// shared by every twos service, as the kernel's per-CPU prandom state is.
import { CTL, CTL_SCHED_RNG, CTL_HASH_SEED } from "../layout";
import { destHead, destNext, destWeight, destOverloaded, destOverhead } from "./common";

/** Next pseudo-random u32 (xorshift32, Marsaglia 2003). */
export function schedRandom(): u32 {
  let x = load<u32>(CTL, CTL_SCHED_RNG);
  if (x == 0) {
    x = load<u32>(CTL, CTL_HASH_SEED) ^ 0x2545f491;
    if (x == 0) x = 0x2545f491;
  }
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  store<u32>(CTL, x, CTL_SCHED_RNG);
  return x;
}

export function schedule(svcIdx: u32): u32 {
  let total: i32 = 0;
  let lastUsable: u32 = 0;
  for (let d = destHead(svcIdx); d != 0; d = destNext(d)) {
    if (destOverloaded(d)) continue;
    let w = destWeight(d);
    if (w > 0) { total += w; lastUsable = d; }
  }
  if (lastUsable == 0) return 0;
  // +1: the draws cover 0..total inclusive, as the kernel's
  total += 1;
  let r1 = <i32>(schedRandom() % <u32>total);
  let r2 = <i32>(schedRandom() % <u32>total);
  let c1: u32 = lastUsable, c2: u32 = 0;
  let w1: i32 = -1, w2: i32 = -1;
  let oh1: i32 = 0, oh2: i32 = 0;
  for (let d = destHead(svcIdx); d != 0; d = destNext(d)) {
    if (destOverloaded(d)) continue;
    let w = destWeight(d);
    if (w <= 0) continue;
    r1 -= w;
    r2 -= w;
    if (r1 <= 0 && w1 == -1) { c1 = d; w1 = w; oh1 = <i32>destOverhead(d); }
    if (r2 <= 0 && w2 == -1) { c2 = d; w2 = w; oh2 = <i32>destOverhead(d); }
    if (w1 != -1 && w2 != -1) break;
  }
  // int arithmetic, as the kernel's (wraps on absurd loads)
  if (c2 != 0 && w2 * oh1 > w1 * oh2) c1 = c2;
  return c1;
}
