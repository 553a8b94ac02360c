/*
 * host/rules/adm.ts - `wasmvs adm`: ipvsadm's process_options() over an abstract backend.
 *
 * Parses (parse.ts), calls the backend (the engine wrapper, or a control-socket client), and
 * returns what ipvsadm would print and its exit code. It prints nothing itself and never exits;
 * the CLI writes stdout/stderr and exits with rc. Exit codes as ipvsadm:
 *   0 ok; 2 fail() usage errors; 255 popt errors, usage hint, and any failed change (-1);
 *   1 when a listing cannot be read (`-L -t <missing>` -> "No such service", rc 1).
 * -R: each line is processed like a command line; a failed change prints its error and the
 * restore goes on; a usage error ends it (ipvsadm exits); rc is the LAST line's result.
 */
import { DAEMON_NOT_SUPPORTED, ipvsStrerror, RC_LIST_FAILED, RC_OP_FAILED, WvsUsageError, type Errno, type IpvsFunc } from './errors.ts';
import { formatConnHeader, formatConnLines, formatConnList, formatDaemon, formatLaddrs, formatList, formatListPieces, formatSavePieces, formatTimeouts, usageText, versionText } from './format.ts';
import { MAX_RULE_LINE, parseArgs, parseRestoreLine, splitRulesFile, type DaemonSpec, type DestSpec, type Op, type ParseOptions, type SvcKey, type SvcSpec } from './parse.ts';
import type { NameResolver } from './services.ts';
import type { ConnView, DaemonView, ServiceView, Timeouts } from '../types.ts';

export type MaybeAsync<T> = T | Promise<T>;

/** What `adm` needs from the engine. Changes return null on success or the errno the kernel would give. */
export interface AdmBackend {
  addService(svc: SvcKey, spec: SvcSpec): MaybeAsync<Errno | null>;
  editService(svc: SvcKey, spec: SvcSpec): MaybeAsync<Errno | null>;
  delService(svc: SvcKey): MaybeAsync<Errno | null>;
  clear(): MaybeAsync<Errno | null>;
  addDest(svc: SvcKey, dest: DestSpec): MaybeAsync<Errno | null>;
  editDest(svc: SvcKey, dest: DestSpec): MaybeAsync<Errno | null>;
  delDest(svc: SvcKey, dest: DestSpec): MaybeAsync<Errno | null>;
  /** null: all services */
  zero(svc: SvcKey | null): MaybeAsync<Errno | null>;
  /** 0 fields mean unchanged */
  setTimeouts(t: Timeouts): MaybeAsync<Errno | null>;
  services(): MaybeAsync<ServiceView[]>;
  /** null when there is no such service */
  service(svc: SvcKey): MaybeAsync<ServiceView | null>;
  timeouts(): MaybeAsync<Timeouts>;
  conns(): MaybeAsync<ConnView[]>;
  /** Conns page by page (Engine.connPage): from 1; next 0 when there are no more. With it, a streamed -L -c holds one page at a time. */
  connPage?(from: number, max: number): MaybeAsync<{ conns: ConnView[]; next: number }>;
  daemons?(): MaybeAsync<DaemonView[]>;
  /** --start-daemon / --stop-daemon (absent: refused, no sync daemon here) */
  startDaemon?: (d: DaemonSpec) => MaybeAsync<Errno | null>;
  stopDaemon?: (state: 'master' | 'backup') => MaybeAsync<Errno | null>;
  /** What to print after ipvsadm's message for the last failed change (a table at its limit), if anything */
  detail?(): string | undefined;
  /** IPVS version text and conn hash size for the listing header */
  info(): MaybeAsync<{ version: string; size: number }>;
  /** DPVS -P/-Q: FULLNAT local addresses (absent: refused as EOPNOTSUPP) */
  addLaddr?(svc: SvcKey, laddr: { af: 4 | 6; addr: string }): MaybeAsync<Errno | null>;
  delLaddr?(svc: SvcKey, laddr: { af: 4 | 6; addr: string }): MaybeAsync<Errno | null>;
  /** DPVS -G: local addresses of one service (null) or of all */
  laddrs?(svc: SvcKey | null): MaybeAsync<{ svc: ServiceView; laddrs: { addr: string; conns: number; conflicts: bigint }[] }[] | Errno>;
}

export interface AdmOptions extends ParseOptions {
  /** -R input (ipvsadm reads stdin) */
  stdin?: string;
  /** names for -L/-S/-c without -n; default numeric */
  resolver?: NameResolver;
  /**
   * -R: awaited after every `yieldEvery` lines (default 512), so a big restore lets the packet
   * path run between chunks (the control server passes a setImmediate promise)
   */
  yield?: () => Promise<void>;
  yieldEvery?: number;
  /**
   * Stream stdout: text goes here as it is produced (the result's stdout is then empty) and a
   * conn listing is sent one page of CONN_PAGE conns at a time, each awaited: the control server
   * writes it to the socket, waits for the client to take it and lets a batch run in between.
   */
  write?: (text: string) => Promise<void>;
}

/** Conns per page of a streamed `-L -c` (a few ms of formatting: forwarding waits at most that long). */
export const CONN_PAGE = 512;

export interface AdmResult { stdout: string; stderr: string; rc: number }

/** ipvsadm exit(): ends the whole run, also from inside -R */
class Exit { constructor(readonly rc: number) {} }

/** Run one ipvsadm command line (argv without the program name). */
export async function runAdm(argv: readonly string[], be: AdmBackend, opts: AdmOptions = {}): Promise<AdmResult> {
  const out = { stdout: '', stderr: '' };
  const prog = opts.prog ?? 'ipvsadm';

  const change = async (func: IpvsFunc, p: MaybeAsync<Errno | null>): Promise<number> => {
    const err = await p;
    if (err === null) return 0;
    out.stderr += ipvsStrerror(func, err) + '\n';
    const d = be.detail?.();
    if (d) out.stderr += d + '\n';
    return -1;
  };

  // a listing inside -R is not streamed: a restore stays one piece between two batches
  let write = opts.write;
  /** Listing text piece by piece: each piece goes to `write` when streaming (a batch may run between two). */
  const emit = async (pieces: Iterable<string>): Promise<void> => {
    for (const p of pieces) {
      if (!write) { out.stdout += p; continue; }
      await write(out.stdout + p);
      out.stdout = '';
    }
  };

  const exec = async (op: Op): Promise<number> => {
    switch (op.cmd) {
      case 'help': out.stdout += usageText(prog); throw new Exit(0);
      case 'version': out.stdout += versionText((await be.info()).version); throw new Exit(0);
      case 'list': {
        const f = op.format;
        if (op.what === 'conns') {
          const cf = { numeric: f.numeric, persistentConn: f.persistentConn, resolver: opts.resolver };
          if (write && be.connPage) {
            await write(out.stdout + formatConnHeader(cf));
            out.stdout = '';
            for (let from = 1; from !== 0;) {
              const page = await be.connPage(from, CONN_PAGE);
              if (page.conns.length) await write(formatConnLines(page.conns, cf));
              from = page.next;
            }
          } else out.stdout += formatConnList(await be.conns(), cf);
        } else if (op.what === 'service') {
          const svc = await be.service(op.svc!);
          if (!svc) { out.stderr += ipvsStrerror('get_service', 'ESRCH') + '\n'; throw new Exit(RC_LIST_FAILED); }
          out.stdout += formatList([svc], { ...f, resolver: opts.resolver, header: false });
        } else if (op.what === 'timeout') {
          out.stdout += formatTimeouts(await be.timeouts());
        } else if (op.what === 'daemon') {
          out.stdout += formatDaemon(be.daemons ? await be.daemons() : []);
        } else {
          const info = await be.info();
          await emit(formatListPieces(await be.services(), { ...f, resolver: opts.resolver, version: info.version, size: info.size }));
        }
        return 0;
      }
      case 'save': await emit(formatSavePieces(await be.services(), op.numeric, opts.resolver)); return 0;
      case 'restore': {
        let result = 0;
        let n = 0;
        const every = opts.yieldEvery ?? 512;
        const input = opts.stdin ?? '';
        // bounded before anything is applied: one short error, never the line echoed back
        const long = input.split('\n').findIndex((l) => l.length > MAX_RULE_LINE);
        if (long >= 0) {
          out.stderr += `${prog}: -R: line ${long + 1} is longer than ${MAX_RULE_LINE} characters (the longest line wasmvs takes); nothing restored\n`;
          throw new Exit(RC_OP_FAILED);
        }
        write = undefined;
        for (const { argv: line } of splitRulesFile(input)) {
          result = await processOptions(line, true);
          if (opts.yield && ++n % every === 0) await opts.yield();
        }
        write = opts.write;
        return result;
      }
      case 'clear': return change('flush', be.clear());
      case 'addService': return change('add_service', be.addService(op.svc, spec(op)));
      case 'editService': return change('update_service', be.editService(op.svc, spec(op)));
      case 'delService': return change('del_service', be.delService(op.svc));
      case 'zero': return change('zero_service', be.zero(op.svc));
      case 'addDest': return change('add_dest', be.addDest(op.svc, op.dest));
      case 'editDest': return change('update_dest', be.editDest(op.svc, op.dest));
      case 'delDest': return change('del_dest', be.delDest(op.svc, op.dest));
      case 'setTimeouts': return change('set_timeout', be.setTimeouts(op.timeouts));
      case 'startDaemon':
        if (!be.startDaemon) { out.stderr += DAEMON_NOT_SUPPORTED + '\n'; return -1; }
        return change('start_daemon', be.startDaemon(op.daemon));
      case 'stopDaemon':
        if (!be.stopDaemon) { out.stderr += DAEMON_NOT_SUPPORTED + '\n'; return -1; }
        return change('stop_daemon', be.stopDaemon(op.daemon.state));
      case 'addLaddr': return change('add_laddr', be.addLaddr ? be.addLaddr(op.svc, op.laddr) : 'EOPNOTSUPP');
      case 'delLaddr': return change('del_laddr', be.delLaddr ? be.delLaddr(op.svc, op.laddr) : 'EOPNOTSUPP');
      case 'getLaddr': {
        const r = be.laddrs ? await be.laddrs(op.svc) : 'EOPNOTSUPP';
        if (typeof r === 'string') { out.stderr += ipvsStrerror('get_laddr', r) + '\n'; throw new Exit(1); }
        out.stdout += formatLaddrs(r);
        return 0;
      }
    }
  };

  const processOptions = async (args: readonly string[], readingStdin: boolean): Promise<number> => {
    let op: Op;
    try {
      op = readingStdin ? parseRestoreLine(args, opts) : parseArgs(args, opts);
    } catch (e) {
      if (!(e instanceof WvsUsageError)) throw e;
      out.stderr += e.message + '\n';
      if (e.fatal) throw new Exit(e.rc);
      return -1;
    }
    return exec(op);
  };

  let rc: number;
  try {
    rc = (await processOptions(argv, false)) & 255;
  } catch (e) {
    if (!(e instanceof Exit)) throw e;
    rc = e.rc & 255;
  }
  if (opts.write && out.stdout) { await opts.write(out.stdout); out.stdout = ''; }
  return { ...out, rc };
}

const spec = (op: SvcSpec): SvcSpec => ({ sched: op.sched, flags: op.flags, timeout: op.timeout, netmask: op.netmask, pe: op.pe });
