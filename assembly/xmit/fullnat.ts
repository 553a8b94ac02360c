// FULLNAT (DPVS's mode: dp_vs_xmit_fnat / dp_vs_out_xmit_fnat, tcp_fnat_in_handler /
// tcp_fnat_out_handler, udp/sctp fnat handlers). Both ends are rewritten:
//
//   client → VIP        caddr:cport → vaddr:vport   becomes   laddr:lport → daddr:dport
//   real server → laddr daddr:dport → laddr:lport   becomes   vaddr:vport → caddr:cport
//
// laddr:lport is the conn's local address and port (laddr.ts), so replies come back to the
// director whatever the real server's routing, and the out lookup finds the conn by them.
//
// The real server never sees the client's address, so TCP carries it in DPVS's TOA option
// (kmod/toa: kind 254, length 8 = kind, len, port, IPv4 address; length 20 with an IPv6
// address; port and address in network order), inserted right after the 20-byte TCP header
// (existing options move down) in the client's packets that acknowledge the real server's
// SYN-ACK and nothing after it: the handshake-completing ACK (which the toa module reads when
// the server's socket is created) and the first data segments. DPVS tests `ack_seq ==
// fdata_seq` (the server's ISN + 1); we keep two conn flags instead (SYN-ACK seen, server sent
// data or FIN since), which selects the same packets without storing a sequence number.
// Options take no sequence space, so inserting TOA needs no sequence adjustment. To make room
// for it the real server's SYN-ACK MSS is lowered by the option length (tcp_out_adjust_mss).
// When there is no room (options already 40 - len bytes, or the path MTU would be exceeded),
// NOP and old TOA options are removed first, then options other than timestamps
// (tcp_in_prune_options); if that frees too little the packet goes without TOA (counted).
//
// Deliberately not done (see docs/forwarding.md): DPVS also rewrites the client's initial
// sequence number and strips timestamps from SYNs (tcp_in_init_seq / tcp_in_remove_ts), so that
// a reused laddr:lport never meets the real server's TIME_WAIT with an older sequence number;
// here the port allocator keeps a port out of use for at least the conn's own TIME_WAIT and
// reuses ports in allocation order instead. Sequence numbers pass untouched.
//
// Checksums: the TCP checksum is recomputed in full when the segment changed length (TOA), else
// updated incrementally for both addresses and ports (and the MSS word); UDP likewise (a zero
// IPv4 UDP checksum stays zero); SCTP's CRC32c is recomputed; the IPv4 header checksum is
// recomputed (ip_send_check).
import { ipOutput } from "./output";
import {
  NF_DROP, NF_STOLEN, NF_ACCEPT, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, AF_INET,
  CNT_BAD_L4, CNT_TOA_ADDED, CNT_TOA_NO_ROOM, CONN_F_FNAT_SYNACK, CONN_F_FNAT_RSDATA, SET_NO_TOA,
} from "../defs";
import {
  CTL, CTL_FLAGS, CTL_TUN_MTU, connPtr, coldOf, connDaddr, laddrPtr, slotSize, CONN_CADDR, CONN_VADDR, COLD_DADDR, CONN_CPORT, CONN_VPORT,
  CONN_DPORT, COLD_LADDR, COLD_LPORT, CONN_FLAGS, LADDR_ADDR,
} from "../layout";
import {
  pL3, pL4, pL4Len, pAf, pProto, pLen, pTcpFlags, iL3, iL4, iHdrLen, iProto, pktSaddr, pktDaddr, iphRefreshAddrs, pCsumPartial,
  pGso, csumPartialFinish, l4CsumOff,
  iphResize, TH_SYN, TH_ACK, TH_RST, TH_FIN,
} from "../packet/iph";
import { ipv4SendCheck, csumUpdate4p, csumUpdate16p, csumUpdate2, csumPartial, csumFold, pseudoSum, l4CsumFull, csumPartialUpdate } from "../packet/csum";
import { addrCopy, ld16be, st16be } from "../packet/bytes";
import { setVerdict, setDrop, setIpvsProperty, setOut, outStart, slotStart } from "../pkt";
import { cntInc } from "../stats";
import { sctpNatCsum } from "../proto/sctp";
import { decrementTtl, icmpCsumOk, icmpRecompute } from "./common";
import { tcpOptSize, TCPOPT_EOL, TCPOPT_NOP, TCPOPT_MSS, TCPOPT_TIMESTAMP } from "../proto/tcp";

// kmod/toa/toa.h
@inline export const TCPOPT_TOA: u8 = 254;
@inline export const TCPOLEN_IP4_TOA: u32 = 8;
@inline export const TCPOLEN_IP6_TOA: u32 = 20;

@inline function flag(f: u32): bool { return (load<u32>(CTL, CTL_FLAGS) & f) != 0; }
@inline function laddrOf(cp: usize): usize { return laddrPtr(<u32>load<u16>(coldOf(cp), COLD_LADDR)) + LADDR_ADDR; }
@inline function toaLen(): u32 { return pAf() == AF_INET ? TCPOLEN_IP4_TOA : TCPOLEN_IP6_TOA; }

/**
 * The L4 half of a FULLNAT rewrite: source port → sPort, destination port → dPort, checksum for
 * the new addresses sTo/dTo (16-byte form; the old ones are the parsed packet's). `full`: the
 * segment changed otherwise too (TOA), recompute.
 */
function l4Xlate(sTo: usize, sPort: u16, dTo: usize, dPort: u16, full: bool): void {
  let l4 = pL4();
  let oldS = load<u16>(l4), oldD = load<u16>(l4, 2);
  store<u16>(l4, sPort);
  store<u16>(l4 + 2, dPort);
  if (pProto() == IPPROTO_SCTP) {
    if (oldS != sPort || oldD != dPort) sctpNatCsum(l4, pL4Len());
    return;
  }
  let csumOff = l4CsumOff(pProto());
  if (csumOff == 0) return;
  let check = load<u16>(l4 + csumOff);
  if (pCsumPartial()) {                           // a TUN offload frame: pseudo-header part only (see nat.ts)
    check = csumPartialUpdate(pAf(), check, pktSaddr(), sTo);
    store<u16>(l4 + csumOff, csumPartialUpdate(pAf(), check, pktDaddr(), dTo));
    return;
  }
  if (pProto() == IPPROTO_UDP && check == 0) {
    if (pAf() == AF_INET) return;                 // RFC 768: no checksum stays no checksum
    full = true;                                // IPv6: a zero UDP checksum is invalid, fill it in
  }
  let n: u16;
  if (full) {
    store<u16>(l4 + csumOff, 0);
    n = l4CsumFull(pAf(), sTo, dTo, pProto(), l4, pL4Len());
  } else if (pAf() == AF_INET) {
    n = csumUpdate4p(check, load<u32>(pktSaddr(), 12), load<u32>(sTo, 12), oldS, sPort);
    n = csumUpdate4p(n, load<u32>(pktDaddr(), 12), load<u32>(dTo, 12), oldD, dPort);
  } else {
    n = csumUpdate16p(check, pktSaddr(), sTo, oldS, sPort);
    n = csumUpdate16p(n, pktDaddr(), dTo, oldD, dPort);
  }
  if (pProto() == IPPROTO_UDP && n == 0) n = 0xffff;   // CSUM_MANGLED_0
  store<u16>(l4 + csumOff, n);
}

/** The L3 half: both addresses, the length if the datagram grew, the IPv4 header checksum. */
function ipXlate(sTo: usize, dTo: usize): void {
  if (pAf() == AF_INET) {
    store<u32>(pL3() + 12, load<u32>(sTo, 12));
    store<u32>(pL3() + 16, load<u32>(dTo, 12));
    st16be(pL3() + 2, pLen());
    ipv4SendCheck(pL3(), (<u32>load<u8>(pL3()) & 0xf) << 2);
  } else {
    addrCopy(pL3() + 8, sTo);
    addrCopy(pL3() + 24, dTo);
    st16be(pL3() + 4, pLen() - 40);
  }
}

/**
 * tcp_in_prune_options: make at least `reqlen` bytes of option space by dropping NOPs and old
 * TOA options, then (if still short) every option but the first timestamp; the freed space
 * leaves the packet. Returns the bytes removed (a multiple of 4).
 */
function toaPrune(reqlen: u32): u32 {
  let th = pL4();
  let doff = (<u32>load<u8>(th, 12) >> 4) << 2;
  let optlen = doff - 20;
  if (optlen < reqlen) return 0;
  let start = th + 20, end = start + optlen;
  let src = start, dst = start;
  // pass 1: compact, leaving out NOPs and TOA; stop at EOL or a malformed option
  for (let sz: u32 = 0; src < end; src += sz) {
    sz = tcpOptSize(src, end);
    if (sz == 0) break;
    let kind = load<u8>(src);
    if (kind == TCPOPT_NOP) continue;
    if (kind != TCPOPT_TOA) { memory.copy(dst, src, sz); dst += sz; }
  }
  // pass 2: not enough yet — keep only one timestamp option (not a SYN: nothing else is protected)
  if (<u32>(end - dst) < reqlen) {
    let keptEnd = dst;
    src = start; dst = start;
    let tsKept = false;
    while (src < keptEnd) {
      let kind = load<u8>(src), sz = <u32>load<u8>(src, 1);
      if (kind == TCPOPT_TIMESTAMP && sz <= 10 && !tsKept) { memory.copy(dst, src, sz); dst += sz; tsKept = true; }
      src += sz;
    }
  }
  let pruned = <u32>(end - dst);
  while (pruned & 3) { store<u8>(dst, TCPOPT_EOL); dst++; pruned--; }
  if (pruned == 0) return 0;
  let tail = pL3() + pLen();
  memory.copy(dst, end, tail - end);
  store<u8>(th, (<u8>(((doff - pruned) >> 2) << 4)) | (load<u8>(th, 12) & 0x0f), 12);
  iphResize(-<i32>pruned);
  return pruned;
}

/** Can the TOA option of `olen` bytes go in (TCP option space, path MTU, room in the slot)? */
function toaFits(olen: u32): bool {
  let doff = (<u32>load<u8>(pL4(), 12) >> 4) << 2;
  if (doff + olen > 60) return false;
  if (pLen() + olen > load<u32>(CTL, CTL_TUN_MTU)) return false;
  return pL3() + pLen() + olen <= slotStart() + slotSize;
}

/** tcp_in_add_toa: the client's address and port as option 254 right after the base header. */
function toaAdd(cp: usize): void {
  let olen = toaLen();
  if (!toaFits(olen)) {
    if (toaPrune(olen) < olen || !toaFits(olen)) { cntInc(CNT_TOA_NO_ROOM); return; }
  }
  let th = pL4();
  let doff = (<u32>load<u8>(th, 12) >> 4) << 2;
  let opt = th + 20;
  memory.copy(opt + olen, opt, pL3() + pLen() - opt);
  store<u8>(opt, TCPOPT_TOA);
  store<u8>(opt, <u8>olen, 1);
  store<u16>(opt, load<u16>(cp, CONN_CPORT), 2);
  if (pAf() == AF_INET) store<u32>(opt, load<u32>(cp, CONN_CADDR + 12), 4);
  else addrCopy(opt + 4, cp + CONN_CADDR);
  store<u8>(th, (<u8>(((doff + olen) >> 2) << 4)) | (load<u8>(th, 12) & 0x0f), 12);
  iphResize(<i32>olen);
  cntInc(CNT_TOA_ADDED);
}

/** tcp_out_adjust_mss: the SYN-ACK's MSS option lowered by the TOA length; checksum updated. */
function mssAdjust(): void {
  let th = pL4();
  let p = th + 20;
  let end = th + ((<u32>load<u8>(th, 12) >> 4) << 2);
  for (let sz: u32 = 0; p < end; p += sz) {
    sz = tcpOptSize(p, end);
    if (sz == 0) return;       // silly or partial options
    let kind = load<u8>(p);
    if (kind == TCPOPT_NOP) continue;
    if (kind == TCPOPT_MSS && sz == 4) {
      let old = load<u16>(p, 2);
      let mss = ld16be(p + 2);
      let olen = toaLen();
      if (mss <= olen) return;
      st16be(p + 2, mss - olen);
      // a partial checksum is finished over the header later: nothing to update then
      if (!pCsumPartial()) store<u16>(th, csumUpdate2(load<u16>(th, 16), old, load<u16>(p, 2)), 16);
      return;
    }
  }
}

/** cp->packet_xmit for FULLNAT: client→VIP becomes laddr:lport→real server. */
export function fnatXmit(ci: u32): i32 {
  let cp = connPtr(ci);
  if (!decrementTtl(true)) return NF_STOLEN;   // the slot now holds the ICMP error (or DROP)
  let toa = false;
  if (pProto() == IPPROTO_TCP && !flag(SET_NO_TOA)) {
    let cf = load<u16>(cp, CONN_FLAGS);
    if ((cf & CONN_F_FNAT_SYNACK) && !(cf & CONN_F_FNAT_RSDATA) && (pTcpFlags() & TH_ACK) && !(pTcpFlags() & (TH_SYN | TH_RST))) {
      // not into a super-packet (TUN offloads): every segment would carry it, and the segment
      // size would have to shrink with it (counted as no room); a single packet's partial
      // checksum is finished first, so the option can go in as usual
      if (!pGso()) csumPartialFinish();
      if (pGso()) cntInc(CNT_TOA_NO_ROOM);
      else {
        let before = pLen();
        toaAdd(cp);
        toa = pLen() != before;
      }
    }
  }
  let laddr = laddrOf(cp);
  let daddr = connDaddr(cp);
  l4Xlate(laddr, load<u16>(coldOf(cp), COLD_LPORT), daddr, load<u16>(cp, CONN_DPORT), toa);
  ipXlate(laddr, daddr);
  setOut(outStart(), <u32>(pL3() - outStart()) + pLen());
  iphRefreshAddrs();
  setIpvsProperty();
  ipOutput();
  return NF_STOLEN;
}

/** The out direction (dp_vs_out_xmit_fnat): real server→laddr becomes VIP→client. NF_ACCEPT: continues. */
export function fnatResponse(ci: u32): i32 {
  let cp = connPtr(ci);
  if (!decrementTtl(false)) return NF_DROP;
  if (pProto() == IPPROTO_TCP) {
    let cf = load<u16>(cp, CONN_FLAGS);
    if ((pTcpFlags() & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK)) {
      if (!flag(SET_NO_TOA)) mssAdjust();
      cf = (cf | CONN_F_FNAT_SYNACK) & ~CONN_F_FNAT_RSDATA;   // fnat_seq.fdata_seq = seq + 1
    } else if (cf & CONN_F_FNAT_SYNACK) {
      let payload = pL4Len() - ((<u32>load<u8>(pL4(), 12) >> 4) << 2);
      if (payload != 0 || (pTcpFlags() & TH_FIN)) cf |= CONN_F_FNAT_RSDATA;   // the client's ACK moves on
    }
    store<u16>(cp, cf, CONN_FLAGS);
  }
  l4Xlate(cp + CONN_VADDR, load<u16>(cp, CONN_VPORT), cp + CONN_CADDR, load<u16>(cp, CONN_CPORT), false);
  ipXlate(cp + CONN_VADDR, cp + CONN_CADDR);
  iphRefreshAddrs();
  return NF_ACCEPT;
}

/**
 * An ICMP error about a FULLNAT conn. inout = true: from the real-server side about a packet
 * laddr:lport→daddr:dport (outer source → VIP, outer destination → client; the quoted packet
 * becomes caddr:cport→vaddr:vport). false: from the client about a reply vaddr:vport→caddr:cport
 * (outer → laddr→daddr; quoted → daddr:dport→laddr:lport). The quoted L4 checksum is left alone.
 */
function fnatIcmp(ci: u32, inout: bool): void {
  let cp = connPtr(ci);
  let laddr = laddrOf(cp);
  let daddr = coldOf(cp) + COLD_DADDR;
  let os = inout ? cp + CONN_VADDR : laddr, od = inout ? cp + CONN_CADDR : daddr;
  let is = inout ? cp + CONN_CADDR : daddr, id = inout ? cp + CONN_VADDR : laddr;
  if (pAf() == AF_INET) {
    store<u32>(pL3() + 12, load<u32>(os, 12)); store<u32>(pL3() + 16, load<u32>(od, 12));
    ipv4SendCheck(pL3(), (<u32>load<u8>(pL3()) & 0xf) << 2);
    store<u32>(iL3() + 12, load<u32>(is, 12)); store<u32>(iL3() + 16, load<u32>(id, 12));
    ipv4SendCheck(iL3(), iHdrLen());
  } else {
    addrCopy(pL3() + 8, os); addrCopy(pL3() + 24, od);
    addrCopy(iL3() + 8, is); addrCopy(iL3() + 24, id);
  }
  if (iProto() == IPPROTO_TCP || iProto() == IPPROTO_UDP || iProto() == IPPROTO_SCTP) {
    store<u16>(iL4(), inout ? load<u16>(cp, CONN_CPORT) : load<u16>(cp, CONN_DPORT));
    store<u16>(iL4() + 2, inout ? load<u16>(cp, CONN_VPORT) : load<u16>(coldOf(cp), COLD_LPORT));
  }
  icmpRecompute();
  iphRefreshAddrs();
}

/** An error from the real server's side: translate toward the client and let it continue. */
export function fnatIcmpResponse(ci: u32): i32 {
  if (!icmpCsumOk()) { setDrop(CNT_BAD_L4); return NF_DROP; }
  if (!decrementTtl(false)) return NF_DROP;
  fnatIcmp(ci, true);
  return NF_ACCEPT;
}

/** An error from the client about a reply: translate toward the real server and send. */
export function fnatIcmpXmit(ci: u32): i32 {
  if (!decrementTtl(true)) return NF_STOLEN;
  fnatIcmp(ci, false);
  setIpvsProperty();
  ipOutput();
  return NF_STOLEN;
}
