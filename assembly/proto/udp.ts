// UDP for IPVS (ip_vs_proto_udp.c): one state, NORMAL, whose timeout every packet renews.
import { CTL, CTL_UDP_TIMEOUTS } from "../layout";

@inline export const UDP_S_NORMAL: u8 = 0;
@inline export const UDP_S_LAST: u8 = 1;

export function udpInitTimeouts(): void {
  store<u32>(CTL + CTL_UDP_TIMEOUTS, 5 * 60 * 1000);   // udp_timeouts[IP_VS_UDP_S_NORMAL] = 5*60*HZ
}
@inline export function udpTimeout(): u32 { return load<u32>(CTL + CTL_UDP_TIMEOUTS); }
export function udpSetTimeout(ms: u32): void { store<u32>(CTL + CTL_UDP_TIMEOUTS, ms); }

export function udpStateName(state: u8): string {
  return state == UDP_S_NORMAL ? "UDP" : "ERR!";
}
