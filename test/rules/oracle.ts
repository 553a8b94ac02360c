/*
 * The kernel-oracle recording of case a (test/rules/oracle-a/, copied from
 * /work/shared/kernel-oracle/examples/a-ipvsadm-format; produced by oracle-a/case.sh on
 * Debian 12, kernel 6.1, ipvsadm 1.31-1+b1). Read once; split into the recorded commands.
 */
import { readFileSync } from 'node:fs';

const dir = new URL('./oracle-a/', import.meta.url);
export const oracleFile = (name: string): string => readFileSync(new URL(name, dir), 'utf8');

/** One `run` of the case script: the command as echoed, everything it printed (stdout+stderr), its rc. */
export interface Section { cmd: string; out: string; rc: number }

export function sections(text = oracleFile('stdout.txt')): Section[] {
  const out: Section[] = [];
  let cur: { cmd: string; lines: string[] } | null = null;
  for (const line of text.split('\n')) {
    const head = /^=== \$ (.*) ===$/.exec(line);
    if (head) { cur = { cmd: head[1], lines: [] }; continue; }
    const end = /^--- rc=(\d+)$/.exec(line);
    if (end && cur) {
      out.push({ cmd: cur.cmd, out: cur.lines.map((l) => l + '\n').join(''), rc: Number(end[1]) });
      cur = null;
      continue;
    }
    if (cur) cur.lines.push(line);
  }
  return out;
}

/** The first recorded output of `cmd` (after `skip` earlier ones). */
export function recorded(cmd: string, skip = 0): Section {
  const all = sections().filter((s) => s.cmd === cmd);
  if (!all[skip]) throw new Error(`not recorded: ${cmd}`);
  return all[skip];
}

/** case.sh as data: `run` lines are recorded; `quiet` ones ran without a record; `R` feeds a file to -R. */
export type Step = { run: string } | { quiet: string } | { R: string; label: string } | { skip: string } | { save: string };
export const run = (cmd: string): Step => ({ run: cmd });
export const quiet = (cmd: string): Step => ({ quiet: cmd });

export const ORACLE_A_STEPS: Step[] = [
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
