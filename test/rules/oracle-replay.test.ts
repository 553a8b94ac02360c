/*
 * Replays oracle-a/case.sh through runAdm() on the in-memory model and compares every
 * recorded command's output (stdout+stderr) and exit code with the real kernel's, byte for byte.
 * /proc views (cat /proc/net/..., sysctls) are the engine's business and are not compared here.
 */
import { describe, expect, test } from 'vitest';
import { runAdm } from '../../host/rules/adm.ts';
import { versionText } from '../../host/rules/format.ts';
import { tableResolver } from '../../host/rules/services.ts';
import { ModelIpvs } from './model.ts';
import { oracleFile, sections, ORACLE_A_STEPS, type Step } from './oracle.ts';

const steps = ORACLE_A_STEPS;

interface Row { cmd: string; got: string; want: string; gotRc: number; wantRc: number }

async function replay(): Promise<{ rows: Row[]; skipped: string[]; savedOk: boolean }> {
  const be = new ModelIpvs();
  const recorded = sections();
  const rows: Row[] = [];
  const skipped: string[] = [];
  let savedOk = false;
  let k = 0;
  const split = (cmd: string): string[] => cmd.split(' ');
  for (const st of steps) {
    if ('quiet' in st) { const r = await runAdm(split(st.quiet), be); if (r.rc !== 0) throw new Error(`${st.quiet}: ${r.stderr}`); continue; }
    if ('save' in st) { savedOk = (await runAdm(['-S', '-n'], be)).stdout === oracleFile(st.save); continue; }
    const sec = recorded[k++];
    if ('skip' in st) { expect(sec.cmd).toBe(st.skip); skipped.push(sec.cmd); continue; }
    const label = 'run' in st ? `ipvsadm ${st.run}` : st.label;
    expect(sec.cmd).toBe(label);
    const r = 'run' in st
      ? await runAdm(split(st.run), be, { resolver: tableResolver })
      : await runAdm(['-R'], be, { stdin: oracleFile(st.R) });
    rows.push({ cmd: label, got: r.stdout + r.stderr, want: sec.out, gotRc: r.rc, wantRc: sec.rc });
  }
  expect(k).toBe(recorded.length);
  return { rows, skipped, savedOk };
}

const result = await replay();

describe('kernel oracle case a: every recorded ipvsadm command', () => {
  test.each(result.rows.map((r, i) => ({ ...r, n: i + 1 })))('$n: $cmd', ({ got, want, gotRc, wantRc }) => {
    expect(got).toBe(want);
    expect(gotRc).toBe(wantRc);
  });
  test('-S -n > saved.txt equals the recorded saved.txt', () => expect(result.savedOk).toBe(true));
  test('only /proc views are left out', () => expect(result.skipped.every((c) => c.startsWith('cat /proc') || c.startsWith('sh -c'))).toBe(true));
  test('ipvsadm --version line', () => expect(oracleFile('stdout.txt').split('\n')[0] + '\n').toBe(versionText('1.2.1')));
});
