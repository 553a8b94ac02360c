/*
 * SCTP services (ip_vs_proto_sctp.c, Linux 6.x). The state table is checked cell by cell against
 * the kernel's sctp_states[][][] (transcribed below from net/netfilter/ipvs/ip_vs_proto_sctp.c,
 * in the kernel's own layout), as are sctp_events[], the timeouts and the state names. A whole
 * association goes through NAT; every SCTP checksum is verified with a bit-by-bit CRC32c written
 * here, independent of the engine's table-driven one.
 */
import { describe, test, expect } from 'vitest';
import { engine, VIP, CLIENT, RS } from '../../helpers/engine.ts';
import { csum, parseIp, checkPacket } from '../../helpers/pkt.ts';
import type { Engine } from '../../../host/engine.ts';

// ---- the kernel's table, as text --------------------------------------------------------------
const STATES = ['sNO', 'sI1', 'sIN', 'sCS', 'sCR', 'sCW', 'sCO', 'sCE', 'sES', 'sSS', 'sSR', 'sSA', 'sRJ', 'sCL'];
const KERNEL_SCTP_STATES = `
	{ /* INPUT */
/*        sNO, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL*/
/* d   */{sES, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
/* i   */{sI1, sIN, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sIN, sIN},
/* i_a */{sCW, sCW, sCW, sCS, sCR, sCO, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
/* c_e */{sCR, sIN, sIN, sCR, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
/* c_a */{sES, sI1, sIN, sCS, sCR, sCW, sCO, sES, sES, sSS, sSR, sSA, sRJ, sCL},
/* s   */{sSR, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sSR, sSS, sSR, sSA, sRJ, sCL},
/* s_a */{sCL, sIN, sIN, sCS, sCR, sCW, sCO, sCE, sES, sCL, sSR, sCL, sRJ, sCL},
/* s_c */{sCL, sCL, sCL, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sCL, sRJ, sCL},
/* err */{sCL, sI1, sIN, sCS, sCR, sCW, sCO, sCL, sES, sSS, sSR, sSA, sRJ, sCL},
/* ab  */{sCL, sCL, sCL, sCL, sCL, sRJ, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
	},
	{ /* OUTPUT */
/*        sNO, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL*/
/* d   */{sES, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
/* i   */{sCW, sCW, sCW, sCW, sCW, sCW, sCW, sCW, sES, sCW, sCW, sCW, sCW, sCW},
/* i_a */{sCS, sCS, sCS, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
/* c_e */{sCE, sCE, sCE, sCE, sCE, sCE, sCE, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
/* c_a */{sES, sES, sES, sES, sES, sES, sES, sES, sES, sSS, sSR, sSA, sRJ, sCL},
/* s   */{sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSS, sSR, sSA, sRJ, sCL},
/* s_a */{sSA, sSA, sSA, sSA, sSA, sCW, sCO, sCE, sES, sSA, sSA, sSA, sRJ, sCL},
/* s_c */{sCL, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
/* err */{sCL, sCL, sCL, sCL, sCL, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
/* ab  */{sCL, sRJ, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
	},
	{ /* INPUT-ONLY */
/*        sNO, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL*/
/* d   */{sES, sI1, sIN, sCS, sCR, sES, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
/* i   */{sI1, sIN, sIN, sIN, sIN, sIN, sCO, sCE, sES, sSS, sSR, sSA, sIN, sIN},
/* i_a */{sCE, sCE, sCE, sCE, sCE, sCE, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
/* c_e */{sES, sES, sES, sES, sES, sES, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
/* c_a */{sES, sI1, sIN, sES, sES, sCW, sES, sES, sES, sSS, sSR, sSA, sRJ, sCL},
/* s   */{sSR, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sSR, sSS, sSR, sSA, sRJ, sCL},
/* s_a */{sCL, sIN, sIN, sCS, sCR, sCW, sCO, sCE, sCL, sCL, sSR, sCL, sRJ, sCL},
/* s_c */{sCL, sCL, sCL, sCL, sCL, sCW, sCO, sCE, sES, sSS, sCL, sCL, sRJ, sCL},
/* err */{sCL, sI1, sIN, sCS, sCR, sCW, sCO, sCE, sES, sSS, sSR, sSA, sRJ, sCL},
/* ab  */{sCL, sCL, sCL, sCL, sCL, sRJ, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
	},`;
const EVENTS = ['d', 'i', 'i_a', 'c_e', 'c_a', 's', 's_a', 's_c', 'err', 'ab'];
const DIRS = ['INPUT', 'OUTPUT', 'INPUT-ONLY'];
/** [dir][event][state] → next state index, read from the text above. */
const kernelTable: number[][][] = KERNEL_SCTP_STATES.split('{ /* ').slice(1).map((block) =>
  [...block.matchAll(/\/\* (\S+)\s*\*\/\{([^}]*)\}/g)].map((m) => m[2].split(',').map((x) => STATES.indexOf(x.trim()))));

// sctp_events[] and the state names / timeouts (sctp_state_name_table[], sctp_timeouts[])
const KERNEL_EVENTS: Record<number, number> = { 0: 0, 1: 1, 2: 2, 3: 0, 4: 0, 5: 0, 6: 9, 7: 5, 8: 6, 9: 8, 10: 3, 11: 4, 12: 0, 13: 0, 14: 7 };
const KERNEL_NAMES = ['NONE', 'INIT1', 'INIT', 'C-SENT', 'C-REPLIED', 'C-WAIT', 'COOKIE', 'C-ECHOED', 'ESTABLISHED', 'S-SENT', 'S-RECEIVED', 'S-ACK-SENT', 'REJECTED', 'CLOSED'];
const KERNEL_TIMEOUTS = [2, 4, 61, 61, 61, 61, 61, 61, 900, 61, 61, 61, 4, 61];

// ---- an independent CRC32c (bit by bit) and an SCTP packet builder ------------------------------
function crc32c(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}
/** The stored checksum is right (field read little-endian, as Linux stores it). */
function sctpCsumOk(seg: Uint8Array): boolean {
  const z = seg.slice(); z.fill(0, 8, 12);
  return new DataView(seg.buffer, seg.byteOffset).getUint32(8, true) === crc32c(z);
}
interface Chunk { type: number; flags?: number; body?: number[]; len?: number }
function chunks(cs: Chunk[]): number[] {
  const out: number[] = [];
  for (const c of cs) {
    const body = c.body ?? [];
    const len = c.len ?? 4 + body.length;
    out.push(c.type, c.flags ?? 0, len >> 8, len & 255, ...body);
    while (out.length % 4) out.push(0);
  }
  return out;
}
function sctp(src: string, dst: string, sport: number, dport: number, cs: Chunk[] | number[], vtag = 0x01020304, ttl = 64): Uint8Array {
  const body = typeof cs[0] === 'number' ? cs as number[] : chunks(cs as Chunk[]);
  const seg = new Uint8Array(12 + body.length);
  const v = new DataView(seg.buffer);
  v.setUint16(0, sport); v.setUint16(2, dport); v.setUint32(4, vtag);
  seg.set(body, 12);
  v.setUint32(8, crc32c(seg), true);
  const p = new Uint8Array(20 + seg.length);
  const pv = new DataView(p.buffer);
  p[0] = 0x45; pv.setUint16(2, p.length); pv.setUint16(4, 0x4242); pv.setUint16(6, 0x4000); p[8] = ttl; p[9] = 132;
  p.set(parseIp(src).b, 12); p.set(parseIp(dst).b, 16);
  const c = csum(p.subarray(0, 20)); p[10] = c >> 8; p[11] = c & 255;
  p.set(seg, 20);
  return p;
}
const INIT = { type: 1, body: [0, 0, 0, 7, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1] };
const INIT_ACK = { type: 2, body: [0, 0, 0, 9, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1, 0, 7, 0, 8, 0xc0, 0x0c, 0x1e, 0] };
const COOKIE_ECHO = { type: 10, body: [0xc0, 0x0c, 0x1e, 0] };
const COOKIE_ACK = { type: 11 };
const DATA = { type: 0, flags: 3, body: [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x68, 0x69] };
const SACK = { type: 3, body: [0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0] };
const SHUTDOWN = { type: 7, body: [0, 0, 0, 1] };
const SHUTDOWN_ACK = { type: 8 };
const SHUTDOWN_COMPLETE = { type: 14 };
const ABORT = { type: 6 };

const key = { proto: 'SCTP', addr: VIP, port: 3868 } as const;
async function sctpEngine(): Promise<Engine> {
  const e = await engine();
  e.addService({ ...key, sched: 'rr' });
  e.addDest(key, { addr: RS[0], port: 3869, fwd: 'Masq' });
  return e;
}
function fwd(e: Engine, p: Uint8Array, now = 1000): Uint8Array {
  const r = e.processFrame(p, now);
  expect(r.verdict, r.reason).toBe('XMIT');
  expect(checkPacket(r.data)).toEqual([]);   // the IPv4 header checksum
  expect(sctpCsumOk(r.data.subarray(20)), 'CRC32c').toBe(true);
  return r.data;
}

describe('SCTP state table = the kernel\'s sctp_states[][][]', () => {
  test('the transcription has 3 × 10 × 14 cells', () => {
    expect(kernelTable.length).toBe(3);
    for (const b of kernelTable) { expect(b.length).toBe(10); for (const r of b) { expect(r.length).toBe(14); expect(r).not.toContain(-1); } }
  });
  test.each(DIRS.flatMap((d, di) => EVENTS.map((ev, ei) => [d, ev, di, ei] as const)))('%s %s: every state', async (_d, _ev, di, ei) => {
    const e = await engine();
    const got = STATES.map((_, s) => e.ex.sctpStateNext(di, s, ei));
    expect(got.map((x: number) => STATES[x])).toEqual(kernelTable[di][ei].map((x) => STATES[x]));
  });
  test('sctp_events[]: chunk types 0..255', async () => {
    const e = await engine();
    for (let t = 0; t < 256; t++) expect(e.ex.sctpChunkEvent(t), `type ${t}`).toBe(KERNEL_EVENTS[t] ?? 0);
  });
  test('state names and timeouts', async () => {
    const e = await engine();
    expect(KERNEL_NAMES.map((_, s) => e.stateName(132, s))).toEqual(KERNEL_NAMES);
    expect(e.stateName(132, 14)).toBe('ERR!');
    expect(KERNEL_NAMES.map((n) => e.stateTimeout('SCTP', n) / 1000)).toEqual(KERNEL_TIMEOUTS);
    e.setStateTimeout('SCTP', 'ESTABLISHED', 5000);
    expect(e.stateTimeout('SCTP', 'ESTABLISHED')).toBe(5000);
  });
  test('the engine\'s CRC32c: the RFC 3720 test vector and random data against the bitwise one', async () => {
    const e = await engine();
    const at = e.slotBase + 128;
    const check = (b: Uint8Array) => { e.memory.set(b, at); return e.ex.sctpChecksum(at, b.length) >>> 0; };
    // sctpChecksum zeroes bytes 8..11 (the checksum field): pick data where they are 0 already
    // RFC 3720 B.4: 32 bytes of zeros → 0x8a9136aa; the common check value of "123456789"
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    for (let n = 16; n < 200; n += 7) {
      const b = new Uint8Array(n).map((_, i) => (i * 131 + n) & 255); b.fill(0, 8, 12);
      expect(check(b)).toBe(crc32c(b));
    }
  });
});

describe('SCTP through NAT', () => {
  test('a whole association: INIT … SHUTDOWN-COMPLETE, ports rewritten, CRC32c recomputed, states as the kernel\'s', async () => {
    const e = await sctpEngine();
    const C = (cs: Chunk[]) => sctp(CLIENT, VIP, 5000, 3868, cs);
    const S = (cs: Chunk[]) => sctp(RS[0], CLIENT, 3869, 5000, cs);
    const steps: [Uint8Array, 'in' | 'out', string][] = [
      [C([INIT]), 'in', 'INIT1'],
      [S([INIT_ACK]), 'out', 'C-SENT'],
      [C([COOKIE_ECHO]), 'in', 'C-REPLIED'],
      [S([COOKIE_ACK]), 'out', 'ESTABLISHED'],
      [C([DATA]), 'in', 'ESTABLISHED'],
      [S([SACK]), 'out', 'ESTABLISHED'],
      [C([SHUTDOWN]), 'in', 'S-RECEIVED'],
      [S([SHUTDOWN_ACK]), 'out', 'S-ACK-SENT'],
      [C([SHUTDOWN_COMPLETE]), 'in', 'CLOSED'],
    ];
    const active: number[] = [];
    for (const [p, dir, state] of steps) {
      const out = fwd(e, p);
      const v = new DataView(out.buffer, out.byteOffset);
      if (dir === 'in') {
        expect([...out.subarray(16, 20)].join('.')).toBe(RS[0]);
        expect([v.getUint16(20), v.getUint16(22)]).toEqual([5000, 3869]);
      } else {
        expect([...out.subarray(12, 16)].join('.')).toBe(VIP);
        expect([v.getUint16(20), v.getUint16(22)]).toEqual([3868, 5000]);
      }
      // verification tag and chunks untouched (bytes 28..31, the CRC, checked above)
      expect(out.subarray(24, 28)).toEqual(p.subarray(24, 28));
      expect(out.subarray(32)).toEqual(p.subarray(32));
      expect(e.conns()[0].state, `after ${dir} → ${state}`).toBe(state);
      active.push(e.services()[0].dests[0].activeconns);
    }
    expect(active).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0]);
    expect(e.conns()[0]).toMatchObject({ proto: 'SCTP', inpkts: 5, outpkts: 4 });
    expect(e.conns()[0].expiresMs).toBe(61_000);
    expect(e.services()[0].dests[0]).toMatchObject({ activeconns: 0, inactconns: 1 });
  });

  test('a COOKIE ECHO bundled with an ABORT is the ABORT (set_sctp_state)', async () => {
    const e = await sctpEngine();
    fwd(e, sctp(CLIENT, VIP, 5001, 3868, [INIT]));
    fwd(e, sctp(RS[0], CLIENT, 3869, 5001, [INIT_ACK]));
    fwd(e, sctp(CLIENT, VIP, 5001, 3868, [COOKIE_ECHO, ABORT]));
    expect(e.conns()[0].state).toBe('CLOSED');
  });

  test('only an INIT schedules; ABORT never; sloppy_sctp: any other chunk', async () => {
    const e = await sctpEngine();
    expect(e.processFrame(sctp(CLIENT, VIP, 5002, 3868, [DATA]), 1000).verdict).toBe('PASS');
    expect(e.processFrame(sctp(CLIENT, VIP, 5003, 3868, [ABORT]), 1000).verdict).toBe('PASS');
    expect(e.connCount()).toBe(0);
    e.set('sloppySctp', true);
    fwd(e, sctp(CLIENT, VIP, 5002, 3868, [DATA]));
    expect(e.conns()[0].state).toBe('ESTABLISHED');
    expect(e.processFrame(sctp(CLIENT, VIP, 5003, 3868, [ABORT]), 1000).verdict).toBe('PASS');
    expect(e.connCount()).toBe(1);
  });

  test('an INIT on a CLOSED conn starts a new one (conn_reuse_mode)', async () => {
    const e = await sctpEngine();
    e.addDest(key, { addr: RS[1], port: 3869, fwd: 'Masq' });
    const first = fwd(e, sctp(CLIENT, VIP, 5004, 3868, [INIT]));
    fwd(e, sctp(CLIENT, VIP, 5004, 3868, [ABORT]));
    expect(e.conns()[0].state).toBe('CLOSED');
    const again = fwd(e, sctp(CLIENT, VIP, 5004, 3868, [INIT]));
    expect([...again.subarray(16, 20)].join('.')).not.toBe([...first.subarray(16, 20)].join('.'));
    expect(e.counters().conn_rescheduled).toBe(1n);
  });

  test('a port that does not change leaves the checksum alone (sctp_dnat_handler); bad CRCs are not our business', async () => {
    const e = await engine();
    const k = { proto: 'SCTP', addr: VIP, port: 3868 } as const;
    e.addService({ ...k, sched: 'rr' });
    e.addDest(k, { addr: RS[0], port: 3868, fwd: 'Masq' });
    const p = sctp(CLIENT, VIP, 5005, 3868, [INIT]);
    p[28] ^= 0xff;   // corrupt the CRC
    const r = e.processFrame(p, 1000);
    expect(r.verdict).toBe('XMIT');
    expect([...r.data.subarray(24, 28)]).toEqual([...p.subarray(24, 28)]);
  });

  test('bad chunk lengths are counted drops', async () => {
    const e = await sctpEngine();
    const bad: [string, number[]][] = [
      ['no chunk at all', []],
      ['chunk length 2', [1, 0, 0, 2, 0, 0, 0, 0]],
      ['chunk longer than the packet', [1, 0, 0, 40, 0, 0, 0, 0]],
      ['second chunk truncated', [...chunks([COOKIE_ECHO]), 6, 0]],
      ['second chunk length 0', [...chunks([COOKIE_ECHO]), 6, 0, 0, 0]],
    ];
    for (const [what, body] of bad) {
      const r = e.processFrame(sctp(CLIENT, VIP, 5006, 3868, body), 1000);
      expect(r, what).toMatchObject({ verdict: 'DROP', reason: 'drop_sctp_bad_chunk' });
    }
    expect(e.counters().drop_sctp_bad_chunk).toBe(BigInt(bad.length));
    expect(e.connCount()).toBe(0);
    // the last chunk may leave out its padding
    const ok = sctp(CLIENT, VIP, 5007, 3868, [1, 0, 0, 5, 9]);
    expect(e.processFrame(ok, 1000).verdict).toBe('XMIT');
  });
});
