// `wasmvs demo cluster` end to end: three `wasmvs run --mode tap` directors behind a router
// running BIRD 2 (ECMP, L4 hash), each announcing the VIP over BGP with its own BIRD; DR to
// three real servers; mh with mh-port and sloppy_tcp on every director. 1,000 long-lived TCP
// conns must survive removing a director and adding it back. The same lab with rr, or without
// sloppy_tcp, must break conns: the check sees what it is there to see.
// Root, bird2, the TAP addon and a built tree (bin/wasmvs.js → dist) only; skipped with the reason otherwise.

import { describe, expect, test } from 'vitest';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { clusterSkipReason, runCluster } from '../../host/director/cluster.ts';
import { birdDirectorConf, birdRouterConf, frrDirectorConf, frrRouterConf } from '../../host/director/cluster-scripts.ts';
import { labSkipReason } from './env.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'wasmvs.js');
const skip = labSkipReason() ?? clusterSkipReason();
if (skip) console.warn(`[test/e2e] cluster tests skipped: ${skip}`);
const frrSkip = skip ?? (existsSync('/usr/lib/frr/bgpd') ? null : 'FRR is not installed: apt-get install frr');
if (!skip && frrSkip) console.warn(`[test/e2e] the FRR router test skipped: ${frrSkip}`);

describe('wasmvs demo cluster: options', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [BIN, 'demo', 'cluster', ...args], { encoding: 'utf8', timeout: 20_000 });
  test('--help names the last line; a bad option or count is a usage error (exit 2), before anything is built', () => {
    const h = run('--help');
    expect(h.status).toBe(0);
    expect(h.stdout).toContain('Last line: cluster: D directors, C conns, B broken after removing a director, B2 broken after adding it back');
    for (const bad of [['--conns', '0'], ['--directors', '1'], ['--router', 'quagga'], ['--bogus']]) {
      const r = run(...bad);
      expect(r.status, bad.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^wasmvs demo cluster: /);
    }
  });
});

describe.skipIf(skip !== null)('directors behind ECMP routes announced over BGP (BIRD 2)', () => {
  test('BIRD itself parses the director and router configurations the lab (and docs/cluster.md) use', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wvs-bird-'));
    try {
      const files = {
        'd.conf': birdDirectorConf({ routerId: '198.18.1.21', asn: 65101, peer: '198.18.1.1', peerAsn: 65000, engineAddr: '198.18.1.101', gate: 'vip0' }),
        'r.conf': birdRouterConf({ routerId: '198.18.1.1', asn: 65000, peers: [{ addr: '198.18.1.21', asn: 65101 }, { addr: '198.18.1.22', asn: 65102 }] }),
      };
      for (const [f, text] of Object.entries(files)) {
        writeFileSync(join(dir, f), text);
        execFileSync('bird', ['-p', '-c', join(dir, f)], { stdio: 'pipe', timeout: 10_000 });   // throws with bird's message on a syntax error
      }
      // a broken file is refused (the parse check can fail)
      writeFileSync(join(dir, 'bad.conf'), files['d.conf'].replace('next hop address', 'next hop adress'));
      expect(() => execFileSync('bird', ['-p', '-c', join(dir, 'bad.conf')], { stdio: 'pipe', timeout: 10_000 })).toThrow();
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  test.skipIf(frrSkip !== null)('FRR checks the director and router configurations of docs/cluster.md (vtysh --dryrun)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wvs-frr-'));
    try {
      const files = {
        'd.conf': frrDirectorConf({ routerId: '198.18.1.21', asn: 65101, peer: '198.18.1.1', peerAsn: 65000, engineAddr: '198.18.1.101', vip: '198.18.2.1' }),
        'r.conf': frrRouterConf({ routerId: '198.18.1.1', asn: 65000, peers: [{ addr: '198.18.1.21', asn: 65101 }, { addr: '198.18.1.22', asn: 65102 }] }),
      };
      for (const [f, text] of Object.entries(files)) {
        writeFileSync(join(dir, f), text);
        execFileSync('vtysh', ['--dryrun', '-f', join(dir, f)], { stdio: 'pipe', timeout: 10_000 });
      }
      writeFileSync(join(dir, 'bad.conf'), files['r.conf'].replace('maximum-paths 16', 'maximum-pathz 16'));
      expect(() => execFileSync('vtysh', ['--dryrun', '-f', join(dir, 'bad.conf')], { stdio: 'pipe', timeout: 10_000 })).toThrow();
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  test.skipIf(frrSkip !== null)('the ToR router on FRR (zebra + bgpd, multipath-relax) instead of BIRD: 0 broken either way', async () => {
    const r = await runCluster({ conns: 300, router: 'frr', tag: 'clfr' });
    expect(r.lastLine).toBe('cluster: 3 directors, 300 conns, 0 broken after removing a director, 0 broken after adding it back');
    for (const n of r.perDirector) expect(n).toBeGreaterThan(50);
  }, 120_000);

  test('a resilient nexthop group on the router (--resilient): no flow of a director that stays moves, and none moves to the one that joins', async () => {
    const r = await runCluster({ conns: 300, resilient: true, tag: 'clrs' });
    expect([r.broken, r.broken2]).toEqual([0, 0]);
    expect(r.moved).toEqual({ removal: r.perDirector[1], removalStayed: 0, addition: 0, additionStayed: 0 });
  }, 120_000);

  test('wasmvs demo cluster: 3 directors, 1000 conns, 0 broken after removing a director, 0 after adding it back', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, 'demo', 'cluster'], { encoding: 'utf8', timeout: 150_000 });
    const lines = stdout.trim().split('\n');
    expect(lines.at(-1), stdout).toBe('cluster: 3 directors, 1000 conns, 0 broken after removing a director, 0 broken after adding it back');
    // the router's kernel route is one ECMP route over the three engines' addresses (BIRD merged the paths)
    expect(stdout).toContain('router (BIRD): 198.18.2.1 via 198.18.1.101, 198.18.1.102, 198.18.1.103');
    // mh spreads the conns over the real servers, the router's L4 hash over the directors
    const perServer = JSON.parse(/per real server (\{[^}]*\})/.exec(stdout)![1]) as Record<string, number>;
    expect(Object.keys(perServer).sort()).toEqual(['rs1', 'rs2', 'rs3']);
    for (const n of Object.values(perServer)) expect(n).toBeGreaterThan(250);
    const perDirector = /per director (\d+) \/ (\d+) \/ (\d+)/.exec(stdout)!.slice(1).map(Number);
    expect(perDirector.reduce((a, b) => a + b)).toBe(1000);
    for (const n of perDirector) expect(n).toBeGreaterThan(250);
    // the removed director's flows went to the other two; back, it took flows over mid-stream
    // Linux's hash-threshold ECMP: removing the middle of three next hops moves only its own flows
    expect(stdout).toContain(`after removing d2: 0 broken {}; flows that changed director: d2's ${perDirector[1]} + 0 between directors that stayed`);
    expect(Number(/d2 created (\d+) conns for flows that came to it mid-stream/.exec(stdout)![1])).toBeGreaterThan(250);
  }, 180_000);

  test('failures: a killed director is withdrawn by its health gate, a lost host by the router\'s hold timer; no conn breaks', async () => {
    const r = await runCluster({ conns: 300, measure: true, rateMs: 500, tag: 'clfl' });
    expect([r.broken, r.broken2]).toEqual([0, 0]);
    const { crash, host } = r.failover!;
    // the gate polls every 200 ms; BIRD withdraws at once; the router's kernel route follows
    expect(crash).toMatchObject({ conns: 300, broken: 0 });
    expect(crash.detectMs).toBeLessThan(1500);
    // nothing withdraws for a lost host: BGP's hold time (3 s) passes first
    expect(host).toMatchObject({ conns: 300, broken: 0 });
    expect(host.detectMs).toBeGreaterThanOrEqual(2000);
    expect(host.detectMs).toBeLessThan(8000);
    expect(host.servedMs).toBeGreaterThanOrEqual(2000);
    expect(r.rate!.one).toBeGreaterThan(0);
    expect(r.rate!.all).toBeGreaterThan(0);
    expect([r.rate!.oneErrors, r.rate!.allErrors]).toEqual([0, 0]);
    // with all three announced, every director does part of the work
    expect(r.rate!.usPerConn).toBeGreaterThan(0);
    for (const ms of r.rate!.cpuShareMs) expect(ms).toBeGreaterThan(0);
  }, 120_000);

  test('the same lab with rr (each director its own rotation) breaks the flows that change director', async () => {
    const lines: string[] = [];
    const r = await runCluster({ conns: 300, sched: 'rr', tag: 'clrr', log: (l) => lines.push(l) });
    // a moved flow survives only when the new director's own rotation happens to pick its server:
    // about 1 in 3 on a quiet machine (63-70 of 93-98 broke), more under load, when the
    // rotations see the moved flows in step (46 of 95; 20 in a CI run): never most of them
    expect(r.moved.removal, lines.join('\n')).toBeGreaterThan(50);
    expect(r.broken, lines.join('\n')).toBeGreaterThanOrEqual(Math.ceil(r.moved.removal / 10));
    expect(r.lastLine).toMatch(/^cluster: 3 directors, 300 conns, \d+ broken after removing a director, \d+ broken after adding it back$/);
  }, 120_000);

  test('the same lab without sloppy_tcp breaks the flows that change director (a mid-stream ACK schedules nothing)', async () => {
    const lines: string[] = [];
    const r = await runCluster({ conns: 300, sloppy: false, tag: 'clns', log: (l) => lines.push(l) });
    // the removed director's flows break: the director they reach has no conn for them and
    // schedules nothing (90 of 103 in one run: the mid-stream packet is passed to the
    // director's own stack, and what that does with it is not IPVS's)
    expect(r.perDirector[1], lines.join('\n')).toBeGreaterThan(50);
    expect(r.broken, lines.join('\n')).toBeGreaterThanOrEqual(Math.ceil(r.perDirector[1] / 2));
  }, 120_000);
});
