/*
 * host/director/run.ts - `wasmvs run`: the director on a TUN or TAP device until SIGINT/SIGTERM.
 *
 *   wasmvs run [--dev NAME] [--mode tun|tap] [--rules FILE] [--keepalived FILE] [--vip-routes|--no-vip-routes] [--offload|--no-offload]
 *              [--rs-net CIDR... --rs-dev IF [--rs-table N]] [--no-local-answers]
 *              [--link-mac MAC] [--link-addr ADDR[/PLEN]]... [--gateway ADDR]... [--bridge BR] [--tunnel-mtu N] [--tunnel-src ADDR]...
 *              [--workers N] [--batch N] [--conn-max N] [--tick-ms MS] [--log-level error|warn|info|debug] [--netns NS]
 *
 * The NAT topology over a TUN (VIP routed into the TUN, real servers' replies policy-routed into
 * it, ip_forward=1, rp_filter=0), FULLNAT over a TUN (VIPs and local addresses routed into it),
 * tunnels over a TUN (the outer packets routed by the kernel to the real servers), and the DR/tunnel topology over a TAP (the TAP on the real servers' Ethernet segment) are in
 * docs/director.md.
 */
import { createServer, type Server } from 'node:http';
import { isIP } from 'node:net';
import { DEFAULT_SOCKET, startControlServer, metricsText, METRICS_TYPE } from '../control/server.ts';
import { EngineBackend } from '../control/backend.ts';
import { formatList } from '../rules/format.ts';
import { Director, defaultWorkers, parseLinkAddr, splitLinkAddrs, splitTunnelSrc, type DirectorOptions, type LogLevel } from './director.ts';
import { readSysctl } from './sys.ts';
import { checkLimit } from '../engine.ts';
import { estimationOn, parseSysctlArg } from '../rules/sysctl.ts';
import { KeepalivedDaemon, loadChecked } from '../keepalived/daemon.ts';
import { SyncDaemons } from '../sync/daemon.ts';
import type { KaConfig } from '../keepalived/parse.ts';

export const RUN_USAGE = `usage: wasmvs run [options]
  --dev NAME            TUN/TAP interface to create (default wvs0)
  --mode tun|tap        tun (default): IP frames, NAT (-m), FULLNAT (--fullnat), tunnels (-i); tap: Ethernet frames, the engine is a
                        host on the link (ARP/ND for its VIPs and local addresses): DR (-g), tunnels (-i), NAT, FULLNAT
  --rules FILE          rules in ipvsadm-save format (-A/-a lines), applied at start
  --keepalived FILE     keepalived.conf: its virtual_server blocks become services, its checkers
                        (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, UDP_CHECK, DNS_CHECK) run and set
                        the real servers' weights; SIGHUP or "wasmvs adm --reload" re-reads it (docs/keepalived.md)
  --vip-routes          tun: add "ip route VIP/32 dev NAME" for each VIP and each FULLNAT local address
                        (-P ... -z LADDR lines), removed at exit (default)
  --no-vip-routes       tun: leave routing to you
  --rs-net CIDR         tun, NAT: the real servers' network (repeatable, IPv4/IPv6): "ip rule add from CIDR iif IF
                        lookup N" + "ip route replace default dev NAME table N", removed at exit (needs --rs-dev)
  --rs-dev IF           tun, NAT: the interface the real servers are behind (with --rs-net)
  --rs-table N          routing table for --rs-net (default 100)
  --no-local-answers    do not answer as the local stack for VIPs (default: RST to TCP, ICMP port unreachable
                        to UDP for a VIP port without a service or a conn, as the kernel's own stack does)
  --offload             device offloads (checksum, TSO): TCP super-packets of up to 64 KiB through the
                        engine whole, segmented by the kernel where they leave, by the engine for
                        tunnels (-i) (default with tun; on a tap when asked)
  --no-offload          plain 1500-byte frames, one at a time
  --link-mac MAC        tap: the engine's MAC (default: the TAP's own MAC with bit 0x04 of byte 0 flipped)
  --link-addr ADDR[/PLEN]  tap: the engine's own IPv4 or IPv6 address on the link (ARP/ND probes, tunnel
                        source) and the link's prefix; give it twice for both families; needed for -i real servers
  --gateway ADDR        tap: the link's router for destinations off the prefix (NAT/FULLNAT replies to
                        clients, routed tunnel real servers); one per family; needs --link-addr ADDR/PLEN
  --bridge BR           tap: enslave the TAP to bridge BR
  --tunnel-mtu N        path MTU toward tunnel real servers (default 1500)
  --txqueuelen N        the device's queue toward the director in packets (default 10000; the kernel's 500
                        drops the retransmission burst that follows a failover)
  --tunnel-src ADDR     tun: the tunnels' (-i) outer source address, one per family (default: the source of
                        the kernel's route to the real servers, ip route get RIP's prefsrc)
  --workers N           worker threads, one device queue each (IFF_MULTI_QUEUE), on one engine memory:
                        one director (one conn table, one scheduler sequence, one set of counters);
                        1..64, default the CPUs available to the process; 1 = no worker threads (docs/workers.md)
  --no-steering         workers: no TUN steering eBPF program; the kernel spreads frames by its flow hash
                        and the engine hands misplaced ones to their owner (default: the program, docs/steering.md)
  --batch N             frames per read batch (default 64)
  --svc-max N           most virtual services (1..65535, default 65535)
  --dest-max N          most real servers, all services together (1..65535, default 65535)
  --conn-max N          most conns (1..16777216, default 2097152); at it new conns are refused
                        (counter drop_conn_table_full). The tables start small (64 services, 256
                        dests, 4096 conns, or what the rules file needs) and double as they fill
  --tick-ms MS          conn expiry timer period (default 1000)
  --log-level LEVEL     error | warn | info | debug (default info)
  --netns NS            create the device here but move it into network namespace NS (routes, bridge there too)
  --socket PATH         control socket for "wasmvs adm" (default: \$WASMVS_SOCKET or /run/wasmvs/wasmvs.sock)
  --no-socket           no control socket
  --metrics [HOST:]PORT serve Prometheus text at http://HOST:PORT/metrics (HOST defaults to 127.0.0.1; off by default)
  --sysctl NAME=VALUE   set an IPVS sysctl before the first frame, e.g. --sysctl net.ipv4.vs.expire_nodest_conn=1
                        (the net.ipv4.vs. prefix is optional; repeatable; "wasmvs adm --sysctl" lists them)
Stops on SIGINT/SIGTERM: closes the device, removes its routes, prints the final table.`;

export class RunUsageError extends Error { readonly code = 'WVS_ERR_USAGE'; }

/** argv → options (pure; throws RunUsageError). */
type RunArgs = DirectorOptions & { help?: boolean; socket?: string | false; metrics?: { host: string; port: number }; keepalived?: string };
export function parseRunArgs(argv: readonly string[]): RunArgs {
  const o: RunArgs = {};
  const num = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) throw new RunUsageError(`${flag} needs an integer >= ${min}, got ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let val: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { val = a.slice(eq + 1); a = a.slice(0, eq); }
    const next = () => {
      if (val !== undefined) return val;
      const v = argv[i + 1];
      if (v !== undefined && v.startsWith('-') && !/^-\d/.test(v)) {
        throw new RunUsageError(`${a} needs a value, not the option ${v} (a value that starts with "-" goes as ${a}=VALUE)`);
      }
      i++;
      return v;
    };
    switch (a) {
      case '-h': case '--help': o.help = true; break;
      case '--dev': { const v = next(); if (!v || v.length > 15) throw new RunUsageError(`--dev needs an interface name of 1..15 characters`); o.dev = v; break; }
      case '--mode': { const v = next(); if (v !== 'tun' && v !== 'tap') throw new RunUsageError(`--mode ${v ?? ''}: "tun" or "tap"`); o.mode = v; break; }
      case '--link-mac': {
        const v = next();
        if (!v || !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(v) || parseInt(v.slice(0, 2), 16) & 1) throw new RunUsageError(`--link-mac needs a unicast MAC like 02:00:00:00:01:fe, got ${v ?? 'nothing'}`);
        o.linkMac = v.toLowerCase(); break;
      }
      case '--link-addr': {
        const v = next();
        if (!v || !parseLinkAddr(v)) throw new RunUsageError(`--link-addr needs an IPv4 or IPv6 address with an optional /prefix length, got ${v ?? 'nothing'}`);
        (o.linkAddrs ??= []).push(v); break;
      }
      case '--gateway': {
        const v = next();
        if (!v || isIP(v) === 0) throw new RunUsageError(`--gateway needs an IPv4 or IPv6 address, got ${v ?? 'nothing'}`);
        (o.gateways ??= []).push(v); break;
      }
      case '--bridge': { const v = next(); if (!v || v.length > 15) throw new RunUsageError('--bridge needs an interface name of 1..15 characters'); o.bridge = v; break; }
      case '--tunnel-mtu': o.tunnelMtu = num(a, next(), 576); break;
      case '--txqueuelen': o.txqueuelen = num(a, next(), 1); break;
      case '--tunnel-src': {
        const v = next();
        if (!v || isIP(v) === 0) throw new RunUsageError(`--tunnel-src needs an IPv4 or IPv6 address, got ${v ?? 'nothing'}`);
        (o.tunnelSrc ??= []).push(v); break;
      }
      case '--rules': { const v = next(); if (!v) throw new RunUsageError('--rules needs a file'); o.rulesFile = v; break; }
      case '--keepalived': { const v = next(); if (!v) throw new RunUsageError('--keepalived needs a file'); o.keepalived = v; break; }
      case '--vip-routes': o.vipRoutes = true; break;
      case '--rs-net': {
        const v = next();
        const m = v ? /^([^/]+)\/(\d{1,3})$/.exec(v) : null;
        const af = m ? isIP(m[1]) : 0;
        if (!m || !af || Number(m[2]) > (af === 4 ? 32 : 128)) throw new RunUsageError(`--rs-net needs a network like 198.18.1.0/24, got ${v ?? 'nothing'}`);
        (o.rsNets ??= []).push(v!); break;
      }
      case '--rs-dev': { const v = next(); if (!v || v.length > 15) throw new RunUsageError('--rs-dev needs an interface name of 1..15 characters'); o.rsDev = v; break; }
      case '--rs-table': o.rsTable = num(a, next(), 1); break;
      case '--no-local-answers': o.localAnswers = false; break;
      case '--offload': o.offload = true; break;
      case '--no-offload': o.offload = false; break;
      case '--no-steering': o.steering = false; break;
      case '--no-vip-routes': o.vipRoutes = false; break;
      case '--batch': o.batch = num(a, next(), 1); break;
      case '--workers': { const n = num(a, next(), 1); if (n > 64) throw new RunUsageError(`--workers must be 1..64, got ${n}`); o.workers = n; break; }
      case '--svc-max': case '--dest-max': case '--conn-max': {
        const name = ({ '--svc-max': 'svcMax', '--dest-max': 'destMax', '--conn-max': 'connMax' } as const)[a];
        const v = next();
        const n = v === undefined || !/^\d+$/.test(v) ? NaN : Number(v);
        const bad = checkLimit(name, Number.isNaN(n) ? v : n);
        if (bad) throw new RunUsageError(bad);
        o[name] = n;
        break;
      }
      case '--tick-ms': o.tickMs = num(a, next(), 10); break;
      case '--log-level': {
        const v = next();
        if (!['error', 'warn', 'info', 'debug'].includes(v ?? '')) throw new RunUsageError(`--log-level must be error, warn, info or debug`);
        o.logLevel = v as LogLevel; break;
      }
      case '--netns': { const v = next(); if (!v) throw new RunUsageError('--netns needs a namespace name'); o.netns = v; break; }
      case '--socket': { const v = next(); if (!v) throw new RunUsageError('--socket needs a path'); o.socket = v; break; }
      case '--no-socket': o.socket = false; break;
      case '--metrics': {
        const v = next() ?? '';
        const m = /^(?:(\[[0-9a-fA-F:.]+\]|[0-9.]+|localhost):)?(\d+)$/.exec(v);
        const port = m ? Number(m[2]) : NaN;
        if (!m || port < 1 || port > 65535) throw new RunUsageError(`--metrics needs [HOST:]PORT, got ${v || 'nothing'}`);
        o.metrics = { host: (m[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port };
        break;
      }
      case '--sysctl': {
        const v = next() ?? '';
        const p = parseSysctlArg(v);
        if (!p.name || p.value === undefined) throw new RunUsageError(`--sysctl needs NAME=VALUE (e.g. net.ipv4.vs.expire_nodest_conn=1), got ${v || 'nothing'}`);
        (o.sysctls ??= []).push({ name: p.name, value: p.value });
        break;
      }
      default: throw new RunUsageError(`unknown option ${argv[i]}`);
    }
  }
  if ((o.rsNets || o.rsTable !== undefined) && !o.rsDev) throw new RunUsageError('--rs-net needs --rs-dev IF (the interface the real servers are behind)');
  if (o.rsDev && !o.rsNets) throw new RunUsageError('--rs-dev goes with --rs-net CIDR');
  if (o.rsNets && o.mode === 'tap') throw new RunUsageError('--rs-net is for --mode tun (the NAT topology\'s policy route into the TUN)');
  const tapOnly = ['linkMac', 'linkAddrs', 'gateways', 'bridge'] as const;
  if (o.mode !== 'tap' && tapOnly.some((k) => o[k] !== undefined)) throw new RunUsageError('--link-mac, --link-addr, --gateway and --bridge need --mode tap');
  if (o.mode === 'tap' && o.tunnelSrc) throw new RunUsageError('--tunnel-src is for --mode tun (on a tap the tunnel source is --link-addr)');
  try { splitTunnelSrc(o.tunnelSrc ?? []); } catch (e) { throw new RunUsageError((e as Error).message); }
  if (o.mode === 'tap' && o.vipRoutes) throw new RunUsageError('--vip-routes is for --mode tun (on a TAP the engine answers ARP/ND for its VIPs)');
  try { splitLinkAddrs(o.linkAddrs ?? [], o.gateways ?? []); } catch (e) { throw new RunUsageError((e as Error).message); }
  return o;
}

/** The final listing: ipvsadm -L -n --stats, and the director's counters. */
export function finalReport(d: Director): string {
  const c = d.engine.counters();
  const tap = d.mode === 'tap';
  return formatList(d.engine.services(), { numeric: true, stats: true, size: d.engine.connTabSize() }) +
    `frames: rx ${d.stats.rxFrames} tx ${d.stats.txFrames} in ${d.stats.batches} batches` +
    (tap ? ` (${d.stats.drainedFrames} sent by the engine itself: ARP requests, released frames); ARP/ND answers ${c.neigh_advert_sent ?? 0n}` : '') +
    (tap ? `; passed by the engine and dropped (the segment's broadcasts): ${c.pass ?? 0n}` : `; passed by the engine and written back for the kernel to route: ${c.pass ?? 0n}`) +
    `; local answers: ${c.tcp_reset_sent ?? 0n} RST, ${c.icmp_port_unreach_sent ?? 0n} port unreachable; engine drops: ${c.drop ?? 0n}\n`;
}

/** Warnings about host settings that would keep NAT traffic from flowing (this namespace only). */
function checkHost(d: Director): void {
  if (d.opts.netns || d.mode === 'tap') return;
  if (readSysctl('net.ipv4.ip_forward') === '0') d.log('warn', 'net.ipv4.ip_forward=0: the kernel will not forward the frames the director writes (sysctl -w net.ipv4.ip_forward=1)');
  const rp = readSysctl('net.ipv4.conf.all.rp_filter');
  if (rp && rp !== '0') d.log('warn', `net.ipv4.conf.all.rp_filter=${rp}: client frames coming back out of ${d.devName} may be dropped (see docs/director.md)`);
  // the NAT topology's policy route goes with the device: say so when nobody puts it back
  if (d.mode === 'tun' && !d.opts.rsNets?.length && d.engine.services().some((s) => s.dests.some((x) => x.fwd === 'Masq'))) {
    d.log('warn', `NAT real servers' replies must be routed into ${d.devName}: the policy route "default dev ${d.devName} table T" went away with ` +
      `the previous device; give --rs-net CIDR --rs-dev IF to have it managed, or run "ip route replace default dev ${d.devName} table T" (docs/director.md)`);
  }
}

export async function main(argv: string[]): Promise<number> {
  let o;
  try { o = parseRunArgs(argv); } catch (e: any) {
    if (!(e instanceof RunUsageError)) throw e;
    process.stderr.write(`wasmvs run: ${e.message}\n${RUN_USAGE}\n`);
    return 2;
  }
  if (o.help) { process.stdout.write(RUN_USAGE + '\n'); return 0; }
  // the keepalived file is checked before the device exists: a mistake names FILE:LINE and nothing is set up
  const kaLink = o.mode === 'tap' ? 'ethernet' as const : 'ip' as const;
  let kaCfg: KaConfig | undefined;
  if (o.keepalived) {
    try { kaCfg = loadChecked(o.keepalived, kaLink); } catch (e: any) { process.stderr.write(`wasmvs run: ${e?.message ?? e}\n`); return 1; }
  }
  let d: Director;
  // a worker thread that dies ends the director with exit code 1 (set once the loop below runs)
  let fatal: ((e: Error) => void) | undefined;
  o.workers ??= defaultWorkers();
  o.onFatal = (e) => { if (fatal) fatal(e); else { process.exitCode = 1; } };
  try { d = await Director.start(o); } catch (e: any) {
    process.stderr.write(`wasmvs run: ${e?.message ?? e}\n`);
    return 1;
  }
  checkHost(d);
  // VIP and laddr routes follow every change made through the backend (`wasmvs adm`
  // -A/-E/-D/-C/-R/-P/-Q, keepalived's checkers and reloads), synced once after a request (a
  // restore of many lines syncs once)
  let pending = false;
  const onChange = () => { if (!pending) { pending = true; setImmediate(() => { pending = false; d.syncRoutes(); }); } };
  // `wasmvs adm --start-daemon master|backup`: conn sync over UDP multicast (host/sync/daemon.ts)
  const sync = new SyncDaemons(d.engine, { log: (l, m) => d.log(l, m) });
  const backend = new EngineBackend(d.engine, {
    sync,
    onChange,
    onLimit: (text) => d.log('warn', text),   // "dest table full (4096 dests; raise --dest-max)"
  });
  // keepalived's checkers change the table through the same calls as `wasmvs adm`, between batches
  let ka: KeepalivedDaemon | undefined;
  if (kaCfg) {
    ka = new KeepalivedDaemon(o.keepalived!, kaCfg, backend, { log: (l, m) => d.log(l, m), link: kaLink });
    ka.start();
  }
  const checks = ka && { text: () => ka.health.text(), metrics: () => ka.health.metrics(), reload: () => ka.reload() };
  const onHup = () => { ka?.reload(); };
  if (ka) process.on('SIGHUP', onHup);
  // `wasmvs adm` talks to this process over a Unix socket; requests run between batches
  let ctl: Awaited<ReturnType<typeof startControlServer>> | undefined;
  if (o.socket !== false) {
    try { ctl = await startControlServer(d.engine, { path: o.socket, backend, checks, log: (lvl, m) => d.log(lvl, m) }); d.log('info', `control socket ${ctl.path}: wasmvs adm -L -n${ctl.path === DEFAULT_SOCKET ? '' : ` --socket ${ctl.path}`} (npx wasmvs adm / npx wasmvsadm outside a global install)`); } catch (e: any) {
      d.log('error', `control socket: ${e?.message ?? e}`);
      ka?.stop(); d.stop();
      return 1;
    }
  }
  // Prometheus scrape endpoint (loopback unless told otherwise); the same text as the socket's /metrics
  let metrics: Server | undefined;
  if (o.metrics) {
    metrics = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') { res.writeHead(404).end(); return; }
      res.writeHead(200, { 'content-type': METRICS_TYPE }).end(metricsText(d.engine, backend, checks));
    });
    const m = o.metrics;
    try {
      await new Promise<void>((resolve, reject) => { metrics!.once('error', reject).listen(m.port, m.host, resolve); });
      d.log('info', `metrics on http://${m.host.includes(':') ? `[${m.host}]` : m.host}:${m.port}/metrics`);
    } catch (e: any) {
      d.log('error', `--metrics ${m.host}:${m.port}: ${e?.code ?? e?.message ?? e}`);
      await ctl?.close(); ka?.stop(); d.stop();
      return 1;
    }
  }
  // IPVS's rate estimator runs on a 2 s period (ip_vs_est); estimate() paces itself
  const est = setInterval(() => { if (estimationOn(d.engine)) d.engine.estimate(Date.now()); }, 1000);
  d.log('info', `forwarding ${d.engine.services().length} service(s); Ctrl-C to stop`);
  let exitCode = 0;
  return new Promise<number>((resolve) => {
    const onSignal = async (sig: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onHup);
      d.log('info', `${sig}: stopping`);
      ka?.stop();
      sync.close();
      clearInterval(est);
      metrics?.close();
      await ctl?.close();
      d.stop();
      process.stdout.write(finalReport(d));
      resolve(exitCode);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    fatal = (e) => {
      process.stderr.write(`wasmvs run: ${e.message}\n`);
      exitCode = 1;
      void onSignal('SIGTERM');
    };
  });
}
