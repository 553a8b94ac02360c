// FULLNAT (DPVS's mode) through `wasmvs run` on a TUN: the real servers have no route to the
// clients at all, only to their subnet and to the local addresses (laddrs) via the director, which
// routes the VIP and the laddrs into its TUN. The servers see a laddr as the peer, and the
// client's address only in the TOA option (kind 254), read off a tcpdump capture on a real server.
// Root only; skipped with the reason otherwise (the TOA check alone without tcpdump).

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { startCliDirector, stopCliLab } from './cli-director.ts';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRules, applyRules, laddrsOf, WvsDirectorRulesError } from '../../host/director/rules.ts';
import { loadEngine } from '../../host/engine-node.ts';
import { Lab, LabClient, labRules, LAB_CLIENT, LAB_LADDRS, LAB_VIP } from '../../host/director/lab.ts';
import { labSkipReason } from './env.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/wasmvs.js');

describe('FULLNAT rules (pure)', () => {
  const svc = '-A -t 198.18.2.1:80 -s rr\n-a -t 198.18.2.1:80 -r 198.18.1.11:80 --fullnat -w 1\n';
  test('-P lines are applied, their laddrs listed for routing', async () => {
    const e = await loadEngine({ connMax: 1024, slots: 8 });
    const ops = parseRules(svc + '-P -t 198.18.2.1:80 -z 198.18.3.1\n-P -t 198.18.2.1:80 -z 198.18.3.2 -F eth0\n', 'f');
    applyRules(e, ops, 'f');
    expect(e.laddrs({ proto: 'TCP', addr: '198.18.2.1', port: 80 }).map((l) => l.addr)).toEqual(['198.18.3.1', '198.18.3.2']);
    expect(e.services()[0].dests[0].fwd).toBe('FullNat');
    expect(laddrsOf(ops)).toEqual([{ addr: '198.18.3.1', af: 4 }, { addr: '198.18.3.2', af: 4 }]);
  });
  test('a laddr that is a VIP is refused, naming the line', async () => {
    const e = await loadEngine({ connMax: 1024, slots: 8 });
    // the laddr line names a VIP (of its own service, or of a later one)
    let err: unknown;
    try { applyRules(e, parseRules(svc + '-P -t 198.18.2.1:80 -z 198.18.2.1\n', 'lb.rules'), 'lb.rules'); } catch (x) { err = x; }
    expect(err).toBeInstanceOf(WvsDirectorRulesError);
    expect(err).toMatchObject({ line: 3, message: expect.stringMatching(/^lb\.rules:3: local address 198\.18\.2\.1 is also a VIP \(line 1\): a FULLNAT laddr must not be a VIP\n  3 \| -P -t 198\.18\.2\.1:80 -z 198\.18\.2\.1$/) });
    expect(() => applyRules(e, parseRules(svc + '-P -t 198.18.2.1:80 -z 198.18.2.9\n-A -u 198.18.2.9:53 -s rr\n', 'x'), 'x'))
      .toThrow(/^x:3: local address 198\.18\.2\.9 is also a VIP \(line 4\)/);
    expect(e.services()).toEqual([]);   // refused before anything was applied
  });
  test('--fullnat dests are taken on a TAP too (the engine answers ARP for the local addresses there)', async () => {
    const t = await loadEngine({ connMax: 1024, slots: 8, link: 'ethernet' });
    applyRules(t, parseRules(svc, 'x'), 'x', { link: 'ethernet' });
    expect(t.services()[0].dests.map((d) => d.fwd)).toEqual(['FullNat']);
  });
});

const skip = labSkipReason() ?? (existsSync(join(ROOT, 'dist/host/director/run.js')) ? null : 'dist/ not built (npx tsc -p tsconfig.build.json)');
if (skip) console.warn(`[test/e2e] FULLNAT lab tests skipped: ${skip}`);
const hasTcpdump = spawnSync('tcpdump', ['--version'], { stdio: 'ignore', timeout: 5_000 }).status === 0;
if (!skip && !hasTcpdump) console.warn('[test/e2e] FULLNAT TOA capture skipped: tcpdump is not installed (the HTTP/UDP checks still run)');

/** TCP segments of a pcap (Ethernet or Linux cooked v1/v2 link types): addresses, ports, flags, ack, options, payload length. */
interface Seg { src: string; dst: string; sport: number; dport: number; flags: number; ack: number; options: Buffer; len: number }
function pcapTcp(buf: Buffer): Seg[] {
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d) throw new Error(`not a pcap file (magic ${magic.toString(16)})`);
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linktype = u32(20);
  const l2 = ({ 1: 14, 113: 16, 276: 20 } as Record<number, number>)[linktype];
  if (l2 === undefined) throw new Error(`pcap link type ${linktype} not handled`);
  const out: Seg[] = [];
  for (let o = 24; o + 16 <= buf.length;) {
    const incl = u32(o + 8);
    const p = buf.subarray(o + 16, o + 16 + incl);
    o += 16 + incl;
    const ethType = linktype === 1 ? p.readUInt16BE(12) : linktype === 113 ? p.readUInt16BE(14) : p.readUInt16BE(0);
    if (ethType !== 0x0800) continue;
    const ip = p.subarray(l2);
    const ihl = (ip[0] & 15) * 4;
    if (ip[9] !== 6) continue;
    const tcp = ip.subarray(ihl, ip.readUInt16BE(2));
    const doff = (tcp[12] >> 4) * 4;
    out.push({
      src: [...ip.subarray(12, 16)].join('.'), dst: [...ip.subarray(16, 20)].join('.'),
      sport: tcp.readUInt16BE(0), dport: tcp.readUInt16BE(2), flags: tcp[13], ack: tcp.readUInt32BE(8),
      options: Buffer.from(tcp.subarray(20, doff)), len: tcp.length - doff,
    });
  }
  return out;
}
/** The TOA option (kind 254, length 8: port, IPv4 address) of a segment's options, if any. */
function toaOf(opts: Buffer): { port: number; addr: string } | undefined {
  for (let i = 0; i < opts.length;) {
    const kind = opts[i];
    if (kind === 0) return undefined;
    if (kind === 1) { i++; continue; }
    const len = opts[i + 1];
    if (len < 2) return undefined;
    if (kind === 254 && len === 8) return { port: opts.readUInt16BE(i + 2), addr: [...opts.subarray(i + 4, i + 8)].join('.') };
    i += len;
  }
  return undefined;
}

describe.skipIf(skip !== null)('FULLNAT through wasmvs run (TUN), real servers without a route to the clients', () => {
  let lab: Lab;
  let client: LabClient;
  let child: ChildProcess;
  let tmp: string;
  let out = '', err = '';
  const dev = `wvsf${process.pid % 10000}`;
  const sock = () => join(tmp, 'ctl.sock');
  const adm = (...args: string[]) => spawnSync(process.execPath, [BIN, 'adm', '--socket', sock(), ...args], { encoding: 'utf8', timeout: 10_000 });

  beforeAll(async () => {
    lab = await Lab.create({ tag: 'e2e-fnat', forward: 'fullnat' });
    tmp = mkdtempSync(join(tmpdir(), 'wvs-fnat-'));
    writeFileSync(join(tmp, 'fnat.rules'), labRules(lab.rsAddrs, true, LAB_VIP, 'fullnat'));
    child = await startCliDirector(lab.ns.dir, ['--dev', dev, '--rules', join(tmp, 'fnat.rules'), '--tick-ms', '200', '--socket', sock()],
      (s) => { out += s; }, (s) => { err += s; });
    // no lab.attachDirector(): no policy routing, the director's own routes are all it takes
    client = await lab.client();
  }, 60_000);

  afterAll(() => {
    stopCliLab({ client, child, lab, tmp });
  });

  const diag = () => `\n--- wasmvs adm -L -n --stats ---\n${adm('-L', '-n', '--stats').stdout}--- -G ---\n${adm('-G').stdout}--- stderr ---\n${err}`;

  test('the VIP and both laddrs are routed into the TUN; the real servers cannot reach the client', () => {
    for (const a of [LAB_VIP, ...LAB_LADDRS]) {
      expect(execFileSync('ip', ['-n', lab.ns.dir, 'route', 'show', `${a}/32`], { encoding: 'utf8' })).toContain(`dev ${dev}`);
    }
    for (const a of LAB_LADDRS) expect(err).toContain(`route ${a} dev ${dev} (FULLNAT local address)`);
    const r = spawnSync('ip', ['-n', lab.ns.rs[0], 'route', 'get', LAB_CLIENT], { encoding: 'utf8' });
    expect(r.status, r.stdout).not.toBe(0);   // Network is unreachable
  });

  test('TCP rr over 3 servers: 300 HTTP requests -> exactly 100/100/100, each server sees only laddrs as the peer, both laddrs used; TOA carries the client', async () => {
    // tcpdump on rs1: the first 12 segments from a laddr to :80 (SYN, handshake ACK, request, ...)
    let cap: ChildProcess | undefined;
    const capData: Buffer[] = [];
    let capErr = '';
    let capDone: Promise<void> | undefined;
    if (hasTcpdump) {
      cap = spawn('ip', ['netns', 'exec', lab.ns.rs[0], 'tcpdump', '-i', 'eth0', '-nn', '-U', '-c', '12', '-s', '200', '-w', '-',
        'tcp dst port 80 and src net 198.18.3.0/24'], { stdio: ['ignore', 'pipe', 'pipe'] });
      cap.stdout!.on('data', (d: Buffer) => capData.push(d));
      capDone = new Promise<void>((resolve) => cap!.on('exit', () => resolve()));
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`tcpdump did not start: ${capErr}`)), 10_000);
        cap!.stderr!.on('data', (d) => { capErr += d; if (capErr.includes('listening on')) { clearTimeout(t); resolve(); } });
        cap!.on('exit', (code) => { clearTimeout(t); reject(new Error(`tcpdump exited ${code}: ${capErr}`)); });
      });
    }
    const lports = Array.from({ length: 300 }, (_, i) => 20_000 + i);
    let r: { names: Record<string, number>; errors: number };
    try {
      r = await client.call('http', { n: 300, port: 80, path: '/peer', lports });
    } finally {
      if (cap && cap.exitCode === null) setTimeout(() => { if (cap!.exitCode === null) cap!.kill('SIGTERM'); }, 3_000);
    }
    expect(r.errors, diag()).toBe(0);
    const perServer: Record<string, number> = {};
    const perLaddr: Record<string, number> = {};
    for (const [k, n] of Object.entries(r.names)) {
      const [name, peer] = k.split(' ');
      perServer[name] = (perServer[name] ?? 0) + n;
      perLaddr[peer] = (perLaddr[peer] ?? 0) + n;
    }
    expect(perServer, diag()).toEqual({ rs1: 100, rs2: 100, rs3: 100 });
    // never the client's address; the service's laddrs in round robin
    expect(perLaddr, diag()).toEqual({ [LAB_LADDRS[0]]: 150, [LAB_LADDRS[1]]: 150 });

    if (!hasTcpdump) { console.warn('[test/e2e] TOA check skipped: tcpdump is not installed'); return; }
    await capDone;
    const segs = pcapTcp(Buffer.concat(capData));
    if (process.env.WVS_SHOW_TOA) console.log(segs.slice(0, 4).map((s) => `${s.src}:${s.sport} > ${s.dst}:${s.dport} flags ${s.flags.toString(16)} len ${s.len} opts ${s.options.toString("hex")} toa ${JSON.stringify(toaOf(s.options))}`).join("\n"));
    const show = JSON.stringify(segs.map((s) => ({ ...s, options: s.options.toString('hex') })), null, 1);
    expect(segs.length, capErr + show).toBeGreaterThanOrEqual(3);
    // the first conn seen: SYN without TOA, then the handshake ACK and the request with it
    const first = segs[0];
    expect(LAB_LADDRS, show).toContain(first.src);
    expect(first.flags & 0x02, show).toBe(0x02);
    expect(toaOf(first.options), show).toBeUndefined();
    const conn = segs.filter((s) => s.src === first.src && s.sport === first.sport);
    const ack = conn[1], req = conn.find((s) => s.len > 0);
    expect(ack && ack.flags & 0x12, show).toBe(0x10);    // ACK, no SYN
    const toa = toaOf(ack!.options);
    expect(toa, show).toBeDefined();
    expect(toa!.addr).toBe(LAB_CLIENT);
    expect(lports).toContain(toa!.port);
    expect(req, show).toBeDefined();
    expect(toaOf(req!.options), show).toEqual(toa);
    // every TOA seen on rs1 names the client, each conn its own client port
    const toas = new Map<string, number>();
    for (const s of segs) { const t = toaOf(s.options); if (t) { expect(t.addr).toBe(LAB_CLIENT); toas.set(`${s.src}:${s.sport}`, t.port); } }
    expect(new Set(toas.values()).size, show).toBe(toas.size);
  }, 60_000);

  test('UDP rr over 3 servers: 30 request/responses -> 10/10/10, each from a laddr', async () => {
    const r = await client.call<{ names: Record<string, number>; errors: number }>('udp', { n: 30, port: 53, peer: true, basePort: 43000 });
    expect(r.errors, diag()).toBe(0);
    const perServer: Record<string, number> = {};
    for (const [k, n] of Object.entries(r.names)) {
      const [name, peer] = k.split(' ');
      expect(LAB_LADDRS, k).toContain(peer);
      perServer[name] = (perServer[name] ?? 0) + n;
    }
    expect(perServer, diag()).toEqual({ rs1: 10, rs2: 10, rs3: 10 });
  }, 30_000);

  test('wasmvs adm -G lists the laddrs, -P adds one with its route; SIGTERM removes the VIP and laddr routes, prints the table, exits 0', async () => {
    const g = adm('-G', '-t', `${LAB_VIP}:80`);
    expect(g.status, g.stderr).toBe(0);
    for (const a of LAB_LADDRS) expect(g.stdout).toContain(a);
    // a laddr added at run time gets its route into the TUN too (and loses it at exit)
    const extra = '198.18.3.9';
    const p = adm('-P', '-t', `${LAB_VIP}:80`, '-z', extra);
    expect(p.status, p.stderr).toBe(0);
    expect(execFileSync('ip', ['-n', lab.ns.dir, 'route', 'show', `${extra}/32`], { encoding: 'utf8' })).toContain(`dev ${dev}`);
    const code = await new Promise<number | null>((resolve) => { child.on('exit', resolve); child.kill('SIGTERM'); });
    expect(code).toBe(0);
    expect(out).toMatch(new RegExp(`^TCP  ${LAB_VIP.replaceAll('.', '\\.')}:80 +300 `, 'm'));
    expect(out).toMatch(new RegExp(`^UDP  ${LAB_VIP.replaceAll('.', '\\.')}:53 +30 `, 'm'));
    for (const a of lab.rsAddrs) expect(out).toMatch(new RegExp(`-> ${a.replaceAll(".", "\\.")}:80 +100 `));
    expect(out).toMatch(/passed by the engine and written back for the kernel to route: 0; local answers: 0 RST, 0 port unreachable; engine drops: 0$/m);
    if (process.env.WVS_SHOW_TOA) console.log(out);
    expect(err).toContain(`TUN ${dev} closed, 4 route(s) removed`);
    for (const a of [LAB_VIP, ...LAB_LADDRS, extra]) {
      expect(execFileSync('ip', ['-n', lab.ns.dir, 'route', 'show', `${a}/32`], { encoding: 'utf8' })).toBe('');
    }
  }, 30_000);
});
