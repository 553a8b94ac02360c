/*
 * host/control/server.ts - the control socket of a running director: HTTP/1.1 with JSON
 * bodies over a Unix domain socket (docs/adm.md lists the endpoints).
 *
 * Atomicity: Node runs JavaScript on one thread, and the director hands the engine a whole
 * batch in one synchronous process() call, so a request handler can only run between two
 * batches. runAdm() awaits nothing but the engine backend's synchronous answers (microtasks,
 * which drain before the event loop reads the next frame), so one request - a whole -R
 * restore included - is applied between two batches, never in the middle of one.
 * Requests are also queued one after another, so two clients' commands never interleave.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Engine } from '../engine.ts';
import { WvsError } from '../errors.ts';
import { runAdm, type AdmResult } from '../rules/adm.ts';
import { tableResolver, type NameResolver } from '../rules/services.ts';
import { EngineBackend, IPVS_VERSION } from './backend.ts';
import { formatMetrics } from './metrics.ts';

export const DEFAULT_SOCKET = '/run/wasmvs/wasmvs.sock';
/** Largest request body (a -R rules file travels in one request). */
export const MAX_BODY = 16 << 20;
export const METRICS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The Prometheus text for an engine (the socket's GET /metrics and `wasmvs run --metrics`). */
export function metricsText(engine: Engine, backend: EngineBackend, checks?: ChecksHook): string {
  return formatMetrics({
    services: backend.services(), totals: backend.totals(), counters: engine.counters(),
    conns: engine.connCount(), connCapacity: Number(engine.ex.connCapacity()),
  }) + (checks?.metrics() ?? '');
}

/** Health checks of `wasmvs run --keepalived` (host/keepalived/daemon.ts): GET /v1/checks, POST /v1/reload, /metrics. */
export interface ChecksHook { text(): string; metrics(): string; reload(): { ok: boolean; message: string } }
const MAX_ARGS = 4096;

export interface ControlServerOptions {
  /** socket path; default $WASMVS_SOCKET, else /run/wasmvs/wasmvs.sock */
  path?: string;
  /** permission bits of the socket file; default 0o600 */
  mode?: number;
  /** names for listings without -n; default: port names from the built-in services table */
  resolver?: NameResolver;
  /** the backend runAdm drives; default an EngineBackend over `engine` */
  backend?: EngineBackend;
  /** keepalived health checks (wasmvs run --keepalived) */
  checks?: ChecksHook;
}

export interface ControlServer {
  readonly path: string;
  readonly server: Server;
  readonly backend: EngineBackend;
  /** stop listening and remove the socket file */
  close(): Promise<void>;
}

/** A request the server refuses: HTTP status, stable code, and the field at fault. */
export class WvsRequestError extends WvsError {
  constructor(readonly status: number, code: string, message: string, readonly field?: string) {
    super(code, message);
    this.name = 'WvsRequestError';
  }
}

const bad = (message: string, field?: string) => new WvsRequestError(400, 'WVS_ERR_BAD_REQUEST', message, field);

/** The body of POST /v1/adm, checked field by field. */
export interface AdmRequest { argv: string[]; stdin?: string; prog?: string }

export function parseAdmRequest(text: string): AdmRequest {
  let body: unknown;
  try { body = JSON.parse(text); } catch (e) {
    throw bad(`request body is not valid JSON: ${(e as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw bad('request body must be a JSON object');
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'argv' && k !== 'stdin' && k !== 'prog') throw bad(`unknown field '${k}' (expected argv, stdin, prog)`, k);
  if (!('argv' in o)) throw bad("missing field 'argv' (an array of strings)", 'argv');
  if (!Array.isArray(o.argv)) throw bad("field 'argv' must be an array of strings", 'argv');
  if (o.argv.length > MAX_ARGS) throw bad(`field 'argv' has more than ${MAX_ARGS} elements`, 'argv');
  o.argv.forEach((a, i) => { if (typeof a !== 'string') throw bad(`field 'argv[${i}]' must be a string, got ${a === null ? 'null' : typeof a}`, `argv[${i}]`); });
  if ('stdin' in o && typeof o.stdin !== 'string') throw bad("field 'stdin' must be a string", 'stdin');
  if ('prog' in o && (typeof o.prog !== 'string' || o.prog === '' || o.prog.length > 64)) throw bad("field 'prog' must be a non-empty string of at most 64 characters", 'prog');
  return { argv: o.argv as string[], stdin: o.stdin as string | undefined, prog: o.prog as string | undefined };
}

/** JSON with 64-bit counters as decimal strings (they do not fit a JSON number exactly). */
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
}

/** What a path answers: method -> handler. */
type Handler = (req: IncomingMessage, body: string) => Promise<{ status?: number; type?: string; body: string }> | { status?: number; type?: string; body: string };

export async function startControlServer(engine: Engine, opts: ControlServerOptions = {}): Promise<ControlServer> {
  const path = opts.path ?? process.env.WASMVS_SOCKET ?? DEFAULT_SOCKET;
  const backend = opts.backend ?? new EngineBackend(engine);
  const resolver = opts.resolver ?? tableResolver;
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const p = queue.then(f, f);
    queue = p.catch(() => undefined);
    return p;
  };

  const json = (v: unknown) => ({ type: 'application/json', body: toJson(v) + '\n' });
  const routes: Record<string, Record<string, Handler>> = {
    '/v1/adm': {
      POST: async (_req, text) => {
        const r = parseAdmRequest(text);
        const res: AdmResult = await serial(() => runAdm(r.argv, backend, { stdin: r.stdin ?? '', resolver, prog: r.prog ?? 'ipvsadm' }));
        return json(res);
      },
    },
    '/v1/services': { GET: () => json(backend.services()) },
    '/v1/conns': { GET: () => json(engine.conns()) },
    '/v1/timeouts': { GET: () => json(backend.timeouts()) },
    '/v1/stats': {
      GET: () => json({ ...backend.totals(), counters: engine.counters(), conns: engine.connCount(), connCapacity: Number(engine.ex.connCapacity()) }),
    },
    '/v1/version': { GET: () => json({ ipvs: IPVS_VERSION, ...backend.info() }) },
    '/metrics': { GET: () => ({ type: METRICS_TYPE, body: metricsText(engine, backend, opts.checks) }) },
  };
  const checks = opts.checks;
  if (checks) {
    routes['/v1/checks'] = { GET: () => ({ type: 'text/plain; charset=utf-8', body: checks.text() }) };
    routes['/v1/reload'] = { POST: async () => { const r = await serial(async () => checks.reload()); return { status: r.ok ? 200 : 422, ...json(r) }; } };
  }

  const server = createServer((req, res) => { void handle(req, res); });
  server.on('clientError', (_e, sock) => { if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'); });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://wasmvs');
      const route = routes[url.pathname];
      if (!route) throw new WvsRequestError(404, 'WVS_ERR_NOT_FOUND', `no endpoint ${url.pathname}`);
      const h = route[req.method ?? ''];
      if (!h) {
        res.setHeader('Allow', Object.keys(route).join(', '));
        throw new WvsRequestError(405, 'WVS_ERR_METHOD', `${req.method} is not allowed on ${url.pathname} (allowed: ${Object.keys(route).join(', ')})`);
      }
      let text = '';
      if (req.method === 'POST') {
        const ct = String(req.headers['content-type'] ?? 'application/json').split(';')[0].trim().toLowerCase();
        if (ct !== 'application/json') throw new WvsRequestError(415, 'WVS_ERR_MEDIA_TYPE', `content-type must be application/json, not ${ct}`);
        text = await readBody(req);
      }
      const out = await h(req, text);
      send(res, out.status ?? 200, out.type ?? 'application/json', out.body);
    } catch (e) {
      if (e instanceof WvsRequestError) {
        send(res, e.status, 'application/json', toJson({ error: { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) } }) + '\n');
      } else {
        send(res, 500, 'application/json', toJson({ error: { code: 'WVS_ERR_INTERNAL', message: String((e as Error)?.message ?? e) } }) + '\n');
      }
    }
  }

  await prepareSocketPath(path);
  await listen(server, path);
  await chmod(path, opts.mode ?? 0o600);

  return {
    path, server, backend,
    close: () => new Promise<void>((resolve) => {
      server.close(() => { unlink(path).catch(() => undefined).then(() => resolve()); });
      server.closeAllConnections?.();
    }),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  if (res.headersSent) { res.end(); return; }
  // 413: the rest of the body is never read; answer, then close the connection
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...(status === 413 ? { Connection: 'close' } : {}) });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        // stop reading (not destroy: the client must still get the 413, sent with Connection: close)
        req.removeAllListeners('data');
        req.pause();
        chunks.length = 0;
        reject(new WvsRequestError(413, 'WVS_ERR_TOO_LARGE', `request body larger than ${MAX_BODY} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      try { resolve(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks))); } catch {
        reject(bad('request body is not valid UTF-8'));
      }
    });
    req.on('error', reject);
  });
}

/**
 * The directory is created 0700 when missing (an existing one is left as it is). A socket file
 * left by a director that died is removed; a live one (something answers) or a file that is
 * not a socket is never touched.
 */
async function prepareSocketPath(path: string): Promise<void> {
  const dir = dirname(path);
  try { await lstat(dir); } catch {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
  }
  let st;
  try { st = await lstat(path); } catch { return; }
  if (!st.isSocket()) throw new WvsError('WVS_ERR_SOCKET_PATH', `${path} exists and is not a socket; not replacing it`);
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new WvsError('WVS_ERR_SOCKET_IN_USE', `another director is listening on ${path}`);
  await unlink(path);
}

/** listen() under umask 0177, so the socket is never reachable by others, not even briefly. */
function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let old: number | undefined;
    try { old = process.umask(0o177); } catch { /* worker threads cannot change the umask; chmod follows */ }
    const restore = () => { if (old !== undefined) process.umask(old); };
    server.once('error', (e) => { restore(); reject(e); });
    server.listen(path, () => { restore(); resolve(); });
  });
}
