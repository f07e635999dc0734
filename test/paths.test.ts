// Every repository path the docs name exists: README.md, src/store/README.md, docs/benchmarks.md, the Dockerfile,
// compose.yaml, CI and package.json's scripts. A dist/ path is checked against the source the build makes it from
// (dist/x/y.js ← src/x/y.ts), without building. The README's layout names every file of src/ (src/store/ as one
// folder) with the process that runs it; the Dockerfile starts the compiled form of `npm start`'s entry.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;

const documents = ['README.md', 'src/store/README.md', 'docs/benchmarks.md', 'Dockerfile', 'compose.yaml', '.ci/run', '.github/workflows/ci.yml', 'package.json'];

/** Paths a document names that are another project's, never this one's. */
const elsewhere: Record<string, readonly string[]> = {
  // The copier's own app, in the store README's examples; express-session's test suite.
  'src/store/README.md': ['src/server.ts', 'src/server-with-snapshots.ts', 'src/store/test/my-table.test.ts', 'test/session.js'],
  'docs/benchmarks.md': ['test/session.js'],
};

/** The repository paths `text` names: whatever starts with src/, test/, scripts/, dist/, docs/, .ci/ or .github/. */
function namedPaths(text: string): string[] {
  const found = [...text.matchAll(/(?<![\w./-])(?:src|test|scripts|dist|docs|\.ci|\.github)\/[\w./-]*/g)];
  // A path that ends a sentence keeps its full stop out.
  return [...new Set(found.map(([named]) => named.replace(/\.+$/, '')))];
}

/** Documents inside a folder name that folder's files from it: the store README's `test/harness.ts` is src/store's. */
const folderOf: Record<string, string> = { 'src/store/README.md': 'src/store' };

/** Whether `named` exists here; a dist/ path, once its source does (the build compiles src/x.ts to dist/x.js and copies the rest). */
function exists(named: string, document: string): boolean {
  const folder = folderOf[document];
  if (folder !== undefined && !named.startsWith(`${folder}/`) && existsSync(path.join(root, folder, named))) return true;
  if (!named.startsWith('dist/')) return existsSync(path.join(root, named));
  const source = path.join(root, 'src', named.slice('dist/'.length));
  return existsSync(source) || (source.endsWith('.js') && existsSync(`${source.slice(0, -'.js'.length)}.ts`));
}

interface LayoutEntry {
  path: string;
  /** The process column: both, primary or worker ('' where there is none). */
  process: string;
}

/** The entries of the README's layout tree; a file's path is its parents' (by indentation, two spaces a level) and its name. */
function layoutEntries(readme: string): LayoutEntry[] {
  const section = readme.slice(readme.indexOf('\n## Layout\n'));
  const block = /```\n([^]*?)```/.exec(section)?.[1] ?? '';
  const parents: string[] = [];
  const entries: LayoutEntry[] = [];
  for (const line of block.split('\n')) {
    const match = /^( *)(\S+)(?: +(both|primary|worker) )?/.exec(line);
    // An indented line that starts in the description column continues the entry above.
    if (match === null || match[1]!.length >= 20) continue;
    const depth = match[1]!.length / 2;
    parents.length = depth;
    const name = match[2]!;
    entries.push({ path: parents.join('') + name, process: match[3] ?? '' });
    if (name.endsWith('/')) parents[depth] = name;
  }
  return entries;
}

/** Which process runs a file of src/, by the folder it is in. */
function processOf(file: string): string {
  if (/^src\/primary\//.test(file)) return 'primary';
  if (/^src\/(worker|redis)\//.test(file)) return 'worker';
  return 'both';
}

test('paths: every path README.md, src/store/README.md, docs/, the Dockerfile, compose.yaml, CI and package.json name exists', () => {
  let checked = 0;
  const missing: string[] = [];
  for (const document of documents) {
    const foreign = elsewhere[document] ?? [];
    for (const named of namedPaths(read(document))) {
      checked++;
      if (!foreign.includes(named) && !exists(named, document)) missing.push(`${document}: ${named}`);
    }
  }
  assert.deepEqual(missing, [], 'paths named that do not exist');
  assert.ok(checked >= 40, `${checked} paths checked`);
});

test("paths: each path kept out as another project's is still named, and is not this repository's", () => {
  for (const [document, foreign] of Object.entries(elsewhere)) {
    const named = namedPaths(read(document));
    for (const other of foreign) {
      assert.ok(named.includes(other), `${document} no longer names ${other}: drop it from the list`);
      assert.ok(!exists(other, document), `${other} exists here: check it like any other path`);
    }
  }
});

test('paths: the README layout lists every file of src/ with the process that runs it, and each entry exists', () => {
  const entries = layoutEntries(read('README.md'));
  const listed = new Set(entries.map((entry) => entry.path));
  assert.ok(listed.has('src/primary/main.ts') && listed.has('src/worker/main.ts') && listed.has('Dockerfile'), `layout entries: ${[...listed].join(', ')}`);
  assert.deepEqual(entries.filter((entry) => !exists(entry.path, 'README.md')).map((entry) => entry.path), [], 'layout entries that do not exist');
  // A folder listed without entries under it (src/store/, the page's public/) stands for all its files.
  const leafFolders = [...listed].filter((entry) => entry.endsWith('/') && ![...listed].some((other) => other !== entry && other.startsWith(entry)));
  const files = (readdirSync(path.join(root, 'src'), { recursive: true }) as string[])
    .map((file) => `src/${file.split(path.sep).join('/')}`)
    .filter((file) => statSync(path.join(root, file)).isFile());
  const unlisted = files.filter((file) => !listed.has(file) && !leafFolders.some((folder) => file.startsWith(folder)));
  assert.deepEqual(unlisted, [], 'files of src/ the layout does not list');
  const wrong = entries
    .filter((entry) => entry.path.startsWith('src/') && !(entry.path.endsWith('/') && !leafFolders.includes(entry.path)))
    .filter((entry) => entry.process !== processOf(entry.path))
    .map((entry) => `${entry.path}: "${entry.process}", runs in ${processOf(entry.path)}`);
  assert.deepEqual(wrong, [], 'layout entries whose process column is wrong or missing');
});

test("paths: the Dockerfile's CMD and start:prod run the compiled form of `npm start`'s entry", () => {
  const source = scripts.start!.split(' ').at(-1)!;
  assert.match(source, /^src\/.+\.ts$/, `npm start runs a file of src/: ${scripts.start}`);
  assert.ok(existsSync(path.join(root, source)), `${source} exists`);
  const compiled = source.replace(/^src\//, 'dist/').replace(/\.ts$/, '.js');
  const cmd = /^CMD \["node", "([^"]+)"\]/m.exec(read('Dockerfile'))?.[1];
  assert.equal(cmd, compiled, "the Dockerfile's CMD");
  assert.equal(scripts['start:prod'], `node ${compiled}`);
});
