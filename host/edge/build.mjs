#!/usr/bin/env node
// host/edge/build.mjs - build the edge runtime module (npm run build:edge):
//   dist/edge/wasmvs-edge.js   host/edge/balancer.ts (and the Engine it re-exports) as one ES
//                              module with no imports, for workerd's config, Deno and Bun
// Bundler: rolldown (already installed with vite), as host/web/build.mjs.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const file = join(root, 'dist', 'edge', 'wasmvs-edge.js');
mkdirSync(dirname(file), { recursive: true });
const b = await rolldown({ input: join(root, 'host', 'edge', 'balancer.ts'), platform: 'neutral', logLevel: 'warn' });
await b.write({ file, format: 'esm', sourcemap: false, codeSplitting: false });
await b.close();
console.log(`build:edge: ${file}`);
