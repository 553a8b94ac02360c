// The IPVS packet path (ip_vs_core.c): ip_vs_in_hook (client→VIP: find or schedule a conn,
// then forward it), ip_vs_out_hook (real server→client: un-NAT), ip_vs_in_icmp /
// ip_vs_out_icmp (ICMP errors quoting one of our conns), and the batch loop that walks every
// slot through the hook points.
import { ipOutput, finishOutput } from "./xmit/output";
import {
  CTL, CTL_FLAGS, CONN_FLAGS, CTL_NOW, CTL_CLOCK_BASE, CTL_CLOCK_SET, CTL_INNER_SADDR, CTL_INNER_DADDR, slotCount, slotMeta, slotBase,
  slotSize, SCRATCH, linkType, linkVnet, SLOT_OFF, SLOT_LEN, SLOT_VERDICT, SLOT_REASON, SLOT_CONN, connPtr, destPtr, svcPtr,
  CONN_DEST, CONN_STATE, CONN_FWD, CONN_PROTO, CONN_CONTROL, SVC_FLAGS, SVC_FWMARK, SVC_VPORT, DEST_FLAGS, DEST_WEIGHT,
} from "./layout";
import {
  NF_ACCEPT, NF_DROP, NF_STOLEN, NF_STOP, V_DROP, V_XMIT, V_LOCAL, V_PASS, V_STOLEN, CNT_GSO, CNT_NO_HEADROOM, CNT_TRUNCATED,
  NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_POST_ROUTING,
  IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP, IPPROTO_ICMPV6, AF_INET, DEST_F_AVAILABLE,
  SET_PASS_MALFORMED, SET_EXPIRE_NODEST, SET_ICMP_ECHO, SET_CONN_REUSE, SET_CONN_REUSE_2, SET_SLOPPY_TCP, SET_SLOPPY_SCTP,
  SVC_F_ONEPACKET, SVC_F_PERSISTENT, CONN_F_NOOUTPUT, CONN_F_ONE_PACKET, SET_LOCAL_ANSWERS, SET_ROUTED_LINK, CNT_LOCAL_NOT_TAKEN,
  CNT_RX, CNT_TX, CNT_LOCAL, CNT_PASS, CNT_DROP, CNT_NOT_IP, CNT_CONN_FULL, CNT_NO_DEST, CNT_DEST_UNAVAILABLE,
  CNT_CONN_REUSED, CNT_ICMP_XLATE, CNT_BAD_L4, CNT_NO_CONN, CNT_BAD_SLOT, CNT_FRAGMENT, CNT_BAD_VNET_HDR, CNT_REASM_NO_ROOM, CNT_REASM_HELD, CNT_REASM_PASSED,
} from "./defs";
import { REASM } from "./layout";
import { defragIn, defragReset, defragTick, defragReason, reasmFrame, reasmLen, DEFRAG_HELD, DEFRAG_DROP, DEFRAG_PASS } from "./packet/defrag";
import {
  parseFrame, parseInner, pFrame, pL4, pL4Len, pL3, pLen, pAf, pProto, pSport, pDport, pTcpFlags, pIcmpType, pktSaddr, pktDaddr,
  iProto, iSport, iDport, TH_SYN, TH_RST, pGso, pCsumPartial, VNET_HDR_LEN, parseVnet, resetVnet, parseFragmentAsPacket,
} from "./packet/iph";
import { connInGet, connOutGet, connHashFolded, connPrefetch, connCount } from "./conn/table";
import { connNew, connExpireNow, connSetState, connNewFail } from "./conn/conn";
import { timerTick } from "./conn/timer";
import { svcFindPkt, isVip, isMarkSvc } from "./ctl";
import { schedPersist, persistFull, persistDest } from "./conn/template";
import { arpFrame, ndRx, neighTick } from "./neigh";
import { schedSchedule } from "./sched/registry";
import { xmitIn, xmitIcmpIn, xmitOut, xmitIcmpOut, xmitTranslatesOut } from "./xmit/registry";
import { icmpCsumOk } from "./xmit/nat";
import { sctpEvent, SCTP_S_CLOSED, SCTP_CID_INIT, SCTP_CID_ABORT } from "./proto/sctp";
import { icmpPortUnreach, icmpEchoReply } from "./xmit/icmp";
import { localAnswer } from "./xmit/local";
import { TCP_S_TIME_WAIT, TCP_S_CLOSE, TCP_S_FIN_WAIT, DIR_INPUT, DIR_OUTPUT } from "./proto/tcp";
import { runHooks } from "./hooks";
import { cntInc, statsIn, statsOut, statsConn } from "./stats";
import { syncConnIn } from "./sync";
import {
  pktReset, setVerdict, setDrop, setPktConn, setOut, pktConn, pktMark, outStart, outLen, verdict, dropReason, ipvsProperty, slotStart,
} from "./pkt";

@inline const FTPDATA: u16 = 0x1400;   // htons(20)
/** Below this many conns (≈ 7 MiB of records) the table stays in the caches: no batch prefetch. */
@inline const PREFETCH_MIN_CONNS: u32 = 1 << 16;

@inline function flag(f: u32): bool { return (load<u32>(CTL, CTL_FLAGS) & f) != 0; }

// ---- ip_vs_in_hook -----------------------------------------------------------------------------

/** is_new_conn_expected: may a SYN (an INIT) on this old conn start a new one (conn_reuse_mode)? */
function isNewConnExpected(ci: u32): bool {
  let cp = connPtr(ci);
  if (load<u32>(cp, CONN_CONTROL) != 0) return false;   // controlled (persistence): kept
  let st = load<u8>(cp, CONN_STATE);
  let proto = load<u8>(cp, CONN_PROTO);
  if (proto == IPPROTO_SCTP) return st == SCTP_S_CLOSED;
  if (proto != IPPROTO_TCP) return false;
  return st == TCP_S_TIME_WAIT || st == TCP_S_CLOSE ||
    (flag(SET_CONN_REUSE_2) && st == TCP_S_FIN_WAIT && (load<u16>(cp, CONN_FLAGS) & CONN_F_NOOUTPUT) != 0);
}

/** The first chunk's type of the current SCTP packet (parse made sure there is one). */
@inline function sctpChunk(): u8 { return load<u8>(pL4, 12); }

/** is_new_conn: a TCP SYN, an SCTP INIT. */
@inline function isNewConn(): bool {
  return pProto == IPPROTO_TCP ? (pTcpFlags & TH_SYN) != 0 : pProto == IPPROTO_SCTP && sctpChunk() == SCTP_CID_INIT;
}

/** What the protocol's state transition reads from the packet: TCP flags, the SCTP event. */
@inline function stateInput(): u8 {
  return pProto == IPPROTO_SCTP ? sctpEvent(pL4, pL4Len) : pTcpFlags;
}

@inline function isIpvsProto(p: u8): bool { return p == IPPROTO_TCP || p == IPPROTO_UDP || p == IPPROTO_SCTP; }

export function ipvsInHook(point: u8): i32 {
  if (ipvsProperty) return NF_ACCEPT;
  if (pProto == IPPROTO_ICMP || pProto == IPPROTO_ICMPV6) return ipvsInIcmp();
  if (!isIpvsProto(pProto)) return NF_ACCEPT;   // no ip_vs_protocol

  let ci = connInGet(pProto, pktSaddr(), pSport, pktDaddr(), pDport);

  // a SYN (INIT) on an existing conn: reschedule when the old one is finished (conn_reuse_mode)
  // or its server was quiesced and expire_nodest_conn is on
  if (ci != 0 && pProto != IPPROTO_UDP && isNewConn()) {
    let d = <u32>load<u16>(connPtr(ci), CONN_DEST);
    let resched = false;
    if (flag(SET_EXPIRE_NODEST) && d != 0 && load<i32>(destPtr(d), DEST_WEIGHT) == 0) resched = true;
    // any non-zero conn_reuse_mode enables it (mode 2 behaves like 3, recorded from 6.1)
    else if (flag(SET_CONN_REUSE | SET_CONN_REUSE_2) && isNewConnExpected(ci)) resched = true;
    if (resched) { connExpireNow(ci); cntInc(CNT_CONN_REUSED); ci = 0; }
  }

  // the server of this conn was deleted: expire_nodest_conn reschedules, otherwise drop
  if (ci != 0) {
    let d = <u32>load<u16>(connPtr(ci), CONN_DEST);
    if (d != 0 && !(load<u8>(destPtr(d), DEST_FLAGS) & DEST_F_AVAILABLE)) {
      if (flag(SET_EXPIRE_NODEST)) { connExpireNow(ci); ci = 0; }
      else { setDrop(CNT_DEST_UNAVAILABLE); return NF_DROP; }
    }
  }

  if (ci == 0) {
    // tcp_conn_schedule: only a SYN (or anything, with sloppy_tcp) that is not a RST schedules
    if (pProto == IPPROTO_TCP && ((pTcpFlags & TH_RST) || !(flag(SET_SLOPPY_TCP) || (pTcpFlags & TH_SYN)))) {
      cntInc(CNT_NO_CONN);
      return NF_ACCEPT;
    }
    // sctp_conn_schedule: only an INIT (or any chunk but ABORT, with sloppy_sctp)
    if (pProto == IPPROTO_SCTP && (sctpChunk() == SCTP_CID_ABORT || !(flag(SET_SLOPPY_SCTP) || sctpChunk() == SCTP_CID_INIT))) {
      cntInc(CNT_NO_CONN);
      return NF_ACCEPT;
    }
    let si = svcFindPkt(pktMark, pAf, pProto, pktDaddr(), pDport);
    if (si == 0) return NF_ACCEPT;
    // ip_vs_schedule: active FTP data from port 20 is never scheduled
    if (pSport == FTPDATA) return NF_ACCEPT;
    let svc = svcPtr(si);
    let di: u32 = 0;
    if (load<u32>(svc, SVC_FLAGS) & SVC_F_PERSISTENT) {
      // ip_vs_sched_persist: the client's template decides the dest (conn/template.ts)
      ci = schedPersist(si, pProto, pAf, pktSaddr(), pSport, pktDaddr(), pDport);
      if (ci == 0 && persistFull) { setDrop(connNewFail); return NF_DROP; }
      di = persistDest;
    } else if (load<u32>(svc, SVC_FWMARK) != 0 || pDport == load<u16>(svc, SVC_VPORT)) {
      di = schedSchedule(si);   // a non-persistent port-zero service schedules nothing
    }
    if (di == 0) {
      // ip_vs_leave: no server — tell the client with a port unreachable, drop the packet
      setDrop(CNT_NO_DEST);
      icmpPortUnreach();
      if (verdict == V_LOCAL) cntInc(CNT_NO_DEST);   // a plain drop (no headroom) is counted by finish()
      return NF_STOLEN;
    }
    if (ci == 0) ci = connNew(pProto, pAf, pktSaddr(), pSport, pktDaddr(), pDport, di, si);
    if (ci == 0) { setDrop(connNewFail); return NF_DROP; }
    if ((load<u32>(svcPtr(si), SVC_FLAGS) & SVC_F_ONEPACKET) && pProto == IPPROTO_UDP) {
      store<u16>(connPtr(ci), load<u16>(connPtr(ci), CONN_FLAGS) | CONN_F_ONE_PACKET, CONN_FLAGS);
    }
    statsConn(di, si);
  }
  setPktConn(ci);
  statsIn(ci, pLen);
  connSetState(ci, DIR_INPUT, stateInput());
  let rv = xmitIn(ci);
  syncConnIn(ci);   // ip_vs_in: in_pkts, and the master's ip_vs_sync_conn
  // ip_vs_conn_put: a one-packet conn (UDP on an -o service) expires as soon as it is sent; the
  // kernel does not even hash it (ip_vs_conn_hash), so the next datagram is scheduled anew and
  // the table never holds it. The packet reports no conn: there is none left.
  if (load<u16>(connPtr(ci), CONN_FLAGS) & CONN_F_ONE_PACKET) { connExpireNow(ci); setPktConn(0); }
  return rv;
}

/** ip_vs_in_icmp: an ICMP error from a client about a reply of one of our conns. */
function ipvsInIcmp(): i32 {
  if (!isIcmpError()) return NF_ACCEPT;           // not related: echo etc. go on
  if (parseInner() != 0) return NF_ACCEPT;        // the quoted packet is unusable: not ours
  if (!isIpvsProto(iProto)) return NF_ACCEPT;
  // the quoted packet went VIP→client: look the conn up inverted
  let ci = connInGet(iProto, CTL + CTL_INNER_DADDR, iDport, CTL + CTL_INNER_SADDR, iSport);
  if (ci == 0) return NF_ACCEPT;
  if (!icmpCsumOk()) { setDrop(CNT_BAD_L4); return NF_DROP; }
  setPktConn(ci);
  statsIn(ci, pLen);
  cntInc(CNT_ICMP_XLATE);
  return xmitIcmpIn(ci);
}

/** ICMP types that quote an offending datagram (ip_vs_in_icmp / ip_vs_out_icmp accept these). */
function isIcmpError(): bool {
  if (pAf == AF_INET) return pIcmpType == 3 || pIcmpType == 4 || pIcmpType == 11;
  return pIcmpType < 128 && (pIcmpType == 1 || pIcmpType == 2 || pIcmpType == 3 || pIcmpType == 4);
}

// ---- ip_vs_out_hook ------------------------------------------------------------------------------

export function ipvsOutHook(point: u8): i32 {
  if (ipvsProperty) return NF_ACCEPT;
  if (pProto == IPPROTO_ICMP || pProto == IPPROTO_ICMPV6) return ipvsOutIcmp();
  if (!isIpvsProto(pProto)) return NF_ACCEPT;
  let ci = connOutGet(pProto, pktSaddr(), pSport, pktDaddr(), pDport);
  // DR and tunnel conns: 6.1 takes a reply that comes back through the director from the VIP
  // (the real server answers from it) as the conn's output — OutPkts, the OUTPUT state
  // transitions — and not one from the real server's own address (recorded:
  // test/golden/kernel/recorded/local-answers, steps 22-23, with accept_local=1; with the
  // default accept_local=0 the kernel's routing drops such a reply as a martian before IPVS)
  if (ci != 0 && !xmitTranslatesOut(load<u8>(connPtr(ci), CONN_FWD))) ci = 0;
  if (ci == 0) {
    ci = connInGet(pProto, pktDaddr(), pDport, pktSaddr(), pSport);
    if (ci == 0 || xmitTranslatesOut(load<u8>(connPtr(ci), CONN_FWD))) return NF_ACCEPT;
  }
  return handleResponse(ci);
}

/** handle_response: SNAT for NAT (FULLNAT) conns, then stats and the OUTPUT state transition. */
function handleResponse(ci: u32): i32 {
  setPktConn(ci);
  let ev = stateInput();     // read before the rewrite (its CRC is recomputed, not its chunks)
  let v = xmitOut(ci);
  if (v != NF_ACCEPT) return v;
  statsOut(ci, pLen);
  connSetState(ci, DIR_OUTPUT, ev);
  ipvsPropertySet();
  return NF_ACCEPT;
}

/** ip_vs_out_icmp: an ICMP error from a real server about a packet of one of our conns. */
function ipvsOutIcmp(): i32 {
  if (!isIcmpError()) return NF_ACCEPT;
  if (parseInner() != 0) return NF_ACCEPT;
  if (!isIpvsProto(iProto)) return NF_ACCEPT;
  // the quoted packet went client→real server: the out lookup, inverted
  let ci = connOutGet(iProto, CTL + CTL_INNER_DADDR, iDport, CTL + CTL_INNER_SADDR, iSport);
  if (ci == 0) return NF_ACCEPT;
  setPktConn(ci);
  if (!xmitTranslatesOut(load<u8>(connPtr(ci), CONN_FWD))) { statsOut(ci, pLen); ipvsPropertySet(); return NF_ACCEPT; }
  let v = xmitIcmpOut(ci);
  if (v != NF_ACCEPT) return v;
  statsOut(ci, pLen);
  cntInc(CNT_ICMP_XLATE);
  ipvsPropertySet();
  return NF_ACCEPT;
}

/** ip_vs_forward_icmp: errors for incoming conns routed through us (relevant with DR/TUN). */
export function ipvsForwardIcmpHook(point: u8): i32 {
  if (ipvsProperty) return NF_ACCEPT;
  if (pProto != IPPROTO_ICMP && pProto != IPPROTO_ICMPV6) return NF_ACCEPT;
  if (!isIcmpError()) return NF_ACCEPT;
  if (parseInner() != 0) return NF_ACCEPT;
  if (!isIpvsProto(iProto)) return NF_ACCEPT;
  let ci = connInGet(iProto, CTL + CTL_INNER_DADDR, iDport, CTL + CTL_INNER_SADDR, iSport);
  if (ci == 0) return NF_ACCEPT;
  // NAT conns' errors from the real-server side are ip_vs_out_icmp's; only non-NAT here
  if (xmitTranslatesOut(load<u8>(connPtr(ci), CONN_FWD))) return NF_ACCEPT;
  if (!icmpCsumOk()) { setDrop(CNT_BAD_L4); return NF_DROP; }
  setPktConn(ci);
  statsIn(ci, pLen);
  return xmitIcmpIn(ci);
}

/**
 * The director's local stack for TCP and UDP to a VIP that IPVS left alone (tcp_v4_rcv /
 * __udp4_lib_rcv without a socket): a RST, an ICMP port unreachable (xmit/local.ts).
 */
export function localStackHook(point: u8): i32 {
  if (!flag(SET_LOCAL_ANSWERS) || !isVip(pktDaddr())) return NF_ACCEPT;
  if (pProto != IPPROTO_TCP && pProto != IPPROTO_UDP) return NF_ACCEPT;
  return localAnswer() ? NF_STOLEN : NF_ACCEPT;
}

/** Packets IPVS produced stop here: later POST_ROUTING hooks do not see them. */
export function ipvsPostHook(point: u8): i32 {
  return ipvsProperty ? NF_STOP : NF_ACCEPT;
}

/** The local stack's echo responder for VIPs (an IPVS director answers pings to its VIP). */
export function icmpEchoHook(point: u8): i32 {
  if (!flag(SET_ICMP_ECHO)) return NF_ACCEPT;
  if (pProto != IPPROTO_ICMP && pProto != IPPROTO_ICMPV6) return NF_ACCEPT;
  if (!icmpEchoReply()) return NF_ACCEPT;
  return NF_STOLEN;
}

@inline function ipvsPropertySet(): void { ipvsPropertySetImpl(); }
import { setIpvsProperty as ipvsPropertySetImpl } from "./pkt";

// ---- the batch ---------------------------------------------------------------------------------

/** Set the engine clock from the host's milliseconds (the first call defines engine time 0). */
export function clockSet(nowMs: f64): u32 {
  if (!load<u32>(CTL, CTL_CLOCK_SET)) {
    store<f64>(CTL, nowMs, CTL_CLOCK_BASE);
    store<u32>(CTL, 1, CTL_CLOCK_SET);
  }
  let d = nowMs - load<f64>(CTL, CTL_CLOCK_BASE);
  let now = load<u32>(CTL, CTL_NOW);
  if (d >= 0 && d < 4294967295.0) {
    let n = <u32>d;
    if (<i32>(n - now) > 0) now = n;              // never backwards
  }
  store<u32>(CTL, now, CTL_NOW);
  return now;
}

/** The slot whose fragment completed the datagram being processed in REASM (0: none). */
let reasmSlot: usize = 0;

/** Run one frame through PRE_ROUTING, the route step, LOCAL_IN or FORWARD, and POST_ROUTING. */
function processOne(i: u32): void {
  let meta = slotMeta(i);
  let slot = slotBase(i);
  let off = load<u32>(meta, SLOT_OFF);
  let len = load<u32>(meta, SLOT_LEN);
  cntInc(CNT_RX);
  if (off > slotSize || len > slotSize - off) {
    store<u8>(meta, V_DROP, SLOT_VERDICT); store<u16>(meta, <u16>CNT_BAD_SLOT, SLOT_REASON);
    store<u32>(meta, 0, SLOT_LEN);
    cntInc(CNT_BAD_SLOT); cntInc(CNT_DROP);
    return;
  }
  let frame = slot + off;
  // a device with offloads: the virtio-net header first; the frame proper starts after it
  let r: u32 = 0;
  resetVnet();
  if (linkVnet) {
    if (len < VNET_HDR_LEN) r = CNT_TRUNCATED;
    else { r = parseVnet(frame); frame += VNET_HDR_LEN; len -= VNET_HDR_LEN; }
  }
  pktReset(slot, frame, len);
  if (r == 0) r = parseFrame(frame, len);
  if (pGso) cntInc(CNT_GSO);
  defragReset();
  reasmSlot = 0;
  if (r == CNT_FRAGMENT && (pGso || pCsumPartial)) r = CNT_BAD_VNET_HDR;   // offloads on a fragment: not asked for
  if (r == CNT_FRAGMENT) {
    // nf_defrag (PRE_ROUTING, priority -400): a fragment waits in its queue (STOLEN) until the
    // datagram is whole; the one that completes it has the whole datagram processed in REASM,
    // and finish() copies what goes out back into this slot
    let d = defragIn();
    if (d == DEFRAG_HELD) { cntInc(CNT_REASM_HELD); finish(meta, V_STOLEN, 0, 0); return; }
    if (d == DEFRAG_DROP) { finish(meta, V_DROP, defragReason, 0); return; }
    if (d == DEFRAG_PASS) { cntInc(CNT_REASM_PASSED); r = parseFragmentAsPacket(); }   // on as it is
    else {
      reasmSlot = slot;
      pktReset(REASM, reasmFrame, reasmLen);
      resetVnet();
      r = linkVnet ? parseVnet(reasmFrame - VNET_HDR_LEN) : 0;
      if (r == 0) r = parseFrame(reasmFrame, reasmLen);
    }
  }
  if (r != 0) {
    // TAP: ARP for our addresses is answered, answers for next hops we wait for are taken
    if (r == CNT_NOT_IP && linkType == 1) {
      let lv = arpFrame(frame, len);
      if (lv != 255) { finish(meta, lv, 0, 0); return; }
    }
    let v: u8 = (r == CNT_NOT_IP || flag(SET_PASS_MALFORMED)) ? V_PASS : V_DROP;
    if (v != V_DROP) cntInc(r);                    // a drop's reason is counted by finish()
    finish(meta, v, v == V_DROP ? r : 0, 0);
    return;
  }
  // TAP: neighbour solicitations for our addresses / advertisements of next hops (the director's ndisc)
  if (linkType == 1 && pProto == IPPROTO_ICMPV6) {
    let nv = ndRx(pFrame, pL3, pL4, pL4Len);
    if (nv != 255) { finish(meta, nv, 0, 0); return; }
  }
  let v = runHooks(NF_INET_PRE_ROUTING);
  if (v == NF_ACCEPT) {
    // local: a VIP, or a mark a fwmark service takes (ip rule fwmark → local table)
    let point = isVip(pktDaddr()) || (pktMark != 0 && isMarkSvc(pktMark)) ? NF_INET_LOCAL_IN : NF_INET_FORWARD;
    v = runHooks(point);
    if (v == NF_ACCEPT) {
      if (ipvsProperty) ipOutput();                // un-NATed reply forwarded on (on a TAP: to its next hop)
      // for a VIP, on a link whose output the host routes (TUN): handed back, it would come
      // straight back in; the local stack has taken it (a RST, an ICMP error to a VIP ...)
      else if (point == NF_INET_LOCAL_IN && flag(SET_ROUTED_LINK)) { setDrop(CNT_LOCAL_NOT_TAKEN); v = NF_DROP; }
      else setVerdict(V_PASS);                     // not ours: the host stack decides
    }
  }
  if (v == NF_DROP) { finish(meta, V_DROP, dropReason != 0 ? dropReason : CNT_DROP, 0); return; }
  if (v == NF_STOLEN && verdict == V_DROP && dropReason == 0) setVerdict(V_STOLEN);
  // what leaves the engine goes through POST_ROUTING
  if (verdict == V_XMIT || verdict == V_LOCAL) {
    let pv = runHooks(NF_INET_POST_ROUTING);
    if (pv == NF_DROP) { finish(meta, V_DROP, dropReason != 0 ? dropReason : CNT_DROP, 0); return; }
    if (pv == NF_STOLEN) setVerdict(V_STOLEN);
    else if (verdict == V_XMIT) finishOutput();   // ip_finish_output: fragments, the next hop's MAC
  }
  finish(meta, verdict, verdict == V_DROP ? (dropReason != 0 ? dropReason : CNT_DROP) : 0, 0);
}

function finish(meta: usize, v: u8, reason: u32, _x: u32): void {
  let sent = v == V_XMIT || v == V_LOCAL || v == V_PASS;
  if (linkVnet && sent) {
    // a device with offloads takes every frame behind a virtio-net header: a rewritten frame
    // (still where it came, its L2 header as long) keeps the one it came with, as does a passed
    // one (a TUN director writes it back); a frame the engine built gets one of its own, asking
    // for no offload
    if (outStart - VNET_HDR_LEN < slotStart) { v = V_DROP; reason = CNT_NO_HEADROOM; }
    else {
      if (outStart != pFrame) memory.fill(outStart - VNET_HDR_LEN, 0, VNET_HDR_LEN);
      setOut(outStart - VNET_HDR_LEN, outLen + VNET_HDR_LEN);
    }
  }
  // a reassembled datagram was processed in REASM: its output (the first fragment, or the whole
  // datagram when it is sent whole) goes back into its slot, at the same offset
  if (reasmSlot != 0 && sent && v != V_DROP) {
    let off = <u32>(outStart - slotStart);
    if (off + outLen > slotSize) { v = V_DROP; reason = CNT_REASM_NO_ROOM; }
    else memory.copy(reasmSlot + off, outStart, outLen);
  }
  store<u8>(meta, v, SLOT_VERDICT);
  store<u16>(meta, <u16>reason, SLOT_REASON);
  store<u32>(meta, <u32>(outStart - slotStart), SLOT_OFF);
  store<u32>(meta, outLen, SLOT_LEN);
  store<u32>(meta, pktConn, SLOT_CONN);
  if (v == V_XMIT) cntInc(CNT_TX);
  else if (v == V_LOCAL) cntInc(CNT_LOCAL);
  else if (v == V_PASS) cntInc(CNT_PASS);
  else if (v == V_DROP) {
    cntInc(CNT_DROP);
    if (reason != 0 && reason != CNT_DROP) cntInc(reason);   // every drop has a named counter
  }
}

/**
 * The conn-hash of slot i's packet read straight off the wire, for the batch prefetch only:
 * a hint (0 when the frame is not a plain IPv4/IPv6 TCP/UDP packet); the real parse comes later.
 */
function peekHash(i: u32): u32 {
  let meta = slotMeta(i);
  let off = load<u32>(meta, SLOT_OFF), len = load<u32>(meta, SLOT_LEN);
  if (off > slotSize || len > slotSize - off || len < 40) return 0;
  let ip = slotBase(i) + off;
  if (linkVnet) {                      // offloads: the virtio-net header first
    if (len < VNET_HDR_LEN + 40) return 0;
    ip += VNET_HDR_LEN; len -= VNET_HDR_LEN;
  }
  if (linkType == 1) {                 // Ethernet without VLAN tags (the common case; a hint only)
    let et = load<u16>(ip, 12);
    if (et != 0x0008 && et != 0xdd86 || len < 54) return 0;   // 0x0800 / 0x86dd as loaded
    ip += 14; len -= 14;
  }
  let v = load<u8>(ip) >> 4;
  if (v == 4) {
    let ihl = (<u32>load<u8>(ip) & 0xf) << 2;
    let proto = load<u8>(ip, 9);
    if (ihl < 20 || ihl + 4 > len || (proto != IPPROTO_TCP && proto != IPPROTO_UDP)) return 0;
    return connHashFolded(proto, 0xffff0000 ^ load<u32>(ip, 12), load<u16>(ip + ihl), 0xffff0000 ^ load<u32>(ip, 16), load<u16>(ip + ihl, 2));
  }
  if (v == 6 && len >= 44) {
    let proto = load<u8>(ip, 6);
    if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) return 0;
    let s = load<u32>(ip, 8) ^ load<u32>(ip, 12) ^ load<u32>(ip, 16) ^ load<u32>(ip, 20);
    let d = load<u32>(ip, 24) ^ load<u32>(ip, 28) ^ load<u32>(ip, 32) ^ load<u32>(ip, 36);
    return connHashFolded(proto, s, load<u16>(ip, 40), d, load<u16>(ip, 42));
  }
  return 0;
}

/** Process slots 0..n-1 at time nowMs. Returns n. */
export function processBatch(n: u32, nowMs: f64): u32 {
  clockSet(nowMs);
  defragTick();        // reassembly queues due expire before this batch's fragments look for them
  if (n > slotCount) n = slotCount;
  // warm the conn table for the whole batch first (see connPrefetch); a table small enough to
  // stay in the caches does not need it
  if (connCount() >= PREFETCH_MIN_CONNS) {
    let hashes = SCRATCH;
    for (let i: u32 = 0; i < n; i++) store<u32>(hashes + (<usize>i << 2), peekHash(i));
    connPrefetch(hashes, n);
  }
  for (let i: u32 = 0; i < n; i++) processOne(i);
  return n;
}

export function tickAt(nowMs: f64): u32 {
  let n = timerTick(clockSet(nowMs));
  defragTick();
  if (linkType == 1) neighTick();
  return n;
}
