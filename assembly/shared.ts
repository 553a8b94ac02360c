// Memory that several workers write at once (issue 17, docs/workers.md). The engine built for
// workers (wasm/mt.wasm: shared memory, the threads feature) counts into shared records with
// atomic read-modify-writes and serialises the director's slow path with one lock; the plain
// build (one worker) compiles the same calls to the plain loads and stores it always had:
// ASC_FEATURE_THREADS is a compile-time constant, the other branch is never emitted.
import { CTL, CTL_LOCK, NWORKERS, WORKER, PKT, PKT_LOCK_DEPTH } from "./layout";

/** *p += d (u32) where another worker may add at the same time (dest conn counts, hook counters). */
@inline export function sharedAdd32(p: usize, d: u32): void {
  if (ASC_FEATURE_THREADS) atomic.add<u32>(p, d);
  else store<u32>(p, load<u32>(p) + d);
}
/** *p += d (u64): service, dest and global statistics (ip_vs_stats; the kernel keeps them per cpu). */
@inline export function sharedAdd64(p: usize, d: u64): void {
  if (ASC_FEATURE_THREADS) atomic.add<u64>(p, d);
  else store<u64>(p, load<u64>(p) + d);
}
/** *p = max(*p, v) for a clock that must never go backwards (wrap-safe compare). */
@inline export function sharedMaxU32(p: usize, v: u32): u32 {
  if (ASC_FEATURE_THREADS) {
    let cur = atomic.load<u32>(p);
    while (<i32>(v - cur) > 0) {
      let seen = atomic.cmpxchg<u32>(p, cur, v);
      if (seen == cur) return v;
      cur = seen;
    }
    return cur;
  }
  let cur = load<u32>(p);
  if (<i32>(v - cur) > 0) { store<u32>(p, v); return v; }
  return cur;
}

/**
 * The director's lock: what the kernel serialises with a spinlock or a per-service lock
 * (sched_lock, the template's ip_vs_conn hash lock, the sync buffer's sync_lock, the
 * reassembly queue's lock), taken here only off the fast path: new conns, expiry, templates,
 * reassembly, the sync master's buffer, the neighbour table. Re-entrant for the instance that
 * holds it. With one worker it costs a compare.
 */
export function wLock(): void {
  if (!ASC_FEATURE_THREADS || NWORKERS == 1) return;
  let depth = load<u32>(PKT, PKT_LOCK_DEPTH);
  store<u32>(PKT, depth + 1, PKT_LOCK_DEPTH);
  if (depth != 0) return;
  let me = WORKER + 1;
  while (atomic.cmpxchg<u32>(CTL + CTL_LOCK, 0, me) != 0) {
    // spin on a plain read until it looks free (no write traffic on the line meanwhile)
    while (atomic.load<u32>(CTL + CTL_LOCK) != 0) {}
  }
}
export function wUnlock(): void {
  if (!ASC_FEATURE_THREADS || NWORKERS == 1) return;
  let depth = load<u32>(PKT, PKT_LOCK_DEPTH) - 1;
  store<u32>(PKT, depth, PKT_LOCK_DEPTH);
  if (depth != 0) return;
  atomic.store<u32>(CTL + CTL_LOCK, 0);
}
