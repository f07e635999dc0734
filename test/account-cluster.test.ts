// "Your sessions" against the real cluster (`npm start`, 2 workers), with the cluster store and with Redis: one
// user signed in through each worker is listed from either, "sign out all other devices" on one leaves exactly
// that one, and the revoked cookie starts a fresh session on its next request, whichever worker answers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CookieJar } from './helpers/http.js';
import { startTestApp } from './helpers/app.js';
import { redisUnavailable, startRedis } from '../scripts/lib/redis-server.js';

const alice = { username: 'alice', password: 'alice-demo-password' };

/** Asks until both workers have answered (each request on a new connection); returns the answers by worker. */
async function fromEachWorker(jar: CookieJar, url: string): Promise<Map<unknown, Record<string, unknown>>> {
  const answers = new Map<unknown, Record<string, unknown>>();
  for (let i = 0; i < 40 && answers.size < 2; i++) {
    const answer = await jar.get(url);
    assert.equal(answer.status, 200, answer.text);
    answers.set(answer.json.worker, answer.json);
  }
  assert.equal(answers.size, 2, 'both workers answered');
  return answers;
}

test('npm start: a user signed in through worker 1 and worker 2 is listed from either; "sign out others" leaves exactly that one; the revoked cookie starts fresh', async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  await signOutOthersAcrossWorkers(app.url);
});

test('SESSION_STORE=redis: the same, with the sessions and the user index in a real redis-server', { skip: redisUnavailable() }, async (t) => {
  const redis = await startRedis((fn) => t.after(fn));
  const app = await startTestApp((fn) => t.after(fn), { SESSION_STORE: redis.url });
  for (const worker of [1, 2]) await app.waitForLog({ worker, msg: /^connected to Redis/ }, 15_000);
  await signOutOthersAcrossWorkers(app.url);
});

async function signOutOthersAcrossWorkers(url: string): Promise<void> {
  const app = { url };
  const phone = new CookieJar();
  const phoneWorker = (await phone.post(`${app.url}/login`, alice)).json.worker;
  let laptop: CookieJar | undefined;
  for (let i = 0; i < 20 && laptop === undefined; i++) {
    const jar = new CookieJar();
    const answer = await jar.post(`${app.url}/login`, alice);
    if (answer.json.worker !== phoneWorker) laptop = jar;
    else await jar.post(`${app.url}/logout`); // signed in through the same worker: not the case under test
  }
  assert.ok(laptop, 'a second sign-in was answered by the other worker');

  for (const jar of [phone, laptop]) {
    for (const [worker, answer] of await fromEachWorker(jar, `${app.url}/api/sessions`)) {
      const sessions = answer.sessions as { current: boolean }[];
      assert.equal(sessions.length, 2, `worker ${String(worker)} lists both sessions`);
      assert.equal(sessions.filter(({ current }) => current).length, 1, 'one of them this device');
    }
  }

  assert.equal((await laptop.post(`${app.url}/api/sessions/revoke-others`)).json.ended, 1);
  for (const [worker, answer] of await fromEachWorker(phone, `${app.url}/api/me`)) assert.equal(answer.user, null, `signed out on worker ${String(worker)}`);
  const fresh = await phone.get(`${app.url}/api/session`);
  assert.equal(fresh.json.visits, 0, 'the revoked cookie starts a fresh session');
  const kept = await fromEachWorker(laptop, `${app.url}/api/sessions`);
  for (const answer of kept.values()) assert.equal((answer.sessions as unknown[]).length, 1, 'exactly this one is left');
}
