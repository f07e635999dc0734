// Rate-limit counters in Redis, for several machines: an express-rate-limit store on the same client as the
// sessions, so it fails fast (503) while Redis is away and works again when it is back, like the session store.
// EVAL, not a script loaded once (one loaded while Redis was down would stay failed), not MULTI. Runs in each
// worker.
import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type { RedisClientType } from 'redis';

/** Counts a hit; the window starts with the first (NX: later hits do not move it). Returns [hits, ms left]. */
const incrementInWindow = "local hits = redis.call('incr', KEYS[1]) redis.call('pexpire', KEYS[1], ARGV[1], 'NX') return {hits, redis.call('pttl', KEYS[1])}";
/** Takes a hit back only while the window's key exists: never leaves a counter without its expiry. */
const decrementIfPresent = "if redis.call('exists', KEYS[1]) == 1 then return redis.call('decr', KEYS[1]) end return 0";

export class RedisRateLimitStore implements Store {
  readonly localKeys = false;
  #windowMs = 60_000;

  constructor(
    private readonly client: () => RedisClientType,
    /** Before each key: a limiter's own namespace in Redis. */
    readonly prefix: string,
  ) {}

  init(options: Options): void {
    this.#windowMs = options.windowMs;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    // One EVAL, not MULTI: a plain command fails at once while Redis is away (no offline queue) and is bounded by
    // the client's command timeout, as the sessions' are; node-redis's MULTI skips both.
    const reply = await unavailableOnError(this.client().eval(incrementInWindow, { keys: [this.prefix + key], arguments: [String(this.#windowMs)] }));
    const [hits, ttlMs] = reply as [number, number];
    return { totalHits: hits, resetTime: new Date(Date.now() + (ttlMs > 0 ? ttlMs : this.#windowMs)) };
  }

  async decrement(key: string): Promise<void> {
    await unavailableOnError(this.client().eval(decrementIfPresent, { keys: [this.prefix + key] }));
  }

  async resetKey(key: string): Promise<void> {
    await unavailableOnError(this.client().del(this.prefix + key));
  }
}

/** Redis away: HTTP 503, as for the sessions. */
async function unavailableOnError<T>(command: Promise<T>): Promise<T> {
  try {
    return await command;
  } catch (error) {
    throw Object.assign(error instanceof Error ? error : new Error(String(error)), { statusCode: 503 });
  }
}
