/* test/helpers/engine.ts - a fresh engine per test, with the usual NAT service set up. */
import { loadEngine } from '../../host/engine-node.ts';
import type { Engine, EngineConfig } from '../../host/engine.ts';

export async function engine(cfg: EngineConfig = {}): Promise<Engine> {
  return loadEngine({ connMax: 4096, slots: 64, ...cfg }, process.env.WVS_ENGINE === 'debug' ? 'debug' : 'release');
}

export const VIP = '198.18.0.100';
export const CLIENT = '198.18.0.2';
export const RS = ['198.18.1.1', '198.18.1.2', '198.18.1.3'];
export const VIP6 = '2001:2::100';
export const CLIENT6 = '2001:2::2';
export const RS6 = ['2001:2:0:1::1', '2001:2:0:1::2', '2001:2:0:1::3'];

/** One NAT service with dests added in the given order. */
export async function natEngine(opts: { proto?: 'TCP' | 'UDP'; sched?: string; dests?: { addr: string; port?: number; weight?: number }[]; vip?: string; port?: number; cfg?: EngineConfig } = {}) {
  const e = await engine(opts.cfg);
  const key = { proto: opts.proto ?? 'TCP', addr: opts.vip ?? VIP, port: opts.port ?? 80 } as const;
  e.addService({ ...key, sched: opts.sched ?? 'rr' });
  for (const d of opts.dests ?? [{ addr: RS[0], port: 8080 }]) e.addDest(key, { fwd: 'Masq', port: 8080, ...d });
  return { e, key };
}
