// Connection synchronisation, the wire side (net/netfilter/ipvs/ip_vs_sync.c, protocol version 1
// and the version 0 messages a v1 backup still accepts). The host moves the datagrams (UDP
// multicast, host/sync/); the engine decodes them and creates/updates conns as the kernel's
// backup does (ip_vs_process_message → ip_vs_proc_sync_conn → ip_vs_proc_conn), and encodes its
// own conns as the kernel's master does (ip_vs_sync_conn's record). Sync traffic is untrusted:
// every message or conn refused is a named counter and changes nothing.
//
// Message (v1): u8 reserved = 0 | u8 syncid | be16 size | u8 nr_conns | s8 version = 1 | u16 spare = 0
// Conn:         u8 type (bit 0: IPv6) | u8 protocol | be16 ver(4 bits, 0) size(12 bits)
//               be32 flags | be16 state | be16 cport vport dport | be32 fwmark | be32 timeout (s)
//               caddr vaddr daddr (4 or 16 bytes each) | options (u8 type, u8 len, data)
//               then padding to 32 bits before the next conn.
// Message (v0): u8 nr_conns | u8 syncid | be16 size, then 24-byte conns (+24 bytes of seq options
//               when IP_VS_CONN_F_SEQ_MASK), no timeout: the backup uses the state's.
import {
  CTL, CTL_ADDR0, CTL_ADDR1, connPtr, connCold, coldOf, destPtr, CONN_CADDR, CONN_VADDR, COLD_DADDR, CONN_CPORT, CONN_VPORT, CONN_DPORT,
  CONN_PROTO, CONN_AF, CONN_FLAGS, CONN_STATE, CONN_FWD, COLD_SVC, CONN_DEST, CONN_TIMEOUT, CONN_EXPIRES, COLD_CONTROL,
  DEST_FWD, DEST_CONN_FLAGS, DEST_SVC, DEST_AF, SYNC_BUF, SYNC_BUF_SIZE, csyncPtr, CSYNC_OLD_STATE,
  CSYNC_RETRIES, CSYNC_ENDTIME, CONN_INPKTS,
  CTL_SYNC_MASTER, CTL_SYNC_ID, CTL_SYNC_MAXLEN, CTL_SYNC_VERSION, CTL_SYNC_THRESHOLD, CTL_SYNC_PERIOD, CTL_SYNC_REFRESH,
  CTL_SYNC_RETRIES, CTL_SYNC_PERSIST, CTL_SYNC_BUF_DONE, CTL_SYNC_BUF_OPEN, CTL_SYNC_BUF_FIRST, CTL_SYNC_CADDR,
} from "./layout";
import {
  AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, CONN_F_NOOUTPUT, CONN_F_INACTIVE, CONN_F_TEMPLATE,
  CONN_F_ONE_PACKET, CONN_F_SYNC, CONN_F_NO_CPORT, IP_VS_CONN_F_MASQ, IP_VS_CONN_F_BYPASS,
  CNT_SYNC_RX_MSG, CNT_SYNC_RX_CONN, CNT_SYNC_BAD_MSG, CNT_SYNC_SYNCID, CNT_SYNC_BAD_CONN, CNT_SYNC_CONN_FULL, CNT_CONN_INDEX_FULL,
  CNT_SYNC_STALE, CNT_SYNC_TX_CONN, CNT_CONN_CREATED, CNT_SYNC_TX_FULL,
  CONN_F_SYNPROXY,
} from "./defs";
import { ld16be, ld32be, st16be, st32be, addrFromV4, addrCopy, addrEq } from "./packet/bytes";
import { connAlloc, connFree, connHashIn, connInGet, ctInGet, connNextLive } from "./conn/table";
import { timerAdd, timerRequeue } from "./conn/timer";
import { connExpireNow, engineNow, stateTimeout, destBindConn, destSetInactive } from "./conn/conn";
import { svcFindPkt, destLookup } from "./ctl";
import { TCP_S_LAST, TCP_S_ESTABLISHED, TCP_S_FIN_WAIT, TCP_S_CLOSE, TCP_S_CLOSE_WAIT, TCP_S_TIME_WAIT } from "./proto/tcp";
import {
  SCTP_S_LAST, SCTP_S_ESTABLISHED, SCTP_S_SHUTDOWN_SENT, SCTP_S_SHUTDOWN_RECEIVED, SCTP_S_SHUTDOWN_ACK_SENT, SCTP_S_CLOSED,
} from "./proto/sctp";
import { cntInc } from "./stats";
import { sharedAdd32, wLock, wUnlock } from "./shared";
import { tplEnter, tplLeave, connOwnerEnter } from "./worker";


// ---- the kernel's numbers (include/uapi/linux/ip_vs.h, ip_vs_sync.c) ----------------------------
@inline const KF_FWD_MASK: u32 = 0x0007;
@inline const KF_SYNC: u32 = 0x0020;
@inline const KF_NOOUTPUT: u32 = 0x0080;
@inline const KF_INACTIVE: u32 = 0x0100;
@inline const KF_SEQ_MASK: u32 = 0x0600;
@inline const KF_NO_CPORT: u32 = 0x0800;
@inline const KF_TEMPLATE: u32 = 0x1000;
@inline const KF_ONE_PACKET: u32 = 0x2000;
/** IP_VS_CONN_F_BACKUP_MASK: the flags a backup takes from a message. */
@inline const KF_BACKUP_MASK: u32 = KF_FWD_MASK | KF_NOOUTPUT | KF_INACTIVE | KF_SEQ_MASK | KF_NO_CPORT | KF_TEMPLATE;
/** IP_VS_CONN_F_BACKUP_UPD_MASK: the flags an update may change on an existing conn. */
@inline const KF_BACKUP_UPD_MASK: u32 = KF_INACTIVE | KF_SEQ_MASK;

@inline export const SYNC_MESG_HDR: u32 = 8;       // sizeof(struct ip_vs_sync_mesg)
@inline const SYNC_MESG_V0_HDR: u32 = 4;           // sizeof(struct ip_vs_sync_mesg_v0)
@inline export const SYNC_V4_SIZE: u32 = 36;       // sizeof(struct ip_vs_sync_v4)
@inline export const SYNC_V6_SIZE: u32 = 72;       // sizeof(struct ip_vs_sync_v6)
@inline const SYNC_V0_SIZE: u32 = 24;              // SIMPLE_CONN_SIZE
@inline const SYNC_OPT_SIZE: u32 = 24;             // sizeof(struct ip_vs_sync_conn_options)
@inline const SYNC_PROTO_VER: u8 = 1;
@inline const STYPE_F_INET6: u8 = 1;
@inline const SVER_SHIFT: u32 = 12;
@inline const SVER_MASK: u32 = 0x0fff;
@inline const IPVS_OPT_SEQ_DATA: u8 = 1;
@inline const IPVS_OPT_PE_DATA: u8 = 2;
@inline const IPVS_OPT_PE_NAME: u8 = 3;
@inline const IPVS_OPT_F_PARAM: u8 = 1 << 6;       // 1 << (IPVS_OPT_PARAM - 1): an option a backup may skip
@inline const IP_VS_PEDATA_MAXLEN: u32 = 255;
@inline const IP_VS_PENAME_MAXLEN: u32 = 16;
@inline const CTPL_S_LAST: u32 = 2;
/** Our timer arithmetic is 32-bit ms (<i32> differences): a synced timeout is capped at 24 days. */
@inline const SYNC_TIMEOUT_MAX_S: u32 = 2000000;
/** ip_vs_proc_conn's fallback for a template sent without a timeout (v0): 3 minutes. */
@inline const TPL_DEFAULT_TIMEOUT_MS: u32 = 180000;

// ---- flags between our bits and the wire's -----------------------------------------------------
/** A conn's flags as the kernel master sends them: cp->flags & ~IP_VS_CONN_F_HASHED. */
export function syncWireFlags(cp: usize): u32 {
  let f = <u32>load<u16>(cp, CONN_FLAGS);
  let w: u32 = <u32>load<u8>(cp, CONN_FWD) & KF_FWD_MASK;
  if (f & CONN_F_SYNC) w |= KF_SYNC;
  if (f & CONN_F_NOOUTPUT) w |= KF_NOOUTPUT;
  if (f & CONN_F_INACTIVE) w |= KF_INACTIVE;
  if (f & CONN_F_NO_CPORT) w |= KF_NO_CPORT;
  if (f & CONN_F_TEMPLATE) w |= KF_TEMPLATE;
  if (f & CONN_F_ONE_PACKET) w |= KF_ONE_PACKET;
  return w;
}

/** The wire's flags (already masked) as our conn flag bits (the method goes to CONN_FWD). */
function ourFlags(w: u32): u16 {
  let f: u16 = 0;
  if (w & KF_SYNC) f |= CONN_F_SYNC;
  if (w & KF_NOOUTPUT) f |= CONN_F_NOOUTPUT;
  if (w & KF_INACTIVE) f |= CONN_F_INACTIVE;
  if (w & KF_NO_CPORT) f |= CONN_F_NO_CPORT;
  if (w & KF_TEMPLATE) f |= CONN_F_TEMPLATE;
  return f;
}

// ---- the backup: ip_vs_process_message -----------------------------------------------------------
// The conn being decoded, in the 16-byte address form (CTL_ADDR0 = vaddr, CTL_ADDR1 = daddr as the
// dest lookup reads them; the caddr in a scratch line of our own, copied before each call).
// (CTL + CTL_SYNC_CADDR: one director-wide scratch line; messages are processed one at a time)

/**
 * Process one received sync message at p (len bytes). syncid: the backup's (0 = accept any).
 * Returns the number of conns applied, or -1 when the message was dropped whole.
 */
export function syncProcessMessage(p: usize, len: u32, syncid: u32): i32 {
  cntInc(CNT_SYNC_RX_MSG);
  if (len < SYNC_MESG_V0_HDR) { cntInc(CNT_SYNC_BAD_MSG); return -1; }
  if (len != ld16be(p + 2)) { cntInc(CNT_SYNC_BAD_MSG); return -1; }
  if (syncid != 0 && <u32>load<u8>(p, 1) != syncid) { cntInc(CNT_SYNC_SYNCID); return -1; }
  if (len >= SYNC_MESG_HDR && load<u8>(p, 5) == SYNC_PROTO_VER && load<u8>(p) == 0 && load<u16>(p, 6) == 0) {
    return processV1(p, len);
  }
  return processV0(p, len);
}

function processV1(buf: usize, len: u32): i32 {
  let end = buf + len;
  let next = buf + SYNC_MESG_HDR;
  let n = <u32>load<u8>(buf, 4);
  let applied: i32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    let p = next;
    if (p + SYNC_V4_SIZE > end) { cntInc(CNT_SYNC_BAD_MSG); return applied; }   // "too small"
    let vs = ld16be(p + 2);
    let size = vs & SVER_MASK;
    let connEnd = p + size;
    if (connEnd > end) { cntInc(CNT_SYNC_BAD_MSG); return applied; }            // "msg > buffer"
    if (vs >> SVER_SHIFT) { cntInc(CNT_SYNC_BAD_MSG); return applied; }         // unknown conn version
    let r = procSyncConn(p, connEnd);
    if (r < 0) { cntInc(CNT_SYNC_BAD_MSG); return applied; }                    // decoding error: rest dropped
    if (r == 0) applied++;
    next = p + ((size + 3) & ~3);
  }
  return applied;
}

/**
 * ip_vs_proc_sync_conn: one v1 conn between p and end. Returns 0 applied, 1 skipped (counted),
 * < 0 a decoding error that drops the rest of the message.
 */
function procSyncConn(p: usize, end: usize): i32 {
  let type = load<u8>(p);
  let af: u8;
  let q: usize;
  if (type & STYPE_F_INET6) { af = AF_INET6; q = p + SYNC_V6_SIZE; }
  else if (type == 0) { af = AF_INET; q = p + SYNC_V4_SIZE; }
  else return -10;
  if (q > end) return -20;
  // options: each must fit; seq data exactly once and 24 bytes; PE data/name at most once and
  // bounded; an unknown option without IPVS_OPT_F_PARAM makes the conn unusable
  let seen: u32 = 0;
  let peData = false;
  let unknownMandatory = false;
  while (q < end) {
    if (q + 2 > end) return -30;
    let ptype = load<u8>(q);
    let plen = <u32>load<u8>(q, 1);
    q += 2;
    if (plen == 0 || q + plen > end) return -40;
    let t = ptype & ~IPVS_OPT_F_PARAM;
    if (t == IPVS_OPT_SEQ_DATA) {
      if (plen != SYNC_OPT_SIZE || (seen & 1)) return -50;
      seen |= 1;
    } else if (t == IPVS_OPT_PE_DATA) {
      if (plen > IP_VS_PEDATA_MAXLEN || (seen & 2)) return -60;
      seen |= 2; peData = true;
    } else if (t == IPVS_OPT_PE_NAME) {
      if (plen > IP_VS_PENAME_MAXLEN || (seen & 4)) return -70;
      seen |= 4;
    } else if (!(ptype & IPVS_OPT_F_PARAM)) {
      unknownMandatory = true;
      break;
    }
    q += plen;
  }
  if (unknownMandatory) { cntInc(CNT_SYNC_BAD_CONN); return 1; }
  let wflags = (ld32be(p + 4) & KF_BACKUP_MASK) | KF_SYNC;
  let state = ld16be(p + 8);
  let proto = load<u8>(p, 1);
  if (!(wflags & KF_TEMPLATE)) {
    let nStates: u32 = proto == IPPROTO_TCP ? <u32>TCP_S_LAST : proto == IPPROTO_UDP ? 1 : proto == IPPROTO_SCTP ? <u32>SCTP_S_LAST : 0;
    if (nStates == 0 || state >= nStates) { cntInc(CNT_SYNC_BAD_CONN); return 1; }
  } else if (state >= CTPL_S_LAST) {
    state = 0;   // the kernel only logs an invalid template state and stores it; we store NONE
  }
  // persistence engines (SIP's callid) are not built here: ip_vs_conn_fill_param_sync would fail
  // to find the engine by name on a kernel without it, and skips the conn the same way
  if (peData) { cntInc(CNT_SYNC_BAD_CONN); return 1; }
  let aoff: usize = af == AF_INET6 ? 16 : 4;
  let a = p + 24;
  if (af == AF_INET6) {
    addrCopy((CTL + CTL_SYNC_CADDR), a); addrCopy(CTL + CTL_ADDR0, a + aoff); addrCopy(CTL + CTL_ADDR1, a + 2 * aoff);
  } else {
    addrFromV4((CTL + CTL_SYNC_CADDR), a); addrFromV4(CTL + CTL_ADDR0, a + 4); addrFromV4(CTL + CTL_ADDR1, a + 8);
  }
  return procConn(af, proto, wflags, <u8>state, load<u16>(p, 10), load<u16>(p, 12), load<u16>(p, 14),
                  ld32be(p + 16), ld32be(p + 20));
}

function processV0(buf: usize, len: u32): i32 {
  let end = buf + len;
  let p = buf + SYNC_MESG_V0_HDR;
  let n = <u32>load<u8>(buf);
  // a v1 header with another version (or spare bytes set) lands here with nr_conns 0 as the
  // kernel reads it: nothing to apply; counted, so it is not silent
  if (n == 0) { cntInc(CNT_SYNC_BAD_MSG); return -1; }
  let applied: i32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (p + SYNC_V0_SIZE > end) { cntInc(CNT_SYNC_BAD_MSG); return applied; }
    let s = p;
    let wflags = (<u32>ld16be(s + 20) | KF_SYNC);
    if (wflags & KF_SEQ_MASK) {
      p += SYNC_V0_SIZE + SYNC_OPT_SIZE;
      if (p > end) { cntInc(CNT_SYNC_BAD_MSG); return applied; }
    } else p += SYNC_V0_SIZE;
    wflags &= KF_BACKUP_MASK | KF_SYNC;
    let state = ld16be(s + 22);
    let proto = load<u8>(s, 1);
    if (!(wflags & KF_TEMPLATE)) {
      let nStates: u32 = proto == IPPROTO_TCP ? <u32>TCP_S_LAST : proto == IPPROTO_UDP ? 1 : proto == IPPROTO_SCTP ? <u32>SCTP_S_LAST : 0;
      if (nStates == 0 || state >= nStates) { cntInc(CNT_SYNC_BAD_CONN); continue; }
    } else if (state >= CTPL_S_LAST) state = 0;
    addrFromV4((CTL + CTL_SYNC_CADDR), s + 8); addrFromV4(CTL + CTL_ADDR0, s + 12); addrFromV4(CTL + CTL_ADDR1, s + 16);
    if (procConn(AF_INET, proto, wflags, <u8>state, load<u16>(s, 2), load<u16>(s, 4), load<u16>(s, 6), 0, 0) == 0) applied++;
  }
  return applied;
}

/**
 * ip_vs_find_dest for a synced conn: the service of (fwmark | proto, vaddr, vport) (the
 * port-zero service as fallback), then its dest daddr:dport, or daddr:0 (a fwmark service's
 * non-NAT dests have port 0 and the conn carries the packet's port).
 */
function findDest(af: u8, proto: u8, vport: u16, dport: u16, fwmark: u32, wflags: u32): u32 {
  let svc = svcFindPkt(fwmark, af, proto, CTL + CTL_ADDR0, vport);
  if (svc == 0) return 0;
  let port = dport;
  if (fwmark != 0 && (wflags & KF_FWD_MASK) != <u32>IP_VS_CONN_F_MASQ) port = 0;
  let d = destLookup(svc, port);
  if (d == 0) d = destLookup(svc, port ^ dport);
  if (d != 0 && load<u8>(destPtr(d), DEST_AF) != af) d = 0;
  return d;
}

/**
 * ip_vs_bind_dest for a conn made by sync: the conn takes its dest's method and NOOUTPUT (a
 * non-template keeps the message's INACTIVE), then counts in the dest's Active/InActConn or
 * persistent conns.
 */
function bindDest(ci: u32, d: u32): void {
  let cp = connPtr(ci);
  let dest = destPtr(d);
  let cf = <u16>load<u32>(dest, DEST_CONN_FLAGS);
  let proto = load<u8>(cp, CONN_PROTO);
  if (proto != IPPROTO_UDP) cf &= ~CONN_F_ONE_PACKET;
  let flags = load<u16>(cp, CONN_FLAGS);
  if (!(flags & CONN_F_TEMPLATE)) cf &= ~CONN_F_INACTIVE;
  flags = (flags & ~CONN_F_NOOUTPUT) | cf;
  store<u16>(cp, flags, CONN_FLAGS);
  store<u8>(cp, load<u8>(dest, DEST_FWD), CONN_FWD);
  store<u16>(cp, <u16>d, CONN_DEST);
  store<u16>(connCold(ci), <u16>load<u32>(dest, DEST_SVC), COLD_SVC);
  destBindConn(d, flags);
}

/**
 * ip_vs_proc_conn: create or update the conn the message describes. The addresses are in
 * (CTL + CTL_SYNC_CADDR), CTL_ADDR0 (vaddr), CTL_ADDR1 (daddr). Returns 0 applied, 1 skipped (counted).
 */
function procConn(af: u8, proto: u8, wflags: u32, state: u8, cport: u16, vport: u16, dport: u16, fwmark: u32, timeoutS: u32): i32 {
  // several workers (the host parks them for a received message): the conn goes into its owner's
  // partition, a template into the templates' (worker.ts)
  let own = (wflags & KF_TEMPLATE) != 0 ? tplEnter() : connOwnerEnter(CTL + CTL_SYNC_CADDR, cport, CTL + CTL_ADDR0, vport);
  let r = procConnIn(af, proto, wflags, state, cport, vport, dport, fwmark, timeoutS);
  tplLeave(own);
  return r;
}

function procConnIn(af: u8, proto: u8, wflags: u32, state: u8, cport: u16, vport: u16, dport: u16, fwmark: u32, timeoutS: u32): i32 {
  let vaddr = CTL + CTL_ADDR0, daddr = CTL + CTL_ADDR1;
  let ci: u32;
  let template = (wflags & KF_TEMPLATE) != 0;
  let ms: u32;
  if (timeoutS != 0) ms = (timeoutS > SYNC_TIMEOUT_MAX_S ? SYNC_TIMEOUT_MAX_S : timeoutS) * 1000;
  else ms = template ? TPL_DEFAULT_TIMEOUT_MS : stateTimeout(proto, state);
  let exp = engineNow() + ms;
  if (!template) {
    ci = connInGet(proto, (CTL + CTL_SYNC_CADDR), cport, vaddr, vport);
    if (ci != 0) {
      let cp = connPtr(ci);
      if (load<u16>(cp, CONN_DPORT) != dport || !addrEq(connCold(ci) + COLD_DADDR, daddr)) {
        // the master moved this client to another dest: the old conn goes at once, unless this
        // is the late expiry message of the one already replaced
        if (!(wflags & KF_INACTIVE)) { connExpireNow(ci); ci = 0; }
        else { cntInc(CNT_SYNC_STALE); return 1; }
      }
    }
  } else {
    ci = cport == 0 ? ctInGet(proto, (CTL + CTL_SYNC_CADDR), vaddr, vport) : 0;
  }
  let cp: usize;
  if (ci != 0) {
    cp = connPtr(ci);
    let d = <u32>load<u16>(cp, CONN_DEST);
    let flags = load<u16>(cp, CONN_FLAGS);
    let nf = ourFlags(wflags);
    if (((flags ^ nf) & CONN_F_INACTIVE) && !template && d != 0) destSetInactive(d, (nf & CONN_F_INACTIVE) != 0);
    store<u16>(cp, (flags & ~CONN_F_INACTIVE) | (nf & CONN_F_INACTIVE), CONN_FLAGS);
    if (d == 0) {   // ip_vs_try_bind_dest: its dest may exist by now
      let nd = findDest(af, proto, vport, dport, fwmark, wflags | (<u32>load<u8>(cp, CONN_FWD) & KF_FWD_MASK));
      if (nd != 0) bindDest(ci, nd);
    }
  } else {
    ci = connAlloc();
    if (ci == 0) { cntInc(CNT_SYNC_CONN_FULL); return 1; }
    cp = connPtr(ci);
    addrCopy(cp + CONN_CADDR, (CTL + CTL_SYNC_CADDR));
    addrCopy(cp + CONN_VADDR, vaddr);
    addrCopy(connCold(ci) + COLD_DADDR, daddr);
    store<u16>(cp, cport, CONN_CPORT);
    store<u16>(cp, vport, CONN_VPORT);
    store<u16>(cp, dport, CONN_DPORT);
    store<u8>(cp, proto, CONN_PROTO);
    store<u8>(cp, af, CONN_AF);
    let fwd = <u8>(wflags & KF_FWD_MASK);
    // a method the kernel does not have (5..7) is not ours to guess: bypass, i.e. forward as is
    store<u8>(cp, fwd > IP_VS_CONN_F_BYPASS ? IP_VS_CONN_F_BYPASS : fwd, CONN_FWD);
    store<u16>(cp, ourFlags(wflags), CONN_FLAGS);
    store<u32>(connCold(ci), 0, COLD_CONTROL);   // the backup links no conn to its template (no ip_vs_control_add)
    if (!connHashIn(ci)) { connFree(ci); cntInc(CNT_CONN_INDEX_FULL); return 1; }
    let d = findDest(af, proto, vport, dport, fwmark, wflags);
    if (d != 0) bindDest(ci, d);
    store<u8>(cp, state, CONN_STATE);
    store<u32>(cp, cget(CTL_SYNC_THRESHOLD), CONN_INPKTS);   // atomic_set(&cp->in_pkts, sysctl_sync_threshold)
    store<u8>(csyncPtr(ci), state, CSYNC_OLD_STATE);
    store<u32>(cp, ms, CONN_TIMEOUT);
    store<u32>(cp, exp, CONN_EXPIRES);
    timerAdd(ci);
    cntInc(CNT_CONN_CREATED);
    cntInc(CNT_SYNC_RX_CONN);
    return 0;
  }
  store<u8>(cp, state, CONN_STATE);
  store<u32>(cp, cget(CTL_SYNC_THRESHOLD), CONN_INPKTS);
  store<u8>(csyncPtr(ci), state, CSYNC_OLD_STATE);
  let old = load<u32>(cp, CONN_EXPIRES);
  store<u32>(cp, ms, CONN_TIMEOUT);
  store<u32>(cp, exp, CONN_EXPIRES);
  if (<i32>(exp - old) < 0) timerRequeue(ci);
  cntInc(CNT_SYNC_RX_CONN);
  return 0;
}

// ---- the master: the conn record of ip_vs_sync_conn -------------------------------------------------
/**
 * Write conn ci as a v1 sync conn at p (room bytes free). Returns its length (36 or 72; seq and
 * PE options are never ours to send), 0 when it does not fit or the conn cannot be sent
 * (IP_VS_CONN_F_ONE_PACKET; a method a kernel backup cannot know, FULLNAT).
 */
export function syncEncodeConn(ci: u32, p: usize, room: u32): u32 {
  let cp = connPtr(ci);
  let flags = load<u16>(cp, CONN_FLAGS);
  if (flags & CONN_F_ONE_PACKET) return 0;
  if (load<u8>(cp, CONN_FWD) > IP_VS_CONN_F_BYPASS) return 0;
  let v6 = load<u8>(cp, CONN_AF) == AF_INET6;
  let len: u32 = v6 ? SYNC_V6_SIZE : SYNC_V4_SIZE;
  if (len > room) return 0;
  store<u8>(p, v6 ? STYPE_F_INET6 : 0);
  store<u8>(p, load<u8>(cp, CONN_PROTO), 1);
  st16be(p + 2, len & SVER_MASK);
  st32be(p + 4, syncWireFlags(cp));
  st16be(p + 8, <u32>load<u8>(cp, CONN_STATE));
  store<u16>(p, load<u16>(cp, CONN_CPORT), 10);
  store<u16>(p, load<u16>(cp, CONN_VPORT), 12);
  store<u16>(p, load<u16>(cp, CONN_DPORT), 14);
  st32be(p + 16, 0);   // fwmark: conns here do not keep the packet's mark
  st32be(p + 20, load<u32>(cp, CONN_TIMEOUT) / 1000);
  if (v6) {
    addrCopy(p + 24, cp + CONN_CADDR); addrCopy(p + 40, cp + CONN_VADDR); addrCopy(p + 56, coldOf(cp) + COLD_DADDR);
  } else {
    store<u32>(p + 24, load<u32>(cp + CONN_CADDR, 12));
    store<u32>(p + 28, load<u32>(cp + CONN_VADDR, 12));
    store<u32>(p + 32, load<u32>(coldOf(cp) + COLD_DADDR, 12));
  }
  cntInc(CNT_SYNC_TX_CONN);
  return len;
}

/** Start a v1 message at p: reserved 0, syncid, size = header, nr_conns 0, version 1, spare 0. */
export function syncMesgInit(p: usize, syncid: u32): void {
  store<u8>(p, 0);
  store<u8>(p, <u8>syncid, 1);
  st16be(p + 2, SYNC_MESG_HDR);
  store<u8>(p, 0, 4);
  store<u8>(p, SYNC_PROTO_VER, 5);
  store<u16>(p, 0, 6);
}

/**
 * Append conn ci to the message at p (maxlen bytes at most). Returns 1 added, 0 when it does not
 * fit (send the message, start another), -1 when the conn is not sent at all (syncEncodeConn).
 */
export function syncMesgAdd(p: usize, maxlen: u32, ci: u32): i32 {
  let cp = connPtr(ci);
  if ((load<u16>(cp, CONN_FLAGS) & CONN_F_ONE_PACKET) != 0 || load<u8>(cp, CONN_FWD) > IP_VS_CONN_F_BYPASS) return -1;
  let size = ld16be(p + 2);
  let n = <u32>load<u8>(p, 4);
  if (n == 255) return 0;
  let pad = (4 - size) & 3;
  if (size + pad >= maxlen) return 0;
  let len = syncEncodeConn(ci, p + size + pad, maxlen - size - pad);
  if (len == 0) return 0;
  memory.fill(p + size, 0, pad);
  st16be(p + 2, size + pad + len);
  store<u8>(p, <u8>(n + 1), 4);
  return 1;
}


// ---- the master: which conns are sent when (ip_vs_sync_conn, ip_vs_sync_conn_needed) ---------------
// The sync sysctls (net.ipv4.vs.sync_*) and the master daemon's state; the host sets them.
// They live in the control block (CTL_SYNC_*), not in module globals: every worker reads them.
@inline function cget(off: u32): u32 { return load<u32>(CTL + off); }
@inline function cset(off: u32, v: u32): void { store<u32>(CTL + off, v); }

/** The kernel's defaults of the sync sysctls (and a 1472-byte message for the master), set by init(). */
export function syncInit(): void {
  cset(CTL_SYNC_MAXLEN, 1472);
  cset(CTL_SYNC_VERSION, 1);
  cset(CTL_SYNC_THRESHOLD, 3);
  cset(CTL_SYNC_PERIOD, 50);
}

/** Set the master side: on/off, syncid, sync_maxlen (the message size, ipvsadm --sync-maxlen). */
export function syncSetMaster(on: bool, syncid: u32, maxlen: u32): void {
  cset(CTL_SYNC_MASTER, on ? 1 : 0);
  cset(CTL_SYNC_ID, syncid & 255);
  cset(CTL_SYNC_MAXLEN, maxlen < SYNC_MESG_HDR + SYNC_V6_SIZE ? SYNC_MESG_HDR + SYNC_V6_SIZE : maxlen > 65507 ? 65507 : maxlen);
  if (!on) { cset(CTL_SYNC_BUF_DONE, 0); cset(CTL_SYNC_BUF_OPEN, 0); }
}

/** The sync sysctls by number: 0 version, 1 threshold, 2 period, 3 refresh_period (ms), 4 retries, 5 persist_mode. */
export function syncSetSysctl(which: u32, v: u32): void {
  switch (which) {
    case 0: cset(CTL_SYNC_VERSION, v); break;
    case 1: cset(CTL_SYNC_THRESHOLD, v); break;
    case 2: cset(CTL_SYNC_PERIOD, v); break;
    case 3: cset(CTL_SYNC_REFRESH, v); break;
    case 4: cset(CTL_SYNC_RETRIES, v); break;
    case 5: cset(CTL_SYNC_PERSIST, v != 0 ? 1 : 0); break;
  }
}

/**
 * ip_vs_in's end: on a master, sync the conn if due. cp->in_pkts is the conn's CONN_INPKTS,
 * which stats.ts counts for every input packet (this one included) before we get here.
 */
/** This director is a sync master (syncConnIn has work for every conn's packets). */
@inline export function syncMaster(): bool { return cget(CTL_SYNC_MASTER) != 0; }

export function syncConnIn(ci: u32): void {
  let cp = connPtr(ci);
  let one = (load<u16>(cp, CONN_FLAGS) & CONN_F_ONE_PACKET) != 0;
  // the send buffer and the templates are shared by every worker: under the lock (shared.ts)
  if ((cget(CTL_SYNC_MASTER) != 0)) { wLock(); syncConn(ci, one ? cget(CTL_SYNC_THRESHOLD) : load<u32>(cp, CONN_INPKTS)); wUnlock(); return; }
  if (one) {
    let ct = load<u32>(connCold(ci), COLD_CONTROL);
    if (ct != 0) sharedAdd32(connPtr(ct) + CONN_INPKTS, 1);
  }
}

/** ip_vs_sync_conn: the conn if it is due, then its template (each controlled conn's sync counts there). */
function syncConn(ci: u32, pkts: u32): void {
  while (true) {
    let cp = connPtr(ci);
    let flags = load<u16>(cp, CONN_FLAGS);
    // a SYN proxy's conn is not synced: its sequence deltas have no field in the kernel's format,
    // so a backup could only break it; its sync word holds its delta entry (layout.ts SP_POOL)
    if (flags & CONN_F_SYNPROXY) return;
    if (!(flags & CONN_F_ONE_PACKET) && syncNeeded(ci, pkts)) bufAdd(ci);
    if (flags & CONN_F_TEMPLATE) return;           // a template's COLD_CONTROL counts its conns
    let ct = load<u32>(connCold(ci), COLD_CONTROL);
    if (ct == 0) return;
    let tp = connPtr(ct);
    pkts = load<u32>(tp, CONN_INPKTS) + 1;   // a template's in_pkts counts its conns' syncs
    store<u32>(tp, pkts, CONN_INPKTS);
    ci = ct;
  }
}

@inline function tcpSyncState(s: u8): bool {
  return s == TCP_S_ESTABLISHED || s == TCP_S_FIN_WAIT || s == TCP_S_CLOSE || s == TCP_S_CLOSE_WAIT || s == TCP_S_TIME_WAIT;
}
@inline function sctpSyncState(s: u8): bool {
  return s == SCTP_S_ESTABLISHED || s == SCTP_S_SHUTDOWN_SENT || s == SCTP_S_SHUTDOWN_RECEIVED ||
         s == SCTP_S_SHUTDOWN_ACK_SENT || s == SCTP_S_CLOSED;
}

/**
 * ip_vs_sync_conn_needed. TCP/SCTP conns only in their closing/established states: a change to
 * one of the closing ones is sent at once, otherwise (and UDP) the packet count decides:
 * pkts % sync_period == sync_threshold, or with sync_period 0 only pkts == sync_threshold.
 * Templates are sent on every controlled conn's sync unless sync_refresh_period limits them.
 * sync_refresh_period: not again while the conn's end time moved less than
 * min(refresh, max(timeout/2, 10 s)), except sync_retries resends, refresh/8 apart.
 * The end time is kept in seconds (the kernel: jiffies & ~3), 16 bits: timeouts over 9 hours
 * compare modulo 18 hours.
 */
function syncNeeded(ci: u32, pkts: u32): bool {
  let cp = connPtr(ci);
  let cs = csyncPtr(ci);
  let flags = load<u16>(cp, CONN_FLAGS);
  let state = load<u8>(cp, CONN_STATE);
  let proto = load<u8>(cp, CONN_PROTO);
  let timeout = load<u32>(cp, CONN_TIMEOUT);
  let now = engineNow();
  let nS = ((now + timeout) / 1000) & 0xffff;
  let retriesNew: u32 = 0;
  let force = false;
  let goSet = false;
  if (flags & CONN_F_TEMPLATE) force = false;
  else if ((cget(CTL_SYNC_PERSIST) != 0) && load<u32>(coldOf(cp), COLD_CONTROL) != 0) return false;
  else if (proto == IPPROTO_TCP || proto == IPPROTO_SCTP) {
    if (proto == IPPROTO_TCP ? !tcpSyncState(state) : !sctpSyncState(state)) return false;
    force = state != load<u8>(cs, CSYNC_OLD_STATE);
    let est = proto == IPPROTO_TCP ? TCP_S_ESTABLISHED : SCTP_S_ESTABLISHED;
    if (force && state != est) goSet = true;
  }
  if (!goSet) {
    if (cget(CTL_SYNC_REFRESH) > 0) {
      let origS = <u32>load<u16>(cs, CSYNC_ENDTIME);
      let diffMs = <i32><i16><u16>(nS - origS) * 1000;
      let half = timeout >> 1;
      let minDiff: u32 = half > 10000 ? half : 10000;
      let lim: u32 = cget(CTL_SYNC_REFRESH) < minDiff ? cget(CTL_SYNC_REFRESH) : minDiff;
      if (<u32>(diffMs < 0 ? -diffMs : diffMs) < lim) {
        let retries = <u32>load<u8>(cs, CSYNC_RETRIES);
        if (retries >= cget(CTL_SYNC_RETRIES)) return false;
        // the last sync was at orig - timeout: resend no sooner than refresh/8 after it
        let origMs = <i32>now + <i32><i16><u16>(origS - ((now / 1000) & 0xffff)) * 1000;
        if (<i32>now - (origMs - <i32>timeout) < <i32>(cget(CTL_SYNC_REFRESH) >> 3)) return false;
        retriesNew = retries + 1;   // n |= retries + 1: the new end time, one more resend used
      }
    }
    if (cget(CTL_SYNC_PERIOD) > 0) {
      if (!(flags & CONN_F_TEMPLATE) && pkts % cget(CTL_SYNC_PERIOD) != cget(CTL_SYNC_THRESHOLD)) return false;
    } else if (cget(CTL_SYNC_REFRESH) == 0 && pkts != cget(CTL_SYNC_THRESHOLD)) return false;
  }
  store<u8>(cs, state, CSYNC_OLD_STATE);
  store<u16>(cs, <u16>nS, CSYNC_ENDTIME);
  store<u8>(cs, <u8>retriesNew, CSYNC_RETRIES);
  return true;
}

/** Close the message being filled: it joins the finished ones. */
function bufClose(): void {
  if (!(cget(CTL_SYNC_BUF_OPEN) != 0)) return;
  let p = SYNC_BUF + cget(CTL_SYNC_BUF_DONE);
  cset(CTL_SYNC_BUF_DONE, cget(CTL_SYNC_BUF_DONE) + ld16be(p + 2));   // both versions keep the size in bytes 2-3
  cset(CTL_SYNC_BUF_OPEN, 0);
}

/** Append conn ci to the message being filled (a new one when it is full), as v1 or v0 (sync_version). */
function bufAdd(ci: u32): void {
  let cp = connPtr(ci);
  if (load<u8>(cp, CONN_FWD) > IP_VS_CONN_F_BYPASS) return;   // FULLNAT: no kernel backup could use it
  let v6 = load<u8>(cp, CONN_AF) == AF_INET6;
  if (cget(CTL_SYNC_VERSION) == 0 && v6) return;                          // v0 carries IPv4 only
  for (let attempt = 0; attempt < 2; attempt++) {
    if (!(cget(CTL_SYNC_BUF_OPEN) != 0)) {
      if (cget(CTL_SYNC_BUF_DONE) + cget(CTL_SYNC_MAXLEN) > SYNC_BUF_SIZE) { cntInc(CNT_SYNC_TX_FULL); return; }   // sync_qlen_max reached
      let p = SYNC_BUF + cget(CTL_SYNC_BUF_DONE);
      if (cget(CTL_SYNC_VERSION) == 0) { store<u8>(p, 0); store<u8>(p, <u8>cget(CTL_SYNC_ID), 1); st16be(p + 2, SYNC_MESG_V0_HDR); }
      else syncMesgInit(p, cget(CTL_SYNC_ID));
      cset(CTL_SYNC_BUF_OPEN, 1);
      cset(CTL_SYNC_BUF_FIRST, engineNow());
    }
    let p = SYNC_BUF + cget(CTL_SYNC_BUF_DONE);
    if (cget(CTL_SYNC_VERSION) == 0) {
      let size = ld16be(p + 2);
      let n = <u32>load<u8>(p);
      if (n < 255 && size + SYNC_V0_SIZE <= cget(CTL_SYNC_MAXLEN)) {
        encodeV0(cp, p + size);
        st16be(p + 2, size + SYNC_V0_SIZE);
        store<u8>(p, <u8>(n + 1));
        cntInc(CNT_SYNC_TX_CONN);
        return;
      }
    } else if (syncMesgAdd(p, cget(CTL_SYNC_MAXLEN), ci) == 1) return;
    bufClose();
  }
}

/** A v0 conn (struct ip_vs_sync_conn_v0): IPv4, 16-bit flags, no timeout. */
function encodeV0(cp: usize, q: usize): void {
  store<u8>(q, 0);
  store<u8>(q, load<u8>(cp, CONN_PROTO), 1);
  store<u16>(q, load<u16>(cp, CONN_CPORT), 2);
  store<u16>(q, load<u16>(cp, CONN_VPORT), 4);
  store<u16>(q, load<u16>(cp, CONN_DPORT), 6);
  store<u32>(q, load<u32>(cp + CONN_CADDR, 12), 8);
  store<u32>(q, load<u32>(cp + CONN_VADDR, 12), 12);
  store<u32>(q, load<u32>(coldOf(cp) + COLD_DADDR, 12), 16);
  st16be(q + 20, syncWireFlags(cp) & 0xffff);
  st16be(q + 22, <u32>load<u8>(cp, CONN_STATE));
}

/**
 * The messages ready to send, as bytes at SYNC_BUF: the finished ones, plus the one being filled
 * once it is ageMs old (IPVS_SYNC_FLUSH_TIME, 2 s; 0: now). Returns their total length; the
 * host sends them (each has its size in bytes 2-3) and calls syncTaken.
 */
export function syncPending(ageMs: u32): u32 {
  if ((cget(CTL_SYNC_BUF_OPEN) != 0) && <i32>(engineNow() - cget(CTL_SYNC_BUF_FIRST)) >= <i32>ageMs) bufClose();
  return cget(CTL_SYNC_BUF_DONE);
}

/** The host sent the first `len` bytes syncPending reported. */
export function syncTaken(len: u32): void {
  if (len > cget(CTL_SYNC_BUF_DONE)) len = cget(CTL_SYNC_BUF_DONE);
  let rest = cget(CTL_SYNC_BUF_DONE) - len + ((cget(CTL_SYNC_BUF_OPEN) != 0) ? ld16be(SYNC_BUF + cget(CTL_SYNC_BUF_DONE) + 2) : 0);
  if (rest > 0 && len > 0) memory.copy(SYNC_BUF, SYNC_BUF + len, rest);
  cset(CTL_SYNC_BUF_DONE, cget(CTL_SYNC_BUF_DONE) - len);
}

/**
 * Beyond the kernel (it has no bulk resync: keepalived issues 1076, 1966): every live conn,
 * templates too, into the buffer in the ordinary v1 records, so a kernel backup takes them as
 * any update. From conn index `from` on; returns the index to continue from once the host has
 * sent what is pending (the buffer is full), 0 when every conn was queued.
 */
export function syncBulk(from: u32): u32 {
  let i = connNextLive(from);
  while (i != 0) {
    if (cget(CTL_SYNC_BUF_DONE) + cget(CTL_SYNC_MAXLEN) * 2 > SYNC_BUF_SIZE) return i;
    bufAdd(i);
    i = connNextLive(i + 1);
  }
  bufClose();
  return 0;
}
