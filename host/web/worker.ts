/*
 * host/web/worker.ts - runs the replay core in a Web Worker, so the page stays responsive.
 * Uses only host/replay (engine.ts, pcap, rules): no Node APIs.
 */
import { replay } from '../replay/replay.ts';
import type { FromWorker, ToWorker } from './protocol.ts';

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);
let module: Promise<WebAssembly.Module> | undefined;

self.onmessage = async (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  if (msg.type !== 'run') return;
  try {
    module ??= fetch(msg.wasmUrl).then((r) => {
      if (!r.ok) throw new Error(`engine ${msg.wasmUrl}: HTTP ${r.status}`);
      return r.arrayBuffer();
    }).then((b) => WebAssembly.compile(b));
    const wasm = await module;
    const bytes = new Uint8Array(msg.capture);
    // feed in 64 KiB chunks, as a file stream would
    const chunks = function* () { for (let o = 0; o < bytes.length; o += 65536) yield bytes.subarray(o, o + 65536); };
    const parts: Uint8Array[] = [];
    const t0 = performance.now();
    let lastPost = 0;
    const summary = await replay(chunks(), {
      wasm, rules: msg.rules, batch: msg.batch, keepFlows: 20000,
      output: (c) => { parts.push(c.slice()); },
      onProgress: (p) => {
        const now = performance.now();
        if (now - lastPost > 100) { lastPost = now; post({ type: 'progress', packets: p.packets, bytes: p.bytes, total: bytes.length }); }
      },
    });
    const pcap = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) { pcap.set(p, o); o += p.length; }
    post({ type: 'done', summary, pcap, ms: performance.now() - t0 }, [pcap.buffer]);
  } catch (e: any) {
    post({ type: 'error', code: e?.code ?? e?.name ?? 'Error', message: e?.message ?? String(e) });
  }
};
