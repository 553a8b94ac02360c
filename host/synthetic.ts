/*
 * host/synthetic.ts - `wasmvs synthetic`: a built-in workload driven through the engine alone.
 *
 * Thousands of TCP and UDP flows from many clients to two virtual services: handshakes, data,
 * FIN and RST closes, replies from the real servers (built from what the engine forwarded to
 * them), on a virtual clock. Prints the per-real-server split, conn states and counters in
 * ipvsadm's `-L -n --stats` layout. Runs anywhere Node runs: no TUN, no root.
 */
import { loadEngine } from './engine-node.ts';
import type { Engine } from './engine.ts';
import { ip, fields, type L4 } from './packet-builder.ts';
import { formatList } from './rules/format.ts';

export interface SyntheticOptions { tcpFlows: number; udpFlows: number; clients: number; seed: number }

const VIP = '198.18.0.100';
const TCP_KEY = { proto: 'TCP', addr: VIP, port: 80 } as const;
const UDP_KEY = { proto: 'UDP', addr: VIP, port: 53 } as const;

/** A small deterministic PRNG (xorshift32) so every run prints the same numbers. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 0x100000000; };
}

interface Flow { caddr: string; cport: number; proto: 'tcp' | 'udp'; daddr?: string; dport?: number; end: 'fin' | 'rst' | 'open' | 'noreply' | 'reply' }

/** Push frames through the engine in batches; returns each frame's result and output bytes. */
function run(e: Engine, frames: Uint8Array[], now: number) {
  const out: { verdict: string; data: Uint8Array }[] = [];
  for (let i = 0; i < frames.length; i += e.slots) {
    const batch = frames.slice(i, i + e.slots);
    batch.forEach((f, k) => e.writeFrame(k, f));
    e.process(batch.length, now);
    batch.forEach((_, k) => out.push({ verdict: e.result(k).verdict, data: e.output(k) }));
  }
  return out;
}

export async function synthetic(opts: SyntheticOptions): Promise<{ engine: Engine; report: string }> {
  const e = await loadEngine({ connMax: 1 << 16, slots: 256 });
  e.addService({ ...TCP_KEY, sched: 'wrr' });
  [['198.18.1.1', 3], ['198.18.1.2', 2], ['198.18.1.3', 1]].forEach(([a, w]) =>
    e.addDest(TCP_KEY, { addr: a as string, port: 8080, weight: w as number, fwd: 'Masq' }));
  e.addService({ ...UDP_KEY, sched: 'rr' });
  ['198.18.1.11', '198.18.1.12'].forEach((a) => e.addDest(UDP_KEY, { addr: a, port: 53, fwd: 'Masq' }));

  const rand = rng(opts.seed);
  const flows: Flow[] = [];
  const client = (i: number) => `198.19.${(i >> 8) & 0xff}.${(i & 0xff) || 1}`;
  for (let i = 0; i < opts.tcpFlows; i++) {
    const r = rand();
    flows.push({ caddr: client(Math.floor(rand() * opts.clients)), cport: 10000 + i, proto: 'tcp', end: r < 0.8 ? 'fin' : r < 0.95 ? 'rst' : 'open' });
  }
  for (let i = 0; i < opts.udpFlows; i++) {
    flows.push({ caddr: client(Math.floor(rand() * opts.clients)), cport: 30000 + i, proto: 'udp', end: rand() < 0.9 ? 'reply' : 'noreply' });
  }
  const tcp = flows.filter((f) => f.proto === 'tcp');
  const udp = flows.filter((f) => f.proto === 'udp');
  let now = 1_000;
  const c2v = (f: Flow, l4: Partial<L4>) => ip(f.caddr, VIP, { proto: f.proto, sport: f.cport, dport: f.proto === 'tcp' ? 80 : 53, ...l4 } as L4);
  const d2c = (f: Flow, l4: Partial<L4>) => ip(f.daddr!, f.caddr, { proto: f.proto, sport: f.dport!, dport: f.cport, ...l4 } as L4);
  const req = new Uint8Array(100).fill(0x61), resp = new Uint8Array(1000).fill(0x62);

  // handshake: SYN in (learn the real server from the forwarded frame), SYN-ACK out, ACK in
  const syn = run(e, tcp.map((f) => c2v(f, { flags: 'S', seq: 1 })), now += 10);
  syn.forEach((r, k) => { if (r.verdict === 'XMIT') { const x = fields(r.data); tcp[k].daddr = x.dst; tcp[k].dport = x.dport; } });
  const live = tcp.filter((f) => f.daddr);
  run(e, live.map((f) => d2c(f, { flags: 'SA', seq: 1000, ack: 2 })), now += 10);
  run(e, live.map((f) => c2v(f, { flags: 'A', seq: 2, ack: 1001 })), now += 10);
  // a request and its answer
  run(e, live.map((f) => c2v(f, { flags: 'PA', seq: 2, ack: 1001, payload: req })), now += 10);
  run(e, live.map((f) => d2c(f, { flags: 'PA', seq: 1001, ack: 102, payload: resp })), now += 10);
  // closes: FIN from the client, the server ACKs and closes, the client ACKs; or a RST
  const fin = live.filter((f) => f.end === 'fin'), rst = live.filter((f) => f.end === 'rst');
  run(e, [...fin.map((f) => c2v(f, { flags: 'FA', seq: 102, ack: 2001 })), ...rst.map((f) => c2v(f, { flags: 'R', seq: 102 }))], now += 10);
  run(e, fin.map((f) => d2c(f, { flags: 'A', seq: 2001, ack: 103 })), now += 10);
  run(e, fin.map((f) => d2c(f, { flags: 'FA', seq: 2001, ack: 103 })), now += 10);
  run(e, fin.map((f) => c2v(f, { flags: 'A', seq: 103, ack: 2002 })), now += 10);
  // UDP: a query and (mostly) an answer
  const q = run(e, udp.map((f) => c2v(f, { payload: req.subarray(0, 40) })), now += 10);
  q.forEach((r, k) => { if (r.verdict === 'XMIT') { const x = fields(r.data); udp[k].daddr = x.dst; udp[k].dport = x.dport; } });
  run(e, udp.filter((f) => f.daddr && f.end === 'reply').map((f) => d2c(f, { payload: resp.subarray(0, 200) })), now += 10);
  e.tick(now);

  const lines: string[] = [];
  const services = e.services();
  lines.push(`wasmvs synthetic workload: ${tcp.length} TCP flows (${fin.length} FIN, ${rst.length} RST, ${live.length - fin.length - rst.length} left open), ${udp.length} UDP flows, ${opts.clients} clients`, '');
  lines.push('Per real server (new connections):');
  for (const s of services) for (const d of [...s.dests].sort((a, b) => a.addr.localeCompare(b.addr))) {
    lines.push(`  ${s.proto} ${s.addr}:${s.port} -> ${d.addr}:${d.port}  weight ${d.weight}  conns ${d.stats.conns}  active ${d.activeconns}  inactive ${d.inactconns}`);
  }
  const states = new Map<string, number>();
  for (const c of e.conns()) states.set(`${c.proto} ${c.state}`, (states.get(`${c.proto} ${c.state}`) ?? 0) + 1);
  lines.push('', 'Connection states:');
  for (const [k, v] of [...states].sort()) lines.push(`  ${k.padEnd(16)} ${v}`);
  lines.push('', 'Counters:');
  for (const [k, v] of Object.entries(e.counters())) if (v !== 0n) lines.push(`  ${k.padEnd(24)} ${v}`);
  lines.push('', formatList(services, { numeric: true, stats: true, size: e.connTabSize() }).trimEnd());
  return { engine: e, report: lines.join('\n') + '\n' };
}

export async function main(argv: string[]): Promise<number> {
  const opts: SyntheticOptions = { tcpFlows: 3000, udpFlows: 1500, clients: 500, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = Number(argv[i + 1]);
    const num = (): number => { if (!Number.isInteger(v) || v < 0 || v > 1_000_000) throw new Error(`${a} needs a whole number (0..1000000)`); i++; return v; };
    if (a === '--tcp') opts.tcpFlows = num();
    else if (a === '--udp') opts.udpFlows = num();
    else if (a === '--clients') opts.clients = Math.max(1, num());
    else if (a === '--seed') opts.seed = num();
    else if (a === '-h' || a === '--help') { process.stdout.write('usage: wasmvs synthetic [--tcp N] [--udp N] [--clients N] [--seed N]\n'); return 0; }
    else { process.stderr.write(`wasmvs synthetic: unknown option ${a}\n`); return 2; }
  }
  const { report } = await synthetic(opts);
  process.stdout.write(report);
  return 0;
}
