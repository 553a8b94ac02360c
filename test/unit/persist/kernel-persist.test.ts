/*
 * Persistence templates against Linux 6.1 (test/golden/kernel/cases/persist-tun.sh, part A,
 * recorded in test/golden/kernel/recorded/persist-tun/stdout.txt). The same packets go through
 * the engine on a virtual clock; after each step the conn listing (`ipvsadm -L -n -c`, sorted)
 * and the per-dest PersistConn/ActiveConn/InActConn must equal the kernel's (expire ±2 s).
 */
import { describe, test, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { engine } from '../../helpers/engine.ts';
import { ip } from '../../helpers/pkt.ts';
import type { Engine } from '../../../host/engine.ts';

const stdout = readFileSync(join(import.meta.dirname, '../../golden/kernel/recorded/persist-tun/stdout.txt'), 'utf8');

interface Snap { conns: string[]; persist: Map<string, string> }
function snaps(): Map<string, Snap> {
  const out = new Map<string, Snap>();
  const parts = stdout.split(/^=== snap /m).slice(1);
  for (const p of parts) {
    const lines = p.split('\n');
    const label = lines[0].trim();
    const conns: string[] = [];
    const persist = new Map<string, string>();
    let sec = 'c', svc = '';
    for (const l of lines.slice(1)) {
      if (l.startsWith('--- proc')) { sec = 'p'; continue; }
      if (l.startsWith('--- persist')) { sec = 's'; continue; }
      if (l.startsWith('---') || l.startsWith('===')) break;
      if (sec === 'c' && l.trim()) conns.push(l.trim());
      if (sec === 's') {
        const m = /^(TCP|UDP|FWM)\s+(\S+)/.exec(l);
        if (m) svc = `${m[1]} ${m[2]}`;
        const d = /^\s+->\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(l);
        if (d) persist.set(`${svc} ${d[1]}`, `${d[2]} ${d[3]} ${d[4]} ${d[5]}`);
      }
    }
    out.set(label, { conns, persist });
  }
  return out;
}

/** One listing line as ipvsadm prints it, split into the expire (s) and the rest. */
const splitLine = (l: string) => {
  const f = l.split(/\s+/);
  const [m, s] = f[1].split(':').map(Number);
  return { secs: m * 60 + s, key: [f[0], f[2], f[3], f[4], f[5]].join(' ') };
};

function engineLines(e: Engine): string[] {
  return e.conns().map((c) => {
    const secs = Math.floor(c.expiresMs / 1000);
    const exp = `${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
    return `${c.proto} ${exp} ${c.state} ${c.caddr}:${c.cport} ${c.vaddr}:${c.vport} ${c.daddr}:${c.dport}`;
  });
}

function compare(e: Engine, label: string, snap: Snap) {
  const want = snap.conns.map(splitLine).sort((a, b) => a.key.localeCompare(b.key));
  const got = engineLines(e).map(splitLine).sort((a, b) => a.key.localeCompare(b.key));
  expect(got.map((g) => g.key), label).toEqual(want.map((w) => w.key));
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got[i].secs - want[i].secs), `${label}: expire of ${want[i].key}`).toBeLessThanOrEqual(2);
  }
  for (const s of e.services()) {
    const name = s.fwmark ? `FWM ${s.fwmark}` : `${s.proto} ${s.addr}:${s.port}`;
    for (const d of s.dests) {
      const k = `${name} ${d.addr}:${d.port}`;
      expect(`${d.weight} ${d.persistconns} ${d.activeconns} ${d.inactconns}`, `${label}: ${k}`).toBe(snap.persist.get(k));
    }
  }
}

describe('persistence templates, replayed against the 6.1 recording', () => {
  test('A1..A13: templates, netmask, port zero, UDP, reuse, quiescent, deleted dest, expire_later', async () => {
    const S = snaps();
    const e = await engine();
    let now = 1000;
    const svc = (proto: 'TCP' | 'UDP', addr: string, port: number, p: number, netmask?: number) => {
      const k = { proto, addr, port } as const;
      e.addService({ ...k, sched: 'rr', persistent: p, netmask });
      return k;
    };
    const a = svc('TCP', '198.18.2.10', 80, 300);
    e.addDest(a, { addr: '198.18.1.11', port: 8080 }); e.addDest(a, { addr: '198.18.1.13', port: 8080 });
    const b = svc('TCP', '198.18.2.11', 80, 120, 0xffffff00);
    e.addDest(b, { addr: '198.18.1.11', port: 8080 }); e.addDest(b, { addr: '198.18.1.13', port: 8080 });
    const z = svc('TCP', '198.18.2.12', 0, 60);
    e.addDest(z, { addr: '198.18.1.14', port: 0 }); e.addDest(z, { addr: '198.18.1.15', port: 0 });
    const u = svc('UDP', '198.18.2.10', 53, 200);
    e.addDest(u, { addr: '198.18.1.11', port: 5353 });
    const q = svc('TCP', '198.18.2.13', 80, 3);
    e.addDest(q, { addr: '198.18.1.16', port: 80 });
    const send = (src: string, sport: number, dst: string, dport: number, flags: string | null, want = 'XMIT') => {
      now += 150;
      const l4 = flags === null ? { proto: 'udp' as const, sport, dport, payload: new TextEncoder().encode('query\n') }
        : { proto: 'tcp' as const, sport, dport, flags };
      const r = e.processFrame(ip(src, dst, l4), now);
      if (want) expect(r.verdict, `${src}:${sport} -> ${dst}:${dport} ${flags}`).toBe(want);
    };
    const snap = (label: string) => { now += 100; e.tick(now); compare(e, label, S.get(label)!); };
    send('198.19.0.1', 10001, '198.18.2.10', 80, 'S'); snap('A1');
    send('198.19.0.1', 10002, '198.18.2.10', 80, 'S'); snap('A2');
    send('198.19.0.2', 10001, '198.18.2.10', 80, 'S'); snap('A3');
    send('198.19.0.1', 11001, '198.18.2.11', 80, 'S');
    send('198.19.0.7', 11002, '198.18.2.11', 80, 'S');
    send('198.19.1.1', 11003, '198.18.2.11', 80, 'S'); snap('A4');
    send('198.19.0.1', 12001, '198.18.2.12', 80, 'S');
    send('198.19.0.1', 12002, '198.18.2.12', 443, 'S');
    send('198.19.0.2', 12003, '198.18.2.12', 22, 'S'); snap('A5');
    send('198.19.0.1', 13001, '198.18.2.10', 53, null);
    send('198.19.0.1', 13002, '198.18.2.10', 53, null); snap('A6');
    send('198.18.1.11', 8080, '198.19.0.2', 10001, 'SA');
    send('198.19.0.2', 10001, '198.18.2.10', 80, 'A');
    send('198.19.0.2', 10001, '198.18.2.10', 80, 'FA');
    send('198.18.1.11', 8080, '198.19.0.2', 10001, 'FA'); snap('A7');
    send('198.19.0.2', 10001, '198.18.2.10', 80, 'S'); snap('A8');
    e.editDest(a, { addr: '198.18.1.13', port: 8080, weight: 0 });
    send('198.19.0.1', 10004, '198.18.2.10', 80, 'S'); snap('A9');
    e.set('expireQuiescentTemplate', true);
    send('198.19.0.1', 10005, '198.18.2.10', 80, 'S'); snap('A10');
    e.delDest(b, { addr: '198.18.1.13', port: 8080 });
    send('198.19.0.9', 11004, '198.18.2.11', 80, 'S'); snap('A11');
    send('198.19.0.1', 14001, '198.18.2.13', 80, 'S'); snap('A12a');
    now += 5000; snap('A12b');
    send('198.19.0.1', 14002, '198.18.2.13', 80, 'S'); snap('A13');
    expect(e.counters().conn_created).toBe(16n + 10n);   // 16 conns + 10 templates (two were invalidated)
  });

  test('a template outlives its conns no longer than its timeout; persistconns goes back to 0', async () => {
    const e = await engine();
    const k = { proto: 'TCP', addr: '198.18.2.13', port: 80 } as const;
    e.addService({ ...k, sched: 'rr', persistent: 3 });
    e.addDest(k, { addr: '198.18.1.16', port: 80 });
    e.processFrame(ip('198.19.0.1', '198.18.2.13', { proto: 'tcp', sport: 1, dport: 80, flags: 'S' }), 0);
    e.processFrame(ip('198.19.0.1', '198.18.2.13', { proto: 'tcp', sport: 1, dport: 80, flags: 'A' }), 50);
    e.processFrame(ip('198.19.0.1', '198.18.2.13', { proto: 'tcp', sport: 1, dport: 80, flags: 'R' }), 100);   // CLOSE: 10 s
    e.tick(3500);   // template due, still controls the CLOSE conn: kept 60 s more
    // the conn was ESTABLISHED once: its template is ASSURED (ip_vs_control_assure_ct)
    expect(e.conns().map((c) => c.state).sort()).toEqual(['ASSURED', 'CLOSE']);
    e.tick(11000);  // the conn is gone; the template waits for its own (60 s) timer
    expect(e.conns().map((c) => c.state)).toEqual(['ASSURED']);
    expect(e.services()[0].dests[0].persistconns).toBe(1);
    e.tick(64000);
    expect(e.conns()).toEqual([]);
    expect(e.services()[0].dests[0].persistconns).toBe(0);
  });

  test('a non-persistent port-zero service schedules nothing (port unreachable)', async () => {
    const e = await engine();
    const k = { proto: 'TCP', addr: '198.18.2.12', port: 0 } as const;
    e.addService({ ...k, sched: 'rr' });
    e.addDest(k, { addr: '198.18.1.14', port: 0 });
    const r = e.processFrame(ip('198.19.0.1', '198.18.2.12', { proto: 'tcp', sport: 1, dport: 80, flags: 'S' }), 0);
    expect(r.verdict).toBe('LOCAL');
    expect(e.conns()).toEqual([]);
  });
});
