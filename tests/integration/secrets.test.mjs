// secrets.test.mjs - tokens and API keys never reach the disk, the server's output or /metrics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, startWithKey, createSession, verify, run, findInFiles, listFiles, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb;

before(() => {
  sb = new Sandbox();
});
after(async () => {
  await sb?.cleanup();
});

/* The text of a secret and its raw decoded bytes (a token is base64url of 32 random bytes; an
 * API key is "sk_" + the same). */
function needlesOf(secret) {
  const b64 = secret.startsWith('sk_') ? secret.slice(3) : secret;
  const raw = Buffer.from(b64, 'base64url');
  assert.equal(raw.length, 32, `decoded ${secret}`);
  return [Buffer.from(secret), Buffer.from(b64), raw];
}

test('no token or API key in any file of the data dir, in the output, or in /metrics', T, async () => {
  const cfg = sb.writeFile('debug.ini', '[log]\nlevel = debug\n');
  const s = await startWithKey(sb, { config: cfg });
  const secrets = [s.key];

  // Exercise every path that handles a token, including failures.
  const a = await createSession(s, { user: 'alice', data: { note: 'hello' }, client: { ip: '198.51.100.7', user_agent: 'ua' } });
  const b = await createSession(s, { user: 'bob', remember: true });
  const c = await createSession(s, { user: 'carol' });
  secrets.push(a.token, b.token, c.token);
  assert.equal((await verify(s, a.token)).status, 200);
  assert.equal((await verify(s, b.token, { method: 'POST', origin: 'https://evil.example', csrf_token: 'x' })).status, 403);
  const rot = await s.api('POST', '/v1/sessions/rotate', { body: { token: a.token } });
  assert.equal(rot.status, 200);
  secrets.push(rot.json.token);
  assert.equal((await verify(s, rot.json.token)).status, 200);
  assert.equal((await s.api('PATCH', `/v1/sessions/${a.session_id}`, { body: { data: { more: 1 } } })).status, 200);
  // A token in places it does not belong: as the API key, in a malformed body, in an unknown
  // field. (Not in a URL: a client that puts it there has leaked it to every access log.)
  assert.equal((await s.api('POST', '/v1/sessions', { key: c.token, body: { user: 'x' } })).status, 401);
  assert.equal((await s.api('POST', '/v1/sessions/verify', { rawBody: `{"token":"${c.token}",}` })).status, 400);
  assert.equal((await s.api('POST', '/v1/sessions/verify', { body: { token: c.token, bogus: c.token } })).status, 400);
  // A revoked session's token, verified again.
  assert.equal((await s.api('DELETE', `/v1/sessions/${c.session_id}`)).status, 204);
  assert.equal((await verify(s, c.token)).status, 404);

  const metrics = (await s.api('GET', '/metrics')).text;
  // Let the touch queue flush (maintenance runs every 0.5 s) before looking at the files.
  await new Promise((r) => setTimeout(r, 1200));
  await s.stop();

  const needles = secrets.flatMap(needlesOf);
  const hits = findInFiles(s.data, needles);
  const files = listFiles(s.data);
  assert.ok(files.length >= 2, `the data dir holds the store and the key: ${files.join(', ')}`);
  assert.deepEqual(hits.map((h) => `${path.relative(s.data, h.file)} holds secret #${Math.floor(h.needle / 3)} (form ${h.needle % 3}) at ${h.offset}`), [], 'secrets on disk');

  for (const sec of secrets) {
    const b64 = sec.startsWith('sk_') ? sec.slice(3) : sec;
    assert.ok(!s.output.includes(b64), `a secret in the server output:\n${s.output}`);
    assert.ok(!metrics.includes(b64), 'a secret in /metrics');
  }
  // Sanity: what we searched for is really there to be found when present.
  assert.ok(rot.text.includes(rot.json.token));
});

test('the CLI never prints a token; apikey list never prints a key', T, async () => {
  const s = await startWithKey(sb);
  const a = await createSession(s, { user: 'alice' });
  const out = [];
  for (const args of [['session', 'list'], ['session', 'list', '--user', 'alice'], ['apikey', 'list']]) {
    const r = await run([...args, '--data', s.data]);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    out.push(r.stdout + r.stderr);
  }
  const all = out.join('\n');
  assert.ok(all.includes(a.session_id), 'session list shows the id');
  assert.ok(!all.includes(a.token), 'no token in CLI output');
  assert.ok(!all.includes(s.key.slice(3)), 'no API key in CLI output');
  await s.stop();
});

test('the server key is created with mode 0600 in a data dir of mode 0700', T, async () => {
  const s = await startWithKey(sb);
  const dirMode = fs.statSync(s.data).mode & 0o777;
  assert.equal(dirMode & 0o077, 0, `data dir mode ${dirMode.toString(8)}`);
  const keyFile = path.join(s.data, 'server.key');
  assert.ok(fs.existsSync(keyFile), 'DATA/server.key');
  assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
  await s.stop();
});
