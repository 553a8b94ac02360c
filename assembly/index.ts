// The engine's exported API. Everything the host needs to read from memory is described by
// the exported layout constants below (the host duplicates none of them).
import { htons } from "./packet/bytes";
import * as L from "./layout";
import * as D from "./defs";
import { tcpInitTimeouts, tcpSetTimeout, tcpTimeout, tcpStateName, tcpNextState, TCP_S_ESTABLISHED, TCP_S_FIN_WAIT, TCP_S_LAST } from "./proto/tcp";
import { udpInitTimeouts, udpSetTimeout, udpTimeout, udpStateName, UDP_S_NORMAL } from "./proto/udp";
import { connNextLive, CONN_F_HASHED } from "./conn/table";
import { connExpireNow } from "./conn/conn";
import * as ctl from "./ctl";
import { hookAdd as hAdd, hookDel as hDel, hookSetMark as hSetMark, hooksInitIpvs } from "./hooks";
import { processBatch, tickAt } from "./batch";
import { schedName as sName, SCHED_LAST } from "./sched/registry";
import { cntGet } from "./stats";
import * as defrag from "./packet/defrag";
import * as neigh from "./neigh";
import * as laddr from "./laddr";
import { defenseInit } from "./defense";
import { sctpInitTimeouts, sctpSetTimeout, sctpTimeout, sctpStateName, sctpNextState, sctpEventOf, sctpCsum, SCTP_S_LAST } from "./proto/sctp";

// ---- layout, for the host ------------------------------------------------------------------
export const CTL_ADDR0: u32 = L.CTL_ADDR0;
export const CTL_ADDR1: u32 = L.CTL_ADDR1;
export const CTL_ADDR2: u32 = L.CTL_ADDR2;
export const CTL_NOW: u32 = L.CTL_NOW;
export const CTL_CONN_STAGES: u32 = L.CTL_CONN_STAGES;
export const STATS_SIZE: u32 = L.STATS_SIZE;
export const ST_CONNS: u32 = L.ST_CONNS;
export const ST_INPKTS: u32 = L.ST_INPKTS;
export const ST_OUTPKTS: u32 = L.ST_OUTPKTS;
export const ST_INBYTES: u32 = L.ST_INBYTES;
export const ST_OUTBYTES: u32 = L.ST_OUTBYTES;
export const SVC_SIZE: u32 = L.SVC_SIZE;
export const SVC_AF: u32 = L.SVC_AF;
export const SVC_PROTO: u32 = L.SVC_PROTO;
export const SVC_SCHED: u32 = L.SVC_SCHED;
export const SVC_FLAGS: u32 = L.SVC_FLAGS;
export const SVC_VADDR: u32 = L.SVC_VADDR;
export const SVC_VPORT: u32 = L.SVC_VPORT;
export const SVC_NUM_DESTS: u32 = L.SVC_NUM_DESTS;
export const SVC_DEST_HEAD: u32 = L.SVC_DEST_HEAD;
export const SVC_FWMARK: u32 = L.SVC_FWMARK;
export const SVC_TIMEOUT: u32 = L.SVC_TIMEOUT;
export const SVC_NETMASK: u32 = L.SVC_NETMASK;
export const SVC_STATS: u32 = L.SVC_STATS;
export const DEST_SIZE: u32 = L.DEST_SIZE;
export const DEST_USED: u32 = L.DEST_USED;
export const DEST_AF: u32 = L.DEST_AF;
export const DEST_FWD: u32 = L.DEST_FWD;
export const DEST_FLAGS: u32 = L.DEST_FLAGS;
export const DEST_ADDR: u32 = L.DEST_ADDR;
export const DEST_PORT: u32 = L.DEST_PORT;
export const DEST_WEIGHT: u32 = L.DEST_WEIGHT;
export const DEST_UTHRESH: u32 = L.DEST_UTHRESH;
export const DEST_LTHRESH: u32 = L.DEST_LTHRESH;
export const DEST_ACTIVE: u32 = L.DEST_ACTIVE;
export const DEST_INACTIVE: u32 = L.DEST_INACTIVE;
export const DEST_PERSIST: u32 = L.DEST_PERSIST;
export const DEST_NEXT: u32 = L.DEST_NEXT;
export const DEST_REFCNT: u32 = L.DEST_REFCNT;
export const DEST_STATS: u32 = L.DEST_STATS;
export const CONN_SIZE: u32 = L.CONN_SIZE;
export const CONN_TIMEOUT: u32 = L.CONN_TIMEOUT;
export const CONN_EXPIRES: u32 = L.CONN_EXPIRES;
export const COLD_SVC: u32 = L.COLD_SVC;
export const CONN_DEST: u32 = L.CONN_DEST;
export const CONN_CADDR: u32 = L.CONN_CADDR;
export const CONN_VADDR: u32 = L.CONN_VADDR;
export const COLD_DADDR: u32 = L.COLD_DADDR;
export const CONN_CPORT: u32 = L.CONN_CPORT;
export const CONN_VPORT: u32 = L.CONN_VPORT;
export const CONN_DPORT: u32 = L.CONN_DPORT;
export const CONN_PROTO: u32 = L.CONN_PROTO;
export const CONN_AF: u32 = L.CONN_AF;
export const CONN_FLAGS: u32 = L.CONN_FLAGS;
export const CONN_STATE: u32 = L.CONN_STATE;
export const CONN_FWD: u32 = L.CONN_FWD;
export const CONN_INPKTS: u32 = L.CONN_INPKTS;
export const COLD_OUTPKTS: u32 = L.COLD_OUTPKTS;
export const CONN_INBYTES: u32 = L.CONN_INBYTES;
export const COLD_OUTBYTES: u32 = L.COLD_OUTBYTES;
export const CONN_COLD_SIZE: u32 = L.CONN_COLD_SIZE;
export const HOOK_SIZE: u32 = L.HOOK_SIZE;
export const HOOK_POINT: u32 = L.HOOK_POINT;
export const HOOK_FN: u32 = L.HOOK_FN;
export const HOOK_VERDICT: u32 = L.HOOK_VERDICT;
export const HOOK_PRIORITY: u32 = L.HOOK_PRIORITY;
export const HOOK_ID: u32 = L.HOOK_ID;
export const HOOK_PACKETS: u32 = L.HOOK_PACKETS;
export const SLOT_META_SIZE: u32 = L.SLOT_META_SIZE;
export const SLOT_OFF: u32 = L.SLOT_OFF;
export const SLOT_LEN: u32 = L.SLOT_LEN;
export const SLOT_VERDICT: u32 = L.SLOT_VERDICT;
export const SLOT_REASON: u32 = L.SLOT_REASON;
export const SLOT_CONN: u32 = L.SLOT_CONN;
export const CNT_LAST: u32 = D.CNT_LAST;
export const SCHED_LAST_ID: u32 = SCHED_LAST;
export const TCP_STATE_LAST: u32 = TCP_S_LAST;
export const SCTP_STATE_LAST: u32 = SCTP_S_LAST;
export const COLD_LADDR: u32 = L.COLD_LADDR;
export const COLD_LPORT: u32 = L.COLD_LPORT;
export const LADDR_SIZE: u32 = L.LADDR_SIZE;
export const LADDR_USED: u32 = L.LADDR_USED;
export const LADDR_AF: u32 = L.LADDR_AF;
export const LADDR_CONNS: u32 = L.LADDR_CONNS;
export const LADDR_ADDR: u32 = L.LADDR_ADDR;
export const LADDR_CONFLICTS: u32 = L.LADDR_CONFLICTS;

/** Region bases, by name order: 0 CTL 1 COUNTERS 2 GSTATS 3 SVC 4 DEST 5 HOOKS 6 CONN 7 SLOT_META 8 SLOTS 9 SCRATCH 10 END 11 LADDR 12 SYNC_BUF 13 CONN_COLD. */
export function regionBase(id: u32): usize {
  switch (id) {
    case 0: return L.CTL;
    case 1: return L.COUNTERS;
    case 2: return L.GSTATS;
    case 3: return L.SVC;
    case 4: return L.DEST;
    case 5: return L.HOOKS;
    case 6: return L.CONN;
    case 7: return L.SLOT_META;
    case 8: return L.SLOTS;
    case 9: return L.SCRATCH;
    case 10: return L.MEM_END;
    case 11: return L.LADDR;
    case 12: return L.SYNC_BUF;
    case 13: return L.CONN_COLD;
  }
  return 0;
}

let initialized = false;

/**
 * Size and lay out the engine. linkType: 0 raw IP (TUN), 1 Ethernet (TAP); + 2: every frame
 * behind a struct virtio_net_hdr (a device with offloads: TCP super-packets, partial checksums).
 * Returns 0, -EINVAL for bad sizes, -ENOMEM when memory cannot grow, -EBUSY if already done.
 */
export function init(svcMax: u32, destMax: u32, connMax: u32, slots: u32, slotSize: u32, headroom: u32, linkType: u32, seed: u32): i32 {
  if (initialized) return D.E_BUSY;
  if (svcMax < 1 || svcMax > L.SVC_LIMIT || destMax < 1 || destMax > L.DEST_LIMIT || connMax < 1 || connMax > L.CONN_LIMIT) return D.E_INVAL;
  if (slots < 1 || slotSize < 128 || slotSize > (1 << 17) || headroom >= slotSize || linkType > 3) return D.E_INVAL;
  let r = L.layoutInit(svcMax, destMax, connMax, slots, slotSize, headroom, linkType);
  if (r != 0) return r;
  store<u32>(L.CTL, seed, L.CTL_HASH_SEED);
  store<u32>(L.CTL, D.SET_DEFAULTS, L.CTL_FLAGS);
  tcpInitTimeouts();
  udpInitTimeouts();
  sync.syncInit();
  sctpInitTimeouts();
  laddr.laddrInit();
  neigh.neighInit();
  defrag.defragInit();
  defenseInit();
  store<u32>(L.CTL, 1500, L.CTL_TUN_MTU);
  partsInit(0);
  hooksInitIpvs();
  initialized = true;
  return 0;
}

/** The hard ceilings of the tables (svc and dest indices are u16 in conns and scheduler tables). */
export const SVC_LIMIT: u32 = L.SVC_LIMIT;
export const DEST_LIMIT: u32 = L.DEST_LIMIT;
export const CONN_LIMIT: u32 = L.CONN_LIMIT;

/**
 * Grow the tables to svcs / dests / conns records and `big` big scheduler areas (0 or less than
 * now: unchanged). Only between batches, never from inside process(): regions move (the host
 * re-reads regionBase() after it), memory grows. Returns 0, -EINVAL past a ceiling, -ENOMEM.
 */
export function grow(svcs: u32, dests: u32, conns: u32, big: u32): i32 {
  if (!initialized) return D.E_INVAL;
  if (svcs > L.SVC_LIMIT || dests > L.DEST_LIMIT || conns > L.CONN_LIMIT || big > L.SVC_LIMIT) return D.E_INVAL;
  let oldConns = L.connMax;
  let r = L.layoutGrow(svcs, dests, conns, big);
  if (r != 0) return r;
  partsGrow(oldConns);
  return 0;
}
/**
 * Capacity of table t: 0 services, 1 dests, 2 conns, 3 big scheduler areas, 4 the conn table
 * size ipvsadm -L shows (size=: the kernel's ip_vs_conn_tab_size, a power of two; here the
 * largest one ≤ conns), 5 conn index buckets, 6 overflow buckets (conn/table.ts).
 */
export function capacity(t: u32): u32 {
  switch (t) {
    case 0: return L.svcMax;
    case 1: return L.destMax;
    case 2: return L.connMax;
    case 3: return L.bigMax;
    case 4: { let b: u32 = 1; while ((b << 1) <= L.connMax) b <<= 1; return b; }
    case 5: return L.connIdxBuckets;
    case 6: return L.connOvfBuckets - 1;
  }
  return 0;
}
/** The table behind the last E_NOSPC: 1 services, 2 dests, 3 big scheduler areas. */
export function fullTable(): u32 { return load<u32>(L.CTL, L.CTL_FULL_TABLE); }

// ---- data path -------------------------------------------------------------------------------
/** Process slots 0..n-1 (host filled off/len); verdicts, offsets and lengths are written back. */
export function process(n: u32, nowMs: f64): u32 {
  // the control thread's instance of a director with workers owns no conn partition: frames are the workers'
  if (L.NWORKERS > 1 && L.WORKER >= L.NWORKERS) return 0;
  return processBatch(n, nowMs);
}
/** Expire conns due at nowMs; returns how many expired. */
export function tick(nowMs: f64): u32 { return tickAt(nowMs); }

// ---- settings --------------------------------------------------------------------------------
export function getFlags(): u32 { return load<u32>(L.CTL, L.CTL_FLAGS); }
export function setFlags(f: u32): void { store<u32>(L.CTL, f, L.CTL_FLAGS); }

/** ipvsadm --set tcp tcpfin udp (seconds; 0 leaves a value unchanged). */
export function setTimeouts(tcp: u32, tcpfin: u32, udp: u32): void {
  if (tcp != 0) tcpSetTimeout(TCP_S_ESTABLISHED, tcp * 1000);
  if (tcpfin != 0) tcpSetTimeout(TCP_S_FIN_WAIT, tcpfin * 1000);
  if (udp != 0) udpSetTimeout(udp * 1000);
}
/** Any per-state timeout, in ms (proto 6: TCP state; 17: UDP). */
export function setStateTimeout(proto: u8, state: u8, ms: u32): i32 {
  if (proto == D.IPPROTO_TCP && state < TCP_S_LAST) { tcpSetTimeout(state, ms); return 0; }
  if (proto == D.IPPROTO_UDP && state == UDP_S_NORMAL) { udpSetTimeout(ms); return 0; }
  if (proto == D.IPPROTO_SCTP && state < SCTP_S_LAST) { sctpSetTimeout(state, ms); return 0; }
  return D.E_INVAL;
}
export function getStateTimeout(proto: u8, state: u8): u32 {
  if (proto == D.IPPROTO_TCP) return state < TCP_S_LAST ? tcpTimeout(state) : 0;
  if (proto == D.IPPROTO_SCTP) return state < SCTP_S_LAST ? sctpTimeout(state) : 0;
  return udpTimeout();
}
/** The SCTP state table (sctp_states[dir][event][state]): dir 0 INPUT, 1 OUTPUT, 2 INPUT-ONLY. */
export function sctpStateNext(dir: u32, state: u8, event: u8): u8 { return sctpNextState(dir, state, event); }
/** sctp_events[]: the event a chunk type maps to. */
export function sctpChunkEvent(chunkType: u8): u8 { return sctpEventOf(chunkType); }
/** The CRC32c the engine puts in the SCTP packet of len bytes at p (tests). */
export function sctpChecksum(p: usize, len: u32): u32 { return sctpCsum(p, len); }
/** The TCP state table itself (tests walk every cell): dir 0 INPUT, 1 OUTPUT, 2 INPUT-ONLY. */
export function tcpStateNext(dir: u32, state: u8, flags: u8): u8 { return tcpNextState(dir, state, flags); }
/** ip_vs_state_name of conn i: templates NONE / ASSURED, protocols without states NONE. */
export function connStateName(i: u32): string {
  let cp = L.connPtr(i);
  let st = load<u8>(cp, L.CONN_STATE);
  if (load<u16>(cp, L.CONN_FLAGS) & D.CONN_F_TEMPLATE) return st == 0 ? "NONE" : st == 1 ? "ASSURED" : "ERR!";
  let proto = load<u8>(cp, L.CONN_PROTO);
  if (proto != D.IPPROTO_TCP && proto != D.IPPROTO_UDP && proto != D.IPPROTO_SCTP) return proto == D.IPPROTO_IP ? "NONE" : "ERR!";
  return stateName(proto, st);
}
export const CONN_F_TEMPLATE: u32 = D.CONN_F_TEMPLATE;
export const COLD_CONTROL: u32 = L.COLD_CONTROL;
export function stateName(proto: u8, state: u8): string {
  return proto == D.IPPROTO_TCP ? tcpStateName(state) : proto == D.IPPROTO_SCTP ? sctpStateName(state) : udpStateName(state);
}
/** Source address for ICMP errors on the out path (16-byte form at CTL_ADDR0). */
export function setDirectorAddr(): void { memory.copy(L.CTL + L.CTL_DIRECTOR_ADDR, L.CTL + L.CTL_ADDR0, 16); }

// ---- services and dests (addresses: CTL_ADDR0 = vaddr, CTL_ADDR1 = daddr, 16-byte form) -------
export function svcAdd(af: u8, proto: u8, port: u32, fwmark: u32, sched: u32, flags: u32, timeout: u32, netmask: u32): i32 {
  return ctl.svcAdd(af, proto, port, fwmark, sched, flags, timeout, netmask);
}
export function svcEdit(svc: u32, sched: u32, flags: u32, timeout: u32, netmask: u32): i32 {
  return ctl.svcEdit(svc, sched, flags, timeout, netmask);
}
export function svcDel(svc: u32): i32 { return ctl.svcDel(svc); }
export function svcFlush(): void { ctl.svcFlush(); }
/** The service index for a key (vaddr in CTL_ADDR0; port host order), 0 if none. */
export function svcLookup(proto: u8, port: u32, fwmark: u32): u32 { return ctl.svcLookup(proto, htons(port), fwmark); }
export function svcNext(i: u32): u32 { return ctl.svcNext(i); }
export function destAdd(svc: u32, af: u8, port: u32, weight: i32, fwd: u8, uthresh: u32, lthresh: u32): i32 {
  return ctl.destAdd(svc, af, port, weight, fwd, uthresh, lthresh);
}
export function destEdit(svc: u32, af: u8, port: u32, weight: i32, fwd: u8, uthresh: u32, lthresh: u32): i32 {
  return ctl.destEdit(svc, af, port, weight, fwd, uthresh, lthresh);
}
export function destDel(svc: u32, port: u32): i32 { return ctl.destDel(svc, port); }
/** Live dest index of svc with address CTL_ADDR1 and port (host order; 0 = the service's). */
export function destLookup(svc: u32, port: u32): u32 {
  if (!ctl.svcLive(svc)) return 0;
  let wp: u16 = port == 0 ? load<u16>(L.svcPtr(svc), L.SVC_VPORT) : htons(port);
  return ctl.destLookup(svc, wp);
}
export function schedName(id: u32): string { return sName(id); }

// ---- the director's link: addresses, neighbours, tunnels (neigh.ts, xmit/dr.ts, xmit/tunnel.ts) ----
/**
 * The director's MAC (6 bytes at CTL_ADDR1) and its IPv4 / IPv6 address on the link (CTL_ADDR0;
 * af) with the link's prefix length (IPv4 0..32, IPv6 0..128; 0: every destination is on-link).
 * On a TUN only the addresses count: the tunnels' outer source (Engine.setTunnelSource).
 */
export function setLink(af: u8, plen: u32): i32 {
  if (af == 4 && plen > 32 || af == 6 && plen > 128) return D.E_INVAL;
  memory.copy(L.CTL + L.CTL_LINK_MAC, L.CTL + L.CTL_ADDR1, 6);
  if (af == 4) {
    memory.copy(L.CTL + L.CTL_LINK_IP4, L.CTL + L.CTL_ADDR0, 16);
    store<u32>(L.CTL, plen == 0 ? 0 : 96 + plen, L.CTL_LINK_PLEN4);
  } else if (af == 6) {
    memory.copy(L.CTL + L.CTL_LINK_IP6, L.CTL + L.CTL_ADDR0, 16);
    store<u32>(L.CTL, plen, L.CTL_LINK_PLEN6);
  }
  return 0;
}
/** The link's gateway for family af (CTL_ADDR0; all zeros removes it): off-prefix destinations go to it. */
export function setGateway(af: u8): i32 {
  if (af != 4 && af != 6) return D.E_INVAL;
  memory.copy(L.CTL + (af == 4 ? L.CTL_LINK_GW4 : L.CTL_LINK_GW6), L.CTL + L.CTL_ADDR0, 16);
  return 0;
}
/** Path MTU toward real servers (tunnels refuse larger packets with ICMP frag needed / too big). */
export function setTunnelMtu(mtu: u32): i32 {
  if (mtu < 1280 || mtu > 65535) return D.E_INVAL;
  store<u32>(L.CTL, mtu, L.CTL_TUN_MTU);
  return 0;
}
/**
 * IP fragment reassembly settings, per family (af 4 or 6), named after the sysctls they mirror:
 * ipfrag_time (IPv4) / nf_conntrack_frag6_timeout (IPv6, ip6frag_time for the local stack), in
 * ms here; ipfrag_high_thresh / nf_conntrack_frag6_high_thresh in bytes (0: no fragment taken).
 * Memory is bounded by the reassembly pool (layout.ts FRAG_POOL_BYTES, 4 MiB + 64 KiB) whatever
 * the threshold. Returns 0 or -EINVAL.
 */
export function setFragTime(af: u8, ms: u32): i32 {
  if (af != 4 && af != 6) return D.E_INVAL;
  return defrag.defragSetTime(af, ms) ? 0 : D.E_INVAL;
}
export function setFragHighThresh(af: u8, bytes: u32): i32 {
  if (af != 4 && af != 6) return D.E_INVAL;
  defrag.defragSetHighThresh(af, bytes);
  return 0;
}
/** which: 0 the timeout (ms), 1 the high threshold, 2 the bytes held now; fragQueues: queues open. */
export function fragSetting(af: u8, which: u32): u32 { return af == 4 || af == 6 ? defrag.defragGet(af, which) : 0; }
export function fragQueues(): u32 { return defrag.defragQueues(); }
/** ip neigh replace CTL_ADDR0 lladdr (CTL_ADDR1, 6 bytes) [nud permanent]. Returns the entry or -errno. */
export function neighAdd(permanent: bool): i32 { return neigh.neighSet(L.CTL + L.CTL_ADDR0, L.CTL + L.CTL_ADDR1, permanent); }
export function neighDelete(): i32 { return neigh.neighDel(L.CTL + L.CTL_ADDR0); }
/** The neighbour entry of CTL_ADDR0: state (0 none, 1 incomplete, 2 reachable, 3 stale, 4 permanent); MAC copied to CTL_ADDR1. */
export function neighState(): u32 {
  let i = neigh.neighFind(L.CTL + L.CTL_ADDR0);
  if (i == 0) return 0;
  let n = L.NEIGH + <usize>i * L.NEIGH_SIZE;
  memory.copy(L.CTL + L.CTL_ADDR1, n + L.NEIGH_MAC, 6);
  return load<u8>(n, L.NEIGH_STATE);
}
/** Frames the engine has to send on its own (released held frames, ARP/NS probes) into slots 0..: how many. */
export function drain(max: u32): u32 {
  if (L.NWORKERS > 1 && L.WORKER >= L.NWORKERS) return 0;   // the control thread's instance sends nothing
  wLock();   // the hold queue is shared by the workers
  let n = neigh.neighDrain(max);
  wUnlock();
  return n;
}
/** Frames in the hold queue (waiting for a neighbour, or ready for drain). */
export function heldFrames(): u32 { return load<u32>(L.CTL, L.CTL_HOLD_COUNT); }
/** Tunnel encapsulation of a dest (after destAdd/destEdit; address CTL_ADDR1, port host order, 0 = the service's). */
export function destTunnel(svc: u32, port: u32, type: u8, tunPort: u32, flags: u8): i32 {
  if (!ctl.svcLive(svc)) return D.E_NOSVC;
  if (type > 2 || flags > 3 || (type == 1 && tunPort == 0)) return D.E_INVAL;
  let wp: u16 = port == 0 ? load<u16>(L.svcPtr(svc), L.SVC_VPORT) : htons(port);
  let d = ctl.destLookup(svc, wp);
  if (d == 0) return D.E_NOENT;
  let dest = L.destPtr(d);
  store<u8>(dest, type, L.DEST_TUN_TYPE);
  store<u8>(dest, flags, L.DEST_TUN_FLAGS);
  store<u16>(dest, htons(tunPort), L.DEST_TUN_PORT);
  return 0;
}
export const DEST_TUN_TYPE: u32 = L.DEST_TUN_TYPE;
export const DEST_TUN_FLAGS: u32 = L.DEST_TUN_FLAGS;
export const DEST_TUN_PORT: u32 = L.DEST_TUN_PORT;

// ---- FULLNAT local addresses (laddr.ts; DPVS ipvsadm -P/-Q/-G -z) ------------------------------
/** Add a local address (CTL_ADDR1, family af) to service svc. Returns its index or -errno. */
export function laddrAdd(svc: u32, af: u8): i32 {
  if (!ctl.svcLive(svc)) return D.E_NOSVC;
  return laddr.laddrAdd(svc, af);
}
export function laddrDel(svc: u32): i32 {
  if (!ctl.svcLive(svc)) return D.E_NOSVC;
  return laddr.laddrDel(svc);
}
/** The n-th local address of svc (LADDR index, 0 past the end). */
export function laddrNth(svc: u32, n: u32): u32 { return ctl.svcLive(svc) ? laddr.laddrNth(svc, n) : 0; }
/** The local port range FULLNAT conns get their ports from (default 1025-65535). */
export function setFnatPortRange(min: u32, max: u32): i32 { return laddr.laddrSetPortRange(min, max); }

// ---- hooks -----------------------------------------------------------------------------------
/** Add a hook entry: match hooks read their prefix from CTL_ADDR2 (16-byte form, plen of 128). */
export function hookAdd(point: u8, priority: i32, fn: u8, verdict: u8, plen: u32): i32 {
  return hAdd(point, priority, fn, verdict, L.CTL + L.CTL_ADDR2, plen);
}
export function hookDel(id: u32): i32 { return hDel(id); }
/** The match and mark of a MARK hook (HOOK_FN_MARK) added by hookAdd: ports host order, 0,0 = any. */
export function hookSetMark(id: u32, mark: u32, proto: u8, portLo: u32, portHi: u32, matchSrc: bool): i32 {
  return hSetMark(id, mark, proto, <u16>portLo, <u16>portHi, matchSrc);
}
export function hookCount(): u32 { return load<u32>(L.CTL, L.CTL_HOOK_COUNT); }

// ---- conns, counters -------------------------------------------------------------------------
export function connNext(i: u32): u32 { return connNextLive(i); }
export function connsInUse(): u32 { return partsConnCount(); }
/** Expire a conn now (ip_vs_conn_expire_now); the record is recycled at the next tick. */
export function connExpire(i: u32): i32 {
  if (i == 0 || i > L.connMax) return D.E_INVAL;
  if (!(load<u16>(L.connPtr(i), L.CONN_FLAGS) & CONN_F_HASHED)) return D.E_NOENT;   // not a live conn
  // in its own partition, under the lock (the control thread, with the workers parked)
  wLock();
  let own = L.PART;
  L.partSelect(partOf(i));
  connExpireNow(i);
  L.partSelect(own);
  wUnlock();
  return 0;
}
export function counter(i: u32): u64 { return i < D.CNT_LAST ? cntGet(i) : 0; }
export function counterName(i: u32): string { return D.counterName(i); }
export function connCapacity(): u32 { return L.connMax; }
export function slotCapacity(): u32 { return L.slotCount; }
export function slotBytes(): u32 { return L.slotSize; }
export function slotHeadroomBytes(): u32 { return L.slotHeadroom; }

// ---- rate estimator, zeroing (assembly/est.ts; ipvsadm --rate, -Z) ---------------------------
import * as est from "./est";
export const EST_INTERVAL_MS: u32 = <u32>est.EST_INTERVAL_MS;
/** The estimation timer: the host calls it about every EST_INTERVAL_MS; returns the steps run. */
export function estimate(nowMs: f64): u32 { return est.estimate(nowMs); }
/** ipvsadm -Z: svcIdx 0 = every service, its dests and the totals. 0 or -ESRCH. */
export function zeroStats(svcIdx: u32): i32 { return est.zeroStats(svcIdx); }
/** Decoded rate: kind 0 totals, 1 service, 2 dest; which 0 cps 1 inpps 2 outpps 3 inbps 4 outbps. */
export function statsRate(kind: u32, idx: u32, which: u32): u64 { return est.statsRate(kind, idx, which); }

// ---- enums, for the host (host/engine.ts checks its names against these at load: one source) ----
export const V_DROP: u32 = D.V_DROP;
export const V_XMIT: u32 = D.V_XMIT;
export const V_LOCAL: u32 = D.V_LOCAL;
export const V_PASS: u32 = D.V_PASS;
export const V_STOLEN: u32 = D.V_STOLEN;
export const NF_DROP: i32 = D.NF_DROP;
export const NF_ACCEPT: i32 = D.NF_ACCEPT;
export const NF_STOLEN: i32 = D.NF_STOLEN;
export const NF_QUEUE: i32 = D.NF_QUEUE;
export const NF_REPEAT: i32 = D.NF_REPEAT;
export const NF_STOP: i32 = D.NF_STOP;
export const NF_INET_PRE_ROUTING: u32 = D.NF_INET_PRE_ROUTING;
export const NF_INET_LOCAL_IN: u32 = D.NF_INET_LOCAL_IN;
export const NF_INET_FORWARD: u32 = D.NF_INET_FORWARD;
export const NF_INET_LOCAL_OUT: u32 = D.NF_INET_LOCAL_OUT;
export const NF_INET_POST_ROUTING: u32 = D.NF_INET_POST_ROUTING;
export const HOOK_FN_IPVS_IN: u32 = D.HOOK_FN_IPVS_IN;
export const HOOK_FN_IPVS_OUT: u32 = D.HOOK_FN_IPVS_OUT;
export const HOOK_FN_IPVS_FWD_ICMP: u32 = D.HOOK_FN_IPVS_FWD_ICMP;
export const HOOK_FN_IPVS_POST: u32 = D.HOOK_FN_IPVS_POST;
export const HOOK_FN_ICMP_ECHO: u32 = D.HOOK_FN_ICMP_ECHO;
export const HOOK_FN_LOCAL_STACK: u32 = D.HOOK_FN_LOCAL_STACK;
export const HOOK_FN_MATCH_SRC: u32 = D.HOOK_FN_MATCH_SRC;
export const HOOK_FN_MATCH_DST: u32 = D.HOOK_FN_MATCH_DST;
export const HOOK_FN_VERDICT: u32 = D.HOOK_FN_VERDICT;
export const HOOK_FN_COUNT: u32 = D.HOOK_FN_COUNT;
export const HOOK_FN_MARK: u32 = D.HOOK_FN_MARK;
export const SET_PASS_MALFORMED: u32 = D.SET_PASS_MALFORMED;
export const SET_EXPIRE_NODEST: u32 = D.SET_EXPIRE_NODEST;
export const SET_ICMP_ECHO: u32 = D.SET_ICMP_ECHO;
export const SET_CONN_REUSE: u32 = D.SET_CONN_REUSE;
export const SET_CONN_REUSE_2: u32 = D.SET_CONN_REUSE_2;
export const SET_SLOPPY_TCP: u32 = D.SET_SLOPPY_TCP;
export const SET_SECURE_TCP: u32 = D.SET_SECURE_TCP;
export const SET_NO_TTL_DEC: u32 = D.SET_NO_TTL_DEC;
export const SET_EXPIRE_QUIESCENT: u32 = D.SET_EXPIRE_QUIESCENT;
export const SET_SLOPPY_SCTP: u32 = D.SET_SLOPPY_SCTP;
export const SET_NO_TOA: u32 = D.SET_NO_TOA;
export const SET_LOCAL_ANSWERS: u32 = D.SET_LOCAL_ANSWERS;
export const SET_ROUTED_LINK: u32 = D.SET_ROUTED_LINK;
export const SET_DEFAULTS: u32 = D.SET_DEFAULTS;
export const IP_VS_CONN_F_MASQ: u32 = D.IP_VS_CONN_F_MASQ;
export const IP_VS_CONN_F_LOCALNODE: u32 = D.IP_VS_CONN_F_LOCALNODE;
export const IP_VS_CONN_F_TUNNEL: u32 = D.IP_VS_CONN_F_TUNNEL;
export const IP_VS_CONN_F_DROUTE: u32 = D.IP_VS_CONN_F_DROUTE;
export const IP_VS_CONN_F_BYPASS: u32 = D.IP_VS_CONN_F_BYPASS;
export const IP_VS_CONN_F_FULLNAT: u32 = D.IP_VS_CONN_F_FULLNAT;
export const E_NOENT: i32 = D.E_NOENT;
export const E_NOSVC: i32 = D.E_NOSVC;
export const E_NOMEM: i32 = D.E_NOMEM;
export const E_BUSY: i32 = D.E_BUSY;
export const E_EXIST: i32 = D.E_EXIST;
export const E_INVAL: i32 = D.E_INVAL;
export const E_NOSPC: i32 = D.E_NOSPC;
export const E_RANGE: i32 = D.E_RANGE;
export const E_OPNOTSUPP: i32 = D.E_OPNOTSUPP;
export const E_AFNOSUPPORT: i32 = D.E_AFNOSUPPORT;
export const E_NOSCHED: i32 = D.E_NOSCHED;
export const E_NETUNREACH: i32 = D.E_NETUNREACH;
export const E_SYNPROXY_FWD: i32 = D.E_SYNPROXY_FWD;
export const SVC_F_SYNPROXY: u32 = D.SVC_F_SYNPROXY;
export const CONN_F_SYNPROXY: u32 = D.CONN_F_SYNPROXY;
export const CONN_F_SP_WAIT: u32 = D.CONN_F_SP_WAIT;
export const IPPROTO_TCP: u32 = D.IPPROTO_TCP;
export const IPPROTO_UDP: u32 = D.IPPROTO_UDP;
export const IPPROTO_SCTP: u32 = D.IPPROTO_SCTP;
export const NUD_NONE: u32 = neigh.NUD_NONE;
export const NUD_INCOMPLETE: u32 = neigh.NUD_INCOMPLETE;
export const NUD_REACHABLE: u32 = neigh.NUD_REACHABLE;
export const NUD_STALE: u32 = neigh.NUD_STALE;
export const NUD_PERMANENT: u32 = neigh.NUD_PERMANENT;

// ---- connection synchronisation (assembly/sync.ts; ip_vs_sync.c's wire format) ----------------
import * as sync from "./sync";
import { clockSet } from "./batch";
/** A received sync message of len bytes at SCRATCH: the backup creates/updates its conns. Conns applied, -1 dropped. */
export function syncRecv(len: u32, syncid: u32, nowMs: f64): i32 {
  clockSet(nowMs);
  // no datagram exceeds 65535 bytes: a longer len cannot match the be16 size field, so it is
  // counted as a bad message without reading past what the host copied (at most 65536 bytes)
  wLock();
  let r = sync.syncProcessMessage(L.SCRATCH, len > 65536 ? 65536 : len, syncid);
  wUnlock();
  return r;
}
/** Start a v1 message at SCRATCH + off. */
export function syncMesgInit(off: u32, syncid: u32): void { sync.syncMesgInit(L.SCRATCH + off, syncid); }
/** Append conn ci to the message at SCRATCH + off: 1 added, 0 full (send it), -1 never sent (ONE_PACKET, FULLNAT). */
export function syncMesgAdd(off: u32, maxlen: u32, ci: u32): i32 { return sync.syncMesgAdd(L.SCRATCH + off, maxlen, ci); }
/** The master side: on/off, syncid, sync_maxlen. */
export function syncSetMaster(on: bool, syncid: u32, maxlen: u32): void { sync.syncSetMaster(on, syncid, maxlen); }
/** Sync sysctls: 0 version, 1 threshold, 2 period, 3 refresh_period (ms), 4 retries, 5 persist_mode. */
export function syncSetSysctl(which: u32, v: u32): void { sync.syncSetSysctl(which, v); }
/** Bytes of finished messages at SYNC_BUF (region 12), the open one included once ageMs old. */
export function syncPending(ageMs: u32, nowMs: f64): u32 { clockSet(nowMs); wLock(); let n = sync.syncPending(ageMs); wUnlock(); return n; }
export function syncTaken(len: u32): void { wLock(); sync.syncTaken(len); wUnlock(); }
/** Bulk resync: queue every live conn from index `from`; the index to continue from, 0 when done. */
export function syncBulk(from: u32): u32 { wLock(); let r = sync.syncBulk(from); wUnlock(); return r; }

// ---- workers (assembly/worker.ts, docs/workers.md) --------------------------------------------
import { ownerOfFrame, partsInit, partsGrow, partsConnCount, partsConnPressure, partOf, redirectDrain, ringPending, partRoom } from "./worker";
import { wLock, wUnlock } from "./shared";
/** The owner worker (0..n-1) of the frame of len bytes at SCRATCH among n workers; n: not IP. */
export function frameOwner(len: u32, n: u32): u32 { return n == 0 ? 0 : ownerOfFrame(L.SCRATCH, len, n); }
/** Before init: the workers that will share this memory (1: the plain engine). 0, -EINVAL, -EOPNOTSUPP (not the mt build). */
export function setWorkers(n: u32): i32 {
  if (initialized) return D.E_BUSY;
  if (n < 1 || n > L.WORKERS_MAX) return D.E_INVAL;
  if (n > 1 && !ASC_FEATURE_THREADS) return D.E_OPNOTSUPP;
  L.layoutSetWorkers(n);
  return 0;
}
/**
 * Another instance over the memory of an initialised one (wasm/mt.wasm): worker w's (0..n-1) or,
 * w == n, the control thread's. Again after a grow (CTL_EPOCH moved). 0 or -EINVAL.
 */
export function attach(ctl: usize, w: u32): i32 {
  let r = L.layoutAttach(ctl, w);
  if (r != 0) return r;
  initialized = true;
  return 0;
}
export function workers(): u32 { return L.NWORKERS; }
export function worker(): u32 { return L.WORKER; }
/** Free conn records in this instance's partition: a worker asks the control thread to grow the table when low. */
export function connRoom(): u32 { return partRoom(); }
/** The fullest conn partition × partitions (the host grows the table on it). */
export function connPressure(): u32 { return partsConnPressure(); }
/** Frames waiting in the ring from worker `from` to worker `to` (the host wakes `to` when some are). */
export function ringFill(from: u32, to: u32): u32 { return ringPending(from, to); }
/** Redirected frames into slots 0..: how many (the host reads the device into the slots after them). */
export function redirectIn(max: u32): u32 { return redirectDrain(max); }
/** The address of worker w's words (WCTL_*: WCTL_BUSY for the host's barrier), or 0. */
export function workerWords(w: u32): usize { return w < L.NPARTS ? L.PARTS + <usize>w * L.PART_SIZE : 0; }
export const WCTL_BUSY: u32 = L.WCTL_BUSY;
export const CTL_PAUSE: u32 = L.CTL_PAUSE;
export const CTL_EPOCH: u32 = L.CTL_EPOCH;
export const CTL_LOCK: u32 = L.CTL_LOCK;

// ---- the defense strategies (assembly/defense.ts; net.ipv4.vs.drop_entry & co.) -----------------
import * as defense from "./defense";
/**
 * Write one: 0 drop_entry, 1 drop_packet, 2 secure_tcp (0-3, proc_do_defense_mode: a change runs
 * update_defense_level at once; -EINVAL out of range), 3 amemthresh, 4 am_droprate (any int, read
 * at the next run), 5 the conn limit free memory is measured up to (--conn-max).
 */
export function defenseSet(which: u32, v: i32): i32 {
  if (which <= 2) return defense.defenseSetMode(which, v);
  if (which == 3) { store<i32>(L.CTL, v, L.CTL_DEF_AMEMTHRESH); return 0; }
  if (which == 4) { store<i32>(L.CTL, v, L.CTL_DEF_AM_DROPRATE); return 0; }
  if (which == 5) { store<u32>(L.CTL, <u32>v, L.CTL_DEF_CONN_LIMIT); return 0; }
  return D.E_INVAL;
}
/**
 * Read one: 0-4 as defenseSet; 6 available memory in pages at the last run, 7 DEF_L_* bits of
 * that run, 8 drop_rate, 9 CONN_BYTES (bytes per conn in the memory measure), 10 available now.
 */
export function defenseGet(which: u32): i32 {
  if (which <= 2) return <i32>defense.defenseMode(which);
  switch (which) {
    case 3: return load<i32>(L.CTL, L.CTL_DEF_AMEMTHRESH);
    case 4: return load<i32>(L.CTL, L.CTL_DEF_AM_DROPRATE);
    case 5: return <i32>load<u32>(L.CTL, L.CTL_DEF_CONN_LIMIT);
    case 6: return <i32>load<u32>(L.CTL, L.CTL_DEF_AVAIL);
    case 10: return <i32>defense.defenseAvailPages();
    case 7: return <i32>load<u32>(L.CTL, L.CTL_DEF_LEVEL);
    case 8: return load<i32>(L.CTL, L.CTL_DEF_DROP_RATE);
    case 9: return <i32>defense.CONN_BYTES;
  }
  return D.E_INVAL;
}
export const DEF_L_DROP_ENTRY: u32 = defense.DEF_L_DROP_ENTRY;
export const DEF_L_DROP_PACKET: u32 = defense.DEF_L_DROP_PACKET;
export const DEF_L_SECURE_TCP: u32 = defense.DEF_L_SECURE_TCP;
export const DEF_L_NOMEM: u32 = defense.DEF_L_NOMEM;

// ---- the SYN proxy (assembly/synproxy.ts) ------------------------------------------------------
import * as synproxy from "./synproxy";
import { connSpPtr } from "./conn/table";
/** The cookie secrets: 32 bytes at CTL_ADDR0..ADDR1 (two SipHash keys); the host draws them at start. */
export function synproxySetSecret(): void { memory.copy(L.CTL + L.CTL_SP_SECRET, L.CTL + L.CTL_ADDR0, 32); }
/** A cookie for saddr (CTL_ADDR0), daddr (CTL_ADDR1), ports (host order), the client's ISN, the counter and MSS index (tests, docs). */
export function synproxyCookie(ports: u32, sseq: u32, count: u32, mssind: u32): u32 {
  return synproxy.cookieMake(L.CTL + L.CTL_ADDR0, L.CTL + L.CTL_ADDR1, ports, sseq, count, mssind);
}
/** check_tcp_syn_cookie of a cookie (addresses as synproxyCookie): the MSS index, or -1. */
export function synproxyCookieCheck(cookie: u32, ports: u32, sseq: u32, count: u32): i32 {
  return synproxy.cookieCheck(cookie, L.CTL + L.CTL_ADDR0, L.CTL + L.CTL_ADDR1, ports, sseq, count);
}
export function synproxyMssEncode(v4: bool, mss: u32): u32 { return synproxy.mssEncode(v4, mss); }
export function synproxyMssDecode(v4: bool, i: u32): u32 { return synproxy.mssDecode(v4, i); }
/** The per-conn synproxy record of conn ci: which 0 seq delta, 1 timestamp delta, 2 window shifts. */
export function synproxyConn(ci: u32, which: u32): u32 {
  if (!(load<u16>(L.connPtr(ci), L.CONN_FLAGS) & D.CONN_F_SYNPROXY)) return 0;
  let sp = connSpPtr(ci);
  return which == 0 ? load<u32>(sp, L.SP_SEQ) : which == 1 ? load<u32>(sp, L.SP_TS) : <u32>load<u8>(sp, L.SP_WS);
}
