// Which express-session store a worker uses, chosen by SESSION_STORE; the app and its routes never know.
import session from 'express-session';
import { MemoryStore as MemoryLimitStore } from 'express-rate-limit';
import { SESSION_COOKIE } from './app.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { createRedisSessionStore, siblingPrefix } from '../redis/store.js';
import { createRateLimits, type RateLimits } from './rate-limits.js';
import { RedisRateLimitStore } from '../redis/rate-limit-store.js';
import { ClusterRateLimitStore, ClusterStore, sessionLock, type ClusterStoreOptions } from '../store/index.js';

/** Connect/Express middleware. */
type Middleware = ReturnType<typeof sessionLock>;

export interface SessionStore {
  store: session.Store;
  /** With SESSION_LOCK=true: orders the requests of one session; mount it before express-session. */
  lock?: Middleware;
  /** Rate limits counted where the sessions are: across the workers (the primary), or the machines (Redis). */
  limits: RateLimits;
  /** Lets go of connections the store holds, so the worker can exit. */
  close(): Promise<void>;
}

/** `observe` hears how each store call ended (metrics), whichever the store. */
export function createSessionStore(config: Config, log: Logger, observe?: ClusterStoreOptions['observe']): SessionStore {
  switch (config.sessionStore) {
    case 'cluster': {
      const store = new ClusterStore({ timeoutMs: config.storeTimeoutMs, observe });
      const lock = config.sessionLock
        ? sessionLock(store, {
            cookieName: SESSION_COOKIE,
            waitTimeoutMs: config.sessionLockWaitMs,
            lockTimeoutMs: config.sessionLockHoldMs,
            maxWaiters: config.sessionLockMaxWaiters,
          })
        : undefined;
      const limits = createRateLimits(config, (prefix) => new ClusterRateLimitStore(store, { prefix }));
      return { store, lock, limits, close: async () => {} };
    }
    case 'redis': {
      const redis = createRedisSessionStore({
        url: config.redisUrl!,
        prefix: config.redisPrefix,
        timeoutMs: config.storeTimeoutMs,
        log,
        observe,
        maxSessionBytes: config.sessionMaxBytes,
        maxSessionsPerUser: config.sessionMaxPerUser,
        defaultTtlMs: config.sessionMaxAgeMs,
      });
      const counters = (prefix: string) => new RedisRateLimitStore(() => redis.client, `${siblingPrefix(config.redisPrefix, 'rl')}${prefix}`);
      return { ...redis, limits: createRateLimits(config, counters) };
    }
    case 'memory':
      // Unshared: each worker has its own sessions (and counters). The benchmark's reference for "as fast as a store can be".
      return { store: new session.MemoryStore(), limits: createRateLimits(config, () => new MemoryLimitStore()), close: async () => {} };
  }
}
