/*
 * fwmark services (-f MARK). The engine has no netfilter: a MARK hook at PRE_ROUTING sets the
 * packet's mark (like `iptables -t mangle -A PREROUTING -d P -p tcp --dport A:B -j MARK
 * --set-mark M`), the route step treats a packet whose mark has a service as local, and the
 * in-hook finds fwmark services first (ip_vs_service_find), then <proto, addr, port>.
 */
import { describe, test, expect } from 'vitest';
import { engine } from '../../helpers/engine.ts';
import { ip, fields } from '../../helpers/pkt.ts';

const syn = (src: string, sport: number, dst: string, dport: number) => ip(src, dst, { proto: 'tcp', sport, dport, flags: 'S' });

async function marked(opts: { persistent?: number } = {}) {
  const e = await engine();
  e.addHook({ point: 'PRE_ROUTING', priority: -150, fn: 'MARK', prefix: '198.18.3.0/24', proto: 'TCP', dport: [80, 90], mark: 7 });
  e.addService({ fwmark: 7, sched: 'rr', persistent: opts.persistent });
  e.addDest({ fwmark: 7 }, { addr: '198.18.1.1', port: 0, fwd: 'Masq' });
  e.addDest({ fwmark: 7 }, { addr: '198.18.1.2', port: 0, fwd: 'Masq' });
  return e;
}

describe('fwmark services', () => {
  test('a marked packet is scheduled by the fwmark service; its port is kept', async () => {
    const e = await marked();
    const r = e.processFrame(syn('198.19.0.1', 1000, '198.18.3.5', 85), 0);
    expect(r.verdict).toBe('XMIT');
    const f = fields(r.data);
    expect(f.dst).toBe('198.18.1.2');
    expect(f.dport).toBe(85);
    expect(e.conns()[0]).toMatchObject({ vaddr: '198.18.3.5', vport: 85, daddr: '198.18.1.2', dport: 85 });
    // the reply is un-NATed back to the address the client used
    const back = e.processFrame(ip('198.18.1.2', '198.19.0.1', { proto: 'tcp', sport: 85, dport: 1000, flags: 'SA' }), 1);
    expect(back.verdict).toBe('XMIT');
    expect(fields(back.data)).toMatchObject({ src: '198.18.3.5', sport: 85 });
    expect(e.hooks().find((h) => h.fn === 'MARK')!.packets).toBe(2n);
  });

  test('unmatched packets get no mark: not local, not scheduled', async () => {
    const e = await marked();
    expect(e.processFrame(syn('198.19.0.1', 1000, '198.18.3.5', 91), 0).verdict).toBe('PASS');
    expect(e.processFrame(syn('198.19.0.1', 1000, '198.18.4.5', 85), 0).verdict).toBe('PASS');
    expect(e.processFrame(ip('198.19.0.1', '198.18.3.5', { proto: 'udp', sport: 1, dport: 85 }), 0).verdict).toBe('PASS');
    expect(e.conns()).toEqual([]);
  });

  test('fwmark services are looked up before <proto, addr, port>', async () => {
    const e = await marked();
    const k = { proto: 'TCP', addr: '198.18.3.5', port: 85 } as const;
    e.addService({ ...k, sched: 'rr' });
    e.addDest(k, { addr: '198.18.1.9', port: 8080, fwd: 'Masq' });
    expect(fields(e.processFrame(syn('198.19.0.1', 1000, '198.18.3.5', 85), 0).data).dst).toBe('198.18.1.2');
    // a port outside the MARK rule: the address service takes it
    e.addService({ proto: 'TCP', addr: '198.18.3.5', port: 95, sched: 'rr' });
    e.addDest({ proto: 'TCP', addr: '198.18.3.5', port: 95 }, { addr: '198.18.1.9', port: 8080, fwd: 'Masq' });
    expect(fields(e.processFrame(syn('198.19.0.1', 1001, '198.18.3.5', 95), 0).data).dst).toBe('198.18.1.9');
  });

  test('persistent fwmark service: one IP template per client across ports and addresses', async () => {
    const e = await marked({ persistent: 100 });
    const a = fields(e.processFrame(syn('198.19.0.1', 1000, '198.18.3.5', 80), 0).data).dst;
    const b = fields(e.processFrame(syn('198.19.0.1', 1001, '198.18.3.6', 90), 1).data).dst;
    const c = fields(e.processFrame(syn('198.19.0.2', 1000, '198.18.3.5', 80), 2).data).dst;
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    const t = e.conns().filter((x) => x.proto === 'IP');
    expect(t.map((x) => [x.state, x.caddr, x.cport, x.vaddr, x.vport, x.dport])).toEqual(expect.arrayContaining([
      ['NONE', '198.19.0.1', 0, '0.0.0.7', 0, 0], ['NONE', '198.19.0.2', 0, '0.0.0.7', 0, 0],
    ]));
    expect(t).toHaveLength(2);
    expect(e.services()[0].dests.map((d) => d.persistconns)).toEqual([1, 1]);
  });

  test('IPv6 fwmark service, source-prefix MARK rule', async () => {
    const e = await engine();
    e.addHook({ point: 'PRE_ROUTING', priority: 0, fn: 'MARK', prefix: '2001:2:0:2::/64', matchSource: true, mark: 0x10 });
    e.addService({ fwmark: 0x10, af: 6, sched: 'rr' });
    e.addDest({ fwmark: 0x10, af: 6 }, { addr: '2001:2:0:1::1', port: 0, fwd: 'Masq' });
    const r = e.processFrame(syn('2001:2:0:2::9', 1000, '2001:2::777', 443), 0);
    expect(r.verdict).toBe('XMIT');
    expect(fields(r.data)).toMatchObject({ dst: '2001:2:0:1::1', dport: 443 });
    expect(e.processFrame(syn('2001:2:0:3::9', 1000, '2001:2::777', 443), 0).verdict).toBe('PASS');
  });

  test('bad MARK hooks are refused', async () => {
    const e = await engine();
    expect(() => e.addHook({ point: 'PRE_ROUTING', priority: 0, fn: 'MARK', mark: 0 })).toThrow();
    expect(() => e.addHook({ point: 'PRE_ROUTING', priority: 0, fn: 'MARK', mark: 1, dport: [90, 80] })).toThrow();
    expect(e.hooks().filter((h) => h.fn === 'MARK')).toEqual([]);
  });
});
