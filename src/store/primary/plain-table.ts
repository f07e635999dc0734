// The sessions as plainly as they can be kept, in the primary: a Map of id → entry object. The reference the fast
// table (session-table.ts) must match: the same tests run against both (test/sessions-suite.ts in this folder).
// It is also a working table: ClusterStore.setup({ sessions: new PlainTable() }) trades memory and speed for
// clarity (its re-added Map key per read gets slower as the table fills, and eviction and listing walk: see
// session-table.ts for how the fast one avoids both).
import { costOf, expiryOf, maxTime, parseRecord, tableOptions, walkRecords } from './sessions.js';
import type { Bounds, Evictions, Sessions, SessionWalk, StoredSession, TableOptions, TableSettings, UserSession } from './sessions.js';

interface Entry {
  json: string;
  expiresAt: number;
  /** How far each use moves the expiry, in ms. */
  lifetime: number;
  /** Ends then whatever its use (Infinity: no absolute timeout). */
  deadline: number;
  userId: string | null;
  /** Which session this is: a number of its own, kept by every save, new when the id is created again. */
  born: number;
}

/** A walk: the sessions to visit, by id and birth, and those visited. */
interface PlainWalk {
  pending: [sid: string, born: number][];
  next: number;
  visited: Map<string, number>;
  ended: string[] | undefined;
}

export class PlainTable implements Sessions {
  readonly #options: TableSettings;
  // Map iteration order is insertion order: re-inserting on every use keeps the least recently used first.
  readonly #entries = new Map<string, Entry>();
  /** user → (session id → last used), each in use order likewise. */
  readonly #byUser = new Map<string, Map<string, number>>();
  #bytes = 0;
  readonly #evictions: Evictions = { count: 0, bytes: 0, perUser: 0 };
  readonly #walks = new Set<PlainWalk>();
  #births = 0;

  constructor(options: TableOptions = {}) {
    this.#options = tableOptions('PlainTable', options);
  }

  get size(): number {
    return this.#entries.size;
  }

  get users(): number {
    return this.#byUser.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get evictions(): Readonly<Evictions> {
    return this.#evictions;
  }

  get bounds(): Readonly<Bounds> {
    return this.#options;
  }

  read(sid: string): StoredSession | undefined {
    const now = Date.now();
    const entry = this.#live(sid, now);
    if (entry === undefined) return undefined;
    entry.expiresAt = Math.min(now + entry.lifetime, entry.deadline, maxTime);
    this.#markUsed(sid, entry, now);
    return [entry.json, entry.expiresAt];
  }

  set(sid: string, json: string, expiresAt: number | null, userId: string | null = null, lifetimeMs?: number | null): void {
    const now = Date.now();
    const [expiry, lifetime] = expiryOf(expiresAt, lifetimeMs, now, this.#options.defaultTtlMs);
    if (expiry <= now) return this.destroy(sid);
    // The absolute deadline is set when a session is first saved, and kept by every later save.
    let deadline = Infinity;
    if (this.#options.absoluteTimeoutMs > 0) deadline = this.#live(sid, now)?.deadline ?? now + this.#options.absoluteTimeoutMs;
    this.#insert(sid, { json, expiresAt: Math.min(expiry, deadline), lifetime, deadline, userId, born: 0 }, now);
  }

  update(sid: string, json: string, expiresAt: number | null, userId: string | null = null, lifetimeMs?: number | null): boolean {
    if (this.#live(sid, Date.now()) === undefined) return false;
    this.set(sid, json, expiresAt, userId, lifetimeMs);
    return true;
  }

  touch(sid: string, expiresAt: number | null, lifetimeMs?: number | null): void {
    const now = Date.now();
    const entry = this.#live(sid, now);
    if (entry === undefined) return;
    const [expiry, lifetime] = expiryOf(expiresAt, lifetimeMs, now, this.#options.defaultTtlMs);
    entry.expiresAt = Math.min(expiry, entry.deadline);
    entry.lifetime = lifetime;
    if (entry.expiresAt <= now) this.destroy(sid);
    else this.#markUsed(sid, entry, now);
  }

  /** Every path that removes a session comes here, so the byte count and the user index stay exact. */
  destroy(sid: string): void {
    const entry = this.#entries.get(sid);
    if (entry === undefined) return;
    this.#entries.delete(sid);
    this.#bytes -= costOf(sid, entry.json);
    if (entry.userId !== null) this.#leaveUser(entry.userId, sid);
    for (const walk of this.#walks) if (walk.visited.get(sid) === entry.born) walk.ended?.push(sid);
  }

  has(sid: string): boolean {
    return this.#live(sid, Date.now()) !== undefined;
  }

  /**
   * The sessions held now, by id and birth, in the order eviction takes them (without a user, least recently used
   * first, then with one): each visited if, when its turn comes, the same session is still held.
   */
  walk(options: { ended?: boolean } = {}): SessionWalk {
    const all = [...this.#entries];
    const pending = [...all.filter(([, e]) => e.userId === null), ...all.filter(([, e]) => e.userId !== null)].map(([sid, { born }]): [string, number] => [sid, born]);
    const walk: PlainWalk = { pending, next: 0, visited: new Map(), ended: options.ended ? [] : undefined };
    this.#walks.add(walk);
    return {
      step: (max, visit) => {
        const now = Date.now();
        const stop = Math.min(walk.pending.length, walk.next + max);
        for (; walk.next < stop; walk.next++) {
          const [sid, born] = walk.pending[walk.next]!;
          const entry = this.#entries.get(sid);
          if (entry?.born !== born) continue;
          if (entry.expiresAt <= now) this.destroy(sid);
          else {
            visit?.([sid, entry.json, entry.expiresAt, entry.lifetime, Number.isFinite(entry.deadline) ? entry.deadline : null, entry.userId]);
            walk.visited.set(sid, born);
          }
        }
        if (walk.next < walk.pending.length) return true;
        if (walk.ended === undefined) this.#walks.delete(walk);
        return false;
      },
      ended: walk.ended ?? [],
      close: () => void this.#walks.delete(walk),
    };
  }

  *entries(): Generator<[sid: string, json: string, expiresAt: number]> {
    for (const [sid, json, expiresAt] of walkRecords(this.walk())) yield [sid, json, expiresAt];
  }

  length(): number {
    this.sweep();
    return this.#entries.size;
  }

  clear(): void {
    for (const walk of this.#walks) {
      // What it visited has ended.
      for (const [sid, born] of walk.ended === undefined ? [] : walk.visited) if (this.#entries.get(sid)?.born === born) walk.ended!.push(sid);
      walk.next = walk.pending.length;
    }
    this.#walks.clear();
    this.#entries.clear();
    this.#byUser.clear();
    this.#bytes = 0;
  }

  sweep(): number {
    const now = Date.now();
    let removed = 0;
    for (const [sid, entry] of [...this.#entries]) {
      if (entry.expiresAt <= now) {
        this.destroy(sid);
        removed++;
      }
    }
    return removed;
  }

  restore(value: unknown): boolean {
    const record = parseRecord(value);
    if (record === undefined) return false;
    const [sid, json, expiresAt, lifetime, deadline, userId] = record;
    // A restored session was last used, as far as the record tells, when its expiry was last rolled.
    if (expiresAt > Date.now()) this.#insert(sid, { json, expiresAt, lifetime, deadline: deadline ?? Infinity, userId, born: 0 }, expiresAt - lifetime);
    return true;
  }

  userSessions(userId: string, limit: number): UserSession[] {
    const found: UserSession[] = [];
    const now = Date.now();
    for (const [sid, usedAt] of [...(this.#byUser.get(userId) ?? [])].reverse()) {
      if (found.length >= limit) break;
      const entry = this.#live(sid, now);
      if (entry !== undefined) found.push([sid, entry.json, entry.expiresAt, usedAt]);
    }
    return found;
  }

  destroyUser(userId: string, except: string | null): number {
    let ended = 0;
    const now = Date.now();
    for (const sid of [...(this.#byUser.get(userId)?.keys() ?? [])]) {
      if (sid === except || this.#live(sid, now) === undefined) continue;
      this.destroy(sid);
      ended++;
    }
    return ended;
  }

  /** A live entry; an expired one is removed on the way. */
  #live(sid: string, now: number): Entry | undefined {
    const entry = this.#entries.get(sid);
    if (entry === undefined || entry.expiresAt > now) return entry;
    this.destroy(sid);
    return undefined;
  }

  #insert(sid: string, entry: Entry, usedAt: number): void {
    const before = this.#entries.get(sid);
    entry.born = before?.born ?? ++this.#births;
    if (before === undefined) this.#bytes += costOf(sid, entry.json);
    else this.#bytes += 2 * (entry.json.length - before.json.length);
    if (before?.userId != null && before.userId !== entry.userId) this.#leaveUser(before.userId, sid);
    this.#markUsed(sid, entry, usedAt);
    const user = entry.userId === null ? undefined : this.#byUser.get(entry.userId)!;
    // Over the cap, the user's expired sessions go first: they should not count.
    if (user !== undefined && user.size > this.#options.maxSessionsPerUser) for (const other of [...user.keys()]) this.#live(other, Date.now());
    while (user !== undefined && user.size > this.#options.maxSessionsPerUser) {
      this.destroy(user.keys().next().value!);
      this.#evictions.perUser++;
    }
    while (this.#entries.size > this.#options.maxSessions || this.#bytes > this.#options.maxTotalBytes) {
      const victim = this.#leastRecentlyUsed(sid);
      if (victim === undefined) return;
      if (this.#entries.size > this.#options.maxSessions) this.#evictions.count++;
      else this.#evictions.bytes++;
      this.destroy(victim);
    }
  }

  /** The session eviction takes: the least recently used without a user, else with one; never `kept`. */
  #leastRecentlyUsed(kept: string): string | undefined {
    let withUser: string | undefined;
    for (const [sid, entry] of this.#entries) {
      if (sid === kept) continue;
      if (entry.userId === null) return sid;
      withUser ??= sid;
    }
    return withUser;
  }

  #markUsed(sid: string, entry: Entry, atMs: number): void {
    this.#entries.delete(sid);
    this.#entries.set(sid, entry);
    if (entry.userId === null) return;
    let sessions = this.#byUser.get(entry.userId);
    if (sessions === undefined) this.#byUser.set(entry.userId, (sessions = new Map<string, number>()));
    sessions.delete(sid);
    sessions.set(sid, atMs);
  }

  #leaveUser(userId: string, sid: string): void {
    const sessions = this.#byUser.get(userId);
    if (sessions === undefined) return;
    sessions.delete(sid);
    if (sessions.size === 0) this.#byUser.delete(userId);
  }
}
