// gateway-caddy.test.mjs - sessiond behind real Caddy (examples/caddy/Caddyfile, forward_auth
// with ?redirect=1): the login round trip, role rules, logout and replay; then what the login
// page must never give away: unknown user and wrong password look the same and take the same
// time (200 tries each), and no rd= variant redirects anywhere but to a safe default.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Sandbox, TEST_TIMEOUT_MS, run } from './lib.mjs';
import { PASSWORD, Jar, addUser, browse, formFields, freePort, gatewayConfig, login, startApp, startCaddy } from './gateway-lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb, app, srv, caddy, port, data;

before(async () => {
  sb = new Sandbox('sessiond-caddy-');
  app = await startApp();
  port = await freePort();
  data = sb.dataDir();
  // Many failures are expected here (the timing test): throttling would get in the way.
  const config = sb.writeFile('gw.ini', gatewayConfig(`http://127.0.0.1:${port}`).replace(
    '[login]', '[login]\nmax_failures = 10000\n') + '[csrf]\nallowed_origins = https://trusted.example\n');
  // Made with the server's own argon2 cost, as `sessiond user add -c` does in production.
  await addUser(data, 'alice', { roles: 'dev', config });
  await addUser(data, 'bob', { roles: 'admin', config });
  await addUser(data, 'carol', { roles: 'dev', config });
  srv = await sb.start({ data, config });
  caddy = await startCaddy(sb.root, srv.port, app.port, port);
});

after(async () => {
  if (caddy) await caddy.stop();
  if (app) await app.close();
  if (srv) await srv.stop();
  await sb.cleanup();
});

const get = (path, opts) => browse(port, 'GET', path, opts);

test('caddy: anonymous navigation to login, script 401 JSON; login; the app sees X-Auth-User', T, async () => {
  const r = await get('/private/page?x=1&y=2', { headers: { 'X-Auth-User': 'mallory' } });
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, '/auth/login?rd=/private/page%3Fx%3D1%26y%3D2');
  const x = await get('/private/page', { headers: { Accept: 'application/json' } });
  assert.equal(x.status, 401);
  assert.equal(x.json?.error, 'unauthorized');

  const jar = new Jar();
  const page = await get(r.headers.location, { jar });
  assert.equal(formFields(page.text).rd, '/private/page?x=1&y=2');
  const done = await browse(port, 'POST', '/auth/login', {
    jar, form: { username: 'alice', password: PASSWORD, ...formFields(page.text) },
  });
  assert.equal(done.status, 303, done.text);
  assert.equal(done.headers.location, '/private/page?x=1&y=2');
  const p = await get('/private/page?x=1&y=2', { jar, headers: { 'X-Auth-User': 'mallory', 'X-Auth-Roles': 'admin' } });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.headers['x-auth-user'], 'alice');
  assert.equal(p.json.headers['x-auth-roles'], 'dev');
});

test('caddy: role rule 403, logout redirects, the old cookie replayed gives 401', T, async () => {
  const jar = new Jar();
  assert.equal((await login(port, jar, 'alice', PASSWORD)).status, 303);
  assert.equal((await get('/admin/panel', { jar })).status, 403);
  const bob = new Jar();
  assert.equal((await login(port, bob, 'bob', PASSWORD)).status, 303);
  assert.equal((await get('/admin/panel', { jar: bob })).status, 200);

  const old = jar.cookies.get('sid');
  const out = await browse(port, 'POST', '/auth/logout', { jar });
  assert.equal(out.status, 303);
  assert.equal(out.headers.location, '/auth/login');
  const again = await get('/private', { jar });
  assert.equal(again.status, 302);
  assert.equal(again.headers.location, '/auth/login?rd=/private');
  const replay = await get('/private', { headers: { Cookie: `sid=${old}`, Accept: 'application/json' } });
  assert.equal(replay.status, 401);
});

test('caddy: a role change rotates the token and the new cookie reaches the browser', T, async () => {
  const jar = new Jar();
  assert.equal((await login(port, jar, 'carol', PASSWORD)).status, 303);
  assert.equal((await get('/admin/panel', { jar })).status, 403);
  const before = jar.cookies.get('sid');
  const r = await run(['user', 'roles', 'carol', 'admin', '--keep-sessions', '--data', data]);
  assert.equal(r.code, 0, r.stderr);
  const next = await get('/admin/panel', { jar });
  assert.equal(next.status, 200);
  assert.equal(next.json.headers['x-auth-roles'], 'admin');
  assert.equal(next.json.headers['x-auth-user'], 'carol');
  assert.ok((next.headers['set-cookie'] || []).some((c) => c.startsWith('sid=')), 'Caddy passed the rotated cookie on');
  assert.notEqual(jar.cookies.get('sid'), before);
  const again = await get('/private', { jar });
  assert.equal(again.status, 200);
  assert.equal(again.headers['set-cookie'], undefined, 'no cookie when nothing rotated');
  assert.equal(again.json.headers['x-auth-user'], 'carol', 'identity headers still copied');
});

/* The page of a failed login, with what legitimately differs (the name typed) taken out. */
function failurePage(text, user) {
  return text.replace(`value="${user}"`, 'value="USER"');
}

test('unknown user and wrong password: the same page, and the same time over 200 tries each', { timeout: 240000 }, async (t) => {
  const jar = new Jar();
  const page = await get('/auth/login', { jar });
  const { csrf } = formFields(page.text);
  const attempt = async (username, password) => {
    const t0 = process.hrtime.bigint();
    const r = await browse(port, 'POST', '/auth/login', { jar, form: { username, password, csrf, rd: '' } });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(r.status, 401, `${username}: ${r.status}`);
    return { ms, text: r.text, headers: r.headers };
  };
  const unknown = await attempt('nosuchuser', PASSWORD);
  const wrong = await attempt('alice', 'wrong password!');
  assert.match(unknown.text, /Invalid username or password/);
  assert.equal(failurePage(unknown.text, 'nosuchuser'), failurePage(wrong.text, 'alice'));
  assert.equal(unknown.headers['content-length'], String(Number(wrong.headers['content-length']) + 'nosuchuser'.length - 'alice'.length));

  // Interleaved, so that drift in machine load hits both series alike.
  const u = [], w = [];
  for (let i = 0; i < 200; i++) {
    u.push((await attempt(`ghost${i}`, PASSWORD)).ms);
    w.push((await attempt('alice', `wrong password ${i}`)).ms);
  }
  const trimmedMean = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const cut = Math.floor(s.length / 10);
    const mid = s.slice(cut, s.length - cut);
    return mid.reduce((a, b) => a + b, 0) / mid.length;
  };
  const mu = trimmedMean(u), mw = trimmedMean(w);
  // An unknown user answered without hashing would take a fraction of the time (the hash is
  // most of a failed login): a gap over 30% of the smaller mean plus 3 ms means a leak.
  const tolerance = 0.3 * Math.min(mu, mw) + 3;
  t.diagnostic(`trimmed means: unknown user ${mu.toFixed(2)} ms, wrong password ${mw.toFixed(2)} ms`);
  assert.ok(Math.abs(mu - mw) <= tolerance,
    `unknown user ${mu.toFixed(2)} ms vs wrong password ${mw.toFixed(2)} ms (tolerance ${tolerance.toFixed(2)} ms)`);
  assert.ok(mw > 1, `a failed login should cost a password hash, took ${mw.toFixed(2)} ms`);
});

const OPEN_REDIRECTS = [
  '//evil.example',
  '//evil.example/path',
  '///evil.example',
  '/\\evil.example',
  '\\\\evil.example',
  '/%2Fevil.example',
  '/%2fevil.example',
  '%2F%2Fevil.example',
  '/%5Cevil.example',
  'https://evil.example',
  'http://evil.example/',
  `http://127.0.0.1:${'PORT'}.evil.example/`,
  `http://127.0.0.1:PORT@evil.example/`,
  'https://trusted.example.evil.example/',
  'javascript:alert(document.cookie)',
  'JAVASCRIPT:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  '/ok\r\nLocation: https://evil.example',
  '/ok%0d%0aLocation:%20https://evil.example',
  '/%09/evil.example',
  'evil.example',
  'https:evil.example',
  'https:/evil.example',
  ' //evil.example',
];

test('open redirects: every rd variant lands on the safe default', { timeout: 120000 }, async () => {
  assert.ok(OPEN_REDIRECTS.length >= 15);
  for (const raw of OPEN_REDIRECTS) {
    const rd = raw.replaceAll('PORT', String(port));
    const jar = new Jar();
    // Through the login page's query string...
    const page = await get(`/auth/login?rd=${encodeURIComponent(rd)}`, { jar });
    assert.equal(page.status, 200);
    assert.equal(formFields(page.text).rd, '', `the page kept rd=${JSON.stringify(rd)}`);
    // ... and posted directly with the form.
    const r = await browse(port, 'POST', '/auth/login', {
      jar, form: { username: 'alice', password: PASSWORD, rd, csrf: formFields(page.text).csrf },
    });
    assert.equal(r.status, 303, `rd=${JSON.stringify(rd)}: ${r.status}`);
    assert.equal(r.headers.location, '/', `rd=${JSON.stringify(rd)} redirected to ${r.headers.location}`);
  }
  // The allowed ones do go through.
  for (const rd of ['/private/x?y=1', `http://127.0.0.1:${port}/private`, 'https://trusted.example/app']) {
    const jar = new Jar();
    const r = await login(port, jar, 'alice', PASSWORD, { rd });
    assert.equal(r.headers.location, rd);
  }
});
