// DR replies that come back through the director (a real server whose default route is the
// engine's link address), on a TAP: as 6.1's IPVS does (test/golden/kernel/recorded/local-answers,
// steps 22-23), a reply from the VIP is the conn's output — OutPkts, the OUTPUT state
// transitions — and the engine routes it on to the client (via the gateway). Before, the engine
// passed it and the TAP director dropped it: the client hung.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import { Director } from '../../host/director/director.ts';
import { Lab, labRules, LAB_LINK_ADDR, LAB_LINK_PLEN, LAB_ROUTER, LAB_VIP } from '../../host/director/lab.ts';
import { labSkipReason } from './env.ts';
import { nsRun } from './link-suite.ts';

const skip = labSkipReason();

describe.skipIf(skip !== null)('DR (-g) on a TAP, a real server routing its replies through the engine', () => {
  let lab: Lab, dir: Director;
  beforeAll(async () => {
    lab = await Lab.create({ tag: 'e2e-drr', forward: 'dr' });
    dir = await Director.start({
      ...lab.tapOptions(), linkAddrs: [`${LAB_LINK_ADDR}/${LAB_LINK_PLEN}`], gateways: [LAB_ROUTER],
      dev: `wvdr${process.pid % 10000}`, rulesText: labRules(lab.rsAddrs.slice(0, 1), false, LAB_VIP, 'dr'), tickMs: 100, logLevel: 'warn',
    });
    // rs1's default route: the engine (it answers ARP for its link address)
    execFileSync('ip', ['-n', lab.ns.rs[0], 'route', 'replace', 'default', 'via', LAB_LINK_ADDR]);
  }, 60_000);
  afterAll(() => { dir?.stop(); lab?.destroy(); });

  test('curl gets its answer; the conns count the replies as output and leave the INPUT-ONLY table', async () => {
    for (let i = 0; i < 3; i++) expect((await nsRun(lab.ns.cli, 'curl', '-sS', '--max-time', '5', `http://${LAB_VIP}/`)).trim()).toBe('rs1');
    const svc = dir.engine.services().find((s) => s.port === 80)!;
    expect(svc.stats.outpkts).toBeGreaterThanOrEqual(9n);           // at least SYN-ACK, data and FIN of each
    const conns = dir.engine.conns().filter((c) => c.vport === 80);
    expect(conns).toHaveLength(3);
    for (const c of conns) expect(['TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'FIN_WAIT', 'LAST_ACK']).toContain(c.state);
    expect(dir.engine.counters().drop ?? 0n).toBe(0n);
  }, 30_000);
});
