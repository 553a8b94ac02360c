/*
 * host/control/backend.ts - the AdmBackend of `wasmvs adm` over a live Engine.
 *
 * runAdm() (host/rules/adm.ts) parses and formats; this file only translates its typed
 * requests into engine calls and the engine's failures into the errno names libipvs would
 * have seen, so ipvsadm's texts and exit codes follow. It never throws for a refused change:
 * a restore (-R) goes on after a failed line, as ipvsadm's does, and every engine control
 * call checks its arguments before it touches a record, so a failed line changes nothing.
 *
 * Listings come from Engine.services() (dests in the kernel's newest-first order) with the
 * rate estimator's decoded values (assembly/est.ts) filled in, record by record.
 * Runtime-agnostic: no Node imports (a browser page can run `adm` against its own engine).
 */
import type { Engine, ServiceKey } from '../engine.ts';
import { WvsError, WvsEngineError, Errno as ErrnoCode } from '../errors.ts';
import type { AdmBackend } from '../rules/adm.ts';
import { engineKey, engineServiceSpec, engineDestSpec } from '../rules/apply.ts';
import type { Errno } from '../rules/errors.ts';
import type { DaemonSpec, DestSpec, SvcKey, SvcSpec } from '../rules/parse.ts';
import type { MaybeAsync } from '../rules/adm.ts';
import { type DaemonView, type ConnView, type Rates, type ServiceView, type Stats, type Timeouts } from '../types.ts';

/** The IPVS version wasmvs reports (ipvsadm --version, the -L header). */
export const IPVS_VERSION = '1.2.1';

const ERRNOS: ReadonlySet<string> = new Set<Errno>([
  'EPERM', 'ENOENT', 'ESRCH', 'EEXIST', 'EINVAL', 'ENOMEM', 'EBUSY', 'ERANGE', 'E2BIG',
  'ENOPROTOOPT', 'EOPNOTSUPP', 'EAFNOSUPPORT', 'EMSGSIZE', 'ENOSPC', 'ENOTSUP', 'ENODEV',
]);

/** The errno an engine failure stands for (WvsEngineError carries it; anything else: EINVAL). */
export function errnoOf(e: unknown): Errno {
  if (e instanceof WvsError && e.errno && ERRNOS.has(e.errno)) return e.errno as Errno;
  if (e instanceof WvsError) return 'EINVAL';
  throw e; // a bug, not a refused request: let it surface
}

/** Rates of one stats block: kind 0 totals, 1 service, 2 dest (assembly/index.ts statsRate). */
export function engineRates(engine: Engine, kind: 0 | 1 | 2, idx: number): Rates {
  return engine.rates((['total', 'service', 'dest'] as const)[kind], idx);
}

/** Engine record indices, read with the layout constants the module exports. */
interface Indices { svcIdx: number; destIdx: number[] }

export interface EngineBackendOptions {
  /** size= in the -L header; default: the engine's conn hash buckets (Engine.connTabSize) */
  connTabSize?: number;
  /** a table reached its limit: the director logs the text ("dest table full (...; raise --dest-max)") */
  onLimit?: (text: string) => void;
  /** a change was applied (service, dest, laddr, clear): the director syncs its VIP routes */
  onChange?: () => void;
  /** the sync daemons (host/sync/daemon.ts): --start-daemon, --stop-daemon, -L --daemon; absent: refused */
  sync?: SyncControl;
}

/** What --start-daemon / --stop-daemon / -L --daemon need (host/sync/daemon.ts implements it over UDP). */
export interface SyncControl {
  start(d: DaemonSpec): MaybeAsync<Errno | null>;
  stop(state: 'master' | 'backup'): MaybeAsync<Errno | null>;
  views(): DaemonView[];
}

export class EngineBackend implements AdmBackend {
  constructor(readonly engine: Engine, private readonly opts: EngineBackendOptions = {}) {}

  private key(k: SvcKey): ServiceKey { return engineKey(k); }

  get startDaemon(): ((d: DaemonSpec) => MaybeAsync<Errno | null>) | undefined {
    const s = this.opts.sync;
    return s && ((d) => s.start(d));
  }
  get stopDaemon(): ((state: 'master' | 'backup') => MaybeAsync<Errno | null>) | undefined {
    const s = this.opts.sync;
    return s && ((st) => s.stop(st));
  }
  daemons(): DaemonView[] { return this.opts.sync?.views() ?? []; }

  private lastDetail: string | undefined;

  /**
   * Run one engine control call; a refusal becomes its errno. Where ipvsadm's message for that
   * errno would not say why (a full table; the engine's own refusals, such as a SYN proxy with a
   * DR dest, which ipvsadm could only call "Operation not supported with IPv6"), the engine's
   * text is left for detail() too.
   */
  private call(f: () => unknown): Errno | null {
    try { f(); } catch (e) {
      const errno = errnoOf(e);
      if (errno === 'ENOSPC' || (e instanceof WvsEngineError && e.rc === ErrnoCode.SYNPROXY_FWD)) {
        this.lastDetail = `wasmvs: ${(e as Error).message}`;
      }
      if (errno === 'ENOSPC') this.opts.onLimit?.((e as Error).message);
      return errno;
    }
    this.opts.onChange?.();
    return null;
  }
  /** What the last failed change adds to ipvsadm's message (a table at its limit, the engine's own refusal), once. */
  detail(): string | undefined {
    const d = this.lastDetail;
    this.lastDetail = undefined;
    return d;
  }

  /** Options the engine has no room for yet are refused before anything is touched. */
  private unsupportedService(sp: SvcSpec): Errno | null {
    // no persistence engines (--pe sip): libipvs reports a missing module as ENOENT
    return sp.pe ? 'ENOENT' : null;
  }
  private unsupportedDest(_d: DestSpec): Errno | null {
    return null;   // ipip, gue and gre tunnels, DR and NAT are all forwarded (local/bypass: refused by the engine)
  }

  addService(k: SvcKey, sp: SvcSpec): Errno | null {
    if (this.engine.serviceIndex(this.key(k))) return 'EEXIST'; // ip_vs_add_service looks up first
    return this.unsupportedService(sp) ?? this.call(() => this.engine.addService(engineServiceSpec(k, sp)));
  }
  editService(k: SvcKey, sp: SvcSpec): Errno | null {
    if (!this.engine.serviceIndex(this.key(k))) return 'ESRCH';
    return this.unsupportedService(sp) ?? this.call(() => this.engine.editService(engineServiceSpec(k, sp)));
  }
  delService(k: SvcKey): Errno | null { return this.call(() => this.engine.delService(this.key(k))); }
  clear(): Errno | null { return this.call(() => this.engine.clear()); }
  /**
   * The kernel's order of checks for -a/-e (ip_vs_add_dest, ip_vs_edit_dest): the service, then
   * the weight and thresholds (ERANGE), then whether the dest exists (EEXIST / ENOENT). Only
   * then does the engine see the request (and may refuse a forwarding method it lacks).
   */
  private destPrecheck(k: SvcKey, d: DestSpec, wantExisting: boolean): Errno | null {
    // lookups by hash in the engine, never a listing: a restore stays linear in its lines
    const key = this.key(k);
    if (!this.engine.serviceIndex(key)) return 'ESRCH';
    if (d.weight < 0 || d.lthresh > d.uthresh) return 'ERANGE';
    const exists = this.engine.destIndex(key, { addr: d.addr, port: d.port }) !== 0;
    if (exists !== wantExisting) return wantExisting ? 'ENOENT' : 'EEXIST';
    return this.unsupportedDest(d);
  }
  addDest(k: SvcKey, d: DestSpec): Errno | null {
    return this.destPrecheck(k, d, false) ?? this.call(() => this.engine.addDest(this.key(k), engineDestSpec(d)));
  }
  editDest(k: SvcKey, d: DestSpec): Errno | null {
    return this.destPrecheck(k, d, true) ?? this.call(() => this.engine.editDest(this.key(k), engineDestSpec(d)));
  }
  delDest(k: SvcKey, d: DestSpec): Errno | null {
    return this.call(() => this.engine.delDest(this.key(k), { addr: d.addr, port: d.port }));
  }
  zero(k: SvcKey | null): Errno | null {
    const i = k ? this.engine.serviceIndex(this.key(k)) : 0;
    if (k && !i) return 'ESRCH';
    const rc = this.engine.zeroStats(i);
    return rc === 0 ? null : rc === -3 ? 'ESRCH' : 'EINVAL';
  }
  setTimeouts(t: Timeouts): Errno | null { return this.call(() => this.engine.setTimeouts(t)); }
  /** DPVS -P / -Q: FULLNAT local addresses of a service. */
  addLaddr(k: SvcKey, l: { af: 4 | 6; addr: string }): Errno | null {
    if (!this.engine.serviceIndex(this.key(k))) return 'ESRCH';
    const r = this.call(() => this.engine.addLaddr(this.key(k), l.addr));
    return r;
  }
  delLaddr(k: SvcKey, l: { af: 4 | 6; addr: string }): Errno | null {
    if (!this.engine.serviceIndex(this.key(k))) return 'ESRCH';
    return this.call(() => this.engine.delLaddr(this.key(k), l.addr));
  }
  /** DPVS -G: one service's local addresses, or every service's. */
  laddrs(k: SvcKey | null): { svc: ServiceView; laddrs: ReturnType<Engine['laddrs']> }[] | Errno {
    const all = k ? [this.service(k)] : this.engine.services();
    if (k && !all[0]) return 'ESRCH';
    return (all as ServiceView[]).map((svc) => ({
      svc, laddrs: this.engine.laddrs(svc.fwmark ? { fwmark: svc.fwmark, af: svc.af } : { proto: svc.proto ?? undefined, addr: svc.addr, port: svc.port }),
    }));
  }

  services(): ServiceView[] {
    const views = this.engine.services();
    const idx = this.indices();
    // Engine.services() walks the same records in the same order: service i <-> idx[i]
    views.forEach((s, i) => {
      const ix = idx[i];
      if (!ix || ix.destIdx.length !== s.dests.length) return;
      s.rates = engineRates(this.engine, 1, ix.svcIdx);
      s.dests.forEach((d, j) => { d.rates = engineRates(this.engine, 2, ix.destIdx[j]); });
    });
    return views;
  }
  service(k: SvcKey): ServiceView | null {
    const want = this.key(k);
    if (!this.engine.serviceIndex(want)) return null;
    return this.services().find((s) => k.fwmark
      ? s.fwmark === k.fwmark && s.af === k.af
      : s.fwmark === 0 && s.proto === k.proto && s.port === k.port && s.af === k.af && s.addr === k.addr) ?? null;
  }
  timeouts(): Timeouts { return this.engine.timeouts(); }
  conns(): ConnView[] { return this.engine.conns(); }
  connPage(from: number, max: number): { conns: ConnView[]; next: number } { return this.engine.connPage(from, max); }
  info(): { version: string; size: number } {
    return { version: IPVS_VERSION, size: this.opts.connTabSize ?? this.engine.connTabSize() };
  }

  /** Global counters with the estimator's rates (the totals block, ip_vs_stats). */
  totals(): { stats: Stats; rates: Rates } {
    return { stats: this.engine.globalStats(), rates: engineRates(this.engine, 0, 0) };
  }

  /** Service and dest record indices in listing order, read from engine memory. */
  private indices(): Indices[] { return this.engine.serviceIndices(); }

}
