// Rate limits on the real app: failed sign-ins per client address are counted across both workers (the counters
// live in the primary) and, with SESSION_STORE=redis://…, across app processes; the sixth answers 429 with
// Retry-After and the standard RateLimit headers, while other addresses sign in as before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CookieJar, type Response } from './helpers/http.js';
import { startTestApp } from './helpers/app.js';
import { redisUnavailable, startRedis } from '../scripts/lib/redis-server.js';

const wrong = { username: 'alice', password: 'not her password' };
const right = { username: 'alice', password: 'alice-demo-password' };
/** Behind a trusted proxy (TRUST_PROXY=loopback), X-Forwarded-For names the client address. */
const from = (address: string) => ({ 'x-forwarded-for': address });

function signIn(url: string, credentials: object, address: string): Promise<Response> {
  return new CookieJar().post(`${url}/login`, credentials, from(address));
}

test('sign-in limit: the sixth failed sign-in from one address over two workers answers 429 with Retry-After and RateLimit headers; another address still signs in', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), { TRUST_PROXY: 'loopback' });
  const failures = await Promise.all(Array.from({ length: 5 }, () => signIn(app.url, wrong, '203.0.113.7')));
  assert.deepEqual(failures.map(({ status }) => status), [401, 401, 401, 401, 401]);
  assert.equal(new Set(failures.map(({ json }) => json.worker)).size, 2, 'the five failures were answered by both workers');
  const sixth = await signIn(app.url, right, '203.0.113.7');
  assert.equal(sixth.status, 429, 'refused even with the right password: the address is out of attempts');
  assert.match(String(sixth.json.error), /too many failed sign-ins/);
  assert.ok(Number(sixth.headers['retry-after']) > 0 && Number(sixth.headers['retry-after']) <= 900, `Retry-After: ${String(sixth.headers['retry-after'])}`);
  assert.match(String(sixth.headers['ratelimit-policy']), /q=5; w=900/);
  assert.match(String(sixth.headers['ratelimit']), /r=0; t=\d+/);
  t.diagnostic(`429 headers: retry-after ${String(sixth.headers['retry-after'])}; ratelimit-policy ${String(sixth.headers['ratelimit-policy'])}; ratelimit ${String(sixth.headers['ratelimit'])}`);
  const other = await signIn(app.url, right, '203.0.113.8');
  assert.equal(other.status, 200, 'another address signs in');
  for (let i = 0; i < 6; i++) assert.equal((await signIn(app.url, right, '203.0.113.9')).status, 200, 'successful sign-ins do not count');
});

test('sign-in limit with SESSION_STORE=redis: two app processes share the count', { skip: redisUnavailable() }, async (t) => {
  const redis = await startRedis((fn) => t.after(fn));
  const env = { SESSION_STORE: redis.url, TRUST_PROXY: 'loopback', WEB_CONCURRENCY: '1' };
  const apps = await Promise.all([startTestApp((fn) => t.after(fn), env), startTestApp((fn) => t.after(fn), env)]);
  for (const app of apps) await app.waitForLog({ msg: /^connected to Redis/ }, 15_000);
  const [a, b] = apps;
  for (const url of [a.url, b.url, a.url, b.url, a.url]) assert.equal((await signIn(url, wrong, '198.51.100.4')).status, 401);
  assert.equal((await signIn(b.url, wrong, '198.51.100.4')).status, 429, 'the sixth, on the other process, is refused');
  assert.equal((await signIn(b.url, right, '198.51.100.5')).status, 200);

  // Redis away: the limiter answers 503 at once, never hangs the sign-in.
  await redis.stop();
  const started = performance.now();
  const away = await signIn(a.url, wrong, '198.51.100.6');
  assert.equal(away.status, 503, away.text);
  assert.ok(performance.now() - started < 3000, `answered in ${Math.round(performance.now() - started)} ms`);
});

test('RATE_LIMIT_REQUESTS_PER_MINUTE: the sixth request of one address over two workers answers 429; /healthz is not counted', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), { TRUST_PROXY: 'loopback', RATE_LIMIT_REQUESTS_PER_MINUTE: '5' });
  const answers = [];
  for (let i = 0; i < 5; i++) answers.push(await new CookieJar().send(`${app.url}/hello`, { headers: from('192.0.2.1') }));
  assert.deepEqual(answers.map(({ status }) => status), [200, 200, 200, 200, 200]);
  assert.equal(new Set(answers.map(({ json }) => json.worker)).size, 2, 'both workers counted into one limit');
  const sixth = await new CookieJar().send(`${app.url}/hello`, { headers: from('192.0.2.1') });
  assert.equal(sixth.status, 429);
  assert.match(String(sixth.json.error), /too many requests from this address/);
  assert.ok(Number(sixth.headers['retry-after']) > 0);
  assert.equal((await new CookieJar().send(`${app.url}/healthz`, { headers: from('192.0.2.1') })).status, 200, 'health checks pass');
  assert.equal((await new CookieJar().send(`${app.url}/hello`, { headers: from('192.0.2.2') })).status, 200, 'another address is served');
});
