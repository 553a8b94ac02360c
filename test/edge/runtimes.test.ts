/*
 * npm run test:edge inside npm test, so it cannot rot: the edge examples in real workerd, Deno
 * and Bun (their npm packages' binaries), every choice compared with the Node engine
 * (test/edge/run.ts). Needs dist/edge/wasmvs-edge.js (npm test builds it first); a runtime that
 * does not start fails the test.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { repoRoot } from '../../host/engine-node.ts';
import { runEdge, RUNTIMES, SCENARIOS } from './run.ts';

test('workerd, Deno and Bun choose every upstream as the Node engine does', async () => {
  const bundle = join(repoRoot(), 'dist', 'edge', 'wasmvs-edge.js');
  expect(existsSync(bundle), `${bundle} is missing: run "npm run build" (npm test does)`).toBe(true);
  const lines: string[] = [];
  const { total, results, line } = await runEdge(600, (s) => lines.push(s));
  expect(results.map((r) => r.name)).toEqual(['workerd', 'deno', 'bun']);
  expect(total).toBe(RUNTIMES.length * SCENARIOS.length * 600);
  for (const r of results) expect(r.perUpstream.every((n) => n > 0)).toBe(true);
  expect(line).toBe(`edge: workerd, deno, bun: same choices as Node on ${total} requests`);
  expect(lines.at(-1)).toBe(line);
}, 240_000);
