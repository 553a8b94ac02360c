/*
 * host/director/demo.ts - `wasmvs demo` (npm start): real HTTP through the director in a lab.
 *
 * Builds the namespace lab (lab.ts: a client, the director with its TUN, three real servers
 * running a Node HTTP server that answers with its name), runs the director in this process on
 * the default rules (TCP VIP:80 rr over three Masq dests, ...), sends HTTP requests from the
 * client namespace through the VIP, prints the per-server distribution and the
 * `ipvsadm -L -n --stats` table, and tears everything down, also on Ctrl-C or an error.
 */
import { formatList } from '../rules/format.ts';
import { tunAvailable } from '../native/tun.ts';
import { Director } from './director.ts';
import { Lab, labRules, LAB_VIP } from './lab.ts';

const USAGE = `usage: wasmvs demo [--requests N] [--quiet]
       wasmvs demo cluster [--help]   directors behind an ECMP router announcing the VIP over BGP (BIRD)
Builds a lab in network namespaces (198.18.0.0/15), sends N HTTP requests (default 300), each on a
new TCP connection, through the VIP ${LAB_VIP}:80 (rr over three real servers), prints the
distribution and the ipvsadm-style table, and removes the lab. Needs root (namespaces, TUN).`;

export async function main(argv: string[]): Promise<number> {
  // several directors behind an ECMP router (BIRD): host/director/cluster.ts, docs/cluster.md
  if (argv[0] === 'cluster') return (await import('./cluster.ts')).main(argv.slice(1));
  let requests = 300;
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') { process.stdout.write(USAGE + '\n'); return 0; }
    else if (a === '--quiet') quiet = true;
    else if (a === '--requests' && /^\d+$/.test(argv[i + 1] ?? '') && +argv[i + 1] > 0) requests = +argv[++i];
    else { process.stderr.write(`wasmvs demo: bad option ${a}\n${USAGE}\n`); return 2; }
  }
  if (process.platform !== 'linux') { process.stderr.write('wasmvs demo: needs Linux (network namespaces, TUN)\n'); return 1; }
  if (process.getuid?.() !== 0) {
    process.stderr.write('wasmvs demo: needs root: it creates network namespaces, veth links and a TUN device (CAP_SYS_ADMIN, CAP_NET_ADMIN).\n' +
      '  Run it as root, e.g. `sudo npm start` or `sudo node bin/wasmvs.js demo`.\n' +
      '  `wasmvs synthetic` runs a built-in workload through the engine without root.\n');
    return 1;
  }
  if (!tunAvailable()) {
    process.stderr.write('wasmvs demo: the TUN/TAP addon is not built: `npm install` or `npx node-gyp rebuild` (needs python3, make, a C compiler)\n');
    return 1;
  }
  const say = (l: string) => { if (!quiet) process.stdout.write(l + '\n'); };
  let lab: Lab | undefined;
  let dir: Director | undefined;
  const teardown = () => { dir?.stop(); lab?.destroy(); };
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = sig;
    process.stderr.write(`\nwasmvs demo: ${sig}, removing the lab\n`);
    teardown();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    lab = await Lab.create({ tag: 'demo', log: (l) => say(`lab: ${l}`) });
    dir = await Director.start({ dev: `wvs${process.pid % 100000}`, netns: lab.ns.dir, rulesText: labRules(lab.rsAddrs, false), tickMs: 1000,
      logLevel: quiet ? 'warn' : 'info', log: say });
    lab.attachDirector(dir.devName);
    const client = await lab.client();
    say(`\n${requests} HTTP requests from ${lab.ns.cli} to http://${LAB_VIP}/, one TCP connection each ...`);
    const r = await client.http(requests, 80);
    client.close();
    const w = Math.max(...lab.rsNames.map((n) => n.length));
    process.stdout.write(`\nanswers per real server (${r.ms} ms, ${r.errors} errors):\n`);
    lab.rsNames.forEach((n, i) => {
      const k = r.names[n] ?? 0;
      process.stdout.write(`  ${n.padEnd(w)} ${lab!.rsAddrs[i].padEnd(12)} ${String(k).padStart(5)}  ${'#'.repeat(Math.round((40 * k) / requests))}\n`);
    });
    process.stdout.write('\n' + formatList(dir.engine.services(), { numeric: true, stats: true, size: dir.engine.connTabSize() }));
    const c = dir.engine.counters();
    process.stdout.write(`\nengine: rx ${c.rx} tx ${c.tx} conns created ${c.conn_created} drops ${c.drop} passed+dropped ${c.pass}\n`);
    return r.errors === 0 && Object.values(r.names).reduce((a, b) => a + b, 0) === requests ? 0 : 1;
  } catch (e: any) {
    if (!interrupted) process.stderr.write(`wasmvs demo: ${e?.message ?? e}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    teardown();
  }
}
