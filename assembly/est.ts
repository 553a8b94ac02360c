// Rate estimator (ip_vs_est.c) and zeroing of statistics (ip_vs_zero_stats).
//
// Every EST_INTERVAL_MS (2 s, the kernel's estimation period) each stats block gets one step:
//
//     rate = (counter - last) << 9        conns, packets: per second, scaled by 2^10 (<<10, /2 s)
//     rate = (counter - last) << 4        bytes: per second, scaled by 2^5 (<<5, /2 s)
//     avg += (rate - avg) >> 2            W = 2^-2, arithmetic (flooring) shift on signed 64 bits
//
// and a reader decodes with rounding: (avg + 0x1FF) >> 10 for cps/pps, (avg + 0xF) >> 5 for bps
// (ip_vs_read_estimator). That is what `ipvsadm -L --rate` prints.
//
// The estimator state lives in the ST_EST area of every stats block (layout.ts, 40..95 of 96):
//
//  40 ┌──────────────┬──────────────┬──────────────┬──────────────┐
//     │ lastConns u32│ lastInPkts   │ lastOutPkts  │ cps u32 ×2^10│
//  56 ├──────────────┼──────────────┼──────────────┴──────────────┤
//     │ inpps u32    │ outpps u32   │ lastInBytes u64             │
//  72 ├──────────────┴──────────────┼─────────────────────────────┤
//     │ lastOutBytes u64            │ inbps u64 ×2^5              │
//  88 ├─────────────────────────────┼─────────────────────────────┘
//     │ outbps u64                  │ 96
//     └─────────────────────────────┘
// 56 bytes do not hold ten u64s. Conn and packet counters keep only their low 32 bits as the
// "last" value (the delta over 2 s is taken modulo 2^32, exact below 2^31 events per period) and
// their averages are u32, saturating at 2^32-1 (about 4.19 M conns or packets per second per
// stats block; the kernel had the same u32 fields until 2015). Byte counters are u64 throughout,
// as in today's kernel, so no byte rate a TUN director can reach is cut off.
//
// Zeroing (ipvsadm -Z) clears counters and estimator together: with counters 0, lasts 0 and
// averages 0, the next step sees exactly the traffic since the zeroing, as the kernel's
// ip_vs_zero_estimator (last = current, averages 0) gives.
import {
  GSTATS, STATS_SIZE, ST_EST, ST_CONNS, ST_INPKTS, ST_OUTPKTS, ST_INBYTES, ST_OUTBYTES,
  svcMax, destMax, svcPtr, destPtr, SVC_USED, SVC_STATS, SVC_DEST_HEAD, DEST_USED, DEST_NEXT, DEST_STATS,
} from "./layout";
import { E_OK, E_NOSVC } from "./defs";

// ---- estimator area, offsets from the start of a stats block ----------------------------------
@inline export const EST_LAST_CONNS: u32 = ST_EST;          // u32
@inline export const EST_LAST_INPKTS: u32 = ST_EST + 4;     // u32
@inline export const EST_LAST_OUTPKTS: u32 = ST_EST + 8;    // u32
@inline export const EST_CPS: u32 = ST_EST + 12;            // u32, ×2^10
@inline export const EST_INPPS: u32 = ST_EST + 16;          // u32, ×2^10
@inline export const EST_OUTPPS: u32 = ST_EST + 20;         // u32, ×2^10
@inline export const EST_LAST_INBYTES: u32 = ST_EST + 24;   // u64
@inline export const EST_LAST_OUTBYTES: u32 = ST_EST + 32;  // u64
@inline export const EST_INBPS: u32 = ST_EST + 40;          // u64, ×2^5
@inline export const EST_OUTBPS: u32 = ST_EST + 48;         // u64, ×2^5
@inline export const EST_END: u32 = ST_EST + 56;

/** The kernel's estimation period. */
@inline export const EST_INTERVAL_MS: f64 = 2000;
/** A call this early still counts as on time (host timers jitter by a few ms). */
@inline export const EST_SLACK_MS: f64 = 100;
/** After a longer stall the phase restarts at the call instead of replaying every period. */
@inline export const EST_MAX_CATCHUP: u32 = 8;

// rate selectors for estRead
@inline export const RATE_CPS: u32 = 0;
@inline export const RATE_INPPS: u32 = 1;
@inline export const RATE_OUTPPS: u32 = 2;
@inline export const RATE_INBPS: u32 = 3;
@inline export const RATE_OUTBPS: u32 = 4;

/** Due time of the next step (the caller's clock, ms); < 0 until the first call. */
let estNext: f64 = -1;

/** One packet/conn average: u32 last, u32 average (×2^10). */
@inline function stepSmall(st: usize, counterOff: u32, lastOff: u32, avgOff: u32): void {
  let cur = <u32>load<u64>(st + counterOff);
  let delta = <u64>(cur - load<u32>(st + lastOff));   // modulo 2^32
  store<u32>(st + lastOff, cur);
  let rate = <i64>(delta << 9);
  let avg = <i64>load<u32>(st + avgOff);
  avg += (rate - avg) >> 2;
  if (avg < 0) avg = 0;
  if (avg > <i64>0xffffffff) avg = 0xffffffff;
  store<u32>(st + avgOff, <u32>avg);
}

/** One byte average: u64 last, u64 average (×2^5), the kernel's arithmetic bit for bit. */
@inline function stepBytes(st: usize, counterOff: u32, lastOff: u32, avgOff: u32): void {
  let cur = load<u64>(st + counterOff);
  let rate = (cur - load<u64>(st + lastOff)) << 4;
  store<u64>(st + lastOff, cur);
  let avg = load<u64>(st + avgOff);
  store<u64>(st + avgOff, <u64>(<i64>avg + ((<i64>rate - <i64>avg) >> 2)));
}

/** ip_vs_chain_estimation for one stats block. */
export function estStep(st: usize): void {
  stepSmall(st, ST_CONNS, EST_LAST_CONNS, EST_CPS);
  stepSmall(st, ST_INPKTS, EST_LAST_INPKTS, EST_INPPS);
  stepSmall(st, ST_OUTPKTS, EST_LAST_OUTPKTS, EST_OUTPPS);
  stepBytes(st, ST_INBYTES, EST_LAST_INBYTES, EST_INBPS);
  stepBytes(st, ST_OUTBYTES, EST_LAST_OUTBYTES, EST_OUTBPS);
}

/** One estimation period over every service, every dest (live or in the trash) and the totals. */
export function estStepAll(): void {
  for (let i: u32 = 1; i <= svcMax; i++) {
    let svc = svcPtr(i);
    if (load<u8>(svc, SVC_USED)) estStep(svc + SVC_STATS);
  }
  for (let i: u32 = 1; i <= destMax; i++) {
    let dest = destPtr(i);
    if (load<u8>(dest, DEST_USED)) estStep(dest + DEST_STATS);
  }
  estStep(GSTATS);
}

/**
 * The estimation timer: runs the steps due at nowMs and returns how many ran. The first call
 * runs one step and sets the phase; afterwards one step per EST_INTERVAL_MS. Steps missed by a
 * late caller run back to back (the traffic goes to the first, the others decay the averages),
 * at most EST_MAX_CATCHUP; a longer stall restarts the phase.
 */
export function estimate(nowMs: f64): u32 {
  if (estNext < 0) estNext = nowMs;
  if (nowMs + EST_SLACK_MS < estNext) return 0;
  let n: u32 = 0;
  do {
    estStepAll();
    n++;
    estNext += EST_INTERVAL_MS;
  } while (nowMs + EST_SLACK_MS >= estNext && n < EST_MAX_CATCHUP);
  if (nowMs + EST_SLACK_MS >= estNext) estNext = nowMs + EST_INTERVAL_MS;
  return n;
}

/** ip_vs_read_estimator: one decoded rate (per second) of a stats block. */
export function estRead(st: usize, which: u32): u64 {
  switch (which) {
    case RATE_CPS: return (<u64>load<u32>(st + EST_CPS) + 0x1ff) >> 10;
    case RATE_INPPS: return (<u64>load<u32>(st + EST_INPPS) + 0x1ff) >> 10;
    case RATE_OUTPPS: return (<u64>load<u32>(st + EST_OUTPPS) + 0x1ff) >> 10;
    case RATE_INBPS: return (load<u64>(st + EST_INBPS) + 0xf) >> 5;
    case RATE_OUTBPS: return (load<u64>(st + EST_OUTBPS) + 0xf) >> 5;
  }
  return 0;
}

/** ip_vs_zero_stats: counters and estimator of one block. */
@inline function zeroBlock(st: usize): void { memory.fill(st, 0, STATS_SIZE); }

/** ip_vs_zero_service: the service and its dests. */
function zeroService(svcIdx: u32): void {
  let svc = svcPtr(svcIdx);
  zeroBlock(svc + SVC_STATS);
  let d = load<u32>(svc, SVC_DEST_HEAD);
  while (d != 0) {
    zeroBlock(destPtr(d) + DEST_STATS);
    d = load<u32>(destPtr(d), DEST_NEXT);
  }
}

/**
 * ipvsadm -Z. svcIdx 0: ip_vs_zero_all (every service, its dests and the totals);
 * otherwise that service and its dests. Returns 0 or -ESRCH.
 */
export function zeroStats(svcIdx: u32): i32 {
  if (svcIdx == 0) {
    for (let i: u32 = 1; i <= svcMax; i++) if (load<u8>(svcPtr(i), SVC_USED)) zeroService(i);
    zeroBlock(GSTATS);
    return E_OK;
  }
  if (svcIdx > svcMax || !load<u8>(svcPtr(svcIdx), SVC_USED)) return E_NOSVC;
  zeroService(svcIdx);
  return E_OK;
}

/** Decoded rate of a service (kind 1), a dest (kind 2) or the totals (kind 0); 0 for a bad index. */
export function statsRate(kind: u32, idx: u32, which: u32): u64 {
  if (kind == 0) return estRead(GSTATS, which);
  if (kind == 1 && idx >= 1 && idx <= svcMax) return estRead(svcPtr(idx) + SVC_STATS, which);
  if (kind == 2 && idx >= 1 && idx <= destMax) return estRead(destPtr(idx) + DEST_STATS, which);
  return 0;
}
