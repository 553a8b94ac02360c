/*
 * host/keepalived/checks/misc.ts - MISC_CHECK (keepalived check_misc.c): run misc_path; exit 0 is
 * up, anything else down, unless misc_dynamic: then 2..255 is up with weight = code - 2 (and 1
 * down). A script still running after misc_timeout is killed (SIGTERM, SIGKILL 1 s later) and
 * counts as a failure.
 */
import { spawn } from 'node:child_process';
import { withTimeout, type CheckFn } from './types.ts';

/** keepalived splits a script line on spaces (quotes already removed by the lexer). */
export function scriptArgv(line: string): string[] { return line.trim().split(/\s+/); }

export const miscCheck: CheckFn = (c) => {
  const argv = scriptArgv(c.miscPath!);
  return withTimeout(c.miscTimeout ?? c.delayLoop, (done) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
    child.once('error', (e: NodeJS.ErrnoException) => done({ ok: false, detail: `${argv[0]}: ${e.code ?? e.message}` }));
    child.once('exit', (code, sig) => {
      if (code === null) { done({ ok: false, detail: `${argv[0]} killed by ${sig}` }); return; }
      if (code === 0) { done({ ok: true, detail: 'exit 0', exitCode: 0 }); return; }
      if (c.miscDynamic && code >= 2) { done({ ok: true, detail: `exit ${code}: weight ${code - 2}`, exitCode: code }); return; }
      done({ ok: false, detail: `exit ${code}`, exitCode: code });
    });
    return () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); }, 1000).unref();
    };
  });
};
