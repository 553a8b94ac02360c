#!/usr/bin/env node
// host/web/build.mjs - build the browser replay page into dist/web (npm run build:web).
//   dist/web/index.html   the page          dist/web/replay.js  page script (bundle of host/web/replay.ts)
//   dist/web/worker.js    the replay Worker dist/web/engine.wasm wasm/release.wasm
//   dist/web/examples/    demo.pcap + demo.rules (generated against the engine, host/replay/demo.ts)
// Bundler: rolldown (already installed with vite); it strips TypeScript itself.
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import { rolldown } from 'rolldown';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = process.argv[2] ? resolve(process.argv[2]) : join(root, 'dist', 'web');
const wasm = join(root, 'wasm', 'release.wasm');
if (!existsSync(wasm)) {
  console.error(`build:web: ${wasm} is missing: run "npm run build:wasm" first`);
  process.exit(1);
}

async function bundle(input, file, platform = 'browser') {
  const b = await rolldown({ input: join(root, input), platform, logLevel: 'warn' });
  await b.write({ file, format: 'esm', sourcemap: platform === 'browser', codeSplitting: false });
  await b.close();
}

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'examples'), { recursive: true });
await bundle('host/web/replay.ts', join(out, 'replay.js'));
await bundle('host/web/worker.ts', join(out, 'worker.js'));
copyFileSync(join(root, 'host', 'web', 'index.html'), join(out, 'index.html'));
copyFileSync(wasm, join(out, 'engine.wasm'));

// the bundled example, made by the same engine the page runs
const tmp = join(out, '.demo.mjs');
await bundle('host/replay/demo.ts', tmp, 'node');
const demo = await import(pathToFileURL(tmp).href);
writeFileSync(join(out, 'examples', 'demo.pcap'), await demo.buildDemoCapture(new Uint8Array(readFileSync(wasm))));
writeFileSync(join(out, 'examples', 'demo.rules'), demo.DEMO_RULES);
rmSync(tmp, { force: true });
rmSync(tmp + '.map', { force: true });
console.log(`build:web: ${out}`);
