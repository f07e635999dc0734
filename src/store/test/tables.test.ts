// The two built-in tables through the conformance suite (sessions-suite.ts): the fast one (session-table.ts), which
// must also match the plain reference after thousands of random operations, and the reference (plain-table.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PlainTable } from '../primary/plain-table.js';
import { SessionTable } from '../primary/session-table.js';
import type { TableOptions } from '../primary/sessions.js';
import { testSessions } from './sessions-suite.js';

testSessions('SessionTable', (options) => new SessionTable(options));
testSessions('PlainTable', (options) => new PlainTable(options), { reference: true });

// The suite asks any table only for a TypeError naming the option; the built-in ones word it as tableOptions() does.
test('SessionTable and PlainTable: options: the TypeError names the table, the option, the rule and the value', () => {
  for (const [name, Table] of [['SessionTable', SessionTable], ['PlainTable', PlainTable]] as const) {
    assert.throws(() => new Table({ maxSessions: 0 }), { name: 'TypeError', message: `${name}: \`maxSessions\` must be an integer >= 1, got 0` });
    assert.throws(() => new Table({ defaultTtlMs: 1.5 }), { name: 'TypeError', message: /`defaultTtlMs`/ });
    assert.throws(() => new Table({ ttl: 60 } as TableOptions), { name: 'TypeError', message: /`ttl` is not an option/ });
  }
});
