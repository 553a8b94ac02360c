/*
 * host/control/client.ts - talk to a running director's control socket (server.ts).
 */
import { statSync } from 'node:fs';
import { request } from 'node:http';
import type { AdmResult } from '../rules/adm.ts';
import { WvsError } from '../errors.ts';
import { DEFAULT_SOCKET } from './server.ts';

/** The socket a client uses: --socket, else $WASMVS_SOCKET, else the default. */
export function socketPath(explicit?: string): string {
  return explicit ?? process.env.WASMVS_SOCKET ?? DEFAULT_SOCKET;
}

/** No director answers on the socket: `errno` is the connect() error (ENOENT, ECONNREFUSED, EACCES ...). */
export class WvsNoDirectorError extends WvsError {
  constructor(readonly path: string, errno: string) {
    super('WVS_ERR_NO_DIRECTOR', `${noDirectorText(path, errno)}`, errno);
    this.name = 'WvsNoDirectorError';
  }
}

function noDirectorText(path: string, errno: string): string {
  let st;
  try { st = statSync(path); } catch { /* gone, or a directory on the way we may not search */ }
  const owner = st ? `uid ${st.uid}, mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}` : '';
  const why: Record<string, string> = {
    ENOENT: 'no such socket',
    ECONNREFUSED: st && !st.isSocket()
      ? `not a socket but a ${st.isDirectory() ? 'directory' : st.isFile() ? 'regular file' : 'special file'}: name the director's socket with --socket`
      : 'connection refused: the socket is left over from a director that is not running',
    ENOTSOCK: 'not a socket: name the director\'s socket with --socket',
    EACCES: `permission denied: the socket (${owner || 'or its directory'}) belongs to the user who started the director; run as that user or root`,
    EPERM: `permission denied${owner ? ` (${owner})` : ''}`,
    ENOTDIR: 'a component of the path is not a directory',
  };
  return `no wasmvs director on ${path} (${errno}: ${why[errno] ?? 'cannot connect'})`;
}

export interface ControlResponse { status: number; type: string; body: string }

/** One HTTP request over the Unix socket. */
export function controlRequest(path: string, method: 'GET' | 'POST', url: string, body?: string): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath: path, method, path: url, agent: false,   // a fresh connection: a kept-alive one may be closing on the server (keepAliveTimeout)
      headers: body !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', (e: NodeJS.ErrnoException) => reject(closedOr(path, e)));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** POST /v1/adm: run one ipvsadm command line in the director. */
export async function admRequest(path: string, argv: readonly string[], opts: { stdin?: string; prog?: string; stdout?: StdoutSink } = {}): Promise<AdmResult> {
  if (opts.stdout) return admStream(path, argv, opts as typeof opts & { stdout: StdoutSink });
  const r = await controlRequest(path, 'POST', '/v1/adm', JSON.stringify({ argv, stdin: opts.stdin, prog: opts.prog }));
  let v: any;
  try { v = JSON.parse(r.body); } catch { throw new WvsError('WVS_ERR_PROTOCOL', `director on ${path} answered ${r.status} with a body that is not JSON`); }
  if (r.status !== 200) throw new WvsError('WVS_ERR_PROTOCOL', `director on ${path} refused the request (${r.status}): ${v?.error?.message ?? r.body}`);
  return { stdout: String(v.stdout ?? ''), stderr: String(v.stderr ?? ''), rc: Number(v.rc ?? 1) };
}

/** Where a streamed answer's stdout goes, piece by piece; a promise holds the stream until it settles. */
export type StdoutSink = (text: string) => void | Promise<void>;

/** The director closed the connection before answering. */
export class WvsConnectionClosedError extends WvsError {
  constructor(readonly path: string, errno: string) {
    super('WVS_ERR_CLOSED', `the director on ${path} closed the connection before answering (${errno}): it takes at most 64 control connections at once and closes idle ones after 10 s; its log says when it refused one. Try again`, errno);
    this.name = 'WvsConnectionClosedError';
  }
}

/** A streamed /v1/adm (server.ts): stdout goes to the sink as it arrives, stderr and rc at the end. */
function admStream(path: string, argv: readonly string[], opts: { stdin?: string; prog?: string; stdout: StdoutSink }): Promise<AdmResult> {
  const body = JSON.stringify({ argv, stdin: opts.stdin, prog: opts.prog, stream: true });
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: Error) => { if (!settled) { settled = true; reject(e); } };
    const req = request({
      socketPath: path, method: 'POST', path: '/v1/adm', agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      if (res.statusCode !== 200 || !String(res.headers['content-type'] ?? '').startsWith('application/x-ndjson')) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let msg = Buffer.concat(chunks).toString('utf8');
          try { msg = JSON.parse(msg)?.error?.message ?? msg; } catch { /* not JSON: shown as it is */ }
          fail(new WvsError('WVS_ERR_PROTOCOL', `director on ${path} refused the request (${res.statusCode}): ${msg.trim()}`));
        });
        return;
      }
      let buf = '';
      let last: { stderr?: string; rc?: number; error?: { message?: string } } | undefined;
      const line = async (l: string) => {
        const v = JSON.parse(l);
        if (typeof v.stdout === 'string') await opts.stdout(v.stdout);
        else last = v;
      };
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let nl;
        const pending: Promise<void>[] = [];
        while ((nl = buf.indexOf('\n')) >= 0) {
          const l = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const p = line(l);
          if (p) pending.push(p);
        }
        if (pending.length) {
          res.pause();
          Promise.all(pending).then(() => res.resume(), (e) => { req.destroy(); fail(e); });
        }
      });
      res.on('end', () => {
        if (settled) return;
        if (!last) { fail(new WvsConnectionClosedError(path, 'ECONNRESET')); return; }
        if (last.error) { fail(new WvsError('WVS_ERR_PROTOCOL', `director on ${path}: ${last.error.message}`)); return; }
        settled = true;
        resolve({ stdout: '', stderr: String(last.stderr ?? ''), rc: Number(last.rc ?? 1) });
      });
      res.on('error', (e: NodeJS.ErrnoException) => fail(closedOr(path, e)));
      res.on('aborted', () => fail(new WvsConnectionClosedError(path, 'ECONNRESET')));
    });
    req.on('error', (e: NodeJS.ErrnoException) => fail(closedOr(path, e)));
    req.end(body);
  });
}

/** connect() failures name the socket; a connection the director closed says so (never a bare "write EPIPE"). */
function closedOr(path: string, e: NodeJS.ErrnoException): Error {
  if (e.code && ['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ENOTDIR', 'ENOTSOCK'].includes(e.code)) return new WvsNoDirectorError(path, e.code);
  if (e.code === 'EPIPE' || e.code === 'ECONNRESET' || e.message === 'socket hang up') return new WvsConnectionClosedError(path, e.code ?? 'ECONNRESET');
  return e;
}

/** GET /v1/sysctl (all, or one by name) or POST one NAME=VALUE; [{ name, value }] or the director's refusal. */
export async function sysctlRequest(path: string, name?: string, value?: string): Promise<{ name: string; value: string }[]> {
  const r = value !== undefined
    ? await controlRequest(path, 'POST', '/v1/sysctl', JSON.stringify({ name, value }))
    : await controlRequest(path, 'GET', name === undefined ? '/v1/sysctl' : `/v1/sysctl?name=${encodeURIComponent(name)}`);
  let v: any;
  try { v = JSON.parse(r.body); } catch { throw new WvsError('WVS_ERR_PROTOCOL', `director on ${path} answered ${r.status} with a body that is not JSON`); }
  if (v?.error?.code === 'WVS_ERR_NOT_FOUND') throw new WvsError('WVS_ERR_PROTOCOL', `director on ${path} has no sysctl endpoint (an older wasmvs): ${v?.error?.message ?? r.body}`);
  if (r.status !== 200) throw new WvsError(v?.error?.code ?? 'WVS_ERR_PROTOCOL', String(v?.error?.message ?? r.body));
  return v;
}
