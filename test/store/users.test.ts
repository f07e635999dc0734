// Sessions that know their user, through ClusterStore in this process (the host is here too): listed under the
// user the session's field names, ended all at once but one, and a user id too long for the host refused loudly.
import assert from 'node:assert/strict';
import { promisify } from 'node:util';
import { test } from 'node:test';
import type { SessionData } from 'express-session';
import { ClusterStore, ErrorCode } from '../../src/store/index.js';

const host = ClusterStore.setup({ maxUserIdLength: 64 })!;
const store = new ClusterStore();
const other = new ClusterStore({ userField: 'account' });

const set = (target: ClusterStore, sid: string, data: Record<string, unknown>) =>
  promisify<string, SessionData, void>(target.set.bind(target))(sid, { cookie: { expires: new Date(Date.now() + 60_000), originalMaxAge: 60_000 }, ...data } as never);
const get = promisify<string, SessionData | null | undefined>(store.get.bind(store));
const list = (userId: string, limit?: number) => promisify(store.userSessions.bind(store))(userId, { limit });
const end = (userId: string, except?: string) => promisify(store.destroyUserSessions.bind(store))(userId, { except });

test('userSessions: sessions whose userId is a string are listed under it, most recently used first; any other value is no user', async () => {
  await promisify(store.clear.bind(store))();
  await set(store, 'phone', { userId: 'alice', device: 'phone' });
  await new Promise((resolve) => setTimeout(resolve, 5)); // a later save, by the clock
  await set(store, 'laptop', { userId: 'alice', device: 'laptop' });
  await set(store, 'number', { userId: 42 });
  await set(store, 'object', { userId: { id: 'alice' } });
  await set(store, 'proto', { userId: '__proto__' });
  await set(store, 'anonymous', {});
  const alice = await list('alice');
  assert.deepEqual(alice?.map(({ sid, session }) => [sid, (session as { device?: string }).device]), [['laptop', 'laptop'], ['phone', 'phone']]);
  assert.ok(alice.every(({ lastUsedAt, expiresAt }) => lastUsedAt <= Date.now() && expiresAt > Date.now()), 'with when it was last used and when it expires');
  assert.deepEqual((await list('__proto__'))?.map(({ sid }) => sid), ['proto']);
  assert.equal(host.stats().users, 2, 'alice and "__proto__"; 42, an object and nothing are no user');
  await new Promise((resolve) => setTimeout(resolve, 5));
  await get('phone');
  assert.deepEqual((await list('alice', 1))?.map(({ sid }) => sid), ['phone'], 'a read is use; the limit bounds the listing');
});

test('destroyUserSessions: ends every session of the user but the one kept; the ended ones are gone for every store', async () => {
  await promisify(store.clear.bind(store))();
  for (const sid of ['current', 'tablet', 'work']) await set(store, sid, { userId: 'bob' });
  await set(store, 'someone-else', { userId: 'carol' });
  assert.equal(await end('bob', 'current'), 2);
  assert.deepEqual((await list('bob'))?.map(({ sid }) => sid), ['current']);
  assert.equal(await get('tablet'), null);
  assert.ok(await get('someone-else'), "another user's session is untouched");
  assert.equal(await end('bob'), 1, 'without except: all of them');
  assert.equal(await get('current'), null);
});

test('userField: a store can name another session field; the same user id files sessions of either store together', async () => {
  await promisify(store.clear.bind(store))();
  await set(other, 'by-account', { account: 'dora', userId: 'not this one' });
  await set(store, 'by-user-id', { userId: 'dora' });
  assert.deepEqual((await list('dora'))?.map(({ sid }) => sid).sort(), ['by-account', 'by-user-id']);
});

test('a user id longer than the host allows fails the save with ERR_SESSION_USER_ID_TOO_LONG, naming the limit', async () => {
  await assert.rejects(set(store, 'long', { userId: 'u'.repeat(65) }), {
    code: ErrorCode.userIdTooLong,
    message: /user id of 65 characters, over maxUserIdLength \(64\); the session was not saved/,
  });
  assert.equal(await get('long'), null);
});
