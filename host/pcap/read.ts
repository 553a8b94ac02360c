// Streaming pcap + pcapng reader. Runtime-agnostic (no Node APIs): bytes are pushed in
// chunks of any size/split, records are pulled one at a time, and only the current
// record/block is ever buffered, so memory stays flat however large the file is.
//
//   const r = new PcapReader();
//   for await (const chunk of stream) { r.push(chunk); let rec; while ((rec = r.next())) use(rec); }
//   r.end(); let rec; while ((rec = r.next())) use(rec);     // flush; then read r.counters
//
// or the helpers below: `streamRecords(source, reader)` / `records(chunks, reader)`.
//
// Formats:
// - pcap (draft-ietf-opsawg-pcap): magics a1b2c3d4 (us) and a1b23c4d (ns) in both byte
//   orders, plus a1b2cd34 (Kuznetzov's patched libpcap, 24-byte record headers).
// - pcapng (draft-ietf-opsawg-pcapng): SHB (per-section byte order), IDB (if_tsresol incl.
//   the power-of-2 form, if_tsoffset), EPB, SPB, OPB; every other block is skipped and counted.
//
// Bad input only ever raises PcapError (errors.ts). A record cut short by end of input is
// not an error: reading stops and `counters.truncated` counts it, with a note.

import { PCAP_ERR, PcapError } from './errors.ts';
import { isSupportedLinkType } from './link.ts';

export interface PcapRecord {
  /** Packet number in the file, 1-based (counts every packet record/block). */
  index: number;
  /** Capture timestamp in nanoseconds since the epoch (SPB has none: the previous packet's). */
  tsNs: bigint;
  linkType: number;
  /** pcapng interface id within its section; 0 for pcap. */
  ifIndex: number;
  capLen: number;
  origLen: number;
  /** The captured bytes. Aliases the pushed chunk when it lies inside one (zero copy)
   *  unless `copyData` is set; do not mutate pushed chunks while records are in use. */
  data: Uint8Array;
}

export interface PcapCounters {
  /** Records returned by next(). */
  packets: number;
  /** pcapng blocks skipped (NRB, ISB, DSB, custom, unknown...). */
  skippedBlocks: number;
  /** Packets per link type that link.ts cannot strip (still returned to the caller). */
  unknownLinkTypes: Map<number, number>;
  /** Records/blocks cut short by the end of input (reading stops at the first). */
  truncated: number;
  /** Records longer than their snaplen that were cut to it (only with `clipOverSnaplen`). */
  clipped: number;
  /** Human-readable notes (truncation with its offset), at most MAX_NOTES. */
  notes: string[];
}

export type PcapFormat = 'pcap' | 'pcapng';

export interface PcapReaderOptions {
  /** Largest captured length accepted (default 256 KiB, libpcap's MAXIMUM_SNAPLEN). */
  maxCapLen?: number;
  /** Largest IDB we buffer whole to read its options (default 1 MiB). */
  maxMetaBlockLen?: number;
  /** Copy packet bytes out of the pushed chunks (default false: zero-copy views). */
  copyData?: boolean;
  /** A captured length above the snaplen (but within maxCapLen) is cut to the snaplen and
   *  counted in `clipped`, as libpcap's savefile reader does, instead of raising
   *  WVS_ERR_PCAP_CAPLEN (default false: refuse). */
  clipOverSnaplen?: boolean;
}

export const DEFAULT_MAX_CAPLEN = 256 * 1024;
const DEFAULT_MAX_META_BLOCK = 1 << 20;
const MAX_NOTES = 16;

// pcap magics, read as big-endian u32 from the first 4 bytes.
const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAP_MAGIC_KUZ = 0xa1b2cd34;
const PCAP_HDR_LEN = 24;
const PCAP_REC_LEN = 16;
const PCAP_REC_LEN_KUZ = 24; // + ifindex(4) protocol(2) pkt_type(1) pad(1)

// pcapng block types (draft-ietf-opsawg-pcapng section 11.1).
const BT_SHB = 0x0a0d0d0a; // palindromic: recognisable before the byte order is known
const BT_IDB = 0x00000001;
const BT_OPB = 0x00000002; // obsolete Packet Block (Appendix A)
const BT_SPB = 0x00000003;
const BT_EPB = 0x00000006;
const SHB_BOM = 0x1a2b3c4d;

// Fixed parts (block header included) and minimum total lengths (sections 4.1-4.4).
const BLOCK_HDR = 8; // type + total length
const BLOCK_MIN = 12; // type + length + trailing length (section 3.1)
const SHB_FIXED = 24; // + BOM(4) major(2) minor(2) section length(8)
const IDB_FIXED = 16; // + linktype(2) reserved(2) snaplen(4)
const EPB_FIXED = 28; // + if id(4) ts hi(4) ts lo(4) caplen(4) origlen(4); OPB same size
const SPB_FIXED = 12; // + origlen(4)

// IDB option codes (section 4.2).
const OPT_ENDOFOPT = 0;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;

const NS_PER_S = 1_000_000_000n;

interface Iface {
  linkType: number;
  snaplen: number;
  // ns = (units * tsMul / tsDiv) >> tsShift, then + tsOffsetNs (if_tsresol, if_tsoffset)
  tsMul: bigint;
  tsDiv: bigint;
  tsShift: bigint;
  tsOffsetNs: bigint;
}

const pad4 = (n: number): number => (n + 3) & ~3;

/** FIFO of pushed chunks; hands out contiguous views, copying only across chunk borders. */
class ByteQueue {
  private chunks: (Uint8Array | undefined)[] = [];
  private first = 0;
  private head = 0;
  length = 0;

  push(c: Uint8Array): void {
    if (c.length === 0) return;
    this.chunks.push(c);
    this.length += c.length;
  }

  /** The first n bytes (n <= length) without consuming them. */
  peek(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const c = this.chunks[this.first]!;
    if (c.length - this.head >= n) return c.subarray(this.head, this.head + n);
    const out = new Uint8Array(n);
    let o = 0;
    let i = this.first;
    let h = this.head;
    while (o < n) {
      const ci = this.chunks[i++]!;
      const take = Math.min(ci.length - h, n - o);
      out.set(ci.subarray(h, h + take), o);
      o += take;
      h = 0;
    }
    return out;
  }

  consume(n: number): void {
    this.length -= n;
    while (n > 0) {
      const c = this.chunks[this.first]!;
      const avail = c.length - this.head;
      if (n < avail) {
        this.head += n;
        return;
      }
      n -= avail;
      this.chunks[this.first++] = undefined; // let the chunk be collected
      this.head = 0;
    }
    if (this.first === this.chunks.length) {
      this.chunks = [];
      this.first = 0;
    } else if (this.first > 64 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }
}

type State =
  | 'magic'
  | 'pcapHeader'
  | 'pcapRecord'
  | 'ngBlock' // block header: type + total length
  | 'ngBody' // the fixed part of a known block type
  | 'ngSkip' // discard the rest of the body without buffering it
  | 'ngTrailer' // trailing total length must repeat the leading one (section 3.1)
  | 'done';

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export class PcapReader {
  readonly counters: PcapCounters = {
    packets: 0,
    skippedBlocks: 0,
    unknownLinkTypes: new Map(),
    truncated: 0,
    clipped: 0,
    notes: [],
  };
  /** Known after the first 4 bytes. */
  format: PcapFormat | undefined;

  private readonly maxCapLen: number;
  private readonly maxMetaBlockLen: number;
  private readonly copyData: boolean;
  private readonly clipOverSnaplen: boolean;
  private readonly q = new ByteQueue();
  private state: State = 'magic';
  private ended = false;
  private error: PcapError | undefined;
  /** Absolute offset of the first byte still in the queue. */
  private offset = 0;
  private le = true;
  private packetIndex = 0;
  private lastTsNs = 0n;

  // pcap
  private nano = false;
  private recHdrLen = PCAP_REC_LEN;
  private snaplen = 0;
  private linkType = 0;

  // pcapng: current block and section
  private blockType = 0;
  private blockLen = 0;
  private blockStart = 0;
  private skipRemaining = 0;
  private pending: PcapRecord | undefined;
  private pendingClipped = false;
  private ifaces: Iface[] = [];
  private inSection = false;

  constructor(opts: PcapReaderOptions = {}) {
    this.maxCapLen = opts.maxCapLen ?? DEFAULT_MAX_CAPLEN;
    this.maxMetaBlockLen = opts.maxMetaBlockLen ?? DEFAULT_MAX_META_BLOCK;
    this.copyData = opts.copyData ?? false;
    this.clipOverSnaplen = opts.clipOverSnaplen ?? false;
  }

  /** Bytes currently held (at most the current record/block plus the last chunk). */
  get bufferedBytes(): number {
    return this.q.length;
  }

  /** True once the input is exhausted (or an error was raised) and no record is left. */
  get done(): boolean {
    return this.state === 'done';
  }

  /** Link types of the interfaces in the current section (pcap: one entry). */
  get linkTypes(): number[] {
    return this.format === 'pcap' ? [this.linkType] : this.ifaces.map((i) => i.linkType);
  }

  push(chunk: Uint8Array): void {
    if (this.ended) throw new PcapError(PCAP_ERR.STATE, 'push() after end()');
    this.q.push(chunk);
  }

  /** No more input will come: next() will now report truncation or finish. */
  end(): void {
    this.ended = true;
  }

  /** The next record, or null when more input is needed (or, once `done`, at the end). */
  next(): PcapRecord | null {
    if (this.error) throw this.error;
    try {
      return this.step();
    } catch (e) {
      if (e instanceof PcapError) {
        this.error = e;
        this.state = 'done';
      }
      throw e;
    }
  }

  private consume(n: number): void {
    this.q.consume(n);
    this.offset += n;
  }

  private err(code: PcapError['code'], msg: string, packet = 0, at = this.offset): PcapError {
    return new PcapError(code, msg, at, packet);
  }

  /** End of input inside a record/block: stop with a counted note, not an exception. */
  private truncate(what: string, have: number, need: number, at: number): null {
    this.counters.truncated++;
    if (this.counters.notes.length < MAX_NOTES) {
      this.counters.notes.push(`truncated ${what} at offset ${at}: ${have} of ${need} bytes`);
    }
    this.pending = undefined;
    this.state = 'done';
    return null;
  }

  /** Not enough bytes queued: wait for more, or finish if the input has ended. */
  private starve(need: number, what: string, at = this.offset, have = this.q.length): null {
    if (!this.ended) return null;
    if (this.q.length === 0 && this.state !== 'ngSkip' && this.state !== 'ngTrailer' && this.state !== 'ngBody') {
      this.state = 'done'; // clean end between records
      return null;
    }
    return this.truncate(what, have, need, at);
  }

  private emit(rec: PcapRecord, clipped: boolean): PcapRecord {
    this.counters.packets++;
    if (clipped) this.counters.clipped++;
    if (!isSupportedLinkType(rec.linkType)) {
      const m = this.counters.unknownLinkTypes;
      m.set(rec.linkType, (m.get(rec.linkType) ?? 0) + 1);
    }
    if (this.copyData) rec.data = rec.data.slice();
    return rec;
  }

  private step(): PcapRecord | null {
    for (;;) {
      switch (this.state) {
        case 'done':
          return null;
        case 'magic':
          if (!this.readMagic()) return null;
          break;
        case 'pcapHeader':
          if (!this.readPcapHeader()) return null;
          break;
        case 'pcapRecord':
          return this.readPcapRecord();
        case 'ngBlock':
          if (!this.readBlockHeader()) return null;
          break;
        case 'ngBody':
          if (!this.readBlockBody()) return null;
          break;
        case 'ngSkip': {
          const n = Math.min(this.skipRemaining, this.q.length);
          this.consume(n);
          this.skipRemaining -= n;
          if (this.skipRemaining > 0) {
            return this.starve(this.blockLen, this.blockName(), this.blockStart, this.offset - this.blockStart);
          }
          this.state = 'ngTrailer';
          break;
        }
        case 'ngTrailer': {
          if (this.q.length < 4) {
            return this.starve(this.blockLen, this.blockName(), this.blockStart, this.offset - this.blockStart + this.q.length);
          }
          const trail = view(this.q.peek(4)).getUint32(0, this.le);
          if (trail !== this.blockLen) {
            throw this.err(
              PCAP_ERR.BLOCK_LEN,
              `${this.blockName()} trailing length ${trail} != leading length ${this.blockLen}`,
              this.pending?.index ?? 0,
              this.blockStart,
            );
          }
          this.consume(4);
          this.state = 'ngBlock';
          const rec = this.pending;
          if (rec) {
            this.pending = undefined;
            return this.emit(rec, this.pendingClipped);
          }
          break;
        }
      }
    }
  }

  private readMagic(): boolean {
    if (this.q.length < 4) {
      if (!this.ended) return false;
      if (this.offset === 0 && this.q.length === 0) throw this.err(PCAP_ERR.EMPTY, 'empty input: no capture header');
      throw this.err(PCAP_ERR.TRUNCATED, `input of ${this.q.length} bytes is too short for a capture header`);
    }
    const b = this.q.peek(4);
    const be = view(b).getUint32(0, false);
    const le = view(b).getUint32(0, true);
    if (be === BT_SHB) {
      this.format = 'pcapng';
      this.state = 'ngBlock';
      return true;
    }
    for (const [magic, isLe] of [
      [be, false],
      [le, true],
    ] as const) {
      if (magic === PCAP_MAGIC_US || magic === PCAP_MAGIC_NS || magic === PCAP_MAGIC_KUZ) {
        this.format = 'pcap';
        this.le = isLe;
        this.nano = magic === PCAP_MAGIC_NS;
        this.recHdrLen = magic === PCAP_MAGIC_KUZ ? PCAP_REC_LEN_KUZ : PCAP_REC_LEN;
        this.state = 'pcapHeader';
        return true;
      }
    }
    const hex = be.toString(16).padStart(8, '0');
    const hint = b[0] === 0x1f && b[1] === 0x8b ? ' (gzip-compressed: decompress first)' : '';
    throw this.err(PCAP_ERR.MAGIC, `not a pcap or pcapng file: magic 0x${hex}${hint}`);
  }

  private readPcapHeader(): boolean {
    if (this.q.length < PCAP_HDR_LEN) {
      if (!this.ended) return false;
      throw this.err(PCAP_ERR.TRUNCATED, `pcap file header needs ${PCAP_HDR_LEN} bytes, got ${this.q.length}`);
    }
    const dv = view(this.q.peek(PCAP_HDR_LEN));
    const major = dv.getUint16(4, this.le);
    const minor = dv.getUint16(6, this.le);
    if (major !== 2) throw this.err(PCAP_ERR.VERSION, `pcap version ${major}.${minor} (only 2.x is defined)`);
    this.snaplen = dv.getUint32(16, this.le);
    // Low 16 bits are the link type; the upper bits carry FCS info (draft-ietf-opsawg-pcap section 4).
    this.linkType = dv.getUint32(20, this.le) & 0xffff;
    this.consume(PCAP_HDR_LEN);
    this.state = 'pcapRecord';
    return true;
  }

  private readPcapRecord(): PcapRecord | null {
    const hl = this.recHdrLen;
    if (this.q.length < hl) return this.starve(hl, `record header of packet ${this.packetIndex + 1}`);
    const dv = view(this.q.peek(hl));
    const sec = dv.getUint32(0, this.le);
    const frac = dv.getUint32(4, this.le);
    const capLen = dv.getUint32(8, this.le);
    const origLen = dv.getUint32(12, this.le);
    const index = this.packetIndex + 1;
    const keep = this.checkCapLen(capLen, this.snaplen, index);
    const need = hl + capLen;
    if (this.q.length < need) return this.starve(need, `packet ${index}`);
    const data = this.q.peek(hl + keep).subarray(hl);
    this.consume(need);
    this.packetIndex = index;
    const tsNs = BigInt(sec) * NS_PER_S + BigInt(this.nano ? frac : frac * 1000);
    this.lastTsNs = tsNs;
    return this.emit({ index, tsNs, linkType: this.linkType, ifIndex: 0, capLen: keep, origLen, data }, keep < capLen);
  }

  /** Validate a captured length; returns how many bytes of it to hand out. Call only once
   *  the whole record is buffered when clipping (it counts). */
  private checkCapLen(capLen: number, snaplen: number, index: number, at = this.offset): number {
    if (capLen > this.maxCapLen) {
      throw this.err(PCAP_ERR.CAPLEN, `captured length ${capLen} exceeds the ${this.maxCapLen}-byte limit`, index, at);
    }
    if (snaplen !== 0 && capLen > snaplen) {
      if (this.clipOverSnaplen) return snaplen;
      throw this.err(PCAP_ERR.CAPLEN, `captured length ${capLen} exceeds snaplen ${snaplen}`, index, at);
    }
    return capLen;
  }

  private blockName(): string {
    switch (this.blockType) {
      case BT_SHB:
        return 'SHB';
      case BT_IDB:
        return 'IDB';
      case BT_EPB:
        return 'EPB';
      case BT_SPB:
        return 'SPB';
      case BT_OPB:
        return 'OPB';
      default:
        return `block 0x${this.blockType.toString(16)}`;
    }
  }

  private readBlockHeader(): boolean {
    // An SHB's length is in the byte order its BOM announces, so read 12 bytes for it.
    if (this.q.length < BLOCK_HDR) {
      if (this.ended && !this.inSection) {
        throw this.err(PCAP_ERR.TRUNCATED, `section header block cut short: ${this.q.length} bytes`);
      }
      this.starve(BLOCK_HDR, 'block header');
      return false;
    }
    let b = this.q.peek(BLOCK_HDR);
    const isShb = view(b).getUint32(0, false) === BT_SHB;
    if (isShb) {
      if (this.q.length < BLOCK_HDR + 4) {
        if (!this.inSection && this.ended) {
          throw this.err(PCAP_ERR.TRUNCATED, `section header block cut short: ${this.q.length} bytes`);
        }
        this.starve(BLOCK_HDR + 4, 'SHB');
        return false;
      }
      b = this.q.peek(BLOCK_HDR + 4);
      const bom = view(b).getUint32(8, false);
      if (bom === SHB_BOM) this.le = false;
      else if (bom === 0x4d3c2b1a) this.le = true;
      else throw this.err(PCAP_ERR.MAGIC, `SHB byte-order magic 0x${bom.toString(16).padStart(8, '0')} is neither 1a2b3c4d nor 4d3c2b1a`);
    } else if (!this.inSection) {
      // Only reachable after a bad first SHB was rejected; kept for safety.
      throw this.err(PCAP_ERR.MAGIC, 'pcapng data before any section header block');
    }
    const dv = view(b);
    const type = isShb ? BT_SHB : dv.getUint32(0, this.le);
    const len = dv.getUint32(4, this.le);
    this.blockType = type;
    this.blockLen = len;
    this.blockStart = this.offset;
    // Section 3.1: total length covers header and trailer and is a multiple of 4.
    if (len < BLOCK_MIN || len % 4 !== 0) {
      throw this.err(PCAP_ERR.BLOCK_LEN, `${this.blockName()} total length ${len} is < ${BLOCK_MIN} or not a multiple of 4`);
    }
    const min = type === BT_SHB ? SHB_FIXED + 4 : type === BT_IDB ? IDB_FIXED + 4 : type === BT_EPB || type === BT_OPB ? EPB_FIXED + 4 : type === BT_SPB ? SPB_FIXED + 4 : BLOCK_MIN;
    if (len < min) {
      const pkt = type === BT_EPB || type === BT_OPB || type === BT_SPB ? this.packetIndex + 1 : 0;
      throw this.err(PCAP_ERR.BLOCK_LEN, `${this.blockName()} total length ${len} is below its minimum ${min}`, pkt);
    }
    // IDBs are buffered whole to read their options; everything else streams past.
    if (type === BT_IDB && len > this.maxMetaBlockLen) {
      throw this.err(PCAP_ERR.BLOCK_LEN, `IDB total length ${len} exceeds the ${this.maxMetaBlockLen}-byte limit`);
    }
    if (type === BT_SHB || type === BT_IDB || type === BT_EPB || type === BT_SPB || type === BT_OPB) {
      this.state = 'ngBody';
    } else {
      // Unknown/uninteresting block: stream past it without buffering (section 3.1 lets
      // readers skip any block by its total length).
      this.consume(BLOCK_HDR);
      this.counters.skippedBlocks++;
      this.skipRemaining = len - BLOCK_MIN;
      this.state = 'ngSkip';
    }
    return true;
  }

  /** Consume `used` bytes of the block (from its start), skip to the trailer next. */
  private finishBlock(used: number): void {
    this.consume(used);
    this.skipRemaining = this.blockLen - 4 - used;
    this.state = 'ngSkip';
  }

  private readBlockBody(): boolean {
    switch (this.blockType) {
      case BT_SHB:
        return this.readShb();
      case BT_IDB:
        return this.readIdb();
      case BT_EPB:
      case BT_OPB:
        return this.readEpb();
      case BT_SPB:
        return this.readSpb();
    }
    return true; // unreachable: readBlockHeader routes only the types above here
  }

  /** Section 4.1: byte order and version for the whole section; interfaces restart. */
  private readShb(): boolean {
    if (this.q.length < SHB_FIXED) {
      if (this.ended && !this.inSection) {
        throw this.err(PCAP_ERR.TRUNCATED, `section header block cut short: ${this.q.length} bytes`);
      }
      this.starve(SHB_FIXED, 'SHB');
      return false;
    }
    const dv = view(this.q.peek(SHB_FIXED));
    const major = dv.getUint16(12, this.le);
    const minor = dv.getUint16(14, this.le);
    // Section 4.1: a reader must not try to parse a section with an unknown major version.
    if (major !== 1) throw this.err(PCAP_ERR.VERSION, `pcapng section version ${major}.${minor} (only 1.x is defined)`);
    this.ifaces = [];
    this.inSection = true;
    this.finishBlock(SHB_FIXED); // SHB options (comment, hardware, os...) are not needed
    return true;
  }

  /** Section 4.2: one interface per IDB, numbered from 0 within the section. */
  private readIdb(): boolean {
    const len = this.blockLen;
    if (this.q.length < len) {
      this.starve(len, 'IDB');
      return false;
    }
    const b = this.q.peek(len);
    const dv = view(b);
    const iface: Iface = {
      linkType: dv.getUint16(8, this.le),
      snaplen: dv.getUint32(12, this.le),
      tsMul: 1000n, // default resolution 10^-6 s (section 4.2, if_tsresol)
      tsDiv: 1n,
      tsShift: 0n,
      tsOffsetNs: 0n,
    };
    // Section 3.5: options are code(2) length(2) value padded to 32 bits, ended by opt_endofopt.
    const end = len - 4;
    let p = IDB_FIXED;
    while (p + 4 <= end) {
      const code = dv.getUint16(p, this.le);
      const olen = dv.getUint16(p + 2, this.le);
      if (code === OPT_ENDOFOPT) break;
      if (p + 4 + olen > end) {
        throw this.err(PCAP_ERR.OPTION, `IDB option ${code} length ${olen} runs past the block`);
      }
      if (code === IF_TSRESOL && olen === 1) {
        const v = b[p + 4]!;
        const e = BigInt(v & 0x7f);
        if (v & 0x80) {
          // 2^-e seconds per unit: ns = units * 1e9 >> e
          iface.tsMul = NS_PER_S;
          iface.tsDiv = 1n;
          iface.tsShift = e;
        } else if (e <= 9n) {
          iface.tsMul = 10n ** (9n - e);
          iface.tsDiv = 1n;
          iface.tsShift = 0n;
        } else {
          iface.tsMul = 1n;
          iface.tsDiv = 10n ** (e - 9n);
          iface.tsShift = 0n;
        }
      } else if (code === IF_TSOFFSET && olen === 8) {
        iface.tsOffsetNs = dv.getBigInt64(p + 4, this.le) * NS_PER_S;
      }
      p += 4 + pad4(olen);
    }
    this.ifaces.push(iface);
    this.finishBlock(len - 4);
    return true;
  }

  /** Section 4.3 (EPB) and Appendix A (OPB: 16-bit interface id + drops count). */
  private readEpb(): boolean {
    if (this.q.length < EPB_FIXED) {
      this.starve(this.blockLen, this.blockName(), this.blockStart);
      return false;
    }
    const dv = view(this.q.peek(EPB_FIXED));
    const index = this.packetIndex + 1;
    const ifIndex = this.blockType === BT_OPB ? dv.getUint16(8, this.le) : dv.getUint32(8, this.le);
    const iface = this.ifaces[ifIndex];
    if (!iface) {
      throw this.err(PCAP_ERR.INTERFACE, `${this.blockName()} names interface ${ifIndex}, but the section defines ${this.ifaces.length}`, index);
    }
    const tsHi = dv.getUint32(12, this.le);
    const tsLo = dv.getUint32(16, this.le);
    const capLen = dv.getUint32(20, this.le);
    const origLen = dv.getUint32(24, this.le);
    const keep = this.checkCapLen(capLen, iface.snaplen, index);
    const used = EPB_FIXED + pad4(capLen);
    if (used > this.blockLen - 4) {
      throw this.err(PCAP_ERR.CAPLEN, `captured length ${capLen} runs past the ${this.blockLen}-byte ${this.blockName()}`, index);
    }
    if (this.q.length < used) {
      this.starve(this.blockLen, this.blockName(), this.blockStart);
      return false;
    }
    const data = this.q.peek(EPB_FIXED + keep).subarray(EPB_FIXED);
    const units = (BigInt(tsHi) << 32n) | BigInt(tsLo);
    const tsNs = ((units * iface.tsMul) / iface.tsDiv >> iface.tsShift) + iface.tsOffsetNs;
    this.packetIndex = index;
    this.lastTsNs = tsNs;
    this.pending = { index, tsNs, linkType: iface.linkType, ifIndex, capLen: keep, origLen, data };
    this.pendingClipped = keep < capLen;
    this.finishBlock(used);
    return true;
  }

  /** Section 4.4: no interface id (always IDB 0), no timestamp, and the captured length
   *  is min(original length, IDB 0 snaplen). */
  private readSpb(): boolean {
    if (this.q.length < SPB_FIXED) {
      this.starve(this.blockLen, 'SPB', this.blockStart);
      return false;
    }
    const index = this.packetIndex + 1;
    const iface = this.ifaces[0];
    if (!iface) throw this.err(PCAP_ERR.INTERFACE, 'SPB before any IDB in its section', index);
    const origLen = view(this.q.peek(SPB_FIXED)).getUint32(8, this.le);
    const capLen = iface.snaplen !== 0 ? Math.min(origLen, iface.snaplen) : origLen;
    this.checkCapLen(capLen, 0, index);
    const used = SPB_FIXED + pad4(capLen);
    if (used > this.blockLen - 4) {
      throw this.err(PCAP_ERR.BLOCK_LEN, `SPB of ${this.blockLen} bytes cannot hold its ${capLen} captured bytes`, index);
    }
    if (this.q.length < used) {
      this.starve(this.blockLen, 'SPB', this.blockStart);
      return false;
    }
    const data = this.q.peek(SPB_FIXED + capLen).subarray(SPB_FIXED);
    this.packetIndex = index;
    this.pending = { index, tsNs: this.lastTsNs, linkType: iface.linkType, ifIndex: 0, capLen, origLen, data };
    this.pendingClipped = false;
    this.finishBlock(used);
    return true;
  }
}

/** Pull records out of a sync sequence of chunks (e.g. one whole Uint8Array: `[bytes]`). */
export function* records(chunks: Iterable<Uint8Array>, reader = new PcapReader()): Generator<PcapRecord, PcapCounters> {
  let rec: PcapRecord | null;
  for (const c of chunks) {
    reader.push(c);
    while ((rec = reader.next())) yield rec;
  }
  reader.end();
  while ((rec = reader.next())) yield rec;
  return reader.counters;
}

/** Pull records out of a ReadableStream (browser/edge/Node web streams) or any async iterable
 *  of chunks (Node fs streams). Read `reader.counters` afterwards. */
export async function* streamRecords(
  source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  reader = new PcapReader(),
): AsyncGenerator<PcapRecord, PcapCounters> {
  let rec: PcapRecord | null;
  if ('getReader' in source) {
    // getReader() rather than async iteration: not every browser makes streams iterable.
    const sr = source.getReader();
    try {
      for (;;) {
        const { value, done } = await sr.read();
        if (done) break;
        reader.push(value);
        while ((rec = reader.next())) yield rec;
      }
    } finally {
      sr.releaseLock();
    }
  } else {
    for await (const c of source) {
      reader.push(c);
      while ((rec = reader.next())) yield rec;
    }
  }
  reader.end();
  while ((rec = reader.next())) yield rec;
  return reader.counters;
}
