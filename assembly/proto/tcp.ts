// TCP for IPVS (ip_vs_proto_tcp.c): the state table as data, per-state timeouts, and which
// states count as active connections (tcp_state_active_table, Linux ≥ 4.x).
import { CTL, CTL_TCP_TIMEOUTS, CTL_FLAGS } from "../layout";
import { SET_SECURE_TCP } from "../defs";
import { TH_SYN, TH_FIN, TH_ACK, TH_RST } from "../packet/iph";

// ---- TCP options (RFC 9293 §3.2; tcp_parse_options in net/ipv4/tcp_input.c) ----------------------
@inline export const TCPOPT_EOL: u8 = 0;
@inline export const TCPOPT_NOP: u8 = 1;
@inline export const TCPOPT_MSS: u8 = 2;
@inline export const TCPOPT_WINDOW: u8 = 3;
@inline export const TCPOPT_SACK_PERM: u8 = 4;
@inline export const TCPOPT_SACK: u8 = 5;
@inline export const TCPOPT_TIMESTAMP: u8 = 8;

/**
 * The size of the TCP option at p (the options end at end): 1 for a NOP, its length byte for
 * any other; 0 at EOL, and where an option is silly (length < 2) or runs past the end — where
 * tcp_parse_options stops too. Walk: `for (p, sz; p < end; p += sz) { sz = tcpOptSize(p, end);
 * if (sz == 0) break; ... }`.
 */
@inline export function tcpOptSize(p: usize, end: usize): u32 {
  let kind = load<u8>(p);
  if (kind == TCPOPT_EOL) return 0;
  if (kind == TCPOPT_NOP) return 1;
  if (p + 2 > end) return 0;
  let sz = <u32>load<u8>(p, 1);
  return sz < 2 || p + sz > end ? 0 : sz;
}

// enum ip_vs_tcp_states
@inline export const TCP_S_NONE: u8 = 0;
@inline export const TCP_S_ESTABLISHED: u8 = 1;
@inline export const TCP_S_SYN_SENT: u8 = 2;
@inline export const TCP_S_SYN_RECV: u8 = 3;
@inline export const TCP_S_FIN_WAIT: u8 = 4;
@inline export const TCP_S_TIME_WAIT: u8 = 5;
@inline export const TCP_S_CLOSE: u8 = 6;
@inline export const TCP_S_CLOSE_WAIT: u8 = 7;
@inline export const TCP_S_LAST_ACK: u8 = 8;
@inline export const TCP_S_LISTEN: u8 = 9;
@inline export const TCP_S_SYNACK: u8 = 10;
@inline export const TCP_S_LAST: u8 = 11;

// IP_VS_DIR_*
@inline export const DIR_INPUT: u32 = 0;
@inline export const DIR_OUTPUT: u32 = 1;
@inline export const DIR_INPUT_ONLY: u32 = 2;

// aliases as in the kernel's table
@inline const sNO: u8 = 0; @inline const sES: u8 = 1; @inline const sSS: u8 = 2; @inline const sSR: u8 = 3;
@inline const sFW: u8 = 4; @inline const sTW: u8 = 5; @inline const sCL: u8 = 6; @inline const sCW: u8 = 7;
@inline const sLA: u8 = 8; @inline const sLI: u8 = 9; @inline const sSA: u8 = 10;

// tcp_states[]: 3 blocks (INPUT, OUTPUT, INPUT-ONLY) × rows syn/fin/ack/rst × 11 current states.
const TCP_STATES = memory.data<u8>([
/*      INPUT                                                                */
/*        sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA              */
/*syn*/   sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR,
/*fin*/   sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW,
/*ack*/   sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES,
/*rst*/   sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR,
/*      OUTPUT                                                               */
/*        sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA              */
/*syn*/   sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR,
/*fin*/   sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW,
/*ack*/   sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES,
/*rst*/   sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL,
/*      INPUT-ONLY                                                           */
/*        sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA              */
/*syn*/   sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR,
/*fin*/   sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW,
/*ack*/   sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES,
/*rst*/   sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL,
]);

// tcp_states_dos[]: swapped in by secure_tcp (tcp_timeout_change)
const TCP_STATES_DOS = memory.data<u8>([
/*      INPUT                                                                */
/*syn*/   sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSA,
/*fin*/   sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sSA,
/*ack*/   sES, sES, sSS, sSR, sFW, sTW, sCL, sCW, sCL, sLI, sSA,
/*rst*/   sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL,
/*      OUTPUT                                                               */
/*syn*/   sSS, sES, sSS, sSA, sSS, sSS, sSS, sSS, sSS, sLI, sSA,
/*fin*/   sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW,
/*ack*/   sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES,
/*rst*/   sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL,
/*      INPUT-ONLY                                                           */
/*syn*/   sSA, sES, sES, sSR, sSA, sSA, sSA, sSA, sSA, sSA, sSA,
/*fin*/   sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW,
/*ack*/   sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES,
/*rst*/   sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL,
]);

// tcp_state_active_table[]: which states count in a dest's activeconns
const TCP_STATE_ACTIVE = memory.data<u8>([0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1]);

// tcp_timeouts[], seconds (copied into CTL as ms at init; ipvsadm --set changes them)
const TCP_TIMEOUTS_S = memory.data<u32>([2, 15 * 60, 2 * 60, 60, 2 * 60, 2 * 60, 10, 60, 30, 2 * 60, 120]);

export function tcpInitTimeouts(): void {
  for (let s: u32 = 0; s < TCP_S_LAST; s++) {
    store<u32>(CTL + CTL_TCP_TIMEOUTS + (s << 2), load<u32>(TCP_TIMEOUTS_S + (s << 2)) * 1000);
  }
}
@inline export function tcpTimeout(state: u8): u32 {
  return load<u32>(CTL + CTL_TCP_TIMEOUTS + (<usize>state << 2));
}
export function tcpSetTimeout(state: u8, ms: u32): void {
  store<u32>(CTL + CTL_TCP_TIMEOUTS + (<usize>state << 2), ms);
}
@inline export function tcpStateActive(state: u8): bool {
  return state < TCP_S_LAST && load<u8>(TCP_STATE_ACTIVE + state) != 0;
}

/** tcp_state_idx: RST beats SYN beats FIN beats ACK; -1 when none is set. */
@inline function tcpStateIdx(flags: u8): i32 {
  if (flags & TH_RST) return 3;
  if (flags & TH_SYN) return 0;
  if (flags & TH_FIN) return 1;
  if (flags & TH_ACK) return 2;
  return -1;
}

/** The next state for a packet with `flags` seen in table block `dir` (set_tcp_state). */
export function tcpNextState(dir: u32, state: u8, flags: u8): u8 {
  let idx = tcpStateIdx(flags);
  if (idx < 0) return TCP_S_CLOSE;               // no flag: the kernel's default new_state
  if (state >= TCP_S_LAST) return TCP_S_CLOSE;
  let table = (load<u32>(CTL, CTL_FLAGS) & SET_SECURE_TCP) ? TCP_STATES_DOS : TCP_STATES;
  return load<u8>(table + dir * 44 + <u32>idx * 11 + state);
}

export function tcpStateName(state: u8): string {
  switch (state) {
    case 0: return "NONE";
    case 1: return "ESTABLISHED";
    case 2: return "SYN_SENT";
    case 3: return "SYN_RECV";
    case 4: return "FIN_WAIT";
    case 5: return "TIME_WAIT";
    case 6: return "CLOSE";
    case 7: return "CLOSE_WAIT";
    case 8: return "LAST_ACK";
    case 9: return "LISTEN";
    case 10: return "SYNACK";
  }
  return "ERR!";
}
