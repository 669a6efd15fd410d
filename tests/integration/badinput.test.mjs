// badinput.test.mjs - malformed and oversized requests: the right 4xx, and the server stays up.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, startWithKey, createSession, verify, assertError, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb;
let s; // defaults
let small; // [server] max_body = 2k, [session] max_data = 1k

before(async () => {
  sb = new Sandbox();
  s = await startWithKey(sb);
  const cfg = sb.writeFile('small.ini', '[server]\nmax_body = 2k\n\n[session]\nmax_data = 1k\n');
  small = await startWithKey(sb, { config: cfg });
});
after(async () => {
  try {
    if (s?.running) await s.stop();
    if (small?.running) await small.stop();
  } finally {
    await sb?.cleanup();
  }
});

describe('JSON bodies', () => {
  test('malformed JSON is 400 invalid_request', T, async () => {
    for (const raw of ['{', '{"user": }', '{"user":"alice"', 'nul', '{"user":"alice"}}', "{'user':'alice'}", '\u0000', '']) {
      const r = await s.api('POST', '/v1/sessions', { rawBody: raw });
      assertError(r, 400, 'invalid_request', JSON.stringify(raw));
    }
  });

  test('the error message does not echo the body (it may hold a token)', T, async () => {
    const secretish = 'Zm9vYmFyYmF6cXV4cXV1eHh4eHh4eHh4eHh4eHh4eHh4';
    const r = await s.api('POST', '/v1/sessions/verify', { rawBody: `{"token": "${secretish}" ,,}` });
    assertError(r, 400, 'invalid_request');
    assert.ok(!r.text.includes(secretish), r.text);
  });

  test('a JSON value that is not an object is 400', T, async () => {
    for (const raw of ['[]', '[{"user":"alice"}]', '"alice"', '42', 'null', 'true']) {
      assertError(await s.api('POST', '/v1/sessions', { rawBody: raw }), 400, 'invalid_request', raw);
    }
  });

  test('duplicate keys are 400', T, async () => {
    assertError(await s.api('POST', '/v1/sessions', { rawBody: '{"user":"alice","user":"bob"}' }), 400, 'invalid_request');
  });

  test('unknown fields are 400', T, async () => {
    const c = await createSession(s, { user: 'alice' });
    const cases = [
      ['POST', '/v1/sessions', { user: 'alice', admin: true }],
      ['POST', '/v1/sessions', { user: 'alice', client: { ip: '1.2.3.4', extra: 1 } }],
      ['POST', '/v1/sessions/verify', { token: c.token, extra: 1 }],
      ['POST', '/v1/sessions/rotate', { token: c.token, user: 'mallory' }],
      ['PATCH', `/v1/sessions/${c.session_id}`, { data: {}, user: 'mallory' }],
    ];
    for (const [m, p, body] of cases) assertError(await s.api(m, p, { body }), 400, 'invalid_request', `${m} ${p} ${JSON.stringify(body)}`);
    // None of them changed the session.
    const v = await verify(s, c.token);
    assert.equal(v.status, 200);
    assert.equal(v.json.user, 'alice');
  });

  test('wrong types are 400', T, async () => {
    const cases = [
      { user: 42 },
      { user: null },
      { user: ['alice'] },
      { user: 'alice', roles: 'admin' },
      { user: 'alice', roles: [1, 2] },
      { user: 'alice', roles: ['bad role with spaces'] },
      { user: 'alice', data: 'x' },
      { user: 'alice', data: [1] },
      { user: 'alice', remember: 'yes' },
      { user: 'alice', client: 'x' },
      { user: 'alice', client: { ip: 5 } },
      {},
    ];
    for (const body of cases) assertError(await s.api('POST', '/v1/sessions', { body }), 400, 'invalid_request', JSON.stringify(body));
    for (const body of [{ token: 5 }, { token: null }, { token: 'x', touch: 'no' }, { token: 'x', method: 1 }]) {
      assertError(await s.api('POST', '/v1/sessions/verify', { body }), 400, 'invalid_request', JSON.stringify(body));
    }
  });

  test('bad user names in the body are 400', T, async () => {
    for (const user of ['', 'a\u0000b', 'a\nb', 'tab\there', 'del\u007f', 'x'.repeat(129), 'a,b', 'a"b', 'a\\b']) {
      assertError(await s.api('POST', '/v1/sessions', { body: { user } }), 400, 'invalid_request', JSON.stringify(user));
    }
    // Non-ASCII is fine.
    assert.equal((await s.api('POST', '/v1/sessions', { body: { user: 'zoë-ünïcødé' } })).status, 201);
  });

  test('Content-Type missing or not JSON is 415 unsupported_media_type', T, async () => {
    const body = JSON.stringify({ user: 'alice' });
    for (const ct of [null, 'text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', 'multipart/form-data; boundary=x']) {
      const r = await s.api('POST', '/v1/sessions', { rawBody: body, contentType: ct });
      assertError(r, 415, 'unsupported_media_type', String(ct));
    }
    // Parameters and case are fine.
    const ok = await s.api('POST', '/v1/sessions', { rawBody: body, contentType: 'Application/JSON; charset=utf-8' });
    assert.equal(ok.status, 201, ok.text);
  });
});

describe('sizes', () => {
  test('a body over max_body (64k default) is 413 too_large; just under is fine', T, async () => {
    // A valid verify body padded with whitespace to an exact size: at max_body it is processed
    // (404 for the unknown token), one byte more is 413.
    const sized = (n) => {
      const head = '{"token":"' + 'A'.repeat(43) + '"}';
      return head + ' '.repeat(n - head.length);
    };
    const r1 = await s.api('POST', '/v1/sessions/verify', { rawBody: sized(64 * 1024) });
    assertError(r1, 404, 'invalid_session', 'a body of exactly max_body');
    for (const size of [64 * 1024 + 1, 100 * 1024]) {
      const r = await s.api('POST', '/v1/sessions/verify', { rawBody: sized(size) });
      assertError(r, 413, 'too_large', `body of ${size} bytes`);
    }
    await s.assertAlive('after 413');
  });

  test('a body far over max_body is refused (413) without killing the server', T, async () => {
    const huge = 'x'.repeat(1024 * 1024);
    let status;
    try {
      status = (await s.api('POST', '/v1/sessions', { rawBody: huge })).status;
    } catch (e) {
      status = `connection error ${e.code || e.message}`; // closing on a huge body is allowed
    }
    assert.ok(status === 413 || /connection error/.test(String(status)), `1 MiB body: ${status}`);
    await s.assertAlive('after a 1 MiB body');
  });

  test('with max_body = 2k: 3k body is 413 too_large, 1.5k is processed', T, async () => {
    const pad = (n) => '{"user":"alice","data":{"p":"' + 'x'.repeat(n) + '"}}';
    assertError(await small.api('POST', '/v1/sessions', { rawBody: pad(3000) }), 413, 'too_large', '3k body');
    assertError(await small.api('POST', '/v1/sessions/verify', { rawBody: '{"token":"x"}' + ' '.repeat(2100) }), 413, 'too_large', '2.1k verify');
    const ok = await small.api('POST', '/v1/sessions', { rawBody: pad(500) });
    assert.equal(ok.status, 201, ok.text);
    await small.assertAlive();
  });

  test('a header over max_header (16k default) is 431', T, async () => {
    const r = await s.api('GET', '/healthz', { headers: { 'X-Filler': 'f'.repeat(20 * 1024) } });
    assert.equal(r.status, 431, r.text);
    const r2 = await s.api('POST', '/v1/sessions', { body: { user: 'alice' }, headers: { 'X-Filler': 'f'.repeat(20 * 1024) } });
    assert.equal(r2.status, 431, r2.text);
    // Many small headers adding up past the bound count too.
    const many = {};
    for (let i = 0; i < 40; i++) many[`X-H${i}`] = 'v'.repeat(600);
    const r3 = await s.api('GET', '/healthz', { headers: many });
    assert.equal(r3.status, 431, 'sum of headers over max_header');
    // A few KiB of headers are fine.
    const r4 = await s.api('GET', '/healthz', { headers: { 'X-Filler': 'f'.repeat(4 * 1024) } });
    assert.equal(r4.status, 200);
    await s.assertAlive('after 431');
  });

  test('data over max_data (1k) is 413 on create and on PATCH; the session keeps its data', T, async () => {
    const big = { blob: 'x'.repeat(1100) };
    assertError(await small.api('POST', '/v1/sessions', { body: { user: 'alice', data: big } }), 413, 'too_large', 'create');
    const c = await createSession(small, { user: 'alice', data: { a: 'x'.repeat(600) } });
    const r = await small.api('PATCH', `/v1/sessions/${c.session_id}`, { body: { data: { b: 'y'.repeat(600) } } });
    assertError(r, 413, 'too_large', 'PATCH pushing the merged data past 1k');
    const v = await verify(small, c.token);
    assert.equal(v.status, 200);
    assert.deepEqual(Object.keys(v.json.data), ['a'], 'data unchanged by the refused PATCH');
    // Replacing a key by a smaller value is fine.
    const ok = await small.api('PATCH', `/v1/sessions/${c.session_id}`, { body: { data: { a: null, b: 'y'.repeat(600) } } });
    assert.equal(ok.status, 200, ok.text);
  });
});

describe('paths', () => {
  test('bad session ids in the path are 404', T, async () => {
    for (const id of ['xyz', '0123', 'g123456789abcdef0123456789abcdef', '0123456789abcdef0123456789abcdef0', '0123456789abcdef0123456789abcde', '%00', '..', 'ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ']) {
      for (const m of ['GET', 'DELETE', 'PATCH']) {
        const r = await s.api(m, `/v1/sessions/${id}`, { body: m === 'PATCH' ? { data: {} } : undefined });
        assert.equal(r.status, 404, `${m} /v1/sessions/${id}: ${r.status} ${r.text}`);
        assert.equal(r.json?.error, 'not_found', `${m} ${id}: ${r.text}`);
      }
    }
  });

  test('user names with %00 or control characters in the path are 400', T, async () => {
    for (const u of ['a%00b', '%00', 'a%0Ab', 'a%0d%0aSet-Cookie:%20x', 'a%7Fb', 'a%1Fb', 'a%2Fb', 'a%zz', 'a%4']) {
      for (const [m, p] of [['GET', 'sessions'], ['DELETE', 'sessions'], ['GET', 'preferences'], ['PUT', 'preferences']]) {
        const r = await s.api(m, `/v1/users/${u}/${p}`, { body: m === 'PUT' ? { theme: 'dark' } : undefined });
        assertError(r, 400, 'invalid_request', `${m} /v1/users/${u}/${p}`);
      }
    }
  });

  test('a query string does not change the route', T, async () => {
    const r = await s.api('GET', '/healthz?x=1');
    assert.equal(r.status, 200);
  });
});

test('after all of the above both servers still answer /healthz and serve sessions', T, async () => {
  for (const srv of [s, small]) {
    await srv.assertAlive('after bad input');
    const c = await createSession(srv, { user: 'survivor' });
    assert.equal((await verify(srv, c.token)).status, 200);
  }
});
