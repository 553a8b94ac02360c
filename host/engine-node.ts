/*
 * host/engine-node.ts - Node-side loading of the engine module (reads wasm/*.wasm).
 * Everything else about the engine is in host/engine.ts, which has no Node imports.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { Engine, type EngineConfig } from './engine.ts';
import { WvsError } from './errors.ts';

/** Repo root, whether running from host/ (sources) or dist/host/ (compiled). */
export function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.endsWith(join('dist', 'host')) ? join(here, '..', '..') : join(here, '..');
}

const cache = new Map<string, WebAssembly.Module>();

/** release / debug: the plain engine; mt: the shared-memory build for worker threads (docs/workers.md). */
export function engineModule(target: 'release' | 'debug' | 'mt' = 'release'): WebAssembly.Module {
  let m = cache.get(target);
  if (!m) {
    const file = join(repoRoot(), 'wasm', `${target}.wasm`);
    let bytes: Buffer;
    try { bytes = readFileSync(file); } catch {
      throw new WvsError('WVS_ERR_NO_ENGINE', `engine module ${file} is missing: run "npm run build" (npm install does it)`);
    }
    m = new WebAssembly.Module(new Uint8Array(bytes));
    cache.set(target, m);
  }
  return m;
}

export function loadEngine(config: EngineConfig = {}, target: 'release' | 'debug' | 'mt' = 'release'): Promise<Engine> {
  // several workers need the shared-memory build
  return Engine.create(engineModule((config.workers ?? 1) > 1 && target === 'release' ? 'mt' : target), config);
}
