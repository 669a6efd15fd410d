// ops.test.mjs - startup, /healthz, /readyz, /metrics, unknown paths and methods (contract 1, 6).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Sandbox, Server, startWithKey, createSession, verify, assertError, httpRequest, sleep, TEST_TIMEOUT_MS } from './lib.mjs';

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

  // The gauge is the main thread's count (every 5 s while scraped): the session shows within
  // a few seconds.
  let live = Number(/^sessiond_sessions (\d+)$/m.exec(text)?.[1]);
  for (const end = Date.now() + 12000; live < 1 && Date.now() < end; await sleep(250))
    live = Number(/^sessiond_sessions (\d+)$/m.exec((await s.api('GET', '/metrics')).text)?.[1]);
  assert.ok(live >= 1, `sessiond_sessions counts the live session, got ${live}`);
});

test('sessiond_sessions follows creates and deletes (counted by the main thread, within about 5 s)', T, async () => {
  const gauge = async () => Number(/^sessiond_sessions (\d+)$/m.exec((await s.api('GET', '/metrics')).text)?.[1]);
  // The gauge is the main thread's count, every 5 s while someone scrapes: /metrics never asks
  // the store itself.
  const settles = async (want, what) => {
    const end = Date.now() + 12000;
    let got;
    while ((got = await gauge()) !== want && Date.now() < end) await sleep(250);
    assert.equal(got, want, what);
  };
  await gauge();
  await sleep(5600);
  const before_ = await gauge();
  const made = [];
  for (let i = 0; i < 3; i++) made.push(await createSession(s, { user: 'gauge-user' }));
  await settles(before_ + 3, 'after 3 creates');
  for (const c of made) assert.equal((await s.api('DELETE', `/v1/sessions/${c.session_id}`)).status, 204);
  await settles(before_, 'after the deletes');
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

/* A Redis that accepts connections and never answers: every store call waits its whole
 * redis_timeout. */
async function hungRedis() {
  const held = new Set();
  const srv = net.createServer((c) => {
    held.add(c);
    c.on('error', () => {});
    c.on('close', () => held.delete(c));
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: srv.address().port,
    close: () => {
      for (const c of held) c.destroy();
      return new Promise((r) => srv.close(r));
    },
  };
}

test('[server] ops_listen answers /healthz and /metrics at once while every store call hangs', T, async () => {
  const redis = await hungRedis();
  const data = sb.dataDir();
  const cfg = sb.writeFile('ops-hung.ini', `[server]\nthreads = 2\nops_listen = 127.0.0.1:0\n` +
    `[store]\nkind = redis\nredis_url = redis://127.0.0.1:${redis.port}\nredis_timeout = 1s\n` +
    'redis_connect_timeout = 1s\nredis_cache = false\n');
  let busy = true;
  let h;
  const clients = [];
  try {
    h = await Server.start({ data, config: cfg });
    const m = /^sessiond ops endpoints \(\/healthz, \/metrics\) on port (\d+) of /m.exec(h.stdout);
    assert.ok(m, `the ops port is printed: ${h.stdout}`);
    const opsPort = Number(m[1]);
    // Eight clients keep both worker loops inside store calls: whoami with a well-formed token
    // looks it up, and each lookup waits redis_timeout (1 s) for the hung Redis.
    const cookie = `sid=${'A'.repeat(43)}`;
    let storeCalls = 0;
    for (let i = 0; i < 8; i++) {
      clients.push((async () => {
        while (busy) {
          await httpRequest(h.port, 'GET', '/auth/whoami', { headers: { Cookie: cookie }, timeout: 20000 }).catch(() => {});
          storeCalls++;
        }
      })());
    }
    await sleep(1500); // the loops are busy now
    const times = [];
    for (let i = 0; i < 10; i++) {
      for (const p of ['/healthz', '/metrics']) {
        const t0 = process.hrtime.bigint();
        const r = await httpRequest(opsPort, 'GET', p, { timeout: 5000 });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        times.push(ms);
        assert.equal(r.status, 200, `${p}: ${r.text}`);
        if (p === '/metrics') assert.match(r.text, /^sessiond_requests_total\{/m);
      }
      await sleep(100);
    }
    // The bound: 50 ms is the goal; 500 ms leaves room for a loaded CI host and is still half
    // of one store call (1 s), which any answer queued behind a worker loop would wait at least.
    const worst = Math.max(...times);
    assert.ok(worst < 500, `worst ops answer ${worst.toFixed(1)} ms (all: ${times.map((t) => t.toFixed(1)).join(' ')})`);
    assert.ok(storeCalls > 0, 'store calls were answered meanwhile (503 after redis_timeout)');
    // Only the two endpoints that never call the store are there.
    assert.equal((await httpRequest(opsPort, 'GET', '/readyz')).status, 404);
    assert.equal((await httpRequest(opsPort, 'GET', '/auth/whoami')).status, 404);
    process.stderr.write(`ops_listen under a hung store: median ${times.sort((a, b) => a - b)[times.length >> 1].toFixed(1)} ms, worst ${worst.toFixed(1)} ms\n`);
  } finally {
    busy = false;
    await Promise.all(clients);
    try {
      if (h?.running) await h.stop();
    } finally {
      await redis.close();
    }
  }
});
