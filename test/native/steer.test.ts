// The TUN steering eBPF program (host/native/steer.c) against the kernel:
//  1. BPF_PROG_TEST_RUN: for every vector of test/golden/owner-vectors.json (the conn-owner function,
//     shared with the engine's own test; TUN and TAP), the program's answer is the vector's owner, for N = 1..16;
//     the address set follows setAddrs (added, changed, removed);
//  2. a real IFF_MULTI_QUEUE TUN with the program attached, in a namespace of our own: frames the
//     kernel forwards into it (client -> VIP, NAT replies, FULLNAT replies to a laddr, fragments,
//     ICMP, IPv6) and datagrams from real sockets in the namespace arrive on exactly the queue the
//     owner function names, and detach gives the kernel's own choice back.
// Root only (CAP_BPF, CAP_NET_ADMIN); skipped (visibly) elsewhere.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { DirectorSteering } from '../../host/director/steering.ts';
import * as tun from '../../host/native/tun.ts';
import { Steering } from '../../host/native/steer.ts';
import { csum, ip as pkt, unhex } from '../../host/packet-builder.ts';
import { ip, nodeInNs, sleep, tunSkipReason } from './netns.ts';
import { loadEngine } from '../../host/engine-node.ts';

const skipReason = tunSkipReason(tun.tunAvailable());
if (skipReason) console.warn(`[test/native] steering tests skipped: ${skipReason}`);

interface Vector { name: string; link: 'tun' | 'tap'; frame: string; n: number; owner: number }
const golden = JSON.parse(readFileSync(new URL('../golden/owner-vectors.json', import.meta.url), 'utf8')) as {
  addressSet: { vips: string[]; laddrs: string[] };
  vectors: Vector[];
};
const S = golden.addressSet;
const setOf = (s: typeof S) => [...s.vips.map((addr) => ({ addr, kind: 'vip' as const })), ...s.laddrs.map((addr) => ({ addr, kind: 'laddr' as const }))];
/** The queue a frame gets: the owner, and queue 0 for what is not IP (the owner function says n: "no owner"). */
const queueFor = (v: Vector) => (v.owner === v.n ? 0 : v.owner);

describe.skipIf(skipReason !== null)('steering program: BPF_PROG_TEST_RUN against the owner vectors', () => {
  const progs = new Map<string, Steering>();
  afterAll(() => { for (const p of progs.values()) p.close(); });
  const prog = (n: number, link: 'tun' | 'tap' = 'tun') => {
    let p = progs.get(`${link} ${n}`);
    if (!p) { p = Steering.load(n, { tap: link === 'tap' }); p.setAddrs(setOf(S)); progs.set(`${link} ${n}`, p); }
    return p;
  };

  test('every vector (TUN, and TAP behind its Ethernet header), N = 1, 2, 3, 4, 7, 16', () => {
    const tunVectors = golden.vectors.filter((v) => v.link === 'tun');
    expect(tunVectors.length).toBeGreaterThan(200);
    expect(golden.vectors.some((v) => v.link === 'tap')).toBe(true);
    const wrong = golden.vectors.filter((v) => prog(v.n, v.link).queueOf(unhex(v.frame)) !== queueFor(v)).map((v) => `${v.link} ${v.name} n=${v.n}`);
    expect(wrong).toEqual([]);
    // the vectors do spread: with 4 queues every queue is somebody's owner
    expect(new Set(tunVectors.filter((v) => v.n === 4).map(queueFor)).size).toBe(4);
  });

  test('3,000 seeded random frames: the program and the engine\'s own owner function (frameOwner) agree, N = 2, 3, 4, 7', async () => {
    // the engine with the vectors' address set: VIPs as services, the laddrs on FULLNAT services of their family
    const e = await loadEngine({ link: 'ip' });
    for (const vip of S.vips) e.addService({ proto: 'UDP', addr: vip, port: 53, sched: 'rr' });
    e.addService({ proto: 'TCP', addr: '198.18.0.200', port: 80, sched: 'rr' });
    e.addService({ proto: 'TCP', addr: '2001:2::200', port: 80, sched: 'rr' });
    e.addLaddr({ proto: 'TCP', addr: '198.18.0.200', port: 80 }, S.laddrs[0]!);
    e.addLaddr({ proto: 'TCP', addr: '2001:2::200', port: 80 }, S.laddrs[1]!);
    const set = [...setOf(S), { addr: '198.18.0.200', kind: 'vip' as const }, { addr: '2001:2::200', kind: 'vip' as const }];
    let x = 0x12345678;
    const rnd = (n: number) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
    const pick = <T,>(a: readonly T[]) => a[rnd(a.length)]!;
    const v4 = [...S.vips.filter((a) => !a.includes(':')), ...S.laddrs.filter((a) => !a.includes(':')), '198.18.0.200', '198.18.1.10', '198.18.2.1', '198.18.9.9'];
    const v6 = [...S.vips.filter((a) => a.includes(':')), ...S.laddrs.filter((a) => a.includes(':')), '2001:2::200', '2001:2:0:1::10', '2001:2:0:2::1'];
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 3000; i++) {
      const fam = rnd(3) === 0 ? v6 : v4;
      const kind = pick(['tcp', 'udp', 'icmp', 'sctp', 'gre'] as const);
      const l4 = kind === 'icmp' ? { proto: 'icmp' as const, type: fam === v6 ? 128 : 8, code: 0, rest: rnd(1 << 30) }
        : { proto: kind === 'tcp' ? 'tcp' as const : 'udp' as const, sport: 1 + rnd(65535), dport: pick([53, 80, 1025, 1026, 40000, 1 + rnd(65535)]) };
      const f = pkt(pick(fam), pick(fam), l4, { id: rnd(65536) });
      if (kind === 'sctp' || kind === 'gre') f[fam === v6 ? 6 : 9] = kind === 'sctp' ? 132 : 47;
      if (fam === v4 && rnd(5) === 0) { f[6] = rnd(2) ? 0x20 : 0; f[7] = 1 + rnd(200); }   // a fragment (MF / an offset)
      frames.push(f);
    }
    for (const n of [2, 3, 4, 7]) {
      const p = Steering.load(n);
      try {
        p.setAddrs(set);
        const scratch = Number(e.ex.regionBase(9));
        const wrong = frames.filter((f) => {
          e.memory.set(f, scratch);
          const own = e.ex.frameOwner(f.length, n) >>> 0;
          return p.queueOf(f) !== (own === n ? 0 : own);
        });
        expect(wrong.map((f) => Buffer.from(f).toString('hex')).slice(0, 3)).toEqual([]);
      } finally {
        p.close();
      }
    }
  });

  test('the address set follows setAddrs: a VIP removed hashes as "otherwise", a laddr added slices by dport', () => {
    const p = Steering.load(7);
    try {
      const req = pkt('198.18.1.10', '198.18.0.100', { proto: 'tcp', sport: 40000, dport: 80 });
      const h = (k: number, port: number) => (Math.imul((k ^ port) >>> 0, 0x9e3779b1) >>> 16) % 7;
      expect(p.queueOf(req)).toBe(h(0xc6000064 + 0x120000, 80));            // empty set: (daddr, dport)
      p.setAddrs([{ addr: '198.18.0.100', kind: 'vip' }]);
      expect(p.queueOf(req)).toBe(h(0xc612010a, 40000));                    // VIP: (saddr, sport)
      expect(p.setAddrs([{ addr: '198.18.0.100', kind: 'laddr' }])).toBe(0);  // changed in place
      expect(p.queueOf(req)).toBe(80 % 7);                                   // LADDR: dport % N
      p.setAddrs([{ addr: '198.18.0.100', kind: 'laddr' }, { addr: '198.18.0.100', kind: 'vip' }]);
      expect(p.queueOf(req)).toBe(80 % 7);                                   // both kinds: LADDR first
      const v6 = pkt('2001:2:0:1::10', '2001:2::100', { proto: 'udp', sport: 5000, dport: 53 });
      p.setAddrs([{ addr: '2001:2::100', kind: 'vip' }]);
      const k6 = (0x20010002 ^ 0 ^ 0 ^ 0x100) >>> 0, ks6 = (0x20010002 ^ 1 ^ 0 ^ 0x10) >>> 0;
      expect(p.queueOf(v6)).toBe(h(ks6, 5000));
      expect(p.setAddrs([])).toBe(1);                                         // the v4 entry went with the last call; now the v6 one
      expect(p.queueOf(v6)).toBe(h(k6, 53));
      expect(p.queueOf(req)).toBe(h(0xc6120064, 80));
    } finally {
      p.close();
    }
  });

  test('TAP: a frame that is not IPv4/IPv6 (ARP) goes to queue 0', () => {
    const p = prog(4, 'tap');
    const arp = new Uint8Array(42);
    arp.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    arp[14] = 0x45;                                   // even with a byte that looks like IPv4 where IP would start
    expect(p.queueOf(arp)).toBe(0);
  });

  test('bad arguments are clear errors, not crashes', () => {
    expect(() => Steering.load(0)).toThrow(/1\.\.256/);
    expect(() => Steering.load(257)).toThrow(/1\.\.256/);
    const p = Steering.load(2);
    try {
      expect(() => p.setAddrs([{ addr: 'not-an-address', kind: 'vip' }])).toThrow(/not an IP address/);
      expect(() => p.attach(0x7fff)).toThrow(/EBADF.*TUNSETSTEERINGEBPF/);
    } finally {
      p.close();
    }
  });

  test('the director\'s side: one queue loads nothing; a program that cannot attach is one warning naming the fallback', () => {
    const logs: string[] = [];
    const log = (level: string, msg: string) => logs.push(`${level}: ${msg}`);
    expect(DirectorSteering.start([5], false, log)).toBeUndefined();
    expect(logs).toEqual([]);
    const fd = openSync('/dev/null', 'r');                     // not a TUN: TUNSETSTEERINGEBPF fails
    try {
      expect(DirectorSteering.start([fd, fd], false, log)).toBeUndefined();
    } finally {
      closeSync(fd);
    }
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^warn: steering program not loaded \(.*ioctl\(TUNSETSTEERINGEBPF\).*\); frames reach their owner worker through the engine's redirect ring \(slower, still correct\)/);
  });

  test('without CAP_BPF/CAP_SYS_ADMIN: one clear line, no crash', () => {
    // a child without the capabilities (setpriv, util-linux) asks the addon to load the program
    const addon = new URL('../../build/Release/wasmvs_tun.node', import.meta.url).pathname;
    const out = execFileSync('setpriv', ['--inh-caps=-bpf,-sys_admin,-perfmon', '--bounding-set=-bpf,-sys_admin,-perfmon', '--',
      process.execPath, '-e', `const a = require(${JSON.stringify(addon)});
        try { a.steerLoad(2, 0, false); console.log('loaded'); } catch (e) { console.log(e.code + ' | ' + e.message); }`],
    { encoding: 'utf8', timeout: 10_000 }).trim();
    // kernel.unprivileged_bpf_disabled 0 lets anybody load a socket filter; 1 and 2 need the capabilities
    if (readFileSync('/proc/sys/kernel/unprivileged_bpf_disabled', 'utf8').trim() === '0') expect(out).toBe('loaded');
    else expect(out).toBe('EPERM | EPERM: Operation not permitted, bpf(BPF_MAP_CREATE) (needs CAP_BPF or CAP_SYS_ADMIN)');
  });
});

describe.skipIf(skipReason !== null)('steering program on a multi-queue TUN (root, netns)', () => {
  const N = 4;
  const NS = `wvs-steer-${process.pid}`;
  const DEV = `wvsq${process.pid % 100000}`, INJ = `wvsi${process.pid % 100000}`;
  const queues: number[] = [];
  let inj: tun.TunDevice | undefined;
  let steer: Steering | undefined;

  const cleanup = () => {
    for (const fd of [...queues, ...(inj ? [inj.fd] : [])]) { try { tun.close(fd); } catch { /* closed */ } }
    queues.length = 0;
    inj = undefined;
    steer?.close();
    steer = undefined;
    try { ip('netns', 'del', NS); } catch { /* never created */ }
  };

  beforeAll(() => {
    process.once('exit', cleanup);
    try {
      ip('netns', 'add', NS);
      for (let q = 0; q < N; q++) queues.push(tun.open(DEV, 'tun', { multiQueue: true }).fd);
      inj = tun.open(INJ, 'tun');
      for (const d of [DEV, INJ]) ip('link', 'set', 'dev', d, 'netns', NS);
      for (const k of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0',
        'net.ipv6.conf.all.forwarding=1', 'net.ipv4.conf.all.send_redirects=0'])
        ip('netns', 'exec', NS, 'sysctl', '-qw', k);
      for (const d of [DEV, INJ]) {
        ip('netns', 'exec', NS, 'sysctl', '-qw', `net.ipv4.conf.${d}.rp_filter=0`);
        ip('netns', 'exec', NS, 'sysctl', '-qw', `net.ipv6.conf.${d}.accept_ra=0`);
        ip('-n', NS, 'link', 'set', 'dev', d, 'up');
      }
      ip('-n', NS, 'link', 'set', 'lo', 'up');
      ip('-n', NS, 'addr', 'add', '198.18.240.1/24', 'dev', INJ);
      ip('-n', NS, 'addr', 'add', '198.18.4.1/24', 'dev', DEV);
      // everything of the vectors' addresses (198.18.0.0/22, 2001:2::/48) is routed into the steered TUN
      ip('-n', NS, 'route', 'add', '198.18.0.0/22', 'dev', DEV);
      ip('-n', NS, '-6', 'route', 'add', '2001:2::/48', 'dev', DEV);
      steer = Steering.load(N);
      steer.setAddrs(setOf(S));
      steer.attach(queues[0]!);
    } catch (e) {
      cleanup();
      throw e;
    }
  });
  afterAll(() => { cleanup(); process.removeListener('exit', cleanup); });

  const mem = new ArrayBuffer(256 * 2048 + 256 * 16);
  /** Frames read from every queue until `want` are in (or 3 s pass): [queue, frame]. */
  async function collect(want: number, match: (f: Uint8Array) => boolean): Promise<[number, Uint8Array][]> {
    const got: [number, Uint8Array][] = [];
    const deadline = Date.now() + 3_000;
    while (got.length < want && Date.now() < deadline) {
      let any = false;
      queues.forEach((fd, q) => {
        const n = tun.readBatch(fd, mem, 4096, 2048, 0, 2048, 0, 16, 64);
        const dv = new DataView(mem);
        for (let i = 0; i < n; i++) {
          const f = new Uint8Array(mem, 4096 + i * 2048 + dv.getUint32(i * 16, true), dv.getUint32(i * 16 + 4, true)).slice();
          if (match(f)) got.push([q, f]);
        }
        any ||= n > 0;
      });
      if (!any) await sleep(5);
    }
    return got;
  }
  /** A frame as it was before the kernel forwarded it (TTL / hop limit and the IPv4 checksum). */
  const norm = (f: Uint8Array) => {
    const c = f.slice();
    if (c[0]! >> 4 === 4) { c[8] = 0; c[10] = 0; c[11] = 0; } else c[7] = 0;
    return Buffer.from(c).toString('hex');
  };
  const fixIpv4Csum = (f: Uint8Array) => {
    if (f[0]! >> 4 !== 4) return f;
    const c = f.slice(), ihl = (c[0]! & 15) * 4;
    c[10] = 0; c[11] = 0;
    const s = csum(c.subarray(0, ihl));
    c[10] = s >> 8; c[11] = s & 0xff;
    return c;
  };

  test('forwarded frames land on the owner function\'s queue: client -> VIP, NAT and FULLNAT replies, fragments, ICMP, IPv6', async () => {
    const vs = golden.vectors.filter((v) => v.link === 'tun' && v.n === N && v.owner < N);
    // the frames as the vectors have them, with a valid IPv4 header checksum (the kernel checks it before forwarding)
    const want = new Map(vs.map((v) => [norm(fixIpv4Csum(unhex(v.frame))), v]));
    const gen = new ArrayBuffer(vs.length * 2048 + vs.length * 16), gu8 = new Uint8Array(gen), gdv = new DataView(gen);
    vs.forEach((v, i) => {
      const f = fixIpv4Csum(unhex(v.frame));
      gu8.set(f, i * 2048);
      gdv.setUint32(vs.length * 2048 + i * 16, 0, true);
      gdv.setUint32(vs.length * 2048 + i * 16 + 4, f.length, true);
      gu8[vs.length * 2048 + i * 16 + 8] = 1;
    });
    expect(tun.writeBatch(inj!.fd, gen, 0, 2048, vs.length * 2048, 16, vs.length, 1 << 1)).toBe(vs.length);
    const got = await collect(vs.length, (f) => want.has(norm(f)));
    const seen = new Map(got.map(([q, f]) => [want.get(norm(f))!.name, q]));
    expect(seen.size).toBe(vs.length);
    const wrong = vs.filter((v) => seen.get(v.name) !== v.owner).map((v) => `${v.name}: queue ${seen.get(v.name)}, owner ${v.owner}`);
    expect(wrong).toEqual([]);
    const kinds = vs.map((v) => v.name);
    for (const k of ['fragment', 'icmp', 'FULLNAT reply', 'NAT reply', 'tcp6', 'icmpv6']) expect(kinds.some((n) => n.includes(k))).toBe(true);
  });

  test('datagrams from real sockets in the namespace: each lands on the queue of its (saddr, sport) owner', async () => {
    // 40 sockets, one datagram each, to the VIP: the kernel's own frames through the program
    nodeInNs(NS, `
      const d = require('node:dgram'); let left = 40;
      for (let i = 0; i < 40; i++) { const s = d.createSocket('udp4'); s.send('steer-' + i, 53, '198.18.0.100', () => { s.close(); if (--left === 0) process.exit(0); }); }`);
    const got = await collect(40, (f) => f[0]! >> 4 === 4 && f[9] === 17 && f[19] === 100 && f[18] === 0);
    expect(got).toHaveLength(40);
    const h = (k: number, port: number) => (Math.imul((k ^ port) >>> 0, 0x9e3779b1) >>> 16) % N;
    for (const [q, f] of got) {
      const saddr = ((f[12]! << 24) | (f[13]! << 16) | (f[14]! << 8) | f[15]!) >>> 0, sport = (f[20]! << 8) | f[21]!;
      expect(q).toBe(h(saddr, sport));
    }
    expect(new Set(got.map(([q]) => q)).size).toBeGreaterThan(1);
  });

  test('detach: the kernel picks queues by its own flow hash again (no program error, frames still arrive)', async () => {
    steer!.detach(queues[0]!);
    nodeInNs(NS, `
      const d = require('node:dgram'); let left = 8;
      for (let i = 0; i < 8; i++) { const s = d.createSocket('udp4'); s.send('plain-' + i, 53, '198.18.0.100', () => { s.close(); if (--left === 0) process.exit(0); }); }`);
    const got = await collect(8, (f) => f[0]! >> 4 === 4 && f[9] === 17 && f[19] === 100);
    expect(got).toHaveLength(8);
    steer!.attach(queues[0]!);
  });
});
