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
 * NAT and FULLNAT on a TAP (forward 'nat' | 'fullnat' with device 'tap'): the DR lab's LAN, the
 * engine a host on it with 198.18.1.254/24 and the router 198.18.1.1 as its gateway (tapOptions()).
 * The real servers listen on their own addresses. NAT: their default route is 198.18.1.254 (the
 * engine answers ARP for it), so every reply passes the engine, which rewrites it from the VIP and
 * sends it to the gateway's MAC. FULLNAT: the real servers have no route but their connected /24;
 * the laddrs 198.18.1.201, .202 (LAB_TAP_LADDRS) are on it, ARP-answered by the engine.
 *
 * IPv6 (ipv6: true; link labs only, else IPv6 is disabled in every namespace): the same topology
 * in 2001:2::/48: client 2001:2::2/64 via 2001:2::1; LAN 2001:2:0:1::/64, the router ::1, the
 * engine ::fe, the real servers ::11..; VIP6 2001:2:0:2::1/128 dev lan on the router (the engine
 * answers NS for it); DR real servers hold VIP6/128 on lo (NDP answers only for addresses of the
 * receiving interface: no sysctl) and route via the router; NAT ones via the engine's ::fe.
 * Every IPv6 address `nodad` (and accept_dad=0): no tentative addresses. The LAN bridge has no
 * multicast snooping (the engine joins no MLD group, solicitations must be flooded to it).
 * Each real server also runs a small HTTP server on [VIP6 (DR) | its own address]:80
 * (HTTP6_SERVER_SCRIPT; none in tunnel labs, whose real servers get IPv6 addresses only).
 *
 * Only 198.18.0.0/15 (and, in IPv6 labs, 2001:2::/48) addresses; every name carries the run's
 * prefix (unique per process).
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
/** TAP labs: the router's address on the LAN (the engine's gateway for NAT/FULLNAT), the LAN prefix length. */
export const LAB_ROUTER = '198.18.1.1';
export const LAB_LINK_PLEN = 24;
/** FULLNAT on a TAP: local addresses on the LAN prefix (the engine answers ARP for them). */
export const LAB_TAP_LADDRS = ['198.18.1.201', '198.18.1.202'];

/** IPv6 labs (ipv6: true): the VIP, the client, the router's LAN address and the engine's, the LAN prefix length. */
export const LAB_VIP6 = '2001:2:0:2::1';
export const LAB_CLIENT6 = '2001:2::2';
export const LAB_ROUTER6 = '2001:2:0:1::1';
export const LAB_LINK_ADDR6 = '2001:2:0:1::fe';
export const LAB_LINK_PLEN6 = 64;

export type LabForward = 'nat' | 'fullnat' | 'dr' | 'ipip' | 'gue';

/**
 * argv: name addr port. A minimal HTTP server for IPv6 labs (SERVER_SCRIPT binds udp4 too): / →
 * name, /peer → "name peeraddr". Prints ready; exits when its stdin closes.
 */
export const HTTP6_SERVER_SCRIPT = String.raw`
const [name, addr, port] = process.argv.slice(1);
const web = require('node:http').createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(req.url === '/peer' ? name + ' ' + req.socket.remoteAddress + '\n' : name + '\n');
});
web.keepAliveTimeout = 500;
web.listen(+port, addr, () => console.log('ready'));
process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
`;

export interface LabOptions {
  /** part of every namespace name: wvs-<tag>-<pid>-... */
  tag?: string;
  rsCount?: number;
  /** how the real servers are reached (default 'nat': the TUN lab) */
  forward?: LabForward;
  /** where the director's engine sits: 'tun' (default for nat/fullnat) or 'tap' (on the LAN; the only choice for dr/ipip/gue) */
  device?: 'tun' | 'tap';
  /** also IPv6 in 2001:2::/48 (TAP labs only; default: IPv6 disabled in every namespace) */
  ipv6?: boolean;
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
 * IPv6 addresses (vip, rs) are written [ADDR]:PORT.
 */
export function labRules(rs: readonly string[], all = true, vip = LAB_VIP, fwd: LabForward = 'nat', laddrs: readonly string[] = LAB_LADDRS): string {
  const lines: string[] = [];
  const flags = labFwdFlags(fwd);
  const hp = (a: string, p: number) => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);
  const svc = (flag: '-t' | '-u', port: number, sched: string, dport = port, weights?: number[]) => {
    lines.push(`-A ${flag} ${hp(vip, port)} -s ${sched}`);
    rs.forEach((a, i) => lines.push(`-a ${flag} ${hp(vip, port)} -r ${hp(a, fwd === 'nat' || fwd === 'fullnat' ? dport : port)} ${flags} -w ${weights?.[i] ?? 1}`));
    if (fwd === 'fullnat') for (const l of laddrs) lines.push(`-P ${flag} ${hp(vip, port)} -z ${l}`);
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
  /** IPv6 labs: the real servers' IPv6 addresses on the LAN (empty otherwise) */
  readonly rsAddrs6: string[];
  readonly rsNames: string[];
  readonly vip = LAB_VIP;
  readonly forward: LabForward;
  /** the engine is on a TAP on the LAN (DR, tunnels; NAT/FULLNAT with device 'tap') */
  readonly onTap: boolean;
  readonly ipv6: boolean;
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
    const natLike = this.forward === 'nat' || this.forward === 'fullnat';
    if (!natLike && opts.device === 'tun') throw new Error(`lab: forward ${this.forward} needs the engine on a TAP (device 'tap')`);
    this.onTap = !natLike || opts.device === 'tap';
    this.ipv6 = opts.ipv6 ?? false;
    if (this.ipv6 && !this.onTap) throw new Error('lab: ipv6 is for TAP labs (dr, ipip, gue; nat/fullnat with device \'tap\')');
    this.rsAddrs6 = this.ipv6 ? this.ns.rs.map((_, i) => `2001:2:0:1::${11 + i}`) : [];
  }

  /** FULLNAT labs: the local addresses for their rules (on the LAN prefix on a TAP, else routed into the TUN). */
  get laddrs(): string[] { return this.onTap ? LAB_TAP_LADDRS : LAB_LADDRS; }

  /**
   * TAP labs: the Director options that put the engine on the lab's LAN (mode, netns, bridge, link
   * address). DR/tunnels: the bare address (as before); NAT/FULLNAT: ADDR/24 and the router as
   * the gateway (the clients are behind it). IPv6 labs add 2001:2:0:1::fe/64 (and the router's
   * IPv6 address as the gateway for NAT/FULLNAT).
   */
  tapOptions(): { mode: 'tap'; netns: string; bridge: string; linkAddrs: string[]; gateways?: string[] } {
    const o: { mode: 'tap'; netns: string; bridge: string; linkAddrs: string[]; gateways?: string[] } =
      { mode: 'tap', netns: this.ns.dir, bridge: LAB_BRIDGE, linkAddrs: [LAB_LINK_ADDR] };
    const natLike = this.forward === 'nat' || this.forward === 'fullnat';
    if (natLike) { o.linkAddrs = [`${LAB_LINK_ADDR}/${LAB_LINK_PLEN}`]; o.gateways = [LAB_ROUTER]; }
    if (this.ipv6) {
      o.linkAddrs.push(`${LAB_LINK_ADDR6}/${LAB_LINK_PLEN6}`);
      if (natLike) o.gateways!.push(LAB_ROUTER6);
    }
    return o;
  }

  private log(msg: string): void { this.opts.log?.(msg); }

  /** Build namespaces, links, addresses and routes, and start the real servers. */
  static async create(opts: LabOptions = {}): Promise<Lab> {
    const lab = new Lab(opts);
    process.once('exit', lab.exitHook);
    try {
      if (lab.onTap) lab.buildLink(); else lab.build();
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

  /** The TAP lab (DR, tunnels; NAT/FULLNAT on a TAP): one LAN (a bridge) for the router, the TAP and the real servers. */
  private buildLink(): void {
    const { cli, dir, rs } = this.ns;
    const v6 = this.ipv6;
    const natLike = this.forward === 'nat' || this.forward === 'fullnat';
    for (const ns of [cli, dir, ...rs]) {
      ip(undefined, 'netns', 'add', ns);
      this.made.push(ns);
      if (v6) {
        // no duplicate address detection (no tentative addresses), no autoconfiguration
        for (const k of ['all', 'default']) { sysctl(ns, `net.ipv6.conf.${k}.accept_dad`, '0'); sysctl(ns, `net.ipv6.conf.${k}.accept_ra`, '0'); }
      } else {
        for (const k of ['all', 'default']) { try { sysctl(ns, `net.ipv6.conf.${k}.disable_ipv6`, '1'); } catch { /* no IPv6 */ } }
      }
      ip(ns, 'link', 'set', 'lo', 'up');
    }
    const addr6 = (ns: string, a: string, dev: string) => ip(ns, '-6', 'addr', 'add', a, 'dev', dev, 'nodad');
    this.log(`namespaces ${cli}, ${dir}, ${rs.join(', ')} (${this.forward} over a TAP${v6 ? ', IPv4 + IPv6' : ''})`);
    ip(cli, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'tocli', 'netns', dir);
    ip(cli, 'addr', 'add', `${LAB_CLIENT}/24`, 'dev', 'eth0');
    if (v6) addr6(cli, `${LAB_CLIENT6}/64`, 'eth0');
    ip(cli, 'link', 'set', 'eth0', 'up');
    ip(cli, 'route', 'add', 'default', 'via', '198.18.0.1');
    if (v6) ip(cli, '-6', 'route', 'add', 'default', 'via', '2001:2::1');
    ip(dir, 'addr', 'add', '198.18.0.1/24', 'dev', 'tocli');
    if (v6) addr6(dir, '2001:2::1/64', 'tocli');
    ip(dir, 'link', 'set', 'tocli', 'up');
    // IPv6: no multicast snooping, so neighbour solicitations are flooded to the TAP too
    ip(dir, 'link', 'add', LAB_BRIDGE, 'type', 'bridge', ...(v6 ? ['mcast_snooping', '0'] : []));
    ip(dir, 'addr', 'add', `${LAB_ROUTER}/24`, 'dev', LAB_BRIDGE);
    if (v6) addr6(dir, `${LAB_ROUTER6}/64`, LAB_BRIDGE);
    ip(dir, 'link', 'set', LAB_BRIDGE, 'up');
    sysctl(dir, 'net.ipv4.ip_forward', '1');
    if (v6) sysctl(dir, 'net.ipv6.conf.all.forwarding', '1');
    // the VIP is on the LAN: the router ARPs (solicits) for it there and the engine (only) answers
    ip(dir, 'route', 'add', `${LAB_VIP}/32`, 'dev', LAB_BRIDGE);
    if (v6) ip(dir, '-6', 'route', 'add', `${LAB_VIP6}/128`, 'dev', LAB_BRIDGE);
    rs.forEach((ns, i) => {
      ip(ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `tors${i + 1}`, 'netns', dir);
      ip(ns, 'addr', 'add', `${this.rsAddrs[i]}/24`, 'dev', 'eth0');
      if (v6) addr6(ns, `${this.rsAddrs6[i]}/64`, 'eth0');
      ip(ns, 'link', 'set', 'eth0', 'up');
      ip(dir, 'link', 'set', `tors${i + 1}`, 'master', LAB_BRIDGE);
      ip(dir, 'link', 'set', `tors${i + 1}`, 'up');
      if (natLike) {
        // NAT: every reply via the engine (its own address on the LAN); FULLNAT: no route off the
        // LAN at all (replies go to a laddr on it)
        if (this.forward === 'nat') {
          ip(ns, 'route', 'add', 'default', 'via', LAB_LINK_ADDR);
          if (v6) ip(ns, '-6', 'route', 'add', 'default', 'via', LAB_LINK_ADDR6);
        }
        return;
      }
      ip(ns, 'route', 'add', 'default', 'via', LAB_ROUTER);
      if (v6) ip(ns, '-6', 'route', 'add', 'default', 'via', LAB_ROUTER6);
      // the VIP is local on every real server but never ARP-answered or announced by them
      for (const k of ['all', 'eth0']) {
        sysctl(ns, `net.ipv4.conf.${k}.arp_ignore`, '1');
        sysctl(ns, `net.ipv4.conf.${k}.arp_announce`, '2');
      }
      if (this.forward === 'dr') {
        ip(ns, 'addr', 'add', `${LAB_VIP}/32`, 'dev', 'lo');
        if (v6) addr6(ns, `${LAB_VIP6}/128`, 'lo');
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
    const natLike = this.forward === 'nat' || this.forward === 'fullnat';
    const started = (c: ChildProcess, what: string) => new Promise<void>((resolve, reject) => {
      let out = '', err = '';
      const t = setTimeout(() => reject(new Error(`real server ${what} not ready after 10 s: ${err}`)), 10_000);
      c.stdout!.on('data', (d: Buffer) => { out += d; if (out.includes('ready\n')) { clearTimeout(t); resolve(); } });
      c.stderr!.on('data', (d: Buffer) => { err += d; });
      c.on('exit', (code) => { clearTimeout(t); reject(new Error(`real server ${what} exited (${code}): ${err}`)); });
    });
    await Promise.all(this.ns.rs.flatMap((ns, i) => {
      const name = this.rsNames[i];
      const all = [started(natLike ? this.spawnIn(ns, SERVER_SCRIPT, [name, this.rsAddrs[i]])
        : this.spawnIn(ns, SERVER_SCRIPT, [name, LAB_VIP, '80,81']), name)];
      // IPv6: HTTP on [VIP6]:80 (DR) or on the server's own address (NAT, FULLNAT); none for tunnels
      const a6 = this.forward === 'dr' ? LAB_VIP6 : natLike ? this.rsAddrs6[i] : undefined;
      if (this.ipv6 && a6) all.push(started(this.spawnIn(ns, HTTP6_SERVER_SCRIPT, [name, a6, '80']), `${name} (IPv6)`));
      return all;
    }));
    this.log(`real servers ${this.rsNames.map((n, i) => `${n}=${this.rsAddrs[i]}`).join(' ')} listening on ` +
      (natLike ? ':80 :7 :9 udp:53' : `${LAB_VIP}:80 :81 :7 :9 udp:53`) + (this.ipv6 ? ` and [${this.forward === 'dr' ? LAB_VIP6 : 'own IPv6'}]:80` : ''));
  }

  /** Start the client driver in the client namespace, toward `vip` (LAB_VIP6 in IPv6 labs: TCP ops only, its UDP is udp4). */
  async client(vip: string = this.vip): Promise<LabClient> {
    const c = new LabClient(this.spawnIn(this.ns.cli, CLIENT_SCRIPT, [vip]));
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
