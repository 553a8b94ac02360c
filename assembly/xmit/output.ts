// How a packet leaves the engine, in the kernel's order: the route (skb_dst_set), POST_ROUTING,
// then ip_finish_output / ip6_finish_output (fragmentation, the neighbour). On a TUN the host's
// kernel routes what the engine writes back; on a TAP the engine is the host on its one link and
// sends each frame to its next hop's MAC itself (neigh.ts l2Xmit).
//   nextHop(daddr) (route.ts): daddr when it is inside the director's prefix on the link (or no prefix /
//     gateway of its family is set: every destination on-link), else the gateway.
//   routeTo(): the xmit functions' last step: the output and its next hop. DR: the real server
//     (on-link by rule); tunnels: the real server's next hop, fragmentation allowed.
//   ipOutput(): a packet rewritten in place (NAT, FULLNAT, their ICMP errors, un-NATed replies),
//     routed to the next hop of its (new) destination.
//   finishOutput(): core calls it once POST_ROUTING accepted the packet.
// Fragmentation: ip_vs_tunnel_xmit sets skb->ignore_df, so a tunnel packet over the path MTU
// (CTL_TUN_MTU) that ensure_mtu_is_adequate let through — IPv4 without DF, ICMP errors (never
// refused) — is fragmented as ip_do_fragment / ip6_fragment's slow path does:
//   IPv4: every fragment a copy of the header (ours carries no options), DF cleared (IPVS does
//         not set IPSKB_FRAG_PMTU), offset/MF set, total length and checksum recomputed; data
//         per fragment = (mtu - header) rounded down to 8 bytes, the last one what is left.
//   IPv6: a Fragment header (RFC 8200 §4.5) after the IPv6 header, data per fragment =
//         (mtu - 40 - 8) rounded down to 8, the identification shared by all fragments.
// The first fragment stays in the slot (or is held for its next hop), before the others, which
// are queued for neighDrain (neigh.ts) behind it — as the kernel sends them, first to last. The
// hold queue has room for one such frame per slot; a packet goes whole or not at all.
// A datagram that came in fragments (packet/defrag.ts; IPCB frag_max_size set) and is not
// tunnelled always leaves in fragments again, as __ip_finish_output / ip6_finish_output send it
// to ip_fragment / ip6_fragment: the fragments it came in (the frag_list fast path of
// ip_do_fragment / ip6_fragment), or when one of them does not fit the path MTU (or NAT changed
// the length: FULLNAT's TOA), cut to min(MTU, frag_max_size) (IPv6: at least 1280). The
// recording test/golden/kernel/recorded/nat-frag shows both: 600/1184/1216 stays 600/1184/1216.
// Tunnelled, the outer packet is cut to min(MTU, frag_max_size) (recorded/frag-tun).
// IPv4 keeps the datagram's identification, IPv6 gets a new one (ip6_fragment ipv6_select_ident).
// A tunnel super-packet (offloads) is cut into TCP segments here first (gso.ts, as
// ip_finish_output_gso does), each one then fragmented like a packet of its own if it must be.
import { V_XMIT, V_DROP, CNT_FRAG_CREATED, CNT_FRAG_NO_ROOM, CNT_NO_HEADROOM, CNT_REASM_TOO_BIG, CNT_GSO_SEGMENTS, CNT_GSO_NO_ROOM } from "../defs";
import { CTL, CTL_TUN_MTU, CTL_IP_IDENT, SCRATCH, PKT_NEXTHOP, linkType, PKT } from "../layout";
import { st16be, st32be, addrCopy } from "../packet/bytes";
import { pktDaddr, pL3, pL2Len } from "../packet/iph";
import { ipv4SendCheck } from "../packet/csum";
import {
  setOut, setVerdict, setDrop, setRoute, slotStart, outStart, outLen, verdict, routed, routeL2Len, routeFrag, routeGso, reasmMaxSize, reasmNfrags,
} from "../pkt";
import { cntAdd } from "../stats";
import { wLock, wUnlock } from "../shared";
import { FRAG_GEOM } from "../layout";
import { l2Xmit, l2Queue, holdRoom, neighReady } from "../neigh";
import { nextHop } from "../route";
import {
  gsoBegin, gsoSegs, gsoFix, gsoTpl, gsoTplLen, gsoPayload, gsoPayLen, gsoOuterLen, gsoFirstInner,
} from "./gso";

@inline const IP_MF: u16 = 0x2000;
@inline const FRAG_HDR: u32 = 8;
@inline const IPPROTO_FRAGMENT: u8 = 44;

/** ip_select_ident / ipv6_select_ident: the next identification (one engine-wide counter). */
export function ipIdentNext(): u32 {
  // every worker takes from it: an atomic add in the workers' build (shared.ts)
  if (ASC_FEATURE_THREADS) return atomic.add<u32>(CTL + CTL_IP_IDENT, 1) + 1;
  let id = load<u32>(CTL, CTL_IP_IDENT) + 1;
  store<u32>(CTL, id, CTL_IP_IDENT);
  return id;
}

/**
 * The output is the packet at ip (len bytes, after l2len bytes of L2 header on a TAP), for next
 * hop nh; frag: it may be fragmented to the path MTU. Sent by finishOutput after POST_ROUTING.
 */
export function routeTo(ip: usize, len: u32, l2len: u32, nh: usize, frag: bool): void {
  setOut(ip - l2len, l2len + len);
  addrCopy(PKT + PKT_NEXTHOP, nh);
  setRoute(l2len, frag);
  setVerdict(V_XMIT);
}

/** A packet rewritten in place: XMIT on a TUN (the host routes it); on a TAP routed to the next hop of its destination. */
@inline export function ipOutput(): void {   // inlined: on every forwarded packet
  if (linkType != 1) { setVerdict(V_XMIT); return; }
  let l2len = pL2Len();
  routeTo(pL3(), outLen() - <u32>(pL3() - outStart()), l2len, nextHop(pktDaddr()), false);
}

/** ip_finish_output: a routed output (XMIT, POST_ROUTING passed) to its next hop, fragmented if it may and must be. */
export function finishOutput(): void {
  // a reassembled datagram rewritten in place on a TUN (ipOutput: no route step) is refragmented too
  if (!routed() && reasmMaxSize() == 0) return;
  // what follows may queue frames (fragments, segments, frames waiting for a MAC) in the hold
  // queue and read the neighbour table, both shared by the workers: under the director's lock
  // (a TUN's plain routed packet, a tunnel that needs no cutting, emits its slot alone: no lock)
  let shared = linkType == 1 || reasmMaxSize() != 0 || routeGso() || routeFrag();
  if (shared) wLock();
  finishRouted();
  if (shared) wUnlock();
}

function finishRouted(): void {
  let l2len = routed() ? routeL2Len() : 0;
  let ip = outStart() + l2len, len = outLen() - l2len, nh = PKT + PKT_NEXTHOP;
  let mtu = load<u32>(CTL, CTL_TUN_MTU);
  if (routed() && routeGso()) { gsoFinish(ip, l2len, mtu, nh); return; }
  let v4 = (load<u8>(ip) >> 4) == 4;
  if (reasmMaxSize() != 0 && !(routed() && routeFrag())) {
    if (!v4 && len <= reasmMaxSize() && len <= mtu) { emit(ip, len, l2len, nh); return; }   // ip6_finish_output: an atomic fragment's datagram
    let fast = geometryFits(ip, len, mtu, v4);
    if (v4) fragment4(ip, len, l2len, fast ? 0 : (reasmMaxSize() < mtu ? reasmMaxSize() : mtu), nh, false);
    else {
      // __mtu_check_toobig_v6: the largest fragment does not fit the path MTU (the kernel sends a
      // packet too big from ensure_mtu_is_adequate, before the rewrite; not sent here)
      if (!fast && reasmMaxSize() > mtu) { setDrop(CNT_REASM_TOO_BIG); setVerdict(V_DROP); return; }
      fragment6(ip, len, l2len, fast ? 0 : (reasmMaxSize() < 1280 ? 1280 : reasmMaxSize()), nh, false);
    }
    return;
  }
  // a tunnelled reassembled datagram: the outer packet is cut to min(MTU, frag_max_size), as
  // ip_do_fragment does with the IPCB the encapsulation keeps (recorded: cases/frag-tun.sh)
  if (reasmMaxSize() != 0 && reasmMaxSize() < mtu) mtu = reasmMaxSize() < 1280 && !v4 ? 1280 : reasmMaxSize();
  if (!routeFrag() || (len <= mtu && reasmMaxSize() == 0)) emit(ip, len, l2len, nh);
  else if (v4) fragment4(ip, len, l2len, mtu, nh, false);
  else fragment6(ip, len, l2len, mtu, nh, false);
}

/**
 * ip_finish_output_gso for a tunnel super-packet (gso.ts): segment 0 cut in place and sent (or
 * held) as the slot's own, fragmented if it may and must be; segments 1.. queued behind it.
 * All or none: when the hold queue has no room for every frame it makes, the packet is dropped
 * (drop_gso_no_room), as a packet is never sent in part.
 */
function gsoFinish(ip: usize, l2len: u32, mtu: u32, nh: usize): void {
  if (!gsoBegin(ip, l2len)) { setDrop(CNT_GSO_NO_ROOM); setVerdict(V_DROP); return; }
  let n = gsoSegs();
  let len0 = gsoOuterLen(0);
  let v6 = (load<u8>(ip) >> 4) == 6;
  let frag = routeFrag() && len0 > mtu;
  // frames besides the slot's own: every fragment of every segment but the slot's first, and
  // with the next hop unresolved that one too and a probe; each at most l2len + the larger of
  // the segment and the MTU (a little more than needed for the last segment: never less)
  let m = frag ? fragFrames(len0, v6 ? 40 : 20, v6, mtu) : 1;
  let frames = n * m - 1 + (neighReady(nh) ? 0 : 2);
  let each = (l2len + (frag ? mtu : len0) + 8 + 7) & ~7;
  if (!holdRoom(frames, frames * each)) { setDrop(CNT_GSO_NO_ROOM); setVerdict(V_DROP); return; }
  let tpl = gsoTpl(), tplLen = gsoTplLen();
  gsoFirstInner();
  gsoFix(ip - l2len, 0);
  if (!frag) emit(ip, len0, l2len, nh);
  else if (!v6) fragment4(ip, len0, l2len, mtu, nh, false);
  else fragment6(ip, len0, l2len, mtu, nh, false);
  if (verdict() == V_DROP) return;
  // the scratch frame of a segment to fragment: 8 bytes of room in front for IPv6's Fragment header
  let sf = SCRATCH + 64;
  for (let k: u32 = 1; k < n; k++) {
    if (!frag) {
      let f = l2Queue(tpl, tplLen, gsoPayload(k), gsoPayLen(k), nh);
      if (f == 0) break;     // cannot happen after holdRoom
      gsoFix(f, k);
      continue;
    }
    memory.copy(sf, tpl, tplLen);
    memory.copy(sf + tplLen, gsoPayload(k), gsoPayLen(k));
    gsoFix(sf, k);
    outputQueued(sf + l2len, gsoOuterLen(k), l2len, nh, true);
  }
  cntAdd(CNT_GSO_SEGMENTS, n);
}

/**
 * A frame besides the slot's own (a GSO segment after the first) at ip, its L2 header (l2len
 * bytes) in front, queued for neighDrain toward nh — fragmented to the path MTU first if it may
 * (frag) and must be; the caller made sure the hold queue has room (fragFrames). For
 * fragmentation an IPv6 packet needs 8 bytes of room in front of its L2 header.
 */
function outputQueued(ip: usize, len: u32, l2len: u32, nh: usize, frag: bool): void {
  let mtu = load<u32>(CTL, CTL_TUN_MTU);
  if (!frag || len <= mtu) l2Queue(ip - l2len, l2len + len, 0, 0, nh);
  else if ((load<u8>(ip) >> 4) == 4) fragment4(ip, len, l2len, mtu, nh, true);
  else fragment6(ip, len, l2len, mtu, nh, true);
}

/** How many fragments a packet of len bytes (headers hlen) is cut into for the path MTU (1: none). */
function fragFrames(len: u32, hlen: u32, v6: bool, mtu: u32): u32 {
  if (len <= mtu) return 1;
  let step = v6 ? (mtu - 40 - FRAG_HDR) & ~7 : (mtu - hlen) & ~7;
  return (len - hlen + step - 1) / step;
}

/** May the datagram leave as the fragments it came in (their data lengths in FRAG_GEOM)? */
function geometryFits(ip: usize, len: u32, mtu: u32, v4: bool): bool {
  let hlen: u32 = v4 ? <u32>(load<u8>(ip) & 15) << 2 : 40 + FRAG_HDR;
  let sum: u32 = 0;
  for (let k: u32 = 0; k < reasmNfrags(); k++) {
    let l = load<u32>(FRAG_GEOM + (<usize>k << 2));
    if (hlen + l > mtu) return false;
    sum += l;
  }
  return sum == len - (v4 ? hlen : 40);
}

/** Data bytes of fragment k: step each (the last what is left), or (step 0) as they came in. */
@inline function fragLen(k: u32, step: u32, left: u32, off: u32): u32 {
  if (step == 0) return load<u32>(FRAG_GEOM + (<usize>k << 2));
  return left - off < step ? left - off : step;
}

/** One frame out: the slot's output (XMIT) on a TUN, or to next hop nh on a TAP (l2Xmit). */
function emit(ip: usize, len: u32, l2len: u32, nh: usize): void {
  if (linkType == 1) { l2Xmit(ip - l2len, l2len + len, nh); return; }
  setOut(ip, len);
  setVerdict(V_XMIT);
}

/**
 * Room in the hold queue for a packet's n fragments toward nh (each at most l2len + mtu bytes):
 * the n - 1 after the first, and when nh is still being resolved the first too and a probe.
 * All or none: never half a packet.
 */
function roomFor(n: u32, l2len: u32, mtu: u32, nh: usize): bool {
  let ready = neighReady(nh);
  let frames = ready ? n - 1 : n + 1;
  if (holdRoom(frames, frames * ((l2len + mtu + 7) & ~7))) return true;
  setDrop(CNT_FRAG_NO_ROOM);                   // counted with the slot's verdict, as every drop
  setVerdict(V_DROP);
  return false;
}

/** mtu 0: the fragments as the datagram came in (FRAG_GEOM). queued: not the slot's own (a GSO segment). */
function fragment4(ip: usize, totLen: u32, l2len: u32, mtu: u32, nh: usize, queued: bool): void {
  let hlen = <u32>(load<u8>(ip) & 15) << 2;
  let step = mtu == 0 ? 0 : (mtu - hlen) & ~7;
  let left = totLen - hlen;
  let n = step == 0 ? reasmNfrags() : (left + step - 1) / step;
  if (!queued && !roomFor(n, l2len, mtu == 0 ? reasmMaxSize() : mtu, nh)) return;
  frag4Header(ip, hlen, fragLen(0, step, left, 0), 0, n > 1);
  sendFragments(ip, hlen, ip + hlen, left, step, n, l2len, nh, queued);
}

/**
 * The first fragment (at ip, its headers hdrLen bytes, already set) leaves — or is held for its
 * next hop — first; then each of the others goes as a copy of its headers (with the L2 header)
 * and its share of the data, queued for neighDrain behind it. queued: the packet is not the
 * slot's own (a GSO segment): the first is queued too.
 */
function sendFragments(ip: usize, hdrLen: u32, data: usize, left: u32, step: u32, n: u32, l2len: u32, nh: usize, queued: bool): void {
  let v6 = (load<u8>(ip) >> 4) == 6;
  let off: u32 = 0;
  if (!queued) {
    off = fragLen(0, step, left, 0);
    emit(ip, hdrLen + off, l2len, nh);
    if (verdict() == V_DROP) return;
  }
  for (let k: u32 = queued ? 0 : 1; k < n; k++) {
    let len = fragLen(k, step, left, off);
    let f = l2Queue(ip - l2len, l2len + hdrLen, data + off, len, nh);
    if (f == 0) break;     // cannot happen after roomFor
    if (v6) frag6Header(f + l2len, len, off, k + 1 < n);
    else {
      if (hdrLen > 20) ipOptionsFragment(f + l2len, hdrLen);
      frag4Header(f + l2len, hdrLen, len, off, k + 1 < n);
    }
    off += len;
  }
  cntAdd(CNT_FRAG_CREATED, n);
}

/**
 * ip_options_fragment: fragments after the first carry only the options whose copied flag is
 * set (RFC 791); the others become NOPs, the header keeps its length.
 */
function ipOptionsFragment(ip: usize, hlen: u32): void {
  let o: u32 = 20;
  while (o < hlen) {
    let t = load<u8>(ip + o);
    if (t == 0) break;                        // end of options
    if (t == 1) { o++; continue; }            // NOP
    if (o + 1 >= hlen) break;
    let l = <u32>load<u8>(ip + o + 1);
    if (l < 2 || o + l > hlen) break;
    if ((t & 0x80) == 0) memory.fill(ip + o, 1, l);
    o += l;
  }
}

@inline function frag4Header(ip: usize, hlen: u32, len: u32, off: u32, more: bool): void {
  st16be(ip + 2, hlen + len);
  st16be(ip + 6, (off >> 3) | (more ? IP_MF : 0));
  ipv4SendCheck(ip, hlen);
}

/** mtu 0: the fragments as the datagram came in (FRAG_GEOM). queued: not the slot's own (a GSO segment). */
function fragment6(ip: usize, totLen: u32, l2len: u32, mtu: u32, nh: usize, queued: bool): void {
  let step = mtu == 0 ? 0 : (mtu - 40 - FRAG_HDR) & ~7;
  let left = totLen - 40;
  let n = step == 0 ? reasmNfrags() : (left + step - 1) / step;
  // the first fragment: the L2 + IPv6 headers move 8 bytes into the headroom for the Fragment header
  let nip = ip - FRAG_HDR;
  if (nip - l2len < slotStart()) { setDrop(CNT_NO_HEADROOM); setVerdict(V_DROP); return; }
  if (!queued && !roomFor(n, l2len, mtu == 0 ? reasmMaxSize() + FRAG_HDR : mtu, nh)) return;
  memory.copy(nip - l2len, ip - l2len, l2len + 40);
  let fh = nip + 40;
  store<u8>(fh, load<u8>(nip, 6));          // next header: what the packet carried
  store<u8>(fh, 0, 1);
  st32be(fh + 4, ipIdentNext());
  store<u8>(nip, IPPROTO_FRAGMENT, 6);
  frag6Header(nip, fragLen(0, step, left, 0), 0, n > 1);
  sendFragments(nip, 40 + FRAG_HDR, ip + 40, left, step, n, l2len, nh, queued);   // the payload stays where it was
}

@inline function frag6Header(ip: usize, len: u32, off: u32, more: bool): void {
  st16be(ip + 4, FRAG_HDR + len);
  st16be(ip + 40 + 2, off | (more ? 1 : 0));   // offset in 8-byte units << 3 == off, M flag
}
