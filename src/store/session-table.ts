// The sessions themselves, held by the host in the primary: a Map of id → JSON string with expiry,
// a least-recently-used bound on the count and a bound on each session's size. No I/O, no cluster.
// Expiry is kept to the second, as cookies keep it: whole seconds are small integers that V8 stores inside
// the entry, where milliseconds since 1970 would each take a separate 16-byte heap number.
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

class Entry {
  constructor(
    public json: string,
    /** Expires at the start of this second (since the epoch). */
    public expiresS: number,
    /** How far each use moves the expiry, in s: the lifetime the session was last saved or touched with. */
    public lifetimeS: number,
  ) {}

  /** The second the session ends whatever its use: none, unless an absolute timeout is set. */
  get deadlineS(): number {
    return Infinity;
  }
}

/** Only with an absolute timeout: the deadline takes a field of its own, the default entry stays small. */
class DeadlineEntry extends Entry {
  constructor(
    json: string,
    expiresS: number,
    lifetimeS: number,
    readonly deadline: number,
  ) {
    super(json, expiresS, lifetimeS);
  }

  override get deadlineS(): number {
    return this.deadline;
  }
}

/** A session as a read returns it (and as the host sends it): [json, expiresAt in ms, on a whole second]. */
export type StoredSession = [json: string, expiresAt: number];

export class SessionTable {
  readonly maxSessions: number;
  readonly maxSessionBytes: number;
  readonly defaultTtlMs: number;
  readonly sweepIntervalMs: number;
  readonly absoluteTimeoutMs: number;
  // Map iteration order is insertion order: re-inserting on every use keeps the least recently used first.
  readonly #sessions = new Map<string, Entry>();
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
    return this.#sessions.size;
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
    const entry = this.#live(sid, now);
    if (entry === undefined) return undefined;
    entry.expiresS = Math.min(seconds(now) + entry.lifetimeS, entry.deadlineS);
    this.#markUsed(sid, entry);
    return [entry.json, entry.expiresS * 1000];
  }

  set(sid: string, json: string, expiresAt: number | null): void {
    checkSessionSize(sid, json, this.maxSessionBytes);
    const now = Date.now();
    const expiry = expiresAt ?? now + this.defaultTtlMs;
    if (expiry <= now) {
      // A session saved already expired is a logout in all but name.
      this.#sessions.delete(sid);
      return;
    }
    // The absolute deadline is set when a session is first saved, and kept by every later save.
    const deadlineS = this.absoluteTimeoutMs > 0 ? (this.#live(sid, now)?.deadlineS ?? seconds(now + this.absoluteTimeoutMs)) : Infinity;
    this.#sessions.delete(sid);
    this.#insert(sid, json, Math.min(seconds(expiry), deadlineS), lifetimeS(expiry, now), deadlineS);
  }

  /** Moves a live session's expiry without rewriting its data; an unknown id creates nothing. */
  touch(sid: string, expiresAt: number | null): void {
    const now = Date.now();
    const entry = this.#live(sid, now);
    if (entry === undefined) return;
    const expiry = expiresAt ?? now + this.defaultTtlMs;
    if (expiry <= now) {
      this.#sessions.delete(sid);
      return;
    }
    entry.expiresS = Math.min(seconds(expiry), entry.deadlineS);
    entry.lifetimeS = lifetimeS(expiry, now);
    if (entry.expiresS * 1000 <= now) this.#sessions.delete(sid);
    else this.#markUsed(sid, entry);
  }

  destroy(sid: string): void {
    this.#sessions.delete(sid);
  }

  /** Every live session as [id, json] pairs, least recently used first. */
  all(): [string, string][] {
    return Array.from(this.entries(), ([sid, json]) => [sid, json]);
  }

  /** Every live session with its expiry (ms since the epoch), least recently used first. */
  *entries(): Generator<[sid: string, json: string, expiresAt: number]> {
    const now = Date.now();
    for (const [sid, entry] of this.#sessions) if (entry.expiresS * 1000 > now) yield [sid, entry.json, entry.expiresS * 1000];
  }

  /** Every live session as a record for a snapshot, least recently used first. */
  *records(): Generator<SessionRecord> {
    const now = Date.now();
    for (const [sid, entry] of this.#sessions) {
      if (entry.expiresS * 1000 > now) yield [sid, entry.json, entry.expiresS, entry.lifetimeS, Number.isFinite(entry.deadlineS) ? entry.deadlineS : null];
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
    return this.#sessions.size;
  }

  clear(): void {
    this.#sessions.clear();
  }

  /** Drops every expired session; returns how many went. */
  sweep(): number {
    const now = Date.now();
    let removed = 0;
    for (const [sid, entry] of this.#sessions) {
      if (entry.expiresS * 1000 <= now) {
        this.#sessions.delete(sid);
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

  #live(sid: string, now = Date.now()): Entry | undefined {
    const entry = this.#sessions.get(sid);
    if (entry === undefined || entry.expiresS * 1000 > now) return entry;
    this.#sessions.delete(sid);
    return undefined;
  }

  #insert(sid: string, json: string, expiresS: number, lifetime: number, deadlineS: number): void {
    const entry = Number.isFinite(deadlineS) ? new DeadlineEntry(json, expiresS, lifetime, deadlineS) : new Entry(json, expiresS, lifetime);
    this.#sessions.set(sid, entry);
    if (this.#sessions.size > this.maxSessions) this.#evictOldest();
  }

  #markUsed(sid: string, entry: Entry): void {
    this.#sessions.delete(sid);
    this.#sessions.set(sid, entry);
  }

  #evictOldest(): void {
    while (this.#sessions.size > this.maxSessions) {
      this.#oldest ??= this.#sessions.keys();
      const next = this.#oldest.next();
      if (next.done === true) {
        this.#oldest = undefined;
        continue;
      }
      // Everything the iterator passed was evicted by it, so the first key it yields is the least recently used.
      this.#sessions.delete(next.value);
    }
  }
}

/** The second a millisecond time falls in, rounded up: a session never expires before its cookie does. */
function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

function lifetimeS(expiry: number, now: number): number {
  return Math.max(1, Math.round((expiry - now) / 1000));
}

function isRecord(value: unknown): value is SessionRecord {
  if (!Array.isArray(value) || value.length !== 5) return false;
  const [sid, json, expiresS, lifetime, deadlineS] = value as unknown[];
  const whole = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  return typeof sid === 'string' && typeof json === 'string' && whole(expiresS) && whole(lifetime) && (deadlineS === null || whole(deadlineS));
}
