// devices.test.mjs - "your devices" in a real browser: alice signed in from two browser
// contexts (two devices); the first revokes the second on /auth/sessions, whose next request
// lands on the login page while the first stays signed in.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { BROWSER_TEST_TIMEOUT_MS, LOGIN_RE, WAIT_MS, launch, signIn, startStack, whoami } from './lib.mjs';

const T = { timeout: BROWSER_TEST_TIMEOUT_MS };
let stack, browser;

before(async () => {
  stack = await startStack('devices');
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (stack) await stack.stop();
});

async function device() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${stack.url}/profile?script=0`);
  await signIn(page, 'alice');
  await page.waitForSelector('#profile', { timeout: WAIT_MS });
  return { context, page, session: (await whoami(page)).session_id };
}

test('the first device revokes the second on /auth/sessions; the second is sent to the login page', T, async () => {
  const laptop = await device();
  const phone = await device();
  assert.notEqual(laptop.session, phone.session);

  await laptop.page.goto(`${stack.url}/auth/sessions`);
  const mine = laptop.page.locator(`#s-${laptop.session}`);
  const other = laptop.page.locator(`#s-${phone.session}`);
  await other.waitFor({ timeout: WAIT_MS });
  assert.match(await mine.getAttribute('class'), /current/, 'this device is marked');
  await Promise.all([laptop.page.waitForURL(`${stack.url}/auth/sessions`, { timeout: WAIT_MS }), other.locator('button').click()]);
  await other.waitFor({ state: 'detached', timeout: WAIT_MS });
  assert.equal(await mine.count(), 1, 'the first device is still listed');

  await phone.page.goto(`${stack.url}/profile?script=0`);
  assert.match(phone.page.url(), LOGIN_RE, 'the revoked device lands on the login page');
  assert.equal(await whoami(phone.page), null);
  await laptop.page.goto(`${stack.url}/profile?script=0`);
  assert.equal(await laptop.page.textContent('#profile'), 'Profile of alice', 'the first device is still signed in');
  await laptop.context.close();
  await phone.context.close();
});
