/*
 * Connection synchronisation (ip_vs_sync.c, protocol v1) against Linux 6.1 IPVS.
 *
 * test/golden/kernel/recorded/sync/ was made by cases/sync.sh: a kernel master (the director)
 * and a kernel backup (netns bak, the same services except that TCP 198.18.2.21:80 has no dest
 * there) run the sync daemon with syncid 7; sync.pcap is the master's datagram as the backup
 * received it, stdout.txt has both `ipvsadm -L -n -c` tables and the backup's `ipvsadm -L -n`.
 *
 * A wasmvs backup with the backup's services, fed that datagram, must list the kernel backup's
 * conns (states, addresses, dests, expire ±1 s two seconds later) and its dests' ActiveConn /
 * InActConn; wasmvs's encoding of the conns it made must be the kernel master's records
 * (with IP_VS_CONN_F_SYNC set, as a kernel backup that became master would send them); broken
 * messages are counted drops that change nothing.
 */
import { describe, test, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { records } from '../../host/pcap/read.ts';
import { parseRules, applyRules } from '../../host/rules/apply.ts';
import { formatConnList, formatList } from '../../host/rules/format.ts';
import { engine } from '../helpers/engine.ts';
import { hex, ip } from '../helpers/pkt.ts';
import type { Engine } from '../../host/engine.ts';

const dir = join(import.meta.dirname, 'kernel', 'recorded', 'sync');
const stdout = readFileSync(join(dir, 'stdout.txt'), 'utf8');

/** The UDP payloads of sync.pcap (Ethernet + IPv4 + UDP stripped). */
const datagrams: Uint8Array[] = [...records([new Uint8Array(readFileSync(join(dir, 'sync.pcap')))])].map((r) => {
  const ip = r.data.subarray(14);
  return ip.slice((ip[0] & 15) * 4 + 8);
});

/** The lines of a section of stdout.txt from its header up to the next "---" / "===" line. */
function section(header: string): string[] {
  const lines = stdout.split('\n');
  const i = lines.indexOf(header);
  if (i < 0) throw new Error(`no ${header}`);
  const out: string[] = [];
  for (const l of lines.slice(i + 1)) { if (l.startsWith('---') || l.startsWith('===')) break; out.push(l); }
  return out.filter((l) => l);
}

/** The backup's services, as the case's svcs() made them (ipvsadm lines in a rules file). */
const BACKUP_RULES = `
-A -t 198.18.2.20:80 -s rr
-a -t 198.18.2.20:80 -r 198.18.1.11:8080 -m
-a -t 198.18.2.20:80 -r 198.18.1.12:8080 -m
-A -u 198.18.2.20:53 -s rr
-a -u 198.18.2.20:53 -r 198.18.1.13:5353 -m
-A -t 198.18.2.22:80 -s rr -p 300
-a -t 198.18.2.22:80 -r 198.18.1.14:80 -g
-A -t 198.18.2.23:80 -s rr
-a -t 198.18.2.23:80 -r 198.18.1.15:80 -i
-A -t [2001:2::200]:80 -s rr
-a -t [2001:2::200]:80 -r [2001:2:0:1::11]:8080 -m
-A -t 198.18.2.21:80 -s rr
`;

async function backup(): Promise<Engine> {
  const e = await engine();
  applyRules(e, parseRules(BACKUP_RULES, 'sync-backup'), 'sync-backup', { link: 'any' });
  return e;
}

const connKey = (l: string) => l.slice(0, 4) + l.slice(10).trimEnd();
const connSecs = (l: string) => { const [m, s] = l.slice(4, 10).trim().split(':').map(Number); return m * 60 + s; };
const table = (e: Engine) => formatConnList(e.conns(), { numeric: true }).split('\n').slice(2).filter((l) => l);
const T0 = 1_000_000;

describe('sync: the kernel master\'s datagram into a wasmvs backup', () => {
  test('the recording holds one v1 message of 10 conns, syncid 7', () => {
    expect(datagrams.length).toBe(1);
    const m = datagrams[0];
    expect([m[0], m[1], (m[2] << 8) | m[3], m[4], m[5], m[6], m[7]]).toEqual([0, 7, m.length, 10, 1, 0, 0]);
  });

  test('the backup lists what the kernel backup lists', async () => {
    const e = await backup();
    expect(e.syncReceive(datagrams[0], 7, T0)).toBe(10);
    e.tick(T0 + 2000);
    const want = section('=== backup conns');
    const byKey = (a: string, b: string) => connKey(a).localeCompare(connKey(b));
    const got = table(e).sort(byKey);
    want.sort(byKey);
    expect(got.map(connKey)).toEqual(want.map(connKey));
    for (let i = 0; i < got.length; i++) expect(Math.abs(connSecs(got[i]) - connSecs(want[i])), want[i]).toBeLessThanOrEqual(1);
    // the dests' ActiveConn / InActConn (flags INACTIVE from the message, bound by ip_vs_find_dest)
    const kernelList = section('--- backup services');
    expect(formatList(e.services(), { numeric: true }).split('\n').filter((l) => l)).toEqual(kernelList);
    expect(e.counter('sync_rx_conns')).toBe(10n);
    expect(e.counter('drop_sync_bad_message') + e.counter('drop_sync_bad_conn')).toBe(0n);
  });

  test('the conn whose dest the backup lacks is kept unbound, with the message\'s method and daddr', async () => {
    const e = await backup();
    e.syncReceive(datagrams[0], 7, T0);
    const c = e.conns().find((x) => x.cport === 40009)!;
    expect([c.dest, c.daddr, c.dport, c.fwd, c.state]).toEqual([0, '198.18.1.16', 80, 'Masq', 'ESTABLISHED']);
    // a dest added later is bound by the next update (ip_vs_try_bind_dest)
    applyRules(e, parseRules('-a -t 198.18.2.21:80 -r 198.18.1.16:80 -m\n', 'x'), 'x', { link: 'any' });
    e.syncReceive(datagrams[0], 7, T0 + 1000);
    const d = e.conns().find((x) => x.cport === 40009)!;
    expect(d.dest).not.toBe(0);
    expect(formatList(e.services(), { numeric: true })).toContain('  -> 198.18.1.16:80               Masq    1      1          0');
    expect(e.conns().length).toBe(8);   // updates, not new conns
  });

  test('re-encoding the synced conns gives the kernel master\'s records (+ IP_VS_CONN_F_SYNC)', async () => {
    const e = await backup();
    e.syncReceive(datagrams[0], 7, T0);
    // the kernel's records, split as ip_vs_process_message walks them
    const m = datagrams[0];
    const recs = new Map<string, string>();
    for (let p = 8, n = 0; n < m[4]; n++) {
      const size = ((m[p + 2] << 8) | m[p + 3]) & 0xfff;
      const r = m.slice(p, p + size);
      r[7] |= 0x20;   // IP_VS_CONN_F_SYNC
      const keyOf = (x: Uint8Array) => hex(x.subarray(10, 12)) + hex(x.subarray(24, 28)) + x[1];
      recs.set(keyOf(r), hex(r));   // the last record of a conn is the newest (the template's ASSURED one)
      p += (size + 3) & ~3;
    }
    const conns = e.conns();
    const msgs = e.syncEncode(conns.map((c) => c.index), 7);
    expect(msgs.length).toBe(1);
    const out = msgs[0];
    expect([out[0], out[1], (out[2] << 8) | out[3], out[4], out[5]]).toEqual([0, 7, out.length, 8, 1]);
    const got = new Map<string, string>();
    for (let p = 8, n = 0; n < out[4]; n++) {
      const size = ((out[p + 2] << 8) | out[p + 3]) & 0xfff;
      const r = out.slice(p, p + size);
      got.set(hex(r.subarray(10, 12)) + hex(r.subarray(24, 28)) + r[1], hex(r));
      p += (size + 3) & ~3;
    }
    expect(got).toEqual(recs);
  });
});

describe('sync: untrusted input is counted and changes nothing', () => {
  const m = datagrams[0];
  const cases: [string, Uint8Array, string][] = [
    ['other syncid', (() => { const x = m.slice(); x[1] = 8; return x; })(), 'drop_sync_other_syncid'],
    ['truncated (size field says more)', m.slice(0, m.length - 10), 'drop_sync_bad_message'],
    ['size field too small', (() => { const x = m.slice(); x[3] -= 4; return x; })(), 'drop_sync_bad_message'],
    ['header too short', m.slice(0, 3), 'drop_sync_bad_message'],
    ['oversized (70000 bytes)', (() => { const x = new Uint8Array(70000); x.set(m); return x; })(), 'drop_sync_bad_message'],
    ['a conn with a version nibble', (() => { const x = m.slice(); x[8 + 2] |= 0x10; return x; })(), 'drop_sync_bad_message'],
    ['a conn longer than the message', (() => { const x = m.slice(); x[8 + 3] = 0xff; x[8 + 2] = 0x0f; return x; })(), 'drop_sync_bad_message'],
    ['unknown conn type', (() => { const x = m.slice(); x[8] = 2; return x; })(), 'drop_sync_bad_message'],
    ['another protocol version (2)', (() => { const x = m.slice(); x[5] = 2; return x; })(), 'drop_sync_bad_message'],
    ['spare bytes set', (() => { const x = m.slice(); x[7] = 1; return x; })(), 'drop_sync_bad_message'],
  ];
  for (const [name, msg, counter] of cases) {
    test(name, async () => {
      const e = await backup();
      expect(e.syncReceive(msg, 7, T0)).toBeLessThanOrEqual(0);
      expect(e.conns().length).toBe(0);
      expect(e.counter(counter)).toBe(1n);
      expect(e.counter('sync_rx_messages')).toBe(1n);
    });
  }
  test('a conn with a state out of range or an unknown protocol is skipped, the rest applied', async () => {
    const e = await backup();
    const x = m.slice();
    x[8 + 9] = 11;          // first conn (TCP): state 11 >= IP_VS_TCP_S_LAST
    x[8 + 36 + 1] = 99;     // second conn: protocol 99
    expect(e.syncReceive(x, 7, T0)).toBe(8);
    expect(e.counter('drop_sync_bad_conn')).toBe(2n);
    expect(e.conns().some((c) => c.cport === 40001 || c.cport === 40002)).toBe(false);
  });
  test('syncid 0 on the backup accepts any', async () => {
    const e = await backup();
    const x = m.slice(); x[1] = 200;
    expect(e.syncReceive(x, 0, T0)).toBe(10);
  });
  test('random bytes never trap', async () => {
    const e = await backup();
    let seed = 12345;
    const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed >>> 16; };
    for (let i = 0; i < 2000; i++) {
      const x = m.slice();
      for (let k = 0; k < 4; k++) x[8 + (rnd() % (x.length - 8))] = rnd() & 255;
      if (i % 3 === 0) { x[2] = x.length >> 8; x[3] = x.length & 255; }
      e.syncReceive(i % 7 === 0 ? x.slice(0, rnd() % x.length) : x, 0, T0 + i);
    }
    expect(e.counter('sync_rx_messages')).toBe(2000n);
  });
});

describe('sync: a wasmvs master sends what the kernel master sent', () => {
  // the case's traffic (cases/sync.sh), in its order; payload "hi"
  const hi = new TextEncoder().encode('hi');
  const tcp = (c: string, cp: number, v: string, flags: string, seq: number, data = false) =>
    ip(c, v, { proto: 'tcp', sport: cp, dport: 80, flags, seq, ack: flags === 'S' ? 0 : 1, ...(data ? { payload: hi } : {}) });
  const udp = (c: string, cp: number) => ip(c, '198.18.2.20', { proto: 'udp', sport: cp, dport: 53, payload: new Uint8Array([0x71, 0x71]) });
  const traffic = (): Uint8Array[] => {
    const out: Uint8Array[] = [];
    const est = (c: string, cp: number, v: string, s: number) => out.push(tcp(c, cp, v, 'S', s), tcp(c, cp, v, 'A', s + 1), tcp(c, cp, v, 'PA', s + 1, true));
    est('198.19.5.1', 40001, '198.18.2.20', 1000);
    out.push(tcp('198.19.5.2', 40002, '198.18.2.20', 'S', 2000), tcp('198.19.5.2', 40002, '198.18.2.20', 'A', 2001), tcp('198.19.5.2', 40002, '198.18.2.20', 'FA', 2001));
    out.push(tcp('198.19.5.3', 40003, '198.18.2.20', 'S', 3000));
    out.push(udp('198.19.5.4', 40004), udp('198.19.5.4', 40004), udp('198.19.5.4', 40004), udp('198.19.5.5', 40005), udp('198.19.5.5', 40005));
    est('198.19.5.6', 40006, '198.18.2.22', 6000);
    est('198.19.5.7', 40007, '198.18.2.23', 7000);
    est('2001:2::2', 40008, '2001:2::200', 8000);
    est('198.19.5.9', 40009, '198.18.2.21', 9000);
    return out;
  };
  async function master(): Promise<Engine> {
    const e = await engine();
    applyRules(e, parseRules(BACKUP_RULES + '-a -t 198.18.2.21:80 -r 198.18.1.16:80 -m\n', 'sync-master'), 'sync-master', { link: 'any' });
    return e;
  }

  test('the same packets give the kernel master\'s datagram, byte for byte', async () => {
    const e = await master();
    e.syncMaster(true, 7);
    let t = T0;
    for (const p of traffic()) e.processFrame(p, t += 10);
    expect(e.syncTake(t)).toEqual([]);                 // not yet: the open message waits up to 2 s
    const msgs = e.syncTake(t + 2000);
    expect(msgs.map(hex)).toEqual([hex(datagrams[0])]);
    expect(e.syncTake(t + 4000)).toEqual([]);
  });

  test('a kernel-compatible backup fed the wasmvs master\'s messages lists the master\'s synced conns', async () => {
    const m = await master();
    m.syncMaster(true, 7);
    let t = T0;
    for (const p of traffic()) m.processFrame(p, t += 10);
    const b = await backup();
    for (const msg of m.syncTake(t + 2000)) b.syncReceive(msg, 7, t + 2000);
    const want = section('=== backup conns');
    expect(table(b).map(connKey).sort()).toEqual(want.map(connKey).sort());
  });

  test('sync_period 0: only the packet that reaches sync_threshold; ONE_PACKET never', async () => {
    const e = await master();
    e.syncMaster(true, 7);
    e.syncSysctl('period', 0);
    let t = T0;
    for (let i = 0; i < 60; i++) e.processFrame(udp('198.19.6.1', 41000), t += 10);
    const msgs = e.syncTake(t + 2000);
    expect(msgs.length).toBe(1);
    expect(msgs[0][4]).toBe(1);   // once, at the 3rd packet (the period 50 default would send again at the 53rd)
  });

  test('sync_period 50: again at packet 53; a server-side FIN is sent at the next client packet (state change)', async () => {
    const e = await master();
    e.syncMaster(true, 7);
    let t = T0;
    for (let i = 0; i < 53; i++) e.processFrame(udp('198.19.6.1', 41000), t += 10);
    expect(e.syncTake(t + 2000)[0][4]).toBe(2);
    // TCP: established (synced at pkt 3), then the real server closes: FIN_WAIT at the client's next ACK
    const c = '198.19.6.2', v = '198.18.2.20';
    for (const p of [tcp(c, 42000, v, 'S', 1), tcp(c, 42000, v, 'A', 2), tcp(c, 42000, v, 'PA', 2, true)]) e.processFrame(p, t += 10);
    const conn = e.conns().find((x) => x.cport === 42000)!;
    const fin = ip(conn.daddr, c, { proto: 'tcp', sport: conn.dport, dport: 42000, flags: 'FA', seq: 100, ack: 4 });
    e.processFrame(fin, t += 10);
    expect(e.conns().find((x) => x.cport === 42000)!.state).toBe('FIN_WAIT');
    e.processFrame(tcp(c, 42000, v, 'A', 4), t += 10);
    const msgs = e.syncTake(t + 2000, 0);
    const states = msgs.flatMap((m) => { const r: number[] = []; for (let p = 8, n = 0; n < m[4]; n++) { r.push((m[p + 8] << 8) | m[p + 9]); p += ((m[p + 2] << 8 | m[p + 3]) & 0xfff); } return r; });
    expect(states).toEqual([1, 4]);   // ESTABLISHED at its 3rd packet, FIN_WAIT at the client packet after the server FIN
  });

  test('sync_refresh_period 60 s (sync_period 0): a UDP flow with a datagram a second is sent every 60 s; sync_retries 1 adds one resend refresh/8 later', async () => {
    for (const [retries, want] of [[0, [0, 60, 120]], [1, [0, 8, 68, 76]]] as const) {
      const e = await master();
      e.syncMaster(true, 7);
      e.syncSysctl('period', 0);
      e.syncSysctl('refresh_period', 60_000);
      e.syncSysctl('retries', retries);
      const sent: number[] = [];
      for (let s = 0; s <= 130; s++) {
        const t = T0 + s * 1000;
        e.processFrame(udp('198.19.6.9', 41009), t);
        const n = e.syncTake(t, 0).reduce((a, m) => a + m[4], 0);
        for (let k = 0; k < n; k++) sent.push(s);
      }
      expect(sent, `retries ${retries}`).toEqual(want);
    }
  });

  test('bulk resync: the whole table in records a kernel backup takes, split at sync_maxlen', async () => {
    const m = await master();
    let t = T0;
    for (let i = 0; i < 100; i++) m.processFrame(ip(`198.19.7.${i}`, '198.18.2.20', { proto: 'tcp', sport: 50000 + i, dport: 80, flags: 'S', seq: 1 }), t += 1);
    m.syncMaster(true, 7);
    const msgs = m.syncBulk(t);
    expect(msgs.length).toBe(Math.ceil(100 / Math.floor((1472 - 8) / 36)));
    expect(msgs.every((x) => x.length <= 1472)).toBe(true);
    const b = await backup();
    for (const x of msgs) b.syncReceive(x, 7, t);
    expect(b.conns().length).toBe(100);
    expect(table(b).map(connKey).sort()).toEqual(table(m).map(connKey).sort());
  });
});

describe('sync: the master under other sysctls (case sync-modes, recorded from 6.1)', () => {
  const mdir = join(import.meta.dirname, 'kernel', 'recorded', 'sync-modes');
  const mdgrams = [...records([new Uint8Array(readFileSync(join(mdir, 'sync.pcap')))])].map((r) => { const x = r.data.subarray(14); return hex(x.slice((x[0] & 15) * 4 + 8)); });
  const RULES = ['40', '41', '43'].map((v) => `-A -t 198.18.2.${v}:80 -s rr\n-a -t 198.18.2.${v}:80 -r 198.18.1.11:8080 -m\n-A -u 198.18.2.${v}:53 -s rr\n-a -u 198.18.2.${v}:53 -r 198.18.1.13:5353 -m\n`).join('') +
    '-A -t 198.18.2.42:80 -s rr -p 300\n-a -t 198.18.2.42:80 -r 198.18.1.14:80 -m\n';
  const hi = new TextEncoder().encode('hi');
  const tcp3 = (c: string, p: number, v: string) => [
    ip(c, v, { proto: 'tcp', sport: p, dport: 80, flags: 'S', seq: 1000, ack: 0 }),
    ip(c, v, { proto: 'tcp', sport: p, dport: 80, flags: 'A', seq: 1001, ack: 1 }),
    ip(c, v, { proto: 'tcp', sport: p, dport: 80, flags: 'PA', seq: 1001, ack: 1, payload: hi }),
  ];
  const udpn = (c: string, p: number, v: string, n: number) => Array.from({ length: n }, () => ip(c, v, { proto: 'udp', sport: p, dport: 53, payload: new Uint8Array([0x71, 0x71]) }));

  test('four phases, four datagrams equal to the kernel master\'s: v0, "1 0", persist_mode 1, "3 5"', async () => {
    expect(mdgrams.length).toBe(4);
    const e = await engine();
    applyRules(e, parseRules(RULES, 'modes'), 'modes', { link: 'any' });
    e.syncMaster(true, 3);
    let t = T0;
    const phase = (sys: [Parameters<Engine['syncSysctl']>[0], number][], pkts: Uint8Array[]): string[] => {
      for (const [k, v] of sys) e.syncSysctl(k, v);
      for (const p of pkts) e.processFrame(p, t += 10);
      t += 3000;
      return e.syncTake(t).map(hex);
    };
    expect(phase([['version', 0]], [...tcp3('198.19.20.1', 50001, '198.18.2.40'), ...udpn('198.19.20.2', 50002, '198.18.2.40', 3)]), 'phase 1').toEqual([mdgrams[0]]);
    expect(phase([['version', 1], ['threshold', 1], ['period', 0]], [...tcp3('198.19.20.3', 50003, '198.18.2.41'),
      ip('198.19.20.3', '198.18.2.41', { proto: 'tcp', sport: 50003, dport: 80, flags: 'PA', seq: 1003, ack: 1, payload: hi }),
      ...udpn('198.19.20.4', 50004, '198.18.2.41', 3)]), 'phase 2').toEqual([mdgrams[1]]);
    expect(phase([['threshold', 3], ['period', 50], ['persist_mode', 1]], tcp3('198.19.20.5', 50005, '198.18.2.42')), 'phase 3').toEqual([mdgrams[2]]);
    expect(phase([['persist_mode', 0], ['threshold', 3], ['period', 5]], udpn('198.19.20.6', 50006, '198.18.2.43', 13)), 'phase 4').toEqual([mdgrams[3]]);
  });
});
