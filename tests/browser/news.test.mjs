// news.test.mjs - preferences in a real browser. An anonymous visitor of the news site picks
// French on sessiond's preferences page (kept in a signed cookie); the browser is closed and
// reopened on the same profile: sessiond's pages come in French. After login the preference
// joins the user's account: the app gets X-Auth-Pref-Language (forwarded by nginx from verify)
// and renders French, and a second, fresh browser gets French pages once the user signs in.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { BROWSER_TEST_TIMEOUT_MS, LOGIN_RE, WAIT_MS, launch, launchPersistent, profileDir, signIn, startStack } from './lib.mjs';

const T = { timeout: BROWSER_TEST_TIMEOUT_MS };
let stack;
const open = [];

before(async () => {
  stack = await startStack('news');
});

after(async () => {
  for (const b of open) await b.close().catch(() => {});
  if (stack) await stack.stop();
});

const lang = (page) => page.getAttribute('html', 'lang');

test('French chosen anonymously survives a browser restart and follows the user into another browser', T, async () => {
  const dir = profileDir(stack, 'reader');
  let ctx = await launchPersistent(dir);
  open.push(ctx);
  let page = ctx.pages()[0] || (await ctx.newPage());
  await page.goto(`${stack.url}/news`);
  assert.equal(await page.textContent('#news'), 'Latest news');
  await page.click('a[href="/auth/preferences"]');
  assert.equal(await lang(page), 'en');
  await page.selectOption('#language', 'fr');
  await Promise.all([page.waitForURL(/\/auth\/preferences/, { timeout: WAIT_MS }), page.click('main button[type=submit]')]);
  await page.waitForFunction(() => document.documentElement.lang === 'fr', null, { timeout: WAIT_MS });
  assert.equal(await page.textContent('h1'), 'Préférences');
  await ctx.close();

  // The same profile again: a browser restart.
  ctx = await launchPersistent(dir);
  open.push(ctx);
  page = ctx.pages()[0] || (await ctx.newPage());
  await page.goto(`${stack.url}/auth/preferences`);
  assert.equal(await lang(page), 'fr', 'the preference survived the restart');
  assert.equal(await page.inputValue('#language'), 'fr');
  await page.goto(`${stack.url}/news/account`);
  assert.match(page.url(), LOGIN_RE);
  assert.equal(await lang(page), 'fr');
  assert.equal(await page.textContent('h1'), 'Se connecter');
  await signIn(page, 'alice');
  assert.equal(page.url(), `${stack.url}/news/account`);
  assert.equal(await lang(page), 'fr', 'the app renders the language verify forwarded');
  assert.equal(await page.textContent('#account'), 'Votre compte');
  assert.equal(await page.textContent('#greeting'), 'Bonjour alice');
  const seen = stack.app.state.seen.filter((s) => s.path === '/news/account').at(-1);
  assert.equal(seen.headers['x-auth-pref-language'], 'fr');
  await ctx.close();

  // Another browser, never used: English until alice signs in, French after.
  const other = await launch();
  open.push(other);
  page = await other.newPage();
  await page.goto(`${stack.url}/news/account`);
  assert.match(page.url(), LOGIN_RE);
  assert.equal(await lang(page), 'en', 'a fresh browser knows nothing yet');
  await signIn(page, 'alice');
  assert.equal(await page.textContent('#account'), 'Votre compte');
  await page.goto(`${stack.url}/auth/preferences`);
  assert.equal(await lang(page), 'fr');
  assert.equal(await page.inputValue('#language'), 'fr');
  await other.close();
});
