// SCTP for IPVS (ip_vs_proto_sctp.c, Linux 6.x): the chunk type → event map (sctp_events[]),
// the 3-D state table [direction][event][state] (sctp_states[]), per-state timeouts, state
// names as the kernel lists them, and the CRC32c (RFC 4960 appendix B, RFC 3309) that NAT
// must recompute: unlike the Internet checksum it cannot be updated incrementally.
import { ld16be } from "../packet/bytes";
import { CTL, CTL_SCTP_TIMEOUTS } from "../layout";

// enum ip_vs_sctp_states (include/net/ip_vs.h)
@inline export const SCTP_S_NONE: u8 = 0;
@inline export const SCTP_S_INIT1: u8 = 1;
@inline export const SCTP_S_INIT: u8 = 2;
@inline export const SCTP_S_COOKIE_SENT: u8 = 3;
@inline export const SCTP_S_COOKIE_REPLIED: u8 = 4;
@inline export const SCTP_S_COOKIE_WAIT: u8 = 5;
@inline export const SCTP_S_COOKIE: u8 = 6;
@inline export const SCTP_S_COOKIE_ECHOED: u8 = 7;
@inline export const SCTP_S_ESTABLISHED: u8 = 8;
@inline export const SCTP_S_SHUTDOWN_SENT: u8 = 9;
@inline export const SCTP_S_SHUTDOWN_RECEIVED: u8 = 10;
@inline export const SCTP_S_SHUTDOWN_ACK_SENT: u8 = 11;
@inline export const SCTP_S_REJECTED: u8 = 12;
@inline export const SCTP_S_CLOSED: u8 = 13;
@inline export const SCTP_S_LAST: u8 = 14;

// enum ipvs_sctp_event_t
@inline export const SCTP_EV_DATA: u8 = 0;            // DATA, SACK, HEARTBEATs, ECN, unknown
@inline export const SCTP_EV_INIT: u8 = 1;
@inline export const SCTP_EV_INIT_ACK: u8 = 2;
@inline export const SCTP_EV_COOKIE_ECHO: u8 = 3;
@inline export const SCTP_EV_COOKIE_ACK: u8 = 4;
@inline export const SCTP_EV_SHUTDOWN: u8 = 5;
@inline export const SCTP_EV_SHUTDOWN_ACK: u8 = 6;
@inline export const SCTP_EV_SHUTDOWN_COMPLETE: u8 = 7;
@inline export const SCTP_EV_ERROR: u8 = 8;
@inline export const SCTP_EV_ABORT: u8 = 9;
@inline export const SCTP_EV_LAST: u8 = 10;

// chunk types (RFC 4960 §3.2)
@inline export const SCTP_CID_INIT: u8 = 1;
@inline export const SCTP_CID_ABORT: u8 = 6;
@inline export const SCTP_CID_COOKIE_ECHO: u8 = 10;
@inline export const SCTP_CID_COOKIE_ACK: u8 = 11;

// sctp_events[]: chunk type 0..14 → event; any other type counts as DATA
const SCTP_EVENTS = memory.data<u8>([
  /* 0 DATA */ 0, /* 1 INIT */ 1, /* 2 INIT_ACK */ 2, /* 3 SACK */ 0, /* 4 HEARTBEAT */ 0,
  /* 5 HEARTBEAT_ACK */ 0, /* 6 ABORT */ 9, /* 7 SHUTDOWN */ 5, /* 8 SHUTDOWN_ACK */ 6, /* 9 ERROR */ 8,
  /* 10 COOKIE_ECHO */ 3, /* 11 COOKIE_ACK */ 4, /* 12 ECN_ECNE */ 0, /* 13 ECN_CWR */ 0,
  /* 14 SHUTDOWN_COMPLETE */ 7,
]);

// aliases as in the kernel's table
@inline const sNO: u8 = 0; @inline const sI1: u8 = 1; @inline const sIN: u8 = 2; @inline const sCS: u8 = 3;
@inline const sCR: u8 = 4; @inline const sCW: u8 = 5; @inline const sCO: u8 = 6; @inline const sCE: u8 = 7;
@inline const sES: u8 = 8; @inline const sSS: u8 = 9; @inline const sSR: u8 = 10; @inline const sSA: u8 = 11;
@inline const sRJ: u8 = 12; @inline const sCL: u8 = 13;

// sctp_states[IP_VS_DIR_LAST][IP_VS_SCTP_EVENT_LAST][IP_VS_SCTP_S_LAST]
const SCTP_STATES = memory.data<u8>([
/*      INPUT                                                                        */
/*        sNO, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL       */
/* d   */ sES, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL,
/* i   */ sI1, sIN, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sIN, sIN,
/* i_a */ sCW, sCW, sCW, sCS, sCR, sCO, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL,
/* c_e */ sCR, sIN, sIN, sCR, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL,
/* c_a */ sES, sI1, sIN, sCS, sCR, sCW, sCO, sES, sES, sSS, sSR, sSA, sRJ, sCL,
/* s   */ sSR, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sSR, sSS, sSR, sSA, sRJ, sCL,
/* s_a */ sCL, sIN, sIN, sCS, sCR, sCW, sCO, sCE, sES, sCL, sSR, sCL, sRJ, sCL,
/* s_c */ sCL, sCL, sCL, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sCL, sRJ, sCL,
/* err */ sCL, sI1, sIN, sCS, sCR, sCW, sCO, sCL, sES, sSS, sSR, sSA, sRJ, sCL,
/* ab  */ sCL, sCL, sCL, sCL, sCL, sRJ, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL,
/*      OUTPUT                                                                       */
/*        sNO, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL       */
/* d   */ sES, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL,
/* i   */ sCW, sCW, sCW, sCW, sCW, sCW, sCW, sCW, sES, sCW, sCW, sCW, sCW, sCW,
/* i_a */ sCS, sCS, sCS, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL,
/* c_e */ sCE, sCE, sCE, sCE, sCE, sCE, sCE, sCE, sES, sSS, sSR, sSA, sRJ, sCL,
/* c_a */ sES, sES, sES, sES, sES, sES, sES, sES, sES, sSS, sSR, sSA, sRJ, sCL,
/* s   */ sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSR, sSA, sRJ, sCL,
/* s_a */ sSA, sSA, sSA, sSA, sSA, sCW, sCO, sCE, sES, sSA, sSA, sSA, sRJ, sCL,
/* s_c */ sCL, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL,
/* err */ sCL, sCL, sCL, sCL, sCL, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL,
/* ab  */ sCL, sRJ, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL,
/*      INPUT-ONLY                                                                   */
/*        sNO, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL       */
/* d   */ sES, sI1, sIN, sCS, sCR, sES, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL,
/* i   */ sI1, sIN, sIN, sIN, sIN, sIN, sCO, sCE, sES, sSS, sSR, sSA, sIN, sIN,
/* i_a */ sCE, sCE, sCE, sCE, sCE, sCE, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL,
/* c_e */ sES, sES, sES, sES, sES, sES, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL,
/* c_a */ sES, sI1, sIN, sES, sES, sCW, sES, sES, sES, sSS, sSR, sSA, sRJ, sCL,
/* s   */ sSR, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sSR, sSS, sSR, sSA, sRJ, sCL,
/* s_a */ sCL, sIN, sIN, sCS, sCR, sCW, sCO, sCE, sCL, sCL, sSR, sCL, sRJ, sCL,
/* s_c */ sCL, sCL, sCL, sCL, sCL, sCW, sCO, sCE, sES, sSS, sCL, sCL, sRJ, sCL,
/* err */ sCL, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL,
/* ab  */ sCL, sCL, sCL, sCL, sCL, sRJ, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL,
]);

// sctp_timeouts[], seconds (IP_VS_SCTP_MAX_RTO = 61 s); copied into CTL as ms at init
const SCTP_TIMEOUTS_S = memory.data<u32>([2, 4, 61, 61, 61, 61, 61, 61, 15 * 60, 61, 61, 61, 4, 61]);

export function sctpInitTimeouts(): void {
  for (let s: u32 = 0; s < SCTP_S_LAST; s++) {
    store<u32>(CTL + CTL_SCTP_TIMEOUTS + (s << 2), load<u32>(SCTP_TIMEOUTS_S + (s << 2)) * 1000);
  }
}
@inline export function sctpTimeout(state: u8): u32 {
  return state < SCTP_S_LAST ? load<u32>(CTL + CTL_SCTP_TIMEOUTS + (<usize>state << 2)) : 2000;
}
export function sctpSetTimeout(state: u8, ms: u32): void {
  store<u32>(CTL + CTL_SCTP_TIMEOUTS + (<usize>state << 2), ms);
}

/** sctp_events[]: the event of a chunk type (types the table does not name count as DATA). */
@inline export function sctpEventOf(chunkType: u8): u8 {
  return chunkType < 15 ? load<u8>(SCTP_EVENTS + chunkType) : SCTP_EV_DATA;
}

/**
 * The event of the packet at `l4` (len bytes, chunks already validated) as set_sctp_state
 * sees it: the first chunk, except that a COOKIE ECHO / COOKIE ACK bundled with an ABORT right
 * after it is the ABORT.
 */
export function sctpEvent(l4: usize, len: u32): u8 {
  let t = load<u8>(l4, 12);
  if (t == SCTP_CID_COOKIE_ECHO || t == SCTP_CID_COOKIE_ACK) {
    let clen = ld16be(l4 + 14);
    if (clen >= 4) {
      let next: u32 = 12 + ((clen + 3) & ~3);
      if (next + 4 <= len && load<u8>(l4 + next) == SCTP_CID_ABORT) t = SCTP_CID_ABORT;
    }
  }
  return sctpEventOf(t);
}

/** The next state for `event` seen in table block `dir` (0 INPUT, 1 OUTPUT, 2 INPUT-ONLY). */
export function sctpNextState(dir: u32, state: u8, event: u8): u8 {
  if (state >= SCTP_S_LAST || event >= SCTP_EV_LAST || dir > 2) return SCTP_S_CLOSED;
  return load<u8>(SCTP_STATES + dir * (<u32>SCTP_EV_LAST * <u32>SCTP_S_LAST) + <u32>event * <u32>SCTP_S_LAST + state);
}

/** sctp_state_name_table[] */
export function sctpStateName(state: u8): string {
  switch (state) {
    case 0: return "NONE";
    case 1: return "INIT1";
    case 2: return "INIT";
    case 3: return "C-SENT";
    case 4: return "C-REPLIED";
    case 5: return "C-WAIT";
    case 6: return "COOKIE";
    case 7: return "C-ECHOED";
    case 8: return "ESTABLISHED";
    case 9: return "S-SENT";
    case 10: return "S-RECEIVED";
    case 11: return "S-ACK-SENT";
    case 12: return "REJECTED";
    case 13: return "CLOSED";
  }
  return "ERR!";
}

/**
 * Walk the chunks after the 12-byte common header: at least one, each length ≥ 4 and inside
 * the packet (the last chunk's padding may be left out, RFC 4960 §3.2). False: lengths lie.
 */
export function sctpChunksOk(l4: usize, len: u32): bool {
  let off: u32 = 12;
  if (len < off + 4) return false;
  while (off < len) {
    if (off + 4 > len) return false;
    let clen = ld16be(l4 + off + 2);
    if (clen < 4 || clen > len - off) return false;
    off += (clen + 3) & ~3;
  }
  return true;
}

// ---- CRC32c (Castagnoli, reflected polynomial 0x82F63B78), table driven ----------------------
const CRC32C_TABLE = memory.data(1024, 16);
let crcReady = false;

function crc32cInit(): void {
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c & 1) ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    store<u32>(CRC32C_TABLE + (i << 2), c);
  }
  crcReady = true;
}

/** CRC32c of `len` bytes at p, continuing from `crc` (start with 0xffffffff; final value ~crc). */
export function crc32cUpdate(crc: u32, p: usize, len: u32): u32 {
  if (!crcReady) crc32cInit();
  let end = p + len;
  while (p < end) {
    crc = load<u32>(CRC32C_TABLE + (((crc ^ <u32>load<u8>(p)) & 0xff) << 2)) ^ (crc >>> 8);
    p++;
  }
  return crc;
}

/**
 * sctp_compute_cksum: the CRC32c of the SCTP packet at l4 (len bytes) with its checksum field
 * taken as zero. The value goes on the wire little-endian, as Linux stores it (cpu_to_le32).
 */
export function sctpCsum(l4: usize, len: u32): u32 {
  let c = crc32cUpdate(0xffffffff, l4, 8);
  c = crc32cUpdate(c, CRC32C_ZERO, 4);
  c = crc32cUpdate(c, l4 + 12, len - 12);
  return ~c;
}
const CRC32C_ZERO = memory.data<u32>([0]);

/** Recompute and store the checksum (sctp_nat_csum). */
export function sctpNatCsum(l4: usize, len: u32): void {
  store<u32>(l4 + 8, sctpCsum(l4, len));
}

/** Is the stored checksum right? (sctp_csum_check) */
export function sctpCsumOk(l4: usize, len: u32): bool {
  return load<u32>(l4 + 8) == sctpCsum(l4, len);
}
