// The sessions themselves, held by the host in the primary: a Map of id → JSON string with expiry,
// a least-recently-used bound on the count and a bound on each session's size. No I/O, no cluster.
// Memory per session is the id, the JSON and little else: the Map holds each id's slot number (a small integer,
// no object), and a slot's JSON and times live in flat arrays. Times are kept to the second, as cookies keep
// them, in 32-bit unsigned integers (good until 2106).
import { checkSessionSize, defaultLimits } from './protocol.js';
import { integerOption } from './options.js';

export interface SessionTableOptions {
  /** Most sessions held at once; beyond it the least recently used are evicted. @default 100_000 */
  maxSessions?: number;
  /** Largest session accepted, in bytes of JSON; a larger `set` fails, other sessions are unaffected. @default 16_384 */
  maxSessionBytes?: number;
  /** Lifetime of a session whose cookie has no expiry (a browser-session cookie), in ms. @default 86_400_000 */
  defaultTtlMs?: number;
  /** How often expired sessions are swept from memory, in ms. @default 60_000 */
  sweepIntervalMs?: number;
  /**
   * Absolute lifetime, in ms: a session is gone this long after it was first saved, however often it is used
   * (OWASP's absolute timeout, beside the idle one). 0: none. @default 0
   */
  absoluteTimeoutMs?: number;
}

/** A session as a snapshot keeps it: [id, json, expires (s), lifetime (s), absolute deadline (s) or null]. */
export type SessionRecord = [sid: string, json: string, expiresS: number, lifetimeS: number, deadlineS: number | null];

const defaults = {
  maxSessions: 100_000,
  maxSessionBytes: defaultLimits.maxSessionBytes,
  defaultTtlMs: 86_400_000,
  sweepIntervalMs: 60_000,
};

/** A session as a read returns it (and as the host sends it): [json, expiresAt in ms, on a whole second]. */
export type StoredSession = [json: string, expiresAt: number];

export class SessionTable {
  readonly maxSessions: number;
  readonly maxSessionBytes: number;
  readonly defaultTtlMs: number;
  readonly sweepIntervalMs: number;
  readonly absoluteTimeoutMs: number;
  // id → slot. Map iteration order is insertion order: re-inserting on every use keeps the least recently used first.
  readonly #slots = new Map<string, number>();
  #json: string[] = [];
  /** Expires at the start of this second (since the epoch). */
  #expiresS = new Uint32Array(initialSlots);
  /** How far each use moves the expiry, in s: the lifetime the session was last saved or touched with. */
  #lifetimeS = new Uint32Array(initialSlots);
  /** Only with an absolute timeout: the second the session ends whatever its use (0: none). */
  #deadlineS: Uint32Array<ArrayBuffer> | undefined;
  /** Slots of removed sessions, handed out again first. */
  #free: number[] = [];
  #sweeper: NodeJS.Timeout | undefined;
  // Eviction walks the map from its oldest end. A fresh iterator would step over every entry already
  // deleted there each time (V8 keeps them until it rehashes); one long-lived iterator steps over each once.
  #oldest: Iterator<string> | undefined;

  constructor(options: SessionTableOptions = {}) {
    this.maxSessions = integerOption('maxSessions', options.maxSessions, defaults.maxSessions);
    this.maxSessionBytes = integerOption('maxSessionBytes', options.maxSessionBytes, defaults.maxSessionBytes);
    this.defaultTtlMs = integerOption('defaultTtlMs', options.defaultTtlMs, defaults.defaultTtlMs);
    this.sweepIntervalMs = integerOption('sweepIntervalMs', options.sweepIntervalMs, defaults.sweepIntervalMs);
    this.absoluteTimeoutMs = integerOption('absoluteTimeoutMs', options.absoluteTimeoutMs, 0, 0);
  }

  /** Sessions held, expired ones not yet swept included. */
  get size(): number {
    return this.#slots.size;
  }

  /**
   * A live session's JSON, or null. Reading is use: the expiry rolls forward by the session's lifetime, as the
   * touch express-session sends at the end of the request would, so that touch can be skipped.
   */
  get(sid: string): string | null {
    return this.read(sid)?.[0] ?? null;
  }

  /** Like get(), with the expiry it rolled forward to. */
  read(sid: string): StoredSession | undefined {
    const now = Date.now();
    const slot = this.#live(sid, now);
    if (slot === undefined) return undefined;
    const expiresS = Math.min(seconds(now) + this.#lifetimeS[slot]!, this.#deadline(slot), maxSecond);
    this.#expiresS[slot] = expiresS;
    this.#markUsed(sid, slot);
    return [this.#json[slot]!, expiresS * 1000];
  }

  set(sid: string, json: string, expiresAt: number | null): void {
    checkSessionSize(sid, json, this.maxSessionBytes);
    const now = Date.now();
    const expiry = expiresAt ?? now + this.defaultTtlMs;
    if (expiry <= now) {
      // A session saved already expired is a logout in all but name.
      this.#remove(sid);
      return;
    }
    // The absolute deadline is set when a session is first saved, and kept by every later save.
    let deadlineS = Infinity;
    if (this.absoluteTimeoutMs > 0) {
      const current = this.#live(sid, now);
      deadlineS = current === undefined ? seconds(now + this.absoluteTimeoutMs) : this.#deadline(current);
    }
    this.#insert(sid, json, Math.min(seconds(expiry), deadlineS), lifetimeS(expiry, now), deadlineS);
  }

  /** Moves a live session's expiry without rewriting its data; an unknown id creates nothing. */
  touch(sid: string, expiresAt: number | null): void {
    const now = Date.now();
    const slot = this.#live(sid, now);
    if (slot === undefined) return;
    const expiry = expiresAt ?? now + this.defaultTtlMs;
    if (expiry <= now) {
      this.#remove(sid);
      return;
    }
    const expiresS = Math.min(seconds(expiry), this.#deadline(slot));
    this.#expiresS[slot] = expiresS;
    this.#lifetimeS[slot] = lifetimeS(expiry, now);
    if (expiresS * 1000 <= now) this.#remove(sid);
    else this.#markUsed(sid, slot);
  }

  destroy(sid: string): void {
    this.#remove(sid);
  }

  /** Every live session as [id, json] pairs, least recently used first. */
  all(): [string, string][] {
    return Array.from(this.entries(), ([sid, json]) => [sid, json]);
  }

  /** Every live session with its expiry (ms since the epoch), least recently used first. */
  *entries(): Generator<[sid: string, json: string, expiresAt: number]> {
    const now = Date.now();
    for (const [sid, slot] of this.#slots) {
      const expiresAt = this.#expiresS[slot]! * 1000;
      if (expiresAt > now) yield [sid, this.#json[slot]!, expiresAt];
    }
  }

  /** Every live session as a record for a snapshot, least recently used first. */
  *records(): Generator<SessionRecord> {
    const now = Date.now();
    for (const [sid, slot] of this.#slots) {
      const expiresS = this.#expiresS[slot]!;
      const deadlineS = this.#deadline(slot);
      if (expiresS * 1000 > now) yield [sid, this.#json[slot]!, expiresS, this.#lifetimeS[slot]!, Number.isFinite(deadlineS) ? deadlineS : null];
    }
  }

  /** Puts back a record from a snapshot; false (and nothing stored) when it is malformed. An expired one is skipped. */
  restore(record: unknown): boolean {
    if (!isRecord(record)) return false;
    const [sid, json, expiresS, lifetime, deadlineS] = record;
    if (expiresS * 1000 > Date.now()) this.#insert(sid, json, expiresS, lifetime, deadlineS ?? Infinity);
    return true;
  }

  length(): number {
    this.sweep();
    return this.#slots.size;
  }

  clear(): void {
    this.#slots.clear();
    this.#json = [];
    this.#expiresS = new Uint32Array(initialSlots);
    this.#lifetimeS = new Uint32Array(initialSlots);
    this.#deadlineS = undefined;
    this.#free = [];
    this.#oldest = undefined;
  }

  /** Drops every expired session; returns how many went. */
  sweep(): number {
    const now = Date.now();
    let removed = 0;
    for (const [sid, slot] of this.#slots) {
      if (this.#expiresS[slot]! * 1000 <= now) {
        this.#slots.delete(sid);
        this.#release(slot);
        removed++;
      }
    }
    return removed;
  }

  /** Sweeps every `sweepIntervalMs` until `stopSweeping()`; the timer never keeps the process alive. */
  startSweeping(): void {
    if (this.#sweeper !== undefined) return;
    this.#sweeper = setInterval(() => this.sweep(), this.sweepIntervalMs);
    this.#sweeper.unref();
  }

  stopSweeping(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /** The slot of a live session; an expired one is removed on the way. */
  #live(sid: string, now: number): number | undefined {
    const slot = this.#slots.get(sid);
    if (slot === undefined || this.#expiresS[slot]! * 1000 > now) return slot;
    this.#slots.delete(sid);
    this.#release(slot);
    return undefined;
  }

  #deadline(slot: number): number {
    return this.#deadlineS?.[slot] || Infinity;
  }

  #insert(sid: string, json: string, expiresS: number, lifetime: number, deadlineS: number): void {
    let slot = this.#slots.get(sid);
    if (slot === undefined) slot = this.#allocate();
    else this.#slots.delete(sid);
    this.#slots.set(sid, slot);
    this.#json[slot] = json;
    this.#expiresS[slot] = expiresS;
    this.#lifetimeS[slot] = lifetime;
    if (Number.isFinite(deadlineS)) (this.#deadlineS ??= new Uint32Array(this.#expiresS.length))[slot] = deadlineS;
    else if (this.#deadlineS !== undefined) this.#deadlineS[slot] = 0;
    if (this.#slots.size > this.maxSessions) this.#evictOldest();
  }

  #remove(sid: string): void {
    const slot = this.#slots.get(sid);
    if (slot === undefined) return;
    this.#slots.delete(sid);
    this.#release(slot);
  }

  #allocate(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    const slot = this.#json.length;
    this.#json.push('');
    if (slot === this.#expiresS.length) {
      this.#expiresS = grown(this.#expiresS);
      this.#lifetimeS = grown(this.#lifetimeS);
      if (this.#deadlineS !== undefined) this.#deadlineS = grown(this.#deadlineS);
    }
    return slot;
  }

  #release(slot: number): void {
    this.#json[slot] = ''; // let go of the JSON now
    this.#free.push(slot);
  }

  #markUsed(sid: string, slot: number): void {
    this.#slots.delete(sid);
    this.#slots.set(sid, slot);
  }

  #evictOldest(): void {
    while (this.#slots.size > this.maxSessions) {
      this.#oldest ??= this.#slots.keys();
      const next = this.#oldest.next();
      if (next.done === true) {
        this.#oldest = undefined;
        continue;
      }
      // Everything the iterator passed was evicted by it, so the first key it yields is the least recently used.
      this.#remove(next.value);
    }
  }
}

const initialSlots = 1024;
/** The last second a Uint32Array holds: early 2106. */
const maxSecond = 2 ** 32 - 1;

function grown(array: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> {
  const bigger = new Uint32Array(array.length * 2);
  bigger.set(array);
  return bigger;
}

/** The second a millisecond time falls in, rounded up: a session never expires before its cookie does. */
function seconds(ms: number): number {
  return Math.min(Math.ceil(ms / 1000), maxSecond);
}

function lifetimeS(expiry: number, now: number): number {
  return Math.min(Math.max(1, Math.round((expiry - now) / 1000)), maxSecond);
}

function isRecord(value: unknown): value is SessionRecord {
  if (!Array.isArray(value) || value.length !== 5) return false;
  const [sid, json, expiresS, lifetime, deadlineS] = value as unknown[];
  const whole = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n <= maxSecond;
  return typeof sid === 'string' && typeof json === 'string' && whole(expiresS) && whole(lifetime) && (deadlineS === null || whole(deadlineS));
}
