// one-reading.test.mjs - requests that could be read two ways, straight against sessiond (the
// gateway suites check the same through nginx, Caddy and the nginx module): a target that is
// not canonical is 400 whatever the rule says; two session tokens (two different session
// cookies, or a cookie and a different Bearer token) are no session at all, audited, and the
// login page clears what it can; a body whose framing could be read two ways is 400 and the
// connection closes before the bytes after it are read as another request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { Sandbox, startWithKey, createSession, httpRequest, sleep, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb, s, alice, bob, auditPath;

before(async () => {
  sb = new Sandbox('sessiond-one-reading-');
  const cfg = sb.writeFile('one.ini', [
    '[server]', 'public_url = http://app.example.test:8000',
    '[rule static]', 'path = /static/*', 'policy = public',
    '[rule admin]', 'path = /admin/*', 'policy = role:admin',
    '[rule app]', 'policy = authenticated', '',
  ].join('\n'));
  s = await startWithKey(sb, { config: cfg });
  auditPath = path.join(s.data, 'audit.log');
  alice = await createSession(s, { user: 'alice' });
  bob = await createSession(s, { user: 'bob', roles: ['admin'] });
});
after(async () => {
  if (s?.running) await s.stop();
  await sb?.cleanup();
});

const verify = (uri, headers = {}) => httpRequest(s.port, 'GET', '/auth/verify', {
  headers: { 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': uri, 'X-Forwarded-Host': 'app.example.test', Accept: 'application/json', ...headers },
});

/* Bytes on a fresh connection; everything that comes back until the server closes (or 3 s). */
function exchange(bytes) {
  return new Promise((resolve) => {
    const chunks = [];
    let closed = false;
    const c = net.connect({ host: '127.0.0.1', port: s.port }, () => c.write(bytes));
    const timer = setTimeout(() => c.destroy(), 3000);
    c.on('data', (d) => chunks.push(d));
    c.on('end', () => { closed = true; });
    c.on('error', () => { closed = true; });
    c.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed });
    });
  });
}

/* Every status line, also one that follows a body without a line break. */
const statuses = (text) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

test('a target that is not canonical is 400 invalid_request, on a public path too; canonical ones are judged', T, async () => {
  for (const uri of ['/static/../admin/x', '/admin/x/../../static/a.css', '/static/%2e%2e/admin', '/static/.%2E/admin',
    '/admin#/../static/x', '/static/x?a#b', '//static/x', '/static/a%2Fb', '/static/a%5Cb', '/static/a\\b', '/static/a;b',
    '/static/%61.css', '/static/caf%c3%a9', '/static/%C0%AE', '/static/%E0%80%AE', '/static/a%00', '/static/a%25',
    '/static/a%23b', '/static/a%zz', '/static/a%', 'static/a', '*']) {
    const r = await verify(uri, { Cookie: `sid=${bob.token}` });
    assert.equal(r.status, 400, `${uri}: ${r.status} ${r.text}`);
    assert.equal(r.json?.error, 'invalid_request', uri);
  }
  // What stays: judged as usual.
  assert.equal((await verify('/static/a.css')).status, 200);
  assert.equal((await verify('/static/caf%C3%A9?x=/../y')).status, 200);
  assert.equal((await verify('/static/a%20b')).status, 200);
  assert.equal((await verify('/admin/x', { Cookie: `sid=${alice.token}` })).status, 403);
  assert.equal((await verify('/admin/x', { Cookie: `sid=${bob.token}` })).status, 200);
});

test('two different session cookies are no session, in one Cookie header or two; the same one twice is one', T, async () => {
  for (const cookie of [`sid=${bob.token}; sid=${alice.token}`, `sid=${alice.token}; sid=${bob.token}`,
    `sid=garbage; sid=${bob.token}`, `sid=${bob.token}; other=1; sid=`]) {
    const r = await verify('/app', { Cookie: cookie });
    assert.equal(r.status, 401, `${cookie.replaceAll(/[A-Za-z0-9_-]{43}/g, 'T')}: ${r.status}`);
    assert.equal(r.headers['x-auth-user'], undefined);
    assert.equal((await httpRequest(s.port, 'GET', '/auth/whoami', { headers: { Cookie: cookie } })).status, 401);
  }
  // Two Cookie header lines (HTTP/1.1 allows a client to send them).
  const two = await exchange(`GET /auth/verify HTTP/1.1\r\nHost: x\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Uri: /app\r\nX-Forwarded-Host: app.example.test\r\nCookie: sid=${alice.token}\r\nCookie: sid=${bob.token}\r\nConnection: close\r\n\r\n`);
  assert.deepEqual(statuses(two.text), [401]);
  assert.ok(!/x-auth-user/i.test(two.text), 'no identity');
  const same = await exchange(`GET /auth/verify HTTP/1.1\r\nHost: x\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Uri: /app\r\nX-Forwarded-Host: app.example.test\r\nCookie: sid=${alice.token}\r\nCookie: x=1; sid=${alice.token}\r\nConnection: close\r\n\r\n`);
  assert.deepEqual(statuses(same.text), [200]);
  assert.match(same.text, /x-auth-user: alice/i);
  const one = await verify('/app', { Cookie: `sid=${alice.token}; sid=${alice.token}` });
  assert.equal(one.headers['x-auth-user'], 'alice');
});

test('a session cookie and a Bearer token of another live session are no session; an application\'s own Bearer token is not a session', T, async () => {
  const r = await verify('/app', { Cookie: `sid=${alice.token}`, Authorization: `Bearer ${bob.token}` });
  assert.equal(r.status, 401);
  const w = await httpRequest(s.port, 'GET', '/auth/whoami', { headers: { Cookie: `sid=${bob.token}`, Authorization: `Bearer ${alice.token}` } });
  assert.equal(w.status, 401);
  // The same token in both, or a Bearer credential that names no session (the application's
  // own API token, an expired one): the cookie's session.
  for (const auth of [`Bearer ${alice.token}`, 'Bearer app-own-token-123', `Bearer ${'A'.repeat(43)}`, 'Basic YTpi']) {
    const ok = await verify('/app', { Cookie: `sid=${alice.token}`, Authorization: auth });
    assert.equal(ok.status, 200, auth.slice(0, 12));
    assert.equal(ok.headers['x-auth-user'], 'alice');
  }
  assert.equal((await verify('/app', { Authorization: `Bearer ${bob.token}` })).headers['x-auth-user'], 'bob');
  // Two Authorization headers: which one is meant cannot be known.
  const two = await exchange(`GET /auth/verify HTTP/1.1\r\nHost: x\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Uri: /app\r\nX-Forwarded-Host: app.example.test\r\nAuthorization: Bearer ${bob.token}\r\nAuthorization: Bearer ${bob.token}\r\nConnection: close\r\n\r\n`);
  assert.deepEqual(statuses(two.text), [401]);
});

test('logout with two session cookies ends both sessions and clears the cookies', T, async () => {
  const a = await createSession(s, { user: 'alice' });
  const b = await createSession(s, { user: 'bob' });
  const out = await httpRequest(s.port, 'POST', '/auth/logout', {
    headers: { Cookie: `sid=${a.token}; sid=${b.token}`, 'Sec-Fetch-Site': 'same-origin' },
  });
  assert.equal(out.status, 303);
  assert.ok((out.headers['set-cookie'] || []).some((c) => /Domain=example\.test/.test(c)), 'every copy is cleared');
  for (const t of [a, b]) assert.equal((await verify('/app', { Cookie: `sid=${t.token}` })).status, 401, 'the session is ended');
  const lines = fs.readFileSync(auditPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  for (const t of [a, b]) assert.ok(lines.some((l) => l.event === 'logout' && l.session_id === t.session_id), 'each logout is audited');
});

/* The audit lines of one event (the file is written at once, line by line). */
function auditLines(event) {
  return fs.readFileSync(auditPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.event === event);
}

test('each conflict is audited or counted: at most 10 lines a second, the next line says how many were left out', T, async () => {
  // Start early in a wall-clock second, so that the burst most likely stays inside one.
  await sleep(1000 - (Date.now() % 1000) + 20);
  const before = auditLines('cookie_conflict').length;
  const N = 40;
  const burst = await Promise.all(Array.from({ length: N }, () => verify('/app', { Cookie: `sid=${alice.token}; sid=${bob.token}` })));
  assert.ok(burst.every((r) => r.status === 401));
  await sleep(1100);
  assert.equal((await verify('/app', { Cookie: `sid=${bob.token}; sid=${alice.token}` })).status, 401);
  const lines = auditLines('cookie_conflict').slice(before);
  const counted = lines.reduce((n, l) => n + Number(/\((\d+) more not written\)/.exec(l.detail)?.[1] ?? 0), 0);
  assert.equal(lines.length + counted, N + 1, `every conflict is written or counted: ${JSON.stringify(lines.map((l) => l.detail))}`);
  assert.ok(lines.length < N, `the burst was rate-limited: ${lines.length} lines`);
  for (const l of lines) {
    assert.match(l.detail, /two different session cookies: treated as no session/);
    assert.equal(l.user, null);
  }
  const text = fs.readFileSync(auditPath, 'utf8');
  assert.ok(!text.includes(alice.token) && !text.includes(bob.token), 'no token in the audit log');
});

test('the login page clears every session cookie it can reach and says why', T, async () => {
  const r = await httpRequest(s.port, 'GET', '/auth/login?rd=/admin/x', { headers: { Cookie: `sid=${alice.token}; sid=${bob.token}` } });
  assert.equal(r.status, 200);
  const cleared = (r.headers['set-cookie'] || []).filter((c) => /^sid=;/.test(c) && /Max-Age=0/.test(c));
  const has = (re) => cleared.some((c) => re.test(c));
  assert.ok(has(/^sid=; Path=\/;(?!.*Domain)/), `host-only, Path=/: ${cleared}`);
  assert.ok(has(/^sid=; Path=\/auth;(?!.*Domain)/), 'host-only, base_path');
  assert.ok(has(/Path=\/; Domain=app\.example\.test;/), 'the host as a Domain');
  assert.ok(has(/Path=\/; Domain=example\.test;/), 'the parent domain');
  assert.ok(!has(/Domain=test;/), 'never a top-level domain');
  assert.match(r.text, /two different sign-in cookies/);
  // Without a conflict: no clearing, no message.
  const plain = await httpRequest(s.port, 'GET', '/auth/login', { headers: { Cookie: `sid=${alice.token}` } });
  assert.ok(!(plain.headers['set-cookie'] || []).some((c) => /^sid=;/.test(c)));
  assert.doesNotMatch(plain.text, /two different sign-in cookies/);
});

test('ambiguous framing is 400 with Connection: close, and what follows is never answered', T, async () => {
  const smuggled = 'GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n';
  const heads = {
    'Content-Length and Transfer-Encoding': 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'Transfer-Encoding and Content-Length': 'Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n',
    'two different Content-Length': 'Content-Length: 0\r\nContent-Length: 5\r\n\r\n',
    'two equal Content-Length': 'Content-Length: 0\r\nContent-Length: 0\r\n\r\n',
    'two Transfer-Encoding chunked': 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'Transfer-Encoding gzip, chunked': 'Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
    'Transfer-Encoding identity': 'Transfer-Encoding: identity\r\n\r\n',
  };
  for (const [what, head] of Object.entries(heads)) {
    const r = await exchange(`POST /v1/sessions/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${head}${smuggled}`);
    assert.deepEqual(statuses(r.text), [400], `${what}: ${r.text.slice(0, 200)}`);
    assert.ok(r.closed, `${what}: the connection is closed`);
    assert.match(r.text, /connection: close/i, what);
  }
  // One framing, and the next request on the connection is answered.
  const cl = await exchange(`POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab${smuggled.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}`);
  assert.deepEqual(statuses(cl.text), [405, 200]);
  const ch = await exchange(`POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n${smuggled.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}`);
  assert.deepEqual(statuses(ch.text), [405, 200]);
  await s.assertAlive();
});
