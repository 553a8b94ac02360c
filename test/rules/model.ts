/*
 * A plain in-memory IPVS control plane for the rules tests: the kernel's behaviour as the
 * oracle showed it (errno per failure, dests kept newest first, services in add order).
 * It stands in for the engine so runAdm() can replay ipvsadm scripts.
 */
import type { AdmBackend } from '../../host/rules/adm.ts';
import type { Errno } from '../../host/rules/errors.ts';
import type { DestSpec, SvcKey, SvcSpec } from '../../host/rules/parse.ts';
import { ZERO_RATES, ZERO_STATS, type ConnView, type ServiceView, type Timeouts } from '../../host/types.ts';

const SCHEDULERS = new Set(['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos']);
const PES = new Set(['', 'sip']);

const svcId = (k: SvcKey): string => (k.fwmark ? `fwm/${k.af}/${k.fwmark}` : `${k.proto}/${k.af}/${k.addr}/${k.port}`);

export class ModelIpvs implements AdmBackend {
  svcs: ServiceView[] = [];
  t: Timeouts = { tcp: 900, tcpfin: 120, udp: 300 };
  connList: ConnView[] = [];

  private find(k: SvcKey): ServiceView | undefined {
    const id = svcId(k);
    return this.svcs.find((s) => svcId({ af: s.af, proto: s.proto, addr: s.addr, port: s.port, fwmark: s.fwmark }) === id);
  }

  addService(k: SvcKey, sp: SvcSpec): Errno | null {
    if (this.find(k)) return 'EEXIST';
    if (!SCHEDULERS.has(sp.sched) || !PES.has(sp.pe)) return 'ENOENT';
    this.svcs.push({
      af: k.af, proto: k.fwmark ? null : k.proto, addr: k.addr, port: k.port, fwmark: k.fwmark, sched: sp.sched,
      flags: sp.flags | 0x2 /* HASHED */, timeout: sp.timeout, netmask: sp.netmask, pe: sp.pe,
      stats: { ...ZERO_STATS }, rates: { ...ZERO_RATES }, dests: [],
    });
    return null;
  }

  editService(k: SvcKey, sp: SvcSpec): Errno | null {
    const s = this.find(k);
    if (!s) return 'ESRCH';
    if (!SCHEDULERS.has(sp.sched) || !PES.has(sp.pe)) return 'ENOENT';
    Object.assign(s, { sched: sp.sched, flags: sp.flags | 0x2, timeout: sp.timeout, netmask: sp.netmask, pe: sp.pe });
    return null;
  }

  delService(k: SvcKey): Errno | null {
    const s = this.find(k);
    if (!s) return 'ESRCH';
    this.svcs.splice(this.svcs.indexOf(s), 1);
    return null;
  }

  clear(): Errno | null { this.svcs = []; return null; }

  private destIdx(s: ServiceView, d: DestSpec): number {
    return s.dests.findIndex((x) => x.af === d.af && x.addr === d.addr && x.port === d.port);
  }

  addDest(k: SvcKey, d: DestSpec): Errno | null {
    const s = this.find(k);
    if (!s) return 'ESRCH';
    if (d.weight < 0 || d.lthresh > d.uthresh) return 'ERANGE';
    if (this.destIdx(s, d) >= 0) return 'EEXIST';
    s.dests.unshift({ // the kernel links new dests at the head
      af: d.af, addr: d.addr, port: d.port, fwd: d.fwd, weight: d.weight, uthresh: d.uthresh, lthresh: d.lthresh,
      activeconns: 0, inactconns: 0, persistconns: 0, tunType: d.tunType, tunPort: d.tunPort, tunFlags: d.tunFlags,
      stats: { ...ZERO_STATS }, rates: { ...ZERO_RATES },
    });
    return null;
  }

  editDest(k: SvcKey, d: DestSpec): Errno | null {
    const s = this.find(k);
    if (!s) return 'ESRCH';
    if (d.weight < 0 || d.lthresh > d.uthresh) return 'ERANGE';
    const i = this.destIdx(s, d);
    if (i < 0) return 'ENOENT';
    Object.assign(s.dests[i], { fwd: d.fwd, weight: d.weight, uthresh: d.uthresh, lthresh: d.lthresh, tunType: d.tunType, tunPort: d.tunPort, tunFlags: d.tunFlags });
    return null;
  }

  delDest(k: SvcKey, d: DestSpec): Errno | null {
    const s = this.find(k);
    if (!s) return 'ESRCH';
    const i = this.destIdx(s, d);
    if (i < 0) return 'ENOENT';
    s.dests.splice(i, 1);
    return null;
  }

  zero(k: SvcKey | null): Errno | null {
    const list = k ? [this.find(k)] : this.svcs;
    if (list[0] === undefined && k) return 'ESRCH';
    for (const s of list) {
      s!.stats = { ...ZERO_STATS };
      for (const d of s!.dests) d.stats = { ...ZERO_STATS };
    }
    return null;
  }

  setTimeouts(t: Timeouts): Errno | null {
    if (t.tcp) this.t.tcp = t.tcp;
    if (t.tcpfin) this.t.tcpfin = t.tcpfin;
    if (t.udp) this.t.udp = t.udp;
    return null;
  }

  services(): ServiceView[] { return this.svcs; }
  service(k: SvcKey): ServiceView | null { return this.find(k) ?? null; }
  timeouts(): Timeouts { return { ...this.t }; }
  conns(): ConnView[] { return this.connList; }
  info(): { version: string; size: number } { return { version: '1.2.1', size: 4096 }; }
}
