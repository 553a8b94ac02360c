/*
 * What 6.1's own stack answers for a VIP when IPVS leaves a packet alone, and what IPVS does
 * with replies of DR and tunnel conns that come back through the director, replayed through
 * the engine (test/golden/kernel/cases/local-answers.sh, recorded/local-answers/).
 *
 * Part 1/2: every packet the client sent to the VIP (198.18.0.100) / VIP6 (2001:2::100) goes
 * through the engine at its capture time; the engine's answer must equal the kernel's byte for
 * byte, except for fields the kernel draws itself: the IPv4 id of an ICMP error (ours is 0, the
 * header checksum follows) and IPv6 flow labels (ours 0); the kernel's IPv6 TCP checksums are
 * left to offload in the capture ("incorrect"), so ours is checked for being right instead.
 * icmp_ratelimit: the kernel answered 6 of 10 back-to-back datagrams from one peer (its
 * per-peer token bucket, burst 6, 1/s); the engine answers every one (asserted: a difference).
 * Part 3: replies from the VIP of a DR and a tunnel conn (accept_local=1 on the director: with
 * the default the kernel's routing drops them as martians before IPVS) are the conn's output:
 * the OUTPUT state transitions and OutPkts/OutBytes; replies from the real server's own
 * address are not matched (state and timer untouched).
 */
import { describe, test, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { records } from '../../host/pcap/read.ts';
import { engine } from '../helpers/engine.ts';
import { hex, checkPacket } from '../helpers/pkt.ts';

const dir = join(import.meta.dirname, 'kernel', 'recorded', 'local-answers');
const have = existsSync(join(dir, 'client-side.pcap'));
interface Pkt { ts: number; l3: Uint8Array }
const load = (side: string): Pkt[] => [...records([new Uint8Array(readFileSync(join(dir, `${side}-side.pcap`)))])]
  .map((r) => ({ ts: Number(r.tsNs / 1000n) / 1000, l3: r.data.slice(14) }));
const v4 = (p: Uint8Array) => p[0] >> 4 === 4;
const addr = (p: Uint8Array, off4: number, off6: number) => (v4(p) ? [...p.subarray(off4, off4 + 4)].join('.') : hex(p.subarray(off6, off6 + 16)));
const saddr = (p: Uint8Array) => addr(p, 12, 8);
const daddr = (p: Uint8Array) => addr(p, 16, 24);
const proto = (p: Uint8Array) => (v4(p) ? p[9] : p[6]);
const l4 = (p: Uint8Array) => p.subarray(v4(p) ? (p[0] & 15) * 4 : 40);
const VIP = '198.18.0.100', VIP6HEX = '20010002000000000000000000000100';
const isVip = (a: string) => a === VIP || a === VIP6HEX;

/** The fields the kernel chooses on its own, blanked: IPv4 id + header checksum of an ICMP error; IPv6 flow label and TCP checksum. */
function norm(p: Uint8Array): string {
  const q = p.slice();
  if (v4(q) && q[9] === 1) { q[4] = q[5] = 0; q[10] = q[11] = 0; }
  if (!v4(q)) { q[1] &= 0xf0; q[2] = q[3] = 0; if (q[6] === 6) q[40 + 16] = q[40 + 17] = 0; }
  return hex(q);
}

describe.skipIf(!have)('6.1 local answers for a VIP, byte for byte', () => {
  test('RST (IPv4/IPv6, every flag case), ICMP port unreachable (IPv4/IPv6)', async () => {
    const e = await engine();
    const t = { proto: 'TCP', addr: VIP, port: 80 } as const;
    e.addService({ ...t, sched: 'rr' }); e.addDest(t, { addr: '198.18.1.11', port: 80, fwd: 'Masq' });
    const u = { proto: 'UDP', addr: VIP, port: 53 } as const;
    e.addService({ ...u, sched: 'rr' }); e.addDest(u, { addr: '198.18.1.11', port: 53, fwd: 'Masq' });
    // the VM had 2001:2::100 as a local address; here a service makes it a VIP (port 80, never used)
    e.addService({ proto: 'TCP', addr: '2001:2::100', port: 80, sched: 'rr' });
    const client = load('client').filter((p) => p.l3.length && (proto(p.l3) === 6 || proto(p.l3) === 17 || (proto(p.l3) === 1)));
    const toVip = client.filter((p) => isVip(daddr(p.l3)));
    const fromVip = client.filter((p) => isVip(saddr(p.l3)));
    expect(toVip.length).toBe(22);            // 9 + 10 IPv4 (the last 10 UDP), 3 IPv6
    const kernel = [...fromVip.map((p) => p.l3), ...load('client').filter((p) => !v4(p.l3) && p.l3[6] === 58 && p.l3[40] === 1).map((p) => p.l3)];
    const ours: Uint8Array[] = [];
    let rst = 0;
    for (const p of toVip) {
      const r = e.processFrame(p.l3, p.ts * 1000);
      if (r.verdict === 'LOCAL') { ours.push(r.data); expect(checkPacket(r.data), hex(r.data)).toEqual([]); }
      else expect(r.verdict, hex(p.l3)).toBe('PASS');   // only the RST gets nothing
      if (proto(p.l3) === 6 && (l4(p.l3)[13] & 4)) { rst++; expect(r.verdict).toBe('PASS'); }
    }
    expect(rst).toBe(1);
    // every kernel answer has its equal among ours, in the kernel's order; ours has 4 more: the rate-limited ones
    const kn = kernel.map(norm), on = ours.map(norm);
    expect(kn.length).toBe(7 + 1 + 6 + 3);    // 7 RSTs and a port unreachable, 6 of the 10 datagrams answered, 3 IPv6
    expect(on.length).toBe(kn.length + 4);
    const rest = [...on];
    for (const k of kn) {
      const i = rest.indexOf(k);
      expect(i, `kernel answer ${k} not produced`).toBeGreaterThanOrEqual(0);
      rest.splice(i, 1);
    }
    // what is left: the port unreachables for 198.19.0.8's 7th..10th datagram (icmp_ratelimit)
    expect(rest.every((x) => x.startsWith('45c0003a'))).toBe(true);
    expect(e.counters()).toMatchObject({ tcp_reset_sent: 9n, icmp_port_unreach_sent: 12n });
  });

  test('DR and tunnel replies from the VIP count as the conn\'s output; from the real server\'s address they are not matched', async () => {
    const e = await engine();
    const dr = { proto: 'TCP', addr: '198.18.2.1', port: 80 } as const;
    const tu = { proto: 'TCP', addr: '198.18.2.2', port: 80 } as const;
    e.addService({ ...dr, sched: 'rr' }); e.addDest(dr, { addr: '198.18.1.12', port: 80, fwd: 'Route' });
    e.addService({ ...tu, sched: 'rr' }); e.addDest(tu, { addr: '198.18.1.13', port: 80, fwd: 'Tunnel' });
    const client = load('client'), dest = load('dest');
    const byId = (ps: Pkt[], id: number) => ps.find((p) => p.l3.length >= 20 && v4(p.l3) && p.l3[9] === 6 && ((p.l3[4] << 8) | p.l3[5]) === id)!;
    const run = (p: Pkt) => e.processFrame(p.l3, p.ts * 1000);
    const conn = (vip: string) => e.conns().find((c) => c.vaddr === vip)!;
    run(byId(client, 120)); run(byId(client, 121));
    // the replies as they left dst (ids 222.. : the accept_local=1 part; 220/221 the kernel's routing dropped)
    const reply = (id: number) => byId(dest, id);
    run(reply(222)); run(reply(223));
    expect([conn(dr.addr).state, conn(tu.addr).state]).toEqual(['SYN_RECV', 'SYN_RECV']);          // recorded after 22
    run(reply(224));
    expect([conn(dr.addr).state, conn(tu.addr).state]).toEqual(['ESTABLISHED', 'SYN_RECV']);       // after 22b
    expect(conn(dr.addr).expiresMs).toBeGreaterThan(899_000);                                     // 14:59
    const drSvc = () => e.services().find((s) => s.addr === dr.addr)!.stats;
    expect(drSvc()).toMatchObject({ inpkts: 1n, outpkts: 2n, inbytes: 40n, outbytes: 82n });      // recorded: 1 2 40 82
    run(reply(228));
    expect([conn(dr.addr).state, conn(tu.addr).state]).toEqual(['ESTABLISHED', 'ESTABLISHED']);   // after 22c
    // from the real servers' own addresses: the kernel left state and timer alone (14:58 at the next listing)
    const before = { ...conn(dr.addr) };
    for (const id of [225, 226, 227]) run(reply(id));
    expect(conn(dr.addr).state).toBe('ESTABLISHED');                                              // a FIN as output would be FIN_WAIT
    expect(conn(dr.addr).expiresMs).toBeLessThanOrEqual(before.expiresMs);
    expect(drSvc()).toMatchObject({ outpkts: 2n, outbytes: 82n });
  });
});
