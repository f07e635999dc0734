// RestartBackoff: immediate replacement after a healthy run, doubling delays for workers that die young.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RestartBackoff } from '../src/primary/backoff.js';

test('backoff: workers dying at boot wait 0, 100, 200, 400 ms … up to maxMs', () => {
  const backoff = new RestartBackoff({ initialMs: 100, maxMs: 1000, healthyAfterMs: 10_000 });
  const delays = Array.from({ length: 7 }, () => backoff.next(50));
  assert.deepEqual(delays, [0, 100, 200, 400, 800, 1000, 1000]);
  assert.equal(backoff.quickDeaths, 7);
});

test('backoff: a worker that ran healthily resets the count', () => {
  const backoff = new RestartBackoff({ initialMs: 100, healthyAfterMs: 10_000 });
  backoff.next(50);
  backoff.next(50);
  assert.equal(backoff.next(10_000), 0);
  assert.equal(backoff.quickDeaths, 1);
  assert.equal(backoff.next(50), 100);
});
