// The scripts stop what they start, however they are stopped: SIGTERM to `npm` alone (as a CI runner, `kill <pid>` or
// `timeout --foreground` sends it), Ctrl-C (SIGINT to the whole process group), or a signal to the script itself. No
// cluster, redis-server or cluster worker they started is left. `loadtest --url` with nothing there stops at once.
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

interface Run {
  /** `npm`, or the script's own node process. */
  child: ChildProcess;
  stderr: () => string;
  /** The exit code, or the signal that ended it. */
  exited: Promise<number | NodeJS.Signals>;
}

/** `npm run <script> -- <args>`, in a process group of its own, as a terminal or a CI job starts it. */
const npmRun = (t: TestContext, script: string, args: string[]) => launch(t, 'npm', ['run', script, '--', ...args]);

/** The script run directly, so the test holds the script's own PID. */
const nodeRun = (t: TestContext, file: string, args: string[]) => launch(t, process.execPath, ['--import', 'tsx', file, ...args]);

/** Starts `program` detached, collecting stderr; whatever is left of its group is killed after the test, even on failure. */
function launch(t: TestContext, program: string, args: string[]): Run {
  const child = spawn(program, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | NodeJS.Signals);
  // npm, its `sh -c` and the script share this group, even once npm has exited and left the script behind.
  t.after(() => killGroup(child.pid!));
  return { child, stderr: () => stderr, exited };
}

/** The clusters (each a process group: primary and workers) and redis-servers a script says it started. */
interface Started {
  groups: number[];
  pids: number[];
}

/** Reads what `run` started from its stderr; any of it still there after the test is killed, even on failure. */
function startedBy(t: TestContext, run: Run): Started {
  const started = { groups: pids(run.stderr(), /primary pid (\d+)/g), pids: pids(run.stderr(), /redis-server pid (\d+)/g) };
  t.after(() => {
    started.groups.forEach(killGroup);
    started.pids.filter(isAlive).forEach((pid) => process.kill(pid, 'SIGKILL'));
  });
  return started;
}

/** Polls until no process of `groups` and none of `pids` remains (killed processes are gone once reaped). */
async function nothingLeft({ groups, pids: single }: Started): Promise<void> {
  const left = () => [...groups.filter(groupAlive).map((g) => `group ${g}`), ...single.filter(isAlive).map((p) => `pid ${p}`)];
  await until(() => left().length === 0, `nothing left of groups ${groups.join(', ')} and pids ${single.join(', ') || '-'}; still there: ${left().join(', ')}`, 15_000);
}

/** Whether any process of the group `pgid` still runs. */
const groupAlive = (pgid: number) => isAlive(-pgid);

function killGroup(pgid: number): void {
  if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
}

const pids = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].map((m) => Number(m[1]));

test('npm run bench: SIGTERM to npm alone stops every cluster and redis-server it started, and the script itself', async (t) => {
  const withRedis = redisUnavailable() === undefined;
  const bench = npmRun(t, 'bench', ['--variants', withRedis ? 'memory,redis' : 'memory', '--rounds', '1', '--duration', '60', '--warmup', '0']);
  const apps = withRedis ? 2 : 1;
  await until(() => pids(bench.stderr(), /primary pid (\d+)/g).length === apps, `${apps} clusters started:\n${bench.stderr()}`, 60_000);
  const started = startedBy(t, bench);
  assert.equal(started.pids.length, withRedis ? 1 : 0, 'the redis-server pid was printed');
  assert.ok(started.groups.every(groupAlive) && started.pids.every(isAlive), 'running before the signal');
  bench.child.kill('SIGTERM');
  await bench.exited;
  // A CI runner stops reading once its child (npm) has exited: the script's stderr is now a closed pipe.
  bench.child.stderr!.destroy();
  await nothingLeft({ groups: [...started.groups, bench.child.pid!], pids: started.pids });
  if (!withRedis) t.diagnostic('redis-server not installed: checked the clusters only');
});

// Their workers are the script's own cluster workers, in npm's process group: nothing left there means none is left.
for (const { script, args, running } of [
  { script: 'bench:store', args: ['--ops', 'get', '--outstanding', '1', '--duration', '1', '--rounds', '60', '--sessions', '0'], running: /^round 1 /m },
  { script: 'bench:rate-limit', args: ['--duration', '1', '--rounds', '60'], running: /^round 1 /m },
]) {
  test(`npm run ${script}: SIGTERM to npm alone stops the script and its workers`, async (t) => {
    const bench = npmRun(t, script, args);
    await until(() => running.test(bench.stderr()), `a first round measured:\n${bench.stderr()}`, 60_000);
    bench.child.kill('SIGTERM');
    await bench.exited;
    await nothingLeft({ groups: [bench.child.pid!], pids: [] });
  });
}

test('npm run loadtest: Ctrl-C (SIGINT to the whole group) stops the cluster it started', async (t) => {
  const load = npmRun(t, 'loadtest', ['--duration', '60', '--warmup', '0', '--json']);
  await until(() => pids(load.stderr(), /primary pid (\d+)/g).length === 1, `the cluster's pid:\n${load.stderr()}`, 60_000);
  const started = startedBy(t, load);
  process.kill(-load.child.pid!, 'SIGINT');
  await load.exited;
  assert.match(load.stderr(), /SIGINT: stopping what this script started/);
  await nothingLeft({ groups: [...started.groups, load.child.pid!], pids: [] });
});

test('loadtest: SIGTERM to the script itself stops the cluster it started; exit code 143', async (t) => {
  const load = nodeRun(t, 'scripts/loadtest.ts', ['--duration', '60', '--warmup', '0', '--json']);
  await until(() => pids(load.stderr(), /primary pid (\d+)/g).length === 1, `the cluster's pid:\n${load.stderr()}`, 60_000);
  const started = startedBy(t, load);
  load.child.kill('SIGTERM');
  assert.equal(await load.exited, 143);
  await nothingLeft(started);
});

test('npm run loadtest -- --url with nothing listening stops at once, saying what to do', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = server.address() as { port: number };
      server.close(() => resolve(free));
    });
  });
  const started = performance.now();
  const load = nodeRun(t, 'scripts/loadtest.ts', ['--url', `http://127.0.0.1:${port}`, '--duration', '30']);
  assert.equal(await load.exited, 2);
  assert.ok(performance.now() - started < 20_000, 'well before the 30 s run would have ended');
  assert.match(load.stderr(), new RegExp(`nothing answers at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): --url needs a running app \\(npm start\\)`));
});
