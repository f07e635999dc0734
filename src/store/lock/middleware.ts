// sessionLock(): the requests of one session run one after another, across every worker, so that no request
// saves over what a parallel request of the same session changed (a lost update). Runs in the workers, mounted
// before express-session: a request waits for the lock of its session cookie in the primary, then express-session
// loads the session fresh; the lock is let go when the response has finished or the connection closed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClusterStore } from '../cluster-store.js';
import type { StoredSession } from '../primary/sessions.js';
import { ops } from '../shared/ops.js';
import { lockError, LockErrorCode } from './errors.js';
import { checkOptions, integer, text } from '../shared/options.js';
import { lock, maxLockKeyLength, maxLockMs, unlock } from './ops.js';

export interface SessionLockOptions {
  /** The session cookie's name: express-session's `name`. A mismatch fails the request that shows it. @default "connect.sid" */
  cookieName?: string | undefined;
  /** A request that waits longer than this for its session fails with 503 (ERR_SESSION_LOCK_WAIT_TIMEOUT), in ms. @default 10_000 */
  waitTimeoutMs?: number | undefined;
  /** A lock is released after this even if its request has not finished, in ms. @default 30_000 */
  lockTimeoutMs?: number | undefined;
  /** Most requests of one session that may wait at once; one more fails with 429 (ERR_SESSION_LOCK_QUEUE_FULL). @default 64 */
  maxWaiters?: number | undefined;
}

type Next = (error?: unknown) => void;

const rules = { cookieName: text, waitTimeoutMs: integer(1, maxLockMs), lockTimeoutMs: integer(1, maxLockMs), maxWaiters: integer(1, 1_000_000) };

/** Set on a request this middleware let through without a lock, because it carried no cookie of its name. */
const unlocked = Symbol('express-cluster-sessions.unlocked');
/** Set on a request while it holds a lock: the key. A second sessionLock on its path (app and router) lets it by. */
const holding = Symbol('express-cluster-sessions.holding');
type Marked = IncomingMessage & { [unlocked]?: true; [holding]?: string };

/**
 * Connect/Express middleware; `store` must be the ClusterStore express-session uses, and the primary must have
 * registered `sessionLocks` (otherwise every locked request fails, saying so).
 */
export function sessionLock(store: ClusterStore, options: SessionLockOptions = {}): (req: IncomingMessage, res: ServerResponse, next: Next) => void {
  checkOptions('sessionLock()', options, rules);
  const cookieName = options.cookieName ?? 'connect.sid';
  const waitMs = options.waitTimeoutMs ?? 10_000;
  const holdMs = options.lockTimeoutMs ?? 30_000;
  const maxWaiters = options.maxWaiters ?? 64;
  const grants = grantsOf(store); // wraps store.call now, not at the first grant: its identity never changes later
  // express-session loads a session only for a request that carries its cookie: if this middleware let that
  // request through as cookieless, it watches another cookie name than express-session. Fail it, loudly.
  store.on('load', (req: Marked) => {
    if (req[unlocked] && req[holding] === undefined) {
      throw lockError(
        LockErrorCode.cookieMismatch,
        `sessionLock watches the cookie "${cookieName}", but express-session loaded a session from another cookie: pass express-session's \`name\` as sessionLock's \`cookieName\``,
      );
    }
  });
  return function sessionLockMiddleware(req: Marked, res, next) {
    // No cookie, no session to protect: a new session is this request's alone.
    const value = cookieValue(req.headers.cookie, cookieName);
    if (value === undefined) {
      req[unlocked] = true;
      next();
      return;
    }
    const sid = unverifiedSid(value);
    // One lock per session id, whatever signature the cookie carries: requests with forged signatures for one id
    // wait in line with the rest (and are then refused by express-session), instead of each taking a lock of its
    // own and each grant bringing a copy of the session along.
    const key = sid === null ? value : `s:${sid}`;
    // Mounted twice on this request's path: the first took the lock; waiting for it again would wait for ourselves.
    if (req[holding] === key) {
      next();
      return;
    }
    let gone = false;
    let release = () => {
      gone = true; // the visitor left while this request waited: the lock, once granted, goes straight back
    };
    const onEnd = () => release();
    res.once('finish', onEnd);
    res.once('close', onEnd);
    store.call(lock, [key, waitMs, holdMs, maxWaiters, sid], (error, granted) => {
      if (error) {
        res.off('finish', onEnd);
        res.off('close', onEnd);
        next(error);
        return;
      }
      const [token, found] = granted!;
      release = () => {
        release = () => {};
        res.off('finish', onEnd);
        res.off('close', onEnd);
        store.post(unlock, [key, token]);
      };
      if (gone) {
        release();
        return;
      }
      // The grant brought the session along: express-session, mounted right after, takes it in the same tick
      // (its get runs inside next()) if the cookie's signature verifies. Whatever it did not take is dropped at
      // once: a copy left for later would be served to another request of that id after a sign-out.
      req[holding] = key;
      if (sid !== null) grants.set(sid, found);
      try {
        next();
      } finally {
        if (sid !== null) grants.delete(sid);
      }
    }, waitMs);
  };
}

/** Sessions a lock's grant brought along, by store and id, for the get that follows in the same tick. */
const grantsByStore = new WeakMap<ClusterStore, Map<string, StoredSession | null>>();

/**
 * The grants of `store`. The first time, this wraps the store's `call` so that a `get` of an id a grant brought
 * is answered from it instead of asking the host (the store's own get decodes it as any reply): the core knows
 * nothing of locks, and delete this folder and nothing of it is left.
 */
function grantsOf(store: ClusterStore): Map<string, StoredSession | null> {
  let granted = grantsByStore.get(store);
  if (granted !== undefined) return granted;
  const held = new Map<string, StoredSession | null>();
  const call = store.call.bind(store);
  store.call = ((op, args, callback, extraMs) => {
    const sid = args[0] as string;
    if ((op as unknown) !== ops.get || !held.has(sid)) return call(op, args, callback, extraMs);
    const found = held.get(sid)!;
    held.delete(sid);
    process.nextTick(() => (callback as (error: null, reply: StoredSession | null) => void)(null, found));
  });
  grantsByStore.set(store, (granted = held));
  return granted;
}

/**
 * The session id inside an express-session cookie value (`s:` + id + `.` + signature, decoded), not yet
 * verified: the grant of the lock brings that session along, and express-session uses it only if the
 * signature verifies (it asks the store for the id only then). Null when the value has another form.
 */
export function unverifiedSid(value: string): string | null {
  const dot = value.lastIndexOf('.');
  return value.startsWith('s:') && dot > 2 ? value.slice(2, dot) : null;
}

/**
 * The value of the first cookie called `name` in a Cookie header, as express-session reads it (quotes around it
 * dropped, percent-escapes decoded): the forms of one cookie that express-session takes for the same session
 * share one lock. Undefined when absent, empty or too long.
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const at = pair.indexOf('=');
    if (at < 0 || pair.slice(0, at).trim() !== name) continue;
    let value = pair.slice(at + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value.includes('%')) {
      try {
        value = decodeURIComponent(value);
      } catch {
        // as the cookie module does: a value that does not decode is taken as it is
      }
    }
    return value.length > 0 && value.length <= maxLockKeyLength ? value : undefined;
  }
  return undefined;
}
