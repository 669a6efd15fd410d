// stores.test.mjs - the same server on the memory store.
//
// API keys live in the store, and the memory store lives only inside the server process: the
// CLI cannot reach it (`apikey create --store memory` is refused) and the server has no other
// way to be given a key, so /v1 cannot be exercised with a key here. What can be checked is
// that the server runs, answers /healthz and /readyz, refuses /v1 without a valid key (also a
// key that is valid for an lmdb store on the same data dir), and stops cleanly.
// The lmdb store gets the full /v1 coverage in the other files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, createApiKey, assertError, run, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb;
let s;
let lmdbKey;

before(async () => {
  sb = new Sandbox();
  const data = sb.dataDir();
  lmdbKey = await createApiKey(data, 'lmdb-only'); // a key in the lmdb store of this data dir
  s = await sb.start({ data, store: 'memory' });
});
after(async () => {
  try {
    if (s?.running) await s.stop();
  } finally {
    await sb?.cleanup();
  }
});

test('memory store: /healthz 200 ok and /readyz 200', T, async () => {
  const h = await s.api('GET', '/healthz');
  assert.equal(h.status, 200);
  assert.equal(h.text.trim(), 'ok');
  assert.equal((await s.api('GET', '/readyz')).status, 200);
  const m = await s.api('GET', '/metrics');
  assert.equal(m.status, 200);
  assert.match(m.text, /^sessiond_sessions 0$/m, 'no sessions in a fresh memory store');
});

test('memory store: /v1 without a key, or with an lmdb store\'s key, is 401', T, async () => {
  assertError(await s.api('POST', '/v1/sessions', { body: { user: 'alice' } }), 401, 'unauthorized', 'no key');
  assertError(await s.api('POST', '/v1/sessions', { key: lmdbKey, body: { user: 'alice' } }), 401, 'unauthorized', 'the lmdb key');
  assertError(await s.api('POST', '/v1/sessions/verify', { key: 'sk_' + 'A'.repeat(43), body: { token: 'x' } }), 401, 'unauthorized', 'made-up key');
  assertError(await s.api('GET', '/v1/users/alice/sessions'), 401, 'unauthorized', 'GET without key');
});

test('memory store: unknown path 404 and wrong method 405 as with lmdb', T, async () => {
  assertError(await s.api('GET', '/nope'), 404, 'not_found');
  assert.equal((await s.api('POST', '/healthz', { body: {} })).status, 405);
});

test('memory store: admin commands reach the running server through its admin socket', T, async () => {
  const key = await run(['apikey', 'create', 'via-socket', '--store', 'memory', '--data', s.data]);
  assert.equal(key.code, 0, key.stderr);
  assert.match(key.stdout, /^sk_[A-Za-z0-9_-]{43}\n$/);
  const list = await run(['session', 'list', '--store', 'memory', '--data', s.data]);
  assert.equal(list.code, 0, list.stderr);
  // A user added through the socket: the password travels in the request, never in argv.
  const add = await run(['user', 'add', 'sockuser', '--roles', 'ops', '--password-stdin', '--store', 'memory', '--data', s.data],
    { input: 'socket password\n' });
  assert.equal(add.code, 0, add.stderr);
  const users = await run(['user', 'list', '--store', 'memory', '--data', s.data]);
  assert.equal(users.code, 0, users.stderr);
  assert.match(users.stdout, /^sockuser\tops\tenabled\t/m);
  assert.doesNotMatch(users.stdout + add.stdout + add.stderr + s.output, /socket password/);
});

test('memory store: SIGTERM exits 0', T, async () => {
  await s.stop();
});
