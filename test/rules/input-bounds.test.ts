/*
 * test/rules/input-bounds.test.ts - rules input is bounded and every refusal says why (issue 13):
 * /dev/zero and a 1 MiB line give one short error, a garbage line says what is wrong with it,
 * comments and blank lines are accepted in rules files, a value option never swallows the next
 * option, and `adm -R` refuses oversized input before connecting.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_RULES_BYTES, parseRules } from '../../host/rules/apply.ts';
import { MAX_RULE_LINE } from '../../host/rules/parse.ts';
import { readRulesFile } from '../../host/director/rules.ts';
import { runAdm, type AdmBackend } from '../../host/rules/adm.ts';
import { parseRunArgs } from '../../host/director/run.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'wasmvs.js');
const built = existsSync(join(ROOT, 'dist', 'host', 'cli.js'));
const tmp = mkdtempSync(join(tmpdir(), 'wvs-bounds-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const errOf = (f: () => unknown): string => { try { f(); } catch (e) { return (e as Error).message; } return 'no error'; };

describe('rules files', () => {
  test('a 1 MiB line: one short error naming the line and the limit, the line not echoed', () => {
    const text = '-A -t 198.18.0.100:80 -s rr\n-a -t 198.18.0.100:80 -r ' + 'x'.repeat(1 << 20) + '\n';
    const msg = errOf(() => parseRules(text, 'big.rules'));
    expect(msg).toBe(`big.rules:2: a line of ${(1 << 20) + 25} characters, longer than ${MAX_RULE_LINE} (the longest rules line wasmvs reads); not shown`);
  });

  test('/dev/zero: read no further than the limit, one short error', () => {
    const t0 = performance.now();
    expect(errOf(() => readRulesFile('/dev/zero'))).toBe(`/dev/zero: larger than ${MAX_RULES_BYTES >> 20} MiB (the largest rules file wasmvs reads): is it the right file?`);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(errOf(() => readRulesFile(join(tmp, 'nope')))).toBe(`cannot read rules file ${join(tmp, 'nope')}: ENOENT`);
  });

  test('a garbage line says why, not only "Try `wasmvs -h\'"; control characters are escaped, long ones cut', () => {
    expect(errOf(() => parseRules('garbage here\n', 'f'))).toBe(
      'f:1: "garbage" is not an option: a rules line is an ipvsadm command (-A, -E, -a, -e, -D, -d, -C, --set, ...) or an iptables MARK rule, and # starts a comment\n  1 | garbage here');
    expect(errOf(() => parseRules('-t 198.18.0.100:80\n', 'f'))).toMatch(/^f:1: no command on this line \(-A, -E, -a, -e, -D, -d, -C, --set, \.\.\.\): ipvsadm would only say "Try `ipvsadm -h'"\n  1 \| -t 198\.18\.0\.100:80$/);
    expect(errOf(() => parseRules('\x01\x02 bin\n', 'f'))).toBe(
      'f:1: "\\x01\\x02" is not an option: a rules line is an ipvsadm command (-A, -E, -a, -e, -D, -d, -C, --set, ...) or an iptables MARK rule, and # starts a comment\n  1 | \\x01\\x02 bin');
    const long = errOf(() => parseRules(`-a -t 198.18.0.100:80 -r ${'y'.repeat(3000)}\n`, 'f'));
    expect(long.length).toBeLessThan(400);
  });

  test('# comments and blank lines are skipped; the lines around them apply', () => {
    const ops = parseRules('# web\n\n   # indented comment\n-A -t 198.18.0.100:80 -s rr\n\t\n-a -t 198.18.0.100:80 -r 198.18.1.1:80 -m  \n#-a -t 198.18.0.100:80 -r 198.18.1.2:80 -m\n', 'f');
    expect(ops.map((o) => [o.line, o.op.cmd])).toEqual([[4, 'addService'], [6, 'addDest']]);
  });
});

describe('adm -R', () => {
  test('a line over the limit: one short error, nothing restored, rc 255', async () => {
    const added: string[] = [];
    const be = { addService: () => { added.push('A'); return null; } } as unknown as AdmBackend;
    const r = await runAdm(['-R'], be, { stdin: '-A -t 198.18.0.100:80 -s rr\n-A -t 198.18.0.101:80 -s ' + 'r'.repeat(1 << 20) + '\n', prog: 'wasmvs adm' });
    expect(r).toEqual({ stdout: '', stderr: `wasmvs adm: -R: line 2 is longer than ${MAX_RULE_LINE} characters (the longest line wasmvs takes); nothing restored\n`, rc: 255 });
    expect(added).toEqual([]);
  });

  test.skipIf(!built)('stdin larger than a request: refused before connecting, no memory growth', () => {
    const r = spawnSync('bash', ['-c', `node ${CLI} adm --socket ${join(tmp, 'none.sock')} -R < /dev/zero`], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`wasmvs adm: -R: standard input is larger than ${15 << 20} bytes (15 MiB, the most one request carries): split the rules into several -R runs\n`);
  });
});

describe('wasmvs run', () => {
  test('--rules --no-socket: the option is not taken as the file name', () => {
    expect(errOf(() => parseRunArgs(['--rules', '--no-socket']))).toBe('--rules needs a value, not the option --no-socket (a value that starts with "-" goes as --rules=VALUE)');
    expect(parseRunArgs(['--rules=-odd-name', '--no-socket'])).toEqual({ rulesFile: '-odd-name', socket: false });
  });

  test('--no-steering: the workers run without the TUN steering program (docs/steering.md)', () => {
    expect(parseRunArgs(['--workers', '2', '--no-steering'])).toEqual({ workers: 2, steering: false });
    expect(parseRunArgs(['--workers', '2'])).toEqual({ workers: 2 });
  });

  test.skipIf(!built)('--rules /dev/zero and a 1 MiB line: one short line on stderr, exit 1, no device touched (no root needed)', () => {
    const big = join(tmp, 'big.rules');
    writeFileSync(big, '-A -t 198.18.0.100:80 -s ' + 's'.repeat(1 << 20) + '\n');
    for (const [file, want] of [
      ['/dev/zero', `wasmvs run: /dev/zero: larger than 16 MiB (the largest rules file wasmvs reads): is it the right file?\n`],
      [big, `wasmvs run: ${big}:1: a line of ${(1 << 20) + 25} characters, longer than 4096 (the longest rules line wasmvs reads); not shown\n`],
    ]) {
      const r = spawnSync(process.execPath, [CLI, 'run', '--rules', file, '--no-socket', '--dev', 'wvsnone0'], { encoding: 'utf8', timeout: 30_000 });
      expect(r.stderr).toBe(want);
      expect(r.status).toBe(1);
    }
  });
});
