// examples/edge/bun/server.js - wasmvs in Bun: balance requests over upstreams with the engine.
//   WASMVS_CONFIG='{"sched":"mh","upstreams":[...]}' bun run server.js
import { createBalancer } from 'wasmvs/edge';
import wasmPath from 'wasmvs/release.wasm' with { type: 'file' };

const lb = await createBalancer(await Bun.file(wasmPath).bytes(), Bun.env.WASMVS_CONFIG);
Bun.serve({ hostname: '127.0.0.1', port: Number(Bun.env.PORT ?? 3000),
  fetch: (req, server) => lb.fetch(req, server.requestIP(req)?.address) });
