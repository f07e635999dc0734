// ClusterStore: the express-session store. In a worker it reaches the host in the primary over the cluster's
// IPC channel; in the primary (or a single process) it talks to the host there. ClusterStore.setup() starts
// that host, in the primary, once.
import cluster from 'node:cluster';
import { performance } from 'node:perf_hooks';
import { Store, type SessionData } from 'express-session';
import { StoreHost, type Feature, type StoreHostOptions } from './primary/host.js';
import type { StoredSession } from './primary/sessions.js';
import { ErrorCode, parseSession, type StoreError } from './shared/errors.js';
import { ops, type Op, type SaveArgs } from './shared/ops.js';
import { StoredSessions } from './shared/stored.js';
import { callable, checkOptions, integer, oneOf, text } from './shared/options.js';
import { StoreClient, type Callback } from './worker/client.js';
import { ipcTransport, localTransport } from './worker/transport.js';

export interface ClusterStoreOptions {
  /** How long a call waits for the primary before failing with ERR_SESSION_STORE_TIMEOUT (503), in ms. @default 5000 */
  timeoutMs?: number | undefined;
  /**
   * A `get` already rolled the session's expiry forward in the host; the `touch` express-session sends at the end
   * of the same request is skipped when it would move that expiry by no more than this, in ms. @default 2000
   */
  touchToleranceMs?: number | undefined;
  /**
   * The session field that says whose session it is: a string there (any content, up to the host's
   * maxUserIdLength) files the session under that user, for userSessions() and destroyUserSessions(); any other
   * value means no user. @default "userId"
   */
  userField?: string | undefined;
  /**
   * Most answered calls outstanding at once (reads, updates; and, counted apart, session locks, whose grants bring
   * the session along); more wait in the worker, within their timeout. It bounds the size of the host's answer to
   * one turn of this worker: a client pipelining a thousand requests of large sessions would otherwise make the
   * primary build and send one message of tens of MB. @default 128
   */
  maxInFlight?: number | undefined;
  /** Called after every store call, for metrics: the op's name, how it ended, how long it took in ms. @default none */
  observe?: ((op: string, outcome: Outcome, durationMs: number) => void) | undefined;
  /**
   * A host in this same process to talk to, instead of the primary's (in a worker) or the one setup() made (in the
   * primary): tests that want a host of their own (test/harness.ts). @default the process's
   */
  host?: StoreHost | undefined;
  /** @deprecated The host announces its limit to every store: set it in ClusterStore.setup(). Ignored here, with a warning. */
  maxSessionBytes?: number | undefined;
  /** @deprecated As maxSessionBytes. */
  maxIdLength?: number | undefined;
}

/** How a call ended: `timeout`, `unavailable` and `closed` mean the primary could not be reached. */
export type Outcome = 'ok' | 'error' | 'timeout' | 'unavailable' | 'closed';

type SessionCallback = (error: unknown, session?: SessionData | null) => void;

/** One of a user's sessions, as userSessions() lists them. */
export interface UserSessionInfo {
  sid: string;
  session: SessionData;
  /** When the session was last read or saved, ms since the epoch. */
  lastUsedAt: number;
  /** When the store will drop it unless it is used again, ms since the epoch. */
  expiresAt: number;
}
type ErrorCallback = (error?: unknown) => void;

const rules = {
  timeoutMs: integer(1),
  touchToleranceMs: integer(0),
  maxInFlight: integer(1, 1_000_000),
  userField: text,
  observe: callable,
  host: oneOf('a StoreHost (new StoreHost(options), or what ClusterStore.setup() returned)', (value) => value instanceof StoreHost),
  maxSessionBytes: integer(1),
  maxIdLength: integer(1),
};
const hints = { timeout: 'did you mean `timeoutMs`?', ttl: 'the session lifetime is the cookie\'s maxAge; the host\'s default is `defaultTtlMs` in ClusterStore.setup()' };

/**
 * Marks a session this store loaded with the expiry the host rolled it to when it was read. A symbol: never saved,
 * and skipped by express-session's copy into req.session, so createSession carries it over.
 */
const rolledTo = Symbol('express-cluster-sessions.rolledTo');
type Marked = { [rolledTo]?: number };

let host: StoreHost | undefined;
let hostOptions: StoreHostOptions = {};
let warnedDeprecated = false;

/**
 * Emits `unavailable` (error) when the primary stops answering and `available` when it answers again, for logs.
 * It never emits express-session's `disconnect`: express-session would then serve requests with no req.session at
 * all (expressjs/session#216); instead each call fails at once with a 503 StoreError, which reaches the app's
 * error handler. Emits `load` (req) when express-session first builds a request's session from it (the lock checks
 * there).
 */
export class ClusterStore extends Store {
  readonly #client: StoreClient;
  readonly #touchToleranceMs: number;
  readonly #userField: string;
  readonly #observe: ClusterStoreOptions['observe'];
  /** The sessions this store loaded or saved, by object: their saves are updates (see shared/stored.ts). */
  readonly #stored = new StoredSessions();

  /**
   * Starts the session host in the primary, once: call it before forking. Again with the same options it
   * returns the same host; with others it throws. In a worker it does nothing and returns undefined.
   */
  static setup(options: StoreHostOptions = {}): StoreHost | undefined {
    if (!cluster.isPrimary) return undefined;
    if (host === undefined) {
      host = new StoreHost(options);
      hostOptions = { ...options };
      host.attach(cluster);
      return host;
    }
    const differing = [...new Set([...Object.keys(hostOptions), ...Object.keys(options)])].filter(
      (name) => !sameOption(hostOptions[name as keyof StoreHostOptions], options[name as keyof StoreHostOptions]),
    );
    if (differing.length > 0) {
      throw new TypeError(`ClusterStore.setup() was already called with other options (${differing.map((name) => `\`${name}\``).join(', ')}): call it once, before forking`);
    }
    return host;
  }

  constructor(options: ClusterStoreOptions = {}) {
    super();
    checkOptions('new ClusterStore()', options, rules, hints);
    if ((options.maxSessionBytes !== undefined || options.maxIdLength !== undefined) && !warnedDeprecated) {
      warnedDeprecated = true;
      process.emitWarning('new ClusterStore({ maxSessionBytes, maxIdLength }) is ignored: the host announces its limits; set them in ClusterStore.setup()', {
        type: 'DeprecationWarning',
        code: 'ECS_WORKER_LIMITS',
      });
    }
    this.#touchToleranceMs = options.touchToleranceMs ?? 2000;
    this.#userField = options.userField ?? 'userId';
    this.#observe = options.observe;
    const client = () => this.#client;
    const here = options.host ?? (cluster.isPrimary ? hostHere() : undefined);
    this.#client = new StoreClient(here === undefined ? ipcTransport(client) : localTransport(client, here), options.timeoutMs ?? 5000, options.maxInFlight ?? 128);
    this.#client.on('unavailable', (error: StoreError) => this.emit('unavailable', error));
    this.#client.on('available', () => this.emit('available'));
  }

  override get(sid: string, callback: SessionCallback): void {
    this.call(ops.get, [sid], (error, found) => this.#decoded(callback, sid, error, found as StoredSession | null));
  }

  /**
   * express-session builds req.session from what get() returned: carry the mark over. On a request's first load
   * (not a reload) tell `load` listeners; express-session catches what they throw and passes it to next().
   */
  override createSession(...[req, data]: Parameters<Store['createSession']>): ReturnType<Store['createSession']> {
    const firstLoad = req.session === undefined;
    const session = super.createSession(req, data);
    const rolled = (data as Marked)[rolledTo];
    if (rolled !== undefined) (session as Marked)[rolledTo] = rolled;
    this.#stored.copy(data, session);
    if (firstLoad) this.emit('load', req);
    return session;
  }

  /**
   * A session the request loaded is updated, never re-created: if it ended meanwhile (a logout, a revoke, "sign
   * out everywhere"), the save fails with ERR_SESSION_ENDED (401) and it stays ended. A new session is created
   * (posted: no answer awaited), and from then on its saves are updates too.
   */
  override set(sid: string, session: SessionData, callback?: ErrorCallback): void {
    const user: unknown = (session as unknown as Record<string, unknown>)[this.#userField];
    const args: SaveArgs = [sid, JSON.stringify(session), expiryOf(session), typeof user === 'string' ? user : null, lifetimeOf(session)];
    if (this.#stored.has(session, sid)) {
      this.call(ops.update, args, (error) => callback?.(error ?? undefined));
      return;
    }
    // Marked as it is posted, not once written: the channel keeps order, so the create reaches the host before any
    // later save of this session, and a later save is an update even if a revoke comes between the two.
    this.#stored.add(session, sid);
    this.post(ops.set, args, (error) => {
      if (error) this.#stored.delete(session, sid);
      callback?.(error);
    });
  }

  override touch(sid: string, session: SessionData, callback?: ErrorCallback): void {
    const wanted = expiryOf(session);
    const rolled = (session as Marked)[rolledTo];
    if (rolled !== undefined && wanted !== null && Math.abs(wanted - rolled) <= this.#touchToleranceMs) {
      // The get of this request already moved the expiry there: no round trip.
      if (callback) process.nextTick(callback);
      return;
    }
    this.post(ops.touch, [sid, wanted, lifetimeOf(session)], callback);
  }

  override destroy(sid: string, callback?: ErrorCallback): void {
    this.post(ops.destroy, [sid], callback);
  }

  /** Every live session, keyed by id, each with the expiry a get reports. */
  override all(callback: (error: unknown, sessions?: Record<string, SessionData> | null) => void): void {
    this.call(ops.all, [], (error, found) => {
      if (error) return callback(error);
      // Any string is a session id, "__proto__" included: build on a prototype-less object.
      const sessions = Object.create(null) as Record<string, SessionData>;
      try {
        for (const [sid, json, expiresAt] of found!) sessions[sid] = this.#decode([json, expiresAt], sid)!;
      } catch (decodeError) {
        return callback(decodeError);
      }
      callback(null, sessions);
    });
  }

  override length(callback: (error: unknown, length?: number) => void): void {
    this.call(ops.length, [], (error, length) => callback(error, length as number));
  }

  override clear(callback?: ErrorCallback): void {
    this.call(ops.clear, [], (error) => callback?.(error ?? undefined));
  }

  /**
   * The sessions of `userId` (whatever worker or device made them), most recently used first; at most `limit`
   * (≤ 1000). A session whose stored JSON cannot be read is left out.
   */
  userSessions(userId: string, options: { limit?: number }, callback: (error: unknown, sessions?: UserSessionInfo[]) => void): void {
    this.call(ops.userSessions, [userId, options.limit ?? 100], (error, found) => {
      if (error) return callback(error);
      const sessions: UserSessionInfo[] = [];
      for (const [sid, json, expiresAt, lastUsedAt] of found!) {
        const session = readable(() => this.#decode([json, expiresAt], sid));
        if (session) sessions.push({ sid, session, lastUsedAt, expiresAt });
      }
      callback(null, sessions);
    });
  }

  /**
   * Ends every session of `userId` but `except` (the current one, for "sign out other devices"): calls back with
   * how many ended. Each of them finds no session on its next request, and a request of it already running
   * cannot save it back (its save fails with ERR_SESSION_ENDED).
   */
  destroyUserSessions(userId: string, options: { except?: string | undefined }, callback: (error: unknown, ended?: number) => void): void {
    this.call(ops.destroyUser, [userId, options.except ?? null], (error, ended) => callback(error, ended));
  }

  /** Runs `op` in the host and calls back with its reply: how a feature's worker side (the lock) calls its ops. */
  call<Args extends unknown[], Reply>(op: Op<Args, Reply, never>, args: Args, callback: (error: StoreError | null, reply?: Reply) => void, extraMs = 0): void {
    this.#client.call(op, args, this.#observed(op.name, callback as Callback), extraMs);
  }

  /** Sends a postable op without waiting for the host: `callback` runs once it is in the channel. */
  post<Args extends unknown[]>(op: Op<Args, unknown, never>, args: Args, callback?: ErrorCallback): void {
    if (callback === undefined && this.#observe === undefined) return this.#client.post(op, args);
    this.#client.post(op, args, this.#observed(op.name, (error) => callback?.(error ?? undefined)));
  }

  #decoded(callback: SessionCallback, sid: string, error: unknown, found: StoredSession | null | undefined): void {
    if (error) return callback(error);
    let session: SessionData | null;
    try {
      session = this.#decode(found ?? null, sid);
    } catch (decodeError) {
      return callback(decodeError);
    }
    callback(null, session);
  }

  /**
   * A session as the host sends it, for express-session: its cookie says when the host will drop it (the expiry the
   * read rolled it to, or a touch set), and it is marked as loaded (its touch can be skipped, its saves are
   * updates). Throws ERR_SESSION_UNREADABLE when the stored JSON is not a session.
   */
  #decode(found: StoredSession | null, sid: string): SessionData | null {
    if (found === null) return null;
    const [json, expiresAt] = found;
    const session = parseSession(json, sid) as unknown as SessionData & Marked;
    if (session.cookie?.expires != null) (session.cookie as { expires: unknown }).expires = new Date(expiresAt).toISOString();
    session[rolledTo] = expiresAt;
    this.#stored.add(session, sid);
    return session;
  }

  /** Wraps a callback so `observe` hears how the call ended; without `observe`, the callback itself. */
  #observed(name: string, callback: Callback): Callback {
    const observe = this.#observe;
    if (observe === undefined) return callback;
    const started = performance.now();
    return (error, value) => {
      observe(name, outcomeOf(error), performance.now() - started);
      callback(error, value);
    };
  }
}

function hostHere(): StoreHost {
  if (host === undefined) {
    throw new Error('new ClusterStore() outside a cluster worker needs the host in this process: call ClusterStore.setup() first (in the primary, before forking)');
  }
  return host;
}

/** The value of `fn`, or undefined where it throws (a session that cannot be read, in a listing). */
function readable<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function outcomeOf(error: StoreError | null): Outcome {
  if (error === null) return 'ok';
  switch (error.code) {
    case ErrorCode.timeout:
      return 'timeout';
    case ErrorCode.closed:
      return 'closed';
    case ErrorCode.unavailable:
    case ErrorCode.noHost:
      return 'unavailable';
    default:
      return 'error';
  }
}

/** express-session rebuilds `cookie.expires` as a Date; after JSON it may be a string. No expiry: null. */
function expiryOf(session: SessionData): number | null {
  const expires: unknown = session.cookie?.expires;
  const time = expires instanceof Date ? expires.getTime() : typeof expires === 'string' ? Date.parse(expires) : NaN;
  return Number.isFinite(time) ? time : null;
}

/** How far each use rolls the session's expiry: its cookie's maxAge, as express-session's touch resets it. None: null. */
function lifetimeOf(session: SessionData): number | null {
  const maxAge: unknown = session.cookie?.originalMaxAge;
  return typeof maxAge === 'number' && maxAge > 0 && Number.isFinite(maxAge) ? maxAge : null;
}

/** Options compare by value; features (the one array) by identity, or by name and the settings they were made with. */
function sameOption(a: unknown, b: unknown): boolean {
  if (!Array.isArray(a) || !Array.isArray(b)) return a === b;
  const same = (x: Feature, y: Feature) => x === y || (x.name === y.name && JSON.stringify(x.settings) === JSON.stringify(y.settings));
  return a.length === b.length && (a as Feature[]).every((feature, i) => same(feature, b[i] as Feature));
}
