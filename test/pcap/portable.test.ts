// host/pcap must run in browsers and edge runtimes: no Node modules or globals. tsconfig
// includes @types/node for the whole repo, so the compiler cannot enforce this; this test does.

import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const dir = fileURLToPath(new URL('../../host/pcap/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));

test.each(files)('%s uses no Node APIs', (f) => {
  const src = readFileSync(dir + f, 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
  for (const m of src.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'/g)) {
    const spec = m[1] ?? m[2]!;
    expect(spec, `${f} imports ${spec}`).toMatch(/^\.\/[\w-]+\.ts$/);
  }
  expect(src).not.toMatch(/\b(require|Buffer|process|__dirname|__filename|setImmediate)\b/);
});
