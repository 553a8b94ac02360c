import { describe, expect, test } from 'vitest';
import { PcapReader, records, streamRecords } from '../../host/pcap/read.ts';
import * as B from './build.ts';
import { flat, readAll, readChunks, rng, splitAt } from './helpers.ts';

const SEC = 1_700_000_000;

function pcapSample(le: boolean, nano: boolean): Uint8Array {
  return B.pcapFile({ le, nano, snaplen: 65535, linkType: 1 }, [
    { sec: SEC, frac: 1, data: B.frame(60, 1) },
    { sec: SEC + 1, frac: 999_999, data: B.frame(14, 2), origLen: 1514 },
    { sec: SEC + 2, frac: 0, data: new Uint8Array(0) },
  ]);
}

describe('pcap', () => {
  test.each([
    ['LE', true, 'us', false],
    ['BE', false, 'us', false],
    ['LE', true, 'ns', true],
    ['BE', false, 'ns', true],
  ])('%s %s', (_o, le, _r, nano) => {
    const { recs, counters, reader } = readAll(pcapSample(le, nano));
    const unit = nano ? 1n : 1000n;
    expect(reader.format).toBe('pcap');
    expect(recs).toEqual([
      { index: 1, tsNs: BigInt(SEC) * 1_000_000_000n + 1n * unit, linkType: 1, ifIndex: 0, capLen: 60, origLen: 60, data: Array.from(B.frame(60, 1)) },
      { index: 2, tsNs: BigInt(SEC + 1) * 1_000_000_000n + 999_999n * unit, linkType: 1, ifIndex: 0, capLen: 14, origLen: 1514, data: Array.from(B.frame(14, 2)) },
      { index: 3, tsNs: BigInt(SEC + 2) * 1_000_000_000n, linkType: 1, ifIndex: 0, capLen: 0, origLen: 0, data: [] },
    ]);
    expect(counters).toEqual({ packets: 3, skippedBlocks: 0, unknownLinkTypes: new Map(), truncated: 0, clipped: 0, notes: [] });
    expect(reader.done).toBe(true);
  });

  test('header only: zero packets, no error', () => {
    const { recs, counters } = readAll(B.pcapHeader({ le: true }));
    expect(recs).toEqual([]);
    expect(counters.packets).toBe(0);
    expect(counters.truncated).toBe(0);
  });

  test('link type FCS bits in the upper half are masked off', () => {
    const bytes = B.pcapFile({ le: true, linkType: 0x1000_0000 | 1 }, [{ sec: 1, frac: 0, data: B.frame(20) }]);
    expect(readAll(bytes).recs[0]!.linkType).toBe(1);
  });

  test('Kuznetzov magic a1b2cd34: 24-byte record headers', () => {
    const rec = new B.Bytes(true).u32(5).u32(7).u32(4).u32(4).u32(3).u16(0x0800).u8(0).u8(0).raw([0x45, 1, 2, 3]).bytes();
    const { recs } = readAll(B.concat(B.pcapHeader({ le: true, magic: 0xa1b2cd34, linkType: 101 }), rec));
    expect(recs).toEqual([{ index: 1, tsNs: 5_000_007_000n, linkType: 101, ifIndex: 0, capLen: 4, origLen: 4, data: [0x45, 1, 2, 3] }]);
  });

  test('unknown link types are counted, records still returned', () => {
    const bytes = B.pcapFile({ le: true, linkType: 147 }, [
      { sec: 1, frac: 0, data: B.frame(4) },
      { sec: 2, frac: 0, data: B.frame(4) },
    ]);
    const { recs, counters } = readAll(bytes);
    expect(recs).toHaveLength(2);
    expect(counters.unknownLinkTypes).toEqual(new Map([[147, 2]]));
  });
});

/** One section with four interfaces of different link types and resolutions, skipped blocks
 *  between packets, and every packet block type. Returns the bytes and the expected records. */
function ngSample(le: boolean): { bytes: Uint8Array; expected: ReturnType<typeof flat>[]; skipped: number } {
  const d = (n: number, t: number) => B.frame(n, t);
  const bytes = B.concat(
    B.shb(le, { options: [{ code: 1, value: new TextEncoder().encode('made by hand') }] }),
    B.idb(le, 1, 65535), // if 0: Ethernet, default 10^-6
    B.idb(le, 101, 0, [B.tsresolOpt(9), B.tsoffsetOpt(le, 100n)]), // if 1: raw, ns, +100 s
    B.idb(le, 229, 0, [B.tsresolOpt(0x80 | 20)]), // if 2: IPv6, 2^-20 s
    B.idb(le, 113, 0, [B.tsresolOpt(3), { code: 2, value: new TextEncoder().encode('eth0') }]), // if 3: SLL, ms (+ if_name)
    B.nrb(le),
    B.epb(le, 0, 1_700_000_000_123_456n, d(61, 1)), // odd length: padding
    B.epb(le, 1, 5_000_000_001n, d(20, 2), { origLen: 1500, options: [{ code: 2, value: Uint8Array.of(0, 0, 0, 1) }] }),
    B.isb(le, 0),
    B.block(le, 0x40000bad, Uint8Array.of(0, 0, 0x7e, 0x0b, 9, 9, 9)), // custom block (section 4.8)
    B.epb(le, 2, 3n * 2n ** 20n + 2n ** 19n, d(40, 3)),
    B.epb(le, 3, 42n, d(3, 4)),
    B.opb(le, 0, 2_000_000n, d(8, 5)),
    B.block(le, 0x80000001, new Uint8Array(0)), // local-use block type, empty body
  );
  const exp = (index: number, tsNs: bigint, linkType: number, ifIndex: number, data: Uint8Array, origLen = data.length) => ({
    index, tsNs, linkType, ifIndex, capLen: data.length, origLen, data: Array.from(data),
  });
  return {
    bytes,
    skipped: 4,
    expected: [
      exp(1, 1_700_000_000_123_456_000n, 1, 0, d(61, 1)),
      exp(2, 105_000_000_001n, 101, 1, d(20, 2), 1500),
      exp(3, 3_500_000_000n, 229, 2, d(40, 3)),
      exp(4, 42_000_000n, 113, 3, d(3, 4)),
      exp(5, 2_000_000_000n, 1, 0, d(8, 5)),
    ],
  };
}

describe('pcapng', () => {
  test.each([['LE', true], ['BE', false]])('%s: interfaces, resolutions, offsets, EPB/OPB, skipped blocks', (_n, le) => {
    const { bytes, expected, skipped } = ngSample(le);
    const { recs, counters, reader } = readAll(bytes);
    expect(reader.format).toBe('pcapng');
    expect(recs).toEqual(expected);
    expect(counters).toEqual({ packets: 5, skippedBlocks: skipped, unknownLinkTypes: new Map(), truncated: 0, clipped: 0, notes: [] });
    expect(reader.linkTypes).toEqual([1, 101, 229, 113]);
  });

  test('if_tsresol finer than ns (10^-12) divides; if_tsoffset may be negative', () => {
    const le = true;
    const bytes = B.concat(
      B.shb(le),
      B.idb(le, 101, 0, [B.tsresolOpt(12), B.tsoffsetOpt(le, -1n)]),
      B.epb(le, 0, 3_000_000_000_500n, B.frame(1, 0x45)),
    );
    expect(readAll(bytes).recs[0]!.tsNs).toBe(3_000_000_000n - 1_000_000_000n);
  });

  test('several sections, each with its own byte order and interface numbering', () => {
    const bytes = B.concat(
      B.shb(true),
      B.idb(true, 1, 0),
      B.epb(true, 0, 1n, B.frame(14, 1)),
      B.shb(false),
      B.idb(false, 101, 0, [B.tsresolOpt(9)]),
      B.epb(false, 0, 7n, B.frame(20, 2)),
      B.shb(true),
      B.idb(true, 228, 0),
      B.idb(true, 229, 0),
      B.epb(true, 1, 2n, B.frame(40, 3)),
    );
    const { recs } = readAll(bytes);
    expect(recs.map((r) => [r.index, r.linkType, r.ifIndex, r.tsNs])).toEqual([
      [1, 1, 0, 1000n],
      [2, 101, 0, 7n],
      [3, 229, 1, 2000n],
    ]);
  });

  test('SPB: interface 0, captured length = min(original length, IDB 0 snaplen), previous timestamp', () => {
    for (const le of [true, false]) {
      const bytes = B.concat(
        B.shb(le),
        B.idb(le, 101, 64),
        B.epb(le, 0, 9n, B.frame(4, 0x45)),
        B.spb(le, 100, B.frame(64, 0x60)), // cut to snaplen
        B.spb(le, 10, B.frame(10, 0x45)),
      );
      const { recs } = readAll(bytes);
      expect(recs.slice(1)).toEqual([
        { index: 2, tsNs: 9000n, linkType: 101, ifIndex: 0, capLen: 64, origLen: 100, data: Array.from(B.frame(64, 0x60)) },
        { index: 3, tsNs: 9000n, linkType: 101, ifIndex: 0, capLen: 10, origLen: 10, data: Array.from(B.frame(10, 0x45)) },
      ]);
    }
  });

  test('SPB with snaplen 0 (no limit) takes the whole original length', () => {
    const bytes = B.concat(B.shb(true), B.idb(true, 101, 0), B.spb(true, 5, B.frame(5, 0x45)));
    expect(readAll(bytes).recs[0]!.capLen).toBe(5);
  });
});

describe('streaming: any split gives the same records', () => {
  const files = [
    ['pcap LE us', pcapSample(true, false)],
    ['pcap BE ns', pcapSample(false, true)],
    ['pcapng LE', ngSample(true).bytes],
    ['pcapng BE', ngSample(false).bytes],
  ] as const;

  test.each(files)('%s split into two chunks at every offset', (_n, bytes) => {
    const whole = readAll(bytes);
    expect(whole.counters.truncated).toBe(0);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const r = readChunks(splitAt(bytes, [cut]));
      expect(r.recs, `cut at ${cut}`).toEqual(whole.recs);
      expect(r.counters).toEqual(whole.counters);
    }
  });

  test.each(files)('%s one byte at a time, and 300 random chunkings', (_n, bytes) => {
    const whole = readAll(bytes);
    const bytewise = Array.from(bytes, (_b, i) => bytes.subarray(i, i + 1));
    expect(readChunks(bytewise).recs).toEqual(whole.recs);
    const rand = rng(42);
    for (let k = 0; k < 300; k++) {
      const cuts: number[] = [];
      for (let o = 0; o < bytes.length; o += 1 + Math.floor(rand() * 40)) cuts.push(o);
      expect(readChunks(splitAt(bytes, cuts)).recs).toEqual(whole.recs);
    }
  });

  test('pcap split into three chunks at every pair of offsets', () => {
    const bytes = B.pcapFile({ le: true }, [
      { sec: 1, frac: 2, data: B.frame(5, 1) },
      { sec: 3, frac: 4, data: B.frame(3, 2) },
    ]);
    const whole = readAll(bytes).recs;
    for (let a = 0; a <= bytes.length; a++) {
      for (let b = a; b <= bytes.length; b++) expect(readChunks(splitAt(bytes, [a, b])).recs).toEqual(whole);
    }
  });

  test('ReadableStream and async iterable sources', async () => {
    const { bytes, expected } = ngSample(true);
    const chunks = splitAt(bytes, [7, 100, 101, 333]);
    const rs = new ReadableStream<Uint8Array>({
      start(c) {
        for (const ch of chunks) c.enqueue(ch);
        c.close();
      },
    });
    const got = [];
    const reader = new PcapReader();
    for await (const r of streamRecords(rs, reader)) got.push(flat(r));
    expect(got).toEqual(expected);
    expect(reader.counters.packets).toBe(5);

    async function* gen() {
      for (const ch of chunks) yield ch;
    }
    const got2 = [];
    for await (const r of streamRecords(gen())) got2.push(flat(r));
    expect(got2).toEqual(expected);

    expect(Array.from(records([bytes]), flat)).toEqual(expected);
  });

  test('records alias the input unless copyData is set', () => {
    const bytes = pcapSample(true, false);
    const a = new PcapReader();
    a.push(bytes);
    expect(a.next()!.data.buffer).toBe(bytes.buffer);
    const b = new PcapReader({ copyData: true });
    b.push(bytes);
    expect(b.next()!.data.buffer).not.toBe(bytes.buffer);
  });
});

describe('memory stays flat: only the current block is buffered', () => {
  test('20 000 packets of 1500 bytes in 64 KiB chunks', () => {
    const le = true;
    const pkt = B.epb(le, 0, 1n, B.frame(1500, 0x45));
    const head = B.concat(B.shb(le), B.idb(le, 101, 0));
    const CH = 65536;
    const n = 20_000;
    // Produce the file lazily, chunk by chunk: never materialised whole (~30 MB).
    function* chunks(): Generator<Uint8Array> {
      let buf = new Uint8Array(CH);
      let fill = 0;
      const put = function* (src: Uint8Array) {
        let o = 0;
        while (o < src.length) {
          const take = Math.min(CH - fill, src.length - o);
          buf.set(src.subarray(o, o + take), fill);
          fill += take;
          o += take;
          if (fill === CH) {
            yield buf;
            buf = new Uint8Array(CH);
            fill = 0;
          }
        }
      };
      yield* put(head);
      for (let i = 0; i < n; i++) yield* put(pkt);
      yield buf.subarray(0, fill);
    }
    const reader = new PcapReader();
    let maxBuffered = 0;
    let count = 0;
    for (const c of chunks()) {
      reader.push(c);
      maxBuffered = Math.max(maxBuffered, reader.bufferedBytes);
      while (reader.next()) count++;
    }
    reader.end();
    while (reader.next()) count++;
    expect(count).toBe(n);
    expect(maxBuffered).toBeLessThanOrEqual(CH + pkt.length);
  });

  test('a 256 MiB block of an unknown type is streamed past, not buffered', () => {
    const le = true;
    const body = 256 * 1024 * 1024;
    const total = body + 12;
    const reader = new PcapReader();
    reader.push(B.concat(B.shb(le), B.idb(le, 101, 0)));
    expect(reader.next()).toBeNull();
    reader.push(new B.Bytes(le).u32(0x0bad).u32(total).bytes());
    const zeros = new Uint8Array(1 << 20); // the same 1 MiB pushed 256 times
    let maxBuffered = 0;
    for (let i = 0; i < body / zeros.length; i++) {
      reader.push(zeros);
      maxBuffered = Math.max(maxBuffered, reader.bufferedBytes);
      expect(reader.next()).toBeNull();
    }
    reader.push(B.concat(new B.Bytes(le).u32(total).bytes(), B.epb(le, 0, 1n, B.frame(20, 0x45))));
    reader.end();
    expect(reader.next()!.capLen).toBe(20);
    expect(reader.next()).toBeNull();
    expect(maxBuffered).toBeLessThanOrEqual(zeros.length + 64);
    expect(reader.counters.skippedBlocks).toBe(1);
  });
});
