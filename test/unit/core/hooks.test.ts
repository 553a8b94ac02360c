/*
 * The hook pipeline follows netfilter's rules: entries run by priority; ACCEPT goes on, DROP
 * and STOLEN end the traversal, STOP accepts and skips the rest of that hook point, REPEAT calls
 * the same entry again. IPVS sits where the kernel registers it (ip_vs_ops4): in at LOCAL_IN 99,
 * out at FORWARD 100, forward-ICMP at FORWARD 99, and stops POST_ROUTING for what it sent.
 */
import { describe, test, expect } from 'vitest';
import { natEngine, VIP, CLIENT, RS } from '../../helpers/engine.ts';
import { ip, fields } from '../../helpers/pkt.ts';

const syn = (sport = 1000) => ip(CLIENT, VIP, { proto: 'tcp', sport, dport: 80, flags: 'S' });
const reply = (sport = 1000) => ip(RS[0], CLIENT, { proto: 'tcp', sport: 8080, dport: sport, flags: 'SA' });

describe('hook table', () => {
  test('IPVS is registered where the kernel puts it', async () => {
    const { e } = await natEngine();
    expect(e.hooks().map((h) => `${h.point} ${h.priority} ${h.fn}`)).toEqual([
      'LOCAL_IN 99 IPVS_IN', 'LOCAL_IN 300 ICMP_ECHO', 'LOCAL_IN 300 LOCAL_STACK', 'FORWARD 99 IPVS_FWD_ICMP', 'FORWARD 100 IPVS_OUT', 'POST_ROUTING 99 IPVS_POST',
    ]);
  });
  test('entries sort by priority; equal priorities keep insertion order; delete by id', async () => {
    const { e } = await natEngine();
    const a = e.addHook({ point: 'LOCAL_IN', priority: 99, fn: 'COUNT' });
    const b = e.addHook({ point: 'LOCAL_IN', priority: -5, fn: 'COUNT' });
    const li = e.hooks().filter((h) => h.point === 'LOCAL_IN').map((h) => h.id);
    expect(li.indexOf(b)).toBe(0);
    expect(li.indexOf(a)).toBe(2);                  // after IPVS_IN, which was there first
    e.delHook(a);
    expect(e.hooks().some((h) => h.id === a)).toBe(false);
    expect(() => e.delHook(a)).toThrow(/del_hook/);
  });
});

describe('the IPVS entries called directly (no user hook before them)', () => {
  test('each counts every packet it sees; the entries after it only what it passes on', async () => {
    const { e } = await natEngine();
    const ack = ip(CLIENT, VIP, { proto: 'tcp', sport: 1000, dport: 80, flags: 'A' });
    expect(e.processFrame(syn(), 1).verdict).toBe('XMIT');
    expect(e.processFrame(ack, 2).verdict).toBe('XMIT');
    expect(e.processFrame(ack, 3).verdict).toBe('XMIT');
    expect(e.processFrame(ip(CLIENT, VIP, { proto: 'icmp', type: 8 }), 4).verdict).toBe('LOCAL');   // IPVS accepts, the echo hook answers
    const n = Object.fromEntries(e.hooks().map((h) => [`${h.point} ${h.fn}`, h.packets]));
    expect(n).toEqual({
      'LOCAL_IN IPVS_IN': 4n, 'LOCAL_IN ICMP_ECHO': 1n, 'LOCAL_IN LOCAL_STACK': 0n,
      'FORWARD IPVS_FWD_ICMP': 0n, 'FORWARD IPVS_OUT': 0n, 'POST_ROUTING IPVS_POST': 4n,
    });
  });
  test('a user hook first at LOCAL_IN: the walk, IPVS still called in its turn', async () => {
    const { e } = await natEngine();
    const first = e.addHook({ point: 'LOCAL_IN', priority: 10, fn: 'COUNT' });
    const last = e.addHook({ point: 'LOCAL_IN', priority: 400, fn: 'COUNT' });
    expect(e.processFrame(syn(), 1).verdict).toBe('XMIT');
    expect(e.processFrame(ip(CLIENT, VIP, { proto: 'tcp', sport: 1000, dport: 80, flags: 'A' }), 2).verdict).toBe('XMIT');
    const n = (id: number) => e.hooks().find((h) => h.id === id)!.packets;
    expect([n(first), n(last)]).toEqual([2n, 0n]);
    expect(e.hooks().find((h) => h.fn === 'IPVS_IN')!.packets).toBe(2n);
    expect(e.conns()).toHaveLength(1);
  });
});

describe('a user ACL before and after the balancer', () => {
  test('before IPVS (LOCAL_IN 50): a dropped client never gets a conn', async () => {
    const { e } = await natEngine();
    e.addHook({ point: 'LOCAL_IN', priority: 50, fn: 'MATCH_SRC', verdict: 'DROP', prefix: `${CLIENT}/32` });
    expect(e.processFrame(syn(), 1)).toMatchObject({ verdict: 'DROP', reason: 'drop_by_hook' });
    expect(e.conns()).toHaveLength(0);
    expect(e.counters().drop_by_hook).toBe(1n);
    // another client is not matched
    expect(e.processFrame(ip('198.19.1.1', VIP, { proto: 'tcp', sport: 1, dport: 80, flags: 'S' }), 2).verdict).toBe('XMIT');
  });
  test('after IPVS (LOCAL_IN 200): the balancer stole the packet first; the hook never sees it', async () => {
    const { e } = await natEngine();
    const id = e.addHook({ point: 'LOCAL_IN', priority: 200, fn: 'MATCH_SRC', verdict: 'DROP', prefix: `${CLIENT}/32` });
    expect(e.processFrame(syn(), 1).verdict).toBe('XMIT');
    expect(e.hooks().find((h) => h.id === id)!.packets).toBe(0n);
    // but it sees what IPVS passes on (a port with no service)
    expect(e.processFrame(ip(CLIENT, VIP, { proto: 'tcp', sport: 1, dport: 81, flags: 'S' }), 2).verdict).toBe('DROP');
  });
  test('out path: before IPVS_OUT (FORWARD 50) the hook sees the real server; after (150) the VIP', async () => {
    const { e } = await natEngine();
    e.processFrame(syn(), 1);
    const before = e.addHook({ point: 'FORWARD', priority: 50, fn: 'MATCH_SRC', verdict: 'ACCEPT', prefix: `${RS[0]}/32` });
    const after = e.addHook({ point: 'FORWARD', priority: 150, fn: 'MATCH_SRC', verdict: 'DROP', prefix: `${VIP}/32` });
    const r = e.processFrame(reply(), 2);
    expect(r).toMatchObject({ verdict: 'DROP', reason: 'drop_by_hook' });     // SNATed to the VIP, then dropped
    expect(e.hooks().find((h) => h.id === before)!.packets).toBe(1n);
    e.delHook(after);
    expect(fields(e.processFrame(reply(), 3).data).src).toBe(VIP);
  });
});

describe('verdicts', () => {
  test('STOP at PRE_ROUTING skips later PRE_ROUTING hooks, and the packet goes on', async () => {
    const { e } = await natEngine();
    const stop = e.addHook({ point: 'PRE_ROUTING', priority: 0, fn: 'VERDICT', verdict: 'STOP' });
    const later = e.addHook({ point: 'PRE_ROUTING', priority: 10, fn: 'COUNT' });
    const earlier = e.addHook({ point: 'PRE_ROUTING', priority: -10, fn: 'COUNT' });
    expect(e.processFrame(syn(), 1).verdict).toBe('XMIT');
    const n = (id: number) => e.hooks().find((h) => h.id === id)!.packets;
    expect([n(earlier), n(stop), n(later)]).toEqual([1n, 1n, 0n]);
  });
  test('POST_ROUTING: hooks before IPVS_POST see its output, hooks after it do not (STOP)', async () => {
    const { e } = await natEngine();
    const before = e.addHook({ point: 'POST_ROUTING', priority: 50, fn: 'COUNT' });
    const after = e.addHook({ point: 'POST_ROUTING', priority: 200, fn: 'COUNT' });
    e.processFrame(syn(), 1);
    e.processFrame(reply(), 2);
    const n = (id: number) => e.hooks().find((h) => h.id === id)!.packets;
    expect([n(before), n(after)]).toEqual([2n, 0n]);
    // an echo reply is not IPVS's: it goes through every POST_ROUTING hook
    e.processFrame(ip(CLIENT, VIP, { proto: 'icmp', type: 8 }), 3);
    expect([n(before), n(after)]).toEqual([3n, 1n]);
  });
  test('DROP at POST_ROUTING before IPVS_POST drops the balanced packet', async () => {
    const { e } = await natEngine();
    e.addHook({ point: 'POST_ROUTING', priority: 10, fn: 'MATCH_DST', verdict: 'DROP', prefix: `${RS[0]}/32` });
    expect(e.processFrame(syn(), 1)).toMatchObject({ verdict: 'DROP', reason: 'drop_by_hook' });
  });
  test('STOLEN ends the traversal: the engine keeps the frame', async () => {
    const { e } = await natEngine();
    e.addHook({ point: 'PRE_ROUTING', priority: 0, fn: 'VERDICT', verdict: 'STOLEN' });
    expect(e.processFrame(syn(), 1).verdict).toBe('STOLEN');
    expect(e.conns()).toHaveLength(0);
  });
  test('REPEAT calls the same entry again (once, for this hook), then the packet goes on', async () => {
    const { e } = await natEngine();
    const id = e.addHook({ point: 'LOCAL_IN', priority: 10, fn: 'VERDICT', verdict: 'REPEAT' });
    expect(e.processFrame(syn(), 1).verdict).toBe('XMIT');
    expect(e.hooks().find((h) => h.id === id)!.packets).toBe(2n);
  });
  test('an IPv6 prefix matches IPv6 sources only', async () => {
    const { e } = await natEngine();
    e.addHook({ point: 'PRE_ROUTING', priority: 0, fn: 'MATCH_SRC', verdict: 'DROP', prefix: '2001:2::/48' });
    expect(e.processFrame(syn(), 1).verdict).toBe('XMIT');
    expect(e.processFrame(ip('2001:2::9', '2001:2::100', { proto: 'tcp', sport: 1, dport: 80, flags: 'S' }), 2).verdict).toBe('DROP');
  });
  test('bad hook specs are refused', async () => {
    const { e } = await natEngine();
    expect(() => e.addHook({ point: 'LOCAL_IN', priority: 0, fn: 'MATCH_SRC', prefix: '198.18.0.0/33' })).toThrow(/prefix/);
    for (let i = e.hooks().length; i < 32; i++) e.addHook({ point: 'LOCAL_OUT', priority: i, fn: 'COUNT' });
    expect(() => e.addHook({ point: 'LOCAL_OUT', priority: 0, fn: 'COUNT' })).toThrow(/table full/);
  });
});
