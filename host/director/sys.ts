/*
 * host/director/sys.ts - the few system commands the director runs: `ip` (iproute2) and sysctl
 * files. Node-only. Every call is bounded in time and throws an error naming the command.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { WvsError } from '../errors.ts';

/** Run `ip [-n netns] args...`; returns stdout. Throws WVS_ERR_IP with the command and ip's stderr. */
export function ip(netns: string | undefined, ...args: string[]): string {
  const argv = netns ? ['-n', netns, ...args] : args;
  try {
    return execFileSync('ip', argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (e: any) {
    if (e?.code === 'ENOENT') throw new WvsError('WVS_ERR_NO_IPROUTE2', 'the `ip` command (iproute2) is not installed');
    const why = String(e?.stderr ?? e?.message ?? e).trim();
    throw new WvsError('WVS_ERR_IP', `ip ${argv.join(' ')}: ${why}`);
  }
}

/** As ip(), but failures are ignored (cleanup paths). Returns false when the command failed. */
export function ipQuiet(netns: string | undefined, ...args: string[]): boolean {
  try { ip(netns, ...args); return true; } catch { return false; }
}

/** Set a sysctl inside netns (or here): key in dotted form, e.g. net.ipv4.ip_forward. */
export function sysctl(netns: string | undefined, key: string, value: string): void {
  const argv = ['sysctl', '-qw', `${key}=${value}`];
  try {
    execFileSync(netns ? 'ip' : argv[0], netns ? ['netns', 'exec', netns, ...argv] : argv.slice(1),
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (e: any) {
    throw new WvsError('WVS_ERR_SYSCTL', `sysctl ${key}=${value}${netns ? ` in ${netns}` : ''}: ${String(e?.stderr ?? e?.message ?? e).trim()}`);
  }
}

/** Read a sysctl of this namespace from /proc/sys, or undefined when it does not exist. */
export function readSysctl(key: string): string | undefined {
  try { return readFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, 'utf8').trim(); } catch { return undefined; }
}
