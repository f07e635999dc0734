// `npm run store:js -- <folder>`: writes the store as JavaScript for a team without TypeScript: src/store/ compiled
// to ES modules with their .d.ts files (an editor still knows the types), its package.json ("type": "module", so
// the folder is ES modules inside a CommonJS app too, and `npm test` runs the compiled tests), and its README.
// A CommonJS app require()s it on Node 20.19+ and 22.12+; an ES module app imports it.
//
// It never deletes what it did not write: a folder is replaced only when it is new, empty, or an earlier copy
// (its package.json carries the mark below) holding nothing this run would not write again, unless --force; a
// file of the copy's own that you changed is overwritten. The new copy is written beside the target and swapped in.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupOnExit } from './lib/cleanup.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const store = path.join(repo, 'src/store');
/** In the copy's package.json: what wrote it, so that a later run knows the folder for an earlier copy. */
const mark = 'writtenBy';
const markValue = 'npm run store:js (express-cluster-sessions)';
const usage = [
  'usage: npm run store:js -- <folder> [--force]',
  '  <folder>: where your app keeps the store, e.g. ../your-app/store (relative to where you run npm)',
  '  --force: replace an earlier copy even if it holds files this run would not write (yours: they are deleted)',
].join('\n');

/** Every file under `folder`, relative to it, sorted. */
function filesUnder(folder: string): string[] {
  return (readdirSync(folder, { recursive: true, withFileTypes: true }) as { name: string; parentPath: string; isFile(): boolean }[])
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** Whether `target` is the template's src/store, inside it, or holds it. */
function overlapsStore(target: string): boolean {
  const relative = path.relative(store, target);
  return relative === '' || !relative.startsWith('..') || !path.relative(target, store).startsWith('..');
}

/** Why `target` may not be replaced at all, before anything is compiled; undefined when it may. */
function notACopy(target: string): string | undefined {
  if (overlapsStore(target)) return `${target} is the template's own src/store (or inside it, or holds it): write the copy into your app, e.g. ../your-app/store`;
  if (!existsSync(target) || readdirSync(target).length === 0) return undefined;
  const manifest = path.join(target, 'package.json');
  const previous = existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, unknown>)[mark] : undefined;
  if (previous !== markValue) {
    return `${target} holds files and is not a copy this command wrote (its package.json has no "${mark}": "${markValue}"): choose a new or empty folder`;
  }
  return undefined;
}

/** Why an earlier copy at `target` may not be replaced by `written` (the new copy's files); undefined when it may. */
function filesOfYours(target: string, written: readonly string[], force: boolean): string | undefined {
  if (!existsSync(target) || force) return undefined;
  const own = new Set(written);
  const others = filesUnder(target).filter((file) => !own.has(file));
  if (others.length === 0) return undefined;
  const listed = others.slice(0, 10).join(', ') + (others.length > 10 ? `, and ${others.length - 10} more` : '');
  return `${target} is an earlier copy that also holds files this run would not write (${listed}): move yours out of it (a table's test can live beside it), or pass --force to delete them`;
}

/** Compiles the store into `out`, with its package.json marked and its tests run from their compiled files. */
function compile(out: string): void {
  const work = path.join(out, '..', `${path.basename(out)}.tsconfig.json`);
  // The template's own compiler settings, with declarations, into `out`, the store alone.
  const config = {
    extends: path.join(repo, 'tsconfig.json'),
    compilerOptions: { rootDir: store, outDir: out, declaration: true, sourceMap: false, noEmit: false, typeRoots: [path.join(repo, 'node_modules/@types')] },
    include: [path.join(store, '**/*.ts')],
  };
  writeFileSync(work, JSON.stringify(config));
  try {
    const tsc = spawnSync(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', work], { encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`compiling src/store failed:\n${tsc.stdout}${tsc.stderr}`);
  } finally {
    rmSync(work, { force: true });
  }
  const manifest = JSON.parse(readFileSync(path.join(store, 'package.json'), 'utf8')) as Record<string, unknown> & { scripts?: Record<string, string> };
  const marked = { ...manifest, [mark]: markValue, scripts: { ...manifest.scripts, test: 'node --test test/*.test.js' } };
  writeFileSync(path.join(out, 'package.json'), `${JSON.stringify(marked, null, 2)}\n`);
  writeFileSync(path.join(out, 'README.md'), readFileSync(path.join(store, 'README.md')));
}

function writeJsStore(target: string, force: boolean): void {
  const refused = notACopy(target);
  if (refused !== undefined) throw new Error(refused);
  const parent = path.dirname(target);
  if (!existsSync(parent)) throw new Error(`${parent} does not exist: write the copy into your app's folder`);
  // Beside the target, so the swap is a rename on one file system.
  const work = mkdtempSync(path.join(parent, `.${path.basename(target)}.store-js-`));
  cleanupOnExit().add(() => rmSync(work, { recursive: true, force: true }));
  try {
    const out = path.join(work, 'store');
    compile(out);
    const why = filesOfYours(target, filesUnder(out), force);
    if (why !== undefined) throw new Error(why);
    const old = path.join(work, 'old');
    const had = existsSync(target);
    if (had) renameSync(target, old);
    try {
      renameSync(out, target);
    } catch (error) {
      if (had) renameSync(old, target); // the earlier copy stays as it was
      throw error;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
const force = args.includes('--force');
const targets = args.filter((arg) => arg !== '--force');
if (targets.length !== 1 || targets[0]!.startsWith('-')) {
  console.error(usage);
  process.exit(2);
}
// npm runs scripts from the template's root: a relative folder is taken from where npm was run (INIT_CWD).
const target = path.resolve(process.env.INIT_CWD ?? process.cwd(), targets[0]!);
try {
  writeJsStore(target, force);
  console.log(`wrote the store as JavaScript (ES modules and .d.ts) to ${target}; check it there with: cd ${target} && npm test`);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
