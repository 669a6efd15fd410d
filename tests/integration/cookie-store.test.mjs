// cookie-store.test.mjs - [store] kind = cookie (contract section 2; docs/tokens.md): the session
// sealed into the cookie, refused when tampered, truncated, expired, sealed by a key not in the
// ring, or of an old epoch; key rotation by SIGHUP; logout of one session; the 4096-byte limit;
// touches that re-seal the cookie.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, createApiKey, assertError, leakSecret, sleep, run, TEST_TIMEOUT_MS } from './lib.mjs';
import { addUser, browse, login, Jar, PASSWORD } from './gateway-lib.mjs';

const sb = new Sandbox('sessiond-cookie-store-');
// Servers stop with SIGTERM (exit 0, no sanitizer report, admin socket removed), then the
// sandbox goes.
after(async () => {
  try {
    for (const s of sb.servers) if (s.running) await s.stop();
  } finally {
    await sb.cleanup();
  }
});

const newKey = () => {
  const k = crypto.randomBytes(32).toString('base64');
  leakSecret(k);
  return k;
};

function configText(ring, extra = '', storeExtra = '') {
  return `[store]\nkind = cookie\n${storeExtra}[keys]\nseal = ${ring}\n[login]\nargon2_ops = 1\nargon2_mem = 8m\n` +
    `[session]\ncookie_name = sid\n${extra}\n[rule app]\npolicy = authenticated\n`;
}

async function startServer(ring, extra = '', storeExtra = '') {
  const data = sb.dataDir();
  const cfg = sb.writeFile(`cookie-${++sb.n}.ini`, configText(ring, extra, storeExtra));
  await addUser(data, 'alice', { config: cfg });
  const s = await sb.start({ data, config: cfg });
  s.cfgPath = cfg;
  s.dataPath = data;
  s.key = await createApiKey(data, 'it', ['-c', cfg]);
  return s;
}

const whoami = (s, cookie) => browse(s.port, 'GET', '/auth/whoami', { headers: { Cookie: `sid=${cookie}` } });

async function signIn(s) {
  const jar = new Jar();
  const r = await login(s.port, jar, 'alice', PASSWORD);
  assert.equal(r.status, 303, `login: ${r.status} ${r.text}`);
  const v = jar.cookies.get('sid');
  assert.match(v, /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'a sealed cookie');
  leakSecret(v);
  return { jar, cookie: v };
}

/* Sends SIGHUP after writing `ring` and waits until the server logged the reload. */
async function reloadRing(s, ring, extra = '') {
  fs.writeFileSync(s.cfgPath, configText(ring, extra));
  const before = (s.output.match(/configuration reloaded/g) || []).length;
  s.signal('SIGHUP');
  for (let i = 0; i < 200 && (s.output.match(/configuration reloaded/g) || []).length === before; i++) await sleep(50);
  assert.ok((s.output.match(/configuration reloaded/g) || []).length > before, `reloaded:\n${s.output}`);
}

test('a login seals the session into the cookie; nothing of it is stored', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer(`k1:${newKey()}`);
  const { cookie } = await signIn(s);
  let r = await whoami(s, cookie);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.user, 'alice');
  const fwd = { 'X-Forwarded-Uri': '/app', 'X-Forwarded-Method': 'GET', 'X-Forwarded-Host': 'app.test' };
  r = await browse(s.port, 'GET', '/auth/verify', { headers: { ...fwd, Cookie: `sid=${cookie}` } });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-auth-user'], 'alice');
  r = await s.api('GET', '/v1/users/alice/sessions');
  assert.deepEqual(r.json, [], 'no session is stored server side');
  assert.ok(!cookie.includes('alice') && !Buffer.from(cookie.split('.')[2], 'base64url').toString().includes('alice'), 'encrypted');
});

test('tampered, truncated, wrong-key, renamed and garbage cookies are refused (401)', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer(`k1:${newKey()}`);
  const other = await startServer(`k1:${newKey()}`); // same key id and cookie name, another key
  const { cookie } = await signIn(s);
  const { cookie: foreign } = await signIn(other);
  const body = cookie.split('.')[2];
  const mid = Math.floor(body.length / 2);
  const tampered = `v1.k1.${body.slice(0, mid)}${body[mid] === 'A' ? 'B' : 'A'}${body.slice(mid + 1)}`;
  const cases = { tampered, truncated: cookie.slice(0, -10), 'wrong key': foreign, 'other key id': cookie.replace('v1.k1.', 'v1.k2.'),
    'other version': cookie.replace('v1.', 'v2.'), garbage: 'v1.k1.AAAA', token: 'A'.repeat(43) };
  for (const [what, v] of Object.entries(cases)) {
    const r = await whoami(s, v);
    assert.equal(r.status, 401, `${what}: ${r.text}`);
  }
  // The same value under another cookie name does not open either (the name is bound).
  const r = await browse(s.port, 'GET', '/auth/whoami', { headers: { Cookie: `other=${cookie}` } });
  assert.equal(r.status, 401);
  assert.equal((await whoami(s, cookie)).status, 200, 'the genuine one still opens');
});

test('idle and absolute deadlines are sealed inside: an expired cookie is refused', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer(`k1:${newKey()}`, 'idle_timeout = 2s\ntouch_interval = 1s');
  const { cookie } = await signIn(s);
  assert.equal((await whoami(s, cookie)).status, 200);
  // Whole seconds of the server's clock: 3 s after the login answered, the 2 s idle deadline
  // has passed whatever the load (whoami does not touch).
  await sleep(3000);
  assert.equal((await whoami(s, cookie)).status, 401);
});

test('revoke-all bumps the epoch: every cookie of the user is refused (old epoch)', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer(`k1:${newKey()}`);
  const a = await signIn(s);
  const b = await signIn(s);
  assert.equal((await s.api('DELETE', '/v1/users/alice/sessions')).status, 204);
  assert.equal((await whoami(s, a.cookie)).status, 401);
  assert.equal((await whoami(s, b.cookie)).status, 401);
  const c = await signIn(s);
  assert.equal((await whoami(s, c.cookie)).status, 200, 'a new login has the new epoch');
  // The CLI's revoke --user does the same.
  const r = await run(['session', 'revoke', '--user', 'alice', '-c', s.cfgPath, '--data', s.data]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await whoami(s, c.cookie)).status, 401);
});

test('logout ends that cookie (even replayed) and no other device', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer(`k1:${newKey()}`);
  const a = await signIn(s);
  const b = await signIn(s);
  const who = await whoami(s, a.cookie);
  const r = await browse(s.port, 'POST', '/auth/logout', { jar: a.jar, headers: { 'X-CSRF-Token': who.json.csrf_token } });
  assert.equal(r.status, 303, r.text);
  assert.equal(a.jar.cookies.get('sid'), undefined, 'the cookie is cleared');
  assert.equal((await whoami(s, a.cookie)).status, 401, 'a copy of the logged-out cookie is refused');
  assert.equal((await whoami(s, b.cookie)).status, 200, 'the other device stays signed in');
});

test('a logged-out cookie stays refused after the user makes more sessions than max_per_user', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer(`k1:${newKey()}`, 'max_per_user = 2\n');
  const a = await signIn(s);
  const who = await whoami(s, a.cookie);
  const r = await browse(s.port, 'POST', '/auth/logout', { jar: a.jar, headers: { 'X-CSRF-Token': who.json.csrf_token } });
  assert.equal(r.status, 303, r.text);
  // Bearer logins are stored sessions of the same user: five of them, past max_per_user, made
  // a second later so that the deny entry is the user's oldest entry.
  await sleep(1100);
  for (let i = 0; i < 5; i++) {
    const l = await browse(s.port, 'POST', '/auth/api/login', { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: PASSWORD }) });
    assert.equal(l.status, 200, l.text);
  }
  assert.equal((await whoami(s, a.cookie)).status, 401, 'the deny entry was not evicted: the copy stays refused');
});

test('user roles --keep-sessions is refused for sealed cookies (their roles are sealed inside)', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer(`k1:${newKey()}`);
  const a = await signIn(s);
  const r = await run(['user', 'roles', 'alice', 'admin', '--keep-sessions', '-c', s.cfgPath, '--data', s.dataPath]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^sessiond: --keep-sessions cannot reach sealed cookies/);
  assert.equal((await whoami(s, a.cookie)).status, 200, 'nothing changed');
  const e = await run(['user', 'roles', 'alice', 'admin', '-c', s.cfgPath, '--data', s.dataPath]);
  assert.equal(e.code, 0, e.stderr);
  assert.equal((await whoami(s, a.cookie)).status, 401, 'without it the sessions end, sealed ones too');
});

test('DELETE /v1/sessions/{id} ends a sealed session by its id (idempotent)', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer(`k1:${newKey()}`);
  const a = await signIn(s);
  const b = await signIn(s);
  const id = (await whoami(s, a.cookie)).json.session_id;
  assert.equal((await s.api('DELETE', `/v1/sessions/${id}`)).status, 204);
  assert.equal((await s.api('DELETE', `/v1/sessions/${id}`)).status, 204);
  assert.equal((await whoami(s, a.cookie)).status, 401);
  assert.equal((await whoami(s, b.cookie)).status, 200);
});

test('key rotation by SIGHUP: a new first key seals, old cookies open until their key is removed', { timeout: TEST_TIMEOUT_MS }, async () => {
  const k1 = newKey(), k2 = newKey();
  const s = await startServer(`k1:${k1}`);
  const old = await signIn(s);
  await reloadRing(s, `k2:${k2},k1:${k1}`);
  const fresh = await signIn(s);
  assert.match(fresh.cookie, /^v1\.k2\./, 'the first key seals');
  assert.equal((await whoami(s, old.cookie)).status, 200, 'an old cookie still opens');
  await reloadRing(s, `k2:${k2}`);
  assert.equal((await whoami(s, old.cookie)).status, 401, 'its key left the ring');
  assert.equal((await whoami(s, fresh.cookie)).status, 200);
  assert.ok(!s.output.includes(k1) && !s.output.includes(k2), 'no key in the log');
});

test('/v1 create seals too; data that would not fit a 4096-byte cookie is 413 too_large', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer(`k1:${newKey()}`, 'max_data = 16k');
  let r = await s.api('POST', '/v1/sessions', { body: { user: 'bob', data: { cart: [1, 2, 3] } } });
  assert.equal(r.status, 201, r.text);
  leakSecret(r.json.token);
  assert.match(r.json.token, /^v1\.k1\./);
  assert.match(r.json.set_cookie, /^sid=v1\.k1\./);
  assert.ok(r.json.set_cookie.split(';')[0].length <= 4096);
  const v = await s.api('POST', '/v1/sessions/verify', { body: { token: r.json.token } });
  assert.equal(v.status, 200, v.text);
  assert.deepEqual(v.json.data, { cart: [1, 2, 3] });
  assert.equal((await whoami(s, r.json.token)).status, 200);
  r = await s.api('POST', '/v1/sessions', { body: { user: 'bob', data: { blob: 'x'.repeat(4000) } } });
  assertError(r, 413, 'too_large', 'over 4096');
  assert.match(r.json.message, /4096/);
});

test('a due touch re-seals the cookie with a later idle deadline (Set-Cookie)', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer(`k1:${newKey()}`, 'idle_timeout = 10m\ntouch_interval = 1s');
  const a = await signIn(s);
  const first = (await whoami(s, a.cookie)).json;
  // Keep-alive until the server's clock has moved past touch_interval and it re-seals.
  let r;
  for (let i = 0; i < 100; i++) {
    r = await browse(s.port, 'POST', '/auth/keepalive', { jar: a.jar, headers: { 'X-CSRF-Token': first.csrf_token } });
    assert.equal(r.status, 200, r.text);
    if (r.headers['set-cookie']) break;
    await sleep(100);
  }
  assert.ok(r.headers['set-cookie'], 'a touch re-sealed the cookie');
  const next = a.jar.cookies.get('sid');
  leakSecret(next);
  assert.notEqual(next, a.cookie);
  const after = (await whoami(s, next)).json;
  assert.ok(after.idle_expires_at > first.idle_expires_at, `${after.idle_expires_at} > ${first.idle_expires_at}`);
  assert.equal(after.session_id, first.session_id, 'the same session');
});

test('with [store] redis_url, two nodes share revocations (logout, revoke-all) and one key ring', { timeout: TEST_TIMEOUT_MS }, async () => {
  const redis = await sb.startRedis({ persist: false });
  const ring = `k1:${newKey()}`;
  const store = `redis_url = ${redis.url}\nredis_prefix = ck${sb.n}:\n`;
  const a = await startServer(ring, '', store);
  // A second node: the same file, its own data directory with a copy of the server key.
  const data = sb.dataDir();
  fs.mkdirSync(data, { mode: 0o700 });
  fs.copyFileSync(path.join(a.data, 'server.key'), path.join(data, 'server.key'));
  fs.chmodSync(path.join(data, 'server.key'), 0o600);
  const b = await sb.start({ data, config: a.cfgPath });
  const one = await signIn(a);
  const two = await signIn(a);
  assert.equal((await whoami(b, one.cookie)).status, 200, 'the other node opens it');
  const who = await whoami(a, one.cookie);
  const r = await browse(a.port, 'POST', '/auth/logout', { jar: one.jar, headers: { 'X-CSRF-Token': who.json.csrf_token } });
  assert.equal(r.status, 303);
  assert.equal((await whoami(b, one.cookie)).status, 401, 'logged out on every node');
  assert.equal((await whoami(b, two.cookie)).status, 200);
  assert.equal((await b.api('DELETE', '/v1/users/alice/sessions', { key: a.key })).status, 204);
  assert.equal((await whoami(a, two.cookie)).status, 401, 'revoke-all on one node reaches the other');
  // Redis down: a live cookie cannot be checked for revocation: fail closed (503), never open.
  const three = await signIn(b);
  assert.equal((await whoami(a, three.cookie)).status, 200);
  await redis.stop();
  const down = await whoami(a, three.cookie);
  assert.equal(down.status, 503, `store down: ${down.text}`);
});

test('a login from a browser that holds a sealed session ends that one; a /v1 create is audited', { timeout: TEST_TIMEOUT_MS }, async () => {
  const s = await startServer(`k1:${newKey()}`);
  const a = await signIn(s);
  const other = await signIn(s);
  const r = await login(s.port, a.jar, 'alice', PASSWORD);
  assert.equal(r.status, 303, r.text);
  const fresh = a.jar.cookies.get('sid');
  assert.ok(fresh && fresh !== a.cookie, 'a new sealed session');
  leakSecret(fresh);
  assert.equal((await whoami(s, a.cookie)).status, 401, 'a copy of the session the browser came with is refused');
  assert.equal((await whoami(s, fresh)).status, 200);
  assert.equal((await whoami(s, other.cookie)).status, 200, 'the other device stays signed in');
  const c = await s.api('POST', '/v1/sessions', { body: { user: 'bob' } });
  assert.equal(c.status, 201, c.text);
  leakSecret(c.json.token);
  const lines = fs.readFileSync(path.join(s.dataPath, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const made = lines.find((l) => l.event === 'login' && l.user === 'bob');
  assert.ok(made, 'the /v1 create of a sealed session is in the audit log');
  assert.equal(made.session_id, c.json.session_id);
  assert.match(made.detail, /^\/v1, api key it$/);
});
