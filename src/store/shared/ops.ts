// Every store op, defined once: its arguments, its reply, whether a worker may post it without waiting for an
// answer, how both sides check it, and how the host runs it. Adding an op is one entry here (or in a feature's
// own ops file) plus the store method that calls it. Imported by both sides; only the host calls `run`.
import type { Sessions, StoredSession } from '../primary/sessions.js';
import { badRequest, ErrorCode, StoreError } from './errors.js';

/** What the host accepts; announced in the handshake, so workers check writes exactly as the host will. */
export interface Limits {
  /** Longest session id, in characters. */
  maxIdLength: number;
  /** Largest session, in bytes of JSON. */
  maxSessionBytes: number;
}

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
  check: (args, limits) => checkSid('get', args, 1, limits),
  run: ({ sessions }, sid) => sessions.read(sid) ?? null,
});

const set = defineOp<[sid: string, json: string, expiresAt: number | null], void>({
  name: 'set',
  postable: true,
  read: false,
  check(args, limits) {
    checkSid('set', args, 3, limits);
    if (typeof args[1] !== 'string') throw badRequest('set: the session must be a JSON string');
    checkExpiry(args[2], 'set');
    checkSessionSize(args[0] as string, args[1], limits.maxSessionBytes);
  },
  run: ({ sessions }, sid, json, expiresAt) => sessions.set(sid, json, expiresAt),
});

const touch = defineOp<[sid: string, expiresAt: number | null], void>({
  name: 'touch',
  postable: true,
  read: false,
  check(args, limits) {
    checkSid('touch', args, 2, limits);
    checkExpiry(args[1], 'touch');
  },
  run: ({ sessions }, sid, expiresAt) => sessions.touch(sid, expiresAt),
});

const destroy = defineOp<[sid: string], void>({
  name: 'destroy',
  postable: true,
  read: false,
  check: (args, limits) => checkSid('destroy', args, 1, limits),
  run: ({ sessions }, sid) => sessions.destroy(sid),
});

const all = defineOp<[], [sid: string, json: string][]>({
  name: 'all',
  postable: false,
  read: true,
  check: (args) => arity(args, 0, 'all takes no arguments'),
  run: ({ sessions }) => Array.from(sessions.entries(), ([sid, json]) => [sid, json]),
});

const length = defineOp<[], number>({
  name: 'length',
  postable: false,
  read: true,
  check: (args) => arity(args, 0, 'length takes no arguments'),
  run: ({ sessions }) => sessions.length(),
});

const clear = defineOp<[], void>({
  name: 'clear',
  postable: false,
  read: false,
  check: (args) => arity(args, 0, 'clear takes no arguments'),
  run: ({ sessions }) => sessions.clear(),
});

/** The ops every host runs. */
export const ops = { hello, get, set, touch, destroy, all, length, clear };

export const coreOps: readonly AnyOp[] = Object.values(ops);

/** Throws ERR_SESSION_TOO_LARGE when `json` is over `maxSessionBytes` bytes of UTF-8. */
function checkSessionSize(sid: string, json: string, maxSessionBytes: number): void {
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

function checkExpiry(value: unknown, op: string): void {
  if (value !== null && !(typeof value === 'number' && Number.isFinite(value))) throw badRequest(`${op}: expiresAt must be a finite number or null`);
}
