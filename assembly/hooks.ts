// A netfilter-like hook table. Entries are kept ordered by (point, priority), equal
// priorities in insertion order (nf_hook_entries_grow). Iteration follows netfilter's rules:
// ACCEPT goes on to the next entry, DROP and STOLEN end the traversal, STOP ends it as an
// accept that skips the rest of this hook point, REPEAT calls the same entry again
// (bounded: a hook that repeats forever costs a counted drop, not a hung engine).
import {
  CTL, CTL_HOOK_COUNT, CTL_HOOK_FIRST, HOOK_MAX, hookPtr, HOOK_USED, HOOK_POINT, HOOK_FN, HOOK_VERDICT, HOOK_PRIORITY, HOOK_ID,
  HOOK_PLEN, HOOK_ADDR, HOOK_PACKETS, HOOK_ARG, HOOK_SIZE, HOOK_PROTO, HOOK_PORT_LO, HOOK_PORT_HI, HOOK_MATCH_SRC, PKT,
  NWORKERS, HCOUNT, HOOKS,
  PKT_HOOK_REPEATS,
} from "./layout";
import {
  NF_ACCEPT, NF_DROP, NF_STOLEN, NF_STOP, NF_REPEAT, NF_QUEUE, NF_INET_NUMHOOKS, E_NOSPC, E_INVAL, E_NOENT,
  HOOK_FN_IPVS_IN, HOOK_FN_IPVS_OUT, HOOK_FN_IPVS_FWD_ICMP, HOOK_FN_IPVS_POST, HOOK_FN_ICMP_ECHO, HOOK_FN_LOCAL_STACK,
  HOOK_FN_MATCH_SRC, HOOK_FN_MATCH_DST, HOOK_FN_VERDICT, HOOK_FN_COUNT, HOOK_FN_MARK,
  IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, CNT_HOOK_REPEAT_LIMIT, CNT_HOOK_DROP, NF_INET_PRE_ROUTING,
  NF_INET_LOCAL_IN, NF_INET_POST_ROUTING,
} from "./defs";
import { addrInPrefix, ntohs } from "./packet/bytes";
import { pktSaddr, pktDaddr, pProto, pDport } from "./packet/iph";
import { ipvsInHook, ipvsInHookInline, ipvsOutHook, ipvsForwardIcmpHook, ipvsPostHook, icmpEchoHook, localStackHook } from "./core";
import { setDrop, setPktMark } from "./pkt";
import { cntInc } from "./stats";
import { sharedAdd64 } from "./shared";

@inline const REPEAT_MAX: u32 = 8;

let nextHookId: u32 = 1;

@inline function hookCount(): u32 { return load<u32>(CTL, CTL_HOOK_COUNT); }

/**
 * Where each point's entries start in the (point, priority)-ordered table, kept on every add and
 * delete, so that a packet's walk of a point does not step over the earlier points' entries.
 */
function hookIndexPoints(): void {
  let n = hookCount();
  let i: u32 = 0;
  for (let p: u32 = 0; p < <u32>NF_INET_NUMHOOKS; p++) {
    while (i < n && <u32>load<u8>(hookPtr(i), HOOK_POINT) < p) i++;
    store<u8>(CTL + CTL_HOOK_FIRST + p, <u8>i);
  }
}

/** Insert an entry; returns its id (> 0) or -errno. `addr` (16 bytes) for match hooks is read at addrPtr. */
export function hookAdd(point: u8, priority: i32, fn: u8, verdict: u8, addrPtr: usize, plen: u32): i32 {
  if (point >= NF_INET_NUMHOOKS) return E_INVAL;
  if (fn == 0 || (fn > HOOK_FN_LOCAL_STACK && fn < HOOK_FN_MATCH_SRC) || fn > HOOK_FN_MARK) return E_INVAL;
  if (<i32>verdict > NF_STOP) return E_INVAL;
  let n = hookCount();
  if (n >= HOOK_MAX) return E_NOSPC;
  // find the insertion point: after every entry of a lower point, or same point and priority ≤ ours
  let pos: u32 = 0;
  while (pos < n) {
    let e = hookPtr(pos);
    let ep = load<u8>(e, HOOK_POINT);
    if (ep > point || (ep == point && load<i32>(e, HOOK_PRIORITY) > priority)) break;
    pos++;
  }
  memory.copy(hookPtr(pos + 1), hookPtr(pos), <usize>(n - pos) * HOOK_SIZE);
  let e = hookPtr(pos);
  memory.fill(e, 0, HOOK_SIZE);
  store<u8>(e, 1, HOOK_USED);
  store<u8>(e, point, HOOK_POINT);
  store<u8>(e, fn, HOOK_FN);
  store<u8>(e, verdict, HOOK_VERDICT);
  store<i32>(e, priority, HOOK_PRIORITY);
  let id = nextHookId++;
  store<u32>(e, id, HOOK_ID);
  store<u32>(e, plen, HOOK_PLEN);
  if (addrPtr != 0) memory.copy(e + HOOK_ADDR, addrPtr, 16);
  store<u32>(CTL, n + 1, CTL_HOOK_COUNT);
  hookIndexPoints();
  return <i32>id;
}

export function hookDel(id: u32): i32 {
  let n = hookCount();
  for (let i: u32 = 0; i < n; i++) {
    if (load<u32>(hookPtr(i), HOOK_ID) == id) {
      memory.copy(hookPtr(i), hookPtr(i + 1), <usize>(n - i - 1) * HOOK_SIZE);
      store<u32>(CTL, n - 1, CTL_HOOK_COUNT);
      hookIndexPoints();
      return 0;
    }
  }
  return E_NOENT;
}

/** Register IPVS where the kernel does (ip_vs_ops4/ip_vs_ops6), plus the local echo responder. */
export function hooksInitIpvs(): void {
  // After packet filtering, forward packet through VS/NAT (and later DR/TUN), so that
  // filtering rules can be applied to the packet IPVS transmits (NF_IP_PRI_NAT_SRC - 1)
  hookAdd(1 /* LOCAL_IN */, 100 - 1, HOOK_FN_IPVS_IN, 0, 0, 0);
  // The director's own stack answers pings to its addresses: after IPVS passed on them
  hookAdd(1 /* LOCAL_IN */, 300, HOOK_FN_ICMP_ECHO, 0, 0, 0);
  // ... and resets TCP / refuses UDP to VIP ports nobody listens on (tcp_v4_rcv, __udp4_lib_rcv)
  hookAdd(1 /* LOCAL_IN */, 300, HOOK_FN_LOCAL_STACK, 0, 0, 0);
  // After packet filtering (but before ip_vs_out_icmp), catch ICMP errors for incoming conns (99)
  hookAdd(2 /* FORWARD */, 99, HOOK_FN_IPVS_FWD_ICMP, 0, 0, 0);
  // After packet filtering, change source only for VS/NAT (100)
  hookAdd(2 /* FORWARD */, 100, HOOK_FN_IPVS_OUT, 0, 0, 0);
  // Packets IPVS produced skip the POST_ROUTING hooks placed after it (NF_IP_PRI_NAT_SRC - 1)
  hookAdd(4 /* POST_ROUTING */, 100 - 1, HOOK_FN_IPVS_POST, 0, 0, 0);
}

// REPEAT bookkeeping for the VERDICT hook: how often the current entry was called for this packet
@inline function repeatsSoFar(): u32 { return load<u32>(PKT, PKT_HOOK_REPEATS); }

/** One more packet through entry e (HookView.packets). */
@inline function hookCounted(e: usize): void {
  // several workers: counted in this worker's batch counts, added to the entry at the batch's end
  // (stats.ts statsFlush), not an atomic add on a line every worker writes for every packet
  if (NWORKERS > 1) { let c = HCOUNT + ((e - HOOKS) / HOOK_SIZE << 3); store<u64>(c, load<u64>(c) + 1); }
  else sharedAdd64(e + HOOK_PACKETS, 1);
}

function callHook(e: usize, point: u8): i32 {
  hookCounted(e);
  let fn = load<u8>(e, HOOK_FN);
  switch (fn) {
    case HOOK_FN_IPVS_IN: return ipvsInHook(point);
    case HOOK_FN_IPVS_OUT: return ipvsOutHook(point);
    case HOOK_FN_IPVS_FWD_ICMP: return ipvsForwardIcmpHook(point);
    case HOOK_FN_IPVS_POST: return ipvsPostHook(point);
    case HOOK_FN_ICMP_ECHO: return icmpEchoHook(point);
    case HOOK_FN_LOCAL_STACK: return localStackHook(point);
    case HOOK_FN_MATCH_SRC:
      return addrInPrefix(pktSaddr(), e + HOOK_ADDR, load<u32>(e, HOOK_PLEN)) ? <i32>load<u8>(e, HOOK_VERDICT) : NF_ACCEPT;
    case HOOK_FN_MATCH_DST:
      return addrInPrefix(pktDaddr(), e + HOOK_ADDR, load<u32>(e, HOOK_PLEN)) ? <i32>load<u8>(e, HOOK_VERDICT) : NF_ACCEPT;
    case HOOK_FN_VERDICT: {
      let v = <i32>load<u8>(e, HOOK_VERDICT);
      // REPEAT once: the second call for the same packet accepts (a hook that changed state)
      if (v == NF_REPEAT && repeatsSoFar() > 0) return NF_ACCEPT;
      return v;
    }
    case HOOK_FN_COUNT: return NF_ACCEPT;
    case HOOK_FN_MARK: return markHook(e);
  }
  return NF_ACCEPT;
}

/** The MARK target of an iptables rule `[-s|-d prefix] [-p proto] [--dport lo:hi] -j MARK --set-mark M`. */
function markHook(e: usize): i32 {
  let proto = load<u8>(e, HOOK_PROTO);
  if (proto != 0 && proto != pProto()) return NF_ACCEPT;
  let lo = <u32>load<u16>(e, HOOK_PORT_LO), hi = <u32>load<u16>(e, HOOK_PORT_HI);
  if (lo != 0 || hi != 0) {
    if (pProto() != IPPROTO_TCP && pProto() != IPPROTO_UDP && pProto() != IPPROTO_SCTP) return NF_ACCEPT;
    let port = ntohs(pDport());
    if (port < lo || port > hi) return NF_ACCEPT;
  }
  let a = load<u8>(e, HOOK_MATCH_SRC) ? pktSaddr() : pktDaddr();
  if (!addrInPrefix(a, e + HOOK_ADDR, load<u32>(e, HOOK_PLEN))) return NF_ACCEPT;
  setPktMark(load<u32>(e, HOOK_ARG));
  return NF_ACCEPT;
}

/**
 * The mark the PRE_ROUTING MARK entries would give the packet (the last match wins, as iptables'
 * non-terminating MARK), without running them: the workers' owner check (batch.ts) needs to know
 * whether a packet is for a fwmark service before the hooks run on its owner. 0: none.
 */
export function markPeek(): u32 {
  let n = hookCount();
  let mark: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    let e = hookPtr(i);
    let ep = load<u8>(e, HOOK_POINT);
    if (ep > NF_INET_PRE_ROUTING) break;
    if (load<u8>(e, HOOK_FN) != HOOK_FN_MARK) continue;
    let proto = load<u8>(e, HOOK_PROTO);
    if (proto != 0 && proto != pProto()) continue;
    let lo = <u32>load<u16>(e, HOOK_PORT_LO), hi = <u32>load<u16>(e, HOOK_PORT_HI);
    if (lo != 0 || hi != 0) {
      if (pProto() != IPPROTO_TCP && pProto() != IPPROTO_UDP && pProto() != IPPROTO_SCTP) continue;
      let port = ntohs(pDport());
      if (port < lo || port > hi) continue;
    }
    let a = load<u8>(e, HOOK_MATCH_SRC) ? pktSaddr() : pktDaddr();
    if (addrInPrefix(a, e + HOOK_ADDR, load<u32>(e, HOOK_PLEN))) mark = load<u32>(e, HOOK_ARG);
  }
  return mark;
}

/** Set the match fields of MARK hook `id` (after hookAdd). */
export function hookSetMark(id: u32, mark: u32, proto: u8, portLo: u16, portHi: u16, matchSrc: bool): i32 {
  let n = hookCount();
  for (let i: u32 = 0; i < n; i++) {
    let e = hookPtr(i);
    if (load<u32>(e, HOOK_ID) != id) continue;
    if (load<u8>(e, HOOK_FN) != HOOK_FN_MARK) return E_INVAL;
    store<u32>(e, mark, HOOK_ARG);
    store<u8>(e, proto, HOOK_PROTO);
    store<u16>(e, portLo, HOOK_PORT_LO);
    store<u16>(e, portHi, HOOK_PORT_HI);
    store<u8>(e, matchSrc ? 1 : 0, HOOK_MATCH_SRC);
    return 0;
  }
  return E_NOENT;
}

/** nf_hook_slow: run every entry of `point`. Returns NF_ACCEPT, NF_DROP or NF_STOLEN. */
/** runHooks, without the call when no hook is at `point` (PRE_ROUTING by default). */
@inline export function runHooksIfAny(point: u8): i32 {
  let i = <u32>load<u8>(CTL + CTL_HOOK_FIRST + point);
  if (i >= hookCount() || load<u8>(hookPtr(i), HOOK_POINT) != point) return NF_ACCEPT;
  return runHooks(point);
}

export function runHooks(point: u8): i32 {
  return runHooksFrom(point, <u32>load<u8>(CTL + CTL_HOOK_FIRST + point));
}

/**
 * runHooks for the established packet's two points, LOCAL_IN and POST_ROUTING, when IPVS's entry
 * is the point's first (as hooksInitIpvs puts it, and as it stays unless a user hook goes before
 * it): that entry called directly, counted as callHook counts it, its verdict taken as the walk
 * takes it, the walk going on from the next entry only when it accepts. IPVS's hooks never
 * return NF_REPEAT, so the REPEAT bookkeeping does not apply to them. Anything else: the walk.
 */
@inline export function runHooksIpvsFirst(point: u8): i32 {
  let i = <u32>load<u8>(CTL + CTL_HOOK_FIRST + point);
  if (i >= hookCount()) return NF_ACCEPT;
  let e = hookPtr(i);
  let fn = load<u8>(e, HOOK_FN);
  if (load<u8>(e, HOOK_POINT) != point) return NF_ACCEPT;
  if (point == NF_INET_LOCAL_IN && fn == HOOK_FN_IPVS_IN) {
    hookCounted(e);
    let v = ipvsInHookInline(point);
    if (v == NF_STOLEN) return NF_STOLEN;
    if (v != NF_ACCEPT) return hookEnd(v);
  } else if (point == NF_INET_POST_ROUTING && fn == HOOK_FN_IPVS_POST) {
    hookCounted(e);
    if (ipvsPostHook(point) == NF_STOP) return NF_ACCEPT;
  } else return runHooksFrom(point, i);
  return runHooksFrom(point, i + 1);
}

/** How the walk ends on a verdict other than ACCEPT and REPEAT (nf_hook_slow). */
@inline function hookEnd(v: i32): i32 {
  if (v == NF_STOP) return NF_ACCEPT;
  if (v == NF_DROP || v == NF_QUEUE) { setDrop(CNT_HOOK_DROP); return NF_DROP; }
  return NF_STOLEN;
}

function runHooksFrom(point: u8, first: u32): i32 {
  let n = hookCount();
  for (let i = first; i < n; i++) {
    let e = hookPtr(i);
    if (load<u8>(e, HOOK_POINT) != point) break;
    store<u32>(PKT, 0, PKT_HOOK_REPEATS);
    let v = callHook(e, point);
    while (v == NF_REPEAT) {
      store<u32>(PKT, repeatsSoFar() + 1, PKT_HOOK_REPEATS);
      if (repeatsSoFar() > REPEAT_MAX) { setDrop(CNT_HOOK_REPEAT_LIMIT); return NF_DROP; }
      v = callHook(e, point);
    }
    if (v == NF_ACCEPT) continue;
    return hookEnd(v);
  }
  return NF_ACCEPT;
}
