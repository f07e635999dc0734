// ClusterRateLimitStore: an express-rate-limit store whose counters live in the primary (see ops.ts), so a
// limit holds across every worker of the machine. Runs in the workers. It implements express-rate-limit's Store
// interface by shape: this folder imports nothing but its own store.
import type { ClusterStore } from '../cluster-store.js';
import type { StoreError } from '../shared/errors.js';
import { hit, reset, unhit } from './ops.js';

export interface ClusterRateLimitStoreOptions {
  /** Tells this limiter's counters from another's (a sign-in limit, a global one). @default "rl:" */
  prefix?: string | undefined;
}

export class ClusterRateLimitStore {
  readonly prefix: string;
  /** The counters are shared by every worker: a key counted here is counted for all. */
  readonly localKeys = false;
  readonly #store: ClusterStore;
  #windowMs: number | undefined;

  constructor(store: ClusterStore, options: ClusterRateLimitStoreOptions = {}) {
    this.#store = store;
    this.prefix = options.prefix ?? 'rl:';
  }

  /** express-rate-limit hands over its options: the window is the one thing the counters need. */
  init(options: { windowMs: number }): void {
    this.#windowMs = options.windowMs;
  }

  increment(key: string): Promise<{ totalHits: number; resetTime: Date }> {
    const windowMs = this.#windowMs;
    if (windowMs === undefined) return Promise.reject(new Error('ClusterRateLimitStore: pass it to rateLimit({ store }), which calls init() with windowMs'));
    return new Promise((resolve, reject) =>
      this.#store.call(hit, [this.prefix, key, windowMs], (error, counted) =>
        error ? reject(error) : resolve({ totalHits: counted![0], resetTime: new Date(counted![1]) }),
      ),
    );
  }

  decrement(key: string): Promise<void> {
    return new Promise((resolve, reject) => this.#store.post(unhit, [this.prefix, key], (error) => (error ? reject(error as StoreError) : resolve())));
  }

  resetKey(key: string): Promise<void> {
    return new Promise((resolve, reject) => this.#store.call(reset, [this.prefix, key], (error) => (error ? reject(error) : resolve())));
  }
}
