/*
 * host/keepalived/checks/udp.ts - UDP_CHECK (keepalived check_udp.c): send `payload` (empty by
 * default) on a connected UDP socket; an ICMP port unreachable (ECONNREFUSED) is a failure. With
 * require_reply a reply must arrive within connect_timeout (and start with the given bytes);
 * without it, silence until the timeout is success.
 */
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { target, type CheckFn, type CheckResult } from './types.ts';

export const udpCheck: CheckFn = (c, rs) => {
  const { host, port } = target(c, rs);
  return new Promise<CheckResult>((resolve) => {
    const s = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    let settled = false;
    const done = (r: CheckResult) => { if (settled) return; settled = true; clearTimeout(t); s.close(); resolve(r); };
    const t = setTimeout(() => done(c.requireReply ? { ok: false, detail: `no reply from ${host}:${port} in ${c.connectTimeout} ms` } : { ok: true, detail: 'no ICMP error' }), c.connectTimeout);
    s.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, detail: `${host}:${port}: ${e.code ?? e.message}` }));
    s.on('message', (m: Buffer) => {
      const want = c.requireReply;
      if (Buffer.isBuffer(want) && !m.subarray(0, want.length).equals(want)) { done({ ok: false, detail: `reply ${m.subarray(0, 16).toString('hex')} does not match` }); return; }
      done({ ok: true, detail: `reply of ${m.length} bytes` });
    });
    s.bind({ address: c.bindto, port: 0 }, () => {
      s.connect(port, host, () => s.send(c.payload ?? Buffer.alloc(0)));
    });
  });
};
