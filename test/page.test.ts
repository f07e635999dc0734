// The page in a real browser (Debian's chromium, driven by playwright-core) against the real cluster: 20
// requests climb the visit count by exactly 20 across at least 2 workers, and "Forget me" starts over.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestApp } from './helpers/app.js';
import { until } from './helpers/poll.js';

const browserPath = '/usr/bin/chromium';

/** Debian's chromium, headless, with what a closed network needs; closed when the test ends. */
async function launchBrowser(t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(() => browser.close());
  return browser;
}

/** What the page did wrong: a script error, or anything the Content-Security-Policy refused. */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  return problems;
}

function chromiumUnavailable(): string | undefined {
  if (spawnSync(browserPath, ['--version']).status === 0) return undefined;
  const install = `${browserPath} is not installed: \`apt-get install -y chromium\` to run the browser test`;
  if (process.env.CI === 'true') throw new Error(`${install} (CI=true: it must run)`);
  return install;
}

test('page: 20 requests climb the visits by exactly 20 across 2+ workers; "Forget me" starts over', { skip: chromiumUnavailable() }, async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  const browser = await launchBrowser(t);
  const page = await browser.newPage({ viewport: { width: 420, height: 640 } });
  const problems = watch(page);
  await page.goto(`${app.url}/`);
  // Through locators only: the page's Content-Security-Policy forbids the eval behind string conditions.
  const visitsAre = (n: number) => page.locator('#visits', { hasText: new RegExp(`^${n}$`) }).waitFor({ timeout: 30_000 });
  await visitsAre(0);

  await page.click('#send');
  await until(async () => (await page.locator('#strip rect').count()) === 20 && (await page.locator('#send').isEnabled()), '20 answers drawn', 30_000);
  assert.equal(await page.textContent('#visits'), '20');
  const rects = await page.locator('#strip rect').all();
  const workers = await Promise.all(rects.map(async (rect) => (await rect.getAttribute('data-worker')) ?? '?'));
  assert.ok(new Set(workers).size >= 2, `the strip shows several workers: ${workers.join(' ')}`);

  const shot = path.join(mkdtempSync(path.join(tmpdir(), 'ecs-page-')), 'page.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`page: screenshot at ${shot}; workers drawn: ${[...new Set(workers)].join(', ')}`);
  // `UPDATE_SCREENSHOT=1 npm run test:unit` refreshes the picture in the README.
  if (process.env.UPDATE_SCREENSHOT === '1') copyFileSync(shot, fileURLToPath(new URL('../docs/page.png', import.meta.url)));

  await page.click('#send');
  await visitsAre(40);
  await page.click('#forget');
  await visitsAre(0);
  assert.equal(await page.locator('#strip rect').count(), 0);
  assert.equal(await page.locator('#legend i').count(), 0, 'the legend emptied too');
  assert.deepEqual(problems, [], 'no script error, nothing refused by the Content-Security-Policy');
});

test('page: two devices sign in as the same user; the first sees both sessions, signs out the other, and the other is signed out on its next request', { skip: chromiumUnavailable() }, async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  const browser = await launchBrowser(t);
  // Two browser contexts: two devices, each with its own cookies.
  const pages: string[][] = [];
  const [first, second] = await Promise.all(
    ['Laptop', 'Phone'].map(async (device) => {
      const context = await browser.newContext({ viewport: { width: 420, height: 900 }, userAgent: `${device} test browser` });
      const page = await context.newPage();
      const seen = watch(page);
      pages.push(seen);
      await page.goto(`${app.url}/`);
      await page.fill('#signin input[name=username]', 'alice');
      await page.fill('#signin input[name=password]', 'alice-demo-password');
      await page.click('#signin button[type=submit]');
      await page.locator('#who', { hasText: /^Alice$/ }).waitFor({ timeout: 30_000 });
      return page;
    }),
  );
  await first!.reload();
  await until(async () => (await first!.locator('#sessions li').count()) === 2, 'two sessions listed', 30_000);
  const rows = await first!.locator('#sessions li').allTextContents();
  assert.ok(rows.some((row) => /Laptop test browser.*this device/.test(row)), `this device marked: ${rows.join(' | ')}`);
  assert.ok(rows.some((row) => /Phone test browser/.test(row) && !/this device/.test(row)), 'the other device listed');

  const shot = path.join(mkdtempSync(path.join(tmpdir(), 'ecs-sessions-')), 'sessions.png');
  await first!.screenshot({ path: shot, fullPage: true });
  console.log(`page: "Your sessions" screenshot at ${shot}: ${rows.length} sessions of Alice, this device marked`);
  if (process.env.UPDATE_SCREENSHOT === '1') copyFileSync(shot, fileURLToPath(new URL('../docs/sessions.png', import.meta.url)));

  await first!.click('#others');
  await until(async () => (await first!.locator('#sessions li').count()) === 1, 'one session left', 30_000);
  await second!.reload();
  await second!.locator('#signin').waitFor({ state: 'visible', timeout: 30_000 });
  assert.equal(await second!.isVisible('#signedin'), false, 'the other device is signed out');
  assert.deepEqual(pages.flat(), [], 'no script error, nothing refused by the Content-Security-Policy');
});
