/*
 * host/rules/options.ts - ipvsadm 1.31's command and option tables, as data.
 *
 * Same shape as ipvsadm.c: a command list, an option list (the index is the bit used for
 * "multiple ... specified" and for the validity table), commands_v_options with
 *   '+' compulsory, 'x' illegal, '1' exclusive (only one '1' option), ' ' optional,
 * and tunnel_types_v_options for --tun-type. The names are the ones ipvsadm prints in
 * its error messages, so they must keep ipvsadm's spelling.
 */

/** Commands, in ipvsadm's CMD_* order (index = CMD_x - 1). */
export const CMD = {
  ADD: 0, EDIT: 1, DEL: 2, FLUSH: 3, LIST: 4, ADDDEST: 5, DELDEST: 6, EDITDEST: 7,
  TIMEOUT: 8, STARTDAEMON: 9, STOPDAEMON: 10, RESTORE: 11, SAVE: 12, ZERO: 13,
  // DPVS's ipvsadm: FULLNAT local addresses of a service
  ADDLADDR: 14, DELLADDR: 15, GETLADDR: 16,
} as const;
export type CmdIdx = (typeof CMD)[keyof typeof CMD];

/** cmdnames[]: as printed in "... for the '%s' command" */
export const CMD_NAMES = [
  'add-service', 'edit-service', 'delete-service', 'flush', 'list', 'add-server', 'delete-server',
  'edit-server', 'set', 'start-daemon', 'stop-daemon', 'restore', 'save', 'zero',
  'add-laddr', 'del-laddr', 'get-laddr',
] as const;

/** Options, in ipvsadm's OPTC_* order. */
export const OPT = {
  NUMERIC: 0, CONNECTION: 1, SERVICE: 2, SCHEDULER: 3, PERSISTENT: 4, NETMASK: 5, SERVER: 6,
  FORWARD: 7, WEIGHT: 8, UTHRESHOLD: 9, LTHRESHOLD: 10, MCAST: 11, TIMEOUT: 12, DAEMON: 13,
  STATS: 14, RATE: 15, THRESHOLDS: 16, PERSISTENTCONN: 17, NOSORT: 18, SYNCID: 19, EXACT: 20,
  ONEPACKET: 21, PERSISTENCE_ENGINE: 22, SCHED_FLAGS: 23, MCAST_GROUP: 24, MCAST_PORT: 25,
  MCAST_TTL: 26, SYNC_MAXLEN: 27, TUN_INFO: 28, TUN_TYPE: 29, TUN_PORT: 30, TUN_NOCSUM: 31,
  TUN_CSUM: 32, TUN_REMCSUM: 33,
  // DPVS's ipvsadm (its optnames: "local-address", "ifname")
  LADDR: 34, IFNAME: 35,
  // DPVS's ipvsadm: --synproxy (-j) enable|disable (here the argument is optional: enable)
  SYNPROXY: 36,
} as const;
export type OptIdx = (typeof OPT)[keyof typeof OPT];
export const NUMBER_OF_OPT = 37;

/** optnames[]: as printed in "Illegal '%s' option ..." */
export const OPT_NAMES = [
  'numeric', 'connection', 'service-address', 'scheduler', 'persistent', 'netmask', 'real-server',
  'forwarding-method', 'weight', 'u-threshold', 'l-threshold', 'mcast-interface', 'timeout', 'daemon',
  'stats', 'rate', 'thresholds', 'persistent-conn', 'nosort', 'syncid', 'exact', 'ops', 'pe',
  'sched-flags', 'mcast-group', 'mcast-port', 'mcast-ttl', 'sync-maxlen', 'tun-info', 'tun-type',
  'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum', 'local-address', 'ifname', 'synproxy',
] as const;

/*
 * commands_v_options: one string per command, one column per option (37).
 * Columns:  -n -c svc -s -p -M -r fwd -w -x -y -mc tot dmn -st -rt thr -pc srt sid -ex ops -pe -b grp port ttl size tinf type tprt nocs csum remc -z -F -j
 * -j (--synproxy) is DPVS's too: optional with -A/-E, illegal elsewhere.
 * The last two columns (before -j) and rows come from DPVS's ipvsadm (-P/-Q/-G with -z, -F); there -F is
 * compulsory with -P/-Q (the NIC of the laddr), here optional and ignored (no NICs).
 * (Checked against the table in Debian's ipvsadm 1.31-1+b1 binary.)
 */
export const COMMANDS_V_OPTIONS: readonly string[] = [
  /* ADD     */ 'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxxxx ',
  /* EDIT    */ 'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxxxx ',
  /* DEL     */ 'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* FLUSH   */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* LIST    */ ' 11xxxxxxxxx11       xxxxxxx xxxxxxxx',
  /* ADDSRV  */ 'xx+xxx+    xxxxxxxxxxxxxxxxxx     xxx',
  /* DELSRV  */ 'xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* EDITSRV */ 'xx+xxx+    xxxxxxxxxxxxxxxxxx     xxx',
  /* TIMEOUT */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* STARTD  */ 'xxxxxxxxxxx xxxxxxx xxxx    xxxxxxxxx',
  /* STOPD   */ 'xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxxxxx',
  /* RESTORE */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* SAVE    */ ' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* ZERO    */ 'xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* ADDLADDR*/ 'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx+ x',
  /* DELLADDR*/ 'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx+ x',
  /* GETLADDR*/ 'xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
];

export const TUN_NAMES = ['ipip', 'gue', 'gre'] as const;
export type TunType = (typeof TUN_NAMES)[number];
/** the options tunnel_types_v_options talks about, in column order */
export const TUN_OPTS: readonly OptIdx[] = [OPT.TUN_PORT, OPT.TUN_NOCSUM, OPT.TUN_CSUM, OPT.TUN_REMCSUM];
/** rows ipip, gue, gre; columns tun-port, tun-nocsum, tun-csum, tun-remcsum */
export const TUNNEL_TYPES_V_OPTIONS: readonly string[] = [
  /* ipip */ 'xxxx',
  /* gue  */ '+111',
  /* gre  */ 'x11x',
];

/** How popt reads an option's argument. */
export type ArgKind = 'none' | 'string' | 'optional';

/** The popt table: long name, short letter, argument kind, and the tag the parser switches on. */
export interface OptionDef { long: string; short?: string; arg: ArgKind; tag: string }

export const OPTION_TABLE: readonly OptionDef[] = [
  { long: 'add-service', short: 'A', arg: 'none', tag: 'A' },
  { long: 'edit-service', short: 'E', arg: 'none', tag: 'E' },
  { long: 'delete-service', short: 'D', arg: 'none', tag: 'D' },
  { long: 'clear', short: 'C', arg: 'none', tag: 'C' },
  { long: 'list', short: 'L', arg: 'none', tag: 'L' },
  { long: 'list', short: 'l', arg: 'none', tag: 'l' },
  { long: 'zero', short: 'Z', arg: 'none', tag: 'Z' },
  { long: 'add-server', short: 'a', arg: 'none', tag: 'a' },
  { long: 'edit-server', short: 'e', arg: 'none', tag: 'e' },
  { long: 'delete-server', short: 'd', arg: 'none', tag: 'd' },
  { long: 'set', arg: 'none', tag: 'set' },
  { long: 'help', short: 'h', arg: 'none', tag: 'h' },
  { long: 'version', short: 'v', arg: 'none', tag: 'v' },
  { long: 'restore', short: 'R', arg: 'none', tag: 'R' },
  { long: 'save', short: 'S', arg: 'none', tag: 'S' },
  { long: 'start-daemon', arg: 'string', tag: 'start-daemon' },
  { long: 'stop-daemon', arg: 'string', tag: 'stop-daemon' },
  { long: 'tcp-service', short: 't', arg: 'string', tag: 't' },
  { long: 'udp-service', short: 'u', arg: 'string', tag: 'u' },
  { long: 'sctp-service', arg: 'string', tag: 'sctp-service' },
  { long: 'fwmark-service', short: 'f', arg: 'string', tag: 'f' },
  { long: 'scheduler', short: 's', arg: 'string', tag: 's' },
  { long: 'persistent', short: 'p', arg: 'optional', tag: 'p' },
  { long: 'netmask', short: 'M', arg: 'string', tag: 'M' },
  { long: 'real-server', short: 'r', arg: 'string', tag: 'r' },
  { long: 'masquerading', short: 'm', arg: 'none', tag: 'm' },
  { long: 'ipip', short: 'i', arg: 'none', tag: 'i' },
  { long: 'gatewaying', short: 'g', arg: 'none', tag: 'g' },
  { long: 'weight', short: 'w', arg: 'string', tag: 'w' },
  { long: 'u-threshold', short: 'x', arg: 'string', tag: 'x' },
  { long: 'l-threshold', short: 'y', arg: 'string', tag: 'y' },
  { long: 'numeric', short: 'n', arg: 'none', tag: 'n' },
  { long: 'connection', short: 'c', arg: 'none', tag: 'c' },
  { long: 'mcast-interface', arg: 'string', tag: 'mcast-interface' },
  { long: 'syncid', arg: 'string', tag: 'syncid' },
  { long: 'timeout', arg: 'none', tag: 'timeout' },
  { long: 'daemon', arg: 'none', tag: 'daemon' },
  { long: 'stats', arg: 'none', tag: 'stats' },
  { long: 'rate', arg: 'none', tag: 'rate' },
  { long: 'thresholds', arg: 'none', tag: 'thresholds' },
  { long: 'persistent-conn', arg: 'none', tag: 'persistent-conn' },
  { long: 'nosort', arg: 'none', tag: 'nosort' },
  { long: 'sort', arg: 'none', tag: 'sort' },
  { long: 'exact', short: 'X', arg: 'none', tag: 'X' },
  { long: 'ipv6', short: '6', arg: 'none', tag: '6' },
  { long: 'ops', short: 'o', arg: 'none', tag: 'o' },
  { long: 'pe', arg: 'string', tag: 'pe' },
  { long: 'sched-flags', short: 'b', arg: 'string', tag: 'b' },
  { long: 'mcast-group', arg: 'string', tag: 'mcast-group' },
  { long: 'mcast-port', arg: 'string', tag: 'mcast-port' },
  { long: 'mcast-ttl', arg: 'string', tag: 'mcast-ttl' },
  { long: 'sync-maxlen', arg: 'string', tag: 'sync-maxlen' },
  { long: 'tun-info', arg: 'none', tag: 'tun-info' },
  { long: 'tun-type', arg: 'string', tag: 'tun-type' },
  { long: 'tun-port', arg: 'string', tag: 'tun-port' },
  { long: 'tun-nocsum', arg: 'none', tag: 'tun-nocsum' },
  { long: 'tun-csum', arg: 'none', tag: 'tun-csum' },
  { long: 'tun-remcsum', arg: 'none', tag: 'tun-remcsum' },
  // DPVS's ipvsadm. Its -b (--fullnat) is --sched-flags in ipvsadm 1.31, which keeps -b here.
  { long: 'add-laddr', short: 'P', arg: 'none', tag: 'P' },
  { long: 'del-laddr', short: 'Q', arg: 'none', tag: 'Q' },
  { long: 'get-laddr', short: 'G', arg: 'none', tag: 'G' },
  { long: 'fullnat', arg: 'none', tag: 'fullnat' },
  { long: 'laddr', short: 'z', arg: 'string', tag: 'z' },
  { long: 'ifname', short: 'F', arg: 'string', tag: 'F' },
  { long: 'synproxy', short: 'j', arg: 'optional', tag: 'j' },
];

/** Defaults ipvsadm applies (ipvsadm.c / libipvs.h). */
export const DEF_SCHED = 'wlc';
export const DEF_MCAST_IFN = 'eth0';
/** IPVS_SVC_PERSISTENT_TIMEOUT (libipvs.h: 6*60). The man page says 300; the code sends 360. */
export const DEF_PERSISTENT_TIMEOUT = 360;
export const MAX_TIMEOUT = 86400 * 31;
/** IP_VS_SCHEDNAME_MAXLEN - 1: strncpy keeps 15 characters */
export const SCHEDNAME_MAX = 15;
/** IP_VS_PENAME_MAXLEN */
export const PENAME_MAX = 16;
export const IFNAME_MAX = 15;
/** Debian's 1.31 patch raises the weight limit from 65535 to INT_MAX (the oracle accepts -w 70000). */
export const WEIGHT_MAX = 2147483647;
export const INT_MAX = 2147483647;
