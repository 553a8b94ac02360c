// ICMP the engine originates: errors back to the sender of the current packet (icmp_send /
// icmpv6_send: port unreachable when no real server is available, time exceeded, fragmentation
// needed), and echo replies for VIPs (the director's own stack answers pings to its addresses).
// Errors are built in the slot's headroom, in front of the offending datagram, which becomes
// the quoted part without being copied.
import { AF_INET, V_LOCAL, CNT_NO_HEADROOM, CNT_ICMP_SENT, CNT_ECHO_REPLY, IPPROTO_ICMP, IPPROTO_ICMPV6 } from "../defs";
import { PKT_SADDR, PKT_DADDR, PKT_ETH_SAVE, linkType, PKT } from "../layout";
import { pL3, pLen, pAf, pFrame, pL4, pHdrLen } from "../packet/iph";
import { st16be, st32be, ld32be, addrCopy } from "../packet/bytes";
import { ipv4SendCheck, computeCsum, csumUpdate2, l4CsumFull } from "../packet/csum";
import { slotStart, setOut, setVerdict, setDrop } from "../pkt";
import { cntInc } from "../stats";

@inline export const ICMP_DEST_UNREACH: u8 = 3;
@inline export const ICMP_PORT_UNREACH: u8 = 3;
@inline export const ICMP_FRAG_NEEDED: u8 = 4;
@inline export const ICMP_TIME_EXCEEDED: u8 = 11;
@inline export const ICMP_EXC_TTL: u8 = 0;
@inline export const ICMP_EXC_FRAGTIME: u8 = 1;
@inline export const ICMPV6_DEST_UNREACH: u8 = 1;
@inline export const ICMPV6_PORT_UNREACH: u8 = 4;
@inline export const ICMPV6_PKT_TOOBIG: u8 = 2;
@inline export const ICMPV6_TIME_EXCEED: u8 = 3;
@inline export const ICMPV6_EXC_HOPLIMIT: u8 = 0;
@inline export const ICMPV6_EXC_FRAGTIME: u8 = 1;

/** RFC 1812 §4.3.2.3: quote as much as fits in 576 bytes; RFC 4443 §2.4(c): in 1280 (IPv6 minimum MTU). */
@inline const ICMP_QUOTE_MAX_V4: u32 = 576 - 28;
@inline const ICMP_QUOTE_MAX_V6: u32 = 1280 - 48;

function saveEth(): void {
  let sv = PKT + PKT_ETH_SAVE;
  memory.copy(sv, pFrame(), 12);
  store<u16>(sv + 12, load<u16>(pFrame() + (pL3() - pFrame()) - 2));
}

/** In TAP mode a reply reuses the request's Ethernet header with the MACs swapped. */
function l2Reply(newL3: usize): usize {
  if (linkType != 1) return newL3;
  let eth = newL3 - 14;
  if (eth < slotStart()) return 0;
  // read from the copy: an error built in the headroom may have overwritten the request's header
  let sv = PKT + PKT_ETH_SAVE;
  let src0 = load<u32>(sv + 6); let src1 = load<u16>(sv + 10);
  let dst0 = load<u32>(sv); let dst1 = load<u16>(sv + 4);
  let et = load<u16>(sv + 12);
  store<u32>(eth, src0); store<u16>(eth + 4, src1);
  store<u32>(eth + 6, dst0); store<u16>(eth + 10, dst1);
  store<u16>(eth + 12, et);
  return eth;
}

/**
 * icmp_send(skb, type, code, info): an error to the packet's source, from the address it was
 * sent to (a VIP: a local address). `mtu` goes into the next-hop MTU field (frag needed, too big).
 */
function icmpSendError(type: u8, code: u8, mtu: u32, src: usize = 0): void {
  if (src == 0) src = PKT + PKT_DADDR;
  let v4 = pAf() == AF_INET;
  let hdr: u32 = v4 ? 28 : 48;
  let quote = pLen();
  let qmax = v4 ? ICMP_QUOTE_MAX_V4 : ICMP_QUOTE_MAX_V6;
  if (quote > qmax) quote = qmax;
  let ip = pL3() - hdr;
  if (ip < slotStart() + (linkType == 1 ? 14 : 0)) { setDrop(CNT_NO_HEADROOM); return; }
  if (linkType == 1) saveEth();
  let icmp = ip + (v4 ? 20 : 40);
  let tot = hdr + quote;
  if (v4) {
    store<u8>(ip, 0x45);
    store<u8>(ip + 1, 0xc0);              // IPTOS_PREC_INTERNETCONTROL, as icmp_send sets for errors
    st16be(ip + 2, tot);
    store<u32>(ip + 4, 0);                // id 0, no DF (an error may be fragmented)
    store<u8>(ip + 8, 64);
    store<u8>(ip + 9, IPPROTO_ICMP);
    store<u32>(ip + 12, load<u32>(src, 12));
    store<u32>(ip + 16, load<u32>(PKT + PKT_SADDR, 12));
    ipv4SendCheck(ip, 20);
    store<u8>(icmp, type); store<u8>(icmp + 1, code);
    store<u16>(icmp + 2, 0);
    st32be(icmp + 4, mtu & 0xffff);
    store<u16>(icmp + 2, computeCsum(icmp, 8 + quote));
  } else {
    st32be(ip, 0x60000000);
    st16be(ip + 4, 8 + quote);
    store<u8>(ip + 6, IPPROTO_ICMPV6);
    store<u8>(ip + 7, 64);
    addrCopy(ip + 8, src);
    addrCopy(ip + 24, PKT + PKT_SADDR);
    store<u8>(icmp, type); store<u8>(icmp + 1, code);
    store<u16>(icmp + 2, 0);
    st32be(icmp + 4, mtu);
    store<u16>(icmp + 2, l4CsumFull(6, ip + 8, ip + 24, IPPROTO_ICMPV6, icmp, 8 + quote));
  }
  let start = l2Reply(ip);
  if (start == 0) { setDrop(CNT_NO_HEADROOM); return; }
  setOut(start, tot + <u32>(ip - start));
  setVerdict(V_LOCAL);
  cntInc(CNT_ICMP_SENT);
}

/** ip_vs_leave: port unreachable (ICMPv6: destination unreachable, port) — no real server. */
export function icmpPortUnreach(): void {
  if (pAf() == AF_INET) icmpSendError(ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0);
  else icmpSendError(ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH, 0);
}
/** decrement_ttl: time exceeded in transit (ICMPv6: hop limit exceeded). */
export function icmpTimeExceeded(): void {
  if (pAf() == AF_INET) icmpSendError(ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0);
  else icmpSendError(ICMPV6_TIME_EXCEED, ICMPV6_EXC_HOPLIMIT, 0);
}
/**
 * ip_expire / ip6frag_expire_frag_queue: fragment reassembly time exceeded, quoting the first
 * fragment, from `src` (the datagram's destination when it is local, else an own address).
 */
export function icmpFragTimeExceeded(src: usize): void {
  if (pAf() == AF_INET) icmpSendError(ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME, 0, src);
  else icmpSendError(ICMPV6_TIME_EXCEED, ICMPV6_EXC_FRAGTIME, 0, src);
}
/** Path MTU: fragmentation needed and DF set (ICMPv6: packet too big), with the `mtu` to use. */
export function icmpTooBig(mtu: u32): void {
  if (pAf() == AF_INET) icmpSendError(ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu);
  else icmpSendError(ICMPV6_PKT_TOOBIG, 0, mtu);
}

/** Answer an echo request addressed to a VIP, in place. Returns false when it is not one. */
export function icmpEchoReply(): bool {
  let v4 = pAf() == AF_INET;
  let type = load<u8>(pL4());
  if (v4 ? type != 8 : type != 128) return false;
  if (load<u8>(pL4() + 1) != 0) return false;
  let newType: u8 = v4 ? 0 : 129;
  let check = load<u16>(pL4() + 2);
  let oldWord = load<u16>(pL4());
  store<u8>(pL4(), newType);
  store<u16>(pL4() + 2, csumUpdate2(check, oldWord, load<u16>(pL4())));
  if (v4) {
    let s = load<u32>(pL3() + 12);
    store<u32>(pL3() + 12, load<u32>(pL3() + 16));
    store<u32>(pL3() + 16, s);
    store<u8>(pL3() + 8, 64);
    store<u16>(pL3() + 6, 0);               // Linux's echo replies carry no DF (recorded from 6.1)
    ipv4SendCheck(pL3(), pHdrLen());
  } else {
    // swapping source and destination leaves the pseudo-header sum unchanged
    addrCopy(pL3() + 8, PKT + PKT_DADDR);
    addrCopy(pL3() + 24, PKT + PKT_SADDR);
    store<u8>(pL3() + 7, 64);
    st32be(pL3(), ld32be(pL3()) & 0xfff00000);   // our own flow (label 0), not the requester's
  }
  if (linkType == 1) saveEth();
  let start = l2Reply(pL3());
  if (start == 0) { setDrop(CNT_NO_HEADROOM); return true; }
  setOut(start, pLen() + <u32>(pL3() - start));
  setVerdict(V_LOCAL);
  cntInc(CNT_ECHO_REPLY);
  return true;
}
