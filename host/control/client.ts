/*
 * host/control/client.ts - talk to a running director's control socket (server.ts).
 */
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
  const why: Record<string, string> = {
    ENOENT: 'no such socket',
    ECONNREFUSED: 'connection refused: the socket is left over from a director that is not running',
    EACCES: 'permission denied: the socket belongs to the user who started the director',
    EPERM: 'permission denied',
    ENOTDIR: 'a component of the path is not a directory',
  };
  return `no wasmvs director on ${path} (${errno}: ${why[errno] ?? 'cannot connect'})`;
}

export interface ControlResponse { status: number; type: string; body: string }

/** One HTTP request over the Unix socket. */
export function controlRequest(path: string, method: 'GET' | 'POST', url: string, body?: string): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath: path, method, path: url,
      headers: body !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code && ['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ENOTDIR'].includes(e.code)) reject(new WvsNoDirectorError(path, e.code));
      else reject(e);
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** POST /v1/adm: run one ipvsadm command line in the director. */
export async function admRequest(path: string, argv: readonly string[], opts: { stdin?: string; prog?: string } = {}): Promise<AdmResult> {
  const r = await controlRequest(path, 'POST', '/v1/adm', JSON.stringify({ argv, ...opts }));
  let v: any;
  try { v = JSON.parse(r.body); } catch { throw new WvsError('WVS_ERR_PROTOCOL', `director on ${path} answered ${r.status} with a body that is not JSON`); }
  if (r.status !== 200) throw new WvsError('WVS_ERR_PROTOCOL', `director on ${path} refused the request (${r.status}): ${v?.error?.message ?? r.body}`);
  return { stdout: String(v.stdout ?? ''), stderr: String(v.stderr ?? ''), rc: Number(v.rc ?? 1) };
}
