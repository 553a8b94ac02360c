// IPIP and GUE against a real Linux decapsulator when this kernel has none: the real server is
// the kernel oracle's Linux 6.1 VM (../shared/kernel-oracle: Debian 6.1 kernel under qemu, TCG),
// with a virtio NIC on a qemu TAP that is a port of the lab's LAN bridge, next to the engine's TAP.
// The guest holds 198.18.1.11-13 (three dests, one kernel), decapsulates with its own ipip
// (tunl0) or fou (GUE port 6080 + ipip devices with encap gue), serves HTTP on the VIP with
// busybox httpd and answers the client directly through the lab's router.
//
// Optional: skipped with the reason unless qemu, /boot/vmlinuz-<kver>, the oracle's initramfs
// ($KO_BUILD/base.cpio.gz, built by ../shared/kernel-oracle/build-initramfs.sh) and the guest's
// modules (virtio_net, ipip, fou) are on this machine. Each part boots the VM once (~5 s).

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Director } from '../../host/director/director.ts';
import { Lab, LabClient, LAB_BRIDGE, LAB_CLIENT, LAB_GUE_PORT, LAB_VIP } from '../../host/director/lab.ts';
import { labSkipReason } from './env.ts';

const KO_BUILD = process.env.KO_BUILD ?? join(process.env.TMPDIR ?? '/tmp', 'kernel-oracle-build');
const KVER = (() => { try { return readFileSync(join(KO_BUILD, 'kver'), 'utf8').trim(); } catch { return ''; } })();
const MODDIR = `/lib/modules/${KVER}/kernel`;
/** Guest modules the oracle image lacks, in load order (insmod: the image's modules.dep does not list them). */
const GUEST_MODULES = ['net/core/failover', 'drivers/net/net_failover', 'drivers/net/virtio_net', 'net/ipv4/tunnel4', 'net/ipv4/ip_tunnel',
  'net/ipv4/ipip', 'net/ipv4/udp_tunnel', 'net/ipv6/ip6_udp_tunnel', 'net/ipv4/fou'];
const GUEST_ADDRS = ['198.18.1.11', '198.18.1.12', '198.18.1.13'];
const GUEST_MAC = '52:54:00:12:18:11';

function skipReason(): string | null {
  const base = labSkipReason();
  if (base) return base;
  try { execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore', timeout: 10_000 }); } catch { return 'qemu-system-x86_64 is not installed'; }
  if (!KVER || !existsSync(join(KO_BUILD, 'base.cpio.gz'))) return `the kernel oracle's initramfs is not built (${KO_BUILD}/base.cpio.gz: run ../shared/kernel-oracle/build-initramfs.sh)`;
  if (!existsSync(`/boot/vmlinuz-${KVER}`)) return `/boot/vmlinuz-${KVER} is missing`;
  const missing = GUEST_MODULES.filter((m) => !existsSync(`${MODDIR}/${m}.ko`));
  if (missing.length) return `guest modules missing under ${MODDIR}: ${missing.join(', ')}`;
  try { execFileSync('cpio', ['--version'], { stdio: 'ignore' }); } catch { return 'cpio is not installed'; }
  return null;
}
const skip = skipReason();
if (skip) console.warn(`[test/e2e] IPIP/GUE against the Linux 6.1 VM skipped: ${skip}`);

/** The guest's script: modules, eth0 with the three dest addresses, the decapsulating devices, httpd on the VIP. */
function guestScript(kind: 'ipip' | 'gue'): string {
  return `
M=${MODDIR}
for k in ${GUEST_MODULES.join(' ')}; do insmod $M/$k.ko || echo "insmod $k failed"; done
for k in all default; do sysctl -qw net.ipv4.conf.$k.rp_filter=0; sysctl -qw net.ipv4.conf.$k.arp_ignore=1; sysctl -qw net.ipv4.conf.$k.arp_announce=2; done
ip link set eth0 up
sysctl -qw net.ipv4.conf.eth0.rp_filter=0; sysctl -qw net.ipv4.conf.eth0.arp_ignore=1; sysctl -qw net.ipv4.conf.eth0.arp_announce=2
${GUEST_ADDRS.map((a) => `ip addr add ${a}/24 dev eth0`).join('\n')}
ip route add default via 198.18.1.1
${kind === 'ipip' ? `ip link set tunl0 up
sysctl -qw net.ipv4.conf.tunl0.rp_filter=0
ip addr add ${LAB_VIP}/32 dev tunl0` : `ip fou add port ${LAB_GUE_PORT} gue
${GUEST_ADDRS.map((a, i) => `ip link add gue${i + 1} type ipip remote any local ${a} encap gue encap-sport auto encap-dport ${LAB_GUE_PORT}
ip link set gue${i + 1} up
sysctl -qw net.ipv4.conf.gue${i + 1}.rp_filter=0`).join('\n')}
ip addr add ${LAB_VIP}/32 dev gue1`}
mkdir -p /www/cgi-bin && echo guest > /www/index.html
printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\nhead -c "$CONTENT_LENGTH" | md5sum\n' > /www/cgi-bin/md5 && chmod +x /www/cgi-bin/md5
busybox httpd -p ${LAB_VIP}:80 -h /www
ip -d link show; ip addr; ip fou show 2>/dev/null
echo ready > ready
i=0; while [ ! -e stop ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i+1)); done
nstat -az 2>/dev/null | grep -iE 'InAddrErrors|InNoRoutes|InCsumErrors|NoPorts' ; cat /proc/net/snmp | grep -E '^(Ip|Udp):'
`;
}

function qemuSuite(kind: 'ipip' | 'gue') {
  let lab: Lab;
  let dir: Director;
  let client: LabClient;
  let vm: ChildProcess;
  let run: string;
  let vmOut = '';
  const qtap = `wvq${kind === 'ipip' ? 'i' : 'g'}${process.pid % 10000}`;

  beforeAll(async () => {
    // the lab's router, LAN bridge and client; no real-server namespaces: the VM is the real server
    lab = await Lab.create({ tag: `e2e-q${kind === 'ipip' ? 'i' : 'g'}`, forward: 'dr', rsCount: 0 });
    run = mkdtempSync(join(tmpdir(), 'wvs-qemu-'));
    // initrd: the oracle's image + the modules it lacks (the kernel takes concatenated cpio archives)
    const ov = join(run, 'overlay');
    for (const m of GUEST_MODULES) {
      const to = join(ov, MODDIR, `${m}.ko`);
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(`${MODDIR}/${m}.ko`, to);
    }
    execFileSync('sh', ['-c', `cd ${ov} && find . | cpio -o -H newc --quiet -R 0:0 | gzip -1 > ${run}/overlay.cpio.gz && cat ${KO_BUILD}/base.cpio.gz ${run}/overlay.cpio.gz > ${run}/initrd.gz`]);
    mkdirSync(join(run, 'share', 'out'), { recursive: true });
    writeFileSync(join(run, 'share', 'case.sh'), guestScript(kind));
    execFileSync('ip', ['-n', lab.ns.dir, 'tuntap', 'add', 'dev', qtap, 'mode', 'tap']);
    execFileSync('ip', ['-n', lab.ns.dir, 'link', 'set', qtap, 'master', LAB_BRIDGE, 'up']);
    vm = spawn('ip', ['netns', 'exec', lab.ns.dir, 'timeout', '-k', '5', '150', 'qemu-system-x86_64', '-accel', 'tcg', '-m', '512', '-smp', '1',
      '-nographic', '-no-reboot', '-nodefaults', '-serial', `file:${run}/console.log`, '-monitor', 'none',
      '-kernel', `/boot/vmlinuz-${KVER}`, '-initrd', `${run}/initrd.gz`, '-append', 'console=ttyS0 panic=-1 quiet loglevel=4',
      '-virtfs', `local,path=${run}/share,mount_tag=host,security_model=none,id=host`,
      '-netdev', `tap,id=n0,ifname=${qtap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${GUEST_MAC}`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    vm.stdout!.on('data', (d) => { vmOut += d; });
    vm.stderr!.on('data', (d) => { vmOut += d; });
    const until = Date.now() + 90_000;
    while (!existsSync(join(run, 'share', 'out', 'ready'))) {
      if (vm.exitCode !== null || Date.now() > until) {
        throw new Error(`the VM did not get ready: ${vmOut}\n${readFileSync(join(run, 'console.log'), 'utf8').slice(-2000)}\n${existsSync(join(run, 'share', 'stdout')) ? readFileSync(join(run, 'share', 'stdout'), 'utf8') : ''}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const flags = kind === 'ipip' ? '-i' : `-i --tun-type gue --tun-port ${LAB_GUE_PORT}`;
    dir = await Director.start({
      ...lab.tapOptions(), dev: `wvt${kind === 'ipip' ? 'i' : 'g'}${process.pid % 10000}`, tickMs: 100, logLevel: 'warn',
      rulesText: `-A -t ${LAB_VIP}:80 -s rr\n${GUEST_ADDRS.map((a) => `-a -t ${LAB_VIP}:80 -r ${a}:80 ${flags} -w 1`).join('\n')}\n`,
    });
    client = await lab.client();
  }, 120_000);

  afterAll(async () => {
    client?.close();
    dir?.stop();
    if (run && existsSync(join(run, 'share', 'out'))) writeFileSync(join(run, 'share', 'out', 'stop'), '');
    if (vm && vm.exitCode === null) {
      await Promise.race([new Promise((r) => vm.once('exit', r)), new Promise((r) => setTimeout(r, 5_000))]);
      if (vm.exitCode === null) vm.kill('SIGKILL');
    }
    lab?.destroy();
    if (run) rmSync(run, { recursive: true, force: true });
  }, 30_000);

  test(`HTTP rr over 3 ${kind} dests of one Linux 6.1 guest: 30 requests, each answered directly; 10 conns per dest, 0 packets back through the director`, async () => {
    const k0 = dir.engine.counters();
    const r = await client.call('http', { n: 30, port: 80, lports: Array.from({ length: 30 }, (_, i) => 23_000 + i), timeoutMs: 10_000 });
    const k1 = dir.engine.counters();
    const diag = JSON.stringify(Object.fromEntries(Object.entries(k1).filter(([k, v]) => v !== k0[k]).map(([k, v]) => [k, String(v - k0[k])])));
    expect(r.errors, diag).toBe(0);
    expect(r.names, diag).toEqual({ guest: 30 });
    const svc = dir.engine.services()[0];
    expect(svc.dests.map((d) => [d.addr, d.fwd, d.tunType, Number(d.stats.conns), Number(d.stats.outpkts)]).sort()).toEqual(
      GUEST_ADDRS.map((a) => [a, 'Tunnel', kind, 10, 0]));
    const conns = dir.engine.conns().filter((c) => c.caddr === LAB_CLIENT && c.vport === 80);
    expect(conns.filter((c) => c.outpkts !== 0)).toEqual([]);
    // the engine found the guest's MAC by ARP for each tunnel endpoint
    for (const a of GUEST_ADDRS) expect(dir.engine.neighbour(a).mac).toBe(GUEST_MAC);
  }, 60_000);

  test(`a 1 MiB upload (curl POST to a CGI md5sum) through the ${kind} tunnel: intact; the client learnt the tunnel's path MTU from the engine's ICMP`, async () => {
    const body = Buffer.alloc(1 << 20);
    for (let i = 0; i < body.length; i++) body[i] = (i * 2654435761) >>> 24;
    writeFileSync(join(run, 'upload.bin'), body);
    const k0 = dir.engine.counters().icmp_frag_needed;
    const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', lab.ns.cli, 'curl', '-sS', '--max-time', '30', '--data-binary', `@${join(run, 'upload.bin')}`,
      '-H', 'content-type: application/octet-stream', `http://${LAB_VIP}/cgi-bin/md5`], { encoding: 'utf8', timeout: 40_000 });
    expect(stdout.trim().split(/\s+/)[0]).toBe(createHash('md5').update(body).digest('hex'));
    expect(dir.engine.counters().icmp_frag_needed - k0).toBeGreaterThanOrEqual(1n);
    // the client's route cache holds the MTU the engine announced: 1500 - 20 (IPIP) or - 32 (GUE: UDP + GUE header)
    const rc = execFileSync('ip', ['-n', lab.ns.cli, 'route', 'get', LAB_VIP], { encoding: 'utf8' });
    expect(rc).toMatch(new RegExp(`mtu ${kind === 'ipip' ? 1480 : 1468}`));
  }, 60_000);
}

describe.skipIf(skip !== null)('IPIP (-i) to a Linux 6.1 guest that decapsulates with tunl0', () => qemuSuite('ipip'));
describe.skipIf(skip !== null)('GUE (-i --tun-type gue --tun-port 6080) to a Linux 6.1 guest that decapsulates with fou', () => qemuSuite('gue'));
