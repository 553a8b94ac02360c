// Test helpers for the TUN addon: a private network namespace, commands inside it, and a
// hand-built IPv4/UDP datagram. Only 198.18.0.0/15 addresses, only namespaces we created.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Why the root-only tests cannot run here, or null when they can. */
export function tunSkipReason(addonBuilt: boolean): string | null {
  if (process.platform !== 'linux') return 'TUN/TAP is Linux only';
  if (process.getuid?.() !== 0) return 'needs root (CAP_NET_ADMIN) to create TUN devices and namespaces';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore', timeout: 5_000 });
  } catch {
    return 'iproute2 (`ip`) is not installed';
  }
  if (!addonBuilt) return 'addon not built: run `npm install` or `npx node-gyp rebuild` (python3, make, cc)';
  return null;
}

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

/** Run a node script inside namespace `ns` and wait for it (bounded). */
export function nodeInNs(ns: string, script: string, args: string[] = []): string {
  return execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 15_000,
  });
}

/** Send `count` UDP datagrams "<prefix><i>" from inside ns to addr:port, one after the other. */
export function sendUdp(ns: string, addr: string, port: number, count: number, prefix: string): void {
  const script = `
    const [addr, port, count, prefix] = process.argv.slice(1);
    const s = require('node:dgram').createSocket('udp4');
    let i = 0;
    const next = () => i < +count ? s.send(prefix + i++, +port, addr, next) : s.close();
    next();`;
  nodeInNs(ns, script, [addr, String(port), String(count), prefix]);
}

/**
 * Start a UDP listener inside ns on addr:port that collects `count` datagrams (or gives up after
 * timeoutMs). `ready` resolves once it is bound; `done` gives the payloads as UTF-8, in arrival order.
 */
export function listenUdp(
  ns: string, addr: string, port: number, count: number, timeoutMs: number,
): { ready: Promise<void>; done: Promise<{ payloads: string[]; from: string[] }> } {
  const script = `
    const [addr, port, count, timeoutMs] = process.argv.slice(1);
    const s = require('node:dgram').createSocket('udp4');
    const payloads = [], from = [];
    const finish = () => { console.log(JSON.stringify({ payloads, from })); process.exit(0); };
    setTimeout(finish, +timeoutMs);
    s.on('message', (m, r) => {
      payloads.push(m.toString()); from.push(r.address + ':' + r.port);
      if (payloads.length === +count) finish();
    });
    s.bind(+port, addr, () => console.log('ready'));`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, addr, String(port),
    String(count), String(timeoutMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('ready\n')) resolve();
    });
    child.on('exit', () => reject(new Error(`listener exited before ready: ${err}`)));
  });
  const done = new Promise<{ payloads: string[]; from: string[] }>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code === 0 && line) resolve(JSON.parse(line));
      else reject(new Error(`listener failed (exit ${code}): ${err}`));
    });
  });
  ready.catch(() => {}); // done reports the failure
  return { ready, done };
}

// ---- packet building (test side only: the engine owns packets in production) ----

function csum16(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length & 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function ip4(addr: string): number[] {
  return addr.split('.').map(Number);
}

/** IPv4 (no options, DF) + UDP datagram with correct header and UDP checksums. */
export function buildUdp4(src: string, dst: string, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const udpLen = 8 + payload.length;
  const pkt = new Uint8Array(20 + udpLen);
  const dv = new DataView(pkt.buffer);
  pkt[0] = 0x45;
  dv.setUint16(2, pkt.length);
  dv.setUint16(4, 0x1234); // id
  dv.setUint16(6, 0x4000); // DF
  pkt[8] = 64; // ttl
  pkt[9] = 17; // UDP
  pkt.set(ip4(src), 12);
  pkt.set(ip4(dst), 16);
  dv.setUint16(10, csum16(pkt.subarray(0, 20)));
  dv.setUint16(20, sport);
  dv.setUint16(22, dport);
  dv.setUint16(24, udpLen);
  pkt.set(payload, 28);
  // UDP checksum over the pseudo-header (src, dst, 0, proto, udp length) and the UDP segment.
  const pseudo = new Uint8Array(12 + udpLen);
  pseudo.set(pkt.subarray(12, 20), 0);
  pseudo[9] = 17;
  new DataView(pseudo.buffer).setUint16(10, udpLen);
  pseudo.set(pkt.subarray(20), 12);
  dv.setUint16(26, csum16(pseudo) || 0xffff);
  return pkt;
}

/** Fields of an IPv4/UDP frame, for assertions. */
export function parseUdp4(f: Uint8Array) {
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const ihl = (f[0]! & 0x0f) * 4;
  return {
    version: f[0]! >> 4,
    ihl,
    totalLen: dv.getUint16(2),
    proto: f[9],
    headerCsumOk: csum16(f.subarray(0, ihl)) === 0,
    src: Array.from(f.subarray(12, 16)).join('.'),
    dst: Array.from(f.subarray(16, 20)).join('.'),
    sport: dv.getUint16(ihl),
    dport: dv.getUint16(ihl + 2),
    udpLen: dv.getUint16(ihl + 4),
    payload: new TextDecoder().decode(f.subarray(ihl + 8)),
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
