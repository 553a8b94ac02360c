/*
 * wasmvs/edge (host/edge/balancer.ts) in Node: what the runtimes' test (test/edge/run.ts,
 * runtimes.test.ts) does not reach: bad input answered clearly, the admin request's guards, a
 * service with no available upstream, IPv4-mapped peers, and the conn table's bound (each
 * request is a SYN_RECV conn until its timeout; a full table is a counted drop and a 503).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { createBalancer, balancerRules, type BalancerConfig } from '../../host/edge/balancer.ts';
import { repoRoot } from '../../host/engine-node.ts';

const WASM = new Uint8Array(readFileSync(join(repoRoot(), 'wasm', 'release.wasm')));
const cfg = (over: Partial<BalancerConfig> = {}): BalancerConfig => ({
  sched: 'mh', clientHeader: 'x-client-addr', adminToken: 'tok',
  upstreams: [1, 2, 3].map((n) => ({ url: `http://upstream-${n}.example/`, weight: 1 })), ...over,
});

describe('edge balancer', () => {
  test('the rules it applies are the ipvsadm-restore text of the config', () => {
    expect(balancerRules(cfg({ sched: 'sh', schedFlags: 'sh-fallback', upstreams: [{ url: 'http://a/', weight: 2 }, { url: 'http://b/' }] }))).toBe([
      '-A -t 198.18.0.1:80 -s sh -b sh-fallback',
      '-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 2',
      '-a -t 198.18.0.1:80 -r 198.18.1.2:80 -m -w 1',
      '-A -t [2001:2::1]:80 -s sh -b sh-fallback',
      '-a -t [2001:2::1]:80 -r [2001:2::1:1]:80 -m -w 2',
      '-a -t [2001:2::1]:80 -r [2001:2::1:2]:80 -m -w 1',
    ].join('\n') + '\n');
  });

  test('bad configuration: clear errors', async () => {
    await expect(createBalancer(WASM, cfg({ upstreams: [] }))).rejects.toThrow(/at least one/);
    await expect(createBalancer(WASM, cfg({ upstreams: [{ url: 'not a url' }] }))).rejects.toThrow(/upstreams\[0\]\.url is not a URL/);
    await expect(createBalancer(WASM, cfg({ sched: 'nope' }))).rejects.toThrow(/rules line 1/);
    await expect(createBalancer(WASM, cfg({ sched: 'mh', schedFlags: 'sh-port' }))).rejects.toThrow(/incompatible scheduler flag/);
    await expect(createBalancer(WASM, '{"upstreams": ')).rejects.toThrow(SyntaxError);
  });

  test('an IPv4-mapped peer is its IPv4 client; a bad address is a WvsError; ports count up per request', async () => {
    const lb = await createBalancer(WASM, cfg());
    const a = lb.pick('198.19.3.4'), b = lb.pick('::ffff:198.19.3.4'), c = lb.pick('[2001:2:0:1::9]');
    expect([a.port, b.port, c.port]).toEqual([1024, 1025, 1026]);
    expect(b.index).toBe(a.index);
    expect(c.verdict).toBe('XMIT');
    expect(() => lb.pick('198.19.3')).not.toThrow(); // inet_aton form, as ipvsadm accepts it
    expect(() => lb.pick('999.1.1.1')).toThrow(expect.objectContaining({ code: 'WVS_ERR_ADDR' }));
  });

  test('every upstream quiesced: no server, the engine verdict and a 503 that says so', async () => {
    const lb = await createBalancer(WASM, cfg({ upstreams: [{ url: 'http://a/', weight: 0 }] }));
    const p = lb.pick('198.19.0.1');
    expect(p).toMatchObject({ index: -1, upstream: undefined });
    expect(p.verdict).not.toBe('XMIT');
    const r = await lb.fetch(new Request('http://lb/x', { headers: { 'x-client-addr': '198.19.0.1' } }));
    expect(r.status).toBe(503);
    expect(await r.text()).toMatch(/^wasmvs: no upstream available \(engine verdict /);
  });

  test('fetch: no client address, bad client address, admin guards', async () => {
    const lb = await createBalancer(WASM, cfg());
    const r1 = await lb.fetch(new Request('http://lb/x'));
    expect([r1.status, await r1.text()]).toEqual([400, 'wasmvs: no client address (header x-client-addr missing and no peer address)\n']);
    const r2 = await lb.fetch(new Request('http://lb/x', { headers: { 'x-client-addr': 'zz' } }));
    expect([r2.status, await r2.text()]).toEqual([400, 'wasmvs: client address: bad address: zz\n']);
    const put = (q: string, auth = 'Bearer tok', method = 'PUT') => lb.fetch(new Request(`http://lb/_wasmvs/weight?${q}`, { method, headers: { authorization: auth } }));
    expect((await put('upstream=1&weight=0', 'Bearer wrong')).status).toBe(403);
    expect((await put('upstream=1&weight=0', 'Bearer tok', 'GET')).status).toBe(405);
    const r3 = await put('upstream=7&weight=0');
    expect([r3.status, await r3.text()]).toEqual([400, 'wasmvs: edge balancer: no upstream 7 (0..2)\n']);
    const r4 = await put('upstream=1&weight=0');
    expect([r4.status, await r4.text()]).toEqual([200, '[1,0,1]\n']);
    expect(lb.engine.services().map((sv) => sv.dests.map((d) => d.weight))).toEqual([[1, 0, 1], [1, 0, 1]]);
    const noAdmin = await createBalancer(WASM, cfg({ adminToken: undefined }));
    expect((await noAdmin.fetch(new Request('http://lb/_wasmvs/weight?upstream=0&weight=0', { method: 'PUT', headers: { authorization: 'Bearer ' } }))).status).toBe(403);
  });

  test('each request is a SYN_RECV conn until the SYN_RECV timeout; a full table is a 503 naming the counter', async () => {
    const lb = await createBalancer(WASM, cfg({ connMax: 64 }));
    for (let i = 0; i < 64; i++) expect(lb.pick(`198.19.1.${i + 1}`, 1000 + i).verdict).toBe('XMIT');
    const conns = lb.engine.conns();
    expect(conns).toHaveLength(64);
    expect(new Set(conns.map((c) => c.state))).toEqual(new Set(['SYN_RECV']));
    const full = lb.pick('198.19.2.1', 2000);
    expect(full).toMatchObject({ index: -1, verdict: 'DROP' });
    expect(full.reason).toMatch(/^[a-z_]+$/);
    expect(lb.engine.counters()[full.reason]).toBe(1n);
    // a SYN_RECV timeout (60 s) after the first ones, the next request's tick has expired them
    const later = lb.pick('198.19.2.3', 1000 + lb.engine.stateTimeout('TCP', 'SYN_RECV') + 100);
    expect(later.verdict).toBe('XMIT');
    expect(lb.engine.conns()).toHaveLength(1);
    // the fetch handler (on the runtime's clock) says which counter
    const lb2 = await createBalancer(WASM, cfg({ connMax: 64 }));
    for (let i = 0; i < 64; i++) lb2.pick(`198.19.1.${i + 1}`);
    const r = await lb2.fetch(new Request('http://lb/x', { headers: { 'x-client-addr': '198.19.2.2' } }));
    expect([r.status, await r.text()]).toEqual([503, `wasmvs: no upstream available (engine verdict DROP, counter ${full.reason})\n`]);
  });
});
