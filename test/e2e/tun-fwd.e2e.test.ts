// IP tunnels (-i) end to end: the engine on a TAP encapsulates (IPIP, or GUE to UDP port 6080)
// toward real servers whose Linux decapsulates with its own devices (tunl0 of the ipip module; a
// `fou` GUE port + an ipip device with `encap gue`), VIP on the tunnel device, rp_filter off,
// answers straight to the client. Root only; each part skipped with the reason when this kernel
// cannot decapsulate it (no CONFIG_NET_IPIP / CONFIG_NET_FOU and no module). Lab: host/director/lab.ts.

import { describe } from 'vitest';
import { tunnelSkipReason } from './env.ts';
import { linkSuite } from './link-suite.ts';

const skipIpip = tunnelSkipReason('ipip');
if (skipIpip) console.warn(`[test/e2e] IPIP tunnel tests skipped: ${skipIpip}`);
const skipGue = tunnelSkipReason('gue');
if (skipGue) console.warn(`[test/e2e] GUE tunnel tests skipped: ${skipGue}`);

describe.skipIf(skipIpip !== null)('IPIP (-i) over a TAP: Linux ipip real servers decapsulate and answer directly', () => {
  linkSuite('ipip', 'e2e-ip');
});

describe.skipIf(skipGue !== null)('GUE (-i --tun-type gue --tun-port 6080) over a TAP: Linux fou real servers decapsulate and answer directly', () => {
  linkSuite('gue', 'e2e-gu');
});
