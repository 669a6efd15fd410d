// cookies.test.mjs - the set_cookie of create/rotate under different configurations (contract
// section 3) and the CSRF answer of verify (section 5).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, startWithKey, createSession, verify, assertError, run, httpRequest, sleep, TEST_TIMEOUT_MS } from './lib.mjs';
import { Jar, browse, formFields } from './gateway-lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb;

before(() => {
  sb = new Sandbox();
});
after(async () => {
  await sb?.cleanup();
});

/* Parses "name=value; A; B=c" into {name, value, attrs: Map(lowercase name -> value|true)}. */
function parseCookie(text) {
  const [pair, ...rest] = text.split(';');
  const eq = pair.indexOf('=');
  const attrs = new Map();
  for (const a of rest) {
    const t = a.trim();
    const i = t.indexOf('=');
    attrs.set((i < 0 ? t : t.slice(0, i)).toLowerCase(), i < 0 ? true : t.slice(i + 1));
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1), attrs };
}

/* RFC 6265bis cookie prefixes: __Host- needs Secure, Path=/ and no Domain; __Secure- needs Secure. */
function assertPrefixRules(ck, raw) {
  if (ck.name.startsWith('__Host-')) {
    assert.equal(ck.attrs.get('secure'), true, `__Host- cookie without Secure: ${raw}`);
    assert.equal(ck.attrs.get('path'), '/', `__Host- cookie without Path=/: ${raw}`);
    assert.ok(!ck.attrs.has('domain'), `__Host- cookie with a Domain (browsers drop it): ${raw}`);
  }
  if (ck.name.startsWith('__Secure-')) assert.equal(ck.attrs.get('secure'), true, raw);
}

async function cookieFor(configText, body = { user: 'alice' }) {
  const cfg = sb.writeFile(`c${Math.random().toString(36).slice(2)}.ini`, configText);
  const s = await startWithKey(sb, { config: cfg });
  try {
    const c = await createSession(s, body);
    const rot = await s.api('POST', '/v1/sessions/rotate', { body: { token: c.token } });
    assert.equal(rot.status, 200);
    return { c, ck: parseCookie(c.set_cookie), rotated: parseCookie(rot.json.set_cookie), raw: c.set_cookie, rot: rot.json };
  } finally {
    await s.stop();
  }
}

describe('set_cookie', () => {
  test('https public_url: __Host-sid with Secure, Path=/, HttpOnly, SameSite=Lax', T, async () => {
    const { c, ck, rotated, raw, rot } = await cookieFor('[server]\npublic_url = https://auth.example.com\n');
    assert.equal(ck.name, '__Host-sid', raw);
    assert.equal(ck.value, c.token);
    assert.equal(ck.attrs.get('secure'), true, raw);
    assert.equal(ck.attrs.get('httponly'), true, raw);
    assert.equal(ck.attrs.get('samesite'), 'Lax', raw);
    assert.equal(ck.attrs.get('path'), '/', raw);
    assert.ok(!ck.attrs.has('max-age'), raw);
    assertPrefixRules(ck, raw);
    assert.equal(rotated.name, '__Host-sid');
    assert.equal(rotated.value, rot.token, 'the rotated cookie carries the new token');
    assert.equal(rotated.attrs.get('secure'), true);
  });

  test('cookie_name, same_site = strict and cookie_domain are honoured over http', T, async () => {
    const { ck, raw } = await cookieFor('[session]\ncookie_name = appsid\nsame_site = strict\ncookie_domain = example.com\n');
    assert.equal(ck.name, 'appsid', raw);
    assert.equal(ck.attrs.get('samesite'), 'Strict', raw);
    assert.equal(ck.attrs.get('domain'), 'example.com', raw);
    assert.ok(!ck.attrs.has('secure'), raw);
  });

  test('same_site = none with https: SameSite=None; Secure', T, async () => {
    const { ck, raw } = await cookieFor('[server]\npublic_url = https://auth.example.com\n[session]\nsame_site = none\n');
    assert.equal(ck.attrs.get('samesite'), 'None', raw);
    assert.equal(ck.attrs.get('secure'), true, raw);
  });

  test('same_site = none without https is a configuration error', T, async () => {
    const f = sb.writeFile('ss-none.ini', '[session]\nsame_site = none\n');
    const r = await run(['config', 'check', '-c', f]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.startsWith('sessiond: '), r.stderr);
    assert.match(r.stderr, /same_site/, r.stderr);
  });

  test('a cookie without Secure or without a prefix: config check and serve warn, require_secure refuses', T, async () => {
    const cases = {
      'plain http': ['', /without Secure/],
      'https, unprefixed name': ['[server]\npublic_url = https://auth.example.com\n[session]\ncookie_name = sid\n', /no __Host- or __Secure- prefix/],
    };
    for (const [what, [text, why]] of Object.entries(cases)) {
      const f = sb.writeFile(`insecure-${what.replace(/\W+/g, '-')}.ini`, text);
      const chk = await run(['config', 'check', '-c', f]);
      assert.equal(chk.code, 0, `${what}: ${chk.stderr}`);
      assert.match(chk.stderr, /^sessiond: warning: /, what);
      assert.match(chk.stderr, why, what);
      const strict = sb.writeFile(`strict-${what.replace(/\W+/g, '-')}.ini`, text.includes('[session]') ? `${text}require_secure = true\n` : `${text}[session]\nrequire_secure = true\n`);
      const refused = await run(['config', 'check', '-c', strict]);
      assert.equal(refused.code, 2, `${what}: ${refused.stderr}`);
      assert.match(refused.stderr, /\[session\] require_secure: /, what);
      assert.match(refused.stderr, why, what);
    }
    // serve says it at start, as a warning log line.
    const s = await startWithKey(sb, { config: sb.writeFile('insecure-serve.ini', '[server]\npublic_url = https://auth.example.com\n[session]\ncookie_name = sid\n') });
    try {
      // Logged just after the "listening" line that start() waits for: give it a moment.
      for (let i = 0; i < 100 && !/warn.*no __Host- or __Secure- prefix/.test(s.output); i++) await sleep(50);
      assert.match(s.output, /warn.*no __Host- or __Secure- prefix/);
    } finally {
      await s.stop();
    }
    const ok = sb.writeFile('secure.ini', '[server]\npublic_url = https://auth.example.com\n[session]\nrequire_secure = true\n');
    const good = await run(['config', 'check', '-c', ok]);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stderr, '', 'no warning for __Host-sid under https');
  });

  test('https: the login nonce and anonymous preferences cookies are __Host- and Secure too', T, async () => {
    const s = await startWithKey(sb, { config: sb.writeFile('https-pages.ini', '[server]\npublic_url = https://auth.example.com\n') });
    try {
      const origin = { Origin: 'https://auth.example.com' };
      const jar = new Jar();
      const page = await browse(s.port, 'GET', '/auth/login', { jar });
      assert.equal(page.status, 200, page.text);
      const nonce = (page.headers['set-cookie'] || []).find((c) => c.startsWith('__Host-sid_login='));
      assert.ok(nonce, `the login nonce cookie: ${page.headers['set-cookie']}`);
      assert.match(nonce, /; Path=\/;.*Secure/);
      assert.doesNotMatch(nonce, /Domain=/i);
      const prefs = await browse(s.port, 'GET', '/auth/preferences', { jar });
      assert.equal(prefs.status, 200, prefs.text);
      const saved = await browse(s.port, 'POST', '/auth/preferences', { jar, headers: origin,
        form: { language: 'de', theme: 'dark', font_size: 'large', csrf: formFields(prefs.text).csrf } });
      assert.equal(saved.status, 303, saved.text);
      const set = (saved.headers['set-cookie'] || []).find((c) => c.startsWith('__Host-sid_prefs='));
      assert.ok(set, `the anonymous preferences cookie: ${saved.headers['set-cookie']}`);
      assert.match(set, /; Path=\/;.*Secure/);
      assert.doesNotMatch(set, /Domain=/i);
    } finally {
      await s.stop();
    }
  });

  test('https with a cookie_domain never yields an invalid __Host- cookie', T, async () => {
    // A __Host- cookie must not carry Domain; either the name changes or Domain is left out, or
    // the configuration is refused.
    const f = sb.writeFile('host-domain.ini', '[server]\npublic_url = https://auth.example.com\n[session]\ncookie_domain = example.com\n');
    const chk = await run(['config', 'check', '-c', f]);
    if (chk.code === 2) return; // refused with an error: acceptable
    assert.equal(chk.code, 0, chk.stderr);
    const { ck, raw } = await cookieFor('[server]\npublic_url = https://auth.example.com\n[session]\ncookie_domain = example.com\n');
    assertPrefixRules(ck, raw);
  });

  test('remember: Max-Age equals remember_me (configured 2h) and the rotated cookie keeps it', T, async () => {
    const { c, ck, rotated, raw } = await cookieFor('[session]\nremember_me = 2h\n', { user: 'alice', remember: true });
    const age = Number(ck.attrs.get('max-age'));
    assert.ok(age > 7200 - 10 && age <= 7200, raw);
    assert.ok(Math.abs(c.expires_at - (Date.now() / 1000 + 7200)) < 10);
    assert.ok(rotated.attrs.has('max-age'), 'rotate keeps remember-me');
  });
});

describe('verify: CSRF', () => {
  let s;
  let c;
  before(async () => {
    const cfg = sb.writeFile('csrf.ini', '[csrf]\nallowed_origins = https://app.example.com\n');
    s = await startWithKey(sb, { config: cfg });
    c = await createSession(s, { user: 'alice' });
  });
  after(async () => {
    if (s?.running) await s.stop();
  });

  test('safe methods need no proof', T, async () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) {
      assert.equal((await verify(s, c.token, { method })).status, 200, method);
    }
    assert.equal((await verify(s, c.token, { method: 'GET', origin: 'https://evil.example' })).status, 200);
  });

  test('an unsafe method with neither token nor allowed origin is 403 csrf_failed', T, async () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'post']) {
      assertError(await verify(s, c.token, { method }), 403, 'csrf_failed', method);
      assertError(await verify(s, c.token, { method, origin: 'https://evil.example' }), 403, 'csrf_failed', `${method} evil origin`);
      assertError(await verify(s, c.token, { method, origin: 'https://app.example.com.evil.example' }), 403, 'csrf_failed', 'origin suffix trick');
      assertError(await verify(s, c.token, { method, csrf_token: 'A'.repeat(43) }), 403, 'csrf_failed', `${method} wrong token`);
    }
  });

  test('the session\'s csrf token or an allowed origin passes', T, async () => {
    const v = await verify(s, c.token, { method: 'POST', csrf_token: c.csrf_token });
    assert.equal(v.status, 200, v.text);
    assert.equal((await verify(s, c.token, { method: 'DELETE', origin: 'https://app.example.com' })).status, 200);
  });

  test('one session\'s csrf token does not pass for another session', T, async () => {
    const other = await createSession(s, { user: 'alice' });
    assertError(await verify(s, c.token, { method: 'POST', csrf_token: other.csrf_token }), 403, 'csrf_failed');
  });

  test('a CSRF failure does not reveal the session', T, async () => {
    const r = await verify(s, c.token, { method: 'POST' });
    assert.equal(r.status, 403);
    assert.ok(!r.text.includes('alice'), r.text);
    assert.ok(!r.text.includes(c.session_id), r.text);
  });

  test('same-origin (public_url\'s origin) passes; a cross-site POST, PUT, PATCH or DELETE without the token does not', T, async () => {
    const own = await startWithKey(sb, { config: sb.writeFile('own.ini', '[server]\npublic_url = https://bank.example.com/auth-base\n') });
    try {
      const mine = await createSession(own, { user: 'alice' });
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        assertError(await verify(own, mine.token, { method, origin: 'https://bank.example.com.evil.example' }), 403, 'csrf_failed', method);
        assertError(await verify(own, mine.token, { method, origin: 'http://bank.example.com' }), 403, 'csrf_failed', `${method} other scheme`);
        assert.equal((await verify(own, mine.token, { method, origin: 'https://bank.example.com' })).status, 200, `${method} same origin`);
      }
    } finally {
      await own.stop();
    }
  });

  test('after a rotation the CSRF token is the one rotate answers, and it passes with the new token', T, async () => {
    const mine = await createSession(s, { user: 'alice' });
    const rot = await s.api('POST', '/v1/sessions/rotate', { body: { token: mine.token } });
    assert.equal(rot.status, 200);
    const v = await verify(s, rot.json.token, { method: 'POST', csrf_token: rot.json.csrf_token });
    assert.equal(v.status, 200, v.text);
    assert.equal(v.json.csrf_token, rot.json.csrf_token, 'verify hands out the same token rotate did');
    assertError(await verify(s, rot.json.token, { method: 'POST', csrf_token: c.csrf_token }), 403, 'csrf_failed', 'another session\'s token');
  });

  test('an invalid session is 404 whatever the CSRF fields say', T, async () => {
    assertError(await verify(s, 'A'.repeat(43), { method: 'POST', csrf_token: c.csrf_token }), 404, 'invalid_session');
  });
});

describe('verify: CSRF with require_token', () => {
  test('an allowed origin alone is not enough; the token is', T, async () => {
    const cfg = sb.writeFile('csrf-req.ini', '[csrf]\nallowed_origins = https://app.example.com\nrequire_token = true\n[rule app]\npolicy = authenticated\n');
    const s = await startWithKey(sb, { config: cfg });
    try {
      const c = await createSession(s, { user: 'alice' });
      assertError(await verify(s, c.token, { method: 'POST', origin: 'https://app.example.com' }), 403, 'csrf_failed');
      assert.equal((await verify(s, c.token, { method: 'POST', origin: 'https://app.example.com', csrf_token: c.csrf_token })).status, 200);
      // The gateway's verify applies the same policy: a same-origin browser is not enough.
      const gw = (headers) => httpRequest(s.port, 'GET', '/auth/verify', {
        headers: { Cookie: `sid=${c.token}`, 'X-Forwarded-Method': 'POST', 'X-Forwarded-Uri': '/x', 'X-Forwarded-Host': 'app.test', ...headers },
      });
      assert.equal((await gw({ 'Sec-Fetch-Site': 'same-origin' })).status, 403);
      assert.equal((await gw({ Origin: 'https://app.example.com' })).status, 403);
      assert.equal((await gw({ 'X-CSRF-Token': c.csrf_token })).status, 200);
    } finally {
      await s.stop();
    }
  });
});

describe('bind_user_agent', () => {
  const cfg = '[session]\nbind_user_agent = true\n[rule app]\npolicy = authenticated\n';
  const fwd = (token, ua) => ({
    headers: { Cookie: `sid=${token}`, 'User-Agent': ua, 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/app', 'X-Forwarded-Host': 'app.test' },
  });
  const whoami = (s, token, ua) => httpRequest(s.port, 'GET', '/auth/whoami', { headers: { Cookie: `sid=${token}`, 'User-Agent': ua } });
  let s;
  before(async () => {
    s = await startWithKey(sb, { config: sb.writeFile('bind.ini', cfg) });
  });
  after(async () => {
    if (s?.running) await s.stop();
  });
  const create = () => createSession(s, { user: 'alice', client: { user_agent: 'Browser/1 (bound)' } });

  test('the creating user agent passes everywhere', T, async () => {
    const c = await create();
    assert.equal((await httpRequest(s.port, 'GET', '/auth/verify', fwd(c.token, 'Browser/1 (bound)'))).status, 200);
    assert.equal((await whoami(s, c.token, 'Browser/1 (bound)')).status, 200);
    assert.equal((await verify(s, c.token, { client: { user_agent: 'Browser/1 (bound)' } })).status, 200);
    assert.equal((await verify(s, c.token)).status, 200, 'a backend that passes no user agent is not checked');
  });

  test('verify with another user agent: 401 and the session is gone for everyone', T, async () => {
    const c = await create();
    const r = await httpRequest(s.port, 'GET', '/auth/verify', fwd(c.token, 'Thief/9'));
    assert.equal(r.status, 401);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal((await whoami(s, c.token, 'Browser/1 (bound)')).status, 401);
    assertError(await verify(s, c.token, { client: { user_agent: 'Browser/1 (bound)' } }), 404, 'invalid_session');
    assertError(await s.api('GET', `/v1/sessions/${c.session_id}`), 404, 'not_found', 'deleted, not just refused');
  });

  test('whoami with another user agent: 401 and the session is gone', T, async () => {
    const c = await create();
    assert.equal((await whoami(s, c.token, 'Thief/9')).status, 401);
    assert.equal((await httpRequest(s.port, 'GET', '/auth/verify', fwd(c.token, 'Browser/1 (bound)'))).status, 401);
  });

  test('/v1/sessions/verify with another client.user_agent: 404 and the session is gone', T, async () => {
    const c = await create();
    assertError(await verify(s, c.token, { client: { user_agent: 'Thief/9' } }), 404, 'invalid_session');
    assert.equal((await whoami(s, c.token, 'Browser/1 (bound)')).status, 401);
    assertError(await verify(s, c.token, { client: { user_agent: 3 } }), 400, 'invalid_request', 'client is checked');
  });

  test('without bind_user_agent another user agent is fine', T, async () => {
    const plain = await startWithKey(sb, { config: sb.writeFile('nobind.ini', '[rule app]\npolicy = authenticated\n') });
    try {
      const c = await createSession(plain, { user: 'alice', client: { user_agent: 'Browser/1' } });
      assert.equal((await verify(plain, c.token, { client: { user_agent: 'Other/2' } })).status, 200);
      assert.equal((await httpRequest(plain.port, 'GET', '/auth/verify', fwd(c.token, 'Other/2'))).status, 200);
    } finally {
      await plain.stop();
    }
  });
});

describe('/auth answers: no-store, logout cookie and Clear-Site-Data', () => {
  let s;
  before(async () => {
    const cfg = sb.writeFile('auth-https.ini', [
      '[server]', 'public_url = https://auth.example.com',
      '[session]', 'same_site = strict', 'clear_site_data = "cache", "storage"',
      '[rule admin]', 'path = /admin/*', 'policy = role:admin',
      '[rule fresh]', 'path = /bank/*', 'policy = fresh:1h',
      '[rule app]', 'policy = authenticated', '',
    ].join('\n'));
    s = await startWithKey(sb, { config: cfg });
  });
  after(async () => {
    if (s?.running) await s.stop();
  });
  const vfy = (uri, headers = {}, method = 'GET') => httpRequest(s.port, 'GET', '/auth/verify', {
    headers: { 'X-Forwarded-Method': method, 'X-Forwarded-Uri': uri, 'X-Forwarded-Host': 'app.test', ...headers },
  });

  test('every status under /auth carries Cache-Control: no-store', T, async () => {
    const c = await createSession(s, { user: 'alice' });
    const cookie = { Cookie: `__Host-sid=${c.token}` };
    const answers = {
      'verify 200': await vfy('/x', cookie),
      'verify 401': await vfy('/x'),
      'verify 401 JSON': await vfy('/x', { Accept: 'application/json' }),
      'verify 403 role': await vfy('/admin/x', cookie),
      'verify 403 csrf': await vfy('/x', cookie, 'POST'),
      'verify 400': await httpRequest(s.port, 'GET', '/auth/verify'),
      // No forwarded method: verify's own (an auth_request subrequest is always a GET) would
      // let a POST be judged as a GET, so the description is refused as incomplete.
      'verify 400 no method': await httpRequest(s.port, 'GET', '/auth/verify', { headers: { 'X-Forwarded-Uri': '/x', 'X-Forwarded-Host': 'app.test', ...cookie } }),
      'verify 414': await vfy(`/${'a'.repeat(9000)}`, cookie),
      'whoami 200': await httpRequest(s.port, 'GET', '/auth/whoami', { headers: cookie }),
      'whoami 401': await httpRequest(s.port, 'GET', '/auth/whoami'),
      'login page 200': await httpRequest(s.port, 'GET', '/auth/login'),
      'login 403': await httpRequest(s.port, 'POST', '/auth/login', { rawBody: 'username=a&password=b', contentType: 'application/x-www-form-urlencoded' }),
      'unknown 404': await httpRequest(s.port, 'GET', '/auth/nope'),
      'wrong method 405': await httpRequest(s.port, 'DELETE', '/auth/whoami'),
      'keepalive 401': await httpRequest(s.port, 'POST', '/auth/keepalive'),
    };
    const want = { 'verify 200': 200, 'verify 401': 401, 'verify 401 JSON': 401, 'verify 403 role': 403, 'verify 403 csrf': 403, 'verify 400': 400, 'verify 400 no method': 400, 'verify 414': 414, 'whoami 200': 200, 'whoami 401': 401, 'login page 200': 200, 'login 403': 403, 'unknown 404': 404, 'wrong method 405': 405, 'keepalive 401': 401 };
    for (const [what, r] of Object.entries(answers)) {
      assert.equal(r.status, want[what], what);
      assert.equal(r.headers['cache-control'], 'no-store', what);
    }
    assert.equal(answers['verify 403 role'].headers['x-auth-reason'], undefined, 'a role 403 is not a step-up');
  });

  test('a fresh: rule with an old login answers 403 with X-Auth-Reason: reauth; ?redirect=1 sends a navigation to the step-up form', T, async () => {
    const cfg = sb.writeFile('fresh0.ini', '[rule fresh]\npath = /bank/*\npolicy = fresh:1s\n[rule app]\npolicy = authenticated\n');
    const f = await startWithKey(sb, { config: cfg });
    try {
      const c = await createSession(f, { user: 'alice' });
      const h = { Cookie: `sid=${c.token}`, 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/bank/pay?to=bob&x=1', 'X-Forwarded-Host': 'app.test' };
      const deadline = Date.now() + 20000;
      let r;
      while ((r = await httpRequest(f.port, 'GET', '/auth/verify', { headers: h })).status === 200 && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 200));
      }
      assert.equal(r.status, 403);
      assert.equal(r.headers['x-auth-reason'], 'reauth');
      const j = await httpRequest(f.port, 'GET', '/auth/verify', { headers: { ...h, Accept: 'application/json' } });
      assertError(j, 403, 'forbidden');
      const nav = await httpRequest(f.port, 'GET', '/auth/verify?redirect=1', { headers: h });
      assert.equal(nav.status, 302);
      assert.equal(nav.headers.location, '/auth/login?reauth=1&rd=/bank/pay%3Fto%3Dbob%26x%3D1');
      assert.equal(nav.headers['x-auth-reason'], 'reauth');
    } finally {
      await f.stop();
    }
  });

  test('logout clears the cookie with the same attributes and sends the configured Clear-Site-Data', T, async () => {
    const c = await createSession(s, { user: 'alice' });
    const made = parseCookie(c.set_cookie);
    // A cookie alone, without the browser's Origin/Sec-Fetch-Site or the session's CSRF token:
    // refused (a logout forged by another page must not end the session), then the browser's.
    const bare = await httpRequest(s.port, 'POST', '/auth/logout', { headers: { Cookie: `__Host-sid=${c.token}` } });
    assert.equal(bare.status, 403, 'a cookie without any same-origin evidence');
    assert.equal((await verify(s, c.token)).status, 200, 'the refused logout ended nothing');
    const out = await httpRequest(s.port, 'POST', '/auth/logout', { headers: { Cookie: `__Host-sid=${c.token}`, 'Sec-Fetch-Site': 'same-origin' } });
    assert.equal(out.status, 303);
    assert.equal(out.headers['cache-control'], 'no-store');
    assert.equal(out.headers['clear-site-data'], '"cache", "storage"');
    const raw = (out.headers['set-cookie'] || []).find((x) => x.startsWith('__Host-sid='));
    assert.ok(raw, 'the session cookie is cleared');
    const gone = parseCookie(raw);
    assert.equal(gone.value, '');
    assert.equal(gone.attrs.get('max-age'), '0');
    for (const a of ['path', 'secure', 'httponly', 'samesite', 'domain']) assert.equal(gone.attrs.get(a), made.attrs.get(a), a);
    assert.equal(made.attrs.get('samesite'), 'Strict');
    assert.ok(!made.attrs.has('max-age'), 'no Max-Age without remember-me');
    assertError(await verify(s, c.token), 404, 'invalid_session');
  });

  test('an empty clear_site_data sends no Clear-Site-Data', T, async () => {
    const e = await startWithKey(sb, { config: sb.writeFile('csd.ini', '[session]\nclear_site_data =\n') });
    try {
      const out = await httpRequest(e.port, 'POST', '/auth/logout');
      assert.equal(out.status, 303);
      assert.equal(out.headers['clear-site-data'], undefined);
    } finally {
      await e.stop();
    }
  });
});
