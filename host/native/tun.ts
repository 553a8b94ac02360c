// Typed binding of the wasmvs_tun Node-API addon (host/native/tun.c): TUN/TAP devices with
// batch I/O straight into and out of the engine's WebAssembly memory. Node-only, Linux-only.
// No engine logic here: offsets, strides and verdict masks come from the caller (the layout).
//
// Memory record layout shared with the engine (u32 little-endian):
//   slot i = slotBase + i*slotStride     frame at slot + off
//   meta i = metaBase + i*metaStride     +0 off   +4 len   +8 verdict (u8, writeBatch only)
//
// Intended director loop (idle: the thread sleeps in epoll; busy: a few batches per loop turn,
// then timers and the control socket get their turn, and the level-triggered watch fires again):
//   watch(dev.fd, (err) => {
//     for (let b = 0; b < 4; b++) {
//       const n = readBatch(dev.fd, mem, rxBase, stride, headroom, maxLen, metaBase, metaStride, 64);
//       if (n === 0) break;
//       engine.process(n, nowMs);
//       writeBatch(dev.fd, mem, rxBase, stride, metaBase, metaStride, n, 1 << XMIT);
//     }
//   });

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Error thrown when build/Release/wasmvs_tun.node is not there (not built, or not Linux). */
export const WVS_ERR_NO_TUN_ADDON = 'WVS_ERR_NO_TUN_ADDON';

export class TunAddonError extends Error {
  override readonly name = 'TunAddonError';
  readonly code = WVS_ERR_NO_TUN_ADDON;
}

/**
 * A syscall failure, shaped like Node's own (fs, net) errors:
 * `code` is the errno name ('EPERM', 'EBUSY', 'EBADF', ...), `errno` is negative, `syscall` the call.
 */
export interface TunSyscallError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export type TunMode = 'tun' | 'tap';

export interface TunOpenOptions {
  /** IFF_MULTI_QUEUE: open the same name again for one more queue (one per worker). */
  multiQueue?: boolean;
  /** IFF_VNET_HDR: every frame is preceded by a struct virtio_net_hdr (offload path). */
  vnetHdr?: boolean;
  /**
   * TUN offloads (implies vnetHdr): TUNSETOFFLOAD with checksum and TSO4/TSO6, so the kernel
   * hands over TCP super-packets (up to 64 KiB, partial checksum) and takes them back.
   */
  offload?: boolean;
  /**
   * Open N queues of one IFF_MULTI_QUEUE device at once (implies multiQueue; 1..256): `fds` gets one
   * fd per queue, for one worker thread each (the addon is context-aware: load it in every worker and
   * pass the fd number). All or nothing: a failure closes the queues already opened. The device
   * must not exist yet (EBUSY otherwise): the kernel would add the queues to another program's
   * multi-queue device.
   */
  queues?: number;
}

export interface TunDevice {
  /** Non-blocking, close-on-exec fd of /dev/net/tun bound to the interface. */
  fd: number;
  /** Interface name the kernel gave (equals the requested one unless that was ''). */
  name: string;
  /** One fd per queue (`queues` option); fds[0] === fd. Without `queues`: [fd]. Close each one. */
  fds: number[];
}

/** Cumulative counters of this addon instance (one per thread), all fds together. */
export interface TunStats {
  rxFrames: number;
  rxBytes: number;
  /** Frames longer than maxLen: dropped (the slot was reused), never handed out cut. */
  rxOversize: number;
  txFrames: number;
  txBytes: number;
  /** Frames selected by the verdict mask but not written (EAGAIN after the poll budget, EINVAL, len 0...). */
  txDropped: number;
  /** Writes retried after waiting for POLLOUT. */
  txRetries: number;
  /** errno name of the last read error swallowed mid-batch, or null. */
  rxLastError: string | null;
  /** errno name of the last per-frame write error, or null. */
  txLastError: string | null;
  /** io_uring_enter calls made by the batches (each submits a whole batch, or a chunk of one). */
  enters: number;
  /** The path of this thread's batches: 'uring' (one io_uring_enter per batch), 'syscall' (one read()/write() per frame), 'auto' before the first batch. */
  io: TunIo | 'auto';
  /** Why not io_uring, e.g. 'EPERM io_uring_setup' (kernel.io_uring_disabled, a seccomp filter), or null. */
  ioError: string | null;
}

/** How the batch calls reach the kernel (setIo). */
export type TunIo = 'uring' | 'syscall';

/**
 * Memory the batch calls read and write: an ArrayBuffer (WebAssembly.Memory#buffer of a plain memory),
 * or any ArrayBufferView. For a shared memory pass a view (`new Uint8Array(memory.buffer)`): Node 20's
 * Node-API cannot open a SharedArrayBuffer itself, but reads the store behind a view. With a view,
 * offsets count from the view's first byte and are bounded by its byteLength.
 */
export type TunMemory = ArrayBuffer | ArrayBufferView;

interface Addon {
  open(name: string, mode: TunMode, opts?: TunOpenOptions): TunDevice;
  close(fd: number): void;
  readBatch(
    fd: number, mem: TunMemory, slotBase: number, slotStride: number, headroom: number,
    maxLen: number, metaBase: number, metaStride: number, maxFrames: number,
  ): number;
  writeBatch(
    fd: number, mem: TunMemory, slotBase: number, slotStride: number,
    metaBase: number, metaStride: number, count: number, verdictMask: number,
  ): number;
  stats(): TunStats;
  watch(fd: number, callback: (err: TunSyscallError | null) => void): void;
  unwatch(fd: number): boolean;
  setOffload(fd: number, uso: boolean): boolean;
  setIo(io: TunIo | 'auto'): TunIo;
}

const ADDON_FILE = 'build/Release/wasmvs_tun.node';
let addon: Addon | undefined;

/** Load the addon once. Looks in the repo root from host/native/ (source) and dist/host/native/ (built). */
function load(): Addon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const up of ['../../', '../../../']) {
    const path = fileURLToPath(new URL(up + ADDON_FILE, import.meta.url));
    tried.push(path);
    if (existsSync(path)) return (addon = require(path) as Addon);
  }
  throw new TunAddonError(
    `TUN/TAP addon not built (looked for ${tried.join(', ')}). ` +
      '`npm install` builds it (or run `npx node-gyp rebuild` in the repo root); ' +
      'it needs Linux, python3, make and a C compiler.',
  );
}

/** True when the addon can be loaded (it still needs root/CAP_NET_ADMIN to open a device). */
export function tunAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

/**
 * Open /dev/net/tun and attach it to interface `name` (created if missing) with IFF_NO_PI.
 * Throws TunSyscallError: EPERM without CAP_NET_ADMIN, EBUSY if the name is held by another fd
 * (or its multiQueue setting differs), EINVAL if the name belongs to a non-TUN device.
 */
export function open(name: string, mode: TunMode, opts?: TunOpenOptions): TunDevice {
  return load().open(name, mode, opts);
}

/** Close the fd; a watch on it is stopped first. A non-persistent device disappears with its last fd. */
export function close(fd: number): void {
  load().close(fd);
}

/**
 * Read up to maxFrames frames (one readv() each, stops at EAGAIN; through io_uring, chunks of readv
 * ops with RWF_NOWAIT, one io_uring_enter each: setIo) into the slots.
 * Frame i lands at slotBase + i*slotStride + headroom; meta i gets off = headroom, len.
 * Returns the number read, 0 when nothing is pending. RangeError if any slot or meta record of the
 * whole batch would fall outside mem (checked before reading). Throws TunSyscallError for a read
 * error on the first frame; after some frames it returns those and keeps the errno in stats().
 */
export function readBatch(
  fd: number, mem: TunMemory, slotBase: number, slotStride: number, headroom: number,
  maxLen: number, metaBase: number, metaStride: number, maxFrames: number,
): number {
  return load().readBatch(fd, mem, slotBase, slotStride, headroom, maxLen, metaBase, metaStride, maxFrames);
}

/**
 * Write every frame i < count whose meta verdict v has (1 << v) & verdictMask, from
 * slotBase + i*slotStride + off, len bytes. Returns frames written; the others selected count as
 * txDropped in stats(). On EAGAIN waits for POLLOUT (at most 50 ms in total per call) and retries once.
 * RangeError (before anything is written) if a selected frame's off+len leaves its slot or mem.
 * Blocks the thread for the poll wait only, never longer.
 */
export function writeBatch(
  fd: number, mem: TunMemory, slotBase: number, slotStride: number,
  metaBase: number, metaStride: number, count: number, verdictMask: number,
): number {
  return load().writeBatch(fd, mem, slotBase, slotStride, metaBase, metaStride, count, verdictMask);
}

/**
 * How this thread's readBatch/writeBatch reach the kernel: 'uring' submits a whole batch with one
 * io_uring_enter (raw syscalls, Linux 5.18+; a syscall costs ~400 ns on a VM with mitigations),
 * 'syscall' does one read()/write() per frame. Same frames, order, counters and errors on both.
 * 'auto' (the default; WASMVS_TUN_IO=syscall in the environment makes it 'syscall') takes
 * io_uring if the kernel allows it, else read()/write() with the reason in stats().ioError.
 * 'uring' throws the kernel's refusal (TunSyscallError, e.g. EPERM io_uring_setup). Returns the path now in use.
 */
export function setIo(io: TunIo | 'auto'): TunIo {
  return load().setIo(io);
}

/** Cumulative counters of this thread's addon instance. */
export function stats(): TunStats {
  return load().stats();
}

/**
 * Call `callback(null)` whenever fd has frames to read, from the Node event loop (libuv poll handle).
 * Level-triggered: while frames are pending it fires once per loop turn, so a callback should drain
 * one or a few batches and return; other I/O and timers run in between. Idle costs no CPU (epoll).
 * On a poll error the watch stops and callback(err) is called once. The watch keeps the process alive
 * until unwatch() or close(). One watch per fd (EEXIST otherwise).
 */
export function watch(fd: number, callback: (err: TunSyscallError | null) => void): void {
  load().watch(fd, callback);
}

/** Stop watching fd. Returns false when it was not watched. Safe inside the watch callback. */
export function unwatch(fd: number): boolean {
  return load().unwatch(fd);
}

/**
 * Resolve true as soon as fd is readable, false after timeoutMs. Built on watch(): do not use
 * it on an fd that already has a watch.
 */
export function waitReadable(fd: number, timeoutMs: number): Promise<boolean> {
  const a = load();
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    a.watch(fd, (err) => {
      clearTimeout(timer);
      a.unwatch(fd);
      if (err) reject(err);
      else resolve(true);
    }); // throws (EEXIST, EBADF) before a timer exists; the callback never runs synchronously
    timer = setTimeout(() => {
      a.unwatch(fd);
      resolve(false);
    }, timeoutMs);
  });
}

/**
 * A device opened with `offload`: UDP segmentation offload (TUN_F_USO4/6) on or off, the TCP
 * offloads kept (TUNSETOFFLOAD again). Returns whether USO is on (false on a kernel before 6.2).
 */
export function setOffload(fd: number, uso: boolean): boolean {
  return load().setOffload(fd, uso);
}
