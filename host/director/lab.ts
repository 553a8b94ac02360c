/*
 * host/director/lab.ts - labs in network namespaces, for `wasmvs demo` and test/e2e.
 *
 * NAT (forward 'nat', the default; the director on a TUN):
 *
 *   <p>-cli                 <p>-dir (the director; the TUN is moved in here)          <p>-rs1..3
 *   eth0 198.18.0.2 ─veth─ tocli 198.18.0.1                                            eth0 198.18.1.11..
 *                          rsbr 198.18.1.1 (bridge) ─ tors1, tors2, tors3 ─veth────────
 *                          VIP 198.18.2.1/32 → dev <tun>        (the director adds it)
 *                          from 198.18.1.0/24 iif rsbr → table 100: default dev <tun>
 *
 * Clients and real servers route everything via the director. A client's SYN to the VIP goes
 * into the TUN; the engine rewrites it to a real server and writes it back; the kernel forwards
 * it out of rsbr. The server's reply (from 198.18.1.x) arrives on rsbr and is policy-routed into
 * the TUN; the engine rewrites its source to the VIP and writes it back; the kernel forwards it
 * to the client. ip_forward=1 and rp_filter=0 (all, default, the TUN) in the director namespace.
 *
 * DR and tunnels (forward 'dr' | 'ipip' | 'gue'; the director on a TAP, one Ethernet segment):
 *
 *   <p>-cli                 <p>-dir: the client router and the LAN switch              <p>-rs1..3
 *   eth0 198.18.0.2 ─veth─ tocli 198.18.0.1                                            eth0 198.18.1.11..
 *                          lan 198.18.1.1 (bridge) ─ tors1..3 ─veth─────────────────── VIP on lo (dr) / tunl0 (ipip)
 *                            │                                                          / gue0 (gue, fou port 6080)
 *                          the TAP (master lan): the engine, MAC from the TAP, 198.18.1.254 arp_ignore=1 arp_announce=2
 *                          VIP 198.18.2.1/32 dev lan (on link: the router ARPs for it, the engine answers)
 *
 * The router sends VIP traffic to the engine's MAC; the engine forwards it to a real server's MAC
 * (DR: the frame unchanged but its MACs and TTL; tunnels: IPIP or GUE from 198.18.1.254); the
 * real server answers from the VIP straight to its default router, 198.18.1.1: replies never
 * pass the engine.
 * FULLNAT (forward 'fullnat'; the director on a TUN): the NAT lab, but the real servers have no
 * default route, only their subnet and 198.18.3.0/24 (the local addresses 198.18.3.1, .2) via
 * 198.18.1.1, and no policy rule: the director routes the VIP and the laddrs into the TUN, the
 * engine rewrites client → VIP to laddr → real server and the reply real server → laddr to VIP →
 * client. The real servers never see the client's address but in the TOA option.
 *
 * Only 198.18.0.0/15 addresses; every name carries the run's prefix (unique per process).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ip, ipQuiet, sysctl } from './sys.ts';
import { CLIENT_SCRIPT, SERVER_SCRIPT } from './lab-scripts.ts';

export const LAB_VIP = '198.18.2.1';
export const LAB_CLIENT = '198.18.0.2';
export const LAB_RS_NET = '198.18.1.0/24';
export const LAB_TABLE = '100';
/** TAP labs: the LAN bridge in the director namespace, the engine's own address on it, the GUE port. */
export const LAB_BRIDGE = 'lan';
export const LAB_LINK_ADDR = '198.18.1.254';
export const LAB_GUE_PORT = 6080;

/** FULLNAT labs: the local addresses (routed into the TUN by the director) and their network. */
export const LAB_LADDRS = ['198.18.3.1', '198.18.3.2'];
export const LAB_LADDR_NET = '198.18.3.0/24';

export type LabForward = 'nat' | 'fullnat' | 'dr' | 'ipip' | 'gue';

export interface LabOptions {
  /** part of every namespace name: wvs-<tag>-<pid>-... */
  tag?: string;
  rsCount?: number;
  /** how the real servers are reached (default 'nat': the TUN lab) */
  forward?: LabForward;
  log?: (line: string) => void;
}

/** ipvsadm forwarding flags for a lab's dests. */
export function labFwdFlags(f: LabForward): string {
  return { nat: '-m', fullnat: '--fullnat', dr: '-g', ipip: '-i', gue: `-i --tun-type gue --tun-port ${LAB_GUE_PORT}` }[f];
}

/**
 * Default rule set for a lab: TCP VIP:80 rr over the real servers; with `all`, also VIP:81 wrr
 * 3,2,1 (to :80 with NAT; DR/tunnel dests keep the port, the servers listen on :81 too), the echo
 * (7), sink (9) and UDP echo (53) services, all rr. `fwd`: the lab's forwarding (default NAT);
 * FULLNAT services get the local addresses `laddrs` (-P lines after their servers, as -S writes).
 */
export function labRules(rs: readonly string[], all = true, vip = LAB_VIP, fwd: LabForward = 'nat', laddrs: readonly string[] = LAB_LADDRS): string {
  const lines: string[] = [];
  const flags = labFwdFlags(fwd);
  const svc = (flag: '-t' | '-u', port: number, sched: string, dport = port, weights?: number[]) => {
    lines.push(`-A ${flag} ${vip}:${port} -s ${sched}`);
    rs.forEach((a, i) => lines.push(`-a ${flag} ${vip}:${port} -r ${a}:${fwd === 'nat' || fwd === 'fullnat' ? dport : port} ${flags} -w ${weights?.[i] ?? 1}`));
    if (fwd === 'fullnat') for (const l of laddrs) lines.push(`-P ${flag} ${vip}:${port} -z ${l}`);
  };
  svc('-t', 80, 'rr');
  if (!all) return lines.join('\n') + '\n';
  svc('-t', 81, 'wrr', 80, [3, 2, 1]);
  svc('-t', 7, 'rr');
  svc('-t', 9, 'rr');
  svc('-u', 53, 'rr');
  return lines.join('\n') + '\n';
}

export class Lab {
  readonly prefix: string;
  readonly ns: { cli: string; dir: string; rs: string[] };
  readonly rsAddrs: string[];
  readonly rsNames: string[];
  readonly vip = LAB_VIP;
  readonly forward: LabForward;
  private children: ChildProcess[] = [];
  private made: string[] = [];
  private destroyed = false;
  private readonly exitHook = () => this.destroy();

  private constructor(readonly opts: LabOptions) {
    const n = opts.rsCount ?? 3;
    this.prefix = `wvs-${opts.tag ?? 'lab'}-${process.pid}`;
    this.ns = { cli: `${this.prefix}-cli`, dir: `${this.prefix}-dir`, rs: Array.from({ length: n }, (_, i) => `${this.prefix}-rs${i + 1}`) };
    this.rsAddrs = this.ns.rs.map((_, i) => `198.18.1.${11 + i}`);
    this.rsNames = this.ns.rs.map((_, i) => `rs${i + 1}`);
    this.forward = opts.forward ?? 'nat';
  }

  /** TAP labs: the Director options that put the engine on the lab's LAN (mode, netns, bridge, link address). */
  tapOptions(): { mode: 'tap'; netns: string; bridge: string; linkAddrs: string[] } {
    return { mode: 'tap', netns: this.ns.dir, bridge: LAB_BRIDGE, linkAddrs: [LAB_LINK_ADDR] };
  }

  private log(msg: string): void { this.opts.log?.(msg); }

  /** Build namespaces, links, addresses and routes, and start the real servers. */
  static async create(opts: LabOptions = {}): Promise<Lab> {
    const lab = new Lab(opts);
    process.once('exit', lab.exitHook);
    try {
      if (lab.forward === 'nat' || lab.forward === 'fullnat') lab.build(); else lab.buildLink();
      await lab.startServers();
    } catch (e) {
      lab.destroy();
      throw e;
    }
    return lab;
  }

  private build(): void {
    const { cli, dir, rs } = this.ns;
    for (const ns of [cli, dir, ...rs]) {
      ip(undefined, 'netns', 'add', ns);
      this.made.push(ns);
      for (const k of ['all', 'default']) { try { sysctl(ns, `net.ipv6.conf.${k}.disable_ipv6`, '1'); } catch { /* no IPv6 */ } }
      ip(ns, 'link', 'set', 'lo', 'up');
    }
    this.log(`namespaces ${cli}, ${dir}, ${rs.join(', ')}`);
    // client side
    ip(cli, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'tocli', 'netns', dir);
    ip(cli, 'addr', 'add', `${LAB_CLIENT}/24`, 'dev', 'eth0');
    ip(cli, 'link', 'set', 'eth0', 'up');
    ip(cli, 'route', 'add', 'default', 'via', '198.18.0.1');
    ip(dir, 'addr', 'add', '198.18.0.1/24', 'dev', 'tocli');
    ip(dir, 'link', 'set', 'tocli', 'up');
    // real server side: one bridge in the director namespace
    ip(dir, 'link', 'add', 'rsbr', 'type', 'bridge');
    ip(dir, 'addr', 'add', '198.18.1.1/24', 'dev', 'rsbr');
    ip(dir, 'link', 'set', 'rsbr', 'up');
    rs.forEach((ns, i) => {
      ip(ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `tors${i + 1}`, 'netns', dir);
      ip(ns, 'addr', 'add', `${this.rsAddrs[i]}/24`, 'dev', 'eth0');
      ip(ns, 'link', 'set', 'eth0', 'up');
      // FULLNAT: no way to the clients at all, only to the local addresses (via the director)
      if (this.forward === 'fullnat') ip(ns, 'route', 'add', LAB_LADDR_NET, 'via', '198.18.1.1');
      else ip(ns, 'route', 'add', 'default', 'via', '198.18.1.1');
      ip(dir, 'link', 'set', `tors${i + 1}`, 'master', 'rsbr');
      ip(dir, 'link', 'set', `tors${i + 1}`, 'up');
    });
    // the director: a router with no reverse-path filter
    sysctl(dir, 'net.ipv4.ip_forward', '1');
    for (const k of ['all', 'default', 'tocli', 'rsbr']) sysctl(dir, `net.ipv4.conf.${k}.rp_filter`, '0');
    // replies of the real servers (not the director's own packets: iif) go to table 100; FULLNAT
    // replies are addressed to a laddr, which the director itself routes into the TUN
    if (this.forward === 'nat') ip(dir, 'rule', 'add', 'from', LAB_RS_NET, 'iif', 'rsbr', 'lookup', LAB_TABLE, 'pref', '100');
  }

  /** The DR/tunnel lab: one LAN (a bridge) for the router, the TAP and the real servers. */
  private buildLink(): void {
    const { cli, dir, rs } = this.ns;
    for (const ns of [cli, dir, ...rs]) {
      ip(undefined, 'netns', 'add', ns);
      this.made.push(ns);
      for (const k of ['all', 'default']) { try { sysctl(ns, `net.ipv6.conf.${k}.disable_ipv6`, '1'); } catch { /* no IPv6 */ } }
      ip(ns, 'link', 'set', 'lo', 'up');
    }
    this.log(`namespaces ${cli}, ${dir}, ${rs.join(', ')} (${this.forward} over a TAP)`);
    ip(cli, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'tocli', 'netns', dir);
    ip(cli, 'addr', 'add', `${LAB_CLIENT}/24`, 'dev', 'eth0');
    ip(cli, 'link', 'set', 'eth0', 'up');
    ip(cli, 'route', 'add', 'default', 'via', '198.18.0.1');
    ip(dir, 'addr', 'add', '198.18.0.1/24', 'dev', 'tocli');
    ip(dir, 'link', 'set', 'tocli', 'up');
    ip(dir, 'link', 'add', LAB_BRIDGE, 'type', 'bridge');
    ip(dir, 'addr', 'add', '198.18.1.1/24', 'dev', LAB_BRIDGE);
    ip(dir, 'link', 'set', LAB_BRIDGE, 'up');
    sysctl(dir, 'net.ipv4.ip_forward', '1');
    // the VIP is on the LAN: the router ARPs for it there and the engine (only) answers
    ip(dir, 'route', 'add', `${LAB_VIP}/32`, 'dev', LAB_BRIDGE);
    rs.forEach((ns, i) => {
      ip(ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `tors${i + 1}`, 'netns', dir);
      ip(ns, 'addr', 'add', `${this.rsAddrs[i]}/24`, 'dev', 'eth0');
      ip(ns, 'link', 'set', 'eth0', 'up');
      ip(ns, 'route', 'add', 'default', 'via', '198.18.1.1');
      ip(dir, 'link', 'set', `tors${i + 1}`, 'master', LAB_BRIDGE);
      ip(dir, 'link', 'set', `tors${i + 1}`, 'up');
      // the VIP is local on every real server but never ARP-answered or announced by them
      for (const k of ['all', 'eth0']) {
        sysctl(ns, `net.ipv4.conf.${k}.arp_ignore`, '1');
        sysctl(ns, `net.ipv4.conf.${k}.arp_announce`, '2');
      }
      if (this.forward === 'dr') {
        ip(ns, 'addr', 'add', `${LAB_VIP}/32`, 'dev', 'lo');
        return;
      }
      // tunnels: Linux decapsulates; the inner packet (client → VIP) arrives on the tunnel device,
      // whose reverse path (to the client) is eth0: no rp_filter
      let tdev: string;
      if (this.forward === 'ipip') {
        tdev = 'tunl0';   // the ipip module's fallback device (remote any, local any); made if absent
        if (!ipQuiet(ns, 'link', 'show', 'dev', tdev)) ip(ns, 'link', 'add', tdev, 'type', 'ipip');
      } else {
        tdev = 'gue0';
        ip(ns, 'fou', 'add', 'port', String(LAB_GUE_PORT), 'gue');
        ip(ns, 'link', 'add', tdev, 'type', 'ipip', 'remote', 'any', 'local', this.rsAddrs[i],
          'encap', 'gue', 'encap-sport', 'auto', 'encap-dport', String(LAB_GUE_PORT));
      }
      ip(ns, 'link', 'set', tdev, 'up');
      ip(ns, 'addr', 'add', `${LAB_VIP}/32`, 'dev', tdev);
      for (const k of ['all', 'default', 'eth0', tdev]) sysctl(ns, `net.ipv4.conf.${k}.rp_filter`, '0');
    });
  }

  /** NAT labs, once the director's TUN is in the director namespace: replies into it, no rp_filter on it (FULLNAT labs need neither). */
  attachDirector(tunName: string): void {
    sysctl(this.ns.dir, `net.ipv4.conf.${tunName}.rp_filter`, '0');
    ip(this.ns.dir, 'route', 'replace', 'default', 'dev', tunName, 'table', LAB_TABLE);
    this.log(`replies from ${LAB_RS_NET} routed into ${tunName} (table ${LAB_TABLE})`);
  }

  private spawnIn(ns: string, script: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.push(child);
    return child;
  }

  private async startServers(): Promise<void> {
    await Promise.all(this.ns.rs.map((ns, i) => new Promise<void>((resolve, reject) => {
      const c = this.forward === 'nat' || this.forward === 'fullnat' ? this.spawnIn(ns, SERVER_SCRIPT, [this.rsNames[i], this.rsAddrs[i]])
        : this.spawnIn(ns, SERVER_SCRIPT, [this.rsNames[i], LAB_VIP, '80,81']);
      let out = '', err = '';
      const t = setTimeout(() => reject(new Error(`real server ${this.rsNames[i]} not ready after 10 s: ${err}`)), 10_000);
      c.stdout!.on('data', (d: Buffer) => { out += d; if (out.includes('ready\n')) { clearTimeout(t); resolve(); } });
      c.stderr!.on('data', (d: Buffer) => { err += d; });
      c.on('exit', (code) => { clearTimeout(t); reject(new Error(`real server ${this.rsNames[i]} exited (${code}): ${err}`)); });
    })));
    this.log(`real servers ${this.rsNames.map((n, i) => `${n}=${this.rsAddrs[i]}`).join(' ')} listening on ` +
      (this.forward === 'nat' || this.forward === 'fullnat' ? ':80 :7 :9 udp:53' : `${LAB_VIP}:80 :81 :7 :9 udp:53`));
  }

  /** Start the client driver in the client namespace. */
  async client(): Promise<LabClient> {
    const c = new LabClient(this.spawnIn(this.ns.cli, CLIENT_SCRIPT, [this.vip]));
    await c.ready;
    return c;
  }

  /** Kill our processes, delete our namespaces (links and routes go with them). Idempotent, sync. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.off('exit', this.exitHook);
    for (const c of this.children) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
    for (const ns of this.made.reverse()) ipQuiet(undefined, 'netns', 'del', ns);
    this.log(`lab ${this.prefix} removed`);
  }
}

/** JSON-lines RPC to the client driver (CLIENT_SCRIPT). */
export class LabClient {
  private seq = 1;
  private pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  readonly ready: Promise<void>;
  private stderr = '';

  constructor(private readonly child: ChildProcess) {
    let buf = '';
    let onReady!: () => void, onFail!: (e: Error) => void;
    this.ready = new Promise((res, rej) => { onReady = res; onFail = rej; });
    const t = setTimeout(() => onFail(new Error('client not ready after 10 s')), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (msg.id === 0) { clearTimeout(t); onReady(); continue; }
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.ok) p?.resolve(msg.result); else p?.reject(new Error(msg.error));
      }
    });
    child.stderr!.on('data', (d: Buffer) => { this.stderr += d; });
    child.on('exit', (code) => {
      clearTimeout(t);
      const e = new Error(`client exited (${code}): ${this.stderr}`);
      onFail(e);
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    });
  }

  call<T = any>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.seq++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(JSON.stringify({ id, op, ...args }) + '\n');
    });
  }

  /** `n` HTTP GETs, each on a new TCP connection; per-server counts. */
  http(n: number, port = 80): Promise<{ names: Record<string, number>; errors: number; ms: number }> { return this.call('http', { n, port }); }
  close(): void { this.child.stdin!.end(); }
}
