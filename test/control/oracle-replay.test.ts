/*
 * The kernel-oracle recording (test/rules/oracle-a: Debian 12, kernel 6.1, ipvsadm 1.31) replayed
 * through `wasmvs adm` -> control socket -> the real engine: every recorded command's output
 * (stdout+stderr) and exit code must match byte for byte. The script is the same as
 * test/rules/oracle-replay.test.ts runs against the in-memory model.
 *
 * Known gap, checked rather than hidden: while the engine forwards with NAT (-m) only, the
 * one recorded `-a ... -g` refuses (EOPNOTSUPP) and the listing after it lacks that dest.
 * Once the engine supports direct routing, this test demands zero differences.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { oracleFile, sections, ORACLE_A_STEPS, type Step } from '../rules/oracle.ts';
import { director, type Director } from './helpers.ts';
import { engine as freshEngine } from '../helpers/engine.ts';

const steps = ORACLE_A_STEPS;

/** Commands whose recorded result needs direct routing (-g) in the engine. */
const NEEDS_DR = ['ipvsadm -a -t 198.18.0.110:80 -r 198.18.1.40:80 -g -w 2'];
const AFTER_DR = 'ipvsadm -L -n -t 198.18.0.110:80';

interface Row { cmd: string; got: string; want: string; gotRc: number; wantRc: number; n: number }

let d: Director;
const rows: Row[] = [];
let savedOk = false;
let engineHasDr = false;
const order: string[] = [];

{
  const probe = await freshEngine();
  probe.addService({ proto: 'TCP', addr: '198.18.0.1', port: 80, sched: 'rr' });
  try { probe.addDest({ proto: 'TCP', addr: '198.18.0.1', port: 80 }, { addr: '198.18.1.1', port: 80, fwd: 'Route' }); engineHasDr = true; } catch { engineHasDr = false; }

  d = await director();
  const recorded = sections();
  let k = 0;
  for (const st of steps) {
    if ('quiet' in st) { const r = await d.adm(st.quiet); if (r.rc !== 0) throw new Error(`${st.quiet}: ${r.stderr}`); continue; }
    if ('save' in st) { savedOk = (await d.adm('-S -n')).stdout === oracleFile(st.save); continue; }
    const sec = recorded[k++];
    if ('skip' in st) { order.push(`${sec.cmd} | ${st.skip}`); continue; }
    const label = 'run' in st ? `ipvsadm ${st.run}` : st.label;
    order.push(`${sec.cmd} | ${label}`);
    const r = 'run' in st ? await d.adm(st.run) : await d.adm(['-R'], oracleFile(st.R));
    rows.push({ cmd: label, got: r.stdout + r.stderr, want: sec.out, gotRc: r.rc, wantRc: sec.rc, n: rows.length + 1 });
  }
  if (k !== recorded.length) throw new Error(`script ran ${k} recorded commands, the recording has ${recorded.length}`);
}
afterAll(async () => { await d?.stop(); });

describe('kernel oracle case a through wasmvs adm, the control socket and the engine', () => {
  test('every recorded command matches, except those needing direct routing while the engine lacks it', () => {
    const diff = rows.filter((r) => r.got !== r.want || r.gotRc !== r.wantRc);
    const allowed = engineHasDr ? [] : [...NEEDS_DR, AFTER_DR];
    expect(diff.map((r) => r.cmd).filter((c) => !allowed.includes(c))).toEqual([]);
    expect(rows.length).toBeGreaterThan(50);
  });
  test('the script follows the recording command by command', () => {
    for (const line of order) { const [a, b] = line.split(' | '); expect(a).toBe(b); }
  });
  const drRow = (r: Row) => NEEDS_DR.includes(r.cmd) || (r.cmd === AFTER_DR && r.want.includes('Route'));
  test.each(rows.filter((r) => engineHasDr || !drRow(r)))('$n: $cmd', ({ got, want, gotRc, wantRc }) => {
    expect(got).toBe(want);
    expect(gotRc).toBe(wantRc);
  });
  test('-S -n > saved.txt equals the recorded saved.txt', () => expect(savedOk).toBe(true));
  test('without direct routing the -g line fails as an unsupported operation, and changes nothing', () => {
    if (engineHasDr) return;
    const r = rows.find((x) => x.cmd === NEEDS_DR[0])!;
    expect(r.gotRc).toBe(255);
    expect(r.got).toBe('Operation not supported with IPv6\n');
  });
});
