// Shared preconditions of the e2e files (not a test file itself): why a lab cannot run here.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tunAvailable } from '../../host/native/tun.ts';

/** Why the namespace labs cannot run here, or null. */
export function labSkipReason(): string | null {
  if (process.platform !== 'linux') return 'Linux only (network namespaces, TUN/TAP)';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TUN/TAP: CAP_SYS_ADMIN, CAP_NET_ADMIN)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  try { execFileSync('ip', ['-V'], { stdio: 'ignore', timeout: 5_000 }); } catch { return 'iproute2 (`ip`) is not installed'; }
  if (!tunAvailable()) return 'TUN addon not built: npx node-gyp rebuild';
  return null;
}

/**
 * Can this kernel decapsulate `kind` in a network namespace? Tries it in a throwaway namespace
 * (after `modprobe`, which may fail quietly when the module is built in or absent); null = yes,
 * else the reason, with the kernel's own words.
 */
export function tunnelSkipReason(kind: 'ipip' | 'gue'): string | null {
  const base = labSkipReason();
  if (base) return base;
  for (const m of kind === 'ipip' ? ['ipip'] : ['ipip', 'fou']) {
    try { execFileSync('modprobe', [m], { stdio: 'ignore', timeout: 10_000 }); } catch { /* built in, or not there: the probe below says */ }
  }
  const ns = `wvs-probe-${process.pid}-${kind}`;
  const run = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  const why = (e: any) => String(e?.stderr ?? e?.message ?? e).trim().split('\n')[0];
  try {
    execFileSync('ip', ['netns', 'add', ns], { stdio: 'ignore', timeout: 10_000 });
  } catch (e) { return `cannot create a network namespace: ${why(e)}`; }
  try {
    try { run('link', 'add', 'wvsprobe', 'type', 'ipip'); } catch (e) {
      return `this kernel (${kernelRelease()}) has no ipip tunnel device (CONFIG_NET_IPIP; modprobe ipip failed): ip link add type ipip: ${why(e)}`;
    }
    if (kind === 'gue') {
      try { run('fou', 'add', 'port', '6080', 'gue'); } catch (e) {
        return `this kernel (${kernelRelease()}) has no fou/GUE receive (CONFIG_NET_FOU; modprobe fou failed): ip fou add port 6080 gue: ${why(e)}`;
      }
    }
    return null;
  } finally {
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 }); } catch { /* gone */ }
  }
}

function kernelRelease(): string {
  try { return execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(); } catch { return 'unknown'; }
}
