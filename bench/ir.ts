/*
 * bench/ir.ts - exact instruction counts for issue 20's engine figures (npm run ir [mode] [--top N]).
 *
 * Timings on this shared 2-core machine move by ±30 %; instruction counts do not. The engine runs
 * under valgrind's callgrind twice, with a short and a long run of the same work, and the
 * difference is divided by the extra packets, so start-up, compilation and the table's set-up
 * cancel. Modes (the bench's own cases, bench/engine.bench.ts):
 *   est    established ACKs, random flows over a 4,096-conn table (the resident figure; default)
 *   est1m  the same over 1,048,576 conns (the stages on)
 *   eststaged  est with the stages forced on: their instructions alone, without est1m's long set-up
 *   new    SYNs from distinct clients (rr over 8 NAT dests) into a 1M table holding 131,072 conns
 * Node runs with --no-liftoff (every wasm function compiled once by TurboFan, nothing tiers up
 * during the run) and --perf-basic-prof (/tmp/perf-PID.map: each compiled function's address
 * range); callgrind's per-instruction counts (--dump-instr=yes) are summed per range, so a wasm
 * function's figure is its own code's, with what V8 inlined into it. The module measured is
 * wasm/release.wasm rebuilt with a name section (asc --target release --debug: the same code).
 * Prints `<mode> Ir/packet (...): wasm W (whole process T)` and the wasm functions by instructions
 * per packet. Needs valgrind; one to three minutes a mode. Child mode (internal): WVS_IR_CHILD.
 */
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../host/engine.ts';
import { repoRoot } from '../host/engine-node.ts';
import { ip } from '../host/packet-builder.ts';

type Mode = 'est' | 'est1m' | 'eststaged' | 'new';
const BATCH = 256, VIP = '198.18.0.100';
/** conns in the table before the measured part, and the packets of the two runs */
const PLAN: Record<Mode, { table: number; pre: number; short: number; long: number }> = {
  est: { table: 4096, pre: 4096, short: 40 * BATCH, long: 200 * BATCH },
  est1m: { table: 1 << 20, pre: 1 << 20, short: 64 * BATCH, long: 192 * BATCH },
  eststaged: { table: 4096, pre: 4096, short: 40 * BATCH, long: 200 * BATCH },
  new: { table: 1 << 20, pre: 131072, short: 64 * BATCH, long: 192 * BATCH },
};

/** 40-byte IPv4 + TCP frames for clients from..from+n-1 (one built, the rest its copies with the source and both checksums set: the builder per frame takes minutes under callgrind). */
function frames(from: number, n: number, flags: string): Uint8Array {
  const t = ip('198.19.0.0', VIP, { proto: 'tcp', sport: 1024, dport: 80, flags, seq: 1, ack: 1 });
  const out = new Uint8Array(n * 40);
  const sum = (b: Uint8Array, o: number, len: number, acc: number) => { for (let k = 0; k < len; k += 2) acc += (b[o + k] << 8) | b[o + k + 1]; return acc; };
  const csum = (x: number) => { while (x > 0xffff) x = (x & 0xffff) + (x >>> 16); return ~x & 0xffff; };
  for (let i = 0; i < n; i++) {
    const f = out.subarray(i * 40, i * 40 + 40), c = from + i, p = 1024 + (c >>> 16);
    f.set(t);
    f[14] = (c >> 8) & 255; f[15] = c & 255; f[20] = p >> 8; f[21] = p & 255;
    f[10] = f[11] = 0;
    const ipc = csum(sum(f, 0, 20, 0)); f[10] = ipc >> 8; f[11] = ipc & 255;
    f[36] = f[37] = 0;
    const tc = csum(sum(f, 12, 8, 6 + 20) + sum(f, 20, 20, 0)); f[36] = tc >> 8; f[37] = tc & 255;   // pseudo header + TCP
  }
  return out;
}

async function child(mode: Mode, packets: number, wasmFile: string): Promise<void> {
  const p = PLAN[mode];
  const e = await Engine.create(new WebAssembly.Module(readFileSync(wasmFile)), { connMax: p.table, connInit: p.table, slots: BATCH, slotSize: 2048, seed: 12345 });
  const key = { proto: 'TCP' as const, addr: VIP, port: 80 };
  e.addService({ ...key, sched: 'rr' });
  for (let d = 1; d <= 8; d++) e.addDest(key, { addr: `198.18.1.${d}`, port: 8080, weight: 1, fwd: 'Masq' });
  const m = e.memory, dv = new DataView(m.buffer);
  const run = (buf: Uint8Array, idx: (k: number) => number, count: number, now: number) => {
    for (let i = 0; i < count; i += BATCH) {
      const n = Math.min(BATCH, count - i);
      for (let k = 0; k < n; k++) {
        const f = idx(i + k);
        m.set(buf.subarray(f * 40, f * 40 + 40), e.slotBase + k * e.slotSize + e.headroom);
        dv.setUint32(e.slotMetaBase + k * e.slotMetaSize, e.headroom, true);
        dv.setUint32(e.slotMetaBase + k * e.slotMetaSize + 4, 40, true);
      }
      e.process(n, now);
    }
  };
  run(frames(0, p.pre, 'S'), (k) => k, p.pre, 1000);
  // eststaged: the stages forced on (groups of 64, as on a large table) — what they add, in minutes, not est1m's ten
  if (mode === 'eststaged') {
    const inner = e as unknown as { ex: { regionBase(i: number): number | bigint }; c: Record<string, number> };
    dv.setUint32(Number(inner.ex.regionBase(0)) + inner.c.CTL_CONN_STAGES, Number(process.env.WVS_IR_STAGES ?? (3 | (64 << 8))), true);
  }
  if (mode === 'new') {
    run(frames(p.pre, p.long, 'S'), (k) => k, packets, 1001);   // built for the long run whatever this one is: only the processing differs
  } else {
    const acks = frames(0, p.pre, 'A');
    run(acks, (k) => k, p.pre, 1001);                             // SYN_RECV -> ESTABLISHED, before the measured part
    let x = 2463534242;
    run(acks, () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % p.pre; }, packets, 1002);
  }
  let fwd = 0;
  for (let j = 0; j < BATCH; j++) if (e.result(j).verdict === 'XMIT') fwd++;
  if (fwd !== BATCH) throw new Error(`not the ${mode} path: ${fwd}/${BATCH} of the last batch forwarded, ${e.connCount()} conns`);
}

interface Run { total: number; fns: Map<string, number> }

/** Instructions of a callgrind.out (--dump-instr=yes) per wasm function, by the address ranges of V8's perf map. */
export function parseRun(outFile: string, perfMap: string): Run {
  const ranges: [number, number, string][] = [];
  for (const line of readFileSync(perfMap, 'utf8').split('\n')) {
    const r = /^([0-9a-f]+) ([0-9a-f]+) JS:(.+)-\d+-(?:turbofan|liftoff)$/.exec(line);
    if (r && !r[3].startsWith('wasm-to-js') && !r[3].startsWith('js-to-wasm')) ranges.push([parseInt(r[1], 16), parseInt(r[2], 16), r[3].replace(/^assembly\//, '')]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const find = (a: number): string | undefined => {
    let lo = 0, hi = ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (ranges[mid][0] > a) hi = mid - 1;
      else if (a >= ranges[mid][0] + ranges[mid][1]) lo = mid + 1;
      else return ranges[mid][2];
    }
    return undefined;
  };
  const fns = new Map<string, number>();
  let total = 0, afterCall = false;
  for (const line of readFileSync(outFile, 'utf8').split('\n')) {
    if (line.startsWith('calls=')) { afterCall = true; continue; }
    if (!/^0x[0-9a-f]+ /.test(line)) continue;
    if (afterCall) { afterCall = false; continue; }   // the call's inclusive cost, not this code's own
    const sp = line.split(' ');
    const ir = Number(sp[2] ?? 0);
    total += ir;
    const name = find(parseInt(sp[0], 16));
    if (name) fns.set(name, (fns.get(name) ?? 0) + ir);
  }
  return { total, fns };
}

async function driver(): Promise<void> {
  const arg = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : 'est';
  if (!(arg in PLAN)) throw new Error(`npm run ir [est|est1m|eststaged|new] [--top N]: no mode ${arg}`);
  const mode = arg as Mode, p = PLAN[mode];
  const ti = process.argv.indexOf('--top'), top = ti > 0 ? Number(process.argv[ti + 1]) : 25;
  const root = repoRoot();
  const dir = mkdtempSync(join(tmpdir(), 'wvs-ir-'));
  try {
    const wasm = join(dir, 'named.wasm');
    execFileSync(join(root, 'node_modules', '.bin', 'asc'), ['assembly/index.ts', '--target', 'release', '--debug', '--outFile', wasm], { cwd: root, stdio: 'inherit' });
    const runs: Run[] = [];
    for (const packets of [p.short, p.long]) {
      const out = join(dir, `callgrind.${packets}`);
      const r = spawnSync('valgrind', ['--tool=callgrind', '--dump-instr=yes', '--compress-pos=no', '--compress-strings=no', `--callgrind-out-file=${out}`,
        process.execPath, '--no-liftoff', '--perf-basic-prof', process.argv[1]!],
        { env: { ...process.env, WVS_IR_CHILD: `${mode} ${packets}`, WVS_IR_WASM: wasm }, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`valgrind run (${packets} packets) failed: ${r.error?.message ?? r.stderr.slice(-2000)}`);
      const pid = /==(\d+)== Callgrind/.exec(r.stderr)?.[1];
      const map = pid && `/tmp/perf-${pid}.map`;
      if (!map || !existsSync(map)) throw new Error(`no perf map for the run (pid ${pid})`);
      runs.push(parseRun(out, map));
      rmSync(map, { force: true });
    }
    const pkts = p.long - p.short;
    let wasmIr = 0;
    const rows: [string, number][] = [];
    for (const n of new Set([...runs[0]!.fns.keys(), ...runs[1]!.fns.keys()])) {
      const v = ((runs[1]!.fns.get(n) ?? 0) - (runs[0]!.fns.get(n) ?? 0)) / pkts;
      wasmIr += v;
      rows.push([n, v]);
    }
    rows.sort((a, b) => b[1] - a[1]);
    // the whole process includes the bench's frame copying and V8's garbage collection (±10 %)
    console.log(`${mode} Ir/packet (${p.pre.toLocaleString()} conns before, ${pkts} packets differenced, callgrind): wasm ${wasmIr.toFixed(0)} (whole process ${((runs[1]!.total - runs[0]!.total) / pkts).toFixed(0)})`);
    for (const [n, v] of rows.slice(0, top)) if (Math.abs(v) >= 0.5) console.log(`  ${v.toFixed(1).padStart(8)}  ${n}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env.WVS_IR_CHILD) {
  const [mode, packets] = process.env.WVS_IR_CHILD.split(' ');
  await child(mode as Mode, Number(packets), process.env.WVS_IR_WASM ?? join(repoRoot(), 'wasm', 'release.wasm'));
} else await driver();
