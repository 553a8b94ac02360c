/*
 * host/pcap/csum.ts - checksums a capture holds only partly: a capture taken on the host that
 * sends the traffic sees TCP/UDP packets before the NIC (or veth, or the kernel's software
 * fallback, skb_checksum_help) has finished their checksum. With CHECKSUM_PARTIAL the stack
 * leaves the pseudo-header sum in the checksum field (__tcp_v4_send_check: th->check =
 * ~tcp_v4_check(len, saddr, daddr, 0); udp4_hwcsum, the IPv6 twins alike) and the device sums
 * the L4 bytes from there and stores the complement.
 *
 * partialCsum() recognises such a packet (checksum wrong, field = the pseudo-header sum) and,
 * when asked, completes it as the device would have, in place. A packet with a correct
 * checksum, or with one that is wrong in any other way, is never touched: replay must pass
 * real corruption on. Runtime-agnostic, pure.
 */

const IPPROTO_TCP = 6, IPPROTO_UDP = 17;

/** Ones' complement sum of b[from, to) added to `acc` (not folded). */
function sum16(b: Uint8Array, from: number, to: number, acc: number): number {
  let s = acc, i = from;
  for (; i + 1 < to; i += 2) s += (b[i] << 8) | b[i + 1];
  if (i < to) s += b[i] << 8;
  return s;
}
const fold = (s: number): number => { while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000); return s; };
/** 0x0000 and 0xffff are the same number in ones' complement. */
const same = (a: number, b: number): boolean => (a === 0 ? 0xffff : a) === (b === 0 ? 0xffff : b);

/** Where the transport header starts, its length, protocol and the pseudo-header sum; null: not TCP/UDP we can check. */
function l4Of(p: Uint8Array): { off: number; len: number; proto: number; pseudo: number } | null {
  if (p.length < 20) return null;
  const v = p[0] >> 4;
  if (v === 4) {
    const ihl = (p[0] & 15) * 4;
    const tot = (p[2] << 8) | p[3];
    if (ihl < 20 || tot < ihl || tot > p.length) return null;
    if ((((p[6] << 8) | p[7]) & 0x3fff) !== 0) return null;   // a fragment: no partial checksum there
    const proto = p[9], len = tot - ihl;
    return { off: ihl, len, proto, pseudo: sum16(p, 12, 20, proto + len) };
  }
  if (v === 6 && p.length >= 40) {
    const len = (p[4] << 8) | p[5];
    if (40 + len > p.length) return null;
    const proto = p[6];   // only TCP/UDP right after the fixed header (extension headers: left as they are)
    return { off: 40, len, proto, pseudo: sum16(p, 8, 40, proto + len) };
  }
  return null;
}

export type CsumState = 'good' | 'partial' | 'other';

/**
 * 'partial' when `p` is TCP or UDP whose checksum field holds the pseudo-header sum instead of
 * the checksum (then, with `complete`, the checksum is finished in place); 'good' when it is
 * correct (or absent: UDP over IPv4 with 0); 'other' for anything else (not checked or wrong).
 */
export function partialCsum(p: Uint8Array, complete: boolean): CsumState {
  const l = l4Of(p);
  if (!l || (l.proto !== IPPROTO_TCP && l.proto !== IPPROTO_UDP)) return 'other';
  const at = l.off + (l.proto === IPPROTO_TCP ? 16 : 6);
  if (l.len < (l.proto === IPPROTO_TCP ? 20 : 8)) return 'other';
  const field = (p[at] << 8) | p[at + 1];
  if (l.proto === IPPROTO_UDP && field === 0 && p[0] >> 4 === 4) return 'good';
  const all = fold(sum16(p, l.off, l.off + l.len, l.pseudo));
  if (all === 0xffff) return 'good';
  if (!same(field, fold(l.pseudo))) return 'other';
  if (complete) {
    // what the device does: sum the L4 bytes from the header on (the field holds the pseudo sum), store the complement
    let c = ~fold(sum16(p, l.off, l.off + l.len, 0)) & 0xffff;
    if (c === 0 && l.proto === IPPROTO_UDP) c = 0xffff;   // UDP sends a computed 0 as 0xffff
    p[at] = c >> 8; p[at + 1] = c & 0xff;
  }
  return 'partial';
}
