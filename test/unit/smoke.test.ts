import { describe, test, expect } from 'vitest';
import { natEngine, VIP, CLIENT, RS } from '../helpers/engine.ts';
import { ip, checkPacket, fields } from '../helpers/pkt.ts';

describe('NAT smoke', () => {
  test('SYN to the VIP is DNATed to the real server', async () => {
    const { e } = await natEngine();
    const r = e.processFrame(ip(CLIENT, VIP, { proto: 'tcp', sport: 40000, dport: 80, flags: 'S' }), 1000);
    expect(r.verdict).toBe('XMIT');
    expect(checkPacket(r.data)).toEqual([]);
    const f = fields(r.data);
    expect(f).toMatchObject({ src: CLIENT, dst: RS[0], sport: 40000, dport: 8080, ttl: 63 });
    const c = e.conns();
    expect(c).toHaveLength(1);
    expect(c[0]).toMatchObject({ state: 'SYN_RECV', expiresMs: 60000 });
  });
});
