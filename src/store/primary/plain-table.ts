// The sessions as plainly as they can be kept, in the primary: a Map of id → entry object. The reference the fast
// table (session-table.ts) must match: the same tests run against both (the template's test/store/tables.test.ts).
// It is also a working table: ClusterStore.setup({ sessions: new PlainTable() }) trades memory and speed for
// clarity (its re-added Map key per read gets slower as the table fills: see the use order in session-table.ts).
import { lifetimeOf, maxSecond, parseRecord, tableOptions, toSeconds } from './sessions.js';
import type { SessionRecord, Sessions, StoredSession, TableOptions, TableSettings, UserSession } from './sessions.js';
import { UserIndex } from './user-index.js';

interface Entry {
  json: string;
  /** Expires at the start of this second. */
  expiresS: number;
  /** How far each use moves the expiry, in s. */
  lifetimeS: number;
  /** Ends at this second whatever its use (Infinity: no absolute timeout). */
  deadlineS: number;
  userId: string | null;
}

export class PlainTable implements Sessions {
  readonly #options: TableSettings;
  // Map iteration order is insertion order: re-inserting on every use keeps the least recently used first.
  readonly #entries = new Map<string, Entry>();
  readonly #users = new UserIndex();

  constructor(options: TableOptions = {}) {
    this.#options = tableOptions('PlainTable', options);
  }

  get size(): number {
    return this.#entries.size;
  }

  get users(): number {
    return this.#users.size;
  }

  read(sid: string): StoredSession | undefined {
    const now = Date.now();
    const entry = this.#live(sid, now);
    if (entry === undefined) return undefined;
    entry.expiresS = Math.min(toSeconds(now) + entry.lifetimeS, entry.deadlineS, maxSecond);
    this.#markUsed(sid, entry, now);
    return [entry.json, entry.expiresS * 1000];
  }

  set(sid: string, json: string, expiresAt: number | null, userId: string | null = null): void {
    const now = Date.now();
    const expiry = expiresAt ?? now + this.#options.defaultTtlMs;
    if (expiry <= now) return this.destroy(sid);
    // The absolute deadline is set when a session is first saved, and kept by every later save.
    let deadlineS = Infinity;
    if (this.#options.absoluteTimeoutMs > 0) deadlineS = this.#live(sid, now)?.deadlineS ?? toSeconds(now + this.#options.absoluteTimeoutMs);
    this.#insert(sid, { json, expiresS: Math.min(toSeconds(expiry), deadlineS), lifetimeS: lifetimeOf(expiry, now), deadlineS, userId }, now);
  }

  touch(sid: string, expiresAt: number | null): void {
    const now = Date.now();
    const entry = this.#live(sid, now);
    if (entry === undefined) return;
    const expiry = expiresAt ?? now + this.#options.defaultTtlMs;
    entry.expiresS = Math.min(toSeconds(expiry), entry.deadlineS);
    entry.lifetimeS = lifetimeOf(expiry, now);
    if (expiry <= now || entry.expiresS * 1000 <= now) this.destroy(sid);
    else this.#markUsed(sid, entry, now);
  }

  /** Every path that removes a session comes here, so the user index stays exact. */
  destroy(sid: string): void {
    const entry = this.#entries.get(sid);
    if (entry === undefined) return;
    this.#entries.delete(sid);
    if (entry.userId !== null) this.#users.delete(entry.userId, sid);
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
    this.#users.clear();
  }

  sweep(): number {
    const now = Date.now();
    let removed = 0;
    for (const [sid, entry] of this.#entries) {
      if (entry.expiresS * 1000 <= now) {
        this.destroy(sid);
        removed++;
      }
    }
    return removed;
  }

  *records(): Generator<SessionRecord> {
    const now = Date.now();
    for (const [sid, { json, expiresS, lifetimeS, deadlineS, userId }] of this.#entries) {
      if (expiresS * 1000 > now) yield [sid, json, expiresS, lifetimeS, Number.isFinite(deadlineS) ? deadlineS : null, userId];
    }
  }

  restore(value: unknown): boolean {
    const record = parseRecord(value);
    if (record === undefined) return false;
    const [sid, json, expiresS, lifetimeS, deadlineS, userId] = record;
    // A restored session was last used, as far as the record tells, when its expiry was last rolled.
    if (expiresS * 1000 > Date.now()) this.#insert(sid, { json, expiresS, lifetimeS, deadlineS: deadlineS ?? Infinity, userId }, (expiresS - lifetimeS) * 1000);
    return true;
  }

  userSessions(userId: string, limit: number): UserSession[] {
    return this.#users.list(userId, limit, this.#found);
  }

  destroyUser(userId: string, except: string | null): number {
    return this.#users.endAll(userId, except, this.#found, (sid) => this.destroy(sid));
  }

  /** A live session's JSON and expiry, for the user index. */
  readonly #found = (sid: string): [string, number] | undefined => {
    const entry = this.#live(sid, Date.now());
    return entry === undefined ? undefined : [entry.json, entry.expiresS * 1000];
  };

  /** A live entry; an expired one is removed on the way. */
  #live(sid: string, now: number): Entry | undefined {
    const entry = this.#entries.get(sid);
    if (entry === undefined || entry.expiresS * 1000 > now) return entry;
    this.destroy(sid);
    return undefined;
  }

  #insert(sid: string, entry: Entry, usedAt: number): void {
    const before = this.#entries.get(sid);
    if (before?.userId != null && before.userId !== entry.userId) this.#users.delete(before.userId, sid);
    this.#markUsed(sid, entry, usedAt);
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#options.maxSessions) break;
      this.destroy(oldest);
    }
  }

  #markUsed(sid: string, entry: Entry, atMs: number): void {
    this.#entries.delete(sid);
    this.#entries.set(sid, entry);
    if (entry.userId !== null) this.#users.put(entry.userId, sid, atMs);
  }
}
