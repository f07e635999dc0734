// StoreHost.handle: the dispatch of one batch, with well-formed and malformed requests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StoreHost } from '../../src/store/host.js';
import { ErrorCode } from '../../src/store/protocol.js';

const future = () => Date.now() + 60_000;

test('handle: answers each request of a batch in order, by id', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const host = new StoreHost();
  const replies = host.handle([
    [1, 'set', 'a', '{"n":1}', Date.now() + 60_000],
    [2, 'get', 'a'],
    [3, 'length'],
    [4, 'destroy', 'a'],
    [5, 'get', 'a'],
    [6, 'ping'],
  ]);
  assert.deepEqual(replies, [
    [1, null, undefined],
    [2, null, ['{"n":1}', Date.now() + 60_000]],
    [3, null, 1],
    [4, null, undefined],
    [5, null, null],
    [6, null, 'pong'],
  ]);
});

test('handle: a malformed request gets an error reply and the rest of the batch is served', () => {
  const host = new StoreHost({ maxIdLength: 64 });
  const malformed: unknown[] = [
    [1, 'get'],
    [2, 'get', 42],
    [3, 'get', 'x'.repeat(65)],
    [4, 'set', 'a', { not: 'a string' }, null],
    [5, 'set', 'a', '{}', 'tomorrow'],
    [6, 'touch', 'a', Infinity],
    [7, 'constructor', 'a'],
    [8, '__proto__'],
    [9, 'all', 'extra'],
    [12, 'lock', '', 1000, 1000, 1, null],
    [13, 'lock', 'k'.repeat(1025), 1000, 1000, 1, null],
    [14, 'lock', 'k', 0, 1000, 1, null],
    [15, 'lock', 'k', 1000, 3_600_001, 1, null],
    [16, 'lock', 'k', 1000, 1000, 1.5, null],
    [17, 'lock', 'k', 1000, 1000, 1, 'x'.repeat(65)],
    [18, 'lock', 'k', 1000, 1000, 1],
    [19, 'unlock', 'k', -1],
  ];
  const replies = host.handle([...malformed, [10, 'set', 'ok', '{}', future()], [11, 'get', 'ok']]);
  assert.equal(replies.length, malformed.length + 2);
  for (const [id, error] of replies.slice(0, malformed.length)) {
    assert.equal(error?.code, ErrorCode.badRequest, `request ${id} is refused`);
    assert.match(error.message, /^malformed store request: /);
  }
  assert.deepEqual(replies.slice(malformed.length, malformed.length + 1), [[10, null, undefined]]);
  assert.equal((replies.at(-1)?.[2] as [string, number])[0], '{}');
  assert.equal(host.table.size, 1, 'no malformed request stored anything');
  assert.equal(host.locks.stats().locked, 0, 'nor locked anything');
});

test('handle: a request without a usable id is dropped, there is no one to answer', () => {
  const host = new StoreHost();
  const replies = host.handle([null, 'get', {}, ['1', 'get', 'a'], [1.5, 'ping'], [[], 'ping'], [7, 'ping']]);
  assert.deepEqual(replies, [[7, null, 'pong']]);
});

test('handle: an oversize session is answered ERR_SESSION_TOO_LARGE and other requests succeed', () => {
  const host = new StoreHost({ maxSessionBytes: 256 });
  const replies = host.handle([
    [1, 'set', 'big', JSON.stringify({ v: 'x'.repeat(300) }), future()],
    [2, 'set', 'small', '{}', future()],
  ]);
  assert.equal(replies[0]?.[1]?.code, ErrorCode.tooLarge);
  assert.deepEqual(replies[1], [2, null, undefined]);
});

test('handle: posted writes (id 0) apply without a reply; a refused one is counted and emitted as rejected', () => {
  const host = new StoreHost({ maxSessionBytes: 256 });
  const rejected: Error[] = [];
  host.on('rejected', (error: Error) => rejected.push(error));
  const replies = host.handle([
    [0, 'set', 'a', '{"n":1}', future()],
    [0, 'set', 'big', JSON.stringify({ v: 'x'.repeat(300) }), future()],
    [0, 'get', 'a'],
    [1, 'get', 'a'],
  ]);
  assert.equal(replies.length, 1, 'only the answered request gets a reply');
  assert.equal((replies[0]?.[2] as [string])[0], '{"n":1}');
  assert.deepEqual(
    rejected.map((error) => (error as Error & { code: string }).code),
    [ErrorCode.tooLarge, ErrorCode.badRequest],
  );
  assert.match(rejected[1]!.message, /only set, touch, destroy and unlock can be posted/);
  assert.equal(host.stats().rejected, 2);
});

test('accept: posted writes apply at once, reads are answered at the end of the turn, after later messages of that turn', async () => {
  const host = new StoreHost();
  let answered: unknown;
  host.accept([[1, 'get', 'late']], (replies) => (answered = replies));
  host.accept([[0, 'set', 'late', '{"v":2}', future()]], () => assert.fail('posted writes get no reply'));
  await Promise.resolve();
  assert.equal(answered, undefined, 'not answered while the messages of this turn are still being read');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal((answered as unknown as [[number, null, [string, number]]])[0][2][0], '{"v":2}', 'the write read after it in the same turn is seen');
});
