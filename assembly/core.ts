// The IPVS packet path (ip_vs_core.c): ip_vs_in_hook (client→VIP: find or schedule a conn,
// then forward it), ip_vs_out_hook (real server→client: un-NAT), ip_vs_in_icmp /
// ip_vs_out_icmp (ICMP errors quoting one of our conns). hooks.ts calls them; batch.ts walks
// every slot through the hook points.
import {
  CTL, CTL_FLAGS, CONN_FLAGS, PKT_I_SADDR, PKT_I_DADDR, connPtr, destPtr, svcPtr, CONN_DEST, CONN_STATE, CONN_FWD,
  CONN_PROTO, COLD_CONTROL, connCold, SVC_FLAGS, SVC_FWMARK, SVC_VPORT, DEST_FLAGS, DEST_WEIGHT, PKT,
} from "./layout";
import {
  NF_ACCEPT, NF_DROP, NF_STOLEN, NF_STOP, V_LOCAL, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP,
  IPPROTO_ICMPV6, AF_INET, DEST_F_AVAILABLE, SET_EXPIRE_NODEST, SET_ICMP_ECHO, SET_CONN_REUSE, SET_CONN_REUSE_2,
  SET_SLOPPY_TCP, SET_SLOPPY_SCTP, SVC_F_ONEPACKET, SVC_F_PERSISTENT, CONN_F_NOOUTPUT, CONN_F_ONE_PACKET,
  SET_LOCAL_ANSWERS, CNT_NO_DEST, CNT_DEST_UNAVAILABLE, CNT_CONN_REUSED, CNT_ICMP_XLATE, CNT_BAD_L4, CNT_NO_CONN,
  CNT_CONN_FULL, CNT_DEFENSE_DROP_PACKET,
  SVC_F_SYNPROXY, CONN_F_SYNPROXY, CNT_METHOD_UNSUPPORTED,
} from "./defs";
import {
  parseInner, pL4, pL4Len, pLen, pAf, pProto, pSport, pDport, pTcpFlags, pIcmpType, pktSaddr, pktDaddr, iProto, iSport,
  iDport, TH_SYN, TH_RST, TH_ACK, TH_FIN, pSegs, pSegsLen, pGsoUdp,
} from "./packet/iph";
import { synproxySyn, synproxyCheck, synproxyOpen, synproxyIn, synproxyOut, synproxyIcmpIn } from "./synproxy";
import { connInGet, connInGetInline, connOutGet } from "./conn/table";
import { connNew, connExpireNow, connSetState, connSetStateIn, connNewFail } from "./conn/conn";
import { svcFindPkt } from "./ctl";
import { isVip } from "./route";
import { schedPersist, persistFull, persistDest } from "./persist";
import { schedSchedule } from "./sched/registry";
import { xmitIn, xmitInInline, xmitIcmpIn, xmitOut, xmitIcmpOut, xmitTranslatesOut } from "./xmit/registry";
import { icmpCsumOk } from "./xmit/common";
import { sctpEvent, SCTP_S_CLOSED, SCTP_CID_INIT, SCTP_CID_ABORT } from "./proto/sctp";
import { icmpPortUnreach, icmpEchoReply } from "./xmit/icmp";
import { localAnswer } from "./xmit/local";
import { TCP_S_TIME_WAIT, TCP_S_CLOSE, TCP_S_FIN_WAIT, TCP_S_SYN_RECV, DIR_OUTPUT } from "./proto/tcp";
import { cntInc, statsIn, statsOut, statsConn } from "./stats";
import { setDrop, setPktConn, pktConn, pktMark, verdict, ipvsProperty } from "./pkt";
import { wLock, wUnlock } from "./shared";
import { syncConnIn, syncMaster } from "./sync";
import { defenseToDrop, hopenPush, hopenReclaim } from "./defense";

@inline const FTPDATA: u16 = 0x1400;   // htons(20)

@inline function flag(f: u32): bool { return (load<u32>(CTL, CTL_FLAGS) & f) != 0; }

// ---- ip_vs_in_hook -----------------------------------------------------------------------------

/** is_new_conn_expected: may a SYN (an INIT) on this old conn start a new one (conn_reuse_mode)? */
function isNewConnExpected(ci: u32): bool {
  let cp = connPtr(ci);
  if (load<u32>(connCold(ci), COLD_CONTROL) != 0) return false;   // controlled (persistence): kept
  let st = load<u8>(cp, CONN_STATE);
  let proto = load<u8>(cp, CONN_PROTO);
  if (proto == IPPROTO_SCTP) return st == SCTP_S_CLOSED;
  if (proto != IPPROTO_TCP) return false;
  return st == TCP_S_TIME_WAIT || st == TCP_S_CLOSE ||
    (flag(SET_CONN_REUSE_2) && st == TCP_S_FIN_WAIT && (load<u16>(cp, CONN_FLAGS) & CONN_F_NOOUTPUT) != 0);
}

/** The first chunk's type of the current SCTP packet (parse made sure there is one). */
@inline function sctpChunk(): u8 { return load<u8>(pL4(), 12); }

/** is_new_conn: a TCP SYN, an SCTP INIT. */
@inline function isNewConn(proto: u8): bool {
  return proto == IPPROTO_TCP ? (pTcpFlags() & TH_SYN) != 0 : proto == IPPROTO_SCTP && sctpChunk() == SCTP_CID_INIT;
}

/** What the protocol's state transition reads from the packet: TCP flags, the SCTP event. */
@inline function stateInput(proto: u8): u8 {
  return proto == IPPROTO_SCTP ? sctpEvent(pL4(), pL4Len()) : pTcpFlags();
}

@inline function isIpvsProto(p: u8): bool { return p == IPPROTO_TCP || p == IPPROTO_UDP || p == IPPROTO_SCTP; }

export function ipvsInHook(point: u8): i32 { return ipvsInHookInline(point); }

/** ipvsInHook, inlined where LOCAL_IN calls IPVS first (hooks.ts runHooksIpvsFirst: every packet in). */
@inline export function ipvsInHookInline(point: u8): i32 {
  if (ipvsProperty()) return NF_ACCEPT;
  let proto = pProto();   // read once (the packet's protocol does not change here)
  if (proto != IPPROTO_TCP) {   // (TCP first: one compare on the common way)
    if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) return ipvsInIcmp();
    if (!isIpvsProto(proto)) return NF_ACCEPT;   // no ip_vs_protocol
  }

  let ci = connInGetInline(proto, pktSaddr(), pSport(), pktDaddr(), pDport());

  // a SYN (INIT) on an existing conn: reschedule when the old one is finished (conn_reuse_mode)
  // or its server was quiesced and expire_nodest_conn is on
  if (ci != 0 && proto != IPPROTO_UDP && isNewConn(proto)) {
    let d = <u32>load<u16>(connPtr(ci), CONN_DEST);
    let resched = false;
    if (flag(SET_EXPIRE_NODEST) && d != 0 && load<i32>(destPtr(d), DEST_WEIGHT) == 0) resched = true;
    // any non-zero conn_reuse_mode enables it (mode 2 behaves like 3, recorded from 6.1)
    else if (flag(SET_CONN_REUSE | SET_CONN_REUSE_2) && isNewConnExpected(ci)) resched = true;
    if (resched) { wLock(); connExpireNow(ci); wUnlock(); cntInc(CNT_CONN_REUSED); ci = 0; }
  }

  // the server of this conn was deleted: expire_nodest_conn reschedules, otherwise drop
  if (ci != 0) {
    let d = <u32>load<u16>(connPtr(ci), CONN_DEST);
    if (d != 0 && !(load<u8>(destPtr(d), DEST_FLAGS) & DEST_F_AVAILABLE)) {
      if (flag(SET_EXPIRE_NODEST)) { wLock(); connExpireNow(ci); wUnlock(); ci = 0; }
      else { setDrop(CNT_DEST_UNAVAILABLE); return NF_DROP; }
    }
  }

  // a synproxy service's handshake (synproxy.ts): a SYN gets a cookie and no conn, an ACK with a
  // valid cookie schedules as a SYN would (spOpts: its options), a bad one is the local stack's
  let spOpts: u32 = 0;
  let siKnown = false, si: u32 = 0;     // the service, when looked up here: inSchedule takes it
  if (ci == 0 && proto == IPPROTO_TCP && !(pTcpFlags() & (TH_RST | TH_FIN))) {
    si = svcFindPkt(pktMark(), pAf(), proto, pktDaddr(), pDport());
    siKnown = true;
    if (si != 0 && (load<u32>(svcPtr(si), SVC_FLAGS) & SVC_F_SYNPROXY) && pSport() != FTPDATA) {
      if ((pTcpFlags() & (TH_SYN | TH_ACK)) == TH_SYN) return synproxySyn();
      if ((pTcpFlags() & (TH_SYN | TH_ACK)) == TH_ACK) {
        spOpts = synproxyCheck();
        if (spOpts == 0) return NF_ACCEPT;
      }
    }
  }

  let created = false;
  if (ci == 0) {
    // checked before the lock, so floods of strays never take it (a cookie ACK schedules as a SYN)
    if (spOpts == 0 && !mayStartConn()) { cntInc(CNT_NO_CONN); return NF_ACCEPT; }
    // a new conn: scheduled under the director's lock (the kernel's sched_lock, the template
    // table's lock), so every worker's new conns see one scheduler sequence (shared.ts)
    wLock();
    let rv = inSchedule(siKnown && spOpts == 0, si);   // (services change only with the workers parked)
    wUnlock();
    if (rv >= 0) return rv;
    ci = pktConn();
    created = true;
    if (spOpts != 0) {
      // syn_proxy_send_rs_syn: the ACK goes on as the SYN to the real server
      statsIn(connPtr(ci), pSegsLen(), pSegs());
      let why = synproxyOpen(ci, spOpts);
      if (why != 0) {
        wLock(); connExpireNow(ci); wUnlock();
        setPktConn(0); setDrop(why); return NF_DROP;
      }
      let sv = xmitIn(ci);
      syncConnIn(ci);
      return sv;
    }
  } else if (proto == IPPROTO_TCP && (load<u16>(connPtr(ci), CONN_FLAGS) & CONN_F_SYNPROXY)) {
    let v = synproxyIn(ci);
    if (v != NF_ACCEPT) { setPktConn(ci); return v; }
  }
  setPktConn(ci);
  let cp = connPtr(ci);   // once: the conn table's base is a global V8 reloads at every use
  // a UDP super-packet counts its datagrams; anything else is one packet of pLen bytes
  if (pGsoUdp()) statsIn(cp, pSegsLen(), pSegs());
  else statsIn(cp, pLen());
  connSetStateIn(ci, cp, proto, stateInput(proto));
  // a conn this SYN made, half-open until the client answers: the ring a full table reclaims from
  if (created && proto == IPPROTO_TCP && load<u8>(cp, CONN_STATE) == TCP_S_SYN_RECV) hopenPush(ci);
  let rv = xmitInInline(ci, cp);
  let one = load<u16>(cp, CONN_FLAGS) & CONN_F_ONE_PACKET;
  // ip_vs_in: in_pkts, and the master's ip_vs_sync_conn (nothing to do for a plain conn without sync)
  if (one || syncMaster()) syncConnIn(ci);
  // ip_vs_conn_put: a one-packet conn (UDP on an -o service) expires as soon as it is sent; the
  // kernel does not even hash it (ip_vs_conn_hash), so the next datagram is scheduled anew and
  // the table never holds it. The packet reports no conn: there is none left.
  if (one) { wLock(); connExpireNow(ci); wUnlock(); setPktConn(0); }
  return rv;
}

/**
 * tcp_conn_schedule: only a SYN (or anything, with sloppy_tcp) that is not a RST schedules;
 * sctp_conn_schedule: only an INIT (or any chunk but ABORT, with sloppy_sctp); UDP: anything.
 */
function mayStartConn(): bool {
  if (pProto() == IPPROTO_TCP && ((pTcpFlags() & TH_RST) || !(flag(SET_SLOPPY_TCP) || (pTcpFlags() & TH_SYN)))) return false;
  if (pProto() == IPPROTO_SCTP && (sctpChunk() == SCTP_CID_ABORT || !(flag(SET_SLOPPY_SCTP) || sctpChunk() == SCTP_CID_INIT))) return false;
  return true;
}

/**
 * The new-conn half of ip_vs_in_hook (ip_vs_schedule), under the director's lock: -1 with the
 * new conn in the packet record (pktConn), or the verdict to return.
 */
function inSchedule(siKnown: bool, si: u32): i32 {
  let ci: u32 = 0;
  if (!siKnown) si = svcFindPkt(pktMark(), pAf(), pProto(), pktDaddr(), pDport());
  if (si == 0) return NF_ACCEPT;
  // *_conn_schedule: drop_packet's ip_vs_todrop, before the scheduler ("we are very loaded")
  if (defenseToDrop()) { setDrop(CNT_DEFENSE_DROP_PACKET); return NF_DROP; }
  // ip_vs_schedule: active FTP data from port 20 is never scheduled
  if (pSport() == FTPDATA) return NF_ACCEPT;
  let svc = svcPtr(si);
  let di: u32 = 0;
  if (load<u32>(svc, SVC_FLAGS) & SVC_F_PERSISTENT) {
    // ip_vs_sched_persist: the client's template decides the dest (persist.ts)
    ci = schedPersist(si, pProto(), pAf(), pktSaddr(), pSport(), pktDaddr(), pDport());
    // a full table: the oldest half-open conn makes room (defense.ts), then once more; twice
    // when both the template and its conn need a record
    for (let k = 0; k < 2 && ci == 0 && persistFull() && connNewFail() == CNT_CONN_FULL && hopenReclaim(); k++) {
      ci = schedPersist(si, pProto(), pAf(), pktSaddr(), pSport(), pktDaddr(), pDport());
    }
    if (ci == 0 && persistFull()) { setDrop(connNewFail()); return NF_DROP; }
    di = persistDest();
  } else if (load<u32>(svc, SVC_FWMARK) != 0 || pDport() == load<u16>(svc, SVC_VPORT)) {
    di = schedSchedule(si);   // a non-persistent port-zero service schedules nothing
  }
  if (di == 0) {
    // ip_vs_leave: no server — tell the client with a port unreachable, drop the packet
    setDrop(CNT_NO_DEST);
    icmpPortUnreach();
    if (verdict() == V_LOCAL) cntInc(CNT_NO_DEST);   // a plain drop (no headroom) is counted by finish()
    return NF_STOLEN;
  }
  if (ci == 0) {
    ci = connNew(pProto(), pAf(), pktSaddr(), pSport(), pktDaddr(), pDport(), di, si);
    if (ci == 0 && connNewFail() == CNT_CONN_FULL && hopenReclaim()) {
      ci = connNew(pProto(), pAf(), pktSaddr(), pSport(), pktDaddr(), pDport(), di, si);
    }
  }
  if (ci == 0) { setDrop(connNewFail()); return NF_DROP; }
  if ((load<u32>(svcPtr(si), SVC_FLAGS) & SVC_F_ONEPACKET) && pProto() == IPPROTO_UDP) {
    store<u16>(connPtr(ci), load<u16>(connPtr(ci), CONN_FLAGS) | CONN_F_ONE_PACKET, CONN_FLAGS);
  }
  statsConn(di, si);
  setPktConn(ci);
  return -1;
}

/** ip_vs_in_icmp: an ICMP error from a client about a reply of one of our conns. */
function ipvsInIcmp(): i32 {
  if (!isIcmpError()) return NF_ACCEPT;           // not related: echo etc. go on
  if (parseInner() != 0) return NF_ACCEPT;        // the quoted packet is unusable: not ours
  if (!isIpvsProto(iProto())) return NF_ACCEPT;
  // the quoted packet went VIP→client: look the conn up inverted
  let ci = connInGet(iProto(), PKT + PKT_I_DADDR, iDport(), PKT + PKT_I_SADDR, iSport());
  if (ci == 0) return NF_ACCEPT;
  if (!icmpCsumOk()) { setDrop(CNT_BAD_L4); return NF_DROP; }
  setPktConn(ci);
  statsIn(connPtr(ci), pLen());
  cntInc(CNT_ICMP_XLATE);
  if (load<u16>(connPtr(ci), CONN_FLAGS) & CONN_F_SYNPROXY) synproxyIcmpIn(ci);
  return xmitIcmpIn(ci);
}

/** ICMP types that quote an offending datagram (ip_vs_in_icmp / ip_vs_out_icmp accept these). */
function isIcmpError(): bool {
  if (pAf() == AF_INET) return pIcmpType() == 3 || pIcmpType() == 4 || pIcmpType() == 11;
  return pIcmpType() < 128 && (pIcmpType() == 1 || pIcmpType() == 2 || pIcmpType() == 3 || pIcmpType() == 4);
}

// ---- ip_vs_out_hook ------------------------------------------------------------------------------

export function ipvsOutHook(point: u8): i32 {
  if (ipvsProperty()) return NF_ACCEPT;
  if (pProto() == IPPROTO_ICMP || pProto() == IPPROTO_ICMPV6) return ipvsOutIcmp();
  if (!isIpvsProto(pProto())) return NF_ACCEPT;
  let ci = connOutGet(pProto(), pktSaddr(), pSport(), pktDaddr(), pDport());
  // DR and tunnel conns: 6.1 takes a reply that comes back through the director from the VIP
  // (the real server answers from it) as the conn's output — OutPkts, the OUTPUT state
  // transitions — and not one from the real server's own address (recorded:
  // test/golden/kernel/recorded/local-answers, steps 22-23, with accept_local=1; with the
  // default accept_local=0 the kernel's routing drops such a reply as a martian before IPVS)
  if (ci != 0 && !xmitTranslatesOut(load<u8>(connPtr(ci), CONN_FWD))) ci = 0;
  if (ci == 0) {
    ci = connInGet(pProto(), pktDaddr(), pDport(), pktSaddr(), pSport());
    if (ci == 0 || xmitTranslatesOut(load<u8>(connPtr(ci), CONN_FWD))) return NF_ACCEPT;
  }
  return handleResponse(ci);
}

/** handle_response: SNAT for NAT (FULLNAT) conns, then stats and the OUTPUT state transition. */
function handleResponse(ci: u32): i32 {
  setPktConn(ci);
  if (pProto() == IPPROTO_TCP && (load<u16>(connPtr(ci), CONN_FLAGS) & CONN_F_SYNPROXY)) {
    let sv = synproxyOut(ci);   // the server's SYN-ACK becomes the client's window update
    if (sv != NF_ACCEPT) return sv;
  }
  let ev = stateInput(pProto());     // read before the rewrite (its CRC is recomputed, not its chunks)
  let v = xmitOut(ci);
  if (v != NF_ACCEPT) return v;
  statsOut(ci, pSegsLen(), pSegs());
  connSetState(ci, DIR_OUTPUT, ev);
  ipvsPropertySet();
  return NF_ACCEPT;
}

/** ip_vs_out_icmp: an ICMP error from a real server about a packet of one of our conns. */
function ipvsOutIcmp(): i32 {
  if (!isIcmpError()) return NF_ACCEPT;
  if (parseInner() != 0) return NF_ACCEPT;
  if (!isIpvsProto(iProto())) return NF_ACCEPT;
  // the quoted packet went client→real server: the out lookup, inverted
  let ci = connOutGet(iProto(), PKT + PKT_I_DADDR, iDport(), PKT + PKT_I_SADDR, iSport());
  if (ci == 0) return NF_ACCEPT;
  setPktConn(ci);
  if (!xmitTranslatesOut(load<u8>(connPtr(ci), CONN_FWD))) { statsOut(ci, pLen()); ipvsPropertySet(); return NF_ACCEPT; }
  let v = xmitIcmpOut(ci);
  if (v != NF_ACCEPT) return v;
  statsOut(ci, pLen());
  cntInc(CNT_ICMP_XLATE);
  ipvsPropertySet();
  return NF_ACCEPT;
}

/** ip_vs_forward_icmp: errors for incoming conns routed through us (relevant with DR/TUN). */
export function ipvsForwardIcmpHook(point: u8): i32 {
  if (ipvsProperty()) return NF_ACCEPT;
  if (pProto() != IPPROTO_ICMP && pProto() != IPPROTO_ICMPV6) return NF_ACCEPT;
  if (!isIcmpError()) return NF_ACCEPT;
  if (parseInner() != 0) return NF_ACCEPT;
  if (!isIpvsProto(iProto())) return NF_ACCEPT;
  let ci = connInGet(iProto(), PKT + PKT_I_DADDR, iDport(), PKT + PKT_I_SADDR, iSport());
  if (ci == 0) return NF_ACCEPT;
  // NAT conns' errors from the real-server side are ip_vs_out_icmp's; only non-NAT here
  if (xmitTranslatesOut(load<u8>(connPtr(ci), CONN_FWD))) return NF_ACCEPT;
  if (!icmpCsumOk()) { setDrop(CNT_BAD_L4); return NF_DROP; }
  setPktConn(ci);
  statsIn(connPtr(ci), pLen());
  return xmitIcmpIn(ci);
}

/**
 * The director's local stack for TCP and UDP to a VIP that IPVS left alone (tcp_v4_rcv /
 * __udp4_lib_rcv without a socket): a RST, an ICMP port unreachable (xmit/local.ts).
 */
export function localStackHook(point: u8): i32 {
  if (!flag(SET_LOCAL_ANSWERS) || !isVip(pktDaddr())) return NF_ACCEPT;
  if (pProto() != IPPROTO_TCP && pProto() != IPPROTO_UDP) return NF_ACCEPT;
  return localAnswer() ? NF_STOLEN : NF_ACCEPT;
}

/** Packets IPVS produced stop here: later POST_ROUTING hooks do not see them. */
export function ipvsPostHook(point: u8): i32 {
  return ipvsProperty() ? NF_STOP : NF_ACCEPT;
}

/** The local stack's echo responder for VIPs (an IPVS director answers pings to its VIP). */
export function icmpEchoHook(point: u8): i32 {
  if (!flag(SET_ICMP_ECHO)) return NF_ACCEPT;
  if (pProto() != IPPROTO_ICMP && pProto() != IPPROTO_ICMPV6) return NF_ACCEPT;
  if (!icmpEchoReply()) return NF_ACCEPT;
  return NF_STOLEN;
}

@inline function ipvsPropertySet(): void { ipvsPropertySetImpl(); }
import { setIpvsProperty as ipvsPropertySetImpl } from "./pkt";
