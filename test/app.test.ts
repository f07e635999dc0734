// createApp in one process: the /hello behaviour, cookies, errors. The store is a ClusterStore in this process
// (no workers: it talks to the host directly), or a store made to fail.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import session from 'express-session';
import { createApp, type AppOptions } from '../src/worker/app.js';
import { ClusterStore } from '../src/store/index.js';
import { StoreError, ErrorCode } from '../src/store/index.js';
import { CookieJar, listen, request } from './helpers/http.js';

// This process is the primary: it hosts the store that the apps' ClusterStores talk to directly.
ClusterStore.setup();
const secrets = ['test-secret-new', 'test-secret-old'];

function app(options: Partial<AppOptions> = {}) {
  return createApp({ store: new ClusterStore(), secrets, workerId: 7, ...options });
}

test('GET /hello: first visit says Hello, later visits with the cookie say Hello again', async (t) => {
  const url = await listen(t, app());
  const jar = new CookieJar();
  const first = await jar.get(`${url}/hello`);
  assert.equal(first.status, 200);
  assert.equal(first.json.msg, 'Hello from worker 7');
  assert.match(jar.cookie ?? '', /^ecs\.sid=s%3A/);
  for (let i = 0; i < 3; i++) assert.equal((await jar.get(`${url}/hello`)).json.msg, 'Hello again from worker 7');
});

test('GET /hello: a returning visit costs one store request (the get rolls the expiry; the touch is skipped)', async (t) => {
  const host = ClusterStore.setup()!;
  const url = await listen(t, app());
  const jar = new CookieJar();
  await jar.get(`${url}/hello`);
  const sid = decodeURIComponent(jar.cookie!.slice('ecs.sid='.length)).slice(2).split('.')[0]!;
  const before = host.stats().requests;
  const expiryBefore = [...host.sessions.entries()].find(([id]) => id === sid)?.[2] ?? 0;
  for (let i = 0; i < 5; i++) assert.equal((await jar.get(`${url}/hello`)).json.msg, 'Hello again from worker 7');
  assert.equal(host.stats().requests - before, 5, 'five visits, five gets, no touch');
  const expiryAfter = [...host.sessions.entries()].find(([id]) => id === sid)?.[2] ?? 0;
  assert.ok(expiryAfter >= expiryBefore, 'rolling expiry kept');
});

test('GET /hello: the session cookie is httpOnly, SameSite=Lax, with a max age, not named connect.sid', async (t) => {
  const url = await listen(t, app({ sessionMaxAgeMs: 3_600_000 }));
  const setCookie = (await request(`${url}/hello`)).headers['set-cookie']?.[0] ?? '';
  assert.match(setCookie, /^ecs\.sid=/);
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Lax/);
  const expires = Date.parse(/Expires=([^;]+)/.exec(setCookie)?.[1] ?? '');
  assert.ok(Math.abs(expires - (Date.now() + 3_600_000)) < 60_000, 'expires about an hour from now');
});

test('secure cookies: sent over HTTPS only; behind a trusted proxy, X-Forwarded-Proto: https counts as HTTPS', async (t) => {
  const direct = await listen(t, app({ secureCookie: true }));
  const plain = await request(`${direct}/hello`, { headers: { 'x-forwarded-proto': 'https' } });
  assert.equal(plain.headers['set-cookie'], undefined, 'plain HTTP, proxy not trusted: no cookie');
  const proxied = await listen(t, app({ secureCookie: true, trustProxy: 'loopback' }));
  const viaProxy = await request(`${proxied}/hello`, { headers: { 'x-forwarded-proto': 'https' } });
  assert.match(viaProxy.headers['set-cookie']?.[0] ?? '', /; Secure/);
});

test('GET /hello: a forged or garbage cookie gets a fresh session', async (t) => {
  const url = await listen(t, app());
  const jar = new CookieJar();
  await jar.get(`${url}/hello`);
  const sid = decodeURIComponent(jar.cookie!.slice('ecs.sid='.length)).slice(2).split('.')[0];
  const forged = `ecs.sid=${encodeURIComponent(`s:${sid}.forgedsignature`)}`;
  for (const cookie of [forged, `ecs.sid=${sid}`, 'ecs.sid=%%%garbage', `ecs.sid=${'x'.repeat(4000)}`]) {
    const response = await request(`${url}/hello`, { cookie });
    assert.equal(response.status, 200, cookie.slice(0, 40));
    assert.equal(response.json.msg, 'Hello from worker 7', `${cookie.slice(0, 40)}… is not the session`);
  }
});

test('GET /hello: a cookie signed with an older secret of the list still verifies (rotation)', async (t) => {
  const oldApp = await listen(t, app({ secrets: ['test-secret-old'] }));
  const jar = new CookieJar();
  await jar.get(`${oldApp}/hello`);
  const rotated = await listen(t, app({ secrets }));
  assert.equal((await jar.get(`${rotated}/hello`)).json.msg, 'Hello again from worker 7');
});

test('GET /healthz answers 200 without touching the session store', async (t) => {
  const url = await listen(t, app({ store: failingStore() }));
  const response = await request(`${url}/healthz`);
  assert.equal(response.status, 200);
  assert.equal(response.headers['set-cookie'], undefined);
});

test('errors: an unreachable store answers 503 JSON with Retry-After', async (t) => {
  const url = await listen(t, app({ store: failingStore() }));
  const jar = new CookieJar();
  assert.equal((await jar.get(`${url}/hello`)).status, 200, 'a first visit saves without reading');
  const response = await jar.get(`${url}/hello`);
  assert.equal(response.status, 503);
  assert.equal(response.headers['retry-after'], '1');
  assert.deepEqual(response.json, { error: 'session store unavailable, try again shortly' });
});

test('errors: while the store reports disconnect, /hello answers 503 instead of a sessionless page', async (t) => {
  const store = new session.MemoryStore();
  const url = await listen(t, app({ store }));
  store.emit('disconnect');
  assert.equal((await request(`${url}/hello`)).status, 503);
  store.emit('connect');
  assert.equal((await request(`${url}/hello`)).status, 200);
});

test('errors: unknown paths answer 404 JSON and no X-Powered-By header', async (t) => {
  const url = await listen(t, app());
  const response = await request(`${url}/nope`);
  assert.equal(response.status, 404);
  assert.deepEqual(response.json, { error: 'not found' });
  assert.equal(response.headers['x-powered-by'], undefined);
});

function failingStore(): session.Store {
  const store = new session.MemoryStore();
  store.get = (_sid, callback) => setImmediate(() => callback(new StoreError(ErrorCode.timeout, 'no answer')));
  return store;
}

test('the page: GET / is HTML; POST /api/visit counts visits in the session; POST /logout forgets it', async (t) => {
  const url = await listen(t, app());
  const page = await request(`${url}/`);
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  assert.match(page.text, /Send 20 requests/);
  const jar = new CookieJar();
  let last: Record<string, unknown> = {};
  for (let i = 0; i < 3; i++) last = (await jarPost(jar, `${url}/api/visit`)).json;
  assert.deepEqual({ visits: last.visits, worker: last.worker }, { visits: 3, worker: 7 });
  assert.equal((await jar.get(`${url}/api/session`)).json.visits, 3);
  assert.deepEqual((await jarPost(jar, `${url}/logout`)).json, { ok: true });
  assert.equal((await jar.get(`${url}/api/session`)).json.visits, 0, 'a fresh start');
});

async function jarPost(jar: CookieJar, url: string) {
  const response = await request(url, { method: 'POST', cookie: jar.cookie });
  const setCookie = response.headers['set-cookie']?.[0];
  if (setCookie) jar.cookie = setCookie.split(';')[0];
  return response;
}

test('security headers: a Content-Security-Policy with no inline script or style, and helmet\'s headers, on the page and on a JSON route', async (t) => {
  const url = await listen(t, app());
  for (const path of ['/', '/hello', '/app.js']) {
    const { status, headers } = await request(`${url}${path}`);
    assert.equal(status, 200, path);
    const csp = String(headers['content-security-policy']);
    for (const directive of ["default-src 'self'", "script-src 'self'", "script-src-attr 'none'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'"]) {
      assert.ok(csp.split(';').includes(directive), `${path}: ${directive} in ${csp}`);
    }
    assert.ok(!csp.includes('unsafe-inline'), `${path}: nothing inline allowed`);
    assert.ok(!csp.includes('upgrade-insecure-requests'), `${path}: plain HTTP in development keeps working`);
    assert.equal(headers['x-content-type-options'], 'nosniff', path);
    assert.equal(headers['referrer-policy'], 'no-referrer', path);
    assert.equal(headers['cross-origin-opener-policy'], 'same-origin', path);
    assert.equal(headers['x-frame-options'], 'SAMEORIGIN', path);
    assert.equal(headers['strict-transport-security'], undefined, `${path}: no HSTS over plain HTTP`);
  }
  const page = (await request(`${url}/`)).text;
  assert.doesNotMatch(page, /<script>|<style>| style="/, 'the page has no inline script or style');
  const secure = await listen(t, app({ secureCookie: true }));
  const production = await request(`${secure}/hello`);
  assert.match(String(production.headers['content-security-policy']), /upgrade-insecure-requests/);
  assert.match(String(production.headers['strict-transport-security']), /max-age=\d+/);
});
