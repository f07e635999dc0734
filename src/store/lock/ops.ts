// The session lock's ops and its feature: `sessionLocks` goes into ClusterStore.setup({ features }) in the
// primary, where the lock table lives; the worker's middleware (middleware.ts) calls these ops.
import type { Feature, StoreHost } from '../primary/host.js';
import type { StoredSession } from '../primary/sessions.js';
import { badRequest } from '../shared/errors.js';
import { defineOp, LATER, type AnyOp } from '../shared/ops.js';
import { LockTable, type LockStats } from './lock-table.js';

/** Longest lock key (a session cookie's value): a signed 32-character id takes about 80. */
export const maxLockKeyLength = 1024;

/** Longest wait or hold of a session lock, in ms: one hour. */
export const maxLockMs = 3_600_000;

/**
 * Takes the lock of `key`, waiting behind earlier holders. The grant carries the session `sid` as a get would
 * read it at that moment, so the request's get is answered in the same round trip: nobody else of this session
 * can change it in between, they wait for the lock.
 */
export const lock = defineOp<
  [key: string, waitMs: number, holdMs: number, maxWaiters: number, sid: string | null],
  [token: number, session: StoredSession | null],
  LockTable
>({
  name: 'lock',
  postable: false,
  read: true, // the grant carries the session: it must see this turn's writes like a get
  check(args) {
    const [key, waitMs, holdMs, maxWaiters, sid] = args;
    if (args.length !== 5 || !isKey(key)) throw badRequest(`lock: the key must be a non-empty string of at most ${maxLockKeyLength} characters`);
    if (!isCount(waitMs, maxLockMs) || !isCount(holdMs, maxLockMs) || !isCount(maxWaiters, 1_000_000)) {
      throw badRequest(`lock: waitMs and holdMs must be integers from 1 to ${maxLockMs}, maxWaiters from 1 to 1000000`);
    }
    if (sid !== null && typeof sid !== 'string') throw badRequest('lock: sid must be a string or null');
  },
  run(context, key, waitMs, holdMs, maxWaiters, sid) {
    const { sessions, handshake } = context;
    const read = sid !== null && sid.length <= handshake.limits.maxIdLength;
    const grant = (token: number): [number, StoredSession | null] => [token, read ? (sessions.read(sid) ?? null) : null];
    const answer = context.later();
    const token = context.state.acquire(key, { owner: context.owner, waitMs, holdMs, maxWaiters }, (error, granted) =>
      error ? answer(error) : answer(null, grant(granted!)),
    );
    return token === undefined ? LATER : grant(token);
  },
});

/** Releases a lock `lock` granted; a token that no longer holds it (hold time over) releases nothing. Postable. */
export const unlock = defineOp<[key: string, token: number], void, LockTable>({
  name: 'unlock',
  postable: true,
  read: false,
  check(args) {
    if (args.length !== 2 || !isKey(args[0])) throw badRequest(`unlock: the key must be a non-empty string of at most ${maxLockKeyLength} characters`);
    if (!isCount(args[1], Number.MAX_SAFE_INTEGER)) throw badRequest('unlock: the token must be a positive integer');
  },
  run: (context, key, token) => context.state.release(key, token),
});

/** The session lock, for ClusterStore.setup({ features: [sessionLocks] }). A dead worker's locks are let go. */
export const sessionLocks: Feature<LockTable> = {
  name: 'session-lock',
  ops: [lock, unlock] as readonly AnyOp[],
  attach(host) {
    const table = new LockTable();
    const onExit = (owner: number) => table.releaseOwner(owner);
    host.on('worker-exit', onExit);
    return { state: table, close: () => void host.off('worker-exit', onExit) };
  },
};

/** Locks held and waited for in `host`; undefined when the primary did not register sessionLocks. */
export function lockStats(host: StoreHost): LockStats | undefined {
  return host.state(sessionLocks)?.stats();
}

function isKey(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= maxLockKeyLength;
}

function isCount(value: unknown, max: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= max;
}
