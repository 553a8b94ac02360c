/*
 * host/keepalived/checks/dns.ts - DNS_CHECK (keepalived check_dns.c): one query (type, name;
 * default SOA for ".") over UDP with recursion desired; up when an answer with the query's ID,
 * QR set and rcode 0 arrives within connect_timeout.
 */
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { randomInt } from 'node:crypto';
import { target, type CheckFn, type CheckResult } from './types.ts';

export const DNS_TYPE: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28 };

/** The query packet (RFC 1035 4.1): header, one question, class IN. */
export function dnsQuery(id: number, name: string, type: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  const q = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0); h.writeUInt16BE(0x0100, 2); h.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(DNS_TYPE[type], 0); tail.writeUInt16BE(1, 2);
  return Buffer.concat([h, q, tail]);
}

export const dnsCheck: CheckFn = (c, rs) => {
  const { host, port } = target(c, rs);
  const id = randomInt(0, 65536);
  return new Promise<CheckResult>((resolve) => {
    const s = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    let settled = false;
    const done = (r: CheckResult) => { if (settled) return; settled = true; clearTimeout(t); s.close(); resolve(r); };
    const t = setTimeout(() => done({ ok: false, detail: `no DNS answer from ${host}:${port} in ${c.connectTimeout} ms` }), c.connectTimeout);
    s.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, detail: `${host}:${port}: ${e.code ?? e.message}` }));
    s.on('message', (m: Buffer) => {
      // a short message, another ID or a query: keep waiting (check_dns.c dns_recv_thread)
      if (m.length < 12 || m.readUInt16BE(0) !== id || !(m.readUInt16BE(2) & 0x8000)) return;
      const rcode = m.readUInt16BE(2) & 0xf;
      done(rcode ? { ok: false, detail: `rcode ${rcode}` } : { ok: true, detail: `answer (${m.readUInt16BE(6)} records)` });
    });
    s.bind({ address: c.bindto, port: 0 }, () => s.connect(port, host, () => s.send(dnsQuery(id, c.dnsName, c.dnsType))));
  });
};
