// One Node major for the product, named alike everywhere: the Dockerfile's base image, .nvmrc, the GitHub
// workflow's matrix and the majors .ci/run tests here. Change one, and this test names the others.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');

test('Node majors: the Dockerfile, .nvmrc, the workflow and .ci/run name the same one', () => {
  const images = [...read('Dockerfile').matchAll(/^FROM node:(\d+)-/gm)].map((m) => Number(m[1]));
  assert.ok(images.length >= 1, 'the Dockerfile builds FROM node:<major>-…');
  assert.equal(new Set(images).size, 1, `every stage of the Dockerfile on one major: ${images.join(', ')}`);
  const product = images[0]!;
  assert.equal(Number(read('.nvmrc').trim()), product, '.nvmrc names the Dockerfile\'s major');
  const matrix = /node:\s*\[([\d,\s]+)\]/.exec(read('.github/workflows/ci.yml'))?.[1]?.split(',').map(Number) ?? [];
  assert.ok(matrix.includes(product), `the workflow tests ${product} (its matrix: ${matrix.join(', ')})`);
  const ciRun = [...read('.ci/run').matchAll(/node@(\d+)/g)].map((m) => Number(m[1]));
  assert.ok(ciRun.includes(product), `.ci/run tests ${product} (it installs ${ciRun.join(', ')})`);
  const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
  const floor = Number(/>=\s*(\d+)/.exec(engines)?.[1]);
  assert.ok(matrix.every((major) => major >= floor), `package.json engines (${engines}) admit every major the workflow tests`);
});

test('compose.yaml: every image is pinned to an exact version, and Dependabot bumps them', () => {
  const images = [...read('compose.yaml').matchAll(/^\s*image:\s*(\S+)/gm)].map((m) => m[1]!);
  assert.ok(images.length >= 1, 'compose.yaml names its images');
  for (const image of images) assert.match(image, /^[\w./-]+:\d+\.\d+\.\d+(-[\w.]+)?(@sha256:[0-9a-f]{64})?$/, `${image}: a tag with major.minor.patch, not a floating one`);
  assert.match(read('.github/dependabot.yml'), /package-ecosystem:\s*docker-compose/, 'Dependabot covers compose.yaml');
});
