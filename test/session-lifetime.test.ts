// Session lifetime across restarts with the real app: SESSION_SNAPSHOT_FILE keeps sessions over a restart (same
// secret), a corrupt snapshot is moved aside, and SESSION_ABSOLUTE_TIMEOUT_S ends sessions however much they are used.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { CookieJar, request } from './helpers/http.js';
import { startTestApp } from './helpers/app.js';

test('SESSION_SNAPSHOT_FILE: every session survives a restart of the whole app', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ecs-app-snapshot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'sessions.jsonl');
  const env = { SESSION_SNAPSHOT_FILE: file, SESSION_SECRET: 'a secret that survives the restart' };
  const first = await startTestApp((fn) => t.after(fn), env);
  const visitors = Array.from({ length: 12 }, () => new CookieJar());
  for (const visitor of visitors) assert.match(String((await visitor.get(`${first.url}/hello`)).json.msg), /^Hello from/);
  first.child.kill('SIGTERM');
  assert.equal(await first.exited, 0);
  assert.equal(first.logged({ msg: /^sessions written to/, file }).length, 1);

  const second = await startTestApp((fn) => t.after(fn), env);
  assert.equal(second.logged({ restored: 12, file, msg: /^restored 12 sessions from/ }).length, 1, second.lines.join('\n'));
  const answers = await Promise.all(visitors.map((visitor) => visitor.get(`${second.url}/hello`)));
  const survived = answers.filter((answer) => String(answer.json.msg).startsWith('Hello again')).length;
  console.log(`fault: restart with SESSION_SNAPSHOT_FILE | sessions before: 12 | survived: ${survived}`);
  assert.equal(survived, 12);
});

test('SESSION_SNAPSHOT_FILE: a corrupt snapshot is moved aside with a warning and the app starts empty', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ecs-app-snapshot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'sessions.jsonl');
  writeFileSync(file, '\u0000\u0001 definitely not sessions');
  const app = await startTestApp((fn) => t.after(fn), { SESSION_SNAPSHOT_FILE: file });
  assert.equal(app.logged({ level: 40, file, movedTo: /corrupt-/, msg: /^session snapshot .* moved to .*corrupt-/ }).length, 1, app.lines.join('\n'));
  assert.equal((await request(`${app.url}/hello`)).status, 200);
  assert.ok(readdirSync(dir).some((name) => name.startsWith('sessions.jsonl.corrupt-')));
});

test('SESSION_ABSOLUTE_TIMEOUT_S: a session in constant use still ends at its absolute lifetime', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), { SESSION_ABSOLUTE_TIMEOUT_S: '2', SESSION_MAX_AGE_S: '3600' });
  const visitor = new CookieJar();
  await visitor.get(`${app.url}/hello`);
  const started = Date.now();
  let returns = 0;
  // Visit every 100 ms (the idle expiry is an hour away) until the session is gone, for at most 10 s.
  for (;;) {
    const answer = await visitor.get(`${app.url}/hello`);
    if (!String(answer.json.msg).startsWith('Hello again')) break;
    returns++;
    assert.ok(Date.now() - started < 10_000, 'the session outlived its absolute lifetime');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const livedMs = Date.now() - started;
  assert.ok(returns >= 5, `it was in use (${returns} returns)`);
  assert.ok(livedMs >= 1000 && livedMs <= 4000, `it ended about 2 s after it began (${livedMs} ms; expiry is kept to the second)`);
});
