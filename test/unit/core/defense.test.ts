/*
 * IPVS's defense strategies (assembly/defense.ts, issue 19): update_defense_level's switch for
 * every mode and memory state, ip_vs_todrop's 1-in-N, ip_vs_random_dropentry's share and its
 * choice of conns, each replayed against what Linux 6.1 did (test/golden/kernel/recorded/defense,
 * case cases/defense.sh); and beyond the kernel, a full table that reclaims its oldest half-open
 * conn for a new one and never an established one.
 */
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { engine } from '../../helpers/engine.ts';
import { ip } from '../../helpers/pkt.ts';
import type { Engine } from '../../../host/engine.ts';
import { sysctlGet, sysctlSet } from '../../../host/rules/sysctl.ts';

const GOLDEN = readFileSync(join(import.meta.dirname, '..', '..', 'golden', 'kernel', 'recorded', 'defense', 'stdout.txt'), 'utf8');
const line = (prefix: string) => {
  const l = GOLDEN.split('\n').find((x) => x.startsWith(prefix));
  if (!l) throw new Error(`no golden line ${prefix}`);
  return l.slice(prefix.length).trim();
};

const VIP = '198.18.2.4';
const RS = '198.18.1.11';
const MEM_LOW = '2147483647';   // more pages than any engine has free
const syn = (src: string, sport = 1000) => ip(src, VIP, { proto: 'tcp', sport, dport: 80, flags: 'S', seq: 1000 });

async function lab(connMax = 4096): Promise<Engine> {
  const e = await engine({ connMax, connInit: connMax });
  e.addService({ proto: 'TCP', addr: VIP, port: 80, sched: 'rr' });
  e.addDest({ proto: 'TCP', addr: VIP, port: 80 }, { addr: RS, port: 80, fwd: 'Masq' });
  return e;
}
/** SYNs from 198.19.NET.1..n (as the case's synsend); the host numbers that got a conn. */
function syns(e: Engine, net: number, n: number, now: number): number[] {
  for (let i = 1; i <= n; i++) e.processFrame(syn(`198.19.${net}.${i}`), now);
  return e.conns().filter((c) => c.caddr.startsWith(`198.19.${net}.`)).map((c) => Number(c.caddr.split('.')[3])).sort((a, b) => a - b);
}
const modes = (e: Engine) => `drop_entry=${sysctlGet(e, 'drop_entry')} drop_packet=${sysctlGet(e, 'drop_packet')} secure_tcp=${sysctlGet(e, 'secure_tcp')}`;

describe('update_defense_level (ip_vs_ctl.c)', () => {
  test('every mode × memory state: the mode it reads afterwards and what acts', async () => {
    // the kernel's switch: 0 never, 1 -> 2 and acting while memory is low, 2 -> 1 and idle
    // when it is plentiful, 3 always; the same for the three strategies
    const want: Record<string, [string, boolean]> = {
      '0 low': ['0', false], '1 low': ['2', true], '2 low': ['2', true], '3 low': ['3', true],
      '0 plenty': ['0', false], '1 plenty': ['1', false], '2 plenty': ['1', false], '3 plenty': ['3', true],
    };
    for (const [k, [reads, acts]] of Object.entries(want)) {
      const [mode, mem] = k.split(' ');
      for (const name of ['drop_entry', 'drop_packet', 'secure_tcp'] as const) {
        const e = await lab();
        sysctlSet(e, 'amemthresh', mem === 'low' ? MEM_LOW : '0');
        expect(sysctlSet(e, name, mode), `${name}=${k}`).toBe(reads);
        const s = e.defenseState();
        expect(s.memoryLow, k).toBe(mode === '0' ? false : mem === 'low');   // a write of the same 0 runs nothing
        expect({ drop_entry: s.dropEntry, drop_packet: s.dropPacket, secure_tcp: s.secureTcp }[name], `${name}=${k}`).toBe(acts);
        if (name === 'secure_tcp') expect(e.setting('secureTcp'), k).toBe(acts);   // the tcp_states_dos table
        if (name === 'drop_packet') expect(s.dropRate, k).toBe(!acts ? 0 : mode === '3' ? 10 : 1);
      }
    }
  });

  test('the automatic modes flip as 6.1\'s did: at the write while memory is low, within the 1 s timer when it is plentiful again', async () => {
    const e = await lab();
    let t = 1000;
    e.tick(t);
    const step = (what: string) => expect(modes(e), what).toBe(line(`${what}: `));
    sysctlSet(e, 'amemthresh', MEM_LOW);
    step('amemthresh=2147483647 (no write to a mode yet)');
    sysctlSet(e, 'drop_entry', '1'); step('write drop_entry=1');
    sysctlSet(e, 'drop_packet', '1'); step('write drop_packet=1');
    sysctlSet(e, 'secure_tcp', '1'); step('write secure_tcp=1');
    expect(e.setting('secureTcp')).toBe(true);
    // drop_rate = amemthresh / (amemthresh - availmem) = 1: every SYN dropped
    expect(syns(e, 4, 10, t).length).toBe(Number(line('drop_packet=2 with memory low, 10 SYNs: conns=')));
    expect(e.counter('drop_defense_packet')).toBe(10n);
    sysctlSet(e, 'drop_entry', '0'); step('write drop_entry=0');
    sysctlSet(e, 'drop_entry', '2'); step('write drop_entry=2 (memory low)');
    sysctlSet(e, 'amemthresh', '0');
    step('amemthresh=0, at once');
    e.tick(t += 1500);
    step('amemthresh=0, 1.5 s later');
    expect(e.setting('secureTcp')).toBe(false);
    sysctlSet(e, 'drop_packet', '2'); step('write drop_packet=2 (memory plentiful)');
    sysctlSet(e, 'secure_tcp', '3'); step('write secure_tcp=3');
    expect(e.counter('defense_level_changes')).toBeGreaterThanOrEqual(3n);
  });

  test('secure_tcp: a table switched on another way is left alone in mode 0 (old_secure_tcp); mode 0 after 3 switches it off', async () => {
    const e = await lab();
    e.set('secureTcp', true);
    e.tick(0); e.tick(1000); e.tick(2000);
    expect(e.setting('secureTcp')).toBe(true);
    sysctlSet(e, 'secure_tcp', '3');
    sysctlSet(e, 'secure_tcp', '0');
    expect(e.setting('secureTcp')).toBe(false);
  });

  test('available memory: free conn records up to --conn-max, in pages of 128 bytes each (112-byte record with its sync word + 16 index); amemthresh against it', async () => {
    const e = await lab(4096);
    const s = e.defenseState();
    expect(s.bytesPerConn).toBe(128);
    expect(e.defenseGet('amemthresh')).toBe(1024);
    expect(e.defenseGet('am_droprate')).toBe(10);
    e.tick(0); e.tick(1000);
    // a whole table of 4096 conns is 128 pages: below the default amemthresh's 4 MiB, "low"
    expect(e.defenseState()).toMatchObject({ availPages: 128, memoryLow: true });
    sysctlSet(e, 'amemthresh', '100');
    syns(e, 1, 32, 1500);   // 32 conns: (4096 - 32) × 128 / 4096 = 127
    e.tick(2000);
    expect(e.defenseState()).toMatchObject({ availPages: 127, memoryLow: false });
    sysctlSet(e, 'amemthresh', '128');
    sysctlSet(e, 'drop_packet', '1');
    // 128 / (128 - 127) = 128: one new-conn packet in 128 dropped
    expect(e.defenseState()).toMatchObject({ memoryLow: true, dropPacket: true, dropRate: 128 });
    expect(sysctlGet(e, 'drop_packet')).toBe('2');
  });
});

describe('ip_vs_todrop (drop_packet): which SYNs 6.1 dropped', () => {
  test('drop_packet=3 with am_droprate 10, then 3 (taken at the next 1 s run), then 0', async () => {
    const e = await lab();
    e.tick(0);
    expect(modes(e)).toBe(line('defaults:').replace(/ amemthresh.*/, ''));
    sysctlSet(e, 'drop_packet', '3');
    expect(modes(e)).toBe(line('set drop_packet=3:'));
    expect(syns(e, 1, 100, 100).join(' ')).toBe(line('kept:'));
    expect(GOLDEN).toContain('am_droprate=10, 100 SYNs: conns=90\n');
    sysctlSet(e, 'am_droprate', '3');
    e.tick(1200);
    const kept2 = GOLDEN.split('\n').filter((l) => l.startsWith('kept:'))[1].slice(5).trim();
    expect(syns(e, 2, 30, 1300).join(' ')).toBe(kept2);
    sysctlSet(e, 'drop_packet', '0');
    sysctlSet(e, 'am_droprate', '10');
    expect(syns(e, 3, 10, 1400).length).toBe(Number(line('drop_packet=0, 10 SYNs: conns=')));
    expect(e.counter('drop_defense_packet')).toBe(20n);
  });

  test('memory low with drop_packet=1: 1 in amemthresh / (amemthresh - availmem) new conns dropped', async () => {
    const e = await lab(4096);   // 128 pages free
    sysctlSet(e, 'amemthresh', '256');
    expect(sysctlSet(e, 'drop_packet', '1')).toBe('2');
    expect(e.defenseState().dropRate).toBe(2);
    expect(syns(e, 5, 10, 10)).toEqual([1, 3, 5, 7, 9]);
    // UDP is scheduled through the same check (udp_conn_schedule)
    e.addService({ proto: 'UDP', addr: VIP, port: 53, sched: 'rr' });
    e.addDest({ proto: 'UDP', addr: VIP, port: 53 }, { addr: RS, port: 53, fwd: 'Masq' });
    const v = [1, 2, 3, 4].map((i) => e.processFrame(ip(`198.19.6.${i}`, VIP, { proto: 'udp', sport: 1000, dport: 53 }), 20));
    expect(v.map((r) => r.verdict)).toEqual(['XMIT', 'DROP', 'XMIT', 'DROP']);
    expect(v[1].reason).toBe('drop_defense_packet');
  });
});

describe('ip_vs_random_dropentry (drop_entry)', () => {
  test('drop_entry=3 thins 2000 SYN_RECV conns as 6.1 did (1/32 a second), the ESTABLISHED conn kept', async () => {
    const e = await lab(4096);
    let t = 0;
    e.tick(t);
    // the case's ESTABLISHED conn: SYN, the server's SYN-ACK, the client's ACK
    e.processFrame(ip('198.19.9.9', VIP, { proto: 'tcp', sport: 2000, dport: 80, flags: 'S', seq: 1000 }), t);
    e.processFrame(ip(RS, '198.19.9.9', { proto: 'tcp', sport: 80, dport: 2000, flags: 'SA', seq: 5000, ack: 1001 }), t);
    e.processFrame(ip('198.19.9.9', VIP, { proto: 'tcp', sport: 2000, dport: 80, flags: 'A', seq: 1001, ack: 5001 }), t);
    for (let i = 0; i < 2000; i++) e.processFrame(syn(`198.19.${10 + Math.floor(i / 200)}.${1 + (i % 200)}`), t);
    const count = () => {
      const cs = e.conns();
      return { syn: cs.filter((c) => c.state === 'SYN_RECV').length, est: cs.filter((c) => c.state === 'ESTABLISHED').length };
    };
    expect(count()).toEqual({ syn: 2000, est: 1 });
    const kernel = [...GOLDEN.matchAll(/^after (\d) s uptime=([\d.]+): SYN_RECV=(\d+) ESTABLISHED=(\d+)$/gm)]
      .map((m) => ({ up: Number(m[2]), syn: Number(m[3]), est: Number(m[4]) }));
    const wrote = Number(/^write drop_entry=3 at uptime=([\d.]+)/m.exec(GOLDEN)![1]);
    expect(kernel).toHaveLength(5);
    sysctlSet(e, 'drop_entry', '3');
    // ours after k runs of the 1 s timer; the kernel's snapshot after dt seconds saw floor(dt)
    // or floor(dt) + 1 runs (its timer's phase is unknown): the count must lie in that span,
    // give or take the randomness of both (±2.5 % of the table)
    const ours: number[] = [2000];
    for (let k = 1; k <= 8; k++) { e.tick(t += 1000); ours.push(count().syn); expect(count().est).toBe(1); }
    for (const s of kernel) {
      const k = Math.floor(s.up - wrote);
      expect(s.est).toBe(1);
      expect(s.syn, `after ${s.up - wrote} s`).toBeLessThanOrEqual(ours[k] + 50);
      expect(s.syn, `after ${s.up - wrote} s`).toBeGreaterThanOrEqual(ours[k + 1] - 50);
    }
    // and the share itself: 8 runs leave 2000 × (31/32)^8 ≈ 1552
    expect(Math.abs(ours[8] - 2000 * (31 / 32) ** 8)).toBeLessThan(60);
    expect(e.counter('defense_conns_dropped')).toBe(BigInt(2000 - ours[8]));
  });

  test('established conns go only when idle for 60 s with 1-8 packets in (todrop_entry); a busy one, one with 9 packets and drop_entry=0 keep theirs', async () => {
    const e = await lab(32);   // 1 record a run
    let t = 0;
    e.tick(t);
    const est = (host: number, extra: number) => {
      const c = `198.19.7.${host}`;
      e.processFrame(ip(c, VIP, { proto: 'tcp', sport: 2000, dport: 80, flags: 'S', seq: 1000 }), t);
      e.processFrame(ip(RS, c, { proto: 'tcp', sport: 80, dport: 2000, flags: 'SA', seq: 5000, ack: 1001 }), t);
      for (let i = 0; i <= extra; i++) e.processFrame(ip(c, VIP, { proto: 'tcp', sport: 2000, dport: 80, flags: 'A', seq: 1001, ack: 5001 }), t);
    };
    est(1, 0);   // 2 packets in
    est(2, 0);
    est(3, 7);   // 9 packets in: never
    est(4, 0);   // kept busy below
    sysctlSet(e, 'drop_entry', '3');
    const alive = () => e.conns().map((c) => Number(c.caddr.split('.')[3])).sort();
    // within the first 60 s nothing established goes
    for (; t < 59_000;) e.tick(t += 1000);
    expect(alive()).toEqual([1, 2, 3, 4]);
    for (; t < 600_000;) {
      e.tick(t += 1000);
      if (t % 30_000 === 0) e.processFrame(ip('198.19.7.4', VIP, { proto: 'tcp', sport: 2000, dport: 80, flags: 'A', seq: 1001, ack: 5001 }), t);
    }
    expect(alive()).toEqual([3, 4]);
  });

  test('drop_entry=1 acts only while memory is low, and reads 2 then', async () => {
    const e = await lab(4096);
    for (let i = 1; i <= 200; i++) e.processFrame(syn(`198.19.8.${i}`), 0);
    e.tick(0);
    sysctlSet(e, 'amemthresh', '0');
    sysctlSet(e, 'drop_entry', '1');
    for (let t = 1000; t <= 5000; t += 1000) e.tick(t);
    expect(e.conns()).toHaveLength(200);
    sysctlSet(e, 'amemthresh', MEM_LOW);
    e.tick(6000);
    expect(sysctlGet(e, 'drop_entry')).toBe('2');
    for (let t = 7000; t <= 20_000; t += 1000) e.tick(t);
    expect(e.conns().length).toBeLessThan(200);
  });
});

describe('a full table reclaims its oldest half-open conn (beyond the kernel)', () => {
  const est = (e: Engine, c: string, t: number) => {
    e.processFrame(ip(c, VIP, { proto: 'tcp', sport: 3000, dport: 80, flags: 'S', seq: 1 }), t);
    e.processFrame(ip(RS, c, { proto: 'tcp', sport: 80, dport: 3000, flags: 'SA', seq: 9, ack: 2 }), t);
    e.processFrame(ip(c, VIP, { proto: 'tcp', sport: 3000, dport: 80, flags: 'A', seq: 2, ack: 10 }), t);
  };
  test('64 half-open conns fill the table: each new SYN takes the oldest one\'s record, in order', async () => {
    const e = await lab(64);
    for (let i = 1; i <= 64; i++) e.processFrame(syn(`198.19.1.${i}`), i);
    expect(e.conns()).toHaveLength(64);
    for (let i = 1; i <= 10; i++) expect(e.processFrame(syn(`198.19.2.${i}`), 100 + i).verdict).toBe('XMIT');
    const left = e.conns().map((c) => c.caddr);
    expect(left).toHaveLength(64);
    for (let i = 1; i <= 10; i++) { expect(left).not.toContain(`198.19.1.${i}`); expect(left).toContain(`198.19.2.${i}`); }
    expect(left).toContain('198.19.1.11');
    expect(e.counter('conn_half_open_reclaimed')).toBe(10n);
    expect(e.counter('drop_conn_table_full')).toBe(0n);
  });

  test('established conns are never taken: 32 established + 32 half-open serve 40 new SYNs (the newest half-open kept); a table of established conns refuses', async () => {
    const e = await lab(64);
    for (let i = 1; i <= 32; i++) est(e, `198.19.3.${i}`, i);
    for (let i = 1; i <= 32; i++) e.processFrame(syn(`198.19.4.${i}`), 100 + i);
    // one of the half-open ones completes its handshake late: it is established now, kept
    e.processFrame(ip(RS, '198.19.4.1', { proto: 'tcp', sport: 80, dport: 1000, flags: 'SA', seq: 9, ack: 1001 }), 200);
    e.processFrame(ip('198.19.4.1', VIP, { proto: 'tcp', sport: 1000, dport: 80, flags: 'A', seq: 1001, ack: 10 }), 200);
    const v = [];
    for (let i = 1; i <= 40; i++) v.push(e.processFrame(syn(`198.19.5.${i}`), 300 + i));
    expect(v.every((r) => r.verdict === 'XMIT')).toBe(true);
    const cs = e.conns();
    expect(cs.filter((c) => c.state === 'ESTABLISHED').map((c) => c.caddr).sort()).toEqual(
      [...Array.from({ length: 32 }, (_, i) => `198.19.3.${i + 1}`), '198.19.4.1'].sort());
    // 31 records were half-open: the 40 new SYNs went through them oldest first, the last 31 stay
    expect(cs.filter((c) => c.caddr.startsWith('198.19.5.')).map((c) => Number(c.caddr.split('.')[3])).sort((a, b) => a - b))
      .toEqual(Array.from({ length: 31 }, (_, i) => i + 10));
    expect(e.counter('conn_half_open_reclaimed')).toBe(40n);
    // the same table with only established conns: a SYN finds nothing to take and is refused
    const f = await lab(64);
    for (let i = 1; i <= 64; i++) est(f, `198.19.3.${i}`, i);
    expect(f.processFrame(syn('198.19.5.1'), 100).reason).toBe('drop_conn_table_full');
    expect(f.conns().filter((c) => c.state === 'ESTABLISHED')).toHaveLength(64);
    expect(f.counter('conn_half_open_reclaimed')).toBe(0n);
  });

  test('a persistent service: a new client needs a template and a conn, and gets both from the two oldest half-open conns', async () => {
    const e = await engine({ connMax: 8, connInit: 8 });
    const key = { proto: 'TCP', addr: VIP, port: 80 } as const;
    e.addService({ ...key, sched: 'rr', persistent: 300 });
    e.addDest(key, { addr: RS, port: 80, fwd: 'Masq' });
    for (let i = 1; i <= 4; i++) e.processFrame(syn(`198.19.1.${i}`), i);   // 4 templates + 4 conns
    expect(e.conns()).toHaveLength(8);
    expect(e.processFrame(syn('198.19.2.1'), 10).verdict).toBe('XMIT');
    const left = e.conns().map((c) => `${c.caddr}:${c.cport} ${c.state}`).sort();
    // the two oldest half-open conns (1 and 2) gave way; their templates stay (templates are never reclaimed)
    expect(left.filter((c) => c.includes(':1000 '))).toEqual(['198.19.1.3:1000 SYN_RECV', '198.19.1.4:1000 SYN_RECV', '198.19.2.1:1000 SYN_RECV']);
    expect(left.filter((c) => c.includes(':0 '))).toHaveLength(5);
    expect(e.counter('conn_half_open_reclaimed')).toBe(2n);
  });

  test('a new UDP flow also gets a half-open TCP conn\'s record; a record reused since it was pushed is not mistaken for it', async () => {
    const e = await lab(4);
    e.addService({ proto: 'UDP', addr: VIP, port: 53, sched: 'rr' });
    e.addDest({ proto: 'UDP', addr: VIP, port: 53 }, { addr: RS, port: 53, fwd: 'Masq' });
    for (let i = 1; i <= 4; i++) e.processFrame(syn(`198.19.6.${i}`), i);
    // the oldest half-open conn is reset by its client: its record is free, then an
    // established conn takes it; the ring's entry for it must not reclaim that one
    e.processFrame(ip('198.19.6.1', VIP, { proto: 'tcp', sport: 1000, dport: 80, flags: 'R', seq: 1001 }), 10);
    e.tick(20_000);   // CLOSE's 10 s: gone
    est(e, '198.19.6.9', 20_001);
    expect(e.processFrame(ip('198.19.6.20', VIP, { proto: 'udp', sport: 1000, dport: 53 }), 20_002).verdict).toBe('XMIT');
    const left = e.conns().map((c) => `${c.proto} ${c.caddr} ${c.state}`).sort();
    expect(left).toEqual(['TCP 198.19.6.3 SYN_RECV', 'TCP 198.19.6.4 SYN_RECV', 'TCP 198.19.6.9 ESTABLISHED', 'UDP 198.19.6.20 UDP']);
  });
});
