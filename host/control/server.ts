/*
 * host/control/server.ts - the control socket of a running director: HTTP/1.1 with JSON
 * bodies over a Unix domain socket (docs/adm.md lists the endpoints).
 *
 * Atomicity: Node runs JavaScript on one thread, and the director hands the engine a whole
 * batch in one synchronous process() call, so a request handler can only run between two
 * batches, never in the middle of one. One command line is applied whole; a -R restore is
 * applied in chunks of RESTORE_CHUNK lines with a setImmediate between them, so a restore of
 * 100,000 lines does not stall forwarding (packets of the chunks' gaps see the rules applied
 * so far, as the kernel's do during an ipvsadm -R). Requests are queued one after another, so
 * two clients' commands never interleave.
 *
 * Listings are the exception: they change nothing, so they do not wait in that queue, and a
 * streamed one (the request says "stream": true; `wasmvs adm` always does) yields to the
 * event loop between pages. Its conns go out CONN_PAGE at a time as NDJSON lines
 * ({"stdout": ...}, then {"stderr": ..., "rc": ...}); the next page is formatted only once
 * the socket has taken the last (backpressure), so memory is bounded by a page and the
 * director's batches run between pages however large the table. Like the kernel's
 * /proc/net/ip_vs_conn read page by page, such a listing is not one snapshot: a conn created
 * or expired while it streams may be missing from it.
 *
 * Bounds: a request body of at most MAX_BODY bytes, at most MAX_CONNS connections at once
 * (more are closed at once, with a log line), and a connection idle for IDLE_MS is closed.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Engine } from '../engine.ts';
import { WvsError } from '../errors.ts';
import { CONN_PAGE, runAdm, type AdmResult } from '../rules/adm.ts';
import { parseArgs } from '../rules/parse.ts';
import { sysctlGet, sysctlList, sysctlName, sysctlSet, WvsSysctlError } from '../rules/sysctl.ts';
import { tableResolver, type NameResolver } from '../rules/services.ts';
import { EngineBackend, IPVS_VERSION } from './backend.ts';
import { formatMetrics } from './metrics.ts';

export const DEFAULT_SOCKET = '/run/wasmvs/wasmvs.sock';
/** Largest request body (a -R rules file travels in one request). */
export const MAX_BODY = 16 << 20;
export const METRICS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** Control connections open at once; more are closed on accept (each costs a file descriptor). */
export const MAX_CONNS = 64;
/** A control connection that sends nothing (and is not being answered) for this long is closed. */
export const IDLE_MS = 10_000;
/** The content type of a streamed /v1/adm answer. */
export const STREAM_TYPE = 'application/x-ndjson';

/** The Prometheus text for an engine (the socket's GET /metrics and `wasmvs run --metrics`). */
export function metricsText(engine: Engine, backend: EngineBackend, checks?: ChecksHook): string {
  return formatMetrics({
    services: backend.services(), totals: backend.totals(), counters: engine.counters(),
    conns: engine.connCount(), connCapacity: engine.connCapacity(),
  }) + (checks?.metrics() ?? '');
}

/** Health checks of `wasmvs run --keepalived` (host/keepalived/daemon.ts): GET /v1/checks, POST /v1/reload, /metrics. */
export interface ChecksHook { text(): string; metrics(): string; reload(): { ok: boolean; message: string } }
const MAX_ARGS = 4096;
/** -R lines applied between two turns of the event loop (forwarding, timers, other requests). */
export const RESTORE_CHUNK = 512;
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

export interface ControlServerOptions {
  /** socket path; default $WASMVS_SOCKET, else /run/wasmvs/wasmvs.sock */
  path?: string;
  /** permission bits of the socket file; default 0o600 */
  mode?: number;
  /** names for listings without -n; default: port names from the built-in services table */
  resolver?: NameResolver;
  /** the backend runAdm drives; default an EngineBackend over `engine` */
  backend?: EngineBackend;
  /** where the server reports what it refused (connections over MAX_CONNS); default stderr */
  log?: (level: 'warn' | 'info', msg: string) => void;
  /** connections at once (default MAX_CONNS) and the idle timeout in ms (default IDLE_MS) */
  maxConns?: number;
  idleMs?: number;
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
export interface AdmRequest { argv: string[]; stdin?: string; prog?: string; stream?: boolean }

export function parseAdmRequest(text: string): AdmRequest {
  let body: unknown;
  try { body = JSON.parse(text); } catch (e) {
    throw bad(`request body is not valid JSON: ${(e as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw bad('request body must be a JSON object');
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['argv', 'stdin', 'prog', 'stream'].includes(k)) throw bad(`unknown field '${k}' (expected argv, stdin, prog, stream)`, k);
  if (!('argv' in o)) throw bad("missing field 'argv' (an array of strings)", 'argv');
  if (!Array.isArray(o.argv)) throw bad("field 'argv' must be an array of strings", 'argv');
  if (o.argv.length > MAX_ARGS) throw bad(`field 'argv' has more than ${MAX_ARGS} elements`, 'argv');
  o.argv.forEach((a, i) => { if (typeof a !== 'string') throw bad(`field 'argv[${i}]' must be a string, got ${a === null ? 'null' : typeof a}`, `argv[${i}]`); });
  if ('stdin' in o && typeof o.stdin !== 'string') throw bad("field 'stdin' must be a string", 'stdin');
  if ('prog' in o && (typeof o.prog !== 'string' || o.prog === '' || o.prog.length > 64)) throw bad("field 'prog' must be a non-empty string of at most 64 characters", 'prog');
  if ('stream' in o && typeof o.stream !== 'boolean') throw bad("field 'stream' must be true or false", 'stream');
  return { argv: o.argv as string[], stdin: o.stdin as string | undefined, prog: o.prog as string | undefined, stream: o.stream as boolean | undefined };
}

/** The body of POST /v1/sysctl. */
export function parseSysctlRequest(text: string): { name: string; value: string } {
  let o: any;
  try { o = JSON.parse(text); } catch (e) { throw bad(`request body is not valid JSON: ${(e as Error).message}`); }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw bad('request body must be a JSON object');
  for (const k of Object.keys(o)) if (k !== 'name' && k !== 'value') throw bad(`unknown field '${k}' (expected name, value)`, k);
  if (typeof o.name !== 'string' || o.name === '' || o.name.length > 128) throw bad("field 'name' must be a sysctl name", 'name');
  if (typeof o.value !== 'string' || o.value.length > 128) throw bad("field 'value' must be a string of at most 128 characters", 'value');
  return { name: sysctlName(o.name), value: o.value };
}

/** A refused sysctl read or write is a 400 (404 for a name Linux does not have) with its errno. */
function sysctlCall(f: () => string): string {
  try { return f(); } catch (e) {
    if (e instanceof WvsSysctlError) throw new WvsRequestError(e.errno === 'ENOENT' ? 404 : 400, e.code, e.message, e.errno === 'EINVAL' ? 'value' : 'name');
    throw e;
  }
}

/** JSON with 64-bit counters as decimal strings (they do not fit a JSON number exactly). */
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
}

/** What a path answers: method -> handler; null when the handler wrote the response itself (a stream). */
type Answer = { status?: number; type?: string; body: string } | null;
type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => Promise<Answer> | Answer;

/** The client closed the connection while a streamed answer was waiting for it. */
class ClientGone extends Error {}

/** A stdout sink for runAdm over a streamed response: one NDJSON line per piece. */
const streamWriter = (res: ServerResponse) => (text: string) => writePiece(res, JSON.stringify({ stdout: text }) + '\n');

/** Write one piece of a streamed answer: wait until the socket took it (backpressure), then yield to the director. */
async function writePiece(res: ServerResponse, piece: string): Promise<void> {
  if (res.destroyed) throw new ClientGone();
  if (!res.write(piece)) {
    await new Promise<void>((resolve, reject) => {
      const done = (ok: boolean) => { res.off('drain', onDrain); res.off('close', onClose); if (ok) resolve(); else reject(new ClientGone()); };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      res.on('drain', onDrain);
      res.on('close', onClose);
    });
  }
  // let the director read and process a batch before the next page is formatted
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/** GET /v1/conns: the JSON array of every conn, written CONN_PAGE conns at a time. */
async function connsStream(engine: Engine, res: ServerResponse): Promise<null> {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  try {
    let sep = '[';
    for (let from = 1; from !== 0;) {
      const page = engine.connPage(from, CONN_PAGE);
      from = page.next;
      if (!page.conns.length) continue;
      await writePiece(res, sep + page.conns.map(toJson).join(','));
      sep = ',';
    }
    res.end((sep === '[' ? '[' : '') + ']\n');
  } catch (e) {
    if (e instanceof ClientGone) res.destroy(); else throw e;
  }
  return null;
}

/** Commands that only read the table: they need not wait for changes queued before them. */
function readOnly(argv: readonly string[]): boolean {
  try { return ['list', 'save', 'getLaddr', 'help', 'version'].includes(parseArgs(argv).cmd); } catch { return false; }
}

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
      POST: async (_req, text, res) => {
        const r = parseAdmRequest(text);
        const run = (write?: (t: string) => Promise<void>) => runAdm(r.argv, backend, { stdin: r.stdin ?? '', resolver, prog: r.prog ?? 'ipvsadm', write, yield: nextTurn, yieldEvery: RESTORE_CHUNK });
        const go = (write?: (t: string) => Promise<void>): Promise<AdmResult> => (readOnly(r.argv) ? run(write) : serial(() => run(write)));
        if (!r.stream) {
          // one JSON answer: the text is held whole, but the director still forwards between pages
          const parts: string[] = [];
          const out = await go(async (t) => { parts.push(t); await new Promise<void>((resolve) => setImmediate(resolve)); });
          return json({ ...out, stdout: parts.join('') + out.stdout });
        }
        res.writeHead(200, { 'Content-Type': STREAM_TYPE });   // a slow reader holds one page, no more
        try {
          const out = await go(streamWriter(res));
          res.end(toJson({ stderr: out.stderr, rc: out.rc }) + '\n');
        } catch (e) {
          if (e instanceof ClientGone) { res.destroy(); return null; }
          res.end(toJson({ error: { code: 'WVS_ERR_INTERNAL', message: String((e as Error)?.message ?? e) } }) + '\n');
        }
        return null;
      },
    },
    '/v1/services': { GET: () => json(backend.services()) },
    '/v1/conns': { GET: (_req, _text, res) => connsStream(engine, res) },
    '/v1/timeouts': { GET: () => json(backend.timeouts()) },
    '/v1/stats': {
      GET: () => json({ ...backend.totals(), counters: engine.counters(), conns: engine.connCount(), connCapacity: engine.connCapacity() }),
    },
    '/v1/version': { GET: () => json({ ipvs: IPVS_VERSION, ...backend.info() }) },
    '/metrics': { GET: () => ({ type: METRICS_TYPE, body: metricsText(engine, backend, opts.checks) }) },
    // net.ipv4.vs.*: GET lists (?name=NAME reads one), POST {"name", "value"} writes one
    '/v1/sysctl': {
      GET: (req) => {
        const name = new URL(req.url ?? '/', 'http://wasmvs').searchParams.get('name');
        return json(name === null ? sysctlList(engine) : [{ name: sysctlName(name), value: sysctlCall(() => sysctlGet(engine, sysctlName(name))) }]);
      },
      POST: (_req, text) => {
        const r = parseSysctlRequest(text);
        return json([{ name: r.name, value: sysctlCall(() => sysctlSet(engine, r.name, r.value)) }]);
      },
    },
  };
  const checks = opts.checks;
  if (checks) {
    routes['/v1/checks'] = { GET: () => ({ type: 'text/plain; charset=utf-8', body: checks.text() }) };
    routes['/v1/reload'] = { POST: async () => { const r = await serial(async () => checks.reload()); return { status: r.ok ? 200 : 422, ...json(r) }; } };
  }

  const server = createServer((req, res) => { void handle(req, res); });
  const log = opts.log ?? ((level: string, msg: string) => process.stderr.write(`wasmvs: ${level}: ${msg}\n`));
  const maxConns = opts.maxConns ?? MAX_CONNS, idleMs = opts.idleMs ?? IDLE_MS;
  server.maxConnections = maxConns;
  server.setTimeout(idleMs);       // an idle socket is destroyed (no 'timeout' listener)
  server.headersTimeout = idleMs;  // a request must arrive whole within idleMs too
  server.requestTimeout = Math.max(idleMs, 60_000);
  let dropped = 0, dropLogAt = -Infinity;
  server.on('drop', () => {
    dropped++;
    const now = Date.now();
    if (now - dropLogAt < 10_000) return;   // one line per 10 s however many are refused
    dropLogAt = now;
    log('warn', `control socket ${path}: ${maxConns} connections are open (the limit); closed ${dropped} new one(s) since start. Idle ones close after ${idleMs / 1000} s`);
  });
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
      // the request is in: from here the director is answering, the connection is not idle
      // (a listing held whole can take longer than IDLE_MS; keepAliveTimeout covers the time after)
      req.socket.setTimeout(0);
      const out = await h(req, text, res);
      // what a change sets off after it (the director's VIP and laddr routes: run.ts's onChange,
      // one setImmediate per burst of changes) is done before the answer, so `wasmvs adm -A ...`
      // returning means the route is there (immediates run in the order they were queued)
      if (req.method === 'POST') await new Promise<void>((r) => setImmediate(r));
      if (out) send(res, out.status ?? 200, out.type ?? 'application/json', out.body);
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
  if (alive) {
    throw new WvsError('WVS_ERR_SOCKET_IN_USE', `another director is listening on ${path}: give this one its own socket with ` +
      '--socket PATH (its `wasmvs adm` then needs --socket PATH too), or start it with --no-socket');
  }
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
