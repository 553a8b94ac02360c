// What the hooks of one packet share while it goes through the engine (skb state): where the
// frame now starts and ends, the verdict for its slot, and why it was dropped. The fields live
// in this worker's packet record (layout.ts PKT_*), next to the parse (packet/iph.ts); these
// @inline accessors are the one way to reach them.
import {
  PKT, PKT_CONN, PKT_DROP_REASON, PKT_IPVS_PROPERTY, PKT_MARK, PKT_OUT_LEN, PKT_OUT_START, PKT_REASM_MAX,
  PKT_REASM_NFRAGS, PKT_ROUTED, PKT_ROUTE_FRAG, PKT_ROUTE_GSO, PKT_ROUTE_L2LEN, PKT_SLOT_START, PKT_VERDICT,
  PKT_NEXTHOP,
} from "./layout";
import { V_DROP } from "./defs";

@inline export function slotStart(): usize { return load<usize>(PKT, PKT_SLOT_START); }  // first byte of the slot (headroom begins here)
@inline export function outStart(): usize { return load<usize>(PKT, PKT_OUT_START); }  // first byte of the frame to send
@inline export function outLen(): u32 { return load<u32>(PKT, PKT_OUT_LEN); }
@inline export function verdict(): u8 { return load<u8>(PKT, PKT_VERDICT); }
@inline export function dropReason(): u32 { return load<u32>(PKT, PKT_DROP_REASON); }  // CNT_* of the drop, 0 = none yet
@inline export function ipvsProperty(): bool { return load<u8>(PKT, PKT_IPVS_PROPERTY) != 0; }  // skb->ipvs_property: produced/handled by IPVS
@inline export function pktConn(): u32 { return load<u32>(PKT, PKT_CONN); }  // the conn this packet belongs to (0 = none)
@inline export function pktMark(): u32 { return load<u32>(PKT, PKT_MARK); }  // skb->mark: set by a MARK hook, selects fwmark services
// skb_dst: the output was routed (output.ts routeTo) to the next hop in PKT_NEXTHOP; the
// neighbour layer (and fragmentation) takes it after POST_ROUTING, as ip_finish_output does
@inline export function routed(): bool { return load<u8>(PKT, PKT_ROUTED) != 0; }
@inline export function routeL2Len(): u32 { return load<u32>(PKT, PKT_ROUTE_L2LEN); }  // bytes of L2 header before the IP packet in the output
@inline export function routeFrag(): bool { return load<u8>(PKT, PKT_ROUTE_FRAG) != 0; }  // it may be fragmented to the path MTU (tunnels)
// IPCB(skb)->frag_max_size: the packet is a datagram reassembled from fragments (packet/defrag.ts),
// the largest of which had this size (0: it came whole); reasmNfrags: how many it came in, their
// data lengths in FRAG_GEOM. Kept across pktReset (the reassembled datagram is reset after them).
@inline export function reasmMaxSize(): u32 { return load<u32>(PKT, PKT_REASM_MAX); }
@inline export function reasmNfrags(): u32 { return load<u32>(PKT, PKT_REASM_NFRAGS); }
@inline export function routeGso(): bool { return load<u8>(PKT, PKT_ROUTE_GSO) != 0; }  // a tunnel super-packet: cut into TCP segments at output (xmit/gso.ts)

/**
 * A new packet's state. Neighbours stored together (layout.ts keeps them so): PKT_DROP_REASON
 * and PKT_CONN as one u64 of zeros, PKT_VERDICT (V_DROP), PKT_IPVS_PROPERTY, PKT_ROUTED and
 * PKT_ROUTE_FRAG as one u32.
 */
export function pktReset(slot: usize, start: usize, len: u32): void {
  let pkt = PKT;   // read once: V8 reloads a wasm global at every use
  store<usize>(pkt, slot, PKT_SLOT_START); store<usize>(pkt, start, PKT_OUT_START); store<u32>(pkt, len, PKT_OUT_LEN);
  store<u64>(pkt, 0, PKT_DROP_REASON);                       // + PKT_CONN
  store<u32>(pkt, 0, PKT_MARK);
  store<u32>(pkt, <u32>V_DROP, PKT_VERDICT);                 // + PKT_IPVS_PROPERTY, PKT_ROUTED, PKT_ROUTE_FRAG: 0
  store<u8>(pkt, 0, PKT_ROUTE_GSO);
}
@inline export function setOut(start: usize, len: u32): void { store<usize>(PKT, start, PKT_OUT_START); store<u32>(PKT, len, PKT_OUT_LEN); }
@inline export function setVerdict(v: u8): void { store<u8>(PKT, v, PKT_VERDICT); }
@inline export function setRoute(l2len: u32, frag: bool): void { store<u8>(PKT, 1, PKT_ROUTED); store<u32>(PKT, l2len, PKT_ROUTE_L2LEN); store<u8>(PKT, <u8>frag, PKT_ROUTE_FRAG); }
@inline export function setRouteGso(): void { store<u8>(PKT, 1, PKT_ROUTE_GSO); }
@inline export function setDrop(reason: u32): void { if (dropReason() == 0) store<u32>(PKT, reason, PKT_DROP_REASON); }
@inline export function setIpvsProperty(): void { store<u8>(PKT, 1, PKT_IPVS_PROPERTY); }
@inline export function setPktConn(c: u32): void { store<u32>(PKT, c, PKT_CONN); }
@inline export function setPktMark(m: u32): void { store<u32>(PKT, m, PKT_MARK); }
@inline export function setReasm(maxSize: u32, nfrags: u32): void { store<u32>(PKT, maxSize, PKT_REASM_MAX); store<u32>(PKT, nfrags, PKT_REASM_NFRAGS); }
