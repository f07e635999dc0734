// The seam between the host and the sessions it holds, in the primary: the Sessions interface, the rules both
// tables follow, and the options of the built-in ones. Plug in another table (lru-cache, say) by implementing
// Sessions and passing it to ClusterStore.setup({ sessions }); run test/store/tables.test.ts against it.
import { checkOptions, integer } from '../shared/options.js';

/** A session as a read returns it (and as the host sends it): [json, expiresAt in ms, on a whole second]. */
export type StoredSession = [json: string, expiresAt: number];

/**
 * A session as a snapshot keeps it: [id, json, expires (s), lifetime (s), absolute deadline (s) or null, user id
 * or null]. Records of snapshots written before users were indexed have no sixth element: no user.
 */
export type SessionRecord = [sid: string, json: string, expiresS: number, lifetimeS: number, deadlineS: number | null, userId: string | null];

/** One of a user's sessions as listing returns it: [id, json, expires at (ms), last used at (ms)]. */
export type UserSession = [sid: string, json: string, expiresAt: number, lastUsedAt: number];

/**
 * What the host needs of a table. Expiry follows `expiresAt` (ms since the epoch; null: `defaultTtlMs` from now),
 * kept to the second and rounded up. An expired session is never returned. Any string is an id.
 */
export interface Sessions {
  /** Sessions held, expired ones not yet swept included. */
  readonly size: number;
  /**
   * A live session and its expiry. Reading is use: the expiry rolls forward by the lifetime the session was last
   * saved or touched with (what express-session's touch at the end of the request asks for, so the store can
   * skip it), and the session becomes the most recently used.
   */
  read(sid: string): StoredSession | undefined;
  /**
   * Stores `json`, belonging to `userId` (null: no user); an `expiresAt` already past removes the session instead
   * (a logout in all but name).
   */
  set(sid: string, json: string, expiresAt: number | null, userId?: string | null): void;
  /** Moves a live session's expiry without rewriting its data; an unknown id creates nothing. */
  touch(sid: string, expiresAt: number | null): void;
  destroy(sid: string): void;
  /**
   * Every live session, least recently used first. The host and the snapshots take a walk whole, at once (as
   * `Array.from` does); what a walk yields while sessions change during it is the table's own affair (the fast
   * table skips those removed meanwhile and yields no new ones; the plain one follows its Map, and a session
   * read during the walk comes again at its end).
   */
  entries(): Iterable<[sid: string, json: string, expiresAt: number]>;
  /** Live sessions: sweeps first. */
  length(): number;
  clear(): void;
  /** Drops every expired session; returns how many went. */
  sweep(): number;
  /** Every live session as a record (snapshots), least recently used first; walked as `entries()` is. */
  records(): Iterable<SessionRecord>;
  /** Puts back a record; false (and nothing stored) when it is malformed. An expired one is skipped. */
  restore(record: unknown): boolean;
  /** Users with at least one session held. */
  readonly users: number;
  /** A user's live sessions, most recently used first, at most `limit`. Listing is not use: nothing rolls. */
  userSessions(userId: string, limit: number): UserSession[];
  /** Ends every session of `userId` but `except`; returns how many live ones ended. */
  destroyUser(userId: string, except: string | null): number;
}

export interface TableOptions {
  /** Most sessions held at once; beyond it the least recently used are evicted. @default 100_000 */
  maxSessions?: number | undefined;
  /** Lifetime of a session whose cookie has no expiry (a browser-session cookie), in ms. @default 86_400_000 */
  defaultTtlMs?: number | undefined;
  /**
   * Absolute lifetime, in ms: a session is gone this long after it was first saved, however often it is used
   * (OWASP's absolute timeout, beside the idle one). 0: none. @default 0
   */
  absoluteTimeoutMs?: number | undefined;
}

const tableDefaults = { maxSessions: 100_000, defaultTtlMs: 86_400_000, absoluteTimeoutMs: 0 } as const;

export const tableRules = { maxSessions: integer(1), defaultTtlMs: integer(1), absoluteTimeoutMs: integer(0) };

/** A table's options once checked, every one set. */
export interface TableSettings {
  maxSessions: number;
  defaultTtlMs: number;
  absoluteTimeoutMs: number;
}

/** The options of a built-in table, checked (a TypeError names a bad one), with the defaults filled in. */
export function tableOptions(owner: string, options: TableOptions = {}): TableSettings {
  checkOptions(owner, options, tableRules);
  return {
    maxSessions: options.maxSessions ?? tableDefaults.maxSessions,
    defaultTtlMs: options.defaultTtlMs ?? tableDefaults.defaultTtlMs,
    absoluteTimeoutMs: options.absoluteTimeoutMs ?? tableDefaults.absoluteTimeoutMs,
  };
}

/** The last second a Uint32 holds (early 2106): the fast table's times, and so both tables' bound. */
export const maxSecond = 2 ** 32 - 1;

/** The second a millisecond time falls in, rounded up: a session never expires before its cookie does. */
export function toSeconds(ms: number): number {
  return Math.min(Math.ceil(ms / 1000), maxSecond);
}

/** How far each use moves the expiry, in s: the lifetime a save or touch asked for, at least a second. */
export function lifetimeOf(expiresAt: number, now: number): number {
  return Math.min(Math.max(1, Math.round((expiresAt - now) / 1000)), maxSecond);
}

/** A well-formed record, with its user (null for a record written before users were indexed); else undefined. */
export function parseRecord(value: unknown): SessionRecord | undefined {
  if (!Array.isArray(value) || (value.length !== 5 && value.length !== 6)) return undefined;
  const [sid, json, expiresS, lifetime, deadlineS, userId = null] = value as unknown[];
  const second = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 1 && (n as number) <= maxSecond;
  const wellFormed = typeof sid === 'string' && typeof json === 'string' && second(expiresS) && second(lifetime) && (deadlineS === null || second(deadlineS));
  if (!wellFormed || (userId !== null && typeof userId !== 'string')) return undefined;
  return [sid, json, expiresS as number, lifetime as number, deadlineS as number | null, userId];
}
