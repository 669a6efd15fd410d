// redis.test.mjs - the redis store with two sessiond nodes on one private redis-server
// (issue 5; contract sections 5-7).
//
// Both nodes have their own data directory (each has its admin socket) and the same server key
// (token hashes must match), and talk to a redis-server this file starts on a free loopback port
// with an append-only file synced on every write. What is checked: a session made on A verifies
// on B; revocations on A (one session, revoke-all, the admin CLI, API keys) are refused on B
// within 100 ms; Redis stopped or hung gives 503 within the timeout, without a crash and with
// bounded memory; Redis back gives service within 2 s; no token or API key reaches Redis in
// clear.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, createApiKey, createSession, verify, assertError, run, sleep, findInFiles, httpRequest, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
const TIMEOUT_MS = 300; // [store] redis_timeout and redis_connect_timeout of the nodes
const PROPAGATION_MS = 100;
let sb;
let redis;
let a;
let b;
let cfg;

/* Under ASan, freed memory waits in a quarantine (256 MB by default), which would hide what the
 * memory check below looks for; a small one keeps RSS meaningful. */
const NODE_ENV = process.env.ASAN_OPTIONS ? { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS}:quarantine_size_mb=4` } : {};

/* Starts a node on `data` with the shared configuration. */
function startNode(name, config, key) {
  return sb.start({ data: sb.dataDir(name), config, args: ['--threads', '2'], env: NODE_ENV }).then((s) => {
    s.key = key;
    return s;
  });
}

/* Two nodes on one Redis: the API key is made through the CLI on A's data dir (which creates the
 * server key), and B gets a copy of that server key. */
async function startPair(ini, names) {
  const config = sb.writeFile(`${names[0]}.ini`, ini);
  const dataA = sb.dataDir(names[0]);
  const key = await createApiKey(dataA, 'it', ['-c', config]);
  const dataB = sb.dataDir(names[1]);
  fs.mkdirSync(dataB, { mode: 0o700 });
  fs.copyFileSync(path.join(dataA, 'server.key'), path.join(dataB, 'server.key'));
  fs.chmodSync(path.join(dataB, 'server.key'), 0o600);
  const na = await startNode(names[0], config, key);
  const nb = await startNode(names[1], config, key);
  return { config, na, nb };
}

function redisIni(url, extra = '') {
  return `[store]\nkind = redis\nredis_url = ${url}\nredis_timeout = ${TIMEOUT_MS}ms\n` +
    `redis_connect_timeout = ${TIMEOUT_MS}ms\n${extra}`;
}

/* Polls `fn` (an async predicate) until it holds; returns the milliseconds it took, or throws
 * after `limit` ms. */
async function within(limit, what, fn) {
  const t0 = performance.now();
  for (;;) {
    if (await fn()) return performance.now() - t0;
    if (performance.now() - t0 > limit) throw new Error(`${what}: not within ${limit} ms`);
    await sleep(2);
  }
}

before(async () => {
  sb = new Sandbox('sessiond-redis-');
  redis = await sb.startRedis();
  ({ config: cfg, na: a, nb: b } = await startPair(redisIni(redis.url), ['a', 'b']));
});
after(async () => {
  try {
    for (const s of [a, b]) if (s?.running) await s.stop();
  } finally {
    await sb?.cleanup();
  }
});

test('redis: both nodes are ready; a session created on A verifies on B, and a patch on B shows on A', T, async () => {
  assert.equal((await a.api('GET', '/readyz')).status, 200);
  assert.equal((await b.api('GET', '/readyz')).status, 200);
  const c = await createSession(a, { user: 'alice', roles: ['admin'], data: { cart: [1, 2], n: 1 } });
  const v = await verify(b, c.token);
  assert.equal(v.status, 200, v.text);
  assert.equal(v.json.session_id, c.session_id);
  assert.equal(v.json.user, 'alice');
  assert.deepEqual(v.json.roles, ['admin']);
  assert.deepEqual(v.json.data, { cart: [1, 2], n: 1 });
  const p = await b.api('PATCH', `/v1/sessions/${c.session_id}`, { body: { data: { n: 2, more: { x: true } } } });
  assert.equal(p.status, 200, p.text);
  await within(PROPAGATION_MS, 'the patch made on B, seen on A', async () => {
    const va = await verify(a, c.token);
    return va.status === 200 && va.json.data.n === 2 && va.json.data.more?.x === true;
  });
  const list = await b.api('GET', '/v1/users/alice/sessions');
  assert.equal(list.status, 200);
  assert.ok(list.json.some((s) => s.session_id === c.session_id));
});

test('redis: a session revoked on A is refused on B within 100 ms (20 times)', T, async () => {
  const took = [];
  for (let i = 0; i < 20; i++) {
    const c = await createSession(a, { user: `rev${i}` });
    assert.equal((await verify(b, c.token)).status, 200);
    assert.equal((await verify(b, c.token)).status, 200); // now answered from B's near cache
    assert.equal((await a.api('DELETE', `/v1/sessions/${c.session_id}`)).status, 204);
    took.push(await within(PROPAGATION_MS, `revoke ${i} on A, refused on B`, async () => (await verify(b, c.token)).status === 404));
  }
  assert.ok(Math.max(...took) <= PROPAGATION_MS, `propagation times ${took.map((t) => t.toFixed(1)).join(', ')} ms`);
});

test('redis: revoke-all on A refuses every session of the user on B', T, async () => {
  const s1 = await createSession(a, { user: 'bob' });
  const s2 = await createSession(b, { user: 'bob' });
  for (const s of [s1, s2]) for (const n of [a, b]) assert.equal((await verify(n, s.token)).status, 200);
  assert.equal((await a.api('DELETE', '/v1/users/bob/sessions')).status, 204);
  for (const s of [s1, s2]) {
    await within(PROPAGATION_MS, 'revoke-all seen on B', async () => (await verify(b, s.token)).status === 404);
    assertError(await verify(a, s.token), 404, 'invalid_session', 'revoked on the node that revoked');
  }
  // A new session after the revoke-all is fine on both.
  const s3 = await createSession(b, { user: 'bob' });
  assert.equal((await verify(a, s3.token)).status, 200);
});

test('redis: the admin CLI works on Redis and both nodes follow (session revoke, apikey revoke)', T, async () => {
  const c = await createSession(a, { user: 'carol' });
  assert.equal((await verify(b, c.token)).status, 200);
  const list = await run(['session', 'list', '--user', 'carol', '-c', cfg, '--data', a.data]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(c.session_id));
  const r = await run(['session', 'revoke', c.session_id, '-c', cfg, '--data', a.data]);
  assert.equal(r.code, 0, r.stderr);
  for (const n of [a, b]) await within(PROPAGATION_MS, 'CLI revoke seen', async () => (await verify(n, c.token)).status === 404);

  const key2 = await createApiKey(a.data, 'second', ['-c', cfg]);
  const d = await b.api('POST', '/v1/sessions', { key: key2, body: { user: 'dave' } });
  assert.equal(d.status, 201, 'a key made by the CLI works on B at once');
  const keys = await run(['apikey', 'list', '-c', cfg, '--data', a.data]);
  assert.match(keys.stdout, /second/);
  assert.equal((await run(['apikey', 'revoke', 'second', '-c', cfg, '--data', a.data])).code, 0);
  for (const n of [a, b])
    await within(PROPAGATION_MS, 'API key revoke seen', async () => (await n.api('GET', '/v1/users/dave/sessions', { key: key2 })).status === 401);
  assert.equal((await b.api('GET', '/v1/users/dave/sessions')).status, 200, 'the other key still works');

  // Without Redis at the URL, the CLI says so and fails.
  const dead = sb.writeFile('dead.ini', redisIni('redis://127.0.0.1:1/0'));
  const f = await run(['session', 'list', '-c', dead, '--data', a.data]);
  assert.equal(f.code, 1);
  assert.match(f.stderr, /^sessiond: Redis does not answer/);
});

test('redis: no token or API key reaches Redis in clear', T, async () => {
  const c = await createSession(a, { user: 'erin', data: { note: 'x' } });
  const rot = await b.api('POST', '/v1/sessions/rotate', { body: { token: c.token } });
  assert.equal(rot.status, 200);
  assert.equal((await verify(a, rot.json.token)).status, 200);
  const needles = [a.key, c.token, rot.json.token].flatMap((sec) => {
    const b64 = sec.startsWith('sk_') ? sec.slice(3) : sec;
    return [Buffer.from(sec), Buffer.from(b64), Buffer.from(b64, 'base64url')];
  });
  assert.equal(await redis.command('BGREWRITEAOF').then((x) => x.startsWith('+')), true);
  await sleep(500);
  const hits = findInFiles(redis.dir, [...needles, Buffer.from('erin')]);
  assert.ok(hits.some((h) => h.needle === needles.length), 'the Redis files hold the sessions (searched the right place)');
  assert.deepEqual(hits.filter((h) => h.needle < needles.length), [], 'secrets in the Redis files');
});

test('redis: Redis hung (SIGSTOP): 503 within the timeout, no crash; SIGCONT: service within 2 s', T, async () => {
  const c = await createSession(a, { user: 'frank' });
  const fresh = await createSession(b, { user: 'grace' }); // never verified on A: not in its cache
  redis.pause();
  try {
    for (const [what, req] of [
      ['/readyz', () => a.api('GET', '/readyz')],
      ['verify of an uncached token', () => verify(a, fresh.token)],
      ['create', () => a.api('POST', '/v1/sessions', { body: { user: 'henry' } })],
    ]) {
      const t0 = performance.now();
      const r = await req();
      const ms = performance.now() - t0;
      assert.equal(r.status, 503, `${what}: ${r.status} ${r.text}`);
      // The request fails at its first command, which has one timeout for everything.
      assert.ok(ms < TIMEOUT_MS + 400, `${what} took ${ms.toFixed(0)} ms (timeout ${TIMEOUT_MS} ms)`);
      if (what !== '/readyz') assert.equal(r.json.error, 'store_unavailable');
    }
    await a.assertAlive('while Redis hangs');
  } finally {
    redis.resume();
  }
  const ms = await within(2000, 'service after SIGCONT', async () => (await verify(a, c.token)).status === 200);
  assert.ok(ms <= 2000);
  assert.equal((await a.api('GET', '/readyz')).status, 200);
  assert.equal((await verify(a, fresh.token)).status, 200);
});

/* Resident memory of a process, in KiB. */
function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

test('redis: Redis stopped: 503 at once, memory bounded, no crash; Redis back: service within 2 s', T, async () => {
  const c = await createSession(a, { user: 'ivan', data: { kept: true } });
  await redis.stop();
  const t0 = performance.now();
  assertError(await verify(a, c.token), 503, 'store_unavailable', 'verify with Redis stopped');
  // A logout that cannot reach the store says so; it never claims "signed out".
  const out = await httpRequest(a.port, 'POST', '/auth/logout', { headers: { Cookie: `sid=${c.token}`, 'Sec-Fetch-Site': 'same-origin', Accept: 'application/json' } });
  assert.equal(out.status, 503, 'logout with Redis stopped');
  assert.equal((await b.api('GET', '/readyz')).status, 503);
  assert.ok(performance.now() - t0 < 2 * TIMEOUT_MS + 500, 'refused connections fail fast');
  // Many failing requests do not grow the server.
  const before = rssKiB(a.pid);
  for (let i = 0; i < 300; i++) {
    const r = await (i % 2 ? verify(a, c.token) : a.api('POST', '/v1/sessions', { body: { user: 'x', data: { pad: 'y'.repeat(2000) } } }));
    assert.equal(r.status, 503);
  }
  const grew = rssKiB(a.pid) - before;
  assert.ok(grew < 16 * 1024, `RSS grew ${grew} KiB over 300 failed requests`);
  await a.assertAlive('with Redis stopped');
  await b.assertAlive('with Redis stopped');

  await redis.restart();
  const ms = await within(2000, 'service after Redis restarted', async () => (await verify(a, c.token)).status === 200);
  assert.ok(ms <= 2000, `${ms} ms`);
  await within(2000, 'B ready again', async () => (await b.api('GET', '/readyz')).status === 200);
  const v = await verify(b, c.token);
  assert.equal(v.status, 200, 'the session made before the restart is still there');
  assert.deepEqual(v.json.data, { kept: true });
  assert.match(a.output, /store: Redis at 127\.0\.0\.1:\d+ is unreachable/);
  assert.match(a.output, /store: Redis at 127\.0\.0\.1:\d+ is reachable again/);
  assert.doesNotMatch(a.output + b.output, /sk_[A-Za-z0-9_-]{43}/, 'no API key in the logs');
});

test('redis: with redis_cache = false the nodes agree at once', T, async () => {
  const { na, nb } = await startPair(redisIni(redis.url, 'redis_cache = false\nredis_prefix = nocache:\n'), ['c', 'd']);
  try {
    const c = await createSession(na, { user: 'judy' });
    assert.equal((await verify(nb, c.token)).status, 200);
    assert.equal((await na.api('DELETE', `/v1/sessions/${c.session_id}`)).status, 204);
    assertError(await verify(nb, c.token), 404, 'invalid_session', 'no near cache: refused at once');
    // Another prefix is another store: a's sessions are not visible here.
    assert.equal((await verify(nb, (await createSession(a, { user: 'judy' })).token)).status, 404);
  } finally {
    await na.stop();
    await nb.stop();
  }
});

test('redis: SIGTERM exits 0 on both nodes', T, async () => {
  await a.stop();
  await b.stop();
});
