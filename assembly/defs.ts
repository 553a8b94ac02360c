// Enums and flags shared by every part of the engine. Names follow the kernel's
// (include/uapi/linux/ip_vs.h, include/net/ip_vs.h) so IPVS knowledge carries over.

// ---- per-slot verdict written by process() ----------------------------------------------
@inline export const V_DROP: u8 = 0;    // discard (the reason is in the slot meta)
@inline export const V_XMIT: u8 = 1;    // send the (possibly rewritten) frame out
@inline export const V_LOCAL: u8 = 2;   // the engine answered: the slot now holds its reply (ICMP)
@inline export const V_PASS: u8 = 3;    // not the balancer's: hand to the host stack untouched
@inline export const V_STOLEN: u8 = 4;  // kept by the engine (queued); nothing to send now

// ---- netfilter verdicts (include/uapi/linux/netfilter.h) ------------------------------------
@inline export const NF_DROP: i32 = 0;
@inline export const NF_ACCEPT: i32 = 1;
@inline export const NF_STOLEN: i32 = 2;
@inline export const NF_QUEUE: i32 = 3;   // not supported: treated as DROP
@inline export const NF_REPEAT: i32 = 4;
@inline export const NF_STOP: i32 = 5;

// ---- hook points (enum nf_inet_hooks) ---------------------------------------------------------
@inline export const NF_INET_PRE_ROUTING: u8 = 0;
@inline export const NF_INET_LOCAL_IN: u8 = 1;
@inline export const NF_INET_FORWARD: u8 = 2;
@inline export const NF_INET_LOCAL_OUT: u8 = 3;
@inline export const NF_INET_POST_ROUTING: u8 = 4;
@inline export const NF_INET_NUMHOOKS: u8 = 5;

// Hook priorities the kernel uses for IPVS (include/uapi/linux/netfilter_ipv4.h)
@inline export const NF_IP_PRI_NAT_DST: i32 = -100;
@inline export const NF_IP_PRI_NAT_SRC: i32 = 100;

// ---- hook functions (what a hook entry runs) --------------------------------------------------
@inline export const HOOK_FN_IPVS_IN: u8 = 1;        // ip_vs_in_hook: schedule + forward client→VIP
@inline export const HOOK_FN_IPVS_OUT: u8 = 2;       // ip_vs_out_hook: un-NAT real server→client
@inline export const HOOK_FN_IPVS_FWD_ICMP: u8 = 3;  // ip_vs_forward_icmp: ICMP errors for our conns
@inline export const HOOK_FN_IPVS_POST: u8 = 4;      // stop later POST_ROUTING hooks for IPVS output
@inline export const HOOK_FN_ICMP_ECHO: u8 = 5;      // answer echo requests to a VIP (the local stack's job)
@inline export const HOOK_FN_LOCAL_STACK: u8 = 6;    // TCP RST / UDP port unreachable for a VIP IPVS left alone
@inline export const HOOK_FN_MATCH_SRC: u8 = 16;     // user: verdict for sources in a prefix, else ACCEPT
@inline export const HOOK_FN_MATCH_DST: u8 = 17;     // user: verdict for destinations in a prefix
@inline export const HOOK_FN_VERDICT: u8 = 18;       // user: always the entry's verdict (REPEAT: once)
@inline export const HOOK_FN_COUNT: u8 = 19;         // user: count and ACCEPT
@inline export const HOOK_FN_MARK: u8 = 20;          // user: set skb->mark for a prefix/proto/port, ACCEPT

// ---- address families, protocols ------------------------------------------------------------
@inline export const AF_INET: u8 = 4;
@inline export const AF_INET6: u8 = 6;
@inline export const IPPROTO_IP: u8 = 0;      // the protocol of fwmark templates
@inline export const IPPROTO_ICMP: u8 = 1;
@inline export const IPPROTO_TCP: u8 = 6;
@inline export const IPPROTO_UDP: u8 = 17;
@inline export const IPPROTO_ICMPV6: u8 = 58;
@inline export const IPPROTO_SCTP: u8 = 132;

// ---- forwarding methods (IP_VS_CONN_F_FWD_MASK values) ------------------------------------------
@inline export const IP_VS_CONN_F_MASQ: u8 = 0;
@inline export const IP_VS_CONN_F_LOCALNODE: u8 = 1;
@inline export const IP_VS_CONN_F_TUNNEL: u8 = 2;
@inline export const IP_VS_CONN_F_DROUTE: u8 = 3;
@inline export const IP_VS_CONN_F_BYPASS: u8 = 4;
@inline export const IP_VS_CONN_F_FULLNAT: u8 = 5;   // DPVS's mode, beyond kernel IPVS

// ---- conn flags (subset of IP_VS_CONN_F_*; our own bit positions in a u16) -------------------
@inline export const CONN_F_NOOUTPUT: u16 = 0x0004;   // IP_VS_CONN_F_NOOUTPUT: no replies seen (DR/TUN)
@inline export const CONN_F_INACTIVE: u16 = 0x0008;   // IP_VS_CONN_F_INACTIVE: counted in inactconns
@inline export const CONN_F_TEMPLATE: u16 = 0x1000;   // IP_VS_CONN_F_TEMPLATE: a persistence template
@inline export const CONN_F_ONE_PACKET: u16 = 0x2000;
// FULLNAT/TOA (our bits): when DPVS's tcp_fnat_in_handler inserts the TOA option
@inline export const CONN_F_FNAT_SYNACK: u16 = 0x0010;  // the real server's SYN-ACK went through (fnat_seq.fdata_seq set)
@inline export const CONN_F_FNAT_RSDATA: u16 = 0x0020;  // it sent data or FIN since: client ACKs move past fdata_seq
// sync (sync.ts): IP_VS_CONN_F_SYNC (made by the backup from a sync message), IP_VS_CONN_F_NO_CPORT
@inline export const CONN_F_SYNC: u16 = 0x0100;
@inline export const CONN_F_NO_CPORT: u16 = 0x0800;
// SYN proxy (synproxy.ts; DPVS's DPVS_CONN_F_SYNPROXY): made from a cookie ACK, its sequence
// numbers translated; WAIT: the SYN to the real server is out, its SYN-ACK not back yet
@inline export const CONN_F_SYNPROXY: u16 = 0x4000;
@inline export const CONN_F_SP_WAIT: u16 = 0x8000;

// ---- dest flags (IP_VS_DEST_F_*) -----------------------------------------------------------------
@inline export const DEST_F_AVAILABLE: u8 = 0x1;
@inline export const DEST_F_OVERLOAD: u8 = 0x2;
// a dest record's DEST_USED: live, or deleted and kept in the trash while conns hold it (ipvs->dest_trash)
@inline export const DEST_LIVE: u8 = 1;
@inline export const DEST_TRASH: u8 = 2;

// ---- service flags (IP_VS_SVC_F_*) ----------------------------------------------------------------
@inline export const SVC_F_PERSISTENT: u32 = 0x1;
@inline export const SVC_F_HASHED: u32 = 0x2;
@inline export const SVC_F_ONEPACKET: u32 = 0x4;
@inline export const SVC_F_SCHED1: u32 = 0x8;
@inline export const SVC_F_SCHED2: u32 = 0x10;
@inline export const SVC_F_SCHED3: u32 = 0x20;
/** DPVS's IP_VS_SVC_F_SYNPROXY (0x8 there, taken by SCHED1 here): answer SYNs with cookies (synproxy.ts). */
@inline export const SVC_F_SYNPROXY: u32 = 0x10000;

// ---- engine settings (CTL_FLAGS bits) ----------------------------------------------------------
@inline export const SET_PASS_MALFORMED: u32 = 0x1;   // hand malformed frames to the host instead of dropping
@inline export const SET_EXPIRE_NODEST: u32 = 0x2;    // net.ipv4.vs.expire_nodest_conn
@inline export const SET_ICMP_ECHO: u32 = 0x4;        // answer echo requests to VIPs (default on)
@inline export const SET_CONN_REUSE: u32 = 0x8;       // net.ipv4.vs.conn_reuse_mode bit 0 (default on)
@inline export const SET_CONN_REUSE_2: u32 = 0x10;    // conn_reuse_mode bit 1
@inline export const SET_SLOPPY_TCP: u32 = 0x20;      // net.ipv4.vs.sloppy_tcp
@inline export const SET_SECURE_TCP: u32 = 0x40;      // secure_tcp: the tcp_states_dos table
@inline export const SET_NO_TTL_DEC: u32 = 0x80;      // do not decrement TTL/hop limit when forwarding
@inline export const SET_EXPIRE_QUIESCENT: u32 = 0x100; // net.ipv4.vs.expire_quiescent_template
@inline export const SET_SLOPPY_SCTP: u32 = 0x200;    // net.ipv4.vs.sloppy_sctp: any chunk (not ABORT) schedules
@inline export const SET_NO_TOA: u32 = 0x400;         // FULLNAT: do not insert the TOA option (DPVS without toa)
@inline export const SET_LOCAL_ANSWERS: u32 = 0x800;  // answer TCP/UDP to a VIP that IPVS left alone as the local stack (RST, port unreachable; default on)
@inline export const SET_ROUTED_LINK: u32 = 0x1000;   // the link hands our output to the host's routing (TUN): DR and tunnels cannot leave on it
@inline export const SET_DEFAULTS: u32 = SET_ICMP_ECHO | SET_CONN_REUSE | SET_LOCAL_ANSWERS;

// ---- error codes returned by control calls (negative errno, as the kernel's setsockopt) ---------
@inline export const E_OK: i32 = 0;
@inline export const E_NOENT: i32 = -2;      // "No such service" / "No such destination"
@inline export const E_NOMEM: i32 = -12;
@inline export const E_BUSY: i32 = -16;
@inline export const E_EXIST: i32 = -17;     // "Service already exists" / "Destination already exists"
@inline export const E_INVAL: i32 = -22;
@inline export const E_NOSPC: i32 = -28;     // table full
@inline export const E_RANGE: i32 = -34;     // lower threshold above upper
@inline export const E_NOSVC: i32 = -3;      // ESRCH: "No such service" / "Service not defined"
@inline export const E_NOSCHED: i32 = -1001; // "Scheduler or persistence engine not found"
@inline export const E_AFNOSUPPORT: i32 = -97;
@inline export const E_OPNOTSUPP: i32 = -95;
@inline export const E_NETUNREACH: i32 = -101;   // a DR dest off the director's link prefix
@inline export const E_SYNPROXY_FWD: i32 = -1002; // a SYN proxy service with a DR/tunnel dest: its SYN-ACK would not pass us

// ---- named counters (global, u64 each): every drop has a name -----------------------------------
@inline export const CNT_RX: u32 = 0;
@inline export const CNT_TX: u32 = 1;
@inline export const CNT_LOCAL: u32 = 2;
@inline export const CNT_PASS: u32 = 3;
@inline export const CNT_DROP: u32 = 4;
@inline export const CNT_TRUNCATED: u32 = 5;
@inline export const CNT_BAD_VERSION: u32 = 6;
@inline export const CNT_BAD_IHL: u32 = 7;
@inline export const CNT_BAD_LEN: u32 = 8;
@inline export const CNT_BAD_IP_CSUM: u32 = 9;
@inline export const CNT_BAD_L4: u32 = 10;
@inline export const CNT_IPV6_EXT_LIMIT: u32 = 11;
@inline export const CNT_FRAGMENT: u32 = 12;
@inline export const CNT_CONN_FULL: u32 = 13;
@inline export const CNT_NO_DEST: u32 = 14;
@inline export const CNT_TTL_EXCEEDED: u32 = 15;
@inline export const CNT_DEST_UNAVAILABLE: u32 = 16;
@inline export const CNT_HOOK_DROP: u32 = 17;
@inline export const CNT_NOT_IP: u32 = 18;
@inline export const CNT_CONN_CREATED: u32 = 19;
@inline export const CNT_CONN_EXPIRED: u32 = 20;
@inline export const CNT_CONN_REUSED: u32 = 21;
@inline export const CNT_ICMP_XLATE: u32 = 22;
@inline export const CNT_ICMP_SENT: u32 = 23;
@inline export const CNT_ECHO_REPLY: u32 = 24;
@inline export const CNT_NO_HEADROOM: u32 = 25;
@inline export const CNT_HOOK_REPEAT_LIMIT: u32 = 26;
@inline export const CNT_NO_CONN: u32 = 27;
@inline export const CNT_BAD_SLOT: u32 = 28;
@inline export const CNT_NEIGH_HELD: u32 = 29;        // a frame waits for its next hop's MAC (STOLEN)
@inline export const CNT_NEIGH_QUEUE_FULL: u32 = 30;  // dropped: the hold queue is full
@inline export const CNT_NEIGH_FAILED: u32 = 31;      // dropped: the next hop never answered
@inline export const CNT_NEIGH_FULL: u32 = 32;        // dropped: no room in the neighbour table
@inline export const CNT_ARP_REPLY: u32 = 33;         // ARP replies / neighbour advertisements sent
@inline export const CNT_NEIGH_PROBE: u32 = 34;       // ARP requests / neighbour solicitations sent
@inline export const CNT_FRAG_NEEDED: u32 = 35;       // too big for the tunnel: ICMP frag needed / packet too big sent
@inline export const CNT_FNAT_NO_LADDR: u32 = 36;    // FULLNAT service without a local address (-P -z)
@inline export const CNT_FNAT_NO_PORT: u32 = 37;     // every local address's ports toward the dest are in use
@inline export const CNT_TOA_ADDED: u32 = 38;        // TOA option inserted (client address to the real server)
@inline export const CNT_TOA_NO_ROOM: u32 = 39;      // TOA left out: no option space / over the path MTU
@inline export const CNT_SCTP_BAD_CHUNK: u32 = 40;   // SCTP packet without chunks or with a chunk length that lies
@inline export const CNT_FRAG_CREATED: u32 = 41;     // fragments sent (packets over the path MTU without DF: ip_do_fragment)
@inline export const CNT_FRAG_NO_ROOM: u32 = 42;     // dropped: no room in the hold queue for all of a packet's fragments
@inline export const CNT_BAD_VNET_HDR: u32 = 43;     // a TUN offload header we did not ask for (GSO type, checksum place)
@inline export const CNT_GSO: u32 = 44;              // TCP and UDP super-packets (TSO, USO) in: forwarded whole for the kernel to segment, or cut here for a tunnel
@inline export const CNT_TCP_RESET_SENT: u32 = 45;   // the local stack's RST for a VIP port without a service or a conn
@inline export const CNT_PORT_UNREACH_SENT: u32 = 46; // the local stack's ICMP port unreachable for UDP to a VIP port without a service
@inline export const CNT_METHOD_UNSUPPORTED: u32 = 47; // dropped: the conn's method (DR, tunnel) cannot leave on this link (a TUN)
@inline export const CNT_LOCAL_NOT_TAKEN: u32 = 48;   // dropped: for a VIP, on a TUN, taken by nobody (neither IPVS nor the local answers)
// IP fragment reassembly (packet/defrag.ts), after the kernel's IPSTATS_MIB_REASM* where one exists
@inline export const CNT_REASM_REQDS: u32 = 49;      // fragments received (IPSTATS_MIB_REASMREQDS)
@inline export const CNT_REASM_OK: u32 = 50;         // datagrams reassembled (IPSTATS_MIB_REASMOKS)
@inline export const CNT_REASM_FAILS: u32 = 51;      // dropped: a fragment the queue's geometry refuses (REASMFAILS)
@inline export const CNT_REASM_OVERLAP: u32 = 52;    // dropped with its whole queue: overlapping fragment (REASM_OVERLAPS)
@inline export const CNT_REASM_DUP: u32 = 53;        // dropped: a fragment inside data already held (IPFRAG_DUP)
@inline export const CNT_REASM_TIMEOUT: u32 = 54;    // queues expired incomplete (REASMTIMEOUT); their fragments freed
@inline export const CNT_REASM_OVER_BUDGET: u32 = 55; // dropped: over ipfrag_high_thresh / no queue or chunk free
@inline export const CNT_REASM_OVERSIZE: u32 = 56;   // dropped with its queue: the datagram would exceed 65535 bytes
@inline export const CNT_REASM_BAD_FRAG: u32 = 57;   // dropped: IPv6 non-first fragment not a multiple of 8 with M set, headers we cannot keep
@inline export const CNT_REASM_NO_ROOM: u32 = 58;    // dropped: a reassembled datagram sent whole does not fit a slot
@inline export const CNT_REASM_FRAGS_FREED: u32 = 59; // held fragments freed with a queue (timeout, overlap, oversize)
@inline export const CNT_REASM_TOO_BIG: u32 = 60;   // dropped: IPv6 reassembled, its largest fragment over the path MTU (__mtu_check_toobig_v6)
@inline export const CNT_REASM_HELD: u32 = 61;      // fragments kept in a queue (their slot STOLEN) until the datagram is whole
@inline export const CNT_REASM_PASSED: u32 = 62;    // IPv6 first fragment sent on unreassembled (M set, length not a multiple of 8: nf_ct_frag6_queue -EPROTO)
@inline export const CNT_GSO_SEGMENTS: u32 = 63;     // TCP segments / UDP datagrams cut from super-packets for a tunnel (xmit/gso.ts)
@inline export const CNT_GSO_NO_ROOM: u32 = 64;      // dropped: a super-packet's segments do not fit the hold queue, or its headers exceed GSO_TPL_MAX
// sync messages (sync.ts, ip_vs_process_message / ip_vs_proc_sync_conn)
@inline export const CNT_SYNC_RX_MSG: u32 = 65;        // sync messages handed to the engine
@inline export const CNT_SYNC_RX_CONN: u32 = 66;       // sync conns applied (created or updated)
@inline export const CNT_SYNC_BAD_MSG: u32 = 67;       // dropped: header too short, size != datagram, truncated/oversized conn, bad conn version or options
@inline export const CNT_SYNC_SYNCID: u32 = 68;        // dropped: another syncid than the backup's
@inline export const CNT_SYNC_BAD_CONN: u32 = 69;      // one conn skipped: unknown protocol, state out of range, unknown mandatory option, PE data
@inline export const CNT_SYNC_CONN_FULL: u32 = 70;     // one conn skipped: the conn table is full
@inline export const CNT_SYNC_STALE: u32 = 71;         // one conn skipped: an INACTIVE update for a conn already replaced (other dest)
@inline export const CNT_SYNC_TX_CONN: u32 = 72;       // conns encoded by the master
@inline export const CNT_SYNC_TX_FULL: u32 = 73;       // master: a message dropped, the send buffer is full (sync_qlen_max)
// the defense strategies and the half-open ring (defense.ts)
@inline export const CNT_DEFENSE_DROP_PACKET: u32 = 74; // dropped: drop_packet's 1 in drop_rate new-conn packets (ip_vs_todrop)
@inline export const CNT_DEFENSE_DROP_ENTRY: u32 = 75;  // conns removed by drop_entry's run (ip_vs_random_dropentry)
@inline export const CNT_HOPEN_RECLAIMED: u32 = 76;     // the table full: the oldest half-open conn gave its record to a new one
@inline export const CNT_DEFENSE_CHANGE: u32 = 77;      // update_defense_level changed what acts (or memory went low / plentiful)
// SYN proxy (synproxy.ts, DPVS's SYNPROXY_* estats)
@inline export const CNT_SP_SYN: u32 = 78;           // SYNs answered with a cookie SYN-ACK (no conn made)
@inline export const CNT_SP_ACK_OK: u32 = 79;        // ACKs whose cookie held: conn made, SYN sent to the real server
@inline export const CNT_SP_BAD_COOKIE: u32 = 80;    // ACKs without a conn whose cookie failed (bad or expired): left to the local stack (RST)
@inline export const CNT_SP_WAIT_DROP: u32 = 81;     // dropped: a client segment while the real server's SYN-ACK is awaited (its window is 0)
@inline export const CNT_SP_RS_DROP: u32 = 82;       // dropped: a real server segment other than SYN-ACK/RST while awaited
@inline export const CNT_SP_ESTABLISHED: u32 = 83;   // real server SYN-ACKs: sequence delta set, ACK sent to it, window opened to the client
@inline export const CNT_SP_ACK_NO_ROOM: u32 = 84;   // the ACK to the real server found the hold queue full (the client's next segment completes it)
@inline export const CNT_SP_RS_RESET: u32 = 85;      // the real server refused the SYN (RST): passed on to the client
@inline export const CNT_SP_SYN_RESENT: u32 = 86;    // the server had not answered: the client's ACK again (or its window probe) sent the SYN again
// workers (worker.ts): frames handed to the worker that owns their conn (the redirect ring)
@inline export const CNT_REDIRECT_OUT: u32 = 87;       // a frame sent to its owner's ring
@inline export const CNT_REDIRECT_IN: u32 = 88;        // a frame taken from a ring, processed here
@inline export const CNT_REDIRECT_FULL: u32 = 89;      // dropped: the owner's ring was full
@inline export const CNT_REDIRECT_TOO_BIG: u32 = 90;   // dropped: a reassembled datagram larger than a ring entry
@inline export const CNT_CONN_INDEX_FULL: u32 = 91;    // dropped: no conn made, the conn index's overflow buckets are spent (conn/table.ts)
@inline export const CNT_SP_NO_ROOM: u32 = 92;       // dropped: a valid cookie ACK, but its partition's SYN proxy entries (SP_SLOTS) are all in use
@inline export const CNT_LAST: u32 = 93;

/** Counter names as shown by the host (stats, metrics); index = CNT_*. */
export function counterName(i: u32): string {
  switch (i) {
    case CNT_RX: return "rx";
    case CNT_TX: return "tx";
    case CNT_LOCAL: return "local_reply";
    case CNT_PASS: return "pass";
    case CNT_DROP: return "drop";
    case CNT_TRUNCATED: return "drop_truncated";
    case CNT_BAD_VERSION: return "drop_bad_version";
    case CNT_BAD_IHL: return "drop_bad_ihl";
    case CNT_BAD_LEN: return "drop_bad_length";
    case CNT_BAD_IP_CSUM: return "drop_bad_ip_checksum";
    case CNT_BAD_L4: return "drop_bad_l4_header";
    case CNT_IPV6_EXT_LIMIT: return "drop_ipv6_ext_limit";
    case CNT_FRAGMENT: return "drop_fragment";
    case CNT_CONN_FULL: return "drop_conn_table_full";
    case CNT_NO_DEST: return "drop_no_destination";
    case CNT_TTL_EXCEEDED: return "drop_ttl_exceeded";
    case CNT_DEST_UNAVAILABLE: return "drop_dest_unavailable";
    case CNT_HOOK_DROP: return "drop_by_hook";
    case CNT_NOT_IP: return "pass_not_ip";
    case CNT_CONN_CREATED: return "conn_created";
    case CNT_CONN_EXPIRED: return "conn_expired";
    case CNT_CONN_REUSED: return "conn_rescheduled";
    case CNT_ICMP_XLATE: return "icmp_translated";
    case CNT_ICMP_SENT: return "icmp_error_sent";
    case CNT_ECHO_REPLY: return "icmp_echo_reply";
    case CNT_NO_HEADROOM: return "drop_no_headroom";
    case CNT_HOOK_REPEAT_LIMIT: return "drop_hook_repeat_limit";
    case CNT_NO_CONN: return "pass_no_conn";
    case CNT_BAD_SLOT: return "drop_bad_slot";
    case CNT_NEIGH_HELD: return "neigh_held";
    case CNT_NEIGH_QUEUE_FULL: return "drop_neigh_queue_full";
    case CNT_NEIGH_FAILED: return "drop_neigh_failed";
    case CNT_NEIGH_FULL: return "drop_neigh_table_full";
    case CNT_ARP_REPLY: return "neigh_advert_sent";
    case CNT_NEIGH_PROBE: return "neigh_solicit_sent";
    case CNT_FRAG_NEEDED: return "icmp_frag_needed";
    case CNT_FNAT_NO_LADDR: return "drop_fnat_no_laddr";
    case CNT_FNAT_NO_PORT: return "drop_fnat_no_port";
    case CNT_TOA_ADDED: return "toa_added";
    case CNT_TOA_NO_ROOM: return "toa_no_room";
    case CNT_SCTP_BAD_CHUNK: return "drop_sctp_bad_chunk";
    case CNT_FRAG_CREATED: return "frag_created";
    case CNT_FRAG_NO_ROOM: return "drop_frag_no_room";
    case CNT_BAD_VNET_HDR: return "drop_bad_vnet_hdr";
    case CNT_GSO: return "gso_packets";
    case CNT_TCP_RESET_SENT: return "tcp_reset_sent";
    case CNT_PORT_UNREACH_SENT: return "icmp_port_unreach_sent";
    case CNT_METHOD_UNSUPPORTED: return "drop_method_unsupported_on_link";
    case CNT_LOCAL_NOT_TAKEN: return "drop_local_not_taken";
    case CNT_REASM_REQDS: return "reasm_reqds";
    case CNT_REASM_OK: return "reasm_ok";
    case CNT_REASM_FAILS: return "drop_reasm_fails";
    case CNT_REASM_OVERLAP: return "drop_reasm_overlap";
    case CNT_REASM_DUP: return "drop_reasm_duplicate";
    case CNT_REASM_TIMEOUT: return "reasm_timeout";
    case CNT_REASM_OVER_BUDGET: return "drop_reasm_over_budget";
    case CNT_REASM_OVERSIZE: return "drop_reasm_oversize";
    case CNT_REASM_BAD_FRAG: return "drop_reasm_bad_fragment";
    case CNT_REASM_NO_ROOM: return "drop_reasm_no_room";
    case CNT_REASM_FRAGS_FREED: return "reasm_frags_freed";
    case CNT_REASM_TOO_BIG: return "drop_reasm_too_big";
    case CNT_REASM_HELD: return "reasm_held";
    case CNT_REASM_PASSED: return "reasm_frag_passed";
    case CNT_GSO_SEGMENTS: return "gso_segments";
    case CNT_GSO_NO_ROOM: return "drop_gso_no_room";
    case CNT_SYNC_RX_MSG: return "sync_rx_messages";
    case CNT_SYNC_RX_CONN: return "sync_rx_conns";
    case CNT_SYNC_BAD_MSG: return "drop_sync_bad_message";
    case CNT_SYNC_SYNCID: return "drop_sync_other_syncid";
    case CNT_SYNC_BAD_CONN: return "drop_sync_bad_conn";
    case CNT_SYNC_CONN_FULL: return "drop_sync_conn_full";
    case CNT_CONN_INDEX_FULL: return "drop_conn_index_full";
    case CNT_SYNC_STALE: return "drop_sync_stale_update";
    case CNT_SYNC_TX_CONN: return "sync_tx_conns";
    case CNT_SYNC_TX_FULL: return "drop_sync_queue_full";
    case CNT_DEFENSE_DROP_PACKET: return "drop_defense_packet";
    case CNT_DEFENSE_DROP_ENTRY: return "defense_conns_dropped";
    case CNT_HOPEN_RECLAIMED: return "conn_half_open_reclaimed";
    case CNT_DEFENSE_CHANGE: return "defense_level_changes";
    case CNT_SP_SYN: return "synproxy_cookie_sent";
    case CNT_SP_ACK_OK: return "synproxy_cookie_ok";
    case CNT_SP_BAD_COOKIE: return "synproxy_bad_cookie";
    case CNT_SP_WAIT_DROP: return "drop_synproxy_handshake";
    case CNT_SP_RS_DROP: return "drop_synproxy_rs_unexpected";
    case CNT_SP_ESTABLISHED: return "synproxy_established";
    case CNT_SP_ACK_NO_ROOM: return "synproxy_ack_no_room";
    case CNT_SP_RS_RESET: return "synproxy_rs_reset";
    case CNT_SP_SYN_RESENT: return "synproxy_syn_resent";
    case CNT_SP_NO_ROOM: return "drop_synproxy_no_room";
    case CNT_REDIRECT_OUT: return "redirect_out";
    case CNT_REDIRECT_IN: return "redirect_in";
    case CNT_REDIRECT_FULL: return "drop_redirect_ring_full";
    case CNT_REDIRECT_TOO_BIG: return "drop_redirect_too_big";
  }
  return "";
}
