/*
 * host/keepalived/daemon.ts - `wasmvs run --keepalived FILE`: load the file, run the checkers
 * against the director's engine, reload on SIGHUP or `wasmvs adm --reload`.
 *
 * Every change goes through the EngineBackend `adm` uses, whose onChange makes the director sync
 * its VIP routes (Director.syncRoutes): the file's VIPs get routes as --rules VIPs do, and a
 * reload that removes a VIP's last service removes its route.
 */
import type { HealthTarget } from './health.ts';
import { Health, linkProblem } from './health.ts';
import { loadKeepalived, type KaConfig } from './parse.ts';
import { WvsError } from '../errors.ts';

type Level = 'error' | 'warn' | 'info' | 'debug';
export interface DaemonHost {
  log(level: Level, msg: string): void;
  link: 'ip' | 'ethernet' | 'any';
}

/** Parse FILE and check it can run on this link; throws WvsError naming FILE:LINE. */
export function loadChecked(file: string, link: DaemonHost['link']): KaConfig {
  const cfg = loadKeepalived(file);
  const why = linkProblem(cfg, link);
  if (why) throw new WvsError('WVS_ERR_KEEPALIVED', why);
  return cfg;
}

export class KeepalivedDaemon {
  readonly health: Health;
  reloads = 0;
  constructor(readonly file: string, private cfg: KaConfig, target: HealthTarget, private readonly host: DaemonHost) {
    this.health = new Health(target, { log: (l, m) => host.log(l, `keepalived: ${m}`) });
  }

  start(): void {
    this.announce(this.cfg);
    this.health.start(this.cfg);
  }

  /** Re-read the file and apply the difference; a bad file changes nothing. Returns what happened. */
  reload(): { ok: boolean; message: string } {
    let cfg: KaConfig;
    try { cfg = loadChecked(this.file, this.host.link); } catch (e: any) {
      const message = `reload of ${this.file} refused, the running configuration stays: ${e?.message ?? e}`;
      this.host.log('error', `keepalived: ${message}`);
      return { ok: false, message };
    }
    this.cfg = cfg;
    this.health.reload(cfg);
    this.reloads++;
    const message = `reloaded ${this.file}: ${cfg.virtualServers.length} virtual server(s), ${cfg.virtualServers.reduce((s, v) => s + v.realServers.length, 0)} real server(s)`;
    this.host.log('info', `keepalived: ${message}`);
    return { ok: true, message };
  }

  stop(): void { this.health.stop(); }

  private announce(cfg: KaConfig): void {
    if (cfg.skipped.length) {
      this.host.log('info', `keepalived: ${cfg.skipped.map((s) => s.keyword).join(', ')} in ${this.file} left to keepalived itself ` +
        '(run keepalived for VRRP next to wasmvs: docs/keepalived.md)');
    }
    this.host.log('info', `keepalived: ${cfg.virtualServers.length} virtual server(s) from ${this.file}, ` +
      `${cfg.virtualServers.reduce((s, v) => s + v.realServers.reduce((t, r) => t + r.checkers.length, 0), 0)} checker(s)`);
  }
}
