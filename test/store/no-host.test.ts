// ClusterStore when the primary hosts nothing. This test process is the primary: at first it never called
// ClusterStore.setup(), then it does. Every call ends within timeoutMs with an error, none is reported done that
// no host took, later calls fail fast, and the store finds the host once there is one.
import assert from 'node:assert/strict';
import type { Worker } from 'node:cluster';
import { once } from 'node:events';
import { test } from 'node:test';
import { ClusterStore, ErrorCode } from '../../src/store/index.js';
import { call, command, eventually, forkStoreWorkers, type Result } from '../helpers/store-workers.js';

test('closed channel: calls fail at once, the one in flight included', async (t) => {
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

test('no setup() in the primary: every call, set and destroy included, fails with ERR_SESSION_STORE_NO_HOST within timeoutMs, once with a warning; then fast; a host that starts later is found', async (t) => {
  const [worker] = (await forkStoreWorkers((fn) => t.after(fn), 1, { silent: true })) as [Worker];
  let stderr = '';
  worker.process.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const set = await command(worker, { cmd: 'call', op: 'set', args: ['x', { cookie: {} }], timeoutMs: 300 });
  assert.equal(set.error?.code, ErrorCode.noHost, 'a write is not reported done when nobody hosts the store');
  assert.match(set.error.message, /no host answered within 300 ms \(timeoutMs\): call ClusterStore\.setup\(\) in the primary before forking the workers/);
  assert.ok(set.elapsedMs >= 295 && set.elapsedMs < 5000, `waited the timeout once (${set.elapsedMs.toFixed(0)} ms)`);
  const fast: Result[] = [];
  for (const op of ['destroy', 'get', 'set']) fast.push(await command(worker, { cmd: 'call', op, args: op === 'set' ? ['x', { cookie: {} }] : ['x'], timeoutMs: 300 }));
  assert.deepEqual(fast.map((result) => result.error?.code), [ErrorCode.noHost, ErrorCode.noHost, ErrorCode.noHost]);
  assert.ok(fast.every((result) => result.elapsedMs < 100), `then at once: ${fast.map((result) => result.elapsedMs.toFixed(0)).join(', ')} ms`);
  assert.equal(stderr.match(/\[ERR_SESSION_STORE_NO_HOST\] Warning: session store: no host answered/g)?.length, 1, `warned once:\n${stderr}`);

  ClusterStore.setup();
  assert.deepEqual(await eventually(worker, 'available'), [`unavailable: ${ErrorCode.noHost}`, 'available'], 'the store probes the primary and reports it back');
  await call(worker, 'set', 'x', { cookie: { expires: new Date(Date.now() + 60_000) }, v: 1 });
  assert.equal(((await call(worker, 'get', 'x')) as { v: number }).v, 1);
});
