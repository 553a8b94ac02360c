/*
 * host/replay/rules.ts - rules for a replay, the browser page and the edge example: every method
 * the engine has (link 'any'); errors name the line (`rules line N: ...`). Runtime-agnostic.
 */
import type { Engine } from '../engine.ts';
import { parseRules, applyRules as apply, WvsRulesError } from '../rules/apply.ts';
import { WvsError } from '../errors.ts';

export { engineKey as serviceKey } from '../rules/apply.ts';

/** Apply every line of `text`; returns how many commands were applied. */
export function applyRules(engine: Engine, text: string): number {
  try {
    const ops = parseRules(text, 'rules', 'wasmvs replay');
    apply(engine, ops, 'rules', { link: 'any' });
    return ops.length;
  } catch (e) {
    if (e instanceof WvsRulesError) throw new WvsError('WVS_ERR_RULES', `rules line ${e.line} (${e.text}): ${e.message.split('\n')[0].replace(/^rules:\d+: /, '')}`);
    throw e;
  }
}
