// Each work screen's main task end to end in chromium, on one server: 取込 (a 20,000-row CSV
// uploaded with both progress bars, then a file with a bad date refused by line and item), 副本
// (a resident just imported: values hidden until 表示), 操作履歴 (the replica member's lookup and
// showing found by 宛名番号, the chain verified), 利用者管理 (a member added with a one-time
// password shown once, disabled, and unable to log in). Also the login page and ホーム at a
// tablet's width, and (CHUKAN_SCREENSHOTS=1) the screenshots of docs/console.md.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer } from './lib/server.mjs';
import { launchBrowser, newPage, screenshot } from './lib/browser.mjs';
import { TAX_HEADER, atenaOf, importFile, incomeOf, logIn, submit, submitLogin, taxCsv, taxRow }
  from './lib/console.mjs';

const ROWS = 20_000;
const PICK = 12_345;  // the resident the 副本 and 操作履歴 tests look up

let server;
let browser;
let dir;
let fukuhon;  // the replica member's page, signed in

before(async () => {
  dir = await mkdtemp(path.join(process.env.TMPDIR || tmpdir(), 'chukan-screens-'));
  server = await startServer({
    staff: [
      { login: 'fukuhon', name: '副本 五郎', roles: ['replica'] },
      { login: 'kansa', name: '監査 六子', roles: ['auditor'] },
      { login: 'kanri', name: '管理 七海', roles: ['admin'] },
      { login: 'zenbu', name: '全部 八郎',
        roles: ['inquirer', 'approver', 'replica', 'auditor', 'admin'] },
    ],
  });
  browser = await launchBrowser();
  fukuhon = await newPage(browser);
  await logIn(fukuhon, server, 'fukuhon');
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function noHorizontalScroll(page) {
  return page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
}

test('at a tablet\'s width (768×1024) the login page and ホーム do not scroll sideways',
     async (t) => {
  const page = await newPage(browser, { viewport: { width: 768, height: 1024 } });
  await page.goto(`${server.url}/console/login`);
  let w = await noHorizontalScroll(page);
  assert.ok(w.scrollWidth <= w.clientWidth, `login: ${JSON.stringify(w)}`);
  // The member with every role has the longest menu.
  await logIn(page, server, 'zenbu');
  assert.equal((await page.locator('nav a').allInnerTexts()).length, 10);  // every screen of the five roles, ホーム and パスワード変更
  w = await noHorizontalScroll(page);
  t.diagnostic(`home at 768 px: ${JSON.stringify(w)}`);
  assert.equal(w.clientWidth, 768);
  assert.ok(w.scrollWidth <= w.clientWidth, `home: ${JSON.stringify(w)}`);
  await page.context().close();
});

test('取込: a 20,000-row CSV is uploaded with progress and imported', async (t) => {
  const file = path.join(dir, 'tax-20000.csv');
  await writeFile(file, taxCsv(ROWS));
  await fukuhon.goto(`${server.url}/console/imports`);
  // Every text the processing line shows, as the page's script sets it.
  await fukuhon.evaluate(() => {
    window.__texts = [];
    const el = document.getElementById('process-text');
    new MutationObserver(() => window.__texts.push(el.textContent))
        .observe(el, { childList: true, characterData: true, subtree: true });
  });
  // The upload over a slow line (1 MB/s, about 1.7 s for this file): the server reads and
  // checks the rows as they arrive, so the page's twice-a-second poll sees them on any machine
  // (unthrottled on loopback, the whole import can end before the first poll).
  const cdp = await fukuhon.context().newCDPSession(fukuhon);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 1_000_000 });
  await fukuhon.locator('#tm').selectOption('TM00000000000002');
  await fukuhon.locator('#file').setInputFiles(file);
  await fukuhon.locator('#import-start').click();
  const notice = fukuhon.locator('#import-result p.notice');
  await notice.waitFor({ timeout: 120_000 });
  await cdp.detach();
  assert.equal(await notice.innerText(),
               `取り込みました: ${ROWS} 行（追加 ${ROWS}、更新 0、削除 0）`);
  assert.equal(await fukuhon.locator('#upload-bar').evaluate((e) => e.value), 100);
  // All of it sent: both figures the file's size (1.7 MiB), not "1 / 2 MiB".
  const size = ((await stat(file)).size / 1048576).toFixed(1);
  assert.equal(await fukuhon.locator('#upload-text').innerText(),
               `${size} / ${size} MiB を送信しました`);
  const texts = await fukuhon.evaluate(() => window.__texts);
  assert.ok(texts.some((t) => /^[1-9]\d* (行を受け取りました|行を確認し、書き込んでいます|件を書き込み、確定しています)$/.test(t)),
            `the processing line never showed rows: ${JSON.stringify(texts)}`);
  assert.equal(texts.at(-1), '処理が終わりました');
  t.diagnostic(`processing line: ${texts.join(' → ')}`);
  await screenshot(fukuhon, 'import-result');
  // ホーム counts the records; the history names the member.
  await fukuhon.goto(`${server.url}/console/home`);
  assert.equal(await fukuhon.locator('#replica-records').innerText(), `${ROWS} 件`);
  await fukuhon.goto(`${server.url}/console/imports`);
  const last = fukuhon.locator('#import-history tbody tr').first();
  assert.equal(await last.locator('td').nth(1).innerText(), 'staff:fukuhon');
  assert.match(await last.locator('td').nth(2).innerText(), new RegExp(`rows=${ROWS} `));
  assert.equal(await last.locator('td').nth(3).innerText(), 'ok');
});

test('取込: a file with a bad date is refused by line and item, without the value', async () => {
  const bad = '2026-13-45';
  const text = await importFile(fukuhon, server.url, {
    name: 'bad.csv', mimeType: 'text/csv',
    buffer: Buffer.from(`${TAX_HEADER}\n${taxRow(atenaOf(1), 999_999_999, bad)}\n`),
  });
  assert.match(text, /ファイルに誤りがあるため、何も取り込んでいません（誤り 1 件）/);
  const rows = fukuhon.locator('#import-problems tr');
  assert.equal(await rows.count(), 2);  // the heading and one problem
  const cells = await rows.nth(1).locator('td').allInnerTexts();
  assert.equal(cells[0], '2');
  assert.match(cells[1], /IT00000200000002/);
  const html = await fukuhon.content();
  assert.ok(!html.includes(bad), 'the bad value is not shown');
  assert.ok(!html.includes('999999999'), 'nor the row\'s other values');
});

test('副本: an imported resident\'s values are hidden until 表示', async () => {
  await fukuhon.goto(`${server.url}/console/replica`);
  await fukuhon.getByLabel('宛名番号（15桁）').fill(atenaOf(PICK));
  await submit(fukuhon, fukuhon.getByRole('button', { name: '検索' }));
  const record = fukuhon.locator('section.record');
  assert.equal(await record.count(), 1);
  assert.match(await record.locator('h2').innerText(), /^TM00000000000002 /);
  const hidden = await record.locator('td.hidden-value').allInnerTexts();
  assert.equal(hidden.length, 18);  // every item of 地方税関係情報 version 0002, the two new tax items included
  assert.ok(hidden.every((t) => t === '（非表示）'), JSON.stringify(hidden));
  assert.ok(!(await fukuhon.content()).includes(String(incomeOf(PICK))));
  await screenshot(fukuhon, 'replica-search');

  await submit(fukuhon, record.getByRole('button', { name: '表示' }));
  assert.equal(await fukuhon.locator('h1').innerText(), `副本: ${atenaOf(PICK)}`);
  const income = fukuhon.locator('tr:has(th:text-is("総所得金額")) td.value');
  assert.equal(await income.innerText(), String(incomeOf(PICK)));
  assert.equal(await fukuhon.locator('tr:has(th:text-is("賦課期日")) td.value').innerText(),
               '2026-01-01');
  await screenshot(fukuhon, 'replica-shown');
});

test('操作履歴: the auditor finds the lookup and the showing by 宛名番号; the chain is 正常',
     async () => {
  const page = await newPage(browser);
  await logIn(page, server, 'kansa');
  await page.goto(`${server.url}/console/history`);
  await page.getByLabel('住民（宛名番号）').fill(atenaOf(PICK));
  await submit(page, page.getByRole('button', { name: '検索', exact: true }));
  const rows = page.locator('table.list tbody tr');
  const found = [];
  for (let i = 0; i < await rows.count(); ++i) {
    const td = await rows.nth(i).locator('td').allInnerTexts();
    found.push({ actor: td[2], action: td[3], target: td[4], outcome: td[5] });
  }
  assert.deepEqual(found.map((r) => [r.actor, r.action, r.outcome]),
                   [['staff:fukuhon', 'replica.show', 'ok'],
                    ['staff:fukuhon', 'replica.lookup', 'ok']]);
  for (const r of found) assert.match(r.target, /^atena#[0-9a-f]{32} /);
  assert.match(found[0].target, / tm=TM00000000000002 records=1$/);
  assert.match(found[1].target, / found=1 history=0$/);
  // The resident is named by a keyed hash only: their number is in the search box, nowhere else.
  assert.equal(await page.locator('table.list').innerText().then((t) => t.includes(atenaOf(PICK))),
               false);
  // Another resident's search finds none of these.
  await page.getByLabel('住民（宛名番号）').fill(atenaOf(PICK + 1));
  await submit(page, page.getByRole('button', { name: '検索', exact: true }));
  assert.equal(await rows.count(), 0);
  await page.getByLabel('住民（宛名番号）').fill(atenaOf(PICK));
  await submit(page, page.getByRole('button', { name: '検索', exact: true }));
  await screenshot(page, 'history');

  await submit(page, page.getByRole('button', { name: '改ざん検証（チェーンの検証）' }));
  assert.match(await page.locator('#verify-result').innerText(),
               /^操作履歴のチェーンは正常です（\d+ 件、署名済みチェックポイント \d+ 件）。$/);
  await page.context().close();
});

test('利用者管理: an added member\'s one-time password is shown once; disabled, they cannot ' +
     'log in', async () => {
  const page = await newPage(browser);
  await logIn(page, server, 'kanri');
  await page.goto(`${server.url}/console/staff`);
  await screenshot(page, 'staff-admin');
  await page.getByLabel(/^ログインID/).fill('shinjin');
  await page.getByLabel('氏名').fill('新人 九太');
  await page.locator('#new-inquirer').check();
  await submit(page, page.getByRole('button', { name: '追加', exact: true }));
  const password = await page.locator('#initial-password').innerText();
  assert.match(password, /^[A-HJ-NP-Za-km-np-z2-9]{16}$/);
  assert.match(await page.getByRole('status').innerText(), /職員 shinjin を追加しました/);

  // Shown once: the list does not carry it.
  await page.goto(`${server.url}/console/staff`);
  assert.ok(!(await page.content()).includes(password));
  const row = page.locator('#staff tbody tr:has(td:text-is("shinjin"))');
  assert.deepEqual((await row.locator('td').allInnerTexts()).slice(0, 6),
                   ['shinjin', '新人 九太', '', '照会担当', '有効', '不要']);

  // The password works (the first login leads to the forced change)…
  const newcomer = await newPage(browser);
  await submitLogin(newcomer, server.url, { org: server.tenants[0].org, login: 'shinjin',
                                            password });
  assert.equal(new URL(newcomer.url()).pathname, '/console/password');

  // …until the admin disables the account: the list says 無効, the open session ends, and the
  // same password no longer logs in.
  await submit(page, row.getByRole('button', { name: '無効にする' }));
  assert.equal(new URL(page.url()).searchParams.get('done'), 'disable');
  assert.equal(await row.locator('td').nth(4).innerText(), '無効');
  assert.equal(await row.getByRole('button', { name: '有効にする' }).count(), 1);
  await newcomer.goto(`${server.url}/console/password`);
  assert.equal(new URL(newcomer.url()).pathname, '/console/login');
  const refused = await submitLogin(newcomer, server.url,
                                    { org: server.tenants[0].org, login: 'shinjin', password });
  assert.equal(refused.status(), 401);
  assert.match(await newcomer.getByRole('alert').innerText(), /いずれかが違います/);
  await newcomer.context().close();
  await page.context().close();
});
