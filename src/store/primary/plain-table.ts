// The sessions as plainly as they can be kept, in the primary: a Map of id → entry object. The reference the fast
// table (session-table.ts) must match: the same tests run against both (the template's test/store/tables.test.ts).
// It is also a working table: ClusterStore.setup({ sessions: new PlainTable() }) trades memory for clarity.
import { isRecord, lifetimeOf, maxSecond, tableOptions, toSeconds, type SessionRecord, type Sessions, type StoredSession, type TableOptions, type TableSettings } from './sessions.js';

interface Entry {
  json: string;
  /** Expires at the start of this second. */
  expiresS: number;
  /** How far each use moves the expiry, in s. */
  lifetimeS: number;
  /** Ends at this second whatever its use (Infinity: no absolute timeout). */
  deadlineS: number;
}

export class PlainTable implements Sessions {
  readonly #options: TableSettings;
  // Map iteration order is insertion order: re-inserting on every use keeps the least recently used first.
  readonly #entries = new Map<string, Entry>();

  constructor(options: TableOptions = {}) {
    this.#options = tableOptions('PlainTable', options);
  }

  get size(): number {
    return this.#entries.size;
  }

  read(sid: string): StoredSession | undefined {
    const now = Date.now();
    const entry = this.#live(sid, now);
    if (entry === undefined) return undefined;
    entry.expiresS = Math.min(toSeconds(now) + entry.lifetimeS, entry.deadlineS, maxSecond);
    this.#markUsed(sid, entry);
    return [entry.json, entry.expiresS * 1000];
  }

  set(sid: string, json: string, expiresAt: number | null): void {
    const now = Date.now();
    const expiry = expiresAt ?? now + this.#options.defaultTtlMs;
    if (expiry <= now) return this.destroy(sid);
    // The absolute deadline is set when a session is first saved, and kept by every later save.
    let deadlineS = Infinity;
    if (this.#options.absoluteTimeoutMs > 0) deadlineS = this.#live(sid, now)?.deadlineS ?? toSeconds(now + this.#options.absoluteTimeoutMs);
    this.#insert(sid, { json, expiresS: Math.min(toSeconds(expiry), deadlineS), lifetimeS: lifetimeOf(expiry, now), deadlineS });
  }

  touch(sid: string, expiresAt: number | null): void {
    const now = Date.now();
    const entry = this.#live(sid, now);
    if (entry === undefined) return;
    const expiry = expiresAt ?? now + this.#options.defaultTtlMs;
    entry.expiresS = Math.min(toSeconds(expiry), entry.deadlineS);
    entry.lifetimeS = lifetimeOf(expiry, now);
    if (expiry <= now || entry.expiresS * 1000 <= now) this.destroy(sid);
    else this.#markUsed(sid, entry);
  }

  destroy(sid: string): void {
    this.#entries.delete(sid);
  }

  *entries(): Generator<[sid: string, json: string, expiresAt: number]> {
    const now = Date.now();
    for (const [sid, entry] of this.#entries) if (entry.expiresS * 1000 > now) yield [sid, entry.json, entry.expiresS * 1000];
  }

  length(): number {
    this.sweep();
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }

  sweep(): number {
    const now = Date.now();
    let removed = 0;
    for (const [sid, entry] of this.#entries) {
      if (entry.expiresS * 1000 <= now) {
        this.#entries.delete(sid);
        removed++;
      }
    }
    return removed;
  }

  *records(): Generator<SessionRecord> {
    const now = Date.now();
    for (const [sid, { json, expiresS, lifetimeS, deadlineS }] of this.#entries) {
      if (expiresS * 1000 > now) yield [sid, json, expiresS, lifetimeS, Number.isFinite(deadlineS) ? deadlineS : null];
    }
  }

  restore(record: unknown): boolean {
    if (!isRecord(record)) return false;
    const [sid, json, expiresS, lifetimeS, deadlineS] = record;
    if (expiresS * 1000 > Date.now()) this.#insert(sid, { json, expiresS, lifetimeS, deadlineS: deadlineS ?? Infinity });
    return true;
  }

  /** A live entry; an expired one is removed on the way. */
  #live(sid: string, now: number): Entry | undefined {
    const entry = this.#entries.get(sid);
    if (entry === undefined || entry.expiresS * 1000 > now) return entry;
    this.#entries.delete(sid);
    return undefined;
  }

  #insert(sid: string, entry: Entry): void {
    this.#markUsed(sid, entry);
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#options.maxSessions) break;
      this.#entries.delete(oldest);
    }
  }

  #markUsed(sid: string, entry: Entry): void {
    this.#entries.delete(sid);
    this.#entries.set(sid, entry);
  }
}
