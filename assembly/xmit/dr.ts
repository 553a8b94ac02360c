// VS/DR (ip_vs_dr_xmit, ip_vs_dr_xmit_v6): the packet goes to the real server unchanged, except
// for the TTL / hop limit a router takes off (decrement_ttl) and, on an Ethernet link, the
// destination MAC: the real server's, found by the neighbour layer (neigh.ts). The real server
// owns the VIP on a non-ARPing interface and answers the client directly.
import { NF_STOLEN, V_XMIT, AF_INET } from "../defs";
import { connPtr, CONN_DADDR, linkType } from "../layout";
import { pL3, pLen, pAf, pL2Len } from "../packet/iph";
import { setVerdict, setIpvsProperty } from "../pkt";
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
  let ttl = load<u8>(pL3 + (pAf == AF_INET ? 8 : 7));
  if (!decrementTtl(true)) return false;
  if (pAf == AF_INET && load<u8>(pL3 + 8) != ttl) ipv4TtlCsum(pL3);
  return true;
}

/** cp->packet_xmit for DROUTE. */
export function drXmit(ci: u32): i32 {
  if (!forwardTtl()) return NF_STOLEN;          // the slot holds the ICMP time exceeded (or DROP)
  setIpvsProperty();
  if (linkType == 1) {
    routeTo(pL3, pLen, pL2Len(), connPtr(ci) + CONN_DADDR, false);
    return NF_STOLEN;
  }
  setVerdict(V_XMIT);                           // TUN: the host routes it by its own tables
  return NF_STOLEN;
}
