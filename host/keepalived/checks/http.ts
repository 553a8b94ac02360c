/*
 * host/keepalived/checks/http.ts - HTTP_GET and SSL_GET (keepalived check_http.c, check_ssl.c).
 *
 * Every url of the checker is fetched in turn on its own connection with keepalived's request
 * ("GET PATH HTTP/1.0", User-Agent: KeepAliveClient, Host: virtualhost or the address); the
 * real server is up only when each answers a status in the url's status_code ranges (default
 * 200-299) and, when `digest` is given, the MD5 of the body (hex) equals it. connect_timeout
 * bounds the whole exchange. SSL_GET: TLS without certificate verification, as keepalived
 * without an SSL block; SNI is the virtualhost when enable_sni is set.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createHash } from 'node:crypto';
import type { KaChecker, KaRealServer, KaUrl } from '../parse.ts';
import { target, withTimeout, type CheckFn, type CheckResult } from './types.ts';

/** Largest response read (a digest over more is refused rather than buffered without bound). */
const MAX_RESPONSE = 4 << 20;

/** The status code and body of a raw HTTP/1.x response, or why it is not one. */
export function parseResponse(raw: Buffer): { status: number; body: Buffer } | string {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return 'no end of the response headers';
  const head = raw.subarray(0, end).toString('latin1');
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(head);
  if (!m) return `not an HTTP response: "${head.split('\r\n')[0].slice(0, 60)}"`;
  let body = raw.subarray(end + 4);
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    const parts: Buffer[] = [];
    let i = 0;
    for (;;) {
      const nl = body.indexOf('\r\n', i);
      if (nl < 0) return 'truncated chunked body';
      const n = parseInt(body.subarray(i, nl).toString('latin1'), 16);
      if (!Number.isFinite(n)) return 'bad chunk size';
      if (n === 0) break;
      parts.push(body.subarray(nl + 2, nl + 2 + n));
      i = nl + 2 + n + 2;
    }
    body = Buffer.concat(parts);
  }
  return { status: Number(m[1]), body };
}

/** Does the answer satisfy the url? (the failure reason, or null) */
export function judge(u: KaUrl, r: { status: number; body: Buffer }): string | null {
  if (!u.status.some(([lo, hi]) => r.status >= lo && r.status <= hi)) return `status ${r.status} not in ${u.status.map(([a, b]) => (a === b ? a : `${a}-${b}`)).join(' ')}`;
  if (u.digest) {
    const d = createHash('md5').update(r.body).digest('hex');
    if (d !== u.digest) return `digest ${d} != ${u.digest}`;
  }
  return null;
}

function fetchUrl(c: KaChecker, rs: KaRealServer, u: KaUrl, tls: boolean): Promise<CheckResult> {
  const { host, port } = target(c, rs);
  const vhost = u.virtualhost ?? c.virtualhost;
  const hostHdr = vhost ?? (host.includes(':') ? `[${host}]` : host) + (port === (tls ? 443 : 80) ? '' : `:${port}`);
  const req = `GET ${u.path} HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: ${hostHdr}\r\n\r\n`;
  const what = `${tls ? 'https' : 'http'}://${host}:${port}${u.path}`;
  return withTimeout(c.connectTimeout, (done) => {
    const opts = { host, port, ...(c.bindto ? { localAddress: c.bindto } : {}) };
    const s: Socket = tls
      ? tlsConnect({ ...opts, rejectUnauthorized: false, ...(c.sni && vhost ? { servername: vhost } : { servername: '' }) })
      : connect(opts);
    const chunks: Buffer[] = [];
    let n = 0;
    s.once(tls ? 'secureConnect' : 'connect', () => s.write(req));
    s.on('data', (d: Buffer) => {
      n += d.length;
      if (n > MAX_RESPONSE) { done({ ok: false, detail: `${what}: response larger than ${MAX_RESPONSE} bytes` }); return; }
      chunks.push(d);
    });
    s.once('end', () => {
      const r = parseResponse(Buffer.concat(chunks));
      if (typeof r === 'string') { done({ ok: false, detail: `${what}: ${r}` }); return; }
      const why = judge(u, r);
      done(why ? { ok: false, detail: `${what}: ${why}` } : { ok: true, detail: `${what}: ${r.status}` });
    });
    s.once('error', (e: NodeJS.ErrnoException) => done({ ok: false, detail: `${what}: ${e.code ?? e.message}` }));
    return () => s.destroy();
  });
}

function httpLike(tls: boolean): CheckFn {
  return async (c, rs) => {
    let last: CheckResult = { ok: true, detail: '' };
    for (const u of c.urls) {
      last = await fetchUrl(c, rs, u, tls);
      if (!last.ok) return last;
    }
    return last;
  };
}

export const httpCheck = httpLike(false);
export const sslCheck = httpLike(true);
