// VS/DR (ip_vs_dr_xmit, ip_vs_dr_xmit_v6): the packet goes to the real server unchanged, except
// for the TTL / hop limit a router takes off (decrement_ttl) and, on an Ethernet link, the
// destination MAC: the real server's, found by the neighbour layer (neigh.ts). The real server
// owns the VIP on a non-ARPing interface and answers the client directly.
import { NF_STOLEN, NF_DROP, V_XMIT, AF_INET, SET_ROUTED_LINK, CNT_METHOD_UNSUPPORTED } from "../defs";
import { CTL, CTL_FLAGS, connPtr, CONN_DADDR, linkType } from "../layout";
import { pL3, pLen, pAf, pL2Len } from "../packet/iph";
import { setVerdict, setIpvsProperty, setDrop } from "../pkt";
import { decrementTtl } from "./nat";
import { routeTo } from "./output";

/** ip_decrease_ttl's checksum update: +htons(0x0100) with end-around carry. */
export function ipv4TtlCsum(ip: usize): void {
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
 * back in until its TTL runs out) nor tunnels (no address of ours on it for the outer source).
 * Such a conn's packets are dropped and counted; the director warns about the dest.
 */
export function methodUnsupportedOnLink(): bool {
  if ((load<u32>(CTL, CTL_FLAGS) & SET_ROUTED_LINK) == 0) return false;
  setDrop(CNT_METHOD_UNSUPPORTED);
  return true;
}

/** cp->packet_xmit for DROUTE. */
export function drXmit(ci: u32): i32 {
  if (methodUnsupportedOnLink()) return NF_DROP;
  if (!forwardTtl()) return NF_STOLEN;          // the slot holds the ICMP time exceeded (or DROP)
  setIpvsProperty();
  if (linkType == 1) {
    routeTo(pL3(), pLen(), pL2Len(), connPtr(ci) + CONN_DADDR, false);
    return NF_STOLEN;
  }
  setVerdict(V_XMIT);                           // TUN: the host routes it by its own tables
  return NF_STOLEN;
}
