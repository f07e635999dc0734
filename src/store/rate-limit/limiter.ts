// One rate limiter's counters, in the primary: its clients' windows in a Map by key and in a list in the order
// they started, which counters.ts walks to drop the ones that ended; and the counter its new clients share.
/** A count of hits in a window that ends at `resetAt` (ms). */
export interface Window {
  hits: number;
  resetAt: number;
}

/** A client's own window, linked into its limiter's list in the order windows started. */
export class Counter implements Window {
  hits = 0;
  older: Counter | undefined = undefined;
  newer: Counter | undefined = undefined;
  constructor(
    readonly key: string,
    public resetAt: number,
  ) {}
}

/**
 * One limiter (prefix): its clients' counters, and the one its new clients share while the table is full. All its
 * windows last windowMs, so they end in the order they started: the list from `oldest` is the order to drop
 * them in, and a walk stops at the first that is still running (a clock set back only delays a drop).
 */
export class Limiter {
  readonly counters = new Map<string, Counter>();
  shared: Window | undefined;
  #oldest: Counter | undefined;
  #newest: Counter | undefined;

  constructor(readonly windowMs: number) {}

  /** The counter whose window started first, so ends first. */
  get oldest(): Counter | undefined {
    return this.#oldest;
  }

  append(counter: Counter): void {
    counter.older = this.#newest;
    if (this.#newest === undefined) this.#oldest = counter;
    else this.#newest.newer = counter;
    this.#newest = counter;
  }

  unlink(counter: Counter): void {
    if (counter.older === undefined) this.#oldest = counter.newer;
    else counter.older.newer = counter.newer;
    if (counter.newer === undefined) this.#newest = counter.older;
    else counter.newer.older = counter.older;
    counter.older = counter.newer = undefined;
  }
}
