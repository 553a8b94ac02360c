/*
 * The edge embedding example runs with nothing but the module and the rules: no file system,
 * no network (fetch is removed from globalThis while it runs), just import and call.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { engineModule } from '../../host/engine-node.ts';
import { createBalancer } from '../../host/web/edge-example.ts';
import { ip, fields } from '../helpers/pkt.ts';

const RULES = '-A -t 198.18.0.100:80 -s rr\n-a -t 198.18.0.100:80 -r 198.18.1.1:8080 -m\n-a -t 198.18.0.100:80 -r 198.18.1.2:8080 -m\n';

describe('edge embedding example', () => {
  const saved = globalThis.fetch;
  beforeAll(() => { (globalThis as any).fetch = undefined; });
  afterAll(() => { globalThis.fetch = saved; });

  test('decide(): schedules, sticks to the server, NATs the reply', async () => {
    const lb = await createBalancer(engineModule(), RULES);
    const syn = lb.decide(ip('198.18.0.2', '198.18.0.100', { proto: 'tcp', sport: 40000, dport: 80, flags: 'S' }), 1000);
    expect(syn).toMatchObject({ verdict: 'XMIT', reason: '', state: 'SYN_RECV' });
    expect(['198.18.1.1:8080', '198.18.1.2:8080']).toContain(syn.rs);
    expect(fields(syn.packet)).toMatchObject({ dst: syn.rs.split(':')[0], dport: 8080 });
    const ack = lb.decide(ip('198.18.0.2', '198.18.0.100', { proto: 'tcp', sport: 40000, dport: 80, flags: 'A' }), 1002);
    expect(ack).toMatchObject({ verdict: 'XMIT', rs: syn.rs, state: 'ESTABLISHED' });
    const reply = lb.decide(ip(syn.rs.split(':')[0], '198.18.0.2', { proto: 'tcp', sport: 8080, dport: 40000, flags: 'A' }), 1003);
    expect(fields(reply.packet)).toMatchObject({ src: '198.18.0.100', sport: 80 });
    const other = lb.decide(ip('198.18.0.3', '198.18.0.100', { proto: 'tcp', sport: 40001, dport: 80, flags: 'S' }), 1004);
    expect(other.rs).not.toBe(syn.rs); // rr: the next server
    const bad = lb.decide(new Uint8Array([0x45, 0, 0]), 1005);
    expect(bad.verdict).toBe('DROP');
    expect(bad.reason).toMatch(/^drop_/);
  });

  test('fetch(): a Request-like body in, a JSON decision out', async () => {
    expect(globalThis.fetch).toBeUndefined();
    const lb = await createBalancer(engineModule(), RULES);
    const pkt = ip('198.18.0.2', '198.18.0.100', { proto: 'tcp', sport: 40000, dport: 80, flags: 'S' });
    const res = await lb.fetch({ arrayBuffer: async () => pkt.slice().buffer });
    const d = await res.json();
    expect(d).toMatchObject({ verdict: 'XMIT', state: 'SYN_RECV' });
    expect(d.packet).toMatch(/^45/);
  });
});
