// The engine's memory map. Every region is placed by init() from the start-up configuration;
// nothing is allocated on the packet path (the stub runtime never frees, so any `new` there
// would leak for good). Records cross-reference each other by index, never by pointer, so
// the tables that grow (services, dests, scheduler areas, conns) can be moved: grow() runs
// between batches (never inside process()), memory.grow()s, and moves each growing region up
// to its new base, highest first (layoutGrow below).
//
//  base ─┬─ CTL       control block: call arguments (addresses), settings       4 KiB     ┐
//        ├─ GSTATS    global conns/pkts/bytes (STATS_SIZE)                                 │
//        ├─ SVC_TAB   SVC_TAB_SIZE u32 bucket heads (vaddr, vport) / fwmark: service lookup │
//        ├─ VIP_TAB   SVC_TAB_SIZE u32 bucket heads (vaddr): "is this a VIP?" (route.ts)   │ shared:
//        ├─ DEST_TAB  DEST_TAB_SIZE u32 bucket heads of live dests (svc, daddr, dport)    │ every worker
//        ├─ HOOKS     HOOK_MAX hook entries                                               │ reads them,
//        ├─ PARTS     per conn partition: its words (WCTL_*) and timer wheel              │ the control
//        ├─ NEIGH, HOLD_META, HOLD   neighbour table and the frames waiting for it (TAP)  │ plane writes
//        ├─ LADDR     LADDR_MAX+1 FULLNAT local addresses (index 0 = none)                │
//        ├─ FRAGQ, FRAG_TAB, FRAG_CHUNK_META, FRAG_CHUNKS   reassembly queues (defrag.ts) │
//        ├─ SYNC_BUF  SYNC_BUF_SIZE bytes: the sync master's finished messages (sync.ts)  │
//        ├─ HOPEN     HOPEN_SLOTS half-open conns per conn partition, oldest first (defense.ts) │
//        ├─ SP_POOL   SP_SLOTS SYN proxy delta entries per conn partition (synproxy.ts)    ┘
//        ├─ PKT       PKT_SIZE: the packet being processed (the skb + ip_vs_iphdr)        ┐ per worker:
//        ├─ COUNTERS  named counters, u64 each (defs.ts CNT_*), summed over workers on read │
//        ├─ SLOT_META slotCount × SLOT_META_SIZE per-slot offset/len/verdict              │ a group each,
//        ├─ SLOTS     slotCount × slotSize frame slots (headroom in front)                │ each region
//        ├─ SCRATCH   SCRATCH_SIZE bytes: listings read by the host; a GSO segment (output.ts); │ on its own
//        │            the batch's deferred out-key inserts (SCRATCH_OUTQ, conn/table.ts)           │
//        ├─ FRAG_GEOM u32 per fragment of the datagram being sent (output.ts)             │ 64-byte lines
//        ├─ REASM     the reassembled datagram being processed (headroom + 64 KiB)        ┘
//        ├─ RINGS     workers² redirect rings between workers (worker.ts; none with one)
//        │  ── fixed above (the host's slot views never move); growing below (shared) ──
//        ├─ SVC       svcMax+1 service records (index 0 = none)
//        ├─ DEST      destMax+1 dest records (index 0 = none)
//        ├─ SCHED     svcMax+1 small scheduler areas, SCHED_SMALL_SIZE bytes each
//        ├─ SCHED_BIG bigMax big scheduler areas (mh, lblc, lblcr), SCHED_AREA_SIZE each,
//        │            given to a service when it binds such a scheduler (SVC_SCHED_BIG)
//        ├─ CONN      connMax+1 conn records' hot parts (index 0 = none), CONN_SIZE (64) each
//        ├─ CONN_COLD ... and their cold parts, CONN_COLD_SIZE (48) each
//        └─ CONN_IDX  per conn partition: connIdxBuckets 64-byte buckets (the conn index, in and
//                     out keys together), then connOvfBuckets overflow buckets (0: the pool's header)
//                     ≤ 16 bytes of index per conn: 112 + 16 = 128 bytes per conn in all
// The single-worker build (release/debug.wasm) keeps CTL, and its one PKT, in static data
// instead (constants there: V8 reloads a mutable global at every use); mt.wasm as drawn.
// Workers (worker.ts, docs/workers.md) each have their own group (the control thread's instance
// one more); the code reaches it through the PKT / SLOT_META / SLOTS / SCRATCH / REASM bases only.

// ---- sizes that do not depend on the configuration -------------------------------------
@inline export const CTL_SIZE: u32 = 4096;
@inline export const CNT_MAX: u32 = 128;
@inline export const STATS_SIZE: u32 = 96;
@inline export const SVC_TAB_BITS: u32 = 12;
@inline export const SVC_TAB_SIZE: u32 = 1 << SVC_TAB_BITS;
/** Live dests hash on (svc, daddr, dport): ip_vs_lookup_dest without walking a service's list. */
@inline export const DEST_TAB_SIZE: u32 = 65536;
/** The big per-service scheduler area (mh's lookup table, lblc/lblcr's caches). */
@inline export const SCHED_AREA_SIZE: u32 = 32768;
/** The small one every service has (dh/sh's 256 u16 buckets, rr/wrr's cursors). */
@inline export const SCHED_SMALL_SIZE: u32 = 512;
/** Hard ceilings: conns, mh and lblc/lblcr tables hold svc and dest indices as u16. */
@inline export const SVC_LIMIT: u32 = 65535;
@inline export const DEST_LIMIT: u32 = 65535;
/** 2^24 conns: 2 GiB of conn records and index, half of a 32-bit wasm memory (an index slot
 *  holds a conn index in 25 bits, conn/table.ts). */
@inline export const CONN_LIMIT: u32 = 1 << 24;
@inline export const HOOK_MAX: u32 = 32;
@inline export const WHEEL_BITS: u32 = 12;
@inline export const WHEEL_SLOTS: u32 = 1 << WHEEL_BITS;
/** Timer-wheel granularity: 2^10 ms, about one second, like IPVS's seconds-level timeouts. */
@inline export const WHEEL_SHIFT: u32 = 10;
@inline export const SCRATCH_SIZE: u32 = 1 << 20;
// The last 4 KiB of SCRATCH: a batch group's deferred out-key inserts (conn/table.ts connOutDefer):
// 0 count u32 | 4 the partition's CONN_OVF u32 (0: not deferring) | 16 + 8 k: bucket u32, entry u32.
@inline export const SCRATCH_OUTQ: u32 = SCRATCH_SIZE - 4096;
@inline export const OUTQ_MAX: u32 = 500;
// The half-open ring (defense.ts): conns a SYN created, oldest first, each as its index and a
// fingerprint of its client (8 bytes); 65,536 entries = 512 KiB, whatever the table size.
@inline export const HOPEN_SLOTS: u32 = 1 << 16;
@inline export const HOPEN_ENTRY: u32 = 8;

// ---- the packet record (PKT, per worker) ---------------------------------------------------
// The packet being processed, as the kernel passes an skb and its ip_vs_iphdr (Katran: struct
// packet_description): one record per worker, reached one way — load/store at PKT + PKT_*,
// through the @inline accessors of packet/iph.ts (the parse: ip_vs_iphdr) and pkt.ts (what
// the hooks decide: the skb's verdict, output, route). Nothing else on the packet path keeps
// per-packet state in module globals or in the shared control block . Ten cache lines. PKT is
// the worker group's record with several workers (mt.wasm), a static record with one (a constant).
@inline export const PKT_SADDR: u32 = 0;            // 16 bytes: source address (16-byte form)
@inline export const PKT_DADDR: u32 = 16;           // 16 bytes: destination address
@inline export const PKT_I_SADDR: u32 = 32;         // 16 bytes: the packet quoted by an ICMP error: its source
@inline export const PKT_I_DADDR: u32 = 48;         // 16 bytes: ... and its destination
// ip_vs_iphdr: the parse (packet/iph.ts); pointers are wasm addresses (usize = u32)
@inline export const PKT_FRAME: u32 = 64;           // usize: frame start (link header, if any)
@inline export const PKT_FRAME_LEN: u32 = 68;       // u32
@inline export const PKT_L3: u32 = 72;              // usize: IP header
@inline export const PKT_LEN: u32 = 76;             // u32: IP datagram length (total length; padding trimmed)
@inline export const PKT_HDR_LEN: u32 = 80;         // u32: IP header length with IPv6 extension headers
@inline export const PKT_L4: u32 = 84;              // usize: transport header
@inline export const PKT_L4_LEN: u32 = 88;          // u32
@inline export const PKT_VNET: u32 = 92;            // usize: the virtio-net header in front (offloads), 0: none
@inline export const PKT_GSO_SIZE: u32 = 96;        // u32: a super-packet's gso_size (the MSS)
@inline export const PKT_SPORT: u32 = 100;          // u16, wire order (parseL4: one u32 with PKT_DPORT)
@inline export const PKT_DPORT: u32 = 102;          // u16, wire order
@inline export const PKT_AF: u32 = 104;             // u8: AF_INET / AF_INET6
@inline export const PKT_PROTO: u32 = 105;          // u8: transport protocol after extension headers
@inline export const PKT_TCP_FLAGS: u32 = 106;      // u8
@inline export const PKT_ICMP_TYPE: u32 = 107;      // u8
@inline export const PKT_ICMP_CODE: u32 = 108;      // u8
@inline export const PKT_CSUM_PARTIAL: u32 = 109;   // u8 bool: VIRTIO_NET_HDR_F_NEEDS_CSUM (CHECKSUM_PARTIAL)
@inline export const PKT_GSO: u32 = 110;            // u8 bool: a TCP super-packet (gso_type TCPV4/TCPV6)
@inline export const PKT_FRAGMENT: u32 = 111;       // u8 bool: an IPv6 first fragment going on unreassembled
@inline export const PKT_GSO_V4: u32 = 112;         // u8 bool: gso_type TCPV4 (else TCPV6)
@inline export const PKT_EXT_PROTO: u32 = 113;      // u8: the last IPv6 extension-header walk: the protocol after them
@inline export const PKT_EXT_OFF: u32 = 116;        // u32: ... and where it starts
@inline export const PKT_EXT_FRAG_OFF: u32 = 120;   // u32: ... a Fragment header met: where it is
@inline export const PKT_EXT_FRAG_NH_OFF: u32 = 124; // u32: ... and the next-header byte naming it
// the packet quoted inside an ICMP error (RFC 792, RFC 4443 §2.4(c))
@inline export const PKT_I_L3: u32 = 128;           // usize
@inline export const PKT_I_HDR_LEN: u32 = 132;      // u32
@inline export const PKT_I_L4: u32 = 136;           // usize
@inline export const PKT_I_SPORT: u32 = 140;        // u16, wire order
@inline export const PKT_I_DPORT: u32 = 142;        // u16, wire order
@inline export const PKT_I_AF: u32 = 144;           // u8
@inline export const PKT_I_PROTO: u32 = 145;        // u8
// the skb's state while the hooks run (pkt.ts)
@inline export const PKT_SLOT_START: u32 = 148;     // usize: first byte of the slot (headroom begins here)
@inline export const PKT_OUT_START: u32 = 152;      // usize: first byte of the frame to send
@inline export const PKT_OUT_LEN: u32 = 156;        // u32
@inline export const PKT_DROP_REASON: u32 = 160;    // u32: CNT_* of the drop, 0 = none yet
@inline export const PKT_CONN: u32 = 164;           // u32: the conn this packet belongs to (0 = none); after PKT_DROP_REASON (pktReset: one u64)
@inline export const PKT_MARK: u32 = 168;           // u32: skb->mark (a MARK hook; selects fwmark services)
@inline export const PKT_ROUTE_L2LEN: u32 = 172;    // u32: bytes of L2 header before the IP packet in the output
@inline export const PKT_REASM_MAX: u32 = 176;      // u32: IPCB(skb)->frag_max_size (0: it came whole)
@inline export const PKT_REASM_NFRAGS: u32 = 180;   // u32: how many fragments it came in (FRAG_GEOM)
@inline export const PKT_VERDICT: u32 = 184;        // u8: V_* for the slot (pktReset: one u32 with the next three)
@inline export const PKT_IPVS_PROPERTY: u32 = 185;  // u8 bool: skb->ipvs_property
@inline export const PKT_ROUTED: u32 = 186;         // u8 bool: skb_dst set (output.ts routeTo)
@inline export const PKT_ROUTE_FRAG: u32 = 187;     // u8 bool: it may be fragmented to the path MTU (tunnels)
@inline export const PKT_ROUTE_GSO: u32 = 188;      // u8 bool: a tunnel super-packet, cut into segments at output
// what one step of the path leaves for the next (module globals before issue 14)
@inline export const PKT_CONN_NEW_FAIL: u32 = 192;  // u32: why the last connNew returned 0 (conn/conn.ts)
@inline export const PKT_HOOK_REPEATS: u32 = 196;   // u32: REPEAT calls of the current hook entry (hooks.ts)
@inline export const PKT_DEFRAG_REASON: u32 = 200;  // u32: the drop reason of the last defragIn (packet/defrag.ts)
@inline export const PKT_REASM_FRAME: u32 = 204;    // usize: the reassembled datagram's frame in REASM
@inline export const PKT_REASM_LEN: u32 = 208;      // u32: ... and its length
@inline export const PKT_REASM_SLOT: u32 = 212;     // usize: the slot whose fragment completed it (batch.ts; 0: none)
@inline export const PKT_PERSIST_DEST: u32 = 216;   // u32: the dest of the last schedPersist (persist.ts)
@inline export const PKT_PERSIST_FULL: u32 = 220;   // u8 bool: why it returned 0: no conn could be made
// xmit/gso.ts: a tunnel super-packet being cut into segments (the inner packet, the encapsulation)
@inline export const PKT_GSO_MSS: u32 = 224;        // u32: payload bytes per segment
@inline export const PKT_GSO_SEGS: u32 = 228;       // u32: segments
@inline export const PKT_GSO_PAY_TOTAL: u32 = 232;  // u32: payload bytes of the whole
@inline export const PKT_GSO_IHL: u32 = 236;        // u32: inner IP header, extension headers included
@inline export const PKT_GSO_THL: u32 = 240;        // u32: TCP header, options included
@inline export const PKT_GSO_SEQ0: u32 = 244;       // u32: the first segment's sequence number
@inline export const PKT_GSO_ID0: u32 = 248;        // u32: the inner IPv4 identification
@inline export const PKT_GSO_L2: u32 = 252;         // u32: L2 header length of the frame
@inline export const PKT_GSO_OHL: u32 = 256;        // u32: outer IP header length
@inline export const PKT_GSO_EHL: u32 = 260;        // u32: encapsulation header length (GUE/GRE)
@inline export const PKT_GSO_OID0: u32 = 264;       // u32: the outer IPv4 identification
@inline export const PKT_GSO_TPL_LEN: u32 = 268;    // u32: bytes of headers in PKT_GSO_TPL
@inline export const PKT_GSO_PAY_BASE: u32 = 272;   // usize: the payload of the whole, in the slot
@inline export const PKT_GSO_V4IN: u32 = 276;       // u8 bool: the inner packet is IPv4
@inline export const PKT_GSO_FLAGS0: u32 = 277;     // u8: the TCP flags of the whole
@inline export const PKT_GSO_ENC: u32 = 278;        // u8: TUN_IPIP 0 / GUE 1 / GRE 2
@inline export const PKT_GSO_ENC_CSUM: u32 = 279;   // u8 bool: the encapsulation carries a checksum
@inline export const PKT_GSO_V4OUT: u32 = 280;      // u8 bool: the outer packet is IPv4
// scratch the packet path writes (in the control block before issue 14)
@inline export const PKT_NEXTHOP: u32 = 288;        // 16 bytes: the routed packet's next hop (output.ts routeTo)
@inline export const PKT_ETH_SAVE: u32 = 304;       // 16 bytes: the request's Ethernet MACs, saved before an
                                                    // ICMP error is built over them in the headroom
@inline export const PKT_TPL_CADDR: u32 = 320;      // 16 bytes: persistence: the client address masked by the netmask
@inline export const PKT_TPL_VADDR: u32 = 336;      // 16 bytes: persistence: the vaddr of a template (fwmark as an address)
@inline export const PKT_NEIGH_TMP: u32 = 352;      // 32 bytes: ARP addresses in the 16-byte form (neigh.ts)
@inline export const PKT_GSO_TPL: u32 = 384;        // GSO_TPL_MAX bytes: a super-packet's headers, copied before segment 0 is cut in place
@inline export const PKT_OWNER_ADDR: u32 = 640;    // 16 bytes: worker.ts ownerOfIp: daddr in the 16-byte form
@inline export const PKT_LOCK_DEPTH: u32 = 656;    // u32: this instance holds the director's lock this many times (shared.ts wLock)
@inline export const PKT_REDIR_N: u32 = 660;       // u32: slots 0..n-1 of the batch came from the redirect rings (counted rx where they were read)
@inline export const PKT_CONN_HINT: u32 = 664;     // usize: the batch stage's guess at the packet's conn (conn/table.ts connStage), 0: none
@inline export const PKT_STAGED: u32 = 668;        // u32 bool: the current batch group went through the records' stage: its slots' conn words hold hints
@inline export const PKT_SIZE: u32 = 704;

// ---- control block (CTL) -----------------------------------------------------------------
// Arguments too wide for a wasm call (IPv6 addresses) are written here by the host.
@inline export const CTL_ADDR0: u32 = 0;     // 16 bytes: vaddr / first address argument
@inline export const CTL_ADDR1: u32 = 16;    // 16 bytes: daddr / second address argument
@inline export const CTL_ADDR2: u32 = 32;    // 16 bytes: third address argument
// settings (u32 each)
@inline export const CTL_TIMEOUT_TCP: u32 = 64;     // unused slot kept for the ipvsadm --set triple
@inline export const CTL_FLAGS: u32 = 68;           // SET_* engine flags
@inline export const CTL_HASH_SEED: u32 = 72;
@inline export const CTL_CLOCK_BASE: u32 = 80;      // f64: nowMs of the first call, engine clock 0
@inline export const CTL_NOW: u32 = 88;             // u32 engine clock (ms since CLOCK_BASE)
// 92..103: free (the wheel cursor, free-list head and conn count moved to each conn partition, WCTL_*)
@inline export const CTL_HOOK_COUNT: u32 = 104;
@inline export const CTL_CLOCK_SET: u32 = 108;      // u32 0 until the first nowMs arrives
@inline export const CTL_SCHED_RNG: u32 = 112;      // u32 xorshift state of twos (0: seed from CTL_HASH_SEED)
@inline export const CTL_TCP_TIMEOUTS: u32 = 128;   // u32 × TCP_S_LAST, ms
@inline export const CTL_UDP_TIMEOUTS: u32 = 192;   // u32 × UDP_S_LAST, ms
@inline export const CTL_ICMP_TIMEOUTS: u32 = 208;
@inline export const CTL_DIRECTOR_ADDR: u32 = 224;  // 16 bytes: source of ICMP errors on the out path
// workers (worker.ts, docs/workers.md): shared words every worker reads
@inline export const CTL_LADDR_LIVE: u32 = 256;     // u32 FULLNAT local addresses in use (0: the owner function skips the lookup)
// the layout's inputs, so that another instance over the same memory places every region where
// this one did (layoutAttach); rewritten by every layoutGrow
@inline export const CTL_LAY_SVC: u32 = 260;        // u32 svcMax
@inline export const CTL_LAY_DEST: u32 = 264;       // u32 destMax
@inline export const CTL_LAY_CONN: u32 = 268;       // u32 connMax
@inline export const CTL_LAY_BIG: u32 = 272;        // u32 bigMax
@inline export const CTL_LAY_SLOTS: u32 = 276;      // u32 slots per worker
@inline export const CTL_LAY_SLOT_SIZE: u32 = 280;  // u32
@inline export const CTL_LAY_HEADROOM: u32 = 284;   // u32
@inline export const CTL_LAY_LINK: u32 = 288;       // u32 linkType | vnet << 1
@inline export const CTL_LAY_WORKERS: u32 = 292;    // u32 workers
@inline export const CTL_LOCK: u32 = 296;           // u32 the director's lock (worker.ts wLock): 0 free, else holder + 1
@inline export const CTL_PAUSE: u32 = 300;          // u32 the host's barrier: 1 while the control thread changes the configuration
@inline export const CTL_EPOCH: u32 = 304;          // u32 +1 on every layoutGrow: workers attach again when it moved
/** u32: the batch stages (batch.ts), a bench knob: low byte 0 auto (buckets and records from
 *  STAGE_MIN_CONNS conns on, by STAGE_GROUP frames), 1 none, 2 buckets only, 3 buckets and
 *  records; bits 8..: frames per group (0: the whole batch, or STAGE_GROUP in auto). */
@inline export const CTL_CONN_STAGES: u32 = 308;
@inline export const CTL_HOOK_FIRST: u32 = 312;   // u8 × NF_INET_NUMHOOKS: each hook point's first entry (hooks.ts)
@inline export const CTL_SP_SECRET: u32 = 320;    // 2 × 16 bytes: the SYN proxy's SipHash keys (synproxy.ts), random at start
@inline export const CTL_NULLSVC_COUNT: u32 = 352;  // u32 services with port 0 (ipvs->nullsvc_counter)
@inline export const CTL_FWM_COUNT: u32 = 356;      // u32 fwmark services (ipvs->fwm_services)
@inline export const CTL_ZERO_ADDR: u32 = 360;      // 16 bytes scratch: the address fwmark services hash under
// the director on its Ethernet link (TAP): neighbour resolution, ARP / neighbour advertisements
@inline export const CTL_LINK_MAC: u32 = 376;       // 6 bytes: the director's MAC (source of every frame it sends)
@inline export const CTL_LINK_IP4: u32 = 384;       // 16 bytes: the director's IPv4 address on the link (0: none)
@inline export const CTL_LINK_IP6: u32 = 400;       // 16 bytes: its IPv6 address (0: the EUI-64 link-local)
@inline export const CTL_TUN_MTU: u32 = 416;        // u32: MTU of the path to real servers (tunnels: PMTU), 1500
@inline export const CTL_NEIGH_REACHABLE: u32 = 420; // u32 ms a confirmed neighbour stays REACHABLE (30 s)
@inline export const CTL_HOLD_COUNT: u32 = 424;     // u32 frames in the hold queue (waiting or ready)
// 432: free (CTL_NEIGH_TMP moved to the packet record, PKT_NEIGH_TMP)
// 464: free (CTL_ETH_SAVE moved to the packet record, PKT_ETH_SAVE)
// FULLNAT (laddr.ts): the local port range conns are given (DPVS sa_pool), host order
@inline export const CTL_FNAT_PORT_MIN: u32 = 480;  // u32, default 1025
@inline export const CTL_FNAT_PORT_MAX: u32 = 484;  // u32, default 65535
@inline export const CTL_IP_IDENT: u32 = 488;     // u32: the last IP identification given (ip_select_ident)
@inline export const CTL_SCTP_TIMEOUTS: u32 = 512;  // u32 × SCTP_S_LAST (14), ms
// The TAP link's routing (output.ts nextHop): the director's prefix on the link and its gateway
@inline export const CTL_LINK_GW4: u32 = 576;       // 16 bytes: IPv4 gateway on the link (0: none)
@inline export const CTL_LINK_GW6: u32 = 592;       // 16 bytes: IPv6 gateway on the link (0: none)
@inline export const CTL_LINK_PLEN4: u32 = 608;     // u32: prefix length of CTL_LINK_IP4 in the 128-bit form (0: all on-link)
@inline export const CTL_LINK_PLEN6: u32 = 612;     // u32: prefix length of CTL_LINK_IP6 (0: all on-link)
// 620: free (CTL_NEXTHOP moved to the packet record, PKT_NEXTHOP)
@inline export const CTL_HOLD_UNRES: u32 = 616;     // u32 frames in the hold queue waiting for a next hop (INCOMPLETE)
// table limits (ctl.ts): where the next free record is searched from, the dest trash list, the pool
// of big scheduler areas, and which table refused the last add (E_NOSPC; 1 svc, 2 dest, 3 sched)
@inline export const CTL_SVC_FREE_HINT: u32 = 640;  // u32: no free service record below this index
@inline export const CTL_DEST_FREE_HINT: u32 = 644; // u32: no free dest record below this index
@inline export const CTL_DEST_TRASH: u32 = 648;     // u32: head of the dest trash list (DEST_NEXT / DEST_TRASH_PREV)
@inline export const CTL_BIG_FREE: u32 = 652;       // u32: head of the free big scheduler areas (first word links)
@inline export const CTL_BIG_USED: u32 = 656;       // u32: big areas handed out from the top of the pool so far
@inline export const CTL_FULL_TABLE: u32 = 660;     // u32: the table behind the last E_NOSPC
// the sync daemon (sync.ts, ip_vs_sync.c): the master's state and the net.ipv4.vs.sync_* sysctls,
// and the send buffer's cursors over SYNC_BUF: finished messages [0, BUF_DONE), then the open one
@inline export const CTL_SYNC_MASTER: u32 = 672;    // u32: 1 while a master daemon runs
@inline export const CTL_SYNC_ID: u32 = 676;        // u32: the master's syncid
@inline export const CTL_SYNC_MAXLEN: u32 = 680;    // u32: bytes of a message (--sync-maxlen)
@inline export const CTL_SYNC_VERSION: u32 = 684;   // u32: sync_version (0 or 1)
@inline export const CTL_SYNC_THRESHOLD: u32 = 688; // u32: sync_threshold's first value
@inline export const CTL_SYNC_PERIOD: u32 = 692;    // u32: sync_threshold's period
@inline export const CTL_SYNC_REFRESH: u32 = 696;   // u32: sync_refresh_period, ms
@inline export const CTL_SYNC_RETRIES: u32 = 700;   // u32: sync_retries
@inline export const CTL_SYNC_PERSIST: u32 = 704;   // u32: sync_persist_mode
@inline export const CTL_SYNC_BUF_DONE: u32 = 708;  // u32: bytes of finished messages at SYNC_BUF
@inline export const CTL_SYNC_BUF_OPEN: u32 = 712;  // u32: 1 while a message is being filled at BUF_DONE
@inline export const CTL_SYNC_BUF_FIRST: u32 = 716; // u32: engine ms the open message got its first conn
@inline export const CTL_SYNC_CADDR: u32 = 720;     // 16 bytes: the caddr of the conn being decoded (backup)
// IP fragment reassembly (packet/defrag.ts), per family: index 0 IPv4, 1 IPv6 (u32 each)
@inline export const CTL_FRAG_TIME: u32 = 3072;     // u32 × 2 ms a queue lives: ipfrag_time 30 s / nf_conntrack_frag6_timeout 60 s
@inline export const CTL_FRAG_HIGH: u32 = 3080;     // u32 × 2 bytes: ipfrag_high_thresh / nf_conntrack_frag6_high_thresh (4 MiB)
@inline export const CTL_FRAG_MEM: u32 = 3088;      // u32 × 2 bytes held (chunks × FRAG_CHUNK_SIZE, like skb truesize)
@inline export const CTL_FRAG_CHUNK_FREE: u32 = 3096; // u32 free-chunk list head (1-based, 0 = none)
@inline export const CTL_FRAG_QUEUES: u32 = 3100;   // u32 queues in use
@inline export const CTL_FRAG_NEXT_DUE: u32 = 3104; // u32 engine ms: no queue expires before (tick skips the scan)
// GSO (xmit/gso.ts) and the hold queue's byte arena (neigh.ts), kept high in the block
@inline export const CTL_HOLD_TOP: u32 = 3568;      // u32 bytes of the HOLD arena handed out (bump pointer; 0 when the queue is empty)
@inline export const CTL_HOLD_NEXT: u32 = 3572;     // u32 the next hold entry to take (every one from there on is free)
// 3584: free (CTL_GSO_TPL moved to the packet record, PKT_GSO_TPL)
@inline export const GSO_TPL_MAX: u32 = 256;
// the defense strategies (defense.ts: update_defense_level, ip_vs_todrop, ip_vs_random_dropentry)
@inline export const CTL_DEF_MODE: u32 = 2048;       // u8 × 3: drop_entry, drop_packet, secure_tcp as they read (0-3)
@inline export const CTL_DEF_OLD_SECURE: u32 = 2051; // u8: ipvs->old_secure_tcp
@inline export const CTL_DEF_AMEMTHRESH: u32 = 2052; // i32: amemthresh (pages)
@inline export const CTL_DEF_AM_DROPRATE: u32 = 2056; // i32: am_droprate
@inline export const CTL_DEF_DROP_RATE: u32 = 2060;  // i32: ipvs->drop_rate (0: drop_packet off)
@inline export const CTL_DEF_DROP_COUNTER: u32 = 2064; // i32: ipvs->drop_counter
@inline export const CTL_DEF_LEVEL: u32 = 2068;      // u32: DEF_L_* bits of the last run (dropentry, drop_rate, secure_tcp on)
@inline export const CTL_DEF_LAST_RUN: u32 = 2072;   // u32 engine ms of the last defense run
@inline export const CTL_DEF_RAN: u32 = 2076;        // u32: 1 once the defense ran
@inline export const CTL_DEF_CONN_LIMIT: u32 = 2080; // u32: the conn table's limit (--conn-max): free memory is measured up to it
@inline export const CTL_DEF_RNG: u32 = 2084;        // u32 xorshift state of drop_entry's random scan
@inline export const CTL_DEF_AVAIL: u32 = 2088;      // u32: available memory (pages) at the last run
@inline export const CTL_DEF_TODROP: u32 = 2092;     // i8 × 9: todrop_entry's todrop_counter[] (by in_pkts 0-8)

// ---- conn partition words (WCTL, one block per partition; worker.ts) ------------------------------
// One partition per worker, plus one for persistence templates when there are several workers
// (one partition in all with one worker). Each has its own conn index, free list, count and timer
// wheel, so a worker changes its own conns without a lock (docs/workers.md).
@inline export const WCTL_CONN_FREE: u32 = 0;       // u32 free-list head
@inline export const WCTL_CONN_COUNT: u32 = 4;      // u32 conns in use
@inline export const WCTL_WHEEL_CURSOR: u32 = 8;    // u32 last processed wheel tick
@inline export const WCTL_HOPEN_HEAD: u32 = 12;     // u32: the partition's half-open ring (defense.ts): entries pushed
@inline export const WCTL_HOPEN_TAIL: u32 = 16;     // u32: ... the oldest entry kept
@inline export const WCTL_DEF_LAST_RUN: u32 = 20;   // u32 engine ms of the partition's last drop_entry run
@inline export const WCTL_SP_FREE: u32 = 24;        // u32: the partition's SYN proxy entries: free list head (index + 1, 0: none)
@inline export const WCTL_SP_USED: u32 = 28;        // u32: ... entries handed out at least once (the rest never touched)
@inline export const WCTL_BUSY: u32 = 64;           // u32 the worker is inside a batch (the host's barrier), its own line
@inline export const WCTL_SIZE: u32 = 192;
@inline export const PART_SIZE: u32 = WCTL_SIZE + WHEEL_SLOTS * 4;

// ---- a worker's statistics of the batch (stats.ts): added up per dest, into the shared records
// once per batch (atomic adds) instead of once per packet; direct-mapped by dest index
//  0 dest u32 (0: empty) | 8 inpkts u64 | 16 outpkts u64 | 24 inbytes u64 | 32 outbytes u64
@inline export const SCACHE_ENTRIES: u32 = 32;
@inline export const SCACHE_SIZE: u32 = 40;

// ---- redirect rings (worker.ts): one single-producer / single-consumer ring per worker pair ---------
//  0 head u32 (consumer) | 64 tail u32 (producer) | 128 entries: ringEntries × (4 + slotSize, 64-aligned)
// ringEntries: RING_ENTRIES, fewer (a power of two, at least RING_ENTRIES_MIN) when the N(N-1)
// rings would take more than RING_BYTES (many workers, 64 KiB slots with offloads)
//  entry: 0 len u32 | 4 frame (as read from the device, virtio-net header included)
@inline export const RING_HEAD: u32 = 0;
@inline export const RING_TAIL: u32 = 64;
@inline export const RING_DATA: u32 = 128;
@inline export const RING_ENTRIES: u32 = 64;
@inline export const RING_ENTRIES_MIN: u32 = 4;
@inline export const RING_BYTES: usize = 64 << 20;

// ---- statistics block (ip_vs_stats) ---------------------------------------------------------
//  0 conns u64 | 8 inpkts u64 | 16 outpkts u64 | 24 inbytes u64 | 32 outbytes u64 |
//  40..95 rate estimator state (ip_vs_est; filled by the stats issue)
@inline export const ST_CONNS: u32 = 0;
@inline export const ST_INPKTS: u32 = 8;
@inline export const ST_OUTPKTS: u32 = 16;
@inline export const ST_INBYTES: u32 = 24;
@inline export const ST_OUTBYTES: u32 = 32;
@inline export const ST_EST: u32 = 40;

// ---- service record (ip_vs_service) --------------------------------------------------------
//  0 used u8 | 1 af u8 | 2 proto u8 | 3 sched u8 | 4 flags u32 | 8 vaddr[16] | 24 vport u16 (wire order)
//  26 numDests u16 | 28 destHead u32 | 32 fwmark u32 | 36 timeout u32 (s) | 40 netmask u32
//  44 nextHash u32 | 48 laddrHead u16 | 50 numLaddrs u16 | 52 laddrCurr u16 (FULLNAT) | 54 trashRefs u16
//  56 schedBig u16 | 58 schedBound u8 | 60 nextVip u32 | 64 stats[STATS_SIZE]
@inline export const SVC_USED: u32 = 0;
@inline export const SVC_AF: u32 = 1;
@inline export const SVC_PROTO: u32 = 2;
@inline export const SVC_SCHED: u32 = 3;
@inline export const SVC_FLAGS: u32 = 4;
@inline export const SVC_VADDR: u32 = 8;
@inline export const SVC_VPORT: u32 = 24;
@inline export const SVC_NUM_DESTS: u32 = 26;
@inline export const SVC_DEST_HEAD: u32 = 28;
@inline export const SVC_FWMARK: u32 = 32;
@inline export const SVC_TIMEOUT: u32 = 36;
@inline export const SVC_NETMASK: u32 = 40;
@inline export const SVC_NEXT_HASH: u32 = 44;
// FULLNAT local addresses of the service (svc->laddr_list, num_laddrs, laddr_curr): LADDR indices
@inline export const SVC_LADDR_HEAD: u32 = 48;
@inline export const SVC_LADDR_NUM: u32 = 50;
@inline export const SVC_LADDR_CURR: u32 = 52;
/** u16: dests in the trash still bound to this service: the record is not reused until 0 (dest->svc). */
@inline export const SVC_TRASH_REFS: u32 = 54;
/** u16: the SCHED_BIG area of the service (1-based), 0: it uses its small area. */
@inline export const SVC_SCHED_BIG: u32 = 56;
/** u8: the scheduler's init_service ran (ip_vs_bind_scheduler). */
@inline export const SVC_SCHED_BOUND: u32 = 58;
/** u32: the next service in the same VIP_TAB bucket (chained by address alone). */
@inline export const SVC_NEXT_VIP: u32 = 60;
@inline export const SVC_STATS: u32 = 64;
@inline export const SVC_SIZE: u32 = SVC_STATS + STATS_SIZE;

// ---- dest record (ip_vs_dest) --------------------------------------------------------------
//  0 used u8 (1 live, 2 in trash) | 1 af u8 | 2 fwd u8 | 3 flags u8 (DEST_F_*) | 4 addr[16]
//  20 port u16 (wire) | 22 pad | 24 weight i32 | 28 uthresh u32 | 32 lthresh u32
//  36 activeconns u32 | 40 inactconns u32 | 44 persistconns u32 | 48 svc u32 | 52 next u32
//  56 refcnt u32 (conns bound + scheduler holds: lblc/lblcr entries, as ip_vs_dest_hold)
//  60 connFlags u32 | 64 stats[STATS_SIZE] | 160 lastWeight i32 (latest non-0 weight, mh)
//  164 tunnel type, flags, port | 168 trashPrev u32 | 172 hnext u32 (DEST_TAB chain)
@inline export const DEST_USED: u32 = 0;
@inline export const DEST_AF: u32 = 1;
@inline export const DEST_FWD: u32 = 2;
@inline export const DEST_FLAGS: u32 = 3;
@inline export const DEST_ADDR: u32 = 4;
@inline export const DEST_PORT: u32 = 20;
@inline export const DEST_WEIGHT: u32 = 24;
@inline export const DEST_UTHRESH: u32 = 28;
@inline export const DEST_LTHRESH: u32 = 32;
@inline export const DEST_ACTIVE: u32 = 36;
@inline export const DEST_INACTIVE: u32 = 40;
@inline export const DEST_PERSIST: u32 = 44;
@inline export const DEST_SVC: u32 = 48;
@inline export const DEST_NEXT: u32 = 52;
@inline export const DEST_REFCNT: u32 = 56;
@inline export const DEST_CONN_FLAGS: u32 = 60;
@inline export const DEST_STATS: u32 = 64;
@inline export const DEST_LAST_WEIGHT: u32 = DEST_STATS + STATS_SIZE;
// tunnel encapsulation of a -i dest (ip_vs_dest tun_type / tun_port / tun_flags)
@inline export const DEST_TUN_TYPE: u32 = DEST_LAST_WEIGHT + 4;    // u8: 0 ipip, 1 gue, 2 gre (IP_VS_CONN_F_TUNNEL_TYPE_*)
@inline export const DEST_TUN_FLAGS: u32 = DEST_LAST_WEIGHT + 5;   // u8: 1 csum, 2 remcsum (IP_VS_TUNNEL_ENCAP_FLAG_*)
@inline export const DEST_TUN_PORT: u32 = DEST_LAST_WEIGHT + 6;    // u16 wire order: the GUE UDP port
/** u32: the previous dest in the trash list (DEST_NEXT is the next one there once unlinked from its service). */
@inline export const DEST_TRASH_PREV: u32 = DEST_LAST_WEIGHT + 8;
/** u32: the next live dest in the same DEST_TAB bucket. */
@inline export const DEST_HNEXT: u32 = DEST_LAST_WEIGHT + 12;
@inline export const DEST_SIZE: u32 = DEST_LAST_WEIGHT + 16;

// ---- conn record (ip_vs_conn), 112 bytes: a hot part of 64 and a cold part of 48 ---------------
// A client's packet reads and writes 64 bytes of its conn, one cache line (issue 20): the hot
// parts are 64-byte records of their own (CONN, connPtr), 64-byte aligned. Everything else is in
// a parallel array of 48-byte records (CONN_COLD, connCold / coldOf). The daddr is cold: a
// client's packet takes it from its dest (connDaddr, conn/conn.ts), which is cp->daddr for every
// conn bound to one (ip_vs_conn_new takes the dest's address; a sync backup binds a dest only
// with the same address, ip_vs_try_bind_dest). A real server's packet reads both parts (its out
// key starts with the daddr).
//  hot (CONN_SIZE 64)
//  ┌──────────────────────────────────────────────────────┐
//  │ caddr[16]                                            │  0   the in key (caddr:cport → vaddr:vport)
//  │ vaddr[16]                                            │ 16   in the first 40 bytes
//  │ cport vport dport u16 (wire) │ proto u8 │ af u8      │ 32   a lookup compares nothing else (and the template flag)
//  │ flags u16 │ state u8 │ fwd u8 │ expires u32           │ 40   what every packet reads and writes ...
//  │ timeout u32 │ inpkts u32 │ inbytes u48 │ dest u16     │ 48   ... and a client's counters
//  └──────────────────────────────────────────────────────┘ 64
//  cold (CONN_COLD_SIZE 48)
//  ┌──────────────────────────────────────────────────────┐
//  │ daddr[16]                                            │  0   the out key: daddr:dport → caddr:cport (or laddr:lport)
//  │ outpkts u32 │ outbytes u48 │ svc u16                  │ 16   a real server's counters; the service (listings)
//  │ laddr u16 │ lport u16 (FULLNAT) │ control u32        │ 28
//  │ nextTimer u32 │ prevTimer u32 │ sync u32            │ 36   the timer wheel; the sync master's bookkeeping
//  └──────────────────────────────────────────────────────┘ 48
// No hash links: the conn index (CONN_IDX, conn/table.ts) holds the conn's in and out entries
// in 64-byte buckets, ≤ 16 bytes per conn, so a conn costs ≤ 128 bytes with its index. The
// byte counters are 48 bits (2^48 bytes per conn) to keep the sync bookkeeping (the kernel's
// cp->old_state and cp->sync_endtime) inside the record. A free record's nextTimer links
// the free list. FULLNAT keeps its local address as an index into the LADDR table (0: none,
// every other method) and its local port (wire order).
@inline export const CONN_CADDR: u32 = 0;
@inline export const CONN_VADDR: u32 = 16;
@inline export const CONN_CPORT: u32 = 32;
@inline export const CONN_VPORT: u32 = 34;
@inline export const CONN_DPORT: u32 = 36;
@inline export const CONN_PROTO: u32 = 38;
@inline export const CONN_AF: u32 = 39;
@inline export const CONN_FLAGS: u32 = 40;
@inline export const CONN_STATE: u32 = 42;
@inline export const CONN_FWD: u32 = 43;
@inline export const CONN_EXPIRES: u32 = 44;
@inline export const CONN_TIMEOUT: u32 = 48;
@inline export const CONN_INPKTS: u32 = 52;
/** u48 (load connBytes / add connBytesAdd, stats.ts, which read 8 bytes: the dest's u16 after it): bytes from the client. */
@inline export const CONN_INBYTES: u32 = 56;
@inline export const CONN_DEST: u32 = 62;
@inline export const CONN_SIZE: u32 = 64;
/** The cold part: the dest's address (16-byte form). */
@inline export const COLD_DADDR: u32 = 0;
@inline export const COLD_OUTPKTS: u32 = 16;
/** u48: bytes from the real server. */
@inline export const COLD_OUTBYTES: u32 = 20;
@inline export const COLD_SVC: u32 = 26;
/** FULLNAT: LADDR index of the conn's local (source) address, 0 = none (not FULLNAT, or a template). */
@inline export const COLD_LADDR: u32 = 28;
/** FULLNAT: the local port, wire order (with the laddr it replaces caddr:cport in the out key). */
@inline export const COLD_LPORT: u32 = 30;
/**
 * u32 union. A conn: cp->control, the index of the persistence template it belongs to (0 =
 * none). A template (CONN_F_TEMPLATE, which never has a control itself): ct->n_control, how
 * many conns it controls.
 */
@inline export const COLD_CONTROL: u32 = 32;
/** Timer-wheel link (conn/timer.ts); on a free record, the next free record. */
@inline export const COLD_NEXT_TIMER: u32 = 36;
/** Timer-wheel back link: the previous conn, or WHEEL_HEAD | slot when the conn heads its slot. */
@inline export const COLD_PREV_TIMER: u32 = 40;
/** The sync bookkeeping (sync.ts), 4 bytes: csyncPtr(i) + CSYNC_*. */
@inline export const COLD_SYNC: u32 = 44;
@inline export const CONN_COLD_SIZE: u32 = 48;
/** A conn's bytes in all, both parts (its index entries come on top). */
@inline export const CONN_RECORD_BYTES: u32 = CONN_SIZE + CONN_COLD_SIZE;

// ---- conn index (conn/table.ts) ----------------------------------------------------------------
// 64-byte buckets (one cache line): IDX_SLOTS u32 entries, then a u32 link to an overflow
// bucket (1-based in CONN_OVF, 0: none; only a full bucket has one). An entry is
// tag (6 bits of the key's hash, 1 bit direction: 0 in, 1 out) << 25 | conn index (25 bits);
// 0 is an empty entry. Entries are kept packed from slot 0, newest first (as hlist_add_head
// leaves a kernel chain), so one line decides hit or miss and a delete leaves no tombstone.
// CONN_OVF's bucket 0 is the pool's header: 0 free list head u32 | 4 free buckets u32.
@inline export const IDX_BUCKET: u32 = 64;
@inline export const IDX_SLOTS: u32 = 15;
@inline export const IDX_LINK: u32 = 60;
@inline export const OVF_FREE: u32 = 0;
@inline export const OVF_AVAIL: u32 = 4;
/** Main buckets for nConn conns: 15/64 of a bucket per conn (3.5 slots for its 2 entries). */
export function connIdxBucketsFor(nConn: u32): u32 { let b = (nConn * 15) >> 6; return b > 0 ? b : 1; }
/**
 * Overflow buckets (header included): 1/64 of a bucket per conn; with the main ones ≤ 16 B per
 * conn. At least 8 besides the header: a small table has few buckets, and bucket loads vary
 * as much as a large one's, so with one overflow bucket a 64-conn table refused conns long
 * before it was full (test/unit/core/conn-index.test.ts).
 */
export function connOvfBucketsFor(nConn: u32): u32 { let b = nConn >> 6; return b > 9 ? b : 9; }

// ---- sync (sync.ts, ip_vs_sync.c) ---------------------------------------------------------------
// Each conn's sync bookkeeping, at COLD_SYNC in its record's cold part (cp->old_state and cp->sync_endtime in
// the kernel's conn; cp->in_pkts is the conn's CONN_INPKTS), touched only on a sync master.
@inline export const CSYNC_OLD_STATE: u32 = 0;   // u8 the state last synced
@inline export const CSYNC_RETRIES: u32 = 1;     // u8 sync_endtime & 3: resends of the same end time
@inline export const CSYNC_ENDTIME: u32 = 2;     // u16 seconds (engine clock / 1000, mod 2^16): end time last synced
@inline export const CSYNC_SIZE: u32 = 4;
/** The master's send buffer: finished v1 messages one after another, then the one being filled. */
@inline export const SYNC_BUF_SIZE: u32 = 1 << 20;   // ~700 full messages: 20 ms of 1M synced conns/s
@inline export function csyncPtr(connIdx: u32): usize { return connCold(connIdx) + COLD_SYNC; }

// ---- SYN proxy deltas (synproxy.ts, conn/table.ts connSpAlloc) -----------------------------------
// A synproxy conn's 12 bytes (DPVS's cp->syn_proxy_seq and wscale_rs/wscale_vs) are not in the
// 112-byte record every conn pays for, but in a fixed pool per conn partition (SP_SLOTS entries,
// 768 KiB); the conn's sync word (COLD_SYNC) holds its entry's index + 1 — a synproxy conn is never
// synced (the kernel's sync format has no field for the deltas). While the real server's SYN-ACK
// is awaited SEQ holds the cookie ISN and WIN the client's window; then SEQ is the delta (cookie ISN
// - server ISN) added to the server's sequence numbers, TS the timestamp delta (server TSval -
// ours), WS the window shifts. A free entry's SEQ links the free list.
@inline export const SP_SEQ: u32 = 0;       // u32
@inline export const SP_TS: u32 = 4;        // u32
@inline export const SP_WIN: u32 = 8;       // u16 the client's window field (its ACK), for the ACK to the server
@inline export const SP_WS: u32 = 10;       // u8 low nibble: the server's shift, high: the one given the client (0: none)
@inline export const SP_SIZE: u32 = 12;
@inline export const SP_SLOTS: u32 = 1 << 16;

// ---- hook entry ------------------------------------------------------------------------------
//  0 used u8 | 1 point u8 | 2 fn u8 | 3 verdict u8 (for match/verdict hooks) | 4 priority i32
//  8 id u32 | 12 plen u32 | 16 addr[16] | 32 packets u64 | 40 arg u32 (MARK: the mark)
@inline export const HOOK_USED: u32 = 0;
@inline export const HOOK_POINT: u32 = 1;
@inline export const HOOK_FN: u32 = 2;
@inline export const HOOK_VERDICT: u32 = 3;
@inline export const HOOK_PRIORITY: u32 = 4;
@inline export const HOOK_ID: u32 = 8;
@inline export const HOOK_PLEN: u32 = 12;
@inline export const HOOK_ADDR: u32 = 16;
@inline export const HOOK_PACKETS: u32 = 32;
@inline export const HOOK_ARG: u32 = 40;
// MARK hooks (iptables -j MARK): 44 dport lo u16 | 46 dport hi u16 (host order; 0,0 = any)
// | 48 proto u8 (0 = any) | 49 match on the source (1) or destination (0) prefix
@inline export const HOOK_PORT_LO: u32 = 44;
@inline export const HOOK_PORT_HI: u32 = 46;
@inline export const HOOK_PROTO: u32 = 48;
@inline export const HOOK_MATCH_SRC: u32 = 49;
@inline export const HOOK_SIZE: u32 = 64;

// ---- slot meta ------------------------------------------------------------------------------
//  0 off u32 (from slot start) | 4 len u32 | 8 verdict u8 | 9 port u8 | 10 reason u16 | 12 conn u32
@inline export const SLOT_OFF: u32 = 0;
@inline export const SLOT_LEN: u32 = 4;
@inline export const SLOT_VERDICT: u32 = 8;
@inline export const SLOT_PORT: u32 = 9;
@inline export const SLOT_REASON: u32 = 10;
@inline export const SLOT_CONN: u32 = 12;
@inline export const SLOT_META_SIZE: u32 = 16;

// ---- neighbour table (neigh.ts) and the hold queue of frames waiting for it ---------------------
//  neigh: 0 state u8 | 1 af u8 | 2 probes u8 | 3 pad | 4 addr[16] | 20 mac[6] | 26 held u16
//         28 confirmed u32 (engine ms) | 32 lastProbe u32 | 36 lastUsed u32
//  hold meta: 0 state u8 (0 free, 1 waiting for neigh, 2 ready to send) | 2 neigh u16 | 4 len u32 | 8 queuedAt u32
//             | 12 data u32 (offset in the HOLD arena)
@inline export const NEIGH_MAX: u32 = 256;
@inline export const NEIGH_STATE: u32 = 0;
@inline export const NEIGH_AF: u32 = 1;
@inline export const NEIGH_PROBES: u32 = 2;
@inline export const NEIGH_ADDR: u32 = 4;
@inline export const NEIGH_MAC: u32 = 20;
@inline export const NEIGH_HELD: u32 = 26;
@inline export const NEIGH_CONFIRMED: u32 = 28;
@inline export const NEIGH_LAST_PROBE: u32 = 32;
@inline export const NEIGH_LAST_USED: u32 = 36;
@inline export const NEIGH_VLAN_N: u32 = 3;     // u8: 802.1Q/802.1ad tags (0..2) of the frames sent to it
@inline export const NEIGH_VLAN: u32 = 40;      // 8 bytes: those tags as on the wire (TPID, TCI), for its probes
@inline export const NEIGH_SIZE: u32 = 48;
// The hold queue: frames waiting for a next hop's MAC (at most HOLD_UNRES_MAX, the kernel's
// unres_qlen), probes, and the frames sent besides a slot's own (fragments after the first,
// GSO segments after the first). Entries: one such frame per slot, HOLD_GSO_SEGS per slot on
// a device with offloads (a 64 KiB super-packet at MSS 1448 is 45 segments). Their bytes come
// from one arena (holdBytes: a slot's worth per entry of the plain queue, plus HOLD_GSO_BYTES per
// slot for the segments' copied headers), handed out in order and compacted when needed.
@inline export const HOLD_UNRES_MAX: u32 = 32;
@inline export const HOLD_GSO_SEGS: u32 = 48;
@inline export const HOLD_GSO_BYTES: u32 = HOLD_GSO_SEGS * 256;
export let holdMax: u32 = 0;
export let holdBytes: u32 = 0;
@inline export const HOLD_STATE: u32 = 0;
@inline export const HOLD_NEIGH: u32 = 2;
@inline export const HOLD_LEN: u32 = 4;
@inline export const HOLD_AT: u32 = 8;
@inline export const HOLD_DATA: u32 = 12;       // u32: the frame's offset in the HOLD arena
@inline export const HOLD_META_SIZE: u32 = 16;

// ---- FULLNAT local address (dp_vs_laddr), laddr.ts ---------------------------------------------
//  0 used u8 (1 live, 2 deleted, still bound to conns) | 1 af u8 | 2 next u16 (svc list) | 4 svc u16
//  6 pad | 8 cursor u32 (next port offset in the range) | 12 conns u32 | 16 addr[16]
//  32 conflicts u64 (ports found in use while allocating) | 40 pad
@inline export const LADDR_MAX: u32 = 1024;
@inline export const LADDR_USED: u32 = 0;
@inline export const LADDR_AF: u32 = 1;
@inline export const LADDR_NEXT: u32 = 2;
@inline export const LADDR_SVC: u32 = 4;
@inline export const LADDR_CURSOR: u32 = 8;
@inline export const LADDR_CONNS: u32 = 12;
@inline export const LADDR_ADDR: u32 = 16;
@inline export const LADDR_CONFLICTS: u32 = 32;
@inline export const LADDR_SIZE: u32 = 48;

// ---- IP fragment reassembly (packet/defrag.ts, nf_defrag_ipv4 / nf_defrag_ipv6) ------------------
// A queue per datagram being reassembled (inet_frag_queue), found through FRAG_TAB; each
// fragment's data is kept in a chain of FRAG_CHUNK_SIZE chunks from one pool (the byte budget:
// FRAG_POOL_BYTES, ipfrag_high_thresh's 4 MiB plus room for the fragment that crosses it). The
// fragments of a queue are a list sorted by offset (the kernel's rb-tree of runs). A completed
// datagram is assembled into REASM (headroom + 64 KiB), processed there, and its output copied
// into the slot (the first fragment or a datagram that fits) and the hold queue (the others).
//  queue: 0 state u8 (0 free, 1 in use) | 1 af u8 | 2 proto u8 | 3 flags u8 (FIRST_IN 1, LAST_IN 2)
//         4 id u32 | 8 saddr[16] | 24 daddr[16] | 40 len u32 (q.len) | 44 meat u32 | 48 maxSize u32
//         52 maxDfSize u32 | 56 expires u32 | 60 head u32 (first fragment's chunk) | 64 next u32 (hash)
//         68 hdrLen u16 (bytes of FRAGQ_HDR: the first fragment's header; IPv6: the part before the
//         Fragment header, its next-header byte already the Fragment header's) | 70 pad | 72 nfrags u32
//         76 tail u32 (the fragment with the highest offset) | 80 hdr[FRAGQ_HDR_MAX]
//  chunk meta: 0 next chunk u32 (same fragment) | 4 next fragment u32 (a fragment's first chunk)
//              8 offset u32 | 12 len u32 (data bytes of the fragment; on its first chunk; bit 31:
//              it continues the previous fragment's run, fragrun_append_to_last)
@inline export const FRAGQ_MAX: u32 = 1024;
@inline export const FRAG_TAB_SIZE: u32 = 1024;
@inline export const FRAG_CHUNK_SIZE: u32 = 2048;
@inline export const FRAG_POOL_BYTES: u32 = (4 << 20) + (64 << 10);
@inline export const FRAG_CHUNKS: u32 = FRAG_POOL_BYTES / FRAG_CHUNK_SIZE;
@inline export const FRAGQ_STATE: u32 = 0;
@inline export const FRAGQ_AF: u32 = 1;
@inline export const FRAGQ_PROTO: u32 = 2;
@inline export const FRAGQ_FLAGS: u32 = 3;
@inline export const FRAGQ_ID: u32 = 4;
@inline export const FRAGQ_SADDR: u32 = 8;
@inline export const FRAGQ_DADDR: u32 = 24;
@inline export const FRAGQ_LEN: u32 = 40;
@inline export const FRAGQ_MEAT: u32 = 44;
@inline export const FRAGQ_MAX_SIZE: u32 = 48;
@inline export const FRAGQ_MAX_DF: u32 = 52;
@inline export const FRAGQ_EXPIRES: u32 = 56;
@inline export const FRAGQ_HEAD: u32 = 60;
@inline export const FRAGQ_NEXT: u32 = 64;
@inline export const FRAGQ_HDR_LEN: u32 = 68;
@inline export const FRAGQ_NFRAGS: u32 = 72;
@inline export const FRAGQ_TAIL: u32 = 76;
@inline export const FRAGQ_HDR: u32 = 80;
@inline export const FRAGQ_HDR_MAX: u32 = 64;
@inline export const FRAGQ_SIZE: u32 = FRAGQ_HDR + FRAGQ_HDR_MAX;
@inline export const FCH_NEXT: u32 = 0;
@inline export const FCH_NEXT_FRAG: u32 = 4;
@inline export const FCH_OFF: u32 = 8;
@inline export const FCH_LEN: u32 = 12;
@inline export const FCH_META_SIZE: u32 = 16;
/** REASM: the datagram being processed; headroom (as a slot's) + L2/vnet + 64 KiB + tail room. */
@inline export const REASM_DATA: u32 = 65536 + 128;

// ---- region bases and capacities: set by init(), the growing ones moved by grow() -----------
/** The control block. Static in the single-worker build (a constant there, as PKT below); with
 *  threads the base of the shared layout, which every instance attaches to. */
export let CTL: usize = ASC_FEATURE_THREADS ? 0 : memory.data(CTL_SIZE, 64);
/** This worker's packet record (PKT_*). In the single-worker build (release/debug.wasm) a
 *  static record, never reassigned, so PKT is a constant there: binaryen folds it into each
 *  load/store's address, where a mutable global is reloaded at every use (V8 keeps no global
 *  in a register across stores; ~70 reloads per packet, docs/engine.md). The group keeps its
 *  PKT_SIZE bytes (unused there) so every other per-worker region stays where it was. */
export let PKT: usize = ASC_FEATURE_THREADS ? 0 : memory.data(PKT_SIZE, 64);
export let COUNTERS: usize = 0;
export let GSTATS: usize = 0;
export let SVC: usize = 0;
export let SVC_TAB: usize = 0;
export let VIP_TAB: usize = 0;
export let DEST: usize = 0;
export let DEST_TAB: usize = 0;
export let SCHED: usize = 0;
export let SCHED_BIG: usize = 0;
export let HOOKS: usize = 0;
export let CONN: usize = 0;
/** The conns' cold parts, CONN_COLD_SIZE each, in the order of CONN's hot ones. */
export let CONN_COLD: usize = 0;
/** The current conn partition's index: its main buckets and its overflow pool (conn/table.ts). */
export let CONN_IDX: usize = 0;
export let CONN_OVF: usize = 0;
/** The timer wheel of the current conn partition (PARTS + p × PART_SIZE + WCTL_SIZE). */
export let WHEEL: usize = 0;
export let SLOT_META: usize = 0;
export let SLOTS: usize = 0;
export let SCRATCH: usize = 0;
export let NEIGH: usize = 0;
export let HOLD_META: usize = 0;
export let HOLD: usize = 0;
export let LADDR: usize = 0;
/** Where the growing regions start (the end of the fixed ones). */
export let GROW_BASE: usize = 0;
export let FRAGQ: usize = 0;
export let FRAG_TAB: usize = 0;
export let FRAG_CHUNK_META: usize = 0;
export let FRAG_CHUNKS_BASE: usize = 0;
export let FRAG_GEOM: usize = 0;     // u32 per fragment of the datagram being sent: its data length, in order
export let REASM: usize = 0;
export let SYNC_BUF: usize = 0;
export let HOPEN: usize = 0;
export let SP_POOL: usize = 0;
export let MEM_END: usize = 0;
// workers (worker.ts): this instance's worker, the conn partition the table code works on now.
// NWORKERS, WORKER and NPARTS are written only in the threads build (mt.wasm): with one worker
// they stay 1, 0, 1 and binaryen folds them as constants (as PKT above), with every branch of
// several workers on the packet path (batch.ts, hooks.ts, stats.ts, conn/table.ts).
export let NWORKERS: u32 = 1;
export let WORKER: u32 = 0;        // NWORKERS: the control thread's instance (its own group)
export let NPARTS: u32 = 1;
export let PART: u32 = 0;
export let WCTL: usize = 0;        // the current partition's words (WCTL_*)
export let PARTS: usize = 0;       // NPARTS × PART_SIZE
export let IDX_PARTS: usize = 0;   // growing: NPARTS conn indexes (idxPartSize each), partition p's at IDX_PARTS + p × idxPartSize
export let GROUP0: usize = 0;      // the per-worker groups: worker w's at GROUP0 + w × GROUP_SIZE
export let GROUP_SIZE: usize = 0;
export let RINGS: usize = 0;       // NWORKERS² rings, ring (from, to) at RINGS + (from × NWORKERS + to) × ringSize
export let ringSize: usize = 0;
export let ringEntries: u32 = RING_ENTRIES;
export let SCACHE: usize = 0;      // this worker's statistics of the batch, per dest (stats.ts)
export let HCOUNT: usize = 0;      // this worker's hook packet counts of the batch, per entry (hooks.ts)

export let svcMax: u32 = 0;
export let destMax: u32 = 0;
export let connMax: u32 = 0;
export let connIdxBuckets: u32 = 0;
export let connOvfBuckets: u32 = 0;
export let bigMax: u32 = 0;
export let slotCount: u32 = 0;
export let slotSize: u32 = 0;
export let slotHeadroom: u32 = 0;
export let linkType: u32 = 0;
// a device with offloads: every frame read and written is behind a 10-byte struct virtio_net_hdr
// (iph.ts VNET_HDR_LEN); the slot's frame starts after it, the header stays in front of it
export let linkVnet: bool = false;

@inline function align(v: usize, a: usize): usize { return (v + a - 1) & ~(a - 1); }

/** Bucket counts of each partition's index (connIdxBuckets, connOvfBuckets) for connMax and NPARTS. */
function idxSizes(): void {
  let c = partShare(connMax);
  connIdxBuckets = connIdxBucketsFor(c); connOvfBuckets = connOvfBucketsFor(c);
}
/** Conns in each partition's share of the pool (records i ≡ p mod NPARTS: worker.ts partOf). */
@inline function partShare(nConn: u32): u32 { return NPARTS > 1 ? nConn / NPARTS + 1 : nConn; }
/** Bytes of one partition's conn index (main and overflow buckets) for a table of nConn. */
function idxPartSize(nConn: u32): usize {
  let c = partShare(nConn);
  return <usize>(connIdxBucketsFor(c) + connOvfBucketsFor(c)) * IDX_BUCKET;
}

/** Memory needed for the growing regions at these sizes, from GROW_BASE (grow's dry run). */
function growEnd(nSvc: u32, nDest: u32, nConn: u32, nBig: u32): usize {
  let p = GROW_BASE;
  p = align(p + <usize>(nSvc + 1) * SVC_SIZE, 64);
  p = align(p + <usize>(nDest + 1) * DEST_SIZE, 64);
  p = align(p + <usize>(nSvc + 1) * SCHED_SMALL_SIZE, 64);
  p = align(p + <usize>nBig * SCHED_AREA_SIZE, 64);
  p = align(p + <usize>(nConn + 1) * CONN_SIZE, 64);
  p = align(p + <usize>(nConn + 1) * CONN_COLD_SIZE, 64);
  return p + <usize>NPARTS * idxPartSize(nConn);
}

/** Place the growing regions from GROW_BASE (sizes must be set). */
function placeGrowing(): void {
  let p = GROW_BASE;
  SVC = p; p = align(p + <usize>(svcMax + 1) * SVC_SIZE, 64);
  DEST = p; p = align(p + <usize>(destMax + 1) * DEST_SIZE, 64);
  SCHED = p; p = align(p + <usize>(svcMax + 1) * SCHED_SMALL_SIZE, 64);
  SCHED_BIG = p; p = align(p + <usize>bigMax * SCHED_AREA_SIZE, 64);
  CONN = p; p = align(p + <usize>(connMax + 1) * CONN_SIZE, 64);
  CONN_COLD = p; p = align(p + <usize>(connMax + 1) * CONN_COLD_SIZE, 64);
  IDX_PARTS = p; p += <usize>NPARTS * idxPartSize(connMax);
  MEM_END = p;
}

/** Point the conn table code (table.ts, timer.ts) at partition p: its words, wheel and index. */
export function partSelect(p: u32): void {
  PART = p;
  WCTL = PARTS + <usize>p * PART_SIZE;
  WHEEL = WCTL + WCTL_SIZE;
  CONN_IDX = IDX_PARTS + <usize>p * idxPartSize(connMax);
  CONN_OVF = CONN_IDX + <usize>connIdxBuckets * IDX_BUCKET;
}

/** Point this instance's per-worker regions at group g (a worker's, or the control thread's). */
function groupSelect(g: u32): void {
  let p = GROUP0 + <usize>g * GROUP_SIZE;
  if (ASC_FEATURE_THREADS) PKT = p;   // else the static record (above)
  p += PKT_SIZE;
  COUNTERS = p; p += CNT_MAX * 8;
  SCACHE = p; p += SCACHE_ENTRIES * SCACHE_SIZE;
  HCOUNT = p; p += HOOK_MAX * 8;
  SLOT_META = p; p += <usize>slotCount * SLOT_META_SIZE;
  p = align(p, 64);
  SLOTS = p; p += <usize>slotCount * slotSize;
  SCRATCH = p; p += SCRATCH_SIZE;
  FRAG_GEOM = p; p += <usize>(FRAG_CHUNKS + 1) * 4;
  p = align(p, 64);
  REASM = p; p += <usize>slotHeadroom + REASM_DATA;
  if (GROUP_SIZE == 0) GROUP_SIZE = align(p - GROUP0, 64);
}

function memoryTo(end: usize): bool {
  let have = <usize>memory.size() << 16;
  if (end <= have) return true;
  let pages = (end - have + 0xffff) >> 16;
  if (<usize>memory.size() + pages > 65536) return false;
  return memory.grow(<i32>pages) >= 0;
}

/** Lay out every region from the configuration; grows memory once. Returns 0 or -ENOMEM. */
export function layoutInit(nSvc: u32, nDest: u32, nConn: u32, nSlots: u32, sSize: u32, headroom: u32, link: u32): i32 {
  // Start one page above whatever start-up code allocated, so the stub runtime's bump
  // pointer (which we never move again) cannot reach our regions.
  let base: usize = (<usize>memory.size() + 1) << 16;
  layoutPlace(base, nSvc, nDest, nConn, 0, nSlots, sSize, headroom, link, NWORKERS);
  if (!memoryTo(MEM_END)) return -12;
  memory.fill(base, 0, MEM_END - base);
  // the static control block and packet record (single-worker build), outside base..MEM_END
  if (!ASC_FEATURE_THREADS) { memory.fill(CTL, 0, CTL_SIZE); memory.fill(PKT, 0, PKT_SIZE); }
  layoutSave(link);
  partSelect(0);
  return 0;
}

/** Workers for the next layoutInit (1..WORKERS_MAX). */
export function layoutSetWorkers(n: u32): void { if (ASC_FEATURE_THREADS) NWORKERS = n; }   // index.ts setWorkers: 1 only without threads
@inline export const WORKERS_MAX: u32 = 64;

/** Record the layout's inputs in CTL for layoutAttach (other instances over this memory). */
function layoutSave(link: u32): void {
  store<u32>(CTL, svcMax, CTL_LAY_SVC); store<u32>(CTL, destMax, CTL_LAY_DEST);
  store<u32>(CTL, connMax, CTL_LAY_CONN); store<u32>(CTL, bigMax, CTL_LAY_BIG);
  store<u32>(CTL, slotCount, CTL_LAY_SLOTS); store<u32>(CTL, slotSize, CTL_LAY_SLOT_SIZE);
  store<u32>(CTL, slotHeadroom, CTL_LAY_HEADROOM); store<u32>(CTL, link, CTL_LAY_LINK);
  store<u32>(CTL, NWORKERS, CTL_LAY_WORKERS);
}

/**
 * Another instance over the same (shared) memory: place every region where the first one did
 * (from the inputs layoutSave left at ctl) and take worker w's group (w == workers: the control
 * thread's). Called again after every layoutGrow (CTL_EPOCH moved). Returns 0 or -EINVAL.
 */
export function layoutAttach(ctl: usize, w: u32): i32 {
  let workers = load<u32>(ctl, CTL_LAY_WORKERS);
  if (workers == 0 || w > workers || (w == workers && workers == 1)) return -22;
  // a single-worker build: NWORKERS stays 1, its one layout never needs attaching (grow moves
  // its own bases): only its own control block, worker 0, is accepted, and changes nothing
  if (!ASC_FEATURE_THREADS) return workers == 1 && w == 0 && ctl == CTL ? 0 : -22;
  let link = load<u32>(ctl, CTL_LAY_LINK);
  layoutPlace(ctl, load<u32>(ctl, CTL_LAY_SVC), load<u32>(ctl, CTL_LAY_DEST), load<u32>(ctl, CTL_LAY_CONN),
    load<u32>(ctl, CTL_LAY_BIG), load<u32>(ctl, CTL_LAY_SLOTS), load<u32>(ctl, CTL_LAY_SLOT_SIZE),
    load<u32>(ctl, CTL_LAY_HEADROOM), link, workers);
  if (ASC_FEATURE_THREADS) WORKER = w;   // else w == 0
  groupSelect(w);
  partSelect(w < workers ? w : 0);
  return 0;
}

/** Every region's base from the inputs, the first group's per-worker regions selected. */
function layoutPlace(base: usize, nSvc: u32, nDest: u32, nConn: u32, nBig: u32, nSlots: u32, sSize: u32, headroom: u32, link: u32, workers: u32): void {
  svcMax = nSvc; destMax = nDest; connMax = nConn; bigMax = nBig;
  slotCount = nSlots; slotSize = sSize; slotHeadroom = headroom; linkType = link & 1; linkVnet = (link & 2) != 0;
  if (ASC_FEATURE_THREADS) { NWORKERS = workers; WORKER = 0; NPARTS = workers > 1 ? workers + 1 : 1; }
  idxSizes();
  let p = base;
  // shared by every worker: the control block, settings and counters, the lookup tables, the
  // hook table, timers, neighbours and their hold queue, FULLNAT pools, reassembly queues
  if (ASC_FEATURE_THREADS) { CTL = p; p += CTL_SIZE; }   // else the static block (CTL above)
  GSTATS = p; p += STATS_SIZE;
  p = align(p, 64);
  SVC_TAB = p; p += SVC_TAB_SIZE * 4;
  VIP_TAB = p; p += SVC_TAB_SIZE * 4;
  DEST_TAB = p; p += DEST_TAB_SIZE * 4;
  HOOKS = p; p += HOOK_MAX * HOOK_SIZE;
  p = align(p, 64);
  PARTS = p; p += <usize>NPARTS * PART_SIZE;   // each conn partition's words and timer wheel
  p = align(p, 64);
  NEIGH = p; p += <usize>(NEIGH_MAX + 1) * NEIGH_SIZE;
  holdMax = HOLD_UNRES_MAX + nSlots * (linkVnet ? HOLD_GSO_SEGS : 1);
  holdBytes = (HOLD_UNRES_MAX + nSlots) * sSize + (linkVnet ? nSlots * HOLD_GSO_BYTES : 0);
  HOLD_META = p; p += <usize>holdMax * HOLD_META_SIZE;
  p = align(p, 64);
  HOLD = p; p += <usize>holdBytes;
  p = align(p, 64);
  LADDR = p; p += <usize>(LADDR_MAX + 1) * LADDR_SIZE;
  p = align(p, 64);
  FRAGQ = p; p += <usize>(FRAGQ_MAX + 1) * FRAGQ_SIZE;
  FRAG_TAB = p; p += FRAG_TAB_SIZE * 4;
  FRAG_CHUNK_META = p; p += <usize>(FRAG_CHUNKS + 1) * FCH_META_SIZE;
  p = align(p, 64);
  FRAG_CHUNKS_BASE = p; p += <usize>(FRAG_CHUNKS + 1) * FRAG_CHUNK_SIZE;
  p = align(p, 64);
  SYNC_BUF = p; p += SYNC_BUF_SIZE;      // the sync master's send buffer (one per director, sync.ts)
  HOPEN = p; p += <usize>NPARTS * HOPEN_SLOTS * HOPEN_ENTRY;   // each conn partition's half-open conns, oldest first (defense.ts)
  SP_POOL = p; p += <usize>NPARTS * SP_SLOTS * SP_SIZE;         // each conn partition's SYN proxy deltas (synproxy.ts)
  // per worker: what a worker writes for the packets of its batch, each region starting on its
  // own 64-byte line so no two workers' packet-path writes share a cache line; one group per
  // worker, and with several workers one more for the control thread's instance (worker.ts)
  p = align(p, 64);
  GROUP0 = p; GROUP_SIZE = 0;
  groupSelect(0);
  let groups: u32 = NWORKERS > 1 ? NWORKERS + 1 : 1;
  p += GROUP_SIZE * <usize>groups;
  // the redirect rings between workers (none with one worker)
  ringSize = 0;
  ringEntries = RING_ENTRIES;
  let pairs = <usize>NWORKERS * <usize>(NWORKERS - 1);
  let entry = align(<usize>4 + <usize>sSize, 64);
  while (ringEntries > RING_ENTRIES_MIN && pairs * <usize>ringEntries * entry > RING_BYTES) ringEntries >>= 1;
  if (NWORKERS > 1) ringSize = align(<usize>RING_DATA + <usize>ringEntries * entry, 64);
  RINGS = p; p += <usize>NWORKERS * NWORKERS * ringSize;
  GROW_BASE = align(p, 64);
  placeGrowing();
}

/** One growing region's move: old base and size → new base and size (the tail zeroed). */
@inline function moveRegion(oldBase: usize, oldSize: usize, newBase: usize, newSize: usize): void {
  if (newBase != oldBase) memory.copy(newBase, oldBase, oldSize);
  if (newSize > oldSize) memory.fill(newBase + oldSize, 0, newSize - oldSize);
}

/**
 * Grow the tables to (at least) these sizes; never shrinks. Regions keep their order and only
 * move up, so moving the highest first never overwrites one not yet moved. The conn index is
 * not moved but cleared: conn/table.ts connTableGrow builds it again from the records (its
 * bucket count follows connMax), and links the new records into the free list.
 * Returns 0, or -ENOMEM when memory cannot grow that far (nothing changed then).
 */
export function layoutGrow(nSvc: u32, nDest: u32, nConn: u32, nBig: u32): i32 {
  if (nSvc < svcMax) nSvc = svcMax;
  if (nDest < destMax) nDest = destMax;
  if (nConn < connMax) nConn = connMax;
  if (nBig < bigMax) nBig = bigMax;
  if (!memoryTo(growEnd(nSvc, nDest, nConn, nBig))) return -12;
  let oSvc = SVC, oDest = DEST, oSched = SCHED, oBig = SCHED_BIG, oConn = CONN, oCold = CONN_COLD;
  let oSvcN = svcMax, oDestN = destMax, oConnN = connMax, oBigN = bigMax;
  svcMax = nSvc; destMax = nDest; connMax = nConn; bigMax = nBig;
  idxSizes();
  placeGrowing();
  memory.fill(IDX_PARTS, 0, MEM_END - IDX_PARTS);   // rebuilt by connTableGrow / partsGrow (above every other region)
  moveRegion(oCold, <usize>(oConnN + 1) * CONN_COLD_SIZE, CONN_COLD, <usize>(connMax + 1) * CONN_COLD_SIZE);
  moveRegion(oConn, <usize>(oConnN + 1) * CONN_SIZE, CONN, <usize>(connMax + 1) * CONN_SIZE);
  moveRegion(oBig, <usize>oBigN * SCHED_AREA_SIZE, SCHED_BIG, <usize>bigMax * SCHED_AREA_SIZE);
  moveRegion(oSched, <usize>(oSvcN + 1) * SCHED_SMALL_SIZE, SCHED, <usize>(svcMax + 1) * SCHED_SMALL_SIZE);
  moveRegion(oDest, <usize>(oDestN + 1) * DEST_SIZE, DEST, <usize>(destMax + 1) * DEST_SIZE);
  moveRegion(oSvc, <usize>(oSvcN + 1) * SVC_SIZE, SVC, <usize>(svcMax + 1) * SVC_SIZE);
  layoutSave(load<u32>(CTL, CTL_LAY_LINK));
  store<u32>(CTL, load<u32>(CTL, CTL_EPOCH) + 1, CTL_EPOCH);
  partSelect(PART);
  return 0;
}

// ---- record addressing --------------------------------------------------------------------
@inline export function svcPtr(svcIdx: u32): usize { return SVC + <usize>svcIdx * SVC_SIZE; }
@inline export function destPtr(destIdx: u32): usize { return DEST + <usize>destIdx * DEST_SIZE; }
@inline export function connPtr(connIdx: u32): usize { return CONN + <usize>connIdx * CONN_SIZE; }
/** Conn connIdx's cold part. */
@inline export function connCold(connIdx: u32): usize { return CONN_COLD + <usize>connIdx * CONN_COLD_SIZE; }
/** The index of the conn whose hot part is at cp. */
@inline export function connIndexOf(cp: usize): u32 { return <u32>((cp - CONN) >> 6); }
/** The cold part of the conn whose hot part is at cp. */
@inline export function coldOf(cp: usize): usize { return CONN_COLD + ((cp - CONN) >> 6) * CONN_COLD_SIZE; }
/**
 * cp->daddr for a client's packet: from the conn's dest, whose record is in the cache, when it
 * has one (ip_vs_conn_new copies the dest's address, a sync backup binds only the dest with
 * that address: the same 16 bytes), so that the packet reads nothing of the cold part.
 */
@inline export function connDaddr(cp: usize): usize {
  let d = <u32>load<u16>(cp, CONN_DEST);
  return d != 0 ? destPtr(d) + DEST_ADDR : coldOf(cp) + COLD_DADDR;
}
/** A service's scheduler area: its big one when it has one (mh, lblc, lblcr), else its small one. */
@inline export function schedArea(svcIdx: u32): usize {
  let big = <u32>load<u16>(SVC + <usize>svcIdx * SVC_SIZE, SVC_SCHED_BIG);
  return big != 0 ? SCHED_BIG + <usize>(big - 1) * SCHED_AREA_SIZE : SCHED + <usize>svcIdx * SCHED_SMALL_SIZE;
}
@inline export function hookPtr(i: u32): usize { return HOOKS + <usize>i * HOOK_SIZE; }
@inline export function slotMeta(i: u32): usize { return SLOT_META + <usize>i * SLOT_META_SIZE; }
@inline export function slotBase(i: u32): usize { return SLOTS + <usize>i * slotSize; }
@inline export function laddrPtr(i: u32): usize { return LADDR + <usize>i * LADDR_SIZE; }
@inline export function fragqPtr(i: u32): usize { return FRAGQ + <usize>i * FRAGQ_SIZE; }
@inline export function fchMeta(i: u32): usize { return FRAG_CHUNK_META + <usize>i * FCH_META_SIZE; }
@inline export function fchData(i: u32): usize { return FRAG_CHUNKS_BASE + <usize>i * FRAG_CHUNK_SIZE; }
