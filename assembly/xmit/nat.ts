// VS/NAT (ip_vs_nat_xmit, handle_response, ip_vs_nat_icmp): destination rewritten on the way
// in, source rewritten back on the way out; TCP/UDP checksums updated incrementally as
// tcp/udp_fast_csum_update do, the IPv4 header checksum recomputed (ip_send_check), the TTL
// or hop limit decremented as a router does (decrement_ttl / ip_forward).
import { ipOutput } from "./output";
import { NF_DROP, NF_STOLEN, NF_ACCEPT, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, AF_INET, CNT_BAD_L4 } from "../defs";
import { connPtr, coldOf, connDaddr, CONN_VADDR, COLD_DADDR, CONN_VPORT, CONN_DPORT } from "../layout";
import {
  pL3, pL4, pL4Len, pAf, pProto, iL3, iL4, iHdrLen, iProto, iphRefreshAddrs, iphSetDst, pCsumPartial, l4CsumOff,
} from "../packet/iph";
import { ipv4SendCheck, ipv4HdrUpdate, csumUpdate4p, csumUpdate16p, l4CsumFull, csumPartialUpdate } from "../packet/csum";
import { addrCopy, ld16be } from "../packet/bytes";
import { setDrop, setIpvsProperty } from "../pkt";
import { sctpNatCsum } from "../proto/sctp";
import { decrementTtl, icmpCsumOk, icmpRecompute } from "./common";

/** Rewrite the L4 port at `portOff` and fix the L4 checksum for an address+port change (inlined: on every NAT packet). */
@inline function l4Rewrite(af: u8, proto: u8, l4: usize, portOff: u32, fromAddr: usize, toAddr: usize, toPort: u16): void {
  let fromPort = load<u16>(l4 + portOff);
  store<u16>(l4 + portOff, toPort);
  let csumOff = l4CsumOff(proto);
  if (csumOff == 0) {
    // SCTP: the CRC32c covers no addresses, only the packet; recomputed in full when the port
    // changed (sctp_dnat_handler / sctp_snat_handler: "only update csum if we really have to")
    if (proto == IPPROTO_SCTP && fromPort != toPort) sctpNatCsum(l4, pL4Len());
    return;
  }
  let check = load<u16>(l4 + csumOff);
  // CHECKSUM_PARTIAL (a TUN offload frame): the address delta on the pseudo-header sum, no more
  // (tcp_partial_csum_update; udp's likewise); the ports are summed by whoever finishes it
  if (pCsumPartial()) { store<u16>(l4 + csumOff, csumPartialUpdate(af, check, fromAddr, toAddr)); return; }
  // RFC 768: zero means "no checksum" on IPv4; we keep it zero, so the sender's choice holds
  // and the payload is not read. (Linux 6.1, recorded on veth, fills in a full valid checksum
  // instead: both are valid on the wire.) On IPv6 a zero UDP checksum is invalid (RFC 8200 §8.1).
  if (proto == IPPROTO_UDP && check == 0) {
    if (af == AF_INET) return;
    // IPv6: Linux 6.1 puts a full, valid checksum on the rewritten datagram; so do we
    let len = ld16be(l4 + 4);
    let src = portOff == 2 ? pL3() + 8 : toAddr;       // DNAT keeps the source, SNAT sets it
    let dst = portOff == 2 ? toAddr : pL3() + 24;
    let c = l4CsumFull(af, src, dst, IPPROTO_UDP, l4, len);
    store<u16>(l4 + csumOff, c == 0 ? 0xffff : c);
    return;
  }
  let n: u16;
  if (af == AF_INET) n = csumUpdate4p(check, load<u32>(fromAddr, 12), load<u32>(toAddr, 12), fromPort, toPort);
  else n = csumUpdate16p(check, fromAddr, toAddr, fromPort, toPort);
  if (proto == IPPROTO_UDP && n == 0) n = 0xffff;      // CSUM_MANGLED_0 (RFC 768)
  store<u16>(l4 + csumOff, n);
}

/** ip_vs_nat_xmit(_v6) of the conn whose record is cp: client→VIP becomes client→real server (inlined in xmitIn, its one caller). */
@inline export function natXmit(cp: usize): i32 {
  let l3 = pL3(), af = pAf();   // read once (the rewrite moves neither)
  let ttlWord = load<u16>(l3 + 8);
  if (!decrementTtl(true)) return NF_STOLEN;   // the slot now holds the ICMP error (or DROP)
  let daddr = connDaddr(cp);
  let port = load<u16>(cp, CONN_DPORT), nw = load<u32>(daddr, 12);
  l4Rewrite(af, pProto(), pL4(), 2, cp + CONN_VADDR, daddr, port);
  if (af == AF_INET) {
    let old = load<u32>(l3 + 16);
    store<u32>(l3 + 16, nw);
    ipv4HdrUpdate(l3, ttlWord, old, nw);
  } else {
    addrCopy(l3 + 24, daddr);
  }
  iphSetDst(nw, daddr, port);
  setIpvsProperty();
  ipOutput();
  return NF_STOLEN;
}

@inline function pHdrLen_v4(): u32 { return (<u32>load<u8>(pL3()) & 0xf) << 2; }

/** handle_response: real server→client becomes VIP→client. Returns NF_ACCEPT (continues). */
export function natResponse(ci: u32): i32 {
  let cp = connPtr(ci);
  let ttlWord = load<u16>(pL3() + 8);
  if (!decrementTtl(false)) return NF_DROP;
  l4Rewrite(pAf(), pProto(), pL4(), 0, coldOf(cp) + COLD_DADDR, cp + CONN_VADDR, load<u16>(cp, CONN_VPORT));
  if (pAf() == AF_INET) {
    let old = load<u32>(pL3() + 12), nw = load<u32>(cp, CONN_VADDR + 12);
    store<u32>(pL3() + 12, nw);
    ipv4HdrUpdate(pL3(), ttlWord, old, nw);
  } else {
    addrCopy(pL3() + 8, cp + CONN_VADDR);
  }
  iphRefreshAddrs();
  return NF_ACCEPT;
}

/**
 * ip_vs_nat_icmp(_v6). inout = true: an error from the real server about the client's packet
 * (outer source and quoted destination become the VIP); false: an error from the client about
 * a reply (outer destination and quoted source become the real server). The quoted L4 checksum
 * is left as it is, as the kernel leaves it.
 */
export function natIcmp(ci: u32, inout: bool): void {
  let cp = connPtr(ci);
  let v4 = pAf() == AF_INET;
  if (inout) {
    if (v4) { store<u32>(pL3() + 12, load<u32>(cp, CONN_VADDR + 12)); ipv4SendCheck(pL3(), pHdrLen_v4()); }
    else addrCopy(pL3() + 8, cp + CONN_VADDR);
    if (v4) { store<u32>(iL3() + 16, load<u32>(cp, CONN_VADDR + 12)); ipv4SendCheck(iL3(), iHdrLen()); }
    else addrCopy(iL3() + 24, cp + CONN_VADDR);
  } else {
    let daddr = coldOf(cp) + COLD_DADDR;
    if (v4) { store<u32>(pL3() + 16, load<u32>(daddr, 12)); ipv4SendCheck(pL3(), pHdrLen_v4()); }
    else addrCopy(pL3() + 24, daddr);
    if (v4) { store<u32>(iL3() + 12, load<u32>(daddr, 12)); ipv4SendCheck(iL3(), iHdrLen()); }
    else addrCopy(iL3() + 8, daddr);
  }
  if (iProto() == IPPROTO_TCP || iProto() == IPPROTO_UDP || iProto() == IPPROTO_SCTP) {
    if (inout) store<u16>(iL4() + 2, load<u16>(cp, CONN_VPORT));
    else store<u16>(iL4(), load<u16>(cp, CONN_DPORT));
  }
  icmpRecompute();
  iphRefreshAddrs();
}

/** handle_response_icmp for NAT: translate and let it continue (FORWARD). */
export function natIcmpResponse(ci: u32): i32 {
  if (!icmpCsumOk()) { setDrop(CNT_BAD_L4); return NF_DROP; }
  if (!decrementTtl(false)) return NF_DROP;
  natIcmp(ci, true);
  return NF_ACCEPT;
}

/** ip_vs_icmp_xmit for NAT: translate toward the real server and send. */
export function natIcmpXmit(ci: u32): i32 {
  if (!decrementTtl(true)) return NF_STOLEN;
  natIcmp(ci, false);
  setIpvsProperty();
  ipOutput();
  return NF_STOLEN;
}
