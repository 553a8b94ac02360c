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
import { oracleFile, sections } from './oracle.ts';

/** case.sh as data: `run` lines are recorded; `quiet` ones ran without a record; `R` feeds a file to -R. */
type Step = { run: string } | { quiet: string } | { R: string; label: string } | { skip: string } | { save: string };
const run = (cmd: string): Step => ({ run: cmd });
const quiet = (cmd: string): Step => ({ quiet: cmd });

const steps: Step[] = [
  run('-A -t 198.18.0.100:80 -s wrr'),
  run('-a -t 198.18.0.100:80 -r 198.18.1.1:8080 -m -w 3'),
  run('-a -t 198.18.0.100:80 -r 198.18.1.2:8080 -m -w 1'),
  run('-A -u 198.18.0.100:53 -s rr -p 300'),
  run('-a -u 198.18.0.100:53 -r 198.18.1.3:53 -m -w 1'),
  run('-L -n'), run('-S -n'), run('-L -n --stats'), run('-L -n --rate'), run('-L -n --exact --stats'),
  run('-L --timeout'), run('-L'), run('-S'), run('-L -n -c'), run('-L -n --persistent-conn'),
  run('-l -n -t 198.18.0.100:80'),
  // error cases
  run('-A -t 198.18.0.101:80 -s nosuchsched'),
  run('-D -t 198.18.0.199:80'),
  run('-a -t 198.18.0.100:80 -r 198.18.1.1:8080 -m -w 3'),
  run('-A -t 198.18.0.100:80 -s rr'),
  run('-d -t 198.18.0.100:80 -r 198.18.1.9:8080'),
  run('-e -t 198.18.0.100:80 -r 198.18.1.9:8080 -w 2'),
  run('-a -t 198.18.0.199:80 -r 198.18.1.1:8080'),
  run('-L -n -t 198.18.0.199:80'),
  run('-a -t 198.18.0.100:80 -r 198.18.1.9:8080 -m -w 70000'),
  run('-a -t 198.18.0.100:80 -r 198.18.1.9:8080 -m -w -1'),
  run('-a -t 198.18.0.100:80 -r 198.18.1.9:8080 -m -x 10 -y 20'),
  run('-L -n -t 198.18.0.100:80'),
  run('-L -n -t 198.18.0.100:80 --thresholds'),
  run('-d -t 198.18.0.100:80 -r 198.18.1.9:8080'),
  run('-a -t 198.18.0.100:80 -r 198.18.1.9 -m'),
  run('-L -n -t 198.18.0.100:80'),
  run('-d -t 198.18.0.100:80 -r 198.18.1.9:80'),
  run('-A -t 198.18.0.100 -s rr'),
  run('--bogus-option'),
  // dest order
  run('-A -t 198.18.0.110:80 -s wlc'),
  ...['198.18.1.30', '198.18.1.10', '198.18.1.40', '198.18.1.20'].map((r) => quiet(`-a -t 198.18.0.110:80 -r ${r}:80 -m -w 1`)),
  run('-L -n -t 198.18.0.110:80'), run('-S -n'),
  run('-e -t 198.18.0.110:80 -r 198.18.1.10:80 -m -w 5'),
  run('-d -t 198.18.0.110:80 -r 198.18.1.40:80'),
  run('-a -t 198.18.0.110:80 -r 198.18.1.40:80 -g -w 2'),
  run('-L -n -t 198.18.0.110:80'),
  // -R with dests in scrambled order
  run('-C'),
  { R: 'scrambled.txt', label: 'ipvsadm -R < scrambled.txt' },
  run('-L -n'), run('-S -n'), { skip: 'cat /proc/net/ip_vs' },
  // service order
  run('-C'),
  ...['198.18.0.120:80', '198.18.0.5:80', '198.18.0.100:443', '198.18.0.100:22'].map((v) => quiet(`-A -t ${v} -s rr`)),
  quiet('-A -u 198.18.0.5:53 -s rr'), quiet('-A -f 7 -s rr'),
  run('-L -n'), run('-S -n'),
  // restore
  run('-C'),
  { R: 'rules.txt', label: 'ipvsadm -R < rules.txt' },
  run('-S -n'), run('-L -n'),
  { save: 'saved.txt' },
  run('-C'),
  { R: 'saved.txt', label: 'ipvsadm -R < saved.txt (round trip of -S output)' },
  run('-S -n'),
  { skip: 'cat /proc/net/ip_vs' }, { skip: 'cat /proc/net/ip_vs_stats' }, { skip: 'cat /proc/net/ip_vs_conn' },
  { skip: 'sh -c for f in /proc/sys/net/ipv4/vs/*; do echo "$f=$(cat $f)"; done' },
];

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
