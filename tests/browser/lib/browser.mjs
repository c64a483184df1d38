// Chromium for the browser tests: Debian's /usr/bin/chromium (or $CHROMIUM) driven by
// playwright-core, which never downloads a browser of its own. Headless, Japanese locale and
// Tokyo time, a 1280×800 viewport; `--no-sandbox` only when running as root (Chromium refuses
// to start its sandbox as root, e.g. in a container).
//
//   const browser = await launchBrowser();
//   const page = await newPage(browser);
//   await screenshot(page, 'login');   // docs/console/login.png when CHUKAN_SCREENSHOTS=1
//   await browser.close();
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT } from './server.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const VIEWPORT = { width: 1280, height: 800 };
export const SCREENSHOT_DIR = path.join(ROOT, 'docs/console');

export async function launchBrowser() {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: isRoot ? ['--no-sandbox'] : [],
  });
}

// A page in a fresh context (its own cookies), as a new staff member's browser would be.
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({
    viewport: VIEWPORT,
    locale: 'ja-JP',
    timezoneId: 'Asia/Tokyo',
    ...options,
  });
  return context.newPage();
}

// Saves a PNG of the page as docs/console/<name>.png when CHUKAN_SCREENSHOTS=1 (the console's
// documentation shows them); otherwise does nothing. Resolves with the path, or null.
export async function screenshot(page, name, { fullPage = false } = {}) {
  if (process.env.CHUKAN_SCREENSHOTS !== '1') return null;
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`screenshot name: ${name}`);
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}
