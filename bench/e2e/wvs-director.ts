/*
 * bench/e2e/wvs-director.ts - `wasmvs run` for the end-to-end benchmark, plus the engine's
 * named counters at exit.
 *
 * It is the code of `wasmvs run` (host/director/run.ts): the same option parser, the same
 * Director.start (TUN, VIP routes, the readBatch → process → writeBatch loop; --workers defaulting
 * to the CPUs available, as in `wasmvs run`) and the same final table. The only addition: on SIGINT/SIGTERM it also prints one line
 *   WVS_COUNTERS {"rx":"…","conn_rescheduled":"…",…}
 * (every engine counter, 64-bit values as decimal strings), because `wasmvs run` prints only
 * `pass` and `drop` and has no control socket to ask for the rest (conn_rescheduled, the drop
 * reasons). Run as root inside the director namespace: node dist/bench/e2e/wvs-director.js [run options]
 */
import { Director, defaultWorkers } from '../../host/director/director.ts';
import { finalReport, parseRunArgs } from '../../host/director/run.ts';

async function main(argv: string[]): Promise<number> {
  const o = parseRunArgs(argv);
  o.workers ??= defaultWorkers();   // as `wasmvs run`: one worker per CPU available
  const d = await Director.start(o);
  d.log('info', `forwarding ${d.engine.services().length} service(s); Ctrl-C to stop`);
  return new Promise<number>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      d.log('info', `${sig}: stopping`);
      d.stop();
      const c = d.engine.counters();
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(c)) out[k] = String(v);
      process.stdout.write(finalReport(d));
      process.stdout.write(`WVS_COUNTERS ${JSON.stringify({ ...out, conns: String(d.engine.conns().length), frames_rx: String(d.stats.rxFrames), frames_tx: String(d.stats.txFrames), batches: String(d.stats.batches), wakeups: String(d.stats.wakeups) })}\n`);
      resolve(0);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
  process.stderr.write(`wvs-director: ${e?.message ?? e}\n`);
  process.exit(1);
});
