// The director's Ethernet side (TAP): what the kernel's neighbour layer (net/core/neighbour.c,
// arp.c, ndisc.c) does for IPVS's DR and tunnel output, in engine memory.
//
// - A neighbour table (NEIGH_MAX entries): next hop address → MAC. A new next hop is INCOMPLETE:
//   the frame is copied to the hold queue (its slot's verdict is STOLEN) and an ARP request /
//   neighbour solicitation is queued; every second without an answer another one, and after
//   NEIGH_PROBES_MAX the entry FAILS and its held frames are dropped (counted). An answer
//   makes it REACHABLE and its frames READY. A REACHABLE entry older than CTL_NEIGH_REACHABLE
//   turns STALE: still used, and probed again (at most once a second) until confirmed.
// - The hold queue (holdMax frames, their bytes from one arena of holdBytes; at most
//   HOLD_UNRES_MAX of them waiting for a next hop) also carries the probes, the fragments after
//   a slot's first and the GSO segments after a slot's first (xmit/gso.ts). Frames READY to go
//   leave through neighDrain(): the host calls it after process()/tick() and sends the slots
//   it fills, like a batch of its own.
// - ARP requests and neighbour solicitations for a VIP or the director's own address are
//   answered in place (verdict LOCAL), so real servers and the router can reach the VIPs.
import {
  CTL, PKT_NEIGH_TMP, CTL_LINK_MAC, CTL_LINK_IP4, CTL_LINK_IP6, CTL_NEIGH_REACHABLE, CTL_HOLD_COUNT, CTL_NOW, NEIGH,
  NEIGH_MAX, NEIGH_SIZE, NEIGH_STATE, NEIGH_AF, NEIGH_PROBES, NEIGH_ADDR, NEIGH_MAC, NEIGH_HELD, NEIGH_CONFIRMED,
  NEIGH_LAST_PROBE, NEIGH_LAST_USED, NEIGH_VLAN_N, NEIGH_VLAN, HOLD_META, HOLD, holdMax, holdBytes, HOLD_UNRES_MAX,
  CTL_HOLD_UNRES, CTL_HOLD_TOP, CTL_HOLD_NEXT, HOLD_META_SIZE, HOLD_STATE, HOLD_NEIGH, HOLD_LEN, HOLD_AT, HOLD_DATA,
  slotCount, slotBase, slotMeta, slotHeadroom, SLOT_OFF, SLOT_LEN, SLOT_VERDICT, SLOT_REASON, SLOT_CONN, linkType,
  linkVnet, PKT,
} from "./layout";
import {
  AF_INET, V_XMIT, V_LOCAL, V_STOLEN, V_DROP, IPPROTO_ICMPV6, CNT_NEIGH_HELD, CNT_NEIGH_QUEUE_FULL, CNT_NEIGH_FAILED,
  CNT_NEIGH_FULL, CNT_ARP_REPLY, CNT_NEIGH_PROBE, CNT_TX,
} from "./defs";
import { addrEq, addrCopy, addrFromV4, addrIsV4, addrIsZero, ld16be, st16be, st32be } from "./packet/bytes";
import { l4CsumFull } from "./packet/csum";
import { isVip } from "./route";
import { laddrIsLocal } from "./laddr";
import { ethTypeOff, VNET_HDR_LEN } from "./packet/iph";
import { setOut, setVerdict, setDrop } from "./pkt";
import { cntInc } from "./stats";

@inline export const NUD_NONE: u8 = 0;
@inline export const NUD_INCOMPLETE: u8 = 1;
@inline export const NUD_REACHABLE: u8 = 2;
@inline export const NUD_STALE: u8 = 3;
@inline export const NUD_PERMANENT: u8 = 4;
@inline const PROBE_INTERVAL: u32 = 1000;   // retrans_time_ms
@inline const PROBES_MAX: u8 = 3;            // mcast_solicit
@inline const PROBE_MAX_LEN: u32 = 128;      // an ARP request / solicitation with two VLAN tags fits

@inline function now(): u32 { return load<u32>(CTL, CTL_NOW); }
@inline function neighPtr(i: u32): usize { return NEIGH + <usize>i * NEIGH_SIZE; }
@inline function holdMeta(i: u32): usize { return HOLD_META + <usize>i * HOLD_META_SIZE; }
@inline function holdData(i: u32): usize { return HOLD + <usize>load<u32>(holdMeta(i), HOLD_DATA); }
@inline function align8(n: u32): u32 { return (n + 7) & ~7; }
@inline function macCopy(dst: usize, src: usize): void { store<u32>(dst, load<u32>(src)); store<u16>(dst, load<u16>(src, 4), 4); }
@inline function myMac(): usize { return CTL + CTL_LINK_MAC; }

export function neighInit(): void {
  store<u32>(CTL, 30000, CTL_NEIGH_REACHABLE);
}

/** The entry for `addr`, or 0. */
export function neighFind(addr: usize): u32 {
  for (let i: u32 = 1; i <= NEIGH_MAX; i++) {
    let n = neighPtr(i);
    if (load<u8>(n, NEIGH_STATE) != NUD_NONE && addrEq(n + NEIGH_ADDR, addr)) return i;
  }
  return 0;
}

/** A free entry, else the least recently used STALE one (never one with frames waiting). */
function neighAlloc(): u32 {
  let victim: u32 = 0, oldest: u32 = 0;
  for (let i: u32 = 1; i <= NEIGH_MAX; i++) {
    let n = neighPtr(i);
    let st = load<u8>(n, NEIGH_STATE);
    if (st == NUD_NONE) return i;
    if (st == NUD_STALE || (st == NUD_REACHABLE && <i32>(now() - load<u32>(n, NEIGH_CONFIRMED)) >= <i32>load<u32>(CTL, CTL_NEIGH_REACHABLE))) {
      let age = now() - load<u32>(n, NEIGH_LAST_USED);
      if (victim == 0 || age > oldest) { victim = i; oldest = age; }
    }
  }
  return victim;
}

/** ip neigh replace ADDR lladdr MAC nud permanent (addr 16-byte form, mac 6 bytes). */
export function neighSet(addr: usize, mac: usize, permanent: bool): i32 {
  let i = neighFind(addr);
  if (i == 0) i = neighAlloc();
  if (i == 0) return -28;
  confirm(i, addr, mac, permanent ? NUD_PERMANENT : NUD_REACHABLE);
  return <i32>i;
}

export function neighDel(addr: usize): i32 {
  let i = neighFind(addr);
  if (i == 0) return -2;
  dropHeld(i);
  store<u8>(neighPtr(i), NUD_NONE, NEIGH_STATE);
  return 0;
}

/** An answer (or a static entry): the MAC is known; frames waiting for it are ready. */
function confirm(i: u32, addr: usize, mac: usize, st: u8): void {
  let n = neighPtr(i);
  let old = load<u8>(n, NEIGH_STATE);
  addrCopy(n + NEIGH_ADDR, addr);
  store<u8>(n, addrIsV4(addr) ? 4 : 6, NEIGH_AF);
  macCopy(n + NEIGH_MAC, mac);
  if (old != NUD_PERMANENT || st == NUD_PERMANENT) store<u8>(n, st, NEIGH_STATE);
  store<u8>(n, 0, NEIGH_PROBES);
  store<u32>(n, now(), NEIGH_CONFIRMED);
  if (load<u16>(n, NEIGH_HELD) == 0) return;
  for (let h: u32 = 0; h < holdMax; h++) {
    let m = holdMeta(h);
    if (load<u8>(m, HOLD_STATE) == 1 && <u32>load<u16>(m, HOLD_NEIGH) == i) {
      macCopy(holdData(h), n + NEIGH_MAC);          // the held frame's destination MAC
      macCopy(holdData(h) + 6, myMac());
      store<u8>(m, 2, HOLD_STATE);
      unresAdd(-1);
    }
  }
  store<u16>(n, 0, NEIGH_HELD);
}

function dropHeld(i: u32): void {
  for (let h: u32 = 0; h < holdMax; h++) {
    let m = holdMeta(h);
    if (load<u8>(m, HOLD_STATE) == 1 && <u32>load<u16>(m, HOLD_NEIGH) == i) {
      store<u8>(m, 0, HOLD_STATE);
      unresAdd(-1);
      store<u32>(CTL, load<u32>(CTL, CTL_HOLD_COUNT) - 1, CTL_HOLD_COUNT);
      cntInc(CNT_NEIGH_FAILED);
    }
  }
  store<u16>(neighPtr(i), 0, NEIGH_HELD);
}


@inline function unresAdd(d: i32): void { store<u32>(CTL, <u32>(<i32>load<u32>(CTL, CTL_HOLD_UNRES) + d), CTL_HOLD_UNRES); }

// The queue keeps the order frames were queued in: entries are taken in index order (CTL_HOLD_NEXT:
// every entry from there on is free) and their bytes in arena order (CTL_HOLD_TOP), so index,
// arena and queueing order are one; neighDrain sends by index. Frames leave out of order (those
// waiting for a next hop stay), so both ends are compacted when reached: the live entries move
// down, in order (holdCompact). An empty queue starts again at entry 0, byte 0.

/** The next entry to take and the first free byte of the arena, rewound when the queue is empty. */
function holdRewind(): void {
  if (load<u32>(CTL, CTL_HOLD_COUNT) != 0) return;
  store<u32>(CTL, 0, CTL_HOLD_TOP);
  store<u32>(CTL, 0, CTL_HOLD_NEXT);
}

/** Move the live entries (and their bytes) to the front, in order: the room of frames already sent or dropped comes back. */
function holdCompact(): void {
  let next = load<u32>(CTL, CTL_HOLD_NEXT);
  let j: u32 = 0, top: u32 = 0;
  for (let h: u32 = 0; h < next; h++) {
    let m = holdMeta(h);
    if (load<u8>(m, HOLD_STATE) == 0) continue;
    let off = load<u32>(m, HOLD_DATA);
    let len = align8(load<u32>(m, HOLD_LEN));
    if (off != top) memory.copy(HOLD + <usize>top, HOLD + <usize>off, len);
    if (j != h) memory.copy(holdMeta(j), m, HOLD_META_SIZE);
    store<u32>(holdMeta(j), top, HOLD_DATA);
    top += len;
    j++;
  }
  for (let h = j; h < next; h++) store<u8>(holdMeta(h), 0, HOLD_STATE);
  store<u32>(CTL, j, CTL_HOLD_NEXT);
  store<u32>(CTL, top, CTL_HOLD_TOP);
}

/** Is there room for `frames` more frames of `bytes` in all (each rounded up to 8)? */
export function holdRoom(frames: u32, bytes: u32): bool {
  if (holdFree() < frames) return false;
  holdRewind();
  if (load<u32>(CTL, CTL_HOLD_NEXT) + frames <= holdMax && load<u32>(CTL, CTL_HOLD_TOP) + bytes <= holdBytes) return true;
  holdCompact();
  return load<u32>(CTL, CTL_HOLD_NEXT) + frames <= holdMax && load<u32>(CTL, CTL_HOLD_TOP) + bytes <= holdBytes;
}

/**
 * The next hold entry with `size` bytes of the arena, or -1 when the queue is full. It may
 * compact the queue: an entry or frame address taken before is stale after this call.
 */
function holdAlloc(size: u32): i32 {
  holdRewind();
  let need = align8(size);
  if (load<u32>(CTL, CTL_HOLD_NEXT) >= holdMax || load<u32>(CTL, CTL_HOLD_TOP) + need > holdBytes) {
    holdCompact();
    if (load<u32>(CTL, CTL_HOLD_NEXT) >= holdMax || load<u32>(CTL, CTL_HOLD_TOP) + need > holdBytes) return -1;
  }
  let h = load<u32>(CTL, CTL_HOLD_NEXT);
  let m = holdMeta(h);
  let top = load<u32>(CTL, CTL_HOLD_TOP);
  store<u32>(m, top, HOLD_DATA);
  store<u32>(m, 0, HOLD_LEN);
  store<u32>(CTL, top + need, CTL_HOLD_TOP);
  store<u32>(CTL, h + 1, CTL_HOLD_NEXT);
  return <i32>h;
}

/**
 * Queue a probe (ARP request / neighbour solicitation) for entry i, tagged with the VLAN tags of
 * the frames that go to it (the segment it is on); false when the queue is full.
 */
function probe(i: u32): bool {
  let n = neighPtr(i);
  let h = holdAlloc(PROBE_MAX_LEN);
  if (h < 0) return false;
  let f = holdData(<u32>h);
  let len: u32;
  let target = n + NEIGH_ADDR;
  let tagLen = <u32>load<u8>(n, NEIGH_VLAN_N) * 4;
  memory.copy(f + 12, n + NEIGH_VLAN, tagLen);
  let et = f + 12 + tagLen;                    // the EtherType, then the payload
  if (load<u8>(n, NEIGH_AF) == AF_INET) {
    // ARP request (RFC 826): broadcast; who has target? tell the director's address
    store<u32>(f, 0xffffffff); store<u16>(f + 4, 0xffff);
    macCopy(f + 6, myMac());
    st16be(et, 0x0806);
    let a = et + 2;
    st16be(a, 1); st16be(a + 2, 0x0800); store<u8>(a + 4, 6); store<u8>(a + 5, 4); st16be(a + 6, 1);
    macCopy(a + 8, myMac());
    store<u32>(a + 14, load<u32>(CTL + CTL_LINK_IP4, 12));
    store<u32>(a + 18, 0); store<u16>(a + 22, 0);
    store<u32>(a + 24, load<u32>(target, 12));
    len = 14 + tagLen + 28;
  } else {
    // neighbour solicitation (RFC 4861 §7.2.2) to the solicited-node address, with our link-layer address
    let ip = et + 2;
    store<u16>(f, 0x3333); store<u8>(f + 2, 0xff);
    store<u8>(f + 3, load<u8>(target, 13)); store<u16>(f + 4, load<u16>(target, 14));
    macCopy(f + 6, myMac());
    st16be(et, 0x86dd);
    st32be(ip, 0x60000000); st16be(ip + 4, 32); store<u8>(ip + 6, IPPROTO_ICMPV6); store<u8>(ip + 7, 255);
    linkIp6(ip + 8);
    memory.fill(ip + 24, 0, 16);
    store<u16>(ip + 24, 0x02ff); store<u16>(ip + 34, 0x0100); store<u8>(ip + 36, 0xff);   // ff02::1:ffXX:XXXX
    store<u8>(ip + 37, load<u8>(target, 13)); store<u16>(ip + 38, load<u16>(target, 14));
    let icmp = ip + 40;
    store<u32>(icmp, 135); store<u32>(icmp + 4, 0);
    addrCopy(icmp + 8, target);
    store<u8>(icmp + 24, 1); store<u8>(icmp + 25, 1); macCopy(icmp + 26, myMac());
    icmp6Csum(ip, 32);
    len = 14 + tagLen + 40 + 32;
  }
  let m = holdMeta(<u32>h);
  store<u8>(m, 2, HOLD_STATE);
  store<u16>(m, 0, HOLD_NEIGH);
  store<u32>(m, len, HOLD_LEN);
  store<u32>(m, now(), HOLD_AT);
  store<u32>(CTL, load<u32>(CTL, CTL_HOLD_COUNT) + 1, CTL_HOLD_COUNT);
  store<u32>(n, now(), NEIGH_LAST_PROBE);
  store<u8>(n, load<u8>(n, NEIGH_PROBES) + 1, NEIGH_PROBES);
  cntInc(CNT_NEIGH_PROBE);
  return true;
}

/** The director's IPv6 source on the link: the configured one, else fe80::EUI-64(MAC). */
function linkIp6(dst: usize): void {
  let a = CTL + CTL_LINK_IP6;
  if (!addrIsZero(a)) { addrCopy(dst, a); return; }
  let mac = myMac();
  store<u64>(dst, 0x80fe);
  store<u8>(dst + 8, load<u8>(mac) ^ 2); store<u8>(dst + 9, load<u8>(mac, 1)); store<u8>(dst + 10, load<u8>(mac, 2));
  store<u8>(dst + 11, 0xff); store<u8>(dst + 12, 0xfe);
  store<u8>(dst + 13, load<u8>(mac, 3)); store<u8>(dst + 14, load<u8>(mac, 4)); store<u8>(dst + 15, load<u8>(mac, 5));
}

function icmp6Csum(ip: usize, len: u32): void {
  let icmp = ip + 40;
  store<u16>(icmp + 2, 0);
  store<u16>(icmp + 2, l4CsumFull(6, ip + 8, ip + 24, IPPROTO_ICMPV6, icmp, len));
}

/**
 * The entry for next hop `nh`, made INCOMPLETE when new, turned STALE (and probed again, at
 * most once a second) when its confirmation is old; 0 when the table has no room. It keeps the
 * VLAN tags of the frame going to it (eth, len) for its probes.
 */
function neighResolve(nh: usize, eth: usize, len: u32): u32 {
  let i = neighFind(nh);
  if (i == 0) {
    i = neighAlloc();
    if (i == 0) return 0;
    let n = neighPtr(i);
    memory.fill(n, 0, NEIGH_SIZE);
    addrCopy(n + NEIGH_ADDR, nh);
    store<u8>(n, addrIsV4(nh) ? 4 : 6, NEIGH_AF);
    store<u8>(n, NUD_INCOMPLETE, NEIGH_STATE);
    store<u32>(n, now() - PROBE_INTERVAL, NEIGH_LAST_PROBE);
  }
  let n = neighPtr(i);
  store<u32>(n, now(), NEIGH_LAST_USED);
  let et = ethTypeOff(eth, len);
  let tags = et == 0 ? 0 : (et - 12) >> 2;
  store<u8>(n, <u8>tags, NEIGH_VLAN_N);
  memory.copy(n + NEIGH_VLAN, eth + 12, tags * 4);
  let st = load<u8>(n, NEIGH_STATE);
  if (st == NUD_REACHABLE && <i32>(now() - load<u32>(n, NEIGH_CONFIRMED)) >= <i32>load<u32>(CTL, CTL_NEIGH_REACHABLE)) {
    store<u8>(n, NUD_STALE, NEIGH_STATE);
    st = NUD_STALE;
  }
  if (st == NUD_STALE && <i32>(now() - load<u32>(n, NEIGH_LAST_PROBE)) >= <i32>PROBE_INTERVAL) probe(i);
  return i;
}

/**
 * Queue a frame (hdr + data, copied) for neighDrain: READY with its MACs when entry i is known
 * (or i = 0: no neighbour, a TUN), else held for i, which is asked (again) when its last probe
 * is a second old. Returns the frame's copy in the queue, 0 when there is no room: the queue is
 * full, or (capped) HOLD_UNRES_MAX frames wait for next hops already. Fragments after a held
 * first one are not capped: a packet is held whole or not at all.
 */
function holdFrame(i: u32, hdr: usize, hdrLen: u32, data: usize, dataLen: u32, capped: bool): usize {
  let n = neighPtr(i);
  let unres = i != 0 && load<u8>(n, NEIGH_STATE) == NUD_INCOMPLETE;
  if (unres && capped && load<u32>(CTL, CTL_HOLD_UNRES) >= HOLD_UNRES_MAX) return 0;
  // ask (again) first: the probe's entry would move the queue under this frame's (holdAlloc)
  if (unres && <i32>(now() - load<u32>(n, NEIGH_LAST_PROBE)) >= <i32>PROBE_INTERVAL) probe(i);
  let h = holdAlloc(hdrLen + dataLen);
  if (h < 0) return 0;
  let f = holdData(<u32>h);
  memory.copy(f, hdr, hdrLen);
  memory.copy(f + hdrLen, data, dataLen);
  let m = holdMeta(<u32>h);
  store<u16>(m, <u16>i, HOLD_NEIGH);
  store<u32>(m, hdrLen + dataLen, HOLD_LEN);
  store<u32>(m, now(), HOLD_AT);
  store<u32>(CTL, load<u32>(CTL, CTL_HOLD_COUNT) + 1, CTL_HOLD_COUNT);
  if (!unres) {
    if (i != 0) { macCopy(f, n + NEIGH_MAC); macCopy(f + 6, myMac()); }
    store<u8>(m, 2, HOLD_STATE);
    return f;
  }
  store<u8>(m, 1, HOLD_STATE);
  unresAdd(1);
  store<u16>(n, load<u16>(n, NEIGH_HELD) + 1, NEIGH_HELD);
  cntInc(CNT_NEIGH_HELD);
  return f;
}

/** Will a frame to next hop nh leave at once (its MAC known, or a TUN), rather than be held? */
export function neighReady(nh: usize): bool {
  if (linkType != 1) return true;
  let i = neighFind(nh);
  return i != 0 && load<u8>(neighPtr(i), NEIGH_STATE) != NUD_INCOMPLETE;
}

/** Free entries in the hold queue (a caller with several frames to queue checks first). */
export function holdFree(): u32 {
  return holdMax - load<u32>(CTL, CTL_HOLD_COUNT);
}

/**
 * Send the frame at eth (an Ethernet header the caller placed, totLen bytes) to next hop `nh`:
 * MACs filled in and XMIT when the neighbour is known, else held (STOLEN) while it is resolved.
 */
export function l2Xmit(eth: usize, totLen: u32, nh: usize): void {
  let i = neighResolve(nh, eth, totLen);
  if (i == 0) { setDrop(CNT_NEIGH_FULL); setVerdict(V_DROP); return; }
  let n = neighPtr(i);
  if (load<u8>(n, NEIGH_STATE) != NUD_INCOMPLETE) {
    macCopy(eth, n + NEIGH_MAC);
    macCopy(eth + 6, myMac());
    setOut(eth, totLen);
    setVerdict(V_XMIT);
    return;
  }
  if (holdFrame(i, eth, totLen, 0, 0, true) == 0) { setDrop(CNT_NEIGH_QUEUE_FULL); setVerdict(V_DROP); return; }
  setVerdict(V_STOLEN);
}

/**
 * A frame besides the slot's own (a fragment after the first): hdr (hdrLen bytes: Ethernet on a
 * TAP, then IP) + data, queued for neighDrain toward next hop `nh` (ignored on a TUN). Returns
 * the queued copy (for the caller to finish its headers), 0 when there is no room.
 */
export function l2Queue(hdr: usize, hdrLen: u32, data: usize, dataLen: u32, nh: usize): usize {
  if (linkType != 1) return holdFrame(0, hdr, hdrLen, data, dataLen, false);
  let i = neighResolve(nh, hdr, hdrLen);
  return i == 0 ? 0 : holdFrame(i, hdr, hdrLen, data, dataLen, false);
}

/** Timers: INCOMPLETE entries are probed each second, and fail (their frames dropped) after PROBES_MAX. */
export function neighTick(): void {
  for (let i: u32 = 1; i <= NEIGH_MAX; i++) {
    let n = neighPtr(i);
    let st = load<u8>(n, NEIGH_STATE);
    if (st != NUD_INCOMPLETE && st != NUD_STALE) continue;
    if (<i32>(now() - load<u32>(n, NEIGH_LAST_PROBE)) < <i32>PROBE_INTERVAL) continue;
    if (st == NUD_STALE) {
      // a stale entry that was probed and never answered is forgotten (no frames wait for it)
      if (load<u8>(n, NEIGH_PROBES) >= PROBES_MAX) store<u8>(n, NUD_NONE, NEIGH_STATE);
      else if (load<u8>(n, NEIGH_PROBES) > 0) probe(i);
      continue;
    }
    if (load<u8>(n, NEIGH_PROBES) >= PROBES_MAX) { dropHeld(i); store<u8>(n, NUD_NONE, NEIGH_STATE); continue; }
    probe(i);
  }
}

/** Move READY frames (released held frames, probes) into slots 0..; returns how many (≤ max). */
export function neighDrain(max: u32): u32 {
  if (max > slotCount) max = slotCount;
  let k: u32 = 0;
  let next = load<u32>(CTL, CTL_HOLD_NEXT);
  for (let h: u32 = 0; h < next && k < max; h++) {
    let m = holdMeta(h);
    if (load<u8>(m, HOLD_STATE) != 2) continue;
    let len = load<u32>(m, HOLD_LEN);
    // a TUN with offloads reads every frame behind a virtio-net header: an empty one (no offload)
    let vnet: u32 = linkVnet ? VNET_HDR_LEN : 0;
    memory.fill(slotBase(k) + slotHeadroom, 0, vnet);
    memory.copy(slotBase(k) + slotHeadroom + vnet, holdData(h), len);
    len += vnet;
    let sm = slotMeta(k);
    store<u32>(sm, slotHeadroom, SLOT_OFF);
    store<u32>(sm, len, SLOT_LEN);
    store<u8>(sm, V_XMIT, SLOT_VERDICT);
    store<u16>(sm, 0, SLOT_REASON);
    store<u32>(sm, 0, SLOT_CONN);
    store<u8>(m, 0, HOLD_STATE);
    store<u32>(CTL, load<u32>(CTL, CTL_HOLD_COUNT) - 1, CTL_HOLD_COUNT);
    cntInc(CNT_TX);
    k++;
  }
  return k;
}

/** Is `a` one of the director's addresses on the link (a VIP, a FULLNAT local address or its own)? */
function isOurs(a: usize): bool {
  if (addrEq(a, CTL + CTL_LINK_IP4) || addrEq(a, CTL + CTL_LINK_IP6)) return !addrIsZero(a);
  return isVip(a) || laddrIsLocal(a);
}

/** A frame that is not IP: ARP (after up to two VLAN tags) is ours to look at; 255 = not ARP. */
export function arpFrame(frame: usize, len: u32): u8 {
  let off = ethTypeOff(frame, len);
  if (off == 0 || ld16be(frame + off) != 0x0806) return 255;
  let v = arpRx(frame, len, off + 2);
  return v == 3 ? 255 : v;
}

/**
 * An ARP frame (after `arpOff` bytes of Ethernet header): learn the sender if we wait for it or
 * know it, answer requests for our addresses in place. Returns the slot verdict to use.
 */
export function arpRx(frame: usize, len: u32, arpOff: u32): u8 {
  let a = frame + arpOff;
  if (len < arpOff + 28 || ld16be(a) != 1 || ld16be(a + 2) != 0x0800 || load<u8>(a, 4) != 6 || load<u8>(a, 5) != 4) return 3;  // PASS
  let op = ld16be(a + 6);
  let tmp = PKT + PKT_NEIGH_TMP;
  addrFromV4(tmp, a + 14);
  let i = neighFind(tmp);
  if (i != 0 && load<u8>(neighPtr(i), NEIGH_STATE) != NUD_PERMANENT) confirm(i, tmp, a + 8, NUD_REACHABLE);
  if (op == 1) {
    let tpa = PKT + PKT_NEIGH_TMP + 16;
    addrFromV4(tpa, a + 24);
    if (!isOurs(tpa)) return i != 0 ? V_STOLEN : 3;
    // reply in place (RFC 826): swap sender and target, our MAC as the sender hardware address
    macCopy(frame, a + 8);
    macCopy(frame + 6, myMac());
    st16be(a + 6, 2);
    macCopy(a + 18, a + 8);
    let t = load<u32>(a + 24);
    store<u32>(a + 24, load<u32>(a + 14));
    macCopy(a + 8, myMac());
    store<u32>(a + 14, t);
    setOut(frame, arpOff + 28);
    cntInc(CNT_ARP_REPLY);
    return V_LOCAL;
  }
  return i != 0 ? V_STOLEN : 3;
}

/**
 * ICMPv6 neighbour discovery on the link (the packet is parsed: ip = its IPv6 header, icmp its
 * ICMPv6 message of icmpLen bytes). NS for our addresses → NA in place; NA for an entry → learnt.
 * Returns 255 when it is not ND for us (go on), else the slot verdict.
 */
export function ndRx(frame: usize, ip: usize, icmp: usize, icmpLen: u32): u8 {
  let type = load<u8>(icmp);
  if ((type != 135 && type != 136) || icmpLen < 24 || load<u8>(ip, 7) != 255) return 255;
  let target = icmp + 8;
  // the link-layer address option (source for NS, target for NA)
  let lla: usize = 0;
  let o: u32 = 24;
  while (o + 8 <= icmpLen) {
    let ol = <u32>load<u8>(icmp + o + 1) << 3;
    if (ol == 0) break;
    let ot = load<u8>(icmp + o);
    if ((type == 135 && ot == 1) || (type == 136 && ot == 2)) lla = icmp + o + 2;
    o += ol;
  }
  if (type == 136) {
    let i = neighFind(target);
    if (i == 0 || lla == 0) return 255;
    if (load<u8>(neighPtr(i), NEIGH_STATE) != NUD_PERMANENT) confirm(i, target, lla, NUD_REACHABLE);
    return V_STOLEN;
  }
  if (!isOurs(target)) return 255;
  let src = ip + 8;
  let dad = addrIsZero(src);
  // NA (RFC 4861 §7.2.4): to the solicitor (all-nodes for DAD), Router | Solicited | Override
  let dstMac = frame;
  if (dad) { store<u16>(dstMac, 0x3333); store<u32>(dstMac + 2, 0x01000000); }
  else if (lla != 0) macCopy(dstMac, lla);
  else macCopy(dstMac, frame + 6);
  macCopy(frame + 6, myMac());
  if (dad) { memory.fill(ip + 24, 0, 16); store<u16>(ip + 24, 0x02ff); store<u8>(ip + 39, 1); }
  else addrCopy(ip + 24, src);
  addrCopy(ip + 8, target);
  st32be(ip, 0x60000000);
  st16be(ip + 4, 32);
  store<u8>(ip + 6, IPPROTO_ICMPV6);
  store<u8>(ip + 7, 255);
  store<u8>(icmp, 136); store<u8>(icmp + 1, 0);
  st32be(icmp + 4, dad ? 0xa0000000 : 0xe0000000);
  store<u8>(icmp + 24, 2); store<u8>(icmp + 25, 1); macCopy(icmp + 26, myMac());
  icmp6Csum(ip, 32);
  setOut(frame, <u32>(ip - frame) + 72);
  cntInc(CNT_ARP_REPLY);
  return V_LOCAL;
}
