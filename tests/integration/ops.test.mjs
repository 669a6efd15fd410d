// ops.test.mjs - startup, /healthz, /readyz, /metrics, unknown paths and methods (contract 1, 6).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, startWithKey, createSession, verify, assertError, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
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

test('startup line names 127.0.0.1 and the real port when asked for port 0', T, () => {
  assert.equal(s.host, '127.0.0.1');
  assert.ok(Number.isInteger(s.port) && s.port > 0 && s.port < 65536, `port ${s.port}`);
  const lines = s.stdout.split('\n').filter((l) => l.startsWith('sessiond listening on '));
  assert.equal(lines.length, 1, `one listening line, got ${JSON.stringify(s.stdout)}`);
  assert.equal(lines[0], `sessiond listening on http://127.0.0.1:${s.port}`);
});

test('GET /healthz is 200 "ok"', T, async () => {
  const r = await s.api('GET', '/healthz');
  assert.equal(r.status, 200);
  assert.equal(r.text.trim(), 'ok');
});

test('GET /healthz needs no API key and ignores a bad one', T, async () => {
  const r = await s.api('GET', '/healthz', { key: 'sk_nonsense' });
  assert.equal(r.status, 200);
});

test('GET /readyz is 200 with the store reachable', T, async () => {
  const r = await s.api('GET', '/readyz');
  assert.equal(r.status, 200);
});

test('GET /metrics is Prometheus text with the contract series', T, async () => {
  // Make sure there is at least one verify and one live session to report.
  const c = await createSession(s, { user: 'metrics-user' });
  const v = await verify(s, c.token);
  assert.equal(v.status, 200);
  await s.api('GET', '/no/such/path');

  const r = await s.api('GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/plain/);
  const text = r.text;
  assert.match(text, /^# TYPE sessiond_requests_total counter$/m);
  assert.match(text, /^# TYPE sessiond_verify_duration_seconds histogram$/m);
  assert.match(text, /^# TYPE sessiond_sessions gauge$/m);

  // Every sample line is NAME{labels} VALUE with a number as value.
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+]?([0-9.]+(e[-+]?[0-9]+)?|\+Inf|NaN)$/, `bad sample line: ${line}`);
  }

  // requests by route and status: the verify we made is counted as a 200, the unknown path 404.
  const reqLines = text.split('\n').filter((l) => l.startsWith('sessiond_requests_total{'));
  assert.ok(reqLines.some((l) => /status="200"/.test(l) && Number(l.split(' ').pop()) >= 1), reqLines.join('\n'));
  assert.ok(reqLines.some((l) => /status="404"/.test(l)), `a 404 is counted:\n${reqLines.join('\n')}`);

  // histogram: cumulative buckets ending in +Inf, count equal to the +Inf bucket, at least 1.
  const buckets = [...text.matchAll(/^sessiond_verify_duration_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)];
  assert.ok(buckets.length >= 2, 'histogram buckets');
  assert.equal(buckets.at(-1)[1], '+Inf');
  for (let i = 1; i < buckets.length; i++) assert.ok(Number(buckets[i][2]) >= Number(buckets[i - 1][2]), 'cumulative buckets');
  const count = Number(/^sessiond_verify_duration_seconds_count (\d+)$/m.exec(text)?.[1]);
  assert.equal(count, Number(buckets.at(-1)[2]));
  assert.ok(count >= 1, 'the verify was measured');
  assert.match(text, /^sessiond_verify_duration_seconds_sum [0-9.e+-]+$/m);

  const live = Number(/^sessiond_sessions (\d+)$/m.exec(text)?.[1]);
  assert.ok(live >= 1, `sessiond_sessions counts the live session, got ${live}`);
});

test('sessiond_sessions follows creates and deletes', T, async () => {
  const gauge = async () => Number(/^sessiond_sessions (\d+)$/m.exec((await s.api('GET', '/metrics')).text)?.[1]);
  const before_ = await gauge();
  const made = [];
  for (let i = 0; i < 3; i++) made.push(await createSession(s, { user: 'gauge-user' }));
  assert.equal(await gauge(), before_ + 3);
  for (const c of made) assert.equal((await s.api('DELETE', `/v1/sessions/${c.session_id}`)).status, 204);
  assert.equal(await gauge(), before_);
});

test('sessiond_requests_total counts each request once, by route and status', T, async () => {
  const sample = async (route, status) => {
    const text = (await s.api('GET', '/metrics')).text;
    const esc = route.replace(/[{}/]/g, (ch) => '\\' + ch);
    const m = new RegExp(`^sessiond_requests_total\\{route="${esc}",status="${status}"\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  const c = await createSession(s, { user: 'count-user' });
  const v0 = await sample('/v1/sessions/verify', 200);
  const n0 = await sample('/v1/sessions/verify', 404);
  const h0 = await sample('/healthz', 200);
  for (let i = 0; i < 3; i++) assert.equal((await verify(s, c.token)).status, 200);
  for (let i = 0; i < 2; i++) assert.equal((await verify(s, 'A'.repeat(43))).status, 404);
  for (let i = 0; i < 4; i++) assert.equal((await s.api('GET', '/healthz')).status, 200);
  assert.equal(await sample('/v1/sessions/verify', 200), v0 + 3);
  assert.equal(await sample('/v1/sessions/verify', 404), n0 + 2);
  assert.equal(await sample('/healthz', 200), h0 + 4);
});

test('unknown path is 404 JSON not_found', T, async () => {
  for (const p of ['/nope', '/v1/nope', '/v1/', '/v2/sessions', '/healthz/x', '/v1/sessions/verify/extra']) {
    const r = await s.api('GET', p);
    assertError(r, 404, 'not_found', p);
  }
});

test('wrong method is 405', T, async () => {
  const cases = [
    ['POST', '/healthz'],
    ['DELETE', '/readyz'],
    ['PUT', '/metrics'],
    ['GET', '/v1/sessions'],
    ['GET', '/v1/sessions/verify'],
    ['PUT', '/v1/sessions/0123456789abcdef0123456789abcdef'],
    ['POST', '/v1/users/alice/sessions'],
    ['DELETE', '/v1/users/alice/preferences'],
  ];
  for (const [m, p] of cases) {
    const r = await s.api(m, p, { body: {} });
    assert.equal(r.status, 405, `${m} ${p}: ${r.status} ${r.text}`);
    assert.equal(r.json?.error, 'invalid_request', `${m} ${p}: ${r.text}`);
  }
});

/* ASVS 3.5.3: the endpoints that change state take only POST; a GET or HEAD (which a link, an
 * image or a prefetch sends, with the cookie) is 405 with Allow and changes nothing. */
test('GET and HEAD on every POST-only endpoint are 405 with Allow: POST, and change nothing', T, async () => {
  const live = await createSession(s, { user: 'alice' });
  const postOnly = ['/v1/sessions', '/v1/sessions/verify', '/v1/sessions/rotate', '/v1/sessions/revoke',
    '/auth/logout', '/auth/keepalive', '/auth/sessions/revoke', '/auth/api/login', '/auth/api/refresh', '/auth/api/logout'];
  for (const p of postOnly) {
    for (const m of ['GET', 'HEAD']) {
      const r = await s.api(m, p, { headers: { Cookie: `sid=${live.token}`, 'Sec-Fetch-Site': 'same-origin' } });
      assert.equal(r.status, 405, `${m} ${p}: ${r.status} ${r.text}`);
      assert.equal(r.headers.allow, 'POST', `${m} ${p}: Allow`);
      if (m === 'GET') assert.equal(r.json?.error, 'invalid_request', `${m} ${p}: ${r.text}`);
      else assert.equal(r.text, '', `${m} ${p}: no body`);
    }
  }
  const v = await verify(s, live.token);
  assert.equal(v.status, 200, 'the session a GET /auth/logout came with lives');
  assert.equal(v.json.idle_expires_at, live.idle_expires_at, 'and was not kept alive');
});

test('405 on /v1 carries an Allow header listing the methods', T, async () => {
  const r = await s.api('GET', '/v1/sessions');
  assert.equal(r.status, 405);
  assert.equal(r.headers.allow, 'POST');
  const r2 = await s.api('PUT', '/v1/sessions/0123456789abcdef0123456789abcdef', { body: {} });
  assert.equal(r2.status, 405);
  assert.deepEqual(r2.headers.allow.split(/,\s*/).sort(), ['DELETE', 'GET', 'PATCH']);
});

test('answers carry Cache-Control: no-store', T, async () => {
  for (const p of ['/healthz', '/v1/nope']) {
    const r = await s.api('GET', p);
    assert.match(r.headers['cache-control'] || '', /no-store/, p);
  }
});

test('SIGTERM exits 0', T, async () => {
  await s.stop();
});
