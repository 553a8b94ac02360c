/*
 * host/rules/errors.ts - ipvsadm's error texts and exit codes.
 *
 * Two kinds, as in ipvsadm:
 *  - usage errors found while parsing (ipvsadm's fail(2, ...), tryhelp_exit(-1), popt errors):
 *    thrown by parse.ts as WvsUsageError, with the exact text and exit code;
 *  - errors the kernel returns for an operation (errno), which ipvsadm turns into text with
 *    libipvs' ipvs_strerror(): the engine reports an errno name, adm.ts maps it here.
 * Texts are printed to stderr followed by "\n"; the message itself carries no final newline.
 */

/**
 * A command line ipvsadm would reject; `rc` is ipvsadm's exit code (2, or 255 for -1).
 * `fatal`: ipvsadm exits on the spot (fail(), tryhelp_exit()). Only popt's own errors
 * ("-w: missing argument") are not fatal: inside -R that line fails and the next is read.
 */
export class WvsUsageError extends Error {
  readonly code = 'WVS_ERR_USAGE';
  constructor(message: string, readonly rc: number, readonly fatal = true) {
    super(message);
    this.name = 'WvsUsageError';
  }
}

/** Errno names the engine may return for a control operation. */
export type Errno =
  | 'EPERM' | 'ENOENT' | 'ESRCH' | 'EEXIST' | 'EINVAL' | 'ENOMEM' | 'EBUSY' | 'ERANGE' | 'E2BIG'
  | 'ENOPROTOOPT' | 'EOPNOTSUPP' | 'EAFNOSUPPORT' | 'EMSGSIZE' | 'ENOSPC' | 'ENOTSUP' | 'ENODEV';

/** The libipvs call a command makes; ipvs_strerror() looks its texts up per call. */
export type IpvsFunc =
  | 'add_service' | 'update_service' | 'del_service' | 'zero_service' | 'add_dest' | 'update_dest'
  | 'del_dest' | 'set_timeout' | 'start_daemon' | 'stop_daemon' | 'flush' | 'get_services'
  | 'get_dests' | 'get_service' | 'get_timeout' | 'get_daemon'
  // DPVS's laddr calls
  | 'add_laddr' | 'del_laddr' | 'get_laddr';

/** ipvs_strerror()'s table: [func or null for any, errno, text]. First match wins. */
export const IPVS_ERRORS: ReadonlyArray<readonly [IpvsFunc | null, Errno, string]> = [
  ['add_service', 'EEXIST', 'Service already exists'],
  ['add_laddr', 'ESRCH', 'No such service'],
  ['add_laddr', 'EEXIST', 'Local address already exists'],
  ['del_laddr', 'ESRCH', 'No such service'],
  ['del_laddr', 'ENOENT', 'No such local address'],
  ['get_laddr', 'ESRCH', 'No such service'],
  ['add_service', 'ENOENT', 'Scheduler or persistence engine not found'],
  ['update_service', 'ESRCH', 'No such service'],
  ['update_service', 'ENOENT', 'Scheduler or persistence engine not found'],
  ['del_service', 'ESRCH', 'No such service'],
  ['zero_service', 'ESRCH', 'No such service'],
  ['add_dest', 'ESRCH', 'Service not defined'],
  ['add_dest', 'EEXIST', 'Destination already exists'],
  ['update_dest', 'ESRCH', 'Service not defined'],
  ['update_dest', 'ENOENT', 'No such destination'],
  ['del_dest', 'ESRCH', 'Service not defined'],
  ['del_dest', 'ENOENT', 'No such destination'],
  ['start_daemon', 'EEXIST', 'Daemon has already run'],
  ['stop_daemon', 'ESRCH', 'No daemon is running'],
  ['get_services', 'ESRCH', 'No such service'],
  ['get_dests', 'ESRCH', 'No such service'],
  ['get_service', 'ESRCH', 'No such service'],
  [null, 'EPERM', 'Permission denied (you must be root)'],
  [null, 'EINVAL', 'Invalid operation.  Possibly wrong module version, address not unicast, ...'],
  [null, 'ENOPROTOOPT', 'Protocol not available'],
  [null, 'ENOMEM', 'Memory allocation problem'],
  [null, 'EOPNOTSUPP', 'Operation not supported with IPv6'],
  [null, 'EAFNOSUPPORT', 'Operation not supported with specified address family'],
  [null, 'EMSGSIZE', 'Module is wrong version'],
];

/** glibc strerror() for the errnos not in the table above. */
export const STRERROR: Readonly<Record<Errno, string>> = {
  EPERM: 'Operation not permitted',
  ENODEV: 'No such device',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EEXIST: 'File exists',
  EINVAL: 'Invalid argument',
  ENOMEM: 'Cannot allocate memory',
  EBUSY: 'Device or resource busy',
  ERANGE: 'Numerical result out of range',
  E2BIG: 'Argument list too long',
  ENOPROTOOPT: 'Protocol not available',
  EOPNOTSUPP: 'Operation not supported',
  ENOTSUP: 'Operation not supported',
  EAFNOSUPPORT: 'Address family not supported by protocol',
  EMSGSIZE: 'Message too long',
  ENOSPC: 'No space left on device',
};

/** ipvs_strerror(errno) as seen after calling `func`. */
export function ipvsStrerror(func: IpvsFunc, errno: Errno): string {
  for (const [f, e, text] of IPVS_ERRORS) if ((f === null || f === func) && e === errno) return text;
  return STRERROR[errno] ?? 'Unknown error';
}

/**
 * Exit codes: a failed change (-A -E -D -a -e -d -C -Z --set) exits 255 (process_options returns
 * -1). Listing failures exit 1: `-L -t <missing>` prints "No such service" and exits 1, as do
 * failures to read the table in -L/-S.
 */
export const RC_OP_FAILED = 255;
export const RC_LIST_FAILED = 1;

/** Known kernel-side cases and what ipvsadm shows (all verified by the kernel oracle, case a). */
export const KERNEL_ERROR_CASES = [
  { cmd: '-A (unknown scheduler)', func: 'add_service', errno: 'ENOENT', text: 'Scheduler or persistence engine not found', rc: 255 },
  { cmd: '-A (service exists)', func: 'add_service', errno: 'EEXIST', text: 'Service already exists', rc: 255 },
  { cmd: '-D (no service)', func: 'del_service', errno: 'ESRCH', text: 'No such service', rc: 255 },
  { cmd: '-a (dest exists)', func: 'add_dest', errno: 'EEXIST', text: 'Destination already exists', rc: 255 },
  { cmd: '-a (no service)', func: 'add_dest', errno: 'ESRCH', text: 'Service not defined', rc: 255 },
  { cmd: '-d (no dest)', func: 'del_dest', errno: 'ENOENT', text: 'No such destination', rc: 255 },
  { cmd: '-e (no dest)', func: 'update_dest', errno: 'ENOENT', text: 'No such destination', rc: 255 },
  { cmd: '-a -x 10 -y 20 (lower > upper)', func: 'add_dest', errno: 'ERANGE', text: 'Numerical result out of range', rc: 255 },
  { cmd: '-L -t (no service)', func: 'get_service', errno: 'ESRCH', text: 'No such service', rc: 1 },
] as const;

/** wasmvs has no connection sync daemon: --start-daemon / --stop-daemon parse, then fail with this. */
export const DAEMON_NOT_SUPPORTED = 'Connection synchronization daemon is not supported by wasmvs';
