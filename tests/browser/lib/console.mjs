// Steps of the staff console (/console/) shared by the browser tests: logging in through the
// real forms (password, then the TOTP code when the member needs one, then the forced password
// change), submitting a form and getting the response of the page it led to, posting a form
// from the page's own context, and the replica CSV files the 取込 screen takes.
//
//   const page = await newPage(browser);
//   await logIn(page, server, 'tanaka');   // ends on ホーム; the member's password is updated
//   const res = await submit(page, page.getByRole('button', { name: 'ログアウト' }));
import { totp } from './totp.mjs';

// What the forced password change sets, per login: 12+ characters of four kinds, not the login.
export function goodPassword(login) {
  return `Kensa-${login}-2026`;
}

// The 30-second TOTP step each secret last used: a code is good once (docs/staff.md), so a
// second login in the same step waits for the next one.
const lastStep = new Map();

// The code an authenticator would show for `secret` now, never one of a step already used.
export async function freshCode(secret) {
  for (;;) {
    const step = Math.floor(Date.now() / 30_000);
    if (lastStep.get(secret) !== step) {
      lastStep.set(secret, step);
      return totp(secret);
    }
    await new Promise((r) => setTimeout(r, 30_000 - (Date.now() % 30_000) + 50));
  }
}

// Clicks `locator` (a submit button or link) and resolves with the response of the document it
// led to (after redirects): its status, headers and text are what the browser got.
export async function submit(page, locator) {
  const [response] = await Promise.all([page.waitForNavigation(), locator.click()]);
  return response;
}

// Fills the login form (機関コード, ログインID, パスワード) and submits it; resolves with the
// response of the page it led to.
export async function submitLogin(page, url, { org, login, password }) {
  await page.goto(`${url}/console/login`);
  await page.getByLabel('機関コード（16桁）').fill(org);
  await page.getByLabel('ログインID').fill(login);
  await page.getByLabel('パスワード', { exact: true }).fill(password);
  return submit(page, page.getByRole('button', { name: 'ログイン' }));
}

// Logs `login` (a member of server.staff) in through every step up to ホーム, changing the
// one-time password at the first login (the member's password is then goodPassword(login)).
// Throws, naming the page, when a step does not lead where it should.
export async function logIn(page, server, login, { org = server.tenants[0].org } = {}) {
  const m = server.staff[login];
  let res = await submitLogin(page, server.url, { org, login, password: m.password });
  const path = () => new URL(page.url()).pathname;
  if (path() === '/console/totp') {
    await page.getByLabel('確認コード（6桁）').fill(await freshCode(m.totpSecret));
    res = await submit(page, page.getByRole('button', { name: '確認' }));
  }
  if (path() === '/console/password') {
    const next = goodPassword(login);
    await page.getByLabel('現在のパスワード').fill(m.password);
    await page.getByLabel('新しいパスワード', { exact: true }).fill(next);
    await page.getByLabel('新しいパスワード（確認）').fill(next);
    res = await submit(page, page.getByRole('button', { name: '変更する' }));
    if (path() === '/console/home') m.password = next;
  }
  if (path() !== '/console/home') {
    throw new Error(`logIn(${login}): ended on ${page.url()} (${res.status()}): ` +
                    (await page.locator('main').innerText()));
  }
  return res;
}

// The session's CSRF token, from the logout form every signed-in page carries.
export async function csrfOf(page) {
  return page.locator('form.logout input[name=csrf]').inputValue();
}

// POSTs `fields` as a urlencoded form from the page's own context (same origin, its cookies),
// following redirects; resolves with { status, url, text }.
export async function postForm(page, path, fields) {
  return page.evaluate(async ({ path, fields }) => {
    const r = await fetch(path, { method: 'POST', body: new URLSearchParams(fields),
                                  credentials: 'same-origin' });
    return { status: r.status, url: r.url, text: await r.text() };
  }, { path, fields });
}

// The names in the console's menu, in order.
export async function menu(page) {
  return page.locator('nav[aria-label="メニュー"] a').allInnerTexts();
}

// 地方税関係情報 (TM00000000000002): the header of its replica CSV, and one valid row for a
// 宛名番号 with the income (総所得金額, IT00000200000004) given.
export const TAX_TM = 'TM00000000000002';
export const TAX_HEADER = 'atena_no,' +
    Array.from({ length: 16 }, (_, i) => `IT000002000000${String(i + 1).padStart(2, '0')}`)
        .join(',');
export function taxRow(atena, income, date = '2026-01-01') {
  return `${atena},2026,${date},1,${income},100000,50000,200000,30000,150000,20000,1,0,1,2,,10000`;
}
// The 宛名番号 of row i (15 digits) and its income: distinct per row, so a test can tell them apart.
export const atenaOf = (i) => String(i).padStart(15, '0');
export const incomeOf = (i) => 3_000_000 + i;
export function taxCsv(rows) {
  const lines = [TAX_HEADER];
  for (let i = 1; i <= rows; ++i) lines.push(taxRow(atenaOf(i), incomeOf(i)));
  return lines.join('\n') + '\n';
}

// Uploads `file` (a path, or { name, mimeType, buffer }) on the 取込 screen as CSV (UTF-8,
// upsert) of TAX_TM and resolves with the text of the result once it is shown.
export async function importFile(page, url, file) {
  await page.goto(`${url}/console/imports`);
  await page.locator('#tm').selectOption(TAX_TM);
  await page.locator('#mode').selectOption('upsert');
  await page.locator('#format').selectOption('csv;utf-8');
  await page.locator('#file').setInputFiles(file);
  await page.locator('#import-start').click();
  const result = page.locator('#import-result');
  await result.locator('p').first().waitFor({ timeout: 120_000 });
  return result.innerText();
}
