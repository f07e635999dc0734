// `npm run store:js -- <folder>`: writes the store as JavaScript for a team without TypeScript: src/store/ compiled
// to ES modules with their .d.ts files (an editor still knows the types), its package.json ("type": "module", so
// the folder is ES modules inside a CommonJS app too, and `npm test` runs the compiled tests), and its README.
// A CommonJS app require()s it on Node >= 20.19 and >= 22.12; an ES module app imports it.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const store = path.join(repo, 'src/store');
const usage = 'usage: npm run store:js -- <folder>   (for instance ../my-app/store: the folder to write, new or an earlier copy)';

/** The folder's package.json as the copy needs it: the same, with the tests run from their compiled files. */
export function jsPackage(source: string): string {
  const manifest = JSON.parse(source) as { scripts?: Record<string, string> };
  manifest.scripts = { ...manifest.scripts, test: 'node --test test/*.test.js' };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** True when `folder` holds nothing, or an earlier copy (its package.json is the store's): safe to replace. */
function replaceable(folder: string): boolean {
  if (!existsSync(folder)) return true;
  if (readdirSync(folder).length === 0) return true;
  const manifest = path.join(folder, 'package.json');
  if (!existsSync(manifest)) return false;
  const own = (JSON.parse(readFileSync(path.join(store, 'package.json'), 'utf8')) as { name: string }).name;
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === own;
}

export function writeJsStore(target: string): void {
  if (!replaceable(target)) {
    throw new Error(`${target} exists and is not an earlier copy of the store (no package.json named like src/store/package.json): choose a new folder, or remove it first`);
  }
  const work = mkdtempSync(path.join(tmpdir(), 'store-js-'));
  try {
    const out = path.join(work, 'store');
    const config = {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2023'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        types: ['node'],
        typeRoots: [path.join(repo, 'node_modules/@types')],
        strict: true,
        skipLibCheck: true,
        declaration: true,
        rootDir: store,
        outDir: out,
      },
      include: [path.join(store, '**/*.ts')],
    };
    writeFileSync(path.join(work, 'tsconfig.json'), JSON.stringify(config));
    const tsc = spawnSync(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', path.join(work, 'tsconfig.json')], { encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`compiling src/store failed:\n${tsc.stdout}${tsc.stderr}`);
    writeFileSync(path.join(out, 'package.json'), jsPackage(readFileSync(path.join(store, 'package.json'), 'utf8')));
    cpSync(path.join(store, 'README.md'), path.join(out, 'README.md'));
    rmSync(target, { recursive: true, force: true });
    cpSync(out, target, { recursive: true });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [target, ...rest] = process.argv.slice(2);
  if (target === undefined || rest.length > 0 || target.startsWith('-')) {
    console.error(usage);
    process.exit(2);
  }
  try {
    writeJsStore(path.resolve(target));
    console.log(`wrote the store as JavaScript (ES modules and .d.ts) to ${path.resolve(target)}; check it there with: cd ${target} && npm test`);
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}
