// The engine's memory on huge pages (host/native/mem.c through loadEngine): the kernel really
// backs it with 2 MiB pages (the process's AnonHugePages grows by about the table), both for the
// plain and the shared-memory build, again after a grow; WASMVS_HUGE_PAGES=off and a small
// buffer behave. Needs the addon (npm install builds it) and THP not "never" (the kernel's setting).

import { describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tun from '../../host/native/tun.ts';
import { loadEngine, repoRoot } from '../../host/engine-node.ts';

const THP = '/sys/kernel/mm/transparent_hugepage/enabled';
const skip = !tun.tunAvailable() ? 'the TUN addon is not built'
  : !existsSync(THP) ? `no ${THP}: this kernel has no transparent huge pages`
  : /\[never\]/.test(readFileSync(THP, 'utf8')) ? `${THP} is "never" (the machine's choice)` : null;
if (skip) console.warn(`[test/native] huge pages tests skipped: ${skip}`);

/** The process's anonymous memory on huge pages, KiB. */
const hugeKiB = () => Number(/AnonHugePages:\s+(\d+) kB/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))![1]);

describe.skipIf(skip !== null)('engine memory on huge pages', () => {
  test.each(['release', 'mt'] as const)('%s: a 256K-conn table (~35 MiB) is on 2 MiB pages; a grow advises the new part too', async (target) => {
    const before = hugeKiB();
    const e = await loadEngine({ connMax: 1 << 19, connInit: 1 << 18, slots: 64, workers: target === 'mt' ? 2 : 1 }, target);
    const mib = Number(/^huge pages: (\d+) MiB of engine memory on 2 MiB pages/.exec(e.memoryNote)?.[1]);
    expect(mib, e.memoryNote).toBeGreaterThanOrEqual(30);
    // the kernel granted them (khugepaged is not involved: MADV_COLLAPSE ran in the call)
    expect(hugeKiB() - before).toBeGreaterThanOrEqual(30 * 1024);
    const mid = hugeKiB();
    expect(e.grow('conn')).toBe(true);
    expect(Number(/^huge pages: (\d+) MiB/.exec(e.memoryNote)?.[1])).toBeGreaterThan(mib + 20);
    expect(hugeKiB() - mid).toBeGreaterThanOrEqual(20 * 1024);
  });

  test('WASMVS_HUGE_PAGES=off leaves the memory on 4 KiB pages and says so', () => {
    // the built loader (npm test builds dist/ first), in a process of its own: the variable is read per call
    const script = `import { loadEngine } from ${JSON.stringify(join(repoRoot(), 'dist', 'host', 'engine-node.js'))};
      import { readFileSync } from 'node:fs';
      const e = await loadEngine({ connMax: 1 << 18, connInit: 1 << 18, slots: 64 });
      console.log(e.memoryNote + '|' + /AnonHugePages:\\s+(\\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))[1]);`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script],
      { env: { ...process.env, WASMVS_HUGE_PAGES: 'off' }, encoding: 'utf8', timeout: 30_000 }).trim();
    expect(out).toBe('huge pages: off (WASMVS_HUGE_PAGES=off)|0');
  });

  test('a buffer holding no whole 2 MiB page advises nothing', () => {
    expect(tun.adviseHugePages(new ArrayBuffer(3 << 20))).toMatch(/^huge pages: [01] MiB of engine memory/);
    expect(tun.adviseHugePages(new ArrayBuffer(4096))).toBe('huge pages: 0 MiB of engine memory on 2 MiB pages (MADV_HUGEPAGE + MADV_COLLAPSE)');
  });
});
