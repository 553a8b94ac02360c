// The batch loop (net/core/dev.c __netif_receive_skb, net/ipv4/ip_input.c ip_rcv): every slot
// of a batch is parsed, defragmented, walked through PRE_ROUTING, the route step (LOCAL_IN or
// FORWARD) and POST_ROUTING (hooks.ts runs the entries, core.ts holds the IPVS ones), and its
// verdict written back into the slot's meta. Apart from the IPVS hooks so that the hook table
// can call them without a cycle.
import { finishOutput, ipOutput } from "./xmit/output";
import {
  CTL, CTL_FLAGS, CTL_NOW, CTL_CONN_STAGES, CTL_CLOCK_BASE, CTL_CLOCK_SET, slotCount, slotMeta, slotBase, slotSize, SLOT_META_SIZE, SCRATCH, linkType,
  linkVnet, SLOT_OFF, SLOT_LEN, SLOT_VERDICT, SLOT_REASON, SLOT_CONN, REASM, PKT, PKT_REASM_SLOT, PKT_CONN_HINT, PKT_STAGED, NWORKERS, WORKER,
  slotHeadroom, CTL_FRAG_QUEUES, PKT_REDIR_N, CTL_FWM_COUNT, connIdxBuckets,
} from "./layout";
import {
  NF_ACCEPT, NF_DROP, NF_STOLEN, V_DROP, V_XMIT, V_LOCAL, V_PASS, V_STOLEN, CNT_GSO, CNT_NO_HEADROOM, CNT_TRUNCATED,
  NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_POST_ROUTING, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6,
  SET_PASS_MALFORMED, SET_ROUTED_LINK, CNT_LOCAL_NOT_TAKEN, CNT_RX, CNT_TX, CNT_LOCAL, CNT_PASS, CNT_DROP, CNT_NOT_IP,
  CNT_BAD_SLOT, CNT_FRAGMENT, CNT_BAD_VNET_HDR, CNT_REASM_NO_ROOM, CNT_REASM_HELD, CNT_REASM_PASSED, CNT_REDIRECT_OUT,
  CNT_REDIRECT_FULL, CNT_REDIRECT_TOO_BIG,
} from "./defs";
import { defragIn, defragReset, defragTick, defragReason, reasmFrame, reasmLen, DEFRAG_HELD, DEFRAG_DROP, DEFRAG_PASS } from "./packet/defrag";
import { parseFrame, parseFrameInline, pFrame, pL4, pL4Len, pL3, pProto, pktDaddr, pGso, pCsumPartial, VNET_HDR_LEN, parseVnet, resetVnet, parseFragmentAsPacket } from "./packet/iph";
import { connHashWords, connStage, connCount, connOutDefer, connOutFlush } from "./conn/table";
import { connExpireTick } from "./conn/conn";
import { defenseTick } from "./defense";
import { isMarkSvc } from "./ctl";
import { isVipInline } from "./route";
import { arpFrame, ndRx, neighTick } from "./neigh";
import { runHooks, runHooksIfAny, runHooksIpvsFirst, markPeek } from "./hooks";
import { cntInc, cntAdd, statsFlush } from "./stats";
import { sharedMaxU32, wLock, wUnlock } from "./shared";
import { pktOwner, redirectTo, tplEnter, tplLeave } from "./worker";
import { pktReset, setVerdict, setDrop, setOut, pktConn, pktMark, outStart, outLen, verdict, dropReason, ipvsProperty, slotStart } from "./pkt";

/**
 * Below this many conns (≈ 7 MiB of records) in an index of fewer buckets (4 MiB) the table
 * stays in the caches: no batch stages. A large index holding few conns still misses on every
 * bucket (a table sized for 1M conns filling up: its first 65,536 new conns 20 % faster staged).
 */
@inline const STAGE_MIN_CONNS: u32 = 1 << 16;
@inline const STAGE_MIN_BUCKETS: u32 = 1 << 16;
/**
 * Frames staged and processed together: their lines (~4 each, 16 KiB) stay in L1/L2; fewer
 * groups, fewer waits for a stage's first miss (1M table, same run: by 64 132-140 ns a packet,
 * by 32 140-151, by 128 156-159; docs/engine.md).
 */
@inline const STAGE_GROUP: u32 = 64;
/** The largest group: its hashes, gathered record addresses and frame list (connStage) stay in SCRATCH's first 16 KiB. */
@inline const STAGE_GROUP_MAX: u32 = 1024;

@inline function flag(f: u32): bool { return (load<u32>(CTL, CTL_FLAGS) & f) != 0; }

// ---- the batch ---------------------------------------------------------------------------------

/** Set the engine clock from the host's milliseconds (the first call defines engine time 0). */
export function clockSet(nowMs: f64): u32 {
  if (!load<u32>(CTL, CTL_CLOCK_SET)) {
    store<f64>(CTL, nowMs, CTL_CLOCK_BASE);
    store<u32>(CTL, 1, CTL_CLOCK_SET);
  }
  let d = nowMs - load<f64>(CTL, CTL_CLOCK_BASE);
  if (d >= 0 && d < 4294967295.0) return sharedMaxU32(CTL + CTL_NOW, <u32>d);   // never backwards (any worker)
  return load<u32>(CTL, CTL_NOW);
}

/** The slot whose fragment completed the datagram being processed in REASM (0: none). */
@inline function reasmSlot(): usize { return load<usize>(PKT, PKT_REASM_SLOT); }

/** Run one frame through PRE_ROUTING, the route step, LOCAL_IN or FORWARD, and POST_ROUTING. */
function processOne(i: u32): void {
  let meta = slotMeta(i);
  let slot = slotBase(i);
  let off = load<u32>(meta, SLOT_OFF);
  let len = load<u32>(meta, SLOT_LEN);
  // (CNT_RX: counted for the whole batch in processBatch)
  if (<u64>off + <u64>len > <u64>slotSize) {        // off > slotSize || len > slotSize - off, in one compare
    store<u8>(meta, V_DROP, SLOT_VERDICT); store<u16>(meta, <u16>CNT_BAD_SLOT, SLOT_REASON);
    store<u32>(meta, 0, SLOT_LEN);
    cntInc(CNT_BAD_SLOT); cntInc(CNT_DROP);
    return;
  }
  let frame = slot + off;
  // a device with offloads: the virtio-net header first; the frame proper starts after it
  let r: u32 = 0;
  // (without offloads the virtio-net fields are never set: linkVnet is fixed when the engine starts)
  if (linkVnet) {
    resetVnet();
    if (len < VNET_HDR_LEN) r = CNT_TRUNCATED;
    else { r = parseVnet(frame); frame += VNET_HDR_LEN; len -= VNET_HDR_LEN; }
  }
  pktReset(slot, frame, len);
  // the batch stage's conn hint, left in the slot's conn word (an output, written at the end);
  // it names the frame's conn only while the packet is this frame (not a reassembled datagram)
  store<u32>(PKT, load<u32>(PKT, PKT_STAGED) ? load<u32>(meta, SLOT_CONN) : 0, PKT_CONN_HINT);
  if (r == 0) r = parseFrameInline(frame, len);
  if (pGso()) cntInc(CNT_GSO);
  defragReset();
  store<usize>(PKT, 0, PKT_REASM_SLOT);
  if (r == CNT_FRAGMENT && (pGso() || pCsumPartial())) r = CNT_BAD_VNET_HDR;   // offloads on a fragment: not asked for
  if (r == CNT_FRAGMENT) {
    store<u32>(PKT, 0, PKT_CONN_HINT);
    // nf_defrag (PRE_ROUTING, priority -400): a fragment waits in its queue (STOLEN) until the
    // datagram is whole; the one that completes it has the whole datagram processed in REASM,
    // and finish() copies what goes out back into this slot
    wLock();                 // the reassembly queues are the director's (shared.ts)
    let d = defragIn();
    wUnlock();
    if (d == DEFRAG_HELD) { cntInc(CNT_REASM_HELD); finish(meta, V_STOLEN, 0, 0); return; }
    if (d == DEFRAG_DROP) { finish(meta, V_DROP, defragReason(), 0); return; }
    if (d == DEFRAG_PASS) { cntInc(CNT_REASM_PASSED); r = parseFragmentAsPacket(); }   // on as it is
    else {
      store<usize>(PKT, slot, PKT_REASM_SLOT);
      pktReset(REASM, reasmFrame(), reasmLen());
      resetVnet();
      r = linkVnet ? parseVnet(reasmFrame() - VNET_HDR_LEN) : 0;
      if (r == 0) r = parseFrame(reasmFrame(), reasmLen());
    }
  }
  if (r != 0) {
    // TAP: ARP for our addresses is answered, answers for next hops we wait for are taken
    if (r == CNT_NOT_IP && linkType == 1) {
      wLock();
      let lv = arpFrame(frame, len);
      wUnlock();
      if (lv != 255) { finish(meta, lv, 0, 0); return; }
    }
    let v: u8 = (r == CNT_NOT_IP || flag(SET_PASS_MALFORMED)) ? V_PASS : V_DROP;
    if (v != V_DROP) cntInc(r);                    // a drop's reason is counted by finish()
    finish(meta, v, v == V_DROP ? r : 0, 0);
    return;
  }
  // several workers: a frame whose conn another worker owns goes to it (worker.ts)
  if (NWORKERS > 1 && WORKER < NWORKERS) {
    let o = pktOwner(load<u32>(CTL, CTL_FWM_COUNT) != 0 && isMarkSvc(markPeek()));
    if (o != WORKER) { redirect(meta, o, slot + off, load<u32>(meta, SLOT_LEN)); return; }
  }
  // TAP: neighbour solicitations for our addresses / advertisements of next hops (the director's ndisc)
  if (linkType == 1 && pProto() == IPPROTO_ICMPV6) {
    wLock();
    let nv = ndRx(pFrame(), pL3(), pL4(), pL4Len());
    wUnlock();
    if (nv != 255) { finish(meta, nv, 0, 0); return; }
  }
  let v = runHooksIfAny(NF_INET_PRE_ROUTING);
  if (v == NF_ACCEPT) {
    // local: a VIP, or a mark a fwmark service takes (ip rule fwmark → local table); each
    // point's walk called with its point a constant (runHooksIpvsFirst folds to its one case)
    let local = isVipInline(pktDaddr()) || (pktMark() != 0 && isMarkSvc(pktMark()));
    v = local ? runHooksIpvsFirst(NF_INET_LOCAL_IN) : runHooks(NF_INET_FORWARD);
    if (v == NF_ACCEPT) {
      if (ipvsProperty()) ipOutput();                // un-NATed reply forwarded on (on a TAP: to its next hop)
      // for a VIP, on a link whose output the host routes (TUN): handed back, it would come
      // straight back in; the local stack has taken it (a RST, an ICMP error to a VIP ...)
      else if (local && flag(SET_ROUTED_LINK)) { setDrop(CNT_LOCAL_NOT_TAKEN); v = NF_DROP; }
      else setVerdict(V_PASS);                     // not ours: the host stack decides
    }
  }
  if (v == NF_DROP) { finish(meta, V_DROP, dropReason() != 0 ? dropReason() : CNT_DROP, 0); return; }
  if (v == NF_STOLEN && verdict() == V_DROP && dropReason() == 0) setVerdict(V_STOLEN);
  // what leaves the engine goes through POST_ROUTING
  if (verdict() == V_XMIT || verdict() == V_LOCAL) {
    let pv = runHooksIpvsFirst(NF_INET_POST_ROUTING);
    if (pv == NF_DROP) { finish(meta, V_DROP, dropReason() != 0 ? dropReason() : CNT_DROP, 0); return; }
    if (pv == NF_STOLEN) setVerdict(V_STOLEN);
    else if (verdict() == V_XMIT) finishOutput();   // ip_finish_output: fragments, the next hop's MAC
  }
  finishSlot(meta, verdict(), verdict() == V_DROP ? (dropReason() != 0 ? dropReason() : CNT_DROP) : 0);
}

/**
 * Hand the frame to worker o's ring (the whole frame as it came, or the datagram reassembled in
 * REASM); the slot is STOLEN here, or dropped and counted when the ring is full.
 */
function redirect(meta: usize, o: u32, frame: usize, len: u32): void {
  if (reasmSlot() != 0) {
    let vl: u32 = linkVnet ? VNET_HDR_LEN : 0;
    frame = reasmFrame() - vl;
    len = reasmLen() + vl;
    if (len > slotSize - slotHeadroom) { finish(meta, V_DROP, CNT_REDIRECT_TOO_BIG, 0); return; }
  }
  if (!redirectTo(o, frame, len)) { finish(meta, V_DROP, CNT_REDIRECT_FULL, 0); return; }
  cntInc(CNT_REDIRECT_OUT);
  store<u32>(meta, 0, SLOT_LEN);
  store<u8>(meta, V_STOLEN, SLOT_VERDICT);
  store<u16>(meta, 0, SLOT_REASON);
  store<u32>(meta, 0, SLOT_CONN);
}

/** Does a slot with verdict v send (or pass on) a frame? */
@inline function sentVerdict(v: u8): bool { return v == V_XMIT || v == V_LOCAL || v == V_PASS; }

/** finish, for the frame's other ways out (the way of every forwarded packet has it inlined). */
function finish(meta: usize, v: u8, reason: u32, _x: u32): void { finishSlot(meta, v, reason); }

/** The packet's verdict, reason, output and conn into its slot meta; the counters. */
@inline function finishSlot(meta: usize, v: u8, reason: u32): void {
  // (sent: asked only on the two rare ways below, each behind its own cheap test)
  if (linkVnet && sentVerdict(v)) {
    // a device with offloads takes every frame behind a virtio-net header: a rewritten frame
    // (still where it came, its L2 header as long) keeps the one it came with, as does a passed
    // one (a TUN director writes it back); a frame the engine built gets one of its own, asking
    // for no offload
    if (outStart() - VNET_HDR_LEN < slotStart()) { v = V_DROP; reason = CNT_NO_HEADROOM; }
    else {
      if (outStart() != pFrame()) memory.fill(outStart() - VNET_HDR_LEN, 0, VNET_HDR_LEN);
      setOut(outStart() - VNET_HDR_LEN, outLen() + VNET_HDR_LEN);
    }
  }
  // a reassembled datagram was processed in REASM: its output (the first fragment, or the whole
  // datagram when it is sent whole) goes back into its slot, at the same offset
  if (reasmSlot() != 0 && sentVerdict(v)) {
    let off = <u32>(outStart() - slotStart());
    if (off + outLen() > slotSize) { v = V_DROP; reason = CNT_REASM_NO_ROOM; }
    else memory.copy(reasmSlot() + off, outStart(), outLen());
  }
  store<u8>(meta, v, SLOT_VERDICT);
  store<u16>(meta, <u16>reason, SLOT_REASON);
  store<u32>(meta, <u32>(outStart() - slotStart()), SLOT_OFF);
  store<u32>(meta, outLen(), SLOT_LEN);
  store<u32>(meta, pktConn(), SLOT_CONN);
  if (v == V_XMIT) cntInc(CNT_TX);
  else if (v == V_LOCAL) cntInc(CNT_LOCAL);
  else if (v == V_PASS) cntInc(CNT_PASS);
  else if (v == V_DROP) {
    cntInc(CNT_DROP);
    if (reason != 0 && reason != CNT_DROP) cntInc(reason);   // every drop has a named counter
  }
}

/**
 * The conn-hash of each of slots first..first+n-1, read straight off the wire into `hashes`, for
 * the batch stages only: a hint, which may be wrong (a frame that is not IP, or too short, hashes
 * to 0 or to whatever its bytes give: a useless touch, nothing else); the real parse comes
 * later. IPv4 without options is the loop's own; the link's shape is read once (issue 20: 87.5
 * → 48.8 instructions a frame, docs/engine.md).
 */
function stageHashes(hashes: usize, first: u32, n: u32): void {
  // the IP header's offset in the frame: the virtio-net header first (offloads), then
  // Ethernet without VLAN tags (the common case; a hint only). A TUN without offloads gets a
  // loop of its own, its offsets constants.
  let eth = linkType == 1;
  if (!eth && !linkVnet) stageHashesAt(hashes, first, n, 0, false);
  else stageHashesAt(hashes, first, n, (linkVnet ? VNET_HDR_LEN : 0) + (eth ? 14 : 0), eth);
}
@inline function stageHashesAt(hashes: usize, first: u32, n: u32, lead: u32, eth: bool): void {
  let meta = slotMeta(first), base = slotBase(first), size = slotSize;
  let end = hashes + (<usize>n << 2);
  let others = false;
  // a hint, so no length check: an offset past the slot is clamped (nothing is read outside
  // it; slotSize ≥ 128), and a frame too short, or IPv4 but not TCP/UDP, hashes whatever its
  // bytes are, which costs a useless touch and nothing else
  let maxOff = size - 64 - lead;
  for (let at = hashes; at < end; at += 4, meta += SLOT_META_SIZE, base += size) {
    let off = min(load<u32>(meta, SLOT_OFF), maxOff);
    let ip = base + off + lead;
    let h: u32 = 0;
    let v4 = load<u8>(ip) == 0x45;
    if (eth) v4 &= load<u16>(ip - 2) == 0x0008;
    if (v4) h = peekHashV4(ip, ip + 20, load<u8>(ip, 9));
    else others = true;
    store<u32>(at, h);
  }
  // IPv4 with options, IPv6: a second pass, so that the loop above calls nothing (a call makes
  // V8 keep the loop's values on the stack)
  if (!others) return;
  meta = slotMeta(first); base = slotBase(first);
  for (let at = hashes; at < end; at += 4, meta += SLOT_META_SIZE, base += size) {
    let off = load<u32>(meta, SLOT_OFF), len = load<u32>(meta, SLOT_LEN);
    if (load<u32>(at) == 0 && len >= lead + 40 && <u64>off + <u64>len <= <u64>size) store<u32>(at, peekHashOther(base + off + lead, len - lead, eth));
  }
}
/** An IPv4 packet's conn-hash: addrFold64 of the v4-mapped form (::ffff:a.b.c.d) puts the address in the high half. */
@inline function peekHashV4(ip: usize, l4: usize, proto: u8): u32 {
  return connHashWords(proto, (<u64>load<u32>(ip, 12) << 32) | 0xffff0000, (<u64>load<u32>(ip, 16) << 32) | 0xffff0000, load<u32>(l4));
}
/** stageHashes' other frames: IPv4 with options, IPv6; 0 for anything else (0x0800 / 0x86dd as loaded: the ethertype). */
function peekHashOther(ip: usize, len: u32, eth: bool): u32 {
  let v = load<u8>(ip) >> 4;
  if (v == 4 && (!eth || load<u16>(ip - 2) == 0x0008)) {
    let ihl = (<u32>load<u8>(ip) & 0xf) << 2;
    let proto = load<u8>(ip, 9);
    if (ihl < 20 || ihl + 4 > len || (proto != IPPROTO_TCP && proto != IPPROTO_UDP)) return 0;
    return peekHashV4(ip, ip + ihl, proto);
  }
  if (v == 6 && len >= 44 && (!eth || load<u16>(ip - 2) == 0xdd86)) {
    let proto = load<u8>(ip, 6);
    if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) return 0;
    return connHashWords(proto, load<u64>(ip, 8) ^ load<u64>(ip, 16), load<u64>(ip, 24) ^ load<u64>(ip, 32), load<u32>(ip, 40));
  }
  return 0;
}

/** Process slots 0..n-1 at time nowMs. Returns n. */
export function processBatch(n: u32, nowMs: f64): u32 {
  clockSet(nowMs);
  if (load<u32>(CTL, CTL_FRAG_QUEUES) != 0) {
    wLock();
    defragTick();      // reassembly queues due expire before this batch's fragments look for them
    wUnlock();
  }
  if (n > slotCount) n = slotCount;
  // every frame of the batch is received here but the redirected ones in front (counted where
  // they were read): at once for the batch, not in each processOne
  let redir = load<u32>(PKT, PKT_REDIR_N);
  if (n > redir) cntAdd(CNT_RX, n - redir);
  // the batch in stages, STAGE_GROUP frames at a time: hash every frame, touch every bucket,
  // touch every record a bucket points at (conn/table.ts connStage), then process them; a
  // table small enough to stay in the caches does not need it
  let knob = load<u32>(CTL, CTL_CONN_STAGES);
  let stages = knob & 0xff;
  let group = knob >> 8;
  if (stages == 0) { stages = connCount() >= STAGE_MIN_CONNS || connIdxBuckets >= STAGE_MIN_BUCKETS ? 3 : 1; if (group == 0) group = STAGE_GROUP; }
  if (group == 0 || group > n) group = n;
  if (group > STAGE_GROUP_MAX) group = STAGE_GROUP_MAX;
  for (let g: u32 = 0; g < n; g += group) {
    let m = n - g < group ? n - g : group;
    if (stages >= 2) {
      let hashes = SCRATCH;
      stageHashes(hashes, g, m);
      connStage(hashes, m, stages == 3, slotMeta(g) + SLOT_CONN);
      connOutDefer();      // the group's new out keys entered together at its end (conn/table.ts)
    }
    store<u32>(PKT, <u32>(stages == 3), PKT_STAGED);
    for (let i: u32 = 0; i < m; i++) processOne(g + i);
    if (stages >= 2) connOutFlush();
  }
  store<u32>(PKT, 0, PKT_REDIR_N);
  statsFlush();        // several workers: the batch's statistics into the shared records
  return n;
}

export function tickAt(nowMs: f64): u32 {
  let now = clockSet(nowMs);
  let n: u32 = 0;
  if (NWORKERS == 1) n = connExpireTick(now);
  else if (WORKER < NWORKERS) {
    n = connExpireTick(now);                      // this worker's conns (each expiry under the lock)
    if (WORKER == 0) {                            // the templates: one worker walks their wheel
      wLock();
      let own = tplEnter();
      n += connExpireTick(now);
      tplLeave(own);
      wUnlock();
    }
  }
  if (NWORKERS == 1 || WORKER < NWORKERS) defenseTick(now);   // defense_work_handler: once a second
  wLock();
  defragTick();
  if (linkType == 1) neighTick();
  wUnlock();
  return n;
}
