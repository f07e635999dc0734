// LockTable on its own, with node:test's mock timers: FIFO hand-over, stale tokens, hold and wait timeouts,
// the death of an owner.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LockTable, type LockRequest } from '../../src/store/lock/lock-table.js';
import { LockErrorCode, type StoreError } from '../../src/store/index.js';

const by = (owner: number, overrides: Partial<LockRequest> = {}): LockRequest => ({ owner, waitMs: 1000, holdMs: 5000, maxWaiters: 10, ...overrides });

/** Queues a request and records what it is told under `name`. */
function waiter(log: string[], name: string) {
  return (error: StoreError | null, token?: number) => log.push(error ? `${name}: ${error.code}` : `${name}: token ${token}`);
}

test('locks: a free key is granted at once; the waiters get it one at a time, in arrival order', () => {
  const locks = new LockTable();
  const log: string[] = [];
  const first = locks.acquire('k', by(1), waiter(log, 'never'))!;
  assert.equal(typeof first, 'number');
  for (const name of ['a', 'b', 'c']) assert.equal(locks.acquire('k', by(2), waiter(log, name)), undefined);
  assert.equal(locks.acquire('other', by(2), waiter(log, 'never')) !== undefined, true, 'another key is free');
  assert.deepEqual(locks.stats(), { locked: 2, waiting: 3, expired: 0, refused: 0 });
  locks.release('k', first);
  assert.deepEqual(log, [`a: token ${first + 2}`]);
  locks.release('k', first + 2);
  locks.release('k', first + 3);
  locks.release('k', first + 4);
  assert.deepEqual(log, [`a: token ${first + 2}`, `b: token ${first + 3}`, `c: token ${first + 4}`]);
  assert.deepEqual(locks.stats(), { locked: 1, waiting: 0, expired: 0, refused: 0 });
});

test('locks: a release with a token that no longer holds the lock releases nothing', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const locks = new LockTable();
  const log: string[] = [];
  const stale = locks.acquire('k', by(1, { holdMs: 100 }), waiter(log, 'x'))!;
  locks.acquire('k', by(2), waiter(log, 'next'));
  t.mock.timers.tick(100);
  assert.deepEqual(log, [`next: token ${stale + 1}`], 'the hold ran out: the next one has it');
  locks.acquire('k', by(3), waiter(log, 'third'));
  locks.release('k', stale);
  assert.deepEqual(log, [`next: token ${stale + 1}`], "the first holder's late release did not free the next holder's lock");
  assert.equal(locks.stats().expired, 1);
});

test('locks: a waiter gives up after waitMs; the queue holds at most maxWaiters', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const locks = new LockTable();
  const log: string[] = [];
  const token = locks.acquire('k', by(1), waiter(log, 'x'))!;
  locks.acquire('k', by(2, { waitMs: 50, maxWaiters: 2 }), waiter(log, 'a'));
  locks.acquire('k', by(2, { waitMs: 500, maxWaiters: 2 }), waiter(log, 'b'));
  assert.throws(() => locks.acquire('k', by(2, { maxWaiters: 2 }), waiter(log, 'c')), { code: LockErrorCode.queueFull, statusCode: 429 });
  t.mock.timers.tick(50);
  assert.deepEqual(log, [`a: ${LockErrorCode.waitTimeout}`]);
  locks.release('k', token);
  assert.deepEqual(log, [`a: ${LockErrorCode.waitTimeout}`, `b: token ${token + 1}`], 'the one that gave up is skipped');
  assert.deepEqual(locks.stats(), { locked: 1, waiting: 0, expired: 0, refused: 2 });
});

test('locks: an owner that dies releases what it holds and leaves every queue it waited in', () => {
  const locks = new LockTable();
  const log: string[] = [];
  const held = locks.acquire('k', by(1), waiter(log, 'x'))!;
  locks.acquire('k', by(1), waiter(log, 'dead waiter'));
  locks.acquire('k', by(2), waiter(log, 'alive'));
  locks.acquire('j', by(2), waiter(log, 'x'));
  locks.acquire('j', by(1), waiter(log, 'dead waiter'));
  locks.releaseOwner(1);
  assert.deepEqual(log, [`alive: token ${held + 2}`], 'owner 2 got k; nobody is told about the dead waiters');
  assert.deepEqual(locks.stats(), { locked: 2, waiting: 0, expired: 0, refused: 0 });
});
