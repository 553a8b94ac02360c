/*
 * IP fragment reassembly before the hooks (assembly/packet/defrag.ts, nf_defrag_ipv4/ipv6).
 * A datagram sent in fragments must leave exactly as the same datagram sent whole does (an
 * engine with slots big enough for it is the reference), cut again into the fragments it came
 * in; incomplete datagrams never leave; Linux 6.1's rules for overlaps, duplicates, odd
 * lengths, timeouts and the memory threshold hold, each outcome under its counter.
 */
import { describe, test, expect } from 'vitest';
import { natEngine, engine, VIP, CLIENT, RS, VIP6, CLIENT6, RS6 } from '../../helpers/engine.ts';
import { ip, hex, csum } from '../../helpers/pkt.ts';
import type { Engine } from '../../../host/engine.ts';

const T0 = 1_000_000;
const bytes = (n: number, tag = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + tag) & 0xff);
const v4 = (p: Uint8Array) => p[0] >> 4 === 4;

/** Fragment a whole IPv4/IPv6 datagram (no options / extension headers) at the given [offset, length] cuts of its payload. */
export function frag(whole: Uint8Array, cuts: [number, number][], opts: { id?: number; lastMf?: boolean } = {}): Uint8Array[] {
  const hl = v4(whole) ? (whole[0] & 15) * 4 : 40;
  const data = whole.subarray(hl);
  const end = Math.max(...cuts.map(([o, l]) => o + l));
  return cuts.map(([off, len]) => {
    const mf = off + len < data.length || (opts.lastMf ?? false) || off + len < end;
    const part = data.subarray(off, off + len);
    if (v4(whole)) {
      const p = new Uint8Array(hl + part.length);
      p.set(whole.subarray(0, hl)); p.set(part, hl);
      p[2] = p.length >> 8; p[3] = p.length & 0xff;
      if (opts.id !== undefined) { p[4] = opts.id >> 8; p[5] = opts.id & 0xff; }
      const fo = (off >> 3) | (mf ? 0x2000 : 0) | (p[6] & 0x40 ? 0x4000 : 0);
      p[6] = fo >> 8; p[7] = fo & 0xff;
      p[10] = 0; p[11] = 0; const c = csum(p.subarray(0, hl)); p[10] = c >> 8; p[11] = c & 0xff;
      return p;
    }
    const p = new Uint8Array(48 + part.length);
    p.set(whole.subarray(0, 40)); p.set(part, 48);
    const pl = 8 + part.length; p[4] = pl >> 8; p[5] = pl & 0xff;
    p[40] = whole[6]; p[6] = 44;
    const fo = off | (mf ? 1 : 0); p[42] = fo >> 8; p[43] = fo & 0xff;
    new DataView(p.buffer).setUint32(44, opts.id ?? 0x1234);
    return p;
  });
}

/** Equal cuts of `step` bytes over `len` payload bytes. */
const even = (len: number, step: number): [number, number][] => {
  const r: [number, number][] = [];
  for (let o = 0; o < len; o += step) r.push([o, Math.min(step, len - o)]);
  return r;
};

/** Put received fragments back together (independently of the engine): the whole datagram. */
function join(frags: Uint8Array[]): Uint8Array {
  const f0 = frags[0];
  if (v4(f0)) {
    const hl = (f0[0] & 15) * 4;
    const parts = frags.map((p) => ({ off: (((p[6] << 8) | p[7]) & 0x1fff) * 8, d: p.subarray(hl), mf: (p[6] & 0x20) !== 0 }));
    const total = Math.max(...parts.map((x) => x.off + x.d.length));
    const out = new Uint8Array(hl + total);
    const first = frags[parts.findIndex((x) => x.off === 0)];
    out.set(first.subarray(0, hl));
    for (const x of parts) out.set(x.d, hl + x.off);
    out[2] = out.length >> 8; out[3] = out.length & 0xff; out[6] = 0; out[7] = 0;
    out[10] = 0; out[11] = 0; const c = csum(out.subarray(0, hl)); out[10] = c >> 8; out[11] = c & 0xff;
    return out;
  }
  const parts = frags.map((p) => ({ off: ((p[42] << 8) | p[43]) & 0xfff8, d: p.subarray(48) }));
  const total = Math.max(...parts.map((x) => x.off + x.d.length));
  const out = new Uint8Array(40 + total);
  out.set(frags[0].subarray(0, 40));
  out[6] = frags[0][40];
  for (const x of parts) out.set(x.d, 40 + x.off);
  out[4] = total >> 8; out[5] = total & 0xff;
  return out;
}

/** Process frames in turn; returns every frame sent (each slot's, then what drain() hands out) and the verdicts. */
function run(e: Engine, frames: Uint8Array[], t = T0) {
  const out: Uint8Array[] = [];
  const verdicts: string[] = [];
  for (const f of frames) {
    const r = e.processFrame(f, t);
    verdicts.push(r.verdict);
    if (r.verdict === 'XMIT' || r.verdict === 'PASS' || r.verdict === 'LOCAL') out.push(r.data);
    const k = e.drain();
    for (let i = 0; i < k; i++) out.push(e.output(i));
  }
  return { out, verdicts };
}

/** What the engine sends for the datagram sent whole (the reference: slots big enough for it). */
async function reference(whole: Uint8Array, af: 4 | 6, setup?: (e: Engine) => void): Promise<Uint8Array> {
  const { e } = await natEngine({ proto: 'UDP', port: 53, vip: af === 4 ? VIP : VIP6, dests: [{ addr: af === 4 ? RS[0] : RS6[0], port: 5353 }], cfg: { slotSize: 70000, slots: 4 } });
  setup?.(e);
  const r = e.processFrame(whole, T0);
  expect(r.verdict).toBe('XMIT');
  return r.data;
}
const nat = (af: 4 | 6) => natEngine({ proto: 'UDP', port: 53, vip: af === 4 ? VIP : VIP6, dests: [{ addr: af === 4 ? RS[0] : RS6[0], port: 5353 }] });
const dgram = (af: 4 | 6, n = 2992, sport = 4000, tag = 1, id = 0x4242) =>
  ip(af === 4 ? CLIENT : CLIENT6, af === 4 ? VIP : VIP6, { proto: 'udp', sport, dport: 53, payload: bytes(n, tag) }, { id, df: false });
/** Data lengths of a list of fragments, as they go out. */
const geometry = (fs: Uint8Array[]) => fs.map((p) => v4(p) ? p.length - (p[0] & 15) * 4 : p.length - 48);

describe.each([4, 6] as const)('IPv%i reassembly', (af) => {
  test('in order: held, held, then the datagram goes out as the three fragments it came in, NATed as if whole', async () => {
    const { e } = await nat(af);
    const whole = dgram(af);
    const fs = frag(whole, even(3000, 1184));
    const { out, verdicts } = run(e, fs);
    expect(verdicts).toEqual(['STOLEN', 'STOLEN', 'XMIT']);
    expect(geometry(out)).toEqual([1184, 1184, 632]);
    const ref = await reference(whole, af);
    expect(hex(join(out))).toBe(hex(ref));
    // IPv4 keeps the identification; IPv6 fragments share a new one
    if (af === 4) expect(out.map((p) => (p[4] << 8) | p[5])).toEqual([0x4242, 0x4242, 0x4242]);
    else expect(new Set(out.map((p) => hex(p.subarray(44, 48)))).size).toBe(1);
    const c = e.counters();
    expect([c.reasm_reqds, c.reasm_ok, c.frag_created]).toEqual([3n, 1n, 3n]);
    expect(e.fragState()).toMatchObject({ queues: 0, mem4: 0, mem6: 0 });
    expect(e.heldFrames()).toBe(0);
  });

  test('reversed and shuffled orders give the same bytes; two datagrams interleaved each come out whole', async () => {
    const { e } = await nat(af);
    const a = dgram(af, 2992, 4001, 3, 7), b = dgram(af, 2992, 4002, 9, 8);
    const ra = await reference(a, af), rb = await reference(b, af);
    const fa = frag(a, even(3000, 1184), { id: 7 }), fb = frag(b, even(3000, 1184), { id: 8 });
    const { out, verdicts } = run(e, [fa[2], fb[1], fa[0], fb[0], fb[2], fa[1]]);
    expect(verdicts).toEqual(['STOLEN', 'STOLEN', 'STOLEN', 'STOLEN', 'XMIT', 'XMIT']);
    expect(out.length).toBe(6);
    // b completes first; each goes out in offset order
    expect([join(out.slice(0, 3)), join(out.slice(3))].map(hex)).toEqual([hex(rb), hex(ra)]);
    expect(geometry(out)).toEqual([1184, 1184, 632, 1184, 1184, 632]);
  });

  test('an overlapping fragment drops its whole queue (RFC 5722; Linux since 4.19 for IPv4 too); the datagram never leaves', async () => {
    const { e } = await nat(af);
    const whole = dgram(af);
    const fs = frag(whole, even(3000, 1184));
    const [ov] = frag(whole, [[1176, 1184]]);
    const { out, verdicts } = run(e, [fs[0], ov, fs[1], fs[2]]);
    expect(out).toEqual([]);
    expect(verdicts).toEqual(['STOLEN', 'DROP', 'STOLEN', 'STOLEN']);
    expect(e.result(0).reason).toBe('');
    const c = e.counters();
    expect([c.drop_reasm_overlap, c.reasm_frags_freed, c.reasm_ok]).toEqual([1n, 1n, 0n]);
    expect(e.fragState().queues).toBe(1);      // fs[1], fs[2] wait in a new queue
  });

  test('a duplicate (inside data held) is dropped alone; the datagram completes once', async () => {
    const { e } = await nat(af);
    const whole = dgram(af);
    const fs = frag(whole, even(3000, 1184));
    const [inside] = frag(whole, [[8, 800]]);
    const { out, verdicts } = run(e, [fs[0], fs[0], inside, fs[1], fs[2]]);
    expect(verdicts).toEqual(['STOLEN', 'DROP', 'DROP', 'STOLEN', 'XMIT']);
    expect(hex(join(out))).toBe(hex(await reference(whole, af)));
    expect(e.counters().drop_reasm_duplicate).toBe(2n);
  });

  test('unequal fragments go out as they came (ip_do_fragment / ip6_fragment fast path); too big for the MTU: cut to it', async () => {
    const { e } = await nat(af);
    const whole = dgram(af);
    const cuts: [number, number][] = [[0, 600], [600, 1184], [1784, 1216]];
    let r = run(e, frag(whole, cuts));
    expect(geometry(r.out)).toEqual([600, 1184, 1216]);
    expect(hex(join(r.out))).toBe(hex(await reference(whole, af)));
    // path MTU 1280 (setTunnelMtu): the 1236/1264-byte fragment does not fit, so every one is cut
    // to min(MTU, frag_max_size)
    const { e: e2 } = await nat(af);
    e2.setTunnelMtu(1280);
    const big: [number, number][] = [[0, 1400], [1400, 1600]];
    r = run(e2, frag(whole, big));
    if (af === 4) {
      expect(geometry(r.out)).toEqual([1256, 1256, 488]);
      expect(r.out.every((p) => p.length <= 1280)).toBe(true);
      expect(hex(join(r.out))).toBe(hex(await reference(whole, af)));
    } else {
      // IPv6: a largest fragment over the path MTU is refused (__mtu_check_toobig_v6)
      expect(r.out).toEqual([]);
      expect(e2.result(0).reason).toBe('drop_reasm_too_big');
      // fragments that fit (1200 data bytes each) are kept as they came
      const { e: e3 } = await nat(af);
      e3.setTunnelMtu(1280);
      r = run(e3, frag(whole, even(3000, 1200)));
      expect(geometry(r.out)).toEqual([1200, 1200, 600]);
    }
  });

  test(`the queue lives ${af === 4 ? 'ipfrag_time 30 s' : 'nf_conntrack_frag6_timeout 60 s'} from its first fragment, then goes, counted; settable`, async () => {
    const { e } = await nat(af);
    const whole = dgram(af);
    const fs = frag(whole, even(3000, 1184));
    const life = af === 4 ? 30_000 : 60_000;
    expect(e.fragState()[af === 4 ? 'time4' : 'time6']).toBe(life);
    run(e, [fs[0]], T0);
    run(e, [fs[1]], T0 + life - 1000);     // a later fragment does not extend the timer
    e.tick(T0 + life - 1);
    expect(e.fragState().queues).toBe(1);
    e.tick(T0 + life);
    expect(e.fragState()).toMatchObject({ queues: 0, mem4: 0, mem6: 0 });
    expect([e.counters().reasm_timeout, e.counters().reasm_frags_freed]).toEqual([1n, 2n]);
    // its first fragment had come: ICMP fragment reassembly time exceeded to the client, from the
    // VIP, quoting that fragment (RFC 792 / RFC 4443 §3.3 code 1), waiting for drain()
    const k = e.drain();
    expect(k).toBe(1);
    const icmp = e.output(0);
    const l3 = af === 4 ? 20 : 40;
    expect([icmp[l3], icmp[l3 + 1]]).toEqual(af === 4 ? [11, 1] : [3, 1]);
    expect(hex(icmp.subarray(l3 + 8, l3 + 8 + 40))).toBe(hex(fs[0].subarray(0, 40)));
    expect(icmp.length).toBe(af === 4 ? 576 : 1280);
    // settable; a queue's timer is set when it is created
    e.setFragTime(af, 5000);
    expect(e.fragState()[af === 4 ? 'time4' : 'time6']).toBe(5000);
    // the last fragment now starts a new queue: nothing leaves, and no ICMP when it expires (no first fragment)
    expect(run(e, [fs[2]], T0 + life + 1).out).toEqual([]);
    e.tick(T0 + life + 5000);
    expect(e.fragState().queues).toBe(1);
    e.tick(T0 + life + 5001);
    expect(e.fragState().queues).toBe(0);
    expect(e.drain()).toBe(0);
    // a queue due when a batch starts expires before the batch's fragments look for it
    run(e, [fs[0]], T0 + 100_000);
    const r = run(e, [fs[1], fs[2]], T0 + 106_000);
    expect(r.out.length).toBe(1);                 // only the ICMP error
    expect(r.out[0][af === 4 ? 9 : 6]).toBe(af === 4 ? 1 : 58);
    expect(e.counters().reasm_timeout).toBe(3n);
    expect(e.counters().icmp_error_sent).toBe(2n);
    expect(() => e.setFragTime(af, 0)).toThrow();
  });

  test('over the high threshold no fragment is taken (inet_frag_find), and the queue table is bounded: counted, no trap', async () => {
    const { e } = await nat(af);
    e.setFragHighThresh(af, 10_000);
    const firsts = Array.from({ length: 8 }, (_, i) => frag(dgram(af, 2992, 5000 + i), [[0, 1184]], { id: 100 + i, lastMf: true })[0]);
    const { verdicts } = run(e, firsts);
    // 2048 bytes per fragment held: 5 of them (10240) cross 10000, the rest are refused
    expect(verdicts).toEqual(['STOLEN', 'STOLEN', 'STOLEN', 'STOLEN', 'STOLEN', 'DROP', 'DROP', 'DROP']);
    expect(e.counters().drop_reasm_over_budget).toBe(3n);
    expect(e.fragState()[af === 4 ? 'mem4' : 'mem6']).toBe(5 * 2048);
    e.setFragHighThresh(af, 0);             // 0: no fragment at all, as the kernel
    expect(run(e, [firsts[5]]).verdicts).toEqual(['DROP']);
    // default threshold: 1024 queues at most
    const { e: e2 } = await nat(af);
    let dropped = 0;
    for (let i = 0; i < 1100; i++) {
      const r = e2.processFrame(frag(dgram(af, 100, 6000), [[0, 64]], { id: i + 1, lastMf: true })[0], T0);
      if (r.verdict === 'DROP') { dropped++; expect(r.reason).toBe('drop_reasm_over_budget'); }
    }
    expect(dropped).toBe(1100 - 1024);
    expect(e2.fragState().queues).toBe(1024);
    e2.tick(T0 + 61_000);
    expect(e2.fragState()).toMatchObject({ queues: 0, mem4: 0, mem6: 0 });
  });

  test('a datagram over 65535 bytes is dropped with its queue (ip_frag_reasm out_oversize / IPV6_MAXPLEN)', async () => {
    const { e } = await nat(af);
    const total = 65_536 - (af === 4 ? 20 : 0) + 8;      // IPv4: header + data > 65535; IPv6: payload > 65535
    const whole = dgram(af, 1000);
    const fs: Uint8Array[] = [];
    for (let off = 0; off < total; off += 1480) {
      const len = Math.min(1480, total - off);
      const [f] = frag(whole, [[0, Math.min(len, 1008)]], { id: 77, lastMf: true });
      const p = rawFrag(f, off, len, off + len < total);
      fs.push(p);
    }
    const { out, verdicts } = run(e, fs);
    expect(out).toEqual([]);
    expect(verdicts.at(-1)).toBe('DROP');
    expect(e.result(0).reason).toBe('drop_reasm_oversize');
    // IPv4 drops the queue (ip_frag_reasm); IPv6 only the fragment that ends past 65535 (nf_ct_frag6_queue)
    expect(e.fragState().queues).toBe(af === 4 ? 0 : 1);
    expect(e.fragState().mem4).toBe(0);
  });
});

/** A fragment with `len` data bytes at `off` (the data: a repeated pattern), built from fragment f's headers. */
function rawFrag(f: Uint8Array, off: number, len: number, mf: boolean): Uint8Array {
  const hl = v4(f) ? (f[0] & 15) * 4 : 48;
  const p = new Uint8Array(hl + len);
  p.set(f.subarray(0, hl));
  p.set(f.subarray(hl, hl + Math.min(len, f.length - hl)), hl);
  if (v4(p)) {
    p[2] = p.length >> 8; p[3] = p.length & 0xff;
    const fo = (off >> 3) | (mf ? 0x2000 : 0); p[6] = fo >> 8; p[7] = fo & 0xff;
    p[10] = 0; p[11] = 0; const c = csum(p.subarray(0, hl)); p[10] = c >> 8; p[11] = c & 0xff;
  } else {
    const pl = 8 + len; p[4] = pl >> 8; p[5] = pl & 0xff;
    const fo = off | (mf ? 1 : 0); p[42] = fo >> 8; p[43] = fo & 0xff;
  }
  return p;
}

describe('odd lengths, atomic fragments, other directions', () => {
  test('IPv4: a fragment with MF and a length not a multiple of 8 is trimmed to one (ip_frag_queue) and the datagram completes', async () => {
    const { e } = await nat(4);
    const whole = dgram(4);
    const fs = frag(whole, [[0, 1187], [1184, 1184], [2368, 632]]);
    const { out } = run(e, fs);
    expect(geometry(out)).toEqual([1184, 1184, 632]);
    expect(hex(join(out))).toBe(hex(await reference(whole, 4)));
  });

  test('IPv6: the same fragment kills its queue and goes on unreassembled, NATed as a packet (nf_ct_frag6_queue -EPROTO); a later one is dropped', async () => {
    const { e } = await nat(6);
    const whole = dgram(6);
    const fs = frag(whole, [[1184, 1184], [0, 1187], [2368, 632]]);
    const { out, verdicts } = run(e, fs);
    expect(verdicts).toEqual(['STOLEN', 'XMIT', 'STOLEN']);
    expect(e.counters().reasm_frag_passed).toBe(1n);
    expect(e.counters().reasm_frags_freed).toBe(1n);
    // the fragment as it came, but for the real server's address and port, the hop limit and the checksum
    const f = out[0];
    expect(f.length).toBe(fs[1].length);
    expect(hex(f.subarray(40, 48))).toBe(hex(fs[1].subarray(40, 48)));
    expect(hex(f.subarray(24, 40))).toBe(hex(await reference(whole, 6)).slice(48, 80));
    expect((f[50] << 8) | f[51]).toBe(5353);
    expect(hex(f.subarray(56))).toBe(hex(fs[1].subarray(56)));
    expect(e.conns().length).toBe(1);
    const [later] = frag(whole, [[1184, 1187]], { lastMf: true });
    expect(e.processFrame(later, T0).reason).toBe('drop_reasm_bad_fragment');
  });

  test('IPv4 options: the first fragment keeps them all, the others only the copied ones (ip_options_fragment)', async () => {
    const { e } = await nat(4);
    const base = dgram(4);
    // 8 bytes of options: a record route (7, not copied) of 7 bytes + EOL... then a NOP: use RR (7 bytes) + NOP
    const whole = new Uint8Array(base.length + 8);
    whole.set(base.subarray(0, 20)); whole.set([7, 7, 4, 0, 0, 0, 0, 1], 20); whole.set(base.subarray(20), 28);
    whole[0] = 0x47; whole[2] = whole.length >> 8; whole[3] = whole.length & 0xff;
    whole[10] = 0; whole[11] = 0; const c = csum(whole.subarray(0, 28)); whole[10] = c >> 8; whole[11] = c & 0xff;
    const { out } = run(e, frag(whole, even(3000, 1184)));
    expect(out.length).toBe(3);
    expect([...out[0].subarray(20, 28)]).toEqual([7, 7, 4, 0, 0, 0, 0, 1]);
    for (const f of out.slice(1)) expect([...f.subarray(20, 28)]).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    for (const f of out) expect(csum(f.subarray(0, 28))).toBe(0);
  });

  test('IPv6 atomic fragment (offset 0, M 0; RFC 6946): goes out at once, whole, without its Fragment header', async () => {
    const { e } = await nat(6);
    const whole = dgram(6, 92);
    const [f] = frag(whole, [[0, 100]]);
    const r = e.processFrame(f, T0);
    expect(r.verdict).toBe('XMIT');
    expect(hex(r.data)).toBe(hex(await reference(whole, 6)));
  });

  test('a real server fragmented reply is un-NATed whole and sent on as its fragments', async () => {
    const { e, key } = await natEngine({ proto: 'UDP', port: 53, dests: [{ addr: RS[0], port: 5353 }] });
    expect(run(e, [ip(CLIENT, VIP, { proto: 'udp', sport: 4000, dport: 53, payload: bytes(10) })]).verdicts).toEqual(['XMIT']);
    const reply = ip(RS[0], CLIENT, { proto: 'udp', sport: 5353, dport: 4000, payload: bytes(2992, 5) }, { id: 99 });
    const { out, verdicts } = run(e, frag(reply, even(3000, 1480)));
    expect(verdicts).toEqual(['STOLEN', 'STOLEN', 'XMIT']);
    const j = join(out);
    expect([...j.subarray(12, 16)].join('.')).toBe(VIP);
    expect((j[20] << 8) | j[21]).toBe(53);
    expect(hex(j.subarray(28))).toBe(hex(bytes(2992, 5)));
    expect(e.counters().reasm_ok).toBe(1n);
    void key;
  });

  test('a datagram not for the balancer is passed whole when it fits a slot, else dropped and counted (drop_reasm_no_room)', async () => {
    const { e } = await nat(4);
    const small = ip(CLIENT, '198.18.9.9', { proto: 'udp', sport: 1, dport: 2, payload: bytes(1192) });
    let r = run(e, frag(small, even(1200, 600)));
    expect(r.verdicts).toEqual(['STOLEN', 'PASS']);
    expect(hex(r.out[0])).toBe(hex(small));
    const big = ip(CLIENT, '198.18.9.9', { proto: 'udp', sport: 1, dport: 2, payload: bytes(2992) });
    r = run(e, frag(big, even(3000, 1184)));
    expect(r.verdicts).toEqual(['STOLEN', 'STOLEN', 'DROP']);
    expect(e.result(0).reason).toBe('drop_reasm_no_room');
    // an incomplete datagram for a forwarded (not local) destination: the error comes from the
    // director's own address (the link's), none without one; the quote has its TTL decremented
    run(e, frag(big, [[0, 1184]], { lastMf: true }), T0 + 1);
    e.tick(T0 + 31_000);
    expect(e.counters().reasm_timeout).toBe(1n);
    expect(e.drain()).toBe(0);
    e.setLink({ mac: '02:00:00:00:00:01', ipv4: '198.18.0.254' });
    run(e, frag(big, [[0, 1184]], { lastMf: true }), T0 + 40_000);
    e.tick(T0 + 70_000);
    expect(e.drain()).toBe(1);
    const icmp = e.output(0);
    expect([...icmp.subarray(12, 16)].join('.')).toBe('198.18.0.254');
    expect([icmp[20], icmp[21], icmp[28 + 8]]).toEqual([11, 1, big[8] - 1]);
  });

  test('fuzz: random fragments of random datagrams never trap, every verdict is known, every queue and byte is freed by the timer', async () => {
    const { e } = await nat(4);
    e.addService({ proto: 'UDP', addr: VIP6, port: 53, sched: 'rr' });
    e.addDest({ proto: 'UDP', addr: VIP6, port: 53 }, { addr: RS6[0], port: 5353, fwd: 'Masq' });
    let seed = 12345;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    const known = new Set(['DROP', 'XMIT', 'STOLEN', 'PASS', 'LOCAL']);
    let t = T0;
    for (let i = 0; i < 4000; i++) {
      const af = rnd(2) ? 4 : 6;
      const whole = dgram(af, 200 + rnd(3000), 7000 + rnd(4));
      const plen = whole.length - (af === 4 ? 20 : 40);
      const off = rnd(plen) & ~7;
      const len = 1 + rnd(Math.min(1400, plen - off));
      const [f] = frag(whole, [[off, len]], { id: rnd(6), lastMf: rnd(3) !== 0 });
      if (rnd(10) === 0) f[rnd(f.length)] ^= 1 << rnd(8);      // and some corruption
      const r = e.processFrame(f, t);
      expect(known.has(r.verdict)).toBe(true);
      e.drain();
      t += rnd(50);
    }
    e.tick(t + 61_000);
    expect(e.fragState()).toMatchObject({ queues: 0, mem4: 0, mem6: 0 });
    expect(e.heldFrames()).toBe(0);
    const c = e.counters();
    expect(c.reasm_reqds).toBeGreaterThan(3000n);
    expect(c.drop_reasm_overlap + c.drop_reasm_duplicate).toBeGreaterThan(0n);
  });
});

describe('other links', () => {
  const ETH_CLIENT = '02:00:00:00:00:02', ME = '02:00:00:00:01:fe', RS_MAC = '02:00:00:00:01:01';
  const macb = (m: string) => Uint8Array.from(m.split(':').map((x) => parseInt(x, 16)));
  const eth = (p: Uint8Array, src = ETH_CLIENT) => { const f = new Uint8Array(14 + p.length); f.set(macb(ME)); f.set(macb(src), 6); f[12] = v4(p) ? 0x08 : 0x86; f[13] = v4(p) ? 0 : 0xdd; f.set(p, 14); return f; };

  test.each([4, 6] as const)('TAP, IPv%i: the fragments leave with the real server\'s MAC; an expired queue\'s ICMP error goes to the client\'s', async (af) => {
    const e = await engine({ link: 'ethernet', headroom: 256, slotSize: 4096 });
    e.setLink({ mac: ME, ipv4: '198.18.0.254', ipv6: '2001:2::fe' });
    const rs = af === 4 ? RS[0] : RS6[0];
    e.addNeighbour(rs, RS_MAC); e.addNeighbour(af === 4 ? CLIENT : CLIENT6, ETH_CLIENT);
    const k = { proto: 'UDP', addr: af === 4 ? VIP : VIP6, port: 53 } as const;
    e.addService({ ...k, sched: 'rr' }); e.addDest(k, { addr: rs, port: 5353, fwd: 'Masq' });
    const whole = dgram(af);
    const { out } = run(e, frag(whole, even(3000, 1184)).map((p) => eth(p)));
    expect(out.length).toBe(3);
    for (const f of out) expect([hex(f.subarray(0, 6)), hex(f.subarray(6, 12))]).toEqual([hex(macb(RS_MAC)), hex(macb(ME))]);
    expect(hex(join(out.map((f) => f.subarray(14))))).toBe(hex(await reference(whole, af)));
    // a lone first fragment, expired: the error leaves toward the client's MAC
    run(e, frag(dgram(af, 2992, 4999), [[0, 1184]], { lastMf: true, id: 5 }).map((p) => eth(p)), T0);
    e.tick(T0 + (af === 4 ? 30_000 : 60_000));
    expect(e.drain()).toBe(1);
    const icmp = e.output(0);
    expect(hex(icmp.subarray(0, 12))).toBe(hex(macb(ETH_CLIENT)) + hex(macb(ME)));
    expect(icmp[14 + (af === 4 ? 20 : 40)]).toBe(af === 4 ? 11 : 3);
  });

  test('TUN with offloads: the virtio-net header stays in front of every fragment in and out', async () => {
    const e = await engine({ link: 'ip-offload', slotSize: 65536 + 512, headroom: 256, slots: 8 });
    const k = { proto: 'UDP', addr: VIP, port: 53 } as const;
    e.addService({ ...k, sched: 'rr' }); e.addDest(k, { addr: RS[0], port: 5353, fwd: 'Masq' });
    const whole = dgram(4);
    const vnet = (p: Uint8Array) => { const f = new Uint8Array(10 + p.length); f.set(p, 10); return f; };
    const { out, verdicts } = run(e, frag(whole, even(3000, 1184)).map(vnet));
    expect(verdicts).toEqual(['STOLEN', 'STOLEN', 'XMIT']);
    for (const f of out) expect(hex(f.subarray(0, 10))).toBe('00'.repeat(10));
    expect(hex(join(out.map((f) => f.subarray(10))))).toBe(hex(await reference(whole, 4)));
    // a fragment claiming a partial checksum or GSO was not asked for
    const bad = vnet(frag(whole, [[0, 1184]], { lastMf: true })[0]); bad[0] = 1;
    expect(e.processFrame(bad, T0).reason).toBe('drop_bad_vnet_hdr');
  });
});
