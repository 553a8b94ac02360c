// VS/TUN (ip_vs_tunnel_xmit, ip_vs_tunnel_xmit_v6): the client's packet, its TTL decremented,
// is wrapped in an outer IP header to the real server, in the slot's headroom (no copy):
//   IPIP  outer IP (proto 4 = IPv4 inside, 41 = IPv6 inside)
//   GUE   outer IP | UDP (dport = tun port, sport from the flow hash, checksum with +c/r+c) | GUE (4 bytes)
//   GRE   outer IP | GRE (4 bytes, 8 with the checksum of --tun-csum)
// The outer family is the real server's; the inner the service's (mixed families allowed).
// Outer fields as the kernel sets them: TOS/traffic class = the inner DS field with ECN
// encapsulated (INET_ECN_encapsulate), TTL/hop limit = the inner one (after decrement), DF =
// the inner DF for IPv4 inside (0 for IPv6 inside), IPv4 id 0 with DF (ip_select_ident), else a
// per-packet identification (ip_select_ident); source = the director's address on the link
// (on a TUN the source the host's route toward the real server gives: --tunnel-src). A
// packet that would exceed the path MTU (CTL_TUN_MTU) once encapsulated is refused with ICMP
// fragmentation needed / packet too big quoting it, with the MTU left for the inner packet
// (ensure_mtu_is_adequate) — when it has DF or is IPv6; an IPv4 packet without DF (or an ICMP
// error) is encapsulated and the outer packet fragmented (output.ts), as ip_local_out does.
// On a TAP the outer frame keeps the client frame's L2 header, VLAN tags included (the real
// server is on the same link, as for DR); only the EtherType changes with the outer family.
// A TCP or UDP super-packet of a device with offloads is wrapped whole and cut into wire-sized
// segments at output, outer headers and all (gso.ts), as the kernel's GSO does; the path MTU
// rules apply to each segment.
import {
  NF_STOLEN, NF_DROP, AF_INET, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, CNT_NO_HEADROOM, CNT_FRAG_NEEDED, CNT_BAD_VNET_HDR, CNT_GSO_NO_ROOM,
} from "../defs";
import {
  CTL, CTL_LINK_IP4, CTL_LINK_IP6, CTL_TUN_MTU, connPtr, destPtr, connDaddr, CONN_DEST, CONN_CPORT, CONN_VPORT,
  CONN_CADDR, DEST_AF, DEST_TUN_TYPE, DEST_TUN_FLAGS, DEST_TUN_PORT, GSO_TPL_MAX,
} from "../layout";
import { pL3, pLen, pAf, pFrame, pProto, pGso, csumPartialFinish, pL2Len } from "../packet/iph";
import { st16be, st32be, ld16be, addrCopy, addrFold } from "../packet/bytes";
import { ipv4SendCheck, csumPartial, csumFold, pseudoSum, l4CsumFull } from "../packet/csum";
import { setDrop, setIpvsProperty, setRouteGso, slotStart } from "../pkt";
import { cntInc } from "../stats";
import { forwardTtl, methodUnsupportedOnLink } from "./common";
import { icmpTooBig } from "./icmp";
import { routeTo, ipIdentNext } from "./output";
import { nextHop } from "../route";
import { gsoPlan, gsoHdrLen, gsoSegIpLen, gsoEncap } from "./gso";

@inline export const TUN_IPIP: u8 = 0;
@inline export const TUN_GUE: u8 = 1;
@inline export const TUN_GRE: u8 = 2;
@inline export const TUN_F_CSUM: u8 = 1;
@inline export const TUN_F_REMCSUM: u8 = 2;

/** INET_ECN_encapsulate(outer, inner): the inner DS field, a CE mark carried as ECT(0). */
@inline function ecnEncap(ds: u8): u8 {
  return (ds & 3) == 3 ? (ds & 0xfc) | 2 : ds;
}

/** udp_flow_src_port: a port in 32768..60999 from the flow, stable for a conn. */
function flowSrcPort(ci: u32): u16 {
  let cp = connPtr(ci);
  let h = addrFold(cp + CONN_CADDR) * 0x9e3779b1 ^ (<u32>load<u16>(cp, CONN_CPORT) | (<u32>load<u16>(cp, CONN_VPORT) << 16));
  h ^= h >> 16; h *= 0x85ebca6b; h ^= h >> 13;
  return <u16>((<u64>h * (60999 - 32768)) >> 32) + 32768;
}

/** cp->packet_xmit for TUNNEL. */
export function tunnelXmit(ci: u32): i32 {
  let cp = connPtr(ci);
  let dest = destPtr(<u32>load<u16>(cp, CONN_DEST));
  let oaf = load<u8>(dest, DEST_AF);
  if (methodUnsupportedOnLink(oaf)) return NF_DROP;   // a TUN without a source of the outer family
  let type = load<u8>(dest, DEST_TUN_TYPE);
  let tflags = load<u8>(dest, DEST_TUN_FLAGS);
  let v4in = pAf() == AF_INET;
  let ohl: u32 = oaf == AF_INET ? 20 : 40;
  let ehl: u32 = type == TUN_GUE ? 8 + 4 : type == TUN_GRE ? ((tflags & TUN_F_CSUM) ? 8 : 4) : 0;
  // offloads: a TCP or UDP super-packet is wrapped whole and cut into segments at output (gso.ts),
  // each with its checksum finished; a lone partial checksum is finished here (skb_checksum_help)
  let gso = pGso() && gsoPlan() > 1;
  if (!gso) csumPartialFinish();
  if (gso && gsoHdrLen(pL2Len(), ohl + ehl) > GSO_TPL_MAX) { setDrop(CNT_GSO_NO_ROOM); return NF_STOLEN; }
  // the TTL first: the ICMP error below quotes the decremented packet, as the kernel's does
  if (!forwardTtl()) return NF_STOLEN;
  // path MTU: what is left for the inner packet (the kernel's mtu - outer headers); for a
  // super-packet each segment's (the first is the largest)
  let mtu = load<u32>(CTL, CTL_TUN_MTU) - ohl - ehl;
  let isIcmp = pProto() == IPPROTO_ICMP || pProto() == IPPROTO_ICMPV6;
  if ((gso ? gsoSegIpLen(0) : pLen()) > mtu && !isIcmp && (!v4in || (ld16be(pL3() + 6) & 0x4000) != 0)) {
    cntInc(CNT_FRAG_NEEDED);
    setDrop(CNT_FRAG_NEEDED);
    icmpTooBig(mtu);                      // a super-packet is quoted as it came (recorded: cases/gso-tun.sh G5)
    return NF_STOLEN;
  }
  let o = pL3() - ohl - ehl;
  let l2len = pL2Len();
  if (o - l2len < slotStart()) { setDrop(CNT_NO_HEADROOM); return NF_STOLEN; }
  // the client frame's L2 header moves in front of the outer one first: the outer header
  // overwrites where it was. MACs are the neighbour layer's to fill, VLAN tags are kept.
  if (l2len != 0) memory.copy(o - l2len, pFrame(), l2len - 2);
  // what the inner packet gives the outer header
  let ds: u8, ttl: u8, df: u16, nextProto: u8;
  if (v4in) {
    ds = load<u8>(pL3(), 1); ttl = load<u8>(pL3(), 8); df = load<u16>(pL3() + 6) & 0x0040;   // wire-order IP_DF
    nextProto = 4;
  } else {
    ds = <u8>((ld16be(pL3()) >> 4) & 0xff); ttl = load<u8>(pL3(), 7); df = 0;
    nextProto = 41;
  }
  ds = ecnEncap(ds);
  let e = o + ohl;
  let innerLen = pLen() + ehl;   // what follows the outer IP header
  if (type == TUN_GUE) {
    st16be(e, flowSrcPort(ci));
    store<u16>(e + 2, load<u16>(dest, DEST_TUN_PORT));
    st16be(e + 4, innerLen);
    store<u16>(e + 6, 0);
    store<u32>(e + 8, 0);                       // GUE v0, hlen 0, flags 0
    store<u8>(e + 9, nextProto);                // proto_ctype
    nextProto = IPPROTO_UDP;
  } else if (type == TUN_GRE) {
    let flags: u32 = (tflags & TUN_F_CSUM) ? 0x8000 : 0;
    st16be(e, flags);
    st16be(e + 2, v4in ? 0x0800 : 0x86dd);
    if ((tflags & TUN_F_CSUM) && !gso) {     // a super-packet: per segment (gso.ts)
      store<u32>(e + 4, 0);
      store<u16>(e + 4, <u16>(~csumFold(csumPartial(e, ehl + pLen(), 0)) & 0xffff));
    }
    nextProto = 47;
  }
  // the outer header
  let daddr = connDaddr(cp);
  if (oaf == AF_INET) {
    store<u8>(o, 0x45); store<u8>(o + 1, ds);
    st16be(o + 2, ohl + innerLen);
    st16be(o + 4, df != 0 ? 0 : ipIdentNext() & 0xffff);   // ip_select_ident: 0 with DF
    store<u16>(o + 6, df);
    store<u8>(o + 8, ttl); store<u8>(o + 9, nextProto);
    store<u32>(o + 12, load<u32>(CTL + CTL_LINK_IP4, 12));
    store<u32>(o + 16, load<u32>(daddr, 12));
    ipv4SendCheck(o, 20);
  } else {
    st32be(o, 0x60000000 | (<u32>ds << 20));
    st16be(o + 4, innerLen);
    store<u8>(o + 6, nextProto); store<u8>(o + 7, ttl);
    addrCopy(o + 8, CTL + CTL_LINK_IP6);
    addrCopy(o + 24, daddr);
  }
  if (type == TUN_GUE && (tflags & (TUN_F_CSUM | TUN_F_REMCSUM)) && !gso) {
    let c = l4CsumFull(oaf, oaf == AF_INET ? CTL + CTL_LINK_IP4 : CTL + CTL_LINK_IP6, daddr, IPPROTO_UDP, e, innerLen);
    store<u16>(e + 6, c == 0 ? 0xffff : c);
  }
  setIpvsProperty();
  if (l2len != 0) st16be(o - 2, oaf == AF_INET ? 0x0800 : 0x86dd);
  routeTo(o, ohl + innerLen, l2len, nextHop(daddr), true);   // a routed real server: via the gateway
  if (gso) {
    gsoEncap(type, type == TUN_GUE ? (tflags & (TUN_F_CSUM | TUN_F_REMCSUM)) != 0 : (tflags & TUN_F_CSUM) != 0);
    setRouteGso();
  }
  return NF_STOLEN;
}
