// lib.mjs - helpers for the browser tests (not a test file): Debian's chromium driven by
// playwright-core, and a "stack" per test file: sessiond, real nginx from
// examples/nginx/nginx.conf in front of it, and a small application served by Node on loopback
// that renders HTML pages (social network, news site, bank), includes /auth/session.js and has
// forms. A second loopback origin (another port) plays the attacker's site.
//
// chromium is the Debian package (scripts/deps.sh installs it); playwright-core comes from
// package-lock.json (`npm ci`, scripts/check.sh runs it). Nothing is downloaded at run time:
// playwright's own browser builds are never used. A test that cannot start chromium fails.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import assert from 'node:assert/strict';

import { Sandbox } from '../integration/lib.mjs';
import { PASSWORD, addUser, freePort, startNginx } from '../integration/gateway-lib.mjs';

export { PASSWORD };

/* Per-test bound (node:test `timeout`): every scenario must finish well within a minute. */
export const BROWSER_TEST_TIMEOUT_MS = 60000;
/* Bound of one wait on the page (a navigation, a selector). */
export const WAIT_MS = 15000;

export const CHROMIUM = process.env.SESSIOND_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

async function playwright() {
  try {
    return await import('playwright-core');
  } catch (e) {
    throw new Error(`playwright-core is missing: run \`npm ci\` at the repository root (${e.message})`);
  }
}

/* A fresh browser (playwright gives it a fresh temporary --user-data-dir). */
export async function launch() {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing (scripts/deps.sh installs the chromium package)`);
  const { chromium } = await playwright();
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
}

/* A browser on the profile directory `dir`: closing it and opening the same directory again is
 * closing and reopening the user's browser (persistent cookies survive, session ones do not). */
export async function launchPersistent(dir, options = {}) {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing (scripts/deps.sh installs the chromium package)`);
  const { chromium } = await playwright();
  return chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000, ...options });
}

/* ---- the application ----------------------------------------------------------------------- */

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const WORDS = {
  en: { hello: 'Hello', news: 'Latest news', account: 'Your account', balance: 'Balance', send: 'Send', signout: 'Sign out' },
  fr: { hello: 'Bonjour', news: 'Dernières nouvelles', account: 'Votre compte', balance: 'Solde', send: 'Envoyer', signout: 'Se déconnecter' },
};

function page(req, title, body, { script = true } = {}) {
  const lang = WORDS[req.headers['x-auth-pref-language']] ? req.headers['x-auth-pref-language'] : 'en';
  const w = WORDS[lang];
  const csrf = req.headers['x-auth-csrf-token'] || '';
  const user = req.headers['x-auth-user'];
  return `<!doctype html>
<html lang="${lang}">
<head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="csrf-token" content="${esc(csrf)}">
${script ? '<script src="/auth/session.js" defer></script>' : ''}
</head>
<body>
${user ? `<p id="greeting">${w.hello} ${esc(user)}</p>
<form method="post" action="/auth/logout"><button type="submit" id="signout">${w.signout}</button></form>` : ''}
<main>${typeof body === 'function' ? body(w, csrf) : body}</main>
</body>
</html>
`;
}

/* Equal-length constant-time comparison of two strings (the app's own check of the form field). */
function sameToken(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && x.length > 0 && crypto.timingSafeEqual(x, y);
}

/* The application behind nginx. Pages:
 *   /profile          the social network's profile page (authenticated)
 *   /news             the news site's front page (public), /news/account (authenticated)
 *   /bank             the balance and a transfer form carrying the CSRF token twice: a hidden
 *                     field (checked by the app) and a meta tag (sent as X-CSRF-Token by
 *                     /bank.js when the form has data-fetch)
 *   POST /bank/transfer  moves money when the form's csrf field matches X-Auth-CSRF-Token
 * `state.transfers` records every transfer the app accepted, `state.seen` every request. */
export async function startApp() {
  const state = { balance: 1000, transfers: [], seen: [] };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => {
      if (body.length < 65536) body += d;
    });
    req.on('end', () => {
      const url = new URL(req.url, 'http://app');
      state.seen.push({ method: req.method, path: url.pathname, headers: req.headers });
      const html = (status, text) => {
        res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(text);
      };
      if (req.method === 'GET' && url.pathname === '/profile') {
        return html(200, page(req, 'Profile', `<h1 id="profile">Profile of ${esc(req.headers['x-auth-user'])}</h1>`, { script: url.searchParams.get('script') !== '0' }));
      }
      if (req.method === 'GET' && url.pathname === '/news') {
        return html(200, page(req, 'News', (w) => `<h1 id="news">${w.news}</h1><p><a href="/auth/preferences">Preferences</a></p>`, { script: false }));
      }
      if (req.method === 'GET' && url.pathname === '/news/account') {
        return html(200, page(req, 'Account', (w) => `<h1 id="account">${w.account}</h1>`));
      }
      if (req.method === 'GET' && url.pathname === '/bank') {
        return html(200, page(req, 'Bank', (w, csrf) => `<h1>${w.balance}: <span id="balance">${state.balance}</span></h1>
<form id="transfer" method="post" action="/bank/transfer"${url.searchParams.get('fetch') ? ' data-fetch="1"' : ''}>
<input type="hidden" name="csrf" value="${esc(csrf)}">
<label>To <input name="to" value="bob"></label> <label>Amount <input name="amount" value="10"></label>
<button type="submit" id="send">${w.send}</button>
</form>
<script src="/bank.js" defer></script>`));
      }
      if (req.method === 'GET' && url.pathname === '/bank.js') {
        res.writeHead(200, { 'Content-Type': 'text/javascript' });
        // A form with data-fetch is sent by script with the token in X-CSRF-Token, as an app
        // does when [csrf] require_token = true (verify never sees a form's body).
        return res.end(`const f=document.getElementById('transfer');
if(f&&f.dataset.fetch)f.addEventListener('submit',e=>{e.preventDefault();
fetch(f.action,{method:'POST',body:new URLSearchParams(new FormData(f)),credentials:'same-origin',
headers:{'X-CSRF-Token':document.querySelector('meta[name=csrf-token]').content}})
.then(r=>{document.body.dataset.transfer=String(r.status);if(r.ok)location.assign('/bank')})});
`);
      }
      if (req.method === 'POST' && url.pathname === '/bank/transfer') {
        const form = new URLSearchParams(body);
        if (!sameToken(form.get('csrf'), req.headers['x-auth-csrf-token'])) return html(403, 'bad CSRF token');
        const amount = Number(form.get('amount'));
        state.balance -= amount;
        state.transfers.push({ to: form.get('to'), amount, user: req.headers['x-auth-user'] });
        res.writeHead(303, { Location: '/bank' });
        return res.end();
      }
      html(404, 'not found');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, state, close: () => new Promise((r) => server.close(r)) };
}

/* The attacker's site: another origin (another loopback port) whose page auto-submits a transfer
 * form to the bank at `bankUrl`. */
export async function startEvilSite(bankUrl) {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html><body><h1>You won a prize!</h1>
<form id="f" method="post" action="${esc(bankUrl)}/bank/transfer">
<input type="hidden" name="to" value="mallory"><input type="hidden" name="amount" value="900">
<input type="hidden" name="csrf" value="forged">
</form><script>document.getElementById('f').submit()</script></body></html>`);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return { port, url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

/* ---- the stack ----------------------------------------------------------------------------- */

/* sessiond's configuration behind nginx at `publicUrl`: /news (exactly) and /bank.js are
 * public, everything else needs a session. `session` and `csrf` are extra lines for those
 * sections. */
export function stackConfig(publicUrl, { session = '', csrf = '' } = {}) {
  return `[server]
public_url = ${publicUrl}
trusted_proxies = 127.0.0.1
[session]
${session}
[csrf]
${csrf}
[login]
argon2_ops = 1
argon2_mem = 8m
[rule news]
path = /news
methods = GET,HEAD
policy = public
[rule script]
path = /bank.js
methods = GET,HEAD
policy = public
[rule app]
policy = authenticated
`;
}

/* Starts the app, sessiond (users alice and bob, password PASSWORD) and nginx.
 * Returns {url, app, srv, nginx, sb, stop()}. */
export async function startStack(name, opts = {}) {
  const sb = new Sandbox(`sessiond-browser-${name}-`);
  const stack = { sb };
  try {
    stack.app = await startApp();
    const port = await freePort();
    stack.url = `http://127.0.0.1:${port}`;
    const data = sb.dataDir();
    const config = sb.writeFile('sessiond.ini', stackConfig(stack.url, opts));
    await addUser(data, 'alice', { config });
    await addUser(data, 'bob', { config });
    stack.srv = await sb.start({ data, config });
    stack.nginx = await startNginx(sb.root, stack.srv.port, stack.app.port, port);
  } catch (e) {
    await stopStack(stack);
    throw e;
  }
  stack.stop = () => stopStack(stack);
  return stack;
}

async function stopStack(s) {
  if (s.nginx) await s.nginx.stop();
  if (s.app) await s.app.close();
  if (s.srv) await s.srv.stop();
  await s.sb.cleanup();
}

/* A profile directory for launchPersistent, inside the stack's sandbox (removed with it). */
export function profileDir(stack, name) {
  const dir = path.join(stack.sb.root, `profile-${name}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/* ---- in the browser ------------------------------------------------------------------------ */

export const LOGIN_RE = /\/auth\/login(\?|$)/;

/* On sessiond's login page (reached by a redirect or directly): fills and submits the form and
 * waits for the navigation away from it. */
export async function signIn(page, user, password = PASSWORD) {
  await page.waitForURL(LOGIN_RE, { timeout: WAIT_MS });
  await page.fill('#username', user);
  await page.fill('#password', password);
  await Promise.all([
    page.waitForURL((u) => !LOGIN_RE.test(u.pathname + u.search), { timeout: WAIT_MS }),
    page.click('main button[type=submit]'),
  ]);
}

/* GET base_path/whoami with the cookies of the page's browser context (not from inside the
 * page, which a navigation may replace meanwhile): the JSON, or null on 401. */
export async function whoami(page) {
  const r = await page.context().request.get(`${new URL(page.url()).origin}/auth/whoami`, { headers: { Accept: 'application/json' } });
  if (r.status() === 401) return null;
  assert.equal(r.status(), 200, `whoami: ${r.status()} ${await r.text()}`);
  return r.json();
}

/* Polls `cond` (async, truthy when done) every 100 ms until it holds; fails after `ms`. */
export async function until(cond, what, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    assert.ok(Date.now() < deadline, `${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
