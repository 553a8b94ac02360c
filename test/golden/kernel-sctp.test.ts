/*
 * SCTP services against Linux 6.1 IPVS, from what the kernel did (test/golden/kernel/cases/sctp.sh,
 * recorded in test/golden/kernel/recorded/sctp/): 299 sequences of crafted SCTP packets, each on
 * its own NAT service (198.18.2.5:(3000+N) -> 198.18.1.11:(4000+N); "natsp" keeps the port;
 * "nat6" is the same over IPv6), the client's packets sent from netns cli, the real server's
 * from netns dst, both sides captured. Every packet that reached the director (client-side.pcap
 * from the client, dest-side.pcap from the real server) is fed to the engine in send order at
 * its capture time, and:
 *  - what the engine sends equals, byte for byte, what the kernel sent on the other side
 *    (CRC32c included: recomputed when the port changes, left as it was - even wrong - when not);
 *    a packet the kernel did not translate (no conn) is not translated by the engine either;
 *  - after each recorded step: the conn's state (ipvsadm -L -n -c), its timer, and the dest's
 *    ActiveConn/InActConn.
 * Packets are matched to steps by their IPv4 id / IPv6 flow label (sctp.jsonl "id").
 */
import { describe, test, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { records } from '../../host/pcap/read.ts';
import { engine } from '../helpers/engine.ts';
import { hex } from '../helpers/pkt.ts';

interface Rec { seq: number; mode: string; fam: number; name: string; step: number; pkt: string; id: number;
  client: string; vip: string; rs: string; conns: { state: string; expire: string; dest: string }[]; active: number; inact: number }
interface Pkt { ts: number; l3: Uint8Array; id: number }

const dir = join(import.meta.dirname, 'kernel', 'recorded', 'sctp');
const have = existsSync(join(dir, 'sctp.jsonl')) && existsSync(join(dir, 'client-side.pcap'));
const recs: Rec[] = have ? readFileSync(join(dir, 'sctp.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];

const isV4 = (p: Uint8Array) => p[0] >> 4 === 4;
const pktId = (p: Uint8Array) => (isV4(p) ? (p[4] << 8) | p[5] : ((p[1] & 15) << 16) | (p[2] << 8) | p[3]);
const srcHex = (p: Uint8Array) => hex(isV4(p) ? p.subarray(12, 16) : p.subarray(8, 24));
const dstHex = (p: Uint8Array) => hex(isV4(p) ? p.subarray(16, 20) : p.subarray(24, 40));
const hostPort = (s: string) => { const i = s.lastIndexOf(':'); return { addr: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) }; };
const secs = (mmss: string) => { const [m, s] = mmss.split(':').map(Number); return m * 60 + s; };
function addrHex(a: string): string {
  if (!a.includes(':')) return hex(new Uint8Array(a.split('.').map(Number)));
  const [h, t] = a.split('::');
  const hs = h ? h.split(':') : [], ts = t ? t.split(':') : [];
  const w = [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts].map((x) => parseInt(x, 16));
  return hex(new Uint8Array(w.flatMap((x) => [x >> 8, x & 0xff])));
}
function load(side: 'client' | 'dest'): Pkt[] {
  const out: Pkt[] = [];
  for (const r of records([new Uint8Array(readFileSync(join(dir, `${side}-side.pcap`)))])) {
    const l3 = r.data.slice(14);
    out.push({ ts: Number(r.tsNs / 1000n) / 1000, l3, id: pktId(l3) });
  }
  return out;
}
/** The CRC32c stored in an SCTP packet is right (bit by bit, independent of the engine's). */
function crcOk(p: Uint8Array): boolean {
  const s = p.slice(isV4(p) ? (p[0] & 15) * 4 : 40);
  const want = s[8] | (s[9] << 8) | (s[10] << 16) | (s[11] << 24);
  s.fill(0, 8, 12);
  let c = 0xffffffff;
  for (const x of s) { c ^= x; for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1; }
  return (~c >>> 0) === (want >>> 0);
}

describe.skipIf(!have)('SCTP vs Linux 6.1 IPVS (recorded)', () => {
  test('every packet: NAT bytes (CRC32c included), conn state, timer, ActiveConn/InActConn', async () => {
    const e = await engine({ connMax: 1 << 14, svcMax: 1024 });
    const bySeq = new Map<number, Rec[]>();
    for (const r of recs) { if (!bySeq.has(r.seq)) bySeq.set(r.seq, []); bySeq.get(r.seq)!.push(r); }
    const clients = new Set<string>(), servers = new Set<string>(), vips = new Set<string>();
    for (const seq of bySeq.values()) {
      const v = hostPort(seq[0].vip), d = hostPort(seq[0].rs), c = hostPort(seq[0].client);
      const key = { proto: 'SCTP' as const, addr: v.addr, port: v.port };
      e.addService({ ...key, sched: 'rr' });
      e.addDest(key, { addr: d.addr, port: d.port, fwd: 'Masq' });
      clients.add(addrHex(c.addr)); servers.add(addrHex(d.addr)); vips.add(addrHex(v.addr));
    }
    const client = load('client'), dest = load('dest');
    // what reached the director: the client's packets (client side) and the real server's (dest side)
    const inputs = [...client.filter((p) => clients.has(srcHex(p.l3))).map((p) => ({ ...p, fromClient: true })),
      ...dest.filter((p) => servers.has(srcHex(p.l3))).map((p) => ({ ...p, fromClient: false }))].sort((a, b) => a.id - b.id);
    // what the director sent: to the real server (dest side), to the client (client side)
    const toServer = new Map(dest.filter((p) => clients.has(srcHex(p.l3))).map((p) => [p.id, p]));
    const toClient = new Map(client.filter((p) => !clients.has(srcHex(p.l3))).map((p) => [p.id, p]));
    const stepOf = new Map<number, Rec>(), waitAfter = new Map<number, Rec>();
    for (const r of recs) (r.pkt.startsWith('w:') ? waitAfter : stepOf).set(r.id, r);

    const t0 = inputs[0].ts;
    const diffs: string[] = [];
    let bytes = 0, keptBadCrc = 0, fixedCrc = 0, notNatted = 0, steps = 0;
    const check = (r: Rec, what: string, waited: boolean) => {
      steps++;
      const c = hostPort(r.client), v = hostPort(r.vip);
      const ours = e.conns().filter((x) => x.proto === 'SCTP' && x.caddr === c.addr && x.cport === c.port && x.vport === v.port);
      const st = ours.map((x) => x.state).join(','), kst = r.conns.map((x) => x.state).join(',');
      if (st !== kst) diffs.push(`${what}: state ${st || '(no conn)'}, kernel ${kst || '(no conn)'}`);
      else if (ours.length === 1) {
        // the kernel lists whole seconds left, read ~50 ms after the packet: 61 s shows as 01:00
        const shown = Math.ceil(ours[0].expiresMs / 1000) - 1, k = secs(r.conns[0].expire);
        if (waited ? Math.abs(shown - k) > 1 : shown !== k) diffs.push(`${what}: expire ${shown} s, kernel ${r.conns[0].expire}`);
      }
      const d = e.services().find((s) => s.proto === 'SCTP' && s.port === v.port && s.addr === v.addr)!.dests[0];
      if (d.activeconns !== r.active || d.inactconns !== r.inact) {
        diffs.push(`${what}: ActiveConn/InActConn ${d.activeconns}/${d.inactconns}, kernel ${r.active}/${r.inact}`);
      }
    };
    for (const p of inputs) {
      const now = p.ts - t0 + 1_000_000;
      const w = waitAfter.get(p.id - 1);
      if (w) { e.tick(now - 1); check(w, `seq ${w.seq} "${w.name}" step ${w.step} (${w.pkt})`, true); }
      e.tick(now);
      const r = e.processFrame(p.l3, now);
      const rec = stepOf.get(p.id);
      const what = `id ${p.id}` + (rec ? ` seq ${rec.seq} "${rec.name}" step ${rec.step} (${rec.pkt})` : ` (${p.fromClient ? 'client' : 'server'})`);
      const k = (p.fromClient ? toServer : toClient).get(p.id);
      // translated by the kernel: the client's packet now goes to the real server / the server's comes from the VIP
      const natted = k && (p.fromClient ? servers.has(dstHex(k.l3)) : vips.has(srcHex(k.l3)));
      if (natted) {
        if (r.verdict !== 'XMIT') diffs.push(`${what}: verdict ${r.verdict} ${r.reason}, the kernel forwarded it`);
        else if (hex(r.data) !== hex(k.l3)) diffs.push(`${what}: bytes\n  ours   ${hex(r.data)}\n  kernel ${hex(k.l3)}`);
        else {
          bytes++;
          if (!crcOk(p.l3)) { if (crcOk(k.l3)) fixedCrc++; else keptBadCrc++; }
        }
      } else {
        // no conn: the kernel left it alone (routed it untranslated, or took it locally)
        if (r.verdict === 'XMIT') diffs.push(`${what}: we translated a packet the kernel did not`);
        notNatted++;
      }
      if (rec) check(rec, what, false);
    }
    console.log(`SCTP: ${inputs.length} packets in, ${bytes} translated byte-identical to the kernel's (bad CRC32c: ${fixedCrc} ` +
      `recomputed as the kernel did, ${keptBadCrc} left bad as the kernel did), ${notNatted} left alone by both; ` +
      `${steps} recorded steps compared; ${diffs.length} differences`);
    expect(diffs.slice(0, 40)).toEqual([]);
    expect(inputs.length).toBe(1261);
    expect(steps).toBe(recs.length);
    expect(bytes).toBeGreaterThan(1000);
  });
});
