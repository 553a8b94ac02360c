// examples/edge/deno/main.js - wasmvs in Deno: balance requests over upstreams with the engine
// (docs/edge.md). Deno's loader imports the .wasm as a compiled WebAssembly.Module (source phase).
//   WASMVS_CONFIG='{"sched":"mh","upstreams":[...]}' deno run --allow-net --allow-env main.js
import { createBalancer } from 'wasmvs/edge';
import source wasm from 'wasmvs/release.wasm';

const lb = await createBalancer(wasm, Deno.env.get('WASMVS_CONFIG'));
Deno.serve({ hostname: '127.0.0.1', port: Number(Deno.env.get('PORT') ?? 8000) },
  (req, info) => lb.fetch(req, info.remoteAddr.hostname));
