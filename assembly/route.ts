// The route step (fib_lookup's answer, as far as a director on one link needs it): is a
// destination local — a VIP, the address of a virtual service (the kernel's local table; a
// fwmark service's "local" is ctl.ts isMarkSvc) — and, for what leaves, the next hop on the link:
// the destination itself when on-link, else the gateway of its family. Its own file so that
// the service table (ctl.ts), the xmit files and the neighbour code (neigh.ts) read it without
// reaching into each other.
import {
  CTL, VIP_TAB, SVC_TAB_BITS, svcPtr, SVC_FWMARK, SVC_VADDR, SVC_NEXT_VIP, CTL_LINK_IP4, CTL_LINK_IP6, CTL_LINK_GW4, CTL_LINK_GW6,
  CTL_LINK_PLEN4, CTL_LINK_PLEN6,
} from "./layout";
import { addrEq, addrFold, addrIsV4, addrIsZero, addrInPrefix } from "./packet/bytes";

// Services are hashed by vaddr alone as well (ctl.ts keeps the chains): every service of a VIP
// on one chain, so "is this a VIP?" walks one short chain even with thousands of ports on it.
@inline export function vipBucket(addr: usize): usize {
  let h = addrFold(addr) * 0x9e3779b1;
  return VIP_TAB + (<usize>(h >> (32 - SVC_TAB_BITS)) << 2);
}

/** Route step: is `addr` the address of any virtual service (a local address of the director)? */
export function isVip(addr: usize): bool { return isVipFrom(load<u32>(vipBucket(addr)), addr); }

/**
 * isVip, inlined where every packet asks (batch.ts processOne): the bucket's first service
 * checked here (a VIP's is almost always it), the rest of the chain by the call; no loop, so no
 * interrupt check V8 puts in every loop.
 */
@inline export function isVipInline(addr: usize): bool {
  let i = load<u32>(vipBucket(addr));
  if (i == 0) return false;
  let svc = svcPtr(i);
  return (load<u32>(svc, SVC_FWMARK) == 0 && addrEq(svc + SVC_VADDR, addr)) || isVipFrom(load<u32>(svc, SVC_NEXT_VIP), addr);
}

/** A VIP's service in the VIP chain from service i on? */
function isVipFrom(i: u32, addr: usize): bool {
  while (i != 0) {
    let svc = svcPtr(i);
    if (load<u32>(svc, SVC_FWMARK) == 0 && addrEq(svc + SVC_VADDR, addr)) return true;
    i = load<u32>(svc, SVC_NEXT_VIP);
  }
  return false;
}

/** Is daddr on the link: inside the director's prefix there (or no prefix of its family is set)? */
export function onLink(daddr: usize): bool {
  let v4 = addrIsV4(daddr);
  let plen = load<u32>(CTL + (v4 ? CTL_LINK_PLEN4 : CTL_LINK_PLEN6));
  return plen == 0 || addrInPrefix(daddr, CTL + (v4 ? CTL_LINK_IP4 : CTL_LINK_IP6), plen);
}

/** The next hop toward daddr on the link: daddr, or the gateway when daddr is off the link's prefix. */
export function nextHop(daddr: usize): usize {
  let gw = CTL + (addrIsV4(daddr) ? CTL_LINK_GW4 : CTL_LINK_GW6);
  return addrIsZero(gw) || onLink(daddr) ? daddr : gw;
}
