// Ops through the harness (harness.ts): an op of the test's own, defined as a team adds one (shared/ops.ts's
// defineOp: arguments, reply, checks, how the host runs it), then built-in ops, each test on a host of its own with
// a real ClusterStore in front of it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SessionData } from 'express-session';
import { maxPerUserLimit } from '../primary/sessions.js';
import { badRequest, ErrorCode } from '../shared/errors.js';
import { defineOp, ops } from '../shared/ops.js';
import { session, withHost } from './harness.js';

/** The example op: how many live sessions a user has ("signed in on 3 devices"). */
const sessionCount = defineOp<[userId: string], number>({
  name: 'sessionCount',
  postable: false, // a read: its caller waits for the answer
  read: true, // answered at the end of the host's turn, after the writes it read in that turn
  whileFilling: 'all', // while a snapshot loads, it waits for the whole table
  check(args, limits) {
    if (args.length !== 1 || typeof args[0] !== 'string' || args[0].length > limits.maxUserIdLength) {
      throw badRequest(`sessionCount: takes one user id of at most ${limits.maxUserIdLength} characters (maxUserIdLength)`);
    }
  },
  // userSessions costs in proportion to its limit; a user holds at most maxSessionsPerUser (≤ 1000) sessions.
  run: ({ sessions }, userId) => sessions.userSessions(userId, maxPerUserLimit).length,
});

const field = (found: SessionData | null, name: string): unknown => (found as Record<string, unknown> | null)?.[name];

test('example op: counts the live sessions of a user, saved through any store; not those of others, nor the ended, expired or evicted', (t) =>
  withHost({ ops: [sessionCount], maxSessionsPerUser: 3 }, async ({ call, set, destroy, newStore }) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_700_000_000_000 });
    assert.equal(await call(sessionCount, ['alice']), 0);
    const otherWorker = newStore();
    await set('phone', session({ userId: 'alice' }));
    await set('laptop', session({ userId: 'alice' }), otherWorker);
    await set('brief', session({ userId: 'alice' }, 1000));
    await set('bob', session({ userId: 'bob' }));
    await set('anonymous', session());
    assert.equal(await call(sessionCount, ['alice']), 3);
    assert.equal(await call(sessionCount, ['bob'], otherWorker), 1, 'either store asks the same host');
    t.mock.timers.tick(1000);
    assert.equal(await call(sessionCount, ['alice']), 2, 'the brief one expired');
    await destroy('phone', otherWorker);
    assert.equal(await call(sessionCount, ['alice']), 1, 'destroyed');
    for (const sid of ['tablet', 'watch', 'tv']) await set(sid, session({ userId: 'alice' }));
    assert.equal(await call(sessionCount, ['alice']), 3, 'maxSessionsPerUser: the oldest went');
    assert.equal(await call(sessionCount, ['nobody']), 0);
  }));

test('example op: malformed arguments are refused by the store before they are sent, and by the host if sent anyway', () =>
  withHost({ ops: [sessionCount], maxUserIdLength: 8 }, async ({ host, call }) => {
    assert.equal(await call(sessionCount, ['x'.repeat(8)]), 0);
    const sent = host.stats().requests;
    await assert.rejects(call(sessionCount, ['x'.repeat(9)]), { code: ErrorCode.badRequest, message: /at most 8 characters \(maxUserIdLength\)/ });
    await assert.rejects(call(sessionCount, [42 as unknown as string]), { code: ErrorCode.badRequest });
    assert.equal(host.stats().requests, sent, 'the store checked with the limits of the handshake: nothing was sent');
    const replies = host.handle([
      [1, 'sessionCount', 42],
      [2, 'sessionCount'],
      [3, 'sessionCount', 'alice'],
    ]);
    assert.deepEqual(
      replies.map(([id, error, value]) => [id, error?.code ?? null, value]),
      [
        [1, ErrorCode.badRequest, undefined],
        [2, ErrorCode.badRequest, undefined],
        [3, null, 0],
      ],
    );
  }));

test('example op: a host that does not run it (its feature not registered) is refused in the store, which says how to fix it', () =>
  withHost({}, async ({ host, call }) => {
    const sent = host.stats().requests;
    await assert.rejects(call(sessionCount, ['alice']), { code: ErrorCode.misconfigured, message: /does not run `sessionCount`.*ClusterStore\.setup\(\{ features/ });
    assert.equal(host.stats().requests, sent, 'nothing was sent');
  }));

test('example op: a name a core op has is refused when the host is made', async () => {
  const shadow = defineOp<[sid: string], null>({ name: 'get', postable: false, read: true, check: () => {}, run: () => null });
  await assert.rejects(
    withHost({ ops: [shadow] }, () => assert.fail('no host is made')),
    { name: 'TypeError', message: /two ops are named "get"/ },
  );
});

test('built-in ops: a session loaded and saved is updated; loaded, then destroyed by another store, its save fails with ERR_SESSION_ENDED (401)', () =>
  withHost({}, async ({ get, set, destroy, newStore }) => {
    await set('s', session({ n: 1 }));
    const loaded = await get('s');
    assert.equal(field(loaded, 'n'), 1);
    (loaded as unknown as { n: number }).n = 2;
    await set('s', loaded!);
    const again = await get('s');
    assert.equal(field(again, 'n'), 2);
    await destroy('s', newStore());
    await assert.rejects(set('s', again!), { code: ErrorCode.ended, statusCode: 401 });
    assert.equal(await get('s'), null, 'the save did not bring it back');
  }));

test('built-in ops: userSessions, destroyUser, length and all, called by op', () =>
  withHost({}, async ({ call, set }) => {
    for (const sid of ['a1', 'a2', 'a3']) await set(sid, session({ userId: 'alice' }));
    await set('b1', session({ userId: 'bob' }));
    const listed = await call(ops.userSessions, ['alice', 2]);
    assert.deepEqual(
      listed.map(([sid]) => sid),
      ['a3', 'a2'],
      'most recently used first, at most the limit',
    );
    assert.equal(await call(ops.destroyUser, ['alice', 'a2']), 2);
    assert.equal(await call(ops.length, []), 2, 'answered later, counted in slices');
    const all = await call(ops.all, []);
    assert.deepEqual(all.map(([sid]) => sid).sort(), ['a2', 'b1']);
  }));

test('built-in ops: a session larger than maxSessionBytes fails its set in the store, before it is sent: ERR_SESSION_TOO_LARGE (413)', () =>
  withHost({ maxSessionBytes: 256 }, async ({ host, get, set }) => {
    const sent = host.stats().requests;
    await assert.rejects(set('big', session({ note: 'x'.repeat(300) })), { code: ErrorCode.tooLarge, statusCode: 413 });
    assert.equal(host.stats().requests, sent);
    await set('small', session({ note: 'x'.repeat(100) }));
    assert.equal(field(await get('small'), 'note'), 'x'.repeat(100));
  }));

test('harness: each withHost() has a fresh host, nothing carried over; two at once each talk to their own', async () => {
  const first = await withHost({}, async ({ host, set }) => {
    await set('kept?', session());
    assert.equal(host.sessions.size, 1);
    await withHost({}, async (other) => {
      assert.equal(await other.get('kept?'), null, 'the other host holds nothing of this one');
      await other.set('other', session());
    });
    assert.equal(host.sessions.has('other'), false);
    return host;
  });
  await withHost({}, async ({ host, get }) => {
    assert.notEqual(host, first);
    assert.equal(host.sessions.size, 0);
    assert.equal(await get('kept?'), null);
  });
});
