// IPIP, GUE and GRE, over IPv4 and IPv6, against a real Linux decapsulator when this kernel has
// none: the real server is the kernel oracle's Linux 6.1 VM (../shared/kernel-oracle: Debian 6.1
// kernel under qemu, TCG), with a virtio NIC on a qemu TAP that is a port of the lab's LAN bridge,
// next to the engine's TAP. The lab is an IPv6 one (lab.ts ipv6: true): the client, the router
// and the engine also have 2001:2::/48 addresses, and VIP6 is routed to the LAN like the VIP.
//
// One VM boot and one Director for every kind: each kind is one service, VIP:80..83 or 91,
// VIP6:90, 92..95, whose three dests are three guest addresses of its own, so that each kind
// reaches its own decapsulating device(s) of the guest:
//   VIP:80  -i                          198.18.1.11-13  tunl0 (the ipip fallback device)
//   VIP:81  -i --tun-type gue           198.18.1.21-23  fou port 6080 (gue) + ipip devices gue1-3 (encap gue, local .21-.23)
//   VIP:82  -i --tun-type gre           198.18.1.31-33  gre0 (the ip_gre fallback device: no checksum expected)
//   VIP:83  -i --tun-type gre --tun-csum 198.18.1.41-43 gre devices grec1-3 (local .41-.43, icsum: a checksum required)
//   VIP6:90 -i (6in6)                   2001:2:0:1::11-13  ip6tnl0 (the ip6_tunnel fallback device, mode ip6ip6)
//   VIP:91  -i (4in6)                   2001:2:0:1::21-23  ip6tnl devices t46_1-3 (mode ipip6, local ::21-::23)
//   VIP6:92 -i --tun-type gre (over IPv6) 2001:2:0:1::31-33 ip6gre0 (the ip6_gre fallback device: no checksum expected)
//   VIP6:93 -i --tun-type gre --tun-csum  2001:2:0:1::41-43 ip6gre devices g6c1-3 (local ::41-::43, icsum)
//   VIP6:94 -i (6in4)                   198.18.1.51-53  sit0 (the sit fallback device)
//   VIP6:95 -i --tun-type gue --tun-csum (over IPv6) 2001:2:0:1::51-53  fou6 port 6080 (gue, -6) + ip6tnl devices gue6_1-3 (encap gue, local ::51-::53)
// Linux drops (rx_crc_errors) a GRE packet whose checksum presence does not match the device's
// icsum, and one whose checksum is wrong (gre_parse_header), over IPv4 and IPv6 alike
// (__ip6_tnl_rcv); ip6tnl drops a packet whose inner protocol is not the device's mode: the
// guest's device counters, read through the 9p share, prove which device decapsulated what.
// The VIP (/32) and VIP6 (/128) are on the guest's lo; busybox httpd serves each kind's VIP:port
// and answers the client directly through the lab's router. IPv6: every guest address nodad
// (accept_dad 0); Linux answers a neighbour solicitation only for an address of the receiving
// interface (ndisc_recv_ns: ipv6_get_ifaddr(.., dev, strict)), so the guest never answers for
// VIP6 on eth0, and its own solicitations (for the router) come from its eth0 addresses.
//
// Optional: skipped with the reason unless qemu, /boot/vmlinuz-<kver>, the oracle's initramfs
// ($KO_BUILD/base.cpio.gz, built by ../shared/kernel-oracle/build-initramfs.sh) and the guest's
// modules (virtio_net, ipip, fou, gre, ip_gre, tunnel6, ip6_tunnel, ip6_gre, sit, fou6) are on this machine.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Director } from '../../host/director/director.ts';
import type { ConnRecord } from '../../host/engine.ts';
import {
  Lab, LabClient, LAB_BRIDGE, LAB_CLIENT, LAB_CLIENT6, LAB_GUE_PORT, LAB_ROUTER6, LAB_VIP, LAB_VIP6,
} from '../../host/director/lab.ts';
import { formatList, formatSave } from '../../host/rules/format.ts';
import { GuestVm, guestSkipReason, MODDIR } from './guest-vm.ts';

/** Guest modules the oracle image lacks, in load order (insmod: the image's modules.dep does not list them). */
const GUEST_MODULES = ['net/core/failover', 'drivers/net/net_failover', 'drivers/net/virtio_net', 'net/ipv4/tunnel4', 'net/ipv4/ip_tunnel',
  'net/ipv4/ipip', 'net/ipv4/udp_tunnel', 'net/ipv6/ip6_udp_tunnel', 'net/ipv4/fou', 'net/ipv4/gre', 'net/ipv4/ip_gre',
  'net/ipv6/tunnel6', 'net/ipv6/ip6_tunnel', 'net/ipv6/ip6_gre', 'net/ipv6/sit', 'net/ipv6/fou6'];
const GUEST_MAC = '52:54:00:12:18:11';

interface Kind {
  name: string;
  /** the service's address: LAB_VIP or LAB_VIP6 (the client of its family calls it) */
  vip: string;
  /** the service's port (VIP:port; httpd listens there too) */
  port: number;
  /** ipvsadm dest flags */
  flags: string;
  /** the three dests: guest addresses */
  addrs: string[];
  /** the guest devices that must decapsulate this kind's packets */
  devs: string[];
  tunType: 'ipip' | 'gue' | 'gre';
  tunFlags: number;
  /** ipvsadm -L --tun-info's TunnelInfo column */
  info: string;
  /** the MTU the engine announces for the inner packet (ICMP frag needed / ICMPv6 packet too big): 1500 - outer IP - tunnel header */
  mtu: number;
  /** what the guest sets up for it */
  setup: string;
}
const addrs = (base: number) => [base, base + 1, base + 2].map((n) => `198.18.1.${n}`);
const addrs6 = (base: number) => [base, base + 1, base + 2].map((n) => `2001:2:0:1::${n}`);
const V6 = (a: string) => a.includes(':');
/** ADDR:PORT, [ADDR6]:PORT */
const hp = (a: string, p: number) => (V6(a) ? `[${a}]:${p}` : `${a}:${p}`);
const reEsc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const KINDS: Kind[] = [
  { name: 'ipip', vip: LAB_VIP, port: 80, flags: '-i', addrs: addrs(11), devs: ['tunl0'], tunType: 'ipip', tunFlags: 0, info: 'ipip', mtu: 1500 - 20,
    setup: 'ip link set tunl0 up' },
  { name: 'gue', vip: LAB_VIP, port: 81, flags: `-i --tun-type gue --tun-port ${LAB_GUE_PORT}`, addrs: addrs(21), devs: ['gue1', 'gue2', 'gue3'],
    tunType: 'gue', tunFlags: 0, info: `gue:${LAB_GUE_PORT}:-c`, mtu: 1500 - 20 - 8 - 4,
    setup: `ip fou add port ${LAB_GUE_PORT} gue\n` + addrs(21).map((a, i) =>
      `ip link add gue${i + 1} type ipip remote any local ${a} encap gue encap-sport auto encap-dport ${LAB_GUE_PORT}\nip link set gue${i + 1} up`).join('\n') },
  { name: 'gre', vip: LAB_VIP, port: 82, flags: '-i --tun-type gre', addrs: addrs(31), devs: ['gre0'], tunType: 'gre', tunFlags: 0, info: 'gre:-c', mtu: 1500 - 20 - 4,
    setup: 'ip link set gre0 up' },
  { name: 'gre --tun-csum', vip: LAB_VIP, port: 83, flags: '-i --tun-type gre --tun-csum', addrs: addrs(41), devs: ['grec1', 'grec2', 'grec3'],
    tunType: 'gre', tunFlags: 1, info: 'gre:+c', mtu: 1500 - 20 - 8,
    setup: addrs(41).map((a, i) => `ip link add grec${i + 1} type gre remote any local ${a} icsum\nip link set grec${i + 1} up`).join('\n') },
  // IPv6 outer: the engine's own address on the LAN, 2001:2:0:1::fe, to the dest's
  { name: '6in6', vip: LAB_VIP6, port: 90, flags: '-i', addrs: addrs6(11), devs: ['ip6tnl0'], tunType: 'ipip', tunFlags: 0, info: 'ipip', mtu: 1500 - 40,
    setup: 'ip link set ip6tnl0 up' },
  { name: '4in6', vip: LAB_VIP, port: 91, flags: '-i', addrs: addrs6(21), devs: ['t46_1', 't46_2', 't46_3'], tunType: 'ipip', tunFlags: 0, info: 'ipip', mtu: 1500 - 40,
    setup: addrs6(21).map((a, i) => `ip link add t46_${i + 1} type ip6tnl mode ipip6 remote any local ${a}\nip link set t46_${i + 1} up`).join('\n') },
  { name: 'gre over IPv6', vip: LAB_VIP6, port: 92, flags: '-i --tun-type gre', addrs: addrs6(31), devs: ['ip6gre0'], tunType: 'gre', tunFlags: 0, info: 'gre:-c', mtu: 1500 - 40 - 4,
    setup: 'ip link set ip6gre0 up' },
  { name: 'gre over IPv6 --tun-csum', vip: LAB_VIP6, port: 93, flags: '-i --tun-type gre --tun-csum', addrs: addrs6(41), devs: ['g6c1', 'g6c2', 'g6c3'],
    tunType: 'gre', tunFlags: 1, info: 'gre:+c', mtu: 1500 - 40 - 8,
    setup: addrs6(41).map((a, i) => `ip link add g6c${i + 1} type ip6gre local ${a} icsum\nip link set g6c${i + 1} up`).join('\n') },
  { name: '6in4', vip: LAB_VIP6, port: 94, flags: '-i', addrs: addrs(51), devs: ['sit0'], tunType: 'ipip', tunFlags: 0, info: 'ipip', mtu: 1500 - 20,
    setup: 'ip link set sit0 up' },
  // GUE over IPv6 with a UDP checksum (an IPv6 UDP checksum the guest verifies: udp6_csum_init)
  { name: 'gue over IPv6 --tun-csum', vip: LAB_VIP6, port: 95, flags: `-i --tun-type gue --tun-port ${LAB_GUE_PORT} --tun-csum`, addrs: addrs6(51),
    devs: ['gue6_1', 'gue6_2', 'gue6_3'], tunType: 'gue', tunFlags: 1, info: `gue:${LAB_GUE_PORT}:+c`, mtu: 1500 - 40 - 8 - 4,
    setup: `ip fou add port ${LAB_GUE_PORT} gue -6\n` + addrs6(51).map((a, i) =>
      `ip link add gue6_${i + 1} type ip6tnl mode ip6ip6 remote any local ${a} encap gue encap-sport auto encap-dport ${LAB_GUE_PORT}\nip link set gue6_${i + 1} up`).join('\n') },
];
const ALL_ADDRS = KINDS.flatMap((k) => k.addrs);
const ALL_DEVS = KINDS.flatMap((k) => k.devs);

const skip = guestSkipReason(GUEST_MODULES);
if (skip) console.warn(`[test/e2e] IPIP/GUE/GRE against the Linux 6.1 VM skipped: ${skip}`);

/**
 * The guest's script: modules, eth0 with every dest address, every kind's decapsulating devices,
 * the VIP on lo, httpd on VIP:80..83; then it serves `dump` requests (a file in out/) with the
 * tunnel devices' counters in out/stats until `stop`.
 */
function guestScript(): string {
  return `
M=${MODDIR}
for k in ${GUEST_MODULES.join(' ')}; do insmod $M/$k.ko || echo "insmod $k failed"; done
for k in all default; do sysctl -qw net.ipv4.conf.$k.rp_filter=0; sysctl -qw net.ipv4.conf.$k.arp_ignore=1; sysctl -qw net.ipv4.conf.$k.arp_announce=2; done
# IPv6: no duplicate address detection (no tentative address), no autoconfiguration
for k in all default eth0; do sysctl -qw net.ipv6.conf.$k.accept_dad=0; sysctl -qw net.ipv6.conf.$k.accept_ra=0; done
ip link set eth0 up
${ALL_ADDRS.filter((a) => !V6(a)).map((a) => `ip addr add ${a}/24 dev eth0`).join('\n')}
${ALL_ADDRS.filter(V6).map((a) => `ip -6 addr add ${a}/64 dev eth0 nodad`).join('\n')}
ip route add default via 198.18.1.1
ip -6 route add default via ${LAB_ROUTER6} dev eth0
${KINDS.map((k) => k.setup).join('\n')}
ip addr add ${LAB_VIP}/32 dev lo
ip -6 addr add ${LAB_VIP6}/128 dev lo nodad
# the inner packet (client -> VIP) arrives on a tunnel device, its reverse path is eth0
for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > $f; done
sysctl -qw net.ipv4.conf.eth0.arp_ignore=1; sysctl -qw net.ipv4.conf.eth0.arp_announce=2
mkdir -p /www/cgi-bin && echo guest > /www/index.html
printf '#!/bin/sh\\necho "Content-Type: text/plain"\\necho\\nhead -c "$CONTENT_LENGTH" | md5sum\\n' > /www/cgi-bin/md5 && chmod +x /www/cgi-bin/md5
${KINDS.map((k) => `busybox httpd -p ${hp(k.vip, k.port)} -h /www`).join('\n')}
ip -d link show; ip addr; ip -6 route; ip fou show
echo ready > ready
i=0
while [ ! -e stop ] && [ $i -lt 1500 ]; do
  if [ -e dump ]; then
    # the request is taken before the answer appears: the host's next request (it writes dump
    # again as soon as it sees stats) must not be removed with this one
    rm -f dump
    # read, not $(cat): a fork per counter costs the emulated CPU ~10 ms, 68 of them per dump
    for d in ${ALL_DEVS.join(' ')}; do
      s=/sys/class/net/$d/statistics
      read p < $s/rx_packets; read b < $s/rx_bytes; read e < $s/rx_errors; read c < $s/rx_crc_errors
      echo "$d $p $b $e $c"
    done > stats.tmp
    mv stats.tmp stats
  fi
  sleep 0.1; i=$((i+1))
done
ip -s link
nstat -az 2>/dev/null | grep -iE 'InAddrErrors|InNoRoutes|InCsumErrors|NoPorts' ; cat /proc/net/snmp | grep -E '^(Ip|Udp):'
`;
}

interface DevStats { packets: number; bytes: number; errors: number; crcErrors: number }

// The whole suite twice: plain frames, and with the TAP's offloads on (--offload): the client's
// TCP reaches the engine as super-packets of up to 64 KiB, which it cuts into segments before
// encapsulating them (xmit/gso.ts); path MTU and fragmentation then apply per segment.
for (const offload of [false, true]) describe.skipIf(skip !== null)(`IPIP, GUE and GRE (with and without --tun-csum), IPv4 and IPv6 outer (6in6, 4in6, GRE and GUE over IPv6, 6in4), to one Linux 6.1 guest that decapsulates with its own devices${offload ? ', TAP offloads on: super-packets segmented' : ''}`, () => {
  let lab: Lab;
  let dir: Director;
  let client: LabClient;
  let client6: LabClient;
  /** the kind's client (of its VIP's family) and the client's address */
  const clientOf = (k: Kind) => (V6(k.vip) ? client6 : client);
  const caddrOf = (k: Kind) => (V6(k.vip) ? LAB_CLIENT6 : LAB_CLIENT);
  /** A conn's dest address; it is written in the dest's family (4in6, 6in4: not the client's) and equals its dest's. */
  const connDaddr = (k: Kind, c: ConnRecord) => {
    expect(c.daddr, 'ConnRecord.daddr').toBe(dir.engine.dest(c.dest)!.addr);
    return c.daddr;
  };
  /** `ip [-6] route get VIP` in the client namespace: the route (cache) to the kind's VIP */
  const routeGet = (k: Kind) => execFileSync('ip', ['-n', lab.ns.cli, ...(V6(k.vip) ? ['-6'] : []), 'route', 'get', k.vip], { encoding: 'utf8' });
  /** the client forgets the MTU an earlier kind taught it (flush cache also drops the PMTU exceptions) */
  const flushRouteCache = () => {
    execFileSync('ip', ['-n', lab.ns.cli, 'route', 'flush', 'cache']);
    execFileSync('ip', ['-n', lab.ns.cli, '-6', 'route', 'flush', 'cache']);
  };
  let vm: GuestVm;
  const qtap = `wvq${offload ? 'o' : ''}${process.pid % 100000}`;

  /** The guest's tunnel device counters, now (asked for through the share). */
  async function guestStats(): Promise<Record<string, DevStats>> {
    const out: Record<string, DevStats> = {};
    for (const line of await vm.statsLines()) {
      const [d, ...n] = line.trim().split(/\s+/);
      const [packets, bytes, errors, crcErrors] = n.map(Number);
      out[d] = { packets, bytes, errors, crcErrors };
    }
    expect(Object.keys(out).sort()).toEqual([...ALL_DEVS].sort());
    return out;
  }
  /** Per-device change between two counter readings. */
  const delta = (a: Record<string, DevStats>, b: Record<string, DevStats>) => Object.fromEntries(ALL_DEVS.map((d) => [d, {
    packets: b[d].packets - a[d].packets, bytes: b[d].bytes - a[d].bytes, errors: b[d].errors - a[d].errors, crcErrors: b[d].crcErrors - a[d].crcErrors,
  }]));
  /**
   * Exactly the devices `devs` (of kind `k`) got traffic, at least `minBytes` of inner packets
   * together; no other device got any; no device counted an error (rx_crc_errors: a GRE
   * checksum present where the device expects none, absent where it expects one, or wrong).
   */
  function expectDecapsulatedBy(k: Kind, devs: string[], d: Record<string, DevStats>, minBytes = 1) {
    for (const dev of ALL_DEVS) {
      expect(d[dev].errors, `${dev} rx_errors`).toBe(0);
      expect(d[dev].crcErrors, `${dev} rx_crc_errors`).toBe(0);
      if (devs.includes(dev)) expect(d[dev].packets, `${dev} rx_packets`).toBeGreaterThan(0);
      else expect(d[dev].packets, `${dev} rx_packets (${k.devs.includes(dev) ? 'not this conn\'s dest' : `not a ${k.name} device`})`).toBe(0);
    }
    expect(devs.reduce((s, dev) => s + d[dev].bytes, 0)).toBeGreaterThanOrEqual(minBytes);
  }

  beforeAll(async () => {
    // the lab's router, LAN bridge and client; no real-server namespaces: the VM is the real server
    lab = await Lab.create({ tag: offload ? 'e2e-qo' : 'e2e-qt', forward: 'dr', rsCount: 0, ipv6: true });
    vm = await GuestVm.boot({ ns: lab.ns.dir, bridge: LAB_BRIDGE, tap: qtap, mac: GUEST_MAC, modules: GUEST_MODULES, script: guestScript(), accel: 'tcg', timeoutS: 300 });
    const setupOut = vm.setupOutput();
    expect(setupOut, 'the guest setup').not.toMatch(/failed|Error|Cannot|RTNETLINK|No such|tentative|dadfailed/);
    dir = await Director.start({
      ...lab.tapOptions(), dev: `wvt${offload ? 'o' : ''}${process.pid % 100000}`, tickMs: 100, logLevel: 'warn', offload,
      rulesText: KINDS.map((k) => `-A -t ${hp(k.vip, k.port)} -s rr\n${k.addrs.map((a) => `-a -t ${hp(k.vip, k.port)} -r ${hp(a, k.port)} ${k.flags} -w 1`).join('\n')}\n`).join(''),
    });
    client = await lab.client();
    client6 = await lab.client(LAB_VIP6);
  }, 120_000);

  afterAll(async () => {
    client?.close();
    client6?.close();
    dir?.stop();
    await vm?.stop();
    lab?.destroy();
  }, 30_000);

  test('the rules as listed and saved: every dest a Tunnel of its kind', () => {
    const svcs = dir.engine.services();
    expect(svcs.map((s) => `${hp(s.addr, s.port)}`).sort()).toEqual(KINDS.map((k) => hp(k.vip, k.port)).sort());
    const list = formatList(svcs, { numeric: true, tunInfo: true });
    const save = formatSave(svcs);
    for (const k of KINDS) {
      const svc = svcs.find((s) => s.port === k.port && s.addr === k.vip)!;
      expect(svc.dests.map((d) => [d.addr, d.fwd, d.tunType, d.tunFlags, d.tunType === 'gue' ? d.tunPort : 0]).sort()).toEqual(
        k.addrs.map((a) => [a, 'Tunnel', k.tunType, k.tunFlags, k.tunType === 'gue' ? LAB_GUE_PORT : 0]));
      for (const a of k.addrs) {
        expect(list).toMatch(new RegExp(`  -> ${reEsc(hp(a, k.port))} +Tunnel +${reEsc(k.info)} +1 `));
        const csum = k.tunFlags ? '--tun-csum' : '--tun-nocsum';
        const tun = k.tunType === 'ipip' ? '--tun-type ipip' : k.tunType === 'gue' ? `--tun-type gue --tun-port ${LAB_GUE_PORT} ${csum}` : `--tun-type gre ${csum}`;
        expect(save).toContain(`-a -t ${hp(k.vip, k.port)} -r ${hp(a, k.port)} -i -w 1 ${tun}\n`);
      }
    }
  });

  KINDS.forEach((k, ki) => {
    test(`${k.name}: HTTP rr over 3 dests of the guest: 30 requests, each answered directly; 10 conns per dest, 0 packets back through the director; decapsulated by ${k.devs.join(', ')} only`, async () => {
      const g0 = await guestStats();
      const k0 = dir.engine.counters();
      const r = await clientOf(k).call('http', { n: 30, port: k.port, lports: Array.from({ length: 30 }, (_, i) => 23_000 + 100 * ki + i), timeoutMs: 2_500 });
      const k1 = dir.engine.counters();
      const gd = delta(g0, await guestStats());
      const diag = JSON.stringify({ engine: Object.fromEntries(Object.entries(k1).filter(([c, v]) => v !== k0[c]).map(([c, v]) => [c, String(v - k0[c])])),
        guest: Object.fromEntries(Object.entries(gd).filter(([, v]) => v.packets || v.errors || v.crcErrors)) });
      expect(r.errors, diag).toBe(0);
      expect(r.names, diag).toEqual({ guest: 30 });
      const svc = dir.engine.services().find((s) => s.port === k.port && s.addr === k.vip)!;
      expect(svc.dests.map((d) => [d.addr, d.fwd, d.tunType, d.tunFlags, Number(d.stats.conns), Number(d.stats.outpkts)]).sort()).toEqual(
        k.addrs.map((a) => [a, 'Tunnel', k.tunType, k.tunFlags, 10, 0]));
      expect(Number(svc.stats.outpkts)).toBe(0);
      const conns = dir.engine.conns().filter((c) => c.caddr === caddrOf(k) && c.vport === k.port);
      expect(conns.length).toBe(30);
      expect(conns.filter((c) => c.vaddr !== k.vip)).toEqual([]);
      expect(conns.filter((c) => c.outpkts !== 0 || !k.addrs.includes(connDaddr(k, c)))).toEqual([]);
      // the engine found the guest's MAC by ARP (IPv6: NS) for each tunnel endpoint
      for (const a of k.addrs) expect(dir.engine.neighbour(a).mac).toBe(GUEST_MAC);
      // the guest's own devices of this kind decapsulated it all; none counted a checksum mismatch
      expectDecapsulatedBy(k, k.devs, gd);
    }, 120_000);

    test(`${k.name}: a 1 MiB upload (curl POST to a CGI md5sum): intact; the engine's ${V6(k.vip) ? 'ICMPv6 packet too big' : 'ICMP frag-needed'} taught the client the route MTU ${k.mtu}`, async () => {
      const body = Buffer.alloc(1 << 20);
      for (let i = 0; i < body.length; i++) body[i] = ((i + ki) * 2654435761) >>> 24;
      writeFileSync(join(vm.dir, 'upload.bin'), body);
      flushRouteCache();
      expect(routeGet(k)).not.toMatch(/mtu/);
      const g0 = await guestStats();
      const conns0 = new Map(dir.engine.services().find((s) => s.port === k.port && s.addr === k.vip)!.dests.map((d) => [d.addr, Number(d.stats.conns)]));
      const f0 = dir.engine.counters().icmp_frag_needed;
      const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', lab.ns.cli, 'curl', '-sS', '--max-time', '30', '--data-binary', `@${join(vm.dir, 'upload.bin')}`,
        '-H', 'content-type: application/octet-stream', '-g', `http://${hp(k.vip, k.port)}/cgi-bin/md5`], { encoding: 'utf8', timeout: 40_000 });
      expect(stdout.trim().split(/\s+/)[0]).toBe(createHash('md5').update(body).digest('hex'));
      // (icmp_frag_needed counts ICMPv6 packet too big as well)
      expect(dir.engine.counters().icmp_frag_needed - f0).toBeGreaterThanOrEqual(1n);
      // the client's route cache holds the MTU the engine announced: 1500 - outer IP - the tunnel's header
      expect(routeGet(k)).toMatch(new RegExp(`mtu ${k.mtu}\\b`));
      // one conn more (curl's: not from the HTTP test's fixed ports) on one dest; nothing back through the director
      const [conn, ...more] = dir.engine.conns().filter((c) => c.caddr === caddrOf(k) && c.vport === k.port && (c.cport < 23_000 || c.cport >= 24_000));
      expect(more).toEqual([]);
      const daddr = connDaddr(k, conn);
      expect(k.addrs).toContain(daddr);
      const svc = dir.engine.services().find((s) => s.port === k.port && s.addr === k.vip)!;
      expect(svc.dests.map((d) => [d.addr, Number(d.stats.conns) - conns0.get(d.addr)!, Number(d.stats.outpkts)]).sort()).toEqual(
        k.addrs.map((a) => [a, a === daddr ? 1 : 0, 0]));
      // the whole body decapsulated by that dest's device (or the kind's one fallback device), no other
      expectDecapsulatedBy(k, [k.devs.length === 1 ? k.devs[0] : k.devs[k.addrs.indexOf(daddr)]], delta(g0, await guestStats()), 1 << 20);
    }, 60_000);
  });

  test('NDP: the router\'s entry for VIP6 flushed, its next solicitation is answered by the engine only (the guest holds VIP6 on lo, not eth0)', async () => {
    const neigh6 = () => JSON.parse(execFileSync('ip', ['-n', lab.ns.dir, '-j', '-6', 'neigh', 'show', 'dev', LAB_BRIDGE], { encoding: 'utf8' })) as { dst: string; lladdr?: string }[];
    const na0 = dir.engine.counters().neigh_advert_sent;
    execFileSync('ip', ['-n', lab.ns.dir, '-6', 'neigh', 'flush', 'dev', LAB_BRIDGE, 'to', LAB_VIP6]);
    const k = KINDS.find((x) => x.name === '6in6')!;
    const r = await client6.call('http', { n: 3, port: k.port, lports: [23_990, 23_991, 23_992], timeoutMs: 2_500 });
    expect(r).toMatchObject({ errors: 0, names: { guest: 3 } });
    expect(dir.engine.counters().neigh_advert_sent - na0).toBeGreaterThanOrEqual(1n);
    const all = neigh6();
    expect(all.filter((x) => x.dst === LAB_VIP6).map((x) => x.lladdr)).toEqual([dir.link!.mac]);
    // the guest is known to the router by its eth0 addresses only (its solicitations for the router come from one of them)
    expect(all.filter((x) => x.lladdr === GUEST_MAC && !ALL_ADDRS.includes(x.dst) && !x.dst.startsWith('fe80:'))).toEqual([]);
  }, 30_000);

  // Offloads: bulk data in super-packets, cut into segments by the engine for each kind of
  // tunnel; 4 MiB up (~2,900 segments: the guest decapsulates under TCG, so more only costs
  // time), intact, all of it decapsulated by the guest's devices of the kind.
  if (offload) for (const k of ['ipip', 'gre --tun-csum', 'gue over IPv6 --tun-csum', '6in4'].map((n) => KINDS.find((x) => x.name === n)!)) {
    test(`${k.name}: a 4 MiB upload reaches the engine as TCP super-packets, cut into segments and encapsulated: intact, decapsulated by the kind's devices`, async () => {
      const body = Buffer.alloc(4 << 20);
      for (let i = 0; i < body.length; i++) body[i] = ((i + 11) * 2654435761) >>> 24;
      writeFileSync(join(vm.dir, 'upload16.bin'), body);
      flushRouteCache();
      const g0 = await guestStats();
      const c0 = dir.engine.counters();
      const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', lab.ns.cli, 'curl', '-sS', '--max-time', '60', '--data-binary', `@${join(vm.dir, 'upload16.bin')}`,
        '-H', 'content-type: application/octet-stream', '-g', `http://${hp(k.vip, k.port)}/cgi-bin/md5`], { encoding: 'utf8', timeout: 70_000 });
      expect(stdout.trim().split(/\s+/)[0]).toBe(createHash('md5').update(body).digest('hex'));
      const c1 = dir.engine.counters();
      const d = (n: string) => c1[n] - c0[n];
      console.info(`[e2e tunnel offload ${k.name}] 4 MiB: ${d('gso_packets')} super-packets cut into ${d('gso_segments')} segments, ` +
        `${d('rx')} frames in, ${d('tx')} out, ICMP too big ${d('icmp_frag_needed')}`);
      expect(d('gso_packets')).toBeGreaterThan(0n);
      // most of the 4 MiB went as segments of super-packets (a segment carries at most ~1450 bytes)
      expect(d('gso_segments') * 1460n).toBeGreaterThan(BigInt(2 << 20));
      expect(d('drop_gso_no_room') + d('drop_bad_vnet_hdr') + d('drop_neigh_queue_full')).toBe(0n);
      const gd = delta(g0, await guestStats());
      expect(k.devs.reduce((n, dev) => n + gd[dev].bytes, 0)).toBeGreaterThanOrEqual(4 << 20);
      for (const dev of ALL_DEVS) expect(gd[dev].errors + gd[dev].crcErrors, `${dev} errors`).toBe(0);
    }, 90_000);
  }

  // The client's path-MTU discovery off (ip_no_pmtu_disc: its segments carry no DF): the engine may
  // not refuse them, so it fragments the outer packets (ip_do_fragment, as the kernel's IPVS via
  // ip_local_out; an IPv6 outer packet (4in6) gets a Fragment header, ip6_fragment) and the guest's
  // kernel reassembles them before decapsulating.
  for (const k of ['ipip', 'gre --tun-csum', '4in6'].map((n) => KINDS.find((x) => x.name === n)!)) {
    test(`${k.name}: a 1 MiB upload without DF: the engine fragments the tunnel packets, the guest reassembles; intact, no ICMP frag needed`, async () => {
      const body = Buffer.alloc(1 << 20);
      for (let i = 0; i < body.length; i++) body[i] = ((i + 7) * 2246822519) >>> 24;
      writeFileSync(join(vm.dir, 'upload-nodf.bin'), body);
      execFileSync('ip', ['netns', 'exec', lab.ns.cli, 'sysctl', '-qw', 'net.ipv4.ip_no_pmtu_disc=1']);
      try {
        flushRouteCache();
        const g0 = await guestStats();
        const c0 = dir.engine.counters();
        const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', lab.ns.cli, 'curl', '-sS', '--max-time', '30', '--data-binary', `@${join(vm.dir, 'upload-nodf.bin')}`,
          '-H', 'content-type: application/octet-stream', `http://${hp(k.vip, k.port)}/cgi-bin/md5`], { encoding: 'utf8', timeout: 40_000 });
        expect(stdout.trim().split(/\s+/)[0]).toBe(createHash('md5').update(body).digest('hex'));
        const c1 = dir.engine.counters();
        const moved = JSON.stringify(Object.fromEntries(Object.entries(c1).filter(([n, v]) => v !== c0[n]).map(([n, v]) => [n, String(v - c0[n])])));
        expect(c1.icmp_frag_needed - c0.icmp_frag_needed, moved).toBe(0n);
        expect(c1.drop_frag_no_room - c0.drop_frag_no_room, moved).toBe(0n);
        // each full-size segment (1500 bytes, 1520+ once encapsulated; 1540 in IPv6) went out in two fragments:
        // 1 MiB is ~725 segments of 1448 bytes; a few are shorter (they fit) — seen 1378..1424
        expect(c1.frag_created - c0.frag_created).toBeGreaterThanOrEqual(1000n);
        // offloads: the segments of super-packets without DF, each fragmented as a packet alone
        if (offload) expect(c1.gso_segments - c0.gso_segments, moved).toBeGreaterThan(0n);
        expect(routeGet(k)).not.toMatch(/mtu/);
        const d = delta(g0, await guestStats());
        expect(k.devs.reduce((n, dev) => n + d[dev].bytes, 0)).toBeGreaterThanOrEqual(1 << 20);
        for (const dev of ALL_DEVS) expect(d[dev].errors + d[dev].crcErrors, `${dev} errors`).toBe(0);
      } finally {
        execFileSync('ip', ['netns', 'exec', lab.ns.cli, 'sysctl', '-qw', 'net.ipv4.ip_no_pmtu_disc=0']);
      }
    }, 60_000);
  }
});
