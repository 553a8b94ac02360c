/*
 * host/edge/balancer.ts - the engine as an HTTP balancer in an edge runtime (workerd / Cloudflare
 * Workers, Deno, Bun): "wasmvs/edge". No Node API; the package builds it into one ES module with
 * no imports (dist/edge/wasmvs-edge.js) so workerd can load it from its config without a bundler.
 *
 * One virtual service per address family (IPv4 clients reach 198.18.0.1:80, IPv6 clients
 * [2001:2::1]:80), UDP with one-packet scheduling (ipvsadm -o), each upstream a Masq dest of
 * both. An HTTP request is one datagram from the client address the platform reports
 * (CF-Connecting-IP, Deno's remoteAddr, Bun's requestIP, or a trusted header) and a
 * per-isolate client port: the engine schedules every -o datagram anew and keeps no conn (as
 * the kernel: ip_vs_conn_put expires a one-packet conn at once), and where it DNATs the
 * datagram is the upstream. Which upstream a client gets is therefore exactly the engine's (and
 * so the kernel's) sh/mh/wrr/... decision, weights and a quiesced (weight 0) dest included, and
 * the conn table never fills however many requests the isolate serves. The dest addresses are
 * synthetic (upstream i is 198.18.1.(i+1) / 2001:2::1:(i+1), port 80): sh and mh hash them, so
 * the order of `upstreams` is part of the configuration, as the order of `ipvsadm -a` is.
 */
import { Engine, addrBytes, addrText } from '../engine.ts';
import { WvsError } from '../errors.ts';
import { ip } from '../packet-builder.ts';
import { applyRules } from '../replay/rules.ts';

export { Engine } from '../engine.ts';

export interface Upstream {
  /** base URL requests are proxied to (path and query of the request appended) */
  url: string;
  /** ipvsadm -w; default 1; 0 = quiesced (no new requests) */
  weight?: number;
}

export interface BalancerConfig {
  /** ipvsadm -s: sh, mh, wrr, rr, wlc, ...; default mh */
  sched?: string;
  /** ipvsadm -b: comma list (sh-fallback, sh-port, mh-fallback, mh-port) */
  schedFlags?: string;
  upstreams: Upstream[];
  /**
   * request header that carries the client address, set by the platform and trusted
   * (cf-connecting-ip, x-real-ip, ...); the runtime's peer address is the fallback
   */
  clientHeader?: string;
  /** enables PUT /_wasmvs/weight?upstream=I&weight=W with "authorization: Bearer <adminToken>" */
  adminToken?: string;
}

export interface Pick {
  /** index into config.upstreams, -1 when the engine found no dest */
  index: number;
  upstream?: Upstream;
  /** the client port the request was given (the engine sees a datagram client:port -> VIP:80) */
  port: number;
  /** the engine's verdict and drop counter when no dest was chosen */
  verdict: string;
  reason: string;
}

export interface Balancer {
  readonly engine: Engine;
  readonly config: BalancerConfig;
  /** The upstream the engine chooses for a new request from `client` (IPv4 or IPv6 text). */
  pick(client: string, nowMs?: number): Pick;
  /** ipvsadm -e ... -w: weight 0 quiesces the upstream (no new requests). */
  setWeight(index: number, weight: number): void;
  /**
   * The fetch handler: answers the admin request, else proxies `req` to the chosen upstream
   * (response header x-wasmvs-upstream: its index). `client` is the runtime's peer address.
   */
  fetch(req: Request, client?: string): Promise<Response>;
}

const VIP4 = '198.18.0.1', VIP6 = '2001:2::1', VPORT = 80;
const PORT_MIN = 1024;

function destAddr(af: 4 | 6, i: number): string {
  const n = i + 1;
  return af === 4 ? `198.18.${1 + (n >> 8)}.${n & 255}` : `2001:2::1:${n.toString(16)}`;
}

/** destAddr backwards, from the destination address of a packet the engine DNATed (-1: not a dest). */
function destIndex(af: 4 | 6, p: Uint8Array): number {
  const n = af === 4 ? (p[16] === 198 && p[17] === 18 ? ((p[18] - 1) << 8) | p[19] : 0) : (p[38] << 8) | p[39];
  return n - 1;
}

/** The ipvsadm-restore text of the configuration (what `ipvsadm -S` would print). */
export function balancerRules(config: BalancerConfig): string {
  const sched = config.sched ?? 'mh';
  const flags = config.schedFlags ? ` -b ${config.schedFlags}` : '';
  const lines: string[] = [];
  for (const [af, vip] of [[4, VIP4], [6, `[${VIP6}]`]] as const) {
    lines.push(`-A -u ${vip}:${VPORT} -s ${sched}${flags} -o`);
    config.upstreams.forEach((u, i) => {
      const d = af === 4 ? destAddr(4, i) : `[${destAddr(6, i)}]`;
      lines.push(`-a -u ${vip}:${VPORT} -r ${d}:${VPORT} -m -w ${u.weight ?? 1}`);
    });
  }
  return lines.join('\n') + '\n';
}

function checkConfig(config: BalancerConfig): void {
  if (!config || !Array.isArray(config.upstreams) || config.upstreams.length === 0) {
    throw new WvsError('WVS_ERR_CONFIG', 'edge balancer: config.upstreams must list at least one { url, weight }');
  }
  if (config.upstreams.length > 4000) throw new WvsError('WVS_ERR_CONFIG', 'edge balancer: at most 4000 upstreams');
  config.upstreams.forEach((u, i) => {
    try { new URL(u.url); } catch { throw new WvsError('WVS_ERR_CONFIG', `edge balancer: upstreams[${i}].url is not a URL: ${u.url}`); }
  });
}

/**
 * Instantiate the engine (a compiled WebAssembly.Module, as workerd imports it, or the .wasm
 * bytes) and configure the service. `config` may be the JSON text of a BalancerConfig.
 */
export async function createBalancer(wasm: WebAssembly.Module | BufferSource, config: BalancerConfig | string): Promise<Balancer> {
  const given: BalancerConfig = typeof config === 'string' ? JSON.parse(config) : config;
  checkConfig(given);
  const cfg: BalancerConfig = { ...given, upstreams: given.upstreams.map((u) => ({ ...u })) };   // setWeight edits our copy
  const n = cfg.upstreams.length;
  const engine = await Engine.create(wasm, {
    // -o conns leave the table as soon as they are made: a few records are all it needs
    link: 'ip', slots: 1, slotSize: 512, headroom: 128, svcMax: 2, destMax: 2 * n, connMax: 64,
  });
  applyRules(engine, balancerRules(cfg));
  let nextPort = PORT_MIN;

  const pick = (client: string, nowMs = Date.now()): Pick => {
    const a = addrBytes(client.trim().replace(/^\[(.*)\]$/, '$1'));
    // an IPv4-mapped IPv6 peer (dual-stack socket) is the IPv4 client it stands for
    const mapped = a.af === 6 && a.bytes.subarray(0, 10).every((b) => b === 0) && a.bytes[10] === 0xff && a.bytes[11] === 0xff;
    const af: 4 | 6 = mapped ? 4 : a.af;
    const src = addrText(af, a.bytes);
    const vip = af === 4 ? VIP4 : VIP6;
    const port = nextPort;
    nextPort = nextPort === 65535 ? PORT_MIN : nextPort + 1;
    const r = engine.processFrame(ip(src, vip, { proto: 'udp', sport: port, dport: VPORT }), nowMs);
    // the dest is where the engine's DNAT sent the datagram (its conn is already gone)
    let index = r.verdict === 'XMIT' ? destIndex(af, r.data) : -1;
    if (index >= n) index = -1;
    return { index, upstream: index >= 0 ? cfg.upstreams[index] : undefined, port, verdict: r.verdict, reason: r.reason };
  };

  const setWeight = (index: number, weight: number): void => {
    if (!Number.isInteger(index) || index < 0 || index >= n) throw new WvsError('WVS_ERR_CONFIG', `edge balancer: no upstream ${index} (0..${n - 1})`);
    applyRules(engine, [
      `-e -u ${VIP4}:${VPORT} -r ${destAddr(4, index)}:${VPORT} -m -w ${weight}`,
      `-e -u [${VIP6}]:${VPORT} -r [${destAddr(6, index)}]:${VPORT} -m -w ${weight}`,
    ].join('\n') + '\n');
    cfg.upstreams[index].weight = weight;
  };

  const text = (status: number, body: string): Response => new Response(body + '\n', { status, headers: { 'content-type': 'text/plain' } });

  const fetchHandler = async (req: Request, peer?: string): Promise<Response> => {
    const url = new URL(req.url);
    if (url.pathname === '/_wasmvs/weight') {
      if (!cfg.adminToken || req.headers.get('authorization') !== `Bearer ${cfg.adminToken}`) return text(403, 'wasmvs: admin requests need config.adminToken and its bearer token');
      if (req.method !== 'PUT') return text(405, 'wasmvs: PUT /_wasmvs/weight?upstream=I&weight=W');
      try {
        setWeight(Number(url.searchParams.get('upstream')), Number(url.searchParams.get('weight')));
      } catch (e) {
        return text(400, `wasmvs: ${(e as Error).message}`);
      }
      return text(200, JSON.stringify(cfg.upstreams.map((u) => u.weight ?? 1)));
    }
    const client = (cfg.clientHeader ? req.headers.get(cfg.clientHeader) : null) ?? peer;
    if (!client) return text(400, `wasmvs: no client address (header ${cfg.clientHeader ?? '(none configured)'} missing and no peer address)`);
    let p: Pick;
    try {
      p = pick(client);
    } catch (e) {
      if (e instanceof WvsError) return text(400, `wasmvs: client address: ${e.message}`);
      throw e;
    }
    if (!p.upstream) return text(503, `wasmvs: no upstream available (engine verdict ${p.verdict}${p.reason ? ', counter ' + p.reason : ''})`);
    const target = new URL(url.pathname.replace(/^\//, '') + url.search, p.upstream.url.endsWith('/') ? p.upstream.url : p.upstream.url + '/');
    // method, headers and body only: the client's abort signal and redirect mode stay here
    const init: RequestInit & { duplex?: 'half' } = { method: req.method, headers: req.headers, redirect: 'manual' };
    if (req.body) { init.body = req.body; init.duplex = 'half'; }
    const res = await fetch(target, init);
    const out = new Response(res.body, res);
    out.headers.set('x-wasmvs-upstream', String(p.index));
    out.headers.set('x-wasmvs-client', `${client}:${p.port}`);
    return out;
  };

  return { engine, config: cfg, pick, setWeight, fetch: fetchHandler };
}
