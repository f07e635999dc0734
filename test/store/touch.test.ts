// Rolling expiry without a second round trip: the host rolls a session forward when it is read, so the touch
// express-session sends at the end of the same request is skipped unless it asks for something else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Request } from 'express';
import type { SessionData } from 'express-session';
import { ClusterStore } from '../../src/store/index.js';

// In this process (no cluster worker) the store talks to a host in the same process.
const host = ClusterStore.setup({ maxSessionBytes: 1024 })!;
const store = new ClusterStore({ touchToleranceMs: 2000 });

function promised<T>(fn: (cb: (error?: unknown, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn((error, value) => {
      if (error) reject(error instanceof Error ? error : new Error('store call failed'));
      else resolve(value as T);
    });
  });
}

function cookie(expires: Date) {
  return { originalMaxAge: 3_600_000, expires, httpOnly: true, path: '/' } as SessionData['cookie'];
}

/** What express-session does for a returning visitor: get, build req.session, and later touch it. */
async function load(sid: string) {
  const data = await promised<SessionData | null>((cb) => store.get(sid, cb));
  assert.ok(data);
  return store.createSession({ sessionID: sid } as Request, data);
}

const expiryInHost = (sid: string) => [...host.sessions.entries()].find(([id]) => id === sid)?.[2];

test('touch: after a get that rolled the expiry, a touch asking for the same expiry makes no request', async () => {
  await promised((cb) => store.set('same', { cookie: cookie(new Date(Date.now() + 3_600_000)) } as SessionData, cb));
  const session = await load('same');
  const rolled = expiryInHost('same')!;
  assert.ok(rolled > Date.now() + 3_599_000 && rolled <= Date.now() + 3_600_000, 'the get rolled the expiry by exactly its lifetime (the cookie\'s maxAge), from when it read it');
  session.cookie.expires = new Date(rolled + 1500);
  const before = host.stats().requests;
  await promised((cb) => store.touch('same', session, cb));
  assert.equal(host.stats().requests, before, 'no round trip');
});

test('touch: a touch asking for a different expiry is sent and moves it', async () => {
  await promised((cb) => store.set('other', { cookie: cookie(new Date(Date.now() + 3_600_000)) } as SessionData, cb));
  const session = await load('other');
  const later = new Date(Date.now() + 7_200_000);
  session.cookie.expires = later;
  const before = host.stats().requests;
  await promised((cb) => store.touch('other', session, cb));
  assert.equal(host.stats().requests, before + 1);
  assert.equal(expiryInHost('other'), later.getTime());
});

test('touch: a session this store did not load is always sent', async () => {
  await promised((cb) => store.set('foreign', { cookie: cookie(new Date(Date.now() + 1000)) } as SessionData, cb));
  const before = host.stats().requests;
  const expires = new Date(Date.now() + 60_000);
  await promised((cb) => store.touch('foreign', { cookie: cookie(expires) } as SessionData, cb));
  assert.equal(host.stats().requests, before + 1);
  assert.equal(expiryInHost('foreign'), expires.getTime());
});

test('set: a session over the host\'s maxSessionBytes fails in the worker, before anything is sent', async () => {
  const before = host.stats().requests;
  const big = { cookie: cookie(new Date(Date.now() + 60_000)), blob: 'x'.repeat(2000) } as unknown as SessionData;
  await assert.rejects(
    promised((cb) => store.set('big', big, cb)),
    { code: 'ERR_SESSION_TOO_LARGE', message: /over maxSessionBytes \(1024\); it was not saved/ },
  );
  assert.equal(host.stats().requests, before);
});

test('touch: a session whose cookie becomes a browser-session cookie (maxAge = null) after a rolled get reaches the host and gets the default lifetime', async () => {
  await promised((cb) => store.set('browser', { cookie: cookie(new Date(Date.now() + 5000)) } as SessionData, cb));
  const session = await load('browser');
  (session.cookie as { maxAge: number | null }).maxAge = null; // what a route does for a cookie that ends with the browser
  const before = host.stats().requests;
  await promised((cb) => store.touch('browser', session, cb));
  assert.equal(host.stats().requests, before + 1, 'the touch was sent');
  const expiry = expiryInHost('browser')!;
  assert.ok(expiry > Date.now() + 86_400_000 - 1000 && expiry <= Date.now() + 86_400_000, `the default lifetime, a day (${expiry - Date.now()} ms left)`);
});

test('get: a session read reports the expiry the host keeps, and all() reports the same one', async () => {
  await promised((cb) => store.set('agree', { cookie: cookie(new Date(Date.now() + 3_600_000)) } as SessionData, cb));
  const read = await promised<SessionData | null>((cb) => store.get('agree', cb));
  const all = (await promised<Record<string, SessionData> | null>((cb) => store.all(cb)))!;
  assert.equal(new Date(read!.cookie.expires!).getTime(), expiryInHost('agree'));
  assert.equal(new Date(all['agree']!.cookie.expires!).getTime(), expiryInHost('agree'), 'all() and get() agree');
});

test('maxInFlight: a worker keeps at most that many answered calls outstanding; the rest wait their turn and are all answered', async () => {
  const narrow = new ClusterStore({ maxInFlight: 2 });
  await promised((cb) => narrow.set('busy', { cookie: cookie(new Date(Date.now() + 60_000)) } as SessionData, cb));
  const batches: number[] = [];
  const accept = host.accept.bind(host);
  host.accept = (requests, send, owner) => {
    batches.push(requests.filter((request) => (request as unknown[])[1] === 'get').length);
    accept(requests, send, owner);
  };
  try {
    const reads = await Promise.all(Array.from({ length: 10 }, () => promised<SessionData | null>((cb) => narrow.get('busy', cb))));
    assert.equal(reads.filter((read) => read !== null).length, 10, 'every read answered');
    assert.ok(Math.max(...batches) <= 2, `never more than 2 reads in one message (${batches.join(', ')})`);
    assert.ok(batches.length >= 5, 'they went out as earlier ones were answered');
  } finally {
    host.accept = accept;
  }
});
