// The lock table, in the primary: one holder per key (a session cookie's value), the others wait in arrival order.
// A lock is released by its holder, by the death of the worker that holds it, or after its hold time at the
// latest; a waiter gives up after its wait time. Every timer is the primary's: a worker that hangs or dies
// cannot keep a session locked.
import type { StoreError } from '../shared/errors.js';
import { lockError, LockErrorCode } from './errors.js';

/** Who asked: a worker's cluster id (0: the primary itself). Its death releases what it holds. */
export type Owner = number;

export interface LockRequest {
  owner: Owner;
  /** Give up waiting after this, in ms. */
  waitMs: number;
  /** Released after this even if its holder never lets go, in ms. */
  holdMs: number;
  /** Most requests that may wait for this key at once; one more is refused. */
  maxWaiters: number;
}

/** Told the outcome of a request that had to wait: its token, or why it got none. */
export type Granted = (error: StoreError | null, token?: number) => void;

interface Waiter {
  request: LockRequest;
  granted: Granted;
  timer: NodeJS.Timeout;
}

interface Lock {
  token: number;
  owner: Owner;
  timer: NodeJS.Timeout;
  /** Made when the first request has to wait: most locks are never waited for. */
  waiters: Waiter[] | undefined;
}

export interface LockStats {
  /** Keys locked right now. */
  locked: number;
  /** Requests waiting for a lock right now. */
  waiting: number;
  /** Locks released by their hold time running out. */
  expired: number;
  /** Waiters that gave up (wait time) or were refused (queue full). */
  refused: number;
}

export class LockTable {
  readonly #locks = new Map<string, Lock>();
  #lastToken = 0;
  #waiting = 0;
  #expired = 0;
  #refused = 0;

  /**
   * Takes the lock of `key` for `request.owner`. Free: returns the token now (`granted` is not called).
   * Held: queues the request and returns undefined; `granted` hears the token later, or the wait timeout.
   * Throws ERR_SESSION_LOCK_QUEUE_FULL when `maxWaiters` requests already wait.
   */
  acquire(key: string, request: LockRequest, granted: Granted): number | undefined {
    const lock = this.#locks.get(key);
    if (lock === undefined) {
      const token = ++this.#lastToken;
      this.#locks.set(key, { token, owner: request.owner, timer: this.#holdTimer(key, token, request.holdMs), waiters: undefined });
      return token;
    }
    const waiters = (lock.waiters ??= []);
    if (waiters.length >= request.maxWaiters) {
      this.#refused++;
      throw lockError(
        LockErrorCode.queueFull,
        `session lock: ${waiters.length} requests of this session already wait (maxWaiters ${request.maxWaiters})`,
      );
    }
    const waiter: Waiter = { request, granted, timer: setTimeout(() => this.#giveUp(key, waiter), request.waitMs) };
    waiter.timer.unref();
    waiters.push(waiter);
    this.#waiting++;
    return undefined;
  }

  /** Lets go of the lock of `key` if `token` still holds it (a holder that ran out of time holds nothing). */
  release(key: string, token: number): void {
    const lock = this.#locks.get(key);
    if (lock === undefined || lock.token !== token) return;
    clearTimeout(lock.timer);
    this.#handOn(key, lock);
  }

  /** A worker died: everything it held is released, and its waiters leave the queues. */
  releaseOwner(owner: Owner): void {
    for (const [key, lock] of this.#locks) {
      const leaving = lock.waiters?.filter((waiter) => waiter.request.owner === owner) ?? [];
      for (const waiter of leaving) this.#remove(lock, waiter);
      if (lock.owner === owner) this.release(key, lock.token);
    }
  }

  stats(): LockStats {
    return { locked: this.#locks.size, waiting: this.#waiting, expired: this.#expired, refused: this.#refused };
  }

  /** The next waiter gets the lock, or the key is free. */
  #handOn(key: string, lock: Lock): void {
    const next = lock.waiters?.shift();
    if (next === undefined) {
      this.#locks.delete(key);
      return;
    }
    this.#waiting--;
    clearTimeout(next.timer);
    lock.token = ++this.#lastToken;
    lock.owner = next.request.owner;
    lock.timer = this.#holdTimer(key, lock.token, next.request.holdMs);
    next.granted(null, lock.token);
  }

  #holdTimer(key: string, token: number, holdMs: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const lock = this.#locks.get(key);
      if (lock?.token !== token) return;
      this.#expired++;
      this.#handOn(key, lock);
    }, holdMs);
    return timer.unref();
  }

  #giveUp(key: string, waiter: Waiter): void {
    const lock = this.#locks.get(key);
    if (lock === undefined || !this.#remove(lock, waiter)) return;
    this.#refused++;
    waiter.granted(
      lockError(
        LockErrorCode.waitTimeout,
        `session lock: not granted within ${waiter.request.waitMs} ms (waitTimeoutMs): an earlier request of this session still runs`,
      ),
    );
  }

  #remove(lock: Lock, waiter: Waiter): boolean {
    const at = lock.waiters?.indexOf(waiter) ?? -1;
    if (at < 0) return false;
    lock.waiters!.splice(at, 1);
    this.#waiting--;
    clearTimeout(waiter.timer);
    return true;
  }
}
