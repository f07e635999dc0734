// GET /metrics on the real app: Prometheus text for the whole cluster, whichever worker is asked, and off with
// METRICS=false.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CookieJar, request } from './helpers/http.js';
import { startTestApp } from './helpers/app.js';
import { sample } from './helpers/metrics.js';

test('GET /metrics: counters of both workers add up, with the store host\'s own figures', async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  const visitors = Array.from({ length: 10 }, () => new CookieJar());
  const workers = new Set<unknown>();
  for (let round = 0; round < 3; round++) {
    for (const visitor of visitors) workers.add((await visitor.get(`${app.url}/hello`)).json.worker);
  }
  assert.equal(workers.size, 2, 'the 30 requests went to both workers');
  const scrape = await request(`${app.url}/metrics`);
  assert.equal(scrape.status, 200);
  assert.match(String(scrape.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const text = scrape.text;
  assert.equal(sample(text, 'ecs_http_requests_total{route="/hello",status="200"}'), 30, 'all 30, from both workers');
  assert.equal(sample(text, 'ecs_store_operations_total{op="set",outcome="ok"}'), 10, 'one save per new visitor');
  assert.equal(sample(text, 'ecs_store_operations_total{op="get",outcome="ok"}'), 20, 'one read per return');
  assert.equal(sample(text, 'ecs_sessions'), 10, 'the sessions the primary holds');
  assert.ok((sample(text, 'ecs_store_operation_duration_seconds_count{op="get"}') ?? 0) >= 20);
  assert.equal(sample(text, 'ecs_store_ipc_timeouts_total'), 0);
  assert.match(text, /^process_cpu_user_seconds_total \d/m, 'with the default process metrics');
});

test('METRICS=false: no /metrics', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), { METRICS: 'false', WEB_CONCURRENCY: '1' });
  assert.equal((await request(`${app.url}/metrics`)).status, 404);
});
