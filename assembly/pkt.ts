// What the hooks of one packet share while it goes through the engine (skb state):
// where the frame now starts and ends, the verdict for its slot, and why it was dropped.
import { V_DROP } from "./defs";

export let slotStart: usize = 0;     // first byte of the slot (headroom begins here)
export let outStart: usize = 0;      // first byte of the frame to send
export let outLen: u32 = 0;
export let verdict: u8 = V_DROP;
export let dropReason: u32 = 0;      // CNT_* of the drop, 0 = none yet
export let ipvsProperty: bool = false;   // skb->ipvs_property: produced/handled by IPVS
export let pktConn: u32 = 0;         // the conn this packet belongs to (0 = none)
export let pktMark: u32 = 0;         // skb->mark: set by a MARK hook, selects fwmark services
// skb_dst: the output was routed (output.ts routeTo) to the next hop in CTL_NEXTHOP; the
// neighbour layer (and fragmentation) takes it after POST_ROUTING, as ip_finish_output does
export let routed: bool = false;
export let routeL2Len: u32 = 0;      // bytes of L2 header before the IP packet in the output
export let routeFrag: bool = false;  // it may be fragmented to the path MTU (tunnels)
// IPCB(skb)->frag_max_size: the packet is a datagram reassembled from fragments (packet/defrag.ts),
// the largest of which had this size (0: it came whole); reasmNfrags: how many it came in, their
// data lengths in FRAG_GEOM. Kept across pktReset (the reassembled datagram is reset after them).
export let reasmMaxSize: u32 = 0;
export let reasmNfrags: u32 = 0;
export let routeGso: bool = false;   // a tunnel super-packet: cut into TCP segments at output (xmit/gso.ts)

export function pktReset(slot: usize, start: usize, len: u32): void {
  slotStart = slot; outStart = start; outLen = len;
  verdict = V_DROP; dropReason = 0; ipvsProperty = false; pktConn = 0; pktMark = 0; routed = false; routeGso = false;
}
@inline export function setOut(start: usize, len: u32): void { outStart = start; outLen = len; }
@inline export function setVerdict(v: u8): void { verdict = v; }
@inline export function setRoute(l2len: u32, frag: bool): void { routed = true; routeL2Len = l2len; routeFrag = frag; }
@inline export function setRouteGso(): void { routeGso = true; }
@inline export function setDrop(reason: u32): void { if (dropReason == 0) dropReason = reason; }
@inline export function setIpvsProperty(): void { ipvsProperty = true; }
@inline export function setPktConn(c: u32): void { pktConn = c; }
@inline export function setPktMark(m: u32): void { pktMark = m; }
@inline export function setReasm(maxSize: u32, nfrags: u32): void { reasmMaxSize = maxSize; reasmNfrags = nfrags; }
