/* test/helpers/pkt.ts - the packet builder the tests use (independent of the engine). */
export * from '../../host/packet-builder.ts';

/** The byte arrays one after another. */
export const cat = (...p: Uint8Array[]): Uint8Array<ArrayBuffer> => { const o = new Uint8Array(p.reduce((n, x) => n + x.length, 0)); let i = 0; for (const x of p) { o.set(x, i); i += x.length; } return o; };
/** A one's-complement sum folded to 16 bits (not complemented). */
export const fold = (s: number): number => { while (s > 0xffff) s = (s & 0xffff) + (s >>> 16); return s; };
/** struct virtio_net_hdr (10 bytes, little-endian fields) as a TUN/TAP with IFF_VNET_HDR carries it before each frame. */
export function vnetHdr(o: { flags?: number; gso?: number; hdrLen?: number; gsoSize?: number; csumStart?: number; csumOffset?: number } = {}): Uint8Array {
  const b = new Uint8Array(10), v = new DataView(b.buffer);
  b[0] = o.flags ?? 0; b[1] = o.gso ?? 0;
  v.setUint16(2, o.hdrLen ?? 0, true); v.setUint16(4, o.gsoSize ?? 0, true);
  v.setUint16(6, o.csumStart ?? 0, true); v.setUint16(8, o.csumOffset ?? 0, true);
  return b;
}
