// What every forwarding method shares, kept in one place as ip_vs_xmit.c keeps it beside the
// methods: the TTL / hop limit a router takes off (decrement_ttl, ip_decrease_ttl), the ICMP
// checksum checks and recomputation, and the refusal of methods a routed link cannot carry
// (DR always, a tunnel without an outer source of its family).
// The xmit files (and core.ts) take these from here, not from each other.
import { AF_INET, IPPROTO_ICMPV6, CNT_TTL_EXCEEDED, SET_NO_TTL_DEC, SET_ROUTED_LINK, CNT_METHOD_UNSUPPORTED } from "../defs";
import { CTL, CTL_FLAGS, CTL_LINK_IP4, CTL_LINK_IP6 } from "../layout";
import { addrIsZero } from "../packet/bytes";
import { pL3, pL4, pAf, pHdrLen, pLen } from "../packet/iph";
import { computeCsum, csumPartial, csumFold, pseudoSum, l4CsumFull } from "../packet/csum";
import { setDrop } from "../pkt";
import { cntInc } from "../stats";
import { icmpTimeExceeded } from "./icmp";

/** decrement_ttl: false (and an ICMP time exceeded queued when `reply`) when the packet dies here. */
@inline export function decrementTtl(reply: bool): bool {   // inlined: on every forwarded packet
  if (load<u32>(CTL, CTL_FLAGS) & SET_NO_TTL_DEC) return true;
  let off: u32 = pAf() == AF_INET ? 8 : 7;
  let ttl = load<u8>(pL3() + off);
  if (ttl <= 1) {
    setDrop(CNT_TTL_EXCEEDED);
    if (reply) cntInc(CNT_TTL_EXCEEDED);          // answered with an ICMP error, not a plain drop
    if (reply) {
      icmpTimeExceeded();
    }
    return false;
  }
  store<u8>(pL3() + off, ttl - 1);
  return true;
}

/** ip_decrease_ttl's checksum update: +htons(0x0100) with end-around carry. */
function ipv4TtlCsum(ip: usize): void {
  let c = <u32>load<u16>(ip, 10) + 0x0001;   // htons(0x0100) as a little-endian u16
  c += c >= 0xffff ? 1 : 0;
  store<u16>(ip, <u16>c, 10);
}

/** The packet's TTL / hop limit, decremented as a forwarding router does. False: it died here. */
export function forwardTtl(): bool {
  let ttl = load<u8>(pL3() + (pAf() == AF_INET ? 8 : 7));
  if (!decrementTtl(true)) return false;
  if (pAf() == AF_INET && load<u8>(pL3() + 8) != ttl) ipv4TtlCsum(pL3());
  return true;
}

/**
 * A link whose output the host's routing takes back (a TUN: SET_ROUTED_LINK) cannot carry DR
 * (no MAC to rewrite: the host would route the unchanged packet, still for the VIP, straight
 * back in until its TTL runs out). Tunnels (tunnelAf: the outer family, 4 or 6; 0 for DR) can:
 * the outer packet is for the real server and the host routes it there, as ip_vs_tunnel_xmit
 * hands it to the route __ip_vs_get_out_rt found — but its source is the route's (the kernel's
 * saddr from that lookup), which the host gives as the link's address of the family (setLink,
 * --tunnel-src). Without one the conn's packets are dropped and counted; the director warns.
 */
export function methodUnsupportedOnLink(tunnelAf: u8): bool {
  if ((load<u32>(CTL, CTL_FLAGS) & SET_ROUTED_LINK) == 0) return false;
  if (tunnelAf == AF_INET && load<u32>(CTL + CTL_LINK_IP4, 12) != 0) return false;
  if (tunnelAf != 0 && tunnelAf != AF_INET && !addrIsZero(CTL + CTL_LINK_IP6)) return false;
  setDrop(CNT_METHOD_UNSUPPORTED);
  return true;
}

/** The ICMP message checksum is verified before translation (ip_vs_checksum_complete). */
export function icmpCsumOk(): bool {
  let len = pLen() - pHdrLen();
  let s = csumPartial(pL4(), len, 0);
  if (pAf() != AF_INET) s += pseudoSum(pAf(), pL3() + 8, pL3() + 24, IPPROTO_ICMPV6, len);
  return csumFold(s) == 0xffff;
}

/** Recompute the ICMP/ICMPv6 checksum of the current packet in full. */
export function icmpRecompute(): void {
  let len = pLen() - pHdrLen();
  store<u16>(pL4() + 2, 0);
  if (pAf() == AF_INET) {
    store<u16>(pL4() + 2, computeCsum(pL4(), len));
  } else {
    store<u16>(pL4() + 2, l4CsumFull(pAf(), pL3() + 8, pL3() + 24, IPPROTO_ICMPV6, pL4(), len));
  }
}
