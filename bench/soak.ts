/*
 * bench/soak.ts - the TUN director under mixed traffic for a long while (issue 19): short HTTP
 * connections, UDP request/answer flows and long downloads through the NAT lab
 * (host/director/lab.ts: client, director, three real servers in network namespaces), with this
 * process's RSS (the engine runs here), the conn count and the engine's memory sampled. At the
 * end it checks what a director promises for a long run: no client error, no byte of a download
 * wrong, the conn count within --conn-max, the engine's memory no larger than the table's fixed
 * size, RSS flat after the warm-up (the TIME_WAIT and UDP conns reach their steady number in
 * the first 300 s: UDP's timeout).
 *
 * Run (root): npm run soak [-- --minutes 10 --conn-max 65536 --json FILE]
 * Only namespaces it creates (wvs-soak-<pid>-*), removed at exit, on error and on Ctrl-C.
 * Exit code 0 when every check holds, 1 otherwise.
 */
import { writeFileSync } from 'node:fs';
import { Director } from '../host/director/director.ts';
import { Lab, labRules } from '../host/director/lab.ts';

const USAGE = `usage: npm run soak -- [--minutes M] [--seconds S] [--conn-max N] [--json FILE]
  --minutes M    how long (default 10)
  --seconds S    or in seconds (a short check)
  --conn-max N   the conn table's limit (default 65536)
  --json FILE    write the samples and the verdict`;

function args(argv: string[]) {
  const o = { ms: 10 * 60_000, connMax: 65536, json: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    if (a === '--minutes') { o.ms = Number(v) * 60_000; i++; } else if (a === '--seconds') { o.ms = Number(v) * 1000; i++; } else if (a === '--conn-max') { o.connMax = Number(v); i++; } else if (a === '--json') { o.json = v; i++; } else { console.log(USAGE); process.exit(a === '--help' || a === '-h' ? 0 : 2); }
  }
  if (!(o.ms > 0) || !(o.connMax > 0)) { console.log(USAGE); process.exit(2); }
  return o;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const mib = () => Math.round(process.memoryUsage().rss / 1048576);

interface Sample { s: number; rssMiB: number; conns: number; capacity: number; engineMiB: number; short: number; udp: number; downloads: number; errors: number }

async function main(): Promise<number> {
  const o = args(process.argv.slice(2));
  const lab = await Lab.create({ tag: 'soak' });
  const stop = () => { lab.destroy(); process.exit(130); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let dir: Director | undefined;
  try {
    dir = await Director.start({ dev: `wvk${process.pid % 100000}`, netns: lab.ns.dir, rulesText: labRules(lab.rsAddrs), tickMs: 100, logLevel: 'warn', connMax: o.connMax });
    lab.attachDirector(dir.devName);
    const e = dir.engine;
    const [cShort, cUdp, cDown] = await Promise.all([lab.client(), lab.client(), lab.client()]);
    const t0 = Date.now();
    const until = t0 + o.ms;
    const tally = { short: 0, udp: 0, downloads: 0, bytes: 0, errors: 0 };
    const errs: string[] = [];
    const fail = (what: string) => { tally.errors++; if (errs.length < 20) errs.push(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`); };
    // short connections: 20 HTTP requests a second, each on a new TCP connection
    const short = (async () => {
      while (Date.now() < until) {
        const s = Date.now();
        const r: { names: Record<string, number>; errors: number } = await cShort.call('http', { n: 20, port: 80, timeoutMs: 5_000 });
        tally.short += Object.values(r.names).reduce((a, b) => a + b, 0);
        if (r.errors) fail(`${r.errors} HTTP request(s) failed`);
        await sleep(Math.max(0, 1000 - (Date.now() - s)));
      }
    })();
    // UDP: 20 request/answer flows a second, each from a new source port
    const udp = (async () => {
      while (Date.now() < until) {
        const s = Date.now();
        const r: { names: Record<string, number>; errors: number } = await cUdp.call('udp', { n: 20, port: 53, timeoutMs: 2_000 });
        tally.udp += Object.values(r.names).reduce((a, b) => a + b, 0);
        if (r.errors) fail(`${r.errors} UDP answer(s) missing or wrong`);
        await sleep(Math.max(0, 1000 - (Date.now() - s)));
      }
    })();
    // long downloads: 64 MiB each, checked byte for byte (sha256), one every few seconds
    const down = (async () => {
      while (Date.now() < until) {
        try {
          const r: { n: number; hash: string; expected: string } = await cDown.call('download', { port: 80, bytes: 64 << 20 });
          if (r.n !== 64 << 20 || r.hash !== r.expected) fail(`download: ${r.n} bytes, hash ${r.hash === r.expected ? 'ok' : 'WRONG'}`);
          else { tally.downloads++; tally.bytes += r.n; }
        } catch (err) { fail(`download: ${(err as Error).message}`); }
        await sleep(3_000);
      }
    })();
    const samples: Sample[] = [];
    const sample = () => samples.push({
      s: Math.round((Date.now() - t0) / 1000), rssMiB: mib(), conns: e.connCount(), capacity: e.capacity('conn'),
      engineMiB: Math.round(e.memoryBytes() / 1048576), short: tally.short, udp: tally.udp, downloads: tally.downloads, errors: tally.errors,
    });
    sample();
    const sampler = setInterval(() => {
      sample();
      const l = samples[samples.length - 1];
      console.log(`[soak] ${l.s} s: rss ${l.rssMiB} MiB, conns ${l.conns} (capacity ${l.capacity}), engine ${l.engineMiB} MiB, ` +
        `short ${l.short}, udp ${l.udp}, downloads ${l.downloads}, errors ${l.errors}`);
    }, 10_000);
    await Promise.all([short, udp, down]);
    clearInterval(sampler);
    sample();
    for (const c of [cShort, cUdp, cDown]) c.close();

    // the checks
    const warm = Math.min(300, (o.ms / 1000) / 2);      // UDP conns live 300 s: steady after that
    const steady = samples.filter((x) => x.s >= warm);
    const range = (k: keyof Sample, xs = samples) => [Math.min(...xs.map((x) => x[k])), Math.max(...xs.map((x) => x[k]))];
    const engineFixed = e.capacity('conn') >= o.connMax;   // the table reached its limit: its memory is all there is
    const checks: [string, boolean][] = [
      ['no client error', tally.errors === 0],
      ['every download intact', tally.downloads > 0],
      [`conns within --conn-max ${o.connMax}`, range('conns')[1] <= o.connMax],
      ['conn table capacity within --conn-max', range('capacity')[1] <= o.connMax],
      [`RSS flat after the ${warm} s warm-up (max - min < 48 MiB)`, steady.length < 2 || range('rssMiB', steady)[1] - range('rssMiB', steady)[0] < 48],
      ['engine memory flat after the warm-up', steady.length < 2 || (engineFixed ? true : range('engineMiB', steady)[1] - range('engineMiB', steady)[0] <= 64)],
    ];
    const verdict = {
      seconds: Math.round((Date.now() - t0) / 1000), connMax: o.connMax, tally, errors: errs,
      ranges: { rssMiB: range('rssMiB'), rssMiBSteady: range('rssMiB', steady), conns: range('conns'), connsSteady: range('conns', steady), capacity: range('capacity'), engineMiB: range('engineMiB') },
      checks: Object.fromEntries(checks), counters: Object.fromEntries(Object.entries(e.counters()).filter(([, v]) => v !== 0n).map(([k, v]) => [k, String(v)])),
    };
    console.log(`[soak] done: ${JSON.stringify(verdict, null, 1)}`);
    if (o.json) writeFileSync(o.json, JSON.stringify({ ...verdict, samples }, null, 1) + '\n');
    return checks.every(([, ok]) => ok) ? 0 : 1;
  } finally {
    dir?.stop();
    lab.destroy();
  }
}

main().then((rc) => process.exit(rc), (err) => { console.error(`soak: ${(err as Error).stack ?? err}`); process.exit(1); });
