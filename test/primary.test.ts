// The real app, started as `npm start` starts it, with 2 workers on a free port: sessions across workers,
// a killed worker replaced with the sessions intact, configuration errors, and a clean SIGTERM.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { CookieJar, request } from './helpers/http.js';
import { isAlive, type AppProcess } from '../scripts/lib/app-process.js';
import { startTestApp as startApp } from './helpers/app.js';

let app: AppProcess;
const cleanups: (() => unknown)[] = [];
const jar = new CookieJar();

before(async () => {
  app = await startApp((fn) => cleanups.push(fn));
});
after(() => cleanups.forEach((fn) => fn()));

test('npm start: the first /hello says Hello, the next ones Hello again, from at least 2 workers', async () => {
  const first = await jar.get(`${app.url}/hello`);
  assert.match(String(first.json.msg), /^Hello from worker \d+$/);
  const workers = new Set([first.json.worker]);
  for (let i = 0; i < 9; i++) {
    const again = await jar.get(`${app.url}/hello`);
    assert.match(String(again.json.msg), /^Hello again from worker \d+$/);
    workers.add(again.json.worker);
  }
  assert.ok(workers.size >= 2, `one session served by workers ${[...workers].join(', ')}`);
  assert.equal(app.logged({ role: 'primary', msg: /^demo accounts on: alice and bob .*production refuses them unless DEMO_USERS=true/ }).length, 1, 'development says the demo accounts are on');
});

test('npm start: a forged or garbage cookie gets a fresh session', async () => {
  const sid = decodeURIComponent(jar.cookie!.slice('ecs.sid='.length)).slice(2).split('.')[0]!;
  for (const cookie of [`ecs.sid=${encodeURIComponent(`s:${sid}.forged`)}`, 'ecs.sid=%%%', `ecs.sid=s%3A${'A'.repeat(32)}.x`]) {
    const answer = await request(`${app.url}/hello`, { cookie });
    assert.equal(answer.status, 200);
    assert.match(String(answer.json.msg), /^Hello from worker/, `${cookie.slice(0, 30)}… is nobody's session`);
    assert.match(answer.headers['set-cookie']?.[0] ?? '', /^ecs\.sid=s%3A/, 'and gets a new signed cookie');
  }
});

test('npm start: a session saved by one worker is read by the other on the very next request, 400 times over', async () => {
  // Writes are posted (no answer awaited): this checks the host applies them before the next read from anywhere.
  const { again, crossed } = await secondVisits(app.url, 20, 20);
  assert.equal(again, 400, 'every second visit found the session the first one saved');
  // How often the kernel hands the second connection to the other worker varies with the machine's load (a
  // quarter to a half here); a tenth is enough for the 400 to have tested crossing.
  assert.ok(crossed >= 40, `the second visit often went to the other worker (${crossed} of 400)`);
});

test('npm start: CLUSTER_SERIALIZATION=advanced forks the workers with it, and sessions still cross on the very next request', async (t) => {
  if (process.platform !== 'linux') return t.skip('reads each worker\'s /proc/<pid>/environ: Linux only');
  const advanced = await startApp((fn) => t.after(fn), { CLUSTER_SERIALIZATION: 'advanced' });
  assert.equal(advanced.workerPids().length, 2);
  for (const pid of advanced.workerPids()) {
    // Node tells a forked child its channel's serialization in this variable.
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    assert.ok(environ.includes('NODE_CHANNEL_SERIALIZATION_MODE=advanced'), `worker ${pid} speaks advanced`);
  }
  const { again, crossed } = await secondVisits(advanced.url, 10, 20);
  assert.equal(again, 200);
  assert.ok(crossed >= 20, `the second visit often went to the other worker (${crossed} of 200)`);
});

/** `parallel` visitors at a time, `each` times: a first visit, then a second; counts the second visits that found the session. */
async function secondVisits(url: string, parallel: number, each: number): Promise<{ again: number; crossed: number }> {
  let again = 0;
  let crossed = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let i = 0; i < each; i++) {
        const visitor = new CookieJar();
        const first = await visitor.get(`${url}/hello`);
        const second = await visitor.get(`${url}/hello`);
        if (second.json.msg === `Hello again from worker ${String(second.json.worker)}`) again++;
        if (second.json.worker !== first.json.worker) crossed++;
      }
    }),
  );
  return { again, crossed };
}

test('npm start: a worker killed with SIGKILL is replaced and the sessions survive', async () => {
  const { pid, worker } = (await jar.get(`${app.url}/hello`)).json as { pid: number; worker: number };
  const from = app.records.length;
  process.kill(pid, 'SIGKILL');
  const death = await app.waitForLog({ workerId: worker, workerPid: pid, signal: 'SIGKILL', msg: /exited/ }, 10_000, from);
  assert.equal(death.level, 50, 'an unexpected death is logged as an error');
  const replacement = await app.waitForLog({ msg: /listening on/ }, 30_000, from);
  assert.notEqual(replacement.workerId, worker, 'a new worker took its place');

  const answeredBy = new Set<number>();
  for (let i = 0; i < 6; i++) {
    const response = await jar.get(`${app.url}/hello`);
    assert.match(String(response.json.msg), /^Hello again/, 'the session lives in the primary: it survived the worker');
    answeredBy.add(response.json.pid as number);
  }
  assert.ok(!answeredBy.has(pid));
  assert.ok(answeredBy.has(Number(replacement.workerPid)), 'the replacement serves the same sessions');
});

test('npm start: SIGTERM drains the workers and exits 0, leaving no process behind', async () => {
  const workerPids = app.workerPids();
  assert.ok(workerPids.length >= 3, 'two workers and the replacement were seen');
  app.child.kill('SIGTERM');
  assert.equal(await app.exited, 0);
  assert.deepEqual(workerPids.filter(isAlive), [], 'no worker outlived the primary');
  assert.equal(app.logged({ role: 'primary', signal: 'SIGTERM', msg: /^SIGTERM: draining 2 workers/ }).length, 1);
});

test('npm start: NODE_ENV=production and nothing else prints every problem at once and exits 1; with what the messages ask for, it serves', async (t) => {
  const bare = await startApp((fn) => t.after(fn), { NODE_ENV: 'production', SESSION_SECRET: '', DEMO_USERS: '', TRUST_PROXY: '' }, { waitForWorkers: false });
  assert.equal(await bare.exited, 1);
  const printed = bare.lines.join('\n');
  assert.match(printed, /SESSION_SECRET is required when NODE_ENV=production: set it to a random string of at least 32 characters \(make one with `openssl rand -base64 32`/);
  assert.match(printed, /the demo accounts of src\/users\.ts .* would let anyone sign in: replace createUserDirectory\(\) in src\/users\.ts .* or set DEMO_USERS=true for a demo deployment/);
  assert.deepEqual(bare.logged({ msg: /^worker / }), [], 'no worker was forked');

  const secret = randomBytes(32).toString('base64url');
  const asked = await startApp((fn) => t.after(fn), { NODE_ENV: 'production', SESSION_SECRET: secret, DEMO_USERS: 'true', TRUST_PROXY: '' });
  const hello = await request(`${asked.url}/hello`);
  assert.equal(hello.status, 200, hello.text);
  assert.match(String(hello.json.msg), /^Hello from worker \d+$/);
  assert.equal(hello.headers['set-cookie'], undefined, 'production cookies are for HTTPS only: none over plain HTTP');
  assert.equal((await request(`${asked.url}/login`, { method: 'POST', json: { username: 'bob', password: 'bob-demo-password' } })).status, 200, 'DEMO_USERS=true: the demo accounts sign in');
  assert.equal(asked.logged({ role: 'primary', msg: /^demo accounts on: .*DEMO_USERS=true lets production use them/ }).length, 1, 'a demo deployment says so at start');
});

test('npm start: a TRUST_PROXY Express would refuse stops the app at start with one message, instead of every worker dying', async (t) => {
  for (const value of ['foo', '0.0.0.0/0', '10.0.0.0/33']) {
    const started = await startApp((fn) => t.after(fn), { TRUST_PROXY: value }, { waitForWorkers: false });
    assert.equal(await started.exited, 1, value);
    const problems = started.lines.filter((line) => line.startsWith('  - '));
    assert.equal(problems.length, 1, started.lines.join('\n'));
    assert.match(problems[0]!, new RegExp(`^  - TRUST_PROXY must be true, false, a number of proxies \\(1\\), or a comma-separated list .*; got "${value.replace(/[./]/g, '\\$&')}", which Express cannot use`));
    assert.deepEqual(started.logged({ msg: /^worker / }), [], 'no worker was forked');
  }
});

test('npm start: a SESSION_SNAPSHOT_FILE that is a symbolic link stops the app at start, naming it, and the link is left alone', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ecs-link-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const victim = path.join(dir, 'victim');
  writeFileSync(victim, 'not yours');
  const link = path.join(dir, 'sessions.jsonl');
  symlinkSync(victim, link);
  const started = await startApp((fn) => t.after(fn), { SESSION_SNAPSHOT_FILE: link }, { waitForWorkers: false });
  assert.equal(await started.exited, 1);
  assert.equal(started.logged({ role: 'primary', msg: /^cannot start the session store: snapshots: .*sessions\.jsonl is a symbolic link/ }).length, 1, started.lines.join('\n'));
  assert.deepEqual(started.logged({ msg: /^worker / }), [], 'no worker was forked');
  assert.equal(readFileSync(victim, 'utf8'), 'not yours');
  assert.ok(lstatSync(link).isSymbolicLink());
});

test('npm start: a port in use stops the app with a message naming PORT instead of restarting forever', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, resolve));
  t.after(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const started = await startApp((fn) => t.after(fn), { PORT: String(port) }, { waitForWorkers: false });
  assert.equal(await started.exited, 1);
  assert.match(started.lines.join('\n'), new RegExp(`cannot listen on PORT ${port} \\(EADDRINUSE\\): another program uses it; set PORT to a free port`));
});

test('GET /healthz on the running cluster answers 200', async (t) => {
  const started = await startApp((fn) => t.after(fn), { WEB_CONCURRENCY: '1' });
  assert.equal((await request(`${started.url}/healthz`)).status, 200);
});
