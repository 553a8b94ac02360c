// The conn-owner function (docs/workers.md), written out plainly from its definition: the
// reference the engine (assembly/worker.ts) and the TUN steering program (host/native/steer.c)
// are both checked against through test/golden/owner-vectors.json. Test code only.

export interface AddrSet { vips: string[]; laddrs: string[] }

function ip4(s: string): number[] { return s.split('.').map(Number); }
function ip6(s: string): number[] {
  const [h, t] = s.split('::');
  const words = (x: string | undefined) => (x ? x.split(':').map((w) => parseInt(w, 16)) : []);
  const hw = words(h), tw = words(t);
  const w = s.includes('::') ? [...hw, ...Array(8 - hw.length - tw.length).fill(0), ...tw] : hw;
  return w.flatMap((x) => [x >> 8, x & 0xff]);
}
const be32 = (b: ArrayLike<number>, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const key32 = (b: ArrayLike<number>, o: number, v6: boolean) =>
  v6 ? (be32(b, o) ^ be32(b, o + 4) ^ be32(b, o + 8) ^ be32(b, o + 12)) >>> 0 : be32(b, o);
const same = (b: ArrayLike<number>, o: number, a: number[]) => a.every((x, i) => b[o + i] === x);

/** owner(frame) among n workers; link 'tun' (IP) or 'tap' (14-byte Ethernet header first). n when not IP. */
export function ownerRef(frame: Uint8Array, n: number, set: AddrSet, link: 'tun' | 'tap' = 'tun'): number {
  if (n <= 1) return 0;
  const f = link === 'tap' ? frame.subarray(14) : frame;
  if (f.length < 1) return n;
  const ver = f[0]! >> 4;
  let ports = false, sport = 0, dport = 0, v6 = false, dOff = 0, sOff = 0;
  if (ver === 4) {
    if (f.length < 20) return n;
    const ihl = (f[0]! & 15) * 4;
    if (ihl < 20 || ihl > f.length) return n;
    const proto = f[9]!;
    const frag = (((f[6]! << 8) | f[7]!) & 0x3fff) !== 0;
    if ([6, 17, 132].includes(proto) && !frag && ihl + 4 <= f.length) {
      ports = true; sport = (f[ihl]! << 8) | f[ihl + 1]!; dport = (f[ihl + 2]! << 8) | f[ihl + 3]!;
    }
    sOff = 12; dOff = 16;
  } else if (ver === 6) {
    if (f.length < 40) return n;
    v6 = true;
    if ([6, 17, 132].includes(f[6]!) && f.length >= 44) { ports = true; sport = (f[40]! << 8) | f[41]!; dport = (f[42]! << 8) | f[43]!; }
    sOff = 8; dOff = 24;
  } else return n;
  const parse = (a: string) => (a.includes(':') ? { v6: true, b: ip6(a) } : { v6: false, b: ip4(a) });
  const isIn = (list: string[]) => list.map(parse).some((a) => a.v6 === v6 && same(f, dOff, a.b));
  if (ports && isIn(set.laddrs)) return dport % n;
  const h = (k: number, p: number) => (Math.imul((k ^ p) >>> 0, 0x9e3779b1) >>> 16) % n;
  if (isIn(set.vips)) return h(key32(f, sOff, v6), sport);
  return h(key32(f, dOff, v6), dport);
}
