// api.test.mjs - the /v1 service API (contract sections 3 and 5) against the lmdb store.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Sandbox, startWithKey, createApiKey, run, createSession, verify, assertError, sleepUntil, alignToSecond,
  TOKEN_RE, SESSION_ID_RE, TEST_TIMEOUT_MS,
} from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
// Every JSON answer is a download when opened as a page (ASVS 4.0.3 14.4.2; src/http/http.h).
const DISPOSITION = 'attachment; filename="api.json"';
const ANY_ID = '0123456789abcdef0123456789abcdef';
let sb;
let s;

before(async () => {
  sb = new Sandbox();
  s = await startWithKey(sb);
});
after(async () => {
  try {
    if (s?.running) await s.stop();
  } finally {
    await sb?.cleanup();
  }
});

describe('API key', () => {
  test('no key, a malformed key and a wrong key are 401 unauthorized', T, async () => {
    const body = { user: 'alice' };
    const cases = [
      ['none', {}],
      ['empty bearer', { headers: { Authorization: 'Bearer ' } }],
      ['basic auth', { headers: { Authorization: 'Basic ' + Buffer.from('a:b').toString('base64') } }],
      ['garbage', { key: 'not-a-key' }],
      ['well-formed but unknown', { key: 'sk_' + 'A'.repeat(43) }],
      ['the right key with one character changed', { key: s.key.slice(0, -1) + (s.key.endsWith('A') ? 'B' : 'A') }],
      ['the right key with a suffix', { key: s.key + 'x' }],
    ];
    for (const [what, opts] of cases) {
      const r = await s.api('POST', '/v1/sessions', { key: undefined, body, ...opts });
      assertError(r, 401, 'unauthorized', what);
      assert.equal(r.headers['content-disposition'], DISPOSITION, `${what}: an error answer too`);
    }
    // Every /v1 route is protected, including GETs.
    for (const [m, p] of [['GET', `/v1/sessions/${ANY_ID}`], ['DELETE', `/v1/sessions/${ANY_ID}`], ['GET', '/v1/users/alice/sessions'], ['GET', '/v1/users/alice/preferences'], ['POST', '/v1/sessions/verify']]) {
      const r = await s.api(m, p, { key: undefined, body: m === 'POST' ? { token: 'x' } : undefined });
      assertError(r, 401, 'unauthorized', `${m} ${p}`);
    }
  });

  test('"bearer" is case-insensitive in the Authorization scheme', T, async () => {
    const r = await s.api('POST', '/v1/sessions', { key: undefined, headers: { Authorization: `bearer ${s.key}` }, body: { user: 'alice' } });
    assert.equal(r.status, 201, r.text);
  });

  test('a key revoked with the CLI while the server runs is refused on the next call', T, async () => {
    const k2 = await createApiKey(s.data, 'second');
    const ok = await s.api('POST', '/v1/sessions', { key: k2, body: { user: 'alice' } });
    assert.equal(ok.status, 201, 'a key created while the server runs works at once');
    const list = await run(['apikey', 'list', '--data', s.data]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^second\b/m);
    assert.ok(!list.stdout.includes(k2), 'apikey list never prints a key');
    const rv = await run(['apikey', 'revoke', 'second', '--data', s.data]);
    assert.equal(rv.code, 0, rv.stderr);
    const r = await s.api('POST', '/v1/sessions', { key: k2, body: { user: 'alice' } });
    assertError(r, 401, 'unauthorized', 'revoked key');
    // The other key is unaffected.
    assert.equal((await s.api('POST', '/v1/sessions', { body: { user: 'alice' } })).status, 201);
    const list2 = await run(['apikey', 'list', '--data', s.data]);
    assert.doesNotMatch(list2.stdout, /^second\b/m);
  });
});

describe('create', () => {
  test('201 with id, token, csrf token, deadlines and a session cookie', T, async () => {
    const t0 = Math.floor(Date.now() / 1000);
    const r = await s.api('POST', '/v1/sessions', { body: { user: 'alice', roles: ['admin', 'dev'], data: { cart: 3 } } });
    const t1 = Math.ceil(Date.now() / 1000);
    assert.equal(r.status, 201, r.text);
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.equal(r.headers['content-disposition'], DISPOSITION);
    const c = r.json;
    assert.match(c.session_id, SESSION_ID_RE);
    assert.match(c.token, TOKEN_RE);
    assert.equal(Buffer.from(c.token, 'base64url').length, 32, '256-bit token');
    assert.equal(typeof c.csrf_token, 'string');
    assert.ok(c.csrf_token.length >= 16 && c.csrf_token !== c.token);
    // Defaults: absolute 24 h, idle 30 m. The server reads time(), the kernel's coarse clock,
    // which can lag Date.now() by a tick across a second's edge: one second of slack below (a
    // create just after a second began failed CI with the server one second behind).
    assert.ok(c.expires_at >= t0 - 1 + 86400 && c.expires_at <= t1 + 86400, `expires_at ${c.expires_at} (t0 ${t0})`);
    assert.ok(c.idle_expires_at >= t0 - 1 + 1800 && c.idle_expires_at <= t1 + 1800, `idle_expires_at ${c.idle_expires_at} (t0 ${t0})`);
    const ck = c.set_cookie;
    assert.equal(typeof ck, 'string');
    assert.ok(ck.startsWith(`sid=${c.token};`), ck);
    const attrs = ck.split(';').map((a) => a.trim());
    assert.ok(attrs.includes('HttpOnly'), ck);
    assert.ok(attrs.includes('SameSite=Lax'), ck);
    assert.ok(attrs.includes('Path=/'), ck);
    assert.ok(!/max-age/i.test(ck), `no Max-Age without remember: ${ck}`);
    assert.ok(!/;\s*Secure/i.test(ck), `no Secure over http: ${ck}`);
    assert.ok(!/expires=/i.test(ck), ck);
  });

  test('every session gets a different id, token and csrf token', T, async () => {
    const a = await createSession(s, { user: 'alice' });
    const b = await createSession(s, { user: 'alice' });
    assert.notEqual(a.session_id, b.session_id);
    assert.notEqual(a.token, b.token);
    assert.notEqual(a.csrf_token, b.csrf_token);
  });

  test('remember: true adds Max-Age (the remember_me lifetime, 30 d by default)', T, async () => {
    const c = await createSession(s, { user: 'alice', remember: true });
    const m = /;\s*Max-Age=(\d+)/.exec(c.set_cookie);
    assert.ok(m, c.set_cookie);
    const maxAge = Number(m[1]);
    assert.ok(maxAge > 30 * 86400 - 10 && maxAge <= 30 * 86400, `Max-Age ${maxAge}`);
    const now = Date.now() / 1000;
    assert.ok(Math.abs(c.expires_at - (now + 30 * 86400)) < 10, `expires_at ${c.expires_at}`);
    assert.equal((await verify(s, c.token)).status, 200);
  });

  test('client ip and user agent are recorded', T, async () => {
    const c = await createSession(s, { user: 'carol', client: { ip: '203.0.113.9', user_agent: 'test-agent/1.0' } });
    const g = await s.api('GET', `/v1/sessions/${c.session_id}`);
    assert.equal(g.status, 200);
    assert.ok(g.text.includes('203.0.113.9'), g.text);
    assert.ok(g.text.includes('test-agent/1.0'), g.text);
  });
});

describe('verify, get, patch, delete', () => {
  test('verify answers the session', T, async () => {
    const c = await createSession(s, { user: 'alice', roles: ['admin', 'dev'], data: { cart: 3, nested: { a: [1, 2] } } });
    const r = await verify(s, c.token);
    assert.equal(r.status, 200, r.text);
    const v = r.json;
    assert.equal(v.session_id, c.session_id);
    assert.equal(v.user, 'alice');
    assert.deepEqual(v.roles, ['admin', 'dev']);
    assert.deepEqual(v.data, { cart: 3, nested: { a: [1, 2] } });
    assert.equal(typeof v.preferences, 'object');
    assert.ok(v.preferences !== null && !Array.isArray(v.preferences));
    assert.ok(Number.isInteger(v.created_at) && Math.abs(v.created_at - Date.now() / 1000) < 30, `created_at ${v.created_at}`);
    assert.equal(v.expires_at, c.expires_at);
    assert.ok(v.idle_expires_at >= c.idle_expires_at && v.idle_expires_at <= v.expires_at);
    assert.ok(!('token' in v), 'verify does not echo the token');
  });

  test('roles default to an empty array and data to an empty object', T, async () => {
    const c = await createSession(s, { user: 'plain' });
    const v = (await verify(s, c.token)).json;
    assert.deepEqual(v.roles, []);
    assert.deepEqual(v.data, {});
  });

  test('verify of unknown, malformed or empty tokens is 404 invalid_session', T, async () => {
    const c = await createSession(s, { user: 'alice' });
    const flipped = (c.token[0] === 'A' ? 'B' : 'A') + c.token.slice(1);
    for (const tok of ['A'.repeat(43), flipped, c.token.slice(0, 42), c.token + 'A', '', 'not a token', c.session_id, c.csrf_token]) {
      assertError(await verify(s, tok), 404, 'invalid_session', JSON.stringify(tok));
    }
    assert.equal((await verify(s, c.token)).status, 200, 'the real one still works');
  });

  test('verify without token is 400', T, async () => {
    assertError(await s.api('POST', '/v1/sessions/verify', { body: {} }), 400, 'invalid_request');
  });

  test('GET /v1/sessions/{id} answers the session without any token', T, async () => {
    const c = await createSession(s, { user: 'alice', roles: ['r1'], data: { k: 'v' } });
    const r = await s.api('GET', `/v1/sessions/${c.session_id}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.session_id, c.session_id);
    assert.equal(r.json.user, 'alice');
    assert.deepEqual(r.json.roles, ['r1']);
    assert.deepEqual(r.json.data, { k: 'v' });
    assert.equal(r.json.expires_at, c.expires_at);
    for (const k of Object.keys(r.json)) assert.ok(!/token/i.test(k), `field ${k} in GET`);
    assert.ok(!r.text.includes(c.token), 'the token is not in the answer');
    assert.ok(!r.text.includes(c.csrf_token), 'the csrf token is not in the answer');
  });

  test('GET of an unknown id is 404 not_found', T, async () => {
    assertError(await s.api('GET', `/v1/sessions/${ANY_ID}`), 404, 'not_found');
  });

  test('PATCH is a JSON merge patch: add, replace, nested merge, null deletes', T, async () => {
    const c = await createSession(s, { user: 'alice', data: { a: 1, b: { x: 1, y: 2 }, c: 'keep' } });
    const p = (data) => s.api('PATCH', `/v1/sessions/${c.session_id}`, { body: { data } });
    let r = await p({ d: 'new' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data, { a: 1, b: { x: 1, y: 2 }, c: 'keep', d: 'new' });
    r = await p({ a: 2, b: { y: null, z: 3 } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data, { a: 2, b: { x: 1, z: 3 }, c: 'keep', d: 'new' });
    r = await p({ d: null, a: [1, 2] });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data, { a: [1, 2], b: { x: 1, z: 3 }, c: 'keep' });
    r = await p({ nothere: null });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data, { a: [1, 2], b: { x: 1, z: 3 }, c: 'keep' });
    // What verify sees is what PATCH answered.
    assert.deepEqual((await verify(s, c.token)).json.data, { a: [1, 2], b: { x: 1, z: 3 }, c: 'keep' });
    // application/merge-patch+json is accepted too.
    r = await s.api('PATCH', `/v1/sessions/${c.session_id}`, { body: { data: { m: true } }, contentType: 'application/merge-patch+json' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.data.m, true);
  });

  test('PATCH with data that is not an object is 400', T, async () => {
    const c = await createSession(s, { user: 'alice' });
    for (const data of [1, 'x', [1], null, true]) {
      assertError(await s.api('PATCH', `/v1/sessions/${c.session_id}`, { body: { data } }), 400, 'invalid_request', JSON.stringify(data));
    }
    assertError(await s.api('PATCH', `/v1/sessions/${c.session_id}`, { body: {} }), 400, 'invalid_request', 'no data');
  });

  test('PATCH of an unknown session is 404', T, async () => {
    const r = await s.api('PATCH', `/v1/sessions/${ANY_ID}`, { body: { data: { a: 1 } } });
    assert.equal(r.status, 404, r.text);
  });

  test('DELETE is 204 and idempotent; afterwards verify is invalid_session and GET not_found', T, async () => {
    const c = await createSession(s, { user: 'alice' });
    const other = await createSession(s, { user: 'alice' });
    let r = await s.api('DELETE', `/v1/sessions/${c.session_id}`);
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    r = await s.api('DELETE', `/v1/sessions/${c.session_id}`);
    assert.equal(r.status, 204, 'second DELETE');
    assertError(await verify(s, c.token), 404, 'invalid_session', 'verify after delete');
    assertError(await s.api('GET', `/v1/sessions/${c.session_id}`), 404, 'not_found', 'GET after delete');
    const pr = await s.api('PATCH', `/v1/sessions/${c.session_id}`, { body: { data: { back: 1 } } });
    assert.equal(pr.status, 404, `PATCH after delete: ${pr.text}`);
    assertError(await verify(s, c.token), 404, 'invalid_session', 'a PATCH does not bring it back');
    assert.equal((await verify(s, other.token)).status, 200, 'the other session of the user is unaffected');
    // DELETE of an id that never existed is 204 as well.
    assert.equal((await s.api('DELETE', `/v1/sessions/${ANY_ID}`)).status, 204);
  });
});

describe('rotate', () => {
  test('rotate answers a new token; both verify during rotate_grace (30 s default)', T, async () => {
    const c = await createSession(s, { user: 'alice', data: { k: 1 } });
    const r = await s.api('POST', '/v1/sessions/rotate', { body: { token: c.token } });
    assert.equal(r.status, 200, r.text);
    const n = r.json;
    assert.match(n.token, TOKEN_RE);
    assert.notEqual(n.token, c.token);
    assert.equal(n.session_id, c.session_id, 'same session');
    assert.ok(n.set_cookie.startsWith(`sid=${n.token};`), n.set_cookie);
    for (const k of ['csrf_token', 'expires_at', 'idle_expires_at']) assert.ok(k in n, k);
    const vNew = await verify(s, n.token);
    assert.equal(vNew.status, 200);
    assert.deepEqual(vNew.json.data, { k: 1 });
    const vOld = await verify(s, c.token);
    assert.equal(vOld.status, 200, 'old token within the grace window');
    assert.equal(vOld.json.session_id, c.session_id);
    // The superseded token cannot rotate again (no forking of the session).
    const again = await s.api('POST', '/v1/sessions/rotate', { body: { token: c.token } });
    assert.notEqual(again.status, 200, `rotating the old token again: ${again.text}`);
    // Deleting the session ends both tokens.
    assert.equal((await s.api('DELETE', `/v1/sessions/${c.session_id}`)).status, 204);
    assertError(await verify(s, n.token), 404, 'invalid_session', 'new token after delete');
    assertError(await verify(s, c.token), 404, 'invalid_session', 'old token after delete');
  });

  test('rotate of an unknown token is 404 invalid_session; without token 400', T, async () => {
    assertError(await s.api('POST', '/v1/sessions/rotate', { body: { token: 'A'.repeat(43) } }), 404, 'invalid_session');
    assertError(await s.api('POST', '/v1/sessions/rotate', { body: {} }), 400, 'invalid_request');
  });

  test('with rotate_grace = 3s the old token works right after the rotation, fails after ~4 s; the new one keeps working', T, async () => {
    // A grace wide enough that the first verify falls inside it on a slow machine too: the
    // assertion always runs (it was skipped when the verify came more than 0.9 s late).
    const cfg = sb.writeFile('rotate.ini', '[session]\nrotate_grace = 3s\n');
    const s2 = await startWithKey(sb, { config: cfg });
    try {
      const c = await createSession(s2, { user: 'alice' });
      await alignToSecond();
      const t0 = Date.now();
      const r = await s2.api('POST', '/v1/sessions/rotate', { body: { token: c.token } });
      assert.equal(r.status, 200, r.text);
      const n = r.json;
      const early = await verify(s2, c.token);
      assert.ok(Date.now() - t0 < 2900, `the verify came ${Date.now() - t0} ms after the rotation: too late to judge`);
      assert.equal(early.status, 200, 'old token right after rotate');
      await sleepUntil(t0 + 4200);
      assertError(await verify(s2, c.token), 404, 'invalid_session', 'old token after the grace');
      assert.equal((await verify(s2, n.token)).status, 200, 'new token after the grace');
    } finally {
      await s2.stop();
    }
  });
});

describe('sessions of a user', () => {
  test('GET lists the user\'s live sessions; DELETE revokes them all and nobody else\'s', T, async () => {
    const u = 'dave-' + Date.now();
    const v = 'erin-' + Date.now();
    const mine = [];
    for (let i = 0; i < 3; i++) mine.push(await createSession(s, { user: u, data: { i } }));
    const theirs = await createSession(s, { user: v });

    let r = await s.api('GET', `/v1/users/${u}/sessions`);
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.json));
    assert.deepEqual(r.json.map((x) => x.session_id).sort(), mine.map((x) => x.session_id).sort());
    for (const x of r.json) assert.equal(x.user, u);
    for (const c of mine) assert.ok(!r.text.includes(c.token), 'no token in the list');

    // Deleting one shows in the list.
    assert.equal((await s.api('DELETE', `/v1/sessions/${mine[0].session_id}`)).status, 204);
    r = await s.api('GET', `/v1/users/${u}/sessions`);
    assert.equal(r.json.length, 2);

    r = await s.api('DELETE', `/v1/users/${u}/sessions`);
    assert.equal(r.status, 204);
    for (const c of mine) assertError(await verify(s, c.token), 404, 'invalid_session', 'revoked user session');
    assert.equal((await verify(s, theirs.token)).status, 200, 'other user unaffected');
    r = await s.api('GET', `/v1/users/${u}/sessions`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, []);

    // The user can log in again afterwards: new sessions are live.
    const fresh = await createSession(s, { user: u });
    assert.equal((await verify(s, fresh.token)).status, 200, 'a session created after revoke-all is live');
    r = await s.api('GET', `/v1/users/${u}/sessions`);
    assert.deepEqual(r.json.map((x) => x.session_id), [fresh.session_id]);
  });

  test('a user with no sessions lists [] and revoke-all is still 204', T, async () => {
    const r = await s.api('GET', '/v1/users/nobody-here/sessions');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, []);
    assert.equal((await s.api('DELETE', '/v1/users/nobody-here/sessions')).status, 204);
  });

  test('percent-encoded user names in the path are decoded', T, async () => {
    const c = await createSession(s, { user: 'frank smith@example.com' });
    const r = await s.api('GET', `/v1/users/${encodeURIComponent('frank smith@example.com')}/sessions`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.map((x) => x.session_id), [c.session_id]);
  });
});

describe('limits and revocation details', () => {
  test('revoke-all also refuses PATCH, GET and rotate of the revoked sessions', T, async () => {
    const c = await createSession(s, { user: 'rv-detail' });
    assert.equal((await s.api('DELETE', '/v1/users/rv-detail/sessions')).status, 204);
    assertError(await s.api('GET', `/v1/sessions/${c.session_id}`), 404, 'not_found', 'GET');
    const p = await s.api('PATCH', `/v1/sessions/${c.session_id}`, { body: { data: { back: true } } });
    assert.equal(p.status, 404, `PATCH of a revoked session: ${p.text}`);
    assertError(await s.api('POST', '/v1/sessions/rotate', { body: { token: c.token } }), 404, 'invalid_session', 'rotate');
    assertError(await verify(s, c.token), 404, 'invalid_session', 'verify after the PATCH attempt');
  });

  test('revoked sessions do not count against max_per_user', T, async () => {
    const u = 'budget';
    for (let i = 0; i < 50; i++) await createSession(s, { user: u });
    assert.equal((await s.api('DELETE', `/v1/users/${u}/sessions`)).status, 204);
    const fresh = [];
    for (let i = 0; i < 50; i++) fresh.push(await createSession(s, { user: u }));
    const statuses = [];
    for (const c of fresh) statuses.push((await verify(s, c.token, { touch: false })).status);
    assert.deepEqual(statuses.filter((x) => x !== 200), [], 'all 50 new sessions live after revoke-all of 50 old ones');
    assert.equal((await s.api('GET', `/v1/users/${u}/sessions`)).json.length, 50);
  });

  test('revoke-all of 300 sessions: every one refused at once', T, async () => {
    const cfg = sb.writeFile('many.ini', '[session]\nmax_per_user = 1000\n');
    const s2 = await startWithKey(sb, { config: cfg });
    try {
      const made = [];
      const workers = Array.from({ length: 4 }, async () => {
        while (made.length < 300) {
          made.push(null);
          const c = await createSession(s2, { user: 'bulk' });
          made[made.indexOf(null)] = c;
        }
      });
      await Promise.all(workers);
      const other = await createSession(s2, { user: 'bulk2' });
      assert.equal((await s2.api('GET', '/v1/users/bulk/sessions')).json.length, 300);
      const t0 = process.hrtime.bigint();
      assert.equal((await s2.api('DELETE', '/v1/users/bulk/sessions')).status, 204);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const results = await Promise.all(made.map((c) => verify(s2, c.token, { touch: false })));
      assert.deepEqual(results.map((r) => r.status).filter((x) => x !== 404), [], 'every revoked session refused');
      assert.deepEqual((await s2.api('GET', '/v1/users/bulk/sessions')).json, []);
      assert.equal((await verify(s2, other.token)).status, 200);
      assert.ok(ms < 5000, `revoke-all took ${ms} ms`);
    } finally {
      await s2.stop();
    }
  });

  test('role and user bounds', T, async () => {
    const roles33 = Array.from({ length: 33 }, (_, i) => `r${i}`);
    assertError(await s.api('POST', '/v1/sessions', { body: { user: 'alice', roles: roles33 } }), 400, 'invalid_request', '33 roles');
    assertError(await s.api('POST', '/v1/sessions', { body: { user: 'alice', roles: ['x'.repeat(65)] } }), 400, 'invalid_request', 'role of 65');
    assertError(await s.api('POST', '/v1/sessions', { body: { user: 'alice', roles: ['a,b'] } }), 400, 'invalid_request', 'comma in a role');
    assertError(await s.api('POST', '/v1/sessions', { body: { user: 'alice', roles: [''] } }), 400, 'invalid_request', 'empty role');
    const roles32 = Array.from({ length: 32 }, (_, i) => `role:${i}`);
    const ok = await createSession(s, { user: 'u'.repeat(128), roles: roles32 });
    const v = await verify(s, ok.token);
    assert.deepEqual(v.json.roles, roles32);
    assert.equal(v.json.user, 'u'.repeat(128));
    assert.equal((await s.api('GET', `/v1/users/${'u'.repeat(128)}/sessions`)).status, 200);
    assertError(await s.api('GET', `/v1/users/${'u'.repeat(129)}/sessions`), 400, 'invalid_request', '129-byte user in the path');
  });

  test('the client address defaults to the peer; X-Forwarded-For is not trusted by default', T, async () => {
    const c = (await s.api('POST', '/v1/sessions', { body: { user: 'peer' }, headers: { 'X-Forwarded-For': '203.0.113.66' } })).json;
    const g = await s.api('GET', `/v1/sessions/${c.session_id}`);
    assert.equal(g.status, 200);
    assert.ok(g.text.includes('127.0.0.1'), g.text);
    assert.ok(!g.text.includes('203.0.113.66'), g.text);
  });

  test('preferences over 4096 bytes are 413 too_large', T, async () => {
    const big = {};
    for (let i = 0; i < 20; i++) big[`k${i}`] = 'v'.repeat(250);
    assertError(await s.api('PUT', '/v1/users/prefbig/preferences', { body: big }), 413, 'too_large');
    assert.deepEqual((await s.api('GET', '/v1/users/prefbig/preferences')).json, {});
  });
});

describe('preferences', () => {
  test('GET is {} at first; PUT replaces; PATCH merges; null deletes', T, async () => {
    const u = 'prefs-' + Date.now();
    let r = await s.api('GET', `/v1/users/${u}/preferences`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {});
    r = await s.api('PUT', `/v1/users/${u}/preferences`, { body: { language: 'de', theme: 'dark', font_size: 14 } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { language: 'de', theme: 'dark', font_size: 14 });
    r = await s.api('GET', `/v1/users/${u}/preferences`);
    assert.deepEqual(r.json, { language: 'de', theme: 'dark', font_size: 14 });
    r = await s.api('PATCH', `/v1/users/${u}/preferences`, { body: { theme: 'light', font_size: null, custom: 'x' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { language: 'de', theme: 'light', custom: 'x' });
    r = await s.api('PUT', `/v1/users/${u}/preferences`, { body: { language: 'fr-CA' } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual((await s.api('GET', `/v1/users/${u}/preferences`)).json, { language: 'fr-CA' }, 'PUT replaces the whole document');
  });

  test('verify includes the user\'s preferences', T, async () => {
    const u = 'prefs2-' + Date.now();
    const c = await createSession(s, { user: u });
    assert.deepEqual((await verify(s, c.token)).json.preferences, {});
    assert.equal((await s.api('PUT', `/v1/users/${u}/preferences`, { body: { theme: 'system', language: 'en' } })).status, 200);
    assert.deepEqual((await verify(s, c.token)).json.preferences, { theme: 'system', language: 'en' });
  });

  test('invalid preferences are 400 and change nothing', T, async () => {
    const u = 'prefs3-' + Date.now();
    assert.equal((await s.api('PUT', `/v1/users/${u}/preferences`, { body: { theme: 'dark' } })).status, 200);
    const bad = [
      ['PUT', { theme: 'purple' }],
      ['PATCH', { theme: 'purple' }],
      ['PATCH', { language: 'not a language!' }],
      ['PATCH', { font_size: 500 }],
      ['PATCH', { font_size: 'huge' }],
      ['PATCH', { 'Bad Key': 1 }],
      ['PATCH', { nested: { a: 1 } }],
      ['PUT', { theme: null }],
    ];
    for (const [m, body] of bad) {
      assertError(await s.api(m, `/v1/users/${u}/preferences`, { body }), 400, 'invalid_request', `${m} ${JSON.stringify(body)}`);
    }
    const many = {};
    for (let i = 0; i < 40; i++) many[`k${i}`] = i;
    assertError(await s.api('PUT', `/v1/users/${u}/preferences`, { body: many }), 400, 'invalid_request', '40 keys');
    assert.deepEqual((await s.api('GET', `/v1/users/${u}/preferences`)).json, { theme: 'dark' }, 'unchanged after the rejects');
  });
});
