/*
 * host/replay/serve.ts - `wasmvs replay --serve`: the browser replay page (dist/web, built by
 * `npm run build:web`) on 127.0.0.1 only. Static files, GET/HEAD, no directory listings.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { repoRoot } from '../engine-node.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm', '.pcap': 'application/vnd.tcpdump.pcap', '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json', '.map': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml',
};

export function webRoot(): string { return join(repoRoot(), 'dist', 'web'); }

/** Start the static server; resolves once listening. */
export function startWebServer(port: number, root = webRoot()): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405).end(); return; }
    let path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (path.endsWith('/')) path += 'index.html';
    const file = normalize(join(root, path));
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) { res.writeHead(404).end('not found\n'); return; }
    const body = readFileSync(file);
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.length, 'cache-control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

export async function serveWeb(port: number): Promise<number> {
  const root = webRoot();
  if (!existsSync(join(root, 'index.html'))) {
    process.stderr.write(`wasmvs replay: ${root} has no page yet: run "npm run build:web"\n`);
    return 1;
  }
  const server = await startWebServer(port, root);
  const addr = server.address();
  process.stdout.write(`wasmvs replay: serving ${root} on http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : port}/ (Ctrl-C stops)\n`);
  await new Promise<void>((res) => { process.once('SIGINT', () => { server.close(); res(); }); });
  return 0;
}
