// The engine's shape (issue 14), held by its sources: byte order is swapped only in
// assembly/packet/bytes.ts (ARCHITECTURE.md), and the packet being processed lives in the
// per-worker packet record (layout.ts PKT_*), not in module globals a second worker would share.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const code = (f: string) => readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
function walk(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p, out); else if (n.endsWith('.ts')) out.push(p);
  }
  return out;
}
const engineFiles = walk(join(root, 'assembly'));

test('byte swaps only in assembly/packet/bytes.ts', () => {
  const swapping = engineFiles.filter((f) => /\bbswap\s*</.test(code(f))).map((f) => relative(root, f));
  expect(swapping).toEqual(['assembly/packet/bytes.ts']);
});

// Module globals that may stay: none is per-packet state (layout.ts's region bases and sizes are
// set by init; these are set once or by the control plane).
const GLOBALS_ALLOWED: Record<string, string> = {
  'assembly/est.ts': 'the estimator timer\'s next run (control plane, once a second)',
  'assembly/index.ts': 'init() ran',
  'assembly/proto/sctp.ts': 'the CRC32c table was built (once)',
  'assembly/conn/table.ts': 'a sink that keeps the batch prefetch loads from being optimised away (its value is never read)',
  'assembly/hooks.ts': 'the next hook id (control plane)',
};

test('per-packet state keeps no module globals: it is a field of the packet record', () => {
  const withGlobals = engineFiles.filter((f) => !f.endsWith('layout.ts') && /^(export\s+)?let\s+\w+/m.test(code(f)))
    .map((f) => relative(root, f));
  expect(withGlobals.sort()).toEqual(Object.keys(GLOBALS_ALLOWED).sort());
  const layout = code(join(root, 'assembly/layout.ts'));
  // every field inside the record, none overlapping the next (sizes from the comments' types)
  const fields = [...layout.matchAll(/export const (PKT_\w+): u32 = (\d+);/g)].map((m) => [m[1]!, Number(m[2])] as const);
  const size = fields.find(([n]) => n === 'PKT_SIZE')![1];
  expect(size % 64).toBe(0);
  const offs = fields.filter(([n]) => n !== 'PKT_SIZE').map(([, o]) => o).sort((a, b) => a - b);
  expect(new Set(offs).size).toBe(offs.length);
  expect(Math.max(...offs)).toBeLessThan(size);
});
