// The README promises commands: each `npm run X` and `npm start`/`npm test` it names must exist.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const root = new URL('..', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const store = readFileSync(new URL('src/store/README.md', root), 'utf8');
const scripts = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> }).scripts;

test('README: every npm script it names exists in package.json', () => {
  const named = [...`${readme}\n${store}`.matchAll(/npm (?:run )?([a-z][\w:-]*)/g)].map((m) => m[1]!);
  const npmCommands = new Set(['install', 'ci', 'run', 'i', 'init', 'install-scripts']);
  const missing = named.filter((name) => !npmCommands.has(name) && !(name in scripts));
  assert.ok(named.includes('start') && named.includes('test'), 'the quick start names npm start and npm test');
  assert.deepEqual(missing, []);
});

test('README: every environment variable config.ts reads is in the configuration table', () => {
  const config = readFileSync(new URL('src/config.ts', root), 'utf8');
  const variables = [...config.matchAll(/read\.\w+\('([A-Z_]+)'/g)].map((m) => m[1]!);
  assert.ok(variables.length >= 5);
  for (const name of variables) assert.match(readme, new RegExp(`\\| \`${name}\` \\|`), `${name} documented`);
});
