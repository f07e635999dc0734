// The copy a team makes, for each kind of app the store README gives steps for: a fresh project outside this
// repository with only express (5, or 4), express-session and, for TypeScript, the type packages and tsc, linked
// from this repository's node_modules. TypeScript apps copy src/store/ and take the README's tsconfig additions;
// JavaScript apps get the folder from `npm run store:js`. Each runs the README's example as a 2-worker cluster,
// carries a session across the workers, and runs the copied folder's own tests in the copy.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { CookieJar, type Response } from '../helpers/http.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(path.join(repo, 'src/store/README.md'), 'utf8');
const tscBin = path.join(repo, 'node_modules/typescript/bin/tsc');

/** A code block of the store README, by the label written after its language (```ts src/server.ts). */
function readmeFile(label: string, language = 'ts'): string {
  const found = new RegExp('```' + language + ' ' + label.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&') + '\n([\\s\\S]*?)```').exec(readme);
  assert.ok(found, `src/store/README.md has a \`\`\`${language} ${label} block`);
  return found[1]!;
}

function run(command: string, args: string[], cwd: string): string {
  // Without NODE_TEST_CONTEXT, which this test runner sets: a `node --test` it reached would skip every file.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: 180_000 });
  assert.equal(result.status, 0, `${path.basename(command)} ${args.join(' ')} in ${cwd} failed:\n${result.stdout}${result.stderr}`);
  return `${result.stdout}${result.stderr}`;
}

const npm = (args: string[], cwd: string) => run(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, cwd);

/** `npm test` in the copied folder: its own tests ran (some), and none failed; tap (Node 20) or spec summary. */
function folderTestsPass(folder: string): void {
  const output = npm(['test'], folder);
  assert.match(output, /^[#ℹ] fail 0$/m, output);
  assert.match(output, /^[#ℹ] pass [1-9]\d*$/m, `the copy ran its tests:\n${output}`);
}

/** `commonjs`: a CommonJS app whose package.json says `"type": "commonjs"`, as `npm init` writes it now; else none. */
type Kind = { language: 'ts' | 'js'; module: 'esm' | 'cjs' | 'commonjs'; express: 4 | 5 };

/**
 * A new project of `kind`: its package.json (with `"type": "module"` only for ES modules: the README never asks a
 * CommonJS app to change its type), and a node_modules of links to this repository's packages, with `express`
 * the major asked for. @types/express-session is copied rather than linked so that its `express` is the app's.
 */
function project(t: TestContext, kind: Kind): string {
  const dir = mkdtempSync(path.join(tmpdir(), `ecs-copy-${kind.language}-${kind.module}-express${kind.express}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const type = { esm: { type: 'module' }, commonjs: { type: 'commonjs' }, cjs: {} }[kind.module];
  const manifest = { name: 'copied-store-app', private: true, ...type };
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const modules = path.join(dir, 'node_modules');
  mkdirSync(path.join(modules, '@types'), { recursive: true });
  const link = (name: string, from = name) => symlinkSync(path.join(repo, 'node_modules', from), path.join(modules, name), 'dir');
  link('express', kind.express === 4 ? 'express-4' : 'express');
  link('express-session');
  if (kind.language === 'ts') {
    for (const name of ['typescript', 'tsx', '@types/node']) link(name);
    link('@types/express', kind.express === 4 ? '@types/express-4' : '@types/express');
    cpSync(path.join(repo, 'node_modules/@types/express-session'), path.join(modules, '@types/express-session'), { recursive: true });
  }
  return dir;
}

/** tsc --init's tsconfig, with the README's addition (`"types": ["node"]`) and `edits` of the test's own. */
function tscInit(dir: string, edits: [string, string][] = []): void {
  run(process.execPath, [tscBin, '--init'], dir);
  let tsconfig = readFileSync(path.join(dir, 'tsconfig.json'), 'utf8');
  for (const [from, to] of [['"types": [],', '"types": ["node"],'] as [string, string], ...edits]) {
    assert.ok(tsconfig.includes(from), `tsc --init wrote ${from}`);
    tsconfig = tsconfig.replace(from, to);
  }
  writeFileSync(path.join(dir, 'tsconfig.json'), tsconfig);
}

/** The README's first TypeScript step: the folder, package.json included. */
function copyStore(dir: string): void {
  cpSync(path.join(repo, 'src/store'), path.join(dir, 'src/store'), { recursive: true });
}

const tsc = (dir: string, ...args: string[]) => run(process.execPath, [tscBin, '-p', dir, ...args], dir);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/**
 * Starts the app in its own process group (every worker is stopped with it) and waits until both workers said
 * they listen, as the README's examples do: "worker N listening on http://localhost:PORT".
 */
async function start(t: TestContext, dir: string, args: string[], env: Record<string, string> = {}): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, ...env, PORT: String(port) }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  });
  const ready = new RegExp(`^worker \\d+ listening on http://localhost:${port}$`, 'gm');
  const deadline = Date.now() + 30_000;
  while ((output.match(ready) ?? []).length < 2) {
    if (child.exitCode !== null) assert.fail(`the app exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) assert.fail(`the app did not print "worker N listening on http://localhost:${port}" for 2 workers within 30 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, url: `http://127.0.0.1:${port}/`, output: () => output };
}

/** Warnings Node prints for a module it had to guess the type of, or for a feature not yet stable. */
const warnings = /MODULE_TYPELESS_PACKAGE_JSON|ExperimentalWarning|Warning:/;

/**
 * Visits until two workers have answered; every visit must count exactly one more view. On a cold start the
 * first worker can answer everything before the second listens: keep visiting, for up to 20 s.
 */
async function visitAcrossWorkers(jar: CookieJar, url: string, from = 0): Promise<Set<unknown>> {
  const workers = new Set<unknown>();
  const deadline = Date.now() + 20_000;
  for (let visit = from + 1; workers.size < 2 || visit <= from + 4; visit++) {
    assert.ok(Date.now() < deadline, `two workers answered within 20 s (saw ${[...workers].join(', ')} in ${visit - from - 1} visits)`);
    if (visit > from + 4) await new Promise((resolve) => setTimeout(resolve, 20));
    const answer: Response = await jar.get(url);
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.json.views, visit, `visit ${visit} counted once, on worker ${String(answer.json.worker)}`);
    workers.add(answer.json.worker);
  }
  return workers;
}

test('copy, TypeScript ES modules on Express 5: the folder in a fresh project (tsc --init, the README\'s one addition) typechecks, runs the README example as a 2-worker cluster, and its own tests pass in the copy', async (t) => {
  const dir = project(t, { language: 'ts', module: 'esm', express: 5 });
  copyStore(dir);
  tscInit(dir);
  for (const file of ['src/server.ts', 'src/server-with-snapshots.ts']) writeFileSync(path.join(dir, file), readmeFile(file));
  tsc(dir, '--noEmit');
  const app = await start(t, dir, ['--import', 'tsx', 'src/server.ts']);
  const workers = await visitAcrossWorkers(new CookieJar(), app.url);
  t.diagnostic(`one session counted by workers ${[...workers].join(', ')}`);
  folderTestsPass(path.join(dir, 'src/store'));
});

test('copy, TypeScript CommonJS on Express 4 ("type": "commonjs"): compiled by tsc (module nodenext, with the README\'s build step; and module commonjs), it runs with plain node and no warning, the app keeps its module type, and the copy\'s own tests pass', async (t) => {
  const dir = project(t, { language: 'ts', module: 'commonjs', express: 4 });
  copyStore(dir);
  // A CommonJS TypeScript app's own settings: its imports become require() calls, which verbatimModuleSyntax refuses.
  tscInit(dir, [['"verbatimModuleSyntax": true,', '"verbatimModuleSyntax": false, "esModuleInterop": true,'], ['// "rootDir": "./src",', '"rootDir": "./src",'], ['// "outDir": "./dist",', '"outDir": "./dist",']]);
  writeFileSync(path.join(dir, 'src/server.ts'), readmeFile('src/server.ts'));
  tsc(dir);
  // Step 4 of the README, as written there.
  const step = /`(tsc && node -e "[^`]+")`/.exec(readme);
  assert.ok(step, 'the README gives the build step that copies the folder\'s package.json');
  run('sh', ['-c', step[1]!.replace(/^tsc && /, '')], dir);
  assert.match(readFileSync(path.join(dir, 'dist/server.js'), 'utf8'), /require\("\.\/store\/index\.js"\)/, 'the app is CommonJS: it require()s the store');
  const nodenext = await start(t, dir, ['dist/server.js']);
  await visitAcrossWorkers(new CookieJar(), nodenext.url);
  assert.doesNotMatch(nodenext.output(), warnings, nodenext.output());
  nodenext.child.kill('SIGKILL');

  // module: commonjs: tsc writes the folder as CommonJS, and nothing is added to the build.
  rmSync(path.join(dir, 'dist'), { recursive: true });
  const tsconfig = path.join(dir, 'tsconfig.json');
  writeFileSync(tsconfig, readFileSync(tsconfig, 'utf8').replace('"module": "nodenext",', '"module": "commonjs",'));
  tsc(dir);
  const commonjs = await start(t, dir, ['dist/server.js']);
  await visitAcrossWorkers(new CookieJar(), commonjs.url);
  assert.doesNotMatch(commonjs.output(), warnings, commonjs.output());
  assert.equal((JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { type?: string }).type, 'commonjs', 'the app kept its module type');
  folderTestsPass(path.join(dir, 'src/store'));
});

/** The README's JavaScript step 1: the template's command writes the folder into the app. */
function storeJs(dir: string): void {
  npm(['run', '-s', 'store:js', '--', path.join(dir, 'store')], repo);
  for (const file of ['index.js', 'index.d.ts', 'cluster-store.js', 'package.json', 'README.md']) assert.ok(existsSync(path.join(dir, 'store', file)), `store:js wrote store/${file}`);
}

test('copy, JavaScript CommonJS on Express 4: an app with require() everywhere and no "type" takes the folder from `npm run store:js` and the README\'s lines, runs with plain node and no warning, and the copy\'s own tests pass', async (t) => {
  const dir = project(t, { language: 'js', module: 'cjs', express: 4 });
  const after = readmeFile('server.js (CommonJS)', 'js');
  // The app as it was, on MemoryStore: the README's block without the lines it marks as new.
  const before = after
    .split('\n')
    .filter((line) => !/\/\/ new(:|$)/.test(line) || line.includes('session({'))
    .map((line) => line.replace('store: new ClusterStore(), ', '').replace(/ \/\/ new.*$/, ''))
    .join('\n');
  assert.doesNotMatch(before, /ClusterStore/);
  writeFileSync(path.join(dir, 'server.js'), before);
  const alone = await start(t, dir, ['server.js']);
  alone.child.kill('SIGKILL');

  storeJs(dir);
  writeFileSync(path.join(dir, 'server.js'), after);
  const app = await start(t, dir, ['server.js']);
  await visitAcrossWorkers(new CookieJar(), app.url);
  assert.doesNotMatch(app.output(), warnings, app.output());
  assert.equal((JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { type?: string }).type, undefined, 'the app kept its module type');
  folderTestsPass(path.join(dir, 'store'));
});

test('copy, JavaScript ES modules on Express 5: the same block with its require() lines as imports, as the README says, runs with plain node and no warning, and the copy\'s own tests pass', async (t) => {
  const dir = project(t, { language: 'js', module: 'esm', express: 5 });
  storeJs(dir);
  const commonjs = readmeFile('server.js (CommonJS)', 'js');
  const esm = commonjs.replace(/^const (\{ \w+ \}|\w+) = require\(('[^']+')\);/gm, 'import $1 from $2;');
  assert.equal((esm.match(/^import /gm) ?? []).length, 4, 'the first four lines became import statements');
  writeFileSync(path.join(dir, 'server.js'), esm);
  const app = await start(t, dir, ['server.js']);
  await visitAcrossWorkers(new CookieJar(), app.url);
  assert.doesNotMatch(app.output(), warnings, app.output());
  folderTestsPass(path.join(dir, 'store'));
});

test('store:js writes only into a new folder or a copy it wrote: refuses a folder of the app\'s, a TypeScript copy and the template\'s own src/store; an update replaces its own files, drops those gone, and keeps yours, which the copy\'s npm test runs', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ecs-store-js-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync(path.join(repo, 'node_modules'), path.join(dir, 'node_modules'), 'dir'); // express-session, for the copy's tests
  const storeJsIn = (cwd: string, ...args: string[]) => spawnSync('npm', ['--prefix', repo, 'run', '-s', 'store:js', '--', ...args], { cwd, encoding: 'utf8' });
  const refused = (args: string[], why: RegExp) => {
    const result = storeJsIn(dir, ...args);
    assert.equal(result.status, 1, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, why);
  };
  writeFileSync(path.join(dir, 'app.js'), 'precious');
  refused(['.'], /is not a copy this command wrote/);
  assert.equal(readFileSync(path.join(dir, 'app.js'), 'utf8'), 'precious');
  cpSync(path.join(repo, 'src/store'), path.join(dir, 'ts-store'), { recursive: true });
  refused(['ts-store'], /is not a copy this command wrote/);
  assert.ok(existsSync(path.join(dir, 'ts-store/cluster-store.ts')), 'the TypeScript copy is left as it was');
  refused([path.join(repo, 'src/store')], /the template's own src\/store/);
  refused([path.join(repo, 'src')], /the template's own src\/store/);

  // A relative folder is taken from where npm was run, not from the template.
  assert.equal(storeJsIn(dir, 'store').status, 0);
  const target = path.join(dir, 'store');
  const manifestFile = path.join(target, '.store-js.json');
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { files: string[] };
  assert.ok(manifest.files.includes('index.js') && manifest.files.includes('test/sessions-suite.js'));
  // Yours: a table's test, as the README has it; a file of the copy's you changed; one the store no longer has.
  writeFileSync(
    path.join(target, 'test/my-table.test.js'),
    "import { testSessions } from './sessions-suite.js';\nimport { PlainTable } from '../index.js';\nclass MyTable extends PlainTable {}\ntestSessions('MyTable', (options) => new MyTable(options));\n",
  );
  writeFileSync(path.join(target, 'index.js'), 'changed');
  writeFileSync(path.join(target, 'gone.js'), 'an older store had it');
  writeFileSync(manifestFile, JSON.stringify({ ...manifest, files: [...manifest.files, 'gone.js'] }));
  const updated = storeJsIn(dir, 'store');
  assert.equal(updated.status, 0, updated.stderr);
  assert.match(updated.stdout, /kept your files: test\/my-table\.test\.js/);
  assert.ok(existsSync(path.join(target, 'test/my-table.test.js')), 'yours is kept');
  assert.notEqual(readFileSync(path.join(target, 'index.js'), 'utf8'), 'changed', 'its own file is written again');
  assert.ok(!existsSync(path.join(target, 'gone.js')), 'a file of an older copy that the store no longer has goes');
  const tests = npm(['test'], target);
  assert.match(tests, /MyTable matches PlainTable/, 'the copy\'s npm test runs your table\'s test');
  assert.match(tests, /^[#ℹ] fail 0$/m, tests);

  // A file of yours with the name of one the store writes is never overwritten.
  const current = JSON.parse(readFileSync(manifestFile, 'utf8')) as { files: string[] };
  writeFileSync(manifestFile, JSON.stringify({ ...current, files: current.files.filter((file) => file !== 'README.md') }));
  writeFileSync(path.join(target, 'README.md'), 'my notes');
  refused(['store'], /your README\.md would be replaced by the store's file of that name: rename yours/);
  assert.equal(readFileSync(path.join(target, 'README.md'), 'utf8'), 'my notes');
  assert.deepEqual(readdirSync(dir).sort(), ['app.js', 'node_modules', 'store', 'ts-store'], 'nothing left beside it');
});

test('copy: the README\'s snapshot example keeps a visitor\'s session across a SIGTERM and a restart', async (t) => {
  const dir = project(t, { language: 'ts', module: 'esm', express: 5 });
  copyStore(dir);
  tscInit(dir);
  writeFileSync(path.join(dir, 'src/server-with-snapshots.ts'), readmeFile('src/server-with-snapshots.ts'));
  const env = { SNAPSHOT_FILE: path.join(dir, 'sessions.jsonl') };
  const first = await start(t, dir, ['--import', 'tsx', 'src/server-with-snapshots.ts'], env);
  const jar = new CookieJar();
  await visitAcrossWorkers(jar, first.url);
  const views = (await jar.get(first.url)).json.views as number;
  const exited = new Promise<number | null>((resolve) => first.child.once('exit', resolve));
  first.child.kill('SIGTERM');
  assert.equal(await exited, 0, `the primary exits 0 after writing its snapshot:\n${first.output()}`);
  assert.ok(existsSync(env.SNAPSHOT_FILE), 'the snapshot file was written');
  const second = await start(t, dir, ['--import', 'tsx', 'src/server-with-snapshots.ts'], env);
  assert.equal((await jar.get(second.url)).json.views, views + 1, 'the count goes on after the restart');
});

test('copy: without lock/, snapshot/ and rate-limit/ (and their one export line each in index.ts) it compiles to JavaScript and runs with plain node', async (t) => {
  const dir = project(t, { language: 'ts', module: 'esm', express: 5 });
  copyStore(dir);
  tscInit(dir, [
    ['// "rootDir": "./src",', '"rootDir": "./src",'],
    ['// "outDir": "./dist",', '"outDir": "./dist",'],
  ]);
  writeFileSync(path.join(dir, 'src/server.ts'), readmeFile('src/server.ts'));
  for (const folder of ['lock', 'snapshot', 'rate-limit']) rmSync(path.join(dir, 'src/store', folder), { recursive: true });
  const index = path.join(dir, 'src/store/index.ts');
  const lines = readFileSync(index, 'utf8').split('\n');
  const kept = lines.filter((line) => !/from '\.\/(lock|snapshot|rate-limit)\//.test(line));
  assert.equal(lines.length - kept.length, 3, 'one export line for each feature');
  writeFileSync(index, kept.join('\n'));
  tsc(dir);
  assert.ok(existsSync(path.join(dir, 'dist/store/index.js')), 'the store compiled to plain JavaScript');
  const app = await start(t, dir, ['dist/server.js']);
  await visitAcrossWorkers(new CookieJar(), app.url);
  folderTestsPass(path.join(dir, 'src/store')); // without the features too
});
