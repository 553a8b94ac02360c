// The director's side of the TUN steering program (host/native/steer.ts): with N queues (one per
// worker) the program makes the kernel put every frame on the queue of the worker that owns its
// conn (the conn-owner function, docs/workers.md); its address set follows the configuration
// (the director calls sync() from syncRoutes, after every change). A fast path only: when it
// cannot be loaded the director says so once and the engine's redirect ring hands misplaced
// frames to their owner (slower, still correct).
import { isIP } from 'node:net';
import { Steering, type SteerAddr } from '../native/steer.ts';

export type SteeringLog = (level: 'info' | 'warn', msg: string) => void;

export class DirectorSteering {
  private last = '';
  private constructor(private readonly s: Steering, private readonly fd: number, private readonly log: SteeringLog) {}

  /**
   * Load the program for the device's queues (fds, one per worker) and attach it; undefined with
   * one warning when there is one queue only (nothing to steer) or it cannot be loaded.
   */
  static start(fds: readonly number[], tap: boolean, log: SteeringLog): DirectorSteering | undefined {
    if (fds.length < 2) return undefined;
    let s: Steering | undefined;
    try {
      s = Steering.load(fds.length, { tap, verifierLog: process.env.WVS_STEER_VERIFIER_LOG === '1' });
      s.attach(fds[0]!);
    } catch (e) {
      s?.close();
      const err = e as Error & { verifierLog?: string };
      log('warn', `steering program not loaded (${err.message}); frames reach their owner worker through the engine's redirect ring ` +
        `(slower, still correct)${err.verifierLog ? `; verifier log:\n${err.verifierLog}` : process.env.WVS_STEER_VERIFIER_LOG ? '' : ' (WVS_STEER_VERIFIER_LOG=1 for the verifier log)'}`);
      return undefined;
    }
    log('info', `steering program attached: ${fds.length} queues, each frame to its conn's owner worker`);
    return new DirectorSteering(s, fds[0]!, log);
  }

  /** The address set S: every VIP and every FULLNAT local address (an address may be both). */
  sync(addrs: readonly SteerAddr[]): void {
    const key = addrs.map((a) => `${a.kind} ${a.addr}`).sort().join(',');
    if (key === this.last) return;
    try {
      this.s.setAddrs(addrs.filter((a) => isIP(a.addr) !== 0));
      this.last = key;
    } catch (e) {
      this.log('warn', `steering address set not updated (${(e as Error).message}): misplaced frames go through the redirect ring`);
    }
  }

  /** Detach (the kernel's own flow hash again) and close the program. */
  stop(): void {
    try { this.s.detach(this.fd); } catch { /* the device is gone */ }
    this.s.close();
  }
}
