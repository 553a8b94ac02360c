// VS/DR (ip_vs_dr_xmit, ip_vs_dr_xmit_v6): the packet goes to the real server unchanged, except
// for the TTL / hop limit a router takes off (decrement_ttl) and, on an Ethernet link, the
// destination MAC: the real server's, found by the neighbour layer (neigh.ts). The real server
// owns the VIP on a non-ARPing interface and answers the client directly.
import { NF_STOLEN, NF_DROP, V_XMIT } from "../defs";
import { connPtr, connDaddr, linkType } from "../layout";
import { pL3, pLen, pL2Len } from "../packet/iph";
import { setVerdict, setIpvsProperty } from "../pkt";
import { forwardTtl, methodUnsupportedOnLink } from "./common";
import { routeTo } from "./output";

/** cp->packet_xmit for DROUTE. */
export function drXmit(ci: u32): i32 {
  if (methodUnsupportedOnLink(0)) return NF_DROP;
  if (!forwardTtl()) return NF_STOLEN;          // the slot holds the ICMP time exceeded (or DROP)
  setIpvsProperty();
  if (linkType == 1) {
    routeTo(pL3(), pLen(), pL2Len(), connDaddr(connPtr(ci)), false);
    return NF_STOLEN;
  }
  setVerdict(V_XMIT);                           // TUN: the host routes it by its own tables
  return NF_STOLEN;
}
