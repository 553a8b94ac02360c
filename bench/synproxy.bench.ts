/*
 * bench/synproxy.bench.ts - what the SYN proxy costs per packet in the engine (assembly/synproxy.ts):
 *   SYN to a plain NAT service (a conn made) next to a SYN to a synproxy service (a cookie SYN-ACK,
 *   no conn); the cookie ACK (check, schedule, conn, the SYN to the server); and an established
 *   segment each way with translation next to plain NAT. N flows (WVS_BENCH_CONNS, 200,000) in
 *   batches of 256; only engine.process() is timed. Run: npm run bench:synproxy
 */
import { loadEngine } from '../host/engine-node.ts';
import { ip } from '../host/packet-builder.ts';
import { SVC_F_SYNPROXY } from '../host/types.ts';
import type { Engine } from '../host/engine.ts';

const N = Number(process.env.WVS_BENCH_CONNS ?? 200_000);
const BATCH = 256, VIP = '198.18.0.100', RS = '198.18.1.1';
const SYN_OPTS = new Uint8Array([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 100, 0, 0, 0, 0, 1, 3, 3, 7]);
const src = (i: number) => `198.19.${(i >> 8) & 255}.${i & 255}`;
const sport = (i: number) => 1024 + (i >>> 16);

async function mk(synproxy: boolean): Promise<Engine> {
  const e = await loadEngine({ connMax: 1 << 20, connInit: 1 << 19, slots: BATCH, slotSize: 2048, seed: 7, synproxySecret: new Uint8Array(32).fill(3) }, 'release');
  const key = { proto: 'TCP' as const, addr: VIP, port: 80 };
  e.addService({ ...key, sched: 'rr', flags: synproxy ? SVC_F_SYNPROXY : 0 });
  e.addDest(key, { addr: RS, port: 8080, fwd: 'Masq' });
  return e;
}

/** Run frames f(i) for i < N through process() in batches; ns per packet; `after(i, out)` sees each output. */
function run(e: Engine, f: (i: number) => Uint8Array, now: number, after?: (i: number, out: Uint8Array) => void): number {
  let ns = 0;
  for (let b = 0; b < N; b += BATCH) {
    const n = Math.min(BATCH, N - b);
    for (let k = 0; k < n; k++) e.writeFrame(k, f(b + k));
    const t = process.hrtime.bigint();
    e.process(n, now);
    ns += Number(process.hrtime.bigint() - t);
    if (after) for (let k = 0; k < n; k++) after(b + k, e.output(k));
  }
  return ns / N;
}

const rows: Record<string, string>[] = [];
const row = (what: string, nat: number, sp: number) => rows.push({ packet: what, 'NAT ns': nat.toFixed(0), 'synproxy ns': sp.toFixed(0) });

const plain = await mk(false), sp = await mk(true);
const syn = (i: number) => ip(src(i), VIP, { proto: 'tcp', sport: sport(i), dport: 80, flags: 'S', seq: 1000 + i, options: SYN_OPTS });
const synNat = run(plain, syn, 1000);
const cookies = new Uint32Array(N);
const synSp = run(sp, syn, 1000, (i, out) => { cookies[i] = new DataView(out.buffer, out.byteOffset).getUint32(24); });
row('SYN (NAT: conn made; synproxy: cookie SYN-ACK, no conn)', synNat, synSp);
const ackOpts = (i: number, ecr: number) => new Uint8Array([1, 1, 8, 10, 0, 0, 0, 101, ecr >>> 24, (ecr >>> 16) & 255, (ecr >>> 8) & 255, ecr & 255]);
const ackNat = run(plain, (i) => ip(src(i), VIP, { proto: 'tcp', sport: sport(i), dport: 80, flags: 'A', seq: 1001 + i, ack: 5001, options: ackOpts(i, 0) }), 1001);
const ackSp = run(sp, (i) => ip(src(i), VIP, { proto: 'tcp', sport: sport(i), dport: 80, flags: 'A', seq: 1001 + i, ack: cookies[i] + 1, options: ackOpts(i, 64) }), 1001);
row('handshake ACK (NAT: forwarded; synproxy: cookie checked, conn made, SYN to the server)', ackNat, ackSp);
if (sp.conns().length === 0) throw new Error('no synproxy conn was made: the cookies did not validate');
// the server's SYN-ACK: synproxy turns it into the client's window update and queues the server's ACK
const synack = (i: number) => ip(RS, src(i), { proto: 'tcp', sport: 8080, dport: sport(i), flags: 'SA', seq: 9000, ack: 1001 + i, options: SYN_OPTS });
const saNat = run(plain, synack, 1002);
const saSp = run(sp, (i) => { if (i % BATCH === 0) sp.drain(); return synack(i); }, 1002);
row('server SYN-ACK (synproxy: window update + queued ACK)', saNat, saSp);
sp.drain();
const data = (i: number, ack: number) => ip(src(i), VIP, { proto: 'tcp', sport: sport(i), dport: 80, flags: 'A', seq: 1001 + i, ack, options: ackOpts(i, 64) });
row('established client segment (ack, TSecr translated)', run(plain, (i) => data(i, 9001), 1003), run(sp, (i) => data(i, cookies[i] + 1), 1003));
const resp = (i: number) => ip(RS, src(i), { proto: 'tcp', sport: 8080, dport: sport(i), flags: 'A', seq: 9001, ack: 1001 + i, options: ackOpts(i, 101) });
row('established server segment (seq, TSval, window translated)', run(plain, resp, 1004), run(sp, resp, 1004));
console.log(`SYN proxy cost per packet, ${N} flows, batches of ${BATCH} (engine.process() only)`);
console.table(rows);
console.log(`conns: NAT ${plain.conns().length}, synproxy ${sp.conns().length}; counters: ${JSON.stringify(Object.fromEntries(Object.entries(sp.counters()).filter(([k, v]) => k.startsWith('synproxy') && v > 0n).map(([k, v]) => [k, String(v)])))}`);
