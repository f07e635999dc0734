// The lock's own errors: StoreErrors with codes and statuses of their own, so the core knows nothing of locks.
import { StoreError } from '../shared/errors.js';

export const LockErrorCode = {
  /** A request waited longer than waitTimeoutMs for its session's lock: 503, try again. */
  waitTimeout: 'ERR_SESSION_LOCK_WAIT_TIMEOUT',
  /** maxWaiters requests of this session already wait: 429. */
  queueFull: 'ERR_SESSION_LOCK_QUEUE_FULL',
  /** express-session read another cookie than the one sessionLock watches: 500, a configuration bug. */
  cookieMismatch: 'ERR_SESSION_LOCK_COOKIE_MISMATCH',
} as const;

const statusByCode = { [LockErrorCode.waitTimeout]: 503, [LockErrorCode.queueFull]: 429, [LockErrorCode.cookieMismatch]: 500 };

export function lockError(code: (typeof LockErrorCode)[keyof typeof LockErrorCode], message: string): StoreError {
  return new StoreError(code, message, statusByCode[code]);
}
