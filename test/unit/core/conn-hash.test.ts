/*
 * The conn hash's spread (assembly/conn/table.ts connHashWords, copied in helpers/connhash.ts and
 * held to the engine by conn-index.test.ts). A multiply moves input bits only upwards, and the
 * varying bytes of one client prefix are the high bits of the address as loaded: a weak hash
 * piled one client /16's conns into few buckets (up to 29 entries in a bucket of mean 8). Here
 * the bucket loads of such key sets must look like a random hash's (Poisson): the spread of the
 * loads, the largest bucket, the share that overflows its 15 entries, and the tags' 6 bits.
 */
import { describe, test, expect } from 'vitest';
import { connHash, bucketOf, tagOf } from '../../helpers/connhash.ts';

const SEED = 12345;
const TCP = 6;
const VIP = '198.18.0.100';
const RS = Array.from({ length: 8 }, (_, d) => `198.18.1.${d + 1}`);
/** A table of 65,536 conns: layout.ts connIdxBucketsFor. */
const BUCKETS = (65536 * 15) >>> 6;

/** Bucket loads of these keys' in and out entries (NAT to 8 dests in turn, as rr places them). */
function loads(keys: [string, number][]): { max: number; dispersion: number; overflow: number; tags: number[] } {
  const n = new Uint32Array(BUCKETS);
  const tags = new Array<number>(64).fill(0);
  keys.forEach(([c, p], k) => {
    const hin = connHash(SEED, TCP, c, p, VIP, 80);
    const hout = connHash(SEED, TCP, RS[k & 7], 8080, c, p);
    n[bucketOf(hin, BUCKETS)]++; n[bucketOf(hout, BUCKETS)]++;
    tags[tagOf(hin)]++; tags[tagOf(hout)]++;
  });
  const mean = (2 * keys.length) / BUCKETS;
  let v = 0, max = 0, over = 0;
  for (const x of n) { v += (x - mean) ** 2; if (x > max) max = x; if (x > 15) over++; }
  return { max, dispersion: v / BUCKETS / mean, overflow: over / BUCKETS, tags };
}

/** For Poisson loads of mean 8.5 over 15,360 buckets: variance = mean, the largest ~21, ~1.4 % over 15. */
function expectRandomLike(r: ReturnType<typeof loads>, entries: number): void {
  expect(r.dispersion).toBeGreaterThan(0.9);
  expect(r.dispersion).toBeLessThan(1.1);
  expect(r.max).toBeLessThanOrEqual(25);
  expect(r.overflow).toBeLessThan(0.02);
  for (const t of r.tags) {
    expect(t).toBeGreaterThan((entries / 64) * 0.85);
    expect(t).toBeLessThan((entries / 64) * 1.15);
  }
}

describe('the conn hash spreads key sets that differ in few bits like a random hash', () => {
  test('one client /16, one source port each: 65,536 conns', () => {
    const keys: [string, number][] = [];
    for (let i = 0; i < 65536; i++) keys.push([`198.19.${i >> 8}.${i & 255}`, 40000]);
    expectRandomLike(loads(keys), 2 * keys.length);
  });

  test('one client, every source port 1024-65535; 4 clients of a /30 with 16,384 ports each', () => {
    const one: [string, number][] = [];
    for (let p = 1024; p < 65536; p++) one.push(['198.19.7.9', p]);
    expectRandomLike(loads(one), 2 * one.length);
    const four: [string, number][] = [];
    for (let p = 1024; p < 1024 + 16384; p++) for (let c = 0; c < 4; c++) four.push([`198.19.7.${c}`, p]);
    expectRandomLike(loads(four), 2 * four.length);
  });

  test('two clients with the same 32,768 ports (without the ports\' own multiply: 1.8x the variance, 2.8 % of the buckets over 15)', () => {
    const two: [string, number][] = [];
    for (let p = 1024; p < 1024 + 32768; p++) for (let c = 0; c < 2; c++) two.push([`198.19.${c}.1`, p]);
    expectRandomLike(loads(two), 2 * two.length);
  });

  test('a /24 of clients with 256 ports each (the bench pattern: addresses and ports both vary a little)', () => {
    const keys: [string, number][] = [];
    for (let i = 0; i < 65536; i++) keys[i] = [`198.19.0.${i & 255}`, 1024 + (i >> 8)];
    expectRandomLike(loads(keys), 2 * keys.length);
  });
});
