// StoreHost: options, the handshake, the dispatch of one batch with well-formed and malformed requests, the sweep.
import assert from 'node:assert/strict';
import { until } from '../helpers/poll.js';
import type { Cluster } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { ErrorCode, PlainTable, sessionLocks } from '../../src/store/index.js';
import { StoreHost } from '../../src/store/primary/host.js';
import { PROTOCOL } from '../../src/store/shared/wire.js';

const future = () => Date.now() + 60_000;

test('handle: answers each request of a batch in order, by id', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const host = new StoreHost();
  const replies = host.handle([
    [1, 'set', 'a', '{"n":1}', Date.now() + 60_000, null, null],
    [2, 'get', 'a'],
    [4, 'destroy', 'a'],
    [5, 'get', 'a'],
    [6, 'clear'],
  ]);
  assert.deepEqual(replies, [
    [1, null, undefined],
    [2, null, ['{"n":1}', Date.now() + 60_000]],
    [4, null, undefined],
    [5, null, null],
    [6, null, undefined],
  ]);
});

test('handle: a malformed request gets an error reply and the rest of the batch is served', () => {
  const host = new StoreHost({ maxIdLength: 64 });
  const malformed: unknown[] = [
    [1, 'get'],
    [2, 'get', 42],
    [3, 'get', 'x'.repeat(65)],
    [4, 'set', 'a', { not: 'a string' }, null, null, null],
    [5, 'set', 'a', '{}', 'tomorrow', null, null],
    [6, 'touch', 'a', Infinity, null],
    [7, 'constructor', 'a'],
    [8, '__proto__'],
    [9, 'all', 'extra'],
    [20, 'userSessions', 5, 10],
    [21, 'userSessions', 'u', 0],
    [22, 'userSessions', 'u', 1001],
    [23, 'destroyUser', 'u'],
    [24, 'set', 'a', '{}', null, 42, null],
    [25, 'destroyUser', 'u', 7],
    [12, 'lock', 'k', 1000, 1000, 1, null],
    [13, 'hello', 'extra'],
  ];
  const replies = host.handle([...malformed, [10, 'set', 'ok', '{}', future(), null, null], [11, 'get', 'ok']]);
  assert.equal(replies.length, malformed.length + 2);
  for (const [id, error] of replies.slice(0, malformed.length)) {
    assert.equal(error?.code, ErrorCode.badRequest, `request ${id} is refused`);
    assert.match(error.message, /^malformed store request: /);
  }
  assert.deepEqual(replies.slice(malformed.length, malformed.length + 1), [[10, null, undefined]]);
  assert.equal((replies.at(-1)?.[2] as [string, number])[0], '{}');
  assert.equal(host.sessions.size, 1, 'no malformed request stored anything');
  assert.match(replies[malformed.length - 2]![1]!.message, /does not run the op "lock".*features/, 'a feature op the primary did not register says how to');
});

test('handle: malformed lock requests are refused when the lock is registered, and lock nothing', () => {
  const host = new StoreHost({ maxIdLength: 64, features: [sessionLocks] });
  const malformed: unknown[] = [
    [1, 'lock', '', 1000, 1000, 1, null],
    [2, 'lock', 'k'.repeat(1025), 1000, 1000, 1, null],
    [3, 'lock', 'k', 0, 1000, 1, null],
    [4, 'lock', 'k', 1000, 3_600_001, 1, null],
    [5, 'lock', 'k', 1000, 1000, 1.5, null],
    [6, 'lock', 'k', 1000, 1000, 1, 42],
    [7, 'lock', 'k', 1000, 1000, 1],
    [8, 'unlock', 'k', -1],
  ];
  const replies = host.handle(malformed);
  assert.deepEqual(
    replies.map(([id, error]) => [id, error?.code]),
    malformed.map((_, i) => [i + 1, ErrorCode.badRequest]),
  );
  assert.equal(host.state(sessionLocks)?.stats().locked, 0);
});

test('handle: a request without a usable id is dropped, there is no one to answer', () => {
  const host = new StoreHost();
  const replies = host.handle([null, 'get', {}, ['1', 'get', 'a'], [1.5, 'get', 'a'], [[], 'get', 'a'], [7, 'get', 'a']]);
  assert.deepEqual(replies, [[7, null, null]]);
});

test('length and all: counted and gathered in slices, answered alone once the walk is done', async () => {
  const host = new StoreHost();
  for (let i = 0; i < 3000; i++) host.sessions.set(`s${i}`, `{"i":${i}}`, future());
  host.sessions.set('gone', '{}', Date.now() + 1);
  const later: unknown[] = [];
  const arrived = new Promise<void>((resolve) => {
    const replies = host.handle([[1, 'length'], [2, 'all']], (batch) => {
      later.push(...batch);
      if (later.length === 2) resolve();
    });
    assert.deepEqual(replies, [], 'nothing answered in the batch');
  });
  await arrived;
  const [[, , count], [, , all]] = later.sort((a, b) => (a as number[])[0]! - (b as number[])[0]!) as [[1, null, number], [2, null, [string, string, number][]]];
  assert.ok(count === 3000 || count === 3001, `length ${count}`);
  assert.equal(all.filter(([sid]) => sid.startsWith('s')).length, 3000);
  assert.equal(new Set(all.map(([sid]) => sid)).size, all.length, 'each once');
});

test('handle: an oversize session is answered ERR_SESSION_TOO_LARGE and other requests succeed', () => {
  const host = new StoreHost({ maxSessionBytes: 256 });
  const replies = host.handle([
    [1, 'set', 'big', JSON.stringify({ v: 'x'.repeat(300) }), future(), null, null],
    [2, 'set', 'small', '{}', future(), null, null],
  ]);
  assert.equal(replies[0]?.[1]?.code, ErrorCode.tooLarge);
  assert.deepEqual(replies[1], [2, null, undefined]);
});

test('handle: posted writes (id 0) apply without a reply; a refused one is counted and emitted as rejected', () => {
  const host = new StoreHost({ maxSessionBytes: 256 });
  const rejected: Error[] = [];
  host.on('rejected', (error: Error) => rejected.push(error));
  const replies = host.handle([
    [0, 'set', 'a', '{"n":1}', future(), null, null],
    [0, 'set', 'big', JSON.stringify({ v: 'x'.repeat(300) }), future(), null, null],
    [0, 'get', 'a'],
    [1, 'get', 'a'],
  ]);
  assert.equal(replies.length, 1, 'only the answered request gets a reply');
  assert.equal((replies[0]?.[2] as [string])[0], '{"n":1}');
  assert.deepEqual(
    rejected.map((error) => (error as Error & { code: string }).code),
    [ErrorCode.tooLarge, ErrorCode.badRequest],
  );
  assert.match(rejected[1]!.message, /get cannot be posted/);
  assert.equal(host.stats().rejected, 2);
});

test('handle: update saves a session that exists and refuses one that ended with ERR_SESSION_ENDED (401); it cannot be posted', () => {
  const host = new StoreHost();
  const replies = host.handle([
    [1, 'set', 'kept', '{"n":1}', future(), null, null],
    [2, 'update', 'kept', '{"n":2}', future(), 'alice', 60_000],
    [3, 'destroy', 'kept'],
    [4, 'update', 'kept', '{"n":3}', future(), 'alice', 60_000],
    [0, 'update', 'kept', '{"n":4}', future(), 'alice', 60_000],
  ]);
  assert.deepEqual(replies.slice(0, 3), [[1, null, undefined], [2, null, undefined], [3, null, undefined]]);
  assert.equal(replies[3]?.[1]?.code, ErrorCode.ended);
  assert.match(replies[3]?.[1]?.message ?? '', /ended \(signed out, revoked, expired or evicted\) while this request ran: it was not saved/);
  assert.equal(host.sessions.read('kept'), undefined, 'nothing re-created it');
  assert.equal(host.stats().rejected, 1, 'the posted update was refused: an update must be answered');
});

test('evicting: emitted once per bound, the first time the table evicts to stay within it; stats count every eviction', () => {
  const host = new StoreHost({ maxSessions: 2, maxSessionsPerUser: 1 });
  const told: unknown[] = [];
  host.on('evicting', (event: unknown) => told.push(event));
  for (let i = 0; i < 5; i++) host.handle([[0, 'set', `s${i}`, '{}', future(), null, null]]);
  host.handle([[0, 'set', 'u1', '{}', future(), 'alice', null], [0, 'set', 'u2', '{}', future(), 'alice', null]]);
  assert.equal(told.length, 1);
  assert.deepEqual(told[0], { bound: 'maxSessions', limit: 2, sessions: 2, bytes: host.sessions.bytes });
  assert.deepEqual([host.stats().evictedForCount, host.stats().evictedForBytes, host.stats().evictedForUser], [4, 0, 1]);
});

test('accept: posted writes apply at once, reads are answered at the end of the turn, after later messages of that turn', async () => {
  const host = new StoreHost();
  let answered: unknown;
  host.accept([[1, 'get', 'late']], (replies) => (answered = replies));
  host.accept([[0, 'set', 'late', '{"v":2}', future(), null, null]], () => assert.fail('posted writes get no reply'));
  await Promise.resolve();
  assert.equal(answered, undefined, 'not answered while the messages of this turn are still being read');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal((answered as unknown as [[number, null, [string, number]]])[0][2][0], '{"v":2}', 'the write read after it in the same turn is seen');
});

test('accept: writes run at once in the order sent, answered or posted: a clear then a posted set leaves the set', async () => {
  const host = new StoreHost();
  const answers: unknown[] = [];
  host.accept([[0, 'set', 'before', '{}', future(), null, null], [1, 'clear'], [0, 'set', 'after', '{}', future(), null, null], [2, 'get', 'after']], (replies) => answers.push(...replies));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual((answers as [number, unknown, unknown][]).map(([id, error, value]) => [id, error, (value as [string] | undefined)?.[0]]), [[1, null, undefined], [2, null, '{}']], 'the clear is answered; the read at the end of the turn sees the set after it');
  assert.equal(host.sessions.read('after')?.[0], '{}', 'the write sent after the clear survives it');
  assert.equal(host.sessions.read('before'), undefined, 'the write sent before the clear is cleared');
});

test('handshake: hello answers the protocol, the limits every store then checks against, and the ops it runs', () => {
  const plain = new StoreHost({ maxSessionBytes: 4096, maxIdLength: 100 });
  const [[, error, handshake]] = plain.handle([[1, 'hello']]) as [[number, null, { protocol: number; limits: object; ops: string[] }]];
  assert.equal(error, null);
  assert.deepEqual(handshake, {
    protocol: PROTOCOL,
    limits: { maxIdLength: 100, maxSessionBytes: 4096, maxUserIdLength: 256 },
    ops: ['hello', 'get', 'set', 'update', 'touch', 'destroy', 'all', 'length', 'clear', 'userSessions', 'destroyUser'],
  });
  const locking = new StoreHost({ features: [sessionLocks] });
  const [[, , withLock]] = locking.handle([[1, 'hello']]) as [[number, null, { ops: string[] }]];
  assert.deepEqual(withLock.ops.slice(-2), ['lock', 'unlock'], "a registered feature's ops are announced");
});

test('options: an unknown name or a bad value throws a TypeError naming it; old names say where they went', () => {
  const refused: [unknown, RegExp][] = [
    [{ ttl: 60 }, /`ttl` is not an option \(`defaultTtlMs`, in ms/],
    [{ snapshotFile: 'x' }, /`snapshotFile` is not an option \(snapshots moved to a feature of their own: `features: \[snapshots\(\{ file \}\)\]`/],
    [{ maxSessions: '10' }, /`maxSessions` must be an integer >= 1, got "10"/],
    [{ maxSessionBytes: 10 }, /`maxSessionBytes` must be an integer >= 64, got 10/],
    [{ features: [{}] }, /`features` must be an array of features/],
    [{ sessions: {} }, /`sessions` must be a Sessions table/],
    [{ sessions: { read() {}, set() {}, touch() {}, destroy() {} } }, /`sessions` must be a Sessions table \(see primary\/sessions.ts: the methods read, set, update, /],
    [{ sessions: new PlainTable(), maxSessions: 5 }, /with `sessions` \(a table of your own\), set maxSessions, maxTotalBytes, maxSessionsPerUser, defaultTtlMs, absoluteTimeoutMs on that table/],
    [{ maxTotalBytes: 100_000 }, /`maxTotalBytes` \(100000\) must hold at least 4 of the largest sessions \(maxSessionBytes 16384, counted as 33408 bytes each\)/],
    [{ maxSessionsPerUser: 0 }, /`maxSessionsPerUser` must be an integer from 1 to 1000, got 0/],
  ];
  for (const [options, message] of refused) {
    assert.throws(() => new StoreHost(options as never), { name: 'TypeError', message }, JSON.stringify(options));
  }
});

test('sweep: once attached, the host removes expired sessions every sweepIntervalMs', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_000_000 });
  const host = new StoreHost({ sweepIntervalMs: 60_000 });
  host.handle([
    [0, 'set', 'short', '{}', Date.now() + 10_000, null, null],
    [0, 'set', 'long', '{}', Date.now() + 600_000, null, null],
  ]);
  host.attach(new EventEmitter() as unknown as Cluster);
  t.after(() => host.close());
  t.mock.timers.tick(59_999);
  assert.equal(host.sessions.size, 2, 'nothing swept before the interval');
  t.mock.timers.tick(1);
  assert.equal(host.sessions.size, 1);
});

/** Counts the turns of the event loop until `work` settles: a chain of setImmediate callbacks, one a turn. */
async function turnsDuring<T>(work: Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let done = false;
  const tick = () => {
    if (done) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  const value = await work;
  done = true;
  return { value, turns };
}

test('sweep: 100,000 expired sessions go in slices; reads from the workers are answered between them, never with an expired session', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const host = new StoreHost({ maxSessions: 1_000_000 });
  for (let i = 0; i < 100_000; i++) host.sessions.set(`old${i}`, '{}', Date.now() + 1000);
  host.sessions.set('live', '{"v":1}', Date.now() + 60_000);
  t.mock.timers.tick(1000);
  const answers: unknown[] = [];
  const sweeping = host.sweep();
  host.accept([[1, 'get', 'live'], [2, 'get', 'never']], (replies) => answers.push(...replies));
  let answeredBeforeItEnded = 0;
  void sweeping.then(() => (answeredBeforeItEnded = answers.length));
  const { value: swept, turns } = await turnsDuring(sweeping);
  assert.equal(answeredBeforeItEnded, 2, 'both reads were answered before the sweep was done');
  assert.deepEqual(swept.removed, 100_000);
  assert.ok(swept.turns > 1 && turns > 1, `the sweep took ${swept.turns} turns of its own; ${turns} turns of the event loop ran meanwhile`);
  assert.deepEqual(answers, [[1, null, ['{"v":1}', Date.now() + 60_000]], [2, null, null]], 'answered during the sweep');
  assert.equal(host.sessions.size, 1);
});

test('fill: while a feature fills the table, a read of a session not there yet waits and gets it; new sessions and ended ones are not overwritten', async () => {
  const host = new StoreHost();
  const future = Date.now() + 60_000;
  host.sessions.set('early', '{"from":"file"}', future);
  let finish!: () => void;
  const filled = host.fill(async (filling) => {
    await new Promise<void>((resolve) => (finish = resolve));
    // What a snapshot would restore: the table holds `fresh` (saved since) and `gone` ended: both skipped.
    for (const [sid, json] of [['late', '{"from":"file"}'], ['fresh', '{"from":"file"}'], ['gone', '{"from":"file"}']] as const) {
      if (!host.sessions.has(sid) && !filling.ended(sid)) host.sessions.restore!([sid, json, future, 60_000, null, null]);
    }
  });
  const answers: unknown[] = [];
  // Each answer as [id, error, its JSON or value]: a read rolls the expiry, which is not the point here.
  const send = (replies: unknown[]) => answers.push(...(replies as [number, unknown, unknown][]).map(([id, error, value]) => [id, error, Array.isArray(value) ? (value as unknown[])[0] : value]));
  host.accept([[0, 'set', 'fresh', '{"from":"worker"}', future, null, null], [0, 'destroy', 'gone'], [1, 'get', 'early'], [2, 'get', 'late'], [3, 'length']], send);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(answers, [[1, null, '{"from":"file"}']], 'a session the table holds is answered at once; the others wait');
  finish();
  await filled;
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(answers.slice(1, 2), [[2, null, '{"from":"file"}']], 'the waiting read gets the session once it is there: never "none" before');
  await until(() => answers.length === 3, 'the count');
  assert.deepEqual(answers.slice(2), [[3, null, 3]], 'counted once filled: early, late, fresh');
  assert.equal(host.sessions.read('fresh')?.[0], '{"from":"worker"}', 'the save during the filling is kept');
  assert.equal(host.sessions.read('gone'), undefined, 'the session ended during the filling is not brought back');
});
