// durability.test.mjs - the "must show" scenario: acknowledged writes survive kill -9 (lmdb).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, startWithKey, createSession, verify, assertError, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb;

before(() => {
  sb = new Sandbox();
});
after(async () => {
  await sb?.cleanup();
});

test('create, verify, 20 concurrent PATCHes, kill -9, restart: every key is there; delete: invalid_session', T, async () => {
  const s = await startWithKey(sb);
  const c = await createSession(s, { user: 'alice', roles: ['admin'], data: { base: true } });
  assert.equal((await verify(s, c.token)).status, 200);

  const patches = [];
  for (let i = 0; i < 20; i++) {
    patches.push(s.api('PATCH', `/v1/sessions/${c.session_id}`, { body: { data: { [`k${i}`]: `v${i}` } } }));
  }
  const answers = await Promise.all(patches);
  answers.forEach((r, i) => assert.equal(r.status, 200, `PATCH k${i}: ${r.status} ${r.text}`));
  // Each answer holds at least its own key (a merge, never a lost update of that key).
  answers.forEach((r, i) => assert.equal(r.json.data[`k${i}`], `v${i}`, `PATCH k${i} answer`));

  const expected = { base: true };
  for (let i = 0; i < 20; i++) expected[`k${i}`] = `v${i}`;
  const before_ = await verify(s, c.token, { touch: false });
  assert.deepEqual(before_.json.data, expected, 'all 20 keys before the crash');

  const x = await s.kill();
  assert.equal(x.signal, 'SIGKILL');
  await s.restart();

  const v = await verify(s, c.token);
  assert.equal(v.status, 200, `verify after kill -9 and restart: ${v.text}`);
  assert.deepEqual(v.json.data, expected, 'all 20 keys after the crash');
  assert.equal(v.json.user, 'alice');
  assert.deepEqual(v.json.roles, ['admin']);
  assert.equal(v.json.session_id, c.session_id);

  assert.equal((await s.api('DELETE', `/v1/sessions/${c.session_id}`)).status, 204);
  assertError(await verify(s, c.token), 404, 'invalid_session', 'verify after delete');
  await s.stop();
});

test('deletes, revoke-all, rotations and preferences acknowledged before kill -9 survive it', T, async () => {
  const s = await startWithKey(sb);
  const gone = await createSession(s, { user: 'alice' });
  const kept = await createSession(s, { user: 'alice', data: { x: 1 } });
  const bobs = [await createSession(s, { user: 'bob' }), await createSession(s, { user: 'bob' })];
  const rot = await createSession(s, { user: 'carol' });

  assert.equal((await s.api('DELETE', `/v1/sessions/${gone.session_id}`)).status, 204);
  assert.equal((await s.api('DELETE', '/v1/users/bob/sessions')).status, 204);
  const r = await s.api('POST', '/v1/sessions/rotate', { body: { token: rot.token } });
  assert.equal(r.status, 200);
  const rotated = r.json.token;
  assert.equal((await s.api('PUT', '/v1/users/alice/preferences', { body: { theme: 'dark', language: 'de' } })).status, 200);

  await s.kill();
  await s.restart();

  assertError(await verify(s, gone.token), 404, 'invalid_session', 'deleted session after restart');
  for (const b of bobs) assertError(await verify(s, b.token), 404, 'invalid_session', 'revoked user after restart');
  const v = await verify(s, kept.token);
  assert.equal(v.status, 200);
  assert.deepEqual(v.json.data, { x: 1 });
  assert.deepEqual(v.json.preferences, { theme: 'dark', language: 'de' }, 'preferences after restart');
  assert.equal((await verify(s, rotated)).status, 200, 'rotated token after restart');
  // The API key is durable too (it was used above after the restart).
  const list = await s.api('GET', '/v1/users/bob/sessions');
  assert.deepEqual(list.json, []);
  await s.stop();
});
