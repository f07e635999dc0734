// ClusterStore across real processes: this test process is the primary (it hosts the store), the
// fixture workers are forked cluster workers calling the store over IPC.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import cluster, { type Worker } from 'node:cluster';
import { after, before, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { ClusterStore } from '../../src/store/index.js';
import { TAG } from '../../src/store/shared/wire.js';
import { call, command, forkStoreWorkers, session } from '../helpers/store-workers.js';

const host = ClusterStore.setup({ maxSessions: 10_000 })!;
let a: Worker;
let b: Worker;

const cleanups: (() => void)[] = [];
before(async () => {
  [a, b] = (await forkStoreWorkers((fn) => cleanups.push(fn), 2)) as [Worker, Worker];
});
after(() => cleanups.forEach((fn) => fn()));

test('cluster store: a session set in one worker is read in another', async () => {
  await call(a, 'set', 'shared', session({ cart: ['apple'] }));
  const read = (await call(b, 'get', 'shared')) as { cart: string[]; cookie: { expires: unknown } };
  assert.deepEqual(read.cart, ['apple']);
  assert.equal(typeof read.cookie.expires, 'string', 'JSON as express-session expects: it rebuilds the Date');
  assert.equal(await call(b, 'get', 'never-set'), null);
});

test('cluster store: destroy in one worker removes the session for all', async () => {
  await call(a, 'set', 'to-destroy', session({ n: 1 }));
  await call(b, 'destroy', 'to-destroy');
  assert.equal(await call(a, 'get', 'to-destroy'), null);
});

test('cluster store: touch extends the expiry the host keeps, data unchanged', async () => {
  await call(a, 'set', 'touched', session({ n: 7 }, new Date(Date.now() + 60_000)));
  const later = new Date(Date.now() + 3_600_000);
  await call(b, 'touch', 'touched', session({ n: 999 }, later));
  const [, json, expiresAt] = [...host.sessions.entries()].find(([sid]) => sid === 'touched') ?? [];
  assert.equal((JSON.parse(json ?? '{}') as { n?: number }).n, 7, 'touch did not write the data it was given');
  assert.equal(expiresAt, later.getTime(), 'the host expires the session at the touched cookie.expires, to the millisecond');
});

test('cluster store: all, length and clear see every worker\'s sessions', async () => {
  await call(a, 'clear');
  await call(a, 'set', '__proto__', session({ from: 'a' }));
  await call(b, 'set', 'constructor', session({ from: 'b' }));
  assert.equal(await call(a, 'length'), 2);
  const all = (await call(b, 'all')) as Record<string, { from: string }>;
  assert.deepEqual(Object.keys(all).sort(), ['__proto__', 'constructor']);
  assert.equal(all['__proto__']?.from, 'a');
  await call(b, 'clear');
  assert.equal(await call(a, 'length'), 0);
});

test('cluster store: 1,000 concurrent operations from 2 workers all answer correctly', async () => {
  const results = await Promise.all([command(a, { cmd: 'many', count: 500, prefix: 'a' }), command(b, { cmd: 'many', count: 500, prefix: 'b' })]);
  assert.deepEqual(
    results.map((r) => r.value),
    [500, 500],
  );
  // And across workers: b reads what a wrote.
  assert.equal(((await call(b, 'get', 'a-499')) as { i: number }).i, 499);
});

test('cluster store: two stores in one worker each get their own answers', async () => {
  assert.deepEqual((await command(a, { cmd: 'two-stores' })).value, [1, 2]);
});

test('cluster store: foreign IPC messages in both directions change nothing', async () => {
  await call(a, 'clear');
  await call(a, 'set', 'keep', session({ v: 1 }));
  const seenByPrimary: unknown[] = [];
  const listen = (_worker: unknown, message: unknown) => seenByPrimary.push(message);

  const toPrimary = [
    'text',
    { type: 'app-message' },
    { tag: TAG },
    { tag: TAG, q: 'not a list' },
    { tag: TAG, c: 1, q: [['x', 'clear'], [1, 'no-such-op'], null] },
    { tag: 'another-library', q: [[1, 'clear']] },
  ];
  cluster.on('message', listen);
  await command(a, { cmd: 'send-foreign', messages: toPrimary }); // IPC keeps order: they all arrived first
  cluster.off('message', listen);
  const toWorker = ['text', { tag: TAG }, { tag: TAG, c: 1, r: 'junk' }, { tag: TAG, c: 1, r: [[123456, null, 'x'], 'junk', null] }, { app: true }];
  for (const message of toWorker) b.send(message);

  assert.equal(((await call(b, 'get', 'keep')) as { v: number }).v, 1, 'the session survives and the host still answers');
  assert.equal(await call(a, 'length'), 1, 'the foreign "clear" requests cleared nothing');
  const seenByWorker = (await command(b, { cmd: 'foreign-seen' })).value as unknown[];
  for (const message of toWorker) {
    assert.ok(seenByWorker.some((seen) => isDeepStrictEqual(seen, message)), `the worker's own listener got ${JSON.stringify(message)}`);
  }
  assert.deepEqual(
    seenByPrimary.filter((m) => (m as { fixture?: string }).fixture !== 'result'),
    toPrimary,
    "the primary's own listeners still get every foreign message",
  );
});

test('cluster store: a worker killed with calls in flight leaves the host serving the others', async (t) => {
  const [doomed] = (await forkStoreWorkers((fn) => t.after(fn), 1)) as [Worker];
  void command(doomed, { cmd: 'many', count: 2000, prefix: 'doomed' }).catch(() => {});
  doomed.process.kill('SIGKILL');
  await new Promise((resolve) => doomed.once('exit', resolve));
  await call(b, 'set', 'after-kill', session({ ok: true }));
  assert.deepEqual(((await call(b, 'get', 'after-kill')) as { ok: boolean }).ok, true);
});

test('cluster store: a worker forked with serialization "advanced" shares sessions, expiries and error codes with json workers', async (t) => {
  const [advanced] = (await forkStoreWorkers((fn) => t.after(fn), 1, { serialization: 'advanced' })) as [Worker];
  if (process.platform === 'linux') assert.ok(readFileSync(`/proc/${advanced.process.pid}/environ`, 'utf8').split('\0').includes('NODE_CHANNEL_SERIALIZATION_MODE=advanced'), 'the fixture worker speaks advanced');
  const expires = new Date(Date.now() + 120_000);
  await call(advanced, 'set', 'crosses-codecs', session({ text: 'quotes " and \\ and ünïcødé', list: [1, null] }, expires));
  const read = (await call(a, 'get', 'crosses-codecs')) as { text: string; list: unknown[]; cookie: { expires: string } };
  assert.equal(read.text, 'quotes " and \\ and ünïcødé');
  assert.deepEqual(read.list, [1, null]);
  // The get rolled the expiry forward from its own second: the cookie must say what the host now holds.
  const [, , heldUntil] = [...host.sessions.entries()].find(([sid]) => sid === 'crosses-codecs') ?? [];
  assert.equal(read.cookie.expires, new Date(heldUntil!).toISOString(), 'the host\'s expiry, as the host holds it');
  await call(a, 'set', 'back-again', session({ from: 'json' }));
  assert.equal(((await call(advanced, 'get', 'back-again')) as { from: string }).from, 'json');
  const big = await command(advanced, { cmd: 'call', op: 'set', args: ['crosses-codecs', session({ v: 'x'.repeat(20_000) })] });
  assert.equal(big.error?.code, 'ERR_SESSION_TOO_LARGE', 'the announced limits reached it too');
  await call(advanced, 'destroy', 'crosses-codecs');
  assert.equal(await call(b, 'get', 'crosses-codecs'), null);
});

test('cluster store: a worker checks writes against the limit the host announced, so a write it reports done is one the host took', async () => {
  const rejected = host.stats().rejected;
  await call(a, 'set', 'sized', session({ v: 'small' }));
  const big = await command(a, { cmd: 'call', op: 'set', args: ['sized', session({ v: 'x'.repeat(20_000) })] });
  assert.equal(big.error?.code, 'ERR_SESSION_TOO_LARGE', 'the worker refused it, with no limit of its own configured');
  assert.match(big.error.message, /over maxSessionBytes \(16384\); it was not saved/);
  assert.equal(host.stats().rejected, rejected, 'nothing reached the host to be refused there');
  assert.equal(((await call(b, 'get', 'sized')) as { v: string }).v, 'small', 'the saved version stands');
});

test('cluster store: a user signed in through both workers is listed from either; ending the others from one leaves exactly that one', async () => {
  await call(a, 'set', 'erin-on-a', session({ userId: 'erin' }));
  await call(b, 'set', 'erin-on-b', session({ userId: 'erin' }));
  const fromA = (await call(a, 'userSessions', 'erin', {})) as { sid: string }[];
  const fromB = (await call(b, 'userSessions', 'erin', {})) as { sid: string }[];
  assert.deepEqual(fromA.map(({ sid }) => sid).sort(), ['erin-on-a', 'erin-on-b']);
  assert.deepEqual(fromB.map(({ sid }) => sid).sort(), ['erin-on-a', 'erin-on-b']);
  assert.equal(await call(b, 'destroyUserSessions', 'erin', { except: 'erin-on-b' }), 1);
  assert.equal(await call(a, 'get', 'erin-on-a'), null, 'the revoked session is gone on the other worker too');
  assert.deepEqual(((await call(a, 'userSessions', 'erin', {})) as { sid: string }[]).map(({ sid }) => sid), ['erin-on-b']);
});
