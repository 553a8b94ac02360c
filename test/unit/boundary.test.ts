// One source of truth across the WASM boundary (issue 14): the engine module exports its enums
// and slot-meta offsets; the TypeScript wrapper's names for them (host/engine.ts, host/errors.ts)
// and the C addon's slot-meta offsets (host/native/tun.c) must agree with those exports, value
// by value. The wrapper also refuses to load a module that disagrees.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { loadEngine, repoRoot } from '../../host/engine-node.ts';
import { engineEnums, enumMismatches, Verdict } from '../../host/engine.ts';

async function engineGlobals(): Promise<Record<string, number>> {
  const e = await loadEngine({});
  const c: Record<string, number> = {};
  for (const [k, v] of Object.entries(e.ex)) if (v instanceof WebAssembly.Global) c[k] = Number(v.value);
  return c;
}

test('every enum value the wrapper uses is the engine export of the same name', async () => {
  const c = await engineGlobals();
  const missing = engineEnums().filter(([, , e]) => !(e in c)).map(([, , e]) => e);
  expect(missing).toEqual([]);
  expect(enumMismatches(c)).toEqual([]);
  expect(engineEnums().length).toBeGreaterThan(60);
});

test('a drifted value is named, not ignored', async () => {
  const c = await engineGlobals();
  expect(enumMismatches({ ...c, V_PASS: 9, SET_NO_TOA: 0x4000 })).toEqual([
    `Verdict.PASS = ${Verdict.PASS}, engine V_PASS = 9`, 'Setting.noToa = 1024, engine SET_NO_TOA = 16384']);
});

test('the TUN addon reads the slot meta at the engine\'s offsets', async () => {
  const c = await engineGlobals();
  const src = readFileSync(`${repoRoot()}/host/native/tun.c`, 'utf8');
  const def = (n: string) => Number(new RegExp(`#define\\s+${n}\\s+(\\d+)`).exec(src)?.[1]);
  expect({ off: def('META_OFF'), len: def('META_LEN'), verdict: def('META_VERDICT') })
    .toEqual({ off: c.SLOT_OFF, len: c.SLOT_LEN, verdict: c.SLOT_VERDICT });
  // and the smallest stride it accepts covers the fields it reads (verdict: one byte)
  expect(Number(/metaStride must be >= (\d+)/.exec(src.slice(src.indexOf('writeBatch(')))?.[1])).toBe(c.SLOT_VERDICT + 1);
});
