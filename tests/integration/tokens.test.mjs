// tokens.test.mjs - bearer clients (contract section 4; docs/tokens.md): POST /auth/api/login,
// /auth/api/refresh and /auth/api/logout, and the access token accepted as Authorization: Bearer
// wherever the session cookie is. Over lmdb (the default store) and redis.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, createApiKey, assertError, httpRequest, leakSecret, sleep, TOKEN_RE, TEST_TIMEOUT_MS } from './lib.mjs';
import { addUser, PASSWORD } from './gateway-lib.mjs';

const GRACE = 2; // [session] rotate_grace, seconds
const REFRESH_RE = /^[0-9a-f]{32}\.[A-Za-z0-9_-]{43}$/;

const sb = new Sandbox('sessiond-tokens-');
// Servers stop with SIGTERM (exit 0, no sanitizer report, admin socket removed), then the
// sandbox goes.
after(async () => {
  try {
    for (const s of sb.servers) if (s.running) await s.stop();
  } finally {
    await sb.cleanup();
  }
});

function config(extra = '', grace = GRACE) {
  return sb.writeFile(`tokens-${++sb.n}.ini`, `[login]\nargon2_ops = 1\nargon2_mem = 8m\nmax_failures = 4\n` +
    `[session]\nrotate_grace = ${grace}s\naccess_ttl = 10m\n[rule app]\npolicy = authenticated\n${extra}`);
}

async function startServer({ store, grace = GRACE } = {}) {
  const data = sb.dataDir();
  let cfg;
  if (store === 'redis') {
    const redis = await sb.startRedis({ persist: false });
    cfg = config(`[store]\nkind = redis\nredis_url = ${redis.url}\nredis_prefix = tok${sb.n}:\n`, grace);
  } else {
    cfg = config('', grace);
  }
  await addUser(data, 'alice', { config: cfg });
  await addUser(data, 'bob', { config: cfg });
  const s = await sb.start({ data, config: cfg });
  s.key = await createApiKey(data, 'it', ['-c', cfg]);
  return s;
}

const post = (s, p, body, opts = {}) => httpRequest(s.port, 'POST', p, { body, ...opts });
const bearer = (tok) => ({ headers: { Authorization: `Bearer ${tok}` } });

async function apiLogin(s, username = 'alice', password = PASSWORD) {
  const r = await post(s, '/auth/api/login', { username, password });
  assert.equal(r.status, 200, `api login: ${r.text}`);
  leakSecret(r.json.access_token);
  leakSecret(r.json.refresh_token);
  assert.match(r.json.access_token, TOKEN_RE);
  assert.match(r.json.refresh_token, REFRESH_RE);
  assert.equal(r.json.expires_in, 600);
  assert.equal(r.json.token_type, 'Bearer');
  assert.match(r.headers['cache-control'] || '', /no-store/);
  assert.equal(r.headers['set-cookie'], undefined, 'no cookie for a bearer client');
  return r.json;
}

async function refresh(s, refreshToken) {
  const r = await post(s, '/auth/api/refresh', { refresh_token: refreshToken });
  if (r.status === 200) {
    leakSecret(r.json.access_token);
    leakSecret(r.json.refresh_token);
  }
  return r;
}

const whoami = (s, tok) => httpRequest(s.port, 'GET', '/auth/whoami', bearer(tok));

for (const store of ['lmdb', 'redis']) {
  test(`${store}: api login, the access token as Bearer everywhere, refresh, logout`, { timeout: TEST_TIMEOUT_MS }, async () => {
    const s = await startServer({ store });
    const t = await apiLogin(s);
    let r = await whoami(s, t.access_token);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.user, 'alice');
    const fwd = { 'X-Forwarded-Uri': '/app', 'X-Forwarded-Method': 'GET', 'X-Forwarded-Host': 'app.test' };
    r = await httpRequest(s.port, 'GET', '/auth/verify', { headers: { ...fwd, ...bearer(t.access_token).headers } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-auth-user'], 'alice');
    // Keepalive is an unsafe request without a browser's word (no Origin, no Sec-Fetch-Site):
    // it needs the session's CSRF token, which whoami gives.
    r = await httpRequest(s.port, 'POST', '/auth/keepalive', bearer(t.access_token));
    assertError(r, 403, 'csrf_failed', 'keepalive without the CSRF token');
    const csrf = (await whoami(s, t.access_token)).json.csrf_token;
    r = await httpRequest(s.port, 'POST', '/auth/keepalive', { headers: { ...bearer(t.access_token).headers, 'X-CSRF-Token': csrf } });
    assert.equal(r.status, 200, r.text);
    r = await httpRequest(s.port, 'GET', '/auth/sessions', { headers: { ...bearer(t.access_token).headers, Accept: 'application/json' } });
    assert.equal(r.status, 200, r.text);
    r = await httpRequest(s.port, 'GET', '/auth/preferences', { headers: { ...bearer(t.access_token).headers } });
    assert.equal(r.status, 200);
    r = await s.api('POST', '/v1/sessions/verify', { body: { token: t.access_token } });
    assert.equal(r.status, 200);
    // The refresh token is no access token.
    r = await whoami(s, t.refresh_token);
    assert.equal(r.status, 401);

    const n = await refresh(s, t.refresh_token);
    assert.equal(n.status, 200, n.text);
    assert.notEqual(n.json.access_token, t.access_token);
    assert.notEqual(n.json.refresh_token, t.refresh_token);
    assert.equal((await whoami(s, t.access_token)).status, 401, 'a refresh ends the old access token');
    assert.equal((await whoami(s, n.json.access_token)).status, 200);

    r = await httpRequest(s.port, 'POST', '/auth/api/logout', bearer(n.json.access_token));
    assert.equal(r.status, 204, r.text);
    assert.equal((await whoami(s, n.json.access_token)).status, 401);
    assertError(await refresh(s, n.json.refresh_token), 401, 'unauthorized', 'refresh after logout');
    r = await httpRequest(s.port, 'POST', '/auth/api/logout', bearer(n.json.access_token));
    assertError(r, 401, 'unauthorized', 'logout again');
  });

  test(`${store}: ten parallel refreshes of one token all succeed with one pair`, { timeout: TEST_TIMEOUT_MS }, async () => {
    // A grace long enough for ten requests under a sanitizer's slowness.
    const s = await startServer({ store, grace: 60 });
    const t = await apiLogin(s);
    const all = await Promise.all(Array.from({ length: 10 }, () => refresh(s, t.refresh_token)));
    for (const r of all) assert.equal(r.status, 200, r.text);
    for (const r of all) {
      assert.equal(r.json.access_token, all[0].json.access_token);
      assert.equal(r.json.refresh_token, all[0].json.refresh_token);
    }
    assert.equal((await whoami(s, all[0].json.access_token)).status, 200);
    assert.equal((await refresh(s, all[0].json.refresh_token)).status, 200);
  });

  test(`${store}: a replaced refresh token used after rotate_grace ends its family only, audited`, { timeout: TEST_TIMEOUT_MS }, async () => {
    const s = await startServer({ store });
    const stolen = await apiLogin(s);
    const other = await apiLogin(s); // alice's other device
    const bobs = await apiLogin(s, 'bob');
    const n = await refresh(s, stolen.refresh_token);
    assert.equal(n.status, 200);
    // The grace ends GRACE seconds (whole seconds of the server's clock) after the refresh
    // was answered; GRACE + 1 seconds later it has passed whatever the load.
    const w = (await whoami(s, n.json.access_token)).json;
    await sleep((GRACE + 1) * 1000);
    const reuse = await refresh(s, stolen.refresh_token);
    assertError(reuse, 401, 'unauthorized', 'reuse');
    assert.equal((await whoami(s, n.json.access_token)).status, 401, 'the family is ended');
    assertError(await refresh(s, n.json.refresh_token), 401, 'unauthorized', 'the new refresh token is ended too');
    assert.equal((await whoami(s, other.access_token)).status, 200, "alice's other device is untouched");
    assert.equal((await refresh(s, other.refresh_token)).status, 200);
    assert.equal((await whoami(s, bobs.access_token)).status, 200);
    assert.match(s.output, new RegExp(`refresh token reuse: .*session ${w.session_id} of alice`));
    assert.ok(!s.output.includes(stolen.refresh_token.split('.')[1]), 'no token in the log');
  });
}

test('api login: wrong password, unknown user, bad bodies, lockout', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer();
  let r = await post(s, '/auth/api/login', { username: 'alice', password: 'wrong' });
  assertError(r, 401, 'unauthorized', 'wrong password');
  assert.equal(r.json.message, 'Invalid username or password');
  r = await post(s, '/auth/api/login', { username: 'nobody', password: 'wrong' });
  assertError(r, 401, 'unauthorized', 'unknown user');
  assert.equal(r.json.message, 'Invalid username or password');
  assertError(await post(s, '/auth/api/login', { username: 'alice' }), 401, 'unauthorized', 'no password');
  assertError(await post(s, '/auth/api/login', { username: 'alice', password: 'x', extra: 1 }), 400, 'invalid_request', 'unknown key');
  assertError(await httpRequest(s.port, 'POST', '/auth/api/login', { rawBody: 'username=alice&password=x', contentType: 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type', 'form body');
  assertError(await httpRequest(s.port, 'POST', '/auth/api/login', { rawBody: '{"username":', contentType: 'application/json' }), 400, 'invalid_request', 'bad JSON');
  assertError(await post(s, '/auth/api/login', { username: 'alice', password: 'p'.repeat(1025) }), 401, 'unauthorized', 'long password');
  assert.equal((await httpRequest(s.port, 'GET', '/auth/api/login')).status, 405);
  // max_failures = 4 for the user (and the address): the 4th try is 429 even with the right password.
  r = await post(s, '/auth/api/login', { username: 'alice', password: PASSWORD });
  assertError(r, 429, 'rate_limited', 'locked out');
  assert.ok(Number(r.headers['retry-after']) > 0);
});

test('api refresh and logout: malformed and forged tokens are refused and end nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer();
  const t = await apiLogin(s);
  const [id, secret] = t.refresh_token.split('.');
  const forged = `${id}.${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`;
  for (const bad of [forged, id, '', 'x'.repeat(5000), t.access_token]) assertError(await refresh(s, bad), 401, 'unauthorized', 'bad refresh token');
  assertError(await post(s, '/auth/api/refresh', { refresh_token: 5 }), 400, 'invalid_request', 'not a string');
  assertError(await post(s, '/auth/api/refresh', {}), 400, 'invalid_request', 'missing');
  assert.equal((await whoami(s, t.access_token)).status, 200, 'a forged token with the family id ended nothing');
  // Logout takes the bearer token only, never the cookie.
  let r = await httpRequest(s.port, 'POST', '/auth/api/logout', { headers: { Cookie: `sid=${t.access_token}` } });
  assertError(r, 401, 'unauthorized', 'cookie logout');
  assert.equal((await whoami(s, t.access_token)).status, 200);
  assert.equal((await refresh(s, t.refresh_token)).status, 200);
});

test('POST /auth/logout takes the access token too', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer();
  const a = await apiLogin(s);
  const c = await apiLogin(s);
  // Without a browser's word (Origin, Sec-Fetch-Site) the session's CSRF token is needed, as
  // for the cookie; /auth/api/logout is the Bearer client's logout without one.
  const bare = await httpRequest(s.port, 'POST', '/auth/logout', { headers: { ...bearer(a.access_token).headers, Accept: 'application/json' } });
  assertError(bare, 403, 'csrf_failed', 'logout without the CSRF token');
  assert.equal((await whoami(s, a.access_token)).status, 200, 'the refused logout ended nothing');
  const csrf = (await whoami(s, a.access_token)).json.csrf_token;
  const r = await httpRequest(s.port, 'POST', '/auth/logout', { headers: { ...bearer(a.access_token).headers, 'X-CSRF-Token': csrf } });
  assert.equal(r.status, 303, r.text);
  assert.equal((await whoami(s, a.access_token)).status, 401);
  assertError(await refresh(s, a.refresh_token), 401, 'unauthorized', 'refresh after logout');
  assert.equal((await whoami(s, c.access_token)).status, 200, 'the other session stays');
});

test('revoke-all of the user ends API token families', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer();
  const t = await apiLogin(s);
  const r = await s.api('DELETE', '/v1/users/alice/sessions');
  assert.equal(r.status, 204);
  assert.equal((await whoami(s, t.access_token)).status, 401);
  assertError(await refresh(s, t.refresh_token), 401, 'unauthorized', 'refresh after revoke-all');
});
