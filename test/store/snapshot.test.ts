// Snapshots on a real file system: a round trip, every way a file can be bad (moved aside, table empty), and
// an attacker sharing the directory (a file or link planted where the store writes; a link as the snapshot).
import assert from 'node:assert/strict';
import { until } from '../helpers/poll.js';
import { chmodSync, chownSync, existsSync, mkdirSync, lstatSync, mkdtempSync, promises as fsPromises, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { snapshots } from '../../src/store/index.js';
import { StoreHost } from '../../src/store/primary/host.js';
import { SessionTable } from '../../src/store/primary/session-table.js';
import { PlainTable } from '../../src/store/primary/plain-table.js';
import { walkRecords, type SessionRecord, type Sessions } from '../../src/store/primary/sessions.js';
import { loadSnapshot, saveSnapshot, type LoadResult } from '../../src/store/snapshot/file.js';

/** Loads `file` into `table` as a host starting alone would: nothing ended meanwhile. */
function load(table: Sessions, file: string): Promise<LoadResult> {
  return loadSnapshot(table, file, { ended: () => false });
}

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
  assert.deepEqual(await load(restored, file), { outcome: 'loaded', restored: 2500, expired: 0 });
  assert.equal(restored.read('s2499')?.[0], '{"i":2499}');
});

test('snapshot: no file yet is not an error', async (t) => {
  assert.deepEqual(await load(new SessionTable(), path.join(folder(t), 'none.jsonl')), { outcome: 'missing' });
});

for (const [name, content] of [
  ['garbage', 'this is not JSON at all\n'],
  ['another format', '{"format":"something-else","version":1}\n'],
  ['a truncated record', '{"format":"express-cluster-sessions/snapshot","version":1}\n["a","{}",9999999999,60,null]\n["b","{}",99'],
  ['a malformed record', '{"format":"express-cluster-sessions/snapshot","version":1}\n["a","{}",9999999999,60,null]\n["b",{},1,1,null]\n'],
] as const) {
  test(`snapshot: a file with ${name} is moved aside and the store starts empty`, async (t) => {
    const file = path.join(folder(t), 'sessions.jsonl');
    writeFileSync(file, content);
    const table = new SessionTable();
    const result = await load(table, file);
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
  assert.deepEqual(await new Promise((resolve) => second.once('snapshot-loaded', resolve)), { outcome: 'loaded', restored: 1, expired: 0 });
  assert.equal(second.sessions.read('kept')?.[0], '{"cart":[1]}');
});

test('snapshots feature: only it needs a table\'s restore(): a table without one runs the host, and snapshots() refuses it at setup, naming it', (t) => {
  const withoutRestore = () => Object.defineProperty(new SessionTable(), 'restore', { value: undefined });
  const host = new StoreHost({ sessions: withoutRestore() });
  t.after(() => host.close());
  host.handle([[0, 'set', 'a', '{"n":1}', Date.now() + 60_000, null, null]]);
  assert.equal(host.sessions.read('a')?.[0], '{"n":1}');
  const file = path.join(folder(t), 'sessions.jsonl');
  assert.throws(() => new StoreHost({ sessions: withoutRestore(), features: [snapshots({ file })] }), { name: 'TypeError', message: /has no restore\(record\)/ });
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
  assert.deepEqual(await load(restored, file), { outcome: 'loaded', restored: 2, expired: 0 });
  assert.deepEqual(restored.userSessions('alice', 10).map(([sid]) => sid), ['a']);
  const old = path.join(folder(t), 'v1.jsonl');
  writeFileSync(old, `{"format":"express-cluster-sessions/snapshot","version":1}\n["x","{}",${Math.ceil(Date.now() / 1000) + 60},60,null]\n`);
  const fromOld = new SessionTable();
  assert.deepEqual(await load(fromOld, old), { outcome: 'loaded', restored: 1, expired: 0 });
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
  // JSON.stringify throws on a BigInt.
  const unwritable = { walk: () => ({ step: (_max: number, visit: (record: unknown) => void) => (visit(['a', 1n]), false), ended: [], close() {} }) } as unknown as SessionTable;
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
  await new Promise((resolve) => host.once('snapshot-loaded', resolve));
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

test('snapshot: written in slices while the table serves; each session once, as it was when reached; those created meanwhile left for the next; those ended meanwhile not restored', async (t) => {
  const file = path.join(folder(t), 'sessions.jsonl');
  const table = new SessionTable();
  const future = Date.now() + 60_000;
  for (let i = 0; i < 20_000; i++) table.set(`s${i}`, '{"v":0}', future);
  // Told when the walk has visited every session: from then on the writer lists what ended, and nothing more ends.
  let walked = false;
  const walk = table.walk.bind(table);
  t.mock.method(table, 'walk', (options?: { ended?: boolean }) => {
    const inner = walk(options);
    return { ...inner, ended: inner.ended, step: (max: number, visit?: (record: SessionRecord) => void) => inner.step(max, visit) || ((walked = true), false) };
  });
  let turns = 0;
  let done = false;
  // Traffic in each turn of the event loop while the file is written: saves, new sessions, and, until the walk
  // is done, a sign-out of a session it has visited (the first ones: the walk goes in the order they were made).
  const traffic = (turn: number) => {
    if (done) return;
    turns++;
    table.set(`new${turn}`, '{}', future);
    table.set(`s${(turn * 7919) % 20_000}`, `{"v":${turn}}`, future);
    if (!walked && turn > 0) table.destroy(`s${turn}`);
    setImmediate(() => traffic(turn + 1));
  };
  setImmediate(() => traffic(0));
  const written = await saveSnapshot(table, file);
  done = true;
  assert.ok(turns > 5, `the event loop turned ${turns} times while it was written`);
  const lines = readFileSync(file, 'utf8').trim().split('\n').slice(1).map((line) => JSON.parse(line) as unknown[]);
  const records = lines.filter((line) => line.length > 1).map(([sid]) => sid as string);
  const ended = lines.filter((line) => line.length === 1).map(([sid]) => sid as string);
  assert.equal(records.length, written);
  assert.equal(new Set(records).size, records.length, 'each session once');
  assert.ok(!records.some((sid) => sid.startsWith('new')), 'sessions created during the write are not in it');
  assert.ok(ended.length > 0, "some ended during the write");
  assert.deepEqual(ended.filter((sid) => !records.includes(sid)), [], "the ended ones listed after the records are among them");
  const restored = new SessionTable();
  await load(restored, file);
  for (let i = 0; i < 20_000; i++) {
    const sid = `s${i}`;
    if (!table.has(sid)) assert.equal(restored.has(sid), false, `${sid} ended before the file was complete: not restored`);
  }
  assert.equal(restored.size, records.length - ended.length);
});

test('snapshots feature: a host loading a large snapshot serves meanwhile; a session not loaded yet is waited for, never answered "none"', async (t) => {
  const file = path.join(folder(t), 'sessions.jsonl');
  const table = new SessionTable();
  const future = Date.now() + 60_000;
  for (let i = 0; i < 50_000; i++) table.set(`s${i}`, `{"i":${i}}`, future);
  await saveSnapshot(table, file);
  const host = new StoreHost({ features: [snapshots({ file, intervalMs: 3_600_000 })] });
  t.after(() => host.close());
  const loaded = new Promise((resolve) => host.once('snapshot-loaded', resolve));
  // Each answer, and whether the last session of the file was loaded when it came.
  const answers: [id: number, value: unknown, lastLoaded: boolean][] = [];
  const send = (replies: unknown[]) => {
    for (const [id, , value] of replies as [number, unknown, unknown][]) answers.push([id, Array.isArray(value) ? value[0] : value, host.sessions.has('s49999')]);
  };
  // A new visitor and a returning one whose session is near the end of the file, as the load begins.
  host.accept([[1, 'set', 'newcomer', '{}', future, null, null], [2, 'get', 'newcomer'], [3, 'get', 's49999']], send);
  assert.deepEqual(await loaded, { outcome: 'loaded', restored: 50_000, expired: 0 });
  await until(() => answers.length === 3, 'every answer');
  assert.deepEqual(answers, [
    [1, undefined, false],
    [2, '{}', false],
    [3, '{"i":49999}', true],
  ], 'the new visitor served while the file loaded; the returning one answered with its session once it was loaded');
});

// Another local user: as root, files and directories can be given to `nobody`; without root there is no one to play.
const asRoot = process.geteuid?.() === 0;
const nobody = 65_534;

test('snapshot: a file another user created first (in a shared directory) is refused at start, never loaded: it could sign its author in as anyone', { skip: !asRoot && 'needs root, to create a file as another user' }, (t) => {
  const shared = folder(t);
  chmodSync(shared, 0o1777); // like /tmp: everyone may create files, only their owner may replace them
  const file = path.join(shared, 'sessions.jsonl');
  writeFileSync(file, `{"format":"express-cluster-sessions/snapshot","version":4}\n["stolen","{\\"userId\\":\\"u-alice\\"}",${Date.now() + 60_000},60000,null,"u-alice"]\n`);
  chownSync(file, nobody, nobody);
  assert.throws(() => new StoreHost({ features: [snapshots({ file })] }), {
    message: `snapshots: ${file} belongs to user ${nobody}, not to this process's user (0): another user could have written the sessions in it; remove it (the store writes a new one) or give a path in a directory only this user can write`,
  });
  chownSync(file, 0, 0);
  chmodSync(file, 0o666);
  assert.throws(() => new StoreHost({ features: [snapshots({ file })] }), { message: new RegExp(`^snapshots: ${file} can be written by other users \\(mode 666\\)`) });
});

test('snapshot: a directory another user owns (a link to it on the way, too), or writable by all without the sticky bit, is refused at start', { skip: !asRoot && 'needs root, to create a directory as another user' }, (t) => {
  const dir = folder(t);
  const theirs = path.join(dir, 'theirs');
  mkdirSync(theirs);
  chownSync(theirs, nobody, nobody);
  symlinkSync(theirs, path.join(dir, 'app'));
  for (const file of [path.join(theirs, 'sessions.jsonl'), path.join(dir, 'app', 'sessions.jsonl')]) {
    assert.throws(() => new StoreHost({ features: [snapshots({ file })] }), { message: new RegExp(`the directory of .* \\(${theirs}\\) belongs to user ${nobody}, who could replace the file`) });
  }
  const open = path.join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  assert.throws(() => new StoreHost({ features: [snapshots({ file: path.join(open, 'sessions.jsonl') })] }), { message: /can be written by every user and has no sticky bit/ });
});

for (const Table of [SessionTable, PlainTable]) {
  test(`snapshot (${Table.name}): a save and a load keep the use order, the whole table's and each user's: eviction and "Your sessions" go on as before`, async (t) => {
    const file = path.join(folder(t), 'sessions.jsonl');
    const table = new Table();
    const future = Date.now() + 60_000;
    for (const sid of ['a', 'b', 'c']) table.set(sid, '{}', future, 'u');
    for (const sid of ['x', 'y', 'z']) table.set(sid, '{}', future);
    table.read('a'); // a, then x: the most recently used of their kind
    table.read('x');
    const order = (of: Sessions) => [...walkRecords(of.walk())].map(([sid]) => sid);
    const restored = new Table();
    await saveSnapshot(table, file);
    await load(restored, file);
    assert.deepEqual(order(restored), order(table));
    assert.deepEqual(restored.userSessions('u', 10).map(([sid]) => sid), ['a', 'c', 'b'], 'newest first, as before the restart');
  });
}
