// pcap writer: emits Uint8Array chunks (file header once, then one chunk per record), so
// output can go to a WritableStream, a Blob, an fs stream or a test buffer alike.
// Defaults are the ones every pcap reader accepts: LINKTYPE_RAW (101) and the microsecond
// magic a1b2c3d4, little-endian (draft-ietf-opsawg-pcap sections 4-5). Nanosecond is opt-in.
// Runtime-agnostic: no Node APIs.

import { PCAP_ERR, PcapError } from './errors.ts';
import { LINKTYPE } from './link.ts';

export interface PcapWriterOptions {
  /** Link type of every record (default LINKTYPE_RAW = 101: raw IPv4/IPv6). */
  linkType?: number;
  /** Nanosecond timestamps (magic a1b23c4d); default false = microseconds (a1b2c3d4). */
  nanosecond?: boolean;
  /** Snapshot length written in the header; longer packets are cut to it (default 262144). */
  snaplen?: number;
  /** Byte order; default little-endian (what x86/ARM tcpdump writes). */
  bigEndian?: boolean;
}

const HDR_LEN = 24;
const REC_LEN = 16;
const MAX_U32 = 0xffffffffn;
const NS_PER_S = 1_000_000_000n;

export class PcapWriter {
  readonly linkType: number;
  readonly nanosecond: boolean;
  readonly snaplen: number;
  private readonly le: boolean;
  private headerDone = false;

  constructor(opts: PcapWriterOptions = {}) {
    this.linkType = opts.linkType ?? LINKTYPE.RAW;
    this.nanosecond = opts.nanosecond ?? false;
    this.snaplen = opts.snaplen ?? 262144;
    this.le = !(opts.bigEndian ?? false);
  }

  /** The 24-byte file header. */
  header(): Uint8Array {
    const b = new Uint8Array(HDR_LEN);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, this.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, this.le);
    dv.setUint16(4, 2, this.le); // version 2.4
    dv.setUint16(6, 4, this.le);
    // thiszone and sigfigs stay 0 (section 4: both SHOULD be 0)
    dv.setUint32(16, this.snaplen, this.le);
    dv.setUint32(20, this.linkType, this.le);
    this.headerDone = true;
    return b;
  }

  /** One record. `origLen` defaults to data.length; data beyond snaplen is cut off.
   *  The first call also prepends the file header if header() was not called. */
  record(tsNs: bigint, data: Uint8Array, origLen = data.length): Uint8Array {
    if (tsNs < 0n) throw new PcapError(PCAP_ERR.WRITE, `negative timestamp ${tsNs} ns`);
    const sec = tsNs / NS_PER_S;
    if (sec > MAX_U32) throw new PcapError(PCAP_ERR.WRITE, `timestamp ${tsNs} ns is past the 32-bit seconds field`);
    const ns = Number(tsNs % NS_PER_S);
    const frac = this.nanosecond ? ns : Math.floor(ns / 1000);
    const capLen = Math.min(data.length, this.snaplen);
    const head = this.headerDone ? 0 : HDR_LEN;
    const b = new Uint8Array(head + REC_LEN + capLen);
    if (head) b.set(this.header(), 0);
    const dv = new DataView(b.buffer, head);
    dv.setUint32(0, Number(sec), this.le);
    dv.setUint32(4, frac, this.le);
    dv.setUint32(8, capLen, this.le);
    dv.setUint32(12, Math.max(origLen, capLen), this.le);
    b.set(data.subarray(0, capLen), head + REC_LEN);
    return b;
  }
}

/** A whole pcap file in one buffer (tests, small exports). */
export function writePcap(
  recs: Iterable<{ tsNs: bigint; data: Uint8Array; origLen?: number }>,
  opts: PcapWriterOptions = {},
): Uint8Array {
  const w = new PcapWriter(opts);
  const parts = [w.header()];
  for (const r of recs) parts.push(w.record(r.tsNs, r.data, r.origLen));
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
