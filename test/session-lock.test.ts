// SESSION_LOCK=true in the template itself (npm start): parallel requests of one session across both workers
// each see the one before. The lock's own behaviour is tested in test/store/session-lock.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from './helpers/http.js';
import { startTestApp } from './helpers/app.js';
import { metricsUrl, sample } from './helpers/metrics.js';

async function parallelVisits(url: string, count: number): Promise<{ visits: number; workers: number; cookie: string }> {
  const first = await request(`${url}/api/visit`, { method: 'POST' });
  const cookie = first.headers['set-cookie']![0]!.split(';')[0]!;
  const answers = await Promise.all(Array.from({ length: count - 1 }, () => request(`${url}/api/visit`, { method: 'POST', cookie })));
  assert.deepEqual([...new Set(answers.map((answer) => answer.status))], [200]);
  const visits = (await request(`${url}/api/session`, { cookie })).json.visits as number;
  return { visits, workers: new Set(answers.map((answer) => answer.json.worker)).size, cookie };
}

test('SESSION_LOCK=true: 50 parallel visits of one session over 2 workers count 50, and the metrics show the locks', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), { SESSION_LOCK: 'true' });
  assert.equal(app.logged({ sessionLock: true, msg: /SESSION_LOCK on/ }).length, 1);
  const { visits, workers, cookie } = await parallelVisits(app.url, 50);
  assert.equal(workers, 2);
  assert.equal(visits, 50);
  const metrics = (await request(await metricsUrl(app))).text;
  assert.equal(sample(metrics, 'ecs_store_operations_total{op="lock",outcome="ok"}'), 50, 'every request with the cookie took the lock');
  assert.equal(sample(metrics, 'ecs_store_operations_total{op="get",outcome="ok"}'), undefined, 'no get of its own: the grant brought the session');
  assert.equal(sample(metrics, 'ecs_session_lock_refusals'), 0);

  // The grant brings the session named in the cookie before express-session checks the signature: a cookie with
  // this session's id and a forged signature must still get nothing of it.
  const forged = cookie.replace(/\.[^.]+$/, '.forgedsignature');
  assert.notEqual(forged, cookie);
  assert.equal((await request(`${app.url}/api/session`, { cookie: forged })).json.visits, 0);
});

test('SESSION_LOCK unset (the default): the same 50 parallel visits lose updates', async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  // A race, so not certain in any one round: on a machine busy enough to serve the visits one by one, none is
  // lost. Up to five rounds, each a new session; one that loses updates shows what the lock prevents.
  const counted: number[] = [];
  for (let round = 0; round < 5 && !counted.some((visits) => visits < 50); round++) counted.push((await parallelVisits(app.url, 50)).visits);
  console.log(`session lock: without SESSION_LOCK, 50 parallel visits of one session counted ${counted.join(', ')}`);
  assert.ok(counted.some((visits) => visits < 50), `updates were lost in some round: ${counted.join(', ')}`);
});
