// Rate-limit counters, in the primary: hits per key in fixed windows, shared by every worker. A window starts at
// a key's first hit and lasts the limiter's windowMs; all workers must agree on it, and a worker that does not is
// refused, naming both values. The table is bounded in count and bytes, and the bound never gives a client more
// attempts: see `hit`.
import { badRequest } from '../shared/errors.js';
import { Counter, Limiter, type Window } from './limiter.js';

export interface RateLimitsOptions {
  /** Most clients counted on their own at once, over every limiter. @default 100_000 */
  maxCounters?: number | undefined;
  /**
   * Most bytes the counters may take in the primary's heap, counted as 2 bytes a character of key plus
   * `bytesPerCounter` each (an IP address counts about 200; it takes 140 to 185). @default 33_554_432 (32 MiB)
   */
  maxTotalBytes?: number | undefined;
}

export const rateLimitDefaults = { maxCounters: 100_000, maxTotalBytes: 32 * 1024 * 1024 } as const;

/** What `rate-limits-full` tells, once per bound: the table is full, and new clients of a limiter share one count. */
export interface RateLimitsFull {
  bound: 'maxCounters' | 'maxTotalBytes';
  limit: number;
  counters: number;
  bytes: number;
  /** The limiter whose new client met the bound first. */
  prefix: string;
}

export interface RateLimitStats {
  counters: number;
  bytes: number;
  /** Hits counted in a limiter's shared counter because the table was full, since the host started. */
  sharedHits: number;
}

/**
 * What a counter costs beyond its key, as maxTotalBytes counts it: its object, its Map entry with the table's
 * spare room, the key's string header: 124 to 146 bytes measured on Node 20, by how full the Map's table is.
 */
export const bytesPerCounter = 160;

export function costOfKey(key: string): number {
  return 2 * key.length + bytesPerCounter;
}

const noop = () => {};

export class Counters {
  readonly #limiters = new Map<string, Limiter>();
  readonly #maxCounters: number;
  readonly #maxTotalBytes: number;
  readonly #onFull: (full: RateLimitsFull) => void;
  /** The bounds `onFull` was called for: once each. */
  readonly #told = new Set<RateLimitsFull['bound']>();
  #size = 0;
  #bytes = 0;
  #sharedHits = 0;

  constructor(options: RateLimitsOptions = {}, onFull: (full: RateLimitsFull) => void = noop) {
    this.#maxCounters = options.maxCounters ?? rateLimitDefaults.maxCounters;
    this.#maxTotalBytes = options.maxTotalBytes ?? rateLimitDefaults.maxTotalBytes;
    this.#onFull = onFull;
  }

  /**
   * Counts a hit of `key` for the limiter `prefix`: [hits in this window, when it resets (ms)]. O(1); a new key
   * at the bound also looks at each limiter's oldest window and drops those that ended (each dropped once, so
   * O(1) amortized, whatever the table holds). A counter is never dropped while its window runs: a client counted keeps
   * its count. A new client that finds the table full, once the windows that ended are dropped, is counted in
   * its limiter's shared counter with every other such client: it may be limited sooner, never later.
   */
  hit(prefix: string, key: string, windowMs: number): [totalHits: number, resetAt: number] {
    const limiter = this.#limiter(prefix, windowMs);
    const now = Date.now();
    const counter = limiter.counters.get(key);
    let window: Window;
    if (counter === undefined) window = this.#add(limiter, prefix, key, now);
    else {
      if (counter.resetAt <= now) this.#restart(limiter, counter, now);
      window = counter;
    }
    window.hits++;
    return [window.hits, window.resetAt];
  }

  /** Takes one hit back (a request that should not count after all, such as a successful sign-in). */
  unhit(prefix: string, key: string): void {
    // A client in the shared counter gets nothing back: which hits were its own is not known.
    const counter = this.#limiters.get(prefix)?.counters.get(key);
    if (counter !== undefined && counter.hits > 0) counter.hits--;
  }

  /** Forgets `key`'s own counter; a shared counter stays, as it counts others too. */
  reset(prefix: string, key: string): void {
    const limiter = this.#limiters.get(prefix);
    const counter = limiter?.counters.get(key);
    if (counter !== undefined) this.#remove(limiter!, counter);
  }

  /** Drops the windows that have ended; returns how many. Costs what it drops, not what the table holds. */
  sweep(): number {
    const now = Date.now();
    let removed = 0;
    for (const limiter of this.#limiters.values()) {
      for (let oldest = limiter.oldest; oldest !== undefined && oldest.resetAt <= now; oldest = limiter.oldest) {
        this.#remove(limiter, oldest);
        removed++;
      }
      if (limiter.shared !== undefined && limiter.shared.resetAt <= now) limiter.shared = undefined;
    }
    return removed;
  }

  get size(): number {
    return this.#size;
  }

  stats(): RateLimitStats {
    return { counters: this.#size, bytes: this.#bytes, sharedHits: this.#sharedHits };
  }

  #limiter(prefix: string, windowMs: number): Limiter {
    const limiter = this.#limiters.get(prefix);
    if (limiter === undefined) {
      const created = new Limiter(windowMs);
      this.#limiters.set(prefix, created);
      return created;
    }
    if (limiter.windowMs !== windowMs) {
      throw badRequest(`rate limiter "${prefix}": this worker counts in windows of ${windowMs} ms, another in ${limiter.windowMs} ms; give every worker the same windowMs`);
    }
    return limiter;
  }

  /** A counter of its own for a new client, when there is room or ended windows make some; else the shared one. */
  #add(limiter: Limiter, prefix: string, key: string, now: number): Window {
    const cost = costOfKey(key);
    const bound = this.#makeRoom(cost, now);
    if (bound !== undefined) return this.#share(limiter, prefix, bound, now);
    const counter = new Counter(key, now + limiter.windowMs);
    // While the shared counter runs, this client may be one it counted (nothing tells them apart): start there.
    if (limiter.shared !== undefined && limiter.shared.resetAt > now) counter.hits = limiter.shared.hits;
    limiter.counters.set(key, counter);
    limiter.append(counter);
    this.#size++;
    this.#bytes += cost;
    return counter;
  }

  /**
   * A window that ended starts over, last in its limiter's order, from 0: a hit of this client since the window
   * ended would have started it over already, so none went to the shared counter.
   */
  #restart(limiter: Limiter, counter: Counter, now: number): void {
    counter.hits = 0;
    counter.resetAt = now + limiter.windowMs;
    limiter.unlink(counter);
    limiter.append(counter);
  }

  /** Drops ended windows until `cost` more fits; returns the bound still in the way, if one is. */
  #makeRoom(cost: number, now: number): RateLimitsFull['bound'] | undefined {
    for (;;) {
      const bound = this.#size >= this.#maxCounters ? 'maxCounters' : this.#bytes + cost > this.#maxTotalBytes ? 'maxTotalBytes' : undefined;
      if (bound === undefined || !this.#dropOneEnded(now)) return bound;
    }
  }

  /** Each limiter's oldest window is the first of its to end: one look per limiter. */
  #dropOneEnded(now: number): boolean {
    for (const limiter of this.#limiters.values()) {
      const oldest = limiter.oldest;
      if (oldest === undefined || oldest.resetAt > now) continue;
      this.#remove(limiter, oldest);
      return true;
    }
    return false;
  }

  /**
   * Counts a new client of a full table in its limiter's shared counter. Its window lasts windowMs from its
   * latest hit, so it runs for as long as the window of any client it counted: none can start over meanwhile.
   */
  #share(limiter: Limiter, prefix: string, bound: RateLimitsFull['bound'], now: number): Window {
    if (limiter.shared === undefined || limiter.shared.resetAt <= now) limiter.shared = { hits: 0, resetAt: now };
    limiter.shared.resetAt = now + limiter.windowMs;
    this.#sharedHits++;
    if (!this.#told.has(bound)) {
      this.#told.add(bound);
      const limit = bound === 'maxCounters' ? this.#maxCounters : this.#maxTotalBytes;
      this.#onFull({ bound, limit, counters: this.#size, bytes: this.#bytes, prefix });
    }
    return limiter.shared;
  }

  #remove(limiter: Limiter, counter: Counter): void {
    limiter.counters.delete(counter.key);
    limiter.unlink(counter);
    this.#size--;
    this.#bytes -= costOfKey(counter.key);
  }
}
