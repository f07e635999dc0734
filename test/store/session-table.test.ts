// SessionTable on node:test's mock clock: expiry, sweep, touch, LRU eviction, size bound, hostile ids.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { SessionTable, type SessionTableOptions } from '../../src/store/session-table.js';
import { ErrorCode } from '../../src/store/protocol.js';

const start = 1_700_000_000_000;

const held = (table: SessionTable) => [...table.entries()].map(([sid, , expiresAt]) => [sid, expiresAt]);

function tableOnMockClock(t: TestContext, options: SessionTableOptions = {}): SessionTable {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: start });
  const table = new SessionTable(options);
  t.after(() => table.stopSweeping());
  return table;
}

test('get: returns the JSON that was set, and null for an id never stored', (t) => {
  const table = tableOnMockClock(t);
  table.set('a', '{"n":1}', start + 1000);
  assert.equal(table.get('a'), '{"n":1}');
  assert.equal(table.get('b'), null);
});

test('get: an unknown id creates nothing', (t) => {
  const table = tableOnMockClock(t);
  for (let i = 0; i < 100; i++) table.get(`probe-${i}`);
  table.touch('probe-x', start + 1000);
  assert.equal(table.size, 0);
});

test('expiry: kept to the second, rounded up: a session never expires before its cookie', (t) => {
  const table = tableOnMockClock(t);
  table.set('a', '{}', start + 1500);
  assert.deepEqual(held(table), [['a', start + 2000]]);
  t.mock.timers.tick(1999);
  assert.equal(table.size, 1);
  t.mock.timers.tick(1);
  assert.equal(table.get('a'), null);
});

test('expiry: a session left alone expires at its cookie.expires and is never returned after', (t) => {
  const table = tableOnMockClock(t);
  table.set('a', '{}', start + 1000);
  t.mock.timers.tick(999);
  assert.deepEqual(held(table), [['a', start + 1000]]);
  t.mock.timers.tick(1);
  assert.equal(table.get('a'), null);
  assert.equal(table.size, 0, 'an expired session read is also dropped');
});

test('expiry: a session without cookie expiry lives defaultTtlMs', (t) => {
  const table = tableOnMockClock(t, { defaultTtlMs: 5000 });
  table.set('a', '{}', null);
  assert.deepEqual(held(table), [['a', start + 5000]]);
  t.mock.timers.tick(5000);
  assert.equal(table.get('a'), null);
});

test('set: a session that is already expired is removed instead of stored', (t) => {
  const table = tableOnMockClock(t);
  table.set('a', '{}', start + 1000);
  table.set('a', '{}', start - 1);
  assert.equal(table.size, 0);
});

test('sweep: the timer removes expired sessions nobody reads again', (t) => {
  const table = tableOnMockClock(t, { sweepIntervalMs: 60_000 });
  table.startSweeping();
  table.set('short', '{}', start + 10_000);
  table.set('long', '{}', start + 600_000);
  t.mock.timers.tick(59_999);
  assert.equal(table.size, 2, 'nothing swept before the interval');
  t.mock.timers.tick(1);
  assert.equal(table.size, 1);
  assert.equal(table.get('long'), '{}');
});

test('get: rolls the expiry forward by the lifetime the session was saved with', (t) => {
  const table = tableOnMockClock(t);
  table.set('a', '{}', start + 10_000); // a 10 s lifetime
  t.mock.timers.tick(8000);
  assert.equal(table.read('a')?.[1], start + 18_000, 'read at 8 s: now expires at 18 s');
  t.mock.timers.tick(9999);
  assert.deepEqual(held(table), [['a', start + 18_000]], 'alive at 17.999 s thanks to the read');
  t.mock.timers.tick(1);
  assert.equal(table.get('a'), null, 'idle for a whole lifetime since: gone');
});

test('touch: moves expiry without rewriting the data, and sets the lifetime later reads roll by', (t) => {
  const table = tableOnMockClock(t);
  table.set('a', '{"cart":[1]}', start + 1000);
  t.mock.timers.tick(900);
  table.touch('a', start + 5000);
  assert.deepEqual(held(table), [['a', start + 5000]]);
  assert.equal(table.read('a')?.[0], '{"cart":[1]}');
  assert.equal(table.read('a')?.[1], start + 900 + 4100, 'a read rolls by the 4.1 s the touch gave');
  t.mock.timers.tick(4100);
  assert.equal(table.get('a'), null);
});

test('absoluteTimeoutMs: a session ends that long after it was first saved, however much it is used and saved', (t) => {
  const table = tableOnMockClock(t, { absoluteTimeoutMs: 10_000 });
  table.set('a', '{"v":1}', start + 5000);
  for (let s = 1; s <= 9; s++) {
    t.mock.timers.tick(1000);
    if (s % 2) table.touch('a', Date.now() + 5000);
    else table.set('a', `{"v":${s}}`, Date.now() + 5000);
    assert.ok(table.read('a'), `alive at ${s} s`);
  }
  assert.equal(table.read('a')?.[1], start + 10_000, 'rolling stops at the deadline');
  t.mock.timers.tick(1000);
  assert.equal(table.get('a'), null, 'gone at 10 s, though used every second');
  table.set('a', '{"v":"again"}', Date.now() + 5000);
  assert.equal(table.read('a')?.[1], start + 15_000, 'a session saved anew starts a new deadline');
});

test('absoluteTimeoutMs: 0 (the default) sets no deadline', (t) => {
  const table = tableOnMockClock(t);
  table.set('a', '{}', start + 5000);
  for (let i = 0; i < 20; i++) {
    t.mock.timers.tick(4000);
    table.touch('a', Date.now() + 5000);
  }
  assert.equal(table.get('a'), '{}', 'alive after 80 s of use');
});

test('records and restore: a snapshot round trip keeps expiry, lifetime and deadline; expired records are skipped', (t) => {
  const table = tableOnMockClock(t, { absoluteTimeoutMs: 60_000 });
  table.set('a', '{"a":1}', start + 5000);
  table.set('b', '{"b":1}', start + 20_000);
  const records = [...table.records()];
  assert.deepEqual(records, [
    ['a', '{"a":1}', start / 1000 + 5, 5, start / 1000 + 60],
    ['b', '{"b":1}', start / 1000 + 20, 20, start / 1000 + 60],
  ]);
  t.mock.timers.tick(10_000);
  const restored = new SessionTable({ absoluteTimeoutMs: 60_000 });
  assert.deepEqual(records.map((record) => restored.restore(record)), [true, true]);
  assert.deepEqual(held(restored), [['b', start + 20_000]], 'a expired while stored away');
  assert.equal(restored.read('b')?.[1], start + 30_000, 'its lifetime came back with it');
  assert.equal(restored.restore(['x', 42, 1, 1, null]), false, 'a malformed record is refused');
});

test('touch: does not bring back an expired session', (t) => {
  const table = tableOnMockClock(t);
  table.set('a', '{}', start + 1000);
  t.mock.timers.tick(1000);
  table.touch('a', start + 60_000);
  assert.equal(table.get('a'), null);
});

test('maxSessions: evicts the least recently used, not the oldest written', (t) => {
  const table = tableOnMockClock(t, { maxSessions: 3 });
  const later = start + 60_000;
  table.set('a', '{}', later);
  table.set('b', '{}', later);
  table.set('c', '{}', later);
  table.get('a'); // a is now the most recently used; b the least
  table.touch('c', later);
  table.set('d', '{}', later);
  assert.equal(table.size, 3);
  assert.equal(table.get('b'), null, 'b, least recently used, was evicted');
  for (const sid of ['a', 'c', 'd']) assert.equal(table.get(sid), '{}', `${sid} kept`);
});

test('maxSessions: a burst of new sessions keeps the count at the bound', (t) => {
  const table = tableOnMockClock(t, { maxSessions: 100 });
  for (let i = 0; i < 10_000; i++) table.set(`s${i}`, '{}', start + 60_000);
  assert.equal(table.size, 100);
  assert.equal(table.get('s9999'), '{}');
  assert.equal(table.get('s9899'), null);
});

test('maxSessions: 20,000 random gets, touches, sets and destroys keep exactly the entries a reference LRU keeps', (t) => {
  const table = tableOnMockClock(t, { maxSessions: 50 });
  const reference: string[] = []; // least recently used first
  const use = (sid: string) => {
    const at = reference.indexOf(sid);
    if (at >= 0) reference.splice(at, 1);
    reference.push(sid);
  };
  let seed = 7;
  const random = (n: number) => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed % n);
  for (let i = 0; i < 20_000; i++) {
    const sid = `s${random(120)}`;
    const present = reference.includes(sid);
    switch (random(4)) {
      case 0:
        table.set(sid, '{}', start + 60_000);
        use(sid);
        if (reference.length > 50) reference.shift();
        break;
      case 1:
        assert.equal(table.get(sid), present ? '{}' : null);
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
  assert.deepEqual(
    table.all().map(([sid]) => sid),
    reference,
  );
});

test('maxSessionBytes: an oversize session is refused and the others are untouched', (t) => {
  const table = tableOnMockClock(t, { maxSessionBytes: 1024 });
  table.set('small', '{"a":1}', start + 1000);
  table.set('big', '{"v":"x"}', start + 1000);
  const oversize = JSON.stringify({ v: 'é'.repeat(600) }); // 600 characters, 1200+ bytes of UTF-8
  assert.throws(() => table.set('big', oversize, start + 1000), { code: ErrorCode.tooLarge, message: /maxSessionBytes \(1024\)/ });
  assert.equal(table.get('big'), '{"v":"x"}', 'the previous version survives');
  assert.equal(table.get('small'), '{"a":1}');
  table.set('ascii', JSON.stringify({ v: 'x'.repeat(1000) }), start + 1000); // 1010 bytes fits
});

test('hostile ids: __proto__, constructor and toString are ordinary ids', (t) => {
  const table = tableOnMockClock(t);
  const ids = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', ''];
  for (const sid of ids) assert.equal(table.get(sid), null, `${sid} absent before set`);
  ids.forEach((sid, i) => table.set(sid, `{"i":${i}}`, start + 1000));
  ids.forEach((sid, i) => assert.equal(table.get(sid), `{"i":${i}}`));
  assert.deepEqual(
    table.all().map(([sid]) => sid),
    ids,
  );
});

test('all, length, clear: count and list live sessions only', (t) => {
  const table = tableOnMockClock(t);
  table.set('a', '{"a":1}', start + 1000);
  table.set('b', '{"b":1}', start + 5000);
  t.mock.timers.tick(2000);
  assert.equal(table.length(), 1);
  assert.deepEqual(table.all(), [['b', '{"b":1}']]);
  table.clear();
  assert.equal(table.length(), 0);
  assert.deepEqual(table.all(), []);
});

test('options: a bad value throws a TypeError naming the option', () => {
  assert.throws(() => new SessionTable({ maxSessions: 0 }), { name: 'TypeError', message: '`maxSessions` option must be an integer >= 1, got 0' });
  assert.throws(() => new SessionTable({ defaultTtlMs: 1.5 }), { name: 'TypeError', message: /`defaultTtlMs`/ });
});

test('expiry: a cookie that expires in the year 9999 is held until 2106 at least, never wrapped into the past', (t) => {
  const table = tableOnMockClock(t);
  table.set('forever', '{}', Date.UTC(9999, 0, 1));
  const [[, expiresAt]] = held(table) as [[string, number]];
  assert.equal(expiresAt, (2 ** 32 - 1) * 1000);
  assert.equal(table.get('forever'), '{}', 'a read rolls it by its lifetime, kept within range too');
  assert.equal(held(table)[0]![1], (2 ** 32 - 1) * 1000);
});
