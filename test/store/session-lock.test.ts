// sessionLock against a real cluster: the test process is the primary (ClusterStore.setup), two forked workers run
// test/fixtures/lock-worker.ts. A counter that reads, works 10 ms, then writes shows the lost update without the
// lock and none with it; a dead worker, a request that never ends and a crowd of waiters each behave as documented.
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { ClusterStore, lockStats, sessionLocks } from '../../src/store/index.js';
import { request, type Response } from '../helpers/http.js';
import { until } from '../helpers/poll.js';

const host = ClusterStore.setup({ features: [sessionLocks] })!;
const locks = () => lockStats(host)!;
const fixture = fileURLToPath(new URL('../fixtures/lock-worker.ts', import.meta.url));

async function lockCluster(t: TestContext, env: Record<string, string>): Promise<{ url: string; workers: Worker[] }> {
  cluster.setupPrimary({ exec: fixture, execArgv: ['--import', 'tsx'] });
  const workers = [cluster.fork(env), cluster.fork(env)];
  t.after(() => workers.forEach((worker) => worker.isDead() || worker.process.kill('SIGKILL')));
  const [[address]] = (await Promise.all(workers.map((worker) => once(worker, 'listening')))) as [[AddressInfo]];
  return { url: `http://127.0.0.1:${address.port}`, workers };
}

/** A new session at count 0: its cookie. */
async function start(url: string): Promise<string> {
  const started = await request(`${url}/start`, { method: 'POST' });
  assert.equal(started.status, 200);
  return started.headers['set-cookie']![0]!.split(';')[0]!;
}

function post(url: string, cookie?: string): Promise<Response> {
  return request(url, { method: 'POST', cookie });
}

/** POST /hang with this cookie; resolves once a worker runs it (holding the session's lock). `abort` closes it. */
async function hang(url: string, workers: Worker[], cookie?: string): Promise<{ abort: () => void }> {
  const running = new Promise<void>((resolve) => {
    const onMessage = (message: { fixture?: string }) => {
      if (message.fixture !== 'hanging') return;
      workers.forEach((worker) => worker.off('message', onMessage));
      resolve();
    };
    workers.forEach((worker) => worker.on('message', onMessage));
  });
  const req = http.request(`${url}/hang`, { method: 'POST', agent: false, headers: cookie ? { cookie } : {} });
  req.on('error', () => {}); // aborted on purpose
  req.end();
  await running;
  return { abort: () => req.destroy() };
}

async function parallelCounts(url: string, cookie: string, count: number): Promise<Response[]> {
  return Promise.all(Array.from({ length: count }, () => post(`${url}/count?ms=10`, cookie)));
}

test('sessionLock: 50 parallel read-work-write requests of one session across 2 workers count to exactly 50', async (t) => {
  const { url } = await lockCluster(t, { LOCK: 'true' });
  const cookie = await start(url);
  const answers = await parallelCounts(url, cookie, 50);
  assert.deepEqual([...new Set(answers.map((answer) => answer.status))], [200]);
  assert.equal(new Set(answers.map((answer) => answer.json.worker)).size, 2, 'both workers served the session');
  const seen = answers.map((answer) => answer.json.count as number).sort((a, b) => a - b);
  assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => i + 1), 'each request saw the one before it');
  assert.equal((await request(`${url}/count`, { cookie })).json.count, 50);
  await until(() => locks().locked === 0, 'every lock released once its response finished');
  assert.equal(locks().waiting, 0);
});

test('without sessionLock the same 50 requests lose updates (the problem it solves)', async (t) => {
  const { url } = await lockCluster(t, { LOCK: 'false' });
  const cookie = await start(url);
  const answers = await parallelCounts(url, cookie, 50);
  assert.deepEqual([...new Set(answers.map((answer) => answer.status))], [200]);
  const final = (await request(`${url}/count`, { cookie })).json.count as number;
  console.log(`session lock: without it, 50 parallel increments of one session ended at ${final}`);
  assert.ok(final < 50, `updates were lost: ${final}`);
});

test('sessionLock: other sessions and cookieless requests never wait; a closed connection releases its lock', async (t) => {
  const { url, workers } = await lockCluster(t, { LOCK: 'true', HOLD_MS: '60000', WAIT_MS: '5000' });
  const cookie = await start(url);
  const cookieless = await hang(url, workers);
  assert.equal(locks().locked, 0, 'a request without a session cookie takes no lock');
  cookieless.abort();
  const held = await hang(url, workers, cookie);
  assert.equal(locks().locked, 1);

  const others = await Promise.all(Array.from({ length: 10 }, () => start(url)));
  const started = performance.now();
  const answers = await Promise.all(others.map((other) => post(`${url}/count?ms=200`, other)));
  const parallelMs = performance.now() - started;
  assert.deepEqual(answers.map((answer) => answer.json.count), Array(10).fill(1), 'ten other sessions were served while one is locked');
  console.log(`session lock: 10 sessions × 200 ms of work in parallel took ${Math.round(parallelMs)} ms (in turn: ≥ 2000 ms)`);

  held.abort();
  const after = await post(`${url}/count?ms=0`, cookie);
  assert.equal(after.status, 200, 'the aborted request let go of the lock');
  assert.equal(after.json.count, 1);
});

test('sessionLock: a request whose visitor left while it waited gives the lock straight back when granted', async (t) => {
  const { url, workers } = await lockCluster(t, { LOCK: 'true', HOLD_MS: '60000', WAIT_MS: '5000' });
  const cookie = await start(url);
  const held = await hang(url, workers, cookie);
  const waiter = http.request(`${url}/count?ms=0`, { method: 'POST', agent: false, headers: { cookie } });
  waiter.on('error', () => {}); // aborted on purpose
  waiter.end();
  await until(() => locks().waiting === 1, 'the second request waits for the lock');
  waiter.destroy();
  held.abort();
  const after = await post(`${url}/count?ms=0`, cookie);
  assert.equal(after.status, 200, `not stuck behind the abandoned request: ${after.text}`);
  assert.equal(after.json.count, 1, 'the abandoned request never ran');
});

test('sessionLock: a worker that dies holding a lock does not block its session', async (t) => {
  const { url, workers } = await lockCluster(t, { LOCK: 'true', HOLD_MS: '60000', WAIT_MS: '5000' });
  const cookie = await start(url);
  const died = Promise.race(workers.map((worker) => once(worker, 'exit').then(() => worker)));
  await assert.rejects(post(`${url}/die`, cookie), 'the dying worker answers nothing');
  const dead = await died;
  const survivor = workers.find((worker) => worker !== dead)!;
  const after = await post(`${url}/count?ms=0`, cookie);
  assert.equal(after.status, 200, `served at once, not after the 5 s wait: ${after.text}`);
  assert.deepEqual(after.json, { count: 1, worker: survivor.id });
});

test('sessionLock: a request that never finishes holds the lock for lockTimeoutMs only', async (t) => {
  const { url, workers } = await lockCluster(t, { LOCK: 'true', HOLD_MS: '400', WAIT_MS: '5000' });
  const cookie = await start(url);
  const expired = locks().expired;
  const stuck = await hang(url, workers, cookie);
  t.after(stuck.abort);
  const after = await post(`${url}/count?ms=0`, cookie);
  assert.equal(after.status, 200);
  assert.equal(after.json.count, 1);
  assert.equal(locks().expired, expired + 1, 'granted because the stuck lock timed out');
});

test('sessionLock: waiting longer than waitTimeoutMs answers 503; more than maxWaiters waiting answers 429', async (t) => {
  const { url, workers } = await lockCluster(t, { LOCK: 'true', HOLD_MS: '60000', WAIT_MS: '400', MAX_WAITERS: '2' });
  const cookie = await start(url);
  const stuck = await hang(url, workers, cookie);
  t.after(stuck.abort);
  const late = await post(`${url}/count?ms=0`, cookie);
  assert.equal(late.status, 503);
  assert.equal(late.json.code, 'ERR_SESSION_LOCK_WAIT_TIMEOUT');
  assert.match(String(late.json.error), /not granted within 400 ms \(waitTimeoutMs\)/);

  const crowd = await Promise.all(Array.from({ length: 3 }, () => post(`${url}/count?ms=0`, cookie)));
  assert.deepEqual(crowd.map((answer) => answer.status).sort(), [429, 503, 503], 'two waited (and timed out), the third was refused at once');
  assert.match(String(crowd.find((answer) => answer.status === 429)!.json.error), /2 requests of this session already wait \(maxWaiters 2\)/);
});

test('sessionLock: a lock watching another cookie than express-session fails the request that shows it, naming both settings', async (t) => {
  const { url } = await lockCluster(t, { LOCK: 'true', LOCK_COOKIE: 'connect.sid' });
  const cookie = await start(url);
  assert.match(cookie, /^sid=/, 'express-session names its cookie "sid"');
  const answer = await post(`${url}/count?ms=0`, cookie);
  assert.equal(answer.status, 500);
  assert.equal(answer.json.code, 'ERR_SESSION_LOCK_COOKIE_MISMATCH');
  assert.match(String(answer.json.error), /sessionLock watches the cookie "connect\.sid", but express-session loaded a session from another cookie: pass express-session's `name` as sessionLock's `cookieName`/);
});

test('sessionLock: a cookieless request that saves and reloads its new session is served (a reload is no cookie mismatch)', async (t) => {
  const { url, workers } = await lockCluster(t, { LOCK: 'true' });
  const answer = await post(`${url}/start-and-reload`);
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.json.count, 0);
  assert.ok(workers.every((worker) => !worker.isDead()), 'no worker crashed');
});

test('sessionLock mounted twice on one path (app and router): the second lets the request by at once, the count stays exact; a second one watching another cookie does not cry mismatch', async (t) => {
  const { url } = await lockCluster(t, { LOCK: 'true', LOCK_TWICE: 'true', WAIT_MS: '3000' });
  const cookie = await start(url);
  const answers = await parallelCounts(url, cookie, 10);
  assert.deepEqual(answers.map((answer) => answer.status), Array(10).fill(200), answers.map((answer) => answer.text).join('\n'));
  assert.equal((await request(`${url}/count`, { cookie })).json.count, 10);

  const other = await lockCluster(t, { LOCK: 'true', LOCK_TWICE: 'true', LOCK_TWICE_COOKIE: 'another.sid' });
  const otherCookie = await start(other.url);
  const counted = await post(`${other.url}/count?ms=1`, otherCookie);
  assert.equal(counted.status, 200, counted.text);
});
