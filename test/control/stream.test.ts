/*
 * test/control/stream.test.ts - a conn listing never stops forwarding (issue 13): `adm -L -c`
 * streams page by page, the director's batches run between pages, the text is the same as
 * the one-piece listing, the client's memory holds one page, and `| head -1` ends quietly.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { director, type Director } from './helpers.ts';
import { admMain } from '../../host/control/adm-cli.ts';
import { CONN_PAGE } from '../../host/rules/adm.ts';
import { formatConnList } from '../../host/rules/format.ts';
import { ip } from '../helpers/pkt.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'wasmvs.js');
const VIP = '198.18.0.100';
const NOW = 1_000;

let d: Director | undefined;
afterEach(async () => { await d?.stop(); d = undefined; });

/** UDP frames from n distinct client address:port pairs to VIP:53. */
function udpFrames(n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(ip(`198.19.${(i >> 8) & 0xff}.${i & 0xff}`, VIP, { proto: 'udp', sport: 10000 + (i >> 16), dport: 53, payload: new Uint8Array(8) }));
  return out;
}

/** One director batch: up to `slots` frames through the engine at NOW (the same clock as the conns were made at). */
function batch(dd: Director, frames: Uint8Array[], from: number): number {
  const n = Math.min(dd.e.slots, frames.length - from);
  for (let k = 0; k < n; k++) dd.e.writeFrame(k, frames[from + k]);
  dd.e.process(n, NOW);
  return n;
}

async function bigTable(conns: number): Promise<{ dd: Director; frames: Uint8Array[] }> {
  const dd = await director({ cfg: { connMax: conns + 1024, slots: 256 } });
  await dd.adm(['-A', '-u', `${VIP}:53`, '-s', 'rr']);
  await dd.adm(['-a', '-u', `${VIP}:53`, '-r', '198.18.1.1:53', '-m']);
  await dd.adm(['-a', '-u', `${VIP}:53`, '-r', '198.18.1.2:53', '-m']);
  const frames = udpFrames(conns);
  for (let i = 0; i < frames.length;) i += batch(dd, frames, i);
  expect(dd.e.connCount()).toBe(conns);
  return { dd, frames };
}

describe('streamed conn listing', () => {
  test('200k conns: batches run between pages, the text equals the one-piece listing, one page at a time', async () => {
    const N = 200_000;
    const { dd, frames } = await bigTable(N);
    d = dd;
    const want = formatConnList(dd.e.conns(), { numeric: true });
    // the director: a batch of existing flows per event-loop turn (refreshes timers to the same value)
    let batches = 0, at = 0, stop = false;
    const loop = () => { if (stop) return; at = (at + batch(dd, frames, at)) % frames.length; batches++; setImmediate(loop); };
    const chunks: string[] = [];
    let biggest = 0;
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    setImmediate(loop);
    const r = await admMain(['--socket', dd.sock, '-L', '-n', '-c'], {
      stdout: async (t) => { chunks.push(t); biggest = Math.max(biggest, t.length); await new Promise((res) => setImmediate(res)); },
    });
    const ms = performance.now() - t0;
    stop = true;
    const rss1 = process.memoryUsage().rss;
    expect(r, JSON.stringify(r).slice(0, 500)).toEqual({ stdout: '', stderr: '', rc: 0 });
    const got = chunks.join('');
    expect(got.length).toBe(want.length);
    expect(got === want).toBe(true);
    const pages = Math.ceil(N / CONN_PAGE);
    expect(chunks.length).toBeGreaterThanOrEqual(pages);
    // no piece the server sent is larger than a page of lines (about 100 bytes each)
    expect(biggest).toBeLessThan(CONN_PAGE * 120);
    // the loop went on: at least one batch for every other page (the unstreamed listing allows none)
    expect(batches).toBeGreaterThan(pages / 2);
    console.log(`stream: ${N} conns in ${ms.toFixed(0)} ms (${(ms * 1000 / N).toFixed(2)} us/conn), ${chunks.length} pieces, ` +
      `${batches} batches of ${dd.e.slots} frames ran meanwhile; rss ${(rss0 / 2 ** 20).toFixed(0)} -> ${(rss1 / 2 ** 20).toFixed(0)} MiB (client and server in one process)`);
  }, 120_000);

  test('-L and -S of many services stream 64 services a piece, the same text as in one piece', async () => {
    d = await director({ cfg: { svcMax: 512, destMax: 1024 } });
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) {
      const vip = `198.18.${2 + (i >> 8)}.${i & 255}:80`;
      lines.push(`-A -t ${vip} -s wrr`, `-a -t ${vip} -r 198.18.1.1:80 -m -w 2`, `-a -t ${vip} -r 198.18.1.2:80 -m`);
    }
    expect((await d.adm(['-R'], lines.join('\n') + '\n')).rc).toBe(0);
    for (const args of [['-L', '-n'], ['-S', '-n'], ['-L', '-n', '--stats']]) {
      const whole = await d.adm(args);
      let batches = 0, stop = false;
      const loop = () => { if (stop) return; batches++; setImmediate(loop); };
      setImmediate(loop);
      const pieces: string[] = [];
      const r = await admMain(['--socket', d.sock, ...args], { stdout: (t) => { pieces.push(t); } });
      stop = true;
      expect(r.rc).toBe(0);
      expect(pieces.join('')).toBe(whole.stdout);
      expect(pieces.length, args.join(' ')).toBeGreaterThanOrEqual(Math.ceil(300 / 64));
      expect(batches).toBeGreaterThanOrEqual(Math.ceil(300 / 64) / 2);
    }
  }, 60_000);

  test('a listing inside -R is not streamed: no batch runs inside the restore', async () => {
    const { runAdm } = await import('../../host/rules/adm.ts');
    const { EngineBackend } = await import('../../host/control/backend.ts');
    const { engine } = await import('../helpers/engine.ts');
    const be = new EngineBackend(await engine());
    const lines = ['-A -t 198.18.0.100:80 -s rr'];
    for (let i = 1; i <= 100; i++) lines.push(`-a -t 198.18.0.100:80 -r 198.18.1.${i}:80 -m`, '-L -n');
    let running = false, interleaved = false, done = false;
    const imm = () => setImmediate(() => { if (running) interleaved = true; if (!done) imm(); });
    imm();
    await new Promise((r) => setTimeout(r, 5));
    running = true;
    const pieces: string[] = [];
    const r = await runAdm(['-R'], be, { stdin: lines.join('\n') + '\n', write: async (t) => { running = false; pieces.push(t); await new Promise((res) => setImmediate(res)); } });
    running = false; done = true;
    expect(r.rc).toBe(0);
    expect(interleaved).toBe(false);
    expect(pieces).toHaveLength(1);   // the restore's listings, written once it is done
    expect(pieces[0].split('IP Virtual Server version')).toHaveLength(101);
  });

  test('a change sent while a listing streams is applied before the listing ends (listings do not hold the queue)', async () => {
    const { dd } = await bigTable(20_000);
    d = dd;
    let changed = -1;
    let pieces = 0;
    const listing = admMain(['--socket', dd.sock, '-L', '-n', '-c'], {
      stdout: async () => { pieces++; await new Promise((res) => setTimeout(res, 1)); },
    });
    await new Promise((res) => setTimeout(res, 20));
    const add = await dd.adm(['-a', '-u', `${VIP}:53`, '-r', '198.18.1.3:53', '-m']);
    changed = pieces;
    await listing;
    expect(add.rc).toBe(0);
    expect(changed).toBeLessThan(pieces);
  }, 60_000);

  test.skipIf(!existsSync(join(ROOT, 'dist', 'host', 'cli.js')))('`wasmvs adm -L -n -c | head -1` ends quietly, as ipvsadm on SIGPIPE', async () => {
    const { dd } = await bigTable(20_000);
    d = dd;
    // the director runs in this process: the pipeline must run in another one (async spawn keeps the loop free)
    const out = await new Promise<{ stdout: string; stderr: string; status: string }>((resolve) => {
      const p = spawn('bash', ['-c', `set -o pipefail; node ${CLI} adm --socket ${dd.sock} -L -n -c | head -1; echo "rc=$?" >&2`]);
      let so = '', se = '';
      p.stdout.on('data', (c) => { so += c; });
      p.stderr.on('data', (c) => { se += c; });
      p.on('close', (code) => resolve({ stdout: so, stderr: se, status: String(code) }));
    });
    expect(out.stdout).toBe('IPVS connection entries\n');
    expect(out.stderr).toBe('rc=141\n');
  }, 60_000);
});


describe('GET /v1/conns', () => {
  test('the JSON array is written page by page with batches in between; the same records as Engine.conns()', async () => {
    const { controlRequest } = await import('../../host/control/client.ts');
    const { toJson } = await import('../../host/control/server.ts');
    d = await director();
    expect((await controlRequest(d.sock, 'GET', '/v1/conns')).body).toBe('[]\n');
    await d.stop();
    const { dd, frames } = await bigTable(5_000);
    d = dd;
    let batches = 0, at = 0, stop = false;
    const loop = () => { if (stop) return; at = (at + batch(dd, frames, at)) % frames.length; batches++; setImmediate(loop); };
    setImmediate(loop);
    const r = await controlRequest(dd.sock, 'GET', '/v1/conns');
    stop = true;
    expect(r.status).toBe(200);
    // the batches went on meanwhile (packet counters moved): the same conns, in the same order, with the same fields
    const got = JSON.parse(r.body) as Record<string, unknown>[];
    const want = JSON.parse(toJson(dd.e.conns())) as Record<string, unknown>[];
    expect(got).toHaveLength(5_000);
    const key = (c: Record<string, unknown>) => `${c.index} ${c.caddr}:${c.cport} ${c.vaddr}:${c.vport} ${c.daddr}:${c.dport} ${c.state}`;
    expect(got.map(key)).toEqual(want.map(key));
    expect(Object.keys(got[0])).toEqual(Object.keys(want[0]));
    expect(batches).toBeGreaterThanOrEqual(Math.floor(5_000 / CONN_PAGE) / 2);
  }, 60_000);
});
