/*
 * host/errors.ts - error classes with stable codes (WVS_ERR_*), as undici's lib/core/errors.js.
 * No Node APIs: the engine wrapper throws these in browsers and edge runtimes too.
 */

/** Negative return codes of the engine's control calls (assembly/defs.ts E_*) → errno names. */
export const ENGINE_ERRNO: Readonly<Record<number, string>> = {
  [-2]: 'ENOENT', [-3]: 'ESRCH', [-12]: 'ENOMEM', [-16]: 'EBUSY', [-17]: 'EEXIST', [-22]: 'EINVAL',
  [-28]: 'ENOSPC', [-34]: 'ERANGE', [-95]: 'EOPNOTSUPP', [-97]: 'EAFNOSUPPORT',
  // the engine's own code for an unknown scheduler; libipvs sees ENOENT for it
  [-1001]: 'ENOENT',
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
