// The production path: `npm run build` compiles src/ to dist/, and `npm run start:prod` (node dist/primary/main.js,
// no tsx) serves sessions across workers. The Dockerfile refers only to things that exist.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CookieJar, request } from './helpers/http.js';
import { startTestApp } from './helpers/app.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as { scripts: Record<string, string>; dependencies: Record<string, string> };

test('npm run build, then start:prod: the compiled app runs without tsx and sessions follow the visitor', async (t) => {
  execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'pipe', timeout: 120_000 });
  assert.ok(existsSync(`${root}/dist/primary/main.js`) && existsSync(`${root}/dist/worker/main.js`), "the workers' entry is built beside the primary's");
  const [program, ...args] = pkg.scripts['start:prod']!.split(' ');
  assert.equal(program, 'node');
  assert.deepEqual(args, ['dist/primary/main.js'], 'plain node: no tsx, no loader');
  const app = await startTestApp((fn) => t.after(fn), {}, { command: [process.execPath, ...args] });
  const jar = new CookieJar();
  const workers = new Set<unknown>();
  const first = await jar.get(`${app.url}/hello`);
  assert.match(String(first.json.msg), /^Hello from worker/);
  for (let i = 0; i < 4; i++) {
    const again = await jar.get(`${app.url}/hello`);
    assert.match(String(again.json.msg), /^Hello again from worker/);
    workers.add(again.json.worker);
  }
  assert.equal(workers.size, 2);
  assert.match((await request(`${app.url}/`)).text, /Send 20 requests/, 'the page is built along (dist/worker/public)');
  assert.ok(!('tsx' in pkg.dependencies), 'tsx is a development dependency: production installs go without it');
});

test('Dockerfile: every file it copies, script it runs and entry it starts exists', () => {
  const dockerfile = readFileSync(`${root}/Dockerfile`, 'utf8');
  const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
  assert.ok(copies.length >= 3, `COPY lines found: ${copies.join(' ')}`);
  for (const path of copies) assert.ok(existsSync(`${root}/${path}`), `COPY ${path}: exists`);
  for (const [, script] of dockerfile.matchAll(/npm run (\S+)/g)) assert.ok(script! in pkg.scripts, `npm run ${script}: in package.json`);
  const entry = /^CMD \["node", "([^"]+)"\]/m.exec(dockerfile)?.[1];
  // That this compiled file is built from the primary's entry: test/paths.test.ts.
  assert.equal(entry, pkg.scripts['start:prod']!.split(' ')[1], 'the image starts what `npm run start:prod` starts: the compiled primary');
  assert.match(dockerfile, /^FROM node:\d+-trixie-slim AS runtime$/m, 'a slim Debian runtime (its major: test/versions.test.ts)');
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /^HEALTHCHECK [^]*?\/healthz/m, "a HEALTHCHECK on /healthz");
  assert.ok(existsSync(`${root}/.dockerignore`) && existsSync(`${root}/compose.yaml`));
});
