/*
 * host/errors.ts - error classes with stable codes (WVS_ERR_*), as undici's lib/core/errors.js.
 * No Node APIs: the engine wrapper throws these in browsers and edge runtimes too.
 */

/**
 * Negative return codes of the engine's control calls (assembly/defs.ts E_*, the kernel's
 * setsockopt errno negated); host/engine.ts checks them against the module's exports at load.
 */
export const Errno = {
  NOENT: -2, NOSVC: -3, NOMEM: -12, BUSY: -16, EXIST: -17, INVAL: -22, NOSPC: -28, RANGE: -34,
  OPNOTSUPP: -95, AFNOSUPPORT: -97, NETUNREACH: -101, NOSCHED: -1001, SYNPROXY_FWD: -1002,
} as const;

/** The engine's return codes → errno names. */
export const ENGINE_ERRNO: Readonly<Record<number, string>> = {
  [Errno.NOENT]: 'ENOENT', [Errno.NOSVC]: 'ESRCH', [Errno.NOMEM]: 'ENOMEM', [Errno.BUSY]: 'EBUSY', [Errno.EXIST]: 'EEXIST',
  [Errno.INVAL]: 'EINVAL', [Errno.NOSPC]: 'ENOSPC', [Errno.RANGE]: 'ERANGE', [Errno.OPNOTSUPP]: 'EOPNOTSUPP',
  [Errno.AFNOSUPPORT]: 'EAFNOSUPPORT',
  // the engine's own code for an unknown scheduler; libipvs sees ENOENT for it
  [Errno.NOSCHED]: 'ENOENT',
  // a synproxy service with a DR/tunnel dest (the engine's own code)
  [Errno.SYNPROXY_FWD]: 'EOPNOTSUPP',
};

export class WvsError extends Error {
  constructor(readonly code: string, message: string, readonly errno?: string) {
    super(message);
    this.name = 'WvsError';
  }
}

/** An engine control call failed: `op` names the libipvs call (add_service, add_dest, ...). */
export class WvsEngineError extends WvsError {
  constructor(readonly op: string, readonly rc: number, message: string) {
    super(`WVS_ERR_${ENGINE_ERRNO[rc] ?? 'ENGINE'}`, message, ENGINE_ERRNO[rc] ?? 'EINVAL');
    this.name = 'WvsEngineError';
  }
}
