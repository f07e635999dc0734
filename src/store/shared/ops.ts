// Every store op, defined once: its arguments, its reply, whether a worker may post it without waiting for an
// answer, how both sides check it, and how the host runs it. Adding an op is one entry here (or in a feature's
// own ops file) plus the store method that calls it. Imported by both sides; only the host calls `run`.
import type { Sessions, StoredSession, UserSession } from '../primary/sessions.js';
import { inSlices, stepSessions } from '../primary/slices.js';
import { badRequest, ErrorCode, sessionEnded, StoreError } from './errors.js';

/** What the host accepts; announced in the handshake, so workers check writes exactly as the host will. */
export interface Limits {
  /** Longest session id, in characters. */
  maxIdLength: number;
  /** Largest session, in bytes of JSON. */
  maxSessionBytes: number;
  /** Longest user id (the session field the stores index by), in characters. */
  maxUserIdLength: number;
}

/** Most sessions one listing of a user's sessions returns. */
export const maxListedSessions = 1000;

/** The host's answer to a store's first contact. */
export interface Handshake {
  protocol: number;
  limits: Limits;
  /** The ops this host runs: a feature's ops only when the primary registered the feature. */
  ops: string[];
}

export interface OpContext<State = undefined> {
  readonly sessions: Sessions;
  /** The cluster id of the worker that asked (0: this process); a feature may release what a dead one held. */
  readonly owner: number;
  /** What the op's feature keeps in the host (the lock table); undefined for the core ops. */
  readonly state: State;
  readonly handshake: Handshake;
  /** For an op that answers later (a lock that must wait): `run` returns LATER and answers through this, once. */
  later(): (error: unknown, value?: unknown) => void;
}

/** What `run` returns when it will answer later through `context.later()`. */
export const LATER: unique symbol = Symbol('later');

export interface Op<Args extends unknown[] = never, Reply = unknown, State = undefined> {
  readonly name: string;
  /** May be sent without waiting for an answer: only writes whose refusal the worker can rule out beforehand. */
  readonly postable: boolean;
  /**
   * Reads sessions: the host answers it at the end of its event-loop turn, after every write it read in that turn
   * (see StoreHost.accept). Anything else runs the moment it arrives, in the order it was sent.
   */
  readonly read: boolean;
  /**
   * While a feature fills the table after the host started (a snapshot loading: StoreHost.filling): 'absent' waits
   * for it when the table does not hold the session named by the first argument yet; 'all' always waits (the op
   * concerns every session, or a user's); 'ends' runs at once and tells the filling that session ended, so it is
   * not restored. Unset: runs at once.
   */
  readonly whileFilling?: 'absent' | 'all' | 'ends';
  /** Throws a StoreError when `args` are malformed or over a limit. Run by the worker before sending, and by the host. */
  check(args: readonly unknown[], limits: Limits): void;
  run(context: OpContext<State>, ...args: Args): Reply | typeof LATER;
}

/** An op of any shape, as the host keeps them. */
export type AnyOp = Op<never, unknown, never>;

export function defineOp<Args extends unknown[], Reply, State = undefined>(op: Op<Args, Reply, State>): Op<Args, Reply, State> {
  return op;
}

const hello = defineOp<[], Handshake>({
  name: 'hello',
  postable: false,
  read: false,
  check: (args) => arity(args, 0, 'hello takes no arguments'),
  run: (context) => context.handshake,
});

const get = defineOp<[sid: string], StoredSession | null>({
  name: 'get',
  postable: false,
  read: true,
  whileFilling: 'absent',
  check: (args, limits) => checkSid('get', args, 1, limits),
  run: ({ sessions }, sid) => sessions.read(sid) ?? null,
});

/** What a save sends: the session, its expiry (null: none, the host's default lifetime), its user, its lifetime. */
export type SaveArgs = [sid: string, json: string, expiresAt: number | null, userId: string | null, lifetimeMs: number | null];

function checkSave(op: string, args: readonly unknown[], limits: Limits): void {
  checkSid(op, args, 5, limits);
  if (typeof args[1] !== 'string') throw badRequest(`${op}: the session must be a JSON string`);
  checkExpiry(args[2], op);
  checkUserId(args[3], limits, true);
  checkLifetime(args[4], op);
  checkSessionSize(args[0] as string, args[1], limits.maxSessionBytes);
}

/** Saves a new session (no cookie came with the request, or regenerate() made it): creates it, or replaces it. */
const set = defineOp<SaveArgs, void>({
  name: 'set',
  postable: true,
  read: false,
  check: (args, limits) => checkSave('set', args, limits),
  run: ({ sessions }, sid, json, expiresAt, userId, lifetimeMs) => sessions.set(sid, json, expiresAt, userId, lifetimeMs),
});

/**
 * Saves a session the request loaded from the store: only while it still exists. One that ended meanwhile (a
 * logout, a revoke, "sign out everywhere", expiry, eviction) stays ended: ERR_SESSION_ENDED (401). Answered, not
 * posted, so that refusal reaches the request that tried.
 */
const update = defineOp<SaveArgs, void>({
  name: 'update',
  postable: false,
  read: false,
  whileFilling: 'absent',
  check: (args, limits) => checkSave('update', args, limits),
  run({ sessions }, sid, json, expiresAt, userId, lifetimeMs) {
    if (!sessions.update(sid, json, expiresAt, userId, lifetimeMs)) throw sessionEnded(sid);
  },
});

/** Moves a live session's expiry (null: the host's default lifetime from now); an ended session stays ended. */
const touch = defineOp<[sid: string, expiresAt: number | null, lifetimeMs: number | null], void>({
  name: 'touch',
  postable: true,
  read: false,
  whileFilling: 'absent',
  check(args, limits) {
    checkSid('touch', args, 3, limits);
    checkExpiry(args[1], 'touch');
    checkLifetime(args[2], 'touch');
  },
  run: ({ sessions }, sid, expiresAt, lifetimeMs) => sessions.touch(sid, expiresAt, lifetimeMs),
});

const destroy = defineOp<[sid: string], void>({
  name: 'destroy',
  postable: true,
  read: false,
  whileFilling: 'ends',
  check: (args, limits) => checkSid('destroy', args, 1, limits),
  run: ({ sessions }, sid) => sessions.destroy(sid),
});

/**
 * Every live session with its expiry, as get reports it: gathered in slices (a walk: each session as it was when
 * reached), then sent in one answer (at a million sessions, hundreds of MB: a tool's op, not a request's).
 */
const all = defineOp<[], [sid: string, json: string, expiresAt: number][]>({
  name: 'all',
  postable: false,
  read: true,
  whileFilling: 'all',
  check: (args) => arity(args, 0, 'all takes no arguments'),
  run(context) {
    const found: [string, string, number][] = [];
    const walk = context.sessions.walk();
    const answer = context.later();
    inSlices(() => walk.step(stepSessions, ([sid, json, expiresAt]) => found.push([sid, json, expiresAt]))).then(() => answer(null, found), answer);
    return LATER;
  },
});

/** Live sessions, counted in slices (a walk, which sweeps what it meets). */
const length = defineOp<[], number>({
  name: 'length',
  postable: false,
  read: true,
  whileFilling: 'all',
  check: (args) => arity(args, 0, 'length takes no arguments'),
  run(context) {
    let count = 0;
    const walk = context.sessions.walk();
    const answer = context.later();
    inSlices(() => walk.step(stepSessions, () => count++)).then(() => answer(null, count), answer);
    return LATER;
  },
});

const clear = defineOp<[], void>({
  name: 'clear',
  postable: false,
  read: false,
  whileFilling: 'all',
  check: (args) => arity(args, 0, 'clear takes no arguments'),
  run: ({ sessions }) => sessions.clear(),
});

/** A user's sessions, most recently used first, at most `limit` (up to maxListedSessions). */
const userSessions = defineOp<[userId: string, limit: number], UserSession[]>({
  name: 'userSessions',
  postable: false,
  read: true,
  whileFilling: 'all',
  check(args, limits) {
    if (args.length !== 2) throw badRequest('userSessions: takes a user id and a limit');
    checkUserId(args[0], limits, false);
    if (!Number.isSafeInteger(args[1]) || (args[1] as number) < 1 || (args[1] as number) > maxListedSessions) {
      throw badRequest(`userSessions: the limit must be an integer from 1 to ${maxListedSessions}`);
    }
  },
  run: ({ sessions }, userId, limit) => sessions.userSessions(userId, limit),
});

/** Ends every session of a user but one (the current, say): returns how many ended. Answered, with the count. */
const destroyUser = defineOp<[userId: string, except: string | null], number>({
  name: 'destroyUser',
  postable: false,
  read: false,
  whileFilling: 'all',
  check(args, limits) {
    if (args.length !== 2) throw badRequest('destroyUser: takes a user id and the session id to keep (or null)');
    checkUserId(args[0], limits, false);
    if (args[1] !== null && (typeof args[1] !== 'string' || args[1].length > limits.maxIdLength)) throw badRequest('destroyUser: the session to keep must be a session id or null');
  },
  run: ({ sessions }, userId, except) => sessions.destroyUser(userId, except),
});

/** The ops every host runs. */
export const ops = { hello, get, set, update, touch, destroy, all, length, clear, userSessions, destroyUser };

export const coreOps: readonly AnyOp[] = Object.values(ops);

/** Throws ERR_SESSION_TOO_LARGE when `json` is over `maxSessionBytes` bytes of UTF-8. */
export function checkSessionSize(sid: string, json: string, maxSessionBytes: number): void {
  // A UTF-16 unit takes at most 3 bytes of UTF-8: count exactly only when it could matter.
  if (json.length * 3 <= maxSessionBytes) return;
  const bytes = Buffer.byteLength(json);
  if (bytes <= maxSessionBytes) return;
  throw new StoreError(
    ErrorCode.tooLarge,
    `session ${JSON.stringify(sid.slice(0, 8) + '…')} is ${bytes} bytes of JSON, over maxSessionBytes (${maxSessionBytes}); it was not saved`,
  );
}

function arity(args: readonly unknown[], count: number, why: string): void {
  if (args.length !== count) throw badRequest(why);
}

/** `args` has `count` entries and the first is a session id within the limits. */
export function checkSid(op: string, args: readonly unknown[], count: number, limits: Limits): void {
  const sid = args[0];
  if (args.length !== count || typeof sid !== 'string' || sid.length > limits.maxIdLength) {
    throw badRequest(`${op}: takes ${count} argument(s), the first a session id of at most ${limits.maxIdLength} characters (maxIdLength)`);
  }
}

/** A user id is a string of at most maxUserIdLength characters (or, where `orNull`, null: no user). */
export function checkUserId(value: unknown, limits: Limits, orNull: boolean): void {
  if (orNull && value === null) return;
  if (typeof value !== 'string') throw badRequest(`a user id must be a string${orNull ? ' or null' : ''}`);
  if (value.length > limits.maxUserIdLength) {
    throw new StoreError(ErrorCode.userIdTooLong, `user id of ${value.length} characters, over maxUserIdLength (${limits.maxUserIdLength}); the session was not saved`);
  }
}

/** A lifetime is the cookie's maxAge, a positive number of ms, or null (none: the host's default). */
function checkLifetime(value: unknown, op: string): void {
  if (value !== null && !(typeof value === 'number' && value > 0 && Number.isFinite(value))) throw badRequest(`${op}: lifetimeMs must be a positive number or null`);
}

function checkExpiry(value: unknown, op: string): void {
  if (value !== null && !(typeof value === 'number' && Number.isFinite(value))) throw badRequest(`${op}: expiresAt must be a finite number or null`);
}
