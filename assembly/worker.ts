// Workers (issue 17): which worker owns a frame. With N workers on one shared memory every conn
// belongs to one worker, the one this function names for its packets in both directions, so the
// packet path finds and changes a conn without a lock (docs/workers.md). The same function runs
// in the TUN's steering program (host/native/steer.c, TUNSETSTEERINGEBPF) so that the kernel
// already puts a frame on its owner's queue; the engine computes it again for what arrives on
// another queue and hands such a frame to its owner through the redirect ring.
//
// The function (fixed between the engine and the steering program; test/golden/owner-vectors.json):
//  1. ports from TCP / UDP / SCTP only (IPv6: only right after the fixed header); 0 for every
//     other protocol and for IPv4 fragments;
//  2. daddr a FULLNAT local address and ports present: owner = dport % N (the local ports are
//     sliced per worker as DPVS slices them per lcore: laddr.ts gives a conn of worker w a port
//     with lport % N == w, so the real server's reply comes back to w);
//     daddr a VIP: (a, p) = (saddr, sport); otherwise (a, p) = (daddr, dport) — the client side
//     of a conn is never rewritten by NAT, so both directions hash the same (caddr, cport);
//  3. key32(a): IPv4 as a big-endian u32, IPv6 the XOR of its four big-endian words;
//     h = (key32(a) ^ p) * 0x9E3779B1 (mod 2^32); owner = (h >>> 16) % N.
import { ld16be, ld32be, ntohs, addrIsV4 } from "./packet/bytes";
import { isVip } from "./route";
import { laddrIsLocal } from "./laddr";
import {
  CTL, CTL_LADDR_LIVE, PKT, PKT_OWNER_ADDR, PKT_REDIR_N, PKT_I_SADDR, PKT_I_DADDR, linkType, NWORKERS, WORKER, NPARTS, PART, PARTS,
  PART_SIZE, WCTL, WCTL_CONN_COUNT, WCTL_CONN_FREE, COLD_NEXT_TIMER, connMax, connPtr, connCold, partSelect, RINGS, ringSize,
  RING_HEAD, RING_TAIL, RING_DATA, ringEntries, slotSize, slotHeadroom, slotCount, slotBase, slotMeta, SLOT_OFF, SLOT_LEN,
} from "./layout";
import { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP, IPPROTO_ICMPV6, AF_INET, CNT_REDIRECT_IN } from "./defs";
import { connTableInit, connTableGrow, connReindex } from "./conn/table";
import { timerInit } from "./conn/timer";
import { pProto, pAf, pIcmpType, pSport, pDport, pktSaddr, pktDaddr, parseInner, iProto, iSport, iDport } from "./packet/iph";
import { cntAdd } from "./stats";

@inline function hasPorts(proto: u32): bool { return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP; }

/** The owner hash of (a, p): a as key32, p host order. */
@inline export function ownerHash(key32: u32, port: u32, n: u32): u32 {
  return ((key32 ^ port) * 0x9e3779b1 >>> 16) % n;
}

/** The owner of the frame at `frame` (len bytes; TAP: behind a 14-byte Ethernet header, no VLAN). */
export function ownerOfFrame(frame: usize, len: u32, n: u32): u32 {
  if (linkType == 1) {
    if (len < 14) return n;
    return ownerOfIp(frame + 14, len - 14, n);
  }
  return ownerOfIp(frame, len, n);
}

/**
 * The owner of the IP packet at `ip` (len bytes, no link header) among n workers, or n when it
 * cannot be parsed (too short, not IP): such a frame stays where it is.
 */
export function ownerOfIp(ip: usize, len: u32, n: u32): u32 {
  if (n <= 1) return 0;
  if (len < 1) return n;
  let ver = <u32>load<u8>(ip) >> 4;
  let sport: u32 = 0, dport: u32 = 0, skey: u32, dkey: u32;
  let ports = false;
  let daddr = PKT + PKT_OWNER_ADDR;   // the 16-byte form of daddr, for the VIP / laddr lookups
  if (ver == 4) {
    if (len < 20) return n;
    let ihl = (<u32>load<u8>(ip) & 0xf) << 2;
    if (ihl < 20 || ihl > len) return n;
    let proto = <u32>load<u8>(ip, 9);
    let frag = (ld16be(ip + 6) & 0x3fff) != 0;
    if (hasPorts(proto) && !frag && ihl + 4 <= len) { ports = true; sport = ld16be(ip + ihl); dport = ld16be(ip + ihl + 2); }
    skey = ld32be(ip + 12);
    dkey = ld32be(ip + 16);
    store<u64>(daddr, 0);
    store<u32>(daddr, 0xffff0000, 8);
    store<u32>(daddr, load<u32>(ip, 16), 12);
  } else if (ver == 6) {
    if (len < 40) return n;
    let proto = <u32>load<u8>(ip, 6);
    if (hasPorts(proto) && len >= 44) { ports = true; sport = ld16be(ip + 40); dport = ld16be(ip + 42); }
    skey = ld32be(ip + 8) ^ ld32be(ip + 12) ^ ld32be(ip + 16) ^ ld32be(ip + 20);
    dkey = ld32be(ip + 24) ^ ld32be(ip + 28) ^ ld32be(ip + 32) ^ ld32be(ip + 36);
    memory.copy(daddr, ip + 24, 16);
  } else return n;
  if (ports && load<u32>(CTL, CTL_LADDR_LIVE) != 0 && laddrIsLocal(daddr)) return dport % n;
  if (isVip(daddr)) return ownerHash(skey, sport, n);
  return ownerHash(dkey, dport, n);
}

// ---- conn partitions ------------------------------------------------------------------------------
// Conn indexes stay global (the listing, sync and the host see one table); the records are dealt
// to the partitions by index (record i belongs to partition i % NPARTS, for good: each
// partition's free list only ever holds its own), so which partition a conn is in is known from
// its index alone (partOf). Worker w creates, finds and expires its conns in partition w without a
// lock; persistence templates live in partition NWORKERS, touched only under the lock.

/** The partition of conn ci. */
@inline export function partOf(ci: u32): u32 { return NPARTS == 1 ? 0 : ci % NPARTS; }

/** The free lists of every partition over the whole pool, and their timer wheels at `now`. */
export function partsInit(now: u32): void {
  let own = PART;
  if (NPARTS == 1) { connTableInit(); timerInit(now); return; }
  for (let q: u32 = 0; q < NPARTS; q++) {
    partSelect(q);
    store<u32>(WCTL, 0, WCTL_CONN_FREE);
    connReindex();                                 // an empty index (and its overflow pool)
    timerInit(now);
  }
  linkFree(1, connMax);
  partSelect(own);
}

/** Records lo..hi (ascending) go in front of their partitions' free lists, lowest index first. */
function linkFree(lo: u32, hi: u32): void {
  let own = PART;
  for (let q: u32 = 0; q < NPARTS; q++) {
    partSelect(q);
    let first = lo + ((q + NPARTS - lo % NPARTS) % NPARTS);   // the first i >= lo with i % NPARTS == q
    if (first > hi) continue;
    let last = first;
    while (last + NPARTS <= hi) {
      store<u32>(connCold(last), last + NPARTS, COLD_NEXT_TIMER);
      last += NPARTS;
    }
    store<u32>(connCold(last), load<u32>(WCTL, WCTL_CONN_FREE), COLD_NEXT_TIMER);
    store<u32>(WCTL, first, WCTL_CONN_FREE);
  }
  partSelect(own);
}

/** After layoutGrow (which cleared the indexes): every partition's index rebuilt, the new records dealt out. */
export function partsGrow(oldMax: u32): void {
  if (NPARTS == 1) { connTableGrow(oldMax); return; }
  let own = PART;
  for (let q: u32 = 0; q < NPARTS; q++) {
    partSelect(q);
    connReindex();
  }
  partSelect(own);
  if (connMax > oldMax) linkFree(oldMax + 1, connMax);
}

/** Work on the templates' partition (the caller holds the lock); returns the partition to go back to. */
export function tplEnter(): u32 {
  let own = PART;
  if (NPARTS > 1) partSelect(NWORKERS);
  return own;
}
/** Work on the partition of the conn (caddr:cport → vaddr:vport, wire-order ports) as its owner would; the partition to go back to. */
export function connOwnerEnter(caddr: usize, cport: u16, vaddr: usize, vport: u16): u32 {
  let own = PART;
  if (NPARTS > 1) partSelect(ownerOfTuple(caddr, ntohs(cport), vaddr, ntohs(vport), true, NWORKERS));
  return own;
}
export function tplLeave(own: u32): void {
  if (NPARTS > 1) partSelect(own);
}

/** Conns in use: every partition's count (one partition: the table's). */
export function partsConnCount(): u32 {
  let n: u32 = 0;
  for (let q: u32 = 0; q < NPARTS; q++) n += load<u32>(PARTS + <usize>q * PART_SIZE, WCTL_CONN_COUNT);
  return n;
}

/** Free records of the current partition (its share of the pool less its conns). */
export function partRoom(): u32 {
  let q = PART;
  let records = NPARTS == 1 ? connMax : q == 0 ? connMax / NPARTS : (q <= connMax ? (connMax - q) / NPARTS + 1 : 0);
  let used = load<u32>(WCTL, WCTL_CONN_COUNT);
  return records > used ? records - used : 0;
}

/** The fullest partition's count × NPARTS: what the host's growth check compares with capacity. */
export function partsConnPressure(): u32 {
  let m: u32 = 0;
  for (let q: u32 = 0; q < NPARTS; q++) {
    let c = load<u32>(PARTS + <usize>q * PART_SIZE, WCTL_CONN_COUNT);
    if (c > m) m = c;
  }
  return m * NPARTS;
}

// ---- the owner of a parsed packet -----------------------------------------------------------------

@inline function key32Of(addr: usize): u32 {
  return addrIsV4(addr) ? ld32be(addr + 12) : ld32be(addr) ^ ld32be(addr + 4) ^ ld32be(addr + 8) ^ ld32be(addr + 12);
}

/** The owner function on a tuple in the 16-byte address form (ports host order; ports: it has some). */
function ownerOfTuple(saddr: usize, sport: u32, daddr: usize, dport: u32, ports: bool, n: u32, toService: bool = false): u32 {
  if (ports && load<u32>(CTL, CTL_LADDR_LIVE) != 0 && laddrIsLocal(daddr)) return dport % n;
  if (toService || isVip(daddr)) return ownerHash(key32Of(saddr), sport, n);
  return ownerHash(key32Of(daddr), dport, n);
}

/**
 * The owner of the packet just parsed (PKT), from what the parse found (past IPv6 extension
 * headers, after reassembly): an ICMP error belongs to the conn it quotes, so its owner is that
 * of the quoted packet turned around (the direction the conn sees it come in).
 */
export function pktOwner(toMarkSvc: bool): u32 {
  let n = NWORKERS;
  let proto = <u32>pProto();
  if ((proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) && isIcmpErr() && parseInner() == 0 && hasPorts(iProto())) {
    return ownerOfTuple(PKT + PKT_I_DADDR, ntohs(iDport()), PKT + PKT_I_SADDR, ntohs(iSport()), true, n);
  }
  let ports = hasPorts(proto);
  // a packet a MARK rule gives to a fwmark service goes to a VIP the VIP set does not know: the
  // client side is its source, as for any VIP (toMarkSvc, from the MARK rules: batch.ts)
  return ownerOfTuple(pktSaddr(), ports ? ntohs(pSport()) : 0, pktDaddr(), ports ? ntohs(pDport()) : 0, ports, n, toMarkSvc);
}

/** ICMP types that quote an offending datagram (core.ts isIcmpError, read from the parse). */
@inline function isIcmpErr(): bool {
  let t = pIcmpType();
  if (pAf() == AF_INET) return t == 3 || t == 4 || t == 11;
  return t == 1 || t == 2 || t == 3 || t == 4;
}

// ---- the redirect rings -----------------------------------------------------------------------------
// A frame that reached a worker that does not own it (no steering program, an ICMP error, a
// reassembled datagram) is copied into the ring from this worker to its owner; the owner drains
// its rings at the start of each batch (redirectDrain). One producer and one consumer per ring:
// the producer writes the entry, then publishes the tail (atomic store, release); the consumer
// reads the tail (atomic load, acquire), copies the entry, then publishes the head.

@inline function ringPtr(from: u32, to: u32): usize { return RINGS + (<usize>from * NWORKERS + to) * ringSize; }
@inline function ringEntry(r: usize, i: u32): usize {
  return r + RING_DATA + <usize>(i & (ringEntries - 1)) * ((4 + <usize>slotSize + 63) & ~<usize>63);
}
@inline function ldAcq(p: usize): u32 { if (ASC_FEATURE_THREADS) return atomic.load<u32>(p); return load<u32>(p); }
@inline function stRel(p: usize, v: u32): void { if (ASC_FEATURE_THREADS) atomic.store<u32>(p, v); else store<u32>(p, v); }

/** Frames in the ring from `from` to `to` not taken yet. */
export function ringPending(from: u32, to: u32): u32 {
  if (NWORKERS == 1 || from >= NWORKERS || to >= NWORKERS || from == to) return 0;
  let r = ringPtr(from, to);
  return ldAcq(r + RING_TAIL) - ldAcq(r + RING_HEAD);
}

/** Hand len bytes at frame to worker `to`. false: its ring is full (the caller counts the drop). */
export function redirectTo(to: u32, frame: usize, len: u32): bool {
  let r = ringPtr(WORKER, to);
  let tail = load<u32>(r, RING_TAIL);              // only this worker writes it
  if (tail - ldAcq(r + RING_HEAD) >= ringEntries) return false;
  let e = ringEntry(r, tail);
  store<u32>(e, len);
  memory.copy(e + 4, frame, len);
  stRel(r + RING_TAIL, tail + 1);
  return true;
}

/**
 * Move up to max redirected frames into slots 0.. (frame after the headroom, as the device would
 * have put it). Returns how many; the host reads the device into the slots after them.
 */
export function redirectDrain(max: u32): u32 {
  if (NWORKERS == 1 || WORKER >= NWORKERS) return 0;
  if (max > slotCount) max = slotCount;
  let n: u32 = 0;
  for (let from: u32 = 0; from < NWORKERS && n < max; from++) {
    if (from == WORKER) continue;
    let r = ringPtr(from, WORKER);
    let head = load<u32>(r, RING_HEAD);            // only this worker writes it
    let tail = ldAcq(r + RING_TAIL);
    while (head != tail && n < max) {
      let e = ringEntry(r, head);
      let len = load<u32>(e);
      if (len > slotSize - slotHeadroom) len = slotSize - slotHeadroom;   // never past the slot
      memory.copy(slotBase(n) + slotHeadroom, e + 4, len);
      let m = slotMeta(n);
      store<u32>(m, slotHeadroom, SLOT_OFF);
      store<u32>(m, len, SLOT_LEN);
      head++;
      n++;
    }
    stRel(r + RING_HEAD, head);
  }
  if (n != 0) cntAdd(CNT_REDIRECT_IN, n);
  store<u32>(PKT, n, PKT_REDIR_N);   // the batch does not count them as received again (batch.ts)
  return n;
}
