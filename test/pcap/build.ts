// Test-side capture builder: writes pcap/pcapng byte by byte (no DataView, no code shared
// with host/pcap), so expected values in the tests do not depend on the reader under test.

export class Bytes {
  private out: number[] = [];
  constructor(private readonly le: boolean) {}

  u8(v: number): this {
    this.out.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    const b = [(v >>> 8) & 0xff, v & 0xff];
    if (this.le) b.reverse();
    this.out.push(...b);
    return this;
  }
  u32(v: number): this {
    const b = [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
    if (this.le) b.reverse();
    this.out.push(...b);
    return this;
  }
  u64(v: bigint): this {
    const x = BigInt.asUintN(64, v);
    const hi = Number(x >> 32n);
    const lo = Number(x & 0xffffffffn);
    return this.le ? this.u32(lo).u32(hi) : this.u32(hi).u32(lo);
  }
  raw(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.out.push(b[i]! & 0xff);
    return this;
  }
  pad4(): this {
    while (this.out.length % 4) this.out.push(0);
    return this;
  }
  get length(): number {
    return this.out.length;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A frame of n bytes whose content tells packets apart: [tag, tag+1, ...]. */
export function frame(n: number, tag = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (tag + i) & 0xff;
  return b;
}

// ---- pcap ----

export interface PcapRec {
  sec: number;
  frac: number;
  data: Uint8Array;
  origLen?: number;
  capLen?: number; // lie about it
}

export function pcapHeader(opts: { le: boolean; nano?: boolean; snaplen?: number; linkType?: number; major?: number; magic?: number }): Uint8Array {
  const b = new Bytes(opts.le);
  b.u32(opts.magic ?? (opts.nano ? 0xa1b23c4d : 0xa1b2c3d4))
    .u16(opts.major ?? 2)
    .u16(4)
    .u32(0)
    .u32(0)
    .u32(opts.snaplen ?? 65535)
    .u32(opts.linkType ?? 1);
  return b.bytes();
}

export function pcapRecord(le: boolean, r: PcapRec): Uint8Array {
  return new Bytes(le)
    .u32(r.sec)
    .u32(r.frac)
    .u32(r.capLen ?? r.data.length)
    .u32(r.origLen ?? r.data.length)
    .raw(r.data)
    .bytes();
}

export function pcapFile(opts: { le: boolean; nano?: boolean; snaplen?: number; linkType?: number }, recs: PcapRec[]): Uint8Array {
  return concat(pcapHeader(opts), ...recs.map((r) => pcapRecord(opts.le, r)));
}

// ---- pcapng (draft-ietf-opsawg-pcapng) ----

export interface Opt {
  code: number;
  value: Uint8Array;
}

function options(le: boolean, opts: Opt[] | undefined, b: Bytes): void {
  if (!opts || opts.length === 0) return;
  for (const o of opts) b.u16(o.code).u16(o.value.length).raw(o.value).pad4();
  b.u16(0).u16(0); // opt_endofopt
}

/** Any block: type, total length, body (padded), total length. */
export function block(le: boolean, type: number, body: Uint8Array, lens?: { lead?: number; trail?: number }): Uint8Array {
  const padded = (body.length + 3) & ~3;
  const total = 12 + padded;
  const b = new Bytes(le).u32(type).u32(lens?.lead ?? total).raw(body).pad4().u32(lens?.trail ?? total);
  return b.bytes();
}

export function shb(le: boolean, opts?: { major?: number; options?: Opt[] }): Uint8Array {
  const b = new Bytes(le).u32(0x1a2b3c4d).u16(opts?.major ?? 1).u16(0).u64(-1n);
  options(le, opts?.options, b);
  return block(le, 0x0a0d0d0a, b.bytes());
}

export function idb(le: boolean, linkType: number, snaplen: number, opts?: Opt[]): Uint8Array {
  const b = new Bytes(le).u16(linkType).u16(0).u32(snaplen);
  options(le, opts, b);
  return block(le, 1, b.bytes());
}

export function tsresolOpt(v: number): Opt {
  return { code: 9, value: Uint8Array.of(v) };
}

export function tsoffsetOpt(le: boolean, sec: bigint): Opt {
  return { code: 14, value: new Bytes(le).u64(sec).bytes() };
}

export function epb(le: boolean, ifId: number, ts: bigint, data: Uint8Array, opts?: { origLen?: number; capLen?: number; options?: Opt[] }): Uint8Array {
  const b = new Bytes(le)
    .u32(ifId)
    .u32(Number(ts >> 32n))
    .u32(Number(ts & 0xffffffffn))
    .u32(opts?.capLen ?? data.length)
    .u32(opts?.origLen ?? data.length)
    .raw(data)
    .pad4();
  options(le, opts?.options, b);
  return block(le, 6, b.bytes());
}

export function opb(le: boolean, ifId: number, ts: bigint, data: Uint8Array): Uint8Array {
  const b = new Bytes(le)
    .u16(ifId)
    .u16(0) // drops count
    .u32(Number(ts >> 32n))
    .u32(Number(ts & 0xffffffffn))
    .u32(data.length)
    .u32(data.length)
    .raw(data)
    .pad4();
  return block(le, 2, b.bytes());
}

export function spb(le: boolean, origLen: number, data: Uint8Array): Uint8Array {
  return block(le, 3, new Bytes(le).u32(origLen).raw(data).pad4().bytes());
}

/** Name Resolution Block with one IPv4 record, as an example of a block to skip. */
export function nrb(le: boolean): Uint8Array {
  const rec = new Bytes(le).u16(1).u16(4 + 5).raw([192, 0, 2, 1]).raw([104, 111, 115, 116, 0]).pad4().u16(0).u16(0);
  return block(le, 4, rec.bytes());
}

/** Interface Statistics Block (skipped). */
export function isb(le: boolean, ifId: number): Uint8Array {
  return block(le, 5, new Bytes(le).u32(ifId).u32(0).u32(0).bytes());
}
