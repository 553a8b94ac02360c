/*
 * host/director/lab-scripts.ts - the programs the lab runs inside its namespaces (`node -e`):
 * a real server (HTTP, TCP line echo, TCP hash sink, UDP echo, each answering with its name)
 * and a client driven over stdin/stdout with one JSON request/response per line.
 * Both exit when their stdin closes, so a crashed parent leaves no process behind.
 */

/** Deterministic byte stream shared by both scripts: block i = 64 KiB of xorshift32 seeded by i. */
const PATTERN = String.raw`
const BLOCK = 65536;
function block(i) {
  const b = Buffer.allocUnsafe(BLOCK);
  let x = (i * 2654435761 + 1) >>> 0 || 1;
  for (let k = 0; k < BLOCK; k += 4) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b.writeUInt32LE(x, k); }
  return b;
}
function* pattern(n) { for (let i = 0, left = n; left > 0; i++, left -= BLOCK) yield left >= BLOCK ? block(i) : block(i).subarray(0, left); }
`;

/**
 * argv: name addr [httpPorts]. Ports: 80 HTTP (/ → name, /peer → "name peeraddr", /bytes/N → N
 * pattern bytes; httpPorts, a comma list, adds more HTTP ports), 7 echo, 9 sink, UDP 53 echo ("peer
 * N" is answered "name peer N peeraddr"), all bound to addr (the VIP on DR/tunnel real servers, so
 * UDP answers leave from it).
 */
export const SERVER_SCRIPT = String.raw`
const [name, addr, httpPorts = '80'] = process.argv.slice(1);
const http = require('node:http'), net = require('node:net'), dgram = require('node:dgram'), crypto = require('node:crypto');
${PATTERN}
const hports = httpPorts.split(',').map(Number);
let pending = 3 + hports.length;
const up = () => { if (--pending === 0) console.log('ready'); };
const web = http.createServer((req, res) => {
  const m = /^\/bytes\/(\d+)$/.exec(req.url);
  if (req.url === '/peer') { res.setHeader('content-type', 'text/plain'); res.end(name + ' ' + req.socket.remoteAddress + '\n'); return; }
  if (!m) { res.setHeader('content-type', 'text/plain'); res.end(name + '\n'); return; }
  const n = +m[1];
  res.setHeader('content-length', n); res.setHeader('x-server', name);
  const it = pattern(n);
  const pump = () => { for (;;) { const r = it.next(); if (r.done) { res.end(); return; } if (!res.write(r.value)) { res.once('drain', pump); return; } } };
  pump();
});
web.keepAliveTimeout = 500;
web.listen(hports[0], addr, up);
for (const p of hports.slice(1)) { const w = http.createServer((q, r) => web.emit('request', q, r)); w.keepAliveTimeout = 500; w.listen(p, addr, up); }
net.createServer({ allowHalfOpen: true }, (s) => {
  let hold = 0, buf = '';
  s.on('data', (d) => {
    buf += d; let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1);
      if (line.startsWith('hold ')) { hold = +line.slice(5); s.write(name + ' ok\n'); }
      else if (line === 'quit') s.end();
      else s.write(name + ' ' + line + '\n');
    }
  });
  s.on('end', () => setTimeout(() => s.end(), hold));
  s.on('error', () => {});
}).listen(7, addr, up);
net.createServer({ allowHalfOpen: true }, (s) => {
  const h = crypto.createHash('sha256'); let n = 0;
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => s.end(name + ' ' + n + ' ' + h.digest('hex') + '\n'));
  s.on('error', () => {});
}).listen(9, addr, up);
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send(name + ' ' + m + (String(m).startsWith('peer ') ? ' ' + r.address : ''), r.port, r.address));
u.bind(53, addr, up);
process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
`;

/** argv: vip. Reads {id, op, ...} lines, writes {id, ok, result | error} lines. */
/**
 * The end of every helper script driven over stdio: newline-delimited JSON requests {id, op, ...}
 * run as `ops[op](req)`, each answered {id, ok, result | error}; {id: 0} once ready.
 */
export const STDIO_RPC = String.raw`
let buf = '';
process.stdin.on('data', (d) => {
  buf += d; let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const req = JSON.parse(buf.slice(0, i)); buf = buf.slice(i + 1);
    Promise.resolve().then(() => ops[req.op](req)).then(
      (result) => process.stdout.write(JSON.stringify({ id: req.id, ok: true, result }) + '\n'),
      (e) => process.stdout.write(JSON.stringify({ id: req.id, ok: false, error: String(e && e.message || e) }) + '\n'));
  }
});
process.stdin.on('end', () => process.exit(0));
process.stdout.write(JSON.stringify({ id: 0, ok: true, result: 'ready' }) + '\n');`;

export const CLIENT_SCRIPT = String.raw`
const [vip] = process.argv.slice(1);
const http = require('node:http'), net = require('node:net'), dgram = require('node:dgram'), crypto = require('node:crypto');
${PATTERN}
const socks = new Map();
const tally = (names, n) => { names[n] = (names[n] || 0) + 1; };
function get(port, path, timeoutMs, localPort) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: vip, port, path, agent: false, localPort, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      const h = crypto.createHash('sha256'); let n = 0, body = '';
      res.on('data', (d) => { n += d.length; h.update(d); if (body.length < 256) body += d; });
      res.on('end', () => resolve({ status: res.statusCode, n, hash: h.digest('hex'), body, server: res.headers['x-server'] }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
function lineFrom(s, timeoutMs) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no answer')), timeoutMs);
    const check = () => { const i = s.buf.indexOf('\n'); if (i < 0) return false; const l = s.buf.slice(0, i); s.buf = s.buf.slice(i + 1); clearTimeout(t); resolve(l); return true; };
    if (!check()) s.waiters.push(check);
  });
}
const ops = {
  async http({ port = 80, n, path = '/', timeoutMs = 5000, lports }) {
    const names = {}; let errors = 0; const t0 = Date.now();
    for (let i = 0; i < n; i++) {
      try { const r = await get(port, path, timeoutMs, lports ? lports[i % lports.length] : undefined); tally(names, r.body.trim()); } catch { errors++; }
    }
    return { names, errors, ms: Date.now() - t0 };
  },
  async download({ port = 80, bytes }) {
    const h = crypto.createHash('sha256'); for (const b of pattern(bytes)) h.update(b);
    const t0 = Date.now(); const r = await get(port, '/bytes/' + bytes, 60000);
    return { server: r.server, n: r.n, hash: r.hash, expected: h.digest('hex'), ms: Date.now() - t0 };
  },
  upload({ port = 9, bytes }) {
    return new Promise((resolve, reject) => {
      const h = crypto.createHash('sha256'); const t0 = Date.now();
      const s = net.connect({ host: vip, port, allowHalfOpen: true });
      let reply = '';
      s.setTimeout(60000, () => s.destroy(new Error('timeout')));
      s.on('error', reject);
      s.on('data', (d) => reply += d);
      s.on('end', () => { const [server, n, hash] = reply.trim().split(' '); resolve({ server, n: +n, hash, expected: h.digest('hex'), ms: Date.now() - t0 }); });
      s.on('connect', () => {
        const it = pattern(bytes);
        const pump = () => { for (;;) { const r = it.next(); if (r.done) { s.end(); return; } h.update(r.value); if (!s.write(r.value)) { s.once('drain', pump); return; } } };
        pump();
      });
    });
  },
  async udp({ port = 53, n, timeoutMs = 2000, host = vip, peer = false, basePort = 0, pad = 0 }) {
    const names = {}; let errors = 0;
    for (let i = 0; i < n; i++) {
      const s = dgram.createSocket('udp4');
      try {
        // fixed source ports: a port the OS happens to reuse would meet its old UDP conn (300 s)
        if (basePort) await new Promise((resolve) => s.bind(basePort + i, resolve));
        const r = await new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('timeout')), timeoutMs);
          s.on('message', (m) => { clearTimeout(t); resolve(String(m)); });
          // pad: datagrams bigger than the MTU, so they travel as IP fragments both ways
          s.send((peer ? 'peer ' : 'ping ') + i + (pad ? ' ' + 'x'.repeat(pad) : ''), port, host);
        });
        const [name, ...rest] = r.split(' ');
        if (peer) { if (rest[0] !== 'peer' || rest[1] !== String(i) || !rest[2]) errors++; else tally(names, name + ' ' + rest[2]); }
        else if (rest.join(' ') !== 'ping ' + i + (pad ? ' ' + 'x'.repeat(pad) : '')) errors++; else tally(names, name);
      } catch { errors++; } finally { s.close(); }
    }
    return { names, errors };
  },
  open({ sid, port = 7 }) {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: vip, port, allowHalfOpen: true });
      s.buf = ''; s.waiters = []; s.closed = new Promise((r) => s.on('close', () => r({ hadError: s.hadErr || false })));
      s.on('data', (d) => { s.buf += d; s.waiters = s.waiters.filter((w) => !w()); });
      s.on('end', () => {});
      s.on('error', (e) => { s.hadErr = e.code || String(e); reject(e); });
      s.on('connect', () => { socks.set(sid, s); resolve({ lport: s.localPort, laddr: s.localAddress }); });
    });
  },
  async send({ sid, text, timeoutMs = 3000 }) { const s = socks.get(sid); s.write(text + '\n'); return lineFrom(s, timeoutMs); },
  async end({ sid }) { socks.get(sid).end(); return true; },
  async reset({ sid }) { socks.get(sid).resetAndDestroy(); socks.delete(sid); return true; },
  async closed({ sid, timeoutMs = 5000 }) {
    const s = socks.get(sid);
    const r = await Promise.race([s.closed, new Promise((_, rej) => setTimeout(() => rej(new Error('still open')), timeoutMs))]);
    socks.delete(sid); return r;
  },
};
${STDIO_RPC}`;
