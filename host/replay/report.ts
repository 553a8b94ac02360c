/*
 * host/replay/report.ts - the replay summary as text (what `wasmvs replay` prints) and as JSON.
 * Runtime-agnostic, pure.
 */
import type { ReplaySummary } from './replay.ts';

const line = (k: string, v: string | number) => `  ${k.padEnd(28)} ${v}\n`;

function section(title: string, rec: Record<string, number>, skipZero = true): string {
  const rows = Object.entries(rec).filter(([, v]) => !skipZero || v !== 0);
  if (rows.length === 0) return '';
  return `${title}\n` + rows.map(([k, v]) => line(k, v)).join('');
}

export function formatSummary(s: ReplaySummary): string {
  const i = s.input;
  let out = '';
  out += `Input (${i.format})\n`;
  out += line('packets read', i.packets);
  out += line('fed to the engine', i.fed);
  const skipped = Object.values(i.skipped).reduce((a, b) => a + b, 0);
  out += line('skipped', skipped);
  for (const [k, v] of Object.entries(i.skipped)) out += line(`  ${k}`, `${v} (first: packet ${i.firstSkipped[k]})`);
  if (i.clipped) out += line('cut to snaplen', i.clipped);
  if (i.truncated) out += line('truncated at end', i.truncated);
  if (i.skippedBlocks) out += line('pcapng blocks skipped', i.skippedBlocks);
  if (i.timeBackwards) out += line('timestamps going back', i.timeBackwards);
  if (i.partialCsum) {
    out += line('partial checksums', `${i.partialCsum} (checksum offload on the capturing host): ` +
      (i.partialCsumCompleted ? 'completed as the NIC would have' : 'kept as captured (--keep-partial-csum)'));
  }
  if (i.firstMs !== null && i.lastMs !== null) out += line('capture duration', `${((i.lastMs - i.firstMs) / 1000).toFixed(3)} s`);
  for (const n of i.notes) out += `  note: ${n}\n`;
  if (i.error) out += `  error: ${i.error.message} — replay stopped there\n`;
  out += `Output\n`;
  out += line('packets written', s.output.packets);
  out += line('bytes written', s.output.bytes);
  if (s.output.sentByEngine) out += line('  sent by the engine itself', `${s.output.sentByEngine} (fragments after the first, ICMP errors, ARP/ND)`);
  for (const [k, v] of Object.entries(s.output.verdicts)) out += line(`  verdict ${k}`, v);
  out += section('Dropped by reason', s.output.dropReasons);
  out += section('Engine counters', s.engine.counters);
  out += `Connections\n`;
  out += line('created', s.conns.created);
  out += line('timeouts fired', s.conns.timeoutsFired);
  out += line('live at end', s.conns.liveAtEnd);
  for (const svc of s.conns.byService) {
    out += line(`  ${svc.service}`, `${svc.conns} conns`);
    for (const d of svc.dests) out += line(`    -> ${d.rs}`, `${d.conns} conns`);
  }
  out += section('State transitions (sampled per batch)', s.conns.transitions);
  out += '\n' + s.table;
  return out;
}

export function summaryJson(s: ReplaySummary): string {
  return JSON.stringify(s, null, 2) + '\n';
}
