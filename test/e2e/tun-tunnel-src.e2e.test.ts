// The TUN director's tunnel source (docs/director.md "Tunnels on a TUN"): by default the prefsrc
// of `ip route get RIP` per family, recomputed when the configuration changes (as `wasmvs adm`
// does: engine change + syncRoutes); --tunnel-src instead; one warning each for a family with no
// source and for a real server whose route goes into the TUN (a loop). No real server needed:
// the NAT lab's director namespace (198.18.1.1/24 on rsbr, no default route, IPv6 off).

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { Director } from '../../host/director/director.ts';
import { Lab, LAB_VIP } from '../../host/director/lab.ts';
import { labSkipReason } from './env.ts';

const skip = labSkipReason();

describe.skipIf(skip !== null)('TUN director: the tunnels\' outer source', () => {
  let lab: Lab;
  beforeAll(async () => { lab = await Lab.create({ tag: 'e2e-ts', rsCount: 1 }); }, 30_000);
  afterAll(() => lab?.destroy());
  const key = { proto: 'TCP', addr: LAB_VIP, port: 80 } as const;

  test('default: the route\'s prefsrc; a dest routed into the TUN and an IPv6 dest without a route are warned about once each; their warnings name --tunnel-src', async () => {
    const logs: string[] = [];
    const dev = `wvts${process.pid % 100000}`;
    const d = await Director.start({ mode: 'tun', netns: lab.ns.dir, dev, tickMs: 100, log: (l) => logs.push(l),
      rulesText: `-A -t ${LAB_VIP}:80 -s rr\n-a -t ${LAB_VIP}:80 -r 198.18.1.11:80 -i\n` });
    try {
      expect(d.tunnelSrc).toEqual({ ipv4: '198.18.1.1' });
      expect(logs.filter((l) => /tunnel|drop_method/.test(l))).toEqual(['wasmvs: tunnel source 198.18.1.1']);
      const sysctl = (k: string) => execFileSync('ip', ['netns', 'exec', lab.ns.dir, 'sysctl', '-n', `net.ipv4.conf.${dev}.${k}`], { encoding: 'utf8' }).trim();
      expect([sysctl('accept_local'), sysctl('rp_filter')]).toEqual(['1', '0']);
      logs.length = 0;
      // a real server whose route is the TUN itself, and an IPv6 one (IPv6 is off here: no route)
      execFileSync('ip', ['-n', lab.ns.dir, 'route', 'add', '198.18.9.0/24', 'dev', dev]);
      d.engine.addDest(key, { addr: '198.18.9.1', port: 80, fwd: 'Tunnel' });
      d.engine.addDest(key, { addr: '2001:2:0:1::11', port: 80, fwd: 'Tunnel' });
      d.syncRoutes();
      d.syncRoutes();
      expect(d.tunnelSrc).toEqual({ ipv4: '198.18.1.1' });
      expect(logs).toEqual([
        `wasmvs: tunnel real server 198.18.9.1: the route to it goes into ${dev} (ip route get 198.18.9.1); the outer packets would come back into the director: route the real server via the interface it is behind`,
        'wasmvs: IPv6 tunnel (-i) real servers: no route to them gives a source address (ip route get RIP: no prefsrc); their packets are dropped (drop_method_unsupported_on_link): give the outer source with --tunnel-src ADDR',
        `wasmvs: TCP ${LAB_VIP}:80 -> [2001:2:0:1::11]:80 Tunnel (-i): a TUN cannot carry it (no IPv6 source address for the outer packet); its conns' packets are dropped (drop_method_unsupported_on_link). Give one with --tunnel-src ADDR, or use --mode tap, or -m (NAT) / --fullnat for this real server`,
      ]);
    } finally { d.stop(); }
  }, 30_000);

  test('--tunnel-src: taken as given for both families, no route asked, no warning; IPv6 turned on for the TUN without an address of its own', async () => {
    const logs: string[] = [];
    const dev = `wvtt${process.pid % 100000}`;
    const d = await Director.start({ mode: 'tun', netns: lab.ns.dir, dev, tickMs: 100, log: (l) => logs.push(l), tunnelSrc: ['198.18.1.99', '2001:2:0:1::99'],
      rulesText: `-A -t ${LAB_VIP}:80 -s rr\n-a -t ${LAB_VIP}:80 -r 198.18.1.11:80 -i\n-a -t ${LAB_VIP}:80 -r [2001:2:0:1::11]:80 -i\n` });
    try {
      expect(d.tunnelSrc).toEqual({ ipv4: '198.18.1.99', ipv6: '2001:2:0:1::99' });
      expect(logs.filter((l) => /tunnel|drop_method|warn/.test(l))).toEqual(['wasmvs: tunnel source 198.18.1.99 2001:2:0:1::99']);
      const v6 = (k: string) => execFileSync('ip', ['netns', 'exec', lab.ns.dir, 'sysctl', '-n', `net.ipv6.conf.${dev}.${k}`], { encoding: 'utf8' }).trim();
      expect([v6('disable_ipv6'), v6('addr_gen_mode')]).toEqual(['0', '1']);
      expect(execFileSync('ip', ['-n', lab.ns.dir, '-6', 'addr', 'show', 'dev', dev], { encoding: 'utf8' })).not.toMatch(/inet6/);
    } finally { d.stop(); }
  }, 30_000);

  test('--tunnel-src refused on a TAP, and twice for one family', async () => {
    await expect(Director.start({ mode: 'tap', tunnelSrc: ['198.18.1.99'] })).rejects.toThrow(/--tunnel-src is for --mode tun/);
    await expect(Director.start({ mode: 'tun', tunnelSrc: ['198.18.1.99', '198.18.1.98'] })).rejects.toThrow(/--tunnel-src: one IPv4 address only \(198\.18\.1\.99, 198\.18\.1\.98\)/);
  });
});
