/*
 * host/control/adm-cli.ts - `wasmvs adm <ipvsadm arguments>` (and the `wasmvsadm` drop-in):
 * sends the command line to the running director and prints what ipvsadm would print.
 *
 *   wasmvs adm [--socket PATH] -A -t 198.18.0.100:80 -s rr
 *   wasmvs adm -R < rules          # stdin travels with the request
 *
 * The socket is --socket PATH (anywhere on the line; ipvsadm has no such option), else
 * $WASMVS_SOCKET, else /run/wasmvs/wasmvs.sock. Without a director the message names the
 * socket and why it failed, and the exit code is 2, as ipvsadm's when IPVS cannot be reached.
 */
import { runAdm, type AdmBackend } from '../rules/adm.ts';
import { parseArgs } from '../rules/parse.ts';
import { admRequest, controlRequest, socketPath, WvsNoDirectorError } from './client.ts';

/** ipvsadm's fail(2, ...) when ipvs_init() fails */
export const RC_NO_DIRECTOR = 2;

export function splitSocketArg(argv: readonly string[]): { socket?: string; rest: string[]; error?: string } {
  const rest: string[] = [];
  let socket: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--socket') {
      if (i + 1 >= argv.length) return { rest, error: '--socket: missing argument' };
      socket = argv[++i];
    } else if (a.startsWith('--socket=')) socket = a.slice('--socket='.length);
    else rest.push(a);
  }
  return { socket, rest };
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

/** Run `adm`; returns { stdout, stderr, rc } without printing (main prints). */
export async function admMain(argv: readonly string[], io: { stdin?: () => Promise<string>; prog?: string } = {}): Promise<{ stdout: string; stderr: string; rc: number }> {
  const { socket, rest, error } = splitSocketArg(argv);
  const prog = io.prog ?? 'ipvsadm';
  if (error) return { stdout: '', stderr: `${prog}: ${error}\n`, rc: RC_NO_DIRECTOR };
  // wasmvs's own: the keepalived health checks of `wasmvs run --keepalived` (not ipvsadm options)
  if (rest.length === 1 && (rest[0] === '--checks' || rest[0] === '--reload')) return checksRequest(socketPath(socket), rest[0]);
  let cmd: string | undefined;
  try { cmd = parseArgs(rest, { prog }).cmd; } catch { /* the director prints the usage error */ }
  // -h needs no director (ipvsadm's does, but there is no kernel module to load here)
  if (cmd === 'help') return runAdm(rest, {} as AdmBackend, { prog });
  const stdin = cmd === 'restore' ? await (io.stdin ?? readStdin)() : undefined;
  const path = socketPath(socket);
  try {
    return await admRequest(path, rest, { stdin, prog });
  } catch (e) {
    if (e instanceof WvsNoDirectorError) {
      return {
        stdout: '',
        stderr: `Can't initialize ipvs: ${e.message}\nIs the director running (wasmvs run)? Name its socket with --socket PATH or WASMVS_SOCKET.\n`,
        rc: RC_NO_DIRECTOR,
      };
    }
    throw e;
  }
}

/** --checks: GET /v1/checks (the checkers' state); --reload: POST /v1/reload (re-read the keepalived file). */
async function checksRequest(path: string, what: '--checks' | '--reload'): Promise<{ stdout: string; stderr: string; rc: number }> {
  try {
    const r = what === '--checks' ? await controlRequest(path, 'GET', '/v1/checks') : await controlRequest(path, 'POST', '/v1/reload', '{}');
    if (r.status === 404) return { stdout: '', stderr: `wasmvs adm ${what}: the director on ${path} runs no health checks (start it with wasmvs run --keepalived FILE)\n`, rc: 1 };
    if (what === '--checks') return r.status === 200 ? { stdout: r.body, stderr: '', rc: 0 } : { stdout: '', stderr: r.body, rc: 1 };
    const v = JSON.parse(r.body);
    return r.status === 200 ? { stdout: `${v.message}\n`, stderr: '', rc: 0 } : { stdout: '', stderr: `${v.message ?? v.error?.message ?? r.body}\n`, rc: 1 };
  } catch (e) {
    if (e instanceof WvsNoDirectorError) return { stdout: '', stderr: `${e.message}\n`, rc: RC_NO_DIRECTOR };
    throw e;
  }
}

/** `wasmvs adm` entry (host/cli.ts command table). */
export async function main(argv: string[]): Promise<number> {
  const prog = /wasmvsadm(\.js)?$/.test(process.argv[1] ?? '') ? 'wasmvsadm' : 'ipvsadm';
  const r = await admMain(argv, { prog });
  if (r.stdout) process.stdout.write(r.stdout);
  if (r.stderr) process.stderr.write(r.stderr);
  return r.rc;
}
