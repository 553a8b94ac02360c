/* test/control/helpers.ts - a real engine behind a real control socket in a temp directory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engine as freshEngine } from '../helpers/engine.ts';
import { startControlServer, type ControlServer, type ControlServerOptions } from '../../host/control/server.ts';
import { admMain } from '../../host/control/adm-cli.ts';
import type { Engine, EngineConfig } from '../../host/engine.ts';

export interface Director { e: Engine; srv: ControlServer; dir: string; sock: string; adm: (args: string | string[], stdin?: string) => ReturnType<typeof admMain>; stop: () => Promise<void> }

/** Start a director's control side: fresh engine (connMax 4096: "size=4096"), socket in a temp dir. */
export async function director(opts: ControlServerOptions & { cfg?: EngineConfig } = {}): Promise<Director> {
  const e = await freshEngine(opts.cfg);
  const dir = mkdtempSync(join(tmpdir(), 'wvs-ctl-'));
  const sock = opts.path ?? join(dir, 'run', 'wasmvs.sock');
  const srv = await startControlServer(e, { ...opts, path: sock });
  const adm = (args: string | string[], stdin?: string) =>
    admMain(['--socket', sock, ...(typeof args === 'string' ? (args ? args.split(' ') : []) : args)], { stdin: async () => stdin ?? '' });
  return { e, srv, dir, sock, adm, stop: async () => { await srv.close(); rmSync(dir, { recursive: true, force: true }); } };
}
