// The load test's own bookkeeping, on short runs against the real cluster: cookies kept per connection,
// stickiness counted (and shown to drop when sessions do not follow), fresh visitors, the CLI's exit code.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runSessionLoad } from '../../scripts/lib/session-load.js';
import { startTestApp } from '../helpers/app.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('loadtest: each connection keeps its cookie; every session sticks across both workers', async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  const result = await runSessionLoad({ url: app.url, connections: 4, durationS: 2, workload: 'returning', reconnectEvery: 5 });
  assert.ok(result.requests > 40, `enough requests to mean something (${result.requests})`);
  assert.equal(result.sessions, 4, 'one session per connection, however often it reconnected');
  assert.equal(result.workers, 2);
  assert.ok(result.sessionsOnSeveralWorkers >= 1, 'reconnecting moved sessions between workers');
  assert.equal(result.stickiness, 1);
  assert.ok(result.withCookie >= result.requests - 4 - result.requests / 5, 'all but the first request of a connection carried the cookie');
  assert.equal(result.errors + result.non2xx + result.timeouts, 0);
});

test('loadtest: stickiness falls below 100 % when each worker keeps its own sessions (SESSION_STORE=memory)', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), { SESSION_STORE: 'memory' });
  const result = await runSessionLoad({ url: app.url, connections: 4, durationS: 2, workload: 'returning', reconnectEvery: 3 });
  assert.ok(result.stickiness !== null && result.stickiness < 1, `the counter catches lost sessions (stickiness ${result.stickiness})`);
});

test('loadtest: fresh visitors send no cookie, so every answer is a new session', async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  const result = await runSessionLoad({ url: app.url, connections: 4, durationS: 1, workload: 'fresh' });
  assert.equal(result.withCookie, 0);
  assert.equal(result.stickiness, null);
  assert.equal(result.sessions, result.requests, 'a Set-Cookie on every answer, each a different session');
});

test('npm run loadtest -- --json: starts its own cluster, prints figures, exits 0', () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/loadtest.ts', '--duration', '1', '--warmup', '0', '--connections', '4', '--json'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, WEB_CONCURRENCY: '2' },
    timeout: 60_000,
  });
  assert.equal(run.status, 0, run.stderr);
  const figures = JSON.parse(run.stdout) as { stickiness: number; workers: number; requests: number };
  assert.equal(figures.stickiness, 1);
  assert.equal(figures.workers, 2);
  assert.ok(figures.requests > 0);
});
