// idle.test.mjs - session.js's expiry warning in a real browser: with a 20 s idle timeout the
// "stay signed in" dialog appears once less than its lead time (15 s) is left; its button sends
// keepalive, the idle deadline moves forward, and the dialog goes away.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { BROWSER_TEST_TIMEOUT_MS, WAIT_MS, launch, signIn, startStack, until, whoami } from './lib.mjs';

const T = { timeout: BROWSER_TEST_TIMEOUT_MS };
let stack, browser;

before(async () => {
  stack = await startStack('idle', { session: 'idle_timeout = 20s\nabsolute_timeout = 1h' });
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  if (stack) await stack.stop();
});

test('the idle warning appears and "stay signed in" extends the session', T, async () => {
  const page = await browser.newPage();
  await page.goto(`${stack.url}/profile`);
  await signIn(page, 'alice');
  const before = await whoami(page);
  const left = before.idle_expires_at - before.auth_time; // the navigations since login touched it
  assert.ok(left >= 20 && left <= 25, `idle deadline ${left} s after login`);

  const dialog = await page.waitForSelector('#sessiond-warning[role=alertdialog]', { timeout: 30000 });
  assert.match(await dialog.textContent(), /signed out soon because of inactivity/);
  const shownAt = Date.now() / 1000;
  assert.ok(shownAt < before.idle_expires_at, 'shown before the deadline');
  const current = await whoami(page);
  assert.ok(current.idle_expires_at - shownAt <= 16, `shown ${current.idle_expires_at - shownAt} s before the deadline`);

  const kept = page.waitForResponse((r) => r.url().endsWith('/auth/keepalive'), { timeout: WAIT_MS });
  await page.click('#sessiond-warning button');
  const r = await kept;
  assert.equal(r.status(), 200);
  assert.equal(r.request().method(), 'POST');
  assert.equal((await r.request().allHeaders())['x-csrf-token'], before.csrf_token);
  const moved = await r.json();
  assert.ok(moved.idle_expires_at > current.idle_expires_at, `idle deadline ${current.idle_expires_at} -> ${moved.idle_expires_at}`);
  assert.ok(moved.idle_expires_at >= Math.floor(Date.now() / 1000) + 18, 'a full idle timeout from now');
  assert.equal(moved.expires_at, before.expires_at, 'the absolute deadline does not move');
  await page.waitForSelector('#sessiond-warning', { state: 'detached', timeout: WAIT_MS });
  // Touches are written in batches (lib/session.c): whoami shows the new deadline after the
  // next flush, about a second later.
  await until(async () => (await whoami(page)).idle_expires_at === moved.idle_expires_at, 'whoami shows the new idle deadline', 5000);
  await page.close();
});
