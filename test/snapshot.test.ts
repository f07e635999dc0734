// SESSION_SNAPSHOT_FILE with the real app: sessions survive a restart of the whole app (same secret), and a
// corrupt snapshot is moved aside with a warning while the app starts.
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
  const env = { SESSION_SNAPSHOT_FILE: path.join(dir, 'sessions.jsonl'), SESSION_SECRET: 'a secret that survives the restart' };
  const first = await startTestApp((fn) => t.after(fn), env);
  const visitors = Array.from({ length: 12 }, () => new CookieJar());
  for (const visitor of visitors) assert.match(String((await visitor.get(`${first.url}/hello`)).json.msg), /^Hello from/);
  first.child.kill('SIGTERM');
  assert.equal(await first.exited, 0);
  assert.ok(first.lines.some((line) => line.includes('sessions written to')));

  const second = await startTestApp((fn) => t.after(fn), env);
  assert.ok(second.lines.some((line) => /restored 12 sessions from/.test(line)), second.lines.join('\n'));
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
  assert.ok(app.lines.some((line) => /WARNING: session snapshot .* moved to .*corrupt-/.test(line)), app.lines.join('\n'));
  assert.equal((await request(`${app.url}/hello`)).status, 200);
  assert.ok(readdirSync(dir).some((name) => name.startsWith('sessions.jsonl.corrupt-')));
});
