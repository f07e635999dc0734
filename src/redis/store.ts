// The Redis session store for several machines: connect-redis on the official client, tuned to fail fast, with
// the cluster store's promises: a save of a loaded session never re-creates one that ended (revocation sticks),
// SESSION_MAX_BYTES refused with 413, a per-user cap, expiry to the millisecond, and an unreadable value an error
// for its request, never a crash. Runs in each worker. While Redis is unreachable, requests that need a session
// answer 503 at once and the client reconnects on its own; the log says so once per change, not once per request.
import { RedisStore } from 'connect-redis';
import type { SessionData, Store } from 'express-session';
import { createClient, TimeoutError, type RedisClientType } from 'redis';
import { redact } from '../config.js';
import type { Logger } from '../log.js';
import { runScript, scripts } from './scripts.js';
import { RedisUserIndex, type UserSessionInfo, type UserSessionMethods } from './user-index.js';
import { checkSessionSize, parseSession, sessionEnded, StoredSessions, StoreError, type Outcome } from '../store/index.js';

export interface RedisSessionStoreOptions {
  url: string;
  prefix: string;
  /** A command Redis does not answer within this fails (HTTP 503), in ms. */
  timeoutMs: number;
  log: Logger;
  /** Largest session, in bytes of JSON: a larger save fails with ERR_SESSION_TOO_LARGE (413). @default 16_384 */
  maxSessionBytes?: number;
  /** Most sessions one user holds; a save beyond it ends that user's least recently used session. @default 100 */
  maxSessionsPerUser?: number;
  /** Lifetime of a session whose cookie has no expiry, in ms. @default 86_400_000 */
  defaultTtlMs?: number;
  /** Hears how each get/set/touch/destroy ended and how long it took (the same metrics as the cluster store). */
  observe?: (op: string, outcome: Outcome, durationMs: number) => void;
}

type Callback = (error?: unknown, value?: unknown) => void;


/**
 * connect-redis whose errors say "store unavailable" (statusCode 503), so the app answers 503, not 500, and whose
 * writes keep the cluster store's promises (see the file's head); with `observe`, each call is timed.
 */
class FailFastRedisStore extends RedisStore implements UserSessionMethods {
  observe: RedisSessionStoreOptions['observe'];
  /** Sessions that know their user: the session field `userId`, as the cluster store reads it. */
  readonly users = new RedisUserIndex(() => this.client as RedisClientType, this.prefix, siblingPrefix(this.prefix, 'user'), 'userId');
  /** The sessions this store loaded or saved, by object: their saves are updates, as ClusterStore's. */
  readonly #stored = new StoredSessions();
  readonly #limits: Required<Pick<RedisSessionStoreOptions, 'maxSessionBytes' | 'maxSessionsPerUser' | 'defaultTtlMs'>>;

  constructor(client: RedisClientType, options: RedisSessionStoreOptions) {
    super({ client, prefix: options.prefix });
    this.#limits = { maxSessionBytes: options.maxSessionBytes ?? 16_384, maxSessionsPerUser: options.maxSessionsPerUser ?? 100, defaultTtlMs: options.defaultTtlMs ?? 86_400_000 };
    this.observe = options.observe;
  }

  /** The session and, read beside it (one round trip: node-redis pipelines the two), when Redis will drop it (PEXPIRETIME: ms since the epoch). */
  override async get(sid: string, callback?: Callback) {
    const done = this.#wrap('get', callback);
    const key = this.prefix + sid;
    const client = this.client as RedisClientType;
    const [data, expiresAt] = await Promise.all([client.get(key), client.pExpireTime(key)]).catch((error: unknown) => [error, undefined] as const);
    if (expiresAt === undefined) return done?.(data);
    if (data === null) return done?.(null, null);
    let session: SessionData;
    try {
      session = this.#decode(data, sid, expiresAt);
    } catch (error) {
      return done?.(error);
    }
    this.#stored.add(session, sid);
    done?.(null, session);
  }

  /** express-session builds req.session from what get() returned: carry the mark over. */
  override createSession(...[req, data]: Parameters<Store['createSession']>): ReturnType<Store['createSession']> {
    const session = super.createSession(req, data);
    this.#stored.copy(data, session);
    return session;
  }

  /**
   * A loaded session is updated only while it exists (SET … XX): a save after a logout or revoke fails with
   * ERR_SESSION_ENDED (401) and the session stays ended. A new one is created. Either way its user's set follows,
   * within the per-user cap, in the same script.
   */
  override async set(sid: string, session: SessionData, callback?: Callback) {
    const done = this.#wrap('set', callback);
    const json = JSON.stringify(session);
    try {
      checkSessionSize(sid, json, this.#limits.maxSessionBytes);
    } catch (error) {
      return done?.(error);
    }
    const now = Date.now();
    const expiresAt = expiryOf(session) ?? now + this.#limits.defaultTtlMs;
    if (expiresAt <= now) {
      // A session saved already expired is a logout in all but name.
      await this.destroy(sid, callback);
      return;
    }
    const user = this.users.userOf(session);
    const exists = this.#stored.has(session, sid);
    const keys = [this.prefix + sid, user === null ? this.prefix + sid : this.users.userKey(user)];
    const args = [json, String(expiresAt - now), exists ? '1' : '0', user === null ? '0' : '1', user ?? '', String(now), String(this.#limits.maxSessionsPerUser), this.users.userField, this.prefix, sid];
    // A new session is marked before the script runs: a second save of it meanwhile is an update, never a second create.
    if (!exists) this.#stored.add(session, sid);
    const outcome = await runScript(this.client as RedisClientType, scripts.save, keys, args).catch((error: unknown) => error as Error);
    if (outcome instanceof Error) {
      if (!exists) this.#stored.delete(session, sid);
      return done?.(outcome);
    }
    if (outcome === -1) return done?.(sessionEnded(sid));
    done?.(null);
  }

  /** Moves the session's expiry (none: the default lifetime) and its place in its user's set; never re-creates it. */
  override async touch(sid: string, session: SessionData, callback?: Callback) {
    const done = this.#wrap('touch', callback);
    const now = Date.now();
    const expiresAt = expiryOf(session) ?? now + this.#limits.defaultTtlMs;
    const user = this.users.userOf(session);
    const keys = [this.prefix + sid, user === null ? this.prefix + sid : this.users.userKey(user)];
    const args = [String(Math.max(1, expiresAt - now)), user === null ? '0' : '1', String(now), sid];
    const outcome = await runScript(this.client as RedisClientType, scripts.touch, keys, args).catch((error: unknown) => error as Error);
    done?.(outcome instanceof Error ? outcome : null);
  }

  override destroy(sid: string, callback?: Callback) {
    return super.destroy(sid, this.#wrap('destroy', callback));
  }

  /** Every session, each with the expiry get reports (its key's TTL). */
  override async all(callback?: Callback) {
    const done = unavailableOnError(callback);
    try {
      const keys = ((await this.ids()) as string[]).map((id) => this.prefix + id);
      const client = this.client as RedisClientType;
      const [values, expiries] = await Promise.all([keys.length > 0 ? client.mGet(keys) : [], Promise.all(keys.map((key: string) => client.pExpireTime(key)))]);
      const sessions = values.flatMap((value, i) => {
        if (value === null) return [];
        const id = keys[i]!.slice(this.prefix.length);
        return [Object.assign(this.#decode(value, id, expiries[i]!), { id })];
      });
      done?.(null, sessions);
    } catch (error) {
      done?.(error);
    }
  }

  /** The sessions of `userId` on every machine, most recently used first; at most `limit` (≤ 1000). */
  userSessions(userId: string, options: { limit?: number }, callback: (error: unknown, sessions?: UserSessionInfo[]) => void): void {
    this.users.list(userId, options.limit ?? 100).then((sessions) => callback(null, sessions), (error: unknown) => callback(unavailable(error)));
  }

  /** Ends every session of `userId` but `except`; calls back with how many ended. */
  destroyUserSessions(userId: string, options: { except?: string | undefined }, callback: (error: unknown, ended?: number) => void): void {
    this.users.destroyAll(userId, options.except ?? null).then((ended) => callback(null, ended), (error: unknown) => callback(unavailable(error)));
  }

  /** A stored value as express-session expects it, its cookie saying when Redis drops it; ERR_SESSION_UNREADABLE if it is no session. */
  #decode(value: string, sid: string, expiresAt: number): SessionData {
    const session = parseSession(value, sid) as unknown as SessionData;
    if (session.cookie?.expires != null && expiresAt > 0) (session.cookie as { expires: unknown }).expires = new Date(expiresAt).toISOString();
    return session;
  }

  #wrap(op: string, callback: Callback | undefined): Callback | undefined {
    const observe = this.observe;
    if (observe === undefined) return unavailableOnError(callback);
    const started = performance.now();
    return (error, value) => {
      observe(op, error ? (error instanceof TimeoutError ? 'timeout' : 'error') : 'ok', performance.now() - started);
      unavailableOnError(callback)?.(error, value);
    };
  }
}

export function createRedisSessionStore(options: RedisSessionStoreOptions): { store: RedisStore & UserSessionMethods; client: RedisClientType; close: () => Promise<void> } {
  const client = createClient({
    url: options.url,
    // Without a connection, commands fail at once instead of queueing until Redis comes back.
    disableOfflineQueue: true,
    commandOptions: { timeout: options.timeoutMs },
    socket: { connectTimeout: options.timeoutMs, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2000) },
  }) as RedisClientType;
  const store = new FailFastRedisStore(client, options);
  const where = redact(options.url);
  let up: boolean | undefined;
  // express-session serves requests without a session while the store says it is disconnected: 503 at once.
  // It subscribes when the app is built, just after this returns: say it on the next tick.
  process.nextTick(() => {
    if (up !== true) store.emit('disconnect');
  });
  client.on('ready', () => {
    options.log.info({ redis: where }, up === false ? `Redis at ${where} reachable again` : `connected to Redis at ${where}`);
    up = true;
    store.emit('connect');
  });
  client.on('error', (error: Error) => {
    if (up !== false) options.log.error({ err: error, redis: where }, `Redis at ${where} unreachable (${error.message}): answering 503, reconnecting`);
    if (up === true) store.emit('disconnect');
    up = false;
  });
  client.connect().catch(() => {}); // failures arrive on 'error' above, and the client keeps retrying
  return {
    store,
    client: client,
    close: async () => {
      if (client.isOpen) await client.close().catch(() => client.destroy());
    },
  };
}

/** The store's own refusals (413, 401, an unreadable session) pass as they are; Redis failing is a 503. */
function unavailableOnError(callback: Callback | undefined): Callback | undefined {
  if (callback === undefined) return undefined;
  return (error, value) => callback(error && !(error instanceof StoreError) ? unavailable(error) : error, value);
}

/**
 * A namespace beside the sessions' (`ecs:sess:` → `ecs:user:`), so that connect-redis's scans of its prefix (all,
 * length, clear) meet only sessions. A prefix not ending in `sess:` gets the name appended instead.
 */
export function siblingPrefix(prefix: string, name: string): string {
  return prefix.endsWith('sess:') ? `${prefix.slice(0, -'sess:'.length)}${name}:` : `${prefix}${name}:`;
}

/** When the session's cookie expires, in ms since the epoch; null for a browser-session cookie (no expiry). */
function expiryOf(session: SessionData): number | null {
  const expires = session.cookie?.expires;
  const at = expires == null ? NaN : new Date(expires).getTime();
  return Number.isFinite(at) ? at : null;
}

function unavailable(error: unknown): Error {
  return Object.assign(toError(error), { statusCode: 503 });
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
