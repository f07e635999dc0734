// The scripts stop what they start: `npm run bench` and `npm run loadtest`, interrupted while their clusters
// (and redis-server) run, leave no process behind; `loadtest --url` with nothing there stops at once, saying so.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isAlive } from '../../scripts/lib/app-process.js';
import { redisUnavailable } from '../../scripts/lib/redis-server.js';
import { until } from '../helpers/poll.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Starts a script and collects its stderr; killed (with everything it started, by group) if the test fails. */
function script(t: TestContext, file: string, args: string[]): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  });
  return { child, stderr: () => stderr, exited };
}

/** Whether any process of the group `pgid` (a cluster: the primary and its workers) still runs. */
function groupAlive(pgid: number): boolean {
  return isAlive(-pgid);
}

const pids = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].map((m) => Number(m[1]));

test('npm run bench: SIGTERM while it runs stops every cluster and redis-server it started', async (t) => {
  const withRedis = redisUnavailable() === undefined;
  const variants = withRedis ? 'memory,redis' : 'memory';
  const bench = script(t, 'scripts/bench.ts', ['--variants', variants, '--rounds', '1', '--duration', '60', '--warmup', '0']);
  const apps = withRedis ? 2 : 1;
  await until(() => pids(bench.stderr(), /primary pid (\d+)/g).length === apps, `${apps} clusters started:\n${bench.stderr()}`, 60_000);
  const started = { clusters: pids(bench.stderr(), /primary pid (\d+)/g), redis: pids(bench.stderr(), /redis-server pid (\d+)/g) };
  assert.ok(started.clusters.every(groupAlive) && started.redis.every(isAlive), 'running before the signal');
  bench.child.kill('SIGTERM');
  assert.equal(await bench.exited, 143);
  // Killed processes are gone once reaped (their parent has just exited: init reaps them): poll briefly.
  await until(() => !started.clusters.some(groupAlive), `no cluster left (${started.clusters.join(', ')})`, 10_000);
  await until(() => !started.redis.some(isAlive), `no redis-server left (${started.redis.join(', ')})`, 10_000);
  if (!withRedis) t.diagnostic('redis-server not installed: checked the clusters only');
});

test('npm run loadtest: SIGINT while it runs stops the cluster it started', async (t) => {
  const load = script(t, 'scripts/loadtest.ts', ['--duration', '60', '--warmup', '0', '--json']);
  await until(() => pids(load.stderr(), /primary pid (\d+)/g).length === 1, `the cluster's pid:\n${load.stderr()}`, 60_000);
  const [primary] = pids(load.stderr(), /primary pid (\d+)/g) as [number];
  load.child.kill('SIGINT');
  assert.equal(await load.exited, 130);
  await until(() => !groupAlive(primary), 'no process of the cluster left', 10_000);
});

test('npm run loadtest -- --url with nothing listening stops at once, saying what to do', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = server.address() as { port: number };
      server.close(() => resolve(free));
    });
  });
  const started = performance.now();
  const load = script(t, 'scripts/loadtest.ts', ['--url', `http://127.0.0.1:${port}`, '--duration', '30']);
  assert.equal(await load.exited, 2);
  assert.ok(performance.now() - started < 20_000, 'well before the 30 s run would have ended');
  assert.match(load.stderr(), new RegExp(`nothing answers at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): --url needs a running app \\(npm start\\)`));
});
