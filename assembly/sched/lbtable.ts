// The per-service destination-address table lblc and lblcr share (ip_vs_lblc.c and
// ip_vs_lblcr.c carry two copies of it in the kernel): 1024 hash buckets of u16 entry indices,
// fixed-size entries on a free list in the scheduler area, the "last used" clock per entry and the
// 60 s garbage-collection timer (run lazily, for every period that fell due, at that period's time).
// Each scheduler says how an entry lets go of what it holds (`release`).
import { hash32, addrFoldHost } from "./common";
import { addrEq, addrCopy } from "../packet/bytes";

@inline export const TAB_BITS: u32 = 10;
@inline export const TAB_SIZE: u32 = 1 << TAB_BITS;
@inline export const CHECK_EXPIRE_INTERVAL: u32 = 60 * 1000;          // ms
@inline export const ENTRY_TIMEOUT: u32 = 6 * 60 * 1000;
@inline export const DEFAULT_EXPIRATION: u32 = 24 * 60 * 60 * 1000;
@inline const COUNT_FOR_FULL_EXPIRATION: i32 = 30;
@inline const TIMER_RUNS_MAX: u32 = 4096;   // catch-up bound after a long idle period

// area header
@inline export const T_ENTRIES: u32 = 0;
@inline export const T_COUNTER: u32 = 4;
@inline export const T_NEXT_CHECK: u32 = 8;
@inline export const T_FREE: u32 = 12;
@inline export const T_BUCKETS: u32 = 64;
@inline export const T_ENT: u32 = T_BUCKETS + TAB_SIZE * 2;
@inline export const ENT_SIZE: u32 = 32;
// entry fields both use (2..15 are each scheduler's own)
@inline export const E_NEXT: u32 = 0;
@inline export const E_LASTUSE: u32 = 4;
@inline export const E_ADDR: u32 = 16;

@inline export function ent(area: usize, i: u32): usize { return area + T_ENT + <usize>(i - 1) * ENT_SIZE; }
@inline export function bucket(area: usize, h: u32): usize { return area + T_BUCKETS + (h << 1); }
@inline export function hashKey(af: u8, addr: usize): u32 { return hash32(addrFoldHost(af, addr), TAB_BITS); }
/** time_before(a, b) on the wrapping ms clock */
@inline export function before(a: u32, b: u32): bool { return <i32>(a - b) < 0; }

export type Release = (area: usize, e: usize) => void;

export function lookup(area: usize, af: u8, addr: usize): u32 {
  let i = <u32>load<u16>(bucket(area, hashKey(af, addr)));
  while (i != 0) {
    let e = ent(area, i);
    if (addrEq(e + E_ADDR, addr)) return i;
    i = <u32>load<u16>(e, E_NEXT);
  }
  return 0;
}

/**
 * A new entry for `addr`, linked into its bucket with its last-use time set; the caller fills in
 * what it holds. A full table first drops the entries idle for ENTRY_TIMEOUT; 0 when none went
 * (the kernel's allocation failure: the choice is then simply not cached).
 */
export function entryAdd(area: usize, af: u8, addr: usize, now: u32, release: Release): usize {
  let i = <u32>load<u16>(area, T_FREE);
  if (i == 0) {
    if (expire(area, now, ENTRY_TIMEOUT, release) == 0) return 0;
    i = <u32>load<u16>(area, T_FREE);
  }
  let e = ent(area, i);
  store<u16>(area, load<u16>(e, E_NEXT), T_FREE);
  addrCopy(e + E_ADDR, addr);
  store<u32>(e, now, E_LASTUSE);
  let b = bucket(area, hashKey(af, addr));
  store<u16>(e, load<u16>(b), E_NEXT);
  store<u16>(b, <u16>i);
  store<u32>(area, load<u32>(area, T_ENTRIES) + 1, T_ENTRIES);
  return e;
}

/** ip_vs_lblc(r)_flush: drop every entry. */
export function flush(area: usize, release: Release): void {
  for (let h: u32 = 0; h < TAB_SIZE; h++) {
    let i = <u32>load<u16>(bucket(area, h));
    while (i != 0) {
      let e = ent(area, i);
      release(area, e);
      i = <u32>load<u16>(e, E_NEXT);
    }
    store<u16>(bucket(area, h), 0);
  }
  store<u32>(area, 0, T_ENTRIES);
}

/** Drop the entries not used for `age`; returns how many went. */
export function expire(area: usize, now: u32, age: u32, release: Release): u32 {
  let n: u32 = 0;
  for (let h: u32 = 0; h < TAB_SIZE; h++) {
    let prev: usize = 0;
    let i = <u32>load<u16>(bucket(area, h));
    while (i != 0) {
      let e = ent(area, i);
      let nxt = <u32>load<u16>(e, E_NEXT);
      if (before(now, load<u32>(e, E_LASTUSE) + age)) { prev = e; i = nxt; continue; }
      if (prev == 0) store<u16>(bucket(area, h), <u16>nxt);
      else store<u16>(prev, <u16>nxt, E_NEXT);
      release(area, e);
      store<u16>(e, load<u16>(area, T_FREE), E_NEXT);
      store<u16>(area, <u16>i, T_FREE);
      n++;
      i = nxt;
    }
  }
  store<u32>(area, load<u32>(area, T_ENTRIES) - n, T_ENTRIES);
  return n;
}

/** ip_vs_lblc(r)_check_expire, run for every period that fell due before `now`. */
export function runTimers(area: usize, now: u32, release: Release): void {
  let t = load<u32>(area, T_NEXT_CHECK);
  let runs: u32 = 0;
  while (!before(now, t)) {
    if (++runs > TIMER_RUNS_MAX) { t = now + CHECK_EXPIRE_INTERVAL; break; }
    let counter = load<i32>(area, T_COUNTER);
    if (counter % COUNT_FOR_FULL_EXPIRATION == 0) {
      expire(area, t, DEFAULT_EXPIRATION, release);     // the full check
      store<i32>(area, 1, T_COUNTER);
    } else {
      // entries never exceed the kernel's max_size (16384) here: its partial check never runs
      store<i32>(area, counter + 1, T_COUNTER);
    }
    t += CHECK_EXPIRE_INTERVAL;
  }
  store<u32>(area, t, T_NEXT_CHECK);
}
