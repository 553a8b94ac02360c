/* `wasmvs replay`: argument table, end to end through files, refusals, and streaming in flat memory. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { main, parseReplayArgs } from '../../host/replay/cli.ts';
import { PcapWriter } from '../../host/pcap/write.ts';
import { ip } from '../helpers/pkt.ts';
import { goldenInput, RULES } from './golden-input.ts';
import { runReplay } from './helpers.ts';
import { replay } from '../../host/replay/replay.ts';
import { engineModule } from '../../host/engine-node.ts';

async function run(argv: string[]) {
  let stdout = '', stderr = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: any) => { stdout += s; return true; });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: any) => { stderr += s; return true; });
  try { return { rc: await main(argv), stdout, stderr }; } finally { o.mockRestore(); e.mockRestore(); }
}

describe('argument table', () => {
  test.each([
    [['a.pcap', '--rules', 'r'], { input: 'a.pcap', rules: 'r', speed: 0, json: false, batch: 256 }],
    [['a.pcap', '--rules', 'r', '--speed', '1x', '--json', '--out', 'o.pcap'], { speed: 1, json: true, out: 'o.pcap' }],
    [['a.pcap', '--rules', 'r', '--speed', '2.5x', '--batch', '1', '--set', 'sloppyTcp'], { speed: 2.5, batch: 1, settings: ['sloppyTcp'] }],
    [['--serve', '--port', '0'], { serve: true, port: 0 }],
  ])('%j', (argv, want) => expect(parseReplayArgs(argv)).toMatchObject(want));
  test.each([
    [['a.pcap'], /--rules is required/], [['--rules', 'r'], /no capture/], [['a', '--rules', 'r', '--speed', 'fast'], /--speed/],
    [['a', '--rules', 'r', '--set', 'nope'], /unknown setting/], [['a', 'b', '--rules', 'r'], /one capture/], [['a', '--bogus'], /unknown option/],
  ])('%j is refused', (argv, msg) => expect(() => parseReplayArgs(argv)).toThrow(msg));
});

describe('wasmvs replay end to end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasmvs-replay-'));
  const cap = join(dir, 'in.pcap'), rules = join(dir, 'rules'), out = join(dir, 'out.pcap');
  writeFileSync(cap, goldenInput()); writeFileSync(rules, RULES);

  test('--out writes the golden output, --json the core summary', async () => {
    const r = await run([cap, '--rules', rules, '--out', out, '--json']);
    expect(r.rc).toBe(0);
    const core = await runReplay(goldenInput(), RULES);
    expect(new Uint8Array(readFileSync(out))).toEqual(core.out);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(JSON.stringify(core.summary)));
  });

  test('text summary ends with the -L -n --stats table', async () => {
    const r = await run([cap, '--rules', rules]);
    expect(r.rc).toBe(0);
    expect(r.stdout).toMatch(/packets read\s+13/);
    expect(r.stdout).toMatch(/drop_bad_ip_checksum\s+1/);
    expect(r.stdout).toContain('SYN_RECV>ESTABLISHED');
    expect(r.stdout.trimEnd().split('\n').slice(-6)[0]).toBe('Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes');
  });

  test.each([
    ['not a capture', new TextEncoder().encode('hello world, not a pcap'), /WVS_ERR_PCAP_MAGIC/],
    ['empty file', new Uint8Array(0), /WVS_ERR_PCAP_EMPTY/],
  ])('refuses %s with a clear message', async (_n, bytes, msg) => {
    const f = join(dir, 'bad.pcap');
    writeFileSync(f, bytes);
    const r = await run([f, '--rules', rules]);
    expect(r.rc).toBe(1);
    expect(r.stderr).toMatch(msg);
    expect(r.stdout).toBe('');
  });

  test('a capture cut in the middle of a packet: summary, counted, rc 0', async () => {
    const f = join(dir, 'cut.pcap');
    const b = goldenInput();
    writeFileSync(f, b.subarray(0, b.length - 10));
    const r = await run([f, '--rules', rules, '--json']);
    expect(r.rc).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.input).toMatchObject({ packets: 12, truncated: 1 });
    expect(s.input.notes[0]).toMatch(/truncated packet 13/);
  });

  test('bad rules: refused with the line', async () => {
    const f = join(dir, 'bad.rules');
    writeFileSync(f, '-A -t 198.18.0.100:80 -s rr\n-a -t 198.18.0.100:80 -r 198.18.1.1:80 -m -w bogus\n');
    const r = await run([cap, '--rules', f]);
    expect(r.rc).toBe(1);
    expect(r.stderr).toMatch(/rules line 2/);
    const g = join(dir, 'list.rules');
    writeFileSync(g, '-L -n\n');
    expect((await run([cap, '--rules', g])).stderr).toMatch(/rules line 1 .*is not a rule/);
  });

  test('missing files', async () => {
    expect((await run([join(dir, 'nope.pcap'), '--rules', rules])).stderr).toMatch(/cannot read capture .*ENOENT/);
    expect((await run([cap, '--rules', join(dir, 'nope')])).stderr).toMatch(/cannot read rules .*ENOENT/);
  });
});

test('a large capture streams in flat memory', async () => {
  // 300k packets (~30 MB of capture) generated lazily; never held whole
  const N = 300_000;
  const w = new PcapWriter({ linkType: 101 });
  // 4096 flows, each seen again and again (the conn table is not the subject here)
  const pk = (i: number) => ip(`198.18.${2 + ((i >> 8) & 15)}.${i & 255}`, '198.18.0.100', { proto: 'udp', sport: 1024, dport: 53, payload: new Uint8Array(40) });
  async function* gen() {
    yield w.header();
    for (let i = 0; i < N; i += 1000) {
      const parts: Uint8Array[] = [];
      for (let j = i; j < i + 1000; j++) parts.push(w.record(1_700_000_000_000_000_000n + BigInt(j) * 100_000n, pk(j)));
      const b = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0; for (const p of parts) { b.set(p, o); o += p.length; }
      yield b;
    }
  }
  let peak = 0, outBytes = 0;
  const base = process.memoryUsage().heapUsed;
  const s = await replay(gen(), {
    wasm: engineModule(), rules: '-A -u 198.18.0.100:53 -s rr\n-a -u 198.18.0.100:53 -r 198.18.1.1:53 -m\n',
    output: (c) => { outBytes += c.length; },
    onProgress: (p) => { if (p.packets % 50_000 < 256) peak = Math.max(peak, process.memoryUsage().heapUsed - base); },
  });
  expect(s.input.packets).toBe(N);
  expect(s.output.packets).toBe(N);
  expect(outBytes).toBeGreaterThan(N * 60);
  expect(peak).toBeLessThan(64 * 1024 * 1024);
}, 60_000);
