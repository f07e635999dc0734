// ClusterStore under Connect (no Express): two forked workers serve one session that counts its views.
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { AddressInfo } from 'node:net';
import { ClusterStore } from '../../src/store/index.js';
import { CookieJar } from '../helpers/http.js';

test('connect + express-session: a session counted by two workers sees every view', async (t) => {
  ClusterStore.setup();
  cluster.setupPrimary({ exec: fileURLToPath(new URL('../fixtures/connect-worker.ts', import.meta.url)), execArgv: ['--import', 'tsx'] });
  const workers = [cluster.fork(), cluster.fork()];
  t.after(() => workers.forEach((worker) => worker.process.kill('SIGKILL')));
  const [[address]] = (await Promise.all(workers.map((worker) => once(worker, 'listening')))) as [[AddressInfo]];

  const jar = new CookieJar();
  const seen = new Set<unknown>();
  for (let i = 1; i <= 12; i++) {
    const response = await jar.get(`http://127.0.0.1:${address.port}/`);
    assert.equal(response.json.views, i, `view ${i} counted once, whichever worker answered`);
    seen.add(response.json.worker);
  }
  assert.equal(seen.size, 2, 'both workers served the session');
});
