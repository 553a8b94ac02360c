/*
 * A kube-proxy-sized configuration through the real control socket of a director started with
 * default options (issue 13): `adm -R` of 10,000 services × 5 real servers is applied in
 * seconds, in chunks that let the event loop run (forwarding, timers) between them, and lists
 * back in full; 100,000 dest lines for one service load up to the dest ceiling (65,535: dest
 * indices are u16 in conns and scheduler tables) and every line past it fails with ipvsadm's
 * message plus the table's. The times are printed (docs/adm.md quotes them).
 */
import { afterEach, describe, expect, test } from 'vitest';
import { director, type Director } from './helpers.ts';

let d: Director | undefined;
afterEach(async () => { await d?.stop(); d = undefined; });

const vip = (i: number) => `198.18.${100 + (i >> 8)}.${i & 255}`;
const rs = (i: number, j: number) => `198.19.${(i * 5 + j) >> 8 & 255}.${(i * 5 + j) & 255}`;

/** Run `f` while a 1 ms interval counts the event-loop turns it gets (a stalled loop counts none). */
async function turnsDuring<T>(f: () => Promise<T>): Promise<{ value: T; turns: number; ms: number }> {
  let turns = 0;
  const t = setInterval(() => { turns++; }, 1);
  const t0 = performance.now();
  try { const value = await f(); return { value, turns, ms: performance.now() - t0 }; } finally { clearInterval(t); }
}

describe('restore at scale, default limits', () => {
  test('10,000 services × 5 real servers: -R in seconds, yielding between chunks; -L -n lists all 60,003 lines', async () => {
    d = await director({ cfg: { connMax: undefined } });
    const lines: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      lines.push(`-A -t ${vip(i)}:80 -s wlc`);
      for (let j = 0; j < 5; j++) lines.push(`-a -t ${vip(i)}:80 -r ${rs(i, j)}:8080 -m -w ${j + 1}`);
    }
    const r = await turnsDuring(() => d!.adm('-R', lines.join('\n') + '\n'));
    console.log(`adm -R of 10,000 services × 5 dests (60,000 lines): ${(r.ms / 1000).toFixed(2)} s, ${r.turns} event-loop turns meanwhile`);
    expect(r.value).toEqual({ stdout: '', stderr: '', rc: 0 });
    expect(r.ms).toBeLessThan(60_000);
    expect(r.turns).toBeGreaterThan(60_000 / 512 / 2);   // the loop ran between (most) chunks
    const t0 = performance.now();
    const l = await d.adm('-L -n');
    console.log(`adm -L -n of 60,000 records: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    expect(l.rc).toBe(0);
    const out = l.stdout.split('\n').filter(Boolean);
    expect(out).toHaveLength(3 + 10_000 + 50_000);
    expect(out[0]).toBe('IP Virtual Server version 1.2.1 (size=4096)');
    // ipvsadm lists a service's dests sorted by address (ipvs_sort_dests)
    const at = out.indexOf(`TCP  ${vip(7777)}:80 wlc`);
    expect(out.slice(at, at + 6)).toEqual([
      `TCP  ${vip(7777)}:80 wlc`,
      ...[0, 1, 2, 3, 4].map((j) => `  -> ${rs(7777, j)}:8080`.padEnd(33) + ` Masq    ${j + 1}      0          0         `),
    ]);
    expect(d.e.capacity('svc')).toBeGreaterThanOrEqual(10_000);
    expect(d.e.capacity('dest')).toBeGreaterThanOrEqual(50_000);
  }, 180_000);

  test('100,000 dest lines for one service: 65,535 load, the rest fail line by line with the table named; rc of the last line', async () => {
    d = await director({ cfg: { connMax: undefined } });
    const lines = ['-A -t 198.18.0.100:80 -s rr'];
    for (let k = 0; k < 100_000; k++) lines.push(`-a -t 198.18.0.100:80 -r 198.${20 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}:80 -m`);
    const r = await turnsDuring(() => d!.adm('-R', lines.join('\n') + '\n'));
    console.log(`adm -R of 100,000 dest lines for one service: ${(r.ms / 1000).toFixed(2)} s, ${r.turns} event-loop turns meanwhile`);
    expect(r.ms).toBeLessThan(60_000);
    expect(r.value.rc).toBe(255);
    const err = r.value.stderr.split('\n').filter(Boolean);
    expect(err).toHaveLength(2 * (100_000 - 65_535));
    expect(err.slice(0, 2)).toEqual(['No space left on device', 'wasmvs: dest table full (65535 dests; 65535 is the most wasmvs can hold)']);
    const l = await d.adm('-L -n');
    expect(l.stdout.split('\n').filter(Boolean)).toHaveLength(3 + 1 + 65_535);
  }, 180_000);

  test('a dest table at its limit: ipvsadm\'s message, then the table and the option, and the director is told', async () => {
    const told: string[] = [];
    const { EngineBackend } = await import('../../host/control/backend.ts');
    const { engine } = await import('../helpers/engine.ts');
    const e = await engine({ destMax: 3 });
    d = await director({ backend: new EngineBackend(e, { onLimit: (t) => told.push(t) }) });
    const r = await d.adm('-R', '-A -t 198.18.0.100:80\n' + [1, 2, 3, 4].map((k) => `-a -t 198.18.0.100:80 -r 198.18.1.${k}:80\n`).join(''));
    expect(r).toEqual({ stdout: '', stderr: 'No space left on device\nwasmvs: dest table full (3 dests; raise --dest-max)\n', rc: 255 });
    expect(told).toEqual(['dest table full (3 dests; raise --dest-max)']);
  });
});
