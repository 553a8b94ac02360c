/*
 * host/control/metrics.ts - Prometheus text exposition (format 0.0.4) of a director's state.
 *
 * Pure: takes the listing records and counters, returns text. No Node imports.
 * Counters are the ipvsadm --stats numbers (since start or the last -Z), gauges the
 * --rate numbers (the kernel estimator's 8-second moving averages, per second) and the
 * dests' active/inactive/persistent conn counts; engine counters carry their own names.
 */
import type { DestView, Rates, ServiceView, Stats } from '../types.ts';

export interface MetricsInput {
  services: readonly ServiceView[];
  totals: { stats: Stats; rates: Rates };
  /** Engine.counters(): rx, tx, drop_* ... */
  counters: Readonly<Record<string, bigint>>;
  /** conns in the table now, and its capacity */
  conns: number;
  connCapacity: number;
}

type Labels = Record<string, string>;
interface Family { name: string; type: 'counter' | 'gauge'; help: string; samples: { labels: Labels; value: bigint | number }[] }

/** Label values escape backslash, double quote and newline. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(l: Labels): string {
  const e = Object.entries(l);
  return e.length ? `{${e.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
}

function svcLabels(s: ServiceView): Labels {
  return {
    proto: s.fwmark ? 'fwm' : (s.proto ?? '').toLowerCase(),
    vip: s.fwmark ? '' : s.addr,
    vport: String(s.fwmark ? 0 : s.port),
    fwmark: String(s.fwmark >>> 0),
    af: s.af === 6 ? 'ipv6' : 'ipv4',
  };
}
const destLabels = (s: ServiceView, d: DestView): Labels => ({ ...svcLabels(s), rip: d.addr, rport: String(d.port) });

const STATS: [keyof Stats, string, string][] = [
  ['conns', 'conns_total', 'Connections scheduled'],
  ['inpkts', 'in_packets_total', 'Packets from clients (ipvsadm InPkts)'],
  ['outpkts', 'out_packets_total', 'Packets from real servers (ipvsadm OutPkts)'],
  ['inbytes', 'in_bytes_total', 'IP bytes from clients (ipvsadm InBytes)'],
  ['outbytes', 'out_bytes_total', 'IP bytes from real servers (ipvsadm OutBytes)'],
];
const RATES: [keyof Rates, string, string][] = [
  ['cps', 'conn_rate', 'Connections per second (ipvsadm CPS, 8 s estimator)'],
  ['inpps', 'in_packet_rate', 'Client packets per second (ipvsadm InPPS)'],
  ['outpps', 'out_packet_rate', 'Real-server packets per second (ipvsadm OutPPS)'],
  ['inbps', 'in_byte_rate', 'Client bytes per second (ipvsadm InBPS)'],
  ['outbps', 'out_byte_rate', 'Real-server bytes per second (ipvsadm OutBPS)'],
];

/** The whole /metrics page. */
export function formatMetrics(m: MetricsInput): string {
  const fams: Family[] = [];
  const fam = (name: string, type: Family['type'], help: string): Family => {
    const f: Family = { name: `wasmvs_${name}`, type, help, samples: [] };
    fams.push(f);
    return f;
  };

  for (const [k, n, h] of STATS) fam(n, 'counter', `${h}, all services`).samples.push({ labels: {}, value: m.totals.stats[k] });
  for (const [k, n, h] of RATES) fam(n, 'gauge', `${h}, all services`).samples.push({ labels: {}, value: m.totals.rates[k] });
  fam('connections', 'gauge', 'Entries in the connection table').samples.push({ labels: {}, value: m.conns });
  fam('connection_table_size', 'gauge', 'Capacity of the connection table').samples.push({ labels: {}, value: m.connCapacity });
  fam('services', 'gauge', 'Virtual services configured').samples.push({ labels: {}, value: m.services.length });

  for (const [k, n, h] of STATS) {
    const f = fam(`service_${n}`, 'counter', `${h}, per virtual service`);
    for (const s of m.services) f.samples.push({ labels: svcLabels(s), value: s.stats[k] });
  }
  for (const [k, n, h] of RATES) {
    const f = fam(`service_${n}`, 'gauge', `${h}, per virtual service`);
    for (const s of m.services) f.samples.push({ labels: svcLabels(s), value: s.rates[k] });
  }
  for (const [k, n, h] of STATS) {
    const f = fam(`dest_${n}`, 'counter', `${h}, per real server`);
    for (const s of m.services) for (const d of s.dests) f.samples.push({ labels: destLabels(s, d), value: d.stats[k] });
  }
  for (const [k, n, h] of RATES) {
    const f = fam(`dest_${n}`, 'gauge', `${h}, per real server`);
    for (const s of m.services) for (const d of s.dests) f.samples.push({ labels: destLabels(s, d), value: d.rates[k] });
  }
  const perDest: [keyof DestView, string, string][] = [
    ['activeconns', 'dest_active_conns', 'Active connections (ipvsadm ActiveConn)'],
    ['inactconns', 'dest_inactive_conns', 'Inactive connections (ipvsadm InActConn)'],
    ['persistconns', 'dest_persistent_conns', 'Persistence templates (ipvsadm PersistConn)'],
    ['weight', 'dest_weight', 'Scheduling weight'],
  ];
  for (const [k, n, h] of perDest) {
    const f = fam(n, 'gauge', h);
    for (const s of m.services) for (const d of s.dests) f.samples.push({ labels: destLabels(s, d), value: d[k] as number });
  }

  const ev = fam('engine_events_total', 'counter', 'Engine counters by name: packets received/sent, drops by reason, conns created/expired');
  for (const [name, v] of Object.entries(m.counters)) ev.samples.push({ labels: { name }, value: v });
  const drops = fam('drops_total', 'counter', 'Packets dropped by the engine, by reason');
  for (const [name, v] of Object.entries(m.counters)) if (name.startsWith('drop_')) drops.samples.push({ labels: { reason: name.slice(5) }, value: v });

  let out = '';
  for (const f of fams) {
    out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) out += `${f.name}${labelText(s.labels)} ${String(s.value)}\n`;
  }
  return out;
}
