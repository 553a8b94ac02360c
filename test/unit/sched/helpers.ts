/* test/unit/sched/helpers.ts - drive one NAT service SYN by SYN and read back the chosen dests. */
import { engine } from '../../helpers/engine.ts';
import { ip, fields } from '../../helpers/pkt.ts';
import type { Engine, EngineConfig } from '../../../host/engine.ts';

export const VIP = '198.18.0.100';
export const KEY = { proto: 'TCP' as const, addr: VIP, port: 80 };
export const SH_FALLBACK = 0x8, SH_PORT = 0x10, MH_FALLBACK = 0x8, MH_PORT = 0x10;

export interface D { n: number; w?: number; x?: number; y?: number }
/** Dest n is 198.18.1.n:8080. */
export const rs = (n: number) => `198.18.1.${n}`;

export class Svc {
  now = 1000;
  private k = 0;
  constructor(readonly e: Engine, readonly key = KEY) {}
  static async create(sched: string, dests: D[], flags = 0, cfg: EngineConfig = {}): Promise<Svc> {
    const e = await engine({ connMax: 1 << 14, ...cfg });
    e.addService({ ...KEY, sched, flags });
    const s = new Svc(e);
    for (const d of dests) s.add(d);
    return s;
  }
  add(d: D): void { this.e.addDest(this.key, { addr: rs(d.n), port: 8080, weight: d.w ?? 1, uthresh: d.x, lthresh: d.y, fwd: 'Masq' }); }
  edit(d: D): void { this.e.editDest(this.key, { addr: rs(d.n), port: 8080, weight: d.w ?? 1, uthresh: d.x, lthresh: d.y, fwd: 'Masq' }); }
  del(n: number): void { this.e.delDest(this.key, { addr: rs(n), port: 8080 }); }
  /** A SYN from client (addr, port): the last octet of the chosen dest, 0 for none. */
  syn(client: string, sport: number, dst = VIP): number {
    const r = this.e.processFrame(ip(client, dst, { proto: 'tcp', sport, dport: 80, flags: 'S' }), this.now);
    if (r.verdict !== 'XMIT') return 0;
    return Number(fields(r.data).dst.split('.')[3]);
  }
  /** The ACK that completes a client's handshake (SYN_RECV -> ESTABLISHED: an active conn). */
  ack(client: string, sport: number, dst = VIP): void {
    this.e.processFrame(ip(client, dst, { proto: 'tcp', sport, dport: 80, flags: 'A', seq: 2 }), this.now);
  }
  /** n new clients, each one SYN (or SYN + ACK when `active`); the chosen dests in order. */
  seq(n: number, active = false): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const k = ++this.k;
      const c = `198.19.${k >> 8 & 255}.${(k & 255) || 1}`;
      out.push(this.syn(c, 10000 + k));
      if (active) this.ack(c, 10000 + k);
    }
    return out;
  }
  /** ActiveConn/InActConn per dest octet. */
  load(): Record<number, [number, number]> {
    const o: Record<number, [number, number]> = {};
    for (const d of this.e.services().find((v) => v.port === this.key.port)!.dests) o[Number(d.addr.split('.')[3])] = [d.activeconns, d.inactconns];
    return o;
  }
}

export function counts(xs: number[]): Record<number, number> {
  const o: Record<number, number> = {};
  for (const x of xs) o[x] = (o[x] ?? 0) + 1;
  return o;
}
