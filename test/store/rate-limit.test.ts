// The rate-limit feature's counters on node:test's mock clock, and through a host: fixed windows from the first
// hit, a hit taken back, a reset, the sweep, workers that disagree on the window refused, and the bounds filled
// on purpose by a flood of new keys (the count and the bytes hold, no client gains an attempt, room comes back).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, rateLimits, rateLimitStats, rateLimitsWith, type RateLimitsFull } from '../../src/store/index.js';
import { StoreHost } from '../../src/store/primary/host.js';
import { bytesPerCounter, Counters } from '../../src/store/rate-limit/counters.js';

const start = 1_700_000_000_000;

test('counters: a window starts at the first hit and lasts windowMs; then the count starts over', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: start });
  const counters = new Counters();
  assert.deepEqual(counters.hit('signin:', '1.2.3.4', 60_000), [1, start + 60_000]);
  t.mock.timers.tick(59_999);
  assert.deepEqual(counters.hit('signin:', '1.2.3.4', 60_000), [2, start + 60_000]);
  assert.deepEqual(counters.hit('signin:', '5.6.7.8', 60_000), [1, start + 119_999], 'another key, its own window');
  t.mock.timers.tick(1);
  assert.deepEqual(counters.hit('signin:', '1.2.3.4', 60_000), [1, start + 120_000]);
});

test('counters: unhit takes one back (never below 0); reset forgets the key; sweep drops ended windows', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: start });
  const counters = new Counters();
  counters.hit('signin:', 'a', 1000);
  counters.hit('signin:', 'a', 1000);
  counters.unhit('signin:', 'a');
  assert.equal(counters.hit('signin:', 'a', 1000)[0], 2);
  counters.reset('signin:', 'a');
  assert.equal(counters.hit('signin:', 'a', 1000)[0], 1);
  counters.unhit('signin:', 'b');
  counters.hit('requests:', 'a', 5000);
  t.mock.timers.tick(1000);
  assert.equal(counters.sweep(), 1, "the sign-in window ended, the other limiter's did not");
  assert.equal(counters.size, 1);
});

test('rate limits through a host: a worker counting in another window than the first is refused, naming both', () => {
  const host = new StoreHost({ features: [rateLimits] });
  const [[, , first]] = host.handle([[1, 'rateLimitHit', 'signin:', '1.2.3.4', 900_000]]) as [[number, null, [number, number]]];
  assert.equal(first[0], 1);
  const error = host.handle([[2, 'rateLimitHit', 'signin:', '1.2.3.4', 60_000]])[0]?.[1];
  assert.equal(error?.code, ErrorCode.badRequest);
  assert.match(error.message, /rate limiter "signin:": this worker counts in windows of 60000 ms, another in 900000 ms; give every worker the same windowMs/);
  const malformed = host.handle([[3, 'rateLimitHit', 'signin:', 'k'], [4, 'rateLimitHit', 'x'.repeat(101), 'k', 1000], [5, 'rateLimitReset', 'signin:']]);
  assert.deepEqual(malformed.map(([id, failure]) => [id, failure?.code]), [[3, ErrorCode.badRequest], [4, ErrorCode.badRequest], [5, ErrorCode.badRequest]]);
});

const limit = 5; // what express-rate-limit would allow: a hit answered with more is refused (429)

/** `count` new keys, `key0`, `key1`, …, each hit once in `prefix`; returns how many of them were allowed. */
function flood(counters: Counters, count: number, prefix = 'signin:', windowMs = 60_000, from = 0, keyLength = 0): number {
  let allowed = 0;
  for (let i = from; i < from + count; i++) {
    if (counters.hit(prefix, `key${i}`.padEnd(keyLength, '.'), windowMs)[0] <= limit) allowed++;
  }
  return allowed;
}

test('counters bound: a flood of new keys fills the table to maxCounters and no further', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: start });
  const counters = new Counters({ maxCounters: 1000 });
  flood(counters, 50_000);
  assert.equal(counters.size, 1000);
  assert.equal(counters.stats().bytes, 2 * (10 * 'key0'.length + 90 * 'key10'.length + 900 * 'key100'.length) + 1000 * bytesPerCounter);
});

test('counters bound: a flood of the longest keys stays within maxTotalBytes', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: start });
  const maxTotalBytes = 1_000_000;
  const counters = new Counters({ maxTotalBytes });
  flood(counters, 5000, 'signin:', 60_000, 0, 1024);
  const each = 2 * 1024 + bytesPerCounter;
  assert.equal(counters.size, Math.floor(maxTotalBytes / each));
  assert.equal(counters.stats().bytes, counters.size * each);
  assert.ok(counters.stats().bytes <= maxTotalBytes);
});

test('counters bound: a client counted before the table filled keeps its count while it is full (limit + 1, not 1)', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: start });
  const counters = new Counters({ maxCounters: 100 });
  for (let i = 0; i < limit; i++) counters.hit('signin:', 'alice', 60_000);
  flood(counters, 10_000);
  t.mock.timers.tick(59_999);
  flood(counters, 10_000, 'signin:', 60_000, 10_000);
  assert.deepEqual(counters.hit('signin:', 'alice', 60_000), [limit + 1, start + 60_000]);
});

test('counters bound: new clients of a full table share one count: a flood of new keys gets `limit` attempts in all, not each', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: start });
  const counters = new Counters({ maxCounters: 100 });
  flood(counters, 100);
  t.mock.timers.tick(1000);
  const allowed = flood(counters, 1000, 'signin:', 60_000, 100);
  assert.equal(allowed, limit);
  assert.deepEqual(counters.hit('signin:', 'mallory', 60_000), [1001, start + 61_000], "the shared count, its window from the latest hit");
  counters.unhit('signin:', 'mallory');
  counters.reset('signin:', 'mallory');
  assert.equal(counters.hit('signin:', 'mallory', 60_000)[0], 1002, 'a shared count gives nothing back to one of its clients');
  assert.equal(counters.stats().sharedHits, 1002);
  assert.deepEqual(counters.hit('requests:', 'mallory', 1000), [1, start + 2000], "another limiter's new client has its own shared count");
});

test('counters bound: once windows end, their room goes to new clients, before any sweep', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: start });
  const counters = new Counters({ maxCounters: 100 });
  flood(counters, 100);
  flood(counters, 10, 'signin:', 60_000, 100); // shared: its window runs until 60 s after this
  t.mock.timers.tick(60_000);
  assert.deepEqual(counters.hit('signin:', 'bob', 60_000), [1, start + 120_000], 'the ended windows make room: bob has his own');
  assert.equal(counters.size, 100);
  assert.equal(counters.stats().sharedHits, 10);
  assert.equal(counters.sweep(), 99, 'the rest of the ended windows');
});

test('counters bound: a client given its own counter while the shared count runs starts from the shared count', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: start });
  const counters = new Counters({ maxCounters: 100 });
  flood(counters, 100);
  t.mock.timers.tick(30_000);
  for (let i = 0; i < 3; i++) counters.hit('signin:', 'mallory', 60_000); // shared, until 90 s
  t.mock.timers.tick(30_000); // the first 100 windows end; mallory's would last until 90 s
  assert.deepEqual(counters.hit('signin:', 'mallory', 60_000), [4, start + 120_000], 'not 1: the shared count may have been all hers');
  t.mock.timers.tick(30_000);
  assert.deepEqual(counters.hit('signin:', 'carol', 60_000), [1, start + 150_000], 'the shared count has ended: a new client starts at 1');
});

test('counters bound: the shared count runs windowMs from its latest hit: a client it counted cannot start over within its window', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: start });
  const counters = new Counters({ maxCounters: 100 });
  flood(counters, 100, 'requests:', 600_000); // another limiter fills the table for 10 minutes
  counters.hit('signin:', 'eve', 60_000);
  t.mock.timers.tick(50_000);
  for (let i = 0; i < limit; i++) counters.hit('signin:', 'mallory', 60_000); // her window: 50 s to 110 s
  t.mock.timers.tick(11_000);
  assert.deepEqual(counters.hit('signin:', 'mallory', 60_000), [limit + 2, start + 121_000]);
});

test('counters bound: 20,000 random hits, unhits, resets and ticks on a small table: the bounds hold and a running count never goes back', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: start });
  const maxCounters = 40;
  const maxTotalBytes = 40 * (bytesPerCounter + 30);
  const counters = new Counters({ maxCounters, maxTotalBytes });
  const reference = new Counters({ maxCounters: Infinity, maxTotalBytes: Infinity });
  const last = new Map<string, [hits: number, resetAt: number]>();
  let random = 1;
  const next = (n: number) => ((random = (random * 48_271) % 2_147_483_647) % n);
  let checked = 0;
  for (let i = 0; i < 20_000; i++) {
    const [prefix, windowMs] = next(2) === 0 ? ['signin:', 1000] : ['requests:', 3000];
    const n = next(40);
    const key = `k${n}`.padEnd((n * 7) % 30, '.'); // keys of 2 to 29 characters: the byte bound binds too
    const id = prefix + key;
    const op = next(20);
    if (op < 3) t.mock.timers.tick(next(100));
    else if (op === 3) counters.sweep();
    else if (op === 4) {
      counters.reset(prefix, key);
      reference.reset(prefix, key);
      last.delete(id);
    } else if (op < 7) {
      counters.unhit(prefix, key);
      reference.unhit(prefix, key);
      const before = last.get(id);
      if (before !== undefined && before[0] > 0) before[0]--; // at most one back; shared counts give none
    } else {
      const shared = counters.stats().sharedHits;
      const answer = counters.hit(prefix, key, windowMs);
      const unbounded = reference.hit(prefix, key, windowMs);
      const before = last.get(id);
      if (before !== undefined && before[1] > Date.now()) {
        assert.ok(answer[0] >= before[0] + 1, `${id}: ${answer[0]} after ${before[0]}, in a window that had not ended`);
        checked++;
      }
      if (shared === 0 && counters.stats().sharedHits === 0) assert.deepEqual(answer, unbounded, 'until the table fills, as without a bound');
      last.set(id, answer);
    }
    assert.ok(counters.size <= maxCounters && counters.stats().bytes <= maxTotalBytes, `bounds at op ${i}`);
  }
  assert.ok(checked > 1000 && counters.stats().sharedHits > 1000, `the scenario ran: ${checked} running counts checked, ${counters.stats().sharedHits} shared hits`);
});

test('rate limits through a host: `rate-limits-full` is told once per bound, naming the bound, its limit and the limiter', () => {
  const host = new StoreHost({ features: [rateLimitsWith({ maxCounters: 3 })] });
  const told: RateLimitsFull[] = [];
  host.on('rate-limits-full', (full: RateLimitsFull) => told.push(full));
  host.handle(Array.from({ length: 10 }, (_, i) => [i + 1, 'rateLimitHit', 'signin:', `10.0.0.${i}`, 60_000]));
  assert.deepEqual(told, [{ bound: 'maxCounters', limit: 3, counters: 3, bytes: 3 * (2 * '10.0.0.0'.length + bytesPerCounter), prefix: 'signin:' }]);
  assert.deepEqual(rateLimitStats(host), { counters: 3, bytes: told[0]!.bytes, sharedHits: 7 });
  assert.equal(rateLimitStats(new StoreHost()), undefined);
});

test('rateLimitsWith(): options are checked like every other; rateLimits is rateLimitsWith() with the defaults', () => {
  assert.throws(() => rateLimitsWith({ max: 10 } as never), { name: 'TypeError', message: 'rateLimitsWith(): `max` is not an option; the options are `maxCounters`, `maxTotalBytes`' });
  assert.throws(() => rateLimitsWith({ maxCounters: 0 }), { name: 'TypeError', message: 'rateLimitsWith(): `maxCounters` must be an integer >= 1, got 0' });
  assert.throws(() => rateLimitsWith({ maxTotalBytes: 8000 }), { name: 'TypeError', message: 'rateLimitsWith(): `maxTotalBytes` must be an integer >= 8832, got 8000' });
  assert.deepEqual(rateLimits.settings, rateLimitsWith({ maxCounters: 100_000 }).settings);
  assert.deepEqual(rateLimits.settings, { maxCounters: 100_000, maxTotalBytes: 33_554_432 });
});
