// The rate limiter's ops and its feature: `rateLimits` goes into ClusterStore.setup({ features }) in the primary,
// where the counters live; ClusterRateLimitStore (limit-store.ts) calls these ops from each worker.
import type { Feature, StoreHost } from '../primary/host.js';
import { badRequest } from '../shared/errors.js';
import { defineOp, type AnyOp } from '../shared/ops.js';
import { checkOptions, integer } from '../shared/options.js';
import { costOfKey, Counters, rateLimitDefaults, type RateLimitsOptions, type RateLimitStats } from './counters.js';

/** Longest limiter prefix and client key, in characters. */
export const maxPrefixLength = 100;
export const maxKeyLength = 1024;

function checkKey(op: string, args: readonly unknown[], count: number): void {
  const [prefix, key] = args;
  if (args.length !== count || typeof prefix !== 'string' || prefix.length > maxPrefixLength || typeof key !== 'string' || key.length > maxKeyLength) {
    throw badRequest(`${op}: takes a prefix of at most ${maxPrefixLength} characters and a key of at most ${maxKeyLength}`);
  }
}

/** Counts a hit: answered with [hits in this window, when the window resets (ms)]. */
export const hit = defineOp<[prefix: string, key: string, windowMs: number], [totalHits: number, resetAt: number], Counters>({
  name: 'rateLimitHit',
  postable: false,
  read: false,
  check(args) {
    checkKey('rateLimitHit', args, 3);
    if (!Number.isSafeInteger(args[2]) || (args[2] as number) < 1) throw badRequest('rateLimitHit: windowMs must be a positive integer');
  },
  run: ({ state }, prefix, key, windowMs) => state.hit(prefix, key, windowMs),
});

export const unhit = defineOp<[prefix: string, key: string], void, Counters>({
  name: 'rateLimitUnhit',
  postable: true,
  read: false,
  check: (args) => checkKey('rateLimitUnhit', args, 2),
  run: ({ state }, prefix, key) => state.unhit(prefix, key),
});

export const reset = defineOp<[prefix: string, key: string], void, Counters>({
  name: 'rateLimitReset',
  postable: false,
  read: false,
  check: (args) => checkKey('rateLimitReset', args, 2),
  run: ({ state }, prefix, key) => state.reset(prefix, key),
});

/** The counters of each host with rate limits, for rateLimitStats(). */
const attached = new WeakMap<StoreHost, Counters>();

/**
 * Rate-limit counters shared by every worker, for ClusterStore.setup({ features: [rateLimits] }), with the default
 * bounds; `rateLimitsWith({ maxCounters, maxTotalBytes })` for others. The host emits `rate-limits-full`
 * (RateLimitsFull) the first time each bound makes new clients share a count: log it.
 */
export function rateLimitsWith(options: RateLimitsOptions = {}): Feature<Counters> {
  checkOptions('rateLimitsWith()', options, {
    maxCounters: integer(1),
    maxTotalBytes: integer(4 * costOfKey('x'.repeat(maxKeyLength))), // four of the longest keys at least
  });
  const { maxCounters = rateLimitDefaults.maxCounters, maxTotalBytes = rateLimitDefaults.maxTotalBytes } = options;
  return {
    name: 'rate-limits',
    settings: { maxCounters, maxTotalBytes },
    ops: [hit, unhit, reset] as readonly AnyOp[],
    attach(host) {
      const counters = new Counters({ maxCounters, maxTotalBytes }, (full) => host.emit('rate-limits-full', full));
      attached.set(host, counters);
      const sweeper = setInterval(() => counters.sweep(), 60_000).unref();
      return { state: counters, close: () => clearInterval(sweeper) };
    },
  };
}

export const rateLimits: Feature<Counters> = rateLimitsWith();

/** How many counters `host` holds and what its bound cost; undefined when the primary registered no rate limits. */
export function rateLimitStats(host: StoreHost): RateLimitStats | undefined {
  return attached.get(host)?.stats();
}
