// IP fragment reassembly before the hooks, as nf_defrag_ipv4 (ip_defrag, net/ipv4/ip_fragment.c)
// and nf_defrag_ipv6 (nf_ct_frag6_gather, net/ipv6/netfilter/nf_conntrack_reasm.c) do at
// PRE_ROUTING priority NF_IP_PRI_CONNTRACK_DEFRAG (-400): every hook and IPVS see whole
// datagrams. Linux 6.1 rules (net/ipv4/inet_fragment.c inet_frag_queue_insert, RFC 5722):
//  - a queue per (saddr, daddr, id, protocol) for IPv4, (saddr, daddr, id) for IPv6; its timer
//    is set once, when it is created (ipfrag_time 30 s; nf_conntrack_frag6_timeout 60 s);
//  - over the family's high threshold (ipfrag_high_thresh / nf_conntrack_frag6_high_thresh,
//    4 MiB) no fragment is taken at all (inet_frag_find returns NULL; there is no evictor since
//    4.17, queues leave by their timer);
//  - a fragment that overlaps data held drops its whole queue (IPSTATS_MIB_REASM_OVERLAPS); one
//    that lies inside a run of data already held is a duplicate and only itself is dropped;
//  - IPv4: a fragment with MF whose length is not a multiple of 8 is trimmed to one; a last
//    fragment that contradicts the length known, a fragment past a known end or an empty one
//    drops the queue (ip_frag_queue discard_qp). IPv6 (nf_ct_frag6_queue): such fragments are
//    dropped alone, the queue kept; a fragment with M set and a length not a multiple of 8
//    kills the queue and goes on unreassembled (-EPROTO; a first fragment is then forwarded by
//    IPVS as a packet, recorded; a later one is dropped here: drop_reasm_bad_fragment);
//  - a datagram over 65535 bytes is dropped with its queue (ip_frag_reasm out_oversize);
//  - the reassembled IPv4 header is the first fragment's, DF set only when the largest fragment
//    had DF (ip_frag_reasm); IPv6 loses its Fragment header (an atomic fragment, RFC 6946,
//    completes at once and goes on without it, as the kernel's recording shows).
// The largest fragment (IPCB / IP6CB frag_max_size) and the sizes of the fragments kept are
// remembered for the way out: output.ts sends the datagram as the fragments it came in
// (ip_do_fragment / ip6_fragment's frag_list fast path), or cut to frag_max_size.
// A queue that expires with its first fragment sends ICMP "fragment reassembly time exceeded"
// to the source, quoting that fragment (ip_expire; ip6frag_expire_frag_queue), recorded in
// test/golden/kernel/recorded/nat-frag-expire: for a VIP from the VIP; for a datagram the
// director forwards, from the director's own address (the kernel picks one by route; here the
// link address of the family, setLink; none set: no error), IPv4 quoting the fragment with its
// TTL already decremented (IPVS's ip_vs_out_hook gathers forwarded fragments after ip_forward).
// It leaves through the hold queue (drain()).
// Not modelled: ipfrag_max_dist (ip_frag_too_far), ECN combination (ip_frag_ecn_table).
import {
  CTL, CTL_NOW, CTL_HASH_SEED, CTL_LINK_IP4, CTL_LINK_IP6, CTL_FRAG_TIME, CTL_FRAG_HIGH, CTL_FRAG_MEM,
  CTL_FRAG_CHUNK_FREE, CTL_FRAG_QUEUES, CTL_FRAG_NEXT_DUE, FRAGQ_MAX, FRAG_TAB, FRAG_TAB_SIZE, FRAG_CHUNK_SIZE,
  FRAG_CHUNKS, FRAG_GEOM, REASM, slotHeadroom, linkVnet, linkType, FRAGQ_STATE, FRAGQ_AF, FRAGQ_PROTO, FRAGQ_FLAGS,
  FRAGQ_ID, FRAGQ_SADDR, FRAGQ_DADDR, FRAGQ_LEN, FRAGQ_MEAT, FRAGQ_MAX_SIZE, FRAGQ_MAX_DF, FRAGQ_EXPIRES, FRAGQ_HEAD,
  FRAGQ_NEXT, FRAGQ_HDR_LEN, FRAGQ_NFRAGS, FRAGQ_TAIL, FRAGQ_HDR, FRAGQ_HDR_MAX, FCH_NEXT, FCH_NEXT_FRAG, FCH_OFF,
  FCH_LEN, fragqPtr, fchMeta, fchData, PKT, PKT_DEFRAG_REASON, PKT_REASM_FRAME, PKT_REASM_LEN,
} from "../layout";
import {
  AF_INET, V_LOCAL, CNT_REASM_REQDS, CNT_REASM_OK, CNT_REASM_FAILS, CNT_REASM_OVERLAP, CNT_REASM_DUP, CNT_REASM_TIMEOUT,
  CNT_REASM_OVER_BUDGET, CNT_REASM_OVERSIZE, CNT_REASM_BAD_FRAG, CNT_REASM_FRAGS_FREED,
} from "../defs";
import { ld16be, ld32be, st16be, addrEq, addrCopy, addrFold, addrIsZero, ntohl } from "./bytes";
import { ipv4SendCheck } from "./csum";
import { pFrame, pL3, pLen, pAf, pHdrLen, extFragOff, extFragNhOff, VNET_HDR_LEN, pktSaddr, pktDaddr, parseFrame } from "./iph";
import { cntInc, cntAdd } from "../stats";
import { pktReset, setReasm, outStart, outLen, verdict } from "../pkt";
import { isVip } from "../route";
import { icmpFragTimeExceeded } from "../xmit/icmp";
import { nextHop } from "../route";
import { l2Queue } from "../neigh";

@inline const F_FIRST_IN: u8 = 1;
@inline const F_LAST_IN: u8 = 2;
@inline const IP_MF: u32 = 0x2000;
@inline const IP_DF: u32 = 0x4000;
@inline const IP_OFFSET: u32 = 0x1fff;
@inline const MAXLEN: u32 = 65535;
@inline const RUN_CONT: u32 = 0x80000000;   // FCH_LEN bit: this fragment continues the previous one's run

// defragIn's outcome
@inline export const DEFRAG_HELD: u32 = 0;   // kept in its queue (STOLEN)
@inline export const DEFRAG_DROP: u32 = 1;   // dropped; defragReason says why
@inline export const DEFRAG_DONE: u32 = 2;   // it completed a datagram: reasmFrame / reasmLen in REASM
@inline export const DEFRAG_PASS: u32 = 3;   // IPv6 first fragment to go on as it is (nf_ct_frag6_queue -EPROTO)

@inline export function defragReason(): u32 { return load<u32>(PKT, PKT_DEFRAG_REASON); }
/** The reassembled frame (its L2 header, then the datagram) inside REASM, and its length. */
@inline export function reasmFrame(): usize { return load<usize>(PKT, PKT_REASM_FRAME); }
@inline export function reasmLen(): u32 { return load<u32>(PKT, PKT_REASM_LEN); }

@inline function now(): u32 { return load<u32>(CTL, CTL_NOW); }
@inline function afIdx(af: u8): usize { return af == AF_INET ? 0 : 4; }

/** Defaults (the sysctls' values in 6.1) and the chunk free list; memory is zeroed by layoutInit. */
export function defragInit(): void {
  store<u32>(CTL, 30000, CTL_FRAG_TIME);        // net.ipv4.ipfrag_time = 30
  store<u32>(CTL, 60000, CTL_FRAG_TIME + 4);    // net.netfilter.nf_conntrack_frag6_timeout = 60 (ip6frag_time 60)
  store<u32>(CTL, 4 << 20, CTL_FRAG_HIGH);      // net.ipv4.ipfrag_high_thresh = 4194304
  store<u32>(CTL, 4 << 20, CTL_FRAG_HIGH + 4);  // nf_conntrack_frag6_high_thresh (ip6frag_high_thresh) = 4194304
  for (let i: u32 = 1; i <= FRAG_CHUNKS; i++) store<u32>(fchMeta(i), i < FRAG_CHUNKS ? i + 1 : 0, FCH_NEXT);
  store<u32>(CTL, 1, CTL_FRAG_CHUNK_FREE);
}

/** Forget the previous packet's reassembly (core calls it before each slot). */
export function defragReset(): void { setReasm(0, 0); store<u32>(PKT, 0, PKT_DEFRAG_REASON); }

/** ipfrag_time / nf_conntrack_frag6_timeout in ms (af 4 or 6). */
export function defragSetTime(af: u8, ms: u32): bool {
  if (ms == 0) return false;
  store<u32>(CTL + afIdx(af), ms, CTL_FRAG_TIME);
  return true;
}
/** ipfrag_high_thresh / nf_conntrack_frag6_high_thresh in bytes (0: take no fragment, as the kernel). */
export function defragSetHighThresh(af: u8, bytes: u32): void { store<u32>(CTL + afIdx(af), bytes, CTL_FRAG_HIGH); }
export function defragGet(af: u8, which: u32): u32 {
  let o: usize = which == 0 ? CTL_FRAG_TIME : which == 1 ? CTL_FRAG_HIGH : CTL_FRAG_MEM;
  return load<u32>(CTL + afIdx(af) + o);
}
export function defragQueues(): u32 { return load<u32>(CTL, CTL_FRAG_QUEUES); }

// ---- queues -------------------------------------------------------------------------------------

function bucket(af: u8, proto: u8, id: u32, s: usize, d: usize): usize {
  let h = (load<u32>(CTL, CTL_HASH_SEED) ^ id ^ (<u32>proto << 16) ^ (<u32>af << 24)) * 0x9e3779b1;
  h = (h ^ addrFold(s)) * 0x85ebca6b;
  h = (h ^ addrFold(d)) * 0xc2b2ae35;
  return FRAG_TAB + (<usize>((h ^ (h >> 16)) & (FRAG_TAB_SIZE - 1)) << 2);
}

@inline function memAdd(af: u8, d: i32): void {
  let p = CTL + afIdx(af) + CTL_FRAG_MEM;
  store<u32>(p, <u32>(<i32>load<u32>(p) + d));
}

/** Free every chunk of the fragment list from `f`; returns how many fragments. */
function freeFrags(af: u8, f: u32): u32 {
  let n: u32 = 0;
  while (f != 0) {
    let nextFrag = load<u32>(fchMeta(f), FCH_NEXT_FRAG);
    let c = f;
    while (c != 0) {
      let m = fchMeta(c);
      let nc = load<u32>(m, FCH_NEXT);
      store<u32>(m, load<u32>(CTL, CTL_FRAG_CHUNK_FREE), FCH_NEXT);
      store<u32>(CTL, c, CTL_FRAG_CHUNK_FREE);
      memAdd(af, -<i32>FRAG_CHUNK_SIZE);
      c = nc;
    }
    n++;
    f = nextFrag;
  }
  return n;
}

/** inet_frag_kill + free: unhash queue q and give its chunks back; returns the fragments it held. */
function fqFree(q: u32): u32 {
  let p = fragqPtr(q);
  let af = load<u8>(p, FRAGQ_AF);
  let b = bucket(af, load<u8>(p, FRAGQ_PROTO), load<u32>(p, FRAGQ_ID), p + FRAGQ_SADDR, p + FRAGQ_DADDR);
  let prev: usize = 0;
  for (let i = load<u32>(b); i != 0; i = load<u32>(fragqPtr(i), FRAGQ_NEXT)) {
    if (i == q) {
      if (prev == 0) store<u32>(b, load<u32>(p, FRAGQ_NEXT));
      else store<u32>(fragqPtr(<u32>prev), load<u32>(p, FRAGQ_NEXT), FRAGQ_NEXT);
      break;
    }
    prev = i;
  }
  let n = freeFrags(af, load<u32>(p, FRAGQ_HEAD));
  store<u8>(p, 0, FRAGQ_STATE);
  store<u32>(CTL, load<u32>(CTL, CTL_FRAG_QUEUES) - 1, CTL_FRAG_QUEUES);
  return n;
}

/** Kill queue q for a reason: its held fragments are counted as freed. */
function fqDiscard(q: u32): void { cntAdd(CNT_REASM_FRAGS_FREED, fqFree(q)); }

@inline function expired(p: usize): bool { return <i32>(now() - load<u32>(p, FRAGQ_EXPIRES)) >= 0; }

/** ip_expire / nf_ct_frag6_expire: a queue whose timer fired (icmp: tell the source, if due). */
function fqExpire(q: u32, icmp: bool): void {
  cntInc(CNT_REASM_TIMEOUT);
  let p = fragqPtr(q);
  if (icmp && (load<u8>(p, FRAGQ_FLAGS) & F_FIRST_IN)) expireIcmp(q);
  fqDiscard(q);
}

/**
 * The first fragment of queue q rebuilt in REASM as it came (IPv4: its length as kept), parsed as
 * the current packet, and an ICMP time exceeded (code 1) to its source queued for drain().
 * Called between packets only (tick, the start of a batch).
 */
function expireIcmp(q: u32): void {
  let p = fragqPtr(q);
  let v4 = load<u8>(p, FRAGQ_AF) == AF_INET;
  let local = isVip(p + FRAGQ_DADDR);
  let src = local ? p + FRAGQ_DADDR : CTL + (v4 ? CTL_LINK_IP4 : CTL_LINK_IP6);
  if (addrIsZero(src) || (v4 && !local && load<u32>(src, 12) == 0)) return;
  let head = load<u32>(p, FRAGQ_HEAD);
  let dlen = fLen(head);
  let hdrLen = <u32>load<u16>(p, FRAGQ_HDR_LEN);
  let l2: u32 = linkType == 1 ? 14 : 0;
  let vnet: u32 = linkVnet ? VNET_HDR_LEN : 0;
  let frame = REASM + slotHeadroom + vnet;
  let ip = frame + l2;
  memory.copy(ip, p + FRAGQ_HDR, hdrLen);
  let at = ip + hdrLen;
  if (v4) {
    st16be(ip + 2, hdrLen + dlen);
    if (!local && load<u8>(ip, 8) > 1) store<u8>(ip, load<u8>(ip, 8) - 1, 8);
    ipv4SendCheck(ip, hdrLen);
  } else {
    // the Fragment header back, in front of the data (offset 0, M set)
    store<u8>(at, load<u8>(ip, 6));
    store<u8>(at, 0, 1);
    st16be(at + 2, 1);
    store<u32>(at + 4, ntohl(load<u32>(p, FRAGQ_ID)));
    store<u8>(ip, 44, 6);
    at += 8;
    st16be(ip + 4, <u32>(at - ip) - 40 + dlen);
  }
  for (let k: u32 = 0, c = head; k < dlen && c != 0; k += FRAG_CHUNK_SIZE, c = load<u32>(fchMeta(c), FCH_NEXT)) {
    memory.copy(at + k, fchData(c), dlen - k < FRAG_CHUNK_SIZE ? dlen - k : FRAG_CHUNK_SIZE);
  }
  let len = l2 + <u32>(at - ip) + dlen;
  if (l2) { memory.fill(frame, 0, 12); st16be(frame + 12, v4 ? 0x0800 : 0x86dd); }
  pktReset(REASM, frame, len);
  parseFrame(frame, len);                  // a fragment: sets the addresses and lengths the error needs
  icmpFragTimeExceeded(src);              // the queue (src may be its daddr) is freed after this
  if (verdict() != V_LOCAL) return;          // no room in front: counted by the builder's drop reason only
  l2Queue(outStart(), outLen(), 0, 0, nextHop(pktSaddr()));
}

/** inet_frag_find: the queue of this key, created when there is none (0: no queue free). */
function fqFind(af: u8, proto: u8, id: u32, s: usize, d: usize): u32 {
  let b = bucket(af, proto, id, s, d);
  for (let q = load<u32>(b); q != 0; q = load<u32>(fragqPtr(q), FRAGQ_NEXT)) {
    let p = fragqPtr(q);
    if (load<u8>(p, FRAGQ_AF) == af && load<u8>(p, FRAGQ_PROTO) == proto && load<u32>(p, FRAGQ_ID) == id &&
        addrEq(p + FRAGQ_SADDR, s) && addrEq(p + FRAGQ_DADDR, d)) {
      if (!expired(p)) return q;
      fqExpire(q, false);   // due within this batch (defragTick ran at its start): gone, no ICMP here
      break;
    }
  }
  if (load<u32>(CTL, CTL_FRAG_QUEUES) >= FRAGQ_MAX) return 0;
  let q: u32 = 1;
  while (q <= FRAGQ_MAX && load<u8>(fragqPtr(q), FRAGQ_STATE) != 0) q++;
  if (q > FRAGQ_MAX) return 0;
  let p = fragqPtr(q);
  memory.fill(p, 0, FRAGQ_HDR);
  store<u8>(p, 1, FRAGQ_STATE);
  store<u8>(p, af, FRAGQ_AF);
  store<u8>(p, proto, FRAGQ_PROTO);
  store<u32>(p, id, FRAGQ_ID);
  addrCopy(p + FRAGQ_SADDR, s);
  addrCopy(p + FRAGQ_DADDR, d);
  let due = now() + load<u32>(CTL + afIdx(af), CTL_FRAG_TIME);
  store<u32>(p, due, FRAGQ_EXPIRES);
  if (load<u32>(CTL, CTL_FRAG_QUEUES) == 0 || <i32>(due - load<u32>(CTL, CTL_FRAG_NEXT_DUE)) < 0) store<u32>(CTL, due, CTL_FRAG_NEXT_DUE);
  store<u32>(p, load<u32>(b), FRAGQ_NEXT);
  store<u32>(b, q);
  store<u32>(CTL, load<u32>(CTL, CTL_FRAG_QUEUES) + 1, CTL_FRAG_QUEUES);
  return q;
}

/** Expire the queues whose timer is due (tick). Returns how many. */
export function defragTick(): u32 {
  if (load<u32>(CTL, CTL_FRAG_QUEUES) == 0 || <i32>(now() - load<u32>(CTL, CTL_FRAG_NEXT_DUE)) < 0) return 0;
  let n: u32 = 0;
  let next: u32 = now() + 0x7fffffff;
  for (let q: u32 = 1; q <= FRAGQ_MAX; q++) {
    let p = fragqPtr(q);
    if (load<u8>(p, FRAGQ_STATE) == 0) continue;
    if (expired(p)) { fqExpire(q, true); n++; }
    else if (<i32>(load<u32>(p, FRAGQ_EXPIRES) - next) < 0) next = load<u32>(p, FRAGQ_EXPIRES);
  }
  store<u32>(CTL, next, CTL_FRAG_NEXT_DUE);
  return n;
}

// ---- inet_frag_queue_insert ----------------------------------------------------------------------

@inline const INS_OK: u32 = 0;
@inline const INS_DUP: u32 = 1;
@inline const INS_OVERLAP: u32 = 2;
@inline const INS_NOMEM: u32 = 3;

@inline function fOff(f: u32): u32 { return load<u32>(fchMeta(f), FCH_OFF); }
@inline function fLen(f: u32): u32 { return load<u32>(fchMeta(f), FCH_LEN) & ~RUN_CONT; }
@inline function fCont(f: u32): bool { return (load<u32>(fchMeta(f), FCH_LEN) & RUN_CONT) != 0; }

/** Copy len bytes at data into a chain of chunks; returns its first chunk, 0 when the pool is short. */
function chunkStore(af: u8, data: usize, len: u32): u32 {
  let need = (len + FRAG_CHUNK_SIZE - 1) / FRAG_CHUNK_SIZE;
  // count first: all or nothing
  let c = load<u32>(CTL, CTL_FRAG_CHUNK_FREE);
  for (let k: u32 = 0; k < need; k++) { if (c == 0) return 0; c = load<u32>(fchMeta(c), FCH_NEXT); }
  let first = load<u32>(CTL, CTL_FRAG_CHUNK_FREE);
  c = first;
  let last: u32 = 0;
  for (let k: u32 = 0; k < need; k++) {
    let n = k * FRAG_CHUNK_SIZE;
    let part = len - n < FRAG_CHUNK_SIZE ? len - n : FRAG_CHUNK_SIZE;
    memory.copy(fchData(c), data + n, part);
    last = c;
    c = load<u32>(fchMeta(c), FCH_NEXT);
  }
  store<u32>(CTL, c, CTL_FRAG_CHUNK_FREE);
  store<u32>(fchMeta(last), 0, FCH_NEXT);
  memAdd(af, <i32>(need * FRAG_CHUNK_SIZE));
  return first;
}

/**
 * inet_frag_queue_insert: place [off, end) of queue q. The common case goes after the last
 * fragment (appended to its run when it starts where it ends); otherwise the runs are searched:
 * inside one run → a duplicate, touching data held in any other way → an overlap.
 */
function insert(q: u32, off: u32, end: u32, data: usize): u32 {
  let p = fragqPtr(q);
  let af = load<u8>(p, FRAGQ_AF);
  let tail = load<u32>(p, FRAGQ_TAIL);
  let prev: u32 = 0;      // the fragment the new one goes after (0: at the head)
  let cont = false;
  if (tail != 0 && fOff(tail) + fLen(tail) < end) {
    let lastEnd = fOff(tail) + fLen(tail);
    if (off < lastEnd) return INS_OVERLAP;
    cont = off == lastEnd;
    prev = tail;
  } else if (tail != 0) {
    // walk the runs in offset order (the rb-tree search meets the same run, if any)
    let f = load<u32>(p, FRAGQ_HEAD);
    while (f != 0) {
      let runStart = fOff(f);
      let runLast = f;
      let g = load<u32>(fchMeta(f), FCH_NEXT_FRAG);
      while (g != 0 && fCont(g)) { runLast = g; g = load<u32>(fchMeta(g), FCH_NEXT_FRAG); }
      let runEnd = fOff(runLast) + fLen(runLast);
      if (end <= runStart) break;                    // goes before this run
      if (off < runEnd) return off >= runStart && end <= runEnd ? INS_DUP : INS_OVERLAP;
      prev = runLast;
      f = g;
    }
  }
  let c = chunkStore(af, data, end - off);
  if (c == 0) return INS_NOMEM;
  let m = fchMeta(c);
  store<u32>(m, off, FCH_OFF);
  store<u32>(m, (end - off) | (cont ? RUN_CONT : 0), FCH_LEN);
  if (prev == 0) {
    store<u32>(m, load<u32>(p, FRAGQ_HEAD), FCH_NEXT_FRAG);
    store<u32>(p, c, FRAGQ_HEAD);
  } else {
    store<u32>(m, load<u32>(fchMeta(prev), FCH_NEXT_FRAG), FCH_NEXT_FRAG);
    store<u32>(fchMeta(prev), c, FCH_NEXT_FRAG);
  }
  if (load<u32>(m, FCH_NEXT_FRAG) == 0) store<u32>(p, c, FRAGQ_TAIL);
  store<u32>(p, load<u32>(p, FRAGQ_NFRAGS) + 1, FRAGQ_NFRAGS);
  return INS_OK;
}

// ---- the fragment of the current packet ------------------------------------------------------------

@inline function drop(reason: u32): u32 { store<u32>(PKT, reason, PKT_DEFRAG_REASON); return DEFRAG_DROP; }

/**
 * The current packet (parse said: a fragment) into its queue. HELD, DROP (defragReason), or
 * DONE: the datagram is whole in REASM (reasmFrame, reasmLen), with the completing fragment's
 * L2 header in front of it.
 */
export function defragIn(): u32 {
  cntInc(CNT_REASM_REQDS);
  let ip = pL3();
  let v4 = pAf() == AF_INET;
  let hlen: u32, off: u32, mf: bool, df = false, id: u32, proto: u8, data: usize, dlen: u32;
  if (v4) {
    hlen = pHdrLen();
    let fo = ld16be(ip + 6);
    off = (fo & IP_OFFSET) << 3; mf = (fo & IP_MF) != 0; df = (fo & IP_DF) != 0;
    id = ld16be(ip + 4); proto = load<u8>(ip, 9);
  } else {
    // the unfragmentable part must be the IPv6 header alone: the way out (output.ts) puts the
    // Fragment header right after it
    if (extFragOff() != 40) return drop(CNT_REASM_BAD_FRAG);
    hlen = extFragOff() + 8;
    let fo = ld16be(ip + extFragOff() + 2);
    off = fo & ~7; mf = (fo & 1) != 0;
    id = ld32be(ip + extFragOff() + 4); proto = 0;
  }
  data = ip + hlen;
  dlen = pLen() - hlen;
  let end = off + dlen;
  // nf_ct_frag6_queue: an end past IPV6_MAXPLEN is refused (the queue kept)
  if (!v4 && end > MAXLEN) return drop(CNT_REASM_OVERSIZE);
  let af = pAf();
  // inet_frag_find: nothing is taken while the family's memory is over its high threshold
  let high = load<u32>(CTL + afIdx(af), CTL_FRAG_HIGH);
  if (high == 0 || load<u32>(CTL + afIdx(af), CTL_FRAG_MEM) > high) return drop(CNT_REASM_OVER_BUDGET);
  let q = fqFind(af, proto, id, pktSaddr(), pktDaddr());
  if (q == 0) return drop(CNT_REASM_OVER_BUDGET);
  let p = fragqPtr(q);
  let flags = load<u8>(p, FRAGQ_FLAGS);
  let qlen = load<u32>(p, FRAGQ_LEN);
  if (!mf) {
    // the last fragment: nothing held may lie beyond it, nor may it move a known end
    if (end < qlen || ((flags & F_LAST_IN) && end != qlen)) return v4 ? discard(q, CNT_REASM_FAILS) : drop(CNT_REASM_FAILS);
    flags |= F_LAST_IN;
    qlen = end;
  } else {
    if (end & 7) {
      // IPv4: trimmed to a multiple of 8 (ip_frag_queue); IPv6: RFC 8200 §4.5 wants a parameter
      // problem, nf_ct_frag6_queue kills the queue and lets the fragment go on as it is (IPVS
      // then forwards a first fragment as a packet: recorded). A later fragment has no ports to
      // go on with: dropped here (not recorded)
      if (!v4) {
        fqDiscard(q);
        return off == 0 ? DEFRAG_PASS : drop(CNT_REASM_BAD_FRAG);
      }
      end &= ~7;
    }
    if (end > qlen) {
      if (flags & F_LAST_IN) return v4 ? discard(q, CNT_REASM_FAILS) : drop(CNT_REASM_FAILS);
      qlen = end;
    }
  }
  if (end == off) return v4 ? discard(q, CNT_REASM_FAILS) : drop(CNT_REASM_FAILS);
  if (off == 0 && hlen - (v4 ? 0 : 8) > FRAGQ_HDR_MAX) return drop(CNT_REASM_BAD_FRAG);
  let r = insert(q, off, end, data);
  if (r == INS_DUP) return drop(CNT_REASM_DUP);
  if (r == INS_OVERLAP) return discard(q, CNT_REASM_OVERLAP);
  if (r == INS_NOMEM) {
    if (load<u32>(p, FRAGQ_NFRAGS) == 0) fqFree(q);
    return drop(CNT_REASM_OVER_BUDGET);
  }
  store<u32>(p, qlen, FRAGQ_LEN);
  store<u32>(p, load<u32>(p, FRAGQ_MEAT) + (end - off), FRAGQ_MEAT);
  if (off == 0) {
    flags |= F_FIRST_IN;
    // the first fragment's headers become the datagram's (IPv6: without the Fragment header,
    // the next-header byte that named it now naming what it carried)
    let keep = v4 ? hlen : extFragOff();
    memory.copy(p + FRAGQ_HDR, ip, keep);
    if (!v4) store<u8>(p + FRAGQ_HDR + extFragNhOff(), load<u8>(ip + extFragOff()));
    store<u16>(p, <u16>keep, FRAGQ_HDR_LEN);
  }
  store<u8>(p, flags, FRAGQ_FLAGS);
  // IPCB frag_max_size: IPv4 the fragment's length (ip_frag_queue fragsize), IPv6 its payload length
  let fragsize = v4 ? (end - off) + hlen : ld16be(ip + 4);
  if (fragsize > load<u32>(p, FRAGQ_MAX_SIZE)) store<u32>(p, fragsize, FRAGQ_MAX_SIZE);
  if (df && fragsize > load<u32>(p, FRAGQ_MAX_DF)) store<u32>(p, fragsize, FRAGQ_MAX_DF);
  if (flags != (F_FIRST_IN | F_LAST_IN) || load<u32>(p, FRAGQ_MEAT) != qlen) return DEFRAG_HELD;
  return reasm(q);
}

/** ip_frag_queue discard_qp / inet_frag_kill: the queue goes, with the fragment in hand. */
function discard(q: u32, reason: u32): u32 {
  fqDiscard(q);
  return drop(reason);
}

/** ip_frag_reasm / nf_ct_frag6_reasm: the whole datagram into REASM; the queue is freed. */
function reasm(q: u32): u32 {
  let p = fragqPtr(q);
  let v4 = load<u8>(p, FRAGQ_AF) == AF_INET;
  let hdrLen = <u32>load<u16>(p, FRAGQ_HDR_LEN);
  let qlen = load<u32>(p, FRAGQ_LEN);
  let tot = hdrLen + qlen;
  if ((v4 && tot > MAXLEN) || (!v4 && tot - 40 > MAXLEN)) {
    cntAdd(CNT_REASM_FRAGS_FREED, fqFree(q));
    return drop(CNT_REASM_OVERSIZE);
  }
  let l2len = <u32>(pL3() - pFrame());
  let vnet: u32 = linkVnet ? VNET_HDR_LEN : 0;
  let start = REASM + slotHeadroom;
  if (vnet) memory.fill(start, 0, vnet);       // no offload asked for the datagram
  let frame = start + vnet;
  memory.copy(frame, pFrame(), l2len);
  let ip = frame + l2len;
  memory.copy(ip, p + FRAGQ_HDR, hdrLen);
  let n: u32 = 0;
  for (let f = load<u32>(p, FRAGQ_HEAD); f != 0; f = load<u32>(fchMeta(f), FCH_NEXT_FRAG)) {
    let len = fLen(f);
    let dst = ip + hdrLen + fOff(f);
    let c = f;
    for (let k: u32 = 0; k < len; k += FRAG_CHUNK_SIZE) {
      let part = len - k < FRAG_CHUNK_SIZE ? len - k : FRAG_CHUNK_SIZE;
      memory.copy(dst + k, fchData(c), part);
      c = load<u32>(fchMeta(c), FCH_NEXT);
    }
    store<u32>(FRAG_GEOM + (<usize>n << 2), len);
    n++;
  }
  if (v4) {
    st16be(ip + 2, tot);
    // DF only when the largest fragment had it (ip_frag_reasm: IPSKB_FRAG_PMTU)
    let maxDf = load<u32>(p, FRAGQ_MAX_DF);
    st16be(ip + 6, maxDf != 0 && maxDf == load<u32>(p, FRAGQ_MAX_SIZE) ? IP_DF : 0);
    ipv4SendCheck(ip, hdrLen);
    setReasm(load<u32>(p, FRAGQ_MAX_SIZE), n);
  } else {
    st16be(ip + 4, tot - 40);
    setReasm(40 + load<u32>(p, FRAGQ_MAX_SIZE), n);   // nf_ct_frag6_reasm: sizeof(ipv6hdr) + max_size
  }
  fqFree(q);
  cntInc(CNT_REASM_OK);
  store<usize>(PKT, frame, PKT_REASM_FRAME);
  store<u32>(PKT, l2len + tot, PKT_REASM_LEN);
  return DEFRAG_DONE;
}
