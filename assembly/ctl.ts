// Services and real servers (ip_vs_ctl.c). Services are found by address through a small
// hash (every service of a VIP on one chain, so the route step's "is this a VIP?" and the
// in-path's service lookup walk the same chain). A service keeps its dests on a singly
// linked list in the kernel's order: newest first (__ip_vs_update_dest does list_add_rcu
// at the head), and every scheduler walks that order.
import {
  CTL, CTL_ADDR0, CTL_ADDR1, CTL_NULLSVC_COUNT, CTL_FWM_COUNT, CTL_ZERO_ADDR, SVC_TAB, SVC_TAB_BITS, svcMax, destMax,
  svcPtr, destPtr, CTL_SVC_FREE_HINT, CTL_DEST_FREE_HINT, CTL_DEST_TRASH, CTL_FULL_TABLE, DEST_TAB, DEST_HNEXT,
  SVC_TRASH_REFS, SVC_SCHED_BIG, SVC_USED, SVC_AF, SVC_PROTO, SVC_SCHED, SVC_FLAGS, SVC_VADDR, SVC_VPORT,
  SVC_NUM_DESTS, SVC_DEST_HEAD, SVC_FWMARK, SVC_TIMEOUT, SVC_NETMASK, SVC_NEXT_HASH, SVC_NEXT_VIP, SVC_SIZE, DEST_USED,
  DEST_AF, DEST_FWD, DEST_FLAGS, DEST_ADDR, DEST_PORT, DEST_WEIGHT, DEST_UTHRESH, DEST_LTHRESH, DEST_SVC, DEST_NEXT,
  DEST_REFCNT, DEST_CONN_FLAGS, DEST_SIZE,
} from "./layout";
import {
  E_OK, E_NOENT, E_NOSVC, E_EXIST, E_INVAL, E_NOSPC, E_RANGE, E_NOSCHED, E_AFNOSUPPORT, E_OPNOTSUPP, E_NETUNREACH,
  E_SYNPROXY_FWD, SVC_F_SYNPROXY,
  IP_VS_CONN_F_DROUTE, IP_VS_CONN_F_TUNNEL, DEST_F_AVAILABLE, DEST_F_OVERLOAD, IP_VS_CONN_F_MASQ, IP_VS_CONN_F_TUNNEL,
  IP_VS_CONN_F_FULLNAT, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, CONN_F_INACTIVE, CONN_F_NOOUTPUT, SVC_F_HASHED,
  DEST_LIVE,
} from "./defs";
import { addrEq, addrCopy, addrFold, addrIsV4, addrAny, htons } from "./packet/bytes";
import {
  schedValid, schedInitService, schedDoneService, schedAddDest, schedDelDest, schedUpdDest, schedAreaTake, schedAreaAvailable, schedAreaRelease,
} from "./sched/registry";
import { xmitSupported } from "./xmit/registry";
import { onLink, vipBucket } from "./route";
import { laddrFlush } from "./laddr";
import { trashPut, trashTake, destFreed } from "./trash";
import { destTotalConns } from "./conn/conn";


// Two hashes over the services, as the kernel's ip_vs_svc_table / ip_vs_svc_fwm_table: by
// (vaddr, vport) — or (family's any address, mark) for fwmark services — for the lookup, and
// by vaddr alone for the route step's "is this a VIP?". Thousands of services on one address
// (NodePorts) then still cost one short chain per packet.
@inline function svcBucket(addr: usize, key: u32): usize {
  let h = (addrFold(addr) ^ (key * 0x85ebca77)) * 0x9e3779b1;
  return SVC_TAB + (<usize>(h >> (32 - SVC_TAB_BITS)) << 2);
}
/** The lookup key of a service record: its port, or its mark. */
@inline function svcKeyOf(svc: usize): u32 {
  let m = load<u32>(svc, SVC_FWMARK);
  return m != 0 ? m : <u32>load<u16>(svc, SVC_VPORT);
}
/** Unlink service idx from the chain at bucket b linked through field `next`. */
function svcUnlink(b: usize, idx: u32, next: usize): void {
  let cur = load<u32>(b);
  if (cur == idx) { store<u32>(b, load<u32>(svcPtr(idx) + next)); return; }
  while (cur != 0) {
    let nxt = load<u32>(svcPtr(cur) + next);
    if (nxt == idx) { store<u32>(svcPtr(cur) + next, load<u32>(svcPtr(idx) + next)); return; }
    cur = nxt;
  }
}

// ---- lookups --------------------------------------------------------------------------------

/** ip_vs_service_find (non-fwmark): the service for (proto, vaddr, vport wire-order), or 0. */
export function svcFind(proto: u8, vaddr: usize, vport: u16): u32 {
  let i = load<u32>(svcBucket(vaddr, <u32>vport));
  while (i != 0) {
    let svc = svcPtr(i);
    if (load<u16>(svc, SVC_VPORT) == vport && load<u8>(svc, SVC_PROTO) == proto && load<u32>(svc, SVC_FWMARK) == 0 &&
        addrEq(svc + SVC_VADDR, vaddr)) return i;
    i = load<u32>(svc, SVC_NEXT_HASH);
  }
  return 0;
}

/**
 * ip_vs_service_find for a packet: a fwmark service for the packet's mark first, then the
 * service of (proto, vaddr, vport), then the catch-all port-zero service of (proto, vaddr).
 */
export function svcFindPkt(mark: u32, af: u8, proto: u8, vaddr: usize, vport: u16): u32 {
  if (mark != 0 && load<u32>(CTL, CTL_FWM_COUNT) != 0) {
    let s = svcFindMark(af, mark);
    if (s != 0) return s;
  }
  let s = svcFind(proto, vaddr, vport);
  if (s == 0 && vport != 0 && load<u32>(CTL, CTL_NULLSVC_COUNT) != 0) s = svcFind(proto, vaddr, 0);
  return s;
}

/** __ip_vs_svc_fwm_find: the fwmark service of family af with this mark (they hash under 0.0.0.0 / ::). */
export function svcFindMark(af: u8, mark: u32): u32 {
  let z = CTL + CTL_ZERO_ADDR;
  addrAny(z, af);
  let i = load<u32>(svcBucket(z, mark));
  while (i != 0) {
    let svc = svcPtr(i);
    if (load<u32>(svc, SVC_FWMARK) == mark && load<u8>(svc, SVC_AF) == af) return i;
    i = load<u32>(svc, SVC_NEXT_HASH);
  }
  return 0;
}

/** Is there a fwmark service for this mark (either family)? The route step's "local" for marked packets. */
export function isMarkSvc(mark: u32): bool {
  return load<u32>(CTL, CTL_FWM_COUNT) != 0 && (svcFindMark(4, mark) != 0 || svcFindMark(6, mark) != 0);
}

/** The service with this key (fwmark != 0: by mark alone), address in CTL_ADDR0: one hash chain, not a scan. */
export function svcLookup(proto: u8, vport: u16, fwmark: u32): u32 {
  let vaddr = CTL + CTL_ADDR0;
  if (fwmark != 0) return svcFindMark(addrIsV4(vaddr) ? 4 : 6, fwmark);
  return svcFind(proto, vaddr, vport);
}

/** Keep ipvs->nullsvc_counter / fwm_services in step with a service added (+1) or deleted (-1). */
function svcCount(svc: usize, d: i32): void {
  let off = load<u32>(svc, SVC_FWMARK) != 0 ? CTL_FWM_COUNT : (load<u16>(svc, SVC_VPORT) == 0 ? CTL_NULLSVC_COUNT : 0);
  if (off != 0) store<u32>(CTL + off, <u32>(<i32>load<u32>(CTL + off) + d));
}


@inline function destBucket(svcIdx: u32, addr: usize, dport: u16): usize {
  let h = (addrFold(addr) ^ (svcIdx * 0x85ebca77) ^ <u32>dport) * 0x9e3779b1;
  return DEST_TAB + (<usize>(h >> 16) << 2);   // DEST_TAB_SIZE = 2^16 buckets
}

/** ip_vs_lookup_dest: live dest of `svcIdx` with this address (CTL_ADDR1) and port (wire), by hash. */
export function destLookup(svcIdx: u32, dport: u16): u32 {
  let addr = CTL + CTL_ADDR1;
  let d = load<u32>(destBucket(svcIdx, addr, dport));
  while (d != 0) {
    let dest = destPtr(d);
    if (load<u32>(dest, DEST_SVC) == svcIdx && load<u16>(dest, DEST_PORT) == dport && addrEq(dest + DEST_ADDR, addr)) return d;
    d = load<u32>(dest, DEST_HNEXT);
  }
  return 0;
}

function destHash(d: u32): void {
  let dest = destPtr(d);
  let b = destBucket(load<u32>(dest, DEST_SVC), dest + DEST_ADDR, load<u16>(dest, DEST_PORT));
  store<u32>(dest, load<u32>(b), DEST_HNEXT);
  store<u32>(b, d);
}

function destUnhash(d: u32): void {
  let dest = destPtr(d);
  let b = destBucket(load<u32>(dest, DEST_SVC), dest + DEST_ADDR, load<u16>(dest, DEST_PORT));
  let cur = load<u32>(b);
  if (cur == d) { store<u32>(b, load<u32>(dest, DEST_HNEXT)); return; }
  while (cur != 0) {
    let nxt = load<u32>(destPtr(cur), DEST_HNEXT);
    if (nxt == d) { store<u32>(destPtr(cur), load<u32>(dest, DEST_HNEXT), DEST_HNEXT); return; }
    cur = nxt;
  }
}

/** Does service record `a` (live or deleted) have the key of service `b`? (ip_vs_trash_get_dest's test) */
@inline function svcSameKey(a: usize, b: usize): bool {
  return load<u32>(a, SVC_FWMARK) == load<u32>(b, SVC_FWMARK) && load<u8>(a, SVC_AF) == load<u8>(b, SVC_AF) &&
    load<u8>(a, SVC_PROTO) == load<u8>(b, SVC_PROTO) && load<u16>(a, SVC_VPORT) == load<u16>(b, SVC_VPORT) &&
    addrEq(a + SVC_VADDR, b + SVC_VADDR);
}

/**
 * ip_vs_trash_get_dest: a trashed dest with this address (CTL_ADDR1) and port, deleted from a
 * service with svcIdx's key (the same service, or one deleted and added again: -C then -R).
 */
function trashGet(svcIdx: u32, wport: u16): u32 {
  let addr = CTL + CTL_ADDR1;
  let want = svcPtr(svcIdx);
  for (let d = load<u32>(CTL, CTL_DEST_TRASH); d != 0; d = load<u32>(destPtr(d), DEST_NEXT)) {
    let dest = destPtr(d);
    if (load<u16>(dest, DEST_PORT) == wport && addrEq(dest + DEST_ADDR, addr) && svcSameKey(svcPtr(load<u32>(dest, DEST_SVC)), want)) return d;
  }
  return 0;
}

/** A record index free for reuse, searched up from the table's hint (linear over a whole restore). */
function svcFree(): u32 {
  for (let i = max<u32>(load<u32>(CTL, CTL_SVC_FREE_HINT), 1); i <= svcMax; i++) {
    let svc = svcPtr(i);
    if (!load<u8>(svc, SVC_USED) && load<u16>(svc, SVC_TRASH_REFS) == 0) { store<u32>(CTL, i + 1, CTL_SVC_FREE_HINT); return i; }
  }
  store<u32>(CTL, svcMax + 1, CTL_SVC_FREE_HINT);
  store<u32>(CTL, 1, CTL_FULL_TABLE);
  return 0;
}
function destFree(): u32 {
  for (let i = max<u32>(load<u32>(CTL, CTL_DEST_FREE_HINT), 1); i <= destMax; i++) {
    if (!load<u8>(destPtr(i), DEST_USED)) { store<u32>(CTL, i + 1, CTL_DEST_FREE_HINT); return i; }
  }
  store<u32>(CTL, destMax + 1, CTL_DEST_FREE_HINT);
  store<u32>(CTL, 2, CTL_FULL_TABLE);
  return 0;
}
/** A record became free: searches start at or below it again. */
@inline function svcFreed(i: u32): void { if (i < load<u32>(CTL, CTL_SVC_FREE_HINT)) store<u32>(CTL, i, CTL_SVC_FREE_HINT); }

// ---- services -------------------------------------------------------------------------------

/** ip_vs_add_service. vaddr in CTL_ADDR0 (16-byte form); vport host order. Returns svcIdx or -errno. */
export function svcAdd(af: u8, proto: u8, vport: u32, fwmark: u32, sched: u32, flags: u32, timeout: u32, netmask: u32): i32 {
  if (af != 4 && af != 6) return E_AFNOSUPPORT;
  if (fwmark == 0 && proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP) return E_INVAL;
  if (!schedValid(sched)) return E_NOSCHED;
  if ((flags & SVC_F_SYNPROXY) && (fwmark != 0 || proto != IPPROTO_TCP)) return E_INVAL;   // TCP services only
  let wport = htons(vport);
  if (svcLookup(proto, wport, fwmark) != 0) return E_EXIST;
  let idx = svcFree();
  if (idx == 0) return E_NOSPC;
  let svc = svcPtr(idx);
  store<u16>(svc, 0, SVC_SCHED_BIG);   // a fresh record: no big scheduler area yet
  if (!schedAreaTake(idx, sched)) { svcFreed(idx); return E_NOSPC; }
  let big = load<u16>(svc, SVC_SCHED_BIG);
  memory.fill(svc, 0, SVC_SIZE);   // counters and scheduler state start at zero, as a fresh ip_vs_service
  store<u16>(svc, big, SVC_SCHED_BIG);
  store<u8>(svc, 1, SVC_USED);
  store<u8>(svc, af, SVC_AF);
  store<u8>(svc, fwmark != 0 ? 0 : proto, SVC_PROTO);
  store<u8>(svc, <u8>sched, SVC_SCHED);
  store<u32>(svc, flags | SVC_F_HASHED, SVC_FLAGS);
  addrCopy(svc + SVC_VADDR, CTL + CTL_ADDR0);
  store<u16>(svc, fwmark != 0 ? 0 : wport, SVC_VPORT);
  store<u32>(svc, fwmark, SVC_FWMARK);
  store<u32>(svc, timeout, SVC_TIMEOUT);
  store<u32>(svc, netmask, SVC_NETMASK);
  if (fwmark != 0) addrAny(svc + SVC_VADDR, af);   // fwmark services hash under 0.0.0.0 / ::
  let b = svcBucket(svc + SVC_VADDR, svcKeyOf(svc));
  store<u32>(svc, load<u32>(b), SVC_NEXT_HASH);
  store<u32>(b, idx);
  let v = vipBucket(svc + SVC_VADDR);
  store<u32>(svc, load<u32>(v), SVC_NEXT_VIP);
  store<u32>(v, idx);
  svcCount(svc, 1);
  schedInitService(idx);
  return <i32>idx;
}

/** ip_vs_edit_service: scheduler, flags, persistence; a new scheduler is bound without touching conns. */
export function svcEdit(svcIdx: u32, sched: u32, flags: u32, timeout: u32, netmask: u32): i32 {
  if (!svcLive(svcIdx)) return E_NOSVC;
  if (!schedValid(sched)) return E_NOSCHED;
  let svc = svcPtr(svcIdx);
  let old = <u32>load<u8>(svc, SVC_SCHED);
  if (old != sched && !schedAreaAvailable(svcIdx, sched)) return E_NOSPC;
  let sr = synproxyCheckSvc(svcIdx, load<u8>(svc, SVC_PROTO), flags);
  if (sr != E_OK) return sr;
  store<u32>(svc, flags | SVC_F_HASHED, SVC_FLAGS);
  store<u32>(svc, timeout, SVC_TIMEOUT);
  store<u32>(svc, netmask, SVC_NETMASK);
  if (old != sched) {
    schedDoneService(svcIdx);
    store<u8>(svc, <u8>sched, SVC_SCHED);
    schedAreaTake(svcIdx, sched);
    schedInitService(svcIdx);
  } else {
    schedInitService(svcIdx);   // flags (sh-port, mh-fallback...) may change what the table holds
  }
  return E_OK;
}

@inline export function svcLive(svcIdx: u32): bool {
  return svcIdx >= 1 && svcIdx <= svcMax && load<u8>(svcPtr(svcIdx), SVC_USED) != 0;
}

/** ip_vs_del_service: dests go to the trash while conns still hold them. */
export function svcDel(svcIdx: u32): i32 {
  if (!svcLive(svcIdx)) return E_NOSVC;
  let svc = svcPtr(svcIdx);
  // unlink from both hash chains
  svcUnlink(svcBucket(svc + SVC_VADDR, svcKeyOf(svc)), svcIdx, SVC_NEXT_HASH);
  svcUnlink(vipBucket(svc + SVC_VADDR), svcIdx, SVC_NEXT_VIP);
  let d = load<u32>(svc, SVC_DEST_HEAD);
  while (d != 0) {
    let nxt = load<u32>(destPtr(d), DEST_NEXT);
    destRetire(d);
    d = nxt;
  }
  store<u32>(svc, 0, SVC_DEST_HEAD);
  store<u16>(svc, 0, SVC_NUM_DESTS);
  schedDoneService(svcIdx);
  schedAreaRelease(svcIdx);
  laddrFlush(svcIdx);   // FULLNAT local addresses: freed, or kept until their conns go
  svcCount(svc, -1);
  store<u8>(svc, 0, SVC_USED);
  svcFreed(svcIdx);
  return E_OK;
}

/** ip_vs_flush: every service. */
export function svcFlush(): void {
  for (let i: u32 = 1; i <= svcMax; i++) if (load<u8>(svcPtr(i), SVC_USED)) svcDel(i);
}

// ---- dests ----------------------------------------------------------------------------------

function destCheckArgs(svcIdx: u32, af: u8, weight: i32, fwd: u8, uthresh: u32, lthresh: u32): i32 {
  if (weight < 0) return E_RANGE;                 // ip_vs_add_dest: "udest->weight < 0" → -ERANGE
  if (lthresh > uthresh) return E_RANGE;          // "l_threshold > u_threshold" → -ERANGE
  if (af != 4 && af != 6) return E_AFNOSUPPORT;
  let svcAf = load<u8>(svcPtr(svcIdx), SVC_AF);
  if (af != svcAf && fwd != IP_VS_CONN_F_TUNNEL) return E_AFNOSUPPORT;  // mixed families: tunnels only
  if (!xmitSupported(fwd)) return E_OPNOTSUPP;
  // DR only changes the MAC: the real server must be on the director's link (its prefix, when set)
  if (fwd == IP_VS_CONN_F_DROUTE && !onLink(CTL + CTL_ADDR1)) return E_NETUNREACH;
  if ((load<u32>(svcPtr(svcIdx), SVC_FLAGS) & SVC_F_SYNPROXY) && !synproxyFwd(fwd)) return E_SYNPROXY_FWD;
  return E_OK;
}

/** The SYN proxy sees the real server's SYN-ACK only where replies come back through us (synproxy.ts). */
@inline function synproxyFwd(fwd: u8): bool { return fwd == IP_VS_CONN_F_MASQ || fwd == IP_VS_CONN_F_FULLNAT; }

/** A service may turn the SYN proxy on only when none of its dests is DR or tunnel (nor TCP-less). */
function synproxyCheckSvc(svcIdx: u32, proto: u8, flags: u32): i32 {
  if (!(flags & SVC_F_SYNPROXY)) return E_OK;
  if (proto != IPPROTO_TCP) return E_INVAL;
  for (let d = load<u32>(svcPtr(svcIdx), SVC_DEST_HEAD); d != 0; d = load<u32>(destPtr(d), DEST_NEXT)) {
    if (!synproxyFwd(load<u8>(destPtr(d), DEST_FWD))) return E_SYNPROXY_FWD;
  }
  return E_OK;
}

/** __ip_vs_update_dest: the parts shared by add and edit. */
function destUpdate(svcIdx: u32, d: u32, weight: i32, fwd: u8, uthresh: u32, lthresh: u32): void {
  let dest = destPtr(d);
  // conn flags every new conn to this dest starts with: INACTIVE until its protocol says
  // otherwise, NOOUTPUT when replies bypass the director (not NAT, not FULLNAT)
  let cf: u32 = CONN_F_INACTIVE;
  if (fwd != IP_VS_CONN_F_MASQ && fwd != IP_VS_CONN_F_FULLNAT) cf |= CONN_F_NOOUTPUT;
  store<u32>(dest, cf, DEST_CONN_FLAGS);
  store<u8>(dest, fwd, DEST_FWD);
  store<i32>(dest, weight, DEST_WEIGHT);
  store<u32>(dest, uthresh, DEST_UTHRESH);
  store<u32>(dest, lthresh, DEST_LTHRESH);
  let fl = load<u8>(dest, DEST_FLAGS) | DEST_F_AVAILABLE;
  if (uthresh == 0 || uthresh > destTotalConns(dest)) fl &= ~DEST_F_OVERLOAD;
  store<u8>(dest, fl, DEST_FLAGS);
}

/** ip_vs_add_dest. Address in CTL_ADDR1; dport host order (0: the service's port). Returns destIdx or -errno. */
export function destAdd(svcIdx: u32, af: u8, dport: u32, weight: i32, fwd: u8, uthresh: u32, lthresh: u32): i32 {
  if (!svcLive(svcIdx)) return E_NOSVC;          // "Service not defined" (ESRCH)
  let r = destCheckArgs(svcIdx, af, weight, fwd, uthresh, lthresh);
  if (r != E_OK) return r;
  let svc = svcPtr(svcIdx);
  let wport: u16 = dport == 0 ? load<u16>(svc, SVC_VPORT) : htons(dport);
  if (destLookup(svcIdx, wport) != 0) return E_EXIST;
  // ip_vs_trash_get_dest: a deleted dest of a service with this key, still bound to conns,
  // comes back with its counters; any other dest starts from zero (a fresh ip_vs_dest)
  let d: u32 = load<u32>(CTL, CTL_DEST_TRASH) != 0 ? trashGet(svcIdx, wport) : 0;
  let addr = CTL + CTL_ADDR1;
  if (d != 0) {
    trashTake(d);
    store<u32>(destPtr(d), svcIdx, DEST_SVC);   // __ip_vs_bind_svc: the new service from now on
  } else {
    d = destFree();
    if (d == 0) return E_NOSPC;
    memory.fill(destPtr(d), 0, DEST_SIZE);
    addrCopy(destPtr(d) + DEST_ADDR, addr);
    store<u16>(destPtr(d), wport, DEST_PORT);
    store<u8>(destPtr(d), af, DEST_AF);
    store<u32>(destPtr(d), svcIdx, DEST_SVC);
  }
  let dest = destPtr(d);
  store<u8>(dest, DEST_LIVE, DEST_USED);
  destHash(d);
  destUpdate(svcIdx, d, weight, fwd, uthresh, lthresh);
  store<u32>(dest, load<u32>(svc, SVC_DEST_HEAD), DEST_NEXT);   // newest first
  store<u32>(svc, d, SVC_DEST_HEAD);
  store<u16>(svc, load<u16>(svc, SVC_NUM_DESTS) + 1, SVC_NUM_DESTS);
  schedAddDest(svcIdx, d);
  return <i32>d;
}

/** ip_vs_edit_dest. */
export function destEdit(svcIdx: u32, af: u8, dport: u32, weight: i32, fwd: u8, uthresh: u32, lthresh: u32): i32 {
  if (!svcLive(svcIdx)) return E_NOSVC;
  let r = destCheckArgs(svcIdx, af, weight, fwd, uthresh, lthresh);
  if (r != E_OK) return r;
  let wport: u16 = dport == 0 ? load<u16>(svcPtr(svcIdx), SVC_VPORT) : htons(dport);
  let d = destLookup(svcIdx, wport);
  if (d == 0) return E_NOENT;
  destUpdate(svcIdx, d, weight, fwd, uthresh, lthresh);
  schedUpdDest(svcIdx, d);
  return E_OK;
}

/** ip_vs_del_dest: unlink (the scheduler sees the list without it), then trash or free. */
export function destDel(svcIdx: u32, dport: u32): i32 {
  if (!svcLive(svcIdx)) return E_NOSVC;
  let svc = svcPtr(svcIdx);
  let wport: u16 = dport == 0 ? load<u16>(svc, SVC_VPORT) : htons(dport);
  let d = destLookup(svcIdx, wport);
  if (d == 0) return E_NOENT;
  let prev: u32 = 0;
  let cur = load<u32>(svc, SVC_DEST_HEAD);
  while (cur != d) { prev = cur; cur = load<u32>(destPtr(cur), DEST_NEXT); }
  let nxt = load<u32>(destPtr(d), DEST_NEXT);
  if (prev == 0) store<u32>(svc, nxt, SVC_DEST_HEAD);
  else store<u32>(destPtr(prev), nxt, DEST_NEXT);
  store<u16>(svc, load<u16>(svc, SVC_NUM_DESTS) - 1, SVC_NUM_DESTS);
  schedDelDest(svcIdx, d, prev);
  destRetire(d);
  return E_OK;
}

/** Not AVAILABLE any more; kept in the trash while conns are bound to it. */
function destRetire(d: u32): void {
  let dest = destPtr(d);
  store<u8>(dest, load<u8>(dest, DEST_FLAGS) & ~DEST_F_AVAILABLE, DEST_FLAGS);
  destUnhash(d);
  if (load<u32>(dest, DEST_REFCNT) == 0) destFreed(d);
  else trashPut(d);
}

/** Next live service index ≥ i, or 0 (listings). */
export function svcNext(i: u32): u32 {
  if (i == 0) i = 1;
  for (; i <= svcMax; i++) if (load<u8>(svcPtr(i), SVC_USED)) return i;
  return 0;
}
