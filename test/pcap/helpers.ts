// Shared helpers for the pcap tests: run the reader over chunked input and flatten records
// into plain objects that compare well with toEqual.

import { PcapReader, type PcapCounters, type PcapReaderOptions, type PcapRecord } from '../../host/pcap/read.ts';

export interface Flat {
  index: number;
  tsNs: bigint;
  linkType: number;
  ifIndex: number;
  capLen: number;
  origLen: number;
  data: number[];
}

export function flat(r: PcapRecord): Flat {
  return { index: r.index, tsNs: r.tsNs, linkType: r.linkType, ifIndex: r.ifIndex, capLen: r.capLen, origLen: r.origLen, data: Array.from(r.data) };
}

/** Feed `chunks`, pulling after each push (as a stream consumer would), then end. */
export function readChunks(chunks: Uint8Array[], opts?: PcapReaderOptions): { recs: Flat[]; counters: PcapCounters; reader: PcapReader } {
  const reader = new PcapReader(opts);
  const recs: Flat[] = [];
  let rec: PcapRecord | null;
  for (const c of chunks) {
    reader.push(c);
    while ((rec = reader.next())) recs.push(flat(rec));
  }
  reader.end();
  while ((rec = reader.next())) recs.push(flat(rec));
  return { recs, counters: reader.counters, reader };
}

export function readAll(bytes: Uint8Array, opts?: PcapReaderOptions): { recs: Flat[]; counters: PcapCounters; reader: PcapReader } {
  return readChunks([bytes], opts);
}

/** Split into pieces at the given cut offsets (ascending). */
export function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  out.push(bytes.subarray(prev));
  return out;
}

/** Small deterministic PRNG (mulberry32) for random chunkings. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
