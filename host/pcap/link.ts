// Link-layer stripping: find where the IP header starts in a captured frame so the engine
// is fed raw IP frames. This is the one place the host looks inside a frame, and it only
// reads the link header (never IP), in the spirit of ARCHITECTURE.md rule 1.
// Link type numbers: tcpdump.org/linktypes.html (draft-ietf-opsawg-pcaplinktype).
// Never throws: every outcome is either an L3 location or a skip reason string.

export const LINKTYPE = {
  NULL: 0, // BSD loopback, 4-byte AF_ value in the *capturing host's* byte order
  ETHERNET: 1,
  DLT_RAW_12: 12, // DLT_RAW on most systems (but DLT_LOOP on OpenBSD)
  DLT_RAW_14: 14, // DLT_RAW on OpenBSD
  RAW: 101,
  LOOP: 108, // OpenBSD loopback, AF_ value always in network byte order
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

const SUPPORTED = new Set<number>(Object.values(LINKTYPE));

export function isSupportedLinkType(linkType: number): boolean {
  return SUPPORTED.has(linkType);
}

export interface L3Location {
  /** Byte offset of the IP header inside the frame. */
  l3Offset: number;
  family: 4 | 6;
}

/** Either where IP starts, or why this frame is skipped. */
export type LinkResult = L3Location | string;

export const SKIP_NOT_IP = 'not IP';
export const SKIP_TRUNCATED = 'truncated link header';

const ETH_HLEN = 14;
const VLAN_HLEN = 4;
const SLL_HLEN = 16;
const SLL2_HLEN = 20;
const NULL_HLEN = 4;

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;
const ETH_P_QINQ_OLD = 0x9100; // pre-802.1ad QinQ outer tag still seen in captures
const MAX_VLAN_TAGS = 2; // 802.1Q, or 802.1ad outer + 802.1Q inner

// AF_INET is 2 everywhere; AF_INET6 differs per OS, and NULL/LOOP captures carry the
// capturing host's value: Linux 10, Windows 23, Net/OpenBSD 24, FreeBSD 28, Darwin 30.
const AF_INET = 2;
const AF_INET6 = new Set([10, 23, 24, 28, 30]);

function be16(d: Uint8Array, o: number): number {
  return (d[o]! << 8) | d[o + 1]!;
}

function be32(d: Uint8Array, o: number): number {
  return ((d[o]! << 24) | (d[o + 1]! << 16) | (d[o + 2]! << 8) | d[o + 3]!) >>> 0;
}

function le32(d: Uint8Array, o: number): number {
  return (d[o]! | (d[o + 1]! << 8) | (d[o + 2]! << 16) | (d[o + 3]! << 24)) >>> 0;
}

/** Raw IP: the family is the version nibble of the first byte. */
function fromVersionNibble(d: Uint8Array, off: number): LinkResult {
  if (d.length <= off) return SKIP_TRUNCATED;
  const v = d[off]! >> 4;
  if (v === 4) return { l3Offset: off, family: 4 };
  if (v === 6) return { l3Offset: off, family: 6 };
  return SKIP_NOT_IP;
}

/** Map an ethertype to L3, walking up to MAX_VLAN_TAGS tags (TCI(2) + inner type(2) each)
 *  that start at `payloadOff`, the first byte after the field that held `type`. */
function fromEthertype(d: Uint8Array, type: number, payloadOff: number): LinkResult {
  let off = payloadOff;
  for (let tags = 0; ; tags++) {
    if (type === ETH_P_IP) return { l3Offset: off, family: 4 };
    if (type === ETH_P_IPV6) return { l3Offset: off, family: 6 };
    if (type !== ETH_P_8021Q && type !== ETH_P_8021AD && type !== ETH_P_QINQ_OLD) return SKIP_NOT_IP;
    if (tags === MAX_VLAN_TAGS) return SKIP_NOT_IP;
    if (d.length < off + VLAN_HLEN) return SKIP_TRUNCATED;
    type = be16(d, off + 2);
    off += VLAN_HLEN;
  }
}

function fromAf(af: number): LinkResult {
  if (af === AF_INET) return { l3Offset: NULL_HLEN, family: 4 };
  if (AF_INET6.has(af)) return { l3Offset: NULL_HLEN, family: 6 };
  return SKIP_NOT_IP;
}

/** Find the L3 start and family of a frame captured with `linkType`. Never throws. */
export function findL3(linkType: number, frame: Uint8Array): LinkResult {
  switch (linkType) {
    case LINKTYPE.RAW:
    case LINKTYPE.DLT_RAW_14:
      return fromVersionNibble(frame, 0);
    case LINKTYPE.DLT_RAW_12: {
      // 12 is DLT_LOOP on OpenBSD: a network-order AF header starts with zero bytes,
      // which is never a valid IP version nibble, so the two readings cannot collide.
      const raw = fromVersionNibble(frame, 0);
      if (raw !== SKIP_NOT_IP || frame.length < NULL_HLEN) return raw;
      return frame.length > NULL_HLEN ? fromAf(be32(frame, 0)) : SKIP_TRUNCATED;
    }
    case LINKTYPE.IPV4: {
      const r = fromVersionNibble(frame, 0);
      return typeof r === 'string' || r.family === 4 ? r : SKIP_NOT_IP;
    }
    case LINKTYPE.IPV6: {
      const r = fromVersionNibble(frame, 0);
      return typeof r === 'string' || r.family === 6 ? r : SKIP_NOT_IP;
    }
    case LINKTYPE.ETHERNET:
      if (frame.length < ETH_HLEN) return SKIP_TRUNCATED;
      return fromEthertype(frame, be16(frame, ETH_HLEN - 2), ETH_HLEN);
    case LINKTYPE.LINUX_SLL:
      // pkttype(2) hatype(2) halen(2) addr(8) protocol(2)
      if (frame.length < SLL_HLEN) return SKIP_TRUNCATED;
      return fromEthertype(frame, be16(frame, SLL_HLEN - 2), SLL_HLEN);
    case LINKTYPE.LINUX_SLL2:
      // protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8);
      // the protocol is at the front, any VLAN tags follow the 20-byte header.
      if (frame.length < SLL2_HLEN) return SKIP_TRUNCATED;
      return fromEthertype(frame, be16(frame, 0), SLL2_HLEN);
    case LINKTYPE.NULL: {
      if (frame.length < NULL_HLEN) return SKIP_TRUNCATED;
      // Host byte order of the capturing machine: AF values are < 65536, so a value
      // whose low half is zero and high half is not was written big-endian.
      let af = le32(frame, 0);
      if ((af & 0xffff) === 0 && af !== 0) af = be32(frame, 0);
      return fromAf(af);
    }
    case LINKTYPE.LOOP:
      if (frame.length < NULL_HLEN) return SKIP_TRUNCATED;
      return fromAf(be32(frame, 0));
    default:
      return `unsupported link type ${linkType}`;
  }
}
