/*
 * bench/ir-established.ts - instructions per established packet (issue 20's resident figure), exact.
 *
 * Timings on this shared 2-core machine move by ±30 %; instruction counts do not. This runs the
 * engine under valgrind's callgrind twice, with SHORT and LONG batches of established ACKs on a
 * 4,096-conn table (the bench's resident case: 8 NAT dests, rr, 40-byte IPv4 TCP frames, flows
 * in random order), and divides the difference by the extra packets, so start-up, compilation
 * and the table's set-up cancel. Node runs with --no-liftoff (every wasm function compiled once by
 * TurboFan, nothing tiers up during the run) and --perf-basic-prof (it writes /tmp/perf-PID.map,
 * the address range and index of every compiled function). V8 calls wasm functions through the
 * module's jump table and callgrind names symbol-less code by the address it was called at, so a
 * jump-table slot is decoded to the function index it stands for (see parseRun). The module measured is wasm/release.wasm rebuilt with a name section (asc
 * --target release --debug: the same optimisation, names kept), so wasm functions carry their
 * AssemblyScript names; functions V8 inlined are counted in their caller.
 *
 * Run: npm run ir   (or node dist/bench/ir-established.js [--top N] after a build)
 *      (about 2-4 minutes: two callgrind runs of node). Needs valgrind (apt-get install valgrind).
 * Prints: `established Ir/packet (4K table, callgrind): total T, wasm W` and the wasm functions
 * by instructions per packet. Child mode (internal): WVS_IR_CHILD=batches.
 */
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../host/engine.ts';
import { repoRoot } from '../host/engine-node.ts';
import { ip } from '../host/packet-builder.ts';

const BATCH = 256, CONNS = 4096, VIP = '198.18.0.100';
const SHORT = 40, LONG = 200; // batches of 256 packets measured in the two runs

async function child(batches: number, wasmFile: string): Promise<void> {
  const e = await Engine.create(new WebAssembly.Module(readFileSync(wasmFile)), { connMax: CONNS, connInit: CONNS, slots: BATCH, slotSize: 2048, seed: 12345 });
  const key = { proto: 'TCP' as const, addr: VIP, port: 80 };
  e.addService({ ...key, sched: 'rr' });
  for (let d = 1; d <= 8; d++) e.addDest(key, { addr: `198.18.1.${d}`, port: 8080, weight: 1, fwd: 'Masq' });
  const frame = (i: number, flags: string) => ip(`198.19.${(i >> 8) & 255}.${i & 255}`, VIP, { proto: 'tcp', sport: 1024, dport: 80, flags, seq: 1, ack: 1 });
  const syns = Array.from({ length: CONNS }, (_, i) => frame(i, 'S'));
  const acks = Array.from({ length: CONNS }, (_, i) => frame(i, 'A'));
  const m = e.memory, d = new DataView(m.buffer);
  const load = (fr: Uint8Array[], idx: (j: number) => number) => {
    for (let j = 0; j < BATCH; j++) {
      const f = fr[idx(j)];
      m.set(f, e.slotBase + j * e.slotSize + e.headroom);
      d.setUint32(e.slotMetaBase + j * e.slotMetaSize, e.headroom, true);
      d.setUint32(e.slotMetaBase + j * e.slotMetaSize + 4, f.length, true);
    }
  };
  let now = 1000;
  for (let i = 0; i < CONNS; i += BATCH) { load(syns, (j) => i + j); e.process(BATCH, now); }
  for (let i = 0; i < CONNS; i += BATCH) { load(acks, (j) => i + j); e.process(BATCH, now += 1); } // SYN_RECV -> ESTABLISHED
  let x = 2463534242;
  const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % CONNS; };
  let fwd = 0;
  for (let b = 0; b < batches; b++) {
    load(acks, () => rnd());
    e.process(BATCH, now += 1);
  }
  for (let j = 0; j < BATCH; j++) if (e.result(j).verdict === 'XMIT') fwd++;
  if (fwd !== BATCH || e.connCount() !== CONNS) throw new Error(`not the established path: ${fwd}/${BATCH} forwarded, ${e.connCount()} conns`);
}

interface Run { total: number; fns: Map<string, number> }

/** Self cost (Ir) per function name of a callgrind.out file; JIT addresses mapped through perf-PID.map. */
export function parseRun(outFile: string, perfMap: string): Run {
  const ranges: { lo: number; hi: number; name: string }[] = [];
  for (const line of readFileSync(perfMap, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) ranges.push({ lo: parseInt(m[1], 16), hi: parseInt(m[1], 16) + parseInt(m[2], 16), name: m[3] });
  }
  ranges.sort((a, b) => a.lo - b.lo);
  const lookup = (addr: number): string | undefined => {
    let lo = 0, hi = ranges.length - 1, best = -1;
    while (lo <= hi) { const mid = (lo + hi) >> 1; if (ranges[mid].lo <= addr) { best = mid; lo = mid + 1; } else hi = mid - 1; }
    // later entries for the same address win in the map (code moved / recompiled): the sort is stable
    return best >= 0 && addr < ranges[best].hi ? ranges[best].name : undefined;
  };
  // V8 calls a wasm function through its module's jump table (x64: 5-byte slots, 12 to a 64-byte
  // line, the table at the start of the module's code space, below the first function), and
  // callgrind names code without symbols by the address it was called at: a slot stands for the
  // function of that index ("-<index>-turbofan" in the map's name).
  const byIndex = new Map<number, string>();
  let lowest = Infinity;
  for (const r of ranges) {
    const m = /^JS:(.+)-(\d+)-(?:turbofan|liftoff)$/.exec(r.name);
    if (m && !m[1].startsWith("wasm-to-js") && !m[1].startsWith("js-to-wasm")) { byIndex.set(Number(m[2]), r.name); lowest = Math.min(lowest, r.lo); }
  }
  const decode = (addr: number, base: number): string | undefined => {
    const off = addr - base, r = off & 63;
    return off >= 0 && r % 5 === 0 && r < 60 ? byIndex.get((off >> 6) * 12 + r / 5) : undefined;
  };
  // the table's start: the page (below the first function) where most called addresses decode to a compiled function
  const text = readFileSync(outFile, 'utf8');
  const votes = new Map<number, number>();
  for (const m of text.matchAll(/fn=\(\d+\) 0x([0-9a-f]+)/g)) {
    const a = parseInt(m[1], 16);
    if (a >= lowest || a < lowest - 0x100000) continue;
    for (let b = a - (a % 4096), k = 0; k < 4; k++, b -= 4096) if (decode(a, b)) votes.set(b, (votes.get(b) ?? 0) + 1);
  }
  const table = [...votes].sort((x, y) => y[1] - x[1])[0]?.[0] ?? Infinity;
  const slot = (addr: number): string | undefined => (addr < lowest && addr >= table ? decode(addr, table) : undefined);
  const names = new Map<string, string>();
  const fns = new Map<string, number>();
  let cur = '', total = 0, skipNext = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('fn=')) {
      const m = /^fn=\((\d+)\)(?: (.*))?$/.exec(line);
      let name = m ? (m[2] !== undefined ? (names.set(m[1], m[2]), m[2]) : names.get(m[1])!) : line.slice(3);
      const hex = /^0x([0-9a-f]+)(?:'\d+)?$/.exec(name); // 'N: callgrind's recursion depth suffix
      if (hex) name = slot(parseInt(hex[1], 16)) ?? lookup(parseInt(hex[1], 16)) ?? '(JIT, unmapped)';
      else name = '(native) ' + name;
      cur = name;
      continue;
    }
    if (line.startsWith('cfn=')) { const m = /^cfn=\((\d+)\) (.*)$/.exec(line); if (m) names.set(m[1], m[2]); continue; }
    if (line.startsWith('calls=')) { skipNext = true; continue; }
    if (/^[+-]?\d/.test(line) || line.startsWith('*')) {
      if (skipNext) { skipNext = false; continue; }
      const ir = Number(line.split(' ')[1] ?? 0);
      fns.set(cur, (fns.get(cur) ?? 0) + ir);
      total += ir;
    }
  }
  return { total, fns };
}

/** V8 names a wasm function's code "JS:<name>-<index>-turbofan" in the perf map; undefined for anything else. */
function wasmName(n: string): string | undefined {
  return /^JS:(.+)-\d+-(?:turbofan|liftoff)$/.exec(n)?.[1];
}

async function driver(): Promise<void> {
  const top = Number(process.argv[process.argv.indexOf('--top') + 1]) || 25;
  const root = repoRoot();
  const dir = mkdtempSync(join(tmpdir(), 'wvs-ir-'));
  try {
    const wasm = join(dir, 'named.wasm');
    execFileSync(join(root, 'node_modules', '.bin', 'asc'), ['assembly/index.ts', '--target', 'release', '--debug', '--outFile', wasm], { cwd: root, stdio: 'inherit' });
    const runs: Run[] = [];
    for (const batches of [SHORT, LONG]) {
      const out = join(dir, `callgrind.${batches}`);
      const r = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, '--no-liftoff', '--perf-basic-prof', process.argv[1]],
        { env: { ...process.env, WVS_IR_CHILD: String(batches), WVS_IR_WASM: wasm }, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`valgrind run (${batches} batches) failed: ${r.error?.message ?? r.stderr.slice(-2000)}`);
      const pid = /==(\d+)== Callgrind/.exec(r.stderr)?.[1];
      const map = pid && `/tmp/perf-${pid}.map`;
      if (!map || !existsSync(map)) throw new Error(`no perf map for the run (pid ${pid})`);
      runs.push(parseRun(out, map));
      rmSync(map, { force: true });
    }
    const pkts = (LONG - SHORT) * BATCH;
    const diff = new Map<string, number>();
    for (const [n, v] of runs[1].fns) diff.set(n, v - (runs[0].fns.get(n) ?? 0));
    let wasmIr = 0;
    const rows: [string, number][] = [];
    for (const [n, v] of diff) {
      const w = wasmName(n);
      if (w !== undefined) { wasmIr += v; rows.push([w, v / pkts]); }
    }
    rows.sort((a, b) => b[1] - a[1]);
    // total: the whole process, the bench's frame copying and V8's garbage collection included (varies by ±10 %)
    console.log(`established Ir/packet (4K table, callgrind, ${pkts} packets differenced): wasm ${(wasmIr / pkts).toFixed(0)} (whole process ${((runs[1].total - runs[0].total) / pkts).toFixed(0)})`);
    for (const [n, v] of rows.slice(0, top)) if (Math.abs(v) >= 0.5) console.log(`  ${v.toFixed(1).padStart(8)}  ${n}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env.WVS_IR_CHILD) await child(Number(process.env.WVS_IR_CHILD), process.env.WVS_IR_WASM ?? join(repoRoot(), 'wasm', 'release.wasm'));
else if (!process.env.WVS_IR_LIB) await driver();
