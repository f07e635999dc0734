// The rate-limit feature's counters on node:test's mock clock, and through a host: fixed windows from the first
// hit, a hit taken back, a reset, the sweep, and workers that disagree on the window refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, rateLimits } from '../../src/store/index.js';
import { StoreHost } from '../../src/store/primary/host.js';
import { Counters } from '../../src/store/rate-limit/counters.js';

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
