// The seam between the host and the sessions it holds, in the primary: the Sessions interface, the rules both
// tables follow, and the options of the built-in ones. Plug in another table (lru-cache, say) by implementing
// Sessions and passing it to ClusterStore.setup({ sessions }); run the folder's conformance suite on it (test/sessions-suite.ts).
import { getHeapStatistics } from 'node:v8';
import { checkOptions, integer } from '../shared/options.js';

/** A session as a read returns it (and as the host sends it): [json, expiresAt in ms since the epoch]. */
export type StoredSession = [json: string, expiresAt: number];

/**
 * A session as a snapshot keeps it: [id, json, expires at, lifetime, absolute deadline or null, user id or null],
 * times in ms. (Snapshots of versions 1 and 2 kept seconds; the snapshot feature converts them when it loads.)
 */
export type SessionRecord = [sid: string, json: string, expiresAt: number, lifetimeMs: number, deadlineAt: number | null, userId: string | null];

/** One of a user's sessions as listing returns it: [id, json, expires at (ms), last used at (ms)]. */
export type UserSession = [sid: string, json: string, expiresAt: number, lastUsedAt: number];

/** How many sessions the bounds have evicted so far, by the bound that did it. */
export interface Evictions {
  /** To stay within maxSessions. */
  count: number;
  /** To stay within maxTotalBytes. */
  bytes: number;
  /** A user's least recently used session, to stay within maxSessionsPerUser. */
  perUser: number;
}

export interface Bounds {
  maxSessions: number;
  maxTotalBytes: number;
  maxSessionsPerUser: number;
}

/**
 * What the host needs of a table. Expiry follows `expiresAt` (ms since the epoch; null: `defaultTtlMs` from now),
 * to the millisecond. An expired session is never returned. Any string is an id. A session's lifetime is how far
 * each read rolls its expiry: `lifetimeMs` when a save or touch gives it (express-session's cookie.originalMaxAge),
 * else the time from then to `expiresAt`.
 */
export interface Sessions {
  /** Sessions held, expired ones not yet swept included. */
  readonly size: number;
  /**
   * A live session and its expiry. Reading is use: the expiry rolls forward by the session's lifetime (what
   * express-session's touch at the end of the request asks for, so the store can skip it), and the session
   * becomes the most recently used.
   */
  read(sid: string): StoredSession | undefined;
  /**
   * Stores `json`, belonging to `userId` (null: no user), creating the session or replacing it; an `expiresAt`
   * already past removes the session instead (a logout in all but name). For a new session.
   */
  set(sid: string, json: string, expiresAt: number | null, userId?: string | null, lifetimeMs?: number | null): void;
  /**
   * As set, but only while the session is live: a session that ended (destroyed, revoked, expired, evicted) is
   * never re-created by a save of a request that loaded it earlier. Returns false, storing nothing, when it ended.
   */
  update(sid: string, json: string, expiresAt: number | null, userId?: string | null, lifetimeMs?: number | null): boolean;
  /** Moves a live session's expiry without rewriting its data; an unknown id creates nothing. */
  touch(sid: string, expiresAt: number | null, lifetimeMs?: number | null): void;
  destroy(sid: string): void;
  /** Whether a live session has this id; not a use (nothing rolls). */
  has(sid: string): boolean;
  /**
   * A walk of the table that the host runs in slices, a few hundred sessions at a time with the event loop free in
   * between (sweeps, snapshots, listing and counting all sessions): see SessionWalk for what it promises while
   * the table changes under it.
   */
  walk(options?: { ended?: boolean }): SessionWalk;
  clear(): void;
  /**
   * A whole walk as it goes, for tests and tools (the host walks in slices instead): every live session, those
   * without a user least recently used first, then those with one, likewise (see walkRecords()).
   */
  entries(): Iterable<[sid: string, json: string, expiresAt: number]>;
  /** In one go, for tests and tools: live sessions, after a sweep. */
  length(): number;
  /** In one go, for tests and tools: drops every expired session; returns how many went. */
  sweep(): number;
  /**
   * Only the snapshots feature needs this: a table without it runs everything else, and `snapshots()` refuses it
   * at setup. Puts back a record as a walk visits it; false (and nothing stored) when it is malformed. An expired
   * one is skipped.
   */
  restore?(record: unknown): boolean;
  /** Users with at least one session held. */
  readonly users: number;
  /** Bytes the sessions are counted as (see maxTotalBytes). */
  readonly bytes: number;
  /** Sessions the bounds evicted since the table was made. */
  readonly evictions: Readonly<Evictions>;
  /** The bounds it keeps to. */
  readonly bounds: Readonly<Bounds>;
  /**
   * A user's live sessions, most recently used first, at most `limit`; costs in proportion to `limit`, not to the
   * user's sessions. Listing is not use: nothing rolls.
   */
  userSessions(userId: string, limit: number): UserSession[];
  /** Ends every session of `userId` but `except`; returns how many live ones ended. */
  destroyUser(userId: string, except: string | null): number;
}

/**
 * A walk of the sessions a table held when the walk began, each visited at most once, in slices of the caller's
 * choosing. What it promises while the table keeps serving between two steps:
 * - a session is visited with its state at that step (a save in between is seen), if it is still held and live;
 * - a session created after the walk began is not visited (a session ended and created again under the same id
 *   is a new one), so nothing is visited twice;
 * - an expired session the walk meets is removed (so a walk is also a sweep);
 * - with `{ ended: true }`, `ended` lists the ids of visited sessions that have ended since they were visited
 *   (destroyed, expired, evicted): what a snapshot appends so that loading it does not bring them back.
 */
export interface SessionWalk {
  /** Visits up to `max` more sessions (`visit` is given the live ones); false once every one has been visited. */
  step(max: number, visit?: (record: SessionRecord) => void): boolean;
  readonly ended: readonly string[];
  /** Ends the walk early: an unfinished walk costs the table something (see the table's notes). */
  close(): void;
}

/** A whole walk, a session at a time (what `entries()` gives, as records): closed however the caller stops. */
export function* walkRecords(walk: SessionWalk): Generator<SessionRecord> {
  try {
    for (let more = true; more; ) {
      let found: SessionRecord | undefined;
      more = walk.step(1, (record) => (found = record));
      if (found !== undefined) yield found;
    }
  } finally {
    walk.close();
  }
}

export interface TableOptions {
  /** Most sessions held at once; beyond it sessions are evicted (see `Sessions`: those without a user first). @default 100_000 */
  maxSessions?: number | undefined;
  /**
   * Most bytes the sessions may take in the primary's heap, counted as 2 bytes a character of id and JSON (what
   * a string of non-Latin-1 text takes in V8; plain ASCII takes half) plus `bytesPerSession` each. Beyond it
   * sessions are evicted as for maxSessions. @default a quarter of the primary's heap limit (v8.getHeapStatistics())
   */
  maxTotalBytes?: number | undefined;
  /** Most sessions one user holds; a save beyond it ends that user's least recently used session. @default 100 */
  maxSessionsPerUser?: number | undefined;
  /** Lifetime of a session whose cookie has no expiry (a browser-session cookie), in ms. @default 86_400_000 */
  defaultTtlMs?: number | undefined;
  /**
   * Absolute lifetime, in ms: a session is gone this long after it was first saved, however often it is used
   * (OWASP's absolute timeout, beside the idle one). 0: none. @default 0
   */
  absoluteTimeoutMs?: number | undefined;
}

/** What a session costs beyond its id and JSON, as the byte bound counts it: the table's slots, the Map entry, two string headers. */
export const bytesPerSession = 128;

/** Most sessions one user may be allowed (maxSessionsPerUser): a listing can then show all of them. */
export const maxPerUserLimit = 1000;

const tableDefaults = { maxSessions: 100_000, maxSessionsPerUser: 100, defaultTtlMs: 86_400_000, absoluteTimeoutMs: 0 } as const;

export const tableRules = {
  maxSessions: integer(1),
  maxTotalBytes: integer(1),
  maxSessionsPerUser: integer(1, maxPerUserLimit),
  defaultTtlMs: integer(1),
  absoluteTimeoutMs: integer(0),
};

/** A table's options once checked, every one set. */
export interface TableSettings extends Bounds {
  defaultTtlMs: number;
  absoluteTimeoutMs: number;
}

/** The options of a built-in table, checked (a TypeError names a bad one), with the defaults filled in. */
export function tableOptions(owner: string, options: TableOptions = {}): TableSettings {
  checkOptions(owner, options, tableRules);
  return {
    maxSessions: options.maxSessions ?? tableDefaults.maxSessions,
    maxTotalBytes: options.maxTotalBytes ?? defaultMaxTotalBytes(),
    maxSessionsPerUser: options.maxSessionsPerUser ?? tableDefaults.maxSessionsPerUser,
    defaultTtlMs: options.defaultTtlMs ?? tableDefaults.defaultTtlMs,
    absoluteTimeoutMs: options.absoluteTimeoutMs ?? tableDefaults.absoluteTimeoutMs,
  };
}

/**
 * A quarter of the heap this process may grow to. The limit V8 reports includes the young generation, which
 * sessions never live in and which is large beside a small old generation (Node 26 reserves 96 MiB for it: with
 * --max-old-space-size=32 the limit is 128 MiB, of which sessions can have at most 32), and the counting is for
 * the worst case (text outside Latin-1, 2 bytes a character). A half was measured too much: a primary with a 32 MiB
 * old generation died of its heap at a bound of half its 128 MiB limit under a flood of 16 KB sessions. At a
 * quarter, the rest stays for what else the primary holds (IPC buffers, a snapshot being written, the rate-limit
 * counters, the garbage between two collections).
 */
export function defaultMaxTotalBytes(): number {
  return Math.floor(getHeapStatistics().heap_size_limit / 4);
}

/** What the byte bound counts a session as. */
export function costOf(sid: string, json: string): number {
  return 2 * (sid.length + json.length) + bytesPerSession;
}

/** The latest time a JavaScript Date can hold: expiry is kept within it. */
export const maxTime = 8.64e15;

/**
 * A save's expiry and lifetime, in ms: the cookie's expiry (none: `defaultTtlMs` from now) and how far each read
 * rolls it (the cookie's own maxAge when the store was told it, else the time from now to the expiry).
 */
export function expiryOf(expiresAt: number | null, lifetimeMs: number | null | undefined, now: number, defaultTtlMs: number): [expiresAt: number, lifetimeMs: number] {
  if (expiresAt === null) return [Math.min(now + defaultTtlMs, maxTime), defaultTtlMs];
  const lifetime = lifetimeMs != null && lifetimeMs > 0 ? lifetimeMs : expiresAt - now;
  return [Math.min(expiresAt, maxTime), Math.max(1, Math.round(lifetime))];
}

/** A well-formed record (times in ms), with its user (null for a record written before users were indexed); else undefined. */
export function parseRecord(value: unknown): SessionRecord | undefined {
  if (!Array.isArray(value) || (value.length !== 5 && value.length !== 6)) return undefined;
  const [sid, json, expiresAt, lifetime, deadlineAt, userId = null] = value as unknown[];
  const time = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 1 && (n as number) <= maxTime;
  const wellFormed = typeof sid === 'string' && typeof json === 'string' && time(expiresAt) && time(lifetime) && (deadlineAt === null || time(deadlineAt));
  if (!wellFormed || (userId !== null && typeof userId !== 'string')) return undefined;
  return [sid, json, expiresAt as number, lifetime as number, deadlineAt as number | null, userId];
}
