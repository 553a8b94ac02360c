/* host/web/protocol.ts - messages between the page (replay.ts) and the Worker (worker.ts). */
import type { ReplaySummary } from '../replay/replay.ts';

export type ToWorker = { type: 'run'; capture: ArrayBuffer; rules: string; wasmUrl: string; batch?: number };
export type FromWorker =
  | { type: 'progress'; packets: number; bytes: number; total: number }
  | { type: 'done'; summary: ReplaySummary; pcap: Uint8Array; ms: number }
  | { type: 'error'; code: string; message: string };
