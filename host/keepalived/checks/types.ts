/*
 * host/keepalived/checks/types.ts - what one check attempt is given and what it answers.
 */
import type { KaChecker, KaRealServer } from '../parse.ts';

/** One attempt's outcome. weight: MISC_CHECK misc_dynamic's exit code - 2 (undefined: no change). */
export interface CheckResult { ok: boolean; detail: string; exitCode?: number }

/** Run one attempt of `c` against `rs`; never throws, always settles within the checker's timeout. */
export type CheckFn = (c: KaChecker, rs: KaRealServer) => Promise<CheckResult>;

/** Where a checker connects: connect_ip / connect_port, else the real server's. */
export function target(c: KaChecker, rs: KaRealServer): { host: string; port: number } {
  return { host: c.connectIp ?? rs.addr, port: c.connectPort || rs.port };
}

/** Settle `p` or fail with "timeout after N ms" (calling `onTimeout` to release what it holds). */
export function withTimeout(ms: number, run: (done: (r: CheckResult) => void) => () => void): Promise<CheckResult> {
  return new Promise((resolve) => {
    let settled = false;
    let cleanup: () => void = () => {};
    const done = (r: CheckResult) => { if (settled) return; settled = true; clearTimeout(t); cleanup(); resolve(r); };
    const t = setTimeout(() => done({ ok: false, detail: `timeout after ${ms} ms` }), ms);
    cleanup = run(done);
    if (settled) cleanup();
  });
}
