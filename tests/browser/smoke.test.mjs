// The harness end to end: a throwaway chukan server, Debian's chromium driven by
// playwright-core, the page chromium shows for GET /healthz, and a clean stop.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startServer } from './lib/server.mjs';
import { launchBrowser, newPage } from './lib/browser.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('chromium shows what /healthz answers', async () => {
  const page = await newPage(browser);
  const response = await page.goto(`${server.url}/healthz`);
  // src/http/server.cc answers /healthz itself: 200, {"status":"ok"} as JSON.
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-type'], /^application\/json\b/);
  assert.equal(await response.text(), '{"status":"ok"}');
  // Chromium shows a JSON document as its text in a <pre>.
  assert.equal(await page.locator('body > pre').textContent(), '{"status":"ok"}');
  assert.deepEqual(await page.evaluate(() => JSON.parse(document.body.innerText)),
                   { status: 'ok' });
});

test('the server stops: its process exits and its port refuses connections', async () => {
  const { port } = server;
  await server.stop();
  assert.ok(server.exited());
  const refused = await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', (e) => resolve(e.code === 'ECONNREFUSED'));
  });
  assert.ok(refused, `127.0.0.1:${port} still accepts connections after stop()`);
  assert.match(server.output().stdout, /停止しました \/ stopped/);  // a graceful stop, not SIGKILL
  server = null;
});
