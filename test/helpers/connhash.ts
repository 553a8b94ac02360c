/*
 * test/helpers/connhash.ts - a copy of the engine's conn hash (assembly/conn/table.ts
 * connHashWords) for IPv4 keys, so tests can choose keys that share a bucket or measure how keys
 * spread. test/unit/core/conn-index.test.ts holds the copy to the engine: keys it picks with it
 * must land in one bucket there.
 */
const M64 = (1n << 64n) - 1n;
/** addrFold64 of an IPv4 address in its v4-mapped 16-byte form (words loaded little-endian). */
export function fold4(a: string): bigint {
  const b = a.split('.').map(Number);
  return (BigInt((b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0) << 32n) | 0xffff0000n;
}
/** A port as the engine holds it (network order, loaded little-endian). */
export const wire = (p: number) => ((p & 255) << 8) | (p >> 8);
const rotr32 = (w: bigint) => ((w >> 32n) | (w << 32n)) & M64;
/** connHash(proto, a1, p1, a2, p2) with the engine's seed: 32 bits. */
export function connHash(seed: number, proto: number, a1: string, p1: number, a2: string, p2: number): number {
  let h = ((fold4(a1) ^ rotr32(fold4(a2)) ^ BigInt(seed >>> 0)) * 0x9e3779b97f4a7c15n) & M64;
  h ^= h >> 32n;
  const y = ((BigInt(wire(p1)) | (BigInt(wire(p2)) << 16n) | (BigInt(proto) << 32n)) * 0x94d049bb133111ebn) & M64;
  h = ((h ^ y) * 0xd6e8feb86659fd93n) & M64;
  return Number(h >> 32n);
}
/** The main bucket of a hash among `buckets` (idxBucket: the high bits scaled). */
export const bucketOf = (h: number, buckets: number) => Number((BigInt(h) * BigInt(buckets)) >> 32n);
/** The tag's 6 hash bits (idxTag). */
export const tagOf = (h: number) => h & 0x3f;
