/*
 * host/director/rules.ts - `wasmvs run --rules FILE`: read the file and apply it with the one
 * applier, host/rules/apply.ts (errors name FILE:LINE).
 */
import { readFileSync } from 'node:fs';
import type { Engine } from '../engine.ts';
import { WvsError } from '../errors.ts';
import { parseRules, applyRules, type ApplyOptions, type RuleOp } from '../rules/apply.ts';

export { parseRules, applyRules, checkLaddrs, engineKey, laddrsOf, vipsOf, WvsRulesError as WvsDirectorRulesError } from '../rules/apply.ts';
export type { RuleOp, ApplyOptions } from '../rules/apply.ts';

/** Read, parse and apply a rules file. */
export function loadRulesFile(engine: Engine, file: string, o: ApplyOptions = {}): RuleOp[] {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e: any) {
    throw new WvsError('WVS_ERR_RULES', `cannot read rules file ${file}: ${e?.code ?? e?.message ?? e}`);
  }
  const ops = parseRules(text, file);
  applyRules(engine, ops, file, o);
  return ops;
}
