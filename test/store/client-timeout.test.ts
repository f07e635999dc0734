// ClusterStore when the primary does not answer: no host at first in this process (the primary), then one.
// Calls fail after timeoutMs or at once on a closed channel, and the store reports disconnect/connect.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Worker } from 'node:cluster';
import { test } from 'node:test';
import { ClusterStore, ErrorCode } from '../../src/store/index.js';
import { call, command, forkStoreWorkers } from '../helpers/store-workers.js';

test('no host: a closed channel fails calls at once, the one in flight included', async (t) => {
  const [worker] = (await forkStoreWorkers((fn) => t.after(fn), 1, { silent: true })) as [Worker];
  let stdout = '';
  worker.process.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  worker.send({ fixture: 'command', id: 0, cmd: 'disconnect-then-get' });
  await once(worker, 'exit');
  const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
    value?: { inFlight: { code: string; atMs: number }; after: { code: string; atMs: number } };
  };
  assert.equal(result.value?.inFlight.code, ErrorCode.closed);
  assert.equal(result.value?.after.code, ErrorCode.closed);
  assert.ok(result.value.after.atMs < 5000, `failed at once (${result.value.after.atMs} ms), not after the 5000 ms timeout`);
});

test('no host: a call fails with ERR_SESSION_STORE_TIMEOUT after timeoutMs (a lock after timeoutMs + its wait), then the store connects when a host starts', async (t) => {
  const [worker] = (await forkStoreWorkers((fn) => t.after(fn), 1)) as [Worker];
  const result = await command(worker, { cmd: 'call', op: 'get', args: ['x'], timeoutMs: 300 });
  assert.equal(result.error?.code, ErrorCode.timeout);
  assert.match(result.error.message, /get got no answer from the primary within 300 ms \(timeoutMs\)/);
  assert.ok(result.elapsedMs >= 295, `waited the full timeout (${result.elapsedMs.toFixed(0)} ms)`);
  assert.ok(result.elapsedMs < 5000, `and no longer (${result.elapsedMs.toFixed(0)} ms)`);
  assert.deepEqual((await command(worker, { cmd: 'events' })).value, ['disconnect']);

  // A lock may wait in the primary for waitMs: the worker gives it timeoutMs more before it gives up.
  const lock = await command(worker, { cmd: 'call', op: 'lock', args: ['key', null, { waitMs: 200, holdMs: 1000, maxWaiters: 1 }], timeoutMs: 300 });
  assert.equal(lock.error?.code, ErrorCode.timeout);
  assert.match(lock.error.message, /lock got no answer from the primary within 500 ms \(timeoutMs\)/);
  assert.ok(lock.elapsedMs >= 495, `waited timeoutMs + waitMs (${lock.elapsedMs.toFixed(0)} ms)`);

  ClusterStore.setup();
  const deadline = Date.now() + 10_000;
  let events: unknown;
  while (Date.now() < deadline) {
    events = (await command(worker, { cmd: 'events' })).value;
    if ((events as string[]).includes('connect')) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.deepEqual(events, ['disconnect', 'connect'], 'the store probes the primary and reports it back');
  assert.equal(await call(worker, 'get', 'x'), null);
});
