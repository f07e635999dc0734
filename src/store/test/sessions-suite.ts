// The conformance suite of a session table: every test a `Sessions` implementation must pass to be plugged into
// the host (ClusterStore.setup({ sessions })), on node:test's mock clock. Expiry, sweep, touch, LRU eviction,
// the bounds (maxSessions, maxTotalBytes, maxSessionsPerUser, absoluteTimeoutMs), the user index, hostile ids,
// update, walks, option errors; then thousands of random operations on the table and on the plain reference
// table (PlainTable) at once, which must leave both holding exactly the same. Run it on a table of your own from
// a test file of your own:
//
//   import { testSessions } from './store/test/sessions-suite.js';
//   testSessions('MyTable', (options) => new MyTable(options));
//
// `make` is given the TableOptions each test needs (maxSessions: 3, absoluteTimeoutMs: 10_000, …); a test that
// passes none relies on the defaults TableOptions documents (maxSessions 100,000, maxSessionsPerUser 100,
// defaultTtlMs a day, absoluteTimeoutMs 0, maxTotalBytes far above what a test stores). restore() is optional on a
// table (only the snapshots feature needs it): its tests are skipped, saying so, for a table without one.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { PlainTable } from '../primary/plain-table.js';
import { walkRecords, type Sessions, type SessionWalk, type TableOptions } from '../primary/sessions.js';

export interface SuiteOptions {
  /**
   * The table is the reference itself (PlainTable): "<name> matches PlainTable" is left out, since comparing the
   * reference with itself could never fail. @default false
   */
  reference?: boolean | undefined;
}

const start = 1_700_000_000_000;

const held = (table: Sessions) => [...table.entries()].map(([sid, , expiresAt]) => [sid, expiresAt]);
const ids = (table: Sessions) => [...table.entries()].map(([sid]) => sid);
const get = (table: Sessions, sid: string) => table.read(sid)?.[0] ?? null;
const noRestore = (name: string) => `${name} has no restore(): only the snapshots feature needs it`;

/** The table's restore(), which the test checked it has (optional on a table: only snapshots need it). */
function restorer(table: Sessions): (record: unknown) => boolean {
  const { restore } = table as { restore?: (record: unknown) => boolean };
  assert.equal(typeof restore, 'function', 'the table has restore()');
  return restore!.bind(table);
}

/**
 * Registers the suite's tests (node:test), each named after `name`, on tables made by `make`: a fresh one per
 * test, given the options the test needs.
 */
export function testSessions(name: string, make: (options?: TableOptions) => Sessions, suiteOptions: SuiteOptions = {}): void {
  /** A new table, with the clock mocked at `start` (Date only: a table's expiry follows Date.now()). */
  const fresh = (t: TestContext, options: TableOptions = {}): Sessions => {
    t.mock.timers.enable({ apis: ['Date'], now: start });
    return make(options);
  };

  test(`${name}: get: returns the JSON that was set, and null for an id never stored`, (t) => {
    const table = fresh(t);
    table.set('a', '{"n":1}', start + 1000);
    assert.equal(get(table, 'a'), '{"n":1}');
    assert.equal(get(table, 'b'), null);
  });

  test(`${name}: get: an unknown id creates nothing`, (t) => {
    const table = fresh(t);
    for (let i = 0; i < 100; i++) get(table, `probe-${i}`);
    table.touch('probe-x', start + 1000);
    assert.equal(table.size, 0);
  });

  test(`${name}: expiry: exact to the millisecond: alive until its cookie's expiry, gone at it`, (t) => {
    const table = fresh(t);
    table.set('a', '{}', start + 1500);
    assert.deepEqual(held(table), [['a', start + 1500]]);
    t.mock.timers.tick(1499);
    assert.equal(table.size, 1);
    t.mock.timers.tick(1);
    assert.equal(get(table, 'a'), null);
    table.set('brief', '{}', start + 1505);
    t.mock.timers.tick(5);
    assert.deepEqual(held(table), [], 'a 5 ms session is gone 5 ms later, as express-session\'s MemoryStore has it');
  });

  test(`${name}: expiry: a session left alone expires at its cookie.expires and is never returned after`, (t) => {
    const table = fresh(t);
    table.set('a', '{}', start + 1000);
    t.mock.timers.tick(999);
    assert.deepEqual(held(table), [['a', start + 1000]]);
    t.mock.timers.tick(1);
    assert.equal(get(table, 'a'), null);
    assert.equal(table.size, 0, 'an expired session read is also dropped');
  });

  test(`${name}: expiry: a session without cookie expiry lives defaultTtlMs`, (t) => {
    const table = fresh(t, { defaultTtlMs: 5000 });
    table.set('a', '{}', null);
    assert.deepEqual(held(table), [['a', start + 5000]]);
    t.mock.timers.tick(5000);
    assert.equal(get(table, 'a'), null);
  });

  test(`${name}: set: a session that is already expired is removed instead of stored`, (t) => {
    const table = fresh(t);
    table.set('a', '{}', start + 1000);
    table.set('a', '{}', start - 1);
    assert.equal(table.size, 0);
  });

  test(`${name}: sweep: removes the expired sessions nobody reads again, and says how many`, (t) => {
    const table = fresh(t);
    table.set('short', '{}', start + 10_000);
    table.set('long', '{}', start + 600_000);
    t.mock.timers.tick(9_999);
    assert.equal(table.sweep(), 0);
    t.mock.timers.tick(1);
    assert.equal(table.sweep(), 1);
    assert.equal(table.size, 1);
    assert.equal(get(table, 'long'), '{}');
  });

  test(`${name}: get: rolls the expiry forward by the lifetime the session was saved with`, (t) => {
    const table = fresh(t);
    table.set('a', '{}', start + 10_000); // a 10 s lifetime
    t.mock.timers.tick(8000);
    assert.equal(table.read('a')?.[1], start + 18_000, 'read at 8 s: now expires at 18 s');
    t.mock.timers.tick(9999);
    assert.deepEqual(held(table), [['a', start + 18_000]], 'alive at 17.999 s thanks to the read');
    t.mock.timers.tick(1);
    assert.equal(get(table, 'a'), null, 'idle for a whole lifetime since: gone');
  });

  test(`${name}: touch: moves expiry without rewriting the data, and sets the lifetime later reads roll by`, (t) => {
    const table = fresh(t);
    table.set('a', '{"cart":[1]}', start + 1000);
    t.mock.timers.tick(900);
    table.touch('a', start + 5000);
    assert.deepEqual(held(table), [['a', start + 5000]]);
    assert.equal(table.read('a')?.[0], '{"cart":[1]}');
    assert.equal(table.read('a')?.[1], start + 900 + 4100, 'a read rolls by the 4.1 s the touch gave');
    t.mock.timers.tick(4100);
    assert.equal(get(table, 'a'), null);
  });

  test(`${name}: absoluteTimeoutMs: a session ends that long after it was first saved, however much it is used and saved`, (t) => {
    const table = fresh(t, { absoluteTimeoutMs: 10_000 });
    table.set('a', '{"v":1}', start + 5000);
    for (let s = 1; s <= 9; s++) {
      t.mock.timers.tick(1000);
      if (s % 2) table.touch('a', Date.now() + 5000);
      else table.set('a', `{"v":${s}}`, Date.now() + 5000);
      assert.ok(table.read('a'), `alive at ${s} s`);
    }
    assert.equal(table.read('a')?.[1], start + 10_000, 'rolling stops at the deadline');
    t.mock.timers.tick(1000);
    assert.equal(get(table, 'a'), null, 'gone at 10 s, though used every second');
    table.set('a', '{"v":"again"}', Date.now() + 5000);
    assert.equal(table.read('a')?.[1], start + 15_000, 'a session saved anew starts a new deadline');
  });

  test(`${name}: absoluteTimeoutMs: 0 (the default) sets no deadline`, (t) => {
    const table = fresh(t);
    table.set('a', '{}', start + 5000);
    for (let i = 0; i < 20; i++) {
      t.mock.timers.tick(4000);
      table.touch('a', Date.now() + 5000);
    }
    assert.equal(get(table, 'a'), '{}', 'alive after 80 s of use');
  });

  test(`${name}: entries and records: a session destroyed during a walk (its slot taken by a new one) is not yielded, and each yielded id comes with its own JSON`, (t) => {
    const table = fresh(t);
    for (const walk of [() => table.entries(), () => walkRecords(table.walk())]) {
      table.clear();
      for (const sid of ['a', 'b', 'c']) table.set(sid, `{"of":"${sid}"}`, start + 60_000);
      const yielded: [string, string][] = [];
      for (const [sid, json] of walk()) {
        yielded.push([sid, json]);
        if (sid !== 'a') continue;
        table.destroy('b');
        table.set('z', '{"of":"z"}', start + 60_000); // may take b's place in the table
      }
      for (const [sid, json] of yielded) assert.equal(json, `{"of":"${sid}"}`, `${sid} came with its own JSON`);
      const sids = yielded.map(([sid]) => sid);
      assert.ok(!sids.includes('b') && !sids.includes(''), `the destroyed session is not yielded: ${sids.join(', ')}`);
      assert.deepEqual(sids.slice(0, 2), ['a', 'c']);
    }
  });

  test(`${name}: records and restore: a snapshot round trip keeps expiry, lifetime and deadline; expired records are skipped`, (t) => {
    const table = fresh(t, { absoluteTimeoutMs: 60_000 });
    if (typeof table.restore !== 'function') return t.skip(noRestore(name));
    table.set('a', '{"a":1}', start + 5000);
    table.set('b', '{"b":1}', start + 20_000);
    const records = [...walkRecords(table.walk())];
    assert.deepEqual(records, [
      ['a', '{"a":1}', start + 5000, 5000, start + 60_000, null],
      ['b', '{"b":1}', start + 20_000, 20_000, start + 60_000, null],
    ]);
    t.mock.timers.tick(10_000);
    const restored = make({ absoluteTimeoutMs: 60_000 });
    const restore = restorer(restored);
    assert.deepEqual(records.map((record) => restore(record)), [true, true]);
    assert.deepEqual(held(restored), [['b', start + 20_000]], 'a expired while stored away');
    assert.equal(restored.read('b')?.[1], start + 30_000, 'its lifetime came back with it');
    assert.equal(restore(['x', 42, 1, 1, null]), false, 'a malformed record is refused');
    assert.equal(restore(['x', '{}', start + 60_000, 5000, 0]), false, 'a deadline of 0 is malformed, not "none" (that is null)');
    assert.equal(restore(['x', '{}', start + 60_000, 0, null]), false, 'so is a lifetime of 0');
  });

  test(`${name}: touch: does not bring back an expired session`, (t) => {
    const table = fresh(t);
    table.set('a', '{}', start + 1000);
    t.mock.timers.tick(1000);
    table.touch('a', start + 60_000);
    assert.equal(get(table, 'a'), null);
  });

  test(`${name}: maxSessions: evicts the least recently used, not the oldest written`, (t) => {
    const table = fresh(t, { maxSessions: 3 });
    const later = start + 60_000;
    table.set('a', '{}', later);
    table.set('b', '{}', later);
    table.set('c', '{}', later);
    get(table, 'a'); // a is now the most recently used; b the least
    table.touch('c', later);
    table.set('d', '{}', later);
    assert.equal(table.size, 3);
    assert.equal(get(table, 'b'), null, 'b, least recently used, was evicted');
    for (const sid of ['a', 'c', 'd']) assert.equal(get(table, sid), '{}', `${sid} kept`);
  });

  test(`${name}: maxSessions: a burst of new sessions keeps the count at the bound`, (t) => {
    const table = fresh(t, { maxSessions: 100 });
    for (let i = 0; i < 10_000; i++) table.set(`s${i}`, '{}', start + 60_000);
    assert.equal(table.size, 100);
    assert.equal(get(table, 's9999'), '{}');
    assert.equal(get(table, 's9899'), null);
  });

  test(`${name}: maxSessions: 20,000 random gets, touches, sets and destroys keep exactly the entries a reference LRU keeps`, (t) => {
    const table = fresh(t, { maxSessions: 50 });
    const reference: string[] = []; // least recently used first
    const use = (sid: string) => {
      const at = reference.indexOf(sid);
      if (at >= 0) reference.splice(at, 1);
      reference.push(sid);
    };
    // (It drew from a linear congruential generator whose products passed 2^53: it made 30 ids and nothing but sets
    // and gets, the table never reached its bound, and the test could not fail. Hence the counts below.)
    const random = seeded(7);
    const ran = [0, 0, 0, 0];
    let evicted = 0;
    for (let i = 0; i < 20_000; i++) {
      const sid = `s${random(120)}`;
      const present = reference.includes(sid);
      const op = random(4);
      ran[op]!++;
      switch (op) {
        case 0:
          table.set(sid, '{}', start + 60_000);
          use(sid);
          if (reference.length > 50) {
            reference.shift();
            evicted++;
          }
          break;
        case 1:
          assert.equal(get(table, sid), present ? '{}' : null);
          if (present) use(sid);
          break;
        case 2:
          table.touch(sid, start + 60_000);
          if (present) use(sid);
          break;
        case 3:
          table.destroy(sid);
          if (present) reference.splice(reference.indexOf(sid), 1);
          break;
      }
    }
    assert.deepEqual(ids(table), reference);
    assert.ok(ran.every((count) => count > 4000) && evicted > 500, `every operation ran (${ran.join(', ')}) and the bound evicted (${evicted})`);
    assert.equal(table.evictions.count, evicted);
  });

  test(`${name}: update: saves a live session; one that ended (destroyed, expired, evicted, of a user ended) stays ended`, (t) => {
    const table = fresh(t, { maxSessions: 2 });
    table.set('a', '{"v":1}', start + 5000, 'alice');
    assert.equal(table.update('a', '{"v":2}', start + 5000, 'alice'), true);
    assert.equal(get(table, 'a'), '{"v":2}');
    table.destroy('a');
    assert.equal(table.update('a', '{"v":3}', start + 5000, 'alice'), false);
    table.set('b', '{}', start + 1000);
    t.mock.timers.tick(1000);
    assert.equal(table.update('b', '{}', start + 60_000), false, 'expired');
    table.set('c', '{}', start + 60_000, 'carol');
    assert.equal(table.destroyUser('carol', null), 1);
    assert.equal(table.update('c', '{}', start + 60_000, 'carol'), false, 'its user\'s sessions were ended');
    for (const sid of ['d', 'e', 'f']) table.set(sid, '{}', start + 60_000);
    assert.equal(table.update('d', '{}', start + 60_000), false, 'evicted');
    assert.equal(table.size, 2);
    assert.deepEqual(table.userSessions('alice', 10), [], 'a refused update files nothing under its user');
  });

  test(`${name}: eviction: a flood of new sessions without a user evicts none with a user while one without remains`, (t) => {
    const table = fresh(t, { maxSessions: 100 });
    for (let i = 0; i < 5; i++) table.set(`user-${i}`, '{}', start + 60_000, `u${i}`);
    for (let i = 0; i < 1000; i++) {
      table.set(`anonymous-${i}`, '{}', start + 60_000);
      if (i % 100 === 0) t.mock.timers.tick(1);
    }
    assert.equal(table.size, 100);
    for (let i = 0; i < 5; i++) assert.equal(get(table, `user-${i}`), '{}', `user-${i} kept`);
    assert.equal(table.evictions.count, 905);
    assert.equal(get(table, 'anonymous-999'), '{}', 'the newest anonymous kept');
    assert.equal(get(table, 'anonymous-904'), null, 'the oldest anonymous gone');
  });

  test(`${name}: eviction: with only sessions with a user left, the least recently used of them goes; the session just saved never does`, (t) => {
    const table = fresh(t, { maxSessions: 3 });
    for (const sid of ['a', 'b', 'c']) table.set(sid, '{}', start + 60_000, sid);
    get(table, 'a');
    table.set('new', '{}', start + 60_000);
    assert.deepEqual(ids(table), ['new', 'c', 'a'], 'b, the least recently used with a user, made room; the new one stayed');
    table.set('newer', '{}', start + 60_000);
    assert.deepEqual(ids(table), ['newer', 'c', 'a'], 'then the older without a user goes first');
  });

  test(`${name}: maxTotalBytes: the sessions never count more than the bound; the least recently used go (those without a user first)`, (t) => {
    const table = fresh(t, { maxTotalBytes: 10_000 });
    const note = 'é'.repeat(1000); // counted at 2 bytes a character: what V8 keeps for non-Latin-1 text
    table.set('signed-in', JSON.stringify({ note }), start + 60_000, 'alice');
    for (let i = 0; i < 50; i++) {
      table.set(`big-${i}`, JSON.stringify({ note, i }), start + 60_000);
      assert.ok(table.bytes <= 10_000, `within the bound after ${i + 1} saves (${table.bytes})`);
    }
    assert.equal(get(table, 'signed-in'), JSON.stringify({ note }), 'the session with a user stayed');
    assert.ok(table.evictions.bytes > 40, `the byte bound evicted (${table.evictions.bytes})`);
    assert.equal(table.evictions.count, 0);
    const expected = [...table.entries()].reduce((sum, [sid, json]) => sum + 2 * (sid.length + json.length) + 128, 0);
    assert.equal(table.bytes, expected, 'the count is exact: ids and JSON at 2 bytes a character, 128 a session');
    table.clear();
    assert.equal(table.bytes, 0);
  });

  test(`${name}: maxSessionsPerUser: a save beyond the cap ends that user's least recently used session, never another user's`, (t) => {
    const table = fresh(t, { maxSessionsPerUser: 3 });
    table.set('other', '{}', start + 60_000, 'bob');
    for (const sid of ['a', 'b', 'c']) {
      table.set(sid, '{}', start + 60_000, 'alice');
      t.mock.timers.tick(1);
    }
    get(table, 'a'); // a is now alice's most recently used; b the least
    t.mock.timers.tick(1);
    table.set('d', '{}', start + 60_000, 'alice');
    assert.deepEqual(table.userSessions('alice', 10).map(([sid]) => sid), ['d', 'a', 'c']);
    assert.equal(get(table, 'b'), null);
    assert.equal(get(table, 'other'), '{}');
    assert.equal(table.evictions.perUser, 1);
  });

  test(`${name}: maxSessionsPerUser: a user's expired sessions do not count toward the cap; their live ones stay`, (t) => {
    const table = fresh(t, { maxSessionsPerUser: 2 });
    table.set('remembered', '{}', start + 60_000, 'alice');
    t.mock.timers.tick(1);
    table.set('brief', '{}', start + 1000, 'alice'); // newer, but shorter-lived
    t.mock.timers.tick(2000);
    table.set('new', '{}', start + 60_000, 'alice');
    assert.deepEqual(table.userSessions('alice', 10).map(([sid]) => sid), ['new', 'remembered'], 'the expired one went, not the older live one');
    assert.equal(table.evictions.perUser, 0);
  });

  test(`${name}: hostile ids: __proto__, constructor and toString are ordinary ids`, (t) => {
    const table = fresh(t);
    const hostile = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', ''];
    for (const sid of hostile) assert.equal(get(table, sid), null, `${sid} absent before set`);
    hostile.forEach((sid, i) => table.set(sid, `{"i":${i}}`, start + 1000));
    hostile.forEach((sid, i) => assert.equal(get(table, sid), `{"i":${i}}`));
    assert.deepEqual(ids(table), hostile);
  });

  test(`${name}: all, length, clear: count and list live sessions only`, (t) => {
    const table = fresh(t);
    table.set('a', '{"a":1}', start + 1000);
    table.set('b', '{"b":1}', start + 5000);
    t.mock.timers.tick(2000);
    assert.equal(table.length(), 1);
    assert.deepEqual([...table.entries()].map(([sid, json]) => [sid, json]), [['b', '{"b":1}']]);
    table.clear();
    assert.equal(table.length(), 0);
    assert.deepEqual(ids(table), []);
  });

  test(`${name}: expiry: a cookie that expires in the year 9999 is held until then; a read rolls it within the range of a Date`, (t) => {
    const table = fresh(t);
    const year9999 = Date.UTC(9999, 0, 1);
    table.set('forever', '{}', year9999);
    assert.deepEqual(held(table), [['forever', year9999]]);
    t.mock.timers.tick(1000);
    assert.equal(table.read('forever')?.[1], year9999 + 1000, 'rolled by its lifetime');
    table.set('beyond', '{}', 9e15);
    assert.equal(table.read('beyond')?.[1], 8.64e15, 'the latest time a Date holds, never wrapped into the past');
  });

  test(`${name}: users: a session saved with a user is listed under it; saved with another or none, it moves or leaves`, (t) => {
    const table = fresh(t);
    table.set('a', '{"n":1}', start + 60_000, 'alice');
    t.mock.timers.tick(1000);
    table.set('b', '{"n":2}', start + 60_000, 'alice');
    table.set('c', '{}', start + 60_000, '__proto__');
    table.set('d', '{}', start + 60_000);
    assert.deepEqual(table.userSessions('alice', 10), [
      ['b', '{"n":2}', start + 60_000, start + 1000],
      ['a', '{"n":1}', start + 60_000, start],
    ], 'most recently used first, with data, expiry and last use');
    assert.deepEqual(table.userSessions('__proto__', 10).map(([sid]) => sid), ['c'], 'any string is a user id');
    assert.equal(table.users, 2);
    table.set('a', '{}', start + 60_000, 'bob');
    table.set('b', '{}', start + 60_000);
    assert.deepEqual(table.userSessions('alice', 10), []);
    assert.deepEqual(table.userSessions('bob', 10).map(([sid]) => sid), ['a']);
    assert.equal(table.users, 2, 'alice has none left');
  });

  test(`${name}: users: a read or a touch is use (newest first follows it); listing is not, and is bounded by its limit`, (t) => {
    const table = fresh(t);
    for (const sid of ['a', 'b', 'c']) {
      table.set(sid, '{}', start + 60_000, 'alice');
      t.mock.timers.tick(1000);
    }
    table.read('a');
    t.mock.timers.tick(1000);
    table.touch('b', Date.now() + 60_000);
    const listed = table.userSessions('alice', 2);
    assert.deepEqual(listed.map(([sid, , , lastUsedAt]) => [sid, lastUsedAt - start]), [['b', 4000], ['a', 3000]]);
    const expiry = held(table).find(([sid]) => sid === 'c')?.[1];
    table.userSessions('alice', 10);
    assert.equal(held(table).find(([sid]) => sid === 'c')?.[1], expiry, 'listing rolls no expiry');
  });

  test(`${name}: users: every path that removes a session removes it from the index`, (t) => {
    const table = fresh(t, { maxSessions: 3, absoluteTimeoutMs: 30_000 });
    // One user per path: a user whose only session went must leave the index (its count says so).
    const gone = (user: string, why: string) => {
      assert.deepEqual(table.userSessions(user, 100), [], `${why}: not listed`);
      assert.ok(![...walkRecords(table.walk())].some((record) => record[5] === user), `${why}: not held`);
    };
    table.set('s1', '{}', start + 60_000, 'destroyed');
    table.destroy('s1');
    gone('destroyed', 'destroy');
    assert.equal(table.users, 0, 'destroy');
    table.set('s2', '{}', start + 5_000, 'expired');
    t.mock.timers.tick(5_000);
    assert.equal(table.read('s2'), undefined);
    assert.equal(table.users, 0, 'expiry found on a read');
    table.set('s3', '{}', Date.now() + 5_000, 'swept');
    t.mock.timers.tick(5_000);
    assert.equal(table.sweep(), 1);
    assert.equal(table.users, 0, 'sweep');
    table.set('s4', '{}', Date.now() + 60_000, 'evicted');
    for (const sid of ['x', 'y', 'z']) table.set(sid, '{}', Date.now() + 60_000, 'newer');
    gone('evicted', 'eviction');
    assert.equal(table.users, 1, 'eviction of the least recently used');
    table.clear();
    table.set('s5', '{}', Date.now() + 60_000, 'deadline');
    t.mock.timers.tick(30_000);
    assert.equal(table.length(), 0, 'every session is past the absolute timeout');
    assert.equal(table.users, 0, 'the absolute timeout');
    table.set('s6', '{}', Date.now() + 60_000, 'cleared');
    table.set('s7', '{}', Date.now() + 60_000, 'too');
    table.clear();
    assert.equal(table.users, 0, 'clear');
    table.set('s8', '{}', Date.now() + 60_000, 'renamed');
    table.set('s8', '{}', Date.now() + 60_000, 'other');
    table.set('s9', '{}', Date.now() + 60_000, 'anonymous');
    table.set('s9', '{}', Date.now() + 60_000);
    gone('renamed', 'saved under another user');
    assert.equal(table.users, 1, 'saved under another user, and saved with none');
  });

  test(`${name}: destroyUser: ends every session of the user but the one kept, and no one else's`, (t) => {
    const table = fresh(t);
    for (const sid of ['a', 'b', 'c']) table.set(sid, '{}', start + 60_000, 'alice');
    table.set('d', '{}', start + 60_000, 'bob');
    table.set('e', '{}', start + 60_000);
    assert.equal(table.destroyUser('alice', 'b'), 2);
    assert.deepEqual(ids(table).sort(), ['b', 'd', 'e']);
    assert.equal(table.destroyUser('alice', null), 1);
    assert.equal(table.destroyUser('nobody', null), 0);
    assert.deepEqual(ids(table).sort(), ['d', 'e']);
  });

  test(`${name}: users: records carry the user; a restored record is listed again; an old 5-field record has none`, (t) => {
    const table = fresh(t);
    if (typeof table.restore !== 'function') return t.skip(noRestore(name));
    table.set('a', '{}', start + 60_000, 'alice');
    table.set('b', '{}', start + 60_000);
    const records = [...walkRecords(table.walk())];
    assert.deepEqual(records.map((record) => record[5]), [null, 'alice'], 'sessions without a user first');
    const restored = make();
    const restore = restorer(restored);
    for (const record of records) assert.ok(restore(record));
    assert.ok(restore(['old', '{}', start + 60_000, 60_000, null]), 'a record from before users were indexed');
    assert.ok(!restore(['bad', '{}', start + 60_000, 60_000, null, 42]), 'a user that is not a string is malformed');
    assert.deepEqual(restored.userSessions('alice', 10).map(([sid, , , lastUsedAt]) => [sid, lastUsedAt]), [['a', start]], 'last used: as its expiry tells');
    assert.equal(restored.users, 1);
  });

  /** Steps `walk` to its end, `max` at a time, calling `between` after each step; returns the ids visited, in order. */
  const walkAll = (walk: SessionWalk, max: number, between: (step: number) => void = () => {}): string[] => {
    const visited: string[] = [];
    for (let step = 0, more = true; more; step++) {
      more = walk.step(max, ([sid]) => visited.push(sid));
      between(step);
    }
    return visited;
  };

  test(`${name}: walk: visits each session held when it began once, with its state when reached; not those created since, nor one ended and created again`, (t) => {
    const table = fresh(t);
    for (let i = 0; i < 100; i++) table.set(`s${i}`, `{"v":0}`, start + 60_000);
    const walk = table.walk();
    const seen = new Map<string, string>();
    for (let step = 0, more = true; more; step++) {
      more = walk.step(7, ([sid, json]) => {
        assert.ok(!seen.has(sid), `${sid} visited twice`);
        seen.set(sid, json);
      });
      // Between steps the table serves: saves, new sessions, an ended id created again, destroys, reads.
      table.set(`new${step}`, '{}', start + 60_000);
      table.set(`s${99 - step}`, `{"v":${step}}`, start + 60_000);
      if (step === 3) {
        table.destroy('s98');
        table.set('s98', '{"again":true}', start + 60_000);
        table.destroy('s97');
      }
      get(table, `s${step}`);
    }
    assert.ok(![...seen.keys()].some((sid) => sid.startsWith('new')), 'sessions created during the walk are not visited');
    assert.ok(!seen.has('s98') && !seen.has('s97'), 'ended during the walk: not visited (s98 is a new session under an old id)');
    assert.equal(seen.size, 98);
    // A save between two steps is seen when the walk reaches the session after it.
    for (const [sid, json] of seen) assert.ok(/^\{"v":\d+\}$/.test(json), `${sid}: ${json}`);
    assert.equal(walk.step(10), false, 'a finished walk stays finished');
  });

  test(`${name}: walk: removes the expired sessions it meets; with { ended: true } lists the visited ones that end afterwards`, (t) => {
    const table = fresh(t);
    for (let i = 0; i < 50; i++) table.set(`s${i}`, '{}', start + (i < 10 ? 1000 : 60_000));
    t.mock.timers.tick(1000);
    const walk = table.walk({ ended: true });
    const visited = walkAll(walk, 5, (step) => {
      if (step === 4) for (const sid of ['s10', 's11', 's49']) table.destroy(sid); // s10, s11 visited by now, s49 not yet
    });
    assert.equal(visited.length, 39, 'the 10 expired are not visited, nor s49 ended before its turn');
    assert.equal(table.size, 37, 'the walk removed the 10 expired; 3 were destroyed');
    table.destroy('s12');
    table.set('s13', '{"changed":1}', start + 60_000); // a save is not an end
    assert.deepEqual([...walk.ended].sort(), ['s10', 's11', 's12'], 'ended after their visit, until the walk is closed');
    walk.close();
    table.destroy('s14');
    assert.ok(!walk.ended.includes('s14'), 'a closed walk lists nothing more');
  });

  test(`${name}: walk: a clear ends every walk under way, and lists what it had visited as ended`, (t) => {
    const table = fresh(t);
    for (let i = 0; i < 20; i++) table.set(`s${i}`, '{}', start + 60_000);
    const walk = table.walk({ ended: true });
    const visited: string[] = [];
    walk.step(5, ([sid]) => visited.push(sid));
    table.clear();
    table.set('after', '{}', start + 60_000);
    assert.deepEqual(walkAll(walk, 100), []);
    assert.deepEqual([...walk.ended].sort(), visited.sort(), 'a snapshot being written lists them, so a load does not bring them back');
  });

  test(`${name}: options: an unknown name or a bad value throws a TypeError naming the option`, () => {
    assert.throws(() => make({ maxSessions: 0 }), { name: 'TypeError', message: /\bmaxSessions\b/ });
    assert.throws(() => make({ defaultTtlMs: 1.5 }), { name: 'TypeError', message: /\bdefaultTtlMs\b/ });
    assert.throws(() => make({ ttl: 60 } as TableOptions), { name: 'TypeError', message: /\bttl\b/ });
  });

  if (suiteOptions.reference !== true) {
    test(`${name} matches PlainTable: 30,000 random operations on a moving clock leave both holding the same`, (t) => {
      t.mock.timers.enable({ apis: ['Date'], now: start });
      const options = { maxSessions: 40, maxTotalBytes: 13_000, maxSessionsPerUser: 4, defaultTtlMs: 20_000, absoluteTimeoutMs: 90_000 };
      const table = make(options);
      const plain = new PlainTable(options);
      const random = seeded(11);
      const counts = new Map<string, number>();
      for (let i = 0; i < 30_000; i++) {
        const sid = random(50) === 0 ? '__proto__' : `s${random(100)}`;
        const expiresAt = random(5) === 0 ? null : Date.now() + random(60_000) - 5000;
        const user = users[random(users.length)]!;
        const op = ['set', 'set', 'set', 'update', 'read', 'read', 'touch', 'destroy', 'tick', 'sweep', 'length', 'list', 'destroyUser'][random(13)]!;
        const json = `{"i":${i},"pad":"${'x'.repeat(random(4) === 0 ? random(600) : 0)}"}`;
        counts.set(op, (counts.get(op) ?? 0) + 1);
        switch (op) {
          case 'set':
            table.set(sid, json, expiresAt, user);
            plain.set(sid, json, expiresAt, user);
            break;
          case 'update':
            assert.equal(table.update(sid, json, expiresAt, user), plain.update(sid, json, expiresAt, user), `update at step ${i}`);
            break;
          case 'list':
            if (user !== null) {
              const limit = 1 + random(5);
              assert.deepEqual(table.userSessions(user, limit), plain.userSessions(user, limit), `list at step ${i}`);
            }
            break;
          case 'destroyUser':
            if (user !== null && random(10) === 0) assert.equal(table.destroyUser(user, sid), plain.destroyUser(user, sid), `destroyUser at step ${i}`);
            break;
          case 'read':
            assert.deepEqual(table.read(sid), plain.read(sid), `read ${sid} at step ${i}`);
            break;
          case 'touch':
            table.touch(sid, expiresAt);
            plain.touch(sid, expiresAt);
            break;
          case 'destroy':
            table.destroy(sid);
            plain.destroy(sid);
            break;
          case 'tick':
            t.mock.timers.tick(random(400));
            break;
          case 'sweep':
            assert.equal(table.sweep(), plain.sweep(), `sweep at step ${i}`);
            break;
          case 'length':
            assert.equal(table.length(), plain.length(), `length at step ${i}`);
            break;
        }
        assert.equal(table.bytes, plain.bytes, `bytes at step ${i}`);
        if (i % 1000 === 0) assert.deepEqual([...walkRecords(table.walk())], [...walkRecords(plain.walk())], `records at step ${i}`);
        if (i % 1000 === 500) for (const each of [table, plain]) assertIndexMatchesTable(each, `step ${i}`);
      }
      assert.deepEqual([...walkRecords(table.walk())], [...walkRecords(plain.walk())]);
      assert.ok([...counts.values()].every((count) => count > 1000), `every kind of operation ran: ${JSON.stringify([...counts])}`);
      assert.deepEqual(table.evictions, plain.evictions);
      const { count, bytes, perUser } = table.evictions;
      assert.ok(count > 50 && bytes > 50 && perUser > 50, `every bound evicted: ${JSON.stringify(table.evictions)}`);
    });
  }

  test(`${name}: walk: 20 walks among 20,000 random saves, creates, destroys and reads visit each session held at their start once, every one not destroyed, and list each visited one destroyed`, () => {
    const table = make();
    const random = seeded(7);
    const expiresAt = () => Date.now() + 3_600_000;
    for (let i = 0; i < 500; i++) table.set(`s${i}`, '{}', expiresAt());
    let walks = 0;
    let visitedTotal = 0;
    while (walks < 20) {
      const atStart = new Set([...table.entries()].map(([sid]) => sid));
      const destroyed = new Set<string>();
      const visited = new Set<string>();
      const walk = table.walk({ ended: true });
      for (let more = true; more; ) {
        more = walk.step(1 + random(20), ([sid]) => {
          assert.ok(!visited.has(sid), `${sid} visited twice`);
          assert.ok(atStart.has(sid) && !destroyed.has(sid), `${sid} was not held at the start, or was destroyed before its turn`);
          visited.add(sid);
        });
        for (let op = 0; op < 50; op++) {
          const sid = `s${random(1000)}`;
          switch (random(4)) {
            case 0:
              if (table.has(sid) && atStart.has(sid)) destroyed.add(sid);
              table.destroy(sid);
              break;
            case 1:
              if (!table.has(sid) && atStart.has(sid)) destroyed.add(sid); // created again: a new session
              table.set(sid, `{"op":${op}}`, expiresAt());
              break;
            default:
              table.read(sid);
          }
        }
      }
      for (const sid of atStart) if (!destroyed.has(sid)) assert.ok(visited.has(sid), `${sid} held throughout, never visited`);
      assert.deepEqual(new Set(walk.ended), new Set([...visited].filter((sid) => destroyed.has(sid))), 'ended: the visited ones destroyed since');
      walk.close();
      visitedTotal += visited.size;
      walks++;
    }
    assert.ok(visitedTotal > 5000, `walks visited ${visitedTotal} sessions in all`);
  });
}

/** Users of the random test: null is a session without one. */
const users = [null, null, null, 'alice', 'bob', '__proto__', ''];

/** The user index, asked through the table's own methods, equals a recomputation from the sessions it holds. */
function assertIndexMatchesTable(table: Sessions, when: string): void {
  table.sweep(); // expired sessions not yet removed are in neither
  const byUser = new Map<string, string[]>();
  for (const [sid, , , , , userId] of walkRecords(table.walk())) if (userId !== null) byUser.set(userId, [...(byUser.get(userId) ?? []), sid]);
  for (const user of users) {
    if (user === null) continue;
    const listed = table.userSessions(user, 1000).map(([sid]) => sid);
    assert.deepEqual(listed.sort(), (byUser.get(user) ?? []).sort(), `${user}'s sessions at ${when}`);
  }
  assert.equal(table.users, byUser.size, `users with sessions at ${when}`);
}

/** A small seeded generator (mulberry32): the same sequence every run, good in its low bits too. */
function seeded(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) % n;
  };
}
