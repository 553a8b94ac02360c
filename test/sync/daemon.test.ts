/*
 * test/sync/daemon.test.ts - `wasmvs adm --start-daemon/--stop-daemon/-L --daemon` and the UDP
 * multicast daemons (host/sync/daemon.ts) between two engines in this process, on loopback
 * (the master's loopback turned on for the test: the kernel's is off, its backup is another host).
 * The -L --daemon lines are ipvsadm's (test/golden/kernel/recorded/sync/stdout.txt).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { engine } from '../helpers/engine.ts';
import { ip } from '../helpers/pkt.ts';
import { runAdm } from '../../host/rules/adm.ts';
import { EngineBackend } from '../../host/control/backend.ts';
import { parseRules, applyRules } from '../../host/rules/apply.ts';
import { SyncDaemons } from '../../host/sync/daemon.ts';
import type { Engine } from '../../host/engine.ts';

const GOLDEN = readFileSync(join(import.meta.dirname, '..', 'golden', 'kernel', 'recorded', 'sync', 'stdout.txt'), 'utf8');
const RULES = '-A -t 198.18.2.20:80 -s rr\n-a -t 198.18.2.20:80 -r 198.18.1.11:8080 -m\n-a -t 198.18.2.20:80 -r 198.18.1.12:8080 -m\n';
// a port of our own (other tests and helpers may run sync daemons at the same time)
const PORT = 20000 + (process.pid % 20000);
const lo = (ifn: string, af: 4 | 6) => (ifn === 'lo' && af === 4 ? '127.0.0.1' : ifn === 'vs1' || ifn === 'vs0' ? '127.0.0.1' : undefined);

let daemons: SyncDaemons[] = [];
afterEach(() => { for (const d of daemons) d.close(); daemons = []; });

async function node(): Promise<{ e: Engine; d: SyncDaemons; adm: (args: string) => Promise<{ stdout: string; stderr: string; rc: number }> }> {
  const e = await engine();
  applyRules(e, parseRules(RULES, 'sync'), 'sync', { link: 'any' });
  const d = new SyncDaemons(e, { loopback: true, ifaceAddr: lo });
  daemons.push(d);
  const be = new EngineBackend(e, { sync: d });
  return { e, d, adm: async (args: string) => runAdm(args.split(' '), be) };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(f: () => boolean, ms = 4000): Promise<void> {
  const t = Date.now();
  while (!f() && Date.now() - t < ms) await sleep(20);
}

describe('wasmvs adm: the daemon commands', () => {
  test('-L --daemon prints ipvsadm\'s lines; a second start is EEXIST, a stop of none ESRCH', async () => {
    const m = await node();
    expect(await m.adm('--start-daemon master --mcast-interface vs1 --syncid 7 --mcast-port ' + PORT)).toEqual({ stdout: '', stderr: '', rc: 0 });
    const b = await node();
    expect((await b.adm('--start-daemon backup --mcast-interface vs0 --syncid 7 --mcast-port ' + PORT)).rc).toBe(0);
    // the kernel's lines with our port
    const want = (st: string, ifn: string) => GOLDEN.split('\n').find((l) => l.startsWith(`${st} sync daemon (mcast=${ifn}`))!.replace('port=8848', `port=${PORT}`) + '\n';
    expect((await m.adm('-L --daemon')).stdout).toBe(want('master', 'vs1'));
    expect((await b.adm('-L -n --daemon')).stdout).toBe(want('backup', 'vs0'));
    expect(await m.adm('--start-daemon master --mcast-interface vs1 --syncid 7')).toEqual({ stdout: '', stderr: 'Daemon has already run\n', rc: 255 });
    expect(await m.adm('--start-daemon master --mcast-interface nosuch0 --syncid 7')).toEqual({ stdout: '', stderr: 'Daemon has already run\n', rc: 255 });
    expect(await b.adm('--stop-daemon master')).toEqual({ stdout: '', stderr: 'No daemon is running\n', rc: 255 });
    expect((await m.adm('--stop-daemon master')).rc).toBe(0);
    expect((await m.adm('-L --daemon')).stdout).toBe('');
    expect(await m.adm('--start-daemon master --mcast-interface nosuch0 --syncid 7')).toEqual({ stdout: '', stderr: 'No such device\n', rc: 255 });
  });

  test('conns made on the master appear on the backup; the backup drops another syncid', async () => {
    const m = await node();
    const b = await node();
    const other = await node();
    expect((await b.adm(`--start-daemon backup --mcast-interface lo --syncid 7 --mcast-port ${PORT + 1}`)).rc).toBe(0);
    expect((await other.adm(`--start-daemon backup --mcast-interface lo --syncid 8 --mcast-port ${PORT + 1}`)).rc).toBe(0);
    expect((await m.adm(`--start-daemon master --mcast-interface lo --syncid 7 --mcast-port ${PORT + 1}`)).rc).toBe(0);
    let t = Date.now();
    for (let i = 0; i < 20; i++) {
      const c = `198.19.8.${i}`;
      for (const [f, s] of [['S', 1], ['A', 2], ['PA', 2]] as const) m.e.processFrame(ip(c, '198.18.2.20', { proto: 'tcp', sport: 43000 + i, dport: 80, flags: f, seq: s, ack: f === 'S' ? 0 : 1 }), t);
    }
    await until(() => b.e.conns().length === 20);   // sent within 2 s (the open message's flush time)
    expect(b.e.conns().length).toBe(20);
    expect(b.e.conns().every((c) => c.state === 'ESTABLISHED')).toBe(true);
    expect(other.e.conns().length).toBe(0);
    expect(other.e.counter('drop_sync_other_syncid')).toBeGreaterThan(0n);
  });

  test('bulk resync: a backup that starts late gets the master\'s whole table (the kernel would send only later changes)', async () => {
    const m = await node();
    expect((await m.adm(`--start-daemon master --mcast-interface lo --syncid 9 --mcast-port ${PORT + 2}`)).rc).toBe(0);
    let t = Date.now();
    for (let i = 0; i < 300; i++) m.e.processFrame(ip(`198.19.9.${i & 255}`, '198.18.2.20', { proto: 'tcp', sport: 44000 + i, dport: 80, flags: 'S', seq: 1 }), t);
    const b = await node();
    expect((await b.adm(`--start-daemon backup --mcast-interface lo --syncid 9 --mcast-port ${PORT + 2}`)).rc).toBe(0);
    await until(() => b.e.conns().length === 300);
    expect(b.e.conns().length).toBe(300);   // SYN_RECV conns are never sent by the kernel's rules: only the bulk has them
  });

  test('takeover: after the master dies, the backup forwards the synced conns\' next packets to the same real servers, both ways', async () => {
    const m = await node();
    const b = await node();
    expect((await b.adm(`--start-daemon backup --mcast-interface lo --syncid 5 --mcast-port ${PORT + 3}`)).rc).toBe(0);
    expect((await m.adm(`--start-daemon master --mcast-interface lo --syncid 5 --mcast-port ${PORT + 3}`)).rc).toBe(0);
    const t = Date.now();
    const flows = Array.from({ length: 50 }, (_, i) => ({ c: `198.19.11.${i}`, p: 46000 + i }));
    for (const { c, p } of flows) {
      for (const [f, s] of [['S', 1], ['A', 2], ['PA', 2]] as const) m.e.processFrame(ip(c, '198.18.2.20', { proto: 'tcp', sport: p, dport: 80, flags: f, seq: s, ack: 1 }), t);
    }
    const chosen = new Map(m.e.conns().map((x) => [x.cport, `${x.daddr}:${x.dport}`]));
    await until(() => b.e.conns().length === 50);
    m.d.close();   // the master is gone; the VIP now leads to the backup
    for (const { c, p } of flows) {
      // mid-stream: no SYN, so only a known conn forwards it (sloppy_tcp is off)
      const r = b.e.processFrame(ip(c, '198.18.2.20', { proto: 'tcp', sport: p, dport: 80, flags: 'PA', seq: 10, ack: 1, payload: new Uint8Array(100) }), t + 3000);
      expect(r.verdict).toBe('XMIT');
      const out = r.data;
      const daddr = `${out[16]}.${out[17]}.${out[18]}.${out[19]}`;
      expect(`${daddr}:${(out[22] << 8) | out[23]}`).toBe(chosen.get(p));
      // the real server's reply is un-NATed to the VIP
      const [ra, rp] = chosen.get(p)!.split(':');
      const back = b.e.processFrame(ip(ra, c, { proto: 'tcp', sport: Number(rp), dport: p, flags: 'A', seq: 5, ack: 110 }), t + 3001);
      expect(back.verdict).toBe('XMIT');
      expect([...back.data.subarray(12, 16)].join('.')).toBe('198.18.2.20');
    }
    // a flow the master never synced (it had not reached its 3rd packet) is not known there
    m.e.processFrame(ip('198.19.12.1', '198.18.2.20', { proto: 'tcp', sport: 47000, dport: 80, flags: 'S', seq: 1 }), t);
    expect(b.e.processFrame(ip('198.19.12.1', '198.18.2.20', { proto: 'tcp', sport: 47000, dport: 80, flags: 'A', seq: 2, ack: 1 }), t + 3000).verdict).not.toBe('XMIT');
  });
});
