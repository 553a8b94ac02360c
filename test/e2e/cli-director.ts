/* test/e2e/cli-director.ts - the real CLI (`node bin/wasmvs.js run ...`) started in a lab namespace. */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'wasmvs.js');

/**
 * Start `wasmvs run ARGS` inside network namespace `netns` and resolve once it says it is
 * forwarding ("Ctrl-C to stop"); its stdout and stderr go to the callbacks as they arrive.
 * Rejects (with what it printed) when it exits first or takes more than 15 s.
 */
export function startCliDirector(netns: string, args: string[], onOut: (s: string) => void, onErr: (s: string) => void): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, BIN, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stdout!.on('data', (d) => onOut(String(d)));
  return new Promise<ChildProcess>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`wasmvs run did not start: ${err}`)), 15_000);
    child.stderr!.on('data', (d) => { err += d; onErr(String(d)); if (err.includes('Ctrl-C to stop')) { clearTimeout(t); resolve(child); } });
    child.on('exit', (code) => { clearTimeout(t); reject(new Error(`wasmvs run exited ${code}: ${err}`)); });
  });
}

/** A CLI director suite's teardown: the client closed, the director killed if still running, the lab and the temp folder removed (whatever of them exists). */
export function stopCliLab(s: { client?: { close(): void }; child?: ChildProcess; lab?: { destroy(): void }; tmp?: string }): void {
  s.client?.close();
  if (s.child && s.child.exitCode === null) s.child.kill('SIGKILL');
  s.lab?.destroy();
  if (s.tmp) rmSync(s.tmp, { recursive: true, force: true });
}
