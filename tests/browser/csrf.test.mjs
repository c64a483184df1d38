// Forms from elsewhere in chromium: a POST from the console's own page with a wrong CSRF token
// is refused (403) and changes nothing; a page served from another origin (another port of
// 127.0.0.1: same site, other origin) and from another site (localhost) auto-submits forms to
// the console — logout and a password change — and neither logs the member out nor changes the
// password (Sec-Fetch-Site refuses them; SameSite=Strict keeps the cookie off cross-site ones).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startServer } from './lib/server.mjs';
import { launchBrowser, newPage } from './lib/browser.mjs';
import { goodPassword, logIn, postForm, submitLogin } from './lib/console.mjs';

let server;
let browser;
let attacker;  // the other origin's server
let attackerPort;

// The other origin's pages: /logout and /password each hold a form posting to the console,
// submitted by the page's own script as soon as it loads.
function attackerPage(action, fields) {
  const inputs = Object.entries(fields)
      .map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`).join('');
  return `<!DOCTYPE html><html><body><form id="f" method="post" action="${action}">${inputs}` +
         '</form><script>document.getElementById("f").submit();</script></body></html>';
}

before(async () => {
  server = await startServer({
    staff: [{ login: 'csrf.taro', name: '偽造 太郎', roles: ['inquirer'] }],
  });
  browser = await launchBrowser();
  attacker = createServer((req, res) => {
    const target = `${server.url}/console`;
    const pages = {
      '/logout': attackerPage(`${target}/logout`, { csrf: 'guessed' }),
      '/password': attackerPage(`${target}/password`, {
        csrf: 'guessed', old: goodPassword('csrf.taro'), new: 'Attacker-Chose-2026',
        again: 'Attacker-Chose-2026' }),
    };
    const body = pages[req.url];
    res.writeHead(body ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(body || 'not found');
  });
  await new Promise((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  attackerPort = attacker.address().port;
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await new Promise((resolve) => attacker ? attacker.close(resolve) : resolve());
});

async function stillSignedIn(page) {
  await page.goto(`${server.url}/console/home`);
  assert.equal(new URL(page.url()).pathname, '/console/home');
  assert.match(await page.locator('header .who').innerText(), /偽造 太郎（csrf\.taro）/);
}

test('a POST from the console page with a wrong csrf field is refused and ends nothing',
     async () => {
  const page = await newPage(browser);
  await logIn(page, server, 'csrf.taro');
  const refused = await postForm(page, '/console/logout', { csrf: 'A'.repeat(43) });
  assert.equal(refused.status, 403);
  assert.match(refused.text, /画面の有効期限が切れました/);
  const missing = await postForm(page, '/console/logout', {});
  assert.equal(missing.status, 403);
  await stillSignedIn(page);
  await page.context().close();
});

for (const [what, host] of [['another origin of the same site', '127.0.0.1'],
                            ['another site', 'localhost']]) {
  test(`forms auto-submitted from ${what} (${host}) neither log out nor change the password`,
       async () => {
    const page = await newPage(browser);
    await logIn(page, server, 'csrf.taro');
    for (const path of ['/logout', '/password']) {
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().startsWith(`${server.url}/console/`) &&
                                    r.request().method() === 'POST'),
        page.goto(`http://${host}:${attackerPort}${path}`),
      ]);
      assert.equal(response.status(), 403, path);
      assert.match(await response.text(), /別のサイトからの送信は受け付けません/, path);
    }
    await stillSignedIn(page);
    // The password is the one the member set, not the attacker's.
    const other = await newPage(browser);
    await submitLogin(other, server.url, { org: server.tenants[0].org, login: 'csrf.taro',
                                           password: 'Attacker-Chose-2026' });
    assert.equal(new URL(other.url()).pathname, '/console/login');
    assert.equal(await other.getByRole('alert').count(), 1);
    await submitLogin(other, server.url, { org: server.tenants[0].org, login: 'csrf.taro',
                                           password: goodPassword('csrf.taro') });
    assert.equal(new URL(other.url()).pathname, '/console/home');
    await other.context().close();
    await page.context().close();
  });
}
