/*
 * The one rules applier (host/rules/apply.ts): ipvsadm-save lines plus the iptables mangle MARK
 * lines that classify traffic for fwmark (-f) services; every refusal names file and line.
 */
import { describe, test, expect } from 'vitest';
import { parseRules, applyRules, parseMarkRule, WvsRulesError } from '../../host/rules/apply.ts';
import { engine } from '../helpers/engine.ts';
import { ip, fields } from '../helpers/pkt.ts';

const RULES = `iptables -t mangle -A PREROUTING -d 198.18.0.100/32 -p tcp --dport 80:81 -j MARK --set-mark 7
-A -f 7 -s rr
-a -f 7 -r 198.18.1.1:8080 -m
-a -f 7 -r 198.18.1.2:8080 -m
`;

describe('MARK lines', () => {
  test('parse: prefix, direction, protocol, port range, mark', () => {
    expect(parseMarkRule('iptables -t mangle -A PREROUTING -d 198.18.0.100/32 -p tcp --dport 80:81 -j MARK --set-mark 7'.split(' ')))
      .toEqual({ cmd: 'mark', mark: 7, prefix: '198.18.0.100/32', matchSource: false, proto: 'TCP', dport: [80, 81] });
    expect(parseMarkRule('ip6tables -t mangle -A PREROUTING -s 2001:2::/48 -j MARK --set-mark 0x10'.split(' ')))
      .toEqual({ cmd: 'mark', mark: 16, prefix: '2001:2::/48', matchSource: true });
  });
  test.each([
    ['iptables -t filter -A INPUT -j DROP', /only "-t mangle -A PREROUTING"/],
    ['iptables -t mangle -A PREROUTING -j DROP', /only "-j MARK --set-mark M"/],
    ['iptables -t mangle -A PREROUTING --dport 80 -j MARK --set-mark 1', /--dport needs -p tcp or -p udp/],
    ['iptables -t mangle -A PREROUTING -p icmp -j MARK --set-mark 1', /only tcp and udp/],
    ['iptables -t mangle -A PREROUTING -p tcp --dport 90:80 -j MARK --set-mark 1', /bad port or range/],
    ['iptables -t mangle -A PREROUTING -i eth0 -j MARK --set-mark 1', /option -i is not supported/],
  ])('%s is refused with the line named', (line, why) => {
    let err: unknown;
    try { parseRules(`-A -t 198.18.0.1:80\n${line}\n`, 'lb.rules'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(WvsRulesError);
    expect((err as Error).message).toMatch(/^lb\.rules:2: /);
    expect((err as Error).message).toMatch(why);
  });
  test('an fwmark service balances exactly the traffic the MARK line classifies, ports included', async () => {
    const e = await engine();
    applyRules(e, parseRules(RULES, 'lb.rules'), 'lb.rules');
    expect(e.hooks().some((h) => h.fn === 'MARK' && h.point === 'PRE_ROUTING' && h.priority === -150)).toBe(true);
    const to = (dport: number, sport: number) => e.processFrame(ip('198.19.0.1', '198.18.0.100', { proto: 'tcp', sport, dport, flags: 'S' }), sport);
    const a = to(80, 1001), b = to(81, 1002), c = to(82, 1003), d = to(80, 1004);
    expect([a.verdict, b.verdict, c.verdict, d.verdict]).toEqual(['XMIT', 'XMIT', 'PASS', 'XMIT']);
    expect([fields(a.data).dst, fields(b.data).dst, fields(d.data).dst]).toEqual(['198.18.1.2', '198.18.1.1', '198.18.1.2']);
    expect(fields(b.data).dport).toBe(8080);
    expect(e.services()[0]).toMatchObject({ fwmark: 7, proto: null });
  });
});
