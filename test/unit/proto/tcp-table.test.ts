/*
 * The TCP state table cell by cell, and every state's timeout, against the kernel's
 * ip_vs_proto_tcp.c (Linux 6.x): tcp_states[], tcp_states_dos[] (secure_tcp), tcp_timeouts[].
 * The tables below are transcribed from the kernel source, independently of assembly/proto/tcp.ts.
 */
import { describe, test, expect } from 'vitest';
import { engine, natEngine, VIP, CLIENT, RS } from '../../helpers/engine.ts';
import { ip } from '../../helpers/pkt.ts';

const S = ['NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK'];
const A: Record<string, number> = { NO: 0, ES: 1, SS: 2, SR: 3, FW: 4, TW: 5, CL: 6, CW: 7, LA: 8, LI: 9, SA: 10 };
const rows = (t: string) => t.trim().split('\n').map((l) => l.trim().split(/\s+/).map((x) => A[x]));

// rows: syn, fin, ack, rst; columns: sNO sES sSS sSR sFW sTW sCL sCW sLA sLI sSA
const KERNEL = {
  normal: [rows(`
    SR ES ES SR SR SR SR SR SR SR SR
    CL CW SS TW TW TW CL CW LA LI TW
    ES ES SS ES FW TW CL CW CL LI ES
    CL CL CL SR CL CL CL CL LA LI SR`), rows(`
    SS ES SS SR SS SS SS SS SS LI SR
    TW FW SS TW FW TW CL TW LA LI TW
    ES ES SS ES FW TW CL CW LA ES ES
    CL CL SS CL CL TW CL CL CL CL CL`), rows(`
    SR ES ES SR SR SR SR SR SR SR SR
    CL FW SS TW FW TW CL CW LA LI TW
    ES ES SS ES FW TW CL CW CL LI ES
    CL CL CL SR CL CL CL CL LA LI CL`)],
  secure: [rows(`
    SR ES ES SR SR SR SR SR SR SR SA
    CL CW SS TW TW TW CL CW LA LI SA
    ES ES SS SR FW TW CL CW CL LI SA
    CL CL CL SR CL CL CL CL LA LI CL`), rows(`
    SS ES SS SA SS SS SS SS SS LI SA
    TW FW SS TW FW TW CL TW LA LI TW
    ES ES SS ES FW TW CL CW LA ES ES
    CL CL SS CL CL TW CL CL CL CL CL`), rows(`
    SA ES ES SR SA SA SA SA SA SA SA
    CL FW SS TW FW TW CL CW LA LI TW
    ES ES SS ES FW TW CL CW CL LI ES
    CL CL CL SR CL CL CL CL LA LI CL`)],
};
const TIMEOUTS_S = { NONE: 2, ESTABLISHED: 900, SYN_SENT: 120, SYN_RECV: 60, FIN_WAIT: 120, TIME_WAIT: 120, CLOSE: 10, CLOSE_WAIT: 60, LAST_ACK: 30, LISTEN: 120, SYNACK: 120 };
const FLAG = { syn: 0x02, fin: 0x01, ack: 0x10, rst: 0x04 };

describe('TCP state table', () => {
  for (const table of ['normal', 'secure'] as const) {
    test(`${table}: all 3 × 4 × 11 cells`, async () => {
      const e = await engine();
      if (table === 'secure') e.set('secureTcp', true);
      const got = [0, 1, 2].map((dir) => (['syn', 'fin', 'ack', 'rst'] as const).map((row) =>
        S.map((_, st) => e.ex.tcpStateNext(dir, st, FLAG[row]))));
      expect(got).toEqual(KERNEL[table]);
    });
  }
  test('flag precedence: RST beats SYN beats FIN beats ACK; no flag → CLOSE (tcp_state_idx)', async () => {
    const e = await engine();
    const es = 1, input = 0;
    expect(e.ex.tcpStateNext(input, es, 0x02 | 0x04)).toBe(A.CL);          // SR: rst row
    expect(e.ex.tcpStateNext(input, 0, 0x02 | 0x01)).toBe(A.SR);            // SF: syn row
    expect(e.ex.tcpStateNext(input, es, 0x01 | 0x10)).toBe(A.CW);           // FA: fin row
    expect(e.ex.tcpStateNext(input, es, 0x08)).toBe(A.CL);                  // PSH only: no row
    expect(e.ex.tcpStateNext(input, es, 0)).toBe(A.CL);
  });
});

describe('TCP timeouts', () => {
  test('defaults per state, as tcp_timeouts[]', async () => {
    const e = await engine();
    for (const [st, s] of Object.entries(TIMEOUTS_S)) expect(e.stateTimeout('TCP', st), st).toBe(s * 1000);
    expect(e.stateTimeout('UDP', 'UDP')).toBe(300_000);
    expect(e.timeouts()).toEqual({ tcp: 900, tcpfin: 120, udp: 300 });
  });
  test('ipvsadm --set tcp tcpfin udp changes ESTABLISHED, FIN_WAIT and UDP only; 0 keeps a value', async () => {
    const e = await engine();
    e.setTimeouts({ tcp: 30, tcpfin: 20, udp: 40 });
    expect(e.timeouts()).toEqual({ tcp: 30, tcpfin: 20, udp: 40 });
    expect(e.stateTimeout('TCP', 'TIME_WAIT')).toBe(120_000);
    e.setTimeouts({ tcp: 0, tcpfin: 0, udp: 50 });
    expect(e.timeouts()).toEqual({ tcp: 30, tcpfin: 20, udp: 50 });
  });

  // each reachable state: a path of packets to it; the conn lives exactly its timeout, then expires
  const PATHS: [string, string[]][] = [
    ['SYN_RECV', ['i:S']],
    ['ESTABLISHED', ['i:S', 'o:SA', 'i:A']],
    ['CLOSE_WAIT', ['i:S', 'o:SA', 'i:A', 'i:FA']],
    ['FIN_WAIT', ['i:S', 'o:SA', 'i:A', 'o:FA']],
    ['TIME_WAIT', ['i:S', 'o:SA', 'i:A', 'i:FA', 'o:FA']],
    ['CLOSE', ['i:S', 'o:SA', 'i:A', 'i:R']],
    ['SYN_SENT', ['i:S', 'o:SA', 'i:A', 'o:FA', 'o:S']],
  ];
  test.each(PATHS)('%s: expires exactly at its timeout (virtual clock)', async (state, path) => {
    const { e } = await natEngine();
    let now = 5_000;
    for (const p of path) {
      const [dir, flags] = p.split(':');
      e.processFrame(dir === 'i'
        ? ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags })
        : ip(RS[0], CLIENT, { proto: 'tcp', sport: 8080, dport: 40000, flags }), now += 100);
    }
    const [c] = e.conns();
    expect(c.state).toBe(state);
    const t = TIMEOUTS_S[state as keyof typeof TIMEOUTS_S] * 1000;
    expect(c.expiresMs).toBe(t);
    expect(e.tick(now + t - 1)).toBe(0);
    expect(e.conns()).toHaveLength(1);
    expect(e.tick(now + t)).toBe(1);
    expect(e.conns()).toHaveLength(0);
    const d = e.services()[0].dests[0];
    expect([d.activeconns, d.inactconns]).toEqual([0, 0]);
  });
  test('UDP: every datagram renews 300 s; shortened by --set', async () => {
    const { e } = await natEngine({ proto: 'UDP', port: 53 });
    e.processFrame(ip(CLIENT, VIP, { proto: 'udp', sport: 5000, dport: 53 }), 1000);
    expect(e.conns()[0]).toMatchObject({ state: 'UDP', expiresMs: 300_000 });
    e.processFrame(ip(RS[0], CLIENT, { proto: 'udp', sport: 8080, dport: 5000 }), 61_000);
    expect(e.conns()[0].expiresMs).toBe(300_000);
    e.setTimeouts({ udp: 5 });
    e.processFrame(ip(CLIENT, VIP, { proto: 'udp', sport: 5000, dport: 53 }), 62_000);
    expect(e.tick(66_999)).toBe(0);
    expect(e.tick(67_000)).toBe(1);
  });
  test('a long-lived flow refreshed by traffic outlives its first deadline (timer wheel re-queues)', async () => {
    const { e } = await natEngine();
    e.processFrame(ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'S' }), 0);
    e.processFrame(ip(RS[0], CLIENT, { proto: 'tcp', sport: 8080, dport: 40000, flags: 'SA' }), 10);
    let now = 20;
    for (let i = 0; i < 10; i++) {     // an ACK every 10 minutes for 100 minutes (> the wheel's span)
      e.processFrame(ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'A' }), now);
      now += 600_000;
      expect(e.tick(now)).toBe(0);
    }
    expect(e.conns()[0].state).toBe('ESTABLISHED');
    expect(e.tick(now - 600_000 + 900_000)).toBe(1);
  });
});

// connSetState's short way for an ESTABLISHED conn's plain ACK (only the timer renewed) must agree
// with the table for every flag set, both directions, both tables: the packets below take it or
// fall through to the table, and each must land where the kernel's cell says, with its timeout
describe('ESTABLISHED conn: the next packet, every flag mix', () => {
  const ROW = (f: string) => f.includes('R') ? 3 : f.includes('S') ? 0 : f.includes('F') ? 1 : f.includes('A') ? 2 : -1;
  for (const table of ['normal', 'secure'] as const) {
    for (const dir of ['i', 'o'] as const) {
      test.each(['A', 'PA', 'AU', 'FA', 'SA', 'RA', 'R', 'P', ''])(`${table} ${dir}:%s`, async (flags) => {
        const { e } = await natEngine();
        if (table === 'secure') e.set('secureTcp', true);
        let now = 1_000;
        for (const p of ['i:S', 'o:SA', 'i:A', 'o:A']) {
          const [d, f] = p.split(':');
          e.processFrame(d === 'i'
            ? ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: f })
            : ip(RS[0], CLIENT, { proto: 'tcp', sport: 8080, dport: 40000, flags: f }), now += 100);
        }
        expect(e.conns()[0].state).toBe('ESTABLISHED');
        e.processFrame(dir === 'i'
          ? ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags })
          : ip(RS[0], CLIENT, { proto: 'tcp', sport: 8080, dport: 40000, flags }), now += 100);
        const row = ROW(flags);
        const want = row < 0 ? 'CLOSE' : S[KERNEL[table][dir === 'i' ? 0 : 1][row][A.ES]];
        const [c] = e.conns();
        expect(c.state).toBe(want);
        expect(c.expiresMs).toBe(TIMEOUTS_S[want as keyof typeof TIMEOUTS_S] * 1000);
        const d = e.services()[0].dests[0];
        const active = ['ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'SYNACK'].includes(want);
        expect([d.activeconns, d.inactconns]).toEqual(active ? [1, 0] : [0, 1]);
      });
    }
  }
});
