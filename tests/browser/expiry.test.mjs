// Idle expiry in chromium: with `[console] idle_minutes = 1`, a session not used for a minute
// ends, and the next page is the login page with the notice that it ended for inactivity. The
// one slow browser test (about 65 s of waiting, by design); the others stay fast.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { launchBrowser, newPage } from './lib/browser.mjs';
import { logIn } from './lib/console.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({
    staff: [{ login: 'taikutsu', name: '待機 四郎', roles: ['inquirer'] }],
    config: { extra: '[console]\nidle_minutes = 1\n' },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a session idle for longer than idle_minutes ends with the notice', async () => {
  const page = await newPage(browser);
  await logIn(page, server, 'taikutsu');
  await page.reload();
  assert.equal(new URL(page.url()).pathname, '/console/home');
  assert.match(await page.locator('header .who').innerText(), /待機 四郎/);

  await new Promise((r) => setTimeout(r, 65_000));
  const res = await page.reload();
  assert.equal(res.status(), 200);
  const url = new URL(page.url());
  assert.equal(url.pathname, '/console/login');
  assert.equal(url.searchParams.get('expired'), '1');
  assert.equal(await page.getByRole('status').innerText(),
               '一定時間操作がなかったため、ログアウトしました。');
  assert.equal(await page.locator('nav').count(), 0);
  assert.equal((await page.context().cookies()).find((c) => c.name === 'chukan_session'),
               undefined, 'the cookie is cleared');
});
