// The SYN proxy (DPVS's ip_vs_synproxy.c; kernel IPVS has none), on per TCP service by
// SVC_F_SYNPROXY. The director completes the client's handshake itself with a SYN cookie and
// only then makes the conn and opens the real server's:
//
//   client                 director                          real server
//   SYN ───────────────▶  cookie SYN-ACK, window 0, no conn (synproxySyn)
//   ACK (cookie) ──────▶  cookie valid: schedule, conn (SYN_RECV), the ACK rewritten into
//                          a SYN with the client's options (synproxyOpen) ────────▶ SYN
//                                            ◀──────── SYN-ACK: delta = cookie ISN - server ISN
//   ◀── window update     (the SYN-ACK rewritten: no SYN, seq + 1, translated)   ACK ──▶ (queued)
//   data, both ways: seq/ack, SACK blocks, timestamps and windows translated (synproxyIn/Out)
//
// Cookies (RFC 4987 §3.6, in Linux's form: secure_tcp_syn_cookie in net/ipv4/syncookies.c):
//   ISN = H(K0; saddr, daddr, sport, dport, 0) + client ISN + (t << 24)
//         + ((H(K1; saddr, daddr, sport, dport, t) + mssind) & 0xffffff)
// with t the engine clock in 65.536-second steps (RFC 4987: "increments every 64 seconds"),
// H SipHash-2-4 (Linux's siphash) keyed by two random 128-bit secrets (CTL_SP_SECRET), mssind the
// index of the largest MSS of Linux's table not above the client's (msstab: 536/1300/1440/1460,
// IPv6 1220/1420/1440/8940). check_tcp_syn_cookie's rules: t at most MAX_SYNCOOKIE_AGE - 1 = 1
// step old, mssind < 4 (22 bits of the hash must match).
// Window scale and SACK-permitted do not fit the ISN: as Linux's cookie_init_timestamp they ride
// in the low 6 bits of the SYN-ACK's TSval (wscale, 0xf for none; bit 4 SACK; bit 5 ECN, never
// set here: ECN is not negotiated) and come back in the ACK's TSecr (cookie_timestamp_decode);
// a client without timestamps gets neither (the SYN-ACK carries the MSS alone). Unlike Linux the
// TSval is taken from the client's own clock (its TSval rounded down to a multiple of 64 plus
// the option bits), so that the SYN to the real server can carry it and the real server's
// SYN-ACK echoes it back: the director keeps no state before the conn, none between the conn
// and the server's SYN-ACK beyond the cookie ISN and the client's window.
//
// Differences from DPVS, on purpose: DPVS folds wscale/SACK/timestamps into the cookie's 24
// bits (its ISN check then keeps ~2 bits); Linux's encoding keeps 22. DPVS's close_client_window
// (the SYN-ACK's window 0, opened by a window update when the server answers) is always on here:
// the client sends no data before the server's side exists, so no frame is ever held (DPVS
// stores up to 3 ACKs per conn); a client segment in that gap is dropped (counted). An ACK whose
// cookie fails is not dropped here: it goes on to the local stack, which answers with a RST as
// DPVS (syn_proxy_send_tcp_rst) and a Linux listener do (counted synproxy_bad_cookie). Only NAT
// and FULLNAT dests: with DR and tunnels the server's SYN-ACK never passes the director
// (refused when configured, ctl.ts).
import {
  CTL, CTL_FLAGS, CTL_TUN_MTU, CTL_SP_SECRET, SCRATCH, PKT, PKT_CSUM_PARTIAL, PKT_GSO, PKT_TCP_FLAGS, connPtr, linkType, CONN_FLAGS, CONN_FWD,
  CONN_CADDR, CONN_CPORT, SP_SEQ, SP_TS, SP_WIN, SP_WS,
} from "./layout";
import {
  NF_ACCEPT, NF_DROP, NF_STOLEN, AF_INET, IPPROTO_TCP, IP_VS_CONN_F_MASQ, IP_VS_CONN_F_FULLNAT, SET_NO_TOA,
  CONN_F_SYNPROXY, CONN_F_SP_WAIT, CONN_F_FNAT_SYNACK, CONN_F_FNAT_RSDATA, CNT_SP_SYN, CNT_SP_ACK_OK, CNT_SP_NO_ROOM, CNT_METHOD_UNSUPPORTED,
  CNT_SP_BAD_COOKIE, CNT_SP_WAIT_DROP, CNT_SP_RS_DROP, CNT_SP_ESTABLISHED, CNT_SP_ACK_NO_ROOM, CNT_SP_RS_RESET,
  CNT_BAD_L4, CNT_SP_SYN_RESENT,
} from "./defs";
import {
  pL3, pL4, pL4Len, pAf, pLen, pHdrLen, pTcpFlags, pktSaddr, pktDaddr, pVnet, pCsumPartial, iphResize,
  VNET_HDR_LEN, TH_SYN, TH_ACK, TH_RST, TH_FIN, iProto, iL4,
} from "./packet/iph";
import { ld16be, ld32be, st16be, st32be, addrCopy } from "./packet/bytes";
import { l4CsumFull, csumUpdate2, ipv4SendCheck } from "./packet/csum";
import { setDrop, setOut, outStart } from "./pkt";
import { cntInc } from "./stats";
import { engineNow, connSetState } from "./conn/conn";
import { connSpAlloc, connSpPtr } from "./conn/table";
import { DIR_INPUT, DIR_OUTPUT, tcpOptSize, TCPOPT_NOP, TCPOPT_MSS, TCPOPT_WINDOW, TCPOPT_SACK_PERM, TCPOPT_SACK, TCPOPT_TIMESTAMP } from "./proto/tcp";
import { l4CsumOk, tcpReplyAt, tcpReplySend } from "./xmit/local";
import { ipIdentNext } from "./xmit/output";
import { l2Queue } from "./neigh";
import { wLock, wUnlock } from "./shared";
import { nextHop } from "./route";
import { TCPOPT_TOA, TCPOLEN_IP4_TOA, TCPOLEN_IP6_TOA } from "./xmit/fullnat";

@inline const TCP_MAX_WSCALE: u32 = 14;
/** The window scale the director gives clients that offer one (Linux 6.1's for its default tcp_rmem). */
@inline export const SP_WSCALE: u32 = 7;
@inline const COOKIEBITS: u32 = 24;
@inline const COOKIEMASK: u32 = (1 << COOKIEBITS) - 1;
@inline const MAX_SYNCOOKIE_AGE: u32 = 2;
/** The cookie's time counter: the engine clock in 2^16 ms (65.5 s) steps. */
@inline const COOKIE_TIME_SHIFT: u32 = 16;
@inline const TSBITS: u32 = 6;
@inline const TS_OPT_WSCALE_MASK: u32 = 0xf;
@inline const TS_OPT_SACK: u32 = 1 << 4;

// syncookies.c msstab / syncookies.c (IPv6) msstab
const MSSTAB4 = memory.data<u16>([536, 1300, 1440, 1460]);
const MSSTAB6 = memory.data<u16>([1280 - 60, 1480 - 60, 1500 - 60, 9000 - 60]);

// The options of a handshake, packed in a u32 (what the cookie carries, what the SYN to the real
// server gets): mss 16 bits | wscale << 16 (0xf: none) | SACK-permitted bit 20 | timestamps bit 21.
@inline const OPT_WS_NONE: u32 = 0xf << 16;
@inline const OPT_SACK: u32 = 1 << 20;
@inline const OPT_TS: u32 = 1 << 21;
@inline function optMss(o: u32): u32 { return o & 0xffff; }
@inline function optWs(o: u32): u32 { return (o >> 16) & 0xf; }

// ---- SipHash-2-4 (Aumasson, Bernstein) over the 4-tuple and the counter -----------------------

@inline function rotl(x: u64, b: u64): u64 { return (x << b) | (x >> (64 - b)); }

/**
 * H(K_c; saddr, daddr, sport, dport, count): SipHash-2-4 of five 64-bit words (both addresses in
 * the 16-byte form, ports in host order as (sport << 16) | dport, then the counter), the low 32
 * bits of the result. Addresses are read as stored (little-endian words of the wire bytes).
 */
export function spHash(c: u32, saddr: usize, daddr: usize, ports: u32, count: u32): u32 {
  let key = CTL + CTL_SP_SECRET + (<usize>c << 4);
  let k0 = load<u64>(key), k1 = load<u64>(key, 8);
  let v0: u64 = k0 ^ 0x736f6d6570736575, v1: u64 = k1 ^ 0x646f72616e646f6d;
  let v2: u64 = k0 ^ 0x6c7967656e657261, v3: u64 = k1 ^ 0x7465646279746573;
  for (let w = 0; w < 6; w++) {
    let m: u64;
    if (w == 0) m = load<u64>(saddr);
    else if (w == 1) m = load<u64>(saddr, 8);
    else if (w == 2) m = load<u64>(daddr);
    else if (w == 3) m = load<u64>(daddr, 8);
    else if (w == 4) m = <u64>ports | (<u64>count << 32);
    else m = <u64>40 << 56;                       // the last block: the message length (40 bytes)
    v3 ^= m;
    for (let r = 0; r < 2; r++) {
      v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
      v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
      v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
      v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
    }
    v0 ^= m;
  }
  v2 ^= 0xff;
  for (let r = 0; r < 4; r++) {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }
  return <u32>(v0 ^ v1 ^ v2 ^ v3);
}

/** The cookie's time counter now (tcp_cookie_time). */
@inline export function cookieTime(): u32 { return engineNow() >> COOKIE_TIME_SHIFT; }

/** secure_tcp_syn_cookie: the ISN for a SYN (sseq: its sequence number) with `data` (mssind). */
export function cookieMake(saddr: usize, daddr: usize, ports: u32, sseq: u32, count: u32, data: u32): u32 {
  return spHash(0, saddr, daddr, ports, 0) + sseq + (count << COOKIEBITS) +
    ((spHash(1, saddr, daddr, ports, count) + data) & COOKIEMASK);
}

/** check_tcp_syn_cookie: the data of a cookie, or -1 when its counter is too old (or from the future). */
export function cookieCheck(cookie: u32, saddr: usize, daddr: usize, ports: u32, sseq: u32, count: u32): i32 {
  cookie -= spHash(0, saddr, daddr, ports, 0) + sseq;
  let diff = (count - (cookie >> COOKIEBITS)) & (0xffffffff >> COOKIEBITS);
  if (diff >= MAX_SYNCOOKIE_AGE) return -1;
  return <i32>((cookie - spHash(1, saddr, daddr, ports, count - diff)) & COOKIEMASK);
}

@inline function msstab(v4: bool): usize { return v4 ? MSSTAB4 : MSSTAB6; }

/** The index of the largest table MSS not above `mss` (0 when below them all), as __cookie_v4_init_sequence. */
export function mssEncode(v4: bool, mss: u32): u32 {
  let i: u32 = 3;
  while (i > 0 && mss < <u32>load<u16>(msstab(v4) + (<usize>i << 1))) i--;
  return i;
}
export function mssDecode(v4: bool, i: u32): u32 { return <u32>load<u16>(msstab(v4) + (<usize>i << 1)); }

// ---- TCP options ---------------------------------------------------------------------------

/**
 * The options of the TCP header at th, as tcp_parse_options reads them for a SYN: MSS (536 when
 * absent, TCP_MSS_DEFAULT), window scale, SACK-permitted, timestamps. Returns the packed form;
 * the timestamp values, when present, are read by tsAt().
 */
function optParse(th: usize): u32 {
  let o: u32 = 536 | OPT_WS_NONE;
  let p = th + 20, end = th + ((<u32>load<u8>(th, 12) >> 4) << 2);
  for (let sz: u32 = 0; p < end; p += sz) {
    sz = tcpOptSize(p, end);
    if (sz == 0) break;            // silly or partial options
    let kind = load<u8>(p);
    if (kind == TCPOPT_NOP) continue;
    if (kind == TCPOPT_MSS && sz == 4) {
      let m = ld16be(p + 2);
      if (m != 0) o = (o & ~0xffff) | m;
    } else if (kind == TCPOPT_WINDOW && sz == 3) {
      let ws = <u32>load<u8>(p, 2);
      if (ws > TCP_MAX_WSCALE) ws = TCP_MAX_WSCALE;   // tcp_parse_options: "Illegal window scaling value"
      o = (o & ~OPT_WS_NONE) | (ws << 16);
    } else if (kind == TCPOPT_SACK_PERM && sz == 2) {
      o |= OPT_SACK;
    } else if (kind == TCPOPT_TIMESTAMP && sz == 10) {
      o |= OPT_TS;
    }
  }
  return o;
}

/** The timestamps option of the TCP header at th (its TSval; TSecr 4 bytes on), 0 when there is none. */
function tsAt(th: usize): usize {
  let p = th + 20, end = th + ((<u32>load<u8>(th, 12) >> 4) << 2);
  for (let sz: u32 = 0; p < end; p += sz) {
    sz = tcpOptSize(p, end);
    if (sz == 0) return 0;
    let kind = load<u8>(p);
    if (kind == TCPOPT_NOP) continue;
    if (kind == TCPOPT_TIMESTAMP && sz == 10) return p + 2;
  }
  return 0;
}

/**
 * Write a handshake's options at p as Linux's tcp_options_write orders them (and DPVS's
 * syn_proxy_syn_build_options): MSS; SACK-permitted + timestamps in one 12-byte run (NOP NOP
 * when no SACK); SACK-permitted alone after NOP NOP; NOP + window scale. Returns their length.
 */
function optWrite(p: usize, o: u32, ws: u32, tsval: u32, tsecr: u32): u32 {
  let q = p;
  store<u8>(q, TCPOPT_MSS); store<u8>(q, 4, 1); st16be(q + 2, optMss(o)); q += 4;
  if (o & OPT_TS) {
    if (o & OPT_SACK) { store<u8>(q, TCPOPT_SACK_PERM); store<u8>(q, 2, 1); }
    else { store<u8>(q, TCPOPT_NOP); store<u8>(q, TCPOPT_NOP, 1); }
    store<u8>(q, TCPOPT_TIMESTAMP, 2); store<u8>(q, 10, 3);
    st32be(q + 4, tsval); st32be(q + 8, tsecr);
    q += 12;
  } else if (o & OPT_SACK) {
    store<u8>(q, TCPOPT_NOP); store<u8>(q, TCPOPT_NOP, 1); store<u8>(q, TCPOPT_SACK_PERM, 2); store<u8>(q, 2, 3);
    q += 4;
  }
  if (ws != TS_OPT_WSCALE_MASK) {
    store<u8>(q, TCPOPT_NOP); store<u8>(q, TCPOPT_WINDOW, 1); store<u8>(q, 3, 2); store<u8>(q, <u8>ws, 3);
    q += 4;
  }
  return <u32>(q - p);
}

@inline function ports(th: usize): u32 { return (ld16be(th) << 16) | ld16be(th + 2); }

// ---- step 1: the client's SYN --------------------------------------------------------------

/**
 * dp_vs_synproxy_syn_rcv: a SYN (no ACK/RST/FIN) for a synproxy service is answered with a cookie
 * SYN-ACK built over it (verdict LOCAL); no conn is made. A bad checksum: a counted drop.
 */
export function synproxySyn(): i32 {
  if (!l4CsumOk()) { setDrop(CNT_BAD_L4); return NF_DROP; }
  let th = pL4();
  let v4 = pAf() == AF_INET;
  let o = optParse(th);
  let seqIn = ld32be(th + 4);
  // the MSS the cookie keeps: the client's, clamped to our path (tcp_mss_clamp), then the table's
  let mtuMss = load<u32>(CTL, CTL_TUN_MTU) - (v4 ? 40 : 60);
  let mss = optMss(o) < mtuMss ? optMss(o) : mtuMss;
  let mssind = mssEncode(v4, mss);
  let cookie = cookieMake(pktSaddr(), pktDaddr(), ports(th), seqIn, cookieTime(), mssind);
  let out = (o & ~0xffff) | mssDecode(v4, mssind);
  let tsval: u32 = 0, tsecr: u32 = 0, ws: u32 = TS_OPT_WSCALE_MASK;
  if (o & OPT_TS) {
    let ts = tsAt(th);
    tsecr = ld32be(ts);
    // cookie_init_timestamp, on the client's clock: its TSval's high bits, our options below
    let opts: u32 = optWs(o);
    if (o & OPT_SACK) opts |= TS_OPT_SACK;
    tsval = ((tsecr >> TSBITS) << TSBITS) | opts;
    if (tsval > tsecr) tsval -= 1 << TSBITS;
    if (optWs(o) != TS_OPT_WSCALE_MASK) ws = SP_WSCALE;
  } else {
    out = (out & ~OPT_SACK) | OPT_WS_NONE;        // without timestamps the cookie keeps neither
  }
  let sport = load<u16>(th), dport = load<u16>(th, 2);
  let nth = tcpReplyAt();
  let olen = optWrite(nth + 20, out, ws, tsval, tsecr);
  store<u16>(nth, dport); store<u16>(nth, sport, 2);
  st32be(nth + 4, cookie); st32be(nth + 8, seqIn + 1);
  store<u8>(nth + 12, <u8>((20 + olen) << 2)); store<u8>(nth + 13, TH_SYN | TH_ACK);
  store<u16>(nth + 14, 0);                        // window 0: DPVS's close_client_window
  store<u16>(nth + 18, 0);
  if (tcpReplySend(20 + olen, false)) cntInc(CNT_SP_SYN);
  return NF_STOLEN;
}

// ---- step 2: the client's ACK --------------------------------------------------------------

/**
 * The cookie of an ACK (no SYN/RST/FIN) for a synproxy service without a conn: the handshake's
 * options (packed, mss != 0) when it holds, 0 when not (counted; the caller lets the local stack
 * answer it). cookie_v4_check / cookie_timestamp_decode.
 */
export function synproxyCheck(): u32 {
  let o = cookieOpts(ld32be(pL4() + 4) - 1);
  if (o == 0) cntInc(CNT_SP_BAD_COOKIE);
  return o;
}

/** The handshake options of the current ACK's cookie for client ISN `isn`, 0 when it fails. */
function cookieOpts(isn: u32): u32 {
  let th = pL4();
  let v4 = pAf() == AF_INET;
  let cookie = ld32be(th + 8) - 1;
  let d = cookieCheck(cookie, pktSaddr(), pktDaddr(), ports(th), isn, cookieTime());
  if (d < 0 || d >= 4) return 0;
  let o = mssDecode(v4, <u32>d) | OPT_WS_NONE;
  let ts = tsAt(th);
  if (ts != 0) {
    let opts = ld32be(ts + 4);                    // our TSval, echoed
    let ws = opts & TS_OPT_WSCALE_MASK;
    if (ws != TS_OPT_WSCALE_MASK && ws > TCP_MAX_WSCALE) return 0;
    o = (o & ~OPT_WS_NONE) | (ws << 16) | OPT_TS;
    if (opts & TS_OPT_SACK) o |= OPT_SACK;
  }
  return o;
}

/**
 * syn_proxy_send_rs_syn: the conn ci was just made for a valid cookie ACK (options o); the ACK
 * becomes the SYN to the real server in place (seq = its seq - 1, the client's options, TSval the
 * one we gave the client so the server's SYN-ACK echoes it) and goes on through the conn's xmit.
 * Returns 0, or why the packet is dropped (the caller expires the conn): the conn's method cannot
 * carry a SYN proxy, or its partition has no delta entry left (SP_SLOTS in use).
 */
export function synproxyOpen(ci: u32, o: u32): u32 {
  let cp = connPtr(ci);
  let fwd = load<u8>(cp, CONN_FWD);
  if (fwd != IP_VS_CONN_F_MASQ && fwd != IP_VS_CONN_F_FULLNAT) return CNT_METHOD_UNSUPPORTED;
  if (!connSpAlloc(ci)) return CNT_SP_NO_ROOM;
  let th = pL4();
  let ts = tsAt(th);
  let ourTs: u32 = ts != 0 ? ld32be(ts + 4) : 0;
  let win = ld16be(th + 14);
  let sp = connSpPtr(ci);
  store<u32>(sp, ld32be(th + 8) - 1, SP_SEQ);     // the cookie ISN, until the server's ISN is known
  store<u16>(sp, <u16>win, SP_WIN);
  store<u8>(sp, <u8>(optWs(o) != TS_OPT_WSCALE_MASK ? SP_WSCALE << 4 : 0), SP_WS);
  store<u16>(cp, load<u16>(cp, CONN_FLAGS) | CONN_F_SYNPROXY | CONN_F_SP_WAIT, CONN_FLAGS);
  cntInc(CNT_SP_ACK_OK);
  serverSyn(o, ld32be(th + 4) - 1);
  connSetState(ci, DIR_INPUT, TH_SYN);            // SYN_RECV until the server answers
  return 0;
}

/**
 * The current client segment (an ACK) rewritten into the SYN to the server, in place: header and
 * options over the ACK's (its payload, if any, is dropped with it), seq = the client's ISN.
 */
function serverSyn(o: u32, seq: u32): void {
  let th = pL4();
  let ts = tsAt(th);
  let ourTs: u32 = ts != 0 ? ld32be(ts + 4) : 0;
  let win = ld16be(th + 14);
  let ws = optWs(o);
  let olen = optWrite(th + 20, o, ws, ourTs, 0);
  st32be(th + 4, seq); st32be(th + 8, 0);
  store<u8>(th + 12, <u8>((20 + olen) << 2)); store<u8>(th + 13, TH_SYN);
  // a SYN's window is never scaled: the client's, scaled by its own shift, at most 65535
  let w = ws != TS_OPT_WSCALE_MASK ? win << ws : win;
  st16be(th + 14, w > 0xffff ? 0xffff : w);
  store<u16>(th + 18, 0);
  iphResize(<i32>(20 + olen) - <i32>pL4Len());
  let ip = pL3();
  if (pAf() == AF_INET) { st16be(ip + 2, pLen()); ipv4SendCheck(ip, pHdrLen()); }
  else st16be(ip + 4, pLen() - 40);
  store<u16>(th + 16, 0);
  store<u16>(th + 16, l4CsumFull(pAf(), pktSaddr(), pktDaddr(), IPPROTO_TCP, th, pL4Len()));
  setOut(outStart(), <u32>(ip - outStart()) + pLen());
  store<u8>(PKT, TH_SYN, PKT_TCP_FLAGS);          // what the state transition and later hooks read
  noOffload();
}

/** The packet was rebuilt with a full checksum: its virtio-net header asks for no offload. */
function noOffload(): void {
  if (pVnet() != 0) memory.fill(pVnet(), 0, VNET_HDR_LEN);
  store<u8>(PKT, 0, PKT_CSUM_PARTIAL);
  store<u8>(PKT, 0, PKT_GSO);
}

// ---- sequence translation (dp_vs_synproxy_dnat_handler / snat_handler) -------------------------

/**
 * Store a 32-bit field of the TCP header at th (at p) and keep its checksum: updated in place
 * when the field sits on a 16-bit boundary of the segment, else the caller recomputes it (`true`
 * back). A partial checksum (offloads) needs nothing: the device sums the header later.
 */
function put32(th: usize, p: usize, v: u32): bool {
  let old = load<u32>(p);
  st32be(p, v);
  if (pCsumPartial()) return false;
  if ((p - th) & 1) return true;
  let nw = load<u32>(p);
  let c = csumUpdate2(load<u16>(th, 16), <u16>old, <u16>nw);
  store<u16>(th, csumUpdate2(c, <u16>(old >> 16), <u16>(nw >> 16)), 16);
  return false;
}

/** The segment's TCP checksum computed again (after an edit put32 could not follow). */
function tcpCsumFull(th: usize): void {
  store<u16>(th, 0, 16);
  store<u16>(th, l4CsumFull(pAf(), pktSaddr(), pktDaddr(), IPPROTO_TCP, th, pL4Len()), 16);
}

/**
 * Client → server: the acknowledgment and the SACK blocks move from the cookie's sequence space
 * to the server's (- delta, syn_proxy_filter_opt_outin), the echoed timestamp from ours to the
 * server's (+ the timestamp delta).
 */
function xlateIn(ci: u32): void {
  let sp = connSpPtr(ci);
  let delta = load<u32>(sp, SP_SEQ), tsd = load<u32>(sp, SP_TS);
  let th = pL4();
  let full = false;
  if (pTcpFlags() & TH_ACK) full = put32(th, th + 8, ld32be(th + 8) - delta) || full;
  let p = th + 20, end = th + ((<u32>load<u8>(th, 12) >> 4) << 2);
  for (let sz: u32 = 0; p < end; p += sz) {
    sz = tcpOptSize(p, end);
    if (sz == 0) break;
    let kind = load<u8>(p);
    if (kind == TCPOPT_NOP) continue;
    if (kind == TCPOPT_SACK && sz >= 10 && ((sz - 2) & 7) == 0) {
      for (let b = p + 2; b < p + sz; b += 4) full = put32(th, b, ld32be(b) - delta) || full;
    } else if (kind == TCPOPT_TIMESTAMP && sz == 10 && tsd != 0) {
      full = put32(th, p + 6, ld32be(p + 6) + tsd) || full;
    }
  }
  if (full) tcpCsumFull(th);
}

/**
 * Server → client: the sequence number moves to the cookie's space (+ delta), the timestamp to
 * ours (- the timestamp delta), the window from the server's scale to the one the client was
 * given (DPVS's wscale_rs / wscale_vs, ip_vs_proto_tcp.c).
 */
function xlateOut(ci: u32): void {
  let sp = connSpPtr(ci);
  let delta = load<u32>(sp, SP_SEQ), tsd = load<u32>(sp, SP_TS);
  let ws = <u32>load<u8>(sp, SP_WS);
  let th = pL4();
  let full = put32(th, th + 4, ld32be(th + 4) + delta);
  let rs = ws & 0xf, vs = ws >> 4;
  if (rs != vs) {
    let old = load<u16>(th, 14);
    let w = (ld16be(th + 14) << rs) >> vs;
    st16be(th + 14, w > 0xffff ? 0xffff : w);
    if (!pCsumPartial()) store<u16>(th, csumUpdate2(load<u16>(th, 16), old, load<u16>(th, 14)), 16);
  }
  if (tsd != 0) {
    let ts = tsAt(th);
    if (ts != 0) full = put32(th, ts, ld32be(ts) - tsd) || full;
  }
  if (full) tcpCsumFull(th);
}

/**
 * A client segment on a synproxy conn (ip_vs_in, before the state transition): dropped while
 * the server's SYN-ACK is awaited (a RST goes on and closes the conn), else translated.
 */
export function synproxyIn(ci: u32): i32 {
  let cp = connPtr(ci);
  if (load<u16>(cp, CONN_FLAGS) & CONN_F_SP_WAIT) {
    let fl = pTcpFlags();
    if (fl & TH_RST) {
      // its sequence number is the server's already (the client's own); SYN_RECV → CLOSE
      connSetState(ci, DIR_OUTPUT, TH_RST);
      return NF_ACCEPT;
    }
    // the client's ACK again, or its zero-window probe (seq one less, tcp_xmit_probe_skb), for
    // this cookie: the server has not answered, the SYN goes again (DPVS retransmits it on a
    // timer, syn_retry; here the client's own retransmissions and probes pace it)
    let th = pL4();
    if ((fl & (TH_SYN | TH_FIN | TH_ACK)) == TH_ACK && pL4Len() == (<u32>load<u8>(th, 12) >> 4) << 2 &&
        ld32be(th + 8) - 1 == load<u32>(connSpPtr(ci), SP_SEQ)) {
      // the probe's seq is the ISN itself: tried first, as the ISN off by one moves the cookie's
      // MSS index by one (a repeated ACK read as a probe gets the next lower MSS, never a higher)
      let seq = ld32be(th + 4);
      let isn = seq;
      let o = cookieOpts(isn);
      if (o == 0) { isn = seq - 1; o = cookieOpts(isn); }
      if (o != 0) { serverSyn(o, isn); cntInc(CNT_SP_SYN_RESENT); return NF_ACCEPT; }
    }
    setDrop(CNT_SP_WAIT_DROP);
    return NF_DROP;
  }
  xlateIn(ci);
  return NF_ACCEPT;
}

/**
 * A server segment on a synproxy conn (handle_response, before the rewrite): its SYN-ACK ends
 * the handshake (dp_vs_synproxy_synack_rcv), a RST is passed on, anything else dropped while
 * waiting; then every segment is translated.
 */
export function synproxyOut(ci: u32): i32 {
  let cp = connPtr(ci);
  if (load<u16>(cp, CONN_FLAGS) & CONN_F_SP_WAIT) {
    let fl = pTcpFlags();
    if ((fl & (TH_SYN | TH_ACK | TH_RST)) == (TH_SYN | TH_ACK)) {
      serverSynAck(ci);
      return NF_ACCEPT;
    }
    if (!(fl & TH_RST)) { setDrop(CNT_SP_RS_DROP); return NF_DROP; }
    // refused: the RST reaches the client at the sequence number it expects (cookie ISN + 1)
    let sp = connSpPtr(ci);
    store<u32>(sp, load<u32>(sp, SP_SEQ) + 1 - ld32be(pL4() + 4), SP_SEQ);
    store<u32>(sp, 0, SP_TS);
    store<u8>(sp, 0, SP_WS);
    store<u16>(cp, load<u16>(cp, CONN_FLAGS) & ~CONN_F_SP_WAIT, CONN_FLAGS);
    cntInc(CNT_SP_RS_RESET);
  }
  xlateOut(ci);
  return NF_ACCEPT;
}

/**
 * An ICMP error from the client's side quoting one of the server's segments (ip_vs_in_icmp): its
 * quoted sequence number back in the server's space, so that the server's tcp_v4_err /
 * tcp_v6_err finds it in its window (a path MTU toward the client is then learned). The other
 * way needs nothing: the client's sequence numbers are not translated. The ICMP checksum is
 * recomputed by the xmit after this.
 */
export function synproxyIcmpIn(ci: u32): void {
  if (iProto() != IPPROTO_TCP || (load<u16>(connPtr(ci), CONN_FLAGS) & CONN_F_SP_WAIT)) return;
  let q = iL4();
  if (q + 8 > pL3() + pLen()) return;
  st32be(q + 4, ld32be(q + 4) - load<u32>(connSpPtr(ci), SP_SEQ));
}

/**
 * The server's SYN-ACK: the deltas, the ACK that completes the server's handshake (queued behind
 * this packet), and this packet turned into the window update that opens the client's window
 * (DPVS's syn_proxy_send_window_update); the conn is ESTABLISHED.
 */
function serverSynAck(ci: u32): void {
  let cp = connPtr(ci);
  let sp = connSpPtr(ci);
  let th = pL4();
  let rsIsn = ld32be(th + 4), ackNo = ld32be(th + 8);
  let cookieIsn = load<u32>(sp, SP_SEQ);
  let o = optParse(th);
  let ts = tsAt(th);
  let rsTs: u32 = 0, ourTs: u32 = 0;
  if (ts != 0) { rsTs = ld32be(ts); ourTs = ld32be(ts + 4); }
  let rsWs: u32 = optWs(o) == TS_OPT_WSCALE_MASK ? 0 : optWs(o);
  let vs = <u32>load<u8>(sp, SP_WS) >> 4;
  let win = <u32>load<u16>(sp, SP_WIN);
  let delta = cookieIsn - rsIsn;
  store<u32>(sp, delta, SP_SEQ);
  store<u32>(sp, ts != 0 ? rsTs - ourTs : 0, SP_TS);
  store<u8>(sp, <u8>((vs << 4) | rsWs), SP_WS);
  let cf = load<u16>(cp, CONN_FLAGS) & ~CONN_F_SP_WAIT;
  // FULLNAT: the server's SYN-ACK went by (fnat_seq.fdata_seq), client ACKs carry TOA until it sends
  if (load<u8>(cp, CONN_FWD) == IP_VS_CONN_F_FULLNAT) cf = (cf | CONN_F_FNAT_SYNACK) & ~CONN_F_FNAT_RSDATA;
  store<u16>(cp, cf, CONN_FLAGS);
  ackToServer(cp, th, ackNo, rsIsn + 1, win, ts != 0, ourTs, rsTs);
  // the window update, in the server's terms (xlateOut is not run on it): no SYN, seq + 1, the
  // options but the timestamps turned into NOPs, the unscaled SYN-ACK window in the client's scale
  let synWin = ld16be(th + 14) >> vs;
  st32be(th + 4, cookieIsn + 1);
  store<u8>(th + 13, TH_ACK);
  st16be(th + 14, synWin > 0xffff ? 0xffff : synWin);
  let p = th + 20, end = th + ((<u32>load<u8>(th, 12) >> 4) << 2);
  for (let sz: u32 = 0; p < end; p += sz) {
    sz = tcpOptSize(p, end);
    if (sz == 0) break;
    let kind = load<u8>(p);
    if (kind == TCPOPT_NOP) continue;
    if (kind == TCPOPT_TIMESTAMP && sz == 10) st32be(p + 2, ourTs);   // rsTs - (rsTs - ourTs)
    else memory.fill(p, TCPOPT_NOP, sz);
  }
  // a SYN-ACK with data (TCP Fast Open) would need it held for the client: not offered, cut off
  let doff = (<u32>load<u8>(th, 12) >> 4) << 2;
  if (pL4Len() > doff) {
    iphResize(<i32>doff - <i32>pL4Len());
    if (pAf() == AF_INET) { st16be(pL3() + 2, pLen()); ipv4SendCheck(pL3(), pHdrLen()); }
    else st16be(pL3() + 4, pLen() - 40);
    setOut(outStart(), <u32>(pL3() - outStart()) + pLen());
  }
  tcpCsumFull(th);
  noOffload();
  connSetState(ci, DIR_INPUT, TH_ACK);            // SYN_RECV → ESTABLISHED, as the kernel on the client's ACK
  cntInc(CNT_SP_ESTABLISHED);
}

/**
 * The ACK to the server's SYN-ACK, in the server's terms (the current packet reversed: from the
 * client's address, or FULLNAT's local one, to the server): seq = its ack, ack = its ISN + 1, the
 * client's window, FULLNAT's TOA option (its socket reads the client's address from this ACK),
 * timestamps (TSval = ours, at least the server's ts_recent; TSecr = its TSval). Queued to go
 * out after the current packet (neigh.ts l2Queue; on a TAP to the server's next hop).
 */
function ackToServer(cp: usize, th: usize, seq: u32, ack: u32, win: u32, ts: bool, tsval: u32, tsecr: u32): void {
  let v4 = pAf() == AF_INET;
  let l2: u32 = linkType == 1 ? 14 : 0;
  let f = SCRATCH;
  let ip = f + l2;
  let hl: u32 = v4 ? 20 : 40;
  let nth = ip + hl;
  let q = nth + 20;
  if (load<u8>(cp, CONN_FWD) == IP_VS_CONN_F_FULLNAT && !(load<u32>(CTL, CTL_FLAGS) & SET_NO_TOA)) {
    let tl = v4 ? TCPOLEN_IP4_TOA : TCPOLEN_IP6_TOA;
    store<u8>(q, TCPOPT_TOA); store<u8>(q, <u8>tl, 1);
    store<u16>(q, load<u16>(cp, CONN_CPORT), 2);
    if (v4) store<u32>(q, load<u32>(cp, CONN_CADDR + 12), 4); else addrCopy(q + 4, cp + CONN_CADDR);
    q += tl;
  }
  if (ts) {
    store<u8>(q, TCPOPT_NOP); store<u8>(q, TCPOPT_NOP, 1); store<u8>(q, TCPOPT_TIMESTAMP, 2); store<u8>(q, 10, 3);
    st32be(q + 4, tsval); st32be(q + 8, tsecr);
    q += 12;
  }
  let tlen = <u32>(q - nth);
  store<u16>(nth, load<u16>(th, 2)); store<u16>(nth, load<u16>(th), 2);
  st32be(nth + 4, seq); st32be(nth + 8, ack);
  store<u8>(nth + 12, <u8>(tlen << 2)); store<u8>(nth + 13, TH_ACK);
  st16be(nth + 14, win);
  store<u32>(nth + 16, 0);                        // checksum, urgent pointer
  if (v4) {
    store<u8>(ip, 0x45); store<u8>(ip, 0, 1);
    st16be(ip + 2, hl + tlen);
    st16be(ip + 4, ipIdentNext());
    st16be(ip + 6, 0x4000);
    store<u8>(ip, 64, 8); store<u8>(ip, IPPROTO_TCP, 9);
    store<u32>(ip, load<u32>(pktDaddr(), 12), 12);
    store<u32>(ip, load<u32>(pktSaddr(), 12), 16);
    ipv4SendCheck(ip, 20);
  } else {
    st32be(ip, 0x60000000);
    st16be(ip + 4, tlen);
    store<u8>(ip, IPPROTO_TCP, 6); store<u8>(ip, 64, 7);
    addrCopy(ip + 8, pktDaddr());
    addrCopy(ip + 24, pktSaddr());
  }
  store<u16>(nth + 16, l4CsumFull(pAf(), pktDaddr(), pktSaddr(), IPPROTO_TCP, nth, tlen));
  if (l2 != 0) st16be(f + 12, v4 ? 0x0800 : 0x86dd);
  wLock();   // the hold queue is the director's (shared.ts)
  let queued = l2Queue(f, l2 + hl + tlen, 0, 0, nextHop(pktSaddr()));
  wUnlock();
  if (queued == 0) cntInc(CNT_SP_ACK_NO_ROOM);
}
