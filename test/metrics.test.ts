// Metrics on the real app: Prometheus text for the whole cluster from the primary's own port (loopback), never
// from the public port; off with METRICS=false.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CookieJar, request } from './helpers/http.js';
import { startTestApp } from './helpers/app.js';
import { sample } from './helpers/metrics.js';

test('metrics: the primary serves both workers\' counters and the store host\'s figures on METRICS_PORT, bound to 127.0.0.1; the public port has no /metrics', async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  const served = await app.waitForLog({ role: 'primary', msg: /^metrics on / });
  const url = String(served.url);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'on loopback by default');
  const visitors = Array.from({ length: 10 }, () => new CookieJar());
  const workers = new Set<unknown>();
  for (let round = 0; round < 3; round++) {
    for (const visitor of visitors) workers.add((await visitor.get(`${app.url}/hello`)).json.worker);
  }
  assert.equal(workers.size, 2, 'the 30 requests went to both workers');
  assert.equal((await request(`${app.url}/metrics`)).status, 404, 'not on the public port');
  const scrape = await request(url);
  assert.equal(scrape.status, 200);
  assert.match(String(scrape.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const text = scrape.text;
  assert.equal(sample(text, 'ecs_http_requests_total{route="/hello",status="200"}'), 30, 'all 30, from both workers');
  assert.equal(sample(text, 'ecs_store_operations_total{op="set",outcome="ok"}'), 10, 'one save per new visitor');
  assert.equal(sample(text, 'ecs_store_operations_total{op="get",outcome="ok"}'), 20, 'one read per return');
  assert.equal(sample(text, 'ecs_sessions'), 10, 'the sessions the primary holds');
  assert.equal(sample(text, 'ecs_session_users'), 0, 'nobody signed in');
  assert.ok((sample(text, 'ecs_store_operation_duration_seconds_count{op="get"}') ?? 0) >= 20);
  assert.equal(sample(text, 'ecs_store_ipc_timeouts_total'), 0);
  assert.match(text, /^process_cpu_user_seconds_total \d/m, 'with the default process metrics');
  assert.equal((await request(url.replace(/\/metrics$/, '/other'))).status, 404);
});

test('METRICS=false: no metrics port, and no /metrics on the public one', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), { METRICS: 'false', WEB_CONCURRENCY: '1' });
  assert.equal((await request(`${app.url}/metrics`)).status, 404);
  assert.equal(app.logged({ msg: /^metrics on / }).length, 0);
});

test('METRICS_PORT in use: the app stops before any worker starts, naming the setting', async (t) => {
  const first = await startTestApp((fn) => t.after(fn), { WEB_CONCURRENCY: '1' });
  const port = new URL(String((await first.waitForLog({ msg: /^metrics on / })).url)).port;
  const second = await startTestApp((fn) => t.after(fn), { WEB_CONCURRENCY: '1', METRICS_PORT: port }, { waitForWorkers: false });
  assert.equal(await second.exited, 1);
  assert.match(second.lines.join('\n'), new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\): set METRICS_PORT to a free port`));
  assert.equal(second.logged({ msg: /listening on/ }).length, 0, 'no worker started');
});
