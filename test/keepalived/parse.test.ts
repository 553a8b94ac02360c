// keepalived.conf → the IPVS table keepalived sets up at start (before any check has run:
// servers up, or down under alpha), as `ipvsadm -S -n` prints it, compared with what real
// keepalived 2.2.7 did on Linux 6.1 IPVS with the same files (the kernel oracle's
// keepalived-start case, test/golden/kernel/recorded/keepalived-start); and FILE:LINE errors.
import { describe, expect, test } from 'vitest';
import { readFileSync, mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadEngine } from '../../host/engine-node.ts';
import { EngineBackend } from '../../host/control/backend.ts';
import { formatSave } from '../../host/rules/format.ts';
import { loadKeepalived, parseKeepalived, WvsKeepalivedError } from '../../host/keepalived/parse.ts';
import { Health, linkProblem } from '../../host/keepalived/health.ts';

const FIX = join(import.meta.dirname, 'fixtures');

async function initialTable(file: string, services?: (s: ReturnType<EngineBackend['services']>) => void): Promise<string> {
  const e = await loadEngine({ connMax: 1024, slots: 8, link: 'ethernet' });
  const be = new EngineBackend(e);
  const h = new Health(be, { log: (l, m) => { if (l === 'error') throw new Error(m); }, runScript: () => {} });
  h.start(loadKeepalived(join(FIX, file)));
  h.stop();
  services?.(be.services());
  return formatSave(be.services());
}

const RECORDED = join(import.meta.dirname, '..', 'golden', 'kernel', 'recorded', 'keepalived-start', 'stdout.txt');
const CASE = join(import.meta.dirname, '..', 'golden', 'kernel', 'cases', 'keepalived-start.sh');

/** The recorded table of one fixture ("=== NAME" ... "--- end"). */
function recorded(name: string): string {
  const m = new RegExp(String.raw`^=== ${name}\n([\s\S]*?)^--- end$`, 'm').exec(readFileSync(RECORDED, 'utf8'));
  if (!m) throw new Error(`no recorded table for ${name}`);
  return m[1];
}

describe('keepalived.conf → ipvsadm -S -n at start, as real keepalived on Linux 6.1 IPVS', () => {
  test.each(['sample', 'inhibit-alpha', 'group-fwmark', 'misc-include'])('%s.conf', async (name) => {
    expect(await initialTable(`${name}.conf`)).toBe(recorded(name));
  });

  test('the recording case embeds the fixtures as they are', () => {
    const text = readFileSync(CASE, 'utf8');
    const embedded = [...text.matchAll(/^cat > \$D\/(\S+) <<'KA_FIXTURE_END'\n([\s\S]*?)^KA_FIXTURE_END$/gm)];
    expect(embedded.map((m) => m[1]).sort()).toEqual(['conf.d/a.conf', 'conf.d/b.conf', 'group-fwmark.conf', 'inhibit-alpha.conf', 'misc-include.conf', 'sample.conf']);
    for (const [, f, body] of embedded) expect(body, f).toBe(readFileSync(join(FIX, f), 'utf8'));
  });

  test('thresholds (not in -S output) reach the engine', async () => {
    let d: { uthresh: number; lthresh: number } | undefined;
    await initialTable('misc-include.conf', (s) => { d = s.find((x) => x.af === 6)!.dests.find((x) => x.addr.endsWith('::12')); });
    expect(d).toMatchObject({ uthresh: 100, lthresh: 10 });
  });

  test('the model keeps what the table does not show: checkers, timers, scripts', () => {
    const cfg = loadKeepalived(join(FIX, 'sample.conf'));
    expect(cfg.skipped.map((s) => `${s.keyword}@${s.where.line}`)).toEqual(['global_defs@2', 'vrrp_instance@9']);
    const [vs1, vs2] = cfg.virtualServers;
    const http = vs1.realServers[0].checkers[0];
    expect(http).toMatchObject({ kind: 'HTTP_GET', connectTimeout: 3000, retry: 3, delayBeforeRetry: 3000, delayLoop: 6000, alpha: false });
    expect(http.urls.map((u) => [u.path, u.digest, u.status])).toEqual([
      ['/testurl/test.jsp', '640205b7b0fc66c1ea91c463fac6334d', [[200, 299]]], ['/testurl2/test.jsp', '640205b7b0fc66c1ea91c463fac6334d', [[200, 299]]]]);
    // defaults: connect_timeout 5 s; DNS_CHECK retry 3 and delay_loop before a retry (check_dns.c), UDP_CHECK 1 and 1 s (check_api.c)
    expect(vs2.realServers[0].checkers[0]).toMatchObject({ kind: 'DNS_CHECK', dnsType: 'A', dnsName: 'example.org', connectTimeout: 5000, retry: 3, delayBeforeRetry: 10000, delayLoop: 10000 });
    expect(vs2.realServers[1].checkers[0]).toMatchObject({ kind: 'UDP_CHECK', payload: Buffer.from([0, 255]), requireReply: true, retry: 1, delayBeforeRetry: 1000 });
    const ia = loadKeepalived(join(FIX, 'inhibit-alpha.conf'));
    expect(ia.virtualServers[0].realServers[0].checkers[0].urls[0].status).toEqual([[200, 299], [400, 499], [503, 503], [505, 505]]);
    expect(ia.virtualServers[0].realServers.map((r) => [r.inhibit, r.checkers[0].alpha])).toEqual([[true, true], [false, true]]);
    // HTTP_GET waits 3 s before a retry unless told (check_http.c), TCP_CHECK 1 s
    expect(ia.virtualServers[0].realServers.map((r) => [r.checkers[0].retry, r.checkers[0].delayBeforeRetry])).toEqual([[1, 3000], [1, 1000]]);
    const mi = loadKeepalived(join(FIX, 'misc-include.conf'));
    expect(mi.files.map((f) => f.split('/').slice(-2).join('/'))).toEqual(['fixtures/misc-include.conf', 'conf.d/a.conf', 'conf.d/b.conf']);
    const v6 = mi.virtualServers[2];
    expect(v6).toMatchObject({ quorum: 3, hysteresis: 1, quorumUp: '/bin/true up', quorumDown: '/bin/true', omega: true });
    // MISC_CHECK: retry 0 by default, misc_timeout in seconds
    expect(v6.realServers[0].checkers[0]).toMatchObject({ kind: 'MISC_CHECK', miscPath: '/bin/sh -c exit', miscTimeout: 5000, miscDynamic: true, retry: 0 });
    expect(v6.realServers[0]).toMatchObject({ notifyUp: '/bin/true rs up', notifyDown: '/bin/true' });
  });
});

describe('mistakes name FILE:LINE and the keyword', () => {
  const bad = (text: string) => () => parseKeepalived(text, 'k.conf', () => { throw Object.assign(new Error('x'), { code: 'ENOENT' }); });
  const vs = (body: string) => `virtual_server 198.18.2.1 80 {\n  protocol TCP\n${body}\n}\n`;
  test.each([
    [vs('  lb_algo rr\n  frobnicate 1'), /^k\.conf:4: frobnicate: not a virtual_server keyword wasmvs knows$/],
    [vs('  real_server 198.18.1.11 80 {\n    SMTP_CHECK {\n    }\n  }'), /^k\.conf:4: SMTP_CHECK: SMTP_CHECK is not implemented by wasmvs/],
    [vs('  real_server 198.18.1.11 80 {\n    PING_CHECK\n  }'), /^k\.conf:4: PING_CHECK: PING_CHECK is not implemented by wasmvs \(it needs raw ICMP sockets\)/],
    [vs('  real_server 198.18.1.11 80 {\n    HTTP_GET {\n      url {\n        path /\n        digest 1234\n      }\n    }\n  }'), /^k\.conf:7: digest: needs an MD5 digest \(32 hex digits\), got "1234"$/],
    [vs('  real_server 198.18.1.11 80 {\n    HTTP_GET {\n      url {\n        path /\n        regex ^ok\n      }\n    }\n  }'), /^k\.conf:7: regex: not supported in url by wasmvs/],
    [vs('  real_server 198.18.1.11 80 {\n    HTTP_GET {\n    }\n  }'), /^k\.conf:4: HTTP_GET: needs at least one url/],
    [vs('  real_server 198.18.1.11 80 {\n    weight -1\n  }'), /^k\.conf:4: weight: needs an integer 0\.\.2147483647, got "-1"$/],
    [vs('  lb_kind FNAT'), /^k\.conf:3: lb_kind: FULLNAT is not a keepalived method/],
    [vs('  persistence_engine sip'), /^k\.conf:3: persistence_engine: persistence engines \(--pe sip\) are not supported by wasmvs$/],
    [vs('  delay_loop soon'), /^k\.conf:3: delay_loop: needs a time in seconds/],
    [vs('  real_server 198.18.1.11 80 {\n    MISC_CHECK {\n      misc_path /bin/x\n      user nobody\n    }\n  }'), /^k\.conf:6: user: scripts run as the director's user/],
    ['virtual_server 198.18.2.1 80 {\n  protocol TCP\n', /^k\.conf:1: '\{' is never closed$/],
    ['}\n', /^k\.conf:1: '\}' without a block to close$/],
    ['vrrp_script chk { script /bin/true }\nnot_a_block 1\n', /^k\.conf:2: not_a_block: not a keepalived keyword wasmvs knows/],
    ['include missing.conf\n', /^k\.conf:1: include missing\.conf: cannot read .*missing\.conf: ENOENT$/],
    ['$VIP=198.18.2.1\n', /^k\.conf:1: \$VIP=198\.18\.2\.1: configuration variables and conditional lines/],
    ['virtual_server group NOPE {\n  protocol TCP\n}\n', /^k\.conf:1: virtual_server: group "NOPE" is not defined/],
    [vs('') + vs(''), /^k\.conf:5: virtual_server: service TCP 198\.18\.2\.1 80 is also defined at k\.conf:1$/],
    [vs('  real_server 198.18.1.11 80 {\n  }\n  real_server 198.18.1.11 80 {\n  }'), /^k\.conf:5: real_server: 198\.18\.1\.11 80 is listed twice/],
    [vs('  real_server 198.18.1.300 80 {\n  }'), /^k\.conf:3: real_server: "198\.18\.1\.300" is not an IPv4 or IPv6 address$/],
    [vs('  ops'), /^k\.conf:1: virtual_server: ops \(one-packet scheduling\) needs protocol UDP$/],
    // DPVS's keepalived: syn_proxy, TCP services only
    [vs('  syn_proxy').replace('protocol TCP', 'protocol UDP'), /^k\.conf:3: syn_proxy: syn_proxy is only for TCP virtual servers \(protocol TCP\)$/],
    // keepalived: "Invalid virtual server IP address/port [2001:2:0:2::1]/80 - skipping" (recorded, keepalived-misc-include.log)
    ['virtual_server [2001:2:0:2::1] 80 {\n}\n', /^k\.conf:1: virtual_server: "\[2001:2:0:2::1\]": keepalived takes IPv6 addresses without brackets$/],
    [vs('  real_server 198.18.1.11 80 {\n    smtp_alert\n  }'), /^k\.conf:4: smtp_alert: wasmvs sends no mail/],
  ])('%#', (text, msg) => {
    expect(bad(text)).toThrow(WvsKeepalivedError);
    expect(bad(text)).toThrow(msg);
  });

  test('syn_proxy (DPVS\'s keepalived) turns the service\'s SYN proxy on: -j enable in ipvsadm -S', async () => {
    const cfg = parseKeepalived(vs('  lb_algo rr\n  syn_proxy\n  real_server 198.18.1.11 80 {\n  }'), 'k.conf', () => { throw new Error('no include'); });
    const e = await loadEngine({ connMax: 1024, slots: 8 });
    const be = new EngineBackend(e);
    const h = new Health(be, { log: (l, m) => { if (l === 'error') throw new Error(m); }, runScript: () => {} });
    h.start(cfg);
    h.stop();
    expect(formatSave(be.services())).toBe('-A -t 198.18.2.1:80 -s rr -j enable\n-a -t 198.18.2.1:80 -r 198.18.1.11:80 -m -w 1\n');
  });

  test('an error inside an included file names that file', () => {
    const d = mkdtempSync(join(tmpdir(), 'wvs-ka-'));
    try {
      writeFileSync(join(d, 'main.conf'), 'include sub/*.conf\n');
      mkdirSync(join(d, 'sub'));
      writeFileSync(join(d, 'sub', 'x.conf'), '\n\nvirtual_server 198.18.2.1 80 {\n  lb_algo\n}\n');
      expect(() => loadKeepalived(join(d, 'main.conf'))).toThrow(new RegExp(`^${join(d, 'sub', 'x.conf').replace(/[.]/g, '\\.')}:4: lb_algo: needs a value$`));
    } finally { rmSync(d, { recursive: true, force: true }); }
  });

  test('include inside a block splices its lines there (real servers kept in their own files)', () => {
    const files: Record<string, string> = {
      '/etc/ka/main.conf': 'virtual_server 198.18.2.1 80 {\n  protocol TCP\n  include rs/rs1.conf\n}\n',
      '/etc/ka/rs/rs1.conf': '\nreal_server 198.18.1.11 80 {\n  weight 2\n  frob\n}\n',
    };
    const read = (f: string) => { if (!(f in files)) throw Object.assign(new Error('x'), { code: 'ENOENT' }); return files[f]; };
    expect(() => parseKeepalived(files['/etc/ka/main.conf'], '/etc/ka/main.conf', read)).toThrow(/^\/etc\/ka\/rs\/rs1\.conf:4: frob: not a real_server keyword/);
    files['/etc/ka/rs/rs1.conf'] = files['/etc/ka/rs/rs1.conf'].replace('  frob\n', '');
    const cfg = parseKeepalived(files['/etc/ka/main.conf'], '/etc/ka/main.conf', read);
    expect(cfg.virtualServers[0].realServers.map((r) => [r.addr, r.port, r.weight, r.where])).toEqual([['198.18.1.11', 80, 2, { file: '/etc/ka/rs/rs1.conf', line: 2 }]]);
    expect(cfg.files).toEqual(['/etc/ka/main.conf', '/etc/ka/rs/rs1.conf']);
  });

  test('DR real servers are refused on a TUN director, naming the line; TUN ones are taken (the tunnel source: --tunnel-src or the route)', () => {
    const cfg = loadKeepalived(join(FIX, 'group-fwmark.conf'));
    expect(linkProblem(cfg, 'ip')).toMatch(/group-fwmark\.conf:28: 198\.18\.1\.21: lvs_method DR is not supported by the TUN director \(NAT, TUN and FULLNAT only; DR needs wasmvs run --mode tap\)$/);
    expect(linkProblem(cfg, 'ethernet')).toBeNull();
    const tun = parseKeepalived('virtual_server 198.18.2.1 80 {\n  protocol TCP\n  lvs_method TUN\n  real_server 198.18.1.11 80 {\n  }\n}\n', '/etc/ka/tun.conf', () => '');
    expect(tun.virtualServers[0].realServers.map((r) => r.fwd)).toEqual(['Tunnel']);
    expect(linkProblem(tun, 'ip')).toBeNull();
  });
});
