/*
 * host/rules/services.ts - a small built-in /etc/services (Debian netbase) for port names.
 *
 * ipvsadm uses getservbyname()/getservbyport() with the service's protocol. A browser has no
 * /etc/services, so this table stands in for the common entries; a host may pass its own
 * resolver instead (host/ may read /etc/services). Only the first name of each entry is listed
 * (getservbyport returns s_name, the official name).
 */
import type { Proto } from '../types.ts';

/** [name, port, protocols] */
const SERVICES: ReadonlyArray<readonly [string, number, string]> = [
  ['tcpmux', 1, 't'], ['echo', 7, 'tu'], ['discard', 9, 'tu'], ['daytime', 13, 'tu'],
  ['ftp-data', 20, 't'], ['ftp', 21, 't'], ['ssh', 22, 't'], ['telnet', 23, 't'], ['smtp', 25, 't'],
  ['time', 37, 'tu'], ['whois', 43, 't'], ['domain', 53, 'tu'], ['bootps', 67, 'u'], ['bootpc', 68, 'u'],
  ['tftp', 69, 'u'], ['finger', 79, 't'], ['http', 80, 't'], ['kerberos', 88, 'tu'], ['pop3', 110, 't'],
  ['sunrpc', 111, 'tu'], ['auth', 113, 't'], ['nntp', 119, 't'], ['ntp', 123, 'u'], ['imap2', 143, 't'],
  ['snmp', 161, 'u'], ['snmp-trap', 162, 'u'], ['bgp', 179, 't'], ['ldap', 389, 'tu'], ['https', 443, 'tu'],
  ['microsoft-ds', 445, 't'], ['submissions', 465, 't'], ['syslog', 514, 'u'], ['submission', 587, 't'],
  ['ldaps', 636, 'tu'], ['imaps', 993, 't'], ['pop3s', 995, 't'], ['openvpn', 1194, 'tu'],
  ['mysql', 3306, 't'], ['sip', 5060, 'tu'], ['postgresql', 5432, 't'], ['http-alt', 8080, 't'],
];

const protoLetter = (proto: Proto | 'IP' | null): string | null =>
  proto === 'TCP' ? 't' : proto === 'UDP' ? 'u' : null; // netbase lists no sctp entries we carry

/** getservbyport(port, proto)->s_name, or undefined. */
export function serviceName(port: number, proto: Proto | 'IP' | null): string | undefined {
  const p = protoLetter(proto);
  if (!p) return undefined;
  return SERVICES.find(([, n, ps]) => n === port && ps.includes(p))?.[0];
}

/** getservbyname(name, proto)->s_port, or undefined. */
export function servicePort(name: string, proto: Proto | 'IP' | null): number | undefined {
  const p = protoLetter(proto);
  if (!p) return undefined;
  return SERVICES.find(([s, , ps]) => s === name && ps.includes(p))?.[1];
}

/** Names for output: host and/or service for an address:port; missing fields print numerically. */
export type NameResolver = (addr: string, port: number, proto: Proto | 'IP' | null) => { host?: string; service?: string };

export const numericResolver: NameResolver = () => ({});

/** Service names from the built-in table, addresses numeric (no DNS in a pure module). */
export const tableResolver: NameResolver = (_addr, port, proto) => ({ service: serviceName(port, proto) });
