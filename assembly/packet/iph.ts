// Per-packet parse (ip_vs_fill_iph_skb): every read is bounds-checked against the frame;
// a frame that lies about a length is refused with a named reason, never read past.
import { CTL, CTL_PKT_SADDR, CTL_PKT_DADDR, CTL_INNER_SADDR, CTL_INNER_DADDR, linkType } from "../layout";
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

// ---- the current packet ---------------------------------------------------------------------
export let pFrame: usize = 0;    // frame start (link header, if any)
export let pFrameLen: u32 = 0;
export let pL3: usize = 0;       // IP header
export let pLen: u32 = 0;        // IP datagram length (total length; frame padding trimmed)
export let pAf: u8 = 0;
export let pProto: u8 = 0;       // transport protocol after extension headers
export let pHdrLen: u32 = 0;     // IP header length including IPv6 extension headers
export let pL4: usize = 0;
export let pL4Len: u32 = 0;
export let pSport: u16 = 0;      // wire order
export let pDport: u16 = 0;      // wire order
export let pTcpFlags: u8 = 0;
export let pIcmpType: u8 = 0;
export let pIcmpCode: u8 = 0;
// A device with offloads (layout linkVnet): the struct virtio_net_hdr in front of the frame
export let pVnet: usize = 0;             // the header (the frame starts VNET_HDR_LEN after it)
export let pCsumPartial: bool = false;   // VIRTIO_NET_HDR_F_NEEDS_CSUM: the L4 checksum is CHECKSUM_PARTIAL
export let pGso: bool = false;           // a TCP super-packet (gso_type TCPV4/TCPV6) the kernel segments later
/** An IPv6 first fragment going on unreassembled (parseFragmentAsPacket): its UDP length may run past it. */
export let pFragment: bool = false;
export let pGsoSize: u32 = 0;            // its gso_size: TCP payload bytes per segment (the MSS)
let gsoV4: bool = false;                 // gso_type TCPV4 (else TCPV6)

/** Bytes of struct virtio_net_hdr in front of every frame of a TUN with offloads (TUNSETVNETHDRSZ default). */
@inline export const VNET_HDR_LEN: u32 = 10;
@inline const VNET_F_NEEDS_CSUM: u8 = 1;
@inline const VNET_GSO_TCPV4: u8 = 1;
@inline const VNET_GSO_TCPV6: u8 = 4;
@inline const VNET_GSO_ECN: u8 = 0x80;

// TCP flag bits (RFC 793 / 3168)
@inline export const TH_FIN: u8 = 0x01;
@inline export const TH_SYN: u8 = 0x02;
@inline export const TH_RST: u8 = 0x04;
@inline export const TH_ACK: u8 = 0x10;

@inline export function pktSaddr(): usize { return CTL + CTL_PKT_SADDR; }
@inline export function pktDaddr(): usize { return CTL + CTL_PKT_DADDR; }

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
@inline export function pL2Len(): u32 { return <u32>(pL3 - pFrame); }

/** Where a transport protocol keeps its checksum (TCP 16, UDP 6); 0: none we update in place. */
@inline export function l4CsumOff(proto: u8): u32 {
  return proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 0;
}

/** No virtio-net header for this frame (yet): nothing partial, no super-packet. */
export function resetVnet(): void { pVnet = 0; pCsumPartial = false; pGso = false; pGsoSize = 0; }

/** The virtio-net header at vnet, in front of a frame (a device with offloads). 0 or the drop reason. */
export function parseVnet(vnet: usize): u32 {
  pVnet = vnet;
  let gso = load<u8>(vnet, 1) & ~VNET_GSO_ECN;
  if (gso != 0 && gso != VNET_GSO_TCPV4 && gso != VNET_GSO_TCPV6) return CNT_BAD_VNET_HDR;   // we asked for TSO only
  pGso = gso != 0;
  gsoV4 = gso == VNET_GSO_TCPV4;
  pGsoSize = <u32>load<u16>(vnet, 4);       // little-endian, as the TUN writes it (TUNSETVNETLE or an LE host)
  pCsumPartial = (load<u8>(vnet) & VNET_F_NEEDS_CSUM) != 0;
  return 0;
}

/** Parse a frame. Returns 0, or the CNT_* reason it is refused (CNT_NOT_IP: not ours, pass). */
export function parseFrame(frame: usize, len: u32): u32 {
  pFrame = frame; pFrameLen = len; pFragment = false;
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
  if (ver == 4) r = parseIpv4(l3, l3len);
  else if (ver == 6) r = parseIpv6(l3, l3len);
  else return CNT_BAD_VERSION;
  if (r != 0) return r;
  r = parseL4();
  if (r != 0) return r;
  // a super-packet is TCP and must say how to cut it (virtio_net_hdr_to_skb refuses gso_size 0),
  // in the family it is (TCPV4 for IPv4)
  if (pGso && (pProto != IPPROTO_TCP || pGsoSize == 0 || gsoV4 != (pAf == AF_INET))) return CNT_BAD_VNET_HDR;
  if (!pCsumPartial) return 0;
  // a partial checksum must be the transport one, where the kernel puts it (csum_start, from the
  // frame's start, and csum_offset), and a super-packet TCP: the engine updates only that
  // field's pseudo-header part
  let csumOff = l4CsumOff(pProto);
  let l4Start = <u32>(pL3 - frame) + pHdrLen;
  if (csumOff == 0 || <u32>load<u16>(pVnet, 6) != l4Start || <u32>load<u16>(pVnet, 8) != csumOff) return CNT_BAD_VNET_HDR;
  return 0;
}

function parseIpv4(ip: usize, len: u32): u32 {
  if (len < 20) return CNT_TRUNCATED;
  let ihl = (<u32>load<u8>(ip) & 0xf) << 2;
  if (ihl < 20) return CNT_BAD_IHL;
  if (ihl > len) return CNT_TRUNCATED;
  let tot = ld16be(ip + 2);
  if (tot < ihl) return CNT_BAD_LEN;
  if (tot > len) return CNT_BAD_LEN;
  // ip_rcv drops a header whose checksum does not verify before any hook sees it
  if (!ipv4CsumOk(ip, ihl)) return CNT_BAD_IP_CSUM;
  pL3 = ip; pLen = tot; pAf = AF_INET; pHdrLen = ihl;
  pProto = load<u8>(ip, 9);
  addrFromV4(CTL + CTL_PKT_SADDR, ip + 12);
  addrFromV4(CTL + CTL_PKT_DADDR, ip + 16);
  // a fragment: reassembled first (packet/defrag.ts, nf_defrag_ipv4), IPVS sees whole datagrams
  if ((ld16be(ip + 6) & 0x3fff) != 0) return CNT_FRAGMENT;
  pL4 = ip + ihl; pL4Len = tot - ihl;
  return 0;
}

/** Is `nh` an IPv6 extension header we walk over (RFC 8200 §4, RFC 4302 AH)? */
@inline function isIpv6Ext(nh: u8): bool {
  return nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == 135 || nh == 139 || nh == 140;
}

/** Walk IPv6 extension headers from `nh` at `p` up to `end`. Sets pProto/pHdrLen-ish outputs via return. */
let extProto: u8 = 0;
let extOff: u32 = 0;
/** The last walk met a Fragment header: where it is, and where the next-header byte naming it is. */
export let extFragOff: u32 = 0;
export let extFragNhOff: u32 = 0;
function walkIpv6Ext(ip: usize, len: u32, first: u8): u32 {
  let nh = first;
  let off: u32 = 40;
  let n: u32 = 0;
  let nhOff: u32 = 6;
  while (isIpv6Ext(nh) || nh == 44) {
    if (n == IPV6_EXT_MAX) return CNT_IPV6_EXT_LIMIT;
    if (off + 8 > len) return CNT_TRUNCATED;
    // a Fragment header: reassembled first (packet/defrag.ts, nf_defrag_ipv6)
    if (nh == 44) { extFragOff = off; extFragNhOff = nhOff; return CNT_FRAGMENT; }
    nhOff = off;
    let next = load<u8>(ip + off);
    let hlen: u32 = nh == 51 ? ((<u32>load<u8>(ip + off + 1) + 2) << 2) : ((<u32>load<u8>(ip + off + 1) + 1) << 3);
    off += hlen;
    if (off > len) return CNT_TRUNCATED;
    nh = next;
    n++;
  }
  extProto = nh; extOff = off;
  return 0;
}

function parseIpv6(ip: usize, len: u32): u32 {
  if (len < 40) return CNT_TRUNCATED;
  let plen = ld16be(ip + 4);
  if (plen == 0) return CNT_BAD_LEN;          // jumbograms (RFC 2675) are not forwarded
  let tot = plen + 40;
  if (tot > len) return CNT_BAD_LEN;
  pL3 = ip; pLen = tot; pAf = AF_INET6;
  addrCopy(CTL + CTL_PKT_SADDR, ip + 8);
  addrCopy(CTL + CTL_PKT_DADDR, ip + 24);
  let r = walkIpv6Ext(ip, tot, load<u8>(ip, 6));
  if (r != 0) return r;
  pProto = extProto; pHdrLen = extOff;
  pL4 = ip + extOff; pL4Len = tot - extOff;
  return 0;
}

/**
 * The current IPv6 packet, a first fragment the reassembly let go (nf_ct_frag6_gather returns 0
 * on -EPROTO and the fragment goes on as it is): IPVS (ipv6_find_hdr) reads its transport header
 * after the Fragment header. 0, or the drop reason.
 */
export function parseFragmentAsPacket(): u32 {
  let nh = load<u8>(pL3 + extFragOff);
  if (isIpv6Ext(nh) || nh == 44) return CNT_REASM_BAD_FRAG;   // more headers after it: not walked here
  pProto = nh; pHdrLen = extFragOff + 8;
  pL4 = pL3 + pHdrLen; pL4Len = pLen - pHdrLen;
  pFragment = true;
  return parseL4();
}

function parseL4(): u32 {
  pSport = 0; pDport = 0; pTcpFlags = 0; pIcmpType = 0; pIcmpCode = 0;
  let p = pProto;
  if (p == IPPROTO_TCP) {
    if (pL4Len < 20) return CNT_BAD_L4;
    let doff = (<u32>load<u8>(pL4, 12) >> 4) << 2;
    if (doff < 20 || doff > pL4Len) return CNT_BAD_L4;
    pSport = load<u16>(pL4); pDport = load<u16>(pL4, 2);
    pTcpFlags = load<u8>(pL4, 13);
  } else if (p == IPPROTO_UDP) {
    if (pL4Len < 8) return CNT_BAD_L4;
    let ulen = ld16be(pL4 + 4);
    if (ulen < 8 || (ulen > pL4Len && !pFragment)) return CNT_BAD_L4;
    pSport = load<u16>(pL4); pDport = load<u16>(pL4, 2);
  } else if (p == IPPROTO_SCTP) {
    if (pL4Len < 12) return CNT_BAD_L4;
    // every chunk's length must hold (IPVS reads the first one or two chunk headers)
    if (!sctpChunksOk(pL4, pL4Len)) return CNT_SCTP_BAD_CHUNK;
    pSport = load<u16>(pL4); pDport = load<u16>(pL4, 2);
  } else if (p == IPPROTO_ICMP || p == IPPROTO_ICMPV6) {
    if (pL4Len < 8) return CNT_BAD_L4;
    pIcmpType = load<u8>(pL4); pIcmpCode = load<u8>(pL4, 1);
  }
  return 0;
}

/**
 * Finish a partial transport checksum here (skb_checksum_help) and clear NEEDS_CSUM in the
 * frame's virtio-net header: before an edit the pseudo-header update does not cover (TOA).
 */
export function csumPartialFinish(): void {
  if (!pCsumPartial) return;
  let off = l4CsumOff(pProto);
  store<u16>(pL4 + off, 0);
  let c = l4CsumFull(pAf, pktSaddr(), pktDaddr(), pProto, pL4, pL4Len);
  store<u16>(pL4 + off, pProto == IPPROTO_UDP && c == 0 ? 0xffff : c);
  store<u8>(pVnet, load<u8>(pVnet) & ~VNET_F_NEEDS_CSUM);
  pCsumPartial = false;
}

/** The datagram grew (or shrank, n < 0) by n bytes inside its L4 part (FULLNAT's TOA option). */
export function iphResize(n: i32): void {
  pLen = <u32>(<i32>pLen + n);
  pL4Len = <u32>(<i32>pL4Len + n);
}

/** Re-read the addresses after the packet was rewritten (later hooks see what goes out). */
export function iphRefreshAddrs(): void {
  if (pAf == AF_INET) {
    addrFromV4(CTL + CTL_PKT_SADDR, pL3 + 12);
    addrFromV4(CTL + CTL_PKT_DADDR, pL3 + 16);
  } else {
    addrCopy(CTL + CTL_PKT_SADDR, pL3 + 8);
    addrCopy(CTL + CTL_PKT_DADDR, pL3 + 24);
  }
  if (pProto == IPPROTO_TCP || pProto == IPPROTO_UDP || pProto == IPPROTO_SCTP) {
    pSport = load<u16>(pL4); pDport = load<u16>(pL4, 2);
  }
}

// ---- the packet quoted inside an ICMP error (RFC 792, RFC 4443 §2.4(c)) -----------------------
export let iL3: usize = 0;
export let iAf: u8 = 0;
export let iProto: u8 = 0;
export let iHdrLen: u32 = 0;
export let iL4: usize = 0;
export let iSport: u16 = 0;
export let iDport: u16 = 0;

/** Parse the quoted datagram after the 8-byte ICMP header. Needs the inner ports (4 bytes). */
export function parseInner(): u32 {
  let p = pL4 + 8;
  let len = pL4Len - 8;
  if (len < 1) return CNT_TRUNCATED;
  let ver = load<u8>(p) >> 4;
  if (pAf == AF_INET) {
    if (ver != 4) return CNT_BAD_VERSION;
    if (len < 20) return CNT_TRUNCATED;
    let ihl = (<u32>load<u8>(p) & 0xf) << 2;
    if (ihl < 20) return CNT_BAD_IHL;
    iHdrLen = ihl;
    iProto = load<u8>(p, 9);
    addrFromV4(CTL + CTL_INNER_SADDR, p + 12);
    addrFromV4(CTL + CTL_INNER_DADDR, p + 16);
    // a quoted non-first fragment carries no ports (ip_vs_out_icmp: "Fragment?")
    if ((ld16be(p + 6) & 0x1fff) != 0) return CNT_FRAGMENT;
  } else {
    if (ver != 6) return CNT_BAD_VERSION;
    if (len < 40) return CNT_TRUNCATED;
    addrCopy(CTL + CTL_INNER_SADDR, p + 8);
    addrCopy(CTL + CTL_INNER_DADDR, p + 24);
    let r = walkIpv6Ext(p, len, load<u8>(p, 6));
    if (r != 0) return r;
    iProto = extProto; iHdrLen = extOff;
  }
  iL3 = p; iAf = pAf;
  if (iHdrLen + 4 > len) return CNT_TRUNCATED;
  iL4 = p + iHdrLen;
  iSport = load<u16>(iL4); iDport = load<u16>(iL4, 2);
  return 0;
}
