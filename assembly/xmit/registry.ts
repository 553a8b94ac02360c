// Forwarding methods (ip_vs_xmit.c), bound once per conn as ip_vs_bind_xmit does: the conn
// stores its method (CONN_FWD) at creation and every packet dispatches on it here.
// Each returns a netfilter verdict: NF_STOLEN after it set the slot's verdict and output.
import { NF_DROP, NF_ACCEPT, IP_VS_CONN_F_MASQ, IP_VS_CONN_F_DROUTE, IP_VS_CONN_F_TUNNEL, IP_VS_CONN_F_FULLNAT, CNT_DROP } from "../defs";
import { fnatXmit, fnatIcmpXmit, fnatResponse, fnatIcmpResponse } from "./fullnat";
import { drXmit } from "./dr";
import { tunnelXmit } from "./tunnel";
import { connPtr, CONN_FWD } from "../layout";
import { setDrop } from "../pkt";
import * as nat from "./nat";

/** Methods this build can forward with (others are refused when a dest is configured). */
export function xmitSupported(fwd: u8): bool {
  return fwd == IP_VS_CONN_F_MASQ || fwd == IP_VS_CONN_F_DROUTE || fwd == IP_VS_CONN_F_TUNNEL || fwd == IP_VS_CONN_F_FULLNAT;
}

/** cp->packet_xmit: client→real server. */
export function xmitIn(ci: u32): i32 { return xmitInInline(ci, connPtr(ci)); }

/** xmitIn, inlined where every established packet goes out (core.ts ipvsInHook); cp: conn ci's record. */
@inline export function xmitInInline(ci: u32, cp: usize): i32 {
  switch (load<u8>(cp, CONN_FWD)) {
    case IP_VS_CONN_F_MASQ: return nat.natXmit(cp);
    case IP_VS_CONN_F_DROUTE: return drXmit(ci);
    case IP_VS_CONN_F_TUNNEL: return tunnelXmit(ci);
    case IP_VS_CONN_F_FULLNAT: return fnatXmit(ci);
  }
  setDrop(CNT_DROP);
  return NF_DROP;
}

/** ip_vs_icmp_xmit: an ICMP error from the client about one of our conns, to its real server. */
export function xmitIcmpIn(ci: u32): i32 {
  switch (load<u8>(connPtr(ci), CONN_FWD)) {
    case IP_VS_CONN_F_MASQ: return nat.natIcmpXmit(ci);
    // ip_vs_icmp_xmit: not NAT — the error goes to the real server the conn's way, untranslated
    case IP_VS_CONN_F_DROUTE: return drXmit(ci);
    case IP_VS_CONN_F_TUNNEL: return tunnelXmit(ci);
    case IP_VS_CONN_F_FULLNAT: return fnatIcmpXmit(ci);
  }
  setDrop(CNT_DROP);
  return NF_DROP;
}

/**
 * DPVS's packet_out_xmit: a real server's reply, rewritten for the client (NF_ACCEPT: it goes
 * on through FORWARD). Only NAT and FULLNAT conns see replies; others pass unchanged.
 */
export function xmitOut(ci: u32): i32 {
  switch (load<u8>(connPtr(ci), CONN_FWD)) {
    case IP_VS_CONN_F_MASQ: return nat.natResponse(ci);
    case IP_VS_CONN_F_FULLNAT: return fnatResponse(ci);
  }
  return NF_ACCEPT;
}

/** Does this conn's method translate replies (and ICMP errors about them)? */
@inline export function xmitTranslatesOut(fwd: u8): bool {
  return fwd == IP_VS_CONN_F_MASQ || fwd == IP_VS_CONN_F_FULLNAT;
}

/** handle_response_icmp: an error from the real server's side about a NAT/FULLNAT conn. */
export function xmitIcmpOut(ci: u32): i32 {
  switch (load<u8>(connPtr(ci), CONN_FWD)) {
    case IP_VS_CONN_F_MASQ: return nat.natIcmpResponse(ci);
    case IP_VS_CONN_F_FULLNAT: return fnatIcmpResponse(ci);
  }
  return NF_ACCEPT;
}
