// Conn life cycle (ip_vs_conn_new, ip_vs_bind_dest, ip_vs_conn_expire, ip_vs_set_state), and the
// control links between a conn and its persistence template (ip_vs_control_add/del,
// ip_vs_check_template: ip_vs_conn.c; the persistence scheduling itself is persist.ts).
import {
  CTL, CTL_NOW, connPtr, connCold, destPtr, CONN_CADDR, CONN_VADDR, COLD_DADDR, CONN_CPORT, CONN_VPORT, CONN_DPORT, CONN_PROTO,
  CONN_AF, CONN_FLAGS, CONN_STATE, CONN_FWD, COLD_SVC, CONN_DEST, CONN_TIMEOUT, CONN_EXPIRES, COLD_CONTROL, DEST_ADDR,
  DEST_PORT, DEST_FWD, DEST_CONN_FLAGS, COLD_LADDR, CTL_FLAGS, DEST_FLAGS, DEST_WEIGHT, COLD_NEXT_TIMER, PKT,
  PKT_CONN_NEW_FAIL, DEST_PERSIST, DEST_ACTIVE, DEST_INACTIVE, DEST_UTHRESH, DEST_LTHRESH, DEST_REFCNT, DEST_USED,
} from "../layout";
import {
  IPPROTO_TCP, IPPROTO_SCTP, CONN_F_INACTIVE, CONN_F_NOOUTPUT, CONN_F_TEMPLATE, CNT_CONN_CREATED, CNT_CONN_EXPIRED,
  CNT_CONN_FULL, CNT_CONN_INDEX_FULL, IP_VS_CONN_F_FULLNAT, DEST_F_AVAILABLE, SET_EXPIRE_QUIESCENT, DEST_TRASH, DEST_F_OVERLOAD,
} from "../defs";
import { laddrBind, laddrUnbind } from "../laddr";
import { sctpNextState, sctpTimeout, SCTP_S_ESTABLISHED } from "../proto/sctp";
import { addrCopy } from "../packet/bytes";
import { TH_ACK, TH_FIN, TH_RST, TH_SYN } from "../packet/iph";
import { connAlloc, connHashIn, connUnhash, connFree, CONN_F_DEAD, CONN_F_HASHED } from "./table";
import { timerAdd, timerDel, timerRequeue, timerDueSteps, timerTake, timerDone } from "./timer";
import { trashRelease } from "../trash";
import { tcpNextState, tcpTimeout, tcpStateActive, DIR_INPUT, DIR_OUTPUT, DIR_INPUT_ONLY, TCP_S_ESTABLISHED } from "../proto/tcp";
import { udpTimeout } from "../proto/udp";
import { cntInc } from "../stats";
import { sharedAdd32, wLock, wUnlock } from "../shared";

@inline export function engineNow(): u32 { return load<u32>(CTL, CTL_NOW); }

// template states (IP_VS_CTPL_S_*), shown by ip_vs_state_name for templates
@inline export const CTPL_S_NONE: u8 = 0;
@inline export const CTPL_S_ASSURED: u8 = 1;

/** Why the last connNew/connNewFull returned 0: CNT_CONN_FULL, or a FULLNAT laddr/port shortage. */
@inline export function connNewFail(): u32 { return load<u32>(PKT, PKT_CONN_NEW_FAIL); }

/** ip_vs_conn_new + ip_vs_bind_dest + ip_vs_bind_xmit. Returns the conn index, 0 when full. */
export function connNew(proto: u8, af: u8, caddr: usize, cport: u16, vaddr: usize, vport: u16, destIdx: u32, svcIdx: u32): u32 {
  let dport = load<u16>(destPtr(destIdx), DEST_PORT);
  return connNewFull(proto, af, caddr, cport, vaddr, vport, dport != 0 ? dport : vport, 0, destIdx, svcIdx);
}

/** ip_vs_conn_new with the dport and extra flags (CONN_F_TEMPLATE) given, as ip_vs_sched_persist calls it. */
export function connNewFull(proto: u8, af: u8, caddr: usize, cport: u16, vaddr: usize, vport: u16, dport: u16, extra: u16, destIdx: u32, svcIdx: u32): u32 {
  let ci = connAlloc();
  if (ci == 0) { store<u32>(PKT, CNT_CONN_FULL, PKT_CONN_NEW_FAIL); return 0; }
  let cp = connPtr(ci), cc = connCold(ci);
  let dest = destPtr(destIdx);
  addrCopy(cp + CONN_CADDR, caddr);
  addrCopy(cp + CONN_VADDR, vaddr);
  addrCopy(cc + COLD_DADDR, dest + DEST_ADDR);
  store<u16>(cp, cport, CONN_CPORT);
  store<u16>(cp, vport, CONN_VPORT);
  store<u16>(cp, dport, CONN_DPORT);
  store<u8>(cp, proto, CONN_PROTO);
  store<u8>(cp, af, CONN_AF);
  let fwd = load<u8>(dest, DEST_FWD);
  store<u8>(cp, fwd, CONN_FWD);
  let flags = <u16>load<u32>(dest, DEST_CONN_FLAGS) | extra;
  store<u16>(cp, flags, CONN_FLAGS);
  store<u16>(cc, <u16>svcIdx, COLD_SVC);
  store<u16>(cp, <u16>destIdx, CONN_DEST);
  store<u8>(cp, 0, CONN_STATE);
  store<u32>(cc, 0, COLD_CONTROL);
  // ip_vs_conn_new: 3 s until the protocol sets the state's timeout
  store<u32>(cp, 3000, CONN_TIMEOUT);
  store<u32>(cp, engineNow() + 3000, CONN_EXPIRES);
  // FULLNAT (dp_vs_laddr_bind): a local address and port before the conn is hashed, as they
  // are its out key; templates have none
  if (fwd == IP_VS_CONN_F_FULLNAT && !(extra & CONN_F_TEMPLATE)) {
    let r = laddrBind(ci, svcIdx);
    if (r != 0) { connFree(ci); store<u32>(PKT, r, PKT_CONN_NEW_FAIL); return 0; }
  }
  if (!connHashIn(ci)) {
    // the conn index's overflow buckets are spent (conn/table.ts): refused, as a full table
    laddrUnbind(ci);
    connFree(ci);
    store<u32>(PKT, CNT_CONN_INDEX_FULL, PKT_CONN_NEW_FAIL);
    return 0;
  }
  destBindConn(destIdx, flags);
  timerAdd(ci);
  cntInc(CNT_CONN_CREATED);
  return ci;
}

/**
 * ip_vs_conn_expire, first step: a template that still controls conns is not expired but
 * kept another 60 s (expire_later). Returns true when the conn was killed.
 */
export function connTryExpire(ci: u32): bool {
  let cp = connPtr(ci);
  if ((load<u16>(cp, CONN_FLAGS) & CONN_F_TEMPLATE) && load<u32>(connCold(ci), COLD_CONTROL) != 0) {
    // the kernel's timer runs at the deadline: count the 60 s from there, not from a late tick
    let now = engineNow();
    let exp = load<u32>(cp, CONN_EXPIRES) + 60000;
    if (<i32>(exp - now) <= 0 || <i32>(exp - now) > 60000) exp = now + 60000;
    store<u32>(cp, 60000, CONN_TIMEOUT);
    store<u32>(cp, exp, CONN_EXPIRES);
    return false;
  }
  connKill(ci);
  return true;
}

/** Unhash, unbind from its dest and mark dead; the timer wheel returns the record to the pool. */
export function connKill(ci: u32): void {
  let cp = connPtr(ci);
  let flags = load<u16>(cp, CONN_FLAGS);
  if (flags & CONN_F_DEAD) return;
  connUnhash(ci);
  if (!(flags & CONN_F_TEMPLATE)) controlDel(ci);    // ip_vs_control_del
  let d = <u32>load<u16>(cp, CONN_DEST);
  if (d != 0) destUnbindConn(d, flags);
  if (load<u16>(connCold(ci), COLD_LADDR) != 0) laddrUnbind(ci);   // its port is free again (it left the out index)
  store<u16>(cp, (load<u16>(cp, CONN_FLAGS) & ~CONN_F_HASHED) | CONN_F_DEAD, CONN_FLAGS);
  cntInc(CNT_CONN_EXPIRED);
}

/** ip_vs_conn_expire_now: gone at once, its record back in the pool. */
export function connExpireNow(ci: u32): void {
  if (load<u16>(connPtr(ci), CONN_FLAGS) & CONN_F_DEAD) return;
  if (!connTryExpire(ci)) { timerRequeue(ci); return; }   // a template with controlled conns
  timerDel(ci);
  connFree(ci);
}

/** Protocol timeout for a state. */
@inline export function stateTimeout(proto: u8, state: u8): u32 {
  return proto == IPPROTO_TCP ? tcpTimeout(state) : proto == IPPROTO_SCTP ? sctpTimeout(state) : udpTimeout();
}

/**
 * Which block of the protocol's state table a packet uses: a NOOUTPUT conn (no reply seen yet:
 * DR/TUN) reads INPUT-ONLY for input, and loses the flag on its first reply (set_tcp_state,
 * set_sctp_state).
 */
function stateBlock(cp: usize, dir: u32): u32 {
  let flags = load<u16>(cp, CONN_FLAGS);
  if (!(flags & CONN_F_NOOUTPUT)) return dir;
  if (dir == DIR_OUTPUT) { store<u16>(cp, flags & ~CONN_F_NOOUTPUT, CONN_FLAGS); return dir; }
  return DIR_INPUT_ONLY;
}

/** A state change: move the conn between its dest's ActiveConn and InActConn as `active` says. */
function changeState(ci: u32, cp: usize, ns: u8, active: bool, established: bool): void {
  let flags = load<u16>(cp, CONN_FLAGS);
  let d = <u32>load<u16>(cp, CONN_DEST);
  if (d != 0) {
    if (!(flags & CONN_F_INACTIVE) && !active) {
      destSetInactive(d, true);
      store<u16>(cp, flags | CONN_F_INACTIVE, CONN_FLAGS);
    } else if ((flags & CONN_F_INACTIVE) && active) {
      destSetInactive(d, false);
      store<u16>(cp, flags & ~CONN_F_INACTIVE, CONN_FLAGS);
    }
  }
  store<u8>(cp, ns, CONN_STATE);
  if (established) controlAssure(ci);
}

/** ip_vs_set_state → pp->state_transition, then the timer is renewed (ip_vs_conn_put). */
export function connSetState(ci: u32, dir: u32, tcpFlags: u8): void {
  let cp = connPtr(ci);
  let proto = load<u8>(cp, CONN_PROTO);
  let timeout: u32;
  if (proto == IPPROTO_TCP) {
    let old = load<u8>(cp, CONN_STATE);
    if (estPlainAck(old, tcpFlags)) {
      // the established conn's ACK: sES + ack -> sES in every block of tcp_states and
      // tcp_states_dos, so only the timer is renewed; the block is still chosen for its one
      // side effect (a reply clears NOOUTPUT, stateBlock)
      if (dir == DIR_OUTPUT) stateBlock(cp, dir);
      timeout = tcpTimeout(TCP_S_ESTABLISHED);
    } else {
      let ns = tcpNextState(stateBlock(cp, dir), old, tcpFlags);
      if (ns != old) changeState(ci, cp, ns, tcpStateActive(ns), ns == TCP_S_ESTABLISHED);
      timeout = tcpTimeout(ns);
    }
  } else if (proto == IPPROTO_SCTP) {
    // set_sctp_state: `tcpFlags` carries the chunk event here (proto/sctp.ts sctpEvent)
    let old = load<u8>(cp, CONN_STATE);
    let ns = sctpNextState(stateBlock(cp, dir), old, tcpFlags);
    if (ns != old) changeState(ci, cp, ns, ns == SCTP_S_ESTABLISHED, ns == SCTP_S_ESTABLISHED);
    timeout = sctpTimeout(ns);
  } else {
    timeout = udpTimeout();
    if (dir == DIR_OUTPUT) controlAssure(ci);
  }
  connRenew(ci, cp, timeout);
}

/** The timer renewed for `timeout` ms from now (ip_vs_conn_put after a state transition). */
@inline function connRenew(ci: u32, cp: usize, timeout: u32): void {
  let old = load<u32>(cp, CONN_EXPIRES);
  let exp = engineNow() + timeout;
  store<u32>(cp, timeout, CONN_TIMEOUT);
  store<u32>(cp, exp, CONN_EXPIRES);
  // queued for a later deadline (the old state's longer timeout): move it up now
  if (<i32>(exp - old) < 0) timerRequeue(ci);
}

/** An ESTABLISHED TCP conn's plain ACK (no RST, SYN or FIN): sES stays sES in every block of both tables. */
@inline function estPlainAck(state: u8, tcpFlags: u8): bool {
  return state == TCP_S_ESTABLISHED && (tcpFlags & (TH_RST | TH_SYN | TH_FIN | TH_ACK)) == TH_ACK;
}

/**
 * connSetState for a client's packet (DIR_INPUT; cp: conn ci's record) of protocol `proto` (the packet's, equal to the
 * conn's: the lookup matched it), inlined where every packet in calls it (core.ts ipvsInHook):
 * an ESTABLISHED TCP conn's plain ACK only renews the timer (the same case connSetState takes
 * first, without its call); everything else is connSetState's.
 */
@inline export function connSetStateIn(ci: u32, cp: usize, proto: u8, tcpFlags: u8): void {
  if (proto == IPPROTO_TCP && estPlainAck(load<u8>(cp, CONN_STATE), tcpFlags)) connRenew(ci, cp, tcpTimeout(TCP_S_ESTABLISHED));
  else connSetState(ci, DIR_INPUT, tcpFlags);
}

/** Renew the timer without a state change (packets of protocols without states). */
@inline export function connTouch(ci: u32): void {
  let cp = connPtr(ci);
  store<u32>(cp, engineNow() + load<u32>(cp, CONN_TIMEOUT), CONN_EXPIRES);
}

/** ip_vs_control_add: cp is controlled by template ct. */
@inline export function controlAdd(ci: u32, ct: u32): void {
  store<u32>(connCold(ci), ct, COLD_CONTROL);
  let t = connCold(ct);
  store<u32>(t, load<u32>(t, COLD_CONTROL) + 1, COLD_CONTROL);
}

/** ip_vs_control_del: cp leaves its template (called when cp expires). */
export function controlDel(ci: u32): void {
  let cc = connCold(ci);
  let ct = load<u32>(cc, COLD_CONTROL);
  if (ct == 0) return;
  store<u32>(cc, 0, COLD_CONTROL);
  let t = connCold(ct);
  let n = load<u32>(t, COLD_CONTROL);
  if (n != 0) store<u32>(t, n - 1, COLD_CONTROL);
}

/** ip_vs_control_assure_ct: a controlled conn was confirmed; its template becomes ASSURED. */
export function controlAssure(ci: u32): void {
  let cp = connPtr(ci);
  if (load<u16>(cp, CONN_FLAGS) & CONN_F_TEMPLATE) return;
  let ct = load<u32>(connCold(ci), COLD_CONTROL);
  if (ct == 0) return;
  let t = connPtr(ct);
  if (!(load<u16>(t, CONN_FLAGS) & CONN_F_TEMPLATE) || (load<u8>(t, CONN_STATE) & CTPL_S_ASSURED)) return;
  wLock();   // the template is shared by every worker's conns (worker.ts)
  store<u8>(t, load<u8>(t, CONN_STATE) | CTPL_S_ASSURED, CONN_STATE);
  wUnlock();
}

/**
 * ip_vs_check_template: is the template's dest still usable? If not (deleted, or quiesced with
 * expire_quiescent_template) the template is invalidated: rehashed with ports 0xffff so no
 * packet finds it again; it stays listed until it expires. The timer is not restarted.
 */
export function checkTemplate(ct: u32): bool {
  let t = connPtr(ct);
  let d = <u32>load<u16>(t, CONN_DEST);
  if (d != 0) {
    let dest = destPtr(d);
    let ok = (load<u8>(dest, DEST_FLAGS) & DEST_F_AVAILABLE) != 0;
    if (ok && (load<u32>(CTL, CTL_FLAGS) & SET_EXPIRE_QUIESCENT) && load<i32>(dest, DEST_WEIGHT) == 0) ok = false;
    if (ok) return true;
  }
  if (load<u16>(t, CONN_VPORT) != 0xffff) {
    connUnhash(ct);
    store<u16>(t, 0xffff, CONN_DPORT);
    store<u16>(t, 0xffff, CONN_VPORT);
    store<u16>(t, 0, CONN_CPORT);
    // no overflow bucket left: it stays out of the index, which is what invalidating it asks
    // (no packet finds it); it is then unlisted too, until its timer frees it
    if (!connHashIn(ct)) cntInc(CNT_CONN_INDEX_FULL);
  }
  return false;
}

/** connTryExpire under the director's lock: it unbinds the dest, its template, its laddr port (shared.ts). */
function expireLocked(ci: u32): bool {
  wLock();
  let killed = connTryExpire(ci);
  wUnlock();
  return killed;
}

/**
 * The timer wheel's tick (timer.ts keeps the wheel; each conn's timer runs ip_vs_conn_expire):
 * every conn whose deadline is ≤ now expires. Returns how many expired.
 */
export function connExpireTick(now: u32): u32 {
  let steps = timerDueSteps(now);
  if (steps < 0) return 0;                         // clock went backwards: nothing is due
  let expired: u32 = 0;
  for (let k: u32 = 0; k <= <u32>steps; k++) {
    let ci = timerTake(k);                         // the list is detached: walk it on its own
    while (ci != 0) {
      let cp = connPtr(ci);
      let next = load<u32>(connCold(ci), COLD_NEXT_TIMER);
      if (load<u16>(cp, CONN_FLAGS) & CONN_F_DEAD) {
        connFree(ci);
      } else if (<i32>(now - load<u32>(cp, CONN_EXPIRES)) >= 0 && expireLocked(ci)) {
        connFree(ci);
        expired++;
      } else {                                     // not due, or a template kept on (expire_later)
        timerAdd(ci);
      }
      ci = next;
    }
  }
  timerDone(now);
  return expired;
}

// ---- dest binding (ip_vs_bind_dest / ip_vs_unbind_dest: ip_vs_conn.c) ------------------------

/** Totals as ip_vs_dest_totalconns. */
@inline export function destTotalConns(dest: usize): u32 {
  return load<u32>(dest, DEST_ACTIVE) + load<u32>(dest, DEST_INACTIVE);
}

/** ip_vs_bind_dest: the conn counts in its dest (active, inactive or persistent) and holds it. */
export function destBindConn(d: u32, connFlags: u16): void {
  let dest = destPtr(d);
  // the counts also move on other workers' state changes (destSetInactive): atomic adds
  sharedAdd32(dest + DEST_REFCNT, 1);
  if (connFlags & CONN_F_TEMPLATE) sharedAdd32(dest + DEST_PERSIST, 1);
  else if (connFlags & CONN_F_INACTIVE) sharedAdd32(dest + DEST_INACTIVE, 1);
  else sharedAdd32(dest + DEST_ACTIVE, 1);
  let u = load<u32>(dest, DEST_UTHRESH);
  if (u != 0 && destTotalConns(dest) >= u) store<u8>(dest, load<u8>(dest, DEST_FLAGS) | DEST_F_OVERLOAD, DEST_FLAGS);
}

/** ip_vs_unbind_dest: the conn leaves its dest; a deleted dest leaves the trash with its last conn. */
export function destUnbindConn(d: u32, connFlags: u16): void {
  let dest = destPtr(d);
  if (connFlags & CONN_F_TEMPLATE) sharedAdd32(dest + DEST_PERSIST, -1);
  else if (connFlags & CONN_F_INACTIVE) sharedAdd32(dest + DEST_INACTIVE, -1);
  else sharedAdd32(dest + DEST_ACTIVE, -1);
  let l = load<u32>(dest, DEST_LTHRESH);
  let u = load<u32>(dest, DEST_UTHRESH);
  let fl = load<u8>(dest, DEST_FLAGS);
  if (l != 0) {
    if (destTotalConns(dest) < l) fl &= ~DEST_F_OVERLOAD;
  } else if (u != 0) {
    if (destTotalConns(dest) * 4 < u * 3) fl &= ~DEST_F_OVERLOAD;
  } else {
    fl &= ~DEST_F_OVERLOAD;
  }
  store<u8>(dest, fl, DEST_FLAGS);
  sharedAdd32(dest + DEST_REFCNT, -1);
  let rc = load<u32>(dest, DEST_REFCNT);
  if (rc == 0 && load<u8>(dest, DEST_USED) == DEST_TRASH) trashRelease(d);
}

/** Move a bound conn between activeconns and inactconns (set_tcp_state). */
export function destSetInactive(d: u32, inactive: bool): void {
  let dest = destPtr(d);
  // on the fast path, without the lock: atomic adds (the scheduler may read them meanwhile)
  if (inactive) {
    sharedAdd32(dest + DEST_ACTIVE, -1);
    sharedAdd32(dest + DEST_INACTIVE, 1);
  } else {
    sharedAdd32(dest + DEST_ACTIVE, 1);
    sharedAdd32(dest + DEST_INACTIVE, -1);
  }
}
