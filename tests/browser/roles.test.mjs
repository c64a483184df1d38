// Roles in chromium: five members holding one role each (inquirer, approver, replica, auditor,
// admin) see exactly their screens in the menu, get 403 権限がありません on every screen of
// another role, and (without a hub: the harness's server has no [hub]) the screens that need
// the network say the server is not connected. An admin and an auditor posting the replica
// 表示 form get 403 and no value.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';
import { launchBrowser, newPage } from './lib/browser.mjs';
import { TAX_HEADER, TAX_TM, csrfOf, importFile, logIn, menu, postForm, taxRow }
  from './lib/console.mjs';

const MEMBERS = {
  shokai: 'inquirer', shonin: 'approver', fukuhon: 'replica', kansa: 'auditor', kanri: 'admin',
};
// Each role's screens (GET), and its menu: ホーム, the role's entries, パスワード変更.
const SCREENS = {
  inquirer: ['/console/inquiries'],
  approver: ['/console/approvals'],
  replica: ['/console/replica', '/console/imports', '/console/reconcile'],
  auditor: ['/console/records', '/console/history'],
  admin: ['/console/staff'],
};
const MENUS = {
  inquirer: ['ホーム', '情報照会', 'パスワード変更'],
  approver: ['ホーム', '承認', 'パスワード変更'],
  replica: ['ホーム', '副本', '取込', '照合', 'パスワード変更'],
  auditor: ['ホーム', '記録', '操作履歴', 'パスワード変更'],
  admin: ['ホーム', '利用者管理', 'パスワード変更'],
};
// Without a hub these screens say so (src/console/*_screens.cc), answering 200 (not an error of
// the request): the status and the text.
const NOT_CONNECTED = 'このサーバーは情報提供ネットワークシステムに接続されていません。';
const NO_HUB = {
  '/console/inquiries': 200, '/console/approvals': 200, '/console/records': 200,
};
const ATENA = '000000000000777';
const INCOME = '7654321';

let server;
let browser;
const pages = {};

before(async () => {
  server = await startServer({
    staff: Object.entries(MEMBERS).map(([login, role]) => ({ login, name: `役割 ${login}`,
                                                             roles: [role] })),
  });
  browser = await launchBrowser();
  for (const login of Object.keys(MEMBERS)) {
    pages[login] = await newPage(browser);
    await logIn(pages[login], server, login);
  }
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('each member\'s menu shows exactly the screens of their role', async () => {
  for (const [login, role] of Object.entries(MEMBERS)) {
    await pages[login].goto(`${server.url}/console/home`);
    assert.deepEqual(await menu(pages[login]), MENUS[role], login);
  }
});

test('every screen of another role answers 403 権限がありません; their own open', async () => {
  for (const [login, role] of Object.entries(MEMBERS)) {
    const page = pages[login];
    for (const [screenRole, paths] of Object.entries(SCREENS)) {
      for (const path of paths) {
        const res = await page.goto(`${server.url}${path}`);
        const where = `${login} (${role}) GET ${path}`;
        assert.equal(new URL(page.url()).pathname, path, where);
        if (screenRole !== role) {
          assert.equal(res.status(), 403, where);
          assert.equal(await page.locator('h1').innerText(), '権限がありません', where);
          assert.match(await page.getByRole('alert').innerText(), /この画面を使う権限がありません/,
                       where);
        } else if (path in NO_HUB) {
          assert.equal(res.status(), NO_HUB[path], where);
          assert.match(await page.locator('main').innerText(), new RegExp(NOT_CONNECTED), where);
        } else {
          assert.equal(res.status(), 200, where);
          assert.doesNotMatch(await page.locator('main').innerText(), /権限がありません/, where);
        }
      }
    }
  }
});

test('an admin and an auditor posting the replica 表示 form get 403 and no value', async () => {
  // The record exists: the replica member imports it and sees its value.
  const fukuhon = pages.fukuhon;
  const result = await importFile(fukuhon, server.url, {
    name: 'one.csv', mimeType: 'text/csv', buffer: Buffer.from(`${TAX_HEADER}\n${taxRow(ATENA, INCOME)}\n`),
  });
  assert.match(result, /取り込みました: 1 行/);
  await fukuhon.goto(`${server.url}/console/replica?atena_no=${ATENA}`);
  const shown = await postForm(fukuhon, '/console/replica/show', {
    csrf: await csrfOf(fukuhon), atena_no: ATENA, tm: TAX_TM });
  assert.equal(shown.status, 200);
  assert.ok(shown.text.includes(INCOME), 'the replica member sees the value');

  for (const login of ['kanri', 'kansa']) {
    const page = pages[login];
    await page.goto(`${server.url}/console/home`);
    const res = await postForm(page, '/console/replica/show', {
      csrf: await csrfOf(page), atena_no: ATENA, tm: TAX_TM });
    assert.equal(res.status, 403, login);
    assert.match(res.text, /権限がありません/, login);
    assert.ok(!res.text.includes(INCOME), `${login} got no value`);
    assert.ok(!res.text.includes(ATENA), `${login} got no 宛名番号 back`);
  }
});
