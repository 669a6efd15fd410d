// bank.test.mjs - CSRF in a real browser. A page on another origin (another loopback port: the
// same site, so the SameSite=Lax cookie goes along) auto-submits a transfer form to the bank:
// verify refuses it with 403 and the app never sees it. The bank's own form, which carries the
// CSRF token nginx forwarded from verify, is accepted. With [csrf] require_token = true only
// the token counts: the bank's script sends it as X-CSRF-Token, a plain form is refused.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { BROWSER_TEST_TIMEOUT_MS, WAIT_MS, launch, signIn, startEvilSite, startStack, whoami } from './lib.mjs';

const T = { timeout: BROWSER_TEST_TIMEOUT_MS };
let browser;
const stacks = [];
const sites = [];

before(async () => {
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  for (const s of sites) await s.close();
  for (const s of stacks) await s.stop();
});

async function stack(name, opts) {
  const s = await startStack(name, opts);
  stacks.push(s);
  return s;
}

/* A new browsing context signed in as alice on the bank's page `path`. */
async function signedIn(bank, path = '/bank') {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${bank.url}${path}`);
  await signIn(page, 'alice');
  await page.waitForSelector('#balance', { timeout: WAIT_MS });
  return { context, page };
}

const transfersOf = (bank) => bank.app.state.seen.filter((s) => s.path === '/bank/transfer');

test('a transfer form auto-submitted by another origin is refused with 403; the bank\'s own form is accepted', T, async () => {
  const bank = await stack('bank');
  const evil = await startEvilSite(bank.url);
  sites.push(evil);
  const { context, page } = await signedIn(bank);
  assert.equal(await page.textContent('#balance'), '1000');

  const answer = page.waitForResponse((r) => r.url() === `${bank.url}/bank/transfer`, { timeout: WAIT_MS });
  await page.goto(evil.url);
  const refused = await answer;
  assert.equal(refused.request().method(), 'POST');
  assert.equal((await refused.request().allHeaders())['sec-fetch-site'], 'same-site', 'another port of the same host');
  assert.match((await refused.request().allHeaders()).cookie || '', /(^|; )sid=/, 'the SameSite=Lax cookie went along');
  assert.equal(refused.status(), 403, 'refused by verify: the session is there, the proof is not');
  assert.equal(transfersOf(bank).length, 0, 'the app never saw the forged transfer');
  assert.equal(bank.app.state.balance, 1000);

  // The session itself is untouched, and the bank's own form works.
  await page.goto(`${bank.url}/bank`);
  assert.equal(await page.textContent('#balance'), '1000', 'nothing changed');
  const csrf = await page.inputValue('#transfer input[name=csrf]');
  assert.equal(csrf, (await whoami(page)).csrf_token, 'the page carries the session\'s token, forwarded by nginx');
  await page.fill('#transfer input[name=amount]', '25');
  await Promise.all([page.waitForURL(`${bank.url}/bank`, { timeout: WAIT_MS }), page.click('#send')]);
  assert.equal(await page.textContent('#balance'), '975');
  assert.deepEqual(bank.app.state.transfers, [{ to: 'bob', amount: 25, user: 'alice' }]);
  await context.close();
});

test('with require_token, the bank\'s script sends the token as X-CSRF-Token and passes; a plain form does not', T, async () => {
  const bank = await stack('bank-token', { csrf: 'require_token = true' });
  const evil = await startEvilSite(bank.url);
  sites.push(evil);
  const { context, page } = await signedIn(bank);

  // Same origin, but no token in a header: verify only sees headers, so the form's hidden
  // field cannot help and the request is refused before the app.
  const plain = page.waitForResponse((r) => r.url() === `${bank.url}/bank/transfer`, { timeout: WAIT_MS });
  await page.click('#send');
  const r1 = await plain;
  assert.equal((await r1.request().allHeaders())['sec-fetch-site'], 'same-origin');
  assert.equal(r1.status(), 403);
  const cross = page.waitForResponse((r) => r.url() === `${bank.url}/bank/transfer`, { timeout: WAIT_MS });
  await page.goto(evil.url);
  assert.equal((await cross).status(), 403);
  assert.equal(transfersOf(bank).length, 0);

  await page.goto(`${bank.url}/bank?fetch=1`);
  const token = (await whoami(page)).csrf_token;
  await page.fill('#transfer input[name=amount]', '40');
  const sent = page.waitForResponse((r) => r.url() === `${bank.url}/bank/transfer`, { timeout: WAIT_MS });
  await page.click('#send');
  const r2 = await sent;
  assert.equal((await r2.request().allHeaders())['x-csrf-token'], token);
  assert.equal(r2.status(), 303, 'accepted: the app answers 303 back to the bank page');
  await page.waitForFunction(() => document.querySelector('#balance')?.textContent === '960', null, { timeout: WAIT_MS });
  assert.deepEqual(bank.app.state.transfers, [{ to: 'bob', amount: 40, user: 'alice' }]);
  await context.close();
});
