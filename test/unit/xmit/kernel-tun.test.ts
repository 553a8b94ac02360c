/*
 * DR, IPIP, GUE, GRE (IPv4, IPv6 and mixed families) and tunnel path-MTU against Linux 6.1
 * (test/golden/kernel/cases/persist-tun.sh, parts B and C; recorded/persist-tun/*.pcap).
 * Every frame the client sent to a DR/tunnel service goes through a TAP-mode engine (link
 * 'ethernet', the director's MAC/addresses of the recording, the recording's neighbour entries
 * as permanent neighbours). What the engine sends must equal the kernel's frames byte for byte
 * (Ethernet header, outer header, encapsulation, inner packet), in order: the real-server side
 * for forwarded frames, the client side for ICMP frag needed / packet too big. Wildcards, where
 * the kernel is random: a GUE source port (udp_flow_src_port) and so its UDP checksum, an outer
 * IPv4 id without DF (ip_select_ident), the id of an ICMP error, an ICMPv6 flow label; and the
 * GRE checksum, which the kernel leaves to checksum offload (CHECKSUM_PARTIAL: on veth the
 * capture shows 0) while the engine fills it in. Our checksums in those places are verified by
 * recomputation instead.
 */
import { describe, test, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { records } from '../../../host/pcap/read.ts';
import { engine } from '../../helpers/engine.ts';
import { hex, sum16 } from '../../helpers/pkt.ts';

const dir = join(import.meta.dirname, '../../golden/kernel/recorded/persist-tun');
const frames = (side: string) => [...records([new Uint8Array(readFileSync(join(dir, `${side}-side.pcap`)))])].map((r) => r.data);
const macOf = (b: Uint8Array, o: number) => [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
const CLIENT_MAC = '02:00:00:00:00:02';

/** Zero what the kernel chooses at random (see the header); returns a copy. */
function normalize(f: Uint8Array): Uint8Array {
  const b = f.slice();
  const et = (b[12] << 8) | b[13];
  const ip = 14;
  if (et === 0x0800) {
    const df = b[ip + 6] & 0x40;
    const proto = b[ip + 9];
    if (!df || proto === 1) { b[ip + 4] = b[ip + 5] = 0; b[ip + 10] = b[ip + 11] = 0; }
    if (proto === 17 && ((b[ip + 22] << 8) | b[ip + 23]) === 6080) { b[ip + 20] = b[ip + 21] = 0; b[ip + 26] = b[ip + 27] = 0; }
    if (proto === 47 && b[ip + 20] & 0x80) b[ip + 24] = b[ip + 25] = 0;
  } else if (et === 0x86dd) {
    b[ip + 1] &= 0xf0; b[ip + 2] = b[ip + 3] = 0;   // flow label
    if (b[ip + 6] === 17 && ((b[ip + 42] << 8) | b[ip + 43]) === 6080) { b[ip + 40] = b[ip + 41] = 0; b[ip + 46] = b[ip + 47] = 0; }
    if (b[ip + 6] === 47 && b[ip + 40] & 0x80) b[ip + 44] = b[ip + 45] = 0;
  }
  return b;
}

/** Our own checksums in the wildcarded places must still be right. */
function checkOurs(f: Uint8Array): void {
  const et = (f[12] << 8) | f[13];
  const ip = f.subarray(14);
  const hl = et === 0x0800 ? 20 : 40;
  if ((et === 0x0800 ? ip[9] : ip[6]) === 47 && ip[hl] & 0x80) {
    expect(~sum16(ip.subarray(hl)) & 0xffff, 'GRE checksum').toBe(0);
  }
  if (et === 0x0800) {
    expect(~sum16(ip.subarray(0, 20)) & 0xffff, 'outer IPv4 header checksum').toBe(0);
    if (ip[9] === 17 && ((ip[26] << 8) | ip[27]) !== 0) {
      const len = (ip[24] << 8) | ip[25];
      const pseudo = [...ip.subarray(12, 20)];
      const ph = new Uint8Array([...pseudo, 0, 17, len >> 8, len & 255]);
      expect(~sum16(ip.subarray(20, 20 + len), sum16(ph)) & 0xffff, 'GUE UDP checksum').toBe(0);
    }
  }
}

describe('DR and tunnels, replayed against the 6.1 recording', () => {
  test('every forwarded frame and every ICMP frag needed / too big, byte for byte', async () => {
    const cli = frames('client'), dst = frames('dest');
    const e = await engine({ link: 'ethernet', headroom: 256, slotSize: 4096 });
    e.setLink({ mac: '02:00:00:00:01:fe', ipv4: '198.18.1.254', ipv6: '2001:2:0:1::fe' });
    const v4mac = macOf(dst.find((f) => f[12] === 0x08 && f[13] === 0)!, 0);
    const v6mac = macOf(dst.find((f) => f[12] === 0x86)!, 0);
    e.addNeighbour('198.18.1.11', v4mac); e.addNeighbour('198.18.1.12', v4mac); e.addNeighbour('2001:2:0:1::11', v6mac);
    const add = (proto: 'TCP' | 'UDP', addr: string, port: number, d: Parameters<typeof e.addDest>[1]) => {
      const k = { proto, addr, port } as const;
      e.addService({ ...k, sched: 'rr' });
      e.addDest(k, { port, ...d });
    };
    add('TCP', '198.18.2.20', 80, { addr: '198.18.1.11', fwd: 'Route' });
    add('TCP', '198.18.2.21', 80, { addr: '198.18.1.12', fwd: 'Tunnel' });
    add('UDP', '198.18.2.21', 53, { addr: '198.18.1.12', fwd: 'Tunnel' });
    add('TCP', '198.18.2.22', 80, { addr: '198.18.1.12', fwd: 'Tunnel', tunType: 'gue', tunPort: 6080 });
    add('TCP', '198.18.2.23', 80, { addr: '198.18.1.12', fwd: 'Tunnel', tunType: 'gue', tunPort: 6080, tunFlags: 1 });
    add('TCP', '198.18.2.24', 80, { addr: '198.18.1.12', fwd: 'Tunnel', tunType: 'gue', tunPort: 6080, tunFlags: 2 });
    add('TCP', '198.18.2.25', 80, { addr: '198.18.1.12', fwd: 'Tunnel', tunType: 'gre' });
    add('TCP', '198.18.2.26', 80, { addr: '198.18.1.12', fwd: 'Tunnel', tunType: 'gre', tunFlags: 1 });
    add('TCP', '198.18.2.27', 80, { addr: '2001:2:0:1::11', fwd: 'Tunnel' });
    add('TCP', '2001:2::200', 80, { addr: '2001:2:0:1::11', fwd: 'Tunnel' });
    add('TCP', '2001:2::200', 81, { addr: '2001:2:0:1::11', fwd: 'Route' });
    add('TCP', '2001:2::200', 82, { addr: '198.18.1.12', fwd: 'Tunnel' });
    add('TCP', '2001:2::200', 83, { addr: '2001:2:0:1::11', fwd: 'Tunnel', tunType: 'gue', tunPort: 6080, tunFlags: 1 });
    add('TCP', '2001:2::200', 84, { addr: '2001:2:0:1::11', fwd: 'Tunnel', tunType: 'gre', tunFlags: 1 });

    const inputs = cli.filter((f) => macOf(f, 6) === CLIENT_MAC && (f[13] === 0 || f[12] === 0x86));
    const icmps = cli.filter((f) => macOf(f, 0) === CLIENT_MAC && ((f[12] === 8 && f[23] === 1) || (f[12] === 0x86 && f[20] === 58)));
    const want = { dest: dst.filter((f) => f[12] === 0x08 || f[12] === 0x86), icmp: icmps };
    const got = { dest: [] as Uint8Array[], icmp: [] as Uint8Array[] };
    let t = 0;
    for (const f of inputs) {
      const r = e.processFrame(f, (t += 10));
      if (r.verdict === 'XMIT') got.dest.push(r.data);
      else if (r.verdict === 'LOCAL') got.icmp.push(r.data);
      else expect.fail(`frame ${hex(f.subarray(0, 60))}: ${r.verdict} ${r.reason}`);
    }
    expect(inputs.length).toBeGreaterThan(40);
    expect(got.dest.length).toBe(want.dest.length);
    expect(got.icmp.length).toBe(want.icmp.length);
    expect(got.icmp.length).toBe(5);   // IPIP, GUE, GRE+csum, 6in6, 4in6
    for (let i = 0; i < want.dest.length; i++) {
      expect(hex(normalize(got.dest[i])), `forwarded frame ${i}`).toBe(hex(normalize(want.dest[i])));
      checkOurs(got.dest[i]);
    }
    for (let i = 0; i < want.icmp.length; i++) expect(hex(normalize(got.icmp[i])), `ICMP ${i}`).toBe(hex(normalize(want.icmp[i])));
    expect(e.counters().icmp_frag_needed).toBe(5n);
  });
});
