import { describe, expect, it, test } from 'vitest';
import {
  cmpServices, formatConnList, formatList, formatSave, formatTimeouts, largenum, msort, usageText,
} from '../../host/rules/format.ts';
import { tableResolver } from '../../host/rules/services.ts';
import { inetAton, inetPton6, ntop6 } from '../../host/addr.ts';
import { ZERO_RATES, ZERO_STATS, type ConnView, type DestView, type ServiceView } from '../../host/types.ts';
import { recorded } from './oracle.ts';

/* ---- views, built by hand the way the engine wrapper will produce them */
type SvcIn = Partial<ServiceView> & Pick<ServiceView, 'addr' | 'port'>;
type DestIn = Partial<DestView> & Pick<DestView, 'addr' | 'port'>;
const svc = (s: SvcIn, ...dests: DestIn[]): ServiceView => ({
  af: 4, proto: 'TCP', fwmark: 0, sched: 'wlc', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '',
  stats: ZERO_STATS, rates: ZERO_RATES, ...s, dests: dests.map(dest),
});
const dest = (d: DestIn): DestView => ({
  af: 4, fwd: 'Masq', weight: 1, uthresh: 0, lthresh: 0, activeconns: 0, inactconns: 0, persistconns: 0,
  stats: ZERO_STATS, rates: ZERO_RATES, ...d,
});

/** The table of case a after its first five commands; dests newest first, as the kernel keeps them. */
const caseA = [
  svc({ addr: '198.18.0.100', port: 80, sched: 'wrr' }, { addr: '198.18.1.2', port: 8080 }, { addr: '198.18.1.1', port: 8080, weight: 3 }),
  svc({ proto: 'UDP', addr: '198.18.0.100', port: 53, sched: 'rr', flags: 1, timeout: 300 }, { addr: '198.18.1.3', port: 53 }),
];
const want = (cmd: string, skip = 0): string => recorded(`ipvsadm ${cmd}`, skip).out;

describe('formatList/formatSave/formatTimeouts reproduce the recording (case a)', () => {
  it('-L -n', () => expect(formatList(caseA, { numeric: true })).toBe(want('-L -n')));
  it('-S -n', () => expect(formatSave(caseA, true)).toBe(want('-S -n')));
  it('-L -n --stats', () => expect(formatList(caseA, { numeric: true, stats: true })).toBe(want('-L -n --stats')));
  it('-L -n --rate', () => expect(formatList(caseA, { numeric: true, rate: true })).toBe(want('-L -n --rate')));
  it('-L -n --exact --stats', () => expect(formatList(caseA, { numeric: true, stats: true, exact: true })).toBe(want('-L -n --exact --stats')));
  it('-L -n --persistent-conn', () => expect(formatList(caseA, { numeric: true, persistentConn: true })).toBe(want('-L -n --persistent-conn')));
  it('-L (names)', () => expect(formatList(caseA, { resolver: tableResolver })).toBe(want('-L')));
  it('-S (names)', () => expect(formatSave(caseA, false, tableResolver)).toBe(want('-S')));
  it('-l -n -t (no header)', () => expect(formatList([caseA[0]], { numeric: true, header: false })).toBe(want('-l -n -t 198.18.0.100:80')));
  it('-L --timeout', () => expect(formatTimeouts({ tcp: 900, tcpfin: 120, udp: 300 })).toBe(want('-L --timeout')));
  it('-L -n -c (empty)', () => expect(formatConnList([], { numeric: true })).toBe(want('-L -n -c')));
  it('--thresholds', () => {
    const s = svc({ addr: '198.18.0.100', port: 80, sched: 'wrr' }, { addr: '198.18.1.9', port: 8080, weight: 70000 }, ...caseA[0].dests);
    expect(formatList([s], { numeric: true, header: false, thresholds: true })).toBe(want('-L -n -t 198.18.0.100:80 --thresholds'));
    expect(formatList([s], { numeric: true, header: false })).toBe(want('-L -n -t 198.18.0.100:80'));
  });
  it('services sorted: proto, address, port; FWM last', () => {
    const added = ['198.18.0.120:80', '198.18.0.5:80', '198.18.0.100:443', '198.18.0.100:22'].map((v) => {
      const [addr, port] = v.split(':');
      return svc({ addr, port: Number(port), sched: 'rr' });
    });
    added.push(svc({ proto: 'UDP', addr: '198.18.0.5', port: 53, sched: 'rr' }), svc({ proto: null, addr: '0.0.0.0', port: 0, fwmark: 7, sched: 'rr' }));
    expect(formatList(added.reverse(), { numeric: true })).toBe(want('-L -n', 2));
    expect(formatSave(added, true)).toBe(want('-S -n', 3));
  });
});

describe('counters and columns', () => {
  test.each([
    [0n, '        0'], [99999999n, ' 99999999'], [100000000n, '  100000K'], [999999999n, '  999999K'],
    [1000000000n, '    1000M'], [99999999999n, '   99999M'], [100000000000n, '     100G'],
    [100000000000000n, '     100T'], [18446744073709551615n, '18446744T'],
  ])('largenum %s', (v, s) => expect(largenum(v)).toBe(s));
  test.each([
    [0n, '        0'], [12345678n, ' 12345678'], [123456789n, ' 123456789'], [18446744073709551615n, ' 18446744073709551615'],
  ])('largenum exact %s', (v, s) => expect(largenum(v, true)).toBe(s));

  it('--stats with traffic (kernel oracle case c)', () => {
    const st = { conns: 1n, inpkts: 6n, outpkts: 4n, inbytes: 334n, outbytes: 222n };
    const s = svc({ addr: '198.18.0.100', port: 80, sched: 'rr', stats: st }, { addr: '198.18.1.1', port: 8080, stats: st });
    expect(formatList([s], { numeric: true, stats: true })).toBe(
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
      'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n' +
      '  -> RemoteAddress:Port\n' +
      'TCP  198.18.0.100:80                     1        6        4      334      222\n' +
      '  -> 198.18.1.1:8080                     1        6        4      334      222\n');
  });
  it('--rate: a dest\'s CPS/InPPS/OutPPS are never scaled', () => {
    const r = { cps: 123456789, inpps: 2, outpps: 3, inbps: 123456789, outbps: 5 };
    const s = svc({ addr: '10.0.0.1', port: 80, rates: r }, { addr: '10.0.1.1', port: 80, rates: r });
    expect(formatList([s], { numeric: true, rate: true, header: false }).split('\n').slice(2, 4)).toEqual([
      'TCP  10.0.0.1:80                   123456K        2        3  123456K        5',
      '  -> 10.0.1.1:80                  123456789        2        3  123456K        5',
    ]);
  });
});

describe('service line variants', () => {
  const line = (s: ServiceView): string => formatList([s], { numeric: true, header: false }).split('\n')[2];
  const rule = (s: ServiceView): string => formatSave([s]).split('\n')[0];
  it('persistent with mask and pe', () => {
    const s = svc({ proto: 'UDP', addr: '10.0.0.1', port: 5060, flags: 1, timeout: 60, netmask: 0xffffff00, pe: 'sip' });
    expect([line(s), rule(s)]).toEqual(['UDP  10.0.0.1:5060 wlc persistent 60 mask 255.255.255.0 pe sip', '-A -u 10.0.0.1:5060 -s wlc -p 60 -M 255.255.255.0 --pe sip']);
  });
  it('sched flags and ops', () => {
    const s = svc({ proto: 'UDP', addr: '10.0.0.1', port: 53, sched: 'sh', flags: 0x4 | 0x8 | 0x10 });
    expect([line(s), rule(s)]).toEqual(['UDP  10.0.0.1:53 sh (sh-fallback,sh-port) ops', '-A -u 10.0.0.1:53 -s sh -o -b sh-fallback,sh-port']);
  });
  it('synproxy as DPVS\'s ipvsadm lists it (after ops), saved as -j enable', () => {
    const s = svc({ proto: 'TCP', addr: '10.0.0.1', port: 80, sched: 'rr', flags: 0x10000 | 1, timeout: 60 });
    expect([line(s), rule(s)]).toEqual(['TCP  10.0.0.1:80 rr persistent 60 synproxy', '-A -t 10.0.0.1:80 -s rr -p 60 -j enable']);
  });
  it('IPv6 service, mask as prefix', () => {
    const s = svc({ af: 6, addr: '2001:db8::1', port: 80, flags: 1, timeout: 300, netmask: 64 }, { af: 6, addr: '2001:db8::10', port: 80, fwd: 'Route' });
    expect(formatList([s], { numeric: true, header: false })).toBe(
      'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
      'TCP  [2001:db8::1]:80 wlc persistent 300 mask 64\n  -> [2001:db8::10]:80            Route   1      0          0         \n');
    expect(formatSave([s])).toBe('-A -t [2001:db8::1]:80 -s wlc -p 300 -M 64\n-a -t [2001:db8::1]:80 -r [2001:db8::10]:80 -g -w 1\n');
  });
  it('fwmark IPv6', () => {
    const s = svc({ af: 6, proto: null, addr: '::', port: 0, fwmark: 9, netmask: 128 });
    expect([line(s), rule(s)]).toEqual(['FWM  9 IPv6 wlc', '-A -f 9 -6 -s wlc']);
  });
  it('fwmark above 2^31 prints signed, as ipvsadm 1.31 does', () => {
    expect(rule(svc({ proto: null, addr: '0.0.0.0', port: 0, fwmark: 2882430849 }))).toBe('-A -f -1412536447 -s wlc');
  });
  it('tunnel dests in -S and --tun-info', () => {
    const s = svc({ addr: '10.0.0.1', port: 80 },
      { addr: '10.0.1.1', port: 80, fwd: 'Tunnel' },
      { addr: '10.0.1.2', port: 80, fwd: 'Tunnel', tunType: 'gue', tunPort: 6080, tunFlags: 2 },
      { addr: '10.0.1.3', port: 80, fwd: 'Tunnel', tunType: 'gre', tunFlags: 1 },
      { addr: '10.0.1.4', port: 80, fwd: 'Local' });
    expect(formatSave([s])).toBe('-A -t 10.0.0.1:80 -s wlc\n' +
      '-a -t 10.0.0.1:80 -r 10.0.1.1:80 -i -w 1 --tun-type ipip\n' +
      '-a -t 10.0.0.1:80 -r 10.0.1.2:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum\n' +
      '-a -t 10.0.0.1:80 -r 10.0.1.3:80 -i -w 1 --tun-type gre --tun-csum\n' +
      '-a -t 10.0.0.1:80 -r 10.0.1.4:80 -g -w 1\n');
    expect(formatList([s], { numeric: true, header: false, tunInfo: true }).split('\n').slice(1, 7)).toEqual([
      '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn',
      'TCP  10.0.0.1:80 wlc',
      '  -> 10.0.1.1:80                  Tunnel  ipip          1      0          0         ',
      '  -> 10.0.1.2:80                  Tunnel  gue:6080:r+c  1      0          0         ',
      '  -> 10.0.1.3:80                  Tunnel  gre:+c        1      0          0         ',
      '  -> 10.0.1.4:80                  Local   n/a           1      0          0         ',
    ]);
  });
  it('long names are cut at 33 (service) and 28 (dest) columns', () => {
    const long = () => ({ host: 'a-very-long-host-name.example.org' });
    const s = svc({ addr: '10.0.0.1', port: 80 }, { addr: '10.0.1.1', port: 80 });
    expect(formatList([s], { header: false, resolver: long }).split('\n').slice(2, 4)).toEqual([
      'TCP  a-very-long-host-name.exampl wlc', '  -> a-very-long-host-name.exampl Masq    1      0          0         ',
    ]);
  });
});

describe('sorting (libipvs comparators through glibc merge sort)', () => {
  const order = (xs: ServiceView[]): string[] => msort(xs, cmpServices).map((s) => `${s.proto ?? 'FWM'} ${s.addr}:${s.port}${s.fwmark ? ' ' + s.fwmark : ''}`);
  it('v4 before v6 whatever the protocol, fwmark services last', () => {
    expect(order([
      svc({ proto: null, addr: '0.0.0.0', port: 0, fwmark: 1 }), svc({ af: 6, addr: '::1', port: 1 }),
      svc({ proto: 'SCTP', addr: '1.1.1.1', port: 1 }), svc({ proto: 'UDP', addr: '1.1.1.1', port: 1 }), svc({ addr: '1.1.1.1', port: 1 }),
    ])).toEqual(['TCP 1.1.1.1:1', 'UDP 1.1.1.1:1', 'SCTP 1.1.1.1:1', 'TCP ::1:1', 'FWM 0.0.0.0:0 1']);
  });
  it('addresses more than 2^31 apart compare reversed (int overflow in ipvs_cmp_services)', () => {
    expect(order([svc({ addr: '10.0.0.1', port: 80 }, ), svc({ addr: '198.18.0.1', port: 80 })])).toEqual(['TCP 198.18.0.1:80', 'TCP 10.0.0.1:80']);
    expect(order([svc({ addr: '10.0.0.1', port: 80 }), svc({ addr: '100.0.0.1', port: 80 })])).toEqual(['TCP 10.0.0.1:80', 'TCP 100.0.0.1:80']);
  });
  it('--nosort keeps the given order', () => {
    const s = svc({ addr: '10.0.0.1', port: 80 }, { addr: '10.0.1.2', port: 80 }, { addr: '10.0.1.1', port: 80 });
    expect(formatList([s], { numeric: true, header: false, nosort: true }).split('\n').slice(3, 5).map((l) => l.slice(5, 17)))
      .toEqual(['10.0.1.2:80 ', '10.0.1.1:80 ']);
  });
});

describe('-L -c (kernel oracle case c lines)', () => {
  const conn = (state: string, expiresMs: number, c: Partial<ConnView> = {}): ConnView => ({
    proto: 'TCP', af: 4, caddr: '198.18.0.2', cport: 40000, vaddr: '198.18.0.100', vport: 80, daddr: '198.18.1.1',
    dport: 8080, state, expiresMs, flags: 0, ...c,
  });
  it('states and expiry', () => {
    expect(formatConnList([conn('SYN_RECV', 59_999), conn('ESTABLISHED', 899_400), conn('CLOSE_WAIT', 59_000), conn('TIME_WAIT', 119_999)], { numeric: true })).toBe(
      'IPVS connection entries\n' +
      'pro expire state       source             virtual            destination\n' +
      'TCP 00:59  SYN_RECV    198.18.0.2:40000   198.18.0.100:80    198.18.1.1:8080\n' +
      'TCP 14:59  ESTABLISHED 198.18.0.2:40000   198.18.0.100:80    198.18.1.1:8080\n' +
      'TCP 00:59  CLOSE_WAIT  198.18.0.2:40000   198.18.0.100:80    198.18.1.1:8080\n' +
      'TCP 01:59  TIME_WAIT   198.18.0.2:40000   198.18.0.100:80    198.18.1.1:8080\n');
  });
  it('an address:port longer than 18 pushes the next column', () => {
    expect(formatConnList([conn('SYN_RECV', 59_000, { caddr: '198.19.168.28', cport: 58093 })], { numeric: true }).split('\n')[2])
      .toBe('TCP 00:59  SYN_RECV    198.19.168.28:58093 198.18.0.100:80    198.18.1.1:8080');
  });
  it('--persistent-conn: pe columns only where the conn has pe data', () => {
    const out = formatConnList([conn('NONE', 3_000, { proto: 'UDP', pe: 'sip', pedata: 'abc@host' }), conn('UDP', 3_000, { proto: 'UDP' })], { numeric: true, persistentConn: true });
    expect(out.split('\n').slice(1, 4)).toEqual([
      'pro expire state       source             virtual            destination        pe name          pe_data',
      'UDP 00:03  NONE        198.18.0.2:40000   198.18.0.100:80    198.18.1.1:8080  sip                abc@host',
      'UDP 00:03  UDP         198.18.0.2:40000   198.18.0.100:80    198.18.1.1:8080',
    ]);
  });
  it('fwmark templates (proto IP) keep numeric ports; v6 in brackets', () => {
    expect(formatConnList([conn('NONE', 300_000, { proto: 'IP', af: 6, caddr: '2001:db8::2', cport: 0, vaddr: '::', vport: 0, daddr: '2001:db8::10', dport: 0 })], { resolver: tableResolver }).split('\n')[2])
      .toBe('IP  05:00  NONE        [2001:db8::2]:0    [::]:0             [2001:db8::10]:0');
  });
});

describe('addresses as glibc reads and prints them', () => {
  test.each([
    ['1.2.3.4', 0x01020304], ['10.1', 0x0a000001], ['0x0a000001', 0x0a000001], ['012.0.0.1', 0x0a000001],
    ['1.2.3.4 trailing', 0x01020304], ['256.0.0.1', null], ['1.2.3', 0x01020003], ['08.1.1.1', null], ['1.2.3.4.', null], ['0x', null],
  ])('inet_aton %s', (s, v) => expect(inetAton(s)).toBe(v));
  test.each([
    ['::', '::'], ['::1', '::1'], ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'], ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'], ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'], ['fe80::1:0:0:0', 'fe80::1:0:0:0'], ['1:0:0:0:1:0:0:0', '1::1:0:0:0'], ['1:2:0:0:1:0:0:0', '1:2:0:0:1::'],
    ['::1.2.3.4', '::1.2.3.4'],
  ])('inet_pton/ntop %s', (s, t) => expect(ntop6(inetPton6(s)!)).toBe(t));
  test.each(['1::2::3', ':1::2', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1'])('inet_pton rejects %s', (s) => expect(inetPton6(s)).toBeNull());
});

test('usage text starts like ipvsadm -h', () => {
  expect(usageText().split('\n').slice(0, 3)).toEqual([
    'ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)', 'Usage:',
    '  ipvsadm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]',
  ]);
});
