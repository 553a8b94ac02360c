/*
 * Bad input: named malformed frames and a seeded mutation run. Every frame ends with a verdict
 * from the enum, a drop is counted under a name, nothing traps, and a drop changes no state.
 */
import { describe, test, expect } from 'vitest';
import { natEngine, VIP, CLIENT, RS, VIP6, CLIENT6, RS6 } from '../helpers/engine.ts';
import { ip } from '../helpers/pkt.ts';
import type { Engine } from '../../host/engine.ts';

const VERDICTS = ['DROP', 'XMIT', 'LOCAL', 'PASS', 'STOLEN'];

function ipv4Fix(p: Uint8Array): Uint8Array {
  const ihl = (p[0] & 15) * 4;
  p[10] = 0; p[11] = 0;
  let s = 0; for (let i = 0; i + 1 < Math.min(ihl, p.length); i += 2) s += (p[i] << 8) | p[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  p[10] = (~s >> 8) & 0xff; p[11] = ~s & 0xff;
  return p;
}
const syn = () => ip(CLIENT, VIP, { proto: 'tcp', sport: 4321, dport: 80, flags: 'S' });
const udp = () => ip(CLIENT, VIP, { proto: 'udp', sport: 4321, dport: 80, payload: new Uint8Array(20) });

/** IPv6 packet with a chain of `n` destination-options headers before TCP. */
function v6ext(n: number, lastLen = 0): Uint8Array {
  const base = ip(CLIENT6, VIP6, { proto: 'tcp', sport: 1, dport: 80, flags: 'S' });
  const tcp = base.subarray(40);
  const ext = new Uint8Array(8 * n);
  for (let i = 0; i < n; i++) { ext[i * 8] = i === n - 1 ? 6 : 60; ext[i * 8 + 1] = i === n - 1 ? lastLen : 0; }
  const p = new Uint8Array(40 + ext.length + tcp.length);
  p.set(base.subarray(0, 40)); p.set(ext, 40); p.set(tcp, 40 + ext.length);
  p[6] = 60; const pl = ext.length + tcp.length; p[4] = pl >> 8; p[5] = pl & 0xff;
  return p;
}

const CASES: [string, () => Uint8Array, string][] = [
  ['empty frame', () => new Uint8Array(0), 'drop_truncated'],
  ['one byte', () => new Uint8Array([0x45]), 'drop_truncated'],
  ['IPv4 header cut at 19 bytes', () => syn().slice(0, 19), 'drop_truncated'],
  ['version 5', () => { const p = syn(); p[0] = 0x55; return p; }, 'drop_bad_version'],
  ['IHL 4', () => ipv4Fix(Object.assign(syn(), {}).map((b, i) => (i === 0 ? 0x44 : b))), 'drop_bad_ihl'],
  ['IHL beyond the frame', () => { const p = syn().slice(0, 30); p[0] = 0x4f; return p; }, 'drop_truncated'],
  ['total length beyond the frame', () => { const p = syn(); p[3] += 10; return ipv4Fix(p); }, 'drop_bad_length'],
  ['total length below the header', () => { const p = syn(); p[2] = 0; p[3] = 12; return ipv4Fix(p); }, 'drop_bad_length'],
  ['bad IPv4 header checksum', () => { const p = syn(); p[10] ^= 0xff; return p; }, 'drop_bad_ip_checksum'],
  ['TCP header cut', () => { const p = syn().slice(0, 30); p[2] = 0; p[3] = 30; return ipv4Fix(p); }, 'drop_bad_l4_header'],
  ['TCP data offset 4', () => { const p = syn(); p[32] = 0x40; return p; }, 'drop_bad_l4_header'],
  ['TCP data offset past the end', () => { const p = syn(); p[32] = 0xf0; return p; }, 'drop_bad_l4_header'],
  ['UDP length 7', () => { const p = udp(); p[24] = 0; p[25] = 7; return p; }, 'drop_bad_l4_header'],
  ['UDP length past the datagram', () => { const p = udp(); p[25] += 50; return p; }, 'drop_bad_l4_header'],
  // fragments go to reassembly (packet/defrag.ts); these two are refused there
  ['IPv4 fragment with MF and 5 data bytes (empty once trimmed to 8)', () => { const p = syn().slice(0, 25); p[2] = 0; p[3] = 25; p[6] = 0x20; return ipv4Fix(p); }, 'drop_reasm_fails'],
  ['IPv6 header cut', () => ip(CLIENT6, VIP6, { proto: 'tcp', sport: 1, dport: 80 }).slice(0, 39), 'drop_truncated'],
  ['IPv6 payload length beyond the frame', () => { const p = ip(CLIENT6, VIP6, { proto: 'tcp', sport: 1, dport: 80 }); p[5] += 1; return p; }, 'drop_bad_length'],
  ['IPv6 jumbo payload length 0', () => { const p = ip(CLIENT6, VIP6, { proto: 'tcp', sport: 1, dport: 80 }); p[4] = 0; p[5] = 0; return p; }, 'drop_bad_length'],
  ['IPv6: 9 extension headers (limit 8)', () => v6ext(9), 'drop_ipv6_ext_limit'],
  ['IPv6: extension header longer than the packet', () => v6ext(1, 200), 'drop_truncated'],
  ['IPv6 fragment at 8, M set, 20 bytes (not a multiple of 8)', () => { const p = v6ext(1); p[6] = 44; p[43] = 9; return p; }, 'drop_reasm_bad_fragment'],
];

async function setup(): Promise<Engine> {
  const { e } = await natEngine({ dests: [{ addr: RS[0] }, { addr: RS[1] }] });
  for (const proto of ['TCP', 'UDP'] as const) {
    const k6 = { proto, addr: VIP6, port: 80 };
    e.addService({ ...k6, sched: 'rr' }); e.addDest(k6, { addr: RS6[0], port: 8080, fwd: 'Masq' });
  }
  const k = { proto: 'UDP' as const, addr: VIP, port: 80 };
  e.addService({ ...k, sched: 'rr' }); e.addDest(k, { addr: RS[2], port: 8080, fwd: 'Masq' });
  return e;
}
// state, without the clock-relative expiresMs (the clock moves with every frame)
const snapshot = (e: Engine) => JSON.stringify({ s: e.services(), c: e.conns() }, (k, v) => (k === 'expiresMs' ? undefined : typeof v === 'bigint' ? String(v) : v));

describe('malformed frames: named drops, no state change', () => {
  test.each(CASES)('%s', async (_name, make, reason) => {
    const e = await setup();
    e.processFrame(syn(), 1);                                   // some state to keep
    const before = snapshot(e);
    const r = e.processFrame(make(), 2);
    expect(r).toMatchObject({ verdict: 'DROP', reason });
    expect(e.counters()[reason]).toBe(1n);
    expect(snapshot(e)).toBe(before);
  });
  test('passMalformed hands them to the host instead (and still counts them)', async () => {
    const e = await setup();
    e.set('passMalformed', true);
    expect(e.processFrame(new Uint8Array([0x45, 0]), 1).verdict).toBe('PASS');
    expect(e.counters().drop_truncated).toBe(1n);
  });
  test('slot offset/length outside the slot: counted, never read', async () => {
    const e = await setup();
    const m = e.slotMetaBase;
    const dv = new DataView(e.memory.buffer);
    dv.setUint32(m, e.slotSize - 10, true); dv.setUint32(m + 4, 100, true);
    e.process(1, 1);
    expect(e.result(0)).toMatchObject({ verdict: 'DROP', reason: 'drop_bad_slot' });
    dv.setUint32(m, 0xffffffff, true); dv.setUint32(m + 4, 0xffffffff, true);
    e.process(1, 2);
    expect(e.result(0).verdict).toBe('DROP');
  });
});

/** xorshift32, so the run is the same every time (and a failure can be replayed). */
function rng(seed: number) { let x = seed; return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; }; }

describe('mutation fuzz (seeded)', () => {
  test('20,000 mutated frames: no trap, verdicts in the enum, drops counted, drops change nothing', async () => {
    const e = await setup();
    const r = rng(0x5eed);
    const seeds = [syn(), udp(), ip(CLIENT6, VIP6, { proto: 'tcp', sport: 9, dport: 80, flags: 'S' }), v6ext(3),
      ip(RS[0], CLIENT, { proto: 'icmp', type: 3, code: 3, payload: syn().slice(0, 28) }),
      ip(CLIENT, VIP, { proto: 'icmp', type: 8 }), ip(RS[0], CLIENT, { proto: 'tcp', sport: 8080, dport: 4321, flags: 'SA' }),
      ipv4Fix(Object.assign(udp(), {}).map((b, i) => (i === 6 ? 0x20 : b))),                        // a first fragment (MF)
      (() => { const p = v6ext(1); p[6] = 44; p[43] = 0x21; return p; })()];                       // an IPv6 fragment at 32, M
    let drops = 0;
    for (let i = 0; i < 20_000; i++) {
      const f = seeds[r() % seeds.length].slice();
      const kind = r() % 4;
      const n = 1 + (r() % 4);
      if (kind === 0) for (let k = 0; k < n; k++) f[r() % f.length] ^= 1 << (r() % 8);            // bit flips
      else if (kind === 1) for (let k = 0; k < n; k++) f[r() % Math.min(f.length, 48)] = r() & 255;   // header bytes
      const frame = kind === 2 ? f.slice(0, r() % (f.length + 1)) : kind === 3 ? new Uint8Array([...f, ...new Uint8Array(r() % 64)]) : f;
      const dropsBefore = e.counters().drop;
      const before = i % 50 === 0 ? snapshot(e) : '';
      const res = e.processFrame(frame, 10 + i);
      expect(VERDICTS).toContain(res.verdict);
      if (res.verdict === 'DROP') {
        drops++;
        expect(res.reason).not.toBe('');
        expect(e.counters().drop).toBe(dropsBefore + 1n);
        if (before && res.reason.startsWith('drop_bad') || res.reason === 'drop_truncated') {
          if (before) expect(snapshot(e)).toBe(before);
        }
      }
      expect(res.length).toBeLessThanOrEqual(e.slotSize);
    }
    expect(drops).toBeGreaterThan(1000);
    const c = e.counters();
    expect(c.rx).toBe(20_000n);
    // every frame: sent, answered, passed, dropped, or kept as a fragment of a datagram to come
    expect(c.reasm_held).toBeGreaterThan(0n);
    expect(c.tx + c.local_reply + c.pass + c.drop + c.reasm_held).toBe(20_000n);
  });
});

describe('mutation fuzz on devices with offloads (virtio-net header in front)', () => {
  for (const eth of [false, true]) test(`${eth ? 'TAP' : 'TUN'}: 10,000 mutated frames, header included (NAT, FULLNAT${eth ? ', DR' : ''}, a tunnel): no trap, verdicts in the enum, every drop counted, every frame out behind a header`, async () => {
    const { engine } = await import('../helpers/engine.ts');
    const e = await engine({ link: eth ? 'ethernet-offload' : 'ip-offload', slotSize: 65536 + 512, headroom: 256, slots: 4 });
    if (eth) {
      e.setLink({ mac: '02:00:00:00:01:fe', ipv4: '198.18.1.254/24' });
      for (const a of RS) e.addNeighbour(a, '02:00:00:00:01:0b');
      const kd = { proto: 'TCP' as const, addr: VIP, port: 83 };
      e.addService({ ...kd, sched: 'rr' }); e.addDest(kd, { addr: RS[0], port: 83, fwd: 'Route' });
    }
    const k = { proto: 'TCP' as const, addr: VIP, port: 80 };
    e.addService({ ...k, sched: 'rr' }); e.addDest(k, { addr: RS[0], port: 8080, fwd: 'Masq' });
    const kf = { proto: 'TCP' as const, addr: VIP, port: 81 };
    e.addService({ ...kf, sched: 'rr' }); e.addDest(kf, { addr: RS[1], port: 8080, fwd: 'FullNat' }); e.addLaddr(kf, '198.18.1.200');
    // a tunnel: its super-packets are cut into segments (xmit/gso.ts), gso_size mutated too
    const kt = { proto: 'TCP' as const, addr: VIP, port: 82 };
    e.addService({ ...kt, sched: 'rr' });
    e.addDest(kt, { addr: RS[2], port: 82, fwd: 'Tunnel' });
    const hdr = (flags: number, gso: number, start: number, off: number) => {
      const b = new Uint8Array(10), v = new DataView(b.buffer);
      b[0] = flags; b[1] = gso; v.setUint16(2, 40, true); v.setUint16(4, 1448, true); v.setUint16(6, start, true); v.setUint16(8, off, true);
      return b;
    };
    const ETH = Uint8Array.from([2, 0, 0, 0, 1, 0xfe, 2, 0, 0, 0, 1, 1, 8, 0]);
    const withHdr = (h: Uint8Array, p: Uint8Array) => {
      const l2 = eth ? 14 : 0;
      if (eth && h[0] & 1) new DataView(h.buffer).setUint16(6, h[6] + (h[7] << 8) + 14, true);   // csum_start counts the Ethernet header
      const f = new Uint8Array(10 + l2 + p.length);
      f.set(h);
      if (eth) { f.set(ETH, 10); if (p[0] >> 4 === 6) { f[22] = 0x86; f[23] = 0xdd; } }
      f.set(p, 10 + l2);
      return f;
    };
    const big = (port: number) => ip(CLIENT, VIP, { proto: 'tcp', sport: 4000 + port, dport: port, flags: 'A', payload: new Uint8Array(5000) });
    const seeds = [
      withHdr(hdr(0, 0, 0, 0), syn()), withHdr(hdr(0, 0, 0, 0), ip(CLIENT, VIP, { proto: 'tcp', sport: 4081, dport: 81, flags: 'S' })),
      withHdr(hdr(0, 0, 0, 0), ip(CLIENT, VIP, { proto: 'tcp', sport: 4082, dport: 82, flags: 'S' })),
      withHdr(hdr(1, 1, 20, 16), big(80)), withHdr(hdr(1, 1, 20, 16), big(81)), withHdr(hdr(1, 1, 20, 16), big(82)),
      withHdr(hdr(1, 0, 20, 6), udp()), withHdr(hdr(1, 4, 40, 16), ip(CLIENT6, VIP6, { proto: 'tcp', sport: 9, dport: 80, flags: 'A', payload: new Uint8Array(3000) })),
      ...(eth ? [withHdr(hdr(0, 0, 0, 0), ip(CLIENT, VIP, { proto: 'tcp', sport: 4083, dport: 83, flags: 'S' })), withHdr(hdr(1, 1, 20, 16), big(83))] : []),
    ];
    const r = rng(eth ? 0x7a9e0ff : 0x0ff10ad);
    let drops = 0, drained = 0;
    for (let i = 0; i < 10_000; i++) {
      const f = seeds[r() % seeds.length].slice();
      const kind = r() % 4;
      const n = 1 + (r() % 4);
      if (kind === 0) for (let j = 0; j < n; j++) f[r() % f.length] ^= 1 << (r() % 8);
      else if (kind === 1) for (let j = 0; j < n; j++) f[r() % Math.min(f.length, eth ? 72 : 58)] = r() & 255;   // header bytes, virtio-net's first
      const frame = kind === 2 ? f.slice(0, r() % (f.length + 1)) : kind === 3 ? new Uint8Array([...f, ...new Uint8Array(r() % 64)]) : f;
      const dropsBefore = e.counters().drop;
      const res = e.processFrame(frame, 10 + i);
      expect(VERDICTS).toContain(res.verdict);
      if (res.verdict === 'DROP') {
        drops++;
        expect(res.reason).not.toBe('');
        expect(e.counters().drop).toBe(dropsBefore + 1n);
      }
      if (res.verdict === 'XMIT' || res.verdict === 'LOCAL') expect(res.length).toBeGreaterThanOrEqual(10);   // a header in front, always
      expect(res.length).toBeLessThanOrEqual(e.slotSize);
      for (let k2 = e.drain(); k2 > 0; k2 = e.drain()) {
        drained += k2;
        for (let j = 0; j < k2; j++) expect(e.output(j).length).toBeGreaterThanOrEqual(10);
      }
    }
    expect(drops).toBeGreaterThan(500);
    const c = e.counters();
    expect(c.rx).toBe(10_000n);
    // every frame has one verdict; frames sent besides a slot's own (tunnel fragments) count as tx too
    expect(c.tx + c.local_reply + c.pass + c.drop).toBe(10_000n + BigInt(drained));
    expect(c.drop_bad_vnet_hdr).toBeGreaterThan(0n);
    expect(c.gso_segments).toBeGreaterThan(0n);
  });
});
