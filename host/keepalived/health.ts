/*
 * host/keepalived/health.ts - keepalived's checker daemon over a wasmvs engine: checkers on
 * timers with jitter, the real servers' and virtual servers' state as keepalived keeps it
 * (keepalived/check/ipwrapper.c), and the IPVS table that state calls for, applied as a diff
 * through the same control calls `wasmvs adm` makes (an AdmBackend: EngineBackend in a director).
 *
 * Semantics (ipwrapper.c):
 *  - a checker starts up, or down with `alpha`; after a failed attempt it retries `retry` times,
 *    `delay_before_retry` apart, while it is up, then goes down; a success brings it up; the next
 *    attempt is `delay_loop` after the last (tcp_epilog, update_svr_checker_state). HTTP_GET and
 *    SSL_GET (check_http.c epilog): a failed URL is retried every max(delay_before_retry,
 *    delay_loop), and once it answers, all URLs are checked again delay_loop later: the checker
 *    comes up on that second success;
 *  - a real server is alive when none of its checkers is down (num_failed_checkers == 0);
 *  - alive: in the service with its effective weight (weight, or MISC_CHECK misc_dynamic's
 *    exit code - 2); not alive: weight 0 with inhibit_on_failure, else not in the service;
 *  - quorum: the sum of the alive servers' weights; gained at >= quorum + hysteresis, lost at
 *    < quorum - hysteresis (or 0) (update_quorum_state). While lost and a sorry_server is
 *    configured, the sorry server is the only live dest (the real servers are removed, or weight 0
 *    with inhibit_on_failure; sorry_server_inhibit keeps it at weight 0 while quorum holds);
 *  - notify_up / notify_down when a real server's alive state changes, quorum_up / quorum_down
 *    when the quorum state changes; `omega` runs the down scripts when the daemon stops.
 * The table is computed from that state (desired()) and only the difference to what was applied
 * last is sent, so a reload (a new KaConfig) adds, removes and edits services and servers in
 * place, keeps checker state of servers still there (a failed server stays failed, with the
 * weight the checker set, until its checker says otherwise) and never touches unchanged dests:
 * their connections carry on.
 *
 * Checks never run on the packet path: each is an asynchronous socket or child process; its
 * result is applied in a timer callback, between two of the director's batches.
 */
import { spawn } from 'node:child_process';
import type { Errno } from '../rules/errors.ts';
import type { DestSpec, SvcKey, SvcSpec } from '../rules/parse.ts';
import { SVC_F_PERSISTENT } from '../types.ts';
import { escapeLabel } from '../control/metrics.ts';
import { CHECKS, type CheckFn, type CheckResult } from './checks/index.ts';
import { scriptArgv } from './checks/misc.ts';
import type { CheckKind, KaChecker, KaConfig, KaRealServer, KaServiceKey, KaVirtualServer } from './parse.ts';

/** The control calls the daemon makes (EngineBackend implements them). */
export interface HealthTarget {
  addService(k: SvcKey, sp: SvcSpec): Errno | null;
  editService(k: SvcKey, sp: SvcSpec): Errno | null;
  delService(k: SvcKey): Errno | null;
  addDest(k: SvcKey, d: DestSpec): Errno | null;
  editDest(k: SvcKey, d: DestSpec): Errno | null;
  delDest(k: SvcKey, d: DestSpec): Errno | null;
}

export interface HealthOptions {
  log?: (level: 'error' | 'warn' | 'info' | 'debug', msg: string) => void;
  /** checker functions by keyword (tests replace them) */
  checks?: Partial<Record<CheckKind, CheckFn>>;
  /** runs notify/quorum scripts (default: spawn, output ignored) */
  runScript?: (line: string) => void;
  /** ms since the epoch (default Date.now) */
  now?: () => number;
  /** [0, 1) for the first check's jitter (default Math.random) */
  random?: () => number;
}

export class CheckerState {
  isUp: boolean;
  hasRun = false;
  retryIt = 0;
  /** misc_dynamic: this checker's share of the effective weight (exit code - 2 - weight) */
  curWeight = 0;
  last?: CheckResult;
  lastAt = 0;
  lastChange: number;
  runs = 0;
  failures = 0;
  timer?: ReturnType<typeof setTimeout>;
  running = false;
  dead = false;
  /** HTTP_GET/SSL_GET: down after a failure; the next success only re-arms (check_http.c failed_url) */
  failedUrl = false;
  constructor(public c: KaChecker, public rs: RsState, now: number) { this.isUp = !c.alpha; this.lastChange = now; }
}

export class RsState {
  checkers: CheckerState[] = [];
  constructor(public rs: KaRealServer) {}
  get alive(): boolean { return this.checkers.every((c) => c.isUp); }
  /** keepalived's effective_weight (real_weight clamps it to 0..IPVS_WEIGHT_MAX) */
  get weight(): number {
    const w = this.rs.weight + this.checkers.reduce((s, c) => s + c.curWeight, 0);
    return Math.max(0, Math.min(w, 2147483647));
  }
}

export class VsState {
  quorumUp = true;
  constructor(public vs: KaVirtualServer, public rs: RsState[]) {}
  liveWeight(): number { return this.rs.reduce((s, r) => s + (r.alive ? r.weight : 0), 0); }
}

interface Applied { key: SvcKey; spec: SvcSpec; dests: Map<string, DestSpec> }

const svcId = (k: SvcKey) => (k.fwmark ? `FWM ${k.fwmark} ${k.af}` : `${k.proto} ${k.addr} ${k.port}`);
const destId = (d: { addr: string; port: number }) => `${d.addr} ${d.port}`;
const sameDest = (a: DestSpec, b: DestSpec) => (Object.keys(a) as (keyof DestSpec)[]).every((k) => a[k] === b[k]);
const sameSpec = (a: SvcSpec, b: SvcSpec) => (Object.keys(a) as (keyof SvcSpec)[]).every((k) => a[k] === b[k]);

/** The ipvsadm service key and spec of one key of a virtual_server. */
export function serviceOf(vs: KaVirtualServer, k: KaServiceKey): { key: SvcKey; spec: SvcSpec } {
  return {
    key: { af: k.af, proto: k.proto, addr: k.addr, port: k.port, fwmark: k.fwmark },
    spec: { sched: vs.sched, flags: vs.flags | (vs.persistence ? SVC_F_PERSISTENT : 0), timeout: vs.persistence, netmask: vs.netmask, pe: '' },
  };
}

/** One real server as an ipvsadm dest with `weight` (the dest port of a fwmark service's server may be 0). */
export function destOf(rs: KaRealServer, weight: number): DestSpec {
  return {
    af: rs.af, addr: rs.addr, port: rs.port, fwd: rs.fwd, weight, uthresh: rs.uthresh, lthresh: rs.lthresh,
    tunType: rs.tunType ?? 'ipip', tunPort: rs.tunPort ?? 0, tunFlags: 0,
  };
}

/** The dests a virtual server's state calls for (ipwrapper.c, see the header). */
export function desiredDests(v: VsState): Map<string, DestSpec> {
  const out = new Map<string, DestSpec>();
  const sorryOn = !!v.vs.sorry && !v.quorumUp;
  for (const r of v.rs) {
    if (r.alive && !sorryOn) out.set(destId(r.rs), destOf(r.rs, r.weight));
    else if (r.rs.inhibit) out.set(destId(r.rs), destOf(r.rs, 0));
  }
  const s = v.vs.sorry;
  if (s) {
    // a sorry server that is also a real server is that real server (s_svr_duplicates_rs)
    const dup = out.has(destId(s)) || v.rs.some((r) => destId(r.rs) === destId(s));
    if (sorryOn) out.set(destId(s), destOf(s, s.weight));
    else if (s.inhibit && !dup) out.set(destId(s), destOf(s, 0));
  }
  return out;
}

/** The forwarding method a TUN director cannot do (DR: it needs L2), as FILE:LINE errors (null when all are fine). */
export function linkProblem(cfg: KaConfig, link: 'ip' | 'ethernet' | 'any'): string | null {
  if (link !== 'ip') return null;
  for (const vs of cfg.virtualServers) {
    for (const r of [...vs.realServers, ...(vs.sorry ? [vs.sorry] : [])]) {
      if (r.fwd === 'Route') {
        return `${r.where.file}:${r.where.line}: ${r.addr}: lvs_method DR is not supported by the TUN director (NAT, TUN and FULLNAT only; DR needs wasmvs run --mode tap)`;
      }
    }
  }
  return null;
}

export class Health {
  vss: VsState[] = [];
  private applied = new Map<string, Applied>();
  private stopped = false;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly checks: Record<CheckKind, CheckFn>;

  constructor(private readonly target: HealthTarget, private readonly o: HealthOptions = {}) {
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.checks = { ...CHECKS, ...o.checks };
  }

  private log(level: 'error' | 'warn' | 'info' | 'debug', msg: string): void { this.o.log?.(level, msg); }

  private script(line: string | undefined, why: string): void {
    if (!line) return;
    this.log('info', `${why}: running ${line}`);
    if (this.o.runScript) { this.o.runScript(line); return; }
    const argv = scriptArgv(line);
    const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
    child.on('error', (e: NodeJS.ErrnoException) => this.log('warn', `${why}: ${argv[0]}: ${e.code ?? e.message}`));
    child.on('exit', (code) => { if (code) this.log('warn', `${why}: ${line} exited ${code}`); });
  }

  /** Start: the table for the initial state (before any check has run), then the checkers. */
  start(cfg: KaConfig): void { this.reload(cfg); }

  /**
   * Take a (new) configuration: state of virtual servers, real servers and checkers that are
   * still there is kept, new ones start as keepalived starts them, the table follows as a diff.
   */
  reload(cfg: KaConfig): void {
    const now = this.now();
    const old = new Map(this.vss.map((v) => [vsIdentity(v.vs), v]));
    const next: VsState[] = [];
    const keep = new Set<CheckerState>();
    for (const vs of cfg.virtualServers) {
      const ov = old.get(vsIdentity(vs));
      const oldRs = new Map((ov?.rs ?? []).map((r) => [destId(r.rs), r]));
      const rss = vs.realServers.map((rs) => {
        const st = new RsState(rs);
        const or = oldRs.get(destId(rs));
        st.checkers = rs.checkers.map((c, i) => {
          const oc = or?.checkers[i];
          if (oc && !oc.dead && oc.c.kind === c.kind && !keep.has(oc)) {
            // the same checker of a server still there: keep its state and its timer
            oc.c = c; oc.rs = st; keep.add(oc);
            return oc;
          }
          return new CheckerState(c, st, now);
        });
        return st;
      });
      const v = new VsState(vs, rss);
      // set_quorum_states: a new virtual server starts with quorum up when its live weight reaches quorum + hysteresis
      v.quorumUp = ov ? ov.quorumUp : v.liveWeight() >= vs.quorum + vs.hysteresis;
      next.push(v);
    }
    // checkers that are gone: stop their timers, forget their results
    for (const v of this.vss) for (const r of v.rs) for (const c of r.checkers) {
      if (!keep.has(c)) { c.dead = true; if (c.timer) clearTimeout(c.timer); }
    }
    this.vss = next;
    for (const v of next) this.updateQuorum(v, !old.has(vsIdentity(v.vs)));
    this.sync();
    for (const v of next) for (const r of v.rs) for (const c of r.checkers) if (!keep.has(c)) this.firstRun(c);
  }

  /** The first attempt of a new checker: after warmup (random up to it) or a jitter of up to min(delay_loop, 1 s). */
  private firstRun(c: CheckerState): void {
    const spread = c.c.warmup ?? Math.min(c.c.delayLoop, 1000);
    this.schedule(c, Math.floor(this.random() * spread));
  }

  private schedule(c: CheckerState, ms: number): void {
    if (this.stopped || c.dead) return;
    c.timer = setTimeout(() => { c.timer = undefined; void this.attempt(c); }, ms);
    c.timer.unref?.();
  }

  /** One attempt and what it changes (update_svr_checker_state). */
  async attempt(c: CheckerState): Promise<void> {
    if (c.running || c.dead || this.stopped) return;
    c.running = true;
    let r: CheckResult;
    try { r = await this.checks[c.c.kind](c.c, c.rs.rs); } catch (e: any) { r = { ok: false, detail: `checker failed: ${e?.message ?? e}` }; }
    c.running = false;
    if (c.dead || this.stopped) return;
    c.runs++;
    c.last = r;
    c.lastAt = this.now();
    const rs = c.rs;
    let next = c.c.delayLoop;
    let weightChanged = false;
    const http = c.c.kind === 'HTTP_GET' || c.c.kind === 'SSL_GET';
    if (r.ok && http && c.failedUrl) {
      // check_http.c epilog: the URL that failed answers again; every URL is checked anew
      // delay_loop later, and only that success brings the checker up
      c.failedUrl = false;
      c.retryIt = 0;
      this.log('debug', `${this.name(c)}: ${r.detail} (answers again; up after the next success)`);
    } else if (r.ok) {
      c.retryIt = 0;
      if (c.c.miscDynamic && r.exitCode !== undefined) {
        // check_misc.c: exit 0 gives the configured weight, 2..255 the weight code - 2
        const cur = r.exitCode ? r.exitCode - 2 - rs.rs.weight : 0;
        if (cur !== c.curWeight) {
          const before = rs.weight;
          c.curWeight = cur;
          this.log('info', `${this.name(c)}: weight ${before} -> ${rs.weight} (${r.detail})`);
          weightChanged = true;
        }
      }
      this.setUp(c, true, r, weightChanged);
    } else {
      c.failures++;
      // retries while up (tcp_epilog, udp_epilog, dns_final); HTTP_GET/SSL_GET and MISC_CHECK also
      // before their first run (check_http.c epilog, check_misc.c)
      const mayRetry = c.isUp || (!c.hasRun && (http || c.c.kind === 'MISC_CHECK'));
      if (mayRetry && c.retryIt < c.c.retry) {
        c.retryIt++;
        next = c.c.delayBeforeRetry;
        this.log('debug', `${this.name(c)}: ${r.detail} (retry ${c.retryIt} of ${c.c.retry})`);
      } else {
        c.retryIt = 0;
        weightChanged = c.curWeight !== 0;
        c.curWeight = 0;
        this.setUp(c, false, r, weightChanged);
        // a failed URL is tried again after max(delay_before_retry, delay_loop)
        if (http) { c.failedUrl = true; next = Math.max(c.c.delayBeforeRetry, c.c.delayLoop); }
      }
    }
    c.hasRun = true;
    this.schedule(c, next);
  }

  private name(c: CheckerState): string { return `${c.c.kind} ${hostPort(c.rs.rs)}`; }

  /** A checker's new state; the quorum and the table follow when anything changed (only this virtual server's part). */
  private setUp(c: CheckerState, up: boolean, r: CheckResult, weightChanged: boolean): void {
    if (c.isUp === up && !weightChanged) return;
    const rs = c.rs;
    const v = this.vss.find((x) => x.rs.includes(rs));
    const wasAlive = rs.alive;
    if (c.isUp !== up) {
      c.isUp = up;
      c.lastChange = this.now();
      this.log(up ? 'info' : 'warn', `${this.name(c)} of ${v?.vs.name ?? '?'}: ${up ? 'succeeded' : 'failed'}: ${r.detail}`);
    }
    if (!v) return;
    if (wasAlive !== rs.alive) {
      const what = rs.rs.inhibit ? (rs.alive ? 'Enabling' : 'Disabling') : rs.alive ? 'Adding' : 'Removing';
      this.log('info', `${what} service ${hostPort(rs.rs)} ${rs.rs.inhibit ? 'of' : rs.alive ? 'to' : 'from'} VS ${v.vs.name}`);
      this.script(rs.alive ? rs.rs.notifyUp : rs.rs.notifyDown, `notify_${rs.alive ? 'up' : 'down'} ${hostPort(rs.rs)}`);
    }
    this.updateQuorum(v, false);
    this.sync(v);
  }

  /** update_quorum_state: the quorum flips with hysteresis; scripts on a flip (and a start with quorum down and a sorry server). */
  private updateQuorum(v: VsState, init: boolean): void {
    const sum = v.liveWeight();
    const { quorum, hysteresis } = v.vs;
    if (!v.quorumUp && sum >= quorum + hysteresis) {
      v.quorumUp = true;
      this.log('info', `Gained quorum ${quorum}+${hysteresis}=${quorum + hysteresis} <= ${sum} for VS ${v.vs.name}`);
      this.script(v.vs.quorumUp, `quorum_up ${v.vs.name}`);
    } else if ((v.quorumUp && (!sum || sum < quorum - hysteresis)) || (init && !v.quorumUp && v.vs.sorry)) {
      v.quorumUp = false;
      this.log('warn', `${init ? 'Starting with quorum down' : 'Lost quorum'} ${quorum}-${hysteresis}=${quorum - hysteresis} > ${sum} for VS ${v.vs.name}` +
        (v.vs.sorry ? `: sorry server ${hostPort(v.vs.sorry)}` : ''));
      this.script(v.vs.quorumDown, `quorum_down ${v.vs.name}`);
    }
  }

  /** The table the state calls for (one virtual server's services, or all). */
  desired(only?: VsState): Map<string, Applied> {
    const out = new Map<string, Applied>();
    for (const v of only ? [only] : this.vss) {
      const dests = desiredDests(v);
      for (const k of v.vs.keys) {
        const { key, spec } = serviceOf(v.vs, k);
        out.set(svcId(key), { key, spec, dests });
      }
    }
    return out;
  }

  /** Apply the difference between the table wanted now and the one applied last (of `only`'s services, or all). */
  sync(only?: VsState): void {
    const want = this.desired(only);
    const fail = (what: string, e: Errno | null): boolean => { if (e) this.log('error', `${what}: ${e}`); return !e; };
    for (const [id, w] of want) {
      let a = this.applied.get(id);
      if (!a) {
        if (!fail(`add service ${id}`, this.target.addService(w.key, w.spec))) continue;
        a = { key: w.key, spec: w.spec, dests: new Map() };
        this.applied.set(id, a);
      } else if (!sameSpec(a.spec, w.spec)) {
        if (fail(`edit service ${id}`, this.target.editService(w.key, w.spec))) a.spec = w.spec;
      }
      for (const [did, d] of a.dests) {
        if (!w.dests.has(did) && fail(`delete ${did} from ${id}`, this.target.delDest(w.key, d))) a.dests.delete(did);
      }
      for (const [did, d] of w.dests) {
        const cur = a.dests.get(did);
        if (!cur) { if (fail(`add ${did} to ${id}`, this.target.addDest(w.key, d))) a.dests.set(did, d); } else if (!sameDest(cur, d)) {
          if (fail(`edit ${did} of ${id}`, this.target.editDest(w.key, d))) a.dests.set(did, d);
        }
      }
    }
    for (const [id, a] of this.applied) {
      if (only || want.has(id)) continue;
      if (fail(`delete service ${id}`, this.target.delService(a.key))) this.applied.delete(id);
    }
  }

  /** Stop every checker; with `omega`, run the down scripts as keepalived does at shutdown. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const v of this.vss) {
      for (const r of v.rs) for (const c of r.checkers) { c.dead = true; if (c.timer) clearTimeout(c.timer); }
      if (!v.vs.omega) continue;
      for (const r of v.rs) if (r.alive) this.script(r.rs.notifyDown, `omega notify_down ${hostPort(r.rs)}`);
      if (v.quorumUp) this.script(v.vs.quorumDown, `omega quorum_down ${v.vs.name}`);
    }
  }

  /** `wasmvs adm --checks`: every virtual server, real server and checker with its state. */
  text(): string {
    const now = this.now();
    const ago = (t: number) => (t ? `${((now - t) / 1000).toFixed(1)}s ago` : 'never');
    let out = '';
    for (const v of this.vss) {
      out += `${vsLabel(v.vs)}  quorum ${v.quorumUp ? 'up' : 'down'} (live weight ${v.liveWeight()}, quorum ${v.vs.quorum}, hysteresis ${v.vs.hysteresis})` +
        (v.vs.sorry ? `  sorry ${hostPort(v.vs.sorry)}${v.quorumUp ? '' : ' ACTIVE'}` : '') + '\n';
      for (const r of v.rs) {
        out += `  -> ${hostPort(r.rs)}  ${r.alive ? 'alive' : 'FAILED'}  weight ${r.weight}${r.rs.inhibit ? '  inhibit_on_failure' : ''}\n`;
        for (const c of r.checkers) {
          out += `       ${c.c.kind.padEnd(10)} ${c.isUp ? 'up  ' : 'DOWN'}  last ${c.last ? (c.last.ok ? 'ok' : 'fail') : '-'} ${ago(c.lastAt)}` +
            `  changed ${c.lastChange ? ago(c.lastChange) : '-'}  runs ${c.runs} failures ${c.failures}${c.last ? `  ${c.last.detail}` : ''}\n`;
        }
      }
    }
    return out;
  }

  /** Prometheus families: wasmvs_check_up and friends. */
  metrics(): string {
    const fam: Record<string, { help: string; type: string; lines: string[] }> = {};
    const add = (name: string, type: string, help: string, labels: Record<string, string>, value: number) => {
      const f = (fam[name] ??= { help, type, lines: [] });
      f.lines.push(`wasmvs_${name}{${Object.entries(labels).map(([k, x]) => `${k}="${escapeLabel(x)}"`).join(',')}} ${value}`);
    };
    for (const v of this.vss) {
      const vl = { vs: vsLabel(v.vs) };
      add('vs_quorum_up', 'gauge', 'keepalived quorum state of the virtual server (1 up)', vl, v.quorumUp ? 1 : 0);
      for (const r of v.rs) {
        const rl = { ...vl, rs: hostPort(r.rs) };
        add('real_server_alive', 'gauge', 'Real server alive (no checker down)', rl, r.alive ? 1 : 0);
        add('real_server_weight', 'gauge', 'Effective weight (misc_dynamic included)', rl, r.weight);
        r.checkers.forEach((c, i) => {
          const cl = { ...rl, check: c.c.kind, index: String(i) };
          add('check_up', 'gauge', 'Checker state (1 up, 0 down)', cl, c.isUp ? 1 : 0);
          add('check_last_result', 'gauge', 'Last attempt (1 ok, 0 failed, -1 none yet)', cl, c.last ? (c.last.ok ? 1 : 0) : -1);
          add('check_last_change_seconds', 'gauge', 'Unix time of the last state change', cl, Math.floor(c.lastChange / 1000));
          add('check_runs_total', 'counter', 'Attempts made', cl, c.runs);
          add('check_failures_total', 'counter', 'Attempts that failed (retries included)', cl, c.failures);
        });
      }
    }
    return Object.entries(fam).map(([n, f]) => `# HELP wasmvs_${n} ${f.help}\n# TYPE wasmvs_${n} ${f.type}\n${f.lines.join('\n')}\n`).join('');
  }
}

export function hostPort(r: { addr: string; port: number }): string { return r.addr.includes(':') ? `[${r.addr}]:${r.port}` : `${r.addr}:${r.port}`; }

function vsLabel(vs: KaVirtualServer): string {
  if (vs.name.startsWith('group ') || vs.name.startsWith('fwmark ')) return vs.name;
  const k = vs.keys[0];
  return `${k.proto} ${hostPort(k)}`;
}

/** keepalived's vs_iseq: the same address/port/fwmark/group and protocol. */
function vsIdentity(vs: KaVirtualServer): string { return `${vs.name} ${vs.keys[0].proto}`; }
