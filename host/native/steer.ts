// Typed binding of the TUN steering eBPF program (host/native/steer.c, in the wasmvs_tun addon):
// the conn-owner function (docs/workers.md) run by the kernel for every frame it sends into an
// IFF_MULTI_QUEUE TUN/TAP, so each frame lands on the queue of the worker that owns its conn.
// A fast path only: when it cannot be loaded (no CAP_BPF/CAP_SYS_ADMIN, a verifier rejection)
// the director runs without it and the engine's redirect ring hands frames to their owner.
//
//   const s = Steering.load(2);            // N queues (workers); { tap: true } for a TAP
//   s.attach(dev.fds[0]);                  // TUNSETSTEERINGEBPF: steers every queue of the device
//   s.setAddrs([{ addr: '198.18.0.1', kind: 'vip' }, { addr: '198.18.9.1', kind: 'laddr' }]);
//   ...
//   s.detach(dev.fds[0]); s.close();

import { isIP } from 'node:net';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TunAddonError } from './tun.ts';
import { inetPton4, inetPton6 } from '../addr.ts';

/** Address kinds of the director's address set S (bit flags in the program's maps). */
export type SteerKind = 'vip' | 'laddr';
export const STEER_KIND_VIP = 1;
export const STEER_KIND_LADDR = 2;

export interface SteerAddr {
  addr: string;
  kind: SteerKind;
}

/** The program could not be loaded or attached: `code` is the errno name, `verifierLog` the verifier's words (when asked for). */
export interface SteerError extends Error {
  code: string;
  errno: number;
  syscall: string;
  verifierLog?: string;
}

interface Handles { prog: number; map4: number; map6: number }
interface Addon {
  steerLoad(n: number, l2len: number, wantLog: boolean): Handles;
  steerAttach(tunFd: number, progFd: number): void;
  steerSetAddrs(map4: number, map6: number, v4: Uint8Array, k4: Uint32Array, v6: Uint8Array, k6: Uint32Array): number;
  steerTestRun(progFd: number, frame: Uint8Array, repeat?: number): { ret: number; ns: number };
  steerClose(fd: number): void;
}

const ADDON_FILE = 'build/Release/wasmvs_tun.node';
let addon: Addon | undefined;
function load(): Addon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  for (const up of ['../../', '../../../']) {
    const path = fileURLToPath(new URL(up + ADDON_FILE, import.meta.url));
    if (existsSync(path)) {
      const a = require(path) as Partial<Addon>;
      if (typeof a.steerLoad === 'function') return (addon = a as Addon);
    }
  }
  throw new TunAddonError('TUN addon without the steering program (rebuild it: `npx node-gyp rebuild`)');
}

/** Address bytes in network order (IPv4 dotted quad or IPv6 text). */
function addrBytes(addr: string): Uint8Array {
  const v4 = isIP(addr) === 4 ? inetPton4(addr) : null;
  if (v4 !== null) return new Uint8Array([v4 >>> 24, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255]);
  const b = isIP(addr) === 6 ? inetPton6(addr) : null;
  if (!b) throw new TypeError(`not an IP address: ${addr}`);
  return b;
}

export class Steering {
  private closed = false;
  private constructor(private readonly a: Addon, private readonly h: Handles, readonly queues: number, private readonly tap: boolean) {}

  /**
   * Assemble and load the program for `queues` queues (1..256), with its two empty address maps.
   * Throws SteerError (EPERM without CAP_BPF/CAP_SYS_ADMIN; EACCES/EINVAL: the verifier said no,
   * its log in `verifierLog` when `verifierLog: true`), or TunAddonError when the addon is missing.
   */
  static load(queues: number, opts: { tap?: boolean; verifierLog?: boolean } = {}): Steering {
    const a = load();
    return new Steering(a, a.steerLoad(queues, opts.tap ? 14 : 0, opts.verifierLog === true), queues, opts.tap === true);
  }

  /** TUNSETSTEERINGEBPF on one queue fd of the device: from now on the program picks the queue of every frame. */
  attach(queueFd: number): void { this.a.steerAttach(queueFd, this.h.prog); }

  /** Back to the kernel's own flow-hash queue choice. */
  detach(queueFd: number): void { this.a.steerAttach(queueFd, -1); }

  /**
   * Make the address set exactly `addrs` (an address both VIP and LADDR carries both kinds).
   * New entries go in before stale ones go out. Returns how many stale entries were removed.
   */
  setAddrs(addrs: readonly SteerAddr[]): number {
    const kinds = new Map<string, { b: Uint8Array; k: number }>();
    for (const { addr, kind } of addrs) {
      const b = addrBytes(addr);
      const key = b.join('.');
      const e = kinds.get(key) ?? { b, k: 0 };
      e.k |= kind === 'vip' ? STEER_KIND_VIP : STEER_KIND_LADDR;
      kinds.set(key, e);
    }
    const v4 = [...kinds.values()].filter((e) => e.b.length === 4), v6 = [...kinds.values()].filter((e) => e.b.length === 16);
    const pack = (l: typeof v4, n: number) => {
      const b = new Uint8Array(l.length * n);
      l.forEach((e, i) => b.set(e.b, i * n));
      return b;
    };
    return this.a.steerSetAddrs(this.h.map4, this.h.map6, pack(v4, 4), Uint32Array.from(v4, (e) => e.k),
      pack(v6, 16), Uint32Array.from(v6, (e) => e.k));
  }

  /**
   * The queue the program picks for a packet (TUN: IPv4/IPv6; TAP: an Ethernet frame), by
   * BPF_PROG_TEST_RUN (tests and diagnostics). A test run takes an Ethernet frame and hands a socket
   * filter what follows its header: a TUN packet gets a header in front, a TAP frame one more.
   */
  queueOf(frame: Uint8Array): number { return this.testRun(frame, 1).queue; }

  /** queueOf, run `repeat` times by the kernel: the queue and the program's mean time per frame (ns). */
  testRun(frame: Uint8Array, repeat: number): { queue: number; ns: number } {
    const v = this.tap ? 4 : frame[0]! >> 4;
    const f = new Uint8Array(14 + frame.length);
    f[12] = v === 6 ? 0x86 : 0x08; f[13] = v === 6 ? 0xdd : 0x00;
    f.set(frame, 14);
    const r = this.a.steerTestRun(this.h.prog, f, repeat);
    return { queue: r.ret % this.queues, ns: r.ns };
  }

  /** Close the program and maps (a device it is still attached to keeps its own reference). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of [this.h.prog, this.h.map4, this.h.map6]) this.a.steerClose(fd);
  }
}
