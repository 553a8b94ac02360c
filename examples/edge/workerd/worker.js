// examples/edge/workerd/worker.js - wasmvs in workerd / Cloudflare Workers: balance requests over
// upstreams with the engine (docs/edge.md). workerd hands the module a compiled
// WebAssembly.Module from its config (it compiles no bytes at run time); the balancer lives as
// long as the isolate.
import { createBalancer } from 'wasmvs/edge';
import wasm from 'wasmvs/release.wasm';

let lb;
export default {
  async fetch(request, env) {
    lb ??= createBalancer(wasm, env.WASMVS_CONFIG);
    // Cloudflare puts the client's address in CF-Connecting-IP
    return (await lb).fetch(request, request.headers.get('cf-connecting-ip') ?? undefined);
  },
};
