// IPVS's defense strategies (ip_vs_ctl.c update_defense_level, defense_work_handler; ip_vs.h
// ip_vs_todrop; ip_vs_conn.c ip_vs_random_dropentry, todrop_entry), and what the kernel lacks:
// a full conn table reclaims its oldest half-open conn for a new one instead of refusing it.
//
// "Available memory" is the engine's, not the machine's: the conn records still free up to the
// table's limit (--conn-max), in 4 KiB pages of what a conn costs (its record with its sync
// bookkeeping, and its index entries: CONN_BYTES, 128 bytes). amemthresh compares with that, as the
// kernel compares it with free + buffer pages (si_meminfo). The defaults (amemthresh 1024
// pages = 4 MiB) thus switch the automatic modes on when fewer than 32,768 conns are left.
import {
  CTL, CTL_FLAGS, CTL_HASH_SEED, CTL_DEF_MODE, CTL_DEF_OLD_SECURE, CTL_DEF_AMEMTHRESH, CTL_DEF_AM_DROPRATE,
  CTL_DEF_DROP_RATE, CTL_DEF_DROP_COUNTER, CTL_DEF_LEVEL, CTL_DEF_LAST_RUN, CTL_DEF_RAN, CTL_DEF_CONN_LIMIT,
  CTL_DEF_RNG, CTL_DEF_AVAIL, CTL_DEF_TODROP, WCTL, WCTL_HOPEN_HEAD, WCTL_HOPEN_TAIL, WCTL_DEF_LAST_RUN, HOPEN, HOPEN_SLOTS, HOPEN_ENTRY,
  NWORKERS, WORKER, NPARTS, PART,
  connMax, connPtr, connCold, svcPtr, CONN_RECORD_BYTES, CONN_FLAGS, CONN_PROTO, CONN_STATE, COLD_CONTROL, CONN_TIMEOUT,
  CONN_EXPIRES, CONN_INPKTS, CONN_CADDR, CONN_CPORT, CONN_VPORT, COLD_SVC, SVC_FLAGS,
} from "./layout";
import {
  SET_SECURE_TCP, IPPROTO_TCP, IPPROTO_SCTP, CONN_F_TEMPLATE, SVC_F_ONEPACKET, CNT_DEFENSE_DROP_ENTRY,
  CNT_DEFENSE_CHANGE, CNT_HOPEN_RECLAIMED,
} from "./defs";
import { CONN_F_HASHED, CONN_F_DEAD } from "./conn/table";
import { partsConnCount } from "./worker";
import { wLock, wUnlock } from "./shared";
import { connExpireNow, CTPL_S_ASSURED } from "./conn/conn";
import { TCP_S_SYN_RECV, TCP_S_SYNACK, TCP_S_ESTABLISHED } from "./proto/tcp";
import { SCTP_S_INIT1, SCTP_S_INIT, SCTP_S_ESTABLISHED } from "./proto/sctp";
import { addrFold } from "./packet/bytes";
import { cntInc, cntAdd } from "./stats";

// the three strategies, in CTL_DEF_MODE order
@inline export const DEF_DROP_ENTRY: u32 = 0;
@inline export const DEF_DROP_PACKET: u32 = 1;
@inline export const DEF_SECURE_TCP: u32 = 2;

// CTL_DEF_LEVEL bits: what the last run switched on, and whether memory was low
@inline export const DEF_L_DROP_ENTRY: u32 = 1;
@inline export const DEF_L_DROP_PACKET: u32 = 2;
@inline export const DEF_L_SECURE_TCP: u32 = 4;
@inline export const DEF_L_NOMEM: u32 = 8;

/** DEFENSE_TIMER_PERIOD: defense_work_handler runs once a second. */
@inline export const DEFENSE_PERIOD_MS: u32 = 1000;
/** Bytes one conn takes at most: its record, its in and out hash heads, its sync bookkeeping. */
@inline export const CONN_BYTES: u32 = CONN_RECORD_BYTES + 16;   // the record (its sync word inside) and its ≤ 16 bytes of index

@inline const ON: u8 = 0x10;
// update_defense_level's switch, the same for the three strategies: the mode now (row) and
// whether memory is low (column) give the mode it reads afterwards and whether it acts (ON).
// 1 and 2 are the automatic modes (1 flips to 2 while memory is low, 2 back to 1 when not),
// 3 always acts, 0 never.
const DEFENSE_NEXT = memory.data<u8>([
/*        plenty   low      */
/* 0 */   0,       0,
/* 1 */   1,       2 | ON,
/* 2 */   1,       2 | ON,
/* 3 */   3 | ON,  3 | ON,
]);

@inline export function defenseMode(which: u32): u32 { return <u32>load<u8>(CTL + CTL_DEF_MODE + which); }

/** The engine's free memory in pages (see the file's head). */
export function defenseAvailPages(): u32 {
  let limit = load<u32>(CTL, CTL_DEF_CONN_LIMIT);
  if (limit < connMax) limit = connMax;
  let used = partsConnCount();   // every worker's partition: the director's table
  let free: u64 = limit > used ? <u64>(limit - used) : 0;
  return <u32>((free * CONN_BYTES) >> 12);
}

/**
 * update_defense_level: memory low or not, then each strategy's switch. drop_entry's flag is
 * read by the periodic run; drop_packet's rate by ip_vs_todrop; secure_tcp swaps the TCP state
 * table (ip_vs_protocol_timeout_change) when it moves across "on", as old_secure_tcp says.
 */
export function defenseUpdate(): void {
  let avail = defenseAvailPages();
  let thresh = load<i32>(CTL, CTL_DEF_AMEMTHRESH);
  if (thresh < 0) thresh = 0;
  let nomem: u32 = <i64>avail < <i64>thresh ? 1 : 0;
  store<u32>(CTL, avail, CTL_DEF_AVAIL);
  let level: u32 = nomem ? DEF_L_NOMEM : 0;

  let de = load<u8>(DEFENSE_NEXT + (defenseMode(DEF_DROP_ENTRY) << 1) + nomem);
  store<u8>(CTL + CTL_DEF_MODE + DEF_DROP_ENTRY, de & 0xf);
  if (de & ON) level |= DEF_L_DROP_ENTRY;

  let mode = defenseMode(DEF_DROP_PACKET);
  let dp = load<u8>(DEFENSE_NEXT + (mode << 1) + nomem);
  store<u8>(CTL + CTL_DEF_MODE + DEF_DROP_PACKET, dp & 0xf);
  if (!(dp & ON)) {
    store<i32>(CTL, 0, CTL_DEF_DROP_RATE);
  } else if (mode == 3) {
    // the always mode: 1 packet in am_droprate; the counter runs on from where it was
    store<i32>(CTL, load<i32>(CTL, CTL_DEF_AM_DROPRATE), CTL_DEF_DROP_RATE);
  } else {
    // the fewer pages left, the more packets dropped: 1 in thresh / (thresh - avail)
    let rate = thresh / (thresh - <i32>avail);
    store<i32>(CTL, rate, CTL_DEF_DROP_RATE);
    store<i32>(CTL, rate, CTL_DEF_DROP_COUNTER);
  }
  if (load<i32>(CTL, CTL_DEF_DROP_RATE) != 0) level |= DEF_L_DROP_PACKET;

  let st = load<u8>(DEFENSE_NEXT + (defenseMode(DEF_SECURE_TCP) << 1) + nomem);
  let on = (st & ON) != 0;
  // to_change: only a crossing of old_secure_tcp's "on" (>= 2) touches the table, so a table
  // switched on some other way (the engine setting) is left alone in mode 0
  if (on != (<u32>load<u8>(CTL + CTL_DEF_OLD_SECURE) >= 2)) {
    let f = load<u32>(CTL, CTL_FLAGS);
    store<u32>(CTL, on ? f | SET_SECURE_TCP : f & ~SET_SECURE_TCP, CTL_FLAGS);
  }
  store<u8>(CTL + CTL_DEF_MODE + DEF_SECURE_TCP, st & 0xf);
  store<u8>(CTL + CTL_DEF_OLD_SECURE, st & 0xf);
  if (on) level |= DEF_L_SECURE_TCP;

  if (level != load<u32>(CTL, CTL_DEF_LEVEL)) {
    store<u32>(CTL, level, CTL_DEF_LEVEL);
    cntInc(CNT_DEFENSE_CHANGE);
  }
}

/**
 * A write to drop_entry, drop_packet or secure_tcp (proc_do_defense_mode): 0-3 only; a change
 * runs update_defense_level at once. Returns 0 or -EINVAL.
 */
export function defenseSetMode(which: u32, v: i32): i32 {
  if (which > DEF_SECURE_TCP || v < 0 || v > 3) return -22;
  if (<u32>v != defenseMode(which)) {
    store<u8>(CTL + CTL_DEF_MODE + which, <u8>v);
    defenseUpdate();
  }
  return 0;
}

/** ip_vs_todrop: drop_packet's verdict on a packet about to be scheduled (1 in drop_rate). */
export function defenseToDrop(): bool {
  let rate = load<i32>(CTL, CTL_DEF_DROP_RATE);
  if (rate == 0) return false;
  let c = load<i32>(CTL, CTL_DEF_DROP_COUNTER) - 1;
  store<i32>(CTL, c, CTL_DEF_DROP_COUNTER);
  if (c > 0) return false;
  store<i32>(CTL, rate, CTL_DEF_DROP_COUNTER);
  return true;
}

/**
 * todrop_entry: an established (or protocol-less) conn is dropped only when it has been idle
 * for 60 s and saw 1-8 packets in, and then only every in_pkts-th such conn (the counters
 * are the kernel's static todrop_counter[], here in the control block).
 */
function todropEntry(cp: usize, now: u32): bool {
  // time_before(cp->timeout + jiffies, cp->timer.expires + 60*HZ): touched in the last 60 s
  if (<i32>((load<u32>(cp, CONN_TIMEOUT) + now) - (load<u32>(cp, CONN_EXPIRES) + 60000)) < 0) return false;
  let i = load<u32>(cp, CONN_INPKTS);
  if (i > 8 || i == 0) return false;        // todrop_rate[0] is 0
  let p = CTL + CTL_DEF_TODROP + <usize>i;
  let c = <i32>load<i8>(p) - 1;
  if (c > 0) { store<i8>(p, <i8>c); return false; }
  store<i8>(p, <i8>i);
  return true;
}

@inline function rngNext(): u32 {
  let x = load<u32>(CTL, CTL_DEF_RNG);
  if (x == 0) x = load<u32>(CTL, CTL_HASH_SEED) | 1;
  x ^= x << 13; x ^= x >> 17; x ^= x << 5;
  store<u32>(CTL, x, CTL_DEF_RNG);
  return x;
}

/**
 * ip_vs_random_dropentry: 1/32 of the table a second. The kernel visits 1/32 as many random
 * hash buckets as it has; here 1/32 as many random conn records as the table has (the same
 * share of the live conns, about 1/32 of them a run, and independent of how the index is
 * built). Seeded: replays repeat it. Returns how many conns were dropped.
 */
export function defenseDropEntries(now: u32): u32 {
  // with several workers each walks its own partition's records (index % NPARTS == PART: its
  // conns, changed by no other worker), 1/32 of them a run
  let span = connMax / NPARTS;
  let n = span >> 5;
  if (n == 0) n = 1;
  let dropped: u32 = 0;
  for (let k: u32 = 0; k < n; k++) {
    let ci: u32 = NPARTS == 1 ? 1 + rngNext() % connMax : PART + NPARTS * (rngNext() % (span + 1));
    if (ci == 0 || ci > connMax) continue;
    let cp = connPtr(ci);
    let flags = load<u16>(cp, CONN_FLAGS);
    if (!(flags & CONN_F_HASHED) || (flags & CONN_F_DEAD)) continue;
    let st = load<u8>(cp, CONN_STATE);
    let proto = load<u8>(cp, CONN_PROTO);
    let drop = false;
    if (flags & CONN_F_TEMPLATE) {
      if (load<u32>(connCold(ci), COLD_CONTROL) != 0) continue;          // n_control: it still has conns
      let si = <u32>load<u16>(connCold(ci), COLD_SVC);
      // a one-packet service's template is tried as any conn; one never confirmed goes
      if (si != 0 && (load<u32>(svcPtr(si), SVC_FLAGS) & SVC_F_ONEPACKET)) drop = todropEntry(cp, now);
      else drop = !(st & CTPL_S_ASSURED);
    } else if (proto == IPPROTO_TCP) {
      drop = st == TCP_S_SYN_RECV || st == TCP_S_SYNACK || (st == TCP_S_ESTABLISHED && todropEntry(cp, now));
    } else if (proto == IPPROTO_SCTP) {
      drop = st == SCTP_S_INIT1 || st == SCTP_S_INIT || (st == SCTP_S_ESTABLISHED && todropEntry(cp, now));
    } else {
      drop = todropEntry(cp, now);
    }
    if (!drop) continue;
    wLock();             // ip_vs_conn_del: the dest's counts and the template are shared
    connExpireNow(ci);
    wUnlock();
    dropped++;
  }
  if (dropped) cntAdd(CNT_DEFENSE_DROP_ENTRY, dropped);
  return dropped;
}

/**
 * defense_work_handler, from tick(): once a second, the levels (one worker: the director's
 * state, under the lock), then drop_entry's run over this worker's own partition.
 */
export function defenseTick(now: u32): void {
  if (NWORKERS == 1 || WORKER == 0) {
    wLock();
    if (!load<u32>(CTL, CTL_DEF_RAN)) {
      store<u32>(CTL, 1, CTL_DEF_RAN);
      store<u32>(CTL, now, CTL_DEF_LAST_RUN);
    } else if (<i32>(now - load<u32>(CTL, CTL_DEF_LAST_RUN)) >= <i32>DEFENSE_PERIOD_MS) {
      store<u32>(CTL, now, CTL_DEF_LAST_RUN);
      defenseUpdate();
    }
    wUnlock();
  }
  if (!(load<u32>(CTL, CTL_DEF_LEVEL) & DEF_L_DROP_ENTRY)) return;
  if (<i32>(now - load<u32>(WCTL, WCTL_DEF_LAST_RUN)) < <i32>DEFENSE_PERIOD_MS) return;
  store<u32>(WCTL, now, WCTL_DEF_LAST_RUN);
  defenseDropEntries(now);
}

/** The defaults (6.1): amemthresh 1024 pages, am_droprate 10, every strategy off. */
export function defenseInit(): void {
  store<i32>(CTL, 1024, CTL_DEF_AMEMTHRESH);
  store<i32>(CTL, 10, CTL_DEF_AM_DROPRATE);
}

// ---- the half-open ring: beyond the kernel ------------------------------------------------------
// The kernel's table has no size: a flood of spoofed SYNs fills memory until the defenses
// above thin it. A table with a limit refuses every new conn once half-open ones fill it, for
// the 60 s they live in SYN_RECV. Instead, a new conn that finds the table full takes the
// record of the oldest half-open conn (a SYN and nothing from the client since: still
// SYN_RECV). A client that completes its handshake (ESTABLISHED) is never taken, so a SYN can
// never evict an established conn; a legitimate handshake survives as long as fewer than
// min(table, HOPEN_SLOTS) spoofed SYNs arrive during its round trip.
// Each entry: the conn's index and a fingerprint of its client, so a record that was freed
// and given to another conn since is not mistaken for the one pushed.

@inline function fingerprint(cp: usize): u32 {
  return addrFold(cp + CONN_CADDR) ^ ((<u32>load<u16>(cp, CONN_CPORT) << 16) | <u32>load<u16>(cp, CONN_VPORT));
}

/** A SYN created conn ci (now in SYN_RECV): it joins the ring, the oldest entry falls off when full. */
@inline function hopenRing(): usize { return HOPEN + <usize>PART * HOPEN_SLOTS * HOPEN_ENTRY; }

export function hopenPush(ci: u32): void {
  let head = load<u32>(WCTL, WCTL_HOPEN_HEAD);
  let e = hopenRing() + <usize>(head & (HOPEN_SLOTS - 1)) * HOPEN_ENTRY;
  store<u32>(e, ci);
  store<u32>(e, fingerprint(connPtr(ci)), 4);
  head++;
  store<u32>(WCTL, head, WCTL_HOPEN_HEAD);
  if (head - load<u32>(WCTL, WCTL_HOPEN_TAIL) > HOPEN_SLOTS) store<u32>(WCTL, head - HOPEN_SLOTS, WCTL_HOPEN_TAIL);
}

/** The table is full: expire the oldest conn still half-open. true when a record was freed. */
export function hopenReclaim(): bool {
  let tail = load<u32>(WCTL, WCTL_HOPEN_TAIL);
  let head = load<u32>(WCTL, WCTL_HOPEN_HEAD);
  let ring = hopenRing();
  while (tail != head) {
    let e = ring + <usize>(tail & (HOPEN_SLOTS - 1)) * HOPEN_ENTRY;
    tail++;
    let ci = load<u32>(e);
    if (ci == 0 || ci > connMax) continue;
    let cp = connPtr(ci);
    let flags = load<u16>(cp, CONN_FLAGS);
    if (!(flags & CONN_F_HASHED) || (flags & (CONN_F_DEAD | CONN_F_TEMPLATE))) continue;
    if (load<u8>(cp, CONN_PROTO) != IPPROTO_TCP) continue;
    let st = load<u8>(cp, CONN_STATE);
    if (st != TCP_S_SYN_RECV && st != TCP_S_SYNACK) continue;
    if (fingerprint(cp) != load<u32>(e, 4)) continue;
    store<u32>(WCTL, tail, WCTL_HOPEN_TAIL);
    wLock();
    connExpireNow(ci);
    wUnlock();
    cntInc(CNT_HOPEN_RECLAIMED);
    return true;
  }
  store<u32>(WCTL, tail, WCTL_HOPEN_TAIL);
  return false;
}
