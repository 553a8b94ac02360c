/*
 * host/types.ts - the data the engine wrapper returns and the ipvsadm rules (host/rules/) read and write.
 *
 * The engine wrapper produces exactly these records. They follow libipvs'
 * ip_vs_service_entry / ip_vs_dest_entry and the /proc/net/ip_vs_conn line,
 * with addresses as text (normalised: dotted quad, or inet_ntop-style IPv6).
 * Pure data: no Node APIs, usable in a browser.
 */

export type Proto = 'TCP' | 'UDP' | 'SCTP';

/** 64-bit counters (ip_vs_stats_user / stats64). */
export interface Stats { conns: bigint; inpkts: bigint; outpkts: bigint; inbytes: bigint; outbytes: bigint }

/** Estimated rates (per second), as the kernel's estimator reports them. */
export interface Rates { cps: number; inpps: number; outpps: number; inbps: number; outbps: number }

/** IP_VS_SVC_F_* */
export const SVC_F_PERSISTENT = 0x1;
export const SVC_F_HASHED = 0x2;
export const SVC_F_ONEPACKET = 0x4;
export const SVC_F_SCHED1 = 0x8;
export const SVC_F_SCHED2 = 0x10;
export const SVC_F_SCHED3 = 0x20;
export const SVC_F_SCHED_MASK = SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3;
/** DPVS's IP_VS_SVC_F_SYNPROXY (its 0x8 is SCHED1 here): the engine's own bit (assembly/defs.ts) */
export const SVC_F_SYNPROXY = 0x10000;
/** sh/mh give SCHED1/SCHED2 their own names */
export const SVC_F_SCHED_SH_FALLBACK = SVC_F_SCHED1;
export const SVC_F_SCHED_SH_PORT = SVC_F_SCHED2;
export const SVC_F_SCHED_MH_FALLBACK = SVC_F_SCHED1;
export const SVC_F_SCHED_MH_PORT = SVC_F_SCHED2;

/** IP_VS_TUNNEL_ENCAP_FLAG_*: 0 = no checksum */
export const TUN_F_NOCSUM = 0;
export const TUN_F_CSUM = 1;
export const TUN_F_REMCSUM = 2;

export interface ServiceView {
  af: 4 | 6;
  /** null for a fwmark service */
  proto: Proto | null;
  /** '0.0.0.0' / '::' for a fwmark service */
  addr: string;
  port: number;
  /** 0 unless a fwmark service */
  fwmark: number;
  sched: string;
  /** IP_VS_SVC_F_* */
  flags: number;
  /** persistence timeout, seconds */
  timeout: number;
  /** v4: mask as a host-order u32 (255.255.255.0 = 0xffffff00); v6: prefix length */
  netmask: number;
  /** persistence engine name, '' when none */
  pe: string;
  stats: Stats;
  rates: Rates;
  /** any order (the kernel keeps newest first); the formatter sorts unless nosort */
  dests: DestView[];
  /** FULLNAT local addresses (DPVS -P -z), in the order added; absent when none */
  laddrs?: string[];
}

export type Fwd = 'Masq' | 'Local' | 'Tunnel' | 'Route' | 'FullNat';

export interface DestView {
  af: 4 | 6;
  addr: string;
  port: number;
  fwd: Fwd;
  weight: number;
  uthresh: number;
  lthresh: number;
  activeconns: number;
  inactconns: number;
  persistconns: number;
  /** only meaningful for fwd 'Tunnel'; undefined = ipip */
  tunType?: 'ipip' | 'gue' | 'gre';
  tunPort?: number;
  /** TUN_F_*: 0 nocsum, 1 csum, 2 remcsum */
  tunFlags?: number;
  stats: Stats;
  rates: Rates;
}

/** One /proc/net/ip_vs_conn line. proto 'IP' for fwmark templates. */
export interface ConnView {
  proto: Proto | 'IP';
  af: 4 | 6;
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  daddr: string;
  dport: number;
  /** kernel state name: ESTABLISHED, SYN_RECV, UDP, NONE, ... */
  state: string;
  /** time left until expiry, ms (shown as whole seconds, rounded down) */
  expiresMs: number;
  flags: number;
  pe?: string;
  pedata?: string;
  /** FULLNAT: the local address and port the real server sees (DPVS's conn listing) */
  laddr?: string;
  lport?: number;
}

/** seconds; in a set request 0 means "leave unchanged" */
export interface Timeouts { tcp: number; tcpfin: number; udp: number }

/** One sync daemon (ipvsadm -L --daemon). */
export interface DaemonView {
  state: 'master' | 'backup';
  mcastIfn: string;
  syncid: number;
  maxlen?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

export const ZERO_STATS: Stats = Object.freeze({ conns: 0n, inpkts: 0n, outpkts: 0n, inbytes: 0n, outbytes: 0n });
export const ZERO_RATES: Rates = Object.freeze({ cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
