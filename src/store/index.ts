// Public face of the store: `ClusterStore.setup()` in the primary hosts the sessions; `new ClusterStore()`
// in each worker is an express-session store that reaches them over the cluster's IPC channel.
import cluster from 'node:cluster';
import { Store, type SessionData } from 'express-session';
import { performance } from 'node:perf_hooks';
import { StoreClient, type Callback } from './client.js';
import { StoreHost, type StoreHostOptions } from './host.js';
import { checkSessionSize, defaultLimits, ErrorCode, StoreError, type Op } from './protocol.js';
import { integerOption } from './options.js';
import { ipcTransport, localTransport } from './transport.js';

export { StoreError, ErrorCode } from './protocol.js';
export type { Op } from './protocol.js';
export type { StoreHost, StoreHostOptions } from './host.js';
export type { LoadResult } from './snapshot.js';
export type { LockStats } from './locks.js';
export { sessionLock, type SessionLockOptions } from './session-lock.js';

export interface ClusterStoreOptions {
  /** How long a call waits for the primary before failing with ERR_SESSION_STORE_TIMEOUT, in ms. @default 5000 */
  timeoutMs?: number;
  /**
   * A `get` already rolled the session's expiry forward in the host; the `touch` express-session sends at the end
   * of the same request is skipped when it would move that expiry by no more than this, in ms (the host keeps
   * expiry to the second). @default 2000
   */
  touchToleranceMs?: number;
  /** Largest session saved, in bytes of JSON: a larger `set` fails here, before it is sent. Match the host's. @default 16_384 */
  maxSessionBytes?: number;
  /** Longest session id accepted, in characters. Match the host's. @default 256 */
  maxIdLength?: number;
  /**
   * Called after every store call, for metrics: the op, how it ended, and how long it took in ms (for posted
   * writes: until written to the channel). @default none
   */
  observe?: (op: Op, outcome: Outcome, durationMs: number) => void;
}

/** How long a session lock may be waited for and held, and how many may wait for one, in ms. */
export interface LockOptions {
  waitMs: number;
  holdMs: number;
  maxWaiters: number;
}

/** How a store call ended: `timeout` and `closed` mean the primary could not be reached. */
export type Outcome = 'ok' | 'error' | 'timeout' | 'closed';

/** Marks a session loaded by this store with the expiry the host rolled it forward to. Not saved: a symbol. */
const rolledTo = Symbol('express-cluster-sessions.rolledTo');
type Marked = { [rolledTo]?: number };

type SessionCallback = (error: unknown, session?: SessionData | null) => void;
type ErrorCallback = (error?: unknown) => void;

let host: StoreHost | undefined;

export class ClusterStore extends Store {
  readonly #client: StoreClient;
  readonly #touchToleranceMs: number;
  readonly #maxSessionBytes: number;
  readonly #maxIdLength: number;
  readonly #observe: ClusterStoreOptions['observe'];
  /** Sessions a lock grant brought along (see lock()), until the request's get takes them: sid → [json, expiresAt] or null. */
  readonly #prefetched = new Map<string, unknown>();

  /**
   * Starts the session host in the primary, once; later calls return the same host. In a worker it does nothing
   * and returns undefined, so one code path can call it in every process.
   */
  static setup(options?: StoreHostOptions): StoreHost | undefined {
    if (!cluster.isPrimary) return undefined;
    if (host === undefined) {
      host = new StoreHost(options);
      host.attach(cluster);
    }
    return host;
  }

  constructor(options: ClusterStoreOptions = {}) {
    super();
    const timeoutMs = integerOption('timeoutMs', options.timeoutMs, 5000);
    this.#touchToleranceMs = integerOption('touchToleranceMs', options.touchToleranceMs, 2000, 0);
    this.#maxSessionBytes = integerOption('maxSessionBytes', options.maxSessionBytes, defaultLimits.maxSessionBytes);
    this.#maxIdLength = integerOption('maxIdLength', options.maxIdLength, defaultLimits.maxIdLength);
    this.#observe = options.observe;
    const client = () => this.#client;
    const transport = cluster.isPrimary ? localTransport(client, () => ClusterStore.setup()!) : ipcTransport(client);
    this.#client = new StoreClient(transport, timeoutMs);
    this.#client.on('disconnect', () => this.emit('disconnect'));
    this.#client.on('connect', () => this.emit('connect'));
  }

  override get(sid: string, callback: SessionCallback): void {
    if (this.#prefetched.has(sid)) {
      const found = this.#prefetched.get(sid);
      this.#prefetched.delete(sid);
      let session: SessionData | null;
      try {
        session = decodeSession(found);
      } catch (error) {
        process.nextTick(callback, error);
        return;
      }
      process.nextTick(callback, null, session);
      return;
    }
    this.#call('get', [sid], callback, decodeSession);
  }

  /** express-session builds req.session from what get() returned: carry the mark over (for..in skips symbols). */
  override createSession(...[req, data]: Parameters<Store['createSession']>): ReturnType<Store['createSession']> {
    const session = super.createSession(req, data);
    (session as Marked)[rolledTo] = (data as Marked)[rolledTo];
    return session;
  }

  override set(sid: string, session: SessionData, callback?: ErrorCallback): void {
    const json = JSON.stringify(session);
    try {
      this.#checkId(sid);
      checkSessionSize(sid, json, this.#maxSessionBytes);
    } catch (error) {
      if (callback) process.nextTick(callback, error);
      return;
    }
    this.#post('set', [sid, json, expiryOf(session)], callback);
  }

  override touch(sid: string, session: SessionData, callback?: ErrorCallback): void {
    const wanted = expiryOf(session);
    const rolled = (session as Marked)[rolledTo];
    if (rolled !== undefined && (wanted === null || Math.abs(wanted - rolled) <= this.#touchToleranceMs)) {
      // The get of this request already did it: no round trip.
      if (callback) process.nextTick(callback);
      return;
    }
    this.#post('touch', [sid, wanted], callback);
  }

  override destroy(sid: string, callback?: ErrorCallback): void {
    this.#post('destroy', [sid], callback);
  }

  override all(callback: (error: unknown, sessions?: Record<string, SessionData> | null) => void): void {
    this.#call('all', [], callback, (pairs) => {
      // Any string is a session id, "__proto__" included: build on a prototype-less object.
      const sessions = Object.create(null) as Record<string, SessionData>;
      for (const [sid, json] of pairs as [string, string][]) sessions[sid] = JSON.parse(json) as SessionData;
      return sessions;
    });
  }

  override length(callback: (error: unknown, length?: number) => void): void {
    this.#call('length', [], callback, (length) => length as number);
  }

  override clear(callback?: ErrorCallback): void {
    this.#call('clear', [], callback);
  }

  /**
   * Takes the lock of `key` in the primary, waiting behind earlier holders (see sessionLock, which is how an app
   * uses this). Calls back with the token to release it with, or with ERR_SESSION_LOCK_WAIT_TIMEOUT (503) or
   * ERR_SESSION_LOCK_QUEUE_FULL (429).
   */
  lock(key: string, sid: string | null, options: LockOptions, callback: (error: unknown, token?: number) => void): void {
    const { waitMs, holdMs, maxWaiters } = options;
    const args = [key, waitMs, holdMs, maxWaiters, sid !== null && sid.length <= this.#maxIdLength ? sid : null];
    this.#call('lock', args, callback, (granted) => {
      // The grant brings the session `sid` along, as read when the lock was granted: the request's get uses it.
      const [token, found] = granted as [number, unknown];
      if (args[4] !== null) this.#prefetched.set(sid!, found);
      return token;
    }, waitMs);
  }

  /**
   * Releases a lock `lock` granted; a token that no longer holds it (hold time over) releases nothing. Posted.
   * A session the grant brought along that the request never read is dropped.
   */
  unlock(key: string, token: number, sid: string | null): void {
    if (sid !== null) this.#prefetched.delete(sid);
    this.#post('unlock', [key, token]);
  }

  /** Writes go out without waiting for an answer; see StoreClient.post. */
  #post(op: Op, args: unknown[], callback?: ErrorCallback): void {
    if (callback === undefined && this.#observe === undefined) {
      this.#client.post(op, args);
      return;
    }
    const done = this.#observed(op, (error) => callback?.(error ?? undefined));
    this.#client.post(op, args, done);
  }

  /** Wraps a callback so `observe` hears how the call ended; without `observe`, the callback itself. */
  #observed(op: Op, callback: Callback): Callback {
    const observe = this.#observe;
    if (observe === undefined) return callback;
    const started = performance.now();
    return (error, value) => {
      observe(op, outcomeOf(error), performance.now() - started);
      callback(error, value);
    };
  }

  #checkId(sid: string): void {
    if (sid.length > this.#maxIdLength) {
      throw new StoreError(ErrorCode.badRequest, `session id of ${sid.length} characters, over maxIdLength (${this.#maxIdLength})`);
    }
  }

  #call<T>(op: Op, args: unknown[], callback?: (error: unknown, value?: T) => void, decode?: (value: unknown) => T, extraMs = 0): void {
    const done: Callback = (error, value) => {
      if (callback === undefined) return;
      if (error !== null || decode === undefined) {
        callback(error);
        return;
      }
      let decoded: T;
      try {
        decoded = decode(value);
      } catch (decodeError) {
        callback(decodeError);
        return;
      }
      callback(null, decoded);
    };
    this.#client.call(op, args, this.#observed(op, done), extraMs);
  }
}

/** A session as the host sends it ([json, expiresAt] or null), for express-session, marked with its rolled expiry. */
function decodeSession(found: unknown): SessionData | null {
  if (found === null) return null;
  const [json, expiresAt] = found as [string, number];
  const session = JSON.parse(json) as SessionData & Marked;
  session[rolledTo] = expiresAt;
  return session;
}

function outcomeOf(error: StoreError | null): Outcome {
  if (error === null) return 'ok';
  if (error.code === ErrorCode.timeout) return 'timeout';
  return error.code === ErrorCode.closed ? 'closed' : 'error';
}

/** express-session rebuilds `cookie.expires` as a Date; after JSON it may be a string. No expiry: null. */
function expiryOf(session: SessionData): number | null {
  const expires: unknown = session.cookie?.expires;
  const time = expires instanceof Date ? expires.getTime() : typeof expires === 'string' ? Date.parse(expires) : NaN;
  return Number.isFinite(time) ? time : null;
}
