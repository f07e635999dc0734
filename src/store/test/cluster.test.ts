// Two real cluster workers (cluster-worker.ts: express-session with a ClusterStore on node:http) and this test
// process as their primary, hosting the sessions (ClusterStore.setup()). One visitor's cookie: the count goes on
// whichever worker answers, and a session destroyed on one worker is gone on the other.
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { get as httpGet } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ClusterStore } from '../index.js';

/**
 * The fixture beside this file, as TypeScript through tsx, or as JavaScript once the folder is compiled. Found
 * from the path node --test ran (not import.meta, which a CommonJS app's tsc, `module: commonjs`, refuses).
 */
const self = process.argv[1] ?? '';
const fixture = path.join(path.dirname(self), `cluster-worker${path.extname(self)}`);
if (!/cluster\.test\.[cm]?[jt]s$/.test(self) || !existsSync(fixture)) {
  throw new Error(`run this file by its path (node --test test/cluster.test.ts, or npm test in the store folder): ${fixture} not found from process.argv[1] ${JSON.stringify(self)}`);
}
const deadlineMs = 20_000;

interface Answer {
  status: number;
  json: { views?: number | null; worker?: number; error?: string; destroyed?: boolean };
  /** The session cookie express-session set, as a Cookie header sends it back. */
  cookie: string | undefined;
}

/** A GET on a connection of its own (no keep-alive), so the cluster hands each visit to the next worker in turn. */
function visit(url: string, cookie: string | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpGet(url, { agent: false, headers: cookie === undefined ? {} : { cookie } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        try {
          resolve({ status: response.statusCode ?? 0, json: JSON.parse(body) as Answer['json'], cookie: response.headers['set-cookie']?.[0]?.split(';')[0] });
        } catch {
          reject(new Error(`${url}: not JSON (${response.statusCode}): ${body}`));
        }
      });
    });
    request.on('error', reject);
    request.setTimeout(10_000, () => request.destroy(new Error(`${url}: no answer within 10 s`)));
  });
}

/** The port `worker` listens on, once it does; rejects if it exits first or takes longer than the deadline. */
async function listening(worker: Worker): Promise<number> {
  const signal = AbortSignal.timeout(deadlineMs);
  const [address] = (await Promise.race([
    once(worker, 'listening', { signal }),
    once(worker, 'exit', { signal }).then(([code]) => Promise.reject(new Error(`worker ${worker.id} exited (${String(code)}) before it listened`))),
  ])) as [AddressInfo];
  return address.port;
}

test('two workers: one visitor\'s count carries across both, and a session destroyed on one is gone on the other', async (t) => {
  assert.ok(ClusterStore.setup(), 'this process is the primary: it hosts the sessions');
  cluster.setupPrimary({ exec: fixture, execArgv: fixture.endsWith('.ts') ? ['--import', 'tsx'] : [] });
  const workers = [cluster.fork(), cluster.fork()];
  t.after(() => {
    for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGKILL');
  });
  const [port, other] = await Promise.all(workers.map(listening));
  assert.equal(port, other, 'the workers share one port');
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;

  let cookie: string | undefined;
  const answered = new Set<number>();
  const deadline = Date.now() + deadlineMs;
  // Until both workers have counted (the first may answer everything before the second is ready), at least 4.
  for (let views = 1; answered.size < 2 || views <= 4; views++) {
    assert.ok(Date.now() < deadline, `both workers answered within ${deadlineMs} ms (only worker ${[...answered].join(', ')}, in ${views - 1} visits)`);
    const answer = await visit(url('/'), cookie);
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.equal(answer.json.views, views, `visit ${views} counted once, by worker ${answer.json.worker}, whichever counted before`);
    cookie ??= answer.cookie;
    assert.ok(cookie, 'the first visit set the session cookie');
    answered.add(answer.json.worker!);
  }
  t.diagnostic(`one session counted by workers ${[...answered].join(' and ')}`);

  const ended = await visit(url('/destroy'), cookie);
  assert.deepEqual([ended.status, ended.json.destroyed], [200, true], JSON.stringify(ended.json));
  const otherWorker = workers.find((worker) => worker.id !== ended.json.worker)!.id;
  const seen = new Set<number>();
  while (!seen.has(otherWorker)) {
    assert.ok(Date.now() < deadline, `the other worker than ${ended.json.worker} answered within ${deadlineMs} ms`);
    const answer = await visit(url('/peek'), cookie);
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    assert.equal(answer.json.views, null, `worker ${answer.json.worker} finds no session after worker ${ended.json.worker} destroyed it`);
    seen.add(answer.json.worker!);
  }
});
