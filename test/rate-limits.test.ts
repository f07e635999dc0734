// Rate limits on the real app: failed sign-ins per client address are counted across both workers (the counters
// live in the primary) and, with SESSION_STORE=redis://…, across app processes; the sixth answers 429 with
// Retry-After and the standard RateLimit headers, while other addresses sign in as before.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
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

/**
 * A reverse proxy on loopback, as a load balancer runs in front of the app: it connects from `from` and appends
 * the address it was reached from to X-Forwarded-For, keeping whatever the client sent before it.
 */
async function startProxy(t: TestContext, target: string, from: string): Promise<string> {
  const { hostname, port } = new URL(target);
  const server = http.createServer((req, res) => {
    const forwarded = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
    const upstream = http.request({ host: hostname, port, localAddress: from, method: req.method, path: req.url, headers: { ...req.headers, 'x-forwarded-for': forwarded }, agent: false }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A wrong password sent from `localAddress`, naming a new invented address in X-Forwarded-For each time. */
function spoofedSignIn(url: string, attempt: number): Promise<number> {
  const body = JSON.stringify(wrong);
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/login`, {
      method: 'POST',
      localAddress: '127.0.0.2', // the attacker
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-forwarded-for': `203.0.113.${attempt + 1}` },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('sign-in limit: inventing a new X-Forwarded-For address per attempt still meets 429 at the sixth, under every TRUST_PROXY form production accepts', async (t) => {
  // The proxies connect from 127.0.0.3 (the one in front of the app) and 127.0.0.4; the attacker from 127.0.0.2.
  // `loopback`, `uniquelocal` and `linklocal` are left out: here the attacker is on loopback too, which a real
  // deployment's clients are not (the forms themselves are checked in test/config.test.ts).
  const forms = { false: 0, 1: 1, 2: 2, '127.0.0.3': 1, '127.0.0.3/32': 1, '127.0.0.3/255.255.255.255': 1, '10.0.0.0/8, 127.0.0.3, fd00::/8': 1 };
  const env = { NODE_ENV: 'production', SESSION_SECRET: 'x'.repeat(32), DEMO_USERS: 'true', WEB_CONCURRENCY: '1' };
  const results = await Promise.all(
    Object.entries(forms).map(async ([TRUST_PROXY, proxies]) => {
      const app = await startTestApp((fn) => t.after(fn), { ...env, TRUST_PROXY });
      let url = app.url;
      for (let hop = 0; hop < proxies; hop++) url = await startProxy(t, url, `127.0.0.${3 + hop}`);
      const statuses = [];
      for (let attempt = 0; attempt < 7; attempt++) statuses.push(await spoofedSignIn(url, attempt));
      return [TRUST_PROXY, statuses.join(' ')];
    }),
  );
  assert.deepEqual(Object.fromEntries(results), Object.fromEntries(Object.keys(forms).map((form) => [form, '401 401 401 401 401 429 429'])));
});

test('RATE_LIMIT_MAX_CLIENTS: addresses past the bound share one count, so a flood of invented addresses gains no attempt; the primary says so once', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), { TRUST_PROXY: 'loopback', RATE_LIMIT_MAX_CLIENTS: '3' });
  // Three addresses fill the table with one failure each; they keep their own counts.
  for (const address of ['198.18.0.1', '198.18.0.2', '198.18.0.3']) assert.equal((await signIn(app.url, wrong, address)).status, 401);
  // Every further address is new, and counted together: the sixth of them meets 429, as one address would.
  const flood = [];
  for (let i = 0; i < 7; i++) flood.push((await signIn(app.url, wrong, `198.18.1.${i}`)).status);
  assert.deepEqual(flood, [401, 401, 401, 401, 401, 429, 429]);
  for (let i = 0; i < 4; i++) assert.equal((await signIn(app.url, wrong, '198.18.0.1')).status, 401, 'a counted address keeps its own count');
  assert.equal((await signIn(app.url, wrong, '198.18.0.1')).status, 429, '…which ends at its sixth, as before the bound');
  const full = await app.waitForLog({ role: 'primary', msg: /^rate-limit counters full at RATE_LIMIT_MAX_CLIENTS \(3\): new client addresses of ".*" now share one count/ });
  assert.equal(full.counters, 3);
  assert.equal(app.logged({ msg: /^rate-limit counters full/ }).length, 1, 'said once');
});
