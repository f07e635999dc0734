// The log: JSON lines from every process of the real cluster (what a log shipper reads), a readable form for a
// terminal, the request log of LOG_REQUESTS, and errors with their stack. Never the session cookie.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createApp } from '../src/worker/app.js';
import { createLogger } from '../src/log.js';
import { ClusterStore, ErrorCode, StoreError } from '../src/store/index.js';
import { CookieJar, listen } from './helpers/http.js';
import { startTestApp } from './helpers/app.js';
import { until } from './helpers/poll.js';

test('logs: every process writes JSON lines; one line per worker start and exit; LOG_REQUESTS logs requests without the cookie', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), { LOG_REQUESTS: 'true' });
  const jar = new CookieJar();
  for (let i = 0; i < 4; i++) assert.equal((await jar.get(`${app.url}/hello`)).status, 200);
  const cookie = jar.cookie!.split('=')[1]!;
  await app.waitForLog({ role: 'worker', msg: /^GET \/hello 200 in \d+ ms$/ }, 5000);
  app.child.kill('SIGTERM');
  assert.equal(await app.exited, 0);

  const malformed = app.lines.filter((line) => !line.startsWith('{'));
  assert.deepEqual(malformed, [], 'nothing but JSON lines');
  for (const record of app.records) {
    assert.equal(typeof record.level, 'number');
    assert.ok(!Number.isNaN(Date.parse(String(record.time))), `ISO time in ${JSON.stringify(record)}`);
    assert.equal(typeof record.pid, 'number');
    assert.equal(typeof record.hostname, 'string');
    assert.ok(record.role === 'primary' || (record.role === 'worker' && typeof record.worker === 'number'), `who wrote ${JSON.stringify(record)}`);
  }
  for (const workerId of [1, 2]) {
    const about = app.logged({ role: 'primary', workerId });
    assert.deepEqual(
      about.map((record) => [record.level, record.msg.replace(/\d+ ms$/, 'N ms')]),
      [
        [30, `worker ${workerId} (pid ${String(about[0]!.workerPid)}) listening on ${String(about[0]!.url)}`],
        [30, `worker ${workerId} (pid ${String(about[0]!.workerPid)}) exited (code 0) after N ms`],
      ],
      `worker ${workerId}: one line when it started, one when it exited`,
    );
  }
  const requests = app.logged({ role: 'worker', msg: /^GET \/hello 200/ });
  assert.equal(requests.length, 4, 'one line per request');
  type RequestRecord = { req: { method: string; url: string; headers: { cookie?: string } }; res: { statusCode: number }; responseTime: number };
  const [logged, ...later] = requests as unknown as RequestRecord[];
  assert.equal(logged!.req.method, 'GET');
  assert.equal(logged!.req.url, '/hello');
  assert.equal(logged!.res.statusCode, 200);
  assert.equal(typeof logged!.responseTime, 'number');
  assert.deepEqual(later.map((record) => record.req.headers.cookie), ['[redacted]', '[redacted]', '[redacted]'], 'the cookie is redacted');
  assert.ok(!app.lines.some((line) => line.includes(cookie)), 'the session cookie appears nowhere in the log');
});

test('logs: LOG_FORMAT=pretty prints readable lines naming the process', () => {
  const script = `import { createLogger } from './src/log.ts';
createLogger({ logLevel: 'info', logFormat: 'pretty' }, { role: 'worker', worker: 3 }).warn({ workerPid: 1 }, 'store away');`;
  const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.match(output, /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: \[worker 3\] store away\n$/);
});

test('logs: a request that fails with a 500 is logged as an error with its stack; the visitor sees no detail', async (t) => {
  const { lines, log } = workerLog();
  ClusterStore.setup();
  const store = new ClusterStore();
  store.get = (_sid, callback) => callback(new Error('disk on fire'));
  const url = await listen(t, createApp({ store, secrets: ['s'], workerId: 1, log }));
  const jar = new CookieJar();
  await jar.get(`${url}/hello`);
  const answer = await jar.get(`${url}/hello`);
  assert.equal(answer.status, 500);
  assert.deepEqual(answer.json, { error: 'internal error' });
  const errors = lines.map((line) => JSON.parse(line) as { level: number; msg: string; err: { stack: string } }).filter((r) => r.level === 50);
  assert.equal(errors.length, 1, lines.join('\n'));
  assert.equal(errors[0]!.msg, 'GET /hello failed: disk on fire');
  assert.match(errors[0]!.err.stack, /^Error: disk on fire\n {4}at /);
});

test('logs: a session save that fails after the response started (a plain route, a session too large) is logged, not lost silently', async (t) => {
  const { lines, log } = workerLog();
  ClusterStore.setup();
  const store = new ClusterStore();
  store.set = (_sid, _session, callback) => callback?.(new StoreError(ErrorCode.tooLarge, 'session is 99999 bytes of JSON, over maxSessionBytes (16384); it was not saved'));
  const url = await listen(t, createApp({ store, secrets: ['s'], workerId: 1, log }));
  const answer = await new CookieJar().get(`${url}/hello`);
  assert.equal(answer.status, 200, 'express-session saves after the route answered: too late for the status');
  await until(() => lines.some((line) => line.includes('failed after its response had started')), 'the failed save is logged');
  const record = lines.map((line) => JSON.parse(line) as { level: number; msg: string }).find((r) => r.msg.includes('after its response'))!;
  assert.equal(record.level, 50);
  assert.match(record.msg, /^GET \/hello failed after its response had started: session is 99999 bytes of JSON, over maxSessionBytes/);
});

/** A worker's JSON logger whose lines land in `lines`. */
function workerLog() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, log: createLogger({ logLevel: 'info', logFormat: 'json' }, { role: 'worker', worker: 1 }, sink) };
}
