// Snapshots on a real file system: a round trip, every way a file can be bad (moved aside, table empty), and
// an attacker sharing the directory (a file or link planted where the store writes; a link as the snapshot).
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdtempSync, promises as fsPromises, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
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

// An attacker who shares the snapshot's directory plants a file or a link where the store will write its
// temporary file. Planted here at the very name the store opens (the hook below), as if it could be predicted.
function plantAtTemporary(t: TestContext, plant: (temporary: string) => void): string[] {
  const opened: string[] = [];
  const realOpen = fsPromises.open;
  t.mock.method(fsPromises, 'open', (where: string, ...rest: Parameters<typeof realOpen> extends [unknown, ...infer R] ? R : never) => {
    opened.push(where);
    plant(where);
    return realOpen(where, ...rest);
  });
  syncBuiltinESMExports(); // the store imported `open` from node:fs/promises: point that binding at the mock too
  t.after(() => syncBuiltinESMExports());
  return opened;
}

function withUmask(t: TestContext, mask: number): void {
  const before = process.umask(mask);
  t.after(() => process.umask(before));
}

test('snapshot: a link planted at the temporary name is never written through; the write fails and the next lands at mode 0600 under umask 0', async (t) => {
  withUmask(t, 0);
  const dir = folder(t);
  const file = path.join(dir, 'sessions.jsonl');
  const victim = path.join(dir, 'victim');
  writeFileSync(victim, 'untouched');
  const table = new SessionTable();
  table.set('secret-session-id', '{}', Date.now() + 60_000);
  const opened = plantAtTemporary(t, (temporary) => symlinkSync(victim, temporary));
  const outcome = await saveSnapshot(table, file).then(() => 'saved', (error: NodeJS.ErrnoException) => error.code);
  t.mock.restoreAll();
  syncBuiltinESMExports();
  assert.equal(readFileSync(victim, 'utf8'), 'untouched', 'nothing written through the link');
  assert.equal(outcome, 'EEXIST');
  assert.ok(lstatSync(opened[0]!).isSymbolicLink(), "the planted link is not the store's to remove");
  assert.equal(await saveSnapshot(table, file), 1);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(readFileSync(victim, 'utf8'), 'untouched');
});

test('snapshot: the temporary file has an unpredictable name in the target\'s directory; a file planted at the old name is left alone', async (t) => {
  withUmask(t, 0);
  const dir = folder(t);
  const file = path.join(dir, 'sessions.jsonl');
  const planted = `${file}.${process.pid}.tmp`; // the name this store used to write to
  writeFileSync(planted, 'planted', { mode: 0o666 });
  chmodSync(planted, 0o666);
  const table = new SessionTable();
  table.set('secret-session-id', '{}', Date.now() + 60_000);
  const opened = plantAtTemporary(t, () => {});
  await saveSnapshot(table, file);
  assert.equal(statSync(file).mode & 0o777, 0o600, 'not the mode of a file someone else made');
  assert.equal(readFileSync(planted, 'utf8'), 'planted');
  await saveSnapshot(table, file);
  assert.equal(opened.length, 2);
  assert.notEqual(opened[0], opened[1]);
  assert.ok(opened.every((name) => path.dirname(name) === dir && name !== planted), opened.join(', '));
});

test('snapshot: a write that fails removes its temporary file', async (t) => {
  const dir = folder(t);
  const unwritable = { records: () => [['a', 1n]] } as unknown as SessionTable; // JSON.stringify throws on a BigInt
  await assert.rejects(saveSnapshot(unwritable, path.join(dir, 'sessions.jsonl')), TypeError);
  assert.deepEqual(readdirSync(dir), []);
});

test('snapshot: a snapshot file that is a symbolic link is refused at start, naming it; its target is neither read nor moved', (t) => {
  const dir = folder(t);
  const real = path.join(dir, 'real.jsonl');
  const link = path.join(dir, 'sessions.jsonl');
  writeFileSync(real, 'not a snapshot');
  symlinkSync(real, link);
  assert.throws(() => new StoreHost({ features: [snapshots({ file: link })] }), {
    message: `snapshots: ${link} is a symbolic link (to ${real}); give the real path of the snapshot file: the store neither reads nor writes one through a link`,
  });
  assert.ok(lstatSync(link).isSymbolicLink(), 'the link is still there');
  assert.equal(readFileSync(real, 'utf8'), 'not a snapshot');
  assert.deepEqual(readdirSync(dir).sort(), ['real.jsonl', 'sessions.jsonl']);
});

test('snapshot: writing to a snapshot file that became a symbolic link is refused, and the host says so in snapshot-failed', async (t) => {
  const dir = folder(t);
  const file = path.join(dir, 'sessions.jsonl');
  const victim = path.join(dir, 'victim');
  writeFileSync(victim, 'untouched');
  const host = new StoreHost({ features: [snapshots({ file, intervalMs: 3_600_000 })] });
  host.handle([[0, 'set', 'kept', '{}', Date.now() + 60_000, null, null]]);
  symlinkSync(victim, file);
  const outcome = new Promise<Error | string>((resolve) => {
    host.once('snapshot-failed', resolve);
    host.once('snapshot-saved', () => resolve('saved'));
  });
  await host.close();
  assert.match(String(await outcome), new RegExp(`^Error: snapshots: ${file} is a symbolic link \\(to ${victim}\\); give the real path`));
  assert.ok(lstatSync(file).isSymbolicLink(), 'the link is not replaced');
  assert.equal(readFileSync(victim, 'utf8'), 'untouched');
  assert.deepEqual(readdirSync(dir).sort(), ['sessions.jsonl', 'victim'], 'no temporary file left behind');
});
