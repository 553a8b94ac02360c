// Software GSO of a TCP or UDP super-packet that must be encapsulated (a device with offloads
// hands the engine TSO and USO frames of up to 64 KiB; our device has no tunnel GSO types, so
// what leaves through a tunnel dest leaves as wire-sized packets). The kernel does the same for IPVS: the tunnel xmit
// wraps the super-packet whole (iptunnel_handle_offloads adds SKB_GSO_IPXIP4/6, UDP_TUNNEL(_CSUM)
// for GUE, GRE(_CSUM)) and ip_finish_output_gso / validate_xmit_skb cut it, outer headers and
// all, with skb_segment. Each segment here is what that produces:
//   TCP (tcp_gso_segment): gso_size bytes of payload (the last what is left), sequence number
//     advanced by the payload before it, FIN and PSH only on the last segment, CWR only on the
//     first, the checksum complete (the super-packet's partial one is finished per segment).
//   UDP (__udp_gso_segment, a UDP_SEGMENT burst): gso_size bytes of payload each (the last what
//     is left), the UDP length per datagram and its checksum complete (0 sent as 0xffff).
//   inner IPv4 (inet_gso_segment): total length per segment, id = the super-packet's id + k,
//     header checksum recomputed; inner IPv6 (ipv6_gso_segment): payload length per segment.
//   encapsulation (skb_udp_tunnel_segment, gre_gso_segment): GUE's UDP length per segment and,
//     with +c/remcsum, its full checksum; GRE's checksum (--tun-csum) per segment.
//   outer IPv4: total length, id = the outer id of the whole + k (the tunnel's ip_select_ident
//     gave 0 with DF, else reserved one id per segment as ip_idents_reserve), checksum;
//     outer IPv6: payload length.
// The segment-0 frame is cut in place in the slot; segments 1.. are built from a copy of the
// headers (PKT_GSO_TPL) and their share of the payload, queued for neighDrain behind it
// (output.ts gsoFinish), each fragmented like a packet of its own if it must be. Recorded from
// 6.1 (test/golden/kernel/cases/gso-tun.sh): its segments equal these byte for byte.
import { AF_INET, IPPROTO_TCP, IPPROTO_UDP } from "../defs";
import { sharedAdd32 } from "../shared";
import {
  CTL, PKT_GSO_TPL, GSO_TPL_MAX, CTL_IP_IDENT, PKT, PKT_GSO_EHL, PKT_GSO_ENC, PKT_GSO_ENC_CSUM, PKT_GSO_FLAGS0,
  PKT_GSO_ID0, PKT_GSO_IHL, PKT_GSO_L2, PKT_GSO_MSS, PKT_GSO_OHL, PKT_GSO_OID0, PKT_GSO_PAY_BASE, PKT_GSO_PAY_TOTAL,
  PKT_GSO_SEGS, PKT_GSO_SEQ0, PKT_GSO_THL, PKT_GSO_TPL_LEN, PKT_GSO_V4IN, PKT_GSO_V4OUT,
} from "../layout";
import { pL3, pL4, pL4Len, pHdrLen, pAf, pGsoSize, pGsoUdp, iphResize } from "../packet/iph";
import { ld16be, st16be, ld32be, st32be, htons } from "../packet/bytes";
import { csumPartial, csumFold, ipv4SendCheck } from "../packet/csum";

@inline const TH_FIN_PSH: u8 = 0x09;
@inline const TH_CWR: u8 = 0x80;
@inline const ENC_GUE: u8 = 1;
@inline const ENC_GRE: u8 = 2;

// the inner packet (gsoPlan, at the tunnel xmit)
@inline function mss(): u32 { return load<u32>(PKT, PKT_GSO_MSS); }
@inline function nSegs(): u32 { return load<u32>(PKT, PKT_GSO_SEGS); }
@inline function payTotal(): u32 { return load<u32>(PKT, PKT_GSO_PAY_TOTAL); }
@inline function ihl(): u32 { return load<u32>(PKT, PKT_GSO_IHL); }  // inner IP header, extension headers included
@inline function thl(): u32 { return load<u32>(PKT, PKT_GSO_THL); }  // TCP header, options included
@inline function v4in(): bool { return load<u8>(PKT, PKT_GSO_V4IN) != 0; }
@inline function seq0(): u32 { return load<u32>(PKT, PKT_GSO_SEQ0); }
@inline function id0(): u32 { return load<u32>(PKT, PKT_GSO_ID0); }
@inline function flags0(): u8 { return load<u8>(PKT, PKT_GSO_FLAGS0); }
// the encapsulation (gsoEncap, at the tunnel xmit: TUN_IPIP 0 / GUE 1 / GRE 2) and the frame (gsoBegin, at output)
@inline function enc(): u8 { return load<u8>(PKT, PKT_GSO_ENC); }
@inline function encCsum(): bool { return load<u8>(PKT, PKT_GSO_ENC_CSUM) != 0; }
@inline function l2(): u32 { return load<u32>(PKT, PKT_GSO_L2); }
@inline function ohl(): u32 { return load<u32>(PKT, PKT_GSO_OHL); }
@inline function ehl(): u32 { return load<u32>(PKT, PKT_GSO_EHL); }
@inline function v4out(): bool { return load<u8>(PKT, PKT_GSO_V4OUT) != 0; }
@inline function oid0(): u32 { return load<u32>(PKT, PKT_GSO_OID0); }
@inline function tplLen(): u32 { return load<u32>(PKT, PKT_GSO_TPL_LEN); }
@inline function payBase(): usize { return load<usize>(PKT, PKT_GSO_PAY_BASE); }  // the payload of the whole, in the slot

/** Segments of the super-packet at pL3; 0 when its headers leave no payload to cut. */
export function gsoPlan(): u32 {
  store<u8>(PKT, <u8>(pAf() == AF_INET), PKT_GSO_V4IN);
  store<u32>(PKT, pHdrLen(), PKT_GSO_IHL);
  store<u32>(PKT, pGsoUdp() ? 8 : (<u32>load<u8>(pL4(), 12) >> 4) << 2, PKT_GSO_THL);
  store<u32>(PKT, pL4Len() - thl(), PKT_GSO_PAY_TOTAL);
  store<u32>(PKT, pGsoSize(), PKT_GSO_MSS);
  // "too small packets are not really GSO ones" (virtio_net_hdr_to_skb; tcp_gso_segment sends
  // a payload of at most gso_size as it is): one segment
  store<u32>(PKT, payTotal() <= mss() ? 1 : (payTotal() + mss() - 1) / mss(), PKT_GSO_SEGS);
  store<u32>(PKT, ld32be(pL4() + 4), PKT_GSO_SEQ0);
  store<u32>(PKT, v4in() ? ld16be(pL3() + 4) : 0, PKT_GSO_ID0);
  store<u8>(PKT, load<u8>(pL4(), 13), PKT_GSO_FLAGS0);
  return nSegs();
}

/** Segments of the planned super-packet. */
@inline export function gsoSegs(): u32 { return nSegs(); }

/** Payload bytes of segment k. */
@inline function payLen(k: u32): u32 {
  let off = k * mss();
  return payTotal() - off < mss() ? payTotal() - off : mss();
}

/** The inner IP length of segment k (segment 0 is the largest). */
export function gsoSegIpLen(k: u32): u32 { return ihl() + thl() + payLen(k); }

/** Headers in front of the payload, from the L2 header to the TCP options (the UDP header), for a tunnel of ohl + ehl bytes. */
export function gsoHdrLen(l2len: u32, outer: u32): u32 { return l2len + outer + ihl() + thl(); }

/** Sum of the pseudo-header of the IP header at ip for proto and len (RFC 793 / 768 / 8200 §8.1). */
function hdrPseudo(ip: usize, v4: bool, proto: u8, len: u32): u64 {
  let s: u64 = <u64>htons(proto) + <u64>htons(len & 0xffff) + <u64>htons(len >> 16);
  return v4 ? csumPartial(ip + 12, 8, s) : csumPartial(ip + 8, 32, s);
}

/**
 * Segment k's inner headers at ip (its payload after them): lengths, IPv4 id and checksum,
 * TCP: sequence number, flags and the complete checksum; UDP: length and the complete checksum.
 */
export function gsoInner(ip: usize, k: u32): void {
  let pl = payLen(k);
  let t = ip + ihl();
  if (v4in()) {
    st16be(ip + 2, ihl() + thl() + pl);
    st16be(ip + 4, (id0() + k) & 0xffff);
    ipv4SendCheck(ip, ihl());
  } else {
    st16be(ip + 4, ihl() - 40 + thl() + pl);
  }
  let len = thl() + pl;
  if (pGsoUdp()) {
    st16be(t + 4, len);
    store<u16>(t, 0, 6);
    let c = <u16>(~csumFold(csumPartial(t, len, hdrPseudo(ip, v4in(), IPPROTO_UDP, len))) & 0xffff);
    store<u16>(t, c == 0 ? 0xffff : c, 6);      // RFC 768: a computed 0 is sent as all ones
    return;
  }
  st32be(t + 4, seq0() + k * mss());
  let fl = flags0();
  if (k + 1 < nSegs()) fl &= ~TH_FIN_PSH;
  if (k > 0) fl &= ~TH_CWR;
  store<u8>(t, fl, 13);
  store<u16>(t, 0, 16);
  store<u16>(t, <u16>(~csumFold(csumPartial(t, len, hdrPseudo(ip, v4in(), IPPROTO_TCP, len))) & 0xffff), 16);
}

/** Segment 0 cut in place at pL3 (the packet the engine goes on with). */
export function gsoFirstInner(): void {
  gsoInner(pL3(), 0);
  iphResize(<i32>gsoSegIpLen(0) - <i32>(ihl() + thl() + payTotal()));
}

/** The tunnel xmit's encapsulation: type (TUN_IPIP/GUE/GRE) and whether the outer UDP / GRE carries a checksum. */
export function gsoEncap(type: u8, csum: bool): void { store<u8>(PKT, type, PKT_GSO_ENC); store<u8>(PKT, <u8>(csum), PKT_GSO_ENC_CSUM); }

/**
 * At output: the encapsulated super-packet at ip (outer header; its L2 header l2len bytes in
 * front, the inner packet at pL3). Saves the headers as the template of segments 1.. and gives
 * the outer IPv4 ids. False: the headers are longer than the template's room.
 */
export function gsoBegin(ip: usize, l2len: u32): bool {
  store<u32>(PKT, l2len, PKT_GSO_L2);
  store<u8>(PKT, <u8>((load<u8>(ip) >> 4) == 4), PKT_GSO_V4OUT);
  store<u32>(PKT, v4out() ? 20 : 40, PKT_GSO_OHL);
  store<u32>(PKT, <u32>(pL3() - ip) - ohl(), PKT_GSO_EHL);
  store<u32>(PKT, l2() + ohl() + ehl() + ihl() + thl(), PKT_GSO_TPL_LEN);
  if (tplLen() > GSO_TPL_MAX) return false;
  store<usize>(PKT, ip - l2() + tplLen(), PKT_GSO_PAY_BASE);
  memory.copy(PKT + PKT_GSO_TPL, ip - l2(), tplLen());
  if (v4out()) {
    store<u32>(PKT, ld16be(ip + 4), PKT_GSO_OID0);
    // ip_select_ident reserved gso_segs ids for a packet without DF (ip_idents_reserve); with
    // DF the id is 0 and segmentation counts up from it
    if ((ld16be(ip + 6) & 0x4000) == 0 && nSegs() > 1) sharedAdd32(CTL + CTL_IP_IDENT, nSegs() - 1);
  }
  return true;
}

/** Where the headers of every segment are (the template) and how long they are. */
@inline export function gsoTpl(): usize { return PKT + PKT_GSO_TPL; }
@inline export function gsoTplLen(): u32 { return tplLen(); }
/** Segment k's payload in the slot, and its length. */
@inline export function gsoPayload(k: u32): usize { return payBase() + <usize>(k * mss()); }
@inline export function gsoPayLen(k: u32): u32 { return payLen(k); }
/** The outer packet length of segment k. */
@inline export function gsoOuterLen(k: u32): u32 { return ohl() + ehl() + ihl() + thl() + payLen(k); }

/** Segment k's headers in the frame at frame (L2 header first; template headers and its payload there). */
export function gsoFix(frame: usize, k: u32): void {
  let o = frame + l2();
  let e = o + ohl();
  let inner = e + ehl();
  gsoInner(inner, k);
  let innerLen = ehl() + ihl() + thl() + payLen(k);    // what follows the outer header
  if (enc() == ENC_GUE) {
    st16be(e + 4, innerLen);
    store<u16>(e + 6, 0);
    if (encCsum()) {
      let c = <u16>(~csumFold(csumPartial(e, innerLen, hdrPseudo(o, v4out(), IPPROTO_UDP, innerLen))) & 0xffff);
      store<u16>(e + 6, c == 0 ? 0xffff : c);
    }
  } else if (enc() == ENC_GRE && encCsum()) {
    store<u32>(e + 4, 0);
    store<u16>(e + 4, <u16>(~csumFold(csumPartial(e, innerLen, 0)) & 0xffff));
  }
  if (v4out()) {
    st16be(o + 2, ohl() + innerLen);
    st16be(o + 4, (oid0() + k) & 0xffff);
    ipv4SendCheck(o, 20);
  } else {
    st16be(o + 4, innerLen);
  }
}
