/*
 * The edge embedding in a realm that has only Web APIs (issue 8).
 *
 * host/web/edge-example.ts (engine, rules parser, conn records) is bundled with rolldown into
 * one IIFE script and run with vm.runInNewContext in a fresh context whose global holds
 * nothing but the ECMAScript built-ins of that realm plus WebAssembly, TextEncoder,
 * TextDecoder, URL and console: no process, require, Buffer, fetch, module, setTimeout. The
 * script gets the engine's bytes and the rules, and answers which real server it picks for
 * SYNs of several 5-tuples on an sh service and an mh service (with mh-port); the full engine
 * (host/engine-node.ts) on the same rules and packets must pick the same servers.
 *
 * The same is done with the compiled dist/host/engine.js, which the package's "./engine"
 * export is meant to point at (skipped with the reason when dist/ is not built).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import vm from 'node:vm';
import { describe, expect, test } from 'vitest';
import { rolldown } from 'rolldown';
import { loadEngine, repoRoot } from '../../host/engine-node.ts';
import { applyRules } from '../../host/replay/rules.ts';
import { ip, fields } from '../helpers/pkt.ts';

const ROOT = repoRoot();
const WASM = new Uint8Array(readFileSync(join(ROOT, 'wasm', 'release.wasm')));
const RULES = [
  '-A -t 198.18.0.100:80 -s sh',
  ...[1, 2, 3, 4, 5].map((n) => `-a -t 198.18.0.100:80 -r 198.18.1.${n}:8080 -m -w ${n}`),
  '-A -t 198.18.0.101:443 -s mh -b mh-port',
  ...[1, 2, 3, 4, 5, 6, 7].map((n) => `-a -t 198.18.0.101:443 -r 198.18.1.${10 + n}:8443 -m -w 1`),
].join('\n') + '\n';
/** 5-tuples: 24 clients × both services */
const TUPLES = Array.from({ length: 24 }, (_, i) => ({ src: `198.19.${i >> 3}.${(i * 37) % 250 + 1}`, sport: 30000 + i * 101 }))
  .flatMap((c) => [{ ...c, dst: '198.18.0.100', dport: 80 }, { ...c, dst: '198.18.0.101', dport: 443 }]);
const PACKETS = TUPLES.map((t) => ip(t.src, t.dst, { proto: 'tcp', sport: t.sport, dport: t.dport, flags: 'S' }));

async function bundle(input: string, name: string): Promise<string> {
  const b = await rolldown({ input, platform: 'browser', logLevel: 'silent' });
  const { output } = await b.generate({ format: 'iife', name, codeSplitting: false } as any);
  await b.close();
  return output[0].code;
}

/** A realm with Web APIs only. */
function webRealm(extra: Record<string, unknown>): vm.Context {
  const g: Record<string, unknown> = { WebAssembly, TextEncoder, TextDecoder, URL, console, ...extra };
  const ctx = vm.createContext(g);
  // the realm's own globals: nothing Node-specific leaks in
  expect(vm.runInContext('[typeof process, typeof require, typeof Buffer, typeof fetch, typeof module, typeof setTimeout, typeof globalThis.global].join()', ctx))
    .toBe('undefined,undefined,undefined,undefined,undefined,undefined,undefined');
  return ctx;
}

/** What the full engine picks: "addr:port" of each SYN's destination after DNAT. */
async function fullEngine(): Promise<string[]> {
  const e = await loadEngine({ connMax: 1 << 14, slots: 1, slotSize: 65536 + 256, headroom: 256 });
  applyRules(e, RULES);
  return PACKETS.map((p) => {
    const r = e.processFrame(p, 1000);
    expect(r.verdict).toBe('XMIT');
    const f = fields(r.data);
    return `${f.dst}:${f.dport}`;
  });
}

describe('edge entry in a Web-API-only vm context', () => {
  test('edge-example bundle: same servers as the full engine for sh and mh (mh-port)', async () => {
    const code = await bundle(join(ROOT, 'host', 'web', 'edge-example.ts'), 'WasmvsEdge');
    expect(code).not.toMatch(/\brequire\(|\bprocess\.|\bBuffer\./);
    const ctx = webRealm({ WASM, RULES, PACKETS });
    vm.runInContext(code, ctx, { filename: 'edge-example.iife.js', timeout: 10_000 });
    const picks = await (vm.runInContext(`(async () => {
      const lb = await WasmvsEdge.createBalancer(WASM, RULES);
      return PACKETS.map((p) => { const d = lb.decide(p, 1000); return d.verdict + ' ' + d.state + ' ' + d.rs; });
    })()`, ctx, { timeout: 10_000 }) as Promise<string[]>);
    const want = await fullEngine();
    expect(picks).toEqual(want.map((rs) => `XMIT SYN_RECV ${rs}`));
    // the tuples reach several servers of each service (the comparison is not trivial)
    expect(new Set(want.filter((x) => x.endsWith(':8080'))).size).toBeGreaterThanOrEqual(3);
    expect(new Set(want.filter((x) => x.endsWith(':8443'))).size).toBeGreaterThanOrEqual(4);
  });

  const dist = join(ROOT, 'dist', 'host', 'engine.js');
  test.skipIf(!existsSync(dist))(`compiled dist/host/engine.js (the "./engine" export) runs there too${existsSync(dist) ? '' : ' [skipped: dist/ not built, run npm run build:host]'}`, async () => {
    const code = await bundle(dist, 'WasmvsEngine');
    const ctx = webRealm({ WASM, PACKETS, TUPLES });
    vm.runInContext(code, ctx, { filename: 'engine.iife.js', timeout: 10_000 });
    const picks = await (vm.runInContext(`(async () => {
      const e = await WasmvsEngine.Engine.create(WASM, { connMax: 1 << 14, slots: 1, slotSize: 65536 + 256, headroom: 256 });
      const a = { proto: 'TCP', addr: '198.18.0.100', port: 80 }, b = { proto: 'TCP', addr: '198.18.0.101', port: 443 };
      e.addService({ ...a, sched: 'sh', flags: 0x2 });
      for (const n of [1, 2, 3, 4, 5]) e.addDest(a, { addr: '198.18.1.' + n, port: 8080, weight: n, fwd: 'Masq' });
      e.addService({ ...b, sched: 'mh', flags: 0x2 | 0x10 });
      for (const n of [1, 2, 3, 4, 5, 6, 7]) e.addDest(b, { addr: '198.18.1.' + (10 + n), port: 8443, weight: 1, fwd: 'Masq' });
      return PACKETS.map((p) => { const r = e.processFrame(p, 1000); return r.data[16] + '.' + r.data[17] + '.' + r.data[18] + '.' + r.data[19] + ':' + ((r.data[22] << 8) | r.data[23]); });
    })()`, ctx, { timeout: 10_000 }) as Promise<string[]>);
    expect(picks).toEqual(await fullEngine());
  });
});
