// Sign-in and "Your sessions" in one process (createApp on a ClusterStore whose host is this process): a new
// session id at sign-in that keeps the visitor's data, the user's sessions listed and signed out, and cross-site
// state changes refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createApp } from '../src/worker/app.js';
import { ClusterStore } from '../src/store/index.js';
import http from 'node:http';
import { CookieJar, listen, request } from './helpers/http.js';
import { until } from './helpers/poll.js';

const host = ClusterStore.setup()!;
/** A fresh app on an empty store: the tests of this file share one host. */
const app = () => {
  host.sessions.clear();
  return createApp({ store: new ClusterStore(), secrets: ['account-test'], workerId: 7 });
};
const alice = { username: 'alice', password: 'alice-demo-password' };

async function signedIn(url: string, credentials = alice, headers: Record<string, string> = {}): Promise<CookieJar> {
  const jar = new CookieJar();
  const answer = await jar.post(`${url}/login`, credentials, headers);
  assert.equal(answer.status, 200, answer.text);
  return jar;
}

test('sign-in: the session id changes, the visitor\'s data survives, and the pre-sign-in cookie no longer reaches the signed-in session', async (t) => {
  const url = await listen(t, app());
  const jar = new CookieJar();
  await jar.post(`${url}/api/visit`);
  await jar.post(`${url}/api/visit`);
  const before = jar.cookie!;
  const login = await jar.post(`${url}/login`, alice);
  assert.deepEqual(login.json.user, { id: 'u-alice', name: 'alice', displayName: 'Alice' });
  assert.equal(login.json.worker, 7);
  assert.notEqual(jar.cookie, before, 'a new session id');
  assert.equal((await jar.get(`${url}/api/session`)).json.visits, 2, 'the visits made before signing in are kept');
  const old = await request(`${url}/api/me`, { cookie: before });
  assert.equal(old.json.user, null, 'the old cookie is not signed in');
  assert.equal((await request(`${url}/api/session`, { cookie: before })).json.visits, 0, 'and its session is gone');
});

test('sign-in: a wrong password or an unknown name answers 401 and signs nobody in', async (t) => {
  const url = await listen(t, app());
  const jar = new CookieJar();
  assert.equal((await jar.post(`${url}/login`, { username: 'alice', password: 'guess' })).status, 401);
  assert.equal((await jar.post(`${url}/login`, { username: 'mallory', password: 'alice-demo-password' })).status, 401);
  assert.equal((await jar.post(`${url}/login`, { username: 'alice' })).status, 400);
  assert.equal((await jar.get(`${url}/api/me`)).json.user, null);
});

test('your sessions: every session of the user, this device marked; sign out one; sign out all others', async (t) => {
  const url = await listen(t, app());
  const phone = await signedIn(url, alice, { 'user-agent': 'Phone/1.0' });
  const laptop = await signedIn(url, alice, { 'user-agent': 'Laptop/2.0' });
  const tablet = await signedIn(url, alice, { 'user-agent': 'Tablet/3.0' });
  await signedIn(url, { username: 'bob', password: 'bob-demo-password' });
  const listed = (await laptop.get(`${url}/api/sessions`)).json.sessions as { id: string; current: boolean; device: string; address: string; signedInAt: number; lastSeenAt: number }[];
  assert.deepEqual(listed.map(({ device, current }) => [device, current]).sort(), [['Laptop/2.0', true], ['Phone/1.0', false], ['Tablet/3.0', false]], "alice's three, not bob's");
  assert.ok(listed.every(({ address, signedInAt, lastSeenAt }) => address.length > 0 && signedInAt <= lastSeenAt), 'with address and times');
  assert.ok(listed.every(({ id }) => !(laptop.cookie ?? '').includes(id)), 'handles, not session ids');

  const phoneId = listed.find(({ device }) => device === 'Phone/1.0')!.id;
  assert.deepEqual((await laptop.post(`${url}/api/sessions/revoke`, { id: phoneId })).json, { ended: 1 });
  assert.equal((await phone.get(`${url}/api/me`)).json.user, null, 'the phone is signed out on its next request');
  assert.equal((await laptop.post(`${url}/api/sessions/revoke-others`)).json.ended, 1);
  assert.equal((await tablet.get(`${url}/api/me`)).json.user, null);
  assert.deepEqual(((await laptop.get(`${url}/api/sessions`)).json.sessions as unknown[]).length, 1, 'this device stays');
  assert.equal((await phone.get(`${url}/api/sessions`)).status, 401);
});

test('your sessions: the page lists at most maxSessionsPerUser (the store\'s cap: SESSION_MAX_PER_USER), newest first', async (t) => {
  host.sessions.clear();
  const url = await listen(t, createApp({ store: new ClusterStore(), secrets: ['account-test'], workerId: 7, maxSessionsPerUser: 3 }));
  const devices: CookieJar[] = [];
  for (let i = 0; i < 5; i++) devices.push(await signedIn(url, alice, { 'user-agent': `Device/${i}` }));
  const listed = (await devices[4]!.get(`${url}/api/sessions`)).json.sessions as { device: string }[];
  assert.deepEqual(listed.map(({ device }) => device), ['Device/4', 'Device/3', 'Device/2'], 'the newest three, newest first');
});

test('sign-in carries only an anonymous visitor\'s data, as it is when the sign-in runs: switching accounts starts clean, and a session signed out meanwhile carries nothing', async (t) => {
  const url = await listen(t, app());
  const alice_ = await signedIn(url);
  await alice_.post(`${url}/notes`, { note: 'alice\'s secret' });
  const switched = await alice_.post(`${url}/login`, { username: 'bob', password: 'bob-demo-password' });
  assert.equal(switched.status, 200);
  assert.deepEqual((await alice_.get(`${url}/notes`)).json.notes, [], 'bob does not get alice\'s notes');

  // A thief holds back the body of a sign-in with a copy of an anonymous visitor's cookie; the visitor's session
  // ends meanwhile; the sign-in must not bring its data back under a new id.
  const visitor = new CookieJar();
  await visitor.post(`${url}/notes`, { note: 'the visitor\'s cart' });
  const sid = decodeURIComponent(visitor.cookie!.split('=')[1]!).slice(2).split('.')[0]!;
  const loaded = host.stats().requests;
  const body = JSON.stringify({ username: 'bob', password: 'bob-demo-password' });
  const held = http.request(`${url}/login`, { method: 'POST', agent: false, headers: { cookie: visitor.cookie, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
  const answered = new Promise<string>((resolve) => held.on('response', (res) => resolve(res.headers['set-cookie']![0]!.split(';')[0]!)));
  held.flushHeaders();
  await until(() => host.stats().requests > loaded, 'the sign-in to load the session');
  host.sessions.destroy(sid);
  held.end(body);
  const thief = await answered;
  assert.deepEqual((await request(`${url}/notes`, { cookie: thief })).json.notes, [], 'nothing of the ended session came back');
});

test('sign-in: an anonymous visitor\'s data is kept; signing in again as the same user keeps the session\'s data; as another user, none of it', async (t) => {
  const url = await listen(t, app());
  const visitor = new CookieJar();
  await visitor.post(`${url}/notes`, { note: 'cart: 1 book' });
  await visitor.post(`${url}/login`, alice);
  assert.deepEqual((await visitor.get(`${url}/notes`)).json.notes, ['cart: 1 book'], 'the anonymous visitor\'s cart follows the sign-in');
  await visitor.post(`${url}/notes`, { note: 'alice\'s draft' });
  const again = await visitor.post(`${url}/login`, alice);
  assert.equal(again.status, 200);
  assert.deepEqual((await visitor.get(`${url}/notes`)).json.notes, ['cart: 1 book', 'alice\'s draft'], 'alice signing in again keeps her session\'s data');
  await visitor.post(`${url}/login`, { username: 'bob', password: 'bob-demo-password' });
  assert.deepEqual((await visitor.get(`${url}/notes`)).json.notes, [], 'bob starts with nothing of alice\'s (nor of the cart she carried in)');
  assert.equal(((await visitor.get(`${url}/api/me`)).json.user as { name: string } | null)?.name, 'bob');
});

test('cross-site: a POST from another site (Origin, Sec-Fetch-Site) is refused with 403 and changes nothing', async (t) => {
  const url = await listen(t, app());
  const visitor = new CookieJar();
  assert.equal((await visitor.post(`${url}/login`, alice, { origin: 'https://evil.example' })).status, 403);
  assert.equal((await visitor.get(`${url}/api/me`)).json.user, null, 'nobody signed in');
  const laptop = await signedIn(url);
  await signedIn(url);
  for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'https://evil.example' }]) {
    assert.equal((await laptop.post(`${url}/api/sessions/revoke-others`, {}, headers)).status, 403, JSON.stringify(headers));
    assert.equal((await laptop.post(`${url}/logout`, {}, headers)).status, 403);
  }
  assert.equal(((await laptop.get(`${url}/api/sessions`)).json.sessions as unknown[]).length, 2, 'both sessions still there');
  assert.equal((await laptop.post(`${url}/api/sessions/revoke-others`, {}, { 'sec-fetch-site': 'same-origin', origin: url })).status, 200, 'its own page may');
});
