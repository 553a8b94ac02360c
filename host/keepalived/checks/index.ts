/*
 * host/keepalived/checks/index.ts - the checker table: one entry per keepalived checker keyword.
 */
import type { CheckKind } from '../parse.ts';
import type { CheckFn } from './types.ts';
import { tcpCheck } from './tcp.ts';
import { httpCheck, sslCheck } from './http.ts';
import { miscCheck } from './misc.ts';
import { udpCheck } from './udp.ts';
import { dnsCheck } from './dns.ts';

export const CHECKS: Readonly<Record<CheckKind, CheckFn>> = {
  TCP_CHECK: tcpCheck, HTTP_GET: httpCheck, SSL_GET: sslCheck, MISC_CHECK: miscCheck, UDP_CHECK: udpCheck, DNS_CHECK: dnsCheck,
};
export type { CheckFn, CheckResult } from './types.ts';
