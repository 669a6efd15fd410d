// social.test.mjs - the social network: log in, see the profile; the session's absolute
// timeout (6 s here) passes while the user keeps navigating (so the 3 s idle timeout never
// does); the next navigation lands on the login page; logging in again works and comes back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { BROWSER_TEST_TIMEOUT_MS, LOGIN_RE, WAIT_MS, launch, signIn, startStack, whoami } from './lib.mjs';

const T = { timeout: BROWSER_TEST_TIMEOUT_MS };
let stack, browser;

before(async () => {
  stack = await startStack('social', { session: 'idle_timeout = 3s\nabsolute_timeout = 6s\ntouch_interval = 1s' });
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (stack) await stack.stop();
});

test('log in, see the profile; after the absolute timeout the next navigation is the login page; log in again', T, async () => {
  const page = await browser.newPage();
  // No session.js on this page: it would itself go to the login page once the session ends,
  // and this test is about what the next navigation does.
  const profile = `${stack.url}/profile?script=0`;
  await page.goto(profile);
  assert.match(page.url(), LOGIN_RE, 'an anonymous visitor is sent to the login page');
  await signIn(page, 'alice');
  assert.equal(page.url(), profile, 'back where the visitor wanted to go');
  assert.equal(await page.textContent('#profile'), 'Profile of alice');
  const first = await whoami(page);
  assert.equal(first.user, 'alice');
  assert.equal(first.expires_at - first.auth_time, 6, 'absolute deadline 6 s after login');

  // Keep navigating until a navigation shows the login page. Each one is well within the idle
  // timeout of the previous, so only the absolute deadline can end the session.
  let lastOk = 0;
  let pages = 0;
  for (;;) {
    const r = await page.goto(profile);
    pages++;
    if (LOGIN_RE.test(new URL(page.url()).pathname + new URL(page.url()).search)) break;
    assert.equal(r.status(), 200);
    assert.equal(await page.textContent('#profile'), 'Profile of alice');
    lastOk = Date.now() / 1000;
    assert.ok(lastOk < first.expires_at + 2, `still signed in ${lastOk - first.expires_at} s after the absolute deadline`);
    await page.waitForTimeout(400); // the user reading the page; the loop ends on a condition
  }
  assert.ok(lastOk >= first.auth_time + 3, `the session outlived its idle timeout thanks to activity (${pages} pages)`);
  assert.ok(Date.now() / 1000 >= first.expires_at, 'not signed out before the absolute deadline');
  assert.equal(new URL(page.url()).searchParams.get('rd'), '/profile?script=0');
  assert.equal(await whoami(page), null, 'the session is gone');

  await signIn(page, 'alice');
  assert.equal(page.url(), profile);
  assert.equal(await page.textContent('#profile'), 'Profile of alice');
  const second = await whoami(page);
  assert.notEqual(second.session_id, first.session_id, 'a new session');
  await page.close();
});
