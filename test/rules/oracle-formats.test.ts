/*
 * test/rules/oracle-formats.test.ts - the kernel recording test/golden/kernel/recorded/adm-formats
 * (case test/golden/kernel/cases/adm-formats.sh: IPv6 services and dests, fwmark services,
 * persistence with masks, scheduler flags, names from /etc/services, --stats/--rate with real
 * traffic, --thresholds, --persistent-conn, -c with IPv4 and IPv6 conns, -S, error texts).
 *
 * Every recorded ipvsadm command goes through host/rules (runAdm over the in-memory model of
 * test/rules/model.ts, so the configuration is whatever the recorded commands built) and must
 * print exactly what ipvsadm printed, with its exit code. For the listings taken after the
 * traffic, the state the kernel had when the listing was taken (ActiveConn/InActConn,
 * PersistConn, counters, rates, the conn table) is read from that listing itself and put into
 * the model's ServiceView/DestView/ConnView records; host/rules/format.ts must then print it
 * byte for byte. Counters and rates printed with a K/M suffix (not invertible) are taken
 * from the --exact listing recorded next to it. /proc views are the engine's business: skipped.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { runAdm } from '../../host/rules/adm.ts';
import { parseArgs, type SvcKey } from '../../host/rules/parse.ts';
import { cmpDests, cmpServices, msort } from '../../host/rules/format.ts';
import { servicePort, tableResolver } from '../../host/rules/services.ts';
import type { ConnView, Proto, ServiceView, Stats, Rates } from '../../host/types.ts';
import { ModelIpvs } from './model.ts';
import { sections, type Section } from './oracle.ts';

const FILE = new URL('../golden/kernel/recorded/adm-formats/stdout.txt', import.meta.url);
const text = readFileSync(FILE, 'utf8');
const all = sections(text);

const isSvcRow = (l: string) => /^(TCP|UDP|SCTP|FWM) /.test(l);
const isDestRow = (l: string) => l.startsWith('  -> ') && !l.startsWith('  -> RemoteAddress');

/** The numbers at the end of a row; K/M/G/T-scaled ones as null. */
function trailing(l: string, n: number): (bigint | null)[] {
  const t = l.trim().split(/\s+/).slice(-n);
  return t.map((x) => (/^\d+$/.test(x) ? BigInt(x) : /^\d+[KMGT]$/.test(x) ? null : (() => { throw new Error(`not a number: ${x} in ${JSON.stringify(l)}`); })()));
}

/** The services (sorted as ipvsadm prints them) a listing shows, with their dests sorted. */
function listed(m: ModelIpvs, svc: SvcKey | null): { s: ServiceView; dests: ServiceView['dests'] }[] {
  const one = svc ? m.service(svc) : null;
  const svcs = svc ? (one ? [one] : []) : msort(m.services(), cmpServices);
  return svcs.map((s) => ({ s, dests: msort(s.dests, cmpDests) }));
}

/** Rows of a listing, paired with the records they print: [line, record] in order. */
function pair(m: ModelIpvs, svc: SvcKey | null, out: string): [string, ServiceView | ServiceView['dests'][number]][] {
  const rows = out.split('\n').filter((l) => isSvcRow(l) || isDestRow(l));
  const recs = listed(m, svc).flatMap(({ s, dests }) => [s, ...dests] as (ServiceView | ServiceView['dests'][number])[]);
  expect(rows.length, `rows of ${out}`).toBe(recs.length);
  return rows.map((r, i) => [r, recs[i]]);
}

const STATS: (keyof Stats)[] = ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes'];
const RATES: (keyof Rates)[] = ['cps', 'inpps', 'outpps', 'inbps', 'outbps'];

function parseEndpoint(s: string, proto: Proto | null): { af: 4 | 6; addr: string; port: number } {
  const m = /^\[(.*)\]:(.*)$/.exec(s) ?? /^([^:]*):(.*)$/.exec(s);
  if (!m) throw new Error(`endpoint ${s}`);
  const port = /^\d+$/.test(m[2]) ? Number(m[2]) : servicePort(m[2], proto);
  if (port === undefined) throw new Error(`port name ${m[2]}`);
  return { af: s.startsWith('[') ? 6 : 4, addr: m[1], port };
}

/** The conn table as a -c listing shows it (table order, expiry as printed). */
function connsFrom(out: string): ConnView[] {
  return out.split('\n').slice(2).filter((l) => l).map((l) => {
    const [proto, expire, state, src, vip, dst, pe, pedata] = l.trim().split(/\s+/);
    const p = proto === 'IP' ? null : (proto as Proto);
    const c = parseEndpoint(src, p), v = parseEndpoint(vip, p), d = parseEndpoint(dst, p);
    const [mm, ss] = expire.split(':').map(Number);
    return {
      proto: proto as ConnView['proto'], af: c.af, caddr: c.addr, cport: c.port, vaddr: v.addr, vport: v.port,
      daddr: d.addr, dport: d.port, state, expiresMs: (mm * 60 + ss) * 1000, flags: 0,
      ...(pe ? { pe, pedata } : {}),
    };
  });
}

/** Put the state a listing shows into the model (see the header). */
function inject(m: ModelIpvs, argv: string[], out: string, exact: Map<string, Section>): void {
  let op;
  try { op = parseArgs(argv); } catch { return; }     // usage errors: nothing to list
  if (op.cmd !== 'list') return;
  if (op.what === 'conns') { m.connList = connsFrom(out); return; }
  if (op.what !== 'all' && op.what !== 'service') return;
  const f = op.format;
  // values printed scaled come from the --exact listing of the same kind
  const ex = f.stats || f.rate ? exact.get(f.stats ? 'stats' : 'rate') : undefined;
  const exRows = ex ? ex.out.split('\n').filter((l) => isSvcRow(l) || isDestRow(l)) : [];
  const all = ex ? listed(m, null).flatMap(({ s, dests }) => [s, ...dests]) : [];
  for (const [line, rec] of pair(m, op.svc, out)) {
    if (f.stats || f.rate) {
      const v = trailing(line, 5);
      const e = ex ? trailing(exRows[all.indexOf(rec)], 5) : [];
      const val = v.map((x, i) => x ?? e[i]);
      if (val.some((x) => x === null || x === undefined)) throw new Error(`no exact value for ${line}`);
      if (f.stats) rec.stats = Object.fromEntries(STATS.map((k, i) => [k, val[i]!])) as unknown as Stats;
      else rec.rates = Object.fromEntries(RATES.map((k, i) => [k, Number(val[i]!)])) as unknown as Rates;
      continue;
    }
    if (!('activeconns' in rec)) continue;     // service row: nothing else to take
    if (f.persistentConn) {
      const [p, a, i] = trailing(line, 3);
      Object.assign(rec, { persistconns: Number(p), activeconns: Number(a), inactconns: Number(i) });
    } else {
      const [a, i] = trailing(line, 2);
      Object.assign(rec, { activeconns: Number(a), inactconns: Number(i) });
    }
  }
}

interface Row { n: number; cmd: string; got: string; want: string; gotRc: number; wantRc: number }

async function replay(): Promise<{ rows: Row[]; skipped: string[] }> {
  const m = new ModelIpvs();
  const rows: Row[] = [];
  const skipped: string[] = [];
  const exact = new Map<string, Section>();
  const find = (cmd: string) => all.find((s) => s.cmd === cmd);
  exact.set('stats', find('ipvsadm -L -n --stats --exact')!);
  exact.set('rate', find('ipvsadm -L -n --rate --exact')!);
  for (const [i, sec] of all.entries()) {
    if (!sec.cmd.startsWith('ipvsadm ')) { skipped.push(sec.cmd); continue; }
    const argv = sec.cmd.slice('ipvsadm '.length).split(' ');
    inject(m, argv, sec.out, exact);
    const r = await runAdm(argv, m, { resolver: tableResolver });
    rows.push({ n: i + 1, cmd: sec.cmd, got: r.stdout + r.stderr, want: sec.out, gotRc: r.rc, wantRc: sec.rc });
  }
  return { rows, skipped };
}

const result = await replay();

describe('kernel oracle adm-formats: every recorded ipvsadm command', () => {
  test.each(result.rows)('$n: $cmd', ({ got, want, gotRc, wantRc }) => {
    expect(got).toBe(want);
    expect(gotRc).toBe(wantRc);
  });
  test('the recording covers what it should', () => {
    const cmds = result.rows.map((r) => r.cmd);
    expect(result.rows.length).toBeGreaterThan(80);
    for (const want of ['-L -n --rate', '-L -n --stats --exact', '-L -c', '-L -n -c --persistent-conn', '-L -n --thresholds', '-S', '-L -n -f 2 -6'])
      expect(cmds).toContain(`ipvsadm ${want}`);
    // listings with traffic: non-zero counters, IPv6 conns, K-scaled bytes
    expect(text).toMatch(/\[2001:2:0:2::\d+\]:\d+ +\[2001:2::100\]:80/);
    expect(result.skipped.every((c) => c.startsWith('cat /proc'))).toBe(true);
  });
});
