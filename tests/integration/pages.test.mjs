// pages.test.mjs - the pages sessiond serves to browsers, talked to directly (no proxy):
// preferences for anonymous visitors and their merge at login (with a new token), language
// negotiation, "your devices" with revocation, the CSRF proof on every form, and session.js.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Sandbox, TEST_TIMEOUT_MS, createApiKey } from './lib.mjs';
import { PASSWORD, Jar, addUser, browse, formFields, freePort, login } from './gateway-lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb, srv, port, apiKey;

before(async () => {
  sb = new Sandbox('sessiond-pages-');
  port = await freePort();
  const data = sb.dataDir();
  const config = sb.writeFile('pages.ini', `[server]
public_url = http://127.0.0.1:${port}
[login]
argon2_ops = 1
argon2_mem = 8m
[session]
max_per_user = 400
[rule app]
policy = authenticated
`);
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy']) await addUser(data, u, { config });
  apiKey = await createApiKey(data);
  srv = await sb.start({ data, config, args: ['--listen', `127.0.0.1:${port}`] });
});

after(async () => {
  if (srv) await srv.stop();
  await sb.cleanup();
});

const get = (path, opts) => browse(port, 'GET', path, opts);
const post = (path, opts) => browse(port, 'POST', path, opts);
const token = (jar) => jar.cookies.get('sid');
const verifyWith = (t) => get('/auth/verify', { headers: { Cookie: `sid=${t}`, 'X-Forwarded-Uri': '/app', 'X-Forwarded-Method': 'GET' } });

/* Signs `user` in with a fresh jar (and user agent); returns the jar. */
async function signIn(user, agent = 'test-agent') {
  const jar = new Jar();
  const r = await login(port, jar, user, PASSWORD, { headers: { 'User-Agent': agent } });
  assert.equal(r.status, 303, r.text);
  assert.ok(token(jar), 'a session cookie');
  return jar;
}

/* Opens the preferences page and submits `choice`; returns the POST's answer. */
async function savePrefs(jar, choice, headers = {}) {
  const page = await get('/auth/preferences', { jar, headers });
  assert.equal(page.status, 200, page.text);
  const { csrf } = formFields(page.text);
  assert.ok(csrf, 'the preferences form carries a CSRF proof');
  return post('/auth/preferences', { jar, headers, form: { language: '', theme: 'system', font_size: 'medium', ...choice, csrf } });
}

test('anonymous preferences are kept on an anonymous cookie and applied to the pages', T, async () => {
  const jar = new Jar();
  const r = await savePrefs(jar, { language: 'de', theme: 'dark', font_size: 'large' });
  assert.equal(r.status, 303, r.text);
  assert.equal(r.headers.location, '/auth/preferences?saved=1');
  assert.match(r.headers['cache-control'], /no-store/);
  const set = (r.headers['set-cookie'] || []).find((c) => c.startsWith('sid_prefs='));
  assert.match(set, /^sid_prefs=de\.dark\.large\.[A-Za-z0-9_-]{43}; Path=\/; Max-Age=31536000; HttpOnly; SameSite=Lax$/);
  assert.equal(token(jar), undefined, 'no session, no account');
  const page = await get('/auth/preferences?saved=1', { jar });
  assert.match(page.text, /<html lang="de" data-theme="dark" data-font="large">/);
  assert.match(page.text, /<p role="status">Ihre Einstellungen wurden gespeichert\.<\/p>/);
  assert.match(page.text, /<option value="dark" selected>/);
  // A forged cookie (values changed, MAC kept) is ignored.
  const forged = new Jar();
  forged.cookies.set('sid_prefs', jar.cookies.get('sid_prefs').replace('de.dark', 'fr.dark'));
  const f = await get('/auth/login', { jar: forged });
  assert.match(f.text, /<html lang="en">/);
});

test('at login anonymous preferences join the user\'s, the token is new and a planted one dies', T, async () => {
  // alice's stored preferences: French, light, small.
  const before = await signIn('alice');
  assert.equal((await savePrefs(before, { language: 'fr', theme: 'light', font_size: 'small' })).status, 303);
  // Another browser, anonymous: automatic language, dark, large; and a planted session token
  // (fixation attempt: a token the attacker knows).
  const planted = token(await signIn('bob'));
  const jar = new Jar();
  assert.equal((await savePrefs(jar, { language: '', theme: 'dark', font_size: 'large' })).status, 303);
  jar.cookies.set('sid', planted);
  const r = await login(port, jar, 'alice', PASSWORD);
  assert.equal(r.status, 303, r.text);
  const fresh = token(jar);
  assert.match(fresh, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(fresh, planted, 'the pre-login token is not kept');
  assert.ok((r.headers['set-cookie'] || []).some((c) => /^sid_prefs=; .*Max-Age=0/.test(c)), 'the anonymous cookie is cleared');
  assert.equal(jar.cookies.get('sid_prefs'), undefined);
  assert.equal((await verifyWith(planted)).status, 401, 'the planted session was ended');
  const v = await verifyWith(fresh);
  assert.equal(v.status, 200);
  assert.equal(v.headers['x-auth-user'], 'alice');
  assert.equal(v.headers['x-auth-pref-language'], 'fr', 'a value not chosen anonymously is the user\'s');
  assert.equal(v.headers['x-auth-pref-theme'], 'dark', 'the anonymous choice wins');
  const page = await get('/auth/preferences', { jar });
  assert.match(page.text, /<html lang="fr" data-theme="dark" data-font="large">/);
  // The other browser of alice sees the merged preferences too (they are the user's).
  const other = await get('/auth/preferences', { jar: before });
  assert.match(other.text, /<option value="large" selected>/);
});

test('language: the preference beats Accept-Language, q-values are honoured, English by default', T, async () => {
  const cases = [
    [undefined, 'en', 'Sign in'],
    ['fr', 'fr', 'Se connecter'],
    ['de-DE,de;q=0.9,en;q=0.8', 'de', 'Anmelden'],
    ['de;q=0.5, fr;q=0.8', 'fr', 'Se connecter'],
    ['en;q=0.1, de-AT;q=0.2', 'de', 'Anmelden'],
    ['fr;q=0, de', 'de', 'Anmelden'],
    ['fr;q=0', 'en', 'Sign in'],
    ['es, it;q=0.9', 'en', 'Sign in'],
    ['es, *;q=0.5, fr;q=0.4', 'en', 'Sign in'],
    ['fr;q=2, de;q=0.3', 'de', 'Anmelden'],
    [`${'x'.repeat(1100)}, fr`, 'en', 'Sign in'],
  ];
  for (const [al, lang, title] of cases) {
    const r = await get('/auth/login', { headers: al === undefined ? {} : { 'Accept-Language': al } });
    assert.equal(r.status, 200);
    assert.match(r.text, new RegExp(`<html lang="${lang}"`), `Accept-Language: ${al}`);
    assert.match(r.text, new RegExp(`<title>${title}</title>`), `Accept-Language: ${al}`);
    assert.equal(r.headers['content-language'], lang);
  }
  // The anonymous preference (German) beats the browser (French).
  const jar = new Jar();
  await savePrefs(jar, { language: 'de' });
  const r = await get('/auth/login', { jar, headers: { 'Accept-Language': 'fr' } });
  assert.match(r.text, /<html lang="de"/);
  // The failure message is translated too.
  const fr = new Jar();
  const bad = await login(port, fr, 'alice', 'wrong password', { headers: { 'Accept-Language': 'fr' } });
  assert.equal(bad.status, 401);
  assert.match(bad.text, /Nom d’utilisateur ou mot de passe incorrect/);
});

test('logout answers 303 with a signed-out page in the user\'s language', T, async () => {
  const jar = await signIn('erin');
  await savePrefs(jar, { language: 'de' });
  const r = await post('/auth/logout', { jar, headers: { 'Accept-Language': 'fr' } });
  assert.equal(r.status, 303);
  assert.equal(r.headers.location, '/auth/login');
  assert.match(r.text, /<html lang="de"/);
  assert.match(r.text, /Sie sind abgemeldet\./);
  assert.match(r.text, /<a href="\/auth\/login">Erneut anmelden<\/a>/);
});

/* The session ids in a devices page, and the one marked as this device. */
function devices(html) {
  const rows = [...html.matchAll(/<tr( class="current")? id="s-([0-9a-f]{32})">([\s\S]*?)<\/tr>/g)];
  return { ids: rows.map((m) => m[2]), current: rows.filter((m) => m[1]).map((m) => m[2]), rows };
}

test('your devices lists the sessions with this device marked, escaped, without tokens', T, async () => {
  const a = await signIn('carol', 'Browser A <script>alert(1)</script>');
  const b = await signIn('carol', 'Browser B');
  const page = await get('/auth/sessions', { jar: a });
  assert.equal(page.status, 200, page.text);
  assert.match(page.headers['cache-control'], /no-store/);
  const d = devices(page.text);
  assert.equal(d.ids.length, 2);
  assert.equal(d.current.length, 1);
  const mine = d.rows.find((m) => m[1]);
  assert.match(mine[3], /Browser A &lt;script&gt;alert\(1\)&lt;\/script&gt; <strong>\(This device\)<\/strong>/);
  assert.match(mine[3], /<td>127\.0\.0\.1<\/td>/);
  assert.match(mine[3], /<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">/);
  assert.ok(!page.text.includes('<script>alert'), 'the user agent is escaped');
  for (const t of [token(a), token(b)]) assert.ok(!page.text.includes(t), 'no token in the page');
  assert.match(page.text, /<script src="\/auth\/session\.js" defer><\/script>/);
  assert.match(page.text, /<nav aria-label="Account"><ul>\n<li><a href="\/auth\/sessions">Your devices<\/a><\/li>\n<li><a href="\/auth\/password">Change password<\/a><\/li>\n<li><a href="\/auth\/preferences">Preferences<\/a><\/li>\n<li><form method="post" action="\/auth\/logout"><input type="hidden" name="csrf_token" value="[A-Za-z0-9_-]{43}">\n<button type="submit" class="plain">Sign out<\/button><\/form><\/li>/);
  const who = await get('/auth/whoami', { jar: a });
  assert.deepEqual(d.current, [who.json.session_id]);
  const fr = await get('/auth/sessions', { jar: a, headers: { 'Accept-Language': 'fr-FR, en;q=0.5' } });
  assert.match(fr.text, /<title>Vos appareils<\/title>/);
  assert.match(fr.text, /<strong>\(Cet appareil\)<\/strong>/);
  // Without a session: a navigation goes to the login page, a script gets 401.
  const anon = await get('/auth/sessions');
  assert.equal(anon.status, 303);
  assert.equal(anon.headers.location, '/auth/login?rd=/auth/sessions');
  const js = await get('/auth/sessions', { headers: { Accept: 'application/json' } });
  assert.equal(js.status, 401);
});

/* Submits a revoke form of the devices page of `jar` with `fields`. */
async function revoke(jar, fields, { csrf = true, headers = {} } = {}) {
  const page = await get('/auth/sessions', { jar });
  const form = { ...fields };
  if (csrf) form.csrf = formFields(page.text).csrf;
  return post('/auth/sessions/revoke', { jar, form, headers });
}

test('revoke one device, then all others; the current session survives', T, async () => {
  const a = await signIn('dave', 'A');
  const b = await signIn('dave', 'B');
  const c = await signIn('dave', 'C');
  const whoB = (await get('/auth/whoami', { jar: b })).json.session_id;
  const r = await revoke(a, { session_id: whoB });
  assert.equal(r.status, 303, r.text);
  assert.equal(r.headers.location, '/auth/sessions?revoked=1');
  assert.equal((await verifyWith(token(b))).status, 401, 'the revoked token is refused');
  assert.equal((await verifyWith(token(c))).status, 200);
  assert.equal((await verifyWith(token(a))).status, 200);
  // Another user's session id is not ours to end.
  const alien = await signIn('bob', 'other user');
  const alienId = (await get('/auth/whoami', { jar: alien })).json.session_id;
  const x = await revoke(a, { session_id: alienId });
  assert.equal(x.status, 404);
  assert.equal((await verifyWith(token(alien))).status, 200);
  const d = await signIn('dave', 'D');
  const all = await revoke(a, { others: '1' });
  assert.equal(all.status, 303);
  for (const j of [c, d]) assert.equal((await verifyWith(token(j))).status, 401);
  assert.equal((await verifyWith(token(a))).status, 200, 'the current session survives');
  const left = devices((await get('/auth/sessions', { jar: a })).text);
  assert.equal(left.ids.length, 1);
  assert.match((await get('/auth/sessions?revoked=1', { jar: a })).text, /<p role="status">Signed out\.<\/p>/);
  // Ending the current session from the list is a logout: cookie cleared, login page next.
  const own = (await get('/auth/whoami', { jar: a })).json.session_id;
  const aToken = token(a);
  const self = await revoke(a, { session_id: own });
  assert.equal(self.status, 303);
  assert.equal(self.headers.location, '/auth/login');
  assert.ok((self.headers['set-cookie'] || []).some((c) => /^sid=; .*Max-Age=0/.test(c)));
  assert.equal((await verifyWith(aToken)).status, 401);
});

test('"all others" ends more sessions than one page of the list holds', T, async () => {
  const bulk = [];
  for (let i = 0; i < 300; i++) {
    const r = await srv.api('POST', '/v1/sessions', { key: apiKey, body: { user: 'frank', client: { user_agent: `bulk ${i}` } } });
    assert.equal(r.status, 201, r.text);
    bulk.push(r.json.token);
  }
  const a = await signIn('frank', 'the one that stays');
  assert.equal(devices((await get('/auth/sessions', { jar: a })).text).ids.length, 256, 'the page is bounded');
  const all = await revoke(a, { others: '1' });
  assert.equal(all.status, 303, all.text);
  for (const t of [bulk[0], bulk[150], bulk[299]]) assert.equal((await verifyWith(t)).status, 401);
  const left = devices((await get('/auth/sessions', { jar: a })).text);
  assert.equal(left.ids.length, 1);
  assert.equal(left.current.length, 1);
  const list = await srv.api('GET', '/v1/users/frank/sessions', { key: apiKey });
  assert.equal(list.json.length, 1);
});

test('every form POST without its CSRF proof, or cross-site, is refused', T, async () => {
  const a = await signIn('bob', 'csrf A');
  const b = await signIn('bob', 'csrf B');
  const idB = (await get('/auth/whoami', { jar: b })).json.session_id;
  // Preferences, anonymous and signed in.
  const anon = new Jar();
  await get('/auth/preferences', { jar: anon });
  for (const jar of [anon, a]) {
    const r = await post('/auth/preferences', { jar, form: { language: 'fr', theme: 'dark', font_size: 'large' }, headers: { 'Accept-Language': 'de' } });
    assert.equal(r.status, 403);
    assert.ok(!(r.headers['set-cookie'] || []).some((c) => c.startsWith('sid_prefs=')), 'nothing saved');
    assert.match(r.text, /<p class="error" role="alert">Dieses Formular ist abgelaufen; bitte erneut versuchen\.<\/p>/);
    const j = await post('/auth/preferences', { jar, form: { language: 'fr', theme: 'dark', font_size: 'large' }, headers: { Accept: 'application/json' } });
    assert.equal(j.status, 403);
    assert.equal(j.json?.error, 'csrf_failed');
    const w = await post('/auth/preferences', { jar, form: { language: 'fr', theme: 'dark', font_size: 'large', csrf: 'A'.repeat(43) } });
    assert.equal(w.status, 403);
  }
  assert.match((await get('/auth/preferences', { jar: a })).text, /<html lang="en">/, 'nothing was saved');
  const cross = await savePrefs(a, { language: 'fr' }, { Origin: 'https://evil.example' });
  assert.equal(cross.status, 403, 'a right proof from another origin is refused');
  // A choice the form does not offer is refused with the page again (400), nothing saved.
  const odd = await savePrefs(a, { theme: 'neon' });
  assert.equal(odd.status, 400);
  assert.match(odd.text, /role="alert">Please choose one of the offered values\.</);
  // Revoke.
  const r = await revoke(a, { session_id: idB }, { csrf: false });
  assert.equal(r.status, 403);
  assert.match(r.text, /role="alert">This form has expired; please try again\.</);
  assert.equal((await verifyWith(token(b))).status, 200, 'nothing was revoked');
  const o = await revoke(a, { others: '1' }, { csrf: false });
  assert.equal(o.status, 403);
  assert.equal((await verifyWith(token(b))).status, 200);
  // Login.
  const l = await post('/auth/login', { jar: new Jar(), form: { username: 'bob', password: PASSWORD } });
  assert.equal(l.status, 403);
  // Keepalive: a wrong X-CSRF-Token is refused, the session's own is accepted.
  const bad = await post('/auth/keepalive', { jar: a, headers: { 'X-CSRF-Token': 'B'.repeat(43) } });
  assert.equal(bad.status, 403);
  const csrf = (await get('/auth/whoami', { jar: a })).json.csrf_token;
  const ok = await post('/auth/keepalive', { jar: a, headers: { 'X-CSRF-Token': csrf } });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(typeof ok.json.idle_expires_at, 'number');
});

test('every form of a signed-in page carries the session\'s CSRF token; a wrong one is refused', T, async () => {
  const a = await signIn('grace', 'token A');
  const b = await signIn('grace', 'token B');
  const mine = (await get('/auth/whoami', { jar: a })).json.csrf_token;
  const theirs = (await get('/auth/whoami', { jar: b })).json.csrf_token;
  assert.notEqual(mine, theirs, 'one token per session');
  for (const path of ['/auth/preferences', '/auth/sessions', '/auth/login?reauth=1&rd=/x']) {
    const page = await get(path, { jar: a });
    assert.equal(page.status, 200, path);
    const forms = page.text.match(/<form /g).length;
    const tokens = [...page.text.matchAll(/<input type="hidden" name="csrf_token" value="([^"]+)">/g)].map((m) => m[1]);
    assert.equal(tokens.length, forms, `${path}: every form (${forms}) carries csrf_token`);
    assert.ok(tokens.every((t) => t === mine), `${path}: the session's own token, the same in every form`);
  }
  const anon = await get('/auth/login', { jar: new Jar() });
  assert.doesNotMatch(anon.text, /csrf_token/, 'an anonymous page has no session token to give');

  // Another session's token (or a forged one) in a form is refused, and nothing happens.
  const idB = (await get('/auth/whoami', { jar: b })).json.session_id;
  for (const bad of [theirs, 'A'.repeat(43)]) {
    const r = await revoke(a, { session_id: idB, csrf_token: bad });
    assert.equal(r.status, 403);
    const p = await savePrefs(a, { language: 'de', csrf_token: bad });
    assert.equal(p.status, 403);
    const out = await post('/auth/logout', { jar: a, form: { csrf_token: bad } });
    assert.equal(out.status, 403);
    assert.equal(out.json?.error ?? 'csrf_failed', 'csrf_failed');
  }
  assert.equal((await verifyWith(token(b))).status, 200, 'nothing was revoked');
  assert.equal((await verifyWith(token(a))).status, 200, 'not signed out');
  const now = (await get('/auth/preferences', { jar: a })).text;
  assert.match(now, /<html lang="en"/, `nothing saved: ${now.slice(0, 80)}`);
  // The session's own token passes.
  assert.equal((await savePrefs(a, { language: 'fr', csrf_token: mine })).status, 303);
  const out = await post('/auth/logout', { jar: a, form: { csrf_token: mine } });
  assert.equal(out.status, 303);
  assert.equal((await verifyWith(token(b))).status, 200);
});

/* ASVS 3.5.1 / 7.4.1: a POST to logout or keepalive with neither Origin nor Sec-Fetch-Site
 * (which every browser sends on a POST) is no browser's word that it is same-origin: it needs
 * the session's CSRF token, whether the session came in the cookie or as a Bearer token. */
const bare = { 'Sec-Fetch-Site': null, Accept: 'application/json' };
const credentials = (jar) => [
  ['cookie', { jar }],
  ['bearer', { headers: { Authorization: `Bearer ${token(jar)}` } }],
];
const withHeaders = (opts, headers) => ({ ...opts, headers: { ...bare, ...opts.headers, ...headers } });

test('keepalive with neither Origin nor Sec-Fetch-Site needs the session\'s CSRF token (cookie or Bearer)', T, async () => {
  const jar = await signIn('heidi');
  const csrf = (await get('/auth/whoami', { jar })).json.csrf_token;
  for (const [what, opts] of credentials(jar)) {
    for (const headers of [{}, { 'X-CSRF-Token': 'A'.repeat(43) }]) {
      const no = await post('/auth/keepalive', withHeaders(opts, headers));
      assert.equal(no.status, 403, `${what} ${JSON.stringify(headers)}: ${no.text}`);
      assert.equal(no.json?.error, 'csrf_failed', `${what}: ${no.text}`);
    }
    assert.equal((await verifyWith(token(jar))).status, 200, `${what}: the session lives`);
    const cross = await post('/auth/keepalive', withHeaders(opts, { 'Sec-Fetch-Site': 'cross-site', 'X-CSRF-Token': csrf }));
    assert.equal(cross.status, 403, `${what}: cross-site stays refused, token or not`);
    for (const headers of [{ 'X-CSRF-Token': csrf }, { 'Sec-Fetch-Site': 'same-origin' }, { Origin: `http://127.0.0.1:${port}` }]) {
      const ok = await post('/auth/keepalive', withHeaders(opts, headers));
      assert.equal(ok.status, 200, `${what} ${JSON.stringify(headers)}: ${ok.text}`);
      assert.equal(typeof ok.json.idle_expires_at, 'number');
    }
  }
});

test('logout with neither Origin nor Sec-Fetch-Site needs the session\'s CSRF token (cookie or Bearer)', T, async () => {
  for (const kind of ['cookie', 'bearer']) {
    // Refused without the token (or with a wrong one): the session lives.
    const jar = await signIn('ivan');
    const opts = Object.fromEntries(credentials(jar))[kind];
    for (const headers of [{}, { 'X-CSRF-Token': 'A'.repeat(43) }]) {
      const no = await post('/auth/logout', withHeaders(opts, headers));
      assert.equal(no.status, 403, `${kind} ${JSON.stringify(headers)}: ${no.text}`);
      assert.equal(no.json?.error, 'csrf_failed', `${kind}: ${no.text}`);
      assert.equal((await verifyWith(token(jar))).status, 200, `${kind}: the refused logout ended nothing`);
    }
    // The token ends it: the cookie client as the pages' sign-out form sends it (a field), the
    // Bearer one as a header.
    const page = await get('/auth/preferences', { jar });
    const csrf = formFields(page.text).csrf_token;
    assert.equal(csrf, (await get('/auth/whoami', { jar })).json.csrf_token, 'the sign-out form carries the token');
    const out = kind === 'cookie'
      ? await post('/auth/logout', { ...withHeaders(opts, {}), form: { csrf_token: csrf } })
      : await post('/auth/logout', withHeaders(opts, { 'X-CSRF-Token': csrf }));
    assert.equal(out.status, 303, `${kind} with the token: ${out.text}`);
    assert.equal((await verifyWith(token(jar))).status, 401, `${kind}: signed out`);
    // A browser's own word, without the token, ends it too.
    for (const headers of [{ 'Sec-Fetch-Site': 'same-origin' }, { Origin: `http://127.0.0.1:${port}` }]) {
      const j = await signIn('ivan');
      const o = Object.fromEntries(credentials(j))[kind];
      const r = await post('/auth/logout', withHeaders(o, headers));
      assert.equal(r.status, 303, `${kind} ${JSON.stringify(headers)}: ${r.text}`);
      assert.equal((await verifyWith(token(j))).status, 401, `${kind} ${JSON.stringify(headers)}: signed out`);
    }
  }
});

test('logout with two session cookies and neither Origin nor Sec-Fetch-Site ends neither', T, async () => {
  const a = await signIn('judy', 'device A');
  const b = await signIn('judy', 'device B');
  const two = { Cookie: `sid=${token(a)}; sid=${token(b)}` };
  const no = await post('/auth/logout', { headers: { ...bare, ...two } });
  assert.equal(no.status, 403, no.text);
  assert.equal(no.json?.error, 'csrf_failed', no.text);
  for (const j of [a, b]) assert.equal((await verifyWith(token(j))).status, 200, 'both sessions live');
  const ok = await post('/auth/logout', { headers: { ...two, Accept: 'application/json', 'Sec-Fetch-Site': 'same-origin' } });
  assert.equal(ok.status, 303, ok.text);
  for (const j of [a, b]) assert.equal((await verifyWith(token(j))).status, 401, 'both ended');
});

test('session.js and style.css are served with their types, small, never cached', T, async () => {
  const js = await get('/auth/session.js');
  assert.equal(js.status, 200);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'no-store');
  assert.equal(js.headers['content-disposition'], undefined, 'only JSON answers are downloads');
  assert.ok(js.text.length < 4096, `session.js is ${js.text.length} bytes`);
  for (const s of ['BroadcastChannel', "addEventListener('storage'", '/keepalive', 'X-CSRF-Token', '/whoami', 'Stay signed in', 'alertdialog']) {
    assert.ok(js.text.includes(s), `session.js has ${s}`);
  }
  const css = await get('/auth/style.css');
  assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
  assert.match(css.text, /prefers-color-scheme:dark/);
  assert.match(css.text, /:root\[data-theme=dark\]/);
  assert.match(css.text, /html\[data-font=large\]/);
  assert.match(css.text, /:focus-visible/);
  // Anonymous pages do not load the script; the login page has labels and a main landmark.
  const page = await get('/auth/login');
  assert.ok(!page.text.includes('session.js'));
  assert.match(page.text, /<label for="username">Username<\/label>/);
  assert.match(page.text, /<main id="main">/);
  assert.match(page.headers['content-security-policy'], /script-src 'self'/);
});

test('remember_me = off: the login page offers no "keep me signed in", and a form that asks for it is refused', T, async () => {
  const p = await freePort();
  const data = sb.dataDir();
  const config = sb.writeFile('remember-off.ini', `[server]\npublic_url = http://127.0.0.1:${p}\n[login]\nargon2_ops = 1\nargon2_mem = 8m\n[session]\nremember_me = off\n`);
  await addUser(data, 'alice', { config });
  const s = await sb.start({ data, config, args: ['--listen', `127.0.0.1:${p}`] });
  try {
    const on = await get('/auth/login');
    assert.match(on.text, /name="remember"/, 'the default server offers it');
    const jar = new Jar();
    const page = await browse(p, 'GET', '/auth/login', { jar });
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.text, /name="remember"/);
    const asked = await browse(p, 'POST', '/auth/login', { jar, form: { ...formFields(page.text), username: 'alice', password: PASSWORD, remember: '1' } });
    assert.equal(asked.status, 400, asked.text);
    assert.match(asked.text, /Keep me signed in.{0,8} is turned off/);
    assert.equal(jar.cookies.get('sid'), undefined, 'no session');
    const fr = await browse(p, 'POST', '/auth/login', { jar, headers: { 'Accept-Language': 'fr' }, form: { ...formFields(asked.text), username: 'alice', password: PASSWORD, remember: '1' } });
    assert.match(fr.text, /Rester connect.{1,12}est d.sactiv/);
    const ok = await login(p, jar, 'alice', PASSWORD);
    assert.equal(ok.status, 303, ok.text);
    assert.match(ok.headers['set-cookie'].find((c) => c.startsWith('sid=')), /^sid=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/, 'a browser-session cookie');
  } finally {
    await s.stop();
  }
});

test('ending another device takes the password again once the login is older than devices_fresh (ASVS 7.5.2)', T, async () => {
  const p = await freePort();
  const data = sb.dataDir();
  const config = sb.writeFile('devices-fresh.ini', `[server]\npublic_url = http://127.0.0.1:${p}\n[login]\nargon2_ops = 1\nargon2_mem = 8m\n[session]\ndevices_fresh = 3s\n[rule app]\npolicy = authenticated\n`);
  await addUser(data, 'erin', { config });
  const s = await sb.start({ data, config, args: ['--listen', `127.0.0.1:${p}`] });
  const at = (method, path, opts) => browse(p, method, path, opts);
  const verifyAt = (t) => at('GET', '/auth/verify', { headers: { Cookie: `sid=${t}`, 'X-Forwarded-Uri': '/app', 'X-Forwarded-Method': 'GET' } });
  const revokeAt = async (jar, fields, headers = {}) => {
    const page = await at('GET', '/auth/sessions', { jar });
    return at('POST', '/auth/sessions/revoke', { jar, headers, form: { ...fields, csrf: formFields(page.text).csrf } });
  };
  try {
    const a = new Jar();
    const b = new Jar();
    const c = new Jar();
    for (const j of [a, b, c]) assert.equal((await login(p, j, 'erin', PASSWORD)).status, 303);
    const idB = (await at('GET', '/auth/whoami', { jar: b })).json.session_id;
    await new Promise((res) => setTimeout(res, 3300));
    // Stale: a browser is sent to the step-up form, which comes back here; a script gets 403.
    const stale = await revokeAt(a, { session_id: idB });
    assert.equal(stale.status, 303, stale.text);
    assert.equal(stale.headers.location, '/auth/login?reauth=1&rd=/auth/sessions');
    const staleAll = await revokeAt(a, { others: '1' }, { Accept: 'application/json' });
    assert.equal(staleAll.status, 403, staleAll.text);
    assert.equal(staleAll.headers['x-auth-reason'], 'reauth');
    assert.equal((await verifyAt(b.cookies.get('sid'))).status, 200, 'nothing ended meanwhile');
    assert.equal((await verifyAt(c.cookies.get('sid'))).status, 200);
    // The step-up form: the password again, then back to the devices page.
    const form = await at('GET', stale.headers.location, { jar: a });
    assert.match(form.text, /name="username"[^>]*value="erin" readonly/);
    const ok = await at('POST', '/auth/login', { jar: a, form: { ...formFields(form.text), username: 'erin', password: PASSWORD } });
    assert.equal(ok.status, 303, ok.text);
    assert.equal(ok.headers.location, '/auth/sessions');
    const one = await revokeAt(a, { session_id: idB });
    assert.equal(one.status, 303, one.text);
    assert.equal(one.headers.location, '/auth/sessions?revoked=1');
    assert.equal((await verifyAt(b.cookies.get('sid'))).status, 401, 'ended after the password');
    const all = await revokeAt(a, { others: '1' });
    assert.equal(all.status, 303);
    assert.equal((await verifyAt(c.cookies.get('sid'))).status, 401);
    assert.equal((await verifyAt(a.cookies.get('sid'))).status, 200, 'the current session lives on');
  } finally {
    await s.stop();
  }
});

test('no JSONP and no user data in scripts (ASVS 3.5.6, 3.5.7): a callback parameter changes nothing; session.js is the same for everyone', T, async () => {
  const jar = await signIn('grace', 'jsonp');
  for (const p of ['/auth/whoami', '/auth/whoami?callback=steal', '/auth/whoami?jsonp=steal&callback=steal']) {
    const r = await get(p, { jar });
    assert.equal(r.status, 200, p);
    assert.equal(r.headers['content-type'], 'application/json', p);
    assert.equal(r.headers['x-content-type-options'], 'nosniff', p);
    assert.ok(r.text.startsWith('{') && !r.text.includes('steal'), `${p}: plain JSON, not wrapped: ${r.text.slice(0, 40)}`);
  }
  const v1 = await browse(port, 'GET', `/v1/users/grace/sessions?callback=steal`, { headers: { Authorization: `Bearer ${apiKey}` } });
  assert.equal(v1.status, 200, v1.text);
  assert.equal(v1.headers['content-type'], 'application/json');
  assert.ok(v1.text.startsWith('[') && !v1.text.includes('steal'));
  const anon = await get('/auth/session.js');
  const mine = await get('/auth/session.js', { jar });
  assert.equal(mine.text, anon.text, 'the script carries nothing of the signed-in user');
  assert.ok(!mine.text.includes('grace'));
  const who = (await get('/auth/whoami', { jar })).json;
  assert.ok(!mine.text.includes(who.csrf_token) && !mine.text.includes(who.session_id));
});
