// sessionLock in one process, against what an attacker tried: a grant's copy of the session must never outlive the
// request it was taken for (a forged signature leaves it untaken), and every form of one cookie (quoted,
// percent-encoded, another signature) must wait for the same lock.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { SessionData } from 'express-session';
import { ClusterStore, lockStats, sessionLock, sessionLocks } from '../../src/store/index.js';

const host = ClusterStore.setup({ features: [sessionLocks] })!;
const store = new ClusterStore();
const lock = sessionLock(store, { cookieName: 'sid' });

/** Runs the middleware for a request with this Cookie header; resolves once it calls next (the lock granted), with a way to end the response. */
function locked(cookie: string, onNext: () => void = () => {}): Promise<() => void> {
  const res = new EventEmitter() as unknown as ServerResponse;
  const req = { headers: { cookie } } as unknown as IncomingMessage;
  return new Promise((resolve, reject) => {
    lock(req, res, (error?: unknown) => {
      if (error) return reject(error instanceof Error ? error : new Error('the lock failed'));
      onNext();
      resolve(() => res.emit('finish'));
    });
  });
}

const saved = (sid: string) =>
  promisify<string, SessionData, void>(store.set.bind(store))(sid, { cookie: { expires: new Date(Date.now() + 60_000), originalMaxAge: 60_000 }, userId: 'alice' } as never);

test('sessionLock: a grant that express-session does not take (a forged signature) leaves no copy behind: after a sign-out, a get finds nothing', async () => {
  await saved('victim');
  const end = await locked('sid=s:victim.forged-signature'); // express-session would refuse it and never ask for the session
  await promisify(store.destroy.bind(store))('victim'); // the victim signs out, while that request still runs
  const read = await promisify<string, SessionData | null | undefined>(store.get.bind(store))('victim');
  assert.equal(read ?? null, null, 'the signed-out session is not served from the grant\'s copy');
  end();
});

test('sessionLock: the quoted, the percent-encoded and a forged-signature form of one cookie wait for the same lock', async () => {
  await saved('one');
  const end = await locked('sid=s:one.sig');
  const others = ['sid="s:one.sig"', 'sid=s%3Aone.sig', 'sid=s:one.other-signature'].map((cookie) => locked(cookie));
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual([lockStats(host)!.locked, lockStats(host)!.waiting], [1, 3], 'one holder, three in line');
  end();
  for (const other of others) (await other)();
  assert.equal(host.sessions.read('one') !== undefined, true);
});
