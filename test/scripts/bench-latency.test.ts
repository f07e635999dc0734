// `npm run bench:latency` on tiny settings: it measures every variant it was given, prints the table with every
// column, draws its chart where told, and leaves nothing behind; SIGTERM to npm alone stops its clusters (and its
// redis-server) and the script.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isAlive } from '../../scripts/lib/app-process.js';
import { redisUnavailable } from '../../scripts/lib/redis-server.js';
import { until } from '../helpers/poll.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tiny = ['--sessions', '2000', '--rate', '200', '--warmup', '0.5', '--rounds', '1'];
const columns = [
  'variant', 'sessions', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'p50 × mem', 'p99 × mem', 'p99.9 × mem', 'max × mem',
  'sent', 'answered', 'failed', 'lost', 'primary max block ms', 'primary p99.9 block ms', 'client max block ms',
];

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | NodeJS.Signals>;
}

/** `npm run bench:latency -- <args>` in a process group of its own; whatever is left of it is killed after the test. */
function npmRun(t: TestContext, args: string[]): Run {
  const child = spawn('npm', ['run', 'bench:latency', '--', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | NodeJS.Signals);
  t.after(() => killGroup(child.pid!));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

const pids = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].map((m) => Number(m[1]));
const groupAlive = (pgid: number) => isAlive(-pgid);

function killGroup(pgid: number): void {
  if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
}

/** The row of `variant` in the markdown table, split into its cells. */
function row(table: string, label: RegExp): string[] {
  const line = table.split('\n').find((l) => l.startsWith('|') && label.test(l));
  assert.ok(line, `a row matching ${label} in:\n${table}`);
  return line.split('|').slice(1, -1).map((cell) => cell.trim());
}

test('bench:latency: tiny run prints every column for memory and cluster, the start and the heap, draws the chart, removes its files', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-latency-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const plot = path.join(dir, 'latency.svg');
  const run = npmRun(t, [...tiny, '--duration', '2', '--variants', 'memory,cluster', '--plot', plot]);
  assert.equal(await run.exited, 0, run.stderr());
  const out = run.stdout();
  const header = out.split('\n').find((l) => l.startsWith('| variant | sessions | p50'));
  assert.deepEqual(header?.split('|').slice(1, -1).map((c) => c.trim()), columns);
  for (const label of [/^\| MemoryStore in each worker \| 2,000 \|/, /^\| ClusterStore \(this checkout\) \| 2,000 \|/]) {
    const cells = row(out, label);
    assert.equal(cells.length, columns.length);
    const [sent, answered, failed, lost] = cells.slice(10, 14).map(Number);
    assert.equal(sent, 400, 'rate × duration requests in the window');
    assert.equal(answered, 400);
    assert.equal(failed, 0);
    assert.equal(lost, 0, 'every returning visitor found their session');
    assert.ok(cells.slice(2, 6).every((cell) => Number(cell) > 0), `latencies measured: ${cells.join(' | ')}`);
  }
  assert.match(out, /\| ClusterStore \(this checkout\) \| 2,000 \| \d+ \| [\d.]+ \| 2000 \| \d+ \| \d+ \| \d+ \|/, 'the start from a snapshot: all 2,000 restored');
  assert.match(out, /\| ClusterStore \(this checkout\) \| 2,000 \| \d+ \| 164 \| -?\d+ \|/, 'the heap per session beside id + JSON bytes');
  assert.match(readFileSync(plot, 'utf8'), /^<svg [^>]*>[\s\S]*MemoryStore in each worker[\s\S]*<\/svg>\n$/);
  const snapshots = /snapshots in (\S+)/.exec(run.stderr())?.[1];
  assert.ok(snapshots !== undefined && !existsSync(snapshots), `its temporary folder (${snapshots}) is removed`);
});

test('bench:latency: SIGTERM to npm alone stops every cluster and redis-server it started, and the script itself', async (t) => {
  const withRedis = redisUnavailable() === undefined;
  const bench = npmRun(t, [...tiny, '--duration', '60', '--variants', withRedis ? 'redis,memory' : 'memory', '--plot', '']);
  await until(() => pids(bench.stderr(), /primary pid (\d+)/g).length === 1, `a cluster started:\n${bench.stderr()}`, 30_000);
  const started = { groups: pids(bench.stderr(), /primary pid (\d+)/g), pids: pids(bench.stderr(), /redis-server pid (\d+)/g) };
  t.after(() => {
    started.groups.forEach(killGroup);
    started.pids.filter(isAlive).forEach((pid) => process.kill(pid, 'SIGKILL'));
  });
  assert.equal(started.pids.length, withRedis ? 1 : 0, 'the redis-server pid was printed');
  assert.ok(started.groups.every(groupAlive) && started.pids.every(isAlive), 'running before the signal');
  bench.child.kill('SIGTERM');
  await bench.exited;
  bench.child.stderr!.destroy(); // as a CI runner does once npm has exited
  const groups = [...started.groups, bench.child.pid!];
  const left = () => [...groups.filter(groupAlive).map((g) => `group ${g}`), ...started.pids.filter(isAlive).map((p) => `pid ${p}`)];
  await until(() => left().length === 0, `nothing left; still there: ${left().join(', ')}`, 15_000);
  if (!withRedis) t.diagnostic('redis-server not installed: checked the cluster only');
});
