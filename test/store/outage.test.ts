// ClusterStore when a host that answered stops answering (a primary stuck in a long task): calls time out, then
// fail fast; a naive route sees 503s, never a crash; and everything heals once the primary answers again. The
// hosts here are made by hand (this process is their primary) so that one can stop and another start.
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { ErrorCode, sessionLocks } from '../../src/store/index.js';
import { StoreHost } from '../../src/store/primary/host.js';
import { request } from '../helpers/http.js';
import { command, eventually, forkStoreWorkers } from '../helpers/store-workers.js';

function startHost(t: TestContext): StoreHost {
  const host = new StoreHost({ features: [sessionLocks] });
  host.attach(cluster);
  t.after(() => host.close());
  return host;
}

test('a primary that stops answering: a call times out, then calls fail fast, a lock waits timeoutMs + its wait; answering again heals', async (t) => {
  const silent = startHost(t);
  const [worker] = (await forkStoreWorkers((fn) => t.after(fn), 1)) as [Worker];
  assert.equal((await command(worker, { cmd: 'call', op: 'length', args: [], timeoutMs: 300 })).value, 0, 'greeted the host');

  // A lock may wait in the primary for waitMs: the worker gives it timeoutMs more before it gives up.
  await silent.close(); // from now on the primary answers nothing
  const lock = await command(worker, { cmd: 'lock', waitMs: 200, holdMs: 1000, maxWaiters: 1, timeoutMs: 300 });
  assert.equal(lock.error?.code, ErrorCode.timeout);
  assert.match(lock.error.message, /lock got no answer from the primary within 500 ms \(timeoutMs \+ its wait\)/);
  assert.ok(lock.elapsedMs >= 495, `waited timeoutMs + waitMs (${lock.elapsedMs.toFixed(0)} ms)`);
  const next = await command(worker, { cmd: 'call', op: 'get', args: ['x'], timeoutMs: 300 });
  assert.equal(next.error?.code, ErrorCode.unavailable);
  assert.ok(next.elapsedMs < 100, `failed fast (${next.elapsedMs.toFixed(0)} ms)`);

  startHost(t);
  assert.deepEqual(await eventually(worker, 'available'), [`unavailable: ${ErrorCode.unavailable}`, 'available']);
  assert.equal((await command(worker, { cmd: 'call', op: 'length', args: [], timeoutMs: 300 })).value, 0);
});

test('an outage reaches a naive route (req.session.views++, no error handler) as a 503, never a crash; it heals without a restart', async (t) => {
  cluster.setupPrimary({ exec: fileURLToPath(new URL('../fixtures/naive-worker.ts', import.meta.url)), execArgv: ['--import', 'tsx'], silent: true });
  const worker = cluster.fork({ TIMEOUT_MS: '300' });
  t.after(() => worker.isDead() || worker.process.kill('SIGKILL'));
  const [address] = (await once(worker, 'listening')) as [AddressInfo];
  const url = `http://127.0.0.1:${address.port}/`;
  // A returning visitor: a cookie signed with the fixture's secret, as express-session signs it.
  const sid = 'returning-visitor';
  const cookie = `connect.sid=${encodeURIComponent(`s:${sid}.${createHmac('sha256', 'naive').update(sid).digest('base64').replace(/=+$/, '')}`)}`;

  // No host answers: the first request waits timeoutMs once, the next ones fail at once; all are 503s.
  const outage = [];
  for (let i = 0; i < 4; i++) {
    const started = performance.now();
    const answer = await request(url, { cookie });
    outage.push({ status: answer.status, ms: performance.now() - started, crashed: /TypeError|Cannot read/.test(answer.text) });
  }
  t.diagnostic(`during the outage: ${outage.map(({ status, ms }) => `${status} in ${ms.toFixed(0)} ms`).join(', ')}`);
  assert.deepEqual(outage.map(({ status }) => status), [503, 503, 503, 503]);
  assert.ok(outage.every(({ crashed }) => !crashed), 'no route crashed on a missing req.session');
  assert.ok(outage.slice(1).every(({ ms }) => ms < 250), 'after the first timeout, requests fail fast');

  startHost(t);
  const deadline = Date.now() + 10_000;
  let healed = await request(url, { cookie });
  while (healed.status !== 200 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    healed = await request(url, { cookie });
  }
  assert.equal(healed.status, 200, 'served again once the primary answers, without a restart');
  const next = await request(url, { cookie: healed.headers['set-cookie']![0]!.split(';')[0] });
  assert.equal(next.json.views, 2, 'and the session counts again');
});
