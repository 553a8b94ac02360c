// Source hashing (ip_vs_sh.c). A 256-bucket table filled by walking the dest list (newest
// first): each dest takes `weight` consecutive buckets (a weight-0 dest still takes one),
// wrapping round the list until the table is full. A packet's bucket is
// hash_32(ntohs(port) + source address, 8), port 0 unless sh-port (SVC_F_SCHED2) is set.
// An unavailable pick (weight 0 or OVERLOADed) means no destination, unless sh-fallback
// (SVC_F_SCHED1) walks on: bucket (offset + hash_32(...)) & 255 for offsets ihash, ihash+1, ...
// Area: 256 × u16 dest index (0 = empty).
import { ntohs } from "../packet/bytes";
import { schedArea, svcPtr, SVC_FLAGS } from "../layout";
import { SVC_F_SCHED1, SVC_F_SCHED2, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP } from "../defs";
import { pktSaddr, pSport, pProto } from "../packet/iph";
import { hash32, addrFoldHost, svcAf, destHead, destNext, destWeight, destOverloaded } from "./common";

@inline const SH_TAB_BITS: u32 = 8;
@inline const SH_TAB_SIZE: u32 = 1 << SH_TAB_BITS;
@inline const SH_TAB_MASK: u32 = SH_TAB_SIZE - 1;

/** ip_vs_sh_reassign */
export function reassign(svcIdx: u32): void {
  let tab = schedArea(svcIdx);
  let head = destHead(svcIdx);
  let d = head;
  let count: i32 = 0;
  for (let i: u32 = 0; i < SH_TAB_SIZE; i++) {
    if (head == 0) { store<u16>(tab + (i << 1), 0); continue; }
    if (d == 0) d = head;
    store<u16>(tab + (i << 1), <u16>d);
    // don't move to the next dest until this one has filled its weight
    if (++count >= destWeight(d)) { d = destNext(d); count = 0; }
  }
}

/** ip_vs_sh_hashkey */
@inline function hashKey(fold: u32, port: u32, offset: u32): u32 {
  return (offset + hash32(port + fold, SH_TAB_BITS)) & SH_TAB_MASK;
}

@inline function unavailable(d: u32): bool { return destWeight(d) <= 0 || destOverloaded(d); }

export function schedule(svcIdx: u32): u32 {
  let tab = schedArea(svcIdx);
  let flags = load<u32>(svcPtr(svcIdx), SVC_FLAGS);
  let port: u32 = 0;
  if ((flags & SVC_F_SCHED2) && (pProto() == IPPROTO_TCP || pProto() == IPPROTO_UDP || pProto() == IPPROTO_SCTP)) {
    port = ntohs(pSport());
  }
  let fold = addrFoldHost(svcAf(svcIdx), pktSaddr());
  let ihash = hashKey(fold, port, 0);
  let d = <u32>load<u16>(tab + (ihash << 1));
  if (d == 0) return 0;
  if (!unavailable(d)) return d;
  if (!(flags & SVC_F_SCHED1)) return 0;
  // sh-fallback: loop round the table from the original bucket
  for (let offset: u32 = 0; offset < SH_TAB_SIZE; offset++) {
    let roffset = (offset + ihash) & SH_TAB_MASK;
    d = <u32>load<u16>(tab + (hashKey(fold, port, roffset) << 1));
    if (d == 0) break;
    if (!unavailable(d)) return d;
  }
  return 0;
}
