// Per-packet parse (ip_vs_fill_iph_skb): every read is bounds-checked against the frame;
// a frame that lies about a length is refused with a named reason, never read past.
import {
  CTL, PKT_SADDR, PKT_DADDR, PKT_I_SADDR, PKT_I_DADDR, linkType, PKT, PKT_AF, PKT_CSUM_PARTIAL, PKT_DPORT,
  PKT_EXT_FRAG_NH_OFF, PKT_EXT_FRAG_OFF, PKT_EXT_OFF, PKT_EXT_PROTO, PKT_FRAGMENT, PKT_FRAME, PKT_FRAME_LEN, PKT_GSO,
  PKT_GSO_SIZE, PKT_GSO_V4, PKT_HDR_LEN, PKT_ICMP_CODE, PKT_ICMP_TYPE, PKT_I_AF, PKT_I_DPORT, PKT_I_HDR_LEN, PKT_I_L3,
  PKT_I_L4, PKT_I_PROTO, PKT_I_SPORT, PKT_L3, PKT_L4, PKT_L4_LEN, PKT_LEN, PKT_PROTO, PKT_SPORT, PKT_TCP_FLAGS,
  PKT_VNET, linkVnet,
} from "../layout";
import {
  CNT_TRUNCATED, CNT_BAD_VERSION, CNT_BAD_IHL, CNT_BAD_LEN, CNT_BAD_IP_CSUM, CNT_BAD_L4,
  CNT_IPV6_EXT_LIMIT, CNT_FRAGMENT, CNT_NOT_IP, CNT_SCTP_BAD_CHUNK, CNT_BAD_VNET_HDR, CNT_REASM_BAD_FRAG,
  IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, AF_INET, AF_INET6,
} from "../defs";
import { ld16be, addrFromV4, addrCopy } from "./bytes";
import { ipv4CsumOk, l4CsumFull } from "./csum";
import { sctpChunksOk } from "../proto/sctp";

/** How many IPv6 extension headers we walk before giving up (RFC 8200 allows a chain; we bound it). */
@inline export const IPV6_EXT_MAX: u32 = 8;

// ---- the current packet: this worker's packet record (layout.ts PKT_*), read through these ----
@inline export function pFrame(): usize { return load<usize>(PKT, PKT_FRAME); }  // frame start (link header, if any)
@inline export function pFrameLen(): u32 { return load<u32>(PKT, PKT_FRAME_LEN); }
@inline export function pL3(): usize { return load<usize>(PKT, PKT_L3); }  // IP header
@inline export function pLen(): u32 { return load<u32>(PKT, PKT_LEN); }  // IP datagram length (total length; frame padding trimmed)
@inline export function pAf(): u8 { return load<u8>(PKT, PKT_AF); }
@inline export function pProto(): u8 { return load<u8>(PKT, PKT_PROTO); }  // transport protocol after extension headers
@inline export function pHdrLen(): u32 { return load<u32>(PKT, PKT_HDR_LEN); }  // IP header length including IPv6 extension headers
@inline export function pL4(): usize { return load<usize>(PKT, PKT_L4); }
@inline export function pL4Len(): u32 { return load<u32>(PKT, PKT_L4_LEN); }
@inline export function pSport(): u16 { return load<u16>(PKT, PKT_SPORT); }  // wire order
@inline export function pDport(): u16 { return load<u16>(PKT, PKT_DPORT); }  // wire order
@inline export function pTcpFlags(): u8 { return load<u8>(PKT, PKT_TCP_FLAGS); }
@inline export function pIcmpType(): u8 { return load<u8>(PKT, PKT_ICMP_TYPE); }
@inline export function pIcmpCode(): u8 { return load<u8>(PKT, PKT_ICMP_CODE); }
// A device with offloads (layout linkVnet): the struct virtio_net_hdr in front of the frame
@inline export function pVnet(): usize { return load<usize>(PKT, PKT_VNET); }  // the header (the frame starts VNET_HDR_LEN after it)
@inline export function pCsumPartial(): bool { return load<u8>(PKT, PKT_CSUM_PARTIAL) != 0; }  // VIRTIO_NET_HDR_F_NEEDS_CSUM: the L4 checksum is CHECKSUM_PARTIAL
@inline export function pGso(): bool { return load<u8>(PKT, PKT_GSO) != 0; }  // a super-packet (gso_type TCPV4/TCPV6, UDP_L4) the kernel segments later
@inline export function pGsoUdp(): bool { return load<u8>(PKT, PKT_GSO) == GSO_UDP; }  // a UDP one (gso_type UDP_L4: a UDP_SEGMENT burst)
/** An IPv6 first fragment going on unreassembled (parseFragmentAsPacket): its UDP length may run past it. */
@inline export function pFragment(): bool { return load<u8>(PKT, PKT_FRAGMENT) != 0; }
@inline export function pGsoSize(): u32 { return load<u32>(PKT, PKT_GSO_SIZE); }  // its gso_size: TCP payload bytes per segment (the MSS)
@inline function gsoV4(): bool { return load<u8>(PKT, PKT_GSO_V4) != 0; }  // gso_type TCPV4 (else TCPV6)

/** Bytes of struct virtio_net_hdr in front of every frame of a TUN with offloads (TUNSETVNETHDRSZ default). */
@inline export const VNET_HDR_LEN: u32 = 10;
@inline const VNET_F_NEEDS_CSUM: u8 = 1;
@inline const VNET_GSO_TCPV4: u8 = 1;
@inline const VNET_GSO_TCPV6: u8 = 4;
@inline const VNET_GSO_ECN: u8 = 0x80;
@inline const VNET_GSO_UDP_L4: u8 = 5;   // linux/virtio_net.h, TUN_F_USO4/USO6 (6.2+)
@inline const GSO_UDP: u8 = 2;           // PKT_GSO: 1 TCP, 2 UDP

// TCP flag bits (RFC 793 / 3168)
@inline export const TH_FIN: u8 = 0x01;
@inline export const TH_SYN: u8 = 0x02;
@inline export const TH_RST: u8 = 0x04;
@inline export const TH_ACK: u8 = 0x10;

@inline export function pktSaddr(): usize { return PKT + PKT_SADDR; }
@inline export function pktDaddr(): usize { return PKT + PKT_DADDR; }

/**
 * Where the EtherType of the Ethernet frame at `frame` is: after the MACs and up to two 802.1Q /
 * 802.1ad tags (12, 16 or 20); 0 when the frame ends before it.
 */
export function ethTypeOff(frame: usize, len: u32): u32 {
  let off: u32 = 12;
  for (let tags = 0; tags < 2; tags++) {
    if (len < off + 2) return 0;
    let et = ld16be(frame + off);
    if (et != 0x8100 && et != 0x88a8) return off;
    off += 4;
  }
  return len < off + 2 ? 0 : off;
}

/** The L2 header's length in front of the packet's IP header (0 on a TUN). */
@inline export function pL2Len(): u32 { return <u32>(pL3() - pFrame()); }

/** Where a transport protocol keeps its checksum (TCP 16, UDP 6); 0: none we update in place. */
@inline export function l4CsumOff(proto: u8): u32 {
  return proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 0;
}

/** No virtio-net header for this frame (yet): nothing partial, no super-packet. */
export function resetVnet(): void { store<usize>(PKT, 0, PKT_VNET); store<u8>(PKT, 0, PKT_CSUM_PARTIAL); store<u8>(PKT, 0, PKT_GSO); store<u32>(PKT, 0, PKT_GSO_SIZE); }

/**
 * The datagrams a UDP super-packet stands for (gso_size payload bytes each, the last what is
 * left), 1 for anything else. A kernel director sees them one by one (no UDP GRO on a forwarding
 * path by default), so IPVS counts packets and bytes per datagram: pSegs / pSegsLen.
 */
export function pSegs(): u32 {
  if (!pGsoUdp()) return 1;
  let pay = pL4Len() - 8;
  return pay <= pGsoSize() ? 1 : (pay + pGsoSize() - 1) / pGsoSize();
}
/** The bytes of those datagrams together: each has the IP and UDP headers of the whole. */
export function pSegsLen(): u32 { return pLen() + (pSegs() - 1) * (pHdrLen() + 8); }

/** The virtio-net header at vnet, in front of a frame (a device with offloads). 0 or the drop reason. */
export function parseVnet(vnet: usize): u32 {
  store<usize>(PKT, vnet, PKT_VNET);
  let gso = load<u8>(vnet, 1) & ~VNET_GSO_ECN;
  if (gso != 0 && gso != VNET_GSO_TCPV4 && gso != VNET_GSO_TCPV6 && gso != VNET_GSO_UDP_L4) return CNT_BAD_VNET_HDR;   // we asked for TSO and USO only
  store<u8>(PKT, gso == VNET_GSO_UDP_L4 ? GSO_UDP : <u8>(gso != 0), PKT_GSO);
  store<u8>(PKT, <u8>(gso == VNET_GSO_TCPV4), PKT_GSO_V4);
  store<u32>(PKT, <u32>load<u16>(vnet, 4), PKT_GSO_SIZE);       // little-endian, as the TUN writes it (TUNSETVNETLE or an LE host)
  store<u8>(PKT, <u8>((load<u8>(vnet) & VNET_F_NEEDS_CSUM) != 0), PKT_CSUM_PARTIAL);
  return 0;
}

/** Parse a frame. Returns 0, or the CNT_* reason it is refused (CNT_NOT_IP: not ours, pass). */
export function parseFrame(frame: usize, len: u32): u32 { return parseFrameInline(frame, len); }

/** parseFrame, inlined where every packet comes in (batch.ts processOne). */
@inline export function parseFrameInline(frame: usize, len: u32): u32 {
  // the packet record's address read once: V8 reloads a wasm global at every use
  let pkt = PKT;
  store<usize>(pkt, frame, PKT_FRAME); store<u32>(pkt, len, PKT_FRAME_LEN); store<u8>(pkt, 0, PKT_FRAGMENT);
  let l3 = frame;
  let l3len = len;
  if (linkType == 1) {                       // Ethernet (TAP): skip up to two VLAN tags
    let off = ethTypeOff(frame, len);
    if (off == 0) return CNT_TRUNCATED;
    let et = ld16be(frame + off);
    if (et != 0x0800 && et != 0x86dd) return CNT_NOT_IP;
    l3 = frame + off + 2;
    l3len = len - off - 2;
  }
  if (l3len < 1) return CNT_TRUNCATED;
  let ver = load<u8>(l3) >> 4;
  let r: u32;
  if (ver == 4) r = parseIpv4(pkt, l3, l3len);
  else if (ver == 6) r = parseIpv6(l3, l3len);
  else return CNT_BAD_VERSION;
  if (r != 0) return r;
  if (!linkVnet) return 0;                   // no virtio-net header: nothing partial, no super-packet
  // a super-packet is TCP and must say how to cut it (virtio_net_hdr_to_skb refuses gso_size 0),
  // in the family it is (TCPV4 for IPv4); a UDP_L4 one is UDP with its checksum left partial
  // (udp_send_skb's GSO path always is), in either family
  if (pGsoUdp()) { if (pProto() != IPPROTO_UDP || pGsoSize() == 0 || !pCsumPartial()) return CNT_BAD_VNET_HDR; }
  else if (pGso() && (pProto() != IPPROTO_TCP || pGsoSize() == 0 || gsoV4() != (pAf() == AF_INET))) return CNT_BAD_VNET_HDR;
  if (!pCsumPartial()) return 0;
  // a partial checksum must be the transport one, where the kernel puts it (csum_start, from the
  // frame's start, and csum_offset), and a super-packet TCP: the engine updates only that
  // field's pseudo-header part
  let csumOff = l4CsumOff(pProto());
  let l4Start = <u32>(pL3() - frame) + pHdrLen();
  if (csumOff == 0 || <u32>load<u16>(pVnet(), 6) != l4Start || <u32>load<u16>(pVnet(), 8) != csumOff) return CNT_BAD_VNET_HDR;
  return 0;
}

/** The IPv4 header at ip, then its transport header (parseL4). */
@inline function parseIpv4(pkt: usize, ip: usize, len: u32): u32 {
  if (len < 20) return CNT_TRUNCATED;
  let ihl = (<u32>load<u8>(ip) & 0xf) << 2;
  if (ihl < 20) return CNT_BAD_IHL;
  if (ihl > len) return CNT_TRUNCATED;
  let tot = ld16be(ip + 2);
  if (tot < ihl) return CNT_BAD_LEN;
  if (tot > len) return CNT_BAD_LEN;
  // ip_rcv drops a header whose checksum does not verify before any hook sees it
  if (!ipv4CsumOk(ip, ihl)) return CNT_BAD_IP_CSUM;
  store<usize>(pkt, ip, PKT_L3); store<u32>(pkt, tot, PKT_LEN); store<u8>(pkt, AF_INET, PKT_AF); store<u32>(pkt, ihl, PKT_HDR_LEN);
  let proto = load<u8>(ip, 9);
  store<u8>(pkt, proto, PKT_PROTO);
  addrFromV4(pkt + PKT_SADDR, ip + 12);
  addrFromV4(pkt + PKT_DADDR, ip + 16);
  // a fragment: reassembled first (packet/defrag.ts, nf_defrag_ipv4), IPVS sees whole datagrams
  if ((ld16be(ip + 6) & 0x3fff) != 0) return CNT_FRAGMENT;
  store<usize>(pkt, ip + ihl, PKT_L4); store<u32>(pkt, tot - ihl, PKT_L4_LEN);
  return parseL4(pkt, ip + ihl, tot - ihl, proto);
}

/** Is `nh` an IPv6 extension header we walk over (RFC 8200 §4, RFC 4302 AH)? */
@inline function isIpv6Ext(nh: u8): bool {
  return nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == 135 || nh == 139 || nh == 140;
}

/** Walk IPv6 extension headers from `nh` at `p` up to `end`. Sets pProto/pHdrLen-ish outputs via return. */
@inline function extProto(): u8 { return load<u8>(PKT, PKT_EXT_PROTO); }
@inline function extOff(): u32 { return load<u32>(PKT, PKT_EXT_OFF); }
/** The last walk met a Fragment header: where it is, and where the next-header byte naming it is. */
@inline export function extFragOff(): u32 { return load<u32>(PKT, PKT_EXT_FRAG_OFF); }
@inline export function extFragNhOff(): u32 { return load<u32>(PKT, PKT_EXT_FRAG_NH_OFF); }
function walkIpv6Ext(ip: usize, len: u32, first: u8): u32 {
  let nh = first;
  let off: u32 = 40;
  let n: u32 = 0;
  let nhOff: u32 = 6;
  while (isIpv6Ext(nh) || nh == 44) {
    if (n == IPV6_EXT_MAX) return CNT_IPV6_EXT_LIMIT;
    if (off + 8 > len) return CNT_TRUNCATED;
    // a Fragment header: reassembled first (packet/defrag.ts, nf_defrag_ipv6)
    if (nh == 44) { store<u32>(PKT, off, PKT_EXT_FRAG_OFF); store<u32>(PKT, nhOff, PKT_EXT_FRAG_NH_OFF); return CNT_FRAGMENT; }
    nhOff = off;
    let next = load<u8>(ip + off);
    let hlen: u32 = nh == 51 ? ((<u32>load<u8>(ip + off + 1) + 2) << 2) : ((<u32>load<u8>(ip + off + 1) + 1) << 3);
    off += hlen;
    if (off > len) return CNT_TRUNCATED;
    nh = next;
    n++;
  }
  store<u8>(PKT, nh, PKT_EXT_PROTO); store<u32>(PKT, off, PKT_EXT_OFF);
  return 0;
}

function parseIpv6(ip: usize, len: u32): u32 {
  if (len < 40) return CNT_TRUNCATED;
  let plen = ld16be(ip + 4);
  if (plen == 0) return CNT_BAD_LEN;          // jumbograms (RFC 2675) are not forwarded
  let tot = plen + 40;
  if (tot > len) return CNT_BAD_LEN;
  store<usize>(PKT, ip, PKT_L3); store<u32>(PKT, tot, PKT_LEN); store<u8>(PKT, AF_INET6, PKT_AF);
  addrCopy(PKT + PKT_SADDR, ip + 8);
  addrCopy(PKT + PKT_DADDR, ip + 24);
  let r = walkIpv6Ext(ip, tot, load<u8>(ip, 6));
  if (r != 0) return r;
  store<u8>(PKT, extProto(), PKT_PROTO); store<u32>(PKT, extOff(), PKT_HDR_LEN);
  store<usize>(PKT, ip + extOff(), PKT_L4); store<u32>(PKT, tot - extOff(), PKT_L4_LEN);
  return parseL4(PKT, ip + extOff(), tot - extOff(), extProto());
}

/**
 * The current IPv6 packet, a first fragment the reassembly let go (nf_ct_frag6_gather returns 0
 * on -EPROTO and the fragment goes on as it is): IPVS (ipv6_find_hdr) reads its transport header
 * after the Fragment header. 0, or the drop reason.
 */
export function parseFragmentAsPacket(): u32 {
  let nh = load<u8>(pL3() + extFragOff());
  if (isIpv6Ext(nh) || nh == 44) return CNT_REASM_BAD_FRAG;   // more headers after it: not walked here
  store<u8>(PKT, nh, PKT_PROTO); store<u32>(PKT, extFragOff() + 8, PKT_HDR_LEN);
  store<usize>(PKT, pL3() + pHdrLen(), PKT_L4); store<u32>(PKT, pLen() - pHdrLen(), PKT_L4_LEN);
  store<u8>(PKT, 1, PKT_FRAGMENT);
  return parseL4(PKT, pL3() + pHdrLen(), pLen() - pHdrLen(), nh);
}

/**
 * The transport header of protocol p at l4 (l4len bytes to the datagram's end), into the packet
 * record at pkt (PKT): ports, TCP flags,
 * ICMP type and code, each zero when the protocol has none. PKT_SPORT and PKT_DPORT are
 * neighbours (layout.ts): both ports are stored as one u32, in wire order as they come.
 */
@inline function parseL4(pkt: usize, l4: usize, l4len: u32, p: u8): u32 {
  let ports: u32 = 0, flags: u8 = 0, itype: u8 = 0, icode: u8 = 0, r: u32 = 0;
  if (p == IPPROTO_TCP) {
    if (l4len < 20) r = CNT_BAD_L4;
    else {
      let doff = (<u32>load<u8>(l4, 12) >> 4) << 2;
      if (doff < 20 || doff > l4len) r = CNT_BAD_L4;
      else { ports = load<u32>(l4); flags = load<u8>(l4, 13); }
    }
  } else if (p == IPPROTO_UDP) {
    if (l4len < 8) r = CNT_BAD_L4;
    else {
      let ulen = ld16be(l4 + 4);
      if (ulen < 8 || (ulen > l4len && load<u8>(pkt, PKT_FRAGMENT) == 0)) r = CNT_BAD_L4;
      else ports = load<u32>(l4);
    }
  } else if (p == IPPROTO_SCTP) {
    if (l4len < 12) r = CNT_BAD_L4;
    // every chunk's length must hold (IPVS reads the first one or two chunk headers)
    else if (!sctpChunksOk(l4, l4len)) r = CNT_SCTP_BAD_CHUNK;
    else ports = load<u32>(l4);
  } else if (p == IPPROTO_ICMP || p == IPPROTO_ICMPV6) {
    if (l4len < 8) r = CNT_BAD_L4;
    else { itype = load<u8>(l4); icode = load<u8>(l4, 1); }
  }
  store<u32>(pkt, ports, PKT_SPORT);
  store<u8>(pkt, flags, PKT_TCP_FLAGS); store<u8>(pkt, itype, PKT_ICMP_TYPE); store<u8>(pkt, icode, PKT_ICMP_CODE);
  return r;
}

/**
 * Finish a partial transport checksum here (skb_checksum_help) and clear NEEDS_CSUM in the
 * frame's virtio-net header: before an edit the pseudo-header update does not cover (TOA).
 */
export function csumPartialFinish(): void {
  if (!pCsumPartial()) return;
  let off = l4CsumOff(pProto());
  store<u16>(pL4() + off, 0);
  let c = l4CsumFull(pAf(), pktSaddr(), pktDaddr(), pProto(), pL4(), pL4Len());
  store<u16>(pL4() + off, pProto() == IPPROTO_UDP && c == 0 ? 0xffff : c);
  store<u8>(pVnet(), load<u8>(pVnet()) & ~VNET_F_NEEDS_CSUM);
  store<u8>(PKT, 0, PKT_CSUM_PARTIAL);
}

/** The datagram grew (or shrank, n < 0) by n bytes inside its L4 part (FULLNAT's TOA option). */
export function iphResize(n: i32): void {
  store<u32>(PKT, <u32>(<i32>pLen() + n), PKT_LEN);
  store<u32>(PKT, <u32>(<i32>pL4Len() + n), PKT_L4_LEN);
}

/** Re-read the addresses after the packet was rewritten (later hooks see what goes out). */
export function iphRefreshAddrs(): void {
  if (pAf() == AF_INET) {
    addrFromV4(PKT + PKT_SADDR, pL3() + 12);
    addrFromV4(PKT + PKT_DADDR, pL3() + 16);
  } else {
    addrCopy(PKT + PKT_SADDR, pL3() + 8);
    addrCopy(PKT + PKT_DADDR, pL3() + 24);
  }
  if (pProto() == IPPROTO_TCP || pProto() == IPPROTO_UDP || pProto() == IPPROTO_SCTP) {
    store<u16>(PKT, load<u16>(pL4()), PKT_SPORT); store<u16>(PKT, load<u16>(pL4(), 2), PKT_DPORT);
  }
}

/**
 * iphRefreshAddrs after a rewrite of the destination alone (NAT's way in): the new address (IPv4:
 * its 4 bytes, the 16-byte form's prefix is already there; IPv6: the 16 bytes at a6) and port
 * (wire order), stored as iphRefreshAddrs would re-read them, without re-reading the rest. For a
 * TCP, UDP or SCTP packet only (its caller's, natXmit's: IPVS transmits no other protocol on its
 * way in), so the port is stored without asking the protocol.
 */
@inline export function iphSetDst(v4: u32, a6: usize, port: u16): void {
  if (pAf() == AF_INET) store<u32>(PKT + PKT_DADDR, v4, 12);
  else addrCopy(PKT + PKT_DADDR, a6);
  store<u16>(PKT, port, PKT_DPORT);
}

// ---- the packet quoted inside an ICMP error (RFC 792, RFC 4443 §2.4(c)) -----------------------
@inline export function iL3(): usize { return load<usize>(PKT, PKT_I_L3); }
@inline export function iAf(): u8 { return load<u8>(PKT, PKT_I_AF); }
@inline export function iProto(): u8 { return load<u8>(PKT, PKT_I_PROTO); }
@inline export function iHdrLen(): u32 { return load<u32>(PKT, PKT_I_HDR_LEN); }
@inline export function iL4(): usize { return load<usize>(PKT, PKT_I_L4); }
@inline export function iSport(): u16 { return load<u16>(PKT, PKT_I_SPORT); }
@inline export function iDport(): u16 { return load<u16>(PKT, PKT_I_DPORT); }

/** Parse the quoted datagram after the 8-byte ICMP header. Needs the inner ports (4 bytes). */
export function parseInner(): u32 {
  let p = pL4() + 8;
  let len = pL4Len() - 8;
  if (len < 1) return CNT_TRUNCATED;
  let ver = load<u8>(p) >> 4;
  if (pAf() == AF_INET) {
    if (ver != 4) return CNT_BAD_VERSION;
    if (len < 20) return CNT_TRUNCATED;
    let ihl = (<u32>load<u8>(p) & 0xf) << 2;
    if (ihl < 20) return CNT_BAD_IHL;
    store<u32>(PKT, ihl, PKT_I_HDR_LEN);
    store<u8>(PKT, load<u8>(p, 9), PKT_I_PROTO);
    addrFromV4(PKT + PKT_I_SADDR, p + 12);
    addrFromV4(PKT + PKT_I_DADDR, p + 16);
    // a quoted non-first fragment carries no ports (ip_vs_out_icmp: "Fragment?")
    if ((ld16be(p + 6) & 0x1fff) != 0) return CNT_FRAGMENT;
  } else {
    if (ver != 6) return CNT_BAD_VERSION;
    if (len < 40) return CNT_TRUNCATED;
    addrCopy(PKT + PKT_I_SADDR, p + 8);
    addrCopy(PKT + PKT_I_DADDR, p + 24);
    let r = walkIpv6Ext(p, len, load<u8>(p, 6));
    if (r != 0) return r;
    store<u8>(PKT, extProto(), PKT_I_PROTO); store<u32>(PKT, extOff(), PKT_I_HDR_LEN);
  }
  store<usize>(PKT, p, PKT_I_L3); store<u8>(PKT, pAf(), PKT_I_AF);
  if (iHdrLen() + 4 > len) return CNT_TRUNCATED;
  store<usize>(PKT, p + iHdrLen(), PKT_I_L4);
  store<u16>(PKT, load<u16>(iL4()), PKT_I_SPORT); store<u16>(PKT, load<u16>(iL4(), 2), PKT_I_DPORT);
  return 0;
}
