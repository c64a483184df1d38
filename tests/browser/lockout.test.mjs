// Lockout in chromium: five wrong passwords in a row lock the account, so the right password
// is then refused with the lock message (HTTP 429); an unknown login and a wrong password get
// the same answer, so the login page tells nobody which logins exist.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { launchBrowser, newPage } from './lib/browser.mjs';
import { submitLogin } from './lib/console.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({
    staff: [{ login: 'rokku', name: '施錠 次郎', roles: ['inquirer'] },
            { login: 'tonari', name: '隣 三郎', roles: ['inquirer'] }],
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const WRONG = '機関コード、ログインID、パスワードのいずれかが違います。/ The organisation code, ' +
              'login or password is wrong.';

async function attempt(page, login, password, org = server.tenants[0].org) {
  const res = await submitLogin(page, server.url, { org, login, password });
  const alert = page.getByRole('alert');
  return { status: res.status(), path: new URL(page.url()).pathname,
           message: (await alert.count()) ? await alert.innerText() : '' };
}

test('an unknown login, an unknown organisation and a wrong password get the same answer',
     async () => {
  const page = await newPage(browser);
  const unknown = await attempt(page, 'nobody', 'Whatever-2026-pass');
  const otherOrg = await attempt(page, 'tonari', server.staff.tonari.password, '0000000000000999');
  const wrong = await attempt(page, 'tonari', 'Wrong-password-2026');
  for (const a of [unknown, otherOrg, wrong]) {
    assert.deepEqual(a, { status: 401, path: '/console/login', message: WRONG });
  }
  // The password of tonari itself is fine: one failure does not lock.
  const right = await attempt(page, 'tonari', server.staff.tonari.password);
  assert.equal(right.path, '/console/password');  // the forced change of the first login
});

test('five wrong passwords lock the account: the right one is then refused with 429', async () => {
  const page = await newPage(browser);
  for (let i = 1; i <= 5; ++i) {
    const a = await attempt(page, 'rokku', `Wrong-password-${i}x`);
    assert.equal(a.status, 401, `attempt ${i}`);
    assert.equal(a.message, WRONG, `attempt ${i}`);
  }
  const locked = await attempt(page, 'rokku', server.staff.rokku.password);
  assert.equal(locked.status, 429);
  assert.equal(locked.path, '/console/login');
  assert.match(locked.message, /ロックされています/);
  assert.equal((await page.context().cookies()).find((c) => c.name === 'chukan_session'),
               undefined, 'no session for a locked account');
  // Another member of the same tenant is not affected.
  const other = await attempt(await newPage(browser), 'tonari', server.staff.tonari.password);
  assert.equal(other.path, '/console/password');
});
