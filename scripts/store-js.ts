// `npm run store:js -- <folder>`: writes the store as JavaScript for a team without TypeScript: src/store/ compiled
// to ES modules with their .d.ts files (an editor still knows the types), its package.json ("type": "module", so
// the folder is ES modules inside a CommonJS app too, and `npm test` runs the compiled tests), and its README.
// A CommonJS app require()s it on Node 20.19+ and 22.12+; an ES module app imports it.
//
// It owns only the files it wrote: an update replaces those (a changed one too) and removes those the store no
// longer has, and carries every other file of the folder over (a table's test of yours in test/, say). It writes
// into a folder only when it is new, empty, or a copy it wrote (listed in the copy's .store-js.json); the new copy
// is written beside the target and swapped in.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupOnExit } from './lib/cleanup.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const store = path.join(repo, 'src/store');
/** In the copy, the files this command wrote there: a later run replaces those, and keeps the others. */
const manifestName = '.store-js.json';
const writtenBy = 'npm run store:js (express-cluster-sessions)';
const usage = [
  'usage: npm run store:js -- <folder>',
  '  <folder>: where your app keeps the store, e.g. ../your-app/store (relative to where you run npm); new, empty,',
  '  or a copy this command wrote earlier, which it updates (files you added there are kept)',
].join('\n');

interface Manifest {
  writtenBy: string;
  files: string[];
}

/** Every file under `folder`, relative to it, sorted. */
function filesUnder(folder: string): string[] {
  type Entry = { name: string; parentPath: string; isFile(): boolean; isSymbolicLink(): boolean };
  return (readdirSync(folder, { recursive: true, withFileTypes: true }) as Entry[])
    .filter((entry) => entry.isFile() || entry.isSymbolicLink()) // a link of yours is carried over as a link
    .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** Whether `target` is the template's src/store, inside it, or holds it. */
function overlapsStore(target: string): boolean {
  const relative = path.relative(store, target);
  return relative === '' || !relative.startsWith('..') || !path.relative(target, store).startsWith('..');
}

/** What an earlier copy at `target` says it wrote; undefined for a new or empty folder. Throws for any other. */
function earlierCopy(target: string): Manifest | undefined {
  if (overlapsStore(target)) throw new Error(`${target} is the template's own src/store (or inside it, or holds it): write the copy into your app, e.g. ../your-app/store`);
  if (!existsSync(target) || readdirSync(target).length === 0) return undefined;
  const file = path.join(target, manifestName);
  const manifest = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<Manifest>) : undefined;
  if (manifest?.writtenBy !== writtenBy || !Array.isArray(manifest.files)) {
    throw new Error(`${target} holds files and is not a copy this command wrote (no ${manifestName} of its own there): choose a new or empty folder`);
  }
  return manifest as Manifest;
}

/** Carries the files of yours in `target` (any it did not write) into `out`; throws if one has a name the new copy takes. */
function carryOver(target: string, earlier: Manifest, out: string): string[] {
  const ours = new Set([...earlier.files, manifestName]);
  const yours = filesUnder(target).filter((file) => !ours.has(file));
  const taken = yours.filter((file) => existsSync(path.join(out, file)));
  if (taken.length > 0) throw new Error(`${target}: your ${taken.join(', ')} would be replaced by the store's file of that name: rename yours, then run this again`);
  for (const file of yours) cpSync(path.join(target, file), path.join(out, file), { verbatimSymlinks: true });
  return yours;
}

/** Compiles the store into `out`, with its package.json (its tests run from their compiled files) and the list of what it wrote. */
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
  const compiled = { ...manifest, scripts: { ...manifest.scripts, test: 'node --test test/*.test.js' } };
  writeFileSync(path.join(out, 'package.json'), `${JSON.stringify(compiled, null, 2)}\n`);
  writeFileSync(path.join(out, 'README.md'), readFileSync(path.join(store, 'README.md')));
  const written: Manifest = { writtenBy, files: filesUnder(out) };
  writeFileSync(path.join(out, manifestName), `${JSON.stringify(written, null, 2)}\n`);
}

/** Writes the copy to `target`; returns the files of yours it carried over from an earlier copy. */
function writeJsStore(target: string): string[] {
  const earlier = earlierCopy(target);
  const parent = path.dirname(target);
  if (!existsSync(parent)) throw new Error(`${parent} does not exist: write the copy into your app's folder`);
  // Beside the target, so the swap is a rename on one file system.
  const work = mkdtempSync(path.join(parent, `.${path.basename(target)}.store-js-`));
  cleanupOnExit().add(() => rmSync(work, { recursive: true, force: true }));
  try {
    const out = path.join(work, 'store');
    compile(out);
    const kept = earlier === undefined ? [] : carryOver(target, earlier, out);
    const old = path.join(work, 'old');
    const had = existsSync(target);
    if (had) renameSync(target, old);
    try {
      renameSync(out, target);
    } catch (error) {
      if (had) renameSync(old, target); // the earlier copy stays as it was
      throw error;
    }
    return kept;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const targets = process.argv.slice(2);
if (targets.length !== 1 || targets[0]!.startsWith('-')) {
  console.error(usage);
  process.exit(2);
}
// npm runs scripts from the template's root: a relative folder is taken from where npm was run (INIT_CWD).
const target = path.resolve(process.env.INIT_CWD ?? process.cwd(), targets[0]!);
try {
  const kept = writeJsStore(target);
  if (kept.length > 0) console.log(`kept your files: ${kept.join(', ')}`);
  console.log(`wrote the store as JavaScript (ES modules and .d.ts) to ${target}; check it there with: cd ${target} && npm test`);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
