// Rate-limit counters, in the primary: hits per key in fixed windows, shared by every worker. A window starts at
// a key's first hit and lasts the limiter's windowMs; all workers must agree on it, and a worker that does not is
// refused, naming both values.
import { badRequest } from '../shared/errors.js';

export class Counters {
  readonly #hits = new Map<string, { hits: number; resetAt: number }>();
  /** Each limiter's (prefix's) window, as its first hit set it. */
  readonly #windows = new Map<string, number>();

  /** Counts a hit of `key` for the limiter `prefix`: [hits in this window, when it resets (ms)]. */
  hit(prefix: string, key: string, windowMs: number): [totalHits: number, resetAt: number] {
    const agreed = this.#windows.get(prefix);
    if (agreed === undefined) this.#windows.set(prefix, windowMs);
    else if (agreed !== windowMs) {
      throw badRequest(`rate limiter "${prefix}": this worker counts in windows of ${windowMs} ms, another in ${agreed} ms; give every worker the same windowMs`);
    }
    const now = Date.now();
    const id = prefix + key;
    let counter = this.#hits.get(id);
    if (counter === undefined || counter.resetAt <= now) this.#hits.set(id, (counter = { hits: 0, resetAt: now + windowMs }));
    counter.hits++;
    return [counter.hits, counter.resetAt];
  }

  /** Takes one hit back (a request that should not count after all, such as a successful sign-in). */
  unhit(prefix: string, key: string): void {
    const counter = this.#hits.get(prefix + key);
    if (counter !== undefined && counter.hits > 0) counter.hits--;
  }

  reset(prefix: string, key: string): void {
    this.#hits.delete(prefix + key);
  }

  /** Drops the windows that have ended; returns how many. */
  sweep(): number {
    const now = Date.now();
    let removed = 0;
    for (const [id, { resetAt }] of this.#hits) {
      if (resetAt > now) continue;
      this.#hits.delete(id);
      removed++;
    }
    return removed;
  }

  get size(): number {
    return this.#hits.size;
  }
}
