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
