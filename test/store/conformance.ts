// One store conformance suite, written once, run against every session store the template offers
// (test/store/conformance.test.ts): the behaviour express-session and the app rely on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Request } from 'express';
import type { SessionData, Store } from 'express-session';

/** A store whose sessions know their user: ClusterStore and the template's Redis store both are. */
export interface UserAwareStore extends Store {
  userSessions(userId: string, options: { limit?: number }, callback: (error: unknown, sessions?: { sid: string; session: SessionData; lastUsedAt: number; expiresAt: number }[]) => void): void;
  destroyUserSessions(userId: string, options: { except?: string }, callback: (error: unknown, ended?: number) => void): void;
}

export interface StoreUnderTest {
  store: UserAwareStore;
  /** When the store will drop `sid`, in ms since the epoch, or null if it does not hold it. */
  expiryOf: (sid: string) => Promise<number | null>;
  /** Puts `value` under `sid` behind the store's back (another tool, or corruption), alive for a minute. */
  corrupt: (sid: string, value: string) => Promise<void>;
}

/** The limits both stores run the suite with: their defaults. */
const maxSessionBytes = 16_384;
const maxSessionsPerUser = 100;
const defaultTtlMs = 86_400_000;
/** How far two clocks read in one test may be apart: the store's, when it received a call, and the test's. */
const slackMs = 50;

type Data = SessionData & Record<string, unknown>;

export function storeConformance(name: string, setup: () => Promise<StoreUnderTest>, skip?: string): void {
  const scenario = (title: string, body: (s: StoreUnderTest) => Promise<void>): void => {
    void test(`${name}: ${title}`, { skip }, async () => {
      const under = await setup();
      await call((cb) => under.store.clear!(cb));
      await body(under);
    });
  };

  scenario('set then get returns the session, with cookie.expires as express-session expects', async ({ store }) => {
    const expires = new Date(Date.now() + 60_000);
    await set(store, 'one', session({ cart: ['apple'] }, expires));
    const read = await get(store, 'one');
    assert.deepEqual(read?.cart, ['apple']);
    const readExpiry = new Date(String(read?.cookie.expires)).getTime();
    assert.ok(Math.abs(readExpiry - expires.getTime()) <= slackMs, `cookie.expires is what was saved, to the millisecond (${readExpiry - expires.getTime()} ms off)`);
    assert.equal(await get(store, 'never-set'), null);
  });

  scenario('set overwrites, destroy removes', async ({ store }) => {
    await set(store, 'x', session({ v: 1 }));
    await set(store, 'x', session({ v: 2 }));
    assert.equal((await get(store, 'x'))?.v, 2);
    await call((cb) => store.destroy('x', cb));
    assert.equal(await get(store, 'x'), null);
  });

  scenario('touch moves the expiry and leaves the data as it was', async ({ store, expiryOf }) => {
    await set(store, 't', session({ v: 'kept' }, new Date(Date.now() + 60_000)));
    const later = new Date(Date.now() + 3_600_000);
    await call((cb) => store.touch!('t', session({ v: 'not written' }, later), cb));
    const expiry = await expiryOf('t');
    assert.ok(expiry !== null && Math.abs(expiry - later.getTime()) <= slackMs, `expires an hour from now, as touched (${expiry})`);
    assert.equal((await get(store, 't'))?.v, 'kept');
  });

  scenario('touch: a later get reports the touched expiry in cookie.expires, so req.session.cookie.maxAge tells the truth', async ({ store, expiryOf }) => {
    await set(store, 'told', session({ v: 1 }, new Date(Date.now() + 60_000)));
    const later = new Date(Date.now() + 3_600_000);
    await call((cb) => store.touch!('told', session({ v: 1 }, later), cb));
    const read = await get(store, 'told');
    const told = new Date(String(read?.cookie.expires)).getTime();
    assert.ok(Math.abs(told - later.getTime()) <= slackMs, `cookie.expires is the touched one, an hour away (${told - later.getTime()} ms off)`);
    const dropsAt = await expiryOf('told');
    assert.ok(dropsAt !== null && Math.abs(told - dropsAt) <= slackMs, `and it is when the store will drop the session (${told} vs ${dropsAt})`);
  });

  scenario('expiry: a session saved with cookie.expires in the past is gone; the store expires at cookie.expires', async ({ store, expiryOf }) => {
    await set(store, 'old', session({}, new Date(Date.now() + 60_000)));
    await set(store, 'old', session({}, new Date(Date.now() - 1000)));
    assert.equal(await get(store, 'old'), null);
    const expires = new Date(Date.now() + 90_000);
    await set(store, 'new', session({}, expires));
    const expiry = await expiryOf('new');
    assert.ok(expiry !== null && Math.abs(expiry - expires.getTime()) <= slackMs, `expires with its cookie, to the millisecond (${expiry})`);
  });

  scenario('expiry: a touch to no expiry (a browser-session cookie) gives the session the default lifetime; all() and get() report the same expiry', async ({ store, expiryOf }) => {
    await set(store, 'browser', session({ v: 1 }, new Date(Date.now() + 5000)));
    const loaded = await load(store, 'browser');
    (loaded.cookie as { maxAge: number | null }).maxAge = null;
    await call((cb) => store.touch!('browser', loaded, cb));
    const expiry = await expiryOf('browser');
    assert.ok(expiry !== null && Math.abs(expiry - (Date.now() + defaultTtlMs)) <= slackMs, `a day from now (${expiry === null ? 'gone' : expiry - Date.now()} ms)`);
    await set(store, 'agree', session({ v: 2 }, new Date(Date.now() + 3_600_000)));
    const read = new Date(String((await get(store, 'agree'))?.cookie.expires)).getTime();
    const listed = bySid(await call<unknown>((cb) => store.all!(cb)))['agree'] as Data;
    assert.equal(new Date(String(listed.cookie.expires)).getTime(), read, 'all() reports the expiry get() did');
  });

  scenario('revocation sticks: a request that loaded a session before a destroy cannot save it back; its save fails with ERR_SESSION_ENDED (401)', async ({ store }) => {
    await set(store, 'stolen', session({ userId: 'alice', notes: [] }));
    const inFlight = await load(store, 'stolen');
    await call((cb) => store.destroy('stolen', cb));
    inFlight.notes = ['written after the sign-out'];
    await assert.rejects(call((cb) => store.set('stolen', inFlight, cb)), { code: 'ERR_SESSION_ENDED', statusCode: 401 });
    await call((cb) => store.touch!('stolen', inFlight, cb));
    assert.equal(await get(store, 'stolen'), null, 'neither the save nor the touch brought it back');
    assert.deepEqual(await listed(store, 'alice'), [], 'nor filed it under its user again');
  });

  scenario('revocation sticks: after destroyUserSessions, every in-flight copy of the ended sessions is refused; the kept one saves', async ({ store }) => {
    for (const sid of ['laptop', 'thief-1', 'thief-2']) await set(store, sid, session({ userId: 'bob', n: 0 }));
    const thieves = [await load(store, 'thief-1'), await load(store, 'thief-2')];
    const laptop = await load(store, 'laptop');
    assert.equal(await call<number>((cb) => store.destroyUserSessions('bob', { except: 'laptop' }, cb)), 2);
    for (const [i, thief] of thieves.entries()) {
      thief.n = 1;
      await assert.rejects(call((cb) => store.set(`thief-${i + 1}`, thief, cb)), { code: 'ERR_SESSION_ENDED' });
    }
    laptop.n = 1;
    await call((cb) => store.set('laptop', laptop, cb));
    laptop.n = 2;
    await call((cb) => store.set('laptop', laptop, cb));
    assert.deepEqual((await listed(store, 'bob')).map(({ sid, session }) => [sid, (session as Data).n]), [['laptop', 2]], 'the owner keeps working, and keeps its saves');
  });

  scenario('revocation sticks: a new session (not loaded: no cookie, or regenerate) is created, and its later saves update it', async ({ store }) => {
    const fresh = store.createSession({ sessionID: 'fresh' } as Request, session({ n: 1 })) as unknown as Data;
    await call((cb) => store.set('fresh', fresh, cb));
    fresh.n = 2;
    await call((cb) => store.set('fresh', fresh, cb));
    assert.equal((await get(store, 'fresh'))?.n, 2);
    await call((cb) => store.destroy('fresh', cb));
    fresh.n = 3;
    await assert.rejects(call((cb) => store.set('fresh', fresh, cb)), { code: 'ERR_SESSION_ENDED' }, 'once saved, it is a stored session like any loaded one');
  });

  scenario('limits: a session over maxSessionBytes fails with ERR_SESSION_TOO_LARGE (413) and is not stored; one at the limit is', async ({ store }) => {
    const big = session({ blob: 'x'.repeat(maxSessionBytes) });
    await assert.rejects(call((cb) => store.set('big', big, cb)), { code: 'ERR_SESSION_TOO_LARGE', statusCode: 413 });
    assert.equal(await get(store, 'big'), null);
    const fits = session({ blob: '' });
    fits.blob = 'x'.repeat(maxSessionBytes - Buffer.byteLength(JSON.stringify(fits)));
    await set(store, 'fits', fits);
    assert.equal(((await get(store, 'fits'))?.blob as string).length, (fits.blob as string).length);
  });

  scenario('limits: a user past maxSessionsPerUser loses their least recently used session, no one else\'s', async ({ store }) => {
    await set(store, 'someone-else', session({ userId: 'other' }));
    for (let i = 0; i <= maxSessionsPerUser; i++) await set(store, `cap-${i}`, session({ userId: 'carol' }));
    const carol = await listed(store, 'carol', 1000);
    assert.equal(carol.length, maxSessionsPerUser);
    assert.equal(await get(store, 'cap-0'), null, 'the least recently used ended');
    assert.ok(carol.some(({ sid }) => sid === `cap-${maxSessionsPerUser}`), 'the newest kept');
    assert.ok(await get(store, 'someone-else'));
    assert.equal((await listed(store, 'carol', 10)).length, 10, 'a listing returns what its limit asks');
  });

  scenario('limits: at the cap, a session signed out and a new sign-in end none of the user\'s other sessions', async ({ store }) => {
    for (let i = 0; i < maxSessionsPerUser; i++) await set(store, `full-${i}`, session({ userId: 'erin' }));
    await call((cb) => store.destroy(`full-${maxSessionsPerUser - 1}`, cb)); // signs out on one device
    await set(store, 'again', session({ userId: 'erin' })); // and in again
    const erin = await listed(store, 'erin', 1000);
    assert.equal(erin.length, maxSessionsPerUser, 'back at the cap, nothing ended');
    assert.ok(await get(store, 'full-0'), 'the least recently used is still there');
  });

  scenario('unreadable: a value under a session id that is not a session\'s JSON fails that get with ERR_SESSION_UNREADABLE; the store serves on', async ({ store, corrupt }) => {
    await corrupt('garbled', '{not json');
    await assert.rejects(get(store, 'garbled'), { code: 'ERR_SESSION_UNREADABLE' });
    await corrupt('number', '42');
    await assert.rejects(get(store, 'number'), { code: 'ERR_SESSION_UNREADABLE' });
    await set(store, 'fine', session({ userId: 'dave' }));
    assert.equal((await get(store, 'fine'))?.userId, 'dave');
    assert.deepEqual((await listed(store, 'dave')).map(({ sid }) => sid), ['fine']);
  });

  scenario('all, length and clear see every session', async ({ store }) => {
    for (const sid of ['a', 'b', 'c']) await set(store, sid, session({ sid }));
    assert.equal(await call<number>((cb) => store.length!(cb)), 3);
    const all = await call<unknown>((cb) => store.all!(cb));
    assert.deepEqual(Object.keys(bySid(all)).sort(), ['a', 'b', 'c']);
    await call((cb) => store.clear!(cb));
    assert.equal(await call<number>((cb) => store.length!(cb)), 0);
  });

  scenario('hostile ids are ordinary ids: __proto__, constructor, spaces, unicode, 200 characters', async ({ store }) => {
    const ids = ['__proto__', 'constructor', 'toString', 'a b\tc', 'sess:*', 'ключ-🔑', 'x'.repeat(200)];
    for (const sid of ids) assert.equal(await get(store, sid), null, `${sid.slice(0, 20)} absent at first`);
    for (const [i, sid] of ids.entries()) await set(store, sid, session({ i }));
    for (const [i, sid] of ids.entries()) assert.equal((await get(store, sid))?.i, i, sid.slice(0, 20));
    assert.equal(await call<number>((cb) => store.length!(cb)), ids.length);
    assert.deepEqual(Object.keys(bySid(await call<unknown>((cb) => store.all!(cb)))).sort(), [...ids].sort());
  });

  scenario('users: sessions whose userId is a string are listed under it, most recently saved first, with their data; other values are no user', async ({ store }) => {
    await set(store, 'phone', session({ userId: 'alice', device: 'phone' }));
    await new Promise((resolve) => setTimeout(resolve, 5)); // a later save, by the clock
    await set(store, 'laptop', session({ userId: 'alice', device: 'laptop' }));
    await set(store, 'number', session({ userId: 42 }));
    await set(store, 'proto', session({ userId: '__proto__' }));
    const alice = await listed(store, 'alice');
    assert.deepEqual(alice.map(({ sid, session }) => [sid, (session as Data).device]), [['laptop', 'laptop'], ['phone', 'phone']]);
    for (const { lastUsedAt, expiresAt } of alice) {
      assert.ok(Math.abs(lastUsedAt - Date.now()) < 5000 && expiresAt > Date.now() + 50_000, `last used now, expires in a minute (${lastUsedAt}, ${expiresAt})`);
    }
    assert.deepEqual((await listed(store, '__proto__')).map(({ sid }) => sid), ['proto']);
    assert.deepEqual(await listed(store, '42'), [], 'a number is no user');
    assert.deepEqual((await listed(store, 'alice', 1)).map(({ sid }) => sid), ['laptop'], 'the limit bounds the listing');
  });

  scenario('users: a session saved with another user, with none, or expired leaves the first user\'s list', async ({ store }) => {
    for (const sid of ['moves', 'leaves', 'expires', 'stays']) await set(store, sid, session({ userId: 'bob' }));
    await set(store, 'moves', session({ userId: 'carol' }));
    await set(store, 'leaves', session({}));
    await set(store, 'expires', session({ userId: 'bob' }, new Date(Date.now() - 1000)));
    await call((cb) => store.destroy('stays', cb));
    await set(store, 'new', session({ userId: 'bob' }));
    assert.deepEqual((await listed(store, 'bob')).map(({ sid }) => sid), ['new']);
    assert.deepEqual((await listed(store, 'carol')).map(({ sid }) => sid), ['moves']);
  });

  scenario('users: destroyUserSessions ends every session of the user but the one kept, and no one else\'s', async ({ store }) => {
    for (const sid of ['current', 'tablet', 'work']) await set(store, sid, session({ userId: 'dora' }));
    await set(store, 'other-user', session({ userId: 'erin' }));
    assert.equal(await call<number>((cb) => store.destroyUserSessions('dora', { except: 'current' }, cb)), 2);
    assert.deepEqual((await listed(store, 'dora')).map(({ sid }) => sid), ['current']);
    assert.equal(await get(store, 'tablet'), null, 'an ended session reads as none');
    assert.equal((await get(store, 'current'))?.userId, 'dora');
    assert.equal((await get(store, 'other-user'))?.userId, 'erin');
    assert.equal(await call<number>((cb) => store.destroyUserSessions('dora', {}, cb)), 1);
    assert.equal(await get(store, 'current'), null);
  });

  scenario('concurrent writes: 200 sessions at once all land; 50 racing writes of one session leave one of them', async ({ store }) => {
    await Promise.all(Array.from({ length: 200 }, (_, i) => set(store, `many-${i}`, session({ i }))));
    await Promise.all(Array.from({ length: 50 }, (_, i) => set(store, 'contended', session({ writer: i }))));
    const reads = await Promise.all(Array.from({ length: 200 }, (_, i) => get(store, `many-${i}`)));
    assert.deepEqual(
      reads.map((read) => read?.i),
      Array.from({ length: 200 }, (_, i) => i),
    );
    const winner = (await get(store, 'contended'))?.writer;
    assert.ok(typeof winner === 'number' && winner >= 0 && winner < 50, `one complete write won (${String(winner)})`);
    assert.equal(await call<number>((cb) => store.length!(cb)), 201);
  });
}

function listed(store: UserAwareStore, userId: string, limit?: number) {
  return call<{ sid: string; session: SessionData; lastUsedAt: number; expiresAt: number }[]>((cb) => store.userSessions(userId, { limit }, cb));
}

/** What express-session does for a request with a cookie: get, then build req.session through the store. */
async function load(store: Store, sid: string): Promise<Data> {
  const data = await get(store, sid);
  assert.ok(data, `${sid} is there to load`);
  return store.createSession({ sessionID: sid } as Request, data) as unknown as Data;
}

function session(data: Record<string, unknown>, expires = new Date(Date.now() + 60_000)): Data {
  return { cookie: { originalMaxAge: expires.getTime() - Date.now(), expires, httpOnly: true, path: '/' }, ...data } as unknown as Data;
}

function get(store: Store, sid: string): Promise<Data | null> {
  return call<SessionData | null>((cb) => store.get(sid, cb)).then((value) => (value as Data | null) ?? null);
}

function set(store: Store, sid: string, data: Data): Promise<void> {
  return call((cb) => store.set(sid, data, cb));
}

/** `all` may answer an object keyed by id (ClusterStore, MemoryStore) or a list with `id` (connect-redis). */
function bySid(all: unknown): Record<string, unknown> {
  if (!Array.isArray(all)) return all as Record<string, unknown>;
  return Object.fromEntries(all.map((entry: { id: string }) => [entry.id, entry]));
}

function call<T = void>(fn: (cb: (error?: unknown, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn((error, value) => {
      if (error) reject(error instanceof Error ? error : new Error('store call failed'));
      else resolve(value as T);
    });
  });
}
