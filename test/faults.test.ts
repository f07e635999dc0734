// Faults injected into the real app under session-aware load, each counting what was lost: a worker killed,
// a SIGTERM, a SIGHUP reload, the primary killed. Every test prints its figure.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { runSessionLoad, type LoadResult } from '../scripts/lib/session-load.js';
import { isAlive, type AppProcess } from '../scripts/lib/app-process.js';
import { startTestApp } from './helpers/app.js';
import { CookieJar, request } from './helpers/http.js';
import { until } from './helpers/poll.js';

const connections = 20;

/** Load for `durationS` seconds, with `fault` injected after `atMs`. */
async function loadWithFault(app: AppProcess, fault: () => unknown, atMs = 1000, durationS = 3): Promise<LoadResult> {
  const timer = setTimeout(fault, atMs);
  try {
    return await runSessionLoad({ url: app.url, connections, durationS, workload: 'returning', reconnectEvery: 40, stopWhen: app.exited });
  } finally {
    clearTimeout(timer);
  }
}

/** Sessions made during the load that no longer answer "Hello again". */
async function sessionsLost(app: AppProcess, cookies: string[]): Promise<number> {
  const answers = await Promise.all(cookies.map((cookie) => request(`${app.url}/hello`, { cookie })));
  return answers.filter((answer) => !String(answer.json.msg).startsWith('Hello again')).length;
}

const failed = (r: LoadResult) => r.errors + r.timeouts + r.non2xx;

function report(fault: string, r: LoadResult, lost: number | string): void {
  const errors = Object.entries(r.errorCodes).map(([code, n]) => `${n} ${code}`).join(', ') || 'none';
  console.log(
    `fault: ${fault} | load: ${r.requests} answered on ${connections} connections | failed: ${failed(r)} ` +
      `(connection errors: ${errors}; non-2xx: ${r.non2xx}) | sessions lost: ${lost} of ${r.cookies.length}`,
  );
}

test('fault: SIGKILL a worker under load: no session lost, only requests in flight on it may fail', async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  const victim = app.workerPids()[0]!;
  const result = await loadWithFault(app, () => process.kill(victim, 'SIGKILL'));
  const lost = await sessionsLost(app, result.cookies);
  report('SIGKILL one of 2 workers', result, lost);
  assert.equal(lost, 0);
  assert.ok(result.cookies.length >= connections, 'every connection made its session');
  assert.ok(failed(result) <= connections, `at most one request per connection failed (${failed(result)})`);
  assert.equal(result.non2xx, 0, 'no error answers, only broken connections');
  await app.waitForLog({ workerId: 3, msg: /listening/ }, 15_000); // a replacement takes its place
});

test('fault: SIGHUP reload under load: every worker replaced, no request failed, no session lost', async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  const before = app.workerPids();
  const result = await loadWithFault(app, () => app.child.kill('SIGHUP'), 800, 4);
  await app.waitForLog({ msg: 'reload: done' }, 15_000);
  const lost = await sessionsLost(app, result.cookies);
  report('SIGHUP reload of 2 workers', result, lost);
  assert.equal(failed(result), 0);
  assert.equal(lost, 0);
  assert.deepEqual(before.filter(isAlive), [], 'the old workers are gone');
});

test('fault: SIGHUP to the whole process group (a closed terminal): the workers are reloaded, not killed', async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  const jar = new CookieJar();
  await jar.get(`${app.url}/hello`);
  const from = app.records.length;
  process.kill(-app.child.pid!, 'SIGHUP');
  await app.waitForLog({ msg: 'reload: done' }, 15_000, from);
  const exits = app.logged({ msg: /exited/ }, from).map((record) => [record.code, record.signal]);
  assert.deepEqual(exits, [[0, null], [0, null]], 'both old workers drained and left; none died of the hangup');
  assert.equal(app.logged({ msg: /listening on/ }, from).length, 2, 'one new worker for each old one, no more');
  assert.match(String((await jar.get(`${app.url}/hello`)).json.msg), /^Hello again/);
});

test('fault: a worker killed as a reload begins: the reload completes and 2 workers remain', async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  const from = app.records.length;
  process.kill(app.workerPids()[0]!, 'SIGKILL');
  app.child.kill('SIGHUP');
  await app.waitForLog({ msg: 'reload: done' }, 15_000, from);
  await until(() => app.workerPids().filter(isAlive).length === 2, 'back to 2 workers', 15_000);
  assert.equal((await request(`${app.url}/healthz`)).status, 200);
});

test('fault: SIGTERM under load: no 5xx while draining, exit 0, no process left', async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  const workers = app.workerPids();
  const result = await loadWithFault(app, () => app.child.kill('SIGTERM'), 1000, 3);
  const code = await app.exited;
  report('SIGTERM (graceful shutdown)', result, 'n/a (the app stopped)');
  assert.equal(code, 0);
  assert.equal(result.non2xx, 0, 'no 5xx while draining');
  const broken = result.errors - (result.errorCodes.ECONNREFUSED ?? 0);
  assert.ok(broken <= connections, `refused connections aside (nothing listens any more), few broke (${broken})`);
  assert.deepEqual(workers.filter(isAlive), []);
});

test('fault: SIGTERM with a request that never finishes: stragglers are killed after SHUTDOWN_TIMEOUT_MS, exit 1', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), { SHUTDOWN_TIMEOUT_MS: '1500' });
  const workers = app.workerPids();
  // A body announced as 1,000 bytes of which 10 arrive: the request stays in flight until someone gives up.
  const { hostname, port } = new URL(app.url);
  const stuck = net.connect(Number(port), hostname, () =>
    stuck.write('POST /notes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"note":"a'),
  );
  stuck.on('error', () => {});
  t.after(() => stuck.destroy());
  await new Promise((resolve) => setTimeout(resolve, 300)); // let the request reach a worker
  const started = Date.now();
  app.child.kill('SIGTERM');
  assert.equal(await app.exited, 1, 'exit 1: a worker had to be killed');
  const tookMs = Date.now() - started;
  console.log(`fault: SIGTERM with a stuck request | SHUTDOWN_TIMEOUT_MS 1500 | primary exited after ${tookMs} ms`);
  assert.ok(tookMs >= 1400, `waited for the timeout (${tookMs} ms)`);
  assert.equal(app.logged({ level: 50, msg: /^shutdown timeout \(1500 ms, SHUTDOWN_TIMEOUT_MS\): killing 1 worker$/ }).length, 1, app.lines.join('\n'));
  assert.deepEqual(workers.filter(isAlive), []);
});

test('fault: the primary killed with SIGKILL: its workers notice and exit within seconds', async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  const workers = app.workerPids();
  process.kill(app.child.pid!, 'SIGKILL');
  const deadline = Date.now() + 10_000;
  while (workers.some(isAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const left = workers.filter(isAlive);
  console.log(`fault: primary SIGKILL | workers left running after it: ${left.length}`);
  assert.deepEqual(left, []);
});
