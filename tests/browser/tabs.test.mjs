// tabs.test.mjs - session.js in a real browser: logging out in one tab sends the other tab of
// the same browser to the login page within a second (BroadcastChannel), and the session is
// gone for both.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { BROWSER_TEST_TIMEOUT_MS, LOGIN_RE, WAIT_MS, launch, signIn, startStack, whoami } from './lib.mjs';

const T = { timeout: BROWSER_TEST_TIMEOUT_MS };
let stack, browser;

before(async () => {
  stack = await startStack('tabs');
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (stack) await stack.stop();
});

/* Resolves once session.js has asked whoami on `page` (it listens only after that). */
const scriptReady = (page) => page.waitForResponse((r) => r.url().endsWith('/auth/whoami'), { timeout: WAIT_MS });

test('logout in one tab sends the other to the login page within a second', T, async () => {
  const context = await browser.newContext();
  const one = await context.newPage();
  await one.goto(`${stack.url}/profile`);
  await signIn(one, 'alice');
  const two = await context.newPage();
  const ready = scriptReady(two);
  await two.goto(`${stack.url}/news/account`);
  assert.equal((await ready).status(), 200);
  assert.equal(await two.textContent('#greeting'), 'Hello alice');

  // The moment the other tab asks for the login page is what the browser does; how fast the
  // page then arrives is the server's (slower under the sanitizers), so it is waited for apart.
  const started = Date.now();
  const away = two.waitForRequest((r) => r.isNavigationRequest() && LOGIN_RE.test(new URL(r.url()).pathname + new URL(r.url()).search), { timeout: 1000 });
  await one.click('#signout');
  const request = await away;
  const ms = Date.now() - started;
  assert.ok(ms <= 1000, `the other tab left after ${ms} ms`);
  assert.equal(new URL(request.url()).searchParams.get('rd'), '/news/account', 'and will come back after login');
  await two.waitForURL(LOGIN_RE, { timeout: WAIT_MS });
  await one.waitForURL(LOGIN_RE, { timeout: WAIT_MS });
  assert.equal(await whoami(two), null, 'the session is gone');
  await two.goto(`${stack.url}/profile`);
  assert.match(two.url(), LOGIN_RE);
  await context.close();
});
