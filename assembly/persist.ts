// Persistence scheduling (ip_vs_sched_persist in ip_vs_core.c, beside the in path core.ts;
// ip_vs_check_template and the control links are in conn/conn.ts as in ip_vs_conn.c). A persistent service first looks for a template conn keyed by the
// client's address masked by the service netmask:
//
//   normal service        <proto, caddr & mask, 0, vaddr, vport, daddr, dport>
//   port-zero service     <proto, caddr & mask, 0, vaddr, 0,     daddr, 0>
//   FTP (port 21) service <proto, caddr & mask, 0, vaddr, 0,     daddr, 0>
//   fwmark service        <IPPROTO_IP, caddr & mask, 0, fwmark as an address, 0, daddr, 0>
//
// A usable template gives the dest; otherwise the scheduler picks one and a new template is
// made. The conn is then created and linked to its template (cp->control, ct->n_control). A
// template lives its persistence timeout after the last conn made under it; one that still
// controls conns when it expires lives on 60 s at a time (ip_vs_conn_expire: expire_later).
// It counts in its dest's persistconns, never in active/inactconns. Its state is NONE until a
// controlled conn is confirmed (TCP/SCTP ESTABLISHED, a UDP reply): then ASSURED.
import {
  PKT_TPL_CADDR, PKT_TPL_VADDR, connPtr, svcPtr, destPtr, SVC_AF, SVC_VPORT, SVC_FWMARK, SVC_TIMEOUT, SVC_NETMASK,
  DEST_PORT, CONN_DEST, CONN_TIMEOUT, CONN_EXPIRES, PKT, PKT_PERSIST_DEST, PKT_PERSIST_FULL,
} from "./layout";
import { AF_INET, IPPROTO_IP, CONN_F_TEMPLATE } from "./defs";
import { addrCopy, addrAny, htonl } from "./packet/bytes";
import { ctInGet } from "./conn/table";
import { connNewFull, engineNow, controlAdd, checkTemplate } from "./conn/conn";
import { schedSchedule } from "./sched/registry";
import { tplEnter, tplLeave } from "./worker";

@inline const FTPPORT: u16 = 0x1500;   // htons(21)

/** Why schedPersist returned 0: no dest (answer with ICMP) or no conn could be made (drop). */
@inline export function persistFull(): bool { return load<u8>(PKT, PKT_PERSIST_FULL) != 0; }
/** The dest the conn of the last schedPersist call was bound to (0: none). */
@inline export function persistDest(): u32 { return load<u32>(PKT, PKT_PERSIST_DEST); }

/** The client address masked by the service netmask (v4: a mask; v6: a prefix length). */
function maskClient(svc: usize, caddr: usize): usize {
  let snet = PKT + PKT_TPL_CADDR;
  addrCopy(snet, caddr);
  let m = load<u32>(svc, SVC_NETMASK);
  if (load<u8>(svc, SVC_AF) == AF_INET) {
    store<u32>(snet, load<u32>(snet, 12) & htonl(m), 12);
  } else {
    let plen = m > 128 ? 128 : m;
    for (let i: u32 = 0; i < 16; i++) {
      let keep: u32 = plen >= 8 ? 8 : plen;
      plen -= keep;
      let mask = <u8>((0xff00 >> keep) & 0xff);
      store<u8>(snet + i, load<u8>(snet + i) & mask);
    }
  }
  return snet;
}

/**
 * ip_vs_sched_persist: the conn for a new flow of persistent service svcIdx (its template found
 * or made). Returns the conn index, or 0 with persistFull telling why.
 */
export function schedPersist(svcIdx: u32, proto: u8, af: u8, caddr: usize, cport: u16, vaddr: usize, vport: u16): u32 {
  store<u8>(PKT, 0, PKT_PERSIST_FULL); store<u32>(PKT, 0, PKT_PERSIST_DEST);
  let svc = svcPtr(svcIdx);
  let svcPort = load<u16>(svc, SVC_VPORT);
  let fwmark = load<u32>(svc, SVC_FWMARK);
  let snet = maskClient(svc, caddr);
  // the template key
  let tproto = proto;
  let tvaddr = vaddr;
  let tvport: u16 = 0;
  let normal = vport == svcPort && svcPort != FTPPORT;
  if (vport == svcPort) {
    if (svcPort != FTPPORT) tvport = vport;
  } else if (fwmark != 0) {
    tproto = IPPROTO_IP;
    tvaddr = PKT + PKT_TPL_VADDR;
    addrAny(tvaddr, load<u8>(svc, SVC_AF));
    store<u32>(tvaddr + (load<u8>(svc, SVC_AF) == AF_INET ? 12 : 0), htonl(fwmark));
  }
  // templates are the whole director's: their own conn partition, under the lock (worker.ts)
  let own = tplEnter();
  let ct = ctInGet(tproto, snet, tvaddr, tvport);
  let d: u32;
  if (ct == 0 || !checkTemplate(ct)) {
    d = schedSchedule(svcIdx);
    if (d == 0) { tplLeave(own); return 0; }
    let tdport: u16 = normal ? load<u16>(destPtr(d), DEST_PORT) : 0;
    ct = connNewFull(tproto, af, snet, 0, tvaddr, tvport, tdport, CONN_F_TEMPLATE, d, svcIdx);
    if (ct == 0) { tplLeave(own); store<u8>(PKT, 1, PKT_PERSIST_FULL); return 0; }
    store<u32>(connPtr(ct), load<u32>(svc, SVC_TIMEOUT) * 1000, CONN_TIMEOUT);
  } else {
    d = <u32>load<u16>(connPtr(ct), CONN_DEST);
  }
  tplLeave(own);
  // the conn itself: the dest's port for traffic to the service port, else the packet's
  let dport = vport;
  let destPort = load<u16>(destPtr(d), DEST_PORT);
  if (vport == svcPort && destPort != 0) dport = destPort;
  let ci = connNewFull(proto, af, caddr, cport, vaddr, vport, dport, 0, d, svcIdx);
  // ip_vs_conn_put(ct): the template's timer restarts with its timeout (even on failure)
  let t = connPtr(ct);
  store<u32>(t, engineNow() + load<u32>(t, CONN_TIMEOUT), CONN_EXPIRES);
  if (ci == 0) { store<u8>(PKT, 1, PKT_PERSIST_FULL); return 0; }
  controlAdd(ci, ct);
  store<u32>(PKT, d, PKT_PERSIST_DEST);
  return ci;
}
