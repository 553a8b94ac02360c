import { describe, expect, test } from 'vitest';
import { PCAP_ERR, PcapError } from '../../host/pcap/errors.ts';
import { PcapReader } from '../../host/pcap/read.ts';
import * as B from './build.ts';
import { readAll } from './helpers.ts';

/** Read `bytes` whole and return the PcapError raised (fails the test if none or another type). */
function failure(bytes: Uint8Array): PcapError {
  try {
    readAll(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(PcapError);
    return e as PcapError;
  }
  throw new Error('expected a PcapError');
}

const le = true;
const ng = (...blocks: Uint8Array[]) => B.concat(B.shb(le), ...blocks);
const eth = () => B.idb(le, 1, 65535);
const p = (n: number, t = 0x45) => B.frame(n, t);

describe('refused input: PcapError with a stable code', () => {
  test.each<[string, Uint8Array, string, RegExp?]>([
    ['0-length file', new Uint8Array(0), PCAP_ERR.EMPTY],
    ['3 bytes', Uint8Array.of(0xd4, 0xc3, 0xb2), PCAP_ERR.TRUNCATED],
    ['text file', new TextEncoder().encode('License: BSD\n'), PCAP_ERR.MAGIC, /magic 0x4c696365/],
    ['gzip file', Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0), PCAP_ERR.MAGIC, /gzip/],
    ['pcap header cut at 20 bytes', B.pcapHeader({ le }).subarray(0, 20), PCAP_ERR.TRUNCATED],
    ['pcap major version 3', B.pcapHeader({ le, major: 3 }), PCAP_ERR.VERSION],
    [
      'pcap capLen > snaplen',
      B.pcapFile({ le, snaplen: 64 }, [{ sec: 1, frac: 0, data: p(64) }, { sec: 2, frac: 0, data: p(65) }]),
      PCAP_ERR.CAPLEN,
      /snaplen 64.*\(offset 104, packet 2\)/,
    ],
    [
      'pcap capLen > 256 KiB',
      B.concat(B.pcapHeader({ le, snaplen: 0x7fffffff }), new B.Bytes(le).u32(0).u32(0).u32(262145).u32(262145).bytes()),
      PCAP_ERR.CAPLEN,
      /262145 exceeds the 262144-byte limit.*packet 1/,
    ],
    ['pcapng SHB cut at 10 bytes', B.shb(le).subarray(0, 10), PCAP_ERR.TRUNCATED],
    ['pcapng SHB cut at 6 bytes', B.shb(le).subarray(0, 6), PCAP_ERR.TRUNCATED],
    ['pcapng SHB cut at 20 bytes', B.shb(le).subarray(0, 20), PCAP_ERR.TRUNCATED],
    [
      'pcapng bad byte-order magic',
      (() => {
        const b = B.shb(le);
        b[8] = 0x11;
        return b;
      })(),
      PCAP_ERR.MAGIC,
      /byte-order magic/,
    ],
    ['pcapng section major 2', B.shb(le, { major: 2 }), PCAP_ERR.VERSION],
    ['block length 8 (< 12)', ng(B.block(le, 5, new Uint8Array(0), { lead: 8 })), PCAP_ERR.BLOCK_LEN, /total length 8/],
    ['block length 30 (not a multiple of 4)', ng(B.block(le, 5, new Uint8Array(20), { lead: 30 })), PCAP_ERR.BLOCK_LEN, /offset 28/],
    ['EPB length 28 (< 32)', ng(eth(), B.block(le, 6, new Uint8Array(16))), PCAP_ERR.BLOCK_LEN, /below its minimum 32.*packet 1/],
    ['IDB length 16 (< 20)', ng(B.block(le, 1, new Uint8Array(4))), PCAP_ERR.BLOCK_LEN],
    ['trailing length mismatch (EPB)', ng(eth(), B.epb(le, 0, 1n, p(20)).map((v, i, a) => (i === a.length - 4 ? v + 4 : v))), PCAP_ERR.BLOCK_LEN, /trailing length 56 != leading length 52.*packet 1/],
    ['trailing length mismatch (skipped block)', ng(B.block(le, 5, new Uint8Array(12), { trail: 20 })), PCAP_ERR.BLOCK_LEN, /trailing/],
    ['EPB capLen > IDB snaplen', ng(B.idb(le, 1, 64), B.epb(le, 0, 1n, p(64)), B.epb(le, 0, 1n, p(100))), PCAP_ERR.CAPLEN, /100 exceeds snaplen 64.*packet 2/],
    ['EPB capLen > 256 KiB', ng(B.idb(le, 1, 0), B.epb(le, 0, 1n, p(4), { capLen: 300_000 })), PCAP_ERR.CAPLEN, /packet 1/],
    ['EPB capLen beyond its block', ng(eth(), B.epb(le, 0, 1n, p(20), { capLen: 40 })), PCAP_ERR.CAPLEN, /runs past/],
    ['EPB before any IDB', ng(B.epb(le, 0, 1n, p(20))), PCAP_ERR.INTERFACE, /interface 0.*defines 0.*packet 1/],
    ['EPB on an undefined interface', ng(eth(), B.epb(le, 3, 1n, p(20))), PCAP_ERR.INTERFACE],
    ['OPB on an undefined interface', ng(eth(), B.opb(le, 1, 1n, p(20))), PCAP_ERR.INTERFACE],
    ['SPB before any IDB', ng(B.spb(le, 4, p(4))), PCAP_ERR.INTERFACE],
    ['SPB too short for min(origLen, snaplen)', ng(B.idb(le, 101, 0), B.block(le, 3, new B.Bytes(le).u32(100).raw(p(8)).bytes())), PCAP_ERR.BLOCK_LEN, /SPB/],
    [
      'IDB option length past the block',
      ng(B.block(le, 1, new B.Bytes(le).u16(1).u16(0).u32(0).u16(9).u16(200).u32(0).bytes())),
      PCAP_ERR.OPTION,
    ],
    ['IDB over 1 MiB', ng(B.block(le, 1, new Uint8Array(1 << 20))), PCAP_ERR.BLOCK_LEN, /limit/],
  ])('%s', (_name, bytes, code, msg) => {
    const e = failure(bytes);
    expect(e.code).toBe(code);
    expect(e.message.startsWith(code)).toBe(true);
    if (msg) expect(e.message).toMatch(msg);
  });

  test('errors are sticky and carry offset and packet number', () => {
    const bytes = ng(B.idb(le, 1, 64), B.epb(le, 0, 1n, p(64)), B.epb(le, 0, 1n, p(100)));
    const r = new PcapReader();
    r.push(bytes);
    r.end();
    expect(r.next()!.index).toBe(1);
    let first: unknown;
    try {
      r.next();
    } catch (e) {
      first = e;
    }
    expect(first).toBeInstanceOf(PcapError);
    expect((first as PcapError).packet).toBe(2);
    expect((first as PcapError).offset).toBe(28 + 20 + 96);
    expect(() => r.next()).toThrow(first as Error);
    expect(r.done).toBe(true);
  });

  test('clipOverSnaplen: cut to the snaplen like libpcap, counted instead of refused', () => {
    for (const bytes of [
      B.pcapFile({ le, snaplen: 64 }, [{ sec: 1, frac: 0, data: p(100) }, { sec: 2, frac: 0, data: p(10, 1) }]),
      ng(B.idb(le, 1, 64), B.epb(le, 0, 1n, p(100)), B.epb(le, 0, 2n, p(10, 1))),
    ]) {
      const { recs, counters } = readAll(bytes, { clipOverSnaplen: true });
      expect(recs.map((r) => [r.capLen, r.origLen, r.data.length])).toEqual([[64, 100, 64], [10, 10, 10]]);
      expect(recs[0]!.data).toEqual(Array.from(p(64)));
      expect(recs[1]!.data).toEqual(Array.from(p(10, 1)));
      expect(counters.clipped).toBe(1);
    }
  });

  test('push() after end() is refused', () => {
    const r = new PcapReader();
    r.end();
    expect(() => r.push(new Uint8Array(1))).toThrow(expect.objectContaining({ code: PCAP_ERR.STATE }));
  });
});

describe('truncated input: stop with a counted note, keep what was readable', () => {
  const pcap = B.pcapFile({ le }, [
    { sec: 1, frac: 0, data: p(40) },
    { sec: 2, frac: 0, data: p(40) },
  ]);
  const png = ng(eth(), B.epb(le, 0, 1n, p(40)), B.nrb(le), B.epb(le, 0, 2n, p(40)));

  test.each([
    ['pcap: last record header cut', pcap.subarray(0, 24 + 56 + 10), 1],
    ['pcap: last record data cut', pcap.subarray(0, pcap.length - 1), 1],
    ['pcapng: last EPB cut in its data', png.subarray(0, png.length - 20), 1],
    ['pcapng: last EPB cut before its trailer', png.subarray(0, png.length - 2), 1],
    ['pcapng: last block header cut', png.subarray(0, png.length - B.epb(le, 0, 2n, p(40)).length + 5), 1],
    ['pcapng: NRB cut', png.subarray(0, 28 + 20 + 72 + 8), 1],
  ])('%s', (_name, bytes, packets) => {
    const { recs, counters } = readAll(bytes);
    expect(recs).toHaveLength(packets);
    expect(counters.packets).toBe(packets);
    expect(counters.truncated).toBe(1);
    expect(counters.notes[0]).toMatch(/^truncated .* at offset \d+: \d+ of \d+ bytes$/);
  });

  test('pcapng block length beyond the end of the file: counted, not thrown', () => {
    const lying = B.block(le, 4, new Uint8Array(8), { lead: 1 << 20 }); // NRB claiming 1 MiB
    const { recs, counters } = readAll(ng(eth(), B.epb(le, 0, 1n, p(20)), lying));
    expect(recs).toHaveLength(1);
    expect(counters.truncated).toBe(1);
    expect(counters.notes[0]).toContain('block 0x4 at offset 100');
  });

  test('a truncated EPB is not returned half-read', () => {
    const { recs, counters } = readAll(ng(eth(), B.epb(le, 0, 1n, p(20))).subarray(0, 28 + 20 + 40));
    expect(recs).toEqual([]);
    expect(counters.truncated).toBe(1);
  });
});

describe('mutated files: only PcapErrors, never another exception or a hang', () => {
  const ngBytes = B.concat(
    B.shb(le),
    B.idb(le, 1, 0, [B.tsresolOpt(9)]),
    B.nrb(le),
    B.epb(le, 0, 1n, p(30)),
    B.spb(le, 8, p(8)),
    B.opb(le, 0, 2n, p(5)),
    B.shb(false),
    B.idb(false, 101, 128, [B.tsresolOpt(0x85)]),
    B.epb(false, 0, 3n, p(9)),
  );
  const pcapBytes = B.pcapFile({ le: false, nano: true }, [
    { sec: 1, frac: 2, data: p(30) },
    { sec: 3, frac: 4, data: p(7) },
  ]);

  test.each([
    ['pcapng', ngBytes],
    ['pcap', pcapBytes],
  ])('%s: every byte set to 0x00, 0xff, 0x80-flipped, and every truncation', (_n, bytes) => {
    let refused = 0;
    const tryRead = (b: Uint8Array) => {
      try {
        readAll(b);
      } catch (e) {
        if (!(e instanceof PcapError)) throw e;
        refused++;
      }
    };
    for (let i = 0; i < bytes.length; i++) {
      for (const f of [() => 0, () => 0xff, (v: number) => v ^ 0x80]) {
        const m = bytes.slice();
        m[i] = f(m[i]!);
        tryRead(m);
      }
      tryRead(bytes.subarray(0, i));
    }
    expect(refused).toBeGreaterThan(0);
  });
});
