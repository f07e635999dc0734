// Snapshots on a real file system: a round trip, and every way a file can be bad (moved aside, table empty).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { snapshots } from '../../src/store/index.js';
import { StoreHost } from '../../src/store/primary/host.js';
import { SessionTable } from '../../src/store/primary/session-table.js';
import { loadSnapshot, saveSnapshot } from '../../src/store/snapshot/file.js';

function folder(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ecs-snapshot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('snapshot: save then load restores every live session, and writes no temporary file left behind', async (t) => {
  const file = path.join(folder(t), 'sessions.jsonl');
  const table = new SessionTable();
  for (let i = 0; i < 2500; i++) table.set(`s${i}`, JSON.stringify({ i }), Date.now() + 60_000);
  assert.equal(await saveSnapshot(table, file), 2500);
  assert.deepEqual(readdirSync(path.dirname(file)), ['sessions.jsonl']);
  const restored = new SessionTable();
  assert.deepEqual(loadSnapshot(restored, file), { outcome: 'loaded', restored: 2500, expired: 0 });
  assert.equal(restored.read('s2499')?.[0], '{"i":2499}');
});

test('snapshot: no file yet is not an error', (t) => {
  assert.deepEqual(loadSnapshot(new SessionTable(), path.join(folder(t), 'none.jsonl')), { outcome: 'missing' });
});

for (const [name, content] of [
  ['garbage', 'this is not JSON at all\n'],
  ['another format', '{"format":"something-else","version":1}\n'],
  ['a truncated record', '{"format":"express-cluster-sessions/snapshot","version":1}\n["a","{}",9999999999,60,null]\n["b","{}",99'],
  ['a malformed record', '{"format":"express-cluster-sessions/snapshot","version":1}\n["a","{}",9999999999,60,null]\n["b",{},1,1,null]\n'],
] as const) {
  test(`snapshot: a file with ${name} is moved aside and the store starts empty`, (t) => {
    const file = path.join(folder(t), 'sessions.jsonl');
    writeFileSync(file, content);
    const table = new SessionTable();
    const result = loadSnapshot(table, file);
    assert.equal(result.outcome, 'moved-aside');
    assert.equal(table.size, 0);
    assert.ok(!existsSync(file), 'the bad file is no longer where the next start would read it');
    assert.ok(result.outcome === 'moved-aside' && existsSync(result.movedTo) && /\.corrupt-/.test(result.movedTo));
  });
}

test('snapshots feature: a host with snapshots({ file }) writes at close() and the next host starts with its sessions', async (t) => {
  const file = path.join(folder(t), 'sessions.jsonl');
  const first = new StoreHost({ features: [snapshots({ file, intervalMs: 3_600_000 })] });
  const loaded = new Promise((resolve) => first.once('snapshot-loaded', resolve));
  assert.deepEqual(await loaded, { outcome: 'missing' });
  first.handle([[0, 'set', 'kept', '{"cart":[1]}', Date.now() + 60_000, null, null]]);
  const saved = new Promise((resolve) => first.once('snapshot-saved', resolve));
  await first.close();
  assert.equal(await saved, 1);
  const second = new StoreHost({ features: [snapshots({ file })] });
  t.after(() => second.close());
  assert.equal(second.sessions.read('kept')?.[0], '{"cart":[1]}');
});

test('snapshots feature: options are checked like every other', () => {
  assert.throws(() => snapshots({} as never), { name: 'TypeError', message: /`file` is required/ });
  assert.throws(() => snapshots({ file: 'x', interval: 5 } as never), { name: 'TypeError', message: /`interval` is not an option; the options are `file`, `intervalMs`/ });
});

test('snapshot: sessions read while the file is being written are written once each', async (t) => {
  const file = path.join(folder(t), 'sessions.jsonl');
  const table = new SessionTable();
  for (let i = 0; i < 5000; i++) table.set(`s${i}`, '{}', Date.now() + 60_000);
  // Traffic during the write: every read moves its session to the end of the table's order.
  let reads = 0;
  const traffic = setInterval(() => {
    for (let i = 0; i < 500; i++) table.read(`s${(reads++ * 7) % 5000}`);
  }, 0);
  t.after(() => clearInterval(traffic));
  const count = await saveSnapshot(table, file);
  clearInterval(traffic);
  const ids = readFileSync(file, 'utf8').trim().split('\n').slice(1).map((line) => (JSON.parse(line) as [string])[0]);
  assert.ok(reads > 0, 'sessions were read while the snapshot was written');
  assert.equal(count, 5000);
  assert.equal(new Set(ids).size, ids.length, 'no session twice');
  assert.equal(ids.length, 5000);
});

test('snapshot: sessions keep their user through a save and a load; a version 1 file still loads', async (t) => {
  const file = path.join(folder(t), 'sessions.jsonl');
  const table = new SessionTable();
  table.set('a', '{}', Date.now() + 60_000, 'alice');
  table.set('b', '{}', Date.now() + 60_000);
  await saveSnapshot(table, file);
  const restored = new SessionTable();
  assert.deepEqual(loadSnapshot(restored, file), { outcome: 'loaded', restored: 2, expired: 0 });
  assert.deepEqual(restored.userSessions('alice', 10).map(([sid]) => sid), ['a']);
  const old = path.join(folder(t), 'v1.jsonl');
  writeFileSync(old, `{"format":"express-cluster-sessions/snapshot","version":1}\n["x","{}",${Math.ceil(Date.now() / 1000) + 60},60,null]\n`);
  const fromOld = new SessionTable();
  assert.deepEqual(loadSnapshot(fromOld, old), { outcome: 'loaded', restored: 1, expired: 0 });
});
