/*
 * host/replay/cli.ts - `wasmvs replay IN.pcap[ng] --rules RULES [--out OUT.pcap] [--speed max|1x|Nx]
 *                      [--json] [--batch N] [--svc-max N] [--dest-max N] [--conn-max N] [--set SETTING]
 *                      [--sysctl NAME=VALUE] [--keep-partial-csum]
 *                      | --serve [--port N]`
 *
 * The Node side of replay.ts: streams the capture from disk (flat memory), writes the output pcap
 * with backpressure, draws a progress bar on a TTY, prints the summary. Exit codes: 0 done;
 * 1 the capture or rules were refused (or stopped being readable part way); 2 usage.
 */
import { createReadStream, createWriteStream, statSync, type WriteStream } from 'node:fs';
import { engineModule } from '../engine-node.ts';
import { Setting, checkLimit, type SettingName } from '../engine.ts';
import { readRulesFile } from '../director/rules.ts';
import { parseSysctlArg } from '../rules/sysctl.ts';
import { WvsError } from '../errors.ts';
import { PcapError } from '../pcap/errors.ts';
import { replay, type ReplaySummary } from './replay.ts';
import { formatSummary, summaryJson } from './report.ts';

export interface ReplayArgs {
  input?: string; rules?: string; out?: string; speed: number; json: boolean; serve: boolean; port: number;
  batch: number; svcMax?: number; destMax?: number; connMax?: number; settings: SettingName[]; help: boolean; keepPartialCsum?: boolean;
  sysctls?: { name: string; value: string }[];
}

export const USAGE = `usage: wasmvs replay IN.pcap[ng] --rules RULES [--out OUT.pcap] [--speed max|1x|Nx] [--json]
       wasmvs replay --serve [--port N]
  --rules FILE    ipvsadm-save rules (-A/-a lines) configuring the engine
  --out FILE      write XMIT and LOCAL frames as a raw-IP pcap (link type 101)
  --speed S       max (default), 1x = capture speed, Nx = N times capture speed
  --json          print the summary as JSON
  --batch N       frames per engine call (default 256; 1 samples conn states per packet)
  --svc-max N     most services (1..65535, default 65535)
  --dest-max N    most real servers (1..65535, default 65535)
  --conn-max N    most conns (1..16777216, default 2097152; --conns N is the same); the tables
                  start at what the rules need (conns: 4096) and double as they fill
  --sysctl NAME=VALUE  an IPVS sysctl as the live director had it (net.ipv4.vs.sloppy_tcp=1 ...; repeatable)
  --keep-partial-csum  pass TCP/UDP checksums that checksum offload left partial (a capture taken on the
                  sending host) as captured; by default they are completed as the NIC would have (counted)
  --set NAME      switch on an engine setting (${Object.keys(Setting).join(', ')})
  --serve         serve the browser replay page on 127.0.0.1 (build it: npm run build:web)
  --port N        port for --serve (default 8470)
`;

class UsageError extends Error {}

/** argv → options (pure; throws UsageError). */
export function parseReplayArgs(argv: readonly string[]): ReplayArgs {
  const a: ReplayArgs = { speed: 0, json: false, serve: false, port: 8470, batch: 256, settings: [], help: false };
  const val = (i: number, name: string) => {
    const v = argv[i + 1];
    if (v === undefined) throw new UsageError(`${name} needs a value`);
    return v;
  };
  const int = (v: string, name: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i];
    switch (t) {
      case '-h': case '--help': a.help = true; break;
      case '--rules': a.rules = val(i++, t); break;
      case '--out': a.out = val(i++, t); break;
      case '--json': a.json = true; break;
      case '--serve': a.serve = true; break;
      case '--port': a.port = int(val(i++, t), t, 0, 65535); break;
      case '--batch': a.batch = int(val(i++, t), t, 1, 4096); break;
      case '--svc-max': case '--dest-max': case '--conn-max': case '--conns': {
        const name = t === '--svc-max' ? 'svcMax' : t === '--dest-max' ? 'destMax' : 'connMax';
        const v = val(i++, t);
        const n = /^\d+$/.test(v) ? Number(v) : NaN;
        const bad = checkLimit(name, Number.isNaN(n) ? v : n);
        if (bad) throw new UsageError(bad);
        a[name] = n;
        break;
      }
      case '--keep-partial-csum': a.keepPartialCsum = true; break;
      case '--sysctl': {
        const p = parseSysctlArg(val(i++, t));
        if (!p.name || p.value === undefined) throw new UsageError('--sysctl needs NAME=VALUE (e.g. net.ipv4.vs.sloppy_tcp=1)');
        (a.sysctls ??= []).push({ name: p.name, value: p.value });
        break;
      }
      case '--set': {
        const v = val(i++, t);
        if (!(v in Setting)) throw new UsageError(`unknown setting '${v}' (${Object.keys(Setting).join(', ')})`);
        a.settings.push(v as SettingName);
        break;
      }
      case '--speed': {
        const v = val(i++, t);
        const m = /^(\d+(?:\.\d+)?)x$/.exec(v);
        if (v === 'max') a.speed = 0;
        else if (m && Number(m[1]) > 0) a.speed = Number(m[1]);
        else throw new UsageError(`--speed takes max, 1x or Nx, not '${v}'`);
        break;
      }
      default:
        if (t.startsWith('-') && t !== '-') throw new UsageError(`unknown option ${t}`);
        if (a.input !== undefined) throw new UsageError(`one capture at a time ('${a.input}' and '${t}')`);
        a.input = t;
    }
  }
  if (!a.help && !a.serve) {
    if (a.input === undefined) throw new UsageError('no capture file given');
    if (a.rules === undefined) throw new UsageError('--rules is required');
  }
  return a;
}

function writeChunk(ws: WriteStream, chunk: Uint8Array): Promise<void> | void {
  if (!ws.write(chunk)) return new Promise((res) => ws.once('drain', res));
}

/** A one-line progress bar on a TTY stderr, shown once the replay has run for a second. */
function progressBar(total: number): { update: (bytes: number, packets: number) => void; done: () => void } {
  const start = Date.now();
  let shown = false, last = 0;
  const tty = process.stderr.isTTY;
  return {
    update(bytes, packets) {
      if (!tty) return;
      const now = Date.now();
      if (now - start < 1000 || now - last < 100) return;
      last = now; shown = true;
      const frac = total > 0 ? Math.min(1, bytes / total) : 0;
      const w = 30, fill = Math.round(frac * w);
      process.stderr.write(`\r[${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${(frac * 100).toFixed(1).padStart(5)}%  ${packets} packets`);
    },
    done() { if (shown) process.stderr.write('\r\x1b[K'); },
  };
}

export async function main(argv: string[]): Promise<number> {
  let a: ReplayArgs;
  try { a = parseReplayArgs(argv); } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`wasmvs replay: ${e.message}\n${USAGE}`);
    return 2;
  }
  if (a.help) { process.stdout.write(USAGE); return 0; }
  if (a.serve) {
    const { serveWeb } = await import('./serve.ts');
    return serveWeb(a.port);
  }
  let rules: string;
  try { rules = readRulesFile(a.rules!); } catch (e: any) {
    process.stderr.write(`wasmvs replay: ${e.message}\n`);
    return 1;
  }
  let size: number;
  try { size = statSync(a.input!).size; } catch (e: any) {
    process.stderr.write(`wasmvs replay: cannot read capture ${a.input}: ${e.code ?? e.message}\n`);
    return 1;
  }
  const ws = a.out ? createWriteStream(a.out) : undefined;
  const bar = progressBar(size);
  let s: ReplaySummary;
  try {
    s = await replay(createReadStream(a.input!, { highWaterMark: 1 << 16 }) as AsyncIterable<Uint8Array>, {
      wasm: engineModule(), rules, batch: a.batch, connMax: a.connMax, engine: { svcMax: a.svcMax, destMax: a.destMax }, settings: a.settings, speed: a.speed, keepPartialCsum: a.keepPartialCsum, sysctls: a.sysctls,
      output: ws ? (c) => writeChunk(ws, c) : undefined,
      onProgress: (p) => bar.update(p.bytes, p.packets),
    });
  } catch (e) {
    bar.done();
    if (ws) await new Promise((res) => ws.end(res));
    if (e instanceof PcapError || e instanceof WvsError) {
      process.stderr.write(`wasmvs replay: ${a.input}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  bar.done();
  if (ws) await new Promise((res) => ws.end(res));
  process.stdout.write(a.json ? summaryJson(s) : formatSummary(s));
  if (s.input.error) {
    process.stderr.write(`wasmvs replay: ${a.input}: ${s.input.error.message}; the ${s.input.fed} frames before it were replayed\n`);
    return 1;
  }
  return 0;
}
