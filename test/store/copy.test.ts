// The copy a team makes: src/store/ in a fresh project outside this repository, with only express,
// express-session and the type packages (linked from this repository's node_modules), a tsconfig as `tsc --init`
// writes it plus what src/store/README.md says to add, and the README's own example files. It must typecheck,
// run as a 2-worker cluster and carry a session across the workers; then the same without the optional folders.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { CookieJar, type Response } from '../helpers/http.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(path.join(repo, 'src/store/README.md'), 'utf8');
const ownPackage = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;

/** A ```ts block of the store README, by the file name written after its language. */
function readmeFile(name: string): string {
  const found = new RegExp('```ts ' + name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&') + '\n([\\s\\S]*?)```').exec(readme);
  assert.ok(found, `src/store/README.md has a \`\`\`ts ${name} block`);
  return found[1]!;
}

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  assert.equal(result.status, 0, `${path.basename(command)} ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

/** A new project holding a copy of src/store and the README's example files; its tsconfig is tsc --init's. */
function freshProject(t: TestContext, files: string[], tsconfigEdits: [string, string][]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ecs-copy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(path.join(repo, 'src/store'), path.join(dir, 'src/store'), { recursive: true });
  const pick = (names: string[], from: Record<string, string>) => Object.fromEntries(names.map((name) => [name, from[name]!]));
  const manifest = {
    name: 'copied-store-app',
    private: true,
    type: 'module', // the README's first addition
    dependencies: pick(['express', 'express-session'], ownPackage.dependencies!),
    devDependencies: pick(['@types/express', '@types/express-session', '@types/node', 'typescript', 'tsx'], ownPackage.devDependencies!),
  };
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  symlinkSync(path.join(repo, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  run(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '--init'], dir);
  let tsconfig = readFileSync(path.join(dir, 'tsconfig.json'), 'utf8');
  for (const [from, to] of [['"types": [],', '"types": ["node"],'] as [string, string], ...tsconfigEdits]) {
    assert.ok(tsconfig.includes(from), `tsc --init wrote ${from}`);
    tsconfig = tsconfig.replace(from, to);
  }
  writeFileSync(path.join(dir, 'tsconfig.json'), tsconfig);
  for (const file of files) writeFileSync(path.join(dir, file), readmeFile(file));
  return dir;
}

const tsc = (dir: string, ...args: string[]) => run(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', dir, ...args], dir);

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

/** Starts the app in its own process group (every worker is stopped with it) and waits until it answers. */
async function start(t: TestContext, dir: string, args: string[], env: Record<string, string> = {}): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, ...env, PORT: String(port) }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  });
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) assert.fail(`the app exited with ${child.exitCode}:\n${output}`);
    const answered = await fetch(url).then(
      () => true,
      () => false,
    );
    if (answered) break;
    if (Date.now() > deadline) assert.fail(`the app did not answer within 30 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, url, output: () => output };
}

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

test('copy: src/store in a fresh project (tsc --init defaults, the README\'s additions) typechecks and runs the README example as a 2-worker cluster', async (t) => {
  const dir = freshProject(t, ['src/server.ts', 'src/server-with-snapshots.ts'], []);
  tsc(dir, '--noEmit');
  const app = await start(t, dir, ['--import', 'tsx', 'src/server.ts']);
  const workers = await visitAcrossWorkers(new CookieJar(), app.url);
  t.diagnostic(`copy: one session counted by workers ${[...workers].join(', ')}`);
});

test('copy: the README\'s snapshot example keeps a visitor\'s session across a SIGTERM and a restart', async (t) => {
  const dir = freshProject(t, ['src/server-with-snapshots.ts'], []);
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
  const dir = freshProject(t, ['src/server.ts'], [
    ['// "rootDir": "./src",', '"rootDir": "./src",'],
    ['// "outDir": "./dist",', '"outDir": "./dist",'],
  ]);
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
});
