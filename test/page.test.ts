// The page in a real browser (Debian's chromium, driven by playwright-core) against the real cluster: 20
// requests climb the visit count by exactly 20 across at least 2 workers, and "Forget me" starts over.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { startTestApp } from './helpers/app.js';

const browserPath = '/usr/bin/chromium';

/** Debian's chromium, headless, with what a closed network needs; closed when the test ends. */
async function launchBrowser(t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(() => browser.close());
  return browser;
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
  await page.goto(`${app.url}/`);
  // Conditions are evaluated in the page, so they are given as source text (this file knows no DOM types).
  const visitsAre = (n: number) => page.waitForFunction(`document.getElementById('visits').textContent === '${n}'`, undefined, { timeout: 30_000 });
  await visitsAre(0);

  await page.click('#send');
  await page.waitForFunction("document.querySelectorAll('#strip rect').length === 20 && !document.getElementById('send').disabled", undefined, { timeout: 30_000 });
  assert.equal(await page.textContent('#visits'), '20');
  const workers = await page.evaluate<string[]>("[...document.querySelectorAll('#strip rect')].map((rect) => rect.getAttribute('data-worker'))");
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
  assert.equal(await page.evaluate<number>("document.querySelectorAll('#strip rect').length"), 0);
});

test('page: two devices sign in as the same user; the first sees both sessions, signs out the other, and the other is signed out on its next request', { skip: chromiumUnavailable() }, async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  const browser = await launchBrowser(t);
  // Two browser contexts: two devices, each with its own cookies.
  const [first, second] = await Promise.all(
    ['Laptop', 'Phone'].map(async (device) => {
      const context = await browser.newContext({ viewport: { width: 420, height: 900 }, userAgent: `${device} test browser` });
      const page = await context.newPage();
      await page.goto(`${app.url}/`);
      await page.fill('#signin input[name=username]', 'alice');
      await page.fill('#signin input[name=password]', 'alice-demo-password');
      await page.click('#signin button[type=submit]');
      await page.waitForFunction("document.getElementById('who').textContent === 'Alice'", undefined, { timeout: 30_000 });
      return page;
    }),
  );
  await first!.reload();
  await first!.waitForFunction("document.querySelectorAll('#sessions li').length === 2", undefined, { timeout: 30_000 });
  const rows = await first!.evaluate<string[]>("[...document.querySelectorAll('#sessions li')].map((li) => li.textContent)");
  assert.ok(rows.some((row) => /Laptop test browser.*this device/.test(row)), `this device marked: ${rows.join(' | ')}`);
  assert.ok(rows.some((row) => /Phone test browser/.test(row) && !/this device/.test(row)), 'the other device listed');

  const shot = path.join(mkdtempSync(path.join(tmpdir(), 'ecs-sessions-')), 'sessions.png');
  await first!.screenshot({ path: shot, fullPage: true });
  console.log(`page: "Your sessions" screenshot at ${shot}: ${rows.length} sessions of Alice, this device marked`);
  if (process.env.UPDATE_SCREENSHOT === '1') copyFileSync(shot, fileURLToPath(new URL('../docs/sessions.png', import.meta.url)));

  await first!.click('#others');
  await first!.waitForFunction("document.querySelectorAll('#sessions li').length === 1", undefined, { timeout: 30_000 });
  await second!.reload();
  await second!.waitForFunction("!document.getElementById('signin').hidden", undefined, { timeout: 30_000 });
  assert.equal(await second!.isVisible('#signedin'), false, 'the other device is signed out');
});
