// No import cycles among the engine's and the host's files (issue 14): a cycle ties files so
// that none can be read, tested or moved alone, and it hides which one owns a function. This
// test parses every import of assembly/ and host/ (static, re-exports and dynamic import())
// and fails with the cycle spelled out file by file.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative imports of one file, resolved to files (AssemblyScript omits the extension). */
export function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const specs = [...src.matchAll(/\b(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)].map((m) => m[1]!);
  const out: string[] = [];
  for (const s of specs) {
    const base = join(dirname(file), s);
    const hit = [base, `${base}.ts`, base.replace(/\.js$/, '.ts'), join(base, 'index.ts')].find((p) => existsSync(p) && statSync(p).isFile());
    if (hit && !out.includes(hit)) out.push(hit);
  }
  return out;
}

/** Every elementary cycle's shortest witness, found by a DFS from each file (graph is small). */
export function findCycles(files: string[]): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const cycles: string[][] = [];
  const seenKey = new Set<string>();
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 1);
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (!graph.has(g)) continue;
      if (state.get(g) === 1) {
        const cyc = stack.slice(stack.indexOf(g));
        const key = [...cyc].sort().join('|');
        if (!seenKey.has(key)) { seenKey.add(key); cycles.push([...cyc, g]); }
      } else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return cycles;
}

for (const dir of ['assembly', 'host']) {
  test(`${dir}/ has no import cycles`, () => {
    const files = walk(join(root, dir));
    expect(files.length).toBeGreaterThan(10);
    const cycles = findCycles(files).map((c) => c.map((f) => relative(root, f)).join(' -> '));
    expect(cycles, `import cycles:\n${cycles.join('\n')}`).toEqual([]);
  });
}

test('the cycle finder finds a cycle', () => {
  // A real cycle among this repo's files would be the only other witness; build one from two
  // fixture names instead so the finder itself is shown to work.
  const a = join(root, 'test/unit/fixtures/cycle-a.ts');
  const b = join(root, 'test/unit/fixtures/cycle-b.ts');
  expect(findCycles([a, b]).map((c) => c.map((f) => relative(root, f)))).toEqual([[
    'test/unit/fixtures/cycle-a.ts', 'test/unit/fixtures/cycle-b.ts', 'test/unit/fixtures/cycle-a.ts']]);
});

test('the engine wrapper takes nothing from host/rules/ (the rules depend on it, not the other way)', () => {
  const seen = new Set<string>();
  const todo = [join(root, 'host/engine.ts')];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...importsOf(f));
  }
  expect([...seen].map((f) => relative(root, f)).filter((f) => f.startsWith('host/rules/'))).toEqual([]);
});
