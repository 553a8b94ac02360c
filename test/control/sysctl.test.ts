/*
 * test/control/sysctl.test.ts - net.ipv4.vs.* by name (issue 13): the names, defaults and
 * accepted values of Linux 6.1 (test/golden/kernel/recorded/sysctl, recorded by
 * test/golden/kernel/cases/sysctl.sh), set at run time through `wasmvs adm --sysctl` and at
 * start with `wasmvs run --sysctl`, and what they change in the engine.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { director, type Director } from './helpers.ts';
import { engine as freshEngine } from '../helpers/engine.ts';
import { ip, fields } from '../helpers/pkt.ts';
import { SYSCTLS, sysctlGet, sysctlList, sysctlSet, WvsSysctlError } from '../../host/rules/sysctl.ts';
import { parseRunArgs } from '../../host/director/run.ts';

const GOLDEN = readFileSync(join(import.meta.dirname, '..', 'golden', 'kernel', 'recorded', 'sysctl', 'stdout.txt'), 'utf8');
const defaults = new Map([...GOLDEN.matchAll(/^net\.ipv4\.vs\.(\w+) = (.*)$/gm)].map((m) => [m[1], m[2]]));
const probes = [...GOLDEN.matchAll(/^(\w+) <- "(.*)": (ok|refused), reads (.*)$/gm)].map((m) => ({ name: m[1], value: m[2], ok: m[3] === 'ok', reads: m[4] }));

let d: Director | undefined;
afterEach(async () => { await d?.stop(); d = undefined; });

describe('the kernel\'s sysctls', () => {
  test('every name of Linux 6.1 is known, with its default; a fresh engine reads the defaults', async () => {
    expect(defaults.size).toBe(29);
    expect(Object.keys(SYSCTLS)).toEqual([...defaults.keys()]);
    for (const [n, v] of defaults) expect(SYSCTLS[n].def, n).toBe(v);
    const e = await freshEngine();
    const listed = sysctlList(e);
    for (const { name, value } of listed) expect(value, name).toBe(defaults.get(name));
    // the listing: every one (all are implemented or fixed since the defense strategies came)
    expect(listed.map((x) => x.name)).toEqual(['am_droprate', 'amemthresh', 'backup_only', 'cache_bypass', 'conn_reuse_mode', 'conntrack', 'drop_entry', 'drop_packet', 'expire_nodest_conn',
      'expire_quiescent_template', 'ignore_tunneled', 'lblc_expiration', 'lblcr_expiration', 'nat_icmp_send', 'pmtu_disc', 'run_estimation',
      'schedule_icmp', 'secure_tcp', 'sloppy_sctp', 'sloppy_tcp', 'snat_reroute', 'sync_persist_mode', 'sync_ports', 'sync_qlen_max',
      'sync_refresh_period', 'sync_retries', 'sync_sock_size', 'sync_threshold', 'sync_version']);
  });

  test('settable ones accept what the kernel\'s proc handler accepts and read back what it reads back', async () => {
    const e = await freshEngine();
    // the probes ran on a kernel with plenty of memory: 2 read back as 1
    sysctlSet(e, 'amemthresh', '0');
    const settable = Object.keys(SYSCTLS).filter((n) => ['int', 'defense', 'pair'].includes(SYSCTLS[n].kind));
    expect(settable).toEqual(['am_droprate', 'amemthresh', 'conn_reuse_mode', 'drop_entry', 'drop_packet', 'expire_nodest_conn', 'expire_quiescent_template', 'run_estimation', 'secure_tcp', 'sloppy_sctp', 'sloppy_tcp',
      'sync_persist_mode', 'sync_ports', 'sync_qlen_max', 'sync_refresh_period', 'sync_retries', 'sync_sock_size', 'sync_threshold', 'sync_version']);
    let n = 0;
    for (const p of probes.filter((x) => settable.includes(x.name))) {
      let got: string | Error;
      if (p.name === 'amemthresh') sysctlSet(e, p.name, defaults.get(p.name)!);
      try { got = sysctlSet(e, p.name, p.value); } catch (err) { got = err as Error; }
      if (p.ok) expect(got, `${p.name} <- ${p.value}`).toBe(p.reads);
      else {
        expect(got, `${p.name} <- ${p.value}`).toBeInstanceOf(WvsSysctlError);
        expect(sysctlGet(e, p.name)).toBe(p.reads);   // unchanged
      }
      sysctlSet(e, p.name, p.name === 'amemthresh' ? '0' : defaults.get(p.name)!);
      n++;
    }
    expect(n).toBe(settable.length * 12);
  });

  test('each maps onto its engine setting', async () => {
    const e = await freshEngine();
    sysctlSet(e, 'amemthresh', '0');   // memory plentiful: 1 and 2 do not act
    const cases: [string, string, Record<string, boolean>][] = [
      ['expire_nodest_conn', '1', { expireNodestConn: true }],
      ['expire_quiescent_template', '7', { expireQuiescentTemplate: true }],
      ['sloppy_tcp', '1', { sloppyTcp: true }],
      ['sloppy_sctp', '1', { sloppySctp: true }],
      ['conn_reuse_mode', '0', { connReuse: false, connReuse2: false }],
      ['conn_reuse_mode', '2', { connReuse: true, connReuse2: true }],
      ['conn_reuse_mode', '1', { connReuse: true, connReuse2: false }],
      ['conn_reuse_mode', '4', { connReuse: true, connReuse2: false }],
      ['secure_tcp', '1', { secureTcp: false }],
      ['secure_tcp', '2', { secureTcp: false }],
      ['secure_tcp', '3', { secureTcp: true }],
      ['secure_tcp', '0', { secureTcp: false }],
    ];
    for (const [name, v, want] of cases) {
      sysctlSet(e, name, v);
      for (const [s, on] of Object.entries(want)) expect(e.setting(s as any), `${name}=${v}: ${s}`).toBe(on);
    }
    expect(sysctlGet(e, 'conn_reuse_mode')).toBe('4');
  });

  test('fixed ones take their default only; unknown ones are refused with the reason', async () => {
    const e = await freshEngine();
    expect(sysctlSet(e, 'pmtu_disc', '1')).toBe('1');
    expect(() => sysctlSet(e, 'nat_icmp_send', '1')).toThrow('net.ipv4.vs.nat_icmp_send = 1: not implemented by wasmvs, only 0: a NAT real server\'s packet that matches no conn is passed on');
    expect(() => sysctlSet(e, 'backup_only', '1')).toThrow('net.ipv4.vs.backup_only = 1: not implemented by wasmvs, only 0: a backup keeps forwarding');
    expect(() => sysctlGet(e, 'nosuch')).toThrow(/^net\.ipv4\.vs\.nosuch: no such IPVS sysctl \(Linux 6\.1 has: am_droprate, /);
  });
});

describe('wasmvs adm --sysctl', () => {
  test('lists in sysctl -a format, reads one, writes one (any spelling of the name), refuses with rc 255', async () => {
    d = await director();
    const list = await d.adm('--sysctl');
    expect(list.rc).toBe(0);
    expect(list.stdout).toBe(sysctlList(d.e).map((x) => `net.ipv4.vs.${x.name} = ${x.value}\n`).join(''));
    expect(list.stdout).toContain('net.ipv4.vs.expire_nodest_conn = 0\n');
    expect(await d.adm('--sysctl net.ipv4.vs.expire_nodest_conn=1')).toEqual({ stdout: 'net.ipv4.vs.expire_nodest_conn = 1\n', stderr: '', rc: 0 });
    expect(d.e.setting('expireNodestConn')).toBe(true);
    expect(await d.adm('--sysctl=net/ipv4/vs/sloppy_tcp=1 --sysctl conn_reuse_mode')).toEqual({
      stdout: 'net.ipv4.vs.sloppy_tcp = 1\nnet.ipv4.vs.conn_reuse_mode = 1\n', stderr: '', rc: 0,
    });
    const bad = await d.adm('--sysctl secure_tcp=4', );
    expect(bad).toEqual({ stdout: '', stderr: 'ipvsadm: net.ipv4.vs.secure_tcp: 4 is out of range 0-3 (the kernel\'s proc_do_defense_mode refuses it: Invalid argument)\n', rc: 255 });
    expect(await d.adm('--sysctl sync_ports=2')).toEqual({ stdout: 'net.ipv4.vs.sync_ports = 2\n', stderr: '', rc: 0 });
    expect((await d.adm('--sysctl sync_ports=3')).stderr).toBe('ipvsadm: net.ipv4.vs.sync_ports: 3 is not a power of two of at least 1 (proc_do_sync_ports): Invalid argument\n');
    expect((await d.adm('--sysctl expire_nodest_conn=yes')).stderr).toBe('ipvsadm: net.ipv4.vs.expire_nodest_conn: "yes" is not an integer (the kernel\'s proc_dointvec refuses it: Invalid argument)\n');
    expect((await d.adm('--sysctl -L')).rc).toBe(2);
  });

  test('the defense modes read back what the engine made of them: 1 shows 2 while memory is low, 1 again within a second of it being plentiful', async () => {
    d = await director();
    expect(await d.adm('--sysctl amemthresh=2147483647 --sysctl drop_entry=1 --sysctl secure_tcp=1')).toEqual({
      stdout: 'net.ipv4.vs.amemthresh = 2147483647\nnet.ipv4.vs.drop_entry = 2\nnet.ipv4.vs.secure_tcp = 2\n', stderr: '', rc: 0,
    });
    expect(d.e.setting('secureTcp')).toBe(true);
    expect((await d.adm('--sysctl drop_packet=4')).stderr).toBe('ipvsadm: net.ipv4.vs.drop_packet: 4 is out of range 0-3 (the kernel\'s proc_do_defense_mode refuses it: Invalid argument)\n');
    expect((await d.adm('--sysctl amemthresh=0')).stdout).toBe('net.ipv4.vs.amemthresh = 0\n');
    expect((await d.adm('--sysctl drop_entry')).stdout).toBe('net.ipv4.vs.drop_entry = 2\n');   // until the next run
    d.e.tick(0); d.e.tick(1000);
    expect((await d.adm('--sysctl drop_entry --sysctl secure_tcp')).stdout).toBe('net.ipv4.vs.drop_entry = 1\nnet.ipv4.vs.secure_tcp = 1\n');
    expect(d.e.setting('secureTcp')).toBe(false);
  });

  test('expire_nodest_conn set at run time: a UDP flow to a deleted server is no longer blackholed', async () => {
    d = await director();
    const VIP = '198.18.0.100';
    await d.adm(['-A', '-u', `${VIP}:53`, '-s', 'rr']);
    await d.adm(['-a', '-u', `${VIP}:53`, '-r', '198.18.1.1:53', '-m']);
    await d.adm(['-a', '-u', `${VIP}:53`, '-r', '198.18.1.2:53', '-m']);
    const q = () => d!.e.processFrame(ip('198.19.0.2', VIP, { proto: 'udp', sport: 40000, dport: 53, payload: new Uint8Array(4) }), 1000);
    const first = q();
    expect(first.verdict).toBe('XMIT');
    const gone = fields(first.data).dst;
    await d.adm(['-d', '-u', `${VIP}:53`, '-r', `${gone}:53`]);
    expect(q().verdict).toBe('DROP');   // the conn still points at the deleted server
    expect((await d.adm('--sysctl net.ipv4.vs.expire_nodest_conn=1')).rc).toBe(0);
    const after = q();
    expect(after.verdict).toBe('XMIT');
    expect(fields(after.data).dst).not.toBe(gone);
  });
});

describe('wasmvs run --sysctl', () => {
  test('NAME=VALUE with or without the prefix, repeatable; a missing value is a usage error', () => {
    expect(parseRunArgs(['--sysctl', 'net.ipv4.vs.expire_nodest_conn=1', '--sysctl=sloppy_tcp=1']).sysctls).toEqual([
      { name: 'expire_nodest_conn', value: '1' }, { name: 'sloppy_tcp', value: '1' },
    ]);
    expect(() => parseRunArgs(['--sysctl', 'expire_nodest_conn'])).toThrow('--sysctl needs NAME=VALUE (e.g. net.ipv4.vs.expire_nodest_conn=1), got expire_nodest_conn');
  });
});

describe('wasmvs replay --sysctl', () => {
  test('a flow picked up mid-stream is scheduled only with sloppy_tcp=1; the option parses as on run', async () => {
    const { replay } = await import('../../host/replay/replay.ts');
    const { parseReplayArgs } = await import('../../host/replay/cli.ts');
    const { writePcap } = await import('../../host/pcap/write.ts');
    const { engineModule } = await import('../../host/engine-node.ts');
    const cap = writePcap([{ tsNs: 1_000_000_000n, data: ip('198.19.0.2', '198.18.0.100', { proto: 'tcp', sport: 40000, dport: 80, flags: 'PA', payload: new Uint8Array(10) }) }]);
    const rules = '-A -t 198.18.0.100:80 -s rr\n-a -t 198.18.0.100:80 -r 198.18.1.1:80 -m\n';
    const run = (sysctls?: { name: string; value: string }[]) => replay([cap], { wasm: engineModule(), rules, sysctls });
    expect((await run()).conns.created).toBe(0);
    expect((await run([{ name: 'sloppy_tcp', value: '1' }])).conns.created).toBe(1);
    await expect(run([{ name: 'sync_version', value: '2' }])).rejects.toThrow(/only 0 or 1 \(proc_do_sync_mode\): Invalid argument/);
    expect(parseReplayArgs(['in.pcap', '--rules', 'r', '--sysctl', 'net.ipv4.vs.sloppy_tcp=1']).sysctls).toEqual([{ name: 'sloppy_tcp', value: '1' }]);
  });

  test('drop_packet=3 in a replay: 1 in am_droprate SYNs dropped (the 1st, 11th, ... as 6.1 did), counted', async () => {
    const { replay } = await import('../../host/replay/replay.ts');
    const { writePcap } = await import('../../host/pcap/write.ts');
    const { engineModule } = await import('../../host/engine-node.ts');
    const cap = writePcap(Array.from({ length: 20 }, (_, i) => ({
      tsNs: 1_000_000_000n + BigInt(i) * 1_000_000n,
      data: ip(`198.19.1.${i + 1}`, '198.18.0.100', { proto: 'tcp', sport: 1000, dport: 80, flags: 'S' }),
    })));
    const rules = '-A -t 198.18.0.100:80 -s rr\n-a -t 198.18.0.100:80 -r 198.18.1.1:80 -m\n';
    const r = await replay([cap], { wasm: engineModule(), rules, sysctls: [{ name: 'drop_packet', value: '3' }] });
    expect(r.conns.created).toBe(18);
    expect(r.engine.counters.drop_defense_packet).toBe(2);
    expect(r.output.dropReasons.drop_defense_packet).toBe(2);
  });
});

describe('fixed sysctls read their value as the kernel does', () => {
  test('"1 2" is 1 for pmtu_disc, garbage is EINVAL before "not implemented"', async () => {
    const e = await freshEngine();
    expect(sysctlSet(e, 'pmtu_disc', '1 2')).toBe('1');
    expect(sysctlSet(e, 'nat_icmp_send', ' 0\n')).toBe('0');
    expect(() => sysctlSet(e, 'nat_icmp_send', 'x')).toThrow('net.ipv4.vs.nat_icmp_send: "x" is not an integer');
  });

  test('against the recorded probes: what the kernel refuses is refused; what it accepts is accepted when it is the one value wasmvs has, else refused as not implemented', async () => {
    const e = await freshEngine();
    const fixed = Object.keys(SYSCTLS).filter((n) => SYSCTLS[n].kind === 'fixed');
    let n = 0;
    for (const p of probes.filter((x) => fixed.includes(x.name))) {
      let got: string | WvsSysctlError;
      try { got = sysctlSet(e, p.name, p.value); } catch (err) { got = err as WvsSysctlError; }
      const why = `${p.name} <- ${p.value}`;
      if (p.ok && p.reads === SYSCTLS[p.name].def) expect(got, why).toBe(p.reads);
      else {
        expect(got, why).toBeInstanceOf(WvsSysctlError);
        expect((got as WvsSysctlError).errno, why).toBe(p.ok ? 'EOPNOTSUPP' : 'EINVAL');
      }
      n++;
    }
    expect(n).toBe(fixed.length * 12);
  });
});
