/*
 * host/packet-builder.ts - builds and checks raw IP packets for the synthetic workload, the
 * benchmarks and the tests. Written apart from the engine on purpose: every checksum here is a
 * full recomputation (RFC 1071), never the engine's incremental code, so a test that compares
 * the two catches a mistake in either. No Node APIs.
 */

export function parseIp(a: string): { af: 4 | 6; b: Uint8Array } {
  if (a.includes(':')) {
    const b = new Uint8Array(16);
    const [h, t] = a.split('::');
    const hs = h ? h.split(':') : [];
    const ts = t !== undefined ? (t ? t.split(':') : []) : [];
    const words = t !== undefined ? [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts] : hs;
    words.forEach((w, i) => { const v = parseInt(w, 16); b[i * 2] = v >> 8; b[i * 2 + 1] = v & 0xff; });
    return { af: 6, b };
  }
  return { af: 4, b: new Uint8Array(a.split('.').map(Number)) };
}

export function sum16(b: Uint8Array, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
export const csum = (b: Uint8Array, init = 0): number => (~sum16(b, init)) & 0xffff;

function pseudo(src: Uint8Array, dst: Uint8Array, proto: number, len: number): number {
  const p = new Uint8Array(src.length * 2 + 4);
  p.set(src, 0); p.set(dst, src.length);
  const o = src.length * 2;
  if (src.length === 4) { p[o + 1] = proto; p[o + 2] = len >> 8; p[o + 3] = len & 0xff; return sum16(p); }
  return sum16(new Uint8Array([...src, ...dst, 0, 0, len >> 8, len & 0xff, 0, 0, 0, proto]));
}

export interface L4 { proto: 'tcp' | 'udp' | 'icmp'; sport?: number; dport?: number; flags?: string; seq?: number; ack?: number;
  payload?: Uint8Array; type?: number; code?: number; rest?: number; zeroCsum?: boolean; options?: Uint8Array; win?: number }

const TCPF: Record<string, number> = { F: 1, S: 2, R: 4, P: 8, A: 16, U: 32 };

/** Build an IPv4 or IPv6 packet (raw IP, no link header) with correct checksums. */
export function ip(src: string, dst: string, l4: L4, opts: { ttl?: number; id?: number; df?: boolean; tos?: number } = {}): Uint8Array {
  const s = parseIp(src), d = parseIp(dst);
  const af = s.af;
  const payload = l4.payload ?? new Uint8Array(0);
  let seg: Uint8Array;
  let proto: number;
  if (l4.proto === 'tcp') {
    proto = 6;
    const optb = l4.options ?? new Uint8Array(0);
    const hl = 20 + optb.length;
    seg = new Uint8Array(hl + payload.length);
    const v = new DataView(seg.buffer);
    v.setUint16(0, l4.sport ?? 0); v.setUint16(2, l4.dport ?? 0);
    v.setUint32(4, l4.seq ?? 1); v.setUint32(8, l4.ack ?? 0);
    seg[12] = (hl / 4) << 4;
    seg[13] = [...(l4.flags ?? 'S')].reduce((a, c) => a | TCPF[c], 0);
    v.setUint16(14, l4.win ?? 64240);
    seg.set(optb, 20); seg.set(payload, hl);
  } else if (l4.proto === 'udp') {
    proto = 17;
    seg = new Uint8Array(8 + payload.length);
    const v = new DataView(seg.buffer);
    v.setUint16(0, l4.sport ?? 0); v.setUint16(2, l4.dport ?? 0); v.setUint16(4, seg.length);
    seg.set(payload, 8);
  } else {
    proto = af === 4 ? 1 : 58;
    seg = new Uint8Array(8 + payload.length);
    seg[0] = l4.type ?? 8; seg[1] = l4.code ?? 0;
    new DataView(seg.buffer).setUint32(4, l4.rest ?? 0);
    seg.set(payload, 8);
  }
  // L4 checksum
  const csOff = proto === 6 ? 16 : proto === 17 ? 6 : 2;
  if (!(proto === 17 && l4.zeroCsum)) {
    const init = proto === 1 ? 0 : pseudo(s.b, d.b, proto, seg.length);
    let c = csum(seg, init);
    if (proto === 17 && c === 0) c = 0xffff;
    seg[csOff] = c >> 8; seg[csOff + 1] = c & 0xff;
  }
  if (af === 4) {
    const p = new Uint8Array(20 + seg.length);
    const v = new DataView(p.buffer);
    p[0] = 0x45; p[1] = opts.tos ?? 0; v.setUint16(2, p.length); v.setUint16(4, opts.id ?? 0x1234);
    v.setUint16(6, opts.df === false ? 0 : 0x4000); p[8] = opts.ttl ?? 64; p[9] = proto;
    p.set(s.b, 12); p.set(d.b, 16);
    const c = csum(p.subarray(0, 20)); p[10] = c >> 8; p[11] = c & 0xff;
    p.set(seg, 20);
    return p;
  }
  const p = new Uint8Array(40 + seg.length);
  const v = new DataView(p.buffer);
  v.setUint32(0, 0x60000000); v.setUint16(4, seg.length); p[6] = proto; p[7] = opts.ttl ?? 64;
  p.set(s.b, 8); p.set(d.b, 24); p.set(seg, 40);
  return p;
}

/** Verify every checksum of a raw IP packet by full recomputation; returns a list of problems. */
export function checkPacket(p: Uint8Array): string[] {
  const errs: string[] = [];
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const ver = p[0] >> 4;
  let hl: number, proto: number, src: Uint8Array, dst: Uint8Array;
  if (ver === 4) {
    hl = (p[0] & 15) * 4;
    if (sum16(p.subarray(0, hl)) !== 0xffff) errs.push('ipv4 header checksum');
    if (v.getUint16(2) !== p.length) errs.push(`ipv4 total length ${v.getUint16(2)} != ${p.length}`);
    proto = p[9]; src = p.subarray(12, 16); dst = p.subarray(16, 20);
  } else {
    hl = 40; proto = p[6]; src = p.subarray(8, 24); dst = p.subarray(24, 40);
    if (v.getUint16(4) + 40 !== p.length) errs.push('ipv6 payload length');
  }
  const seg = p.subarray(hl);
  if (proto === 6 || proto === 17 || proto === 58) {
    if (proto === 17 && ver === 4 && seg[6] === 0 && seg[7] === 0) return errs;
    if (sum16(seg, pseudo(src, dst, proto, seg.length)) !== 0xffff) errs.push(`l4 checksum (proto ${proto})`);
  } else if (proto === 1) {
    if (sum16(seg) !== 0xffff) errs.push('icmp checksum');
    // the quoted header's checksum too
    const q = seg.subarray(8);
    if (seg[0] !== 0 && seg[0] !== 8 && q.length >= 20 && (q[0] >> 4) === 4 && sum16(q.subarray(0, (q[0] & 15) * 4)) !== 0xffff) errs.push('quoted ipv4 header checksum');
  }
  return errs;
}

export const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
export const unhex = (s: string): Uint8Array => {
  const t = s.replace(/[^0-9a-f]/gi, '');
  return new Uint8Array(t.length >> 1).map((_, i) => parseInt(t.substr(i * 2, 2), 16));
};

/** Fields of a raw IP packet that tests look at. */
export function fields(p: Uint8Array) {
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const v4 = p[0] >> 4 === 4;
  const hl = v4 ? (p[0] & 15) * 4 : 40;
  const fmt = (b: Uint8Array) => (b.length === 4 ? [...b].join('.') : [...Array(8)].map((_, i) => ((b[i * 2] << 8) | b[i * 2 + 1]).toString(16)).join(':').replace(/(^|:)0(:0)+(:|$)/, '::'));
  return {
    src: fmt(v4 ? p.subarray(12, 16) : p.subarray(8, 24)),
    dst: fmt(v4 ? p.subarray(16, 20) : p.subarray(24, 40)),
    ttl: v4 ? p[8] : p[7],
    proto: v4 ? p[9] : p[6],
    sport: v.getUint16(hl), dport: v.getUint16(hl + 2),
    l4: p.subarray(hl),
  };
}
