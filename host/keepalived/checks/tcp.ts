/*
 * host/keepalived/checks/tcp.ts - TCP_CHECK (keepalived check_tcp.c): the real server is up when a
 * TCP connection to it completes within connect_timeout; it is closed at once.
 */
import { connect } from 'node:net';
import { target, withTimeout, type CheckFn } from './types.ts';

export const tcpCheck: CheckFn = (c, rs) => {
  const { host, port } = target(c, rs);
  return withTimeout(c.connectTimeout, (done) => {
    const s = connect({ host, port, ...(c.bindto ? { localAddress: c.bindto } : {}) });
    s.once('connect', () => done({ ok: true, detail: `connected to ${host}:${port}` }));
    s.once('error', (e: NodeJS.ErrnoException) => done({ ok: false, detail: `${host}:${port}: ${e.code ?? e.message}` }));
    return () => s.destroy();
  });
};
