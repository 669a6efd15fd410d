// gateway-nginx.test.mjs - sessiond behind real nginx (examples/nginx/nginx.conf, auth_request)
// in front of a small protected application: the login round trip, identity headers and their
// stripping, role rules, logout and replay, revocation by the admin CLI, and login throttling.
//
// One suite, two configurations: with SESSIOND_NGINX_GATEWAY=module (what
// gateway-nginx-module.test.mjs sets) nginx checks sessions itself with ngx_http_sessiond_module
// (examples/nginx/nginx-module.conf) instead of asking sessiond with auth_request. Where the two
// legitimately differ, the test says so at that place (MODULE).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

import { Sandbox, createApiKey, run, TEST_TIMEOUT_MS } from './lib.mjs';
import { PASSWORD, Jar, addUser, browse, formFields, freePort, gatewayConfig, login, startApp, startNginx, startNginxModule } from './gateway-lib.mjs';

const MODULE = process.env.SESSIOND_NGINX_GATEWAY === 'module';

const T = { timeout: TEST_TIMEOUT_MS };
let sb, app, srv, nginx, port, data;

before(async () => {
  sb = new Sandbox('sessiond-nginx-');
  app = await startApp();
  port = await freePort();
  data = sb.dataDir();
  const config = sb.writeFile('gw.ini', gatewayConfig(`http://127.0.0.1:${port}`, '[session]\nrotate_grace = 3s\n', '[rule bank]\npath = /bank/*\npolicy = fresh:5s\n'));
  await addUser(data, 'alice', { roles: 'dev', config });
  await addUser(data, 'bob', { roles: 'admin,dev', config });
  await addUser(data, 'carol', { config });
  await addUser(data, 'dave', { config });
  srv = await sb.start({ data, config });
  nginx = MODULE ? await startNginxModule(sb.root, srv.port, app.port, port, data) : await startNginx(sb.root, srv.port, app.port, port);
});

after(async () => {
  if (nginx) await nginx.stop();
  if (app) await app.close();
  if (srv) await srv.stop();
  await sb.cleanup();
});

const get = (path, opts) => browse(port, 'GET', path, opts);
/* nginx makes redirects absolute (absolute_redirect): compare what follows the origin. */
const local = (location) => (location || '').replace(`http://127.0.0.1:${port}`, '');

test('an anonymous navigation is sent to the login page and a script gets 401 JSON', T, async () => {
  const r = await get('/private/page?x=1');
  assert.equal(r.status, 302);
  assert.equal(local(r.headers.location), '/auth/login?rd=/private/page?x=1');
  const x = await get('/private/page', { headers: { Accept: 'application/json' } });
  assert.equal(x.status, 401);
  assert.equal(x.json?.error, 'unauthorized');
  const y = await get('/private/page', { headers: { 'X-Requested-With': 'XMLHttpRequest' } });
  assert.equal(y.status, 401);
  assert.equal(app.seen.filter((s) => s.url.startsWith('/private')).length, 0, 'the app saw nothing');
});

test('a public rule lets anonymous requests through without identity, even forged', T, async () => {
  const r = await get('/static/site.css', { headers: { 'X-Auth-User': 'mallory', 'X-Auth-Roles': 'admin' } });
  assert.equal(r.status, 200);
  assert.equal(r.json.url, '/static/site.css');
  assert.equal(r.json.headers['x-auth-user'], undefined);
  assert.equal(r.json.headers['x-auth-roles'], undefined);
});

test('after login the app sees X-Auth-User and friends, never what the client forged', T, async () => {
  const jar = new Jar();
  const r = await login(port, jar, 'alice', PASSWORD, { rd: '/private/page?x=1&y=2' });
  assert.equal(r.status, 303, r.text);
  assert.equal(r.headers.location, '/private/page?x=1&y=2');
  assert.match(r.headers['cache-control'] || '', /no-store/);
  const set = (r.headers['set-cookie'] || []).find((c) => c.startsWith('sid='));
  assert.match(set, /^sid=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
  const p = await get('/private/page?x=1&y=2', { jar, headers: { 'X-Auth-User': 'mallory', 'X-Auth-Roles': 'admin' } });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.headers['x-auth-user'], 'alice');
  assert.equal(p.json.headers['x-auth-roles'], 'dev');
  assert.match(p.json.headers['x-auth-session'], /^[0-9a-f]{32}$/);
  assert.match(p.json.headers['x-auth-expires'], /^\d+$/);
  const who = await get('/auth/whoami', { jar });
  assert.equal(who.status, 200);
  assert.equal(who.json.user, 'alice');
  assert.equal(who.json.session_id, p.json.headers['x-auth-session']);
  assert.match(who.headers['cache-control'], /no-store/);
});

test('a role rule gives 403 to a user without the role and 200 to one with it', T, async () => {
  const alice = new Jar();
  assert.equal((await login(port, alice, 'alice', PASSWORD)).status, 303);
  assert.equal((await get('/admin/users', { jar: alice })).status, 403);
  const bob = new Jar();
  assert.equal((await login(port, bob, 'bob', PASSWORD)).status, 303);
  const r = await get('/admin/users', { jar: bob });
  assert.equal(r.status, 200);
  assert.equal(r.json.headers['x-auth-user'], 'bob');
});

test('a client cannot choose what verify checks, nor slip past a rule with path or host tricks', T, async () => {
  // Anonymous: headers describing another (public) request are the proxy's to set, not ours.
  for (const h of [{ 'X-Forwarded-Uri': '/static/x' }, { 'X-Original-URI': '/static/x' },
    { 'X-Forwarded-Uri': '/static/x', 'X-Forwarded-Method': 'GET' }]) {
    const r = await get('/admin/secret', { headers: { ...h, Accept: 'application/json' } });
    assert.notEqual(r.status, 200, `forged ${JSON.stringify(h)} let an anonymous request through`);
  }
  for (const path of ['/static/../admin/x', '/static/%2e%2e/admin/x', '/static/x/../../admin/x',
    '/static/%2E%2E/admin/x', '/static/..%2fadmin/x', '/static%2f..%2fadmin/x']) {
    const r = await get(path, { headers: { Accept: 'application/json' } });
    assert.notEqual(r.status, 200, `${path} reached the app anonymously`);
  }
  // alice has no admin role: none of these spellings of /admin may pass with her identity.
  const alice = new Jar();
  assert.equal((await login(port, alice, 'alice', PASSWORD)).status, 303);
  for (const path of ['//admin/x', '/%61dmin/x', '/Admin/x', '/admin;x/y', '/./admin/x', '/admin/./x']) {
    const r = await get(path, { jar: alice, headers: { Accept: 'application/json' } });
    assert.notEqual(r.status, 200, `${path} let alice through to an admin path`);
  }
  for (const host of ['admin.test', 'admin.test.', 'ADMIN.test:80']) {
    const r = await get('/private/page', { jar: alice, headers: { Host: host, Accept: 'application/json' } });
    assert.notEqual(r.json?.headers?.['x-auth-user'], 'alice', `Host ${host}: passed as alice`);
  }
  // An absolute-form target names one host (nginx picks its server{} by it) and the Host header
  // another (what the app is given): refused, or judged by the Host the app sees, never passed.
  const seenBefore = app.seen.length;
  const abs = await new Promise((resolve) => {
    const chunks = [];
    const c = net.connect({ host: '127.0.0.1', port }, () => c.write(`GET http://127.0.0.1:${port}/private/x HTTP/1.1\r\nHost: admin.test\r\nCookie: ${alice.header()}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`));
    c.on('data', (d) => chunks.push(d));
    c.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    c.on('error', () => {});
  });
  assert.match(abs, /^HTTP\/1\.1 (400|403) /, `absolute-form with another Host: ${abs.slice(0, 200)}`);
  assert.equal(app.seen.length, seenBefore, 'the app saw nothing');
});

test('two session tokens are no session: two different cookies, or a cookie and another Bearer token', T, async () => {
  const alice = new Jar();
  assert.equal((await login(port, alice, 'alice', PASSWORD)).status, 303);
  const bob = new Jar();
  assert.equal((await login(port, bob, 'bob', PASSWORD)).status, 303);
  const a = alice.cookies.get('sid'), b = bob.cookies.get('sid');
  const before = app.seen.length;
  const json = { Accept: 'application/json' };
  for (const cookie of [`sid=${b}; sid=${a}`, `sid=${a}; sid=${b}`, `sid=nonsense; sid=${b}`]) {
    const r = await get('/admin/x', { headers: { ...json, Cookie: cookie } });
    assert.equal(r.status, 401, `two cookies: ${r.status}`);
    const p = await get('/private/x', { headers: { ...json, Cookie: cookie } });
    assert.equal(p.status, 401, `two cookies on an authenticated path: ${p.status}`);
  }
  const mixed = await get('/private/x', { headers: { ...json, Cookie: `sid=${a}`, Authorization: `Bearer ${b}` } });
  assert.equal(mixed.status, 401, 'a cookie and a different Bearer token');
  assert.equal(app.seen.length, before, 'the app saw none of them');
  // The same token twice is that session.
  const same = await get('/private/x', { headers: { ...json, Cookie: `sid=${a}; sid=${a}` } });
  assert.equal(same.status, 200);
  assert.equal(same.json.headers['x-auth-user'], 'alice');
});

test('logout clears the cookie and redirects; the old cookie replayed gives 401', T, async () => {
  const jar = new Jar();
  assert.equal((await login(port, jar, 'dave', PASSWORD)).status, 303);
  const old = jar.cookies.get('sid');
  assert.equal((await get('/private', { jar })).status, 200);
  const out = await browse(port, 'POST', '/auth/logout', { jar, headers: { Origin: `http://127.0.0.1:${port}` } });
  assert.equal(out.status, 303);
  assert.equal(out.headers.location, '/auth/login');
  assert.equal(out.headers['clear-site-data'], '"cache"');
  assert.ok((out.headers['set-cookie'] || []).some((c) => c === 'sid=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax'), out.headers['set-cookie']);
  assert.equal(jar.cookies.has('sid'), false);
  const again = await get('/private', { jar });
  assert.equal(again.status, 302);
  assert.equal(local(again.headers.location), '/auth/login?rd=/private');
  const gone = await get('/auth/whoami', { headers: { Cookie: `sid=${old}` } });
  assert.equal(gone.status, 401);
  assert.equal(gone.json?.error, 'unauthorized', 'whoami answers JSON even to a browser');
  const replay = await get('/private', { headers: { Cookie: `sid=${old}`, Accept: 'application/json' } });
  assert.equal(replay.status, 401);
  const bearer = await get('/private', { headers: { Authorization: `Bearer ${old}`, Accept: 'application/json' } });
  assert.equal(bearer.status, 401);
});

test('keepalive extends the idle deadline and answers both deadlines; cross-site is refused', T, async () => {
  const jar = new Jar();
  assert.equal((await login(port, jar, 'alice', PASSWORD)).status, 303);
  const k = await browse(port, 'POST', '/auth/keepalive', { jar, headers: { Origin: `http://127.0.0.1:${port}` } });
  assert.equal(k.status, 200, k.text);
  assert.ok(k.json.idle_expires_at <= k.json.expires_at);
  assert.match(k.headers['cache-control'], /no-store/);
  const cross = await browse(port, 'POST', '/auth/keepalive', { jar, headers: { Origin: 'https://evil.example' } });
  assert.equal(cross.status, 403);
  const anon = await browse(port, 'POST', '/auth/keepalive', {});
  assert.equal(anon.status, 401);
  assert.equal(anon.json?.error, 'unauthorized');
});

test('a bearer token works where the cookie does', T, async () => {
  const jar = new Jar();
  assert.equal((await login(port, jar, 'alice', PASSWORD)).status, 303);
  const r = await get('/private/api', { headers: { Authorization: `Bearer ${jar.cookies.get('sid')}` } });
  assert.equal(r.status, 200);
  assert.equal(r.json.headers['x-auth-user'], 'alice');
});

test('user roles without --keep-sessions ends the user\'s sessions (contract section 1)', T, async () => {
  const jar = new Jar();
  assert.equal((await login(port, jar, 'dave', PASSWORD)).status, 303);
  assert.equal((await get('/private', { jar })).status, 200);
  const r = await run(['user', 'roles', 'dave', 'dev,ops', '--data', data]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ended their sessions/);
  assert.equal((await get('/private', { jar, headers: { Accept: 'application/json' } })).status, 401, 'the old session is refused at once');
  const again = new Jar();
  assert.equal((await login(port, again, 'dave', PASSWORD)).status, 303);
  const ok = await get('/private', { jar: again });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.headers['x-auth-roles'], 'dev,ops', 'a new login has the new roles');
});

test('changing roles with the CLI (--keep-sessions): the next request has the new roles and a new token, the old one lasts rotate_grace', T, async () => {
  const jar = new Jar();
  assert.equal((await login(port, jar, 'carol', PASSWORD)).status, 303);
  assert.equal((await get('/private', { jar })).status, 200);
  assert.equal((await get('/admin/x', { jar })).status, 403);
  const before = jar.cookies.get('sid');
  const bearer = new Jar();
  assert.equal((await login(port, bearer, 'carol', PASSWORD)).status, 303);
  const r = await run(['user', 'roles', 'carol', 'admin', '--keep-sessions', '--data', data]);
  assert.equal(r.code, 0, r.stderr);

  const next = await get('/admin/x', { jar });
  assert.equal(next.status, 200, 'the new role holds at once, without a new login');
  assert.equal(next.json.headers['x-auth-roles'], 'admin');
  let rotated = next;
  if (MODULE) {
    // MODULE: the module writes nothing, so it cannot rotate: the request passes with the new
    // roles and no Set-Cookie; the token is replaced by the browser's next request to sessiond
    // (any page under /auth/, here whoami). From there on the behaviour is the same.
    assert.equal(next.headers['set-cookie'], undefined, 'the module does not rotate');
    assert.equal(jar.cookies.get('sid'), before);
    rotated = await get('/auth/whoami', { jar });
    assert.equal(rotated.status, 200);
  }
  const set = (rotated.headers['set-cookie'] || []).find((c) => c.startsWith('sid='));
  assert.ok(set, 'nginx passed the rotated cookie on to the browser');
  assert.match(set, /; Path=\/; HttpOnly; SameSite=Lax$/);
  const after = jar.cookies.get('sid');
  assert.notEqual(after, before, 'the cookie jar holds the new token');
  const again = await get('/admin/y', { jar });
  assert.equal(again.status, 200);
  assert.equal(again.headers['set-cookie'], undefined, 'rotated once, not on every request');

  // The old token still works within rotate_grace (3s here), then fails.
  const old = { headers: { Cookie: `sid=${before}`, Accept: 'application/json' } };
  assert.equal((await get('/admin/x', old)).status, 200, 'the previous token works during the grace');
  const deadline = Date.now() + 20000;
  let status;
  while ((status = (await get('/private', old)).status) === 200 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
  assert.equal(status, 401, 'the previous token fails once rotate_grace has passed');
  assert.equal((await get('/private', { jar })).status, 200, 'the new token goes on working');

  // A Bearer client cannot take a cookie from a verify answer: its token stays, with the new roles.
  const token = bearer.cookies.get('sid');
  const b = await get('/admin/x', { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(b.status, 200);
  assert.equal(b.headers['set-cookie'], undefined);
  assert.equal((await get('/admin/x', { headers: { Authorization: `Bearer ${token}` } })).status, 200);
});

test('step-up: a fresh: rule sends an old login to "confirm your password" and then the original request goes through', T, async () => {
  const jar = new Jar();
  assert.equal((await login(port, jar, 'dave', PASSWORD)).status, 303);
  const first = await get('/bank/transfer?amount=5', { jar });
  assert.equal(first.status, 200, 'a login just made is fresh');
  const sessionId = first.json.headers['x-auth-session'];
  const csrfBefore = (await get('/auth/whoami', { jar })).json.csrf_token;
  const tokenBefore = jar.cookies.get('sid');

  // Wait until the login is older than fresh:5s (observable: the rule stops letting it pass).
  const deadline = Date.now() + 30000;
  let r;
  while ((r = await get('/bank/transfer?amount=5', { jar })).status === 200 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 250));
  }
  const seenBank = () => app.seen.filter((s) => s.url.startsWith('/bank/')).length;
  const seen = seenBank();
  assert.equal(r.status, 302, 'a navigation goes to the step-up form');
  assert.equal(local(r.headers.location), '/auth/login?reauth=1&rd=/bank/transfer?amount=5');
  const api = await get('/bank/transfer', { jar, headers: { Accept: 'application/json' } });
  assert.equal(api.status, 403, 'a script gets 403 JSON');
  assert.equal(api.json.reauth, true);
  assert.equal((await get('/private', { jar })).status, 200, 'other rules are not affected');
  assert.equal((await get('/bank/transfer', { jar, headers: { Cookie: jar.header(), 'Sec-Fetch-Site': 'same-origin' } })).status, 302);
  assert.equal(seenBank(), seen, 'the app saw none of the refused requests');

  const page = await get(local(r.headers.location), { jar });
  assert.equal(page.status, 200);
  assert.match(page.text, /Confirm your password/);
  assert.match(page.text, /name="username"[^>]*value="dave" readonly/);
  const fields = formFields(page.text);
  assert.equal(fields.reauth, '1');
  assert.equal(fields.rd, '/bank/transfer?amount=5');

  const wrong = await browse(port, 'POST', '/auth/login', { jar, form: { ...fields, username: 'dave', password: 'not the password' } });
  assert.equal(wrong.status, 401);
  assert.match(wrong.text, /Invalid username or password/);
  assert.match(wrong.text, /value="dave" readonly/, 'a wrong password shows the step-up form again');
  assert.equal(jar.cookies.get('sid'), tokenBefore, 'nothing changed');

  const ok = await browse(port, 'POST', '/auth/login', { jar, form: { ...formFields(wrong.text), username: 'dave', password: PASSWORD } });
  assert.equal(ok.status, 303, ok.text);
  assert.equal(local(ok.headers.location), '/bank/transfer?amount=5');
  assert.notEqual(jar.cookies.get('sid'), tokenBefore, 'a new token');
  const after = await get('/bank/transfer?amount=5', { jar });
  assert.equal(after.status, 200, 'the original request goes through');
  assert.equal(after.json.headers['x-auth-session'], sessionId, 'the same session, renewed (its data kept)');
  assert.equal(after.json.headers['x-auth-user'], 'dave');
  const csrfAfter = (await get('/auth/whoami', { jar })).json.csrf_token;
  assert.notEqual(csrfAfter, csrfBefore, 're-authentication renews the CSRF token');
  // ASVS 7.2.4: re-authentication rotates without grace; the token from before is refused at
  // once (a role change or an API rotation keeps rotate_grace; a step-up does not).
  const old = await browse(port, 'GET', '/auth/whoami', { headers: { Cookie: `sid=${tokenBefore}` } });
  assert.equal(old.status, 401, 'the token from before the step-up is refused');
  assert.equal((await get('/auth/whoami', { jar })).status, 200, 'the new one works');
});

test('the step-up form without a session is the ordinary login form', T, async () => {
  const page = await get('/auth/login?reauth=1&rd=/bank/x', { jar: new Jar() });
  assert.equal(page.status, 200);
  assert.doesNotMatch(page.text, /readonly|Confirm your password/);
  assert.equal(formFields(page.text).reauth, undefined);
});

test('a login form posted from another site is refused', T, async () => {
  const jar = new Jar();
  const page = await get('/auth/login', { jar });
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)[1];
  const cross = await browse(port, 'POST', '/auth/login', {
    jar, form: { username: 'alice', password: PASSWORD, csrf }, headers: { Origin: 'https://evil.example' },
  });
  assert.equal(cross.status, 403);
  const noProof = await browse(port, 'POST', '/auth/login', { jar, form: { username: 'alice', password: PASSWORD } });
  assert.equal(noProof.status, 403);
  const otherBrowser = await browse(port, 'POST', '/auth/login', { form: { username: 'alice', password: PASSWORD, csrf } });
  assert.equal(otherBrowser.status, 403, 'a proof without its cookie is worthless');
  assert.equal(jar.cookies.has('sid'), false);
});

test('a login replaces the session the browser had (no fixation)', T, async () => {
  const jar = new Jar();
  assert.equal((await login(port, jar, 'alice', PASSWORD)).status, 303);
  const first = jar.cookies.get('sid');
  assert.equal((await login(port, jar, 'alice', PASSWORD)).status, 303);
  assert.notEqual(jar.cookies.get('sid'), first);
  assert.equal((await get('/private', { headers: { Cookie: `sid=${first}`, Accept: 'application/json' } })).status, 401);
});

test('five wrong passwords, then 429 with Retry-After, also for the right password', T, async () => {
  const jar = new Jar();
  const from = { 'X-Forwarded-For': '10.9.0.1' };
  for (let i = 0; i < 5; i++) {
    const r = await login(port, jar, 'dave', 'wrong password', { headers: from });
    assert.equal(r.status, 401, `try ${i + 1}`);
    assert.match(r.text, /Invalid username or password/);
  }
  const locked = await login(port, jar, 'dave', PASSWORD, { headers: from });
  assert.equal(locked.status, 429);
  assert.ok(Number(locked.headers['retry-after']) > 0, `Retry-After: ${locked.headers['retry-after']}`);
  assert.equal(jar.cookies.has('sid'), false);
  // The user is locked from any address.
  const elsewhere = await login(port, new Jar(), 'dave', PASSWORD, { headers: { 'X-Forwarded-For': '10.9.0.2' } });
  assert.equal(elsewhere.status, 429);
});

test('an address with too many failures is locked out for every user', T, async () => {
  const from = { 'X-Forwarded-For': '10.9.0.3' };
  for (let i = 0; i < 5; i++) {
    const r = await login(port, new Jar(), `nobody${i}`, 'wrong password', { headers: from });
    assert.equal(r.status, 401);
  }
  assert.equal((await login(port, new Jar(), 'bob', PASSWORD, { headers: from })).status, 429);
  assert.equal((await login(port, new Jar(), 'bob', PASSWORD, { headers: { 'X-Forwarded-For': '10.9.0.4' } })).status, 303);
});

test('unsafe methods through verify need the CSRF token or a same-origin browser', T, async () => {
  const jar = new Jar();
  assert.equal((await login(port, jar, 'bob', PASSWORD)).status, 303);
  const who = await get('/auth/whoami', { jar });
  const other = new Jar();
  assert.equal((await login(port, other, 'bob', PASSWORD)).status, 303);
  const otherToken = (await get('/auth/whoami', { jar: other })).json.csrf_token;
  const seen = () => app.seen.filter((x) => x.url === '/private/form').length;
  const before = seen();
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    const bare = await browse(port, method, '/private/form', { jar, body: 'x=1' });
    assert.equal(bare.status, 403, `${method}: no token, no Origin, no Sec-Fetch-Site`);
    const cross = await browse(port, method, '/private/form', { jar, body: 'x=1', headers: { 'Sec-Fetch-Site': 'cross-site', Origin: 'http://127.0.0.1:1' } });
    assert.equal(cross.status, 403, `${method}: a page of another site`);
    const crossOrigin = await browse(port, method, '/private/form', { jar, body: 'x=1', headers: { Origin: 'https://evil.example' } });
    assert.equal(crossOrigin.status, 403, `${method}: another Origin`);
    const forged = await browse(port, method, '/private/form', { jar, body: 'x=1', headers: { 'X-CSRF-Token': 'A'.repeat(43) } });
    assert.equal(forged.status, 403, `${method}: a forged token`);
    const stolen = await browse(port, method, '/private/form', { jar, body: 'x=1', headers: { 'X-CSRF-Token': otherToken } });
    assert.equal(stolen.status, 403, `${method}: another session's token`);
  }
  assert.equal(seen(), before, 'the app saw none of the refused requests');
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    const token = await browse(port, method, '/private/form', { jar, body: 'x=1', headers: { 'X-CSRF-Token': who.json.csrf_token } });
    assert.equal(token.status, 200, `${method}: the session's token`);
    const same = await browse(port, method, '/private/form', { jar, body: 'x=1', headers: { Origin: `http://127.0.0.1:${port}` } });
    assert.equal(same.status, 200, `${method}: same origin`);
    assert.equal(same.json.body, 'x=1');
    const site = await browse(port, method, '/private/form', { jar, body: 'x=1', headers: { 'Sec-Fetch-Site': 'same-origin' } });
    assert.equal(site.status, 200, `${method}: Sec-Fetch-Site: same-origin`);
  }
  // The app gets the token from verify (X-Auth-CSRF-Token) to put in its own forms.
  const page = await get('/private/page', { jar });
  assert.equal(page.json.headers['x-auth-csrf-token'], who.json.csrf_token);
});

test('clients that hang up during the password check, and 50 concurrent logins, are answered', T, async () => {
  // Straight to sessiond: a POST that goes away before its answer. The result comes back to a
  // request h2o has already freed; the server must drop it, not touch it.
  const jar = new Jar();
  const page = await browse(srv.port, 'GET', '/auth/login', { jar });
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)[1];
  const body = new URLSearchParams({ username: 'alice', password: PASSWORD, csrf }).toString();
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port: srv.port }, () => {
        sock.write(`POST /auth/login HTTP/1.1\r\nHost: x\r\nCookie: ${jar.header()}\r\n` +
          `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        setTimeout(() => { sock.destroy(); resolve(); }, i % 4); // before, or while, it hashes
      });
      sock.on('error', resolve);
    });
  }
  // Attempts in flight count toward the lockout (at most max_failures per user, and a few per
  // address, are checked at once); the others are asked to retry.
  const logins = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    login(port, new Jar(), 'bob', PASSWORD, { headers: { 'X-Forwarded-For': `10.9.1.${i + 1}` } })));
  assert.ok(logins.some((r) => r.status === 303), 'some were served');
  for (const r of logins) {
    assert.ok(r.status === 303 || (r.status === 429 && Number(r.headers['retry-after']) > 0), `${r.status}`);
  }
  await srv.assertAlive('after hung-up logins');
});

test('our own forms posted by a browser with "Origin: null" (Referrer-Policy: no-referrer) pass on Sec-Fetch-Site', T, async () => {
  // What chromium sends for the login and logout forms of sessiond's pages, which carry
  // Referrer-Policy: no-referrer: Origin is "null", Sec-Fetch-Site says same-origin.
  const same = { Origin: 'null', 'Sec-Fetch-Site': 'same-origin' };
  const jar = new Jar();
  const r = await login(port, jar, 'alice', PASSWORD, { headers: same });
  assert.equal(r.status, 303, r.text);
  assert.ok(jar.cookies.has('sid'));
  // "null" on its own, or with a same-site (another port) or cross-site page, proves nothing.
  for (const h of [{ Origin: 'null' }, { Origin: 'null', 'Sec-Fetch-Site': 'same-site' }, { Origin: 'null', 'Sec-Fetch-Site': 'cross-site' }]) {
    const j = new Jar();
    const x = await login(port, j, 'alice', PASSWORD, { headers: h });
    assert.equal(x.status, 403, `login with ${JSON.stringify(h)}`);
    assert.equal(j.cookies.has('sid'), false);
    const out = await browse(port, 'POST', '/auth/logout', { jar, headers: h });
    assert.notEqual(out.status, 303, `logout with ${JSON.stringify(h)}`);
    assert.equal((await get('/auth/whoami', { jar })).status, 200, 'still signed in');
  }
  const out = await browse(port, 'POST', '/auth/logout', { jar, headers: same });
  assert.equal(out.status, 303);
  assert.equal((await get('/auth/whoami', { jar })).status, 401);
});

test('CSRF for an app that does nothing itself: every unsafe method, refused and accepted', T, async () => {
  const jar = new Jar();
  assert.equal((await login(port, jar, 'bob', PASSWORD)).status, 303);
  const token = (await get('/auth/whoami', { jar })).json.csrf_token;
  const forged = `${token.slice(0, 42)}${token[42] === 'A' ? 'B' : 'A'}`;
  const own = `http://127.0.0.1:${port}`;
  const refused = [
    ['no token, no browser headers', {}],
    ['cross-site', { 'Sec-Fetch-Site': 'cross-site', Origin: 'https://evil.example' }],
    ['same-site (another port)', { 'Sec-Fetch-Site': 'same-site', Origin: 'http://127.0.0.1:1' }],
    ['another Origin', { Origin: 'https://evil.example' }],
    ['a forged token, cross-site', { 'X-CSRF-Token': forged, 'Sec-Fetch-Site': 'cross-site' }],
    ['a forged token alone', { 'X-CSRF-Token': forged }],
    ['a token of the wrong length', { 'X-CSRF-Token': `${token}x` }],
  ];
  const accepted = [
    ['the session\'s token', { 'X-CSRF-Token': token }],
    ['the session\'s token, even cross-site', { 'X-CSRF-Token': token, 'Sec-Fetch-Site': 'cross-site' }],
    ['same-origin by Sec-Fetch-Site', { 'Sec-Fetch-Site': 'same-origin', Origin: own }],
    ['same-origin by Origin', { Origin: own }],
  ];
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    for (const [i, [what, headers]] of refused.entries()) {
      const marker = `${method}-${i}`;
      const r = await browse(port, method, `/private/csrf?m=${marker}`, { jar, body: 'amount=900', headers });
      assert.equal(r.status, 403, `${method} with ${what}: ${r.status}`);
      assert.equal(app.seen.some((s) => s.url === `/private/csrf?m=${marker}`), false, `${method} with ${what} reached the app`);
    }
    for (const [what, headers] of accepted) {
      const r = await browse(port, method, '/private/csrf', { jar, body: 'amount=1', headers });
      assert.equal(r.status, 200, `${method} with ${what}: ${r.status} ${r.text}`);
      assert.equal(r.json.method, method);
      assert.equal(r.json.body, 'amount=1');
    }
  }
  // Safe methods need nothing.
  assert.equal((await browse(port, 'GET', '/private/csrf', { jar, headers: { 'Sec-Fetch-Site': 'cross-site' } })).status, 200);
});

test('a revoke through sessiond is refused on the very next request: CLI by id, CLI for a user, /v1 DELETE', T, async () => {
  const seen = () => app.seen.filter((s) => s.url.startsWith('/private/revoked')).length;
  const json = { Accept: 'application/json' };
  const signIn = async (user) => {
    const jar = new Jar();
    assert.equal((await login(port, jar, user, PASSWORD)).status, 303);
    const p = await get('/private/live', { jar });
    assert.equal(p.status, 200);
    return { jar, id: p.json.headers['x-auth-session'] };
  };

  const a = await signIn('alice');
  const r1 = await run(['session', 'revoke', a.id, '--data', data]);
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal((await get('/private/revoked', { jar: a.jar, headers: json })).status, 401, 'session revoke ID');

  const b = await signIn('alice');
  const key = await createApiKey(data, 'gateway');
  const del = await srv.api('DELETE', `/v1/sessions/${b.id}`, { key });
  assert.equal(del.status, 204, del.text);
  assert.equal((await get('/private/revoked', { jar: b.jar, headers: json })).status, 401, 'DELETE /v1/sessions/ID');
  const bearer = await get('/private/revoked', { headers: { ...json, Authorization: `Bearer ${b.jar.cookies.get('sid')}` } });
  assert.equal(bearer.status, 401, 'and as a bearer token');

  const c = await signIn('bob');
  const other = await signIn('alice');
  const r2 = await run(['session', 'revoke', '--user', 'bob', '--data', data]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal((await get('/private/revoked', { jar: c.jar, headers: json })).status, 401, 'session revoke --user');
  assert.equal(seen(), 0, 'the app saw none of the revoked requests');
  assert.equal((await get('/private/live', { jar: other.jar })).status, 200, 'another user is not affected');
});
