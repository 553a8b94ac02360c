/*
 * wasmvs/edge (host/edge/balancer.ts) in Node: what the runtimes' test (test/edge/run.ts,
 * runtimes.test.ts) does not reach: bad input answered clearly, the admin request's guards, a
 * service with no available upstream, IPv4-mapped peers, and a conn table that stays empty
 * (each request is a datagram on a one-packet service).
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
      '-A -u 198.18.0.1:80 -s sh -b sh-fallback -o',
      '-a -u 198.18.0.1:80 -r 198.18.1.1:80 -m -w 2',
      '-a -u 198.18.0.1:80 -r 198.18.1.2:80 -m -w 1',
      '-A -u [2001:2::1]:80 -s sh -b sh-fallback -o',
      '-a -u [2001:2::1]:80 -r [2001:2::1:1]:80 -m -w 2',
      '-a -u [2001:2::1]:80 -r [2001:2::1:2]:80 -m -w 1',
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

  test('no conn is kept (one-packet scheduling): any number of requests, an empty table', async () => {
    const lb = await createBalancer(WASM, cfg());
    for (let i = 0; i < 5000; i++) expect(lb.pick(`198.19.${i >> 8}.${i & 255}`, 1000).verdict).toBe('XMIT');
    expect(lb.engine.conns()).toEqual([]);
    const c = lb.engine.counters();
    expect([c.conn_created, c.drop_conn_table_full]).toEqual([5000n, 0n]);
  });
});
