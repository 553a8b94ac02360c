/*
 * The rate estimator (assembly/est.ts, ip_vs_est.c) with exact numbers: a synthetic traffic
 * pattern through the real engine, the averages after every 2-second step, what `--rate`
 * prints, -Z, and the timer's pacing.
 */
import { describe, expect, test } from 'vitest';
import { engine as freshEngine, CLIENT, VIP, RS } from '../helpers/engine.ts';
import { ip } from '../helpers/pkt.ts';
import { EngineBackend, engineRates } from '../../host/control/backend.ts';
import { runAdm } from '../../host/rules/adm.ts';
import type { Engine } from '../../host/engine.ts';

const T0 = 1_000_000;

/** A UDP service with one NAT dest; `burst` sends n new-conn packets of `len` bytes (IP) at t. */
async function setup() {
  const e = await freshEngine();
  const key = { proto: 'UDP', addr: VIP, port: 53 } as const;
  e.addService({ ...key, sched: 'rr' });
  e.addDest(key, { addr: RS[0], port: 53, fwd: 'Masq' });
  let port = 10000;
  const burst = (n: number, t: number, payload = 72) => {
    for (let i = 0; i < n; i++) {
      const r = e.processFrame(ip(CLIENT, VIP, { proto: 'udp', sport: port++, dport: 53, payload: new Uint8Array(payload) }), t);
      expect(r.verdict).toBe('XMIT');
    }
  };
  return { e, burst };
}

const svcRates = (e: Engine) => engineRates(e, 1, 1);

describe('estimator arithmetic (kernel ip_vs_chain_estimation / ip_vs_read_estimator)', () => {
  test('100 conns/s and 10000 B/s for four periods, then silence', async () => {
    const { e, burst } = await setup();
    // 200 packets of 100 IP bytes (20 IP + 8 UDP + 72) each period: 100 cps, 100 pps, 10000 B/s
    const seen: { cps: number; inpps: number; inbps: number }[] = [];
    e.ex.estimate(T0); // first call: one step over nothing, sets the phase
    for (let k = 1; k <= 6; k++) {
      if (k <= 4) burst(200, T0 + k * 2000 - 1000);
      expect(e.ex.estimate(T0 + k * 2000)).toBe(1);
      const r = svcRates(e);
      seen.push({ cps: r.cps, inpps: r.inpps, inbps: r.inbps });
    }
    // cps: avg(×1024) 25600, 44800, 59200, 70000, 52500, 39375 -> (avg + 511) >> 10
    // inbps: avg(×32) 80000, 140000, 185000, 218750, 164063, 123048 -> (avg + 15) >> 5
    expect(seen).toEqual([
      { cps: 25, inpps: 25, inbps: 2500 },
      { cps: 44, inpps: 44, inbps: 4375 },
      { cps: 58, inpps: 58, inbps: 5781 },
      { cps: 68, inpps: 68, inbps: 6836 },
      { cps: 51, inpps: 51, inbps: 5127 },
      { cps: 38, inpps: 38, inbps: 3845 },
    ]);
    // dest and totals saw the same traffic
    expect(engineRates(e, 2, 1)).toEqual(svcRates(e));
    expect(engineRates(e, 0, 0)).toEqual(svcRates(e));
    expect(svcRates(e).outpps).toBe(0);
  });

  test('decay floors toward zero (arithmetic shift of a negative difference) and reaches 0', async () => {
    const { e, burst } = await setup();
    e.ex.estimate(T0);
    burst(1, T0 + 1000, 0); // one conn, one packet, 28 bytes: avg cps 512>>2=128, bytes (28<<4)>>2 = 112
    e.ex.estimate(T0 + 2000);
    const cps: number[] = [];
    const bps: number[] = [];
    for (let k = 2; k < 40; k++) { e.ex.estimate(T0 + k * 2000); const r = svcRates(e); cps.push(r.cps); bps.push(r.inbps); }
    // cps 128 (×1024) is 0.125 conns/s: (128 + 511) >> 10 = 0 already.
    // bytes (×32): 112 -> 84, 63, 47, 35, 26, 19, 14 ... (-3 >> 2 = -1: the floor keeps it moving)
    //  read (avg + 15) >> 5:   3,  2,  1,  1,  1,  0, ...
    expect(cps.every((v) => v === 0)).toBe(true);
    expect(bps.slice(0, 7)).toEqual([3, 2, 1, 1, 1, 1, 0]);
    expect(bps.at(-1)).toBe(0);
  });

  test('pacing: early calls do nothing, a late caller catches up to 8 steps, then the phase restarts', async () => {
    const { e } = await setup();
    expect(e.ex.estimate(T0)).toBe(1);
    expect(e.ex.estimate(T0 + 1000)).toBe(0);
    expect(e.ex.estimate(T0 + 1950)).toBe(1); // within the 100 ms slack
    expect(e.ex.estimate(T0 + 2500)).toBe(0);
    expect(e.ex.estimate(T0 + 8000)).toBe(3);  // due at 4000, 6000, 8000
    expect(e.ex.estimate(T0 + 100_000)).toBe(8);
    expect(e.ex.estimate(T0 + 101_000)).toBe(0);
    expect(e.ex.estimate(T0 + 102_000)).toBe(1);
  });

  test('a late step gives all traffic to the first step and decays in the missed ones', async () => {
    const { e, burst } = await setup();
    e.ex.estimate(T0);
    burst(200, T0 + 1000);
    expect(e.ex.estimate(T0 + 4000)).toBe(2);
    // step 1: 0 + 102400>>2 = 25600; step 2: 25600 - 25600>>2 = 19200 -> (19200+511)>>10 = 19
    expect(svcRates(e).cps).toBe(19);
  });
});

describe('ipvsadm --rate, --stats and -Z over the engine backend', () => {
  test('--rate prints the decoded averages; -Z clears counters and rates of a service', async () => {
    const { e, burst } = await setup();
    const be = new EngineBackend(e);
    e.ex.estimate(T0);
    for (let k = 1; k <= 4; k++) { burst(200, T0 + k * 2000 - 1000); e.ex.estimate(T0 + k * 2000); }
    const rate = await runAdm(['-L', '-n', '--rate'], be);
    expect(rate.stdout).toBe([
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS',
      '  -> RemoteAddress:Port',
      'UDP  198.18.0.100:53                    68       68        0     6836        0',
      '  -> 198.18.1.1:53                      68       68        0     6836        0',
      '',
    ].join('\n'));
    const stats = await runAdm(['-L', '-n', '--stats', '--exact'], be);
    expect(stats.stdout.split('\n')[3]).toBe('UDP  198.18.0.100:53                   800      800        0    80000        0');
    expect((await runAdm(['-Z', '-u', '198.18.0.199:53'], be))).toEqual({ stdout: '', stderr: 'No such service\n', rc: 255 });
    expect((await runAdm(['-Z', '-u', `${VIP}:53`], be)).rc).toBe(0);
    const svc = be.services()[0];
    expect(svc.stats).toEqual({ conns: 0n, inpkts: 0n, outpkts: 0n, inbytes: 0n, outbytes: 0n });
    expect(svc.dests[0].stats.conns).toBe(0n);
    expect(svc.rates).toEqual({ cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
    // the totals are kept by -Z <service> and cleared by -Z alone (ip_vs_zero_all)
    expect(e.globalStats().conns).toBe(800n);
    // after zeroing, the next period sees only new traffic
    burst(20, T0 + 9000);
    e.ex.estimate(T0 + 10_000);
    expect(be.services()[0].rates.cps).toBe(2); // 20 conns in 2 s: (20 << 9) >> 2 = 2560 = 2.5/s, (2560 + 511) >> 10 = 2
    expect((await runAdm(['-Z'], be)).rc).toBe(0);
    expect(e.globalStats()).toEqual({ conns: 0n, inpkts: 0n, outpkts: 0n, inbytes: 0n, outbytes: 0n });
    expect(engineRates(e, 0, 0).cps).toBe(0);
  });
});
