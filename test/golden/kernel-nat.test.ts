/*
 * The kernel's own NAT bytes, replayed through our engine.
 *
 * test/golden/kernel/recorded/{nat-bytes,nat6}/ hold what a real Linux 6.1 IPVS did with
 * crafted packets (cases/nat-bytes.sh, cases/nat6.sh): client-side.pcap (client ↔ VIP) and
 * dest-side.pcap (director ↔ real server). Every packet the director received is fed to the
 * engine at its capture time, and what the engine sends must equal, byte for byte, what the
 * kernel sent on the other side (matched by IPv4 id, or by order for IPv6). A packet the
 * kernel did not forward must not be forwarded by us either.
 */
import { describe, test, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { records } from '../../host/pcap/read.ts';
import { engine } from '../helpers/engine.ts';
import { hex, checkPacket } from '../helpers/pkt.ts';

interface Pkt { ts: number; side: 'client' | 'dest'; l3: Uint8Array; used?: boolean }

function load(dir: string, side: 'client' | 'dest'): Pkt[] {
  const out: Pkt[] = [];
  for (const r of records([new Uint8Array(readFileSync(join(dir, `${side}-side.pcap`)))])) {
    out.push({ ts: Number(r.tsNs / 1000n) / 1000, side, l3: r.data.slice(14) });   // Ethernet → IP
  }
  return out;
}

const isV4 = (p: Uint8Array) => p[0] >> 4 === 4;
const src = (p: Uint8Array) => (isV4(p) ? [...p.subarray(12, 16)].join('.') : hex(p.subarray(8, 24)));
const proto = (p: Uint8Array) => (isV4(p) ? p[9] : p[6]);
const ipid = (p: Uint8Array) => (p[4] << 8) | p[5];

const CASES = [
  { name: 'IPv4', dir: 'nat-bytes', vip: '198.18.0.100', rs: '198.18.1.11', rsr: '198.18.1.1' },
  { name: 'IPv6', dir: 'nat6', vip: '2001:2::100', rs: '2001:2:0:1::11', rsr: '2001:2:0:1::1' },
];

const root = join(import.meta.dirname, 'kernel', 'recorded');

describe.each(CASES)('kernel NAT bytes, $name', (c) => {
  const dir = join(root, c.dir);
  test.skipIf(!existsSync(join(dir, 'client-side.pcap')))('every packet the director forwarded, byte for byte', async () => {
    const e = await engine();
    const t = { proto: 'TCP', addr: c.vip, port: 80 } as const;
    const u54 = { proto: 'UDP', addr: c.vip, port: 54 } as const;
    const u53 = { proto: 'UDP', addr: c.vip, port: 53 } as const;
    e.addService({ ...t, sched: 'rr' }); e.addDest(t, { addr: c.rs, port: 8080, fwd: 'Masq' });
    e.addService({ ...u54, sched: 'rr' }); e.addDest(u54, { addr: c.rs, port: 5454, fwd: 'Masq' });
    e.addService({ ...u53, sched: 'rr' }); e.addDest(u53, { addr: c.rsr, port: 5353, fwd: 'Masq' });
    const client = load(dir, 'client'), dest = load(dir, 'dest');
    const all = [...client, ...dest].sort((a, b) => a.ts - b.ts);
    // inputs: what reached the director from either side (not what it sent)
    const rsSrcs = new Set(dest.filter((p) => p.l3.length && !client.some((q) => src(q.l3) === src(p.l3))).map((p) => src(p.l3)));
    let compared = 0, unforwarded = 0, partial = 0, echo = 0;
    const deviations: string[] = [];
    const report: string[] = [];
    for (const p of all) {
      if (p.used) continue;
      const fromClient = p.side === 'client' && !isFromVip(p.l3, c.vip);
      const fromDest = p.side === 'dest' && rsSrcs.has(src(p.l3));
      if (!fromClient && !fromDest) continue;
      p.used = true;
      const r = e.processFrame(p.l3, p.ts);
      const other = fromClient ? dest : client;
      // the kernel's counterpart: same IPv4 id and protocol, or (IPv6) the next unused packet of
      // the same protocol sent within 100 ms on the other side
      const cand = other.find((q) => !q.used && q.ts >= p.ts - 5 && q.ts <= p.ts + 100 && proto(q.l3) === proto(p.l3) &&
        (isV4(p.l3) ? ipid(q.l3) === ipid(p.l3) : !isFromVip(q.l3, c.vip) || fromDest));
      if (cand) {
        cand.used = true;
        const what = `packet at ${p.ts} (${p.side}) → ${cand.side}`;
        expect.soft(r.verdict, what).toBe('XMIT');
        const kernelValid = checkPacket(cand.l3).length === 0;
        const inputValid = checkPacket(p.l3).length === 0;
        if (isV4(p.l3) && proto(p.l3) === 17 && udpCsum(p.l3) === 0) {
          // deliberate difference: a zero UDP checksum stays zero (RFC 768); 6.1 fills in a valid one
          expect.soft(udpCsum(r.data), what).toBe(0);
          expect.soft(hex(maskL4Csum(r.data)), what).toBe(hex(maskL4Csum(cand.l3)));
          expect.soft(checkPacket(cand.l3), what).toEqual([]);
          deviations.push(`${what}: UDP checksum 0 kept (kernel computed ${udpCsum(cand.l3).toString(16)})`);
        } else if (!kernelValid && inputValid) {
          // the kernel left a partial checksum for the NIC to finish (CHECKSUM_PARTIAL on a veth):
          // the wire bytes equal ours except that field, and ours is complete and valid
          expect.soft(hex(maskL4Csum(r.data)), what).toBe(hex(maskL4Csum(cand.l3)));
          partial++;
        } else {
          expect.soft(hex(r.data), what).toBe(hex(cand.l3));
          compared++;
        }
        if (inputValid) expect.soft(checkPacket(r.data), what).toEqual([]);
      } else {
        if (r.verdict === 'LOCAL') {
          // an echo reply from the VIP: the kernel's is the next ICMP packet from the VIP on the client side
          const k = client.find((q) => !q.used && q.ts >= p.ts && q.ts <= p.ts + 100 && isFromVip(q.l3, c.vip) && proto(q.l3) === proto(p.l3));
          expect.soft(k, `kernel reply to the echo request at ${p.ts}`).toBeDefined();
          if (k) {
            k.used = true;
            // the kernel picks a fresh IPv4 id (ip_select_ident) and an IPv6 flow label of its own
            expect.soft(hex(maskIpId(r.data)), `echo reply at ${p.ts}`).toBe(hex(maskIpId(k.l3)));
            expect.soft(checkPacket(r.data)).toEqual([]);
            echo++;
          }
          continue;
        }
        expect.soft(r.verdict, `packet at ${p.ts} (${p.side}) was not forwarded by the kernel`).not.toBe('XMIT');
        unforwarded++;
      }
    }
    expect(compared).toBeGreaterThanOrEqual(12);
    console.log(`${c.name}: ${compared} packets byte-identical to the kernel's, ${partial} identical but for the kernel's partial checksum, ` +
      `${echo} echo replies equal but for the IPv4 id / IPv6 flow label, ${unforwarded} not forwarded by either; ${[...deviations, ...report].join('; ')}`);
  });
});

function isFromVip(p: Uint8Array, vip: string): boolean {
  if (isV4(p)) return [...p.subarray(12, 16)].join('.') === vip;
  return hex(p.subarray(8, 24)) === hex(v6(vip));
}
function v6(a: string): Uint8Array {
  const [h, t] = a.split('::');
  const hs = h ? h.split(':') : [], ts = t ? t.split(':') : [];
  const w = [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts].map((x) => parseInt(x, 16));
  return new Uint8Array(w.flatMap((x) => [x >> 8, x & 0xff]));
}

function l4Off(p: Uint8Array): number { return isV4(p) ? (p[0] & 15) * 4 : 40; }
function udpCsum(p: Uint8Array): number { const o = l4Off(p); return (p[o + 6] << 8) | p[o + 7]; }
/** The packet with its transport (TCP/UDP/ICMP) checksum field zeroed. */
function maskL4Csum(p: Uint8Array): Uint8Array {
  const q = p.slice(), o = l4Off(p), pr = proto(p);
  const at = pr === 6 ? 16 : pr === 17 ? 6 : 2;
  q[o + at] = 0; q[o + at + 1] = 0;
  return q;
}
/** The sender's own choices zeroed: IPv4 id (and so the header checksum), IPv6 flow label. */
function maskIpId(p: Uint8Array): Uint8Array {
  const q = p.slice();
  if (isV4(q)) { q[4] = 0; q[5] = 0; q[10] = 0; q[11] = 0; } else { q[1] &= 0xf0; q[2] = 0; q[3] = 0; }
  return q;
}
