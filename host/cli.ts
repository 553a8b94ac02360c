/*
 * host/cli.ts - the `wasmvs` entry: a table of subcommands, each in its own module, loaded
 * on demand (so `wasmvs replay` works where the TUN addon was never built).
 * Every command module exports `main(argv: string[]): Promise<number>` (the exit code).
 */

const COMMANDS: Record<string, { load: () => Promise<{ main: (argv: string[]) => Promise<number> }>; help: string }> = {
  run: { load: () => import('./director/run.ts'), help: 'forward real traffic: the director on a TUN device (root), rules from an ipvsadm-save file' },
  demo: { load: () => import('./director/demo.ts'), help: 'HTTP through the director in a network-namespace lab, with the ipvsadm table (npm start; root)' },
  adm: { load: () => import('./control/adm-cli.ts'), help: 'ipvsadm-compatible control of a running director (wasmvs adm -L -n); wasmvsadm is the same' },
  synthetic: { load: () => import('./synthetic.ts'), help: 'drive a built-in synthetic workload through the engine and print the ipvsadm table' },
  replay: { load: () => import('./replay/cli.ts'), help: 'replay a pcap/pcapng capture through the engine (--rules, --out, --json, --serve)' },
};

function usage(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return ['usage: wasmvs <command> [options]', '', ...Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(w)}  ${v.help}`), '',
    'wasmvs <command> --help shows the options of a command.'].join('\n');
}

export async function cli(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help') { process.stdout.write(usage() + '\n'); return cmd ? 0 : 2; }
  // `wasmvsadm` (the ipvsadm drop-in) arrives here as `adm`
  const c = COMMANDS[cmd];
  if (!c) { process.stderr.write(`wasmvs: unknown command '${cmd}'\n${usage()}\n`); return 2; }
  let mod;
  try { mod = await c.load(); } catch (e: any) {
    if (e?.code === 'ERR_MODULE_NOT_FOUND') { process.stderr.write(`wasmvs: '${cmd}' is not available in this build\n`); return 2; }
    throw e;
  }
  return mod.main(rest);
}

const isMain = typeof process !== 'undefined' && process.argv[1] && /(wasmvs(adm)?(\.js)?|cli\.[jt]s)$/.test(process.argv[1]);
if (isMain) {
  const adm = /wasmvsadm(\.js)?$/.test(process.argv[1]);
  cli(adm ? ['adm', ...process.argv.slice(2)] : process.argv.slice(2)).then(
    (rc) => { process.exitCode = rc; },
    (e) => { process.stderr.write(`wasmvs: ${e?.message ?? e}\n`); process.exitCode = 1; },
  );
}
