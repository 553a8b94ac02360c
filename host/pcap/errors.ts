// PcapError: the only exception type the pcap/pcapng codec throws on bad input.
// Stable `code` strings (undici's UND_ERR_* pattern) so callers and tests match on codes,
// never on message text. Runtime-agnostic: no Node APIs.

export const PCAP_ERR = {
  /** 0-length input: not a capture at all. */
  EMPTY: 'WVS_ERR_PCAP_EMPTY',
  /** First 4 bytes are no known pcap/pcapng magic, or an SHB byte-order magic is bad. */
  MAGIC: 'WVS_ERR_PCAP_MAGIC',
  /** pcap major != 2, pcapng section major != 1. */
  VERSION: 'WVS_ERR_PCAP_VERSION',
  /** The file (or section) header itself is cut short, so no record can be read. */
  TRUNCATED: 'WVS_ERR_PCAP_TRUNCATED',
  /** A pcapng block length lies: < 12, not a multiple of 4, too small for its type,
   *  trailing copy differs, or larger than we are willing to buffer. */
  BLOCK_LEN: 'WVS_ERR_PCAP_BLOCK_LEN',
  /** Captured length > snaplen, > the 256 KiB cap, or beyond its block. */
  CAPLEN: 'WVS_ERR_PCAP_CAPLEN',
  /** A packet names an interface that no IDB in this section defined. */
  INTERFACE: 'WVS_ERR_PCAP_INTERFACE',
  /** A pcapng option's length runs past its block. */
  OPTION: 'WVS_ERR_PCAP_OPTION',
  /** Writer given a value the format cannot carry (negative/huge timestamp). */
  WRITE: 'WVS_ERR_PCAP_WRITE',
  /** API misuse: push() after end(). */
  STATE: 'WVS_ERR_PCAP_STATE',
} as const;

export type PcapErrorCode = (typeof PCAP_ERR)[keyof typeof PCAP_ERR];

export class PcapError extends Error {
  override readonly name = 'PcapError';
  readonly code: PcapErrorCode;
  /** Absolute byte offset in the input where the offending record/block starts (-1 if n/a). */
  readonly offset: number;
  /** 1-based packet number involved (0 if the error is not about a packet). */
  readonly packet: number;

  constructor(code: PcapErrorCode, message: string, offset = -1, packet = 0) {
    const where = [offset >= 0 ? `offset ${offset}` : '', packet > 0 ? `packet ${packet}` : '']
      .filter(Boolean)
      .join(', ');
    super(`${code}: ${message}${where ? ` (${where})` : ''}`);
    this.code = code;
    this.offset = offset;
    this.packet = packet;
  }
}
