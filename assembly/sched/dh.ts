// Destination hashing (ip_vs_dh.c). A 256-bucket table filled by walking the dest list
// (newest first) round-robin, one bucket per dest whatever its weight; a packet's bucket is
// hash_32(destination address, 8). The chosen dest must be available, weight > 0 and not
// OVERLOADed, else there is no destination. Rebuilt on every dest add, edit and delete.
// Area: 256 × u16 dest index (0 = empty).
import { schedArea } from "../layout";
import { pktDaddr } from "../packet/iph";
import { hash32, addrFoldHost, svcAf, destHead, destNext, destWeight, destOverloaded, destAvailable } from "./common";

@inline const DH_TAB_BITS: u32 = 8;
@inline const DH_TAB_SIZE: u32 = 1 << DH_TAB_BITS;

/** ip_vs_dh_reassign */
export function reassign(svcIdx: u32): void {
  let tab = schedArea(svcIdx);
  let head = destHead(svcIdx);
  let d = head;
  for (let i: u32 = 0; i < DH_TAB_SIZE; i++) {
    if (head != 0 && d == 0) d = head;
    store<u16>(tab + (i << 1), <u16>d);
    if (d != 0) d = destNext(d);
  }
}

export function schedule(svcIdx: u32): u32 {
  let h = hash32(addrFoldHost(svcAf(svcIdx), pktDaddr()), DH_TAB_BITS);
  let d = <u32>load<u16>(schedArea(svcIdx) + (h << 1));
  if (d == 0 || !destAvailable(d) || destWeight(d) <= 0 || destOverloaded(d)) return 0;
  return d;
}
