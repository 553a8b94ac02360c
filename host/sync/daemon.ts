/*
 * host/sync/daemon.ts - the sync daemons of `ipvsadm --start-daemon master|backup` over UDP
 * multicast (ip_vs_sync.c's sockets: make_send_sock / make_receive_sock). The engine does the
 * protocol (assembly/sync.ts: which conns are sent when, the records, the backup's rules); this
 * file only moves datagrams:
 *  - master: the engine fills v1 messages while packets go through it; every SEND_PERIOD_MS the
 *    finished ones, and the open one once 2 s old (IPVS_SYNC_FLUSH_TIME), are sent to
 *    group:port from the interface's address, TTL mcast_ttl, no loopback (set_mcast_loop 0).
 *  - backup: joins the group on the interface, on sync_ports ports from mcast_port on
 *    (one socket each, as the kernel's backup threads), and hands each datagram to the engine.
 * Beyond the kernel: a master sends its whole table once when it starts (bulk resync), and a
 * backup that starts asks for one with a datagram a kernel master never sees as a message: it
 * goes to port + BULK_REQUEST_PORT_OFFSET, where only a wasmvs master listens.
 * Node-only (dgram, os).
 */
import dgram from 'node:dgram';
import os from 'node:os';
import type { Engine } from '../engine.ts';
import type { Errno } from '../rules/errors.ts';
import type { DaemonSpec } from '../rules/parse.ts';
import type { DaemonView } from '../types.ts';
import type { SyncControl } from '../control/backend.ts';
import { syncSetting } from '../rules/sysctl.ts';

export const SYNC_GROUP = '224.0.0.81';
export const SYNC_GROUP6 = 'ff02::8848';
export const SYNC_PORT = 8848;
/** The master sends finished messages this often (the kernel wakes its thread IPVS_SYNC_SEND_DELAY, HZ/50, after queueing one). */
export const SEND_PERIOD_MS = 20;
/** IPVS_SYNC_FLUSH_TIME: a message is sent at the latest 2 s after its first conn. */
export const FLUSH_MS = 2000;
/** A wasmvs backup's request for the whole table goes to the sync port + this (kernel masters do not listen there). */
export const BULK_REQUEST_PORT_OFFSET = 1000;
const BULK_REQUEST = Buffer.from('wasmvs-sync-bulk-request-v1');

interface Running { view: DaemonView; af: 4 | 6; socks: dgram.Socket[]; timer?: ReturnType<typeof setInterval>; bulkSock?: dgram.Socket; send?: (m: Uint8Array) => void }

export interface SyncDaemonOptions {
  log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
  now?: () => number;
  /** tests on one host: let the master's datagrams loop back (the kernel turns loopback off) */
  loopback?: boolean;
  /** the interface's address, when os.networkInterfaces() is not what to ask (tests) */
  ifaceAddr?: (ifn: string, af: 4 | 6) => string | undefined;
}

/** The address of interface `ifn` of family af (the kernel's inet_select_addr for the master's bind). */
function ifaceAddress(ifn: string, af: 4 | 6): string | undefined {
  const list = os.networkInterfaces()[ifn];
  return list?.find((a) => (af === 4 ? a.family === 'IPv4' : a.family === 'IPv6'))?.address;
}

export class SyncDaemons implements SyncControl {
  private readonly run = new Map<'master' | 'backup', Running>();
  private readonly log: NonNullable<SyncDaemonOptions['log']>;
  private readonly now: () => number;
  /** datagrams sent / received, for tests and metrics */
  readonly stats = { sent: 0, received: 0, sendErrors: 0, bulkSent: 0 };

  constructor(private readonly engine: Engine, private readonly opts: SyncDaemonOptions = {}) {
    this.log = opts.log ?? (() => {});
    this.now = opts.now ?? Date.now;
  }

  views(): DaemonView[] {
    return (['master', 'backup'] as const).filter((s) => this.run.has(s)).map((s) => this.run.get(s)!.view);
  }

  /** start_sync_thread: EEXIST when that daemon runs, ENODEV for an unknown interface. */
  async start(d: DaemonSpec): Promise<Errno | null> {
    if (this.run.has(d.state)) return 'EEXIST';
    const af: 4 | 6 = d.mcastGroup?.includes(':') ? 6 : 4;
    const addr = (this.opts.ifaceAddr ?? ifaceAddress)(d.mcastIfn, af);
    if (!addr) return 'ENODEV';
    const hlen = af === 6 ? 48 : 28;
    // the kernel's sizes: master 1500 - headers, backup the device MTU (>= 1500) - headers;
    // a given --sync-maxlen clamped to [1, 65535 - headers] (master) or [1024, ...] (backup)
    const maxlen = d.syncMaxlen ? Math.min(Math.max(d.syncMaxlen, d.state === 'backup' ? 1024 : 1), 65535 - hlen) : 1500 - hlen;
    const view: DaemonView = {
      state: d.state, mcastIfn: d.mcastIfn, syncid: d.syncid, maxlen,
      group: d.mcastGroup ?? (af === 6 ? SYNC_GROUP6 : SYNC_GROUP), port: d.mcastPort || SYNC_PORT, ttl: d.mcastTtl || 1,
    };
    const r: Running = { view, af, socks: [] };
    try {
      if (d.state === 'master') await this.startMaster(r, addr);
      else await this.startBackup(r, addr);
    } catch (err: any) {
      for (const s of r.socks) s.close();
      r.bulkSock?.close();
      this.log('error', `sync ${d.state} on ${d.mcastIfn}: ${err?.message ?? err}`);
      return 'EINVAL';
    }
    this.run.set(d.state, r);
    this.log('info', `sync thread started: state = ${d.state.toUpperCase()}, mcast_ifn = ${d.mcastIfn}, syncid = ${d.syncid}, group ${view.group}:${view.port}`);
    return null;
  }

  stop(state: 'master' | 'backup'): Errno | null {
    const r = this.run.get(state);
    if (!r) return 'ESRCH';
    this.run.delete(state);
    if (r.timer) clearInterval(r.timer);
    if (state === 'master') { this.flush(r, 0); this.engine.syncMaster(false); }
    for (const s of r.socks) s.close();
    r.bulkSock?.close();
    this.log('info', `sync thread stopped: state = ${state.toUpperCase()}`);
    return null;
  }

  /** Stop both (the director exits). */
  close(): void { for (const s of ['master', 'backup'] as const) if (this.run.has(s)) this.stop(s); }

  private bindSock(s: dgram.Socket, port: number, addr?: string): Promise<void> {
    return new Promise((resolve, reject) => { s.once('error', reject); s.bind(port, addr, () => { s.off('error', reject); resolve(); }); });
  }

  private async startMaster(r: Running, addr: string): Promise<void> {
    const v = r.view;
    const s = dgram.createSocket({ type: r.af === 6 ? 'udp6' : 'udp4', reuseAddr: true });
    r.socks.push(s);
    await this.bindSock(s, 0, r.af === 6 ? undefined : addr);   // bind_mcastif_addr
    s.setMulticastInterface(r.af === 6 ? `::%${v.mcastIfn}` : addr);
    s.setMulticastTTL(v.ttl!);
    s.setMulticastLoopback(!!this.opts.loopback);
    s.on('error', (err) => { this.stats.sendErrors++; this.log('warn', `sync master: ${err.message}`); });
    r.send = (msg: Uint8Array) => { s.send(msg, v.port!, v.group!, (err) => { if (err) this.stats.sendErrors++; }); this.stats.sent++; };
    this.engine.syncMaster(true, v.syncid, v.maxlen);
    r.timer = setInterval(() => this.flush(r, FLUSH_MS), SEND_PERIOD_MS);
    r.timer.unref?.();
    // bulk resync on request from a wasmvs backup (beyond the kernel), on its own port
    const b = dgram.createSocket({ type: r.af === 6 ? 'udp6' : 'udp4', reuseAddr: true });
    r.bulkSock = b;
    b.on('error', (err) => this.log('warn', `sync master bulk port: ${err.message}`));
    b.on('message', (m) => { if (Buffer.compare(m.subarray(0, BULK_REQUEST.length), BULK_REQUEST) === 0) this.bulk(); });
    await this.bindSock(b, v.port! + BULK_REQUEST_PORT_OFFSET);
    b.addMembership(v.group!, r.af === 6 ? `::%${v.mcastIfn}` : addr);
    // a master that starts (or comes back) sends what it has at once
    this.bulk();
  }

  /** Send the whole table now (beyond the kernel: ordinary records, so kernel backups take them too). */
  bulk(): number {
    const r = this.run.get('master');
    if (!r) return 0;
    this.flush(r, 0);
    const msgs = this.engine.syncBulk(this.now());
    for (const m of msgs) r.send!(m);
    this.stats.bulkSent += msgs.length;
    return msgs.length;
  }

  private flush(r: Running, age: number): void {
    if (!r.send) return;
    for (const m of this.engine.syncTake(this.now(), age)) r.send(m);
  }

  private async startBackup(r: Running, addr: string): Promise<void> {
    const v = r.view;
    const ports = Math.max(1, syncSetting(this.engine, 'sync_ports'));
    for (let id = 0; id < ports; id++) {
      const s = dgram.createSocket({ type: r.af === 6 ? 'udp6' : 'udp4', reuseAddr: true });
      r.socks.push(s);
      s.on('error', (err) => this.log('warn', `sync backup: ${err.message}`));
      s.on('message', (m) => {
        this.stats.received++;
        // the engine counts and drops what is malformed, oversized or of another syncid
        this.engine.syncReceive(m, v.syncid, this.now());
      });
      await this.bindSock(s, v.port! + id);
      s.addMembership(v.group!, r.af === 6 ? `::%${v.mcastIfn}` : addr);
      const size = syncSetting(this.engine, 'sync_sock_size');
      if (size > 0) s.setRecvBufferSize(size);
    }
    // beyond the kernel: ask a wasmvs master for its whole table (a kernel master ignores this port)
    const q = dgram.createSocket({ type: r.af === 6 ? 'udp6' : 'udp4', reuseAddr: true });
    await this.bindSock(q, 0, r.af === 6 ? undefined : addr);
    q.setMulticastInterface(r.af === 6 ? `::%${v.mcastIfn}` : addr);
    q.setMulticastTTL(v.ttl!);
    q.setMulticastLoopback(!!this.opts.loopback);
    q.send(BULK_REQUEST, v.port! + BULK_REQUEST_PORT_OFFSET, v.group!, () => q.close());
  }
}
