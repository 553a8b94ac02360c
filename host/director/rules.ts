/*
 * host/director/rules.ts - `wasmvs run --rules FILE`: read the file and apply it with the one
 * applier, host/rules/apply.ts (errors name FILE:LINE).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { Engine } from '../engine.ts';
import { WvsError } from '../errors.ts';
import { parseRules, applyRules, MAX_RULES_BYTES, type ApplyOptions, type RuleOp } from '../rules/apply.ts';

export { parseRules, applyRules, checkLaddrs, engineKey, laddrsOf, vipsOf, WvsRulesError as WvsDirectorRulesError } from '../rules/apply.ts';
export type { RuleOp, ApplyOptions } from '../rules/apply.ts';

/**
 * A rules file's text: at most MAX_RULES_BYTES are read, so /dev/zero or a wrong file named by
 * mistake gives one short error instead of filling memory.
 */
export function readRulesFile(file: string): string {
  let fd: number;
  try { fd = openSync(file, 'r'); } catch (e: any) {
    throw new WvsError('WVS_ERR_RULES', `cannot read rules file ${file}: ${e?.code ?? e?.message ?? e}`);
  }
  const buf = Buffer.alloc(MAX_RULES_BYTES + 1);
  let n = 0;
  try {
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
  } catch (e: any) {
    throw new WvsError('WVS_ERR_RULES', `cannot read rules file ${file}: ${e?.code ?? e?.message ?? e}`);
  } finally { closeSync(fd); }
  if (n > MAX_RULES_BYTES) throw new WvsError('WVS_ERR_RULES', `${file}: larger than ${MAX_RULES_BYTES >> 20} MiB (the largest rules file wasmvs reads): is it the right file?`);
  return buf.toString('utf8', 0, n);
}

/** Read, parse and apply a rules file. */
export function loadRulesFile(engine: Engine, file: string, o: ApplyOptions = {}): RuleOp[] {
  const ops = parseRules(readRulesFile(file), file);
  applyRules(engine, ops, file, o);
  return ops;
}
