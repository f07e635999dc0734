// One store conformance suite, written once, run against every session store the template offers
// (test/store/conformance.test.ts): the behaviour express-session and the app rely on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SessionData, Store } from 'express-session';

/** A store whose sessions know their user: ClusterStore and the template's Redis store both are. */
export interface UserAwareStore extends Store {
  userSessions(userId: string, options: { limit?: number }, callback: (error: unknown, sessions?: { sid: string; session: SessionData; lastUsedAt: number; expiresAt: number }[]) => void): void;
  destroyUserSessions(userId: string, options: { except?: string }, callback: (error: unknown, ended?: number) => void): void;
}

export interface StoreUnderTest {
  store: UserAwareStore;
  /** When the store will drop `sid`, in ms since the epoch (to the second), or null if it does not hold it. */
  expiryOf: (sid: string) => Promise<number | null>;
}

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
    assert.ok(Math.abs(readExpiry - expires.getTime()) <= 1000, `cookie.expires within a second of what was saved (${readExpiry - expires.getTime()} ms off)`);
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
    assert.ok(expiry !== null && Math.abs(expiry - later.getTime()) <= 2000, `expires about an hour from now (${expiry})`);
    assert.equal((await get(store, 't'))?.v, 'kept');
  });

  scenario('touch: a later get reports the touched expiry in cookie.expires, so req.session.cookie.maxAge tells the truth', async ({ store, expiryOf }) => {
    await set(store, 'told', session({ v: 1 }, new Date(Date.now() + 60_000)));
    const later = new Date(Date.now() + 3_600_000);
    await call((cb) => store.touch!('told', session({ v: 1 }, later), cb));
    const read = await get(store, 'told');
    const told = new Date(String(read?.cookie.expires)).getTime();
    assert.ok(Math.abs(told - later.getTime()) <= 2000, `cookie.expires is the touched one, about an hour away (${Math.round((told - Date.now()) / 1000)} s)`);
    const dropsAt = await expiryOf('told');
    assert.ok(dropsAt !== null && Math.abs(told - dropsAt) <= 1000, `and it is when the store will drop the session (${told} vs ${dropsAt})`);
  });

  scenario('expiry: a session saved with cookie.expires in the past is gone; the store expires at cookie.expires', async ({ store, expiryOf }) => {
    await set(store, 'old', session({}, new Date(Date.now() + 60_000)));
    await set(store, 'old', session({}, new Date(Date.now() - 1000)));
    assert.equal(await get(store, 'old'), null);
    const expires = new Date(Date.now() + 90_000);
    await set(store, 'new', session({}, expires));
    const expiry = await expiryOf('new');
    assert.ok(expiry !== null && Math.abs(expiry - expires.getTime()) <= 2000, `expires with its cookie (${expiry})`);
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

  const listed = (store: UserAwareStore, userId: string, limit?: number) =>
    call<{ sid: string; session: SessionData; lastUsedAt: number; expiresAt: number }[]>((cb) => store.userSessions(userId, { limit }, cb));

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
