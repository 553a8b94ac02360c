/*
 * The browser replay page in Debian's chromium (playwright-core, headless): load the bundled
 * example and a capture picked by file input, and check that the numbers the page shows equal
 * those of the replay core (host/replay/replay.ts) run here on the same bytes. A screenshot
 * goes to test/web/out/. Skips with a reason when chromium or playwright-core is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startWebServer } from '../../host/replay/serve.ts';
import type { ReplaySummary } from '../../host/replay/replay.ts';
import { runReplay } from '../replay/helpers.ts';
import { goldenInput, RULES as GOLDEN_RULES } from '../replay/golden-input.ts';

const repo = resolve(fileURLToPath(import.meta.url), '../../..');
const CHROMIUM = '/usr/bin/chromium';
let pw: any;
const PW = 'playwright-core'; // a variable: typecheck passes where it is not installed
try { pw = await import(PW); } catch { pw = undefined; }
const why = !existsSync(CHROMIUM) ? `${CHROMIUM} is missing (apt-get install -y chromium)` : !pw ? 'playwright-core is not installed (npm install playwright-core)' : '';
if (why) console.warn(`[web] skipped: ${why}`);

describe.skipIf(!!why)('browser replay page', () => {
  let dir: string, server: Server, browser: any, base: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wasmvs-web-'));
    execFileSync(process.execPath, [join(repo, 'host/web/build.mjs'), dir], { stdio: 'pipe' });
    server = await startWebServer(0, dir);
    const a = server.address();
    base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/`;
    browser = await pw.chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => server?.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function shown(page: any) {
    const text = (id: string) => page.locator(`#${id}`).textContent();
    const num = async (id: string) => Number(await text(id));
    const table = (id: string) => page.$$eval(`#${id} tbody tr`, (trs: any[]) => trs.map((tr) => [...tr.children].map((td: any) => td.textContent)));
    return {
      packets: await num('stat-packets'), fed: await num('stat-fed'), out: await num('stat-out'), dropped: await num('stat-dropped'),
      pass: await num('stat-pass'), skipped: await num('stat-skipped'), partial: await num('stat-partial'), conns: await num('stat-conns'), timeouts: await num('stat-timeouts'),
      drops: await table('drops'), rs: await table('rs'), transitions: await table('transitions'), table: await text('table'),
      connRows: (await table('conns')).length,
    };
  }
  function expected(s: ReplaySummary) {
    return {
      packets: s.input.packets, fed: s.input.fed, out: s.output.packets, dropped: s.output.verdicts.DROP, pass: s.output.verdicts.PASS,
      skipped: Object.values(s.input.skipped).reduce((a, b) => a + b, 0), partial: s.input.partialCsum, conns: s.conns.created, timeouts: s.conns.timeoutsFired,
      drops: Object.entries(s.output.dropReasons).map(([k, v]) => [k, String(v)]),
      rs: s.conns.byService.flatMap((svc) => svc.dests.map((d) => [svc.service, d.rs, String(d.conns), String(d.inpkts), String(d.outpkts)])),
      transitions: Object.entries(s.conns.transitions).map(([k, v]) => [k.replace('>', ' → '), String(v)]),
      table: s.table,
      connRows: s.conns.created,
    };
  }

  test('bundled example: the page shows what the replay core computes', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    const errors: string[] = [];
    page.on('pageerror', (e: Error) => errors.push(e.message));
    const missing: string[] = [];
    page.on('response', (r: any) => { if (r.status() >= 400) missing.push(`${r.status()} ${r.url()}`); });
    await page.goto(`${base}?example=demo&run=1`);
    await page.waitForSelector('body[data-state="done"]', { timeout: 30_000 });
    // ?example=NAME shows in the menu; the favicon is inline (no /favicon.ico request fails) and draws
    expect(await page.locator('#example').inputValue()).toBe('demo');
    const icon: string = await page.locator('link[rel="icon"]').getAttribute('href');
    expect(icon).toMatch(/^data:image\/svg\+xml,/);
    expect(await page.evaluate((u: string) => new Promise((res) => { const i = new Image(); i.onload = () => res(i.naturalWidth > 0); i.onerror = () => res(false); i.src = u; }), icon)).toBe(true);
    expect(missing).toEqual([]);
    const core = await runReplay(new Uint8Array(readFileSync(join(dir, 'examples/demo.pcap'))), readFileSync(join(dir, 'examples/demo.rules'), 'utf8'));
    const got = await shown(page);
    expect(got).toEqual(expected(core.summary));
    expect(got.conns).toBeGreaterThan(20);
    // the output pcap the page offers is the core's, byte for byte
    const href = await page.locator('#download').getAttribute('href');
    const bytes: number[] = await page.evaluate(async (u: string) => [...new Uint8Array(await (await fetch(u)).arrayBuffer())], href);
    expect(new Uint8Array(bytes)).toEqual(core.out);
    // filter the conn table, select a flow: its timeline is drawn
    await page.fill('#filter', 'TIME_WAIT');
    const rows = await page.$$eval('#conns tbody tr', (trs: any[]) => trs.map((tr) => tr.children[5].textContent));
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows)).toEqual(new Set(['TIME_WAIT']));
    await page.click('#conns tbody tr:first-child');
    const labels: string[] = await page.$$eval('#timeline text', (ts: any[]) => ts.map((t) => t.textContent));
    expect(labels).toEqual(expect.arrayContaining(['SYN_RECV', 'ESTABLISHED', 'TIME_WAIT']));
    await page.fill('#filter', '');
    mkdirSync(join(repo, 'test/web/out'), { recursive: true });
    await page.screenshot({ path: join(repo, 'test/web/out/replay-demo.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  test('capture and rules picked by file input (the golden capture)', async () => {
    const page = await browser.newPage();
    await page.goto(base);
    const cap = join(dir, 'golden.in.pcap'), rules = join(dir, 'golden.rules');
    writeFileSync(cap, goldenInput()); writeFileSync(rules, GOLDEN_RULES);
    await page.setInputFiles('#capture-file', cap);
    await page.setInputFiles('#rules-file', rules);
    await page.waitForFunction(() => (document.getElementById('rules') as HTMLTextAreaElement).value.includes('-A'));
    await page.click('#run');
    await page.waitForSelector('body[data-state="done"]', { timeout: 30_000 });
    const core = await runReplay(goldenInput(), GOLDEN_RULES);
    expect(await shown(page)).toEqual(expected(core.summary));
    await page.close();
  }, 60_000);

  test('a file that is no capture: the page shows the refusal', async () => {
    const page = await browser.newPage();
    await page.goto(base);
    await page.evaluate(() => (window as any).__replayRun);
    const junk = join(dir, 'junk.pcap');
    writeFileSync(junk, new Uint8Array([0xa1, 0xb2, 0xc3, 0xd4, 9, 9])); // pcap magic, then cut short
    await page.setInputFiles('#capture-file', junk);
    await page.fill('#rules', '-A -t 10.0.0.1:80\n');
    await page.click('#run');
    await page.waitForSelector('body[data-state="error"]', { timeout: 30_000 });
    expect(await page.locator('#status').textContent()).toMatch(/WVS_ERR_PCAP_TRUNCATED/);
    await page.close();
  }, 60_000);
});
