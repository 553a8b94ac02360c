// What the director's own stack answers for a VIP, a local address there, when IPVS leaves the
// packet alone (no service on the port; no conn and not a SYN, e.g. after a restart or `-C`):
//   TCP: tcp_v4_send_reset / tcp_v6_send_reset (RFC 793 §3.4 "Reset Generation"): to a segment
//        with ACK, a RST with seq = its ack; to one without, RST|ACK with seq 0 and ack = its seq
//        + data length (+1 for SYN, +1 for FIN); never to a RST. No options, window 0.
//        IPv4: id 0, DF, TTL 64, TOS of the segment (ECN bits cleared); IPv6: hop limit 64.
//   UDP: __udp4_lib_rcv / __udp6_lib_rcv with no socket: ICMP port unreachable (icmp_send).
// Segments with a bad checksum are dropped without an answer, as tcp_v4_rcv / udp do.
// Bytes recorded from 6.1 (test/golden/kernel/recorded/local-answers); the differences (the
// kernel's IPv4 id of the ICMP error, IPv6 flow labels, its per-peer ICMP rate limit) are in
// docs/director.md.
import { AF_INET, IPPROTO_TCP, IPPROTO_UDP, V_LOCAL, CNT_NO_HEADROOM, CNT_TCP_RESET_SENT, CNT_PORT_UNREACH_SENT } from "../defs";
import { PKT_SADDR, PKT_DADDR, PKT_ETH_SAVE, linkType, PKT } from "../layout";
import { pL3, pAf, pFrame, pL4, pL4Len, pProto, pTcpFlags, pCsumPartial, pVnet, VNET_HDR_LEN, TH_SYN, TH_FIN, TH_RST, TH_ACK } from "../packet/iph";
import { st16be, st32be, ld32be, addrCopy } from "../packet/bytes";
import { ipv4SendCheck, l4CsumFull } from "../packet/csum";
import { slotStart, setOut, setVerdict, setDrop, verdict } from "../pkt";
import { cntInc } from "../stats";
import { icmpPortUnreach } from "./icmp";

/** Is the transport checksum of the current packet right (a partial one from the device is trusted)? */
export function l4CsumOk(): bool {
  if (pCsumPartial()) return true;
  if (pProto() == IPPROTO_UDP && pAf() == AF_INET && load<u16>(pL4(), 6) == 0) return true;   // no UDP checksum (RFC 768)
  // summing the segment with its checksum in place gives 0 when it is right
  return l4CsumFull(pAf(), PKT + PKT_SADDR, PKT + PKT_DADDR, pProto(), pL4(), pL4Len()) == 0;
}

/** The local stack's answer to the current TCP/UDP packet for a VIP; false: none (a RST, a bad checksum). */
export function localAnswer(): bool {
  if (!l4CsumOk()) return false;
  if (pProto() == IPPROTO_UDP) {
    icmpPortUnreach();
    if (verdict() != V_LOCAL) return true;        // no headroom: counted as that drop
    cntInc(CNT_PORT_UNREACH_SENT);
    return true;
  }
  if (pProto() != IPPROTO_TCP || (pTcpFlags() & TH_RST)) return false;
  tcpSendReset();
  return true;
}

/** tcp_v4_send_reset / tcp_v6_send_reset, built in place over the segment (40/60 bytes fit in it). */
function tcpSendReset(): void {
  let th = pL4();
  let doff = (<u32>load<u8>(th, 12) >> 4) << 2;
  let seqIn = ld32be(th + 4), ackIn = ld32be(th + 8);
  let sport = load<u16>(th), dport = load<u16>(th, 2);
  let flags = pTcpFlags();
  let seq: u32 = 0, ack: u32 = 0, out: u8 = TH_RST;
  if (flags & TH_ACK) seq = ackIn;
  else {
    ack = seqIn + (pL4Len() - doff) + ((flags & TH_SYN) ? 1 : 0) + ((flags & TH_FIN) ? 1 : 0);
    out = TH_RST | TH_ACK;
  }
  let nth = tcpReplyAt();
  store<u16>(nth, dport); store<u16>(nth, sport, 2);
  st32be(nth + 4, seq); st32be(nth + 8, ack);
  store<u8>(nth + 12, 0x50); store<u8>(nth + 13, out);
  store<u32>(nth + 14, 0);                        // window 0, checksum 0 for now
  store<u16>(nth + 18, 0);                        // urgent pointer
  if (tcpReplySend(20, true)) cntInc(CNT_TCP_RESET_SENT);
}

/** Where the local stack's TCP answer to the current segment puts its TCP header (after a plain IP header). */
export function tcpReplyAt(): usize { return pL3() + (pAf() == AF_INET ? 20 : 40); }

/**
 * Send the TCP answer the caller wrote at tcpReplyAt() (tcpLen bytes, checksum field zero) back
 * to the segment's source as the local stack does: IPv4 id 0 with DF, TTL / hop limit 64, TOS
 * (traffic class) of the segment with the ECN bits cleared when keepTos, else 0; the TCP
 * checksum; on a TAP the request's MACs swapped. Verdict LOCAL; false: no headroom (a counted drop).
 */
export function tcpReplySend(tcpLen: u32, keepTos: bool): bool {
  let v4 = pAf() == AF_INET;
  let ip = pL3();
  if (linkType == 1) {                            // the reply reuses the request's Ethernet header
    let sv = PKT + PKT_ETH_SAVE;
    memory.copy(sv, pFrame(), 12);
    store<u16>(sv + 12, load<u16>(ip - 2));
  }
  let hl: u32 = v4 ? 20 : 40;
  let nth = ip + hl;
  if (v4) {
    let tos = keepTos ? load<u8>(ip, 1) & 0xfc : 0;
    store<u8>(ip, 0x45); store<u8>(ip + 1, tos);
    st16be(ip + 2, hl + tcpLen);
    store<u16>(ip + 4, 0);                        // id 0 with DF (ip_select_ident without a connected socket)
    st16be(ip + 6, 0x4000);
    store<u8>(ip + 8, 64); store<u8>(ip + 9, IPPROTO_TCP);
    store<u32>(ip + 12, load<u32>(PKT + PKT_DADDR, 12));
    store<u32>(ip + 16, load<u32>(PKT + PKT_SADDR, 12));
    ipv4SendCheck(ip, 20);
  } else {
    let tc = keepTos ? (ld32be(ip) >> 20) & 0xfc : 0;
    st32be(ip, 0x60000000 | (tc << 20));           // flow label 0 (the kernel picks one of its own)
    st16be(ip + 4, tcpLen);
    store<u8>(ip + 6, IPPROTO_TCP); store<u8>(ip + 7, 64);
    addrCopy(ip + 8, PKT + PKT_DADDR);
    addrCopy(ip + 24, PKT + PKT_SADDR);
  }
  store<u16>(nth + 16, 0);
  store<u16>(nth + 16, l4CsumFull(pAf(), PKT + PKT_DADDR, PKT + PKT_SADDR, IPPROTO_TCP, nth, tcpLen));
  let start = ip;
  if (linkType == 1) {
    start = ip - 14;
    if (start < slotStart()) { setDrop(CNT_NO_HEADROOM); return false; }
    let sv = PKT + PKT_ETH_SAVE;
    memory.copy(start, sv + 6, 6); memory.copy(start + 6, sv, 6);
    store<u16>(start + 12, load<u16>(sv + 12));
  }
  // a device with offloads: the segment's virtio-net header (GSO, partial checksum) does not
  // describe the answer, which asks for no offload
  if (pVnet() != 0) memory.fill(pVnet(), 0, VNET_HDR_LEN);
  setOut(start, hl + tcpLen + <u32>(ip - start));
  setVerdict(V_LOCAL);
  return true;
}
