// FULLNAT local addresses and ports (DPVS ip_vs_laddr.c, sa_pool.c). A FULLNAT service owns a
// list of local addresses (ipvsadm -P -t VIP:PORT -z LADDR). A new conn takes the next laddr
// round robin (__get_laddr) and a local port on it that no other conn uses toward the same
// real server (sa_fetch), trying up to LADDR_TRIALS laddrs (dp_vs_laddr_max_trails). Replies
// then come back to laddr:lport and the out lookup finds the conn by (daddr:dport, laddr:lport).
//
// Ports need no table of their own: a port is "in use" exactly when the out index holds a conn
// with that key, so a port is returned the moment its conn is unhashed (expiry, reuse, flush)
// and collisions are impossible per (proto, laddr, daddr, dport). Each laddr keeps a cursor into
// the port range and allocation walks forward from it: ports are reused in allocation order,
// which keeps a just-closed port (the real server may still hold it in TIME_WAIT) out of use
// for as long as possible. The walk is bounded (LADDR_PORT_TRIALS lookups per laddr), so a
// saturated laddr costs a bounded amount of work per new conn.
//
// A conn refers to its laddr by index (COLD_LADDR, 0 = none) and keeps its port in COLD_LPORT.
// A deleted laddr still used by conns stays in the table (LADDR_USED = 2, off the service's
// list) until its last conn goes, as dp_vs_laddr's refcount keeps it.
import {
  CTL, CTL_ADDR1, CTL_LADDR_LIVE, NWORKERS, WORKER, CTL_FNAT_PORT_MIN, CTL_FNAT_PORT_MAX, svcPtr, connPtr, laddrPtr, destPtr,
  SVC_LADDR_HEAD, SVC_LADDR_NUM, SVC_LADDR_CURR, SVC_AF, LADDR_MAX, LADDR_USED, LADDR_AF, LADDR_NEXT, LADDR_SVC,
  LADDR_CURSOR, LADDR_CONNS, LADDR_ADDR, LADDR_CONFLICTS, LADDR_SIZE, COLD_LADDR, COLD_LPORT, CONN_PROTO, connCold,
  COLD_DADDR, CONN_DPORT, CONN_DEST, DEST_AF,
} from "./layout";
import { E_OK, E_NOENT, E_EXIST, E_NOSPC, E_AFNOSUPPORT, E_INVAL, CNT_FNAT_NO_LADDR, CNT_FNAT_NO_PORT } from "./defs";
import { addrEq, addrCopy, htons } from "./packet/bytes";
import { connOutGet } from "./conn/table";

/** dp_vs_laddr_max_trails: laddrs tried for one new conn. */
@inline const LADDR_TRIALS: u32 = 16;
/** Ports looked at on one laddr before the next laddr is tried. */
@inline const LADDR_PORT_TRIALS: u32 = 4096;

@inline const LADDR_LIVE: u8 = 1;
@inline const LADDR_TRASH: u8 = 2;

export function laddrInit(): void {
  store<u32>(CTL, 1025, CTL_FNAT_PORT_MIN);
  store<u32>(CTL, 65535, CTL_FNAT_PORT_MAX);
}

/** The local port range (host order, inclusive). */
export function laddrSetPortRange(min: u32, max: u32): i32 {
  if (min < 1 || max > 65535 || min > max) return E_INVAL;
  store<u32>(CTL, min, CTL_FNAT_PORT_MIN);
  store<u32>(CTL, max, CTL_FNAT_PORT_MAX);
  return E_OK;
}

/** The live laddr of service svcIdx with address `addr`, or 0. */
function laddrFind(svcIdx: u32, addr: usize): u32 {
  let i = <u32>load<u16>(svcPtr(svcIdx), SVC_LADDR_HEAD);
  while (i != 0) {
    let lp = laddrPtr(i);
    if (addrEq(lp + LADDR_ADDR, addr)) return i;
    i = <u32>load<u16>(lp, LADDR_NEXT);
  }
  return 0;
}

/**
 * Is `addr` a local address of some FULLNAT service (a deleted one its conns still use
 * included)? The engine answers ARP/ND for it on a TAP: real servers reply to it.
 */
export function laddrIsLocal(addr: usize): bool {
  for (let i: u32 = 1; i <= LADDR_MAX; i++) {
    let lp = laddrPtr(i);
    if (load<u8>(lp, LADDR_USED) != 0 && addrEq(lp + LADDR_ADDR, addr)) return true;
  }
  return false;
}

/** dp_vs_laddr_add: address in CTL_ADDR1 (same family as the service). Returns the index or -errno. */
export function laddrAdd(svcIdx: u32, af: u8): i32 {
  let svc = svcPtr(svcIdx);
  if (af != load<u8>(svc, SVC_AF)) return E_AFNOSUPPORT;   // no NAT64 here
  let addr = CTL + CTL_ADDR1;
  if (laddrFind(svcIdx, addr) != 0) return E_EXIST;
  let li: u32 = 0;
  for (let i: u32 = 1; i <= LADDR_MAX; i++) if (!load<u8>(laddrPtr(i), LADDR_USED)) { li = i; break; }
  if (li == 0) return E_NOSPC;
  let lp = laddrPtr(li);
  memory.fill(lp, 0, LADDR_SIZE);
  store<u8>(lp, LADDR_LIVE, LADDR_USED);
  store<u32>(CTL, load<u32>(CTL, CTL_LADDR_LIVE) + 1, CTL_LADDR_LIVE);   // the owner function's pre-check (worker.ts)
  store<u8>(lp, af, LADDR_AF);
  store<u16>(lp, <u16>svcIdx, LADDR_SVC);
  addrCopy(lp + LADDR_ADDR, addr);
  // appended at the tail: the list keeps the order the addresses were added in
  let head = <u32>load<u16>(svc, SVC_LADDR_HEAD);
  if (head == 0) store<u16>(svc, <u16>li, SVC_LADDR_HEAD);
  else {
    let t = head;
    while (load<u16>(laddrPtr(t), LADDR_NEXT) != 0) t = <u32>load<u16>(laddrPtr(t), LADDR_NEXT);
    store<u16>(laddrPtr(t), <u16>li, LADDR_NEXT);
  }
  store<u16>(svc, load<u16>(svc, SVC_LADDR_NUM) + 1, SVC_LADDR_NUM);
  return <i32>li;
}

/** Off the service's list; freed now or, while conns use it, when the last one goes. */
function laddrRetire(svcIdx: u32, li: u32): void {
  let svc = svcPtr(svcIdx);
  let lp = laddrPtr(li);
  let cur = <u32>load<u16>(svc, SVC_LADDR_HEAD);
  if (cur == li) store<u16>(svc, load<u16>(lp, LADDR_NEXT), SVC_LADDR_HEAD);
  else {
    while (cur != 0) {
      let nxt = <u32>load<u16>(laddrPtr(cur), LADDR_NEXT);
      if (nxt == li) { store<u16>(laddrPtr(cur), load<u16>(lp, LADDR_NEXT), LADDR_NEXT); break; }
      cur = nxt;
    }
  }
  if (<u32>load<u16>(svc, SVC_LADDR_CURR) == li) store<u16>(svc, 0, SVC_LADDR_CURR);
  store<u16>(svc, load<u16>(svc, SVC_LADDR_NUM) - 1, SVC_LADDR_NUM);
  store<u16>(lp, 0, LADDR_NEXT);
  store<u8>(lp, load<u32>(lp, LADDR_CONNS) != 0 ? LADDR_TRASH : 0, LADDR_USED);
  if (load<u8>(lp, LADDR_USED) == 0) store<u32>(CTL, load<u32>(CTL, CTL_LADDR_LIVE) - 1, CTL_LADDR_LIVE);
}

/** dp_vs_laddr_del: address in CTL_ADDR1. */
export function laddrDel(svcIdx: u32): i32 {
  let li = laddrFind(svcIdx, CTL + CTL_ADDR1);
  if (li == 0) return E_NOENT;
  laddrRetire(svcIdx, li);
  return E_OK;
}

/** Every laddr of a service being deleted. */
export function laddrFlush(svcIdx: u32): void {
  let li = <u32>load<u16>(svcPtr(svcIdx), SVC_LADDR_HEAD);
  while (li != 0) {
    let nxt = <u32>load<u16>(laddrPtr(li), LADDR_NEXT);
    laddrRetire(svcIdx, li);
    li = nxt;
  }
}

/** The n-th laddr of a service (listing), 0 when there are fewer. */
export function laddrNth(svcIdx: u32, n: u32): u32 {
  let i = <u32>load<u16>(svcPtr(svcIdx), SVC_LADDR_HEAD);
  while (i != 0 && n > 0) { i = <u32>load<u16>(laddrPtr(i), LADDR_NEXT); n--; }
  return i;
}

/** __get_laddr: the service's next laddr, round robin. */
function laddrNext(svc: usize): u32 {
  let cur = <u32>load<u16>(svc, SVC_LADDR_CURR);
  let nxt = cur != 0 ? <u32>load<u16>(laddrPtr(cur), LADDR_NEXT) : 0;
  if (nxt == 0) nxt = <u32>load<u16>(svc, SVC_LADDR_HEAD);
  store<u16>(svc, <u16>nxt, SVC_LADDR_CURR);
  return nxt;
}

/** sa_fetch: a free local port (wire order) on laddr li toward daddr:dport, or 0. */
function portFetch(li: u32, proto: u8, daddr: usize, dport: u16): u16 {
  let lp = laddrPtr(li);
  let min = load<u32>(CTL, CTL_FNAT_PORT_MIN);
  let range = load<u32>(CTL, CTL_FNAT_PORT_MAX) - min + 1;
  let cur = load<u32>(lp, LADDR_CURSOR) % range;
  let tries = range < LADDR_PORT_TRIALS ? range : LADDR_PORT_TRIALS;
  // several workers: only ports p with p % NWORKERS == this worker (DPVS slices the sa_pool per
  // lcore), so the real server's reply to laddr:p is the worker's own (worker.ts, owner function)
  let nw = NWORKERS, slice = WORKER < NWORKERS;
  for (let k: u32 = 0; k < tries; k++) {
    let off = cur + k;
    if (off >= range) off -= range;
    if (nw > 1 && slice && (min + off) % nw != WORKER) { tries += tries < range ? 1 : 0; continue; }
    let wport = htons(min + off);
    if (connOutGet(proto, daddr, dport, lp + LADDR_ADDR, wport) == 0) {
      store<u32>(lp, off + 1 == range ? 0 : off + 1, LADDR_CURSOR);
      return wport;
    }
    store<u64>(lp, load<u64>(lp, LADDR_CONFLICTS) + 1, LADDR_CONFLICTS);
  }
  store<u32>(lp, (cur + tries) % range, LADDR_CURSOR);
  return 0;
}

/**
 * dp_vs_laddr_bind: give the (not yet hashed) conn ci a local address and port. Returns 0, or
 * the CNT_* reason it could not (no laddr configured, every port in use).
 */
export function laddrBind(ci: u32, svcIdx: u32): u32 {
  let svc = svcPtr(svcIdx);
  let n = <u32>load<u16>(svc, SVC_LADDR_NUM);
  if (n == 0) return CNT_FNAT_NO_LADDR;
  let cp = connPtr(ci);
  let proto = load<u8>(cp, CONN_PROTO);
  let daf = load<u8>(destPtr(<u32>load<u16>(cp, CONN_DEST)), DEST_AF);
  let trials = n < LADDR_TRIALS ? n : LADDR_TRIALS;
  for (let t: u32 = 0; t < trials; t++) {
    let li = laddrNext(svc);
    if (load<u8>(laddrPtr(li), LADDR_AF) != daf) continue;
    let cc = connCold(ci);
    let wport = portFetch(li, proto, cc + COLD_DADDR, load<u16>(cp, CONN_DPORT));
    if (wport == 0) continue;
    store<u16>(cc, <u16>li, COLD_LADDR);
    store<u16>(cc, wport, COLD_LPORT);
    let lp = laddrPtr(li);
    store<u32>(lp, load<u32>(lp, LADDR_CONNS) + 1, LADDR_CONNS);
    return 0;
  }
  return CNT_FNAT_NO_PORT;
}

/** dp_vs_laddr_unbind: after the conn left the out index (its port is free again). */
export function laddrUnbind(ci: u32): void {
  let li = <u32>load<u16>(connCold(ci), COLD_LADDR);
  if (li == 0) return;
  let lp = laddrPtr(li);
  let n = load<u32>(lp, LADDR_CONNS);
  if (n != 0) store<u32>(lp, --n, LADDR_CONNS);
  if (n == 0 && load<u8>(lp, LADDR_USED) == LADDR_TRASH) {
    store<u8>(lp, 0, LADDR_USED);
    store<u32>(CTL, load<u32>(CTL, CTL_LADDR_LIVE) - 1, CTL_LADDR_LIVE);
  }
}

/** Does service svcIdx exist with FULLNAT laddrs configured? (for the host) */
export function laddrCount(svcIdx: u32): u32 {
  return <u32>load<u16>(svcPtr(svcIdx), SVC_LADDR_NUM);
}
