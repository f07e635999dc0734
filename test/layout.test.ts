// The tree says which process runs a file, and the imports keep it true: a primary file (src/primary/) never
// imports a worker file (src/worker/), nor a worker file a primary one; both meet only in the shared files at src/
// and in src/store/. src/redis/ is the Redis backend, which only workers use: the primary does not import it, and
// it imports neither side. The shared files import no side at all, or a side would run in the other process.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const src = fileURLToPath(new URL('../src/', import.meta.url));

/** Where a file under src/ belongs. src/store/ has its own rules (its README) and is not scanned here. */
type Part = 'primary' | 'worker' | 'redis' | 'shared' | 'store' | 'outside src';

/** What each scanned part may import, besides packages and Node's modules. */
const allowed: Record<'primary' | 'worker' | 'redis' | 'shared', readonly Part[]> = {
  primary: ['primary', 'shared', 'store'],
  worker: ['worker', 'redis', 'shared', 'store'],
  redis: ['redis', 'shared', 'store'],
  shared: ['shared', 'store'],
};

/** `file`: a path relative to src/, with forward slashes. */
function partOf(file: string): Part {
  if (file.startsWith('../') || path.isAbsolute(file)) return 'outside src';
  const [first, ...rest] = file.split('/');
  if (rest.length === 0) return 'shared';
  return first === 'primary' || first === 'worker' || first === 'redis' || first === 'store' ? first : 'shared';
}

/**
 * The imports of `source` (at `file`, relative to src/) that its part may not make, each as
 * `src/<file>:<line> imports '<specifier>' (src/<target>): …`. Static imports, `export … from`, `import type` and
 * dynamic `import()` all count; comments do not (TypeScript's own scanner reads the file).
 */
function forbiddenImports(file: string, source: string): string[] {
  const part = partOf(file);
  if (part === 'store' || part === 'outside src') throw new Error(`not a file this check covers: ${file}`);
  const problems: string[] = [];
  for (const { fileName: specifier, pos } of ts.preProcessFile(source, true, true).importedFiles) {
    if (!specifier.startsWith('.')) continue; // a package or node: module
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)).replace(/\.js$/, '.ts');
    const reached = partOf(target);
    if (allowed[part].includes(reached)) continue;
    const line = source.slice(0, pos).split('\n').length;
    const where = reached === 'outside src' ? target : `src/${target}`;
    problems.push(`src/${file}:${line} imports '${specifier}' (${where}): ${part === 'shared' ? 'a shared file' : `a ${part} file`} may import only ${allowed[part].map(describe).join(', ')}`);
  }
  return problems;
}

function describe(part: Part): string {
  return part === 'shared' ? 'the shared files at src/' : `src/${part}/`;
}

/** Every .ts file the rule covers, relative to src/: the shared files at src/ and those of primary/, worker/, redis/. */
function scannedFiles(): string[] {
  const files = (readdirSync(src, { recursive: true }) as string[]).map((file) => file.split(path.sep).join('/'));
  return files.filter((file) => file.endsWith('.ts') && partOf(file) !== 'store').sort();
}

test('layout: no primary file imports a worker file or back, src/redis stays out of the primary, shared files import no side', () => {
  const files = scannedFiles();
  const counted = (part: Part) => files.filter((file) => partOf(file) === part).length;
  // What was scanned, so that a check that finds no files (a folder renamed) fails instead of passing.
  assert.ok(files.includes('primary/main.ts') && files.includes('worker/main.ts'), `both entries scanned: ${files.join(', ')}`);
  assert.ok(counted('primary') >= 4 && counted('worker') >= 8 && counted('redis') >= 4 && counted('shared') >= 4, `files scanned: ${files.join(', ')}`);
  const problems = files.flatMap((file) => forbiddenImports(file, readFileSync(path.join(src, file), 'utf8')));
  assert.deepEqual(problems, []);
});

test('layout: the check names the file, the line and the import of each crossing, and lets the allowed ones pass', () => {
  assert.deepEqual(forbiddenImports('primary/supervisor.ts', "import { log } from '../log.js';\nimport { createApp } from '../worker/app.js';\n"), [
    "src/primary/supervisor.ts:2 imports '../worker/app.js' (src/worker/app.ts): a primary file may import only src/primary/, the shared files at src/, src/store/",
  ]);
  assert.deepEqual(forbiddenImports('worker/main.ts', "import type { Supervisor } from '../primary/supervisor.js';"), [
    "src/worker/main.ts:1 imports '../primary/supervisor.js' (src/primary/supervisor.ts): a worker file may import only src/worker/, src/redis/, the shared files at src/, src/store/",
  ]);
  assert.equal(forbiddenImports('worker/app.ts', "const { main } = await import('../primary/main.js');").length, 1, 'a dynamic import');
  assert.equal(forbiddenImports('worker/app.ts', "export { Supervisor } from '../primary/supervisor.js';").length, 1, 'a re-export');
  assert.equal(forbiddenImports('primary/main.ts', "import { createRedisSessionStore } from '../redis/store.js';").length, 1, 'the primary and Redis');
  assert.equal(forbiddenImports('redis/store.ts', "import { SESSION_COOKIE } from '../worker/app.js';").length, 1, 'Redis and a side');
  assert.equal(forbiddenImports('config.ts', "import { createApp } from './worker/app.js';").length, 1, 'a shared file and a side');
  assert.equal(forbiddenImports('redis/store.ts', "import x from '../../scripts/lib/stats.js';").length, 1, 'outside src/');
  const fine = [
    "import { createRedisSessionStore } from '../redis/store.js';",
    "import { ClusterStore } from '../store/index.js';",
    "import { loadConfigOrExit } from '../config.js';",
    "import { createApp } from './app.js';",
    "// import { Supervisor } from '../primary/supervisor.js';",
    "import express from 'express';",
  ].join('\n');
  assert.deepEqual(forbiddenImports('worker/main.ts', fine), []);
});
