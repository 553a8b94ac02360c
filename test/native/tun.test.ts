// TUN addon against a real kernel: a TUN device moved into a namespace of our own,
// 198.18.200.1/24 on it; frames sent to 198.18.200.2 come out of readBatch, frames from
// writeBatch reach a UDP socket in the namespace. Root only; skipped (visibly) elsewhere.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tun from '../../host/native/tun.ts';
import {
  buildUdp4, ip, listenUdp, nodeInNs, parseUdp4, sendUdp, sleep, tunSkipReason,
} from './netns.ts';

const skipReason = tunSkipReason(tun.tunAvailable());
if (skipReason) console.warn(`[test/native] TUN addon tests skipped: ${skipReason}`);

// Every test below runs twice: batches through read()/write() per frame, and through io_uring
// (one io_uring_enter per batch); the same frames and counters must come out of both.
const uringSkip = skipReason ?? (tun.setIo('auto') === 'uring' ? null : `io_uring refused here (${tun.stats().ioError})`);
if (uringSkip && !skipReason) console.warn(`[test/native] TUN addon io_uring tests skipped: ${uringSkip}`);
const IOS = [['syscall', skipReason], ['uring', uringSkip]] as const;
const LOCAL = '198.18.200.1';
const PEER = '198.18.200.2';

// Slot layout used by most tests (the engine's will differ; the addon only sees numbers).
const SLOT_BASE = 1024;
const SLOT_STRIDE = 2048;
const HEADROOM = 128;
const MAX_LEN = 1600;
const META_BASE = 0;
const META_STRIDE = 16;
const GUARD = 0xa5;

describe('native TUN addon binding (any user)', () => {
  test('a missing addon throws WVS_ERR_NO_TUN_ADDON with build instructions', async () => {
    // A copy of the binding where no build/ exists next to it.
    const dir = mkdtempSync(join(tmpdir(), 'wvs-noaddon-'));
    try {
      mkdirSync(join(dir, 'host/native'), { recursive: true });
      const copy = join(dir, 'host/native/tun.ts');
      copyFileSync(fileURLToPath(new URL('../../host/native/tun.ts', import.meta.url)), copy);
      const mod = (await import(pathToFileURL(copy).href)) as typeof tun;
      expect(mod.tunAvailable()).toBe(false);
      expect(() => mod.open('wvsx0', 'tun')).toThrow(
        expect.objectContaining({ code: 'WVS_ERR_NO_TUN_ADDON', message: expect.stringMatching(/npm install.*python3, make and a C compiler/) }),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

for (const [io, skip] of IOS) describe.skipIf(skip !== null)(`native TUN addon (root, netns, io ${io})`, () => {
  const X = io === 'uring' ? 'u' : 's'; // device and namespace names of the two runs apart
  const NS = `wvs-tun-${process.pid}${X}`;
  const DEV = `wvst${process.pid % 100000}${X}`;
  let dev: tun.TunDevice | undefined;
  const extraFds: number[] = [];

  const cleanup = () => {
    if (dev) tun.unwatch(dev.fd);
    for (const fd of [...extraFds, ...(dev ? [dev.fd] : [])]) {
      try { tun.close(fd); } catch { /* already closed */ }
    }
    extraFds.length = 0;
    dev = undefined;
    try { ip('netns', 'del', NS); } catch { /* never created */ }
  };

  beforeAll(() => {
    process.once('exit', cleanup); // a crashed run must not leave the namespace behind
    expect(tun.setIo(io)).toBe(io);
    try {
      ip('netns', 'add', NS);
      // No IPv6 in the namespace: router solicitations / MLD would show up as stray frames.
      ip('netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1');
      ip('netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1');
      dev = tun.open(DEV, 'tun');
      // The fd stays bound to the device after it moves: we read it from the root namespace.
      ip('link', 'set', 'dev', dev.name, 'netns', NS);
      ip('-n', NS, 'addr', 'add', `${LOCAL}/24`, 'dev', dev.name);
      ip('-n', NS, 'link', 'set', 'dev', dev.name, 'up');
    } catch (e) {
      cleanup();
      throw e;
    }
  });

  afterAll(() => {
    cleanup();
    process.removeListener('exit', cleanup);
    tun.setIo('auto');
  });

  const fd = () => dev!.fd;

  /** Read until `want` frames have come (or 5 s pass), waiting on the fd between batches. */
  async function readFrames(mem: ArrayBuffer, want: number, maxFrames = 16) {
    const counts: number[] = [];
    const frames: Uint8Array[] = [];
    const deadline = Date.now() + 5_000;
    while (frames.length < want && Date.now() < deadline) {
      const n = tun.readBatch(fd(), mem, SLOT_BASE, SLOT_STRIDE, HEADROOM, MAX_LEN, META_BASE, META_STRIDE, maxFrames);
      if (n === 0) {
        await tun.waitReadable(fd(), 500);
        continue;
      }
      counts.push(n);
      const meta = new DataView(mem, META_BASE);
      for (let i = 0; i < n; i++) {
        const off = meta.getUint32(i * META_STRIDE, true);
        const len = meta.getUint32(i * META_STRIDE + 4, true);
        frames.push(new Uint8Array(mem, SLOT_BASE + i * SLOT_STRIDE + off, len).slice());
      }
    }
    return { counts, frames };
  }

  function drain() {
    const mem = new ArrayBuffer(64 * 1024);
    while (tun.readBatch(fd(), mem, SLOT_BASE, SLOT_STRIDE, HEADROOM, MAX_LEN, META_BASE, META_STRIDE, 16) > 0);
  }

  test('a UDP datagram to 198.18.200.2 comes out of readBatch as the exact IPv4 frame', async () => {
    drain();
    const mem = new ArrayBuffer(64 * 1024);
    sendUdp(NS, PEER, 4789, 1, 'hello-tun-');
    const { frames } = await readFrames(mem, 1);
    expect(frames).toHaveLength(1);
    const meta = new DataView(mem, META_BASE);
    expect(meta.getUint32(0, true)).toBe(HEADROOM);
    expect(meta.getUint32(4, true)).toBe(20 + 8 + 'hello-tun-0'.length);
    const p = parseUdp4(frames[0]!);
    expect(p).toMatchObject({
      version: 4, ihl: 20, proto: 17, headerCsumOk: true, src: LOCAL, dst: PEER, dport: 4789,
      udpLen: 8 + 11, payload: 'hello-tun-0', totalLen: frames[0]!.length,
    });
  });

  test('writeBatch sends only the frames whose verdict is in the mask, from slot+off', async () => {
    const port = 40000 + (process.pid % 20000);
    const listener = listenUdp(NS, LOCAL, port, 3, 5_000);
    await listener.ready;

    const mem = new ArrayBuffer(64 * 1024);
    const u8 = new Uint8Array(mem);
    const meta = new DataView(mem, META_BASE);
    const XMIT = 0;
    const DROP = 1;
    const put = (i: number, off: number, verdict: number, text: string) => {
      const pkt = buildUdp4(PEER, LOCAL, 5555 + i, port, new TextEncoder().encode(text));
      u8.set(pkt, SLOT_BASE + i * SLOT_STRIDE + off);
      meta.setUint32(i * META_STRIDE, off, true);
      meta.setUint32(i * META_STRIDE + 4, pkt.length, true);
      meta.setUint8(i * META_STRIDE + 8, verdict);
    };
    put(0, HEADROOM, DROP, 'must-not-arrive');
    put(1, 64, XMIT, 'hello from writeBatch'); // a start inside the headroom, as after encapsulation
    put(2, HEADROOM, XMIT, 'second frame');
    const before = tun.stats();
    const written = tun.writeBatch(fd(), mem, SLOT_BASE, SLOT_STRIDE, META_BASE, META_STRIDE, 3, 1 << XMIT);
    expect(written).toBe(2);
    const after = tun.stats();
    expect(after.txFrames - before.txFrames).toBe(2);
    expect(after.txDropped - before.txDropped).toBe(0);
    // two frames: one io_uring_enter on the ring path; one frame goes by write() on both paths
    // (a one-op enter costs more than the syscall: bench/native/tun-syscalls.c)
    expect(after.enters - before.enters).toBe(io === 'uring' ? 1 : 0);
    meta.setUint8(1 * META_STRIDE + 8, DROP);
    expect(tun.writeBatch(fd(), mem, SLOT_BASE, SLOT_STRIDE, META_BASE, META_STRIDE, 3, 1 << XMIT)).toBe(1);
    expect(tun.stats().enters).toBe(after.enters);
    expect(tun.stats().txFrames - after.txFrames).toBe(1);

    const got = await listener.done;
    expect(got.payloads).toEqual(['hello from writeBatch', 'second frame', 'second frame']);
    expect(got.from).toEqual([`${PEER}:5556`, `${PEER}:5557`, `${PEER}:5557`]);
  });

  test('50 datagrams come out as batches of 16,16,16,2; nothing outside the frames is touched', async () => {
    drain();
    const mem = new ArrayBuffer(64 * 1024);
    new Uint8Array(mem).fill(GUARD);
    sendUdp(NS, PEER, 9000, 50, 'batch-');
    await tun.waitReadable(fd(), 2_000);
    const enters0 = tun.stats().enters;

    const u8 = new Uint8Array(mem);
    const counts: number[] = [];
    const payloads: string[] = [];
    const deadline = Date.now() + 5_000;
    while (payloads.length < 50 && Date.now() < deadline) {
      u8.fill(GUARD);
      const n = tun.readBatch(fd(), mem, SLOT_BASE, SLOT_STRIDE, HEADROOM, MAX_LEN, META_BASE, META_STRIDE, 16);
      if (n === 0) {
        await tun.waitReadable(fd(), 500);
        continue;
      }
      counts.push(n);
      // Expected image: guard everywhere except meta off/len and the frame bytes of records < n.
      const touched = new Uint8Array(mem.byteLength);
      const meta = new DataView(mem, META_BASE);
      for (let i = 0; i < n; i++) {
        const off = meta.getUint32(i * META_STRIDE, true);
        const len = meta.getUint32(i * META_STRIDE + 4, true);
        expect(off).toBe(HEADROOM);
        const frame = u8.subarray(SLOT_BASE + i * SLOT_STRIDE + off, SLOT_BASE + i * SLOT_STRIDE + off + len);
        const p = parseUdp4(frame);
        expect(p.dst).toBe(PEER);
        expect(len).toBe(p.totalLen);
        expect(len).toBe(28 + p.payload.length);
        payloads.push(p.payload);
        touched.fill(1, META_BASE + i * META_STRIDE, META_BASE + i * META_STRIDE + 8);
        touched.fill(1, SLOT_BASE + i * SLOT_STRIDE + off, SLOT_BASE + i * SLOT_STRIDE + off + len);
      }
      let stray = -1;
      for (let j = 0; j < u8.length && stray < 0; j++) if (!touched[j] && u8[j] !== GUARD) stray = j;
      expect(stray, 'byte written outside a frame or meta record').toBe(-1);
    }
    expect(counts).toEqual([16, 16, 16, 2]);
    expect(payloads).toEqual(Array.from({ length: 50 }, (_, i) => `batch-${i}`));
    // io_uring: a few io_uring_enter per batch (chunks of 8, 16...), syscall: none
    const enters = tun.stats().enters - enters0;
    if (io === 'uring') expect(enters).toBeGreaterThanOrEqual(4); else expect(enters).toBe(0);
    expect(tun.stats().io).toBe(io);
  });

  test('an oversize frame is dropped and counted, never handed out cut', async () => {
    drain();
    const mem = new ArrayBuffer(64 * 1024);
    const before = tun.stats();
    // 'x'.repeat(100) -> 128-byte frame; then a 37-byte one. maxLen 64 keeps only the second.
    nodeInNs(NS, `const s=require('node:dgram').createSocket('udp4');
      s.send('x'.repeat(100),7,'${PEER}',()=>s.send('small-frame',7,'${PEER}',()=>s.close()));`);
    await tun.waitReadable(fd(), 2_000);
    const n = tun.readBatch(fd(), mem, SLOT_BASE, SLOT_STRIDE, HEADROOM, 64, META_BASE, META_STRIDE, 4);
    expect(n).toBe(1);
    const len = new DataView(mem).getUint32(META_BASE + 4, true);
    expect(parseUdp4(new Uint8Array(mem, SLOT_BASE + HEADROOM, len)).payload).toBe('small-frame');
    expect(tun.stats().rxOversize - before.rxOversize).toBe(1);
    // Nothing past maxLen was written: the spill goes to a scratch byte, not the slot.
    expect(new Uint8Array(mem, SLOT_BASE + HEADROOM + 64, 16).every((b) => b === 0)).toBe(true);
  });

  test('a view over a SharedArrayBuffer works, offsets count from the view start', async () => {
    drain();
    const sab = new SharedArrayBuffer(96 * 1024);
    const view = new Uint8Array(sab, 8192); // byteOffset != 0
    sendUdp(NS, PEER, 9001, 1, 'shared-');
    await tun.waitReadable(fd(), 2_000);
    const n = tun.readBatch(fd(), view, SLOT_BASE, SLOT_STRIDE, HEADROOM, MAX_LEN, META_BASE, META_STRIDE, 4);
    expect(n).toBe(1);
    const dv = new DataView(sab, 8192);
    const len = dv.getUint32(META_BASE + 4, true);
    expect(parseUdp4(view.subarray(SLOT_BASE + HEADROOM, SLOT_BASE + HEADROOM + len)).payload).toBe('shared-0');
    expect(new Uint8Array(sab, 0, 8192).every((b) => b === 0)).toBe(true);
    // A bare SharedArrayBuffer cannot be opened through Node 20's Node-API: TypeError, not a crash.
    expect(() => tun.readBatch(fd(), sab as unknown as ArrayBuffer, 0, 2048, 0, 1500, 0, 16, 1)).toThrow(TypeError);
  });

  test('watch fires when a frame arrives, never while idle, and costs no CPU idle', async () => {
    drain();
    const mem = new ArrayBuffer(64 * 1024);
    let calls = 0;
    let frames = 0;
    let onFrame: (() => void) | undefined;
    tun.watch(fd(), (err) => {
      expect(err).toBeNull();
      calls++;
      frames += tun.readBatch(fd(), mem, SLOT_BASE, SLOT_STRIDE, HEADROOM, MAX_LEN, META_BASE, META_STRIDE, 16);
      onFrame?.();
    });
    try {
      expect(() => tun.watch(fd(), () => {})).toThrow(expect.objectContaining({ code: 'EEXIST' }));
      const cpu0 = process.cpuUsage();
      await sleep(300);
      const cpu = process.cpuUsage(cpu0);
      expect(calls).toBe(0);
      expect((cpu.user + cpu.system) / 1000).toBeLessThan(150); // a spinning loop would burn ~300 ms

      const got = new Promise<void>((resolve) => (onFrame = () => frames >= 3 && resolve()));
      sendUdp(NS, PEER, 9002, 3, 'watch-');
      await Promise.race([got, sleep(5_000)]);
      expect(frames).toBe(3);
      const callsAfterDrain = calls;
      await sleep(200);
      expect(calls).toBe(callsAfterDrain); // drained: level-triggered poll goes quiet again
    } finally {
      expect(tun.unwatch(fd())).toBe(true);
    }
    expect(tun.unwatch(fd())).toBe(false);

    // The promise form on top of watch.
    expect(await tun.waitReadable(fd(), 100)).toBe(false);
    sendUdp(NS, PEER, 9003, 1, 'wait-');
    expect(await tun.waitReadable(fd(), 5_000)).toBe(true);
    drain();
  });

  test('bounds: any slot or meta record past the buffer end is a RangeError, nothing is touched', () => {
    const mem = new ArrayBuffer(16 * 1024);
    const u8 = new Uint8Array(mem).fill(GUARD);
    const rb = (slotBase: number, stride: number, headroom: number, maxLen: number, metaBase: number, n: number) =>
      () => tun.readBatch(fd(), mem, slotBase, stride, headroom, maxLen, metaBase, 16, n);
    expect(rb(16 * 1024, 2048, 0, 1500, 0, 1)).toThrow(RangeError); // slot starts at the end
    expect(rb(1024, 2048, 128, 1500, 0, 8)).toThrow(RangeError); // 8th slot runs past the end
    expect(rb(0, 2048, 128, 1500, 16 * 1024 - 7, 1)).toThrow(RangeError); // meta record cut short
    expect(rb(0, 2048, 128, 1500, 2 ** 32 - 1, 2)).toThrow(RangeError); // no 32-bit wraparound
    expect(rb(0, 1024, 128, 1500, 0, 2)).toThrow(RangeError); // overlapping slots
    expect(rb(0, 2048, 0, 1500, -1, 1)).toThrow(RangeError); // negative offset
    expect(rb(0, 2048, 0, 1500, 0.5, 1)).toThrow(RangeError); // fraction
    expect(rb(0, 2048, 0, 0, 0, 1)).toThrow(RangeError); // maxLen 0
    expect(tun.readBatch(fd(), mem, 0, 2048, 0, 1500, 0, 16, 0)).toBe(0);
    expect(u8.every((b) => b === GUARD)).toBe(true);

    // writeBatch: a selected frame whose off+len leaves its slot is rejected before any write.
    const meta = new DataView(mem);
    const before = tun.stats();
    meta.setUint32(0, 0, true); meta.setUint32(4, 40, true); meta.setUint8(8, 0);
    meta.setUint32(16, 2000, true); meta.setUint32(20, 100, true); meta.setUint8(24, 0);
    expect(() => tun.writeBatch(fd(), mem, 4096, 2048, 0, 16, 2, 1)).toThrow(/frame 1/);
    expect(tun.stats().txFrames).toBe(before.txFrames);
    // ...but an unselected one is ignored (verdict 1 not in mask 1).
    meta.setUint8(24, 1);
    meta.setUint32(0, 0, true); meta.setUint32(4, 0, true); meta.setUint8(8, 1);
    expect(tun.writeBatch(fd(), mem, 4096, 2048, 0, 16, 2, 1)).toBe(0);
    expect(() => tun.writeBatch(fd(), mem, 4096, 2048, 16 * 1024 - 8, 16, 1, 1)).toThrow(RangeError);
  });

  test('syscall errors carry errno names: EBADF, EBUSY, RangeError for long names', () => {
    const mem = new ArrayBuffer(8192);
    const badFd = 1_000_000;
    expect(() => tun.readBatch(badFd, mem, 0, 2048, 0, 1500, 4096, 16, 1))
      .toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'readv', errno: -9 }));
    new DataView(mem).setUint32(4100, 20, true);
    expect(() => tun.writeBatch(badFd, mem, 0, 2048, 4096, 16, 1, 1))
      .toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'write' }));
    expect(() => tun.close(badFd)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'close' }));
    expect(() => tun.watch(badFd, () => {})).toThrow(expect.objectContaining({ code: 'EBADF' }));

    // The second plain open of a name held by an fd is EBUSY (in the root namespace, our own name).
    const name = `wvsb${process.pid % 100000}${X}`;
    const a = tun.open(name, 'tun');
    extraFds.push(a.fd);
    expect(a.name).toBe(name);
    expect(() => tun.open(name, 'tun')).toThrow(
      expect.objectContaining({ code: 'EBUSY', syscall: 'ioctl', message: expect.stringContaining('TUNSETIFF') }),
    );
    tun.close(extraFds.pop()!);
    expect(() => tun.open('x'.repeat(16), 'tun')).toThrow(RangeError);
    expect(() => tun.open('x', 'eth' as tun.TunMode)).toThrow(TypeError);
  });

  test('tap mode, multi-queue and vnet header open as asked', () => {
    const tap = tun.open(`wvsp${process.pid % 100000}${X}`, 'tap');
    extraFds.push(tap.fd);
    expect(ip('-d', 'link', 'show', 'dev', tap.name)).toMatch(/tun type tap/);
    const mq = `wvsq${process.pid % 100000}${X}`;
    const q0 = tun.open(mq, 'tun', { multiQueue: true, vnetHdr: true });
    extraFds.push(q0.fd);
    const q1 = tun.open(mq, 'tun', { multiQueue: true, vnetHdr: true });
    extraFds.push(q1.fd);
    expect(q1.fd).not.toBe(q0.fd);
    const show = ip('-d', 'link', 'show', 'dev', mq);
    expect(show).toMatch(/multi_queue/);
    expect(show).toMatch(/vnet_hdr/);
    // FD_CLOEXEC and O_NONBLOCK are set on the fd.
    const fdinfo = execFileSync('cat', [`/proc/${process.pid}/fdinfo/${q0.fd}`], { encoding: 'utf8' });
    const flags = parseInt(/flags:\s+(\d+)/.exec(fdinfo)![1]!, 8);
    expect(flags & 0o2000000).toBeTruthy(); // O_CLOEXEC
    expect(flags & 0o4000).toBeTruthy(); // O_NONBLOCK
    while (extraFds.length) tun.close(extraFds.pop()!);
  });

  test('queues: N opens N fds of one multi-queue device; flows spread over them; a worker thread reads its queue', async () => {
    const name = `wvsm${process.pid % 100000}${X}`;
    const ns = `${NS}-mq`;
    const mq = tun.open(name, 'tun', { queues: 2 });
    try {
      expect(mq.fds).toHaveLength(2);
      expect(mq.fds[0]).toBe(mq.fd);
      expect(new Set(mq.fds).size).toBe(2);
      expect(ip('-d', 'link', 'show', 'dev', name)).toMatch(/multi_queue/);
      // The single-queue API is unchanged: a plain open has fds = [fd].
      const plain = tun.open(`wvsn${process.pid % 100000}${X}`, 'tun');
      expect(plain.fds).toEqual([plain.fd]);
      tun.close(plain.fd);
      expect(() => tun.open(name, 'tun', { queues: 0 })).toThrow(RangeError);
      expect(() => tun.open(name, 'tun', { queues: 257 })).toThrow(RangeError);
      // a multi-queue device takes any opener as one more queue: with `queues` it must be new
      expect(() => tun.open(name, 'tun', { queues: 2 })).toThrow(expect.objectContaining({ code: 'EBUSY', message: expect.stringMatching(/exists: with queues the device must be new/) }));

      ip('netns', 'add', ns);
      ip('netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1');
      ip('netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1');
      ip('link', 'set', 'dev', name, 'netns', ns);
      ip('-n', ns, 'addr', 'add', '198.18.201.1/24', 'dev', name);
      ip('-n', ns, 'link', 'set', 'dev', name, 'up');
      // 64 flows (64 source ports), one datagram each: the kernel picks the queue by flow hash.
      nodeInNs(ns, `
        const dgram = require('node:dgram');
        let left = 64;
        for (let i = 0; i < 64; i++) {
          const s = dgram.createSocket('udp4');
          s.send('mq' + i, 7000, '198.18.201.2', () => { s.close(); if (--left === 0) process.exit(0); });
        }`);
      // Queue 1 is read from a worker thread that loads the addon itself (context-aware module),
      // into a SharedArrayBuffer; queue 0 from this thread.
      const addonPath = fileURLToPath(new URL('../../build/Release/wasmvs_tun.node', import.meta.url));
      const { Worker } = await import('node:worker_threads');
      const w = new Worker(`
        const { parentPort, workerData } = require('node:worker_threads');
        const a = require(workerData.addon);
        const mem = new Uint8Array(new SharedArrayBuffer(1 << 20));
        const got = [];
        let n;
        while ((n = a.readBatch(workerData.fd, mem, 65536, 2048, 128, 1600, 0, 16, 64)) > 0)
          for (let i = 0; i < n; i++) {
            const len = new DataView(mem.buffer).getUint32(i * 16 + 4, true);
            const f = mem.subarray(65536 + i * 2048 + 128, 65536 + i * 2048 + 128 + len);
            if (f[9] === 17 && len > 28) got.push(Buffer.from(f.subarray(28)).toString());
          }
        parentPort.postMessage({ got, stats: a.stats() });`, { eval: true, workerData: { addon: addonPath, fd: mq.fds[1] } });
      const fromWorker = await new Promise<{ got: string[]; stats: tun.TunStats }>((res, rej) => {
        w.once('message', res);
        w.once('error', rej);
      });
      await w.terminate();
      const mem = new ArrayBuffer(1 << 20);
      const got0: string[] = [];
      let n: number;
      while ((n = tun.readBatch(mq.fds[0]!, mem, 65536, 2048, 128, 1600, 0, 16, 64)) > 0)
        for (let i = 0; i < n; i++) {
          const len = new DataView(mem).getUint32(i * 16 + 4, true);
          const f = new Uint8Array(mem, 65536 + i * 2048 + 128, len);
          if (f[9] === 17 && len > 28) got0.push(Buffer.from(f.subarray(28)).toString());
        }
      // Every datagram came out of exactly one queue, and both queues carried some.
      const all = [...got0, ...fromWorker.got].filter((p) => p.startsWith('mq')).sort();
      expect(all).toEqual(Array.from({ length: 64 }, (_, i) => 'mq' + i).sort());
      expect(got0.length).toBeGreaterThan(0);
      expect(fromWorker.got.length).toBeGreaterThan(0);
      expect(fromWorker.stats.rxFrames).toBe(fromWorker.got.length); // the worker's own counters
    } finally {
      for (const fd of mq.fds) try { tun.close(fd); } catch { /* closed */ }
      try { ip('netns', 'del', ns); } catch { /* never created */ }
    }
  });

  test('without CAP_NET_ADMIN open fails with EPERM and says so', () => {
    let setpriv = true;
    try { execFileSync('setpriv', ['--version'], { stdio: 'ignore' }); } catch { setpriv = false; }
    if (!setpriv) {
      console.warn('[test/native] setpriv missing: EPERM check not run');
      return;
    }
    const addon = fileURLToPath(new URL('../../build/Release/wasmvs_tun.node', import.meta.url));
    const script = `try { require(${JSON.stringify(addon)}).open('wvsperm0', 'tun'); console.log('opened'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, syscall: e.syscall, message: e.message })); }`;
    const out = execFileSync('setpriv', ['--bounding-set', '-net_admin', '--inh-caps', '-net_admin',
      process.execPath, '-e', script], { encoding: 'utf8', timeout: 10_000 });
    const e = JSON.parse(out);
    expect(e).toMatchObject({ code: 'EPERM', syscall: 'ioctl' });
    expect(e.message).toMatch(/^EPERM: operation not permitted, ioctl TUNSETIFF 'wvsperm0' \(needs CAP_NET_ADMIN\)$/);
  });
});

// The two I/O paths side by side on one hairpin: the same 300 frames written through each (one
// write() per frame / io_uring ops, more than one ring's worth), forwarded by the kernel back into
// the TUN, read through each (one read() per frame / chunks of RWF_NOWAIT readv ops): the same bytes
// come out, in the same order, with the same counters, and they are the frames written with the
// TTL one lower (ip_forward).
describe.skipIf(uringSkip !== null)('native TUN addon: io_uring and read()/write() move the same frames', () => {
  const NSH = `wvs-tunh-${process.pid}`;
  const DEVH = `wvsh${process.pid % 100000}`;
  let fd = -1;
  const cleanup = () => {
    if (fd >= 0) try { tun.close(fd); } catch { /* closed */ }
    fd = -1;
    try { ip('netns', 'del', NSH); } catch { /* never created */ }
  };
  beforeAll(() => {
    process.once('exit', cleanup);
    ip('netns', 'add', NSH);
    for (const k of ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv4.ip_forward=1',
      'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.all.send_redirects=0',
      'net.ipv4.conf.default.send_redirects=0']) ip('netns', 'exec', NSH, 'sysctl', '-qw', k);
    fd = tun.open(DEVH, 'tun').fd;
    ip('link', 'set', 'dev', DEVH, 'netns', NSH);
    ip('-n', NSH, 'addr', 'add', '198.18.204.1/24', 'dev', DEVH);
    ip('-n', NSH, 'link', 'set', 'dev', DEVH, 'up');
    ip('-n', NSH, 'route', 'add', '198.18.205.0/24', 'dev', DEVH);
  });
  afterAll(() => {
    cleanup();
    process.removeListener('exit', cleanup);
    tun.setIo('auto');
  });

  const N = 300, STRIDE = 2048, HR = 128, MAXLEN = 1000, MSTR = 16;
  // frame i: 198.18.204.2 -> 198.18.205.(i%250+1), payload 1..1400 bytes (some longer than MAXLEN:
  // counted as oversize on read), verdict 1 (sent) but every 7th 2 (not in the mask), every 50th len 0
  const frames = Array.from({ length: N }, (_, i) =>
    buildUdp4('198.18.204.2', `198.18.205.${(i % 250) + 1}`, 10000 + i, 7,
      new Uint8Array((i * 37) % 1400 + 1).map((_, j) => (i + j) & 0xff)));
  const selected = (i: number) => i % 7 !== 3 && i % 50 !== 10;
  /** What ip_forward makes of a frame: TTL - 1, header checksum again (RFC 1624's result, recomputed). */
  const forwarded = (f: Uint8Array) => {
    const o = f.slice();
    o[8]! -= 1;
    o[10] = 0; o[11] = 0;
    let sum = 0;
    for (let j = 0; j < 20; j += 2) sum += (o[j]! << 8) | o[j + 1]!;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    o[10] = (~sum >> 8) & 0xff; o[11] = ~sum & 0xff;
    return o;
  };

  async function roundTrip(io: tun.TunIo) {
    expect(tun.setIo(io)).toBe(io);
    const mem = new ArrayBuffer(N * STRIDE + N * MSTR);
    const u8 = new Uint8Array(mem), meta = new DataView(mem, N * STRIDE);
    frames.forEach((f, i) => {
      const off = 64 + (i % 5) * 8; // frames start anywhere in the headroom
      u8.set(f, i * STRIDE + off);
      meta.setUint32(i * MSTR, off, true);
      meta.setUint32(i * MSTR + 4, i % 50 === 10 ? 0 : f.length, true);
      meta.setUint8(i * MSTR + 8, i % 7 === 3 ? 2 : 1);
    });
    const s0 = tun.stats();
    const written = tun.writeBatch(fd, mem, 0, STRIDE, N * STRIDE, MSTR, N, 1 << 1);
    const rxMem = new ArrayBuffer(64 * STRIDE + 64 * MSTR);
    const rxMeta = new DataView(rxMem, 64 * STRIDE);
    const got: Uint8Array[] = [];
    const want = frames.filter((f, i) => selected(i) && f.length <= MAXLEN).length;
    const deadline = Date.now() + 5_000;
    while (got.length < want && Date.now() < deadline) {
      const n = tun.readBatch(fd, rxMem, 0, STRIDE, HR, MAXLEN, 64 * STRIDE, MSTR, 64);
      if (n === 0) { await tun.waitReadable(fd, 500); continue; }
      for (let i = 0; i < n; i++) {
        expect(rxMeta.getUint32(i * MSTR, true)).toBe(HR);
        got.push(new Uint8Array(rxMem, i * STRIDE + HR, rxMeta.getUint32(i * MSTR + 4, true)).slice());
      }
    }
    await sleep(50);
    expect(tun.readBatch(fd, rxMem, 0, STRIDE, HR, MAXLEN, 64 * STRIDE, MSTR, 64)).toBe(0); // nothing more came
    const s1 = tun.stats();
    return {
      written, got, enters: s1.enters - s0.enters, io: s1.io,
      d: { rx: s1.rxFrames - s0.rxFrames, over: s1.rxOversize - s0.rxOversize, tx: s1.txFrames - s0.txFrames, txDropped: s1.txDropped - s0.txDropped },
    };
  }

  test('300 frames of 29..1428 bytes: identical frames, order and counters on both paths', async () => {
    const sys = await roundTrip('syscall');
    const ring = await roundTrip('uring');
    const sent = frames.filter((_, i) => selected(i));
    expect(sys.written).toBe(sent.length);
    expect(sys.d).toEqual({ rx: sys.got.length, over: sent.filter((f) => f.length > MAXLEN).length, tx: sent.length,
      txDropped: frames.filter((_, i) => i % 50 === 10 && i % 7 !== 3).length }); // len 0 and in the mask
    expect(sys.got.map((f) => Buffer.from(f).toString('hex')))
      .toEqual(sent.filter((f) => f.length <= MAXLEN).map((f) => Buffer.from(forwarded(f)).toString('hex')));
    expect(ring.written).toBe(sys.written);
    expect(ring.d).toEqual(sys.d);
    expect(ring.got.map((f) => Buffer.from(f).toString('hex'))).toEqual(sys.got.map((f) => Buffer.from(f).toString('hex')));
    // the paths really differ: no io_uring_enter on one, a handful per batch on the other (256 writes per enter)
    expect([sys.io, sys.enters]).toEqual(['syscall', 0]);
    expect(ring.io).toBe('uring');
    expect(ring.enters).toBeGreaterThanOrEqual(2);
    expect(ring.enters).toBeLessThan(60);
  });
});

describe.skipIf(!tun.tunAvailable())('native TUN addon: choosing the I/O path', () => {
  const addon = fileURLToPath(new URL('../../build/Release/wasmvs_tun.node', import.meta.url));
  // a bad fd takes the same path as a good one: which one shows in stats() and in io_uring_enter counts
  const probe = (pre: string) => `const a = require(${JSON.stringify(addon)});\n${pre}
    const mem = new ArrayBuffer(8192); let err;
    try { a.readBatch(1000000, mem, 0, 2048, 0, 1500, 4096, 16, 1); } catch (e) { err = e.code + ' ' + e.syscall; }
    const s = a.stats(); console.log(JSON.stringify({ err, io: s.io, ioError: s.ioError, enters: s.enters }));`;
  const run = (cmd: string[], env: NodeJS.ProcessEnv, pre = '') =>
    JSON.parse(execFileSync(cmd[0]!, [...cmd.slice(1), process.execPath, '-e', probe(pre)], { encoding: 'utf8', env, timeout: 10_000 }));

  test('WASMVS_TUN_IO=syscall: read()/write() from the start, no reason needed', () => {
    const r = run(['env'], { ...process.env, WASMVS_TUN_IO: 'syscall' });
    expect(r).toEqual({ err: 'EBADF readv', io: 'syscall', ioError: null, enters: 0 });
    // ... and setIo('auto') keeps that default; 'uring' still asks for the ring
    const r2 = run(['env'], { ...process.env, WASMVS_TUN_IO: 'syscall' }, "if (a.setIo('auto') !== 'syscall') throw new Error('auto');");
    expect(r2).toEqual({ err: 'EBADF readv', io: 'syscall', ioError: null, enters: 0 });
  });

  test.skipIf(uringSkip !== null)('io_uring refused (no fd left for the ring: EMFILE): the batch goes through read(), the reason is kept', () => {
    // default: the ring, whose op reports the bad fd
    expect(run(['env'], process.env)).toEqual({ err: 'EBADF readv', io: 'uring', ioError: null, enters: 1 });
    // every fd used up before the first batch: io_uring_setup fails, the addon settles on read()/write()
    const fill = `for (;;) { try { require('node:fs').openSync('/dev/null', 'r'); } catch { break; } }\n`;
    expect(run(['prlimit', '--nofile=256:256'], process.env, fill))
      .toEqual({ err: 'EBADF readv', io: 'syscall', ioError: 'EMFILE io_uring_setup', enters: 0 });
    expect(() => tun.setIo('bogus' as tun.TunIo)).toThrow(TypeError);
  });
});
