// password.test.mjs - the self-service password change, GET/POST /auth/password (issue 21, item
// 4; docs/security.md, ASVS 5.0 V6.2): the form, each check with its own message and nothing
// changed (wrong current password 401 and counted toward the lockout, entries that differ, too
// short, a common password, the CSRF proofs), and a change: the old password and every other
// session refused at once, this browser kept signed in with a new cookie, the change audited;
// the same under [store] kind = cookie.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { Sandbox, TEST_TIMEOUT_MS, createApiKey, leakSecret } from './lib.mjs';
import { PASSWORD, Jar, addUser, browse, formFields, freePort, login } from './gateway-lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
const NEW = 'a brand new staple of passphrases';
let sb, main, strict, sealed;

/* A server on its own port and data directory, with users added; `extra` is more INI text. */
async function startServer(name, users, extra = '') {
  const port = await freePort();
  const data = sb.dataDir(name);
  const config = sb.writeFile(`${name}.ini`, `[server]
public_url = http://127.0.0.1:${port}
trusted_proxies = 127.0.0.1
[login]
argon2_ops = 1
argon2_mem = 8m
${extra}
[rule app]
policy = authenticated
`);
  for (const u of users) await addUser(data, u, { config });
  const srv = await sb.start({ data, config, args: ['--listen', `127.0.0.1:${port}`] });
  return { srv, port, data, config, audit: path.join(data, 'audit.log') };
}

before(async () => {
  sb = new Sandbox('sessiond-password-');
  // The defaults (min_password = 15) and a lockout after 3 failures.
  main = await startServer('main', ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'], 'max_failures = 3');
  // min_password = 8: the common list's entries (at most 13 characters) become reachable.
  strict = await startServer('short', ['gina', 'verylongusername'], 'min_password = 8');
  const ring = `k1:${crypto.randomBytes(32).toString('base64')}`;
  leakSecret(ring.slice(3));
  sealed = await startServer('sealed', ['holly'], `[store]\nkind = cookie\n[keys]\nseal = ${ring}\n[session]\ncookie_name = sid`);
});

after(async () => {
  for (const s of [main, strict, sealed]) if (s?.srv) await s.srv.stop();
  await sb.cleanup();
});

const get = (s, p, opts) => browse(s.port, 'GET', p, opts);
const post = (s, p, opts) => browse(s.port, 'POST', p, opts);
const sid = (jar) => jar.cookies.get('sid');
const verify = (s, token) => get(s, '/auth/verify', { headers: { Cookie: `sid=${token}`, 'X-Forwarded-Uri': '/app', 'X-Forwarded-Method': 'GET' } });
const auditLines = (s) => fs.readFileSync(s.audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

/* Signs `user` in with a fresh jar; returns it. */
async function signIn(s, user, password = PASSWORD, headers = {}) {
  const jar = new Jar();
  const r = await login(s.port, jar, user, password, { headers });
  assert.equal(r.status, 303, `login of ${user}: ${r.status} ${r.text}`);
  assert.ok(sid(jar), 'a session cookie');
  return jar;
}

/* Opens the page and submits the form; `drop` leaves fields out, `set` overrides them. */
async function change(s, jar, current, next, { again = next, headers = {}, drop = [], set = {} } = {}) {
  const page = await get(s, '/auth/password', { jar, headers });
  assert.equal(page.status, 200, page.text);
  const f = formFields(page.text);
  assert.ok(f.csrf && f.csrf_token, 'the form carries the CSRF proof and the session token');
  const form = { current_password: current, new_password: next, new_password2: again, csrf: f.csrf, csrf_token: f.csrf_token, ...set };
  for (const k of drop) delete form[k];
  for (const p of [current, next, again]) leakSecret(p);
  return post(s, '/auth/password', { jar, headers, form });
}

/* The user's password is still `password`: a login with it succeeds. */
async function passwordIs(s, user, password) {
  const r = await login(s.port, new Jar(), user, password);
  assert.equal(r.status, 303, `${user} still signs in with the password: ${r.status}`);
}

test('anonymous: the page sends a browser to the login page and back; a POST is 401', T, async () => {
  let r = await get(main, '/auth/password');
  assert.equal(r.status, 303);
  assert.equal(r.headers.location, '/auth/login?rd=/auth/password');
  r = await post(main, '/auth/password', { form: { current_password: PASSWORD, new_password: NEW, new_password2: NEW } });
  assert.equal(r.status, 401);
  await passwordIs(main, 'alice', PASSWORD);
});

test('the form: three labelled password fields, the hint with the minimum, linked from the other pages, in French too', T, async () => {
  const jar = await signIn(main, 'alice');
  const r = await get(main, '/auth/password', { jar });
  assert.equal(r.status, 200);
  assert.match(r.headers['cache-control'], /no-store/);
  assert.match(r.headers['content-security-policy'], /default-src 'none'/);
  assert.match(r.text, /<title>Change password<\/title>/);
  assert.match(r.text, /<label for="current_password">Current password<\/label>\n<input type="password" id="current_password" name="current_password" autocomplete="current-password" required maxlength="1024" autofocus>/);
  assert.match(r.text, /<input type="password" id="new_password" name="new_password" autocomplete="new-password" required maxlength="1024" minlength="15" aria-describedby="password-hint">/);
  assert.match(r.text, /<label for="new_password2">New password, again<\/label>/);
  assert.match(r.text, /<p id="password-hint">At least 15 characters\. A long passphrase/);
  for (const page of ['/auth/sessions', '/auth/preferences']) {
    const p = await get(main, page, { jar });
    assert.match(p.text, /<nav aria-label="Account">[^]*<a href="\/auth\/password">Change password<\/a>/, `${page} links to the password page`);
  }
  const fr = await get(main, '/auth/password', { jar, headers: { 'Accept-Language': 'fr' } });
  assert.match(fr.text, /<html lang="fr">/);
  assert.match(fr.text, /<h1>Changer le mot de passe<\/h1>/);
  assert.match(fr.text, /Au moins 15 caractères/);
});

test('a wrong current password: 401, unchanged, audited, and it counts toward the lockout', T, async () => {
  const addr = { 'X-Forwarded-For': '203.0.113.21' };
  const jar = await signIn(main, 'bob', PASSWORD, addr);
  const before = sid(jar);
  let r = await change(main, jar, 'not the password at all', NEW, { headers: addr });
  assert.equal(r.status, 401);
  assert.match(r.text, /<p class="error" role="alert" id="password-error">The current password is not right\.<\/p>/);
  assert.match(r.text, /id="current_password"[^>]*aria-describedby="password-error" aria-invalid="true"/);
  assert.equal(sid(jar), before, 'the session is kept');
  assert.equal((await verify(main, before)).status, 200, 'and still live');
  const failed = auditLines(main).filter((l) => l.event === 'login_failed' && l.user === 'bob');
  assert.equal(failed.length, 1);
  assert.equal(failed[0].client, '203.0.113.21');
  assert.match(failed[0].detail, /password page/);
  // Two more wrong ones reach max_failures = 3: the user is locked out, the page and the login
  // alike, even with the right current password.
  for (let i = 0; i < 2; i++) assert.equal((await change(main, jar, `wrong guess ${i}`, NEW, { headers: addr })).status, 401);
  r = await change(main, jar, PASSWORD, NEW, { headers: addr });
  assert.equal(r.status, 429);
  assert.ok(Number(r.headers['retry-after']) > 0, 'Retry-After');
  assert.match(r.text, /Too many failed sign-ins/);
  r = await login(main.port, new Jar(), 'bob', PASSWORD, { headers: { 'X-Forwarded-For': '203.0.113.22' } });
  assert.equal(r.status, 429, 'the login of that user is locked out too');
  assert.ok(auditLines(main).some((l) => l.event === 'lockout'), 'the lockout is audited');
  assert.ok(!fs.readFileSync(main.audit, 'utf8').includes('wrong guess'), 'no password in the audit log');
});

test('entries that differ: 400 with their own message; nothing changed', T, async () => {
  const jar = await signIn(main, 'carol');
  const r = await change(main, jar, PASSWORD, NEW, { again: `${NEW}!` });
  assert.equal(r.status, 400);
  assert.match(r.text, /role="alert" id="password-error">The two new passwords are not the same\.<\/p>/);
  assert.match(r.text, /id="new_password2"[^>]*aria-invalid="true" autofocus>/);
  assert.ok(!r.text.includes(NEW), 'the form does not echo a password');
  assert.equal((await verify(main, sid(jar))).status, 200);
  await passwordIs(main, 'carol', PASSWORD);
});

test('too short: the default minimum is 15 characters (14 refused), counted in characters, not bytes', T, async () => {
  const jar = await signIn(main, 'dave');
  let r = await change(main, jar, PASSWORD, 'fourteen chars');
  assert.equal(r.status, 400);
  assert.match(r.text, /The new password is too short: use at least 15 characters\./);
  assert.match(r.text, /id="new_password"[^>]*aria-describedby="password-error password-hint" aria-invalid="true" autofocus>/);
  // 15 bytes but 8 characters.
  r = await change(main, jar, PASSWORD, 'ééééééé!');
  assert.equal(r.status, 400);
  assert.match(r.text, /too short/);
  r = await change(main, jar, PASSWORD, '');
  assert.equal(r.status, 400);
  assert.match(r.text, /too short/);
  // Not one letter repeated: every password sent is a secret for make check's leak scan, and a
  // run of x's is what other tests store as session data.
  r = await change(main, jar, PASSWORD, 'long passphrase, '.repeat(61).slice(0, 1025));
  assert.equal(r.status, 400);
  assert.match(r.text, /The new password is too long: at most 1024 bytes\./);
  await passwordIs(main, 'dave', PASSWORD);
});

test('a common password from the list is refused whatever its case, and so is the username (min_password = 8)', T, async () => {
  const jar = await signIn(strict, 'gina');
  for (const common of ['password1', 'QwertyUIOP', 'baseball']) {
    const r = await change(strict, jar, PASSWORD, common);
    assert.equal(r.status, 400, common);
    assert.match(r.text, /This password is too common or too easy to guess/, common);
  }
  let r = await change(strict, jar, PASSWORD, 'seven77');
  assert.equal(r.status, 400);
  assert.match(r.text, /use at least 8 characters/);
  await passwordIs(strict, 'gina', PASSWORD);
  const long = await signIn(strict, 'verylongusername');
  r = await change(strict, long, PASSWORD, 'VeryLongUserName');
  assert.equal(r.status, 400);
  assert.match(r.text, /too common or too easy to guess/);
  // Nine characters, not on the list: accepted under this minimum.
  r = await change(strict, jar, PASSWORD, 'gina uncommon 9');
  assert.equal(r.status, 303, r.text);
  await passwordIs(strict, 'gina', 'gina uncommon 9');
});

test('the CSRF proofs are required: without the form proof, without the session token, cross-site', T, async () => {
  const jar = await signIn(main, 'erin');
  for (const [what, opts] of [
    ['no form proof', { drop: ['csrf'] }],
    ['a forged form proof', { set: { csrf: 'A'.repeat(43) } }],
    ['no session token', { drop: ['csrf_token'], headers: { 'Sec-Fetch-Site': null, Origin: null } }],
    ['another session token', { set: { csrf_token: 'B'.repeat(43) } }],
    ['cross-site', { headers: { 'Sec-Fetch-Site': 'cross-site' } }],
  ]) {
    const r = await change(main, jar, PASSWORD, NEW, opts);
    assert.equal(r.status, 403, `${what}: ${r.status}`);
    assert.match(r.text, /This form has expired/, what);
  }
  assert.equal((await verify(main, sid(jar))).status, 200);
  await passwordIs(main, 'erin', PASSWORD);
  assert.ok(!auditLines(main).some((l) => l.event === 'password_changed' && l.user === 'erin'));
});

test('a change: old password and other sessions refused at once, this browser kept with a new cookie, audited', T, async () => {
  const key = await createApiKey(main.data);
  const here = await signIn(main, 'frank', PASSWORD, { 'User-Agent': 'here' });
  const there = await signIn(main, 'frank', PASSWORD, { 'User-Agent': 'there' });
  const oldHere = sid(here), oldThere = sid(there);
  const who = await get(main, '/auth/whoami', { jar: here });
  const oldId = who.json.session_id;
  // Data on this browser's session travels to its new session.
  const api = (method, p, body) => browse(main.port, method, p, { headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body: body && JSON.stringify(body) });
  assert.equal((await api('PATCH', `/v1/sessions/${oldId}`, { data: { cart: 3 } })).status, 200);

  const r = await change(main, here, PASSWORD, NEW, { headers: { 'User-Agent': 'here' } });
  assert.equal(r.status, 303, r.text);
  assert.equal(r.headers.location, '/auth/password?saved=1');
  const cookie = (r.headers['set-cookie'] || []).find((c) => c.startsWith('sid='));
  assert.match(cookie, /^sid=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
  const newHere = sid(here);
  assert.notEqual(newHere, oldHere, 'a new token');
  leakSecret(newHere);

  assert.equal((await verify(main, oldHere)).status, 401, "this browser's old token is refused");
  assert.equal((await verify(main, oldThere)).status, 401, "the other device's session is refused at once");
  assert.equal((await verify(main, newHere)).status, 200, 'the new cookie is live');
  const done = await get(main, '/auth/password?saved=1', { jar: here });
  assert.equal(done.status, 200);
  assert.match(done.text, /<p role="status">Your password has been changed\. Every other device has been signed out\.<\/p>/);
  const now = await get(main, '/auth/whoami', { jar: here });
  assert.equal(now.json.user, 'frank');
  assert.notEqual(now.json.session_id, oldId);
  assert.ok(now.json.auth_time >= who.json.auth_time, 'authenticated now');
  assert.deepEqual((await api('GET', `/v1/sessions/${now.json.session_id}`)).json.data, { cart: 3 });
  const list = (await api('GET', '/v1/users/frank/sessions')).json;
  assert.deepEqual(list.map((x) => x.session_id), [now.json.session_id], 'one live session: this browser');

  assert.equal((await login(main.port, new Jar(), 'frank', PASSWORD)).status, 401, 'the old password is refused');
  await passwordIs(main, 'frank', NEW);

  const lines = auditLines(main).filter((l) => l.user === 'frank');
  const changed = lines.find((l) => l.event === 'password_changed');
  assert.ok(changed, 'a password_changed line');
  assert.equal(changed.session_id, oldId);
  assert.equal(changed.client, '127.0.0.1');
  const i = lines.indexOf(changed);
  assert.equal(lines[i + 1].event, 'login');
  assert.equal(lines[i + 1].session_id, now.json.session_id);
  const text = fs.readFileSync(main.audit, 'utf8');
  assert.ok(!text.includes(NEW) && !text.includes(newHere) && !text.includes(oldHere), 'no password or token in the audit log');
});

test('cookie store: the password changes, every sealed session ends, this browser gets a new sealed cookie', T, async () => {
  const here = await signIn(sealed, 'holly');
  const there = await signIn(sealed, 'holly');
  const oldHere = sid(here), oldThere = sid(there);
  assert.match(oldHere, /^v1\./, 'a sealed cookie');
  for (const v of [oldHere, oldThere]) leakSecret(v);
  const r = await change(sealed, here, PASSWORD, NEW);
  assert.equal(r.status, 303, r.text);
  assert.equal(r.headers.location, '/auth/password?saved=1');
  const newHere = sid(here);
  leakSecret(newHere);
  assert.match(newHere, /^v1\./);
  assert.notEqual(newHere, oldHere);
  assert.equal((await verify(sealed, oldHere)).status, 401, 'the old sealed cookie is refused');
  assert.equal((await verify(sealed, oldThere)).status, 401, "the other device's sealed cookie is refused");
  assert.equal((await verify(sealed, newHere)).status, 200);
  assert.equal((await login(sealed.port, new Jar(), 'holly', PASSWORD)).status, 401);
  await passwordIs(sealed, 'holly', NEW);
  assert.ok(auditLines(sealed).some((l) => l.event === 'password_changed' && l.user === 'holly'));
});
