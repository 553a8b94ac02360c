/*
 * The SYN proxy (assembly/synproxy.ts): golden frames in and out, built by hand with the test
 * packet builder (full checksums, independent of the engine's incremental code), and cookies
 * computed here by an independent SipHash-2-4 (checked against the paper's test vector) in
 * Linux's secure_tcp_syn_cookie form, then validated against RFC 4987's rules: the time
 * counter's window, the MSS table, a tampered cookie.
 */
import { describe, test, expect } from 'vitest';
import { engine, VIP, CLIENT, RS, VIP6, CLIENT6, RS6 } from '../../helpers/engine.ts';
import { ip, checkPacket, hex, parseIp } from '../../helpers/pkt.ts';
import type { Engine } from '../../../host/engine.ts';
import { SVC_F_SYNPROXY } from '../../../host/types.ts';

// ---- an independent SipHash-2-4 and cookie -----------------------------------------------------
const M64 = (1n << 64n) - 1n;
const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & M64;
function siphash(key: Uint8Array, msg: Uint8Array): bigint {
  const kv = new DataView(key.buffer, key.byteOffset, 16);
  const k0 = kv.getBigUint64(0, true), k1 = kv.getBigUint64(8, true);
  let v0 = k0 ^ 0x736f6d6570736575n, v1 = k1 ^ 0x646f72616e646f6dn, v2 = k0 ^ 0x6c7967656e657261n, v3 = k1 ^ 0x7465646279746573n;
  const round = () => {
    v0 = (v0 + v1) & M64; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M64; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & M64; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & M64; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const blocks = Math.floor(msg.length / 8);
  const words: bigint[] = [];
  for (let i = 0; i < blocks; i++) words.push(new DataView(msg.buffer, msg.byteOffset + i * 8, 8).getBigUint64(0, true));
  let last = BigInt(msg.length & 0xff) << 56n;
  for (let i = blocks * 8; i < msg.length; i++) last |= BigInt(msg[i]) << BigInt(8 * (i - blocks * 8));
  words.push(last);
  for (const m of words) { v3 ^= m; round(); round(); v0 ^= m; }
  v2 ^= 0xffn;
  round(); round(); round(); round();
  return v0 ^ v1 ^ v2 ^ v3;
}
/** The engine's 16-byte form of an address (IPv4 mapped, ::ffff:a.b.c.d). */
function addr16(a: string): Uint8Array {
  const p = parseIp(a);
  if (p.af === 6) return p.b;
  const o = new Uint8Array(16); o[10] = 0xff; o[11] = 0xff; o.set(p.b, 12); return o;
}
function H(secret: Uint8Array, c: number, s: string, d: string, sport: number, dport: number, count: number): number {
  const m = new Uint8Array(40);
  m.set(addr16(s), 0); m.set(addr16(d), 16);
  const v = new DataView(m.buffer);
  v.setUint32(32, ((sport << 16) | dport) >>> 0, true); v.setUint32(36, count >>> 0, true);
  return Number(siphash(secret.subarray(c * 16, c * 16 + 16), m) & 0xffffffffn);
}
/** secure_tcp_syn_cookie (net/ipv4/syncookies.c) with our hash and counter. */
function cookie(secret: Uint8Array, s: string, d: string, sport: number, dport: number, sseq: number, count: number, mssind: number): number {
  return (H(secret, 0, s, d, sport, dport, 0) + sseq + ((count << 24) >>> 0) + ((H(secret, 1, s, d, sport, dport, count) + mssind) & 0xffffff)) >>> 0;
}

const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
const key = { proto: 'TCP', addr: VIP, port: 80 } as const;
const T0 = 1_000_000;   // the first call: engine time 0, cookie counter 0

async function sp(fwd: 'Masq' | 'FullNat' = 'Masq', v6 = false): Promise<Engine> {
  const e = await engine({ synproxySecret: SECRET });
  const k = { ...key, addr: v6 ? VIP6 : VIP };
  e.addService({ ...k, sched: 'rr', flags: SVC_F_SYNPROXY });
  e.addDest(k, { addr: v6 ? RS6[0] : RS[0], port: 8080, fwd });
  if (fwd === 'FullNat') e.addLaddr(k, '198.18.2.1');
  return e;
}
const u32b = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const MSS = (v: number) => [2, 4, v >> 8, v & 255];
const TS = (val: number, ecr: number) => [8, 10, ...u32b(val), ...u32b(ecr)];
const NOP = 1;
const opt = (...a: number[]) => new Uint8Array(a);
const text = (s: string) => new TextEncoder().encode(s);

function run(e: Engine, frame: Uint8Array, now: number, verdict = 'XMIT'): Uint8Array {
  const r = e.processFrame(frame, now);
  expect(r.verdict, r.reason).toBe(verdict);
  if (verdict !== 'DROP') expect(checkPacket(r.data)).toEqual([]);
  return r.data;
}
/** The frames the engine queued besides the slot's own (neigh.ts hold queue). */
function drained(e: Engine): Uint8Array[] {
  const n = e.drain();
  return Array.from({ length: n }, (_, i) => e.output(i));
}

describe('cookies: RFC 4987 §3.6 in Linux\'s form', () => {
  test('the SipHash-2-4 here is the paper\'s (Appendix A: key 00..0f, message 00..0e)', () => {
    const k = Uint8Array.from({ length: 16 }, (_, i) => i);
    expect(siphash(k, Uint8Array.from({ length: 15 }, (_, i) => i))).toBe(0xa129ca6149be45e5n);
    expect(siphash(k, new Uint8Array(0))).toBe(0x726fdb47dd0e0e31n);
  });

  test('the engine\'s cookie is secure_tcp_syn_cookie; check_tcp_syn_cookie accepts this and the previous counter only', async () => {
    const e = await sp();
    const ex = (e as any).ex, c = (e as any).c, u8: Uint8Array = (e as any).u8, ctl = (e as any).base.ctl;
    u8.set(addr16(CLIENT), ctl + c.CTL_ADDR0); u8.set(addr16(VIP), ctl + c.CTL_ADDR1);
    const ports = (40000 << 16) | 80;
    for (const [count, mssind] of [[0, 0], [5, 3], [255, 2], [256, 1], [70000, 3]]) {
      const want = cookie(SECRET, CLIENT, VIP, 40000, 80, 123456789, count, mssind);
      expect(ex.synproxyCookie(ports, 123456789, count, mssind) >>> 0).toBe(want);
      // the time window: made at `count`, checked at count (age 0) and count + 1 (age 1) → the MSS index
      expect(ex.synproxyCookieCheck(want, ports, 123456789, count)).toBe(mssind);
      expect(ex.synproxyCookieCheck(want, ports, 123456789, count + 1)).toBe(mssind);
      // two steps old (MAX_SYNCOOKIE_AGE 2), or from the future: refused
      expect(ex.synproxyCookieCheck(want, ports, 123456789, count + 2)).toBe(-1);
      expect(ex.synproxyCookieCheck(want, ports, 123456789, count - 1)).toBe(-1);
      // another client ISN, another port, a flipped bit: the data comes back out of range (not 0..3;
      // as Linux's, an ISN off by n moves the data by -n: the 22 hash bits above the index catch it)
      expect(ex.synproxyCookieCheck(want, ports, 123456789 + 4096, count) >>> 0).toBeGreaterThan(3);
      expect(ex.synproxyCookieCheck(want, ports + 1, 123456789, count) >>> 0).toBeGreaterThan(3);
      expect(ex.synproxyCookieCheck((want ^ 0x10) >>> 0, ports, 123456789, count) >>> 0).toBeGreaterThan(3);
    }
  });

  test('MSS table (syncookies.c msstab): the largest entry not above the client\'s MSS', async () => {
    const e = await sp();
    const ex = (e as any).ex;
    const enc = (v4: boolean, m: number) => ex.synproxyMssEncode(v4, m);
    expect([100, 535, 536, 1299, 1300, 1439, 1440, 1459, 1460, 9000].map((m) => enc(true, m))).toEqual([0, 0, 0, 0, 1, 1, 2, 2, 3, 3]);
    expect([0, 1, 2, 3].map((i) => ex.synproxyMssDecode(true, i))).toEqual([536, 1300, 1440, 1460]);
    expect([1220, 1419, 1420, 1440, 8939, 8940].map((m) => enc(false, m))).toEqual([0, 0, 1, 2, 2, 3]);
    expect([0, 1, 2, 3].map((i) => ex.synproxyMssDecode(false, i))).toEqual([1220, 1420, 1440, 8940]);
  });
});

describe('SYN proxy, NAT, IPv4: a whole connection byte by byte', () => {
  const CISN = 1000, RISN = 7_000_000, CTS = 1_000_000;
  // client SYN: MSS 1460, SACK-permitted + timestamps, NOP + window scale 7 (Linux's layout)
  const SYN_OPTS = opt(...MSS(1460), 4, 2, ...TS(CTS, 0), NOP, 3, 3, 7);
  // our TSval: the client's, low 6 bits = wscale 7 | SACK (16), rounded down (cookie_init_timestamp)
  const OUR_TS = (((CTS & ~63) | 7 | 16) > CTS ? ((CTS & ~63) | 7 | 16) - 64 : (CTS & ~63) | 7 | 16) >>> 0;
  const COOKIE = cookie(SECRET, CLIENT, VIP, 40000, 80, CISN, 0, 3);

  test('SYN → cookie SYN-ACK (no conn); ACK → SYN to the server; its SYN-ACK → window update + ACK; data translated both ways', async () => {
    const e = await sp();
    expect(OUR_TS).toBe(999959);
    // 1. the SYN is answered: cookie ISN, window 0, MSS from the table, TS carrying the options, WS 7
    const syn = ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'S', seq: CISN, options: SYN_OPTS });
    const synack = run(e, syn, T0, 'LOCAL');
    expect(hex(synack)).toBe(hex(ip(VIP, CLIENT, { proto: 'tcp', sport: 80, dport: 40000, flags: 'SA', seq: COOKIE, ack: CISN + 1, win: 0,
      options: opt(...MSS(1460), 4, 2, ...TS(OUR_TS, CTS), NOP, 3, 3, 7) }, { id: 0, ttl: 64 })));
    expect(e.conns()).toEqual([]);
    expect(e.counters()).toMatchObject({ synproxy_cookie_sent: 1n, conn_created: 0n });

    // 2. the client's ACK: the cookie holds → conn (SYN_RECV) and the SYN to the server, with the
    //    client's options back from the cookie and its TSecr, TSval = ours, window = 502 << 7
    const ack = ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A', seq: CISN + 1, ack: COOKIE + 1, win: 502,
      options: opt(NOP, NOP, ...TS(CTS + 50, OUR_TS)) });
    const rsSyn = run(e, ack, T0 + 30);
    expect(hex(rsSyn)).toBe(hex(ip(CLIENT, RS[0], { proto: 'tcp', sport: 40000, dport: 8080, flags: 'S', seq: CISN, ack: 0, win: 64256,
      options: opt(...MSS(1460), 4, 2, ...TS(OUR_TS, 0), NOP, 3, 3, 7) }, { ttl: 63 })));
    expect(e.conns()).toMatchObject([{ state: 'SYN_RECV', daddr: RS[0], dport: 8080 }]);
    expect(e.counters()).toMatchObject({ synproxy_cookie_ok: 1n, conn_created: 1n });

    // 3. before the server answered: data is dropped (the client's window was 0: it sends none);
    //    its zero-window probe (seq = ISN) sends the SYN again, the conn stays SYN_RECV
    const early = ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'PA', seq: CISN + 1, ack: COOKIE + 1, win: 502, options: opt(NOP, NOP, ...TS(CTS + 60, OUR_TS)), payload: text('x') });
    run(e, early, T0 + 31, 'DROP');
    expect(e.counters()).toMatchObject({ drop_synproxy_handshake: 1n });
    const probe = ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A', seq: CISN, ack: COOKIE + 1, win: 502, options: opt(NOP, NOP, ...TS(CTS + 61, OUR_TS)) });
    expect(hex(run(e, probe, T0 + 31))).toBe(hex(rsSyn));
    expect(e.conns()).toMatchObject([{ state: 'SYN_RECV' }]);
    expect(e.counters()).toMatchObject({ synproxy_syn_resent: 1n, synproxy_cookie_ok: 1n });

    // 4. the server's SYN-ACK (its own ISN, TSval 555, window scale 9): the client gets the window
    //    update (seq = cookie + 1, timestamps in our terms, 65160 >> 7), the server its ACK after it
    const RTS = 555;
    const rsSynack = ip(RS[0], CLIENT, { proto: 'tcp', sport: 8080, dport: 40000, flags: 'SA', seq: RISN, ack: CISN + 1, win: 65160,
      options: opt(...MSS(1460), 4, 2, ...TS(RTS, OUR_TS), NOP, 3, 3, 9) });
    const upd = run(e, rsSynack, T0 + 32);
    expect(hex(upd)).toBe(hex(ip(VIP, CLIENT, { proto: 'tcp', sport: 80, dport: 40000, flags: 'A', seq: COOKIE + 1, ack: CISN + 1, win: 509,
      options: opt(NOP, NOP, NOP, NOP, NOP, NOP, ...TS(OUR_TS, OUR_TS), NOP, NOP, NOP, NOP) }, { ttl: 63 })));
    const q = drained(e);
    expect(q.map(hex)).toEqual([hex(ip(CLIENT, RS[0], { proto: 'tcp', sport: 40000, dport: 8080, flags: 'A', seq: CISN + 1, ack: RISN + 1, win: 502,
      options: opt(NOP, NOP, ...TS(OUR_TS, RTS)) }, { id: 1, ttl: 64 }))]);
    expect(e.conns()).toMatchObject([{ state: 'ESTABLISHED' }]);
    expect(e.services()[0].dests[0]).toMatchObject({ activeconns: 1, inactconns: 0 });
    const ex = (e as any).ex, ci = e.conns()[0].index;
    expect(ex.synproxyConn(ci, 0) >>> 0).toBe((COOKIE - RISN) >>> 0);
    expect(ex.synproxyConn(ci, 1) >>> 0).toBe((RTS - OUR_TS) >>> 0);

    // 5. client → server: ack and SACK edges - delta, TSecr + the timestamp delta
    const D = (COOKIE - RISN) >>> 0;
    const req = ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'PA', seq: CISN + 1, ack: COOKIE + 1, win: 502,
      options: opt(NOP, NOP, ...TS(CTS + 70, OUR_TS), NOP, NOP, 5, 10, ...u32b(COOKIE + 201), ...u32b(COOKIE + 301)), payload: text('GET / HTTP/1.0\r\n\r\n') });
    expect(hex(run(e, req, T0 + 33))).toBe(hex(ip(CLIENT, RS[0], { proto: 'tcp', sport: 40000, dport: 8080, flags: 'PA', seq: CISN + 1, ack: RISN + 1, win: 502,
      options: opt(NOP, NOP, ...TS(CTS + 70, RTS), NOP, NOP, 5, 10, ...u32b(RISN + 201), ...u32b(RISN + 301)), payload: text('GET / HTTP/1.0\r\n\r\n') }, { ttl: 63 })));
    expect(((COOKIE + 201) - D) >>> 0).toBe(RISN + 201);

    // 6. server → client: seq + delta, TSval - the timestamp delta, window from scale 9 to 7
    const resp = ip(RS[0], CLIENT, { proto: 'tcp', sport: 8080, dport: 40000, flags: 'PA', seq: RISN + 1, ack: CISN + 19, win: 1000,
      options: opt(NOP, NOP, ...TS(RTS + 45, CTS + 70)), payload: text('HTTP/1.0 200 OK\r\n\r\n') });
    expect(hex(run(e, resp, T0 + 34))).toBe(hex(ip(VIP, CLIENT, { proto: 'tcp', sport: 80, dport: 40000, flags: 'PA', seq: COOKIE + 1, ack: CISN + 19, win: 4000,
      options: opt(NOP, NOP, ...TS(OUR_TS + 45, CTS + 70)), payload: text('HTTP/1.0 200 OK\r\n\r\n') }, { ttl: 63 })));

    // 6b. an ICMP frag-needed from the client's side quoting that segment: the quoted seq goes
    //     back to the server's space (its tcp_v4_err looks it up in its window)
    const quoted = ip(VIP, CLIENT, { proto: 'tcp', sport: 80, dport: 40000, flags: 'PA', seq: COOKIE + 1, ack: CISN + 19, win: 4000 }, { ttl: 63 }).subarray(0, 28);
    const icmp = ip(CLIENT, VIP, { proto: 'icmp', type: 3, code: 4, rest: 1400, payload: quoted });
    const icmpOut = run(e, icmp, T0 + 34);
    expect(icmpOut.length).toBe(icmp.length);
    expect(new DataView(icmpOut.buffer, icmpOut.byteOffset).getUint32(28 + 20 + 4)).toBe(RISN + 1);
    expect(hex(icmpOut.subarray(28 + 12, 28 + 24))).toBe(hex(new Uint8Array([...parseIp(RS[0]).b, ...parseIp(CLIENT).b, 0x1f, 0x90, 0x9c, 0x40])));

    // 7. the client's FIN: the kernel's INPUT table (ESTABLISHED → CLOSE_WAIT), as any conn
    run(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'FA', seq: CISN + 19, ack: COOKIE + 20, win: 502 }), T0 + 35);
    expect(e.conns()).toMatchObject([{ state: 'CLOSE_WAIT' }]);
    expect(e.counters()).toMatchObject({ synproxy_established: 1n, synproxy_bad_cookie: 0n, drop_synproxy_rs_unexpected: 0n });
  });

  test('a synproxy conn is never synced (its deltas cannot travel); its delta entry is freed with it and reused', async () => {
    const e = await sp();
    const plain = { proto: 'TCP', addr: VIP, port: 81 } as const;
    e.addService({ ...plain, sched: 'rr' });
    e.addDest(plain, { addr: RS[0], port: 8080, fwd: 'Masq' });
    e.syncMaster(true);
    /** The handshake through the cookie and the server's SYN-ACK from client port p, server ISN risn. */
    const established = (p: number, t: number, risn: number) => {
      const ck = cookie(SECRET, CLIENT, VIP, p, 80, CISN, Math.floor((t - T0) / 65536), 3);   // the counter: engine ms >> 16
      run(e, ip(CLIENT, VIP, { proto: 'tcp', sport: p, dport: 80, flags: 'S', seq: CISN, options: SYN_OPTS }), t, 'LOCAL');
      run(e, ip(CLIENT, VIP, { proto: 'tcp', sport: p, dport: 80, flags: 'A', seq: CISN + 1, ack: ck + 1, win: 502,
        options: opt(NOP, NOP, ...TS(CTS + 50, OUR_TS)) }), t + 1);
      run(e, ip(RS[0], CLIENT, { proto: 'tcp', sport: 8080, dport: p, flags: 'SA', seq: risn, ack: CISN + 1, win: 65160,
        options: opt(...MSS(1460), 4, 2, ...TS(555, OUR_TS), NOP, 3, 3, 9) }), t + 2);
      drained(e);
      // two requests: its third input packet, in ESTABLISHED, is when sync_threshold (3) syncs a conn
      for (let k = 0; k < 2; k++) {
        run(e, ip(CLIENT, VIP, { proto: 'tcp', sport: p, dport: 80, flags: 'PA', seq: CISN + 1 + k, ack: ck + 1, win: 502,
          options: opt(NOP, NOP, ...TS(CTS + 60 + k, OUR_TS)), payload: text('x') }), t + 3 + k);
      }
      return ck;
    };
    const ex = (e as any).ex;
    for (let i = 0; i < 3; i++) established(41000 + i, T0 + i * 10, RISN + i);
    expect(e.conns().filter((c) => c.state === 'ESTABLISHED')).toHaveLength(3);
    expect(e.syncTake(T0 + 100, 0)).toEqual([]);
    expect(e.counters().sync_tx_conns).toBe(0n);
    // a plain NAT conn on the same master, through the same handshake, is synced once established
    run(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 50000, dport: 81, flags: 'S', seq: 1 }), T0 + 101);
    run(e, ip(RS[0], CLIENT, { proto: 'tcp', sport: 8080, dport: 50000, flags: 'SA', seq: 9, ack: 2 }), T0 + 101);
    run(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 50000, dport: 81, flags: 'A', seq: 2, ack: 10 }), T0 + 101);
    run(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 50000, dport: 81, flags: 'PA', seq: 2, ack: 10, payload: text('x') }), T0 + 101);
    expect(e.syncTake(T0 + 102, 0)).toHaveLength(1);
    expect(e.counters().sync_tx_conns).toBeGreaterThan(0n);
    // they all expire (ESTABLISHED 15 min); three new ones take the freed entries, each with its own deltas
    e.tick(T0 + 16 * 60_000);
    expect(e.conns()).toEqual([]);
    const t1 = T0 + 16 * 60_000 + 1000;
    const cks = [0, 1, 2].map((i) => established(42000 + i, t1 + i * 10, RISN + 1000 * i));
    const byPort = new Map(e.conns().map((c) => [c.cport, c.index]));
    for (let i = 0; i < 3; i++) expect(ex.synproxyConn(byPort.get(42000 + i), 0) >>> 0).toBe((cks[i] - (RISN + 1000 * i)) >>> 0);
    expect(e.counters().drop_synproxy_no_room).toBe(0n);
  });

  test('a bad cookie, an expired one: no conn, counted, answered by the local stack\'s RST', async () => {
    const e = await sp();
    run(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'S', seq: CISN, options: SYN_OPTS }), T0, 'LOCAL');
    // tampered: one bit of the cookie flipped
    const bad = ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A', seq: CISN + 1, ack: ((COOKIE ^ 0x100) + 1) >>> 0 });
    expect(hex(run(e, bad, T0 + 10, 'LOCAL'))).toBe(hex(ip(VIP, CLIENT, { proto: 'tcp', sport: 80, dport: 40000, flags: 'R', seq: ((COOKIE ^ 0x100) + 1) >>> 0, ack: 0, win: 0 }, { id: 0, ttl: 64 })));
    // the right cookie, two counter steps (2 × 65.536 s) later: expired
    const late = ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A', seq: CISN + 1, ack: COOKIE + 1 });
    run(e, late, T0 + 2 * 65536, 'LOCAL');
    expect(e.conns()).toEqual([]);
    expect(e.counters()).toMatchObject({ synproxy_bad_cookie: 2n, synproxy_cookie_ok: 0n, tcp_reset_sent: 2n });
    // one step later is still inside the window
    const e2 = await sp();
    run(e2, ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'S', seq: CISN, options: SYN_OPTS }), T0, 'LOCAL');
    run(e2, ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A', seq: CISN + 1, ack: COOKIE + 1 }), T0 + 65536 + 100);
    expect(e2.conns()).toMatchObject([{ state: 'SYN_RECV' }]);
  });

  test('a client without timestamps: the SYN-ACK carries the MSS alone (no wscale/SACK), the SYN too', async () => {
    const e = await sp();
    const syn = ip(CLIENT, VIP, { proto: 'tcp', sport: 40001, dport: 80, flags: 'S', seq: 5, options: opt(...MSS(1400), NOP, 3, 3, 7, NOP, NOP, 4, 2) });
    const c = cookie(SECRET, CLIENT, VIP, 40001, 80, 5, 0, 1);
    expect(hex(run(e, syn, T0, 'LOCAL'))).toBe(hex(ip(VIP, CLIENT, { proto: 'tcp', sport: 80, dport: 40001, flags: 'SA', seq: c, ack: 6, win: 0, options: opt(...MSS(1300)) }, { id: 0, ttl: 64 })));
    const ack = ip(CLIENT, VIP, { proto: 'tcp', sport: 40001, dport: 80, flags: 'A', seq: 6, ack: c + 1, win: 29200 });
    expect(hex(run(e, ack, T0 + 1))).toBe(hex(ip(CLIENT, RS[0], { proto: 'tcp', sport: 40001, dport: 8080, flags: 'S', seq: 5, ack: 0, win: 29200, options: opt(...MSS(1300)) }, { ttl: 63 })));
    // the server refuses (RST): passed on at the sequence number the client expects, the conn closes
    const rst = ip(RS[0], CLIENT, { proto: 'tcp', sport: 8080, dport: 40001, flags: 'RA', seq: 0, ack: 6, win: 0 });
    expect(hex(run(e, rst, T0 + 2))).toBe(hex(ip(VIP, CLIENT, { proto: 'tcp', sport: 80, dport: 40001, flags: 'RA', seq: c + 1, ack: 6, win: 0 }, { ttl: 63 })));
    expect(e.conns()).toMatchObject([{ state: 'CLOSE' }]);
    expect(e.counters()).toMatchObject({ synproxy_rs_reset: 1n });
  });
});

describe('SYN proxy, FULLNAT and IPv6', () => {
  test('FULLNAT: the SYN leaves from the local address; the ACK to the server carries TOA', async () => {
    const e = await sp('FullNat');
    const syn = ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'S', seq: 1000, options: opt(...MSS(1460)) });
    const c = cookie(SECRET, CLIENT, VIP, 40000, 80, 1000, 0, 3);
    run(e, syn, T0, 'LOCAL');
    const out = run(e, ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A', seq: 1001, ack: c + 1, win: 1000 }), T0 + 1);
    expect(hex(out)).toBe(hex(ip('198.18.2.1', RS[0], { proto: 'tcp', sport: 1025, dport: 8080, flags: 'S', seq: 1000, ack: 0, win: 1000, options: opt(...MSS(1460)) }, { ttl: 63 })));
    const upd = run(e, ip(RS[0], '198.18.2.1', { proto: 'tcp', sport: 8080, dport: 1025, flags: 'SA', seq: 9, ack: 1001, win: 5000, options: opt(...MSS(1460)) }), T0 + 2);
    expect(hex(upd)).toBe(hex(ip(VIP, CLIENT, { proto: 'tcp', sport: 80, dport: 40000, flags: 'A', seq: c + 1, ack: 1001, win: 5000, options: opt(NOP, NOP, NOP, NOP) }, { ttl: 63 })));
    expect(drained(e).map(hex)).toEqual([hex(ip('198.18.2.1', RS[0], { proto: 'tcp', sport: 1025, dport: 8080, flags: 'A', seq: 1001, ack: 10, win: 1000,
      options: opt(254, 8, 40000 >> 8, 40000 & 255, ...parseIp(CLIENT).b) }, { id: 1, ttl: 64 }))]);
  });

  test('IPv6 NAT: cookie over the 16-byte addresses, IPv6 MSS table', async () => {
    const e = await sp('Masq', true);
    const syn = ip(CLIENT6, VIP6, { proto: 'tcp', sport: 40000, dport: 80, flags: 'S', seq: 77, options: opt(...MSS(1440)) });
    const c = cookie(SECRET, CLIENT6, VIP6, 40000, 80, 77, 0, 2);
    expect(hex(run(e, syn, T0, 'LOCAL'))).toBe(hex(ip(VIP6, CLIENT6, { proto: 'tcp', sport: 80, dport: 40000, flags: 'SA', seq: c, ack: 78, win: 0, options: opt(...MSS(1440)) }, { ttl: 64 })));
    const out = run(e, ip(CLIENT6, VIP6, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A', seq: 78, ack: c + 1, win: 700 }), T0 + 1);
    expect(hex(out)).toBe(hex(ip(CLIENT6, RS6[0], { proto: 'tcp', sport: 40000, dport: 8080, flags: 'S', seq: 77, ack: 0, win: 700, options: opt(...MSS(1440)) }, { ttl: 63 })));
  });

  test('on a TAP (Ethernet): the SYN-ACK back to the sender\'s MAC, the SYN and the queued ACK to the server\'s, the window update to the gateway', async () => {
    const DIR = '02:00:00:00:00:aa', GW = '02:00:00:00:01:fa', RSMAC = '02:00:00:00:01:01';
    const mac = (m: string) => m.split(':').map((x) => parseInt(x, 16));
    const eth = (dst: string, srcm: string, p: Uint8Array) => new Uint8Array([...mac(dst), ...mac(srcm), 0x08, 0x00, ...p]);
    const e = await engine({ synproxySecret: SECRET, link: 'ethernet' });
    e.setLink({ mac: DIR, ipv4: '198.18.1.254/24', gateway4: '198.18.1.250' });
    e.addNeighbour('198.18.1.250', GW);
    e.addNeighbour(RS[0], RSMAC);
    e.addService({ ...key, sched: 'rr', flags: SVC_F_SYNPROXY });
    e.addDest(key, { addr: RS[0], port: 8080, fwd: 'Masq' });
    const c = cookie(SECRET, CLIENT, VIP, 40000, 80, 1000, 0, 3);
    let r = e.processFrame(eth(DIR, GW, ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'S', seq: 1000, options: opt(...MSS(1460)) })), T0);
    expect(r.verdict).toBe('LOCAL');
    expect(hex(r.data)).toBe(hex(eth(GW, DIR, ip(VIP, CLIENT, { proto: 'tcp', sport: 80, dport: 40000, flags: 'SA', seq: c, ack: 1001, win: 0, options: opt(...MSS(1460)) }, { id: 0, ttl: 64 }))));
    r = e.processFrame(eth(DIR, GW, ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A', seq: 1001, ack: c + 1, win: 900 })), T0 + 1);
    expect(r.verdict).toBe('XMIT');
    expect(hex(r.data)).toBe(hex(eth(RSMAC, DIR, ip(CLIENT, RS[0], { proto: 'tcp', sport: 40000, dport: 8080, flags: 'S', seq: 1000, ack: 0, win: 900, options: opt(...MSS(1460)) }, { ttl: 63 }))));
    r = e.processFrame(eth(DIR, RSMAC, ip(RS[0], CLIENT, { proto: 'tcp', sport: 8080, dport: 40000, flags: 'SA', seq: 50, ack: 1001, win: 4000, options: opt(...MSS(1460)) })), T0 + 2);
    expect(r.verdict).toBe('XMIT');
    expect(hex(r.data)).toBe(hex(eth(GW, DIR, ip(VIP, CLIENT, { proto: 'tcp', sport: 80, dport: 40000, flags: 'A', seq: c + 1, ack: 1001, win: 4000, options: opt(NOP, NOP, NOP, NOP) }, { ttl: 63 }))));
    expect(drained(e).map(hex)).toEqual([hex(eth(RSMAC, DIR, ip(CLIENT, RS[0], { proto: 'tcp', sport: 40000, dport: 8080, flags: 'A', seq: 1001, ack: 51, win: 900 }, { id: 1, ttl: 64 })))]);
  });

  test('DR and tunnel dests are refused on a synproxy service, and the flag on a service that has them', async () => {
    const e = await engine({ synproxySecret: SECRET });
    e.addService({ ...key, sched: 'rr', flags: SVC_F_SYNPROXY });
    expect(() => e.addDest(key, { addr: RS[1], port: 80, fwd: 'Route' })).toThrow(/SYN proxy needs NAT/);
    expect(() => e.addDest(key, { addr: RS[1], port: 80, fwd: 'Tunnel' })).toThrow(/SYN proxy needs NAT/);
    const k2 = { ...key, port: 81 };
    e.addService({ ...k2, sched: 'rr' });
    e.addDest(k2, { addr: RS[1], port: 81, fwd: 'Route' });
    expect(() => e.editService({ ...k2, sched: 'rr', flags: SVC_F_SYNPROXY })).toThrow(/SYN proxy needs NAT/);
  });
});
