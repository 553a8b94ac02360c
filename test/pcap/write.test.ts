import { describe, expect, test } from 'vitest';
import { PCAP_ERR } from '../../host/pcap/errors.ts';
import { PcapWriter, writePcap } from '../../host/pcap/write.ts';
import * as B from './build.ts';
import { readAll, readChunks } from './helpers.ts';

const recs = [
  { tsNs: 1_700_000_000_123_456_789n, data: B.frame(20, 0x45) },
  { tsNs: 1_700_000_001_000_000_001n, data: B.frame(40, 0x60), origLen: 1500 },
  { tsNs: 0n, data: new Uint8Array(0) },
];

describe('PcapWriter', () => {
  test('default header: LINKTYPE_RAW, microsecond magic, little-endian, v2.4', () => {
    expect(new PcapWriter().header()).toEqual(B.pcapHeader({ le: true, snaplen: 262144, linkType: 101 }));
  });

  test('records match the independent builder byte for byte', () => {
    const w = new PcapWriter({ nanosecond: true, bigEndian: true, linkType: 1 });
    expect(w.header()).toEqual(B.pcapHeader({ le: false, nano: true, snaplen: 262144, linkType: 1 }));
    expect(w.record(5_000_000_007n, B.frame(3))).toEqual(B.pcapRecord(false, { sec: 5, frac: 7, data: B.frame(3) }));
  });

  test.each([
    ['us LE', { nanosecond: false }],
    ['ns LE', { nanosecond: true }],
    ['us BE', { bigEndian: true }],
    ['ns BE Ethernet', { nanosecond: true, bigEndian: true, linkType: 1 }],
  ])('round trip %s', (_n, opts) => {
    const bytes = writePcap(recs, opts);
    const { recs: got, counters } = readAll(bytes);
    const nano = 'nanosecond' in opts && opts.nanosecond;
    expect(got).toEqual(
      recs.map((r, i) => ({
        index: i + 1,
        tsNs: nano ? r.tsNs : (r.tsNs / 1000n) * 1000n, // microseconds drop the ns digits
        linkType: 'linkType' in opts ? opts.linkType : 101,
        ifIndex: 0,
        capLen: r.data.length,
        origLen: r.origLen ?? r.data.length,
        data: Array.from(r.data),
      })),
    );
    expect(counters.packets).toBe(3);
  });

  test('chunks stream straight into the reader', () => {
    const w = new PcapWriter();
    const chunks = [w.header(), ...recs.map((r) => w.record(r.tsNs, r.data))];
    expect(readChunks(chunks).recs).toHaveLength(3);
  });

  test('first record without header() carries the header', () => {
    const w = new PcapWriter();
    const first = w.record(1n, B.frame(4, 0x45));
    expect(first.length).toBe(24 + 16 + 4);
    expect(readAll(first).recs[0]!.tsNs).toBe(0n);
  });

  test('packets longer than snaplen are cut, origLen kept', () => {
    const bytes = writePcap([{ tsNs: 1n, data: B.frame(100, 0x45) }], { snaplen: 64 });
    const r = readAll(bytes).recs[0]!;
    expect([r.capLen, r.origLen]).toEqual([64, 100]);
  });

  test('timestamps the format cannot carry are refused with a PcapError', () => {
    const w = new PcapWriter();
    expect(() => w.record(-1n, B.frame(1))).toThrow(expect.objectContaining({ code: PCAP_ERR.WRITE }));
    expect(() => w.record(2n ** 32n * 1_000_000_000n, B.frame(1))).toThrow(expect.objectContaining({ code: PCAP_ERR.WRITE }));
  });
});
