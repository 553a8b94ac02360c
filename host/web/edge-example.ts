/*
 * host/web/edge-example.ts - the engine embedded in an edge function (Cloudflare Workers, Deno
 * Deploy, Fastly Compute, a service worker...): no Node API, no file system, no sockets.
 *
 * The deployment bundles the engine (wasm/release.wasm) as a WebAssembly.Module binding or
 * bytes, and the rules as text. A request carries one raw IP packet in its body; the answer is
 * the scheduling decision: verdict, drop reason, the real server chosen, and the rewritten
 * packet. The conn table lives as long as the isolate, so later packets of a flow stick to
 * their server.
 *
 *   import { createBalancer } from './edge-example.ts';
 *   const lb = createBalancer(env.ENGINE_WASM, env.RULES);
 *   export default { fetch: (req: Request) => lb.then((b) => b.fetch(req)) };
 */
import { Engine } from '../engine.ts';
import { applyRules } from '../replay/rules.ts';
import { destLabel } from '../replay/replay.ts';

export interface Decision {
  verdict: 'DROP' | 'XMIT' | 'LOCAL' | 'PASS' | 'STOLEN';
  /** counter name of the drop reason ('' unless dropped) */
  reason: string;
  /** the real server of the packet's conn, "addr:port" ('' when no conn) */
  rs: string;
  /** the conn's state after this packet ('' when no conn) */
  state: string;
  /** the packet as the engine sends it on (empty unless XMIT/LOCAL) */
  packet: Uint8Array;
}

export interface Balancer {
  /** One raw IPv4/IPv6 packet at time nowMs (default: the clock of the runtime). */
  decide(packet: Uint8Array, nowMs?: number): Decision;
  /** fetch-handler form: body = raw packet; JSON decision, packet in hex. */
  fetch(req: { arrayBuffer(): Promise<ArrayBuffer> }): Promise<Response>;
}

export async function createBalancer(wasm: WebAssembly.Module | BufferSource, rules: string): Promise<Balancer> {
  const engine = await Engine.create(wasm as any, { link: 'ip', slots: 1, connMax: 1 << 14, slotSize: 65536 + 256, headroom: 256 });
  applyRules(engine, rules);
  let lastTick = 0;
  const decide = (packet: Uint8Array, nowMs = Date.now()): Decision => {
    if (nowMs - lastTick >= 1000) { engine.tick(nowMs); lastTick = nowMs; } // expire idle conns about once a second
    const r = engine.processFrame(packet, nowMs);
    let rs = '', state = '';
    const c = r.conn ? engine.conn(r.conn) : undefined;
    if (c) {
      rs = destLabel(engine.dest(c.dest));
      state = c.proto === 'TCP' || c.proto === 'UDP' ? c.state : '';
    }
    const out = r.verdict === 'XMIT' || r.verdict === 'LOCAL';
    return { verdict: r.verdict, reason: r.reason, rs, state, packet: out ? r.data : new Uint8Array(0) };
  };
  return {
    decide,
    async fetch(req) {
      const d = decide(new Uint8Array(await req.arrayBuffer()));
      const hex = Array.from(d.packet, (b) => b.toString(16).padStart(2, '0')).join('');
      return new Response(JSON.stringify({ ...d, packet: hex }), { headers: { 'content-type': 'application/json' } });
    },
  };
}
