// Setting the store up wrong fails at once, naming the fix: a store before its host, a second setup() with other
// options, unknown option names (habits from other stores), wrong types, options that moved.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { ClusterStore, ErrorCode, sessionLock, snapshots } from '../../src/store/index.js';

test('new ClusterStore() in the primary before ClusterStore.setup() throws, saying to call setup() first', () => {
  assert.throws(() => new ClusterStore(), { message: /needs the host in this process: call ClusterStore\.setup\(\) first/ });
});

test('ClusterStore.setup(): again with the same options returns the same host; with other options it throws a TypeError naming them', () => {
  const host = ClusterStore.setup({ maxSessions: 500, maxSessionBytes: 2048 });
  assert.equal(ClusterStore.setup({ maxSessions: 500, maxSessionBytes: 2048 }), host);
  assert.throws(() => ClusterStore.setup({ maxSessions: 900, maxSessionBytes: 2048, defaultTtlMs: 1000 }), {
    name: 'TypeError',
    message: 'ClusterStore.setup() was already called with other options (`maxSessions`, `defaultTtlMs`): call it once, before forking',
  });
  assert.throws(() => ClusterStore.setup(), { name: 'TypeError', message: /other options \(`maxSessions`, `maxSessionBytes`\)/ }, 'no options is other options too');
  assert.throws(() => ClusterStore.setup({ maxSessions: 500, maxSessionBytes: 2048, features: [snapshots({ file: 'a.jsonl' })] }), { name: 'TypeError', message: /\(`features`\)/ });
});

test('ClusterStore.setup(): features compare by name and settings, so setup() twice with snapshots({ file }) made anew returns the same host', (t) => {
  // setup() keeps one host per process: this needs a process whose first setup() has a feature.
  const dir = mkdtempSync(path.join(tmpdir(), 'ecs-setup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = pathToFileURL(fileURLToPath(new URL('../../src/store/index.ts', import.meta.url))).href;
  const script = `import { ClusterStore, snapshots } from ${JSON.stringify(store)};
const file = ${JSON.stringify(path.join(dir, 'sessions.jsonl'))};
const first = ClusterStore.setup({ features: [snapshots({ file })] });
console.log(first === ClusterStore.setup({ features: [snapshots({ file })] }) ? 'same host' : 'another host');
try { ClusterStore.setup({ features: [snapshots({ file: file + '.other' })] }); } catch (error) { console.log(error.message); }
await first.close();`;
  const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.deepEqual(output.trim().split('\n'), ['same host', 'ClusterStore.setup() was already called with other options (`features`): call it once, before forking']);
});

test('new ClusterStore(): an unknown option name or a wrong type throws a TypeError naming the option', () => {
  const refused: [unknown, RegExp][] = [
    [{ timeout: 100 }, /^new ClusterStore\(\): `timeout` is not an option \(did you mean `timeoutMs`\?\); the options are `timeoutMs`, `touchToleranceMs`, `maxInFlight`, `userField`, `observe`/],
    [{ maxInFlight: 0 }, /`maxInFlight` must be an integer from 1 to 1000000, got 0/],
    [{ ttl: 60 }, /`ttl` is not an option \(the session lifetime is the cookie's maxAge; the host's default is `defaultTtlMs` in ClusterStore\.setup\(\)\)/],
    [{ timeoutMs: '5000' }, /`timeoutMs` must be an integer >= 1, got "5000"/],
    [{ touchToleranceMs: -1 }, /`touchToleranceMs` must be an integer >= 0, got -1/],
    [{ observe: 'metrics' }, /`observe` must be a function, got "metrics"/],
    ['fast', /options must be an object, got "fast"/],
  ];
  for (const [options, message] of refused) assert.throws(() => new ClusterStore(options as never), { name: 'TypeError', message }, JSON.stringify(options));
});

test('new ClusterStore({ maxSessionBytes }): deprecated, warned once; the limit the host announced is the one checked', async (t) => {
  ClusterStore.setup({ maxSessions: 500, maxSessionBytes: 2048 });
  const warnings: Error[] = [];
  const listen = (warning: Error) => warnings.push(warning);
  process.on('warning', listen);
  t.after(() => process.off('warning', listen));
  const store = new ClusterStore({ maxSessionBytes: 100_000 });
  new ClusterStore({ maxIdLength: 10 });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(
    warnings.map((warning) => [warning.name, (warning as Error & { code?: string }).code]),
    [['DeprecationWarning', 'ECS_WORKER_LIMITS']],
  );
  const session = { cookie: { expires: new Date(Date.now() + 60_000) }, blob: 'x'.repeat(3000) };
  const error = await new Promise<unknown>((resolve) => store.set('big', session as never, resolve));
  assert.equal((error as { code?: string }).code, ErrorCode.tooLarge);
  assert.match((error as Error).message, /over maxSessionBytes \(2048\)/);
});

test('sessionLock() and snapshots(): unknown names and wrong types throw a TypeError naming the option', () => {
  ClusterStore.setup({ maxSessions: 500, maxSessionBytes: 2048 });
  const store = new ClusterStore();
  assert.throws(() => sessionLock(store, { cookie: 'sid' } as never), { name: 'TypeError', message: /^sessionLock\(\): `cookie` is not an option; the options are `cookieName`, `waitTimeoutMs`/ });
  assert.throws(() => sessionLock(store, { waitTimeoutMs: 0 }), { name: 'TypeError', message: /`waitTimeoutMs` must be an integer from 1 to 3600000, got 0/ });
  assert.throws(() => snapshots({ file: 123 } as never), { name: 'TypeError', message: /^snapshots\(\): `file` must be a non-empty string, got 123/ });
});
