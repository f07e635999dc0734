// sessionLock(): the requests of one session run one after another, across every worker, so that no request
// saves over what a parallel request of the same session changed (a lost update). Mounted before
// express-session: a request waits for the lock of its session cookie in the primary, then express-session
// loads the session fresh; the lock is let go when the response has finished or the connection closed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClusterStore } from './index.js';
import { integerOption } from './options.js';
import { maxLockKeyLength, maxLockMs } from './protocol.js';

export interface SessionLockOptions {
  /** The session cookie's name: express-session's `name`. @default "connect.sid" */
  cookieName?: string;
  /** A request that waits longer than this for its session fails with 503 (ERR_SESSION_LOCK_WAIT_TIMEOUT), in ms. @default 10_000 */
  waitTimeoutMs?: number;
  /** A lock is released after this even if its request has not finished, in ms. @default 30_000 */
  lockTimeoutMs?: number;
  /** Most requests of one session that may wait at once; one more fails with 429 (ERR_SESSION_LOCK_QUEUE_FULL). @default 64 */
  maxWaiters?: number;
}

type Next = (error?: unknown) => void;

/** Connect/Express middleware; `store` must be the ClusterStore express-session uses. */
export function sessionLock(store: ClusterStore, options: SessionLockOptions = {}): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  const cookieName = options.cookieName ?? 'connect.sid';
  const lock = {
    waitMs: integerOption('waitTimeoutMs', options.waitTimeoutMs, 10_000, 1, maxLockMs),
    holdMs: integerOption('lockTimeoutMs', options.lockTimeoutMs, 30_000, 1, maxLockMs),
    maxWaiters: integerOption('maxWaiters', options.maxWaiters, 64, 1, 1_000_000),
  };
  return function sessionLockMiddleware(req, res, next) {
    // No cookie, no session to protect: a new session is this request's alone.
    const key = cookieValue(req.headers.cookie, cookieName);
    if (key === undefined) {
      next();
      return;
    }
    const sid = unverifiedSid(key);
    let gone = false;
    let release = () => {
      gone = true; // the visitor left while this request waited: the lock, once granted, goes straight back
    };
    const onEnd = () => release();
    res.once('finish', onEnd);
    res.once('close', onEnd);
    store.lock(key, sid, lock, (error, token) => {
      if (error) {
        res.off('finish', onEnd);
        res.off('close', onEnd);
        next(error);
        return;
      }
      release = () => {
        release = () => {};
        res.off('finish', onEnd);
        res.off('close', onEnd);
        store.unlock(key, token!, sid);
      };
      if (gone) release();
      else next();
    });
  };
}

/**
 * The session id inside an express-session cookie value (`s:` + id + `.` + signature, URL-encoded), not yet
 * verified: the grant of the lock brings that session along, and express-session uses it only if the
 * signature verifies (it asks the store for the id only then). Null when the value has another form.
 */
export function unverifiedSid(value: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return null;
  }
  const dot = decoded.lastIndexOf('.');
  return decoded.startsWith('s:') && dot > 2 ? decoded.slice(2, dot) : null;
}

/** The raw value of the first cookie called `name` in a Cookie header; undefined when absent, empty or too long. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const at = pair.indexOf('=');
    if (at < 0 || pair.slice(0, at).trim() !== name) continue;
    const value = pair.slice(at + 1).trim();
    return value.length > 0 && value.length <= maxLockKeyLength ? value : undefined;
  }
  return undefined;
}
