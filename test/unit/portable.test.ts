// What must run in browsers and edge runtimes imports no Node modules and touches no Node
// globals: the engine wrapper and everything it pulls in, the pcap codec, the replay core, the
// ipvsadm rules, the web page. tsconfig includes @types/node for the whole repo, so the
// compiler cannot enforce this; this test follows every relative import from these roots.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const ROOTS = ['host/engine.ts', 'host/replay/replay.ts', 'host/web/replay.ts', 'host/web/worker.ts', 'host/web/edge-example.ts',
  'host/packet-builder.ts', 'host/pcap/read.ts', 'host/pcap/write.ts', 'host/pcap/link.ts', 'host/rules/parse.ts',
  'host/rules/format.ts', 'host/rules/adm.ts'].filter((f) => existsSync(join(root, f)));
const ALLOWED_PACKAGES = ['@assemblyscript/loader'];

function closure(): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const todo = [...ROOTS.map((f) => join(root, f))];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    const src = readFileSync(f, 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    const specs = [...src.matchAll(/\bfrom\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]/g)].map((m) => m[1] ?? m[2]!);
    seen.set(f, specs);
    for (const s of specs) if (s.startsWith('.')) todo.push(join(dirname(f), s));
  }
  return seen;
}

const files = [...closure()];
test.each(files.map(([f, specs]) => [relative(root, f), f, specs] as const))('%s imports nothing from Node', (_rel, f, specs) => {
  for (const s of specs) {
    if (s.startsWith('.')) expect(s, `${f} imports ${s}`).toMatch(/\.ts$/);
    else expect(ALLOWED_PACKAGES, `${f} imports ${s}`).toContain(s);
  }
  const src = readFileSync(f, 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '').replace(/'[^'\n]*'|"[^"\n]*"|`[^`]*`/g, "''");
  expect(src, f).not.toMatch(/\b(require|Buffer|__dirname|__filename|setImmediate)\b|\bprocess\.|\bnode:/);
});
test('the roots are covered', () => { expect(files.length).toBeGreaterThanOrEqual(ROOTS.length); });
