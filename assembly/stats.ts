// Counters and per-object statistics (ip_vs_in_stats / ip_vs_out_stats / ip_vs_conn_stats).
// Bytes are IP datagram lengths (skb->len at the IPVS hooks), as the kernel counts them.
import {
  COUNTERS, GSTATS, svcPtr, destPtr, connPtr, ST_CONNS, ST_INPKTS, ST_OUTPKTS, ST_INBYTES, ST_OUTBYTES,
  SVC_STATS, DEST_STATS, DEST_SVC, DEST_FLAGS, CONN_DEST, CONN_INPKTS, COLD_OUTPKTS, CONN_INBYTES, COLD_OUTBYTES, coldOf,
} from "./layout";
import { DEST_F_AVAILABLE } from "./defs";
import { GROUP0, GROUP_SIZE, NWORKERS, PKT_SIZE, SCACHE, SCACHE_ENTRIES, SCACHE_SIZE, HCOUNT, HOOKS, HOOK_MAX, HOOK_SIZE, HOOK_PACKETS } from "./layout";
import { sharedAdd64 } from "./shared";

// The named counters are per worker (layout.ts COUNTERS, in the per-worker group): a worker
// counts without sharing a cache line with another; a read is the sum of the workers' copies
// (and the control thread's instance's, which counts what the sync backup and the control
// calls do).
@inline export function cntInc(i: u32): void {
  let p = COUNTERS + (<usize>i << 3);
  store<u64>(p, load<u64>(p) + 1);
}
@inline export function cntAdd(i: u32, n: u32): void {
  let p = COUNTERS + (<usize>i << 3);
  store<u64>(p, load<u64>(p) + n);
}
/** counter(i) for the host: the sum over the workers' copies. */
export function cntGet(i: u32): u64 {
  if (NWORKERS == 1) return load<u64>(COUNTERS + (<usize>i << 3));
  let sum: u64 = 0;
  for (let g: u32 = 0; g <= NWORKERS; g++) sum += load<u64>(GROUP0 + <usize>g * GROUP_SIZE + PKT_SIZE + (<usize>i << 3));
  return sum;
}

/** One entry of the batch statistics into the dest's, its service's and the global records. */
function cacheFlush(e: usize): void {
  let d = load<u32>(e);
  if (d == 0) return;
  let dest = destPtr(d);
  let svc = svcPtr(load<u32>(dest, DEST_SVC)) + SVC_STATS;
  let ip = load<u64>(e, 8), op = load<u64>(e, 16), ib = load<u64>(e, 24), ob = load<u64>(e, 32);
  for (let k = 0; k < 3; k++) {
    let st = k == 0 ? dest + DEST_STATS : k == 1 ? svc : GSTATS;
    if (ip != 0) { add64(st + ST_INPKTS, ip); add64(st + ST_INBYTES, ib); }
    if (op != 0) { add64(st + ST_OUTPKTS, op); add64(st + ST_OUTBYTES, ob); }
  }
  memory.fill(e, 0, SCACHE_SIZE);
}

/** The end of a batch (several workers): this worker's batch statistics into the shared records. */
export function statsFlush(): void {
  if (NWORKERS == 1) return;
  for (let i: u32 = 0; i < SCACHE_ENTRIES; i++) cacheFlush(SCACHE + <usize>i * SCACHE_SIZE);
  // and the batch's hook packet counts (hooks.ts callHook)
  for (let i: u32 = 0; i < HOOK_MAX; i++) {
    let c = HCOUNT + (<usize>i << 3);
    let n = load<u64>(c);
    if (n != 0) { add64(HOOKS + <usize>i * HOOK_SIZE + HOOK_PACKETS, n); store<u64>(c, 0); }
  }
}

// other workers add to the same records: atomic in the workers' build (shared.ts)
@inline function add64(p: usize, v: u64): void { sharedAdd64(p, v); }

/** ip_vs_conn_stats: a new conn for dest and its service. */
export function statsConn(destIdx: u32, svcIdx: u32): void {
  add64(destPtr(destIdx) + DEST_STATS + ST_CONNS, 1);
  add64(svcPtr(svcIdx) + SVC_STATS + ST_CONNS, 1);
  add64(GSTATS + ST_CONNS, 1);
}

/** ip_vs_in_stats of conn record cp: counted only while the dest is available. pkts: the datagrams of a UDP super-packet. */
@inline export function statsIn(cp: usize, len: u32, pkts: u32 = 1): void {   // inlined: on every packet in
  statsPacket(cp, cp, len, pkts, CONN_INPKTS, CONN_INBYTES, ST_INPKTS, ST_INBYTES);
}

/** ip_vs_out_stats. */
export function statsOut(ci: u32, len: u32, pkts: u32 = 1): void {
  let cp = connPtr(ci);
  statsPacket(cp, coldOf(cp), len, pkts, COLD_OUTPKTS, COLD_OUTBYTES, ST_OUTPKTS, ST_OUTBYTES);
}

/** A conn's u48 byte counter (layout.ts conn record): its 6 bytes, read through an 8-byte load. */
@inline export function connBytes(p: usize): u64 { return load<u64>(p) & 0xffffffffffff; }
@inline function connBytesAdd(p: usize, len: u32): void {
  let v = connBytes(p) + <u64>len;
  store<u32>(p, <u32>v);
  store<u16>(p, <u16>(v >> 32), 4);
}

/**
 * pkts packets of `len` bytes together: the conn's counters (at `counters`: its hot part for a
 * client's packet, its cold part for a real server's), then its dest's, service's and the global ones.
 */
@inline function statsPacket(cp: usize, counters: usize, len: u32, pkts: u32, connPkts: u32, connBytes: u32, stPkts: u32, stBytes: u32): void {
  store<u32>(counters + connPkts, load<u32>(counters + connPkts) + pkts);
  connBytesAdd(counters + connBytes, len);
  let d = <u32>load<u16>(cp, CONN_DEST);
  if (d == 0) return;
  let dest = destPtr(d);
  if (!(load<u8>(dest, DEST_FLAGS) & DEST_F_AVAILABLE)) return;
  if (NWORKERS > 1) {
    // several workers: into this worker's batch statistics (plain adds); statsFlush adds them to
    // the shared records once per dest and batch, so a listing between batches is exact
    let e = SCACHE + <usize>(d & (SCACHE_ENTRIES - 1)) * SCACHE_SIZE;
    if (load<u32>(e) != d) { cacheFlush(e); store<u32>(e, d); }
    let o: usize = stPkts == ST_INPKTS ? 8 : 16;
    store<u64>(e + o, load<u64>(e + o) + 1);
    store<u64>(e + o + 16, load<u64>(e + o + 16) + <u64>len);
    return;
  }
  // the dest's, its service's and the global statistics, unrolled (no per-packet selects)
  let dst = dest + DEST_STATS;
  add64(dst + stPkts, <u64>pkts);
  add64(dst + stBytes, <u64>len);
  let svc = svcPtr(load<u32>(dest, DEST_SVC)) + SVC_STATS;
  add64(svc + stPkts, <u64>pkts);
  add64(svc + stBytes, <u64>len);
  add64(GSTATS + stPkts, <u64>pkts);
  add64(GSTATS + stBytes, <u64>len);
}
