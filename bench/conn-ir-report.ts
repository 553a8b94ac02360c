/*
 * bench/conn-ir-report.ts - the difference of two callgrind runs of bench/conn-ir.ts, per packet:
 * all instructions, and the engine's wasm functions one by one (self cost), named through V8's
 * perf map (node --perf-basic-prof writes /tmp/perf-<pid>.map; the pid is callgrind's).
 *
 *   node dist/bench/conn-ir-report.js <callgrind.out.A> <N_A> <callgrind.out.B> <N_B>
 *
 * The runs must use --dump-instr=yes --compress-pos=no --compress-strings=no (bench/conn-ir.sh).
 */
import { readFileSync } from 'node:fs';

interface Run { total: number; fns: Map<string, number> }

function analyse(file: string): Run {
  const text = readFileSync(file, 'utf8');
  const pid = /^pid: (\d+)$/m.exec(text)?.[1];
  // the perf map: start, size, name; only the wasm functions are kept (JS:<file>/<name>-<index>-turbofan)
  const ranges: [number, number, string][] = [];
  for (const line of readFileSync(`/tmp/perf-${pid}.map`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) JS:(assembly\/\S+|wasm-function\[\d+\])-\d+-turbofan$/.exec(line);
    if (m) ranges.push([parseInt(m[1], 16), parseInt(m[2], 16), m[3].replace(/^assembly\//, '')]);
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
  for (const line of text.split('\n')) {
    if (line.startsWith('calls=')) { afterCall = true; continue; }
    if (!/^0x[0-9a-f]+ /.test(line)) continue;
    const sp = line.split(' ');
    if (afterCall) { afterCall = false; continue; }   // a call's inclusive cost, not this code's own
    const ir = Number(sp[2] ?? 0);
    total += ir;
    const name = find(parseInt(sp[0], 16));
    if (name) fns.set(name, (fns.get(name) ?? 0) + ir);
  }
  return { total, fns };
}

const [fa, na, fb, nb] = process.argv.slice(2);
const A = analyse(fa), B = analyse(fb);
const dn = Number(nb) - Number(na);
const per = (x: number) => x / dn;
let wasm = 0;
const rows: [string, number][] = [];
for (const name of new Set([...A.fns.keys(), ...B.fns.keys()])) {
  const d = per((B.fns.get(name) ?? 0) - (A.fns.get(name) ?? 0));
  wasm += d;
  if (Math.abs(d) >= 0.5) rows.push([name, d]);
}
rows.sort((p, q) => q[1] - p[1]);
console.log(`per packet: ${per(B.total - A.total).toFixed(0)} instructions in all, ${wasm.toFixed(0)} in the engine's wasm`);
for (const [name, d] of rows) console.log(`  ${d.toFixed(1).padStart(8)}  ${name}`);
