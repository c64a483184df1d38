// An approver's first login in chromium, step by step: the login form, the TOTP enrolment page
// (QR code and base32 secret, the code from lib/totp.mjs), the forced password change (a weak
// password refused naming the rule, a good one accepted), ホーム with the member's name and
// roles, then logout ending the session on the server. Also the session cookie's flags and the
// security headers of a page.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { launchBrowser, newPage, screenshot } from './lib/browser.mjs';
import { freshCode, goodPassword, submit, submitLogin } from './lib/console.mjs';
import { totp } from './lib/totp.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({
    staff: [{ login: 'shonin', name: '承認 一郎', roles: ['approver'] }],
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('an approver first logs in with password, TOTP enrolment and a new password', async () => {
  const page = await newPage(browser);
  const m = server.staff.shonin;

  // The login form: its three fields, labelled.
  const loginPage = await page.goto(`${server.url}/console/login`);
  assert.equal(loginPage.status(), 200);
  assert.equal(await page.locator('h1').innerText(), 'ログイン');
  for (const label of ['機関コード（16桁）', 'ログインID', 'パスワード']) {
    assert.equal(await page.getByLabel(label, { exact: true }).count(), 1, label);
  }
  assert.equal(await page.getByLabel('パスワード', { exact: true }).getAttribute('type'),
               'password');
  await screenshot(page, 'login');

  // Password → the enrolment page: a QR code and the secret `staff add` printed.
  const totpPage = await submitLogin(page, server.url,
                                     { org: server.tenants[0].org, login: 'shonin',
                                       password: m.password });
  assert.equal(new URL(page.url()).pathname, '/console/totp');
  assert.equal(totpPage.status(), 200);
  assert.equal(await page.locator('h1').innerText(), '二要素認証');
  const qr = page.locator('.qr svg[role=img]');
  assert.equal(await qr.count(), 1);
  assert.equal(await qr.getAttribute('aria-label'), '二要素認証の登録用 QR コード');
  assert.ok((await qr.locator('path, rect').count()) > 0, 'the QR code draws something');
  assert.equal(await page.locator('code.secret').innerText(), m.totpSecret);
  await screenshot(page, 'totp-enrolment');

  // A wrong code is refused and the page stays; the right one leads to the password change.
  const wrongCode = (Number(totp(m.totpSecret)) + 1) % 1_000_000;
  await page.getByLabel('確認コード（6桁）').fill(String(wrongCode).padStart(6, '0'));
  const refusedCode = await submit(page, page.getByRole('button', { name: '確認' }));
  assert.equal(refusedCode.status(), 401);
  assert.match(await page.getByRole('alert').innerText(), /確認コードが違います/);
  await page.getByLabel('確認コード（6桁）').fill(await freshCode(m.totpSecret));
  await submit(page, page.getByRole('button', { name: '確認' }));
  assert.equal(new URL(page.url()).pathname, '/console/password');
  assert.match(await page.locator('main').innerText(), /初回ログインのため、パスワードを変更/);

  // A weak password (long enough, one kind only) is refused, naming the rule, not echoed.
  const weak = 'aaaaaaaaaaaaaaaaaa';
  await page.getByLabel('現在のパスワード').fill(m.password);
  await page.getByLabel('新しいパスワード', { exact: true }).fill(weak);
  await page.getByLabel('新しいパスワード（確認）').fill(weak);
  const refused = await submit(page, page.getByRole('button', { name: '変更する' }));
  assert.equal(refused.status(), 400);
  const alert = await page.getByRole('alert').innerText();
  assert.match(alert, /新しいパスワードが規則に合いません/);
  assert.match(alert, /at least three of upper case, lower case, digits/);
  assert.ok(!(await page.content()).includes(weak), 'the refused password is not echoed');
  // Menu and home are not reachable before the change.
  assert.equal(await page.locator('nav').count(), 0);

  const good = goodPassword('shonin');
  await page.getByLabel('現在のパスワード').fill(m.password);
  await page.getByLabel('新しいパスワード', { exact: true }).fill(good);
  await page.getByLabel('新しいパスワード（確認）').fill(good);
  const home = await submit(page, page.getByRole('button', { name: '変更する' }));
  m.password = good;
  assert.equal(home.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/console/home');
  assert.equal(await page.locator('h1').innerText(), 'ホーム');
  assert.equal(await page.getByRole('status').innerText(), 'パスワードを変更しました。');
  assert.equal(await page.locator('header .who').innerText(),
               `機関 ${server.tenants[0].org} ／ 承認 一郎（shonin）`);
  assert.deepEqual(await page.locator('.card:has(h2:text-is("あなたの役割")) li').allInnerTexts(),
                   ['承認者']);
  await screenshot(page, 'home');

  // The session cookie: 256 random bits as base64url, HttpOnly, SameSite=Strict, /console,
  // not Secure over plain HTTP.
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'chukan_session');
  assert.ok(session, `no chukan_session among ${cookies.map((c) => c.name)}`);
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(session.path, '/console');
  assert.equal(session.secure, false);
  assert.match(session.value, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(await page.evaluate(() => document.cookie), '', 'the script cannot read it');

  // The headers of a page.
  const again = await page.goto(`${server.url}/console/home`);
  const h = again.headers();
  const csp = h['content-security-policy'];
  assert.ok(csp.includes("script-src 'self'"), csp);
  assert.ok(csp.includes("frame-ancestors 'none'"), csp);
  assert.ok(!csp.includes('unsafe-inline'), csp);
  assert.equal(h['referrer-policy'], 'no-referrer');
  assert.equal(h['cache-control'], 'no-store');
  assert.equal(h['x-frame-options'], 'DENY');

  // Logout ends the session: /console/home leads to the login page, and the old cookie value
  // put back into the browser is worthless (the session ended on the server).
  const out = await submit(page, page.getByRole('button', { name: 'ログアウト' }));
  assert.equal(new URL(out.url()).pathname, '/console/login');
  assert.equal((await page.context().cookies()).find((c) => c.name === 'chukan_session'),
               undefined);
  await page.goto(`${server.url}/console/home`);
  assert.equal(new URL(page.url()).pathname, '/console/login');
  assert.equal(await page.locator('h1').innerText(), 'ログイン');
  await page.context().addCookies([{ ...session }]);
  await page.goto(`${server.url}/console/home`);
  assert.equal(new URL(page.url()).pathname, '/console/login');
  assert.equal(await page.locator('nav').count(), 0);
});

test('English labels are one link away, and 日本語 brings the Japanese back', async () => {
  const page = await newPage(browser);
  await page.goto(`${server.url}/console/login`);
  const english = await submit(page, page.getByRole('link', { name: 'English', exact: true }));
  // Without a session the choice leads through the gate back to the login form, in English.
  assert.equal(new URL(english.url()).pathname, '/console/login');
  assert.equal(await page.locator('h1').innerText(), 'Log in（ログイン）');
  for (const label of ['Organisation code (16 digits)', 'Login ID', 'Password']) {
    assert.equal(await page.getByLabel(label, { exact: true }).count(), 1, label);
  }
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  await submit(page, page.getByRole('link', { name: '日本語', exact: true }));
  assert.equal(await page.locator('h1').innerText(), 'ログイン');
  assert.equal(await page.getByLabel('機関コード（16桁）', { exact: true }).count(), 1);
});
