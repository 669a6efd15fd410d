// stores.test.mjs - the same /v1 subset against both stores (lmdb and memory).
//
// The memory store lives inside the server process: its API key is made through the running
// server's admin socket (`sessiond apikey create NAME --store memory --data DIR`), and so are
// `session list` / `session revoke`. The lmdb store gets the full coverage in the other files.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, startWithKey, run, createSession, verify, assertError, sleepUntil, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb;

before(() => {
  sb = new Sandbox();
});
after(async () => {
  await sb?.cleanup();
});

for (const store of ['lmdb', 'memory']) {
  describe(`${store} store`, () => {
    let s;
    before(async () => {
      s = await startWithKey(sb, { store });
    });
    after(async () => {
      if (s?.running) await s.stop();
    });

    test('healthz, readyz, 401 without a key', T, async () => {
      assert.equal((await s.api('GET', '/healthz')).text.trim(), 'ok');
      assert.equal((await s.api('GET', '/readyz')).status, 200);
      assertError(await s.api('POST', '/v1/sessions', { key: undefined, body: { user: 'alice' } }), 401, 'unauthorized');
      assertError(await s.api('POST', '/v1/sessions', { key: 'sk_' + 'A'.repeat(43), body: { user: 'alice' } }), 401, 'unauthorized');
    });

    test('create, verify, patch (concurrent keys), get, delete', T, async () => {
      const c = await createSession(s, { user: 'alice', roles: ['admin'], data: { a: 1 } });
      const v = await verify(s, c.token);
      assert.equal(v.status, 200);
      assert.equal(v.json.user, 'alice');
      assert.deepEqual(v.json.roles, ['admin']);
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) => s.api('PATCH', `/v1/sessions/${c.session_id}`, { body: { data: { [`k${i}`]: i } } })),
      );
      answers.forEach((r, i) => assert.equal(r.status, 200, `PATCH k${i}: ${r.text}`));
      const patched = await s.api('PATCH', `/v1/sessions/${c.session_id}`, { body: { data: { a: null, b: { c: 2 } } } });
      assert.equal(patched.status, 200);
      const expected = { b: { c: 2 } };
      for (let i = 0; i < 10; i++) expected[`k${i}`] = i;
      assert.deepEqual((await verify(s, c.token)).json.data, expected);
      const g = await s.api('GET', `/v1/sessions/${c.session_id}`);
      assert.equal(g.status, 200);
      assert.ok(!g.text.includes(c.token));
      assert.equal((await s.api('DELETE', `/v1/sessions/${c.session_id}`)).status, 204);
      assert.equal((await s.api('DELETE', `/v1/sessions/${c.session_id}`)).status, 204);
      assertError(await verify(s, c.token), 404, 'invalid_session');
      assertError(await s.api('GET', `/v1/sessions/${c.session_id}`), 404, 'not_found');
    });

    test('rotate: new token works, old one within the grace', T, async () => {
      const c = await createSession(s, { user: 'alice' });
      const r = await s.api('POST', '/v1/sessions/rotate', { body: { token: c.token } });
      assert.equal(r.status, 200);
      assert.notEqual(r.json.token, c.token);
      assert.equal((await verify(s, r.json.token)).status, 200);
      assert.equal((await verify(s, c.token)).status, 200);
    });

    test('revoke-all over /v1 and per user listing', T, async () => {
      const a = [await createSession(s, { user: 'ann' }), await createSession(s, { user: 'ann' })];
      const b = await createSession(s, { user: 'ben' });
      const l = await s.api('GET', '/v1/users/ann/sessions');
      assert.deepEqual(l.json.map((x) => x.session_id).sort(), a.map((x) => x.session_id).sort());
      assert.equal((await s.api('DELETE', '/v1/users/ann/sessions')).status, 204);
      for (const c of a) assertError(await verify(s, c.token), 404, 'invalid_session');
      assert.equal((await verify(s, b.token)).status, 200);
      const again = await createSession(s, { user: 'ann' });
      assert.equal((await verify(s, again.token)).status, 200, 'a session made after revoke-all is live');
    });

    test('preferences', T, async () => {
      assert.deepEqual((await s.api('GET', '/v1/users/pat/preferences')).json, {});
      assert.equal((await s.api('PUT', '/v1/users/pat/preferences', { body: { theme: 'dark' } })).status, 200);
      assert.deepEqual((await s.api('PATCH', '/v1/users/pat/preferences', { body: { language: 'en' } })).json, { theme: 'dark', language: 'en' });
      assertError(await s.api('PATCH', '/v1/users/pat/preferences', { body: { theme: 'purple' } }), 400, 'invalid_request');
    });

    test('max_per_user evicts the oldest session', T, async () => {
      // The default is 50. Creation times are whole seconds, so the first session is made a
      // second before the other 50 to be unambiguously the oldest.
      const first = await createSession(s, { user: 'many' });
      await sleepUntil((first.expires_at - 86400 + 1) * 1000 + 50);
      const made = [first];
      for (let i = 0; i < 50; i++) made.push(await createSession(s, { user: 'many' }));
      const statuses = [];
      for (const c of made) statuses.push((await verify(s, c.token, { touch: false })).status);
      assert.deepEqual(statuses.map((st, i) => (st === 200 ? null : i)).filter((i) => i !== null), [0], `only the oldest was evicted: ${JSON.stringify(statuses)}`);
      assert.equal((await s.api('GET', '/v1/users/many/sessions')).json.length, 50);
      assertError(await s.api('GET', `/v1/sessions/${first.session_id}`), 404, 'not_found');
    });

    test('CLI session revoke --user and revoke ID reach the running server at once', T, async () => {
      const extra = store === 'memory' ? ['--store', 'memory'] : [];
      const c1 = await createSession(s, { user: 'cli-a' });
      const c2 = await createSession(s, { user: 'cli-a' });
      const c3 = await createSession(s, { user: 'cli-b' });
      const c4 = await createSession(s, { user: 'cli-b' });
      const list = await run(['session', 'list', '--data', s.data, ...extra]);
      assert.equal(list.code, 0, list.stderr);
      for (const c of [c1, c2, c3, c4]) {
        assert.ok(list.stdout.includes(c.session_id), `${c.session_id} listed:\n${list.stdout}`);
        assert.ok(!list.stdout.includes(c.token));
      }
      const lb = await run(['session', 'list', '--user', 'cli-b', '--data', s.data, ...extra]);
      assert.equal(lb.code, 0, lb.stderr);
      assert.ok(lb.stdout.includes(c3.session_id) && lb.stdout.includes(c4.session_id));
      assert.ok(!lb.stdout.includes(c1.session_id), lb.stdout);

      let r = await run(['session', 'revoke', '--user', 'cli-a', '--data', s.data, ...extra]);
      assert.equal(r.code, 0, r.stderr);
      assertError(await verify(s, c1.token), 404, 'invalid_session');
      assertError(await verify(s, c2.token), 404, 'invalid_session');
      assert.equal((await verify(s, c3.token)).status, 200);
      r = await run(['session', 'revoke', c3.session_id, '--data', s.data, ...extra]);
      assert.equal(r.code, 0, r.stderr);
      assertError(await verify(s, c3.token), 404, 'invalid_session');
      assert.equal((await verify(s, c4.token)).status, 200);
    });

    test('apikey revoke reaches the running server at once', T, async () => {
      const extra = store === 'memory' ? ['--store', 'memory'] : [];
      const mk = await run(['apikey', 'create', 'temp', '--data', s.data, ...extra]);
      assert.equal(mk.code, 0, mk.stderr);
      const k = mk.stdout.trim();
      assert.equal((await s.api('GET', '/v1/users/x/sessions', { key: k })).status, 200);
      const rv = await run(['apikey', 'revoke', 'temp', '--data', s.data, ...extra]);
      assert.equal(rv.code, 0, rv.stderr);
      assertError(await s.api('GET', '/v1/users/x/sessions', { key: k }), 401, 'unauthorized');
    });

    test('SIGTERM exits 0; what survives a restart depends on the store', T, async () => {
      const c = await createSession(s, { user: 'alice' });
      await s.stop();
      await s.restart();
      if (store === 'lmdb') {
        assert.equal((await verify(s, c.token)).status, 200, 'lmdb keeps sessions');
      } else {
        // The memory store starts empty: the API key is gone too.
        assertError(await verify(s, c.token), 401, 'unauthorized', 'memory store forgets its keys');
        s.key = (await run(['apikey', 'create', 'it2', '--store', 'memory', '--data', s.data])).stdout.trim();
        assertError(await verify(s, c.token), 404, 'invalid_session', 'memory store forgets sessions');
      }
      await s.stop();
    });
  });
}

test('memory store CLI with no server running: exit 1 and a clear error', T, async () => {
  const data = sb.dataDir();
  for (const args of [['apikey', 'create', 'x'], ['session', 'list'], ['session', 'revoke', '--user', 'alice']]) {
    const r = await run([...args, '--store', 'memory', '--data', data]);
    assert.equal(r.code, 1, `${args.join(' ')}: exit ${r.code} ${r.stderr}`);
    assert.ok(r.stderr.startsWith('sessiond: '), r.stderr);
    assert.match(r.stderr, /memory/, r.stderr);
    assert.equal(r.stdout, '');
  }
});
