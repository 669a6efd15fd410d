// badinput.test.mjs - malformed and oversized requests: the right 4xx, and the server stays up.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Sandbox, startWithKey, createSession, verify, assertError, rawExchange, statusOf, TEST_TIMEOUT_MS } from './lib.mjs';

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

  // Flat bodies ({"token":"...","touch":false}) take a shortcut past jansson (jsonflat.h); the
  // answers, to the byte of the error message, must be the ones jansson's parse leads to.
  test('flat verify bodies: spacing and null are read as JSON; errors are the same as ever', T, async () => {
    const c = await createSession(s, { user: 'flat', data: { k: 'v' } });
    const want = await verify(s, c.token, { touch: false });
    assert.equal(want.status, 200, want.text);
    const same = [
      `{"token":"${c.token}","touch":false}`,
      ` {\r\n\t"token" : "${c.token}" ,\n "touch":false } \n`,
      `{"touch":false,"token":"${c.token}","method":null,"origin":null,"csrf_token":null,"client":null}`,
      `{"token":"${c.token}","touch":false,"method":"GET"}`,
    ];
    // At the shortcut's bound (SESSD_JSONFLAT_MAX_BYTES, 4096) and one past it (jansson's).
    for (const size of [4095, 4096, 4097]) {
      const body = `{"token":"${c.token}","touch":false}`;
      same.push(body.slice(0, -1) + ' '.repeat(size - body.length) + '}');
    }
    for (const raw of same) {
      const r = await s.api('POST', '/v1/sessions/verify', { rawBody: raw });
      assert.equal(r.status, 200, `${JSON.stringify(raw)}: ${r.text}`);
      assert.deepEqual({ ...r.json, last_seen_at: 0 }, { ...want.json, last_seen_at: 0 }, raw);
    }
    const errors = [
      [`{"token":"${c.token}","token":"${c.token}"}`, 'malformed JSON at line 1, column 62'],
      [`{"token":"${c.token}","touch":false,"touch":true}`, 'malformed JSON at line 1, column 76'],
      [`{"token":"${c.token}",}`, 'malformed JSON at line 1, column 56'],
      [`{"token":"${c.token}"} x`, 'malformed JSON at line 1, column 57'],
      [`{"token":"${c.token}","touch":fals}`, 'malformed JSON at line 1, column 67'],
      [`{"token":"a\\u0000b"}`, 'malformed JSON at line 1, column 19'],
      [`\f{"token":"x"}`, 'malformed JSON at line 1, column 1'],
      [`{"token":"x","extra":true}`, 'unknown field "extra"'],
      [`{"token":"x","touch":"no"}`, '"touch" must be true or false'],
      [`{"token":true}`, '"token" must be a string'],
      [`{"token":null,"touch":false}`, '"token" is required'],
      [`{"token":"x","client":"1.2.3.4"}`, '"client" must be an object'],
      [`{"token":"x","client":true}`, '"client" must be an object'],
      [`{"token":"x","method":false}`, '"method" must be a string'],
      [`{"token":"x","csrf_token":true}`, '"csrf_token" must be a string'],
      [`{"token":"x","touch":"true","k${'y'.repeat(80)}":null}`, `unknown field "k${'y'.repeat(63)}"`],
      // Cut at 64 bytes, but never inside a UTF-8 character (it was a 500: the answer was not
      // valid JSON text).
      [`{"token":"x","${'a'.repeat(63)}é":1}`, `unknown field "${'a'.repeat(63)}"`],
      [`{"token":"x","${'a'.repeat(62)}é":1}`, `unknown field "${'a'.repeat(62)}é"`],
      ['{}', '"token" is required'],
    ];
    for (const [raw, message] of errors) {
      const r = await s.api('POST', '/v1/sessions/verify', { rawBody: raw });
      assertError(r, 400, 'invalid_request', JSON.stringify(raw));
      assert.equal(r.json.message, message, JSON.stringify(raw));
      assert.ok(!r.text.includes(c.token), r.text);
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

  test('a body far over max_body (1 MiB announced) is 413 too_large as JSON too', T, async () => {
    // Only the head is sent: a server can refuse on Content-Length alone, and not sending the
    // body keeps the answer from being lost to a reset.
    const head = `POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${1024 * 1024}\r\n\r\n`;
    const x = await rawExchange(s.port, head, { timeout: 5000 });
    const text = x.data.toString('latin1');
    assert.equal(statusOf(x.data), 413, `answer: ${JSON.stringify(text.slice(0, 300))}`);
    assert.match(text.split('\r\n\r\n')[0], /^content-type: application\/json/im, `a JSON 413: ${JSON.stringify(text.slice(0, 300))}`);
    assert.match(text.split('\r\n\r\n')[0], /^content-disposition: attachment; filename="api\.json"\r?$/im, 'h2o\'s own 413, rewritten to JSON, is a download like every JSON answer');
    await s.assertAlive('after a 1 MiB body was announced');
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
    assert.match(r.headers['content-type'] || '', /^application\/json/, 'a JSON 431');
    assert.equal(typeof r.json?.error, 'string', r.text);
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

  test('a header far over max_header (500 KiB) is refused: 431, or 400 from h2o past its own limit', T, async () => {
    // h2o 2.2.5 refuses a request head over its compiled-in limit (~400 KiB) itself, with 400 and
    // a closed connection, before sessiond's router can answer 431 (docs/architecture.md, Limits).
    const x = await rawExchange(s.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: ${'f'.repeat(500 * 1024)}\r\n\r\n`, { timeout: 5000 });
    assert.ok([400, 431].includes(statusOf(x.data)), `answer: ${JSON.stringify(x.data.toString('latin1').slice(0, 200))}`);
    await s.assertAlive('after a 500 KiB header');
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

describe('request shapes', () => {
  /* POSTs `parts` as a chunked body (no Content-Length). */
  function chunked(srv, urlPath, parts) {
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1', port: srv.port, method: 'POST', path: urlPath, agent: false, timeout: 10000,
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${srv.key}` },
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.on('socket', (sock) => sock.on('error', () => {}));
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => {
          let json;
          try { json = JSON.parse(text); } catch { json = undefined; }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
      });
      for (const p of parts) req.write(p);
      req.end();
    });
  }

  test('a chunked body is read like any other', T, async () => {
    const r = await chunked(s, '/v1/sessions', ['{"user":', '"alice",', '"data":{"a":1}}']);
    assert.equal(r.status, 201, r.text);
    assert.equal((await verify(s, r.json.token)).json.data.a, 1);
  });

  test('a chunked body over max_body is 413 too_large', T, async () => {
    const part = ' '.repeat(16 * 1024);
    const r = await chunked(small, '/v1/sessions/verify', ['{"token":"x"}', part]);
    assertError(r, 413, 'too_large', '16k chunked body with max_body 2k');
    await small.assertAlive();
  });

  test('deeply nested JSON is refused or handled, never a crash', T, async () => {
    const depth = 20000;
    const nested = '{"user":"alice","data":{"a":' + '['.repeat(depth) + ']'.repeat(depth) + '}}';
    const r = await s.api('POST', '/v1/sessions', { rawBody: nested });
    assert.ok([400, 413].includes(r.status), `depth ${depth}: ${r.status} ${r.text.slice(0, 200)}`);
    // Deep but within max_data (16k): objects 1500 deep, then a PATCH that merges into them.
    let obj = '1';
    for (let i = 0; i < 1500; i++) obj = `{"a":${obj}}`;
    const c = await s.api('POST', '/v1/sessions', { rawBody: `{"user":"alice","data":${obj}}` });
    assert.ok([201, 400, 413].includes(c.status), `1500 deep: ${c.status} ${c.text.slice(0, 200)}`);
    if (c.status === 201) {
      const p = await s.api('PATCH', `/v1/sessions/${c.json.session_id}`, { rawBody: `{"data":${obj.replace('1', '2')}}` });
      assert.ok([200, 400, 413].includes(p.status), `PATCH 1500 deep: ${p.status}`);
    }
    await s.assertAlive('after deep JSON');
  });

  test('strings with NUL escapes and invalid UTF-8 are refused', T, async () => {
    assertError(await s.api('POST', '/v1/sessions', { rawBody: '{"user":"alice","data":{"k\u0000":1}}' }), 400, 'invalid_request', 'NUL in a key');
    assertError(await s.api('POST', '/v1/sessions', { rawBody: '{"user":"alice","data":{"k":"a\u0000b"}}' }), 400, 'invalid_request', 'NUL in a value');
    assertError(await s.api('POST', '/v1/sessions', { rawBody: Buffer.from([0x7b, 0x22, 0x75, 0x73, 0x65, 0x72, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]) }), 400, 'invalid_request', 'invalid UTF-8');
  });

  test('several requests on one keep-alive connection', T, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ports = new Set();
      const c = await createSession(s, { user: 'ka' });
      for (let i = 0; i < 6; i++) {
        const r = await new Promise((resolve, reject) => {
          const body = JSON.stringify({ token: c.token });
          const req = http.request({
            host: '127.0.0.1', port: s.port, agent, timeout: 5000,
            ...(i % 2 ? { method: 'POST', path: '/v1/sessions/verify', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Authorization: `Bearer ${s.key}` } } : { method: 'GET', path: '/healthz' }),
          }, (res) => {
            ports.add(res.socket.localPort);
            res.resume().on('end', () => resolve(res.statusCode));
          });
          req.on('timeout', () => req.destroy(new Error('timeout')));
          req.on('error', reject);
          req.end(i % 2 ? body : undefined);
        });
        assert.equal(r, 200);
      }
      assert.equal(ports.size, 1, 'one connection served all six');
    } finally {
      agent.destroy();
    }
  });

  test('a keep-alive connection survives 201 and 4xx answers (backends pool connections)', T, async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const seen = [];
      const steps = [
        ['POST', '/v1/sessions', { user: 'ka2' }], // 201
        ['POST', '/v1/sessions/verify', { token: 'A'.repeat(43) }], // 404 invalid_session
        ['GET', '/nope'], // 404 not_found
        ['GET', '/healthz'], // 200
      ];
      for (const [method, path, body] of steps) {
        const payload = body ? JSON.stringify(body) : undefined;
        const r = await new Promise((resolve, reject) => {
          const req = http.request({
            host: '127.0.0.1', port: s.port, agent, timeout: 5000, method, path,
            headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), Authorization: `Bearer ${s.key}` } : {},
          }, (res) => {
            const port = res.socket.localPort;
            res.resume().on('end', () => resolve({ status: res.statusCode, port, connection: res.headers.connection }));
          });
          req.on('timeout', () => req.destroy(new Error('timeout')));
          req.on('error', reject);
          req.end(payload);
        });
        seen.push(r);
      }
      assert.deepEqual(seen.map((x) => x.status), [201, 404, 404, 200]);
      assert.equal(new Set(seen.map((x) => x.port)).size, 1, `one connection for all: ${JSON.stringify(seen)}`);
    } finally {
      agent.destroy();
    }
  });

  test('HEAD /healthz is 200 with no body; HEAD on /v1 is 405', T, async () => {
    const r = await s.api('HEAD', '/healthz');
    assert.equal(r.status, 200);
    assert.equal(r.text, '');
    assert.equal((await s.api('HEAD', '/v1/sessions')).status, 405);
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
