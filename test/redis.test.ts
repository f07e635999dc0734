// SESSION_STORE=redis://…: the real app against a real redis-server. Sessions stick across workers with their
// keys in Redis; Redis down at start or later gives quick 503s, one log line, no crash; back up, it serves again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient } from 'redis';
import { CookieJar, request } from './helpers/http.js';
import { startTestApp } from './helpers/app.js';
import { redisUnavailable, startRedis } from '../scripts/lib/redis-server.js';
import { metricsUrl, sample } from './helpers/metrics.js';

test('SESSION_STORE=redis: outage at start and later answers 503 and recovers; sessions stick and live in Redis', { skip: redisUnavailable() }, async (t) => {
  const redis = await startRedis((fn) => t.after(fn), { running: false });
  const app = await startTestApp((fn) => t.after(fn), { SESSION_STORE: redis.url, SESSION_STORE_TIMEOUT_MS: '1000' });
  assert.match(app.lines.join('\n'), /sessions in redis at redis:\/\/127\.0\.0\.1:\d+/);

  // Redis not there yet: 503 at once, and the app stays up.
  const early = await timed(() => request(`${app.url}/hello`));
  assert.equal(early.response.status, 503);
  assert.ok(early.ms < 3000, `answered in ${early.ms} ms`);
  assert.equal((await request(`${app.url}/healthz`)).status, 200);

  const connecting = app.records.length;
  await redis.start();
  for (const worker of [1, 2]) await app.waitForLog({ worker, msg: /^(connected to|Redis at \S+ reachable again)/ }, 15_000, connecting);
  const jar = new CookieJar();
  const first = await jar.get(`${app.url}/hello`);
  assert.match(String(first.json.msg), /^Hello from worker/);
  const workers = new Set<unknown>();
  for (let i = 0; i < 6; i++) {
    const again = await jar.get(`${app.url}/hello`);
    assert.match(String(again.json.msg), /^Hello again from worker/);
    workers.add(again.json.worker);
  }
  assert.equal(workers.size, 2, 'the session followed the visitor to both workers');
  const inspect = createClient({ url: redis.url });
  await inspect.connect();
  const keys = await inspect.keys('ecs:sess:*');
  await inspect.close();
  assert.equal(keys.length, 1, `the session is in Redis under the prefix (${keys.join(', ')})`);
  const counted = (await request(await metricsUrl(app))).text;
  const ops = (op: string, outcome: string) => sample(counted, `ecs_store_operations_total{op="${op}",outcome="${outcome}"}`);
  assert.deepEqual([ops('set', 'ok'), ops('get', 'ok'), ops('touch', 'ok')], [1, 6, 6], 'Redis calls are counted like the cluster store\'s');

  // Redis goes away while the app runs.
  const before = app.records.length;
  await redis.stop();
  const outage = await Promise.all(Array.from({ length: 20 }, () => timed(() => jar.get(`${app.url}/hello`))));
  assert.deepEqual([...new Set(outage.map((o) => o.response.status))], [503]);
  assert.ok(Math.max(...outage.map((o) => o.ms)) < 3000, 'each 503 came quickly');
  const complaints = app.logged({ role: 'worker', level: 50, msg: /unreachable/ }, before);
  assert.ok(complaints.length >= 1 && complaints.length <= 2, `the outage was logged once per worker, not per request:\n${app.lines.slice(before).join('\n')}`);

  const reconnecting = app.records.length;
  await redis.start();
  for (const worker of [1, 2]) await app.waitForLog({ worker, msg: /^Redis at \S+ reachable again/ }, 15_000, reconnecting);
  const back = await jar.get(`${app.url}/hello`);
  assert.equal(back.status, 200);
  assert.match(String(back.json.msg), /^Hello/, 'served again (a new session: this Redis keeps nothing on disk)');

  app.child.kill('SIGTERM');
  assert.equal(await app.exited, 0, 'workers let go of Redis and the app exits cleanly');
});

async function timed<T>(fn: () => Promise<T>): Promise<{ response: T; ms: number }> {
  const started = performance.now();
  const response = await fn();
  return { response, ms: Math.round(performance.now() - started) };
}
