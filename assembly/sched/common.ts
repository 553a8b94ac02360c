// Helpers shared by the schedulers (the parts of include/net/ip_vs.h and lib/ they use):
// the conn overhead of a dest, the kernel's address fold and hash_32, the per-packet key,
// and dest references held by scheduler tables (ip_vs_dest_hold / ip_vs_dest_put).
import { ld32be, ntohl } from "../packet/bytes";
import { trashRelease } from "../trash";
import {
  CTL, CTL_NOW, destPtr, svcPtr, SVC_AF, SVC_DEST_HEAD, DEST_NEXT, DEST_FLAGS, DEST_WEIGHT, DEST_ACTIVE,
  DEST_INACTIVE, DEST_REFCNT, DEST_USED,
} from "../layout";
import { DEST_F_OVERLOAD, DEST_F_AVAILABLE, AF_INET6, DEST_TRASH } from "../defs";

@inline export const GOLDEN_RATIO_32: u32 = 0x61c88647;

/** hash_32 (include/linux/hash.h): the top `bits` bits of val × GOLDEN_RATIO_32. */
@inline export function hash32(val: u32, bits: u32): u32 {
  return (val * GOLDEN_RATIO_32) >> (32 - bits);
}

/**
 * ntohl(addr_fold) of the kernel's hash keys: the IPv4 address as a host-order u32, or the
 * XOR of the four words of an IPv6 address (XOR commutes with the byte swap). `af` is the
 * service's family, as the kernel uses svc->af.
 */
@inline export function addrFoldHost(af: u8, a: usize): u32 {
  if (af == AF_INET6) return ntohl(load<u32>(a) ^ load<u32>(a, 4) ^ load<u32>(a, 8) ^ load<u32>(a, 12));
  return ld32be(a + 12);
}

@inline export function svcAf(svcIdx: u32): u8 { return load<u8>(svcPtr(svcIdx), SVC_AF); }
@inline export function destHead(svcIdx: u32): u32 { return load<u32>(svcPtr(svcIdx), SVC_DEST_HEAD); }
@inline export function destNext(d: u32): u32 { return load<u32>(destPtr(d), DEST_NEXT); }
@inline export function destWeight(d: u32): i32 { return load<i32>(destPtr(d), DEST_WEIGHT); }
@inline export function destActive(d: u32): u32 { return load<u32>(destPtr(d), DEST_ACTIVE); }
@inline export function destOverloaded(d: u32): bool { return (load<u8>(destPtr(d), DEST_FLAGS) & DEST_F_OVERLOAD) != 0; }
@inline export function destAvailable(d: u32): bool { return (load<u8>(destPtr(d), DEST_FLAGS) & DEST_F_AVAILABLE) != 0; }

/** ip_vs_dest_conn_overhead: activeconns × 256 + inactconns. */
@inline export function destOverhead(d: u32): u32 {
  let dest = destPtr(d);
  return (load<u32>(dest, DEST_ACTIVE) << 8) + load<u32>(dest, DEST_INACTIVE);
}

/** The engine clock (ms), our jiffies. */
@inline export function schedNow(): u32 { return load<u32>(CTL, CTL_NOW); }

/** ip_vs_dest_hold: a scheduler table keeps the dest (it goes to the trash, not away, on delete). */
export function destHold(d: u32): void {
  let dest = destPtr(d);
  store<u32>(dest, load<u32>(dest, DEST_REFCNT) + 1, DEST_REFCNT);
}

/** ip_vs_dest_put: the last reference to a deleted (trash) dest frees it. */
export function destPut(d: u32): void {
  let dest = destPtr(d);
  let rc = load<u32>(dest, DEST_REFCNT) - 1;
  store<u32>(dest, rc, DEST_REFCNT);
  if (rc == 0 && load<u8>(dest, DEST_USED) == DEST_TRASH) trashRelease(d);
}
