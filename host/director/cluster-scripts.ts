/*
 * host/director/cluster-scripts.ts - the programs `wasmvs demo cluster` runs in its namespaces
 * (`node -e`): the BIRD 2 configurations of the ToR router and of a director, and the client
 * that holds many long-lived TCP connections to the VIP and checks each one's echo.
 * The client exits when its stdin closes, so a crashed parent leaves no process behind.
 */
import { STDIO_RPC } from './lab-scripts.ts';

/** BIRD 2 on a director: announce the VIP (the /32 on the dummy vip0) to the router while vip0 is up; the next hop is the engine. */
export function birdDirectorConf(o: { routerId: string; asn: number; peer: string; peerAsn: number; engineAddr: string; gate: string }): string {
  return `# wasmvs director: BIRD 2 (docs/cluster.md)
log stderr { warning, error, fatal };
router id ${o.routerId};
protocol device { scan time 10; }
# the health gate: the VIP is announced while the dummy interface ${o.gate} is up (the check sets it down)
protocol direct vip { ipv4; interface "${o.gate}"; }
protocol bgp tor {
  local ${o.routerId} as ${o.asn};
  neighbor ${o.peer} as ${o.peerAsn};
  hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 5;
  ipv4 {
    import none;
    export where proto = "vip";
    # traffic for the VIP goes to the engine's own address on the link, not to this kernel
    next hop address ${o.engineAddr};
  };
}
`;
}

/** BIRD 2 on the ToR router: one eBGP session per director, equal paths merged into one ECMP route in the kernel. */
export function birdRouterConf(o: { routerId: string; asn: number; peers: { addr: string; asn: number }[]; kernelTable?: number }): string {
  return `# ToR router: BIRD 2 (docs/cluster.md)
log stderr { warning, error, fatal };
router id ${o.routerId};
protocol device { scan time 10; }
protocol kernel {
  # every director's equal path into one multipath route (Linux ECMP)
  merge paths yes;${o.kernelTable ? `\n  # into table ${o.kernelTable}: RESILIENT_SCRIPT turns it into a resilient nexthop group in main\n  kernel table ${o.kernelTable};` : ''}
  ipv4 { import none; export all; };
}
template bgp director {
  local ${o.routerId} as ${o.asn};
  hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 5;
  ipv4 { import all; export none; };
}
${o.peers.map((p, i) => `protocol bgp d${i + 1} from director { neighbor ${p.addr} as ${p.asn}; }`).join('\n')}
`;
}

/** FRR on a director (bgpd; docs/cluster.md): the connected route of the gate interface, next hop the engine. */
export function frrDirectorConf(o: { routerId: string; asn: number; peer: string; peerAsn: number; engineAddr: string; vip: string }): string {
  return `frr defaults datacenter
! wasmvs director: FRR (docs/cluster.md)
ip prefix-list VIP seq 5 permit ${o.vip}/32
route-map VIP-OUT permit 10
 match ip address prefix-list VIP
 set ip next-hop ${o.engineAddr}
!
router bgp ${o.asn}
 bgp router-id ${o.routerId}
 no bgp ebgp-requires-policy
 neighbor ${o.peer} remote-as ${o.peerAsn}
 neighbor ${o.peer} timers 1 3
 address-family ipv4 unicast
  redistribute connected route-map VIP-OUT
  neighbor ${o.peer} route-map VIP-OUT out
 exit-address-family
`;
}

/** FRR (bgpd) on the ToR router: eBGP to every director, equal paths from different ASes as one multipath route. */
export function frrRouterConf(o: { routerId: string; asn: number; peers: { addr: string; asn: number }[] }): string {
  return `frr defaults datacenter
! ToR router: FRR (docs/cluster.md)
router bgp ${o.asn}
 bgp router-id ${o.routerId}
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
 neighbor DIRECTORS peer-group
 neighbor DIRECTORS timers 1 3
 neighbor DIRECTORS timers connect 1
${o.peers.map((p) => ` neighbor ${p.addr} remote-as ${p.asn}\n neighbor ${p.addr} peer-group DIRECTORS`).join('\n')}
 address-family ipv4 unicast
  maximum-paths 16
 exit-address-family
`;
}

/**
 * On a Linux router: BIRD's multipath route (in its own table) as a resilient nexthop group
 * (Linux 5.13+) routed in the main table (sh; argv: VIP, BIRD's table, group id, buckets, device).
 * A next hop that leaves gives up only its own buckets; one that joins takes buckets only as
 * they go idle (idle_timer), so flows of the directors that stay never move. Exits when its
 * stdin closes.
 */
export const RESILIENT_SCRIPT = String.raw`
vip="$1" table="$2" gid="$3" buckets="$4" dev="$5" last=
exec 3<&0
( while read -r _ <&3; do :; done; kill -TERM $$ 2>/dev/null ) &
while :; do
  ids=$(ip route show table "$table" "$vip/32" 2>/dev/null | grep -o 'via [0-9.]*' | while read -r _ gw; do
    id=$((1000 + ${'$'}{gw##*.}))
    ip nexthop show id "$id" >/dev/null 2>&1 || ip nexthop add id "$id" via "$gw" dev "$dev"
    echo "$id"
  done | sort -n | paste -sd/)
  if [ "$ids" != "$last" ]; then
    if [ -z "$ids" ]; then ip route del "$vip/32" 2>/dev/null; ip nexthop del id "$gid" 2>/dev/null
    elif ip nexthop show id "$gid" >/dev/null 2>&1; then ip nexthop replace id "$gid" group "$ids" type resilient buckets "$buckets"
    else ip nexthop add id "$gid" group "$ids" type resilient buckets "$buckets" && ip route replace "$vip/32" nhid "$gid"; fi
    last=$ids; echo "group $ids"
  fi
  sleep 0.1
done
`;

/**
 * The health gate of a director (sh; argv: control socket, drain file, gate interface): every
 * 200 ms, the VIP's interface is up (BIRD announces) while the director answers on its control
 * socket and no drain file exists, else down (BIRD withdraws). Exits when its stdin closes.
 */
export const GATE_SCRIPT = String.raw`
sock="$1" drain="$2" gate="$3" state=
exec 3<&0   # a background job's stdin is /dev/null: keep ours on fd 3 to notice the parent go
( while read -r _ <&3; do :; done; kill -TERM $$ 2>/dev/null ) &
while :; do
  if [ ! -e "$drain" ] && curl -sf --max-time 1 --unix-socket "$sock" -o /dev/null http://wasmvs/metrics; then want=up; else want=down; fi
  if [ "$want" != "$state" ]; then ip link set "$gate" "$want" && state=$want && echo "gate $want"; fi
  sleep 0.2
done
`;

/**
 * The lab's reaper (sh; argv: run directory, namespaces...): waits for its stdin to close (the
 * parent exited, however: also SIGKILL), then kills every process left in the namespaces and
 * deletes them and the run directory. Started in its own process group, so a Ctrl-C that kills
 * the lab's processes leaves it to finish the job.
 */
export const REAPER_SCRIPT = String.raw`
while read -r _; do :; done
dir="$1"; shift
for ns in "$@"; do
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
done
rm -rf "$dir"
`;

/**
 * argv: vip port. Reads {id, op, ...} lines, writes {id, ok, result | error} lines.
 * Conns are long-lived sockets to vip:port (the real servers' line echo, which answers
 * "<server name> <line>"): the first answer names a conn's real server; a later answer from
 * another server, a reset, a close or no answer within the timeout makes the conn broken (it is
 * closed and counted once).
 */
export const CLUSTER_CLIENT_SCRIPT = String.raw`
const [vip, port] = process.argv.slice(1);
const net = require('node:net');
const conns = [];
function lineFrom(c, timeoutMs) {
  return new Promise((resolve, reject) => {
    if (c.dead) { reject(new Error(c.dead)); return; }
    const t = setTimeout(() => { c.fail = null; reject(new Error('no answer in ' + timeoutMs + ' ms')); }, timeoutMs);
    const check = () => { const i = c.buf.indexOf('\n'); if (i < 0) return false; const l = c.buf.slice(0, i); c.buf = c.buf.slice(i + 1); clearTimeout(t); c.fail = null; resolve(l); return true; };
    c.fail = (e) => { clearTimeout(t); c.fail = null; reject(e); };
    if (!check()) c.check = check;
  });
}
function kill(c, why) { if (!c.dead) { c.dead = why; c.s.destroy(); } }
function openOne(i, timeoutMs) {
  return new Promise((resolve) => {
    const c = { i, buf: '', dead: null, server: null, check: null, fail: null };
    const s = c.s = net.connect({ host: vip, port: +port });
    s.setNoDelay(true);
    s.on('data', (d) => { c.buf += d; if (c.check && c.check()) c.check = null; });
    s.on('error', (e) => { c.dead = c.dead || (e.code || String(e)); if (c.fail) c.fail(e); });
    s.on('close', () => { c.dead = c.dead || 'closed'; if (c.fail) c.fail(new Error('closed')); });
    const t = setTimeout(() => { kill(c, 'connect timeout'); resolve(c); }, timeoutMs);
    s.on('connect', async () => {
      clearTimeout(t);
      try { s.write('hello ' + i + '\n'); const l = await lineFrom(c, timeoutMs); const [name, ...rest] = l.split(' ');
        if (rest.join(' ') !== 'hello ' + i) kill(c, 'bad answer ' + l); else c.server = name; } catch (e) { kill(c, String(e.message || e)); }
      resolve(c);
    });
    s.on('error', () => { clearTimeout(t); resolve(c); });
  });
}
async function pool(n, conc, fn) {
  let next = 0; const out = new Array(n);
  await Promise.all(Array.from({ length: Math.min(conc, n) }, async () => { for (;;) { const k = next++; if (k >= n) return; out[k] = await fn(k); } }));
  return out;
}
const tally = (m, k) => { m[k] = (m[k] || 0) + 1; };
const ops = {
  async open({ n, conc = 64, timeoutMs = 5000 }) {
    const t0 = Date.now();
    const made = await pool(n, conc, (k) => openOne(conns.length + k, timeoutMs));
    const servers = {}; const errors = {};
    for (const c of made) { conns.push(c); if (c.dead) tally(errors, c.dead); else tally(servers, c.server); }
    return { servers, errors, ms: Date.now() - t0 };
  },
  // one line on every live conn at once; answers must come back from the conn's own server
  async round({ tag, timeoutMs = 3000 }) {
    const t0 = Date.now(); let broken = 0, ok = 0, lastMs = 0; const why = {};
    await Promise.all(conns.filter((c) => !c.dead).map(async (c) => {
      try {
        c.s.write(tag + ' ' + c.i + '\n');
        const l = await lineFrom(c, timeoutMs);
        if (l !== c.server + ' ' + tag + ' ' + c.i) throw new Error('answer from another server');
        ok++; lastMs = Math.max(lastMs, Date.now() - t0);
      } catch (e) { broken++; tally(why, String(e.message || e).replace(/ in \d+ ms/, '')); kill(c, String(e.message || e)); }
    }));
    return { ok, broken, why, lastMs, ms: Date.now() - t0 };
  },
  servers() { const m = {}; for (const c of conns) if (!c.dead) tally(m, c.server); return m; },
  // new-connection rate: conc workers for ms, each connect, one echo, close
  async rate({ ms, conc = 32, timeoutMs = 3000 }) {
    const end = Date.now() + ms; let n = 0, errors = 0; const t0 = Date.now();
    await Promise.all(Array.from({ length: conc }, async () => {
      while (Date.now() < end) {
        const c = await openOne(-1, timeoutMs);
        if (c.dead) errors++; else n++;
        kill(c, 'done');
      }
    }));
    return { n, errors, perSec: Math.round(n * 1000 / (Date.now() - t0)) };
  },
  closeAll() { for (const c of conns) kill(c, 'closed by the client'); return conns.length; },
};
${STDIO_RPC}`;
