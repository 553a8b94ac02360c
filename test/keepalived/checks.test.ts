// The checkers against real servers on loopback: TCP connect, HTTP_GET / SSL_GET status codes and
// MD5 digests (keepalived's request and Host header), MISC_CHECK exit codes and its timeout,
// UDP_CHECK (ICMP unreachable, require_reply) and DNS_CHECK (ID, QR, rcode).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer as netServer, type Server as NetServer, type AddressInfo } from 'node:net';
import { createServer as httpServer, type Server as HttpServer } from 'node:http';
import { createServer as httpsServer } from 'node:https';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseKeepalived } from '../../host/keepalived/parse.ts';
import { CHECKS } from '../../host/keepalived/checks/index.ts';
import { dnsQuery } from '../../host/keepalived/checks/dns.ts';

/** Run the checker block `block` once against 127.0.0.1:port. */
function check(block: string, port: number) {
  const cfg = parseKeepalived(`virtual_server 198.18.2.1 80 {\n protocol TCP\n real_server 127.0.0.1 ${port} {\n${block}\n }\n}\n`, 'k.conf');
  const rs = cfg.virtualServers[0].realServers[0];
  const c = rs.checkers[0];
  return CHECKS[c.kind](c, rs);
}
const listen = (s: NetServer | HttpServer): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
/** A port nothing listens on. */
async function closedPort(): Promise<number> { const s = netServer(); const p = await listen(s); await new Promise((r) => s.close(r)); return p; }
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'wvs-ka-checks-')); });
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('TCP_CHECK', () => {
  test('connect succeeds → up; refused → down with the errno', async () => {
    const s = netServer((c) => c.destroy());
    const port = await listen(s);
    expect(await check('TCP_CHECK {\n}', port)).toMatchObject({ ok: true });
    s.close();
    expect(await check('TCP_CHECK {\n connect_timeout 1\n}', await closedPort())).toMatchObject({ ok: false, detail: expect.stringContaining('ECONNREFUSED') });
  });
  test('connect_port overrides the real server port', async () => {
    const s = netServer((c) => c.destroy());
    const port = await listen(s);
    expect(await check(`TCP_CHECK {\n connect_port ${port}\n}`, await closedPort())).toMatchObject({ ok: true });
    s.close();
  });
});

describe('HTTP_GET', () => {
  let srv: HttpServer, port: number;
  const seen: { url: string; host?: string; ua?: string; version: string }[] = [];
  beforeAll(async () => {
    srv = httpServer((req, res) => {
      seen.push({ url: req.url!, host: req.headers.host, ua: req.headers['user-agent'], version: req.httpVersion });
      if (req.url === '/ok') res.end('hello\n');
      else if (req.url === '/500') { res.statusCode = 500; res.end('boom'); }
      else if (req.url === '/404') { res.statusCode = 404; res.end('nope'); }
      else if (req.url === '/hang') { /* never answers */ }
      else { res.statusCode = 404; res.end(); }
    });
    port = await listen(srv);
  });
  afterAll(() => { srv.closeAllConnections(); srv.close(); });

  test('200 with the right digest → up; the request is keepalived\'s (HTTP/1.0, KeepAliveClient, Host)', async () => {
    seen.length = 0;
    expect(await check(`HTTP_GET {\n url {\n path /ok\n digest ${md5('hello\n')}\n }\n}`, port)).toMatchObject({ ok: true });
    expect(seen).toEqual([{ url: '/ok', host: `127.0.0.1:${port}`, ua: 'KeepAliveClient', version: '1.0' }]);
  });
  test('a wrong status code fails', async () => {
    expect(await check('HTTP_GET {\n url {\n path /500\n }\n}', port)).toEqual({ ok: false, detail: `http://127.0.0.1:${port}/500: status 500 not in 200-299` });
  });
  test('status_code ranges: 404 accepted when listed', async () => {
    expect(await check('HTTP_GET {\n url {\n path /404\n status_code 200-299 400-499\n }\n}', port)).toMatchObject({ ok: true });
    expect(await check('HTTP_GET {\n url {\n path /ok\n status_code 404\n }\n}', port)).toMatchObject({ ok: false, detail: expect.stringContaining('status 200 not in 404') });
  });
  test('a wrong digest fails', async () => {
    expect(await check(`HTTP_GET {\n url {\n path /ok\n digest ${md5('other')}\n }\n}`, port))
      .toEqual({ ok: false, detail: `http://127.0.0.1:${port}/ok: digest ${md5('hello\n')} != ${md5('other')}` });
  });
  test('every url must pass; virtualhost is the Host header', async () => {
    seen.length = 0;
    expect(await check('HTTP_GET {\n virtualhost www.example.org\n url {\n path /ok\n }\n url {\n path /500\n }\n}', port)).toMatchObject({ ok: false, detail: expect.stringContaining('/500') });
    expect(seen.map((s) => `${s.url} ${s.host}`)).toEqual(['/ok www.example.org', '/500 www.example.org']);
  });
  test('no answer within connect_timeout fails', async () => {
    const t = Date.now();
    expect(await check('HTTP_GET {\n connect_timeout 0.3\n url {\n path /hang\n }\n}', port)).toEqual({ ok: false, detail: 'timeout after 300 ms' });
    expect(Date.now() - t).toBeLessThan(2000);
  });
});

describe('SSL_GET', () => {
  let port: number;
  let srv: ReturnType<typeof httpsServer>;
  let sni: (string | undefined)[] = [];
  beforeAll(async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(tmp, 'key.pem'), '-out', join(tmp, 'cert.pem'),
      '-days', '1', '-subj', '/CN=wasmvs-test'], { stdio: 'ignore' });
    srv = httpsServer({ key: readFileSync(join(tmp, 'key.pem')), cert: readFileSync(join(tmp, 'cert.pem')) }, (req, res) => {
      sni.push((req.socket as any).servername || undefined);
      res.statusCode = req.url === '/ok' ? 200 : 503;
      res.end('secure\n');
    });
    port = await listen(srv as unknown as HttpServer);
  });
  afterAll(() => srv.close());
  test('TLS without certificate verification; digest and status as HTTP_GET; SNI only with enable_sni', async () => {
    sni = [];
    expect(await check(`SSL_GET {\n url {\n path /ok\n digest ${md5('secure\n')}\n }\n}`, port)).toMatchObject({ ok: true });
    expect(await check('SSL_GET {\n url {\n path /down\n }\n}', port)).toEqual({ ok: false, detail: `https://127.0.0.1:${port}/down: status 503 not in 200-299` });
    expect(await check('SSL_GET {\n virtualhost lb.example.org\n enable_sni\n url {\n path /ok\n }\n}', port)).toMatchObject({ ok: true });
    expect(sni).toEqual([undefined, undefined, 'lb.example.org']);
  });
});

describe('MISC_CHECK', () => {
  test('exit codes: 0 up, 1 down; misc_dynamic 2..255 up with the code; a hanging script is killed at misc_timeout', async () => {
    const sh = join(tmp, 'exit.sh');
    writeFileSync(sh, '#!/bin/sh\n[ "$1" = hang ] && exec sleep 30\nexit "$1"\n');
    chmodSync(sh, 0o755);
    expect(await check(`MISC_CHECK {\n misc_path "${sh} 0"\n}`, 80)).toEqual({ ok: true, detail: 'exit 0', exitCode: 0 });
    expect(await check(`MISC_CHECK {\n misc_path "${sh} 1"\n}`, 80)).toEqual({ ok: false, detail: 'exit 1', exitCode: 1 });
    expect(await check(`MISC_CHECK {\n misc_path "${sh} 7"\n}`, 80)).toEqual({ ok: false, detail: 'exit 7', exitCode: 7 });
    expect(await check(`MISC_CHECK {\n misc_path "${sh} 7"\n misc_dynamic\n}`, 80)).toEqual({ ok: true, detail: 'exit 7: weight 5', exitCode: 7 });
    const t = Date.now();
    expect(await check(`MISC_CHECK {\n misc_path "${sh} hang"\n misc_timeout 1\n}`, 80)).toEqual({ ok: false, detail: 'timeout after 1000 ms' });
    expect(Date.now() - t).toBeLessThan(3000);
    expect(await check(`MISC_CHECK {\n misc_path ${join(tmp, 'missing.sh')}\n}`, 80)).toMatchObject({ ok: false, detail: expect.stringContaining('ENOENT') });
  });
});

describe('UDP_CHECK and DNS_CHECK', () => {
  let udp: UdpSocket, uport: number;
  let dns: UdpSocket, dport: number;
  let rcode = 0, wrongId = false;
  beforeAll(async () => {
    udp = createSocket('udp4');
    udp.on('message', (m, r) => udp.send(Buffer.concat([Buffer.from('pong:'), m]), r.port, r.address));
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    uport = udp.address().port;
    dns = createSocket('udp4');
    dns.on('message', (m, r) => {
      const a = Buffer.from(m);
      if (wrongId) a.writeUInt16BE(m.readUInt16BE(0) ^ 1, 0);
      a.writeUInt16BE(0x8180 | rcode, 2);   // QR, RD, RA, rcode
      dns.send(a, r.port, r.address);
    });
    await new Promise<void>((r) => dns.bind(0, '127.0.0.1', () => r()));
    dport = dns.address().port;
  });
  afterAll(() => { udp.close(); dns.close(); });

  test('UDP_CHECK: a reply (matching require_reply) → up; an ICMP port unreachable → down; silence is up unless a reply is required', async () => {
    expect(await check(`UDP_CHECK {\n payload 70696e67\n require_reply 706f6e67\n}`, uport)).toEqual({ ok: true, detail: 'reply of 9 bytes' });
    expect(await check(`UDP_CHECK {\n payload 70696e67\n require_reply 00\n}`, uport)).toMatchObject({ ok: false, detail: expect.stringContaining('does not match') });
    expect(await check('UDP_CHECK {\n connect_timeout 1\n}', await closedPort())).toMatchObject({ ok: false, detail: expect.stringContaining('ECONNREFUSED') });
    const quiet = createSocket('udp4');
    await new Promise<void>((r) => quiet.bind(0, '127.0.0.1', () => r()));
    expect(await check('UDP_CHECK {\n connect_timeout 0.3\n}', quiet.address().port)).toEqual({ ok: true, detail: 'no ICMP error' });
    expect(await check('UDP_CHECK {\n connect_timeout 0.3\n require_reply\n}', quiet.address().port)).toMatchObject({ ok: false, detail: expect.stringContaining('no reply') });
    quiet.close();
  });

  test('DNS_CHECK: rcode 0 → up; SERVFAIL → down; an answer with another ID is ignored (timeout)', async () => {
    rcode = 0; wrongId = false;
    expect(await check('DNS_CHECK {\n type A\n name example.org\n}', dport)).toMatchObject({ ok: true });
    rcode = 2;
    expect(await check('DNS_CHECK {\n}', dport)).toEqual({ ok: false, detail: 'rcode 2' });
    rcode = 0; wrongId = true;
    expect(await check('DNS_CHECK {\n connect_timeout 0.3\n}', dport)).toMatchObject({ ok: false, detail: expect.stringContaining('no DNS answer') });
  });

  test('the DNS query bytes (RFC 1035 4.1)', () => {
    expect(dnsQuery(0x1234, 'example.org', 'A').toString('hex')).toBe('123401000001000000000000' + '076578616d706c65' + '036f7267' + '00' + '00010001');
    expect(dnsQuery(1, '.', 'SOA').toString('hex')).toBe('000101000001000000000000' + '00' + '00060001');
  });
});
