/*
 * FULLNAT through the ipvsadm command line: DPVS's options (-P/--add-laddr, -Q/--del-laddr,
 * -G/--get-laddr, -z/--laddr, -F/--ifname; --fullnat for a real server, whose DPVS short form -b
 * stays --sched-flags as in ipvsadm 1.31), the save format (-S | -R round trip) and the engine
 * behind it (host/control/backend.ts).
 */
import { describe, test, expect } from 'vitest';
import { parseArgs } from '../../../host/rules/parse.ts';
import { runAdm } from '../../../host/rules/adm.ts';
import { EngineBackend } from '../../../host/control/backend.ts';
import { engine } from '../../helpers/engine.ts';

describe('DPVS laddr options', () => {
  test('parse', () => {
    expect(parseArgs(['-P', '-t', '10.0.0.100:80', '-z', '10.0.1.1', '-F', 'dpdk0'])).toEqual({
      cmd: 'addLaddr', svc: { af: 4, proto: 'TCP', addr: '10.0.0.100', port: 80, fwmark: 0 }, laddr: { af: 4, addr: '10.0.1.1' }, ifname: 'dpdk0',
    });
    expect(parseArgs(['--del-laddr', '-t', '10.0.0.100:80', '--laddr', '10.0.1.1'])).toMatchObject({ cmd: 'delLaddr', laddr: { addr: '10.0.1.1' } });
    expect(parseArgs(['-G'])).toEqual({ cmd: 'getLaddr', svc: null });
    expect(parseArgs(['-a', '-t', '10.0.0.100:80', '-r', '10.0.2.1:8080', '--fullnat'])).toMatchObject({ cmd: 'addDest', dest: { fwd: 'FullNat', port: 8080 } });
  });
  test.each([
    [['-P', '-t', '10.0.0.100:80'], "You need to supply the 'local-address' option for the 'add-laddr' command"],
    [['-P', '-z', '10.0.1.1'], "You need to supply the 'service-address' option for the 'add-laddr' command"],
    [['-P', '-t', '10.0.0.100:80', '-z', 'nonsense!'], 'illegal local address'],
    [['-A', '-t', '10.0.0.100:80', '-z', '10.0.1.1'], "Illegal 'local-address' option with the 'add-service' command"],
    [['-P', '-t', '10.0.0.100:80', '-z', '2001::1'], 'local address family differs from the service'],
    [['-a', '-t', '10.0.0.100:80', '-r', '10.0.2.1', '--fullnat', '-g'], "multiple 'forwarding-method' options specified"],
  ])('%j → %s', (argv, msg) => {
    expect(() => parseArgs(argv)).toThrow(msg);
  });
});

describe('adm against an engine', () => {
  test('-A, -a --fullnat, -P; -G lists, -S saves what -R restores, -Q', async () => {
    const e = await engine();
    const be = new EngineBackend(e);
    const run = (s: string, stdin?: string) => runAdm(s.split(' '), be, { stdin });
    expect((await run('-A -t 198.18.0.100:80 -s rr')).rc).toBe(0);
    expect((await run('-a -t 198.18.0.100:80 -r 198.18.1.1:8080 --fullnat -w 2')).rc).toBe(0);
    expect((await run('-P -t 198.18.0.100:80 -z 198.18.2.1 -F eth0')).rc).toBe(0);
    expect((await run('-P -t 198.18.0.100:80 -z 198.18.2.2')).rc).toBe(0);
    expect(await run('-P -t 198.18.0.100:80 -z 198.18.2.2')).toMatchObject({ rc: 255, stderr: 'Local address already exists\n' });
    expect(await run('-P -t 198.18.0.100:81 -z 198.18.2.2')).toMatchObject({ rc: 255, stderr: 'No such service\n' });
    const list = await run('-L -n');
    expect(list.stdout).toContain('  -> 198.18.1.1:8080              FullNat 2      0          0         \n');
    const g = await run('-G');
    expect(g.stdout).toBe(
      'VIP:VPORT            TOTAL    SNAT_IP              CONFLICTS  CONNS     \n' +
      '198.18.0.100:80      2        \n' +
      '                              198.18.2.1           0          0         \n' +
      '                              198.18.2.2           0          0         \n');
    const save = (await run('-S -n')).stdout;
    expect(save).toBe(
      '-A -t 198.18.0.100:80 -s rr\n' +
      '-a -t 198.18.0.100:80 -r 198.18.1.1:8080 --fullnat -w 2\n' +
      '-P -t 198.18.0.100:80 -z 198.18.2.1\n' +
      '-P -t 198.18.0.100:80 -z 198.18.2.2\n');
    // -C then -R: the same table again
    expect((await run('-C')).rc).toBe(0);
    expect((await run('-R', save)).rc).toBe(0);
    expect((await run('-S -n')).stdout).toBe(save);
    expect((await run('-Q -t 198.18.0.100:80 -z 198.18.2.1')).rc).toBe(0);
    expect(await run('-Q -t 198.18.0.100:80 -z 198.18.2.1')).toMatchObject({ rc: 255, stderr: 'No such local address\n' });
    expect(e.laddrs({ proto: 'TCP', addr: '198.18.0.100', port: 80 }).map((l) => l.addr)).toEqual(['198.18.2.2']);
  });
});
