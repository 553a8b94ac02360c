/*
 * Tunnel real servers on a device with offloads (a TAP with --offload; the engine behind a TUN
 * with offloads too): once refused by the engine with ipvsadm's generic "Invalid operation", now
 * taken from a rules file, `adm -a`/`-e` and `adm -R` alike; their TCP super-packets are cut into
 * segments (xmit/gso.ts, test/unit/xmit/gso.test.ts). (The TUN director's rules refuse -g and -i
 * for a reason of their own: no tunnel source address on a TUN, "-g and -i need --mode tap".)
 */
import { describe, test, expect } from 'vitest';
import { director } from './helpers.ts';
import { parseRules, applyRules } from '../../host/rules/apply.ts';
import { engine } from '../helpers/engine.ts';
import { ip } from '../helpers/pkt.ts';

const OFFLOAD = { slotSize: 65536 + 512, headroom: 256, slots: 8 };

/** A super-packet as a TUN with offloads hands it over: GSO TCPV4 at gso_size 1400, NEEDS_CSUM. */
function superPacket(sport: number, len: number): Uint8Array {
  const p = ip('198.18.0.2', '198.18.0.100', { proto: 'tcp', sport, dport: 80, flags: 'PA', seq: 1001, ack: 1, payload: new Uint8Array(len) });
  const h = new Uint8Array(10), v = new DataView(h.buffer);
  h[0] = 1; h[1] = 1; v.setUint16(2, 40, true); v.setUint16(4, 1400, true); v.setUint16(6, 20, true); v.setUint16(8, 16, true);
  const f = new Uint8Array(10 + p.length); f.set(h); f.set(p, 10);
  return f;
}
const plain = (p: Uint8Array) => { const f = new Uint8Array(10 + p.length); f.set(p, 10); return f; };

describe('-i dests with offloads on', () => {
  for (const link of ['ethernet-offload'] as const) {
    test(`${link}: adm -A/-a -i, -e --tun-type gre, -R with GUE: accepted (rc 0), listed as tunnels`, async () => {
      const d = await director({ cfg: { link, ...OFFLOAD } });
      try {
        expect((await d.adm('-A -t 198.18.0.100:80 -s rr')).rc).toBe(0);
        const a = await d.adm('-a -t 198.18.0.100:80 -r 198.18.1.12 -i');
        expect([a.rc, a.stderr]).toEqual([0, '']);
        expect((await d.adm('-e -t 198.18.0.100:80 -r 198.18.1.12 -i --tun-type gre --tun-csum')).rc).toBe(0);
        const r = await d.adm(['-R'], '-A -t 198.18.0.100:81 -s rr\n-a -t 198.18.0.100:81 -r 198.18.1.13:81 -i --tun-type gue --tun-port 6080\n');
        expect([r.rc, r.stderr]).toEqual([0, '']);
        const s = await d.adm('-S -n');
        expect(s.stdout).toContain('-a -t 198.18.0.100:80 -r 198.18.1.12:80 -i -w 1 --tun-type gre --tun-csum');
        expect(s.stdout).toContain('-a -t 198.18.0.100:81 -r 198.18.1.13:81 -i -w 1 --tun-type gue --tun-port 6080');
      } finally { await d.stop(); }
    });
  }

  test('a rules file (--rules) with -i on a TAP with offloads applies, and a super-packet leaves as 15 segments', async () => {
    const e = await engine({ link: 'ethernet-offload', ...OFFLOAD });
    e.setLink({ mac: '02:00:00:00:01:fe', ipv4: '198.18.1.254' });
    e.addNeighbour('198.18.1.12', '02:00:00:00:01:0c');
    applyRules(e, parseRules('-A -t 198.18.0.100:80 -s rr\n-a -t 198.18.0.100:80 -r 198.18.1.12:80 -i -w 1\n', 'rules.txt'), 'rules.txt', { link: 'ethernet' });
    const eth = (f: Uint8Array) => { const o = new Uint8Array(f.length + 14); o.set(f.subarray(0, 10)); o.set([2, 0, 0, 0, 1, 0xfe, 2, 0, 0, 0, 0, 2, 8, 0], 10); o.set(f.subarray(10), 24); return o; };
    expect(e.processFrame(eth(plain(ip('198.18.0.2', '198.18.0.100', { proto: 'tcp', sport: 40000, dport: 80, flags: 'S' }))), 1).verdict).toBe('XMIT');
    const sp = eth(superPacket(40000, 20_000));
    new DataView(sp.buffer).setUint16(6, 34, true);                 // csum_start counts the Ethernet header on a TAP
    const r = e.processFrame(sp, 2);
    expect(r.verdict).toBe('XMIT');
    let n = 1;
    for (let k = e.drain(); k > 0; k = e.drain()) n += k;
    expect(n).toBe(15);
    expect(e.counters()).toMatchObject({ gso_packets: 1n, gso_segments: 15n });
  });
});
