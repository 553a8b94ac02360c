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
import { WvsError } from '../errors.ts';
import { formatSysctl, parseSysctlArg } from '../rules/sysctl.ts';
import { admRequest, controlRequest, sysctlRequest, socketPath, WvsConnectionClosedError, WvsNoDirectorError, type StdoutSink } from './client.ts';
import { MAX_BODY } from './server.ts';

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

/** The most -R reads from stdin: one request carries it, with room left for its JSON encoding. */
export const MAX_STDIN = MAX_BODY - (1 << 20);

/** -R input: at most MAX_STDIN bytes; more is refused, not buffered. */
function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer) => {
      n += c.length;
      if (n > MAX_STDIN) {
        process.stdin.off('data', onData);
        process.stdin.pause();
        process.stdin.destroy();
        reject(new WvsInputTooLarge(`-R: standard input is larger than ${MAX_STDIN} bytes (${MAX_STDIN >> 20} MiB, the most one request carries): split the rules into several -R runs`));
        return;
      }
      chunks.push(c);
    };
    process.stdin.on('data', onData);
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

class WvsInputTooLarge extends Error {}

export interface AdmIo {
  stdin?: () => Promise<string>;
  /** the name in usage texts ("Try `PROG -h'"); default ipvsadm */
  prog?: string;
  /** stream stdout here as the director sends it (the result's stdout is then empty) */
  stdout?: StdoutSink;
}

/** Run `adm`; returns { stdout, stderr, rc } without printing (main prints). */
export async function admMain(argv: readonly string[], io: AdmIo = {}): Promise<{ stdout: string; stderr: string; rc: number }> {
  const { socket, rest, error } = splitSocketArg(argv);
  const prog = io.prog ?? 'ipvsadm';
  if (error) return { stdout: '', stderr: `${prog}: ${error}\n`, rc: RC_NO_DIRECTOR };
  if (rest.some((a) => a === '--sysctl' || a.startsWith('--sysctl='))) return sysctlMain(socketPath(socket), rest, prog);
  // wasmvs's own: the keepalived health checks of `wasmvs run --keepalived` (not ipvsadm options)
  if (rest.length === 1 && (rest[0] === '--checks' || rest[0] === '--reload')) return checksRequest(socketPath(socket), rest[0]);
  let cmd: string | undefined;
  try { cmd = parseArgs(rest, { prog }).cmd; } catch { /* the director prints the usage error */ }
  // -h needs no director (ipvsadm's does, but there is no kernel module to load here)
  if (cmd === 'help') return runAdm(rest, {} as AdmBackend, { prog });
  let stdin: string | undefined;
  try { stdin = cmd === 'restore' ? await (io.stdin ?? readStdin)() : undefined; } catch (e) {
    if (e instanceof WvsInputTooLarge) return { stdout: '', stderr: `${prog}: ${e.message}\n`, rc: RC_NO_DIRECTOR };
    throw e;
  }
  const path = socketPath(socket);
  try {
    return await admRequest(path, rest, { stdin, prog, stdout: io.stdout });
  } catch (e) {
    if (e instanceof WvsNoDirectorError) {
      // a director that runs as another user is running: say how to reach it, not whether it runs
      const hint = e.errno === 'EACCES' || e.errno === 'EPERM'
        ? 'The director answers only the user who started it (or root); change the socket\'s mode with care.'
        : 'Is the director running (wasmvs run)? Name its socket with --socket PATH or WASMVS_SOCKET.';
      return { stdout: '', stderr: `Can't initialize ipvs: ${e.message}\n${hint}\n`, rc: RC_NO_DIRECTOR };
    }
    if (e instanceof WvsConnectionClosedError) return { stdout: '', stderr: `${prog}: ${e.message}\n`, rc: RC_NO_DIRECTOR };
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

/**
 * `adm --sysctl` (list every net.ipv4.vs.* wasmvs has, `sysctl -a` format), `--sysctl NAME`
 * (one), `--sysctl NAME=VALUE` (write, printed back as `sysctl -w` does); repeatable. Errors
 * exit 255 as sysctl(8) does; nothing after a refused write is applied.
 */
async function sysctlMain(path: string, argv: readonly string[], prog: string): Promise<{ stdout: string; stderr: string; rc: number }> {
  const asks: { name?: string; value?: string }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    let arg: string | undefined;
    if (a.startsWith('--sysctl=')) arg = a.slice('--sysctl='.length);
    else if (a === '--sysctl') { if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('-')) arg = argv[++i]; }
    else return { stdout: '', stderr: `${prog}: --sysctl cannot be combined with ${a} (one command per run, as ipvsadm)\n`, rc: 2 };
    asks.push(arg === undefined ? {} : parseSysctlArg(arg));
  }
  let stdout = '';
  try {
    for (const q of asks) for (const r of await sysctlRequest(path, q.name, q.value)) stdout += formatSysctl(r.name, r.value);
  } catch (e) {
    if (e instanceof WvsNoDirectorError) return { stdout, stderr: `${prog}: ${e.message}\n`, rc: RC_NO_DIRECTOR };
    if (e instanceof WvsError) return { stdout, stderr: `${prog}: ${e.message}\n`, rc: 255 };
    throw e;
  }
  return { stdout, stderr: '', rc: 0 };
}

/** ipvsadm killed by SIGPIPE, as a shell sees it (128 + 13). */
export const RC_SIGPIPE = 141;

/**
 * `wasmvs adm` entry (host/cli.ts command table). stdout is streamed with backpressure; when
 * its reader goes away (`| head -1`) the command stops quietly, as ipvsadm does on SIGPIPE.
 */
export async function main(argv: string[]): Promise<number> {
  const prog = /wasmvsadm(\.js)?$/.test(process.argv[1] ?? '') ? 'wasmvsadm' : 'wasmvs adm';
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(RC_SIGPIPE);
    throw e;
  });
  const stdout = (t: string) => (process.stdout.write(t) ? undefined : new Promise<void>((resolve) => process.stdout.once('drain', resolve)));
  const r = await admMain(argv, { prog, stdout });
  if (r.stdout) await stdout(r.stdout);
  if (r.stderr) process.stderr.write(r.stderr);
  return r.rc;
}
