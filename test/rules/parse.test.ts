import { describe, expect, it, test } from 'vitest';
import { parseArgs, parseRulesFile, splitRulesFile, WvsRulesError } from '../../host/rules/parse.ts';
import { WvsUsageError } from '../../host/rules/errors.ts';
import { _, opText } from './helpers.ts';
import { oracleFile } from './oracle.ts';

const TRY = "rc=255 Try `ipvsadm -h' or 'ipvsadm --help' for more information.";

describe('commands the oracle script ran (case a)', () => {
  it('-A wrr', _('-A -t 198.18.0.100:80 -s wrr', 'addService TCP 198.18.0.100:80 wrr flags=0 p=0 mask=255.255.255.255'));
  it('-a masq w3', _('-a -t 198.18.0.100:80 -r 198.18.1.1:8080 -m -w 3', 'addDest TCP 198.18.0.100:80 -> 198.18.1.1:8080 Masq w=3 x=0 y=0'));
  it('-A udp persistent', _('-A -u 198.18.0.100:53 -s rr -p 300', 'addService UDP 198.18.0.100:53 rr flags=1 p=300 mask=255.255.255.255'));
  it('-a udp', _('-a -u 198.18.0.100:53 -r 198.18.1.3:53 -m -w 1', 'addDest UDP 198.18.0.100:53 -> 198.18.1.3:53 Masq w=1 x=0 y=0'));
  it('-L -n', _('-L -n', 'list all numeric'));
  it('-S -n', _('-S -n', 'save numeric'));
  it('-L -n --stats', _('-L -n --stats', 'list all numeric stats'));
  it('-L -n --rate', _('-L -n --rate', 'list all numeric rate'));
  it('-L -n --exact --stats', _('-L -n --exact --stats', 'list all numeric stats exact'));
  it('-L --timeout', _('-L --timeout', 'list timeout'));
  it('-L', _('-L', 'list all'));
  it('-S', _('-S', 'save'));
  it('-L -n -c', _('-L -n -c', 'list conns numeric'));
  it('-L -n --persistent-conn', _('-L -n --persistent-conn', 'list all numeric persistentConn'));
  it('-l -n -t', _('-l -n -t 198.18.0.100:80', 'list service TCP 198.18.0.100:80 numeric'));
  it('unknown scheduler reaches the kernel', _('-A -t 198.18.0.101:80 -s nosuchsched', 'addService TCP 198.18.0.101:80 nosuchsched flags=0 p=0 mask=255.255.255.255'));
  it('-D', _('-D -t 198.18.0.199:80', 'delService TCP 198.18.0.199:80'));
  it('-d (default -g)', _('-d -t 198.18.0.100:80 -r 198.18.1.9:8080', 'delDest TCP 198.18.0.100:80 -> 198.18.1.9:8080 Route w=1 x=0 y=0'));
  // -e without -m is a -g edit, and -g forces the dest port to the service port
  it('-e (default -g forces vport)', _('-e -t 198.18.0.100:80 -r 198.18.1.9:8080 -w 2', 'editDest TCP 198.18.0.100:80 -> 198.18.1.9:80 Route w=2 x=0 y=0'));
  it('-a to a missing service', _('-a -t 198.18.0.199:80 -r 198.18.1.1:8080', 'addDest TCP 198.18.0.199:80 -> 198.18.1.1:80 Route w=1 x=0 y=0'));
  it('-L -n -t missing', _('-L -n -t 198.18.0.199:80', 'list service TCP 198.18.0.199:80 numeric'));
  it('-w 70000 (Debian: up to INT_MAX)', _('-a -t 198.18.0.100:80 -r 198.18.1.9:8080 -m -w 70000', 'addDest TCP 198.18.0.100:80 -> 198.18.1.9:8080 Masq w=70000 x=0 y=0'));
  it('-w -1', _('-a -t 198.18.0.100:80 -r 198.18.1.9:8080 -m -w -1', 'rc=2 illegal weight specified'));
  it('-x 10 -y 20 reaches the kernel', _('-a -t 198.18.0.100:80 -r 198.18.1.9:8080 -m -x 10 -y 20', 'addDest TCP 198.18.0.100:80 -> 198.18.1.9:8080 Masq w=1 x=10 y=20'));
  it('--thresholds', _('-L -n -t 198.18.0.100:80 --thresholds', 'list service TCP 198.18.0.100:80 numeric thresholds'));
  it('-r without port takes the vport', _('-a -t 198.18.0.100:80 -r 198.18.1.9 -m', 'addDest TCP 198.18.0.100:80 -> 198.18.1.9:80 Masq w=1 x=0 y=0'));
  it('zero port', _('-A -t 198.18.0.100 -s rr', 'rc=2 Zero port specified for non-persistent service'));
  it('unknown option', _('--bogus-option', TRY));
  it('-g -w 2', _('-a -t 198.18.0.110:80 -r 198.18.1.40:80 -g -w 2', 'addDest TCP 198.18.0.110:80 -> 198.18.1.40:80 Route w=2 x=0 y=0'));
  it('-C', _('-C', 'clear'));
  it('-R', _('-R', 'restore'));
  it('-A -f', _('-A -f 7 -s rr', 'addService FWM 7 rr flags=0 p=0 mask=255.255.255.255'));
});

describe('popt rules', () => {
  it('no arguments lists', _('', 'list all'));
  it('cluster -Ln', _('-Ln', 'list all numeric'));
  it('cluster with argument -At', _(['-At', '1.2.3.4:80'], 'addService TCP 1.2.3.4:80 wlc flags=0 p=0 mask=255.255.255.255'));
  it('argument glued -p300', _('-A -t 1.2.3.4:80 -p300', 'addService TCP 1.2.3.4:80 wlc flags=1 p=300 mask=255.255.255.255'));
  it('long --opt=value', _('--add-service --tcp-service=1.2.3.4:80 --scheduler=rr', 'addService TCP 1.2.3.4:80 rr flags=0 p=0 mask=255.255.255.255'));
  it('-p without value: 360 (libipvs IPVS_SVC_PERSISTENT_TIMEOUT)', _('-A -t 1.2.3.4:80 -p', 'addService TCP 1.2.3.4:80 wlc flags=1 p=360 mask=255.255.255.255'));
  it('-p does not eat a following option', _('-A -t 1.2.3.4:80 -p -s rr', 'addService TCP 1.2.3.4:80 rr flags=1 p=360 mask=255.255.255.255'));
  it('a required argument may start with -', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -w -5', 'rc=2 illegal weight specified'));
  it('command must come first', _('-n -L', TRY));
  it('first option missing its argument', _('-w', TRY));
  it('second command', _('-L -A', "rc=2 invalid option `-A'"));
  it('-h later is invalid', _('-L -h', "rc=2 invalid option `-h'"));
  it('missing argument', _('-L -w', 'rc=255 -w: missing argument'));
  it('unwanted argument', _('-L --stats=1', 'rc=255 --stats=1: option does not take an argument'));
  it('unknown long option after the command', _('-L --bogus', 'rc=255 --bogus: unknown option'));
  it('unknown short option in a cluster', _('-Lk', 'rc=255 -Lk: unknown option'));
  it('leftover argument', _('-C extra', 'rc=2 unexpected argument extra'));
  it('after -- everything is an argument', _('-L -- -n', 'rc=2 unexpected argument -n'));
  it('--sort is a no-op', _('-L --sort', 'list all'));
  it('-h', _('-h', 'help'));
  it('-v', _('--version', 'version'));
});

describe('option table (commands_v_options)', () => {
  it('repeated option', _('-L -n -n', "rc=2 multiple 'numeric' options specified"));
  it('two forwarding methods', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -m -g', "rc=2 multiple 'forwarding-method' options specified"));
  it('-t and -f', _('-A -t 1.2.3.4:80 -f 1', "rc=2 multiple 'service-address' options specified"));
  it('illegal option', _('-A -t 1.2.3.4:80 -r 10.0.0.1', "rc=2 Illegal 'real-server' option with the 'add-service' command"));
  it('illegal -s on -D', _('-D -t 1.2.3.4:80 -s rr', "rc=2 Illegal 'scheduler' option with the 'delete-service' command"));
  it('compulsory option missing', _('-a -t 1.2.3.4:80', "rc=2 You need to supply the 'real-server' option for the 'add-server' command"));
  it('service missing (checked first: lower column)', _('-a -r 10.0.0.1', "rc=2 You need to supply the 'service-address' option for the 'add-server' command"));
  it('exclusive list options', _('-L -c -t 1.2.3.4:80', "rc=2 The option 'service-address' conflicts with the 'connection' option in the 'list' command"));
  it('exclusive --timeout --daemon', _('-L --timeout --daemon', "rc=2 The option 'daemon' conflicts with the 'timeout' option in the 'list' command"));
  it('list conflicts', _('-L -c --stats', 'rc=2 options conflicts in the list command'));
  it('list conflicts (persistent-conn)', _('-L --timeout --persistent-conn', 'rc=2 options conflicts in the list command'));
  it('-R takes nothing', _('-R -n', "rc=2 Illegal 'numeric' option with the 'restore' command"));
  it('-S takes only -n', _('-S -c', "rc=2 Illegal 'connection' option with the 'save' command"));
  it('-Z all', _('-Z', 'zero'));
  it('-Z one', _('-Z -t 1.2.3.4:80', 'zero TCP 1.2.3.4:80'));
});

describe('services', () => {
  it('-E defaults the scheduler to wlc too', _('-E -t 1.2.3.4:80 -p 60', 'editService TCP 1.2.3.4:80 wlc flags=1 p=60 mask=255.255.255.255'));
  it('scheduler name cut at 15', _('-A -t 1.2.3.4:80 -s averyveryverylongname', 'addService TCP 1.2.3.4:80 averyveryverylo flags=0 p=0 mask=255.255.255.255'));
  it('timeout 0 refused', _('-A -t 1.2.3.4:80 -p 0', "rc=2 invalid timeout value `0' specified"));
  it('netmask', _('-A -t 1.2.3.4:80 -p -M 255.255.255.0', 'addService TCP 1.2.3.4:80 wlc flags=1 p=360 mask=255.255.255.0'));
  it('bad netmask', _('-A -t 1.2.3.4:80 -M foo', 'rc=2 illegal virtual server persistent mask specified'));
  it('v6 netmask', _('-A -t [2001:db8::1]:80 -p 10 -M 64', 'addService TCP [2001:db8::1]:80 wlc flags=1 p=10 mask=64'));
  it('v6 netmask range', _('-A -t [2001:db8::1]:80 -M 129', 'rc=2 illegal ipv6 netmask specified'));
  it('v6 default mask 128', _('-A -t [2001:DB8:0:0::1]:80', 'addService TCP [2001:db8::1]:80 wlc flags=0 p=0 mask=128'));
  it('v6 without brackets has no port', _('-A -t 2001:db8::1 -p', 'addService TCP [2001:db8::1]:0 wlc flags=1 p=360 mask=128'));
  it('brackets need a port', _('-A -t [2001:db8::1]', 'rc=2 illegal virtual server address[:port] specified'));
  it('inet_aton forms', _('-A -t 10.1:80', 'addService TCP 10.0.0.1:80 wlc flags=0 p=0 mask=255.255.255.255'));
  it('digits only is no address', _('-A -t 80', 'rc=2 illegal virtual server address[:port] specified'));
  it('host names need a resolver', _('-A -t www.example.org:80', 'rc=2 illegal virtual server address[:port] specified'));
  it('service names (tcp)', _('-A -t 1.2.3.4:http', 'addService TCP 1.2.3.4:80 wlc flags=0 p=0 mask=255.255.255.255'));
  it('service names (udp)', _('-A -u 1.2.3.4:domain', 'addService UDP 1.2.3.4:53 wlc flags=0 p=0 mask=255.255.255.255'));
  it('port range', _('-A -t 1.2.3.4:65536', 'rc=2 illegal virtual server address[:port] specified'));
  it('sctp', _('-A --sctp-service 1.2.3.4:9 -s rr', 'addService SCTP 1.2.3.4:9 rr flags=0 p=0 mask=255.255.255.255'));
  it('ops only for udp', _('-A -t 1.2.3.4:80 -o', 'rc=2 One-Packet Scheduling is only for UDP virtual services'));
  it('ops on udp', _('-A -u 1.2.3.4:53 --ops', 'addService UDP 1.2.3.4:53 wlc flags=4 p=0 mask=255.255.255.255'));
  it('ops on fwmark', _('-A -f 3 -o', 'addService FWM 3 wlc flags=4 p=0 mask=255.255.255.255'));
  // DPVS's ipvsadm: -j / --synproxy enable|disable (a bare --synproxy enables), TCP services only
  it('synproxy -j enable', _('-A -t 1.2.3.4:80 -s rr -j enable', 'addService TCP 1.2.3.4:80 rr flags=65536 p=0 mask=255.255.255.255'));
  it('synproxy bare --synproxy', _('-A -t 1.2.3.4:80 --synproxy -s rr', 'addService TCP 1.2.3.4:80 rr flags=65536 p=0 mask=255.255.255.255'));
  it('synproxy --synproxy=disable on -E', _('-E -t 1.2.3.4:80 -s rr --synproxy=disable', 'editService TCP 1.2.3.4:80 rr flags=0 p=0 mask=255.255.255.255'));
  it('synproxy with persistence', _('-A -t 1.2.3.4:80 -p 60 -j enable', 'addService TCP 1.2.3.4:80 wlc flags=65537 p=60 mask=255.255.255.255'));
  it('synproxy bad switch', _('-A -t 1.2.3.4:80 -j maybe', 'rc=2 synproxy switch must be enable or disable'));
  it('synproxy only for tcp', _('-A -u 1.2.3.4:53 -j enable', 'rc=2 SYN proxy is only for TCP virtual services'));
  it('synproxy not on -a', _('-a -t 1.2.3.4:80 -r 1.2.3.5:80 -m -j enable', "rc=2 Illegal 'synproxy' option with the 'add-server' command"));
  it('pe', _('-A -u 1.2.3.4:5060 -p 60 --pe sip', 'addService UDP 1.2.3.4:5060 wlc flags=1 p=60 mask=255.255.255.255 pe=sip'));
  it('sh flags', _('-A -t 1.2.3.4:80 -s sh -b sh-port,sh-fallback', 'addService TCP 1.2.3.4:80 sh flags=24 p=0 mask=255.255.255.255'));
  it('mh flags', _('-A -t 1.2.3.4:80 -b mh-port -s mh', 'addService TCP 1.2.3.4:80 mh flags=16 p=0 mask=255.255.255.255'));
  it('generic flags', _('-A -t 1.2.3.4:80 -b flag-1,flag-3', 'addService TCP 1.2.3.4:80 wlc flags=40 p=0 mask=255.255.255.255'));
  it('sh flag with wlc', _('-A -t 1.2.3.4:80 -b sh-port', "rc=2 incompatible scheduler flag `sh-port'"));
  it('unknown flag', _('-A -t 1.2.3.4:80 -s sh -b foo', "rc=2 invalid scheduler flag `foo'"));
  it('fwmark 0', _('-A -f 0', "rc=2 invalid fwmark value `0' specified"));
  it('fwmark max', _('-A -f 4294967295', 'addService FWM 4294967295 wlc flags=0 p=0 mask=255.255.255.255'));
  it('fwmark too big', _('-A -f 4294967296', "rc=2 invalid fwmark value `4294967296' specified"));
  it('fwmark v6', _('-A -f 1 -6', 'addService FWM 1 v6 wlc flags=0 p=0 mask=128'));
  it('-6 before -f', _('-A -6 -f 1', 'rc=2 -6 used before -f\n'));
});

describe('real servers', () => {
  it('default -g forces the service port', _('-a -t 1.2.3.4:80 -r 10.0.0.1:8080', 'addDest TCP 1.2.3.4:80 -> 10.0.0.1:80 Route w=1 x=0 y=0'));
  it('-r before -t sees no service port', _('-a -r 10.0.0.1 -t 1.2.3.4:80 -m', 'addDest TCP 1.2.3.4:80 -> 10.0.0.1:0 Masq w=1 x=0 y=0'));
  it('fwmark: port kept with -g', _('-a -f 1 -r 10.0.0.1:8080 -g', 'addDest FWM 1 -> 10.0.0.1:8080 Route w=1 x=0 y=0'));
  it('fwmark: no port', _('-a -f 1 -r 10.0.0.1', 'addDest FWM 1 -> 10.0.0.1:0 Route w=1 x=0 y=0'));
  it('weight 0', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -w 0', 'addDest TCP 1.2.3.4:80 -> 10.0.0.1:80 Route w=0 x=0 y=0'));
  it('weight > INT_MAX', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -w 2147483648', 'rc=2 illegal weight specified'));
  it('bad u-threshold', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -x -1', 'rc=2 illegal u_threshold specified'));
  it('bad l-threshold', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -y x', 'rc=2 illegal l_threshold specified'));
  it('bad server', _('-a -t 1.2.3.4:80 -r nohost', 'rc=2 illegal real server address[:port] specified'));
  it('af mismatch', _('-a -t 1.2.3.4:80 -r [2001:db8::1]:80 -m', 'rc=2 Different address family is allowed only for tunneling servers'));
  it('af mismatch ok for -i', _('-a -t 1.2.3.4:80 -r [2001:db8::1]:80 -i', 'addDest TCP 1.2.3.4:80 -> [2001:db8::1]:80 Tunnel w=1 x=0 y=0 ipip:0:0'));
  it('tunnel gue', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gue --tun-port 6080 --tun-csum', 'addDest TCP 1.2.3.4:80 -> 10.0.0.1:80 Tunnel w=1 x=0 y=0 gue:6080:1'));
  it('tunnel gre remcsum refused', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gre --tun-remcsum', "rc=2 Illegal 'tun-remcsum' option with the 'gre' tunnel type"));
  it('tunnel options need -i', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -m --tun-type gue', 'rc=2 Tunnel options conflict with forward method'));
  it('gue needs a port', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gue', "rc=2 You need to supply the 'tun-port' option for the 'gue' tunnel type"));
  it('gre takes no port', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gre --tun-port 5', "rc=2 Illegal 'tun-port' option with the 'gre' tunnel type"));
  it('checksum options exclusive', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gue --tun-port 6080 --tun-csum --tun-remcsum', "rc=2 The option 'tun-remcsum' conflicts with the 'tun-csum' option in the 'gue' tunnel type"));
  it('ipip takes no options', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-nocsum', "rc=2 Illegal 'tun-nocsum' option with the 'ipip' tunnel type"));
  it('unknown tunnel type', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type vxlan', 'rc=2 illegal tunnel type specified'));
  it('bad tunnel port', _('-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gue --tun-port 0', 'rc=2 illegal tunnel port specified'));
});

describe('timeouts and daemon', () => {
  it('--set', _('--set 10 20 30', 'setTimeouts 10 20 30'));
  it('--set 0 keeps a value', _('--set 0 0 30', 'setTimeouts 0 0 30'));
  it('--set too few', _('--set 10 20', 'rc=2 --set option requires 3 timeout values'));
  it('--set bad value', _('--set 10 20 x', "rc=2 invalid timeout value `x' specified"));
  it('--set too many', _('--set 1 2 3 4', 'rc=2 unexpected argument 4'));
  it('--start-daemon', _('--start-daemon master', 'startDaemon master eth0 syncid=0'));
  it('--start-daemon options', _('--start-daemon backup --mcast-interface eth1 --syncid 5', 'startDaemon backup eth1 syncid=5'));
  it('--start-daemon bad state', _('--start-daemon foo', 'rc=2 illegal start-daemon parameter specified'));
  it('--stop-daemon bad state', _('--stop-daemon foo', 'rc=2 illegal start_daemon specified'));
  it('--stop-daemon takes no interface', _('--stop-daemon master --mcast-interface eth1', "rc=2 Illegal 'mcast-interface' option with the 'stop-daemon' command"));
  it('-L --daemon', _('-L --daemon', 'list daemon'));
});

describe('-R input (config_stream_read)', () => {
  test('the oracle files split into their lines', () => {
    expect(splitRulesFile(oracleFile('scrambled.txt')).map((l) => l.argv.join(' '))).toEqual([
      '-A -t 198.18.0.130:80 -s rr', '-a -t 198.18.0.130:80 -r 198.18.1.3:80 -m',
      '-a -t 198.18.0.130:80 -r 198.18.1.1:80 -m', '-a -t 198.18.0.130:80 -r 198.18.1.2:80 -m',
    ]);
    expect(parseRulesFile(oracleFile('rules.txt')).map(opText)).toEqual([
      'addService TCP 198.18.0.100:80 wrr flags=0 p=0 mask=255.255.255.255',
      'addDest TCP 198.18.0.100:80 -> 198.18.1.1:8080 Masq w=3 x=0 y=0',
      'addDest TCP 198.18.0.100:80 -> 198.18.1.2:8080 Masq w=1 x=0 y=0',
      'addService UDP 198.18.0.100:53 rr flags=1 p=300 mask=255.255.255.255',
      'addDest UDP 198.18.0.100:53 -> 198.18.1.3:53 Masq w=1 x=0 y=0',
    ]);
  });
  test('blank lines, tabs, CRLF, "ipvsadm" tokens', () => {
    const t = '\n  \t\nipvsadm -C\r\n\t-A  -t 1.2.3.4:80\t-s rr  \n/sbin/ipvsadm -C\n-S';
    expect(splitRulesFile(t)).toEqual([
      { line: 3, argv: ['-C'] }, { line: 4, argv: ['-A', '-t', '1.2.3.4:80', '-s', 'rr'] },
      { line: 5, argv: ['/sbin/ipvsadm', '-C'] }, { line: 6, argv: ['-S'] },
    ]);
  });
  test('a last line ending in blanks without a newline is lost (as in ipvsadm)', () => {
    expect(splitRulesFile('-C\n-S  ')).toEqual([{ line: 1, argv: ['-C'] }]);
  });
  test('no comments: "#" is a token, and the line is a usage error', () => {
    let err: unknown;
    try { parseRulesFile('-C\n# a comment\n-S\n'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(WvsRulesError);
    const e = err as WvsRulesError;
    expect([e.line, e.rc, e.message, e.ops.map(opText)]).toEqual([2, 255, "Try `ipvsadm -h' or 'ipvsadm --help' for more information.", ['clear']]);
  });
  test('-R inside -R is refused', () => {
    expect(() => parseRulesFile('-R\n')).toThrow(WvsUsageError);
  });
  test('the usage hint names the program', () => {
    expect(() => parseArgs(['-x'], { prog: 'wasmvs adm' })).toThrow("Try `wasmvs adm -h' or 'wasmvs adm --help' for more information.");
  });
});
