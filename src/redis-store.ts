// The Redis session store for several machines: connect-redis on the official client, tuned to fail fast.
// Runs in each worker. While Redis is unreachable, requests that need a session answer 503 at once and the
// client reconnects on its own; the log says so once per change, not once per request.
import { RedisStore } from 'connect-redis';
import type { SessionData } from 'express-session';
import { createClient, TimeoutError, type RedisClientType } from 'redis';
import { redact } from './config.js';
import type { Logger } from './log.js';
import { RedisUserIndex, type UserSessionInfo, type UserSessionMethods } from './redis-users.js';
import type { Outcome } from './store/index.js';

export interface RedisSessionStoreOptions {
  url: string;
  prefix: string;
  /** A command Redis does not answer within this fails (HTTP 503), in ms. */
  timeoutMs: number;
  log: Logger;
  /** Hears how each get/set/touch/destroy ended and how long it took (the same metrics as the cluster store). */
  observe?: (op: string, outcome: Outcome, durationMs: number) => void;
}

type Callback = (error?: unknown, value?: unknown) => void;

/**
 * connect-redis whose errors say "store unavailable" (statusCode 503), so the app answers 503, not 500;
 * with `observe`, each call is timed.
 */
class FailFastRedisStore extends RedisStore implements UserSessionMethods {
  observe: RedisSessionStoreOptions['observe'];
  /** Sessions that know their user: the session field `userId`, as the cluster store reads it. */
  readonly users = new RedisUserIndex(() => this.client as RedisClientType, this.prefix, siblingPrefix(this.prefix, 'user'), 'userId');

  /**
   * connect-redis's touch moves only the key's TTL, so the session it stored still carries the old cookie.expires:
   * read the TTL beside it (one round trip: node-redis pipelines the two) and say when Redis will drop it.
   */
  override async get(sid: string, callback?: Callback) {
    const done = this.#wrap('get', callback);
    const key = this.prefix + sid;
    const client = this.client as RedisClientType;
    await Promise.all([client.get(key), client.pTTL(key)]).then(([data, ttlMs]) => {
      if (data === null) return done?.(null, null);
      const session = this.serializer.parse(data) as SessionData;
      if (session.cookie?.expires != null && ttlMs > 0) (session.cookie as { expires: unknown }).expires = new Date(Date.now() + ttlMs).toISOString();
      done?.(null, session);
    }, (error: unknown) => done?.(error));
  }
  override set(sid: string, session: SessionData, callback?: Callback) {
    return super.set(sid, session, this.#indexed(sid, session, this.#wrap('set', callback)));
  }
  override touch(sid: string, session: SessionData, callback?: Callback) {
    return super.touch(sid, session, this.#indexed(sid, session, this.#wrap('touch', callback)));
  }

  /** The sessions of `userId` on every machine, most recently used first; at most `limit` (≤ 1000). */
  userSessions(userId: string, options: { limit?: number }, callback: (error: unknown, sessions?: UserSessionInfo[]) => void): void {
    this.users.list(userId, options.limit ?? 100).then((sessions) => callback(null, sessions), (error: unknown) => callback(unavailable(error)));
  }

  /** Ends every session of `userId` but `except`; calls back with how many ended. */
  destroyUserSessions(userId: string, options: { except?: string | undefined }, callback: (error: unknown, ended?: number) => void): void {
    this.users.destroyAll(userId, options.except ?? null).then((ended) => callback(null, ended), (error: unknown) => callback(unavailable(error)));
  }

  /** Once the session is written, files it under its user (if it has one), then calls back. */
  #indexed(sid: string, session: SessionData, callback: Callback | undefined): Callback {
    return (error, value) => {
      if (error || this.users.userOf(session) === null) return callback?.(error, value);
      this.users.saved(sid, session, expiresAt(session)).then(
        () => callback?.(null, value),
        (indexError: unknown) => callback?.(unavailable(indexError)),
      );
    };
  }
  override destroy(sid: string, callback?: Callback) {
    return super.destroy(sid, this.#wrap('destroy', callback));
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
  });
  const store = new FailFastRedisStore({ client, prefix: options.prefix });
  store.observe = options.observe;
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

function unavailableOnError(callback: Callback | undefined): Callback | undefined {
  if (callback === undefined) return undefined;
  return (error, value) => callback(error ? unavailable(error) : error, value);
}

/**
 * A namespace beside the sessions' (`ecs:sess:` → `ecs:user:`), so that connect-redis's scans of its prefix (all,
 * length, clear) meet only sessions. A prefix not ending in `sess:` gets the name appended instead.
 */
export function siblingPrefix(prefix: string, name: string): string {
  return prefix.endsWith('sess:') ? `${prefix.slice(0, -'sess:'.length)}${name}:` : `${prefix}${name}:`;
}

/** When connect-redis lets the session's key expire: at its cookie's expiry, or after its default TTL of a day. */
function expiresAt(session: SessionData): number {
  const expires = session.cookie?.expires;
  const at = expires == null ? NaN : new Date(expires).getTime();
  return Number.isFinite(at) ? at : Date.now() + 86_400_000;
}

function unavailable(error: unknown): Error {
  return Object.assign(toError(error), { statusCode: 503 });
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
