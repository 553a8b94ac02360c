/*
 * fwmark services (ipvsadm -f MARK) against Linux 6.1 IPVS.
 *
 * test/golden/kernel/recorded/fwmark/ was made by cases/fwmark.sh: the marks were set by tc
 * (ingress qdisc on the director's client-facing vc1, flower filters on destination address,
 * protocol and port range, action skbedit mark M), which runs before PREROUTING, as an
 * iptables mangle MARK rule would. The engine gets the same marks from the equivalent iptables
 * lines of a rules file (MARK hooks at PRE_ROUTING -150), built here from the recorded
 * `tc filter add` commands; the ipvsadm commands are the recorded `=== cfg` lines, applied
 * through the rules-file applier at the same point of the packet sequence.
 *
 * Every packet the case sent carries a sequence number (IPv4 id / IPv6 flow label) and the
 * recording says after which one each command ran and each snapshot was taken. The packets the
 * director received (client-side.pcap from the clients, dest-side.pcap from the real servers)
 * go through the engine in that order at their capture times; what the engine forwards must
 * equal, byte for byte, the packet with the same number the kernel sent on the other side, and
 * a packet the kernel did not forward must not be forwarded. At each snapshot the conn table
 * (`ipvsadm -L -n -c`, printed by host/rules/format.ts; expire ±2 s), `ipvsadm -L -n`,
 * `-L -n --persistent-conn` and `-S -n` must equal the kernel's.
 */
import { describe, test, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { records } from '../../host/pcap/read.ts';
import { parseRules, applyRules } from '../../host/rules/apply.ts';
import { formatConnList, formatList, formatSave } from '../../host/rules/format.ts';
import { engine } from '../helpers/engine.ts';
import { hex, checkPacket } from '../helpers/pkt.ts';
import type { Engine } from '../../host/engine.ts';

const dir = join(import.meta.dirname, 'kernel', 'recorded', 'fwmark');
const have = existsSync(join(dir, 'stdout.txt')) && existsSync(join(dir, 'client-side.pcap'));

interface Pkt { ts: number; side: 'client' | 'dest'; l3: Uint8Array; seq: number; input: boolean }
interface Snap { label: string; conns: string[]; list: string; persist: string; save: string }
type Ev = { after: number } & ({ kind: 'cfg'; cmd: string } | { kind: 'snap'; snap: Snap } | { kind: 'adm'; cmd: string; out: string });

const isV4 = (p: Uint8Array) => p[0] >> 4 === 4;
const proto = (p: Uint8Array) => (isV4(p) ? p[9] : p[6]);
/** the case's sequence number: IPv4 id, IPv6 flow label */
const seqOf = (p: Uint8Array) => (isV4(p) ? (p[4] << 8) | p[5] : ((p[1] & 15) << 16) | (p[2] << 8) | p[3]);
const srcText = (p: Uint8Array) => (isV4(p) ? [...p.subarray(12, 16)].join('.') : hex(p.subarray(8, 24)));
/** clients: 198.19/16 and 2001:2:0:2::/64; real servers: 198.18.1/24 and 2001:2:0:1::/64 */
const fromClient = (p: Uint8Array) => (isV4(p) ? p[12] === 198 && p[13] === 19 : srcText(p).startsWith('2001000200000002'));
const fromServer = (p: Uint8Array) => (isV4(p) ? p[12] === 198 && p[13] === 18 && p[14] === 1 : srcText(p).startsWith('2001000200000001'));

function load(side: 'client' | 'dest'): Pkt[] {
  const out: Pkt[] = [];
  for (const r of records([new Uint8Array(readFileSync(join(dir, `${side}-side.pcap`)))])) {
    const l3 = r.data.slice(14);
    const input = side === 'client' ? fromClient(l3) : fromServer(l3);
    out.push({ ts: Number(r.tsNs / 1000n) / 1000, side, l3, seq: seqOf(l3), input });
  }
  return out;
}

/** The recorded stdout: tc filters (as iptables MARK lines), and the cfg / snap events in order. */
function parseStdout(text: string): { markLines: string[]; events: Ev[] } {
  const markLines: string[] = [];
  const events: Ev[] = [];
  let after = 0;
  const blocks = text.split(/^(?==== )/m);
  for (const b of blocks) {
    const head = b.split('\n', 1)[0];
    const body = b.slice(head.length + 1);
    let m: RegExpExecArray | null;
    if ((m = /^=== \$ tc filter add dev vc1 ingress protocol (ip|ipv6) prio \d+ flower dst_ip (\S+) ip_proto (tcp|udp) dst_port (\d+)(?:-(\d+))? action skbedit mark (\d+) ===$/.exec(head))) {
      const [, fam, addr, p, lo, hi, mark] = m;
      expect(body.trim(), head).toBe('--- rc=0');
      markLines.push(`${fam === 'ip' ? 'iptables' : 'ip6tables'} -t mangle -A PREROUTING -d ${addr}/${fam === 'ip' ? 32 : 128} -p ${p} --dport ${lo}:${hi ?? lo} -j MARK --set-mark ${mark}`);
    } else if ((m = /^=== cfg after (\d+): ipvsadm (.*)$/.exec(head))) {
      expect(body.split('\n')[0], head).toBe('--- rc=0');
      after = Number(m[1]);
      events.push({ kind: 'cfg', after, cmd: m[2] });
    } else if ((m = /^=== snap (\S+) after (\d+)$/.exec(head))) {
      const part = (name: string) => {
        const s = body.split(`--- ${name}\n`)[1];
        return s.slice(0, s.search(/^--- /m));
      };
      after = Number(m[2]);
      events.push({
        kind: 'snap', after,
        snap: { label: m[1], conns: part('conns').split('\n').filter((l) => l), list: part('list'), persist: part('persist'), save: part('save') },
      });
    } else if ((m = /^=== \$ ipvsadm (.*) ===$/.exec(head))) {
      expect(body, head).toMatch(/--- rc=0\n$/);
      events.push({ kind: 'adm', after, cmd: m[1], out: body.replace(/--- rc=\d+\n$/, '') });
    }
  }
  return { markLines, events };
}

/** A -c line without its expire column, and the expire in seconds. */
const connKey = (l: string) => l.slice(0, 4) + l.slice(10).trimEnd();
const connSecs = (l: string) => { const [m, s] = l.slice(4, 10).trim().split(':').map(Number); return m * 60 + s; };

/** The engine's `ipvsadm -L -n -c` rows against the kernel's, as sets (expire ±2 s). */
function compareConns(e: Engine, label: string, kernelRows: readonly string[]) {
  const byKey = (a: string, b: string) => connKey(a).localeCompare(connKey(b));
  const got = formatConnList(e.conns(), { numeric: true }).split('\n').slice(2).filter((l) => l).sort(byKey);
  const want = [...kernelRows].sort(byKey);
  expect.soft(got.map(connKey), `${label}: ipvsadm -L -n -c`).toEqual(want.map(connKey));
  if (got.length === want.length) {
    for (let i = 0; i < got.length; i++) {
      expect.soft(Math.abs(connSecs(got[i]) - connSecs(want[i])), `${label}: expire of ${want[i]}`).toBeLessThanOrEqual(2);
    }
  }
}

function compareSnap(e: Engine, s: Snap) {
  compareConns(e, s.label, s.conns);
  const svcs = e.services();
  expect.soft(formatList(svcs, { numeric: true }), `${s.label}: ipvsadm -L -n`).toBe(s.list);
  expect.soft(formatList(svcs, { numeric: true, persistentConn: true }), `${s.label}: ipvsadm -L -n --persistent-conn`).toBe(s.persist);
  expect.soft(formatSave(svcs, true), `${s.label}: ipvsadm -S -n`).toBe(s.save);
}

describe('fwmark services, replayed against the 6.1 recording (marks set by tc at ingress)', () => {
  test.skipIf(!have)('marked packets, conn listings and service listings equal the kernel\'s', async () => {
    const { markLines, events } = parseStdout(readFileSync(join(dir, 'stdout.txt'), 'utf8'));
    expect(markLines).toHaveLength(5);
    const e = await engine();
    applyRules(e, parseRules(markLines.join('\n') + '\n', 'fwmark-marks'), 'fwmark-marks', { link: 'any' });

    const client = load('client'), dest = load('dest');
    const inputs = [...client, ...dest].filter((p) => p.input).sort((a, b) => a.seq - b.seq);
    const last = Math.max(...events.map((x) => x.after));
    expect(inputs.map((p) => p.seq), 'one captured input per sequence number').toEqual(Array.from({ length: inputs.length }, (_, i) => i + 1));
    expect(inputs.length).toBeGreaterThanOrEqual(last);

    let now = inputs[0].ts - 1000;
    let forwarded = 0, notForwarded = 0, snaps = 0, adm = 0;
    const notes: string[] = [];
    const runEvents = (after: number) => {
      for (const ev of events.filter((x) => x.after === after)) {
        if (ev.kind === 'cfg') {
          applyRules(e, parseRules(ev.cmd + '\n', 'fwmark-cfg'), 'fwmark-cfg', { link: 'any' });
        } else if (ev.kind === 'adm') {
          const f = /^-L -n -f (\d+)( -6)?$/.exec(ev.cmd);
          if (f) {
            const svc = e.services().find((x) => x.fwmark === Number(f[1]) && x.af === (f[2] ? 6 : 4));
            expect.soft(svc && formatList([svc], { numeric: true, header: false }), ev.cmd).toBe(ev.out);
          } else if (ev.cmd === '-L -n -c') {
            compareConns(e, 'after D5', ev.out.split('\n').slice(2).filter((l) => l));
          } else if (ev.cmd === '-L -n --stats --exact') {
            expect.soft(formatList(e.services(), { numeric: true, stats: true, exact: true }), ev.cmd).toBe(ev.out);
          } else throw new Error(`unexpected listing ${ev.cmd}`);
          adm++;
        } else {
          now += 100; e.tick(now);
          compareSnap(e, ev.snap); snaps++;
        }
      }
    };
    runEvents(0);
    for (const p of inputs) {
      now = Math.max(now, p.ts);
      const r = e.processFrame(p.l3, now);
      const other = p.side === 'client' ? dest : client;
      // the kernel's counterpart: the same number, family and protocol sent on the other side
      const k = other.find((q) => !q.input && q.seq === p.seq && isV4(q.l3) === isV4(p.l3) && proto(q.l3) === proto(p.l3));
      const what = `#${p.seq} (${p.side})`;
      if (k) {
        expect.soft(r.verdict, what).toBe('XMIT');
        expect.soft(hex(r.data), what).toBe(hex(k.l3));
        expect.soft(checkPacket(r.data), what).toEqual([]);
        forwarded++;
      } else {
        expect.soft(r.verdict, `${what}: the kernel did not forward it`).not.toBe('XMIT');
        notForwarded++;
        notes.push(`#${p.seq} ${r.verdict}`);
      }
      runEvents(p.seq);
    }
    expect(snaps).toBe(events.filter((x) => x.kind === 'snap').length);
    expect(forwarded).toBeGreaterThanOrEqual(30);

    expect(adm).toBe(5);
    console.log(`fwmark: ${forwarded} packets byte-identical to the kernel's, ${notForwarded} not forwarded by either (${notes.join(', ')}), ${snaps} snapshots and ${adm} other listings compared`);
  });
});
