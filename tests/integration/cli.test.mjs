// cli.test.mjs - the admin CLI against a running server, config errors, help and exit statuses.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { Sandbox, run, startWithKey, createApiKey, createSession, verify, assertError, assertNoSanitizerReport, SESSION_ID_RE, TEST_TIMEOUT_MS } from './lib.mjs';
import { Jar, addUser, browse, login, PASSWORD } from './gateway-lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb;

before(() => {
  sb = new Sandbox();
});
after(async () => {
  await sb?.cleanup();
});

/* Asserts a usage/config failure: exit 2, nothing on stdout, one stderr line "sessiond: ...". */
function assertUsageError(r, what) {
  assert.equal(r.code, 2, `${what}: exit ${r.code}, stderr ${r.stderr}`);
  assert.ok(r.stderr.startsWith('sessiond: '), `${what}: stderr ${JSON.stringify(r.stderr)}`);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${what}: one stderr line, got ${JSON.stringify(r.stderr)}`);
  assertNoSanitizerReport(r.stderr, what);
}

describe('against a running server on the same data', () => {
  let s;
  before(async () => {
    s = await startWithKey(sb);
  });
  after(async () => {
    if (s?.running) await s.stop();
  });

  test('session revoke --user alice: refused on the very next verify; bob unaffected', T, async () => {
    const alice = [await createSession(s, { user: 'alice' }), await createSession(s, { user: 'alice' })];
    const bob = await createSession(s, { user: 'bob' });
    for (const c of [...alice, bob]) assert.equal((await verify(s, c.token)).status, 200);
    const r = await run(['session', 'revoke', '--user', 'alice', '--data', s.data]);
    assert.equal(r.code, 0, r.stderr);
    assertNoSanitizerReport(r.stderr);
    for (const c of alice) assertError(await verify(s, c.token), 404, 'invalid_session', 'alice after CLI revoke');
    assert.equal((await verify(s, bob.token)).status, 200, 'bob after alice was revoked');
    const list = await s.api('GET', '/v1/users/alice/sessions');
    assert.deepEqual(list.json, []);
    // alice can get a new session afterwards.
    const again = await createSession(s, { user: 'alice' });
    assert.equal((await verify(s, again.token)).status, 200);
  });

  test('session revoke ID: that session is refused at once, the others stay', T, async () => {
    const a = await createSession(s, { user: 'carol' });
    const b = await createSession(s, { user: 'carol' });
    assert.equal((await verify(s, a.token)).status, 200);
    const r = await run(['session', 'revoke', a.session_id, '--data', s.data]);
    assert.equal(r.code, 0, r.stderr);
    assertError(await verify(s, a.token), 404, 'invalid_session', 'after CLI revoke ID');
    assertError(await s.api('GET', `/v1/sessions/${a.session_id}`), 404, 'not_found');
    assert.equal((await verify(s, b.token)).status, 200);
  });

  test('session revoke with a malformed id exits 2; an unknown id exits 1', T, async () => {
    assertUsageError(await run(['session', 'revoke', 'not-an-id', '--data', s.data]), 'revoke not-an-id');
    assertUsageError(await run(['session', 'revoke', '--user', 'a,b', '--data', s.data]), 'revoke --user a,b');
    const r = await run(['session', 'revoke', '0123456789abcdef0123456789abcdef', '--data', s.data]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(r.stderr.startsWith('sessiond: '), r.stderr);
    await s.assertAlive();
  });

  test('session list shows every live session id and never a token; --user filters', T, async () => {
    const d1 = await createSession(s, { user: 'dan', client: { ip: '192.0.2.10' } });
    const d2 = await createSession(s, { user: 'dan' });
    const e1 = await createSession(s, { user: 'eve' });
    const gone = await createSession(s, { user: 'eve' });
    assert.equal((await s.api('DELETE', `/v1/sessions/${gone.session_id}`)).status, 204);

    const all = await run(['session', 'list', '--data', s.data]);
    assert.equal(all.code, 0, all.stderr);
    for (const c of [d1, d2, e1]) assert.ok(all.stdout.includes(c.session_id), `${c.session_id} in\n${all.stdout}`);
    assert.ok(!all.stdout.includes(gone.session_id), 'a deleted session is not listed');
    for (const c of [d1, d2, e1, gone]) assert.ok(!all.stdout.includes(c.token), 'no token in session list');
    const d1line = all.stdout.split('\n').find((l) => l.includes(d1.session_id));
    assert.match(d1line, /\bdan\b/);
    assert.ok(d1line.includes('192.0.2.10'), `client in ${d1line}`);

    const dan = await run(['session', 'list', '--user', 'dan', '--data', s.data]);
    assert.equal(dan.code, 0, dan.stderr);
    const ids = [...dan.stdout.matchAll(/\b[0-9a-f]{32}\b/g)].map((m) => m[0]).sort();
    assert.deepEqual(ids, [d1.session_id, d2.session_id].sort(), dan.stdout);
    assert.ok(!dan.stdout.includes(e1.session_id));
    for (const id of ids) assert.match(id, SESSION_ID_RE);

    const none = await run(['session', 'list', '--user', 'nobody', '--data', s.data]);
    assert.equal(none.code, 0, none.stderr);
    assert.equal([...none.stdout.matchAll(/\b[0-9a-f]{32}\b/g)].length, 0);
  });

  test('apikey create/list/revoke while the server runs', T, async () => {
    const k = await createApiKey(s.data, 'ops-team');
    assert.equal((await s.api('GET', '/v1/users/x/sessions', { key: k })).status, 200);
    const dup = await run(['apikey', 'create', 'ops-team', '--data', s.data]);
    assert.notEqual(dup.code, 0, 'a second key with the same name is refused');
    assert.ok(dup.stderr.startsWith('sessiond: '), dup.stderr);
    assert.equal(dup.stdout, '', 'no key printed when refused');
    assert.equal((await run(['apikey', 'revoke', 'ops-team', '--data', s.data])).code, 0);
    assertError(await s.api('GET', '/v1/users/x/sessions', { key: k }), 401, 'unauthorized');
    const again = await run(['apikey', 'revoke', 'ops-team', '--data', s.data]);
    assert.notEqual(again.code, 0, 'revoking a missing key fails');
    assert.ok(again.stderr.startsWith('sessiond: '));
  });
});

/* ASVS 7.4.2 (contract section 1): `user disable` and `user del`, run while a server serves
 * the data, end every session of that user on its very next request: a login's cookie session
 * (verify 401) and a /v1 one (404); another user's sessions live. With the lmdb store the CLI
 * writes the data directory the server reads; with the memory store it asks the server through
 * its admin socket. */
describe('user disable and user del against a running server', () => {
  const users = ['mallory', 'nina', 'oscar'];
  for (const store of ['lmdb', 'memory']) {
    for (const verb of ['disable', 'del']) {
      test(`${store}: user ${verb} ends every session of that user at once; another user's live`, T, async () => {
        const config = sb.writeFile(`users-${store}-${verb}.ini`, `[store]\nkind = ${store}\n[login]\nargon2_ops = 1\nargon2_mem = 8m\n[rule app]\npolicy = authenticated\n`);
        const s = store === 'memory' ? await startWithKey(sb, { config, store }) : await startWithKey(sb, { config });
        try {
          for (const u of users) await addUser(s.data, u, { config });
          const cookieVerify = (jar) => browse(s.port, 'GET', '/auth/verify', {
            jar, headers: { 'X-Forwarded-Uri': '/app', 'X-Forwarded-Method': 'GET', Accept: 'application/json' },
          });
          const sessions = {};
          for (const u of users) {
            const jars = [new Jar(), new Jar()];
            for (const jar of jars) assert.equal((await login(s.port, jar, u, PASSWORD)).status, 303, `${u} signs in`);
            sessions[u] = { jars, api: [await createSession(s, { user: u }), await createSession(s, { user: u })] };
            for (const jar of jars) assert.equal((await cookieVerify(jar)).status, 200, `${u}: cookie session`);
            for (const c of sessions[u].api) assert.equal((await verify(s, c.token)).status, 200, `${u}: /v1 session`);
          }
          const [target, other] = verb === 'disable' ? ['mallory', 'nina'] : ['nina', 'oscar'];
          const r = await run(['user', verb, target, '--data', s.data, '-c', config]);
          assert.equal(r.code, 0, `user ${verb}: ${r.stderr}`);
          assertNoSanitizerReport(r.stderr, `user ${verb}`);
          for (const jar of sessions[target].jars) assert.equal((await cookieVerify(jar)).status, 401, `${target}: cookie session after user ${verb}`);
          for (const c of sessions[target].api) assertError(await verify(s, c.token), 404, 'invalid_session', `${target}: /v1 session after user ${verb}`);
          for (const u of users.filter((x) => x !== target)) {
            for (const jar of sessions[u].jars) assert.equal((await cookieVerify(jar)).status, 200, `${u} after user ${verb} ${target}`);
            for (const c of sessions[u].api) assert.equal((await verify(s, c.token)).status, 200, `${u} after user ${verb} ${target}`);
          }
          // The user cannot sign in again; the other one can.
          assert.equal((await login(s.port, new Jar(), target, PASSWORD)).status, 401, `${target} signs in after user ${verb}`);
          assert.equal((await login(s.port, new Jar(), other, PASSWORD)).status, 303, `${other} signs in`);
          await s.assertAlive(`after user ${verb}`);
        } finally {
          await s.stop();
        }
      });
    }
  }
});

describe('admin commands without a server', () => {
  test('apikey create with a bad name exits 2 and prints no key', T, async () => {
    const data = sb.dataDir();
    for (const name of ['has space', 'semi;colon', '']) {
      const r = await run(['apikey', 'create', name, '--data', data]);
      assertUsageError(r, `apikey create ${JSON.stringify(name)}`);
      assert.equal(r.stdout, '');
    }
  });

  test('session list works on a data dir no server ever ran on', T, async () => {
    const data = sb.dataDir();
    const r = await run(['session', 'list', '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal([...r.stdout.matchAll(/\b[0-9a-f]{32}\b/g)].length, 0);
  });
});

describe('configuration', () => {
  test('config check: an unknown key exits 2 naming the file, the line and the key', T, async () => {
    const f = sb.writeFile('unknown-key.ini', '# a comment\n[server]\nlisten = 127.0.0.1:0\n\n[session]\nidel_timeout = 5m\n');
    const r = await run(['config', 'check', '-c', f]);
    assertUsageError(r, 'unknown key');
    assert.ok(r.stderr.includes(f), `names the file: ${r.stderr}`);
    assert.match(r.stderr, /(:|line )6\b/, `names line 6: ${r.stderr}`);
    assert.ok(r.stderr.includes('idel_timeout'), `names the key: ${r.stderr}`);
  });

  test('config check: an unknown section exits 2 naming the file, the line and the section', T, async () => {
    const f = sb.writeFile('unknown-section.ini', '[server]\nmax_body = 64k\n[sesion]\nidle_timeout = 5m\n');
    const r = await run(['config', 'check', '-c', f]);
    assertUsageError(r, 'unknown section');
    assert.ok(r.stderr.includes(f), r.stderr);
    assert.match(r.stderr, /(:|line )[34]\b/, `names the line: ${r.stderr}`);
    assert.ok(r.stderr.includes('sesion'), `names the section: ${r.stderr}`);
  });

  test('config check: a bad value exits 2 naming the line and the key', T, async () => {
    for (const [text, line, key] of [
      ['[session]\nidle_timeout = forever\n', 2, 'idle_timeout'],
      ['[server]\n\nmax_body = lots\n', 3, 'max_body'],
      ['[session]\nsame_site = sometimes\n', 2, 'same_site'],
      ['[server]\nthreads = -3\n', 2, 'threads'],
    ]) {
      const f = sb.writeFile(`bad-${key}.ini`, text);
      const r = await run(['config', 'check', '-c', f]);
      assertUsageError(r, text);
      assert.ok(r.stderr.includes(f), r.stderr);
      assert.match(r.stderr, new RegExp(`(:|line )${line}\\b`), `line ${line}: ${r.stderr}`);
      assert.ok(r.stderr.includes(key), `${key}: ${r.stderr}`);
    }
  });

  test('config check: idle_timeout longer than absolute_timeout is refused', T, async () => {
    const f = sb.writeFile('idle-gt-abs.ini', '[session]\nidle_timeout = 2h\nabsolute_timeout = 1h\n');
    const r = await run(['config', 'check', '-c', f]);
    assertUsageError(r, 'idle > absolute');
    assert.match(r.stderr, /idle_timeout|absolute_timeout/, r.stderr);
  });

  test('config check: a valid file exits 0; so does no file at all', T, async () => {
    const f = sb.writeFile('good.ini', [
      '; comment', '[server]', 'listen = 127.0.0.1:8081', 'max_body = 32k', 'max_header = 8k', '',
      '[store]', 'kind = lmdb', '', '[session]', 'idle_timeout = 10m', 'absolute_timeout = 12h', 'rotate_grace = 5s',
      'max_data = 4k', 'same_site = strict', '', '[log]', 'level = debug', '',
    ].join('\n'));
    const r = await run(['config', 'check', '-c', f]);
    assert.equal(r.code, 0, r.stderr);
    // Valid; only the plain-http cookie is said (docs/security.md, 3.3.1).
    assert.match(r.stderr, /^sessiond: warning: the session cookie "sid" goes out without Secure[^\n]*\n$/);
    const r2 = await run(['config', 'check']);
    assert.equal(r2.code, 0, r2.stderr);
  });

  test('config check of a missing file exits 2', T, async () => {
    assertUsageError(await run(['config', 'check', '-c', sb.root + '/does-not-exist.ini']), 'missing file');
  });

  test('serve -c bad.ini exits 2 without listening', T, async () => {
    const f = sb.writeFile('serve-bad.ini', '[session]\nno_such_key = 1\n');
    const r = await run(['serve', '--listen', '127.0.0.1:0', '--data', sb.dataDir(), '-c', f]);
    assertUsageError(r, 'serve with a bad file');
    assert.ok(!r.stdout.includes('listening'), r.stdout);
    assert.ok(r.stderr.includes('no_such_key'), r.stderr);
  });

  test('an environment override with a bad value exits 2 naming the variable', T, async () => {
    const env = { SESSIOND_SESSION_IDLE_TIMEOUT: 'bogus' };
    const r = await run(['serve', '--listen', '127.0.0.1:0', '--data', sb.dataDir()], { env });
    assertUsageError(r, 'serve with SESSIOND_SESSION_IDLE_TIMEOUT=bogus');
    assert.ok(r.stderr.includes('SESSIOND_SESSION_IDLE_TIMEOUT'), r.stderr);
    const c = await run(['config', 'check'], { env });
    assertUsageError(c, 'config check with a bad env override');
  });

  test('an unknown SESSIOND_* variable is an error', T, async () => {
    const r = await run(['config', 'check'], { env: { SESSIOND_SESSION_IDEL_TIMEOUT: '5m' } });
    assertUsageError(r, 'unknown env variable');
    assert.ok(r.stderr.includes('SESSIOND_SESSION_IDEL_TIMEOUT'), r.stderr);
  });

  test('precedence: flag over environment over file over default', T, async () => {
    const f = sb.writeFile('prec.ini', '[server]\nlisten = 127.0.0.1:9\n\n[session]\nidle_timeout = 5m\nabsolute_timeout = 2h\n');
    const data = sb.dataDir();
    const key = await createApiKey(data);
    // Server.start passes --listen 127.0.0.1:0: it must win over the file's port 9.
    const s = await sb.start({ data, config: f, env: { SESSIOND_SESSION_IDLE_TIMEOUT: '10m' } });
    s.key = key;
    try {
      assert.notEqual(s.port, 9);
      const now = Date.now() / 1000;
      const c = await createSession(s, { user: 'alice' });
      assert.ok(Math.abs(c.idle_expires_at - (now + 600)) < 5, `env idle 10m wins over the file: ${c.idle_expires_at - now}`);
      assert.ok(Math.abs(c.expires_at - (now + 7200)) < 5, `file absolute 2h wins over the default: ${c.expires_at - now}`);
    } finally {
      await s.stop();
    }
  });

  test('serve with an unknown flag exits 2', T, async () => {
    assertUsageError(await run(['serve', '--data', sb.dataDir(), '--bogus']), 'serve --bogus');
  });

  test('serve exits 1 when the port is taken', T, async () => {
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
    const port = blocker.address().port;
    try {
      const r = await run(['serve', '--listen', `127.0.0.1:${port}`, '--data', sb.dataDir()]);
      assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
      assert.ok(r.stderr.startsWith('sessiond: '), r.stderr);
      assert.ok(!r.stdout.includes('listening'));
    } finally {
      blocker.close();
    }
  });
});

describe('two servers', () => {
  test('serve exits 1 when another sessiond already listens on the port', T, async () => {
    // Both would set SO_REUSEPORT; a second server with another data dir must still not quietly
    // share the port (the kernel would split the traffic between two different stores).
    const first = await startWithKey(sb);
    try {
      const r = await run(['serve', '--listen', `127.0.0.1:${first.port}`, '--data', sb.dataDir()], { timeout: 5000 }).catch((e) => ({ code: 'still running after 5 s', stdout: '', stderr: String(e.message).slice(0, 300) }));
      assert.equal(r.code, 1, `second server on port ${first.port}: exit ${r.code}\n${r.stdout}${r.stderr}`);
      assert.ok(r.stderr.startsWith('sessiond: '), r.stderr);
      await first.assertAlive();
    } finally {
      await first.stop();
    }
  });
});

describe('help and version', () => {
  test('--version prints the version', T, async () => {
    const r = await run(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^sessiond \d+\.\d+\.\d+\S*\n$/);
  });

  test('--help lists the commands; help serve describes serve', T, async () => {
    const h = await run(['--help']);
    assert.equal(h.code, 0);
    for (const w of ['serve', 'apikey', 'session', 'config']) assert.ok(h.stdout.includes(w), w);
    const r = await run(['help', 'serve']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--listen/);
    assert.match(r.stdout, /--data/);
    for (const c of ['apikey', 'session', 'config']) assert.equal((await run(['help', c])).code, 0, `help ${c}`);
  });

  test('an unknown command exits 2 with a "sessiond: " error', T, async () => {
    const r = await run(['nosuchcmd']);
    assertUsageError(r, 'nosuchcmd');
    assert.ok(r.stderr.includes('nosuchcmd'), r.stderr);
    assertUsageError(await run(['help', 'nosuchcmd']), 'help nosuchcmd');
    assertUsageError(await run(['session', 'frobnicate', '--data', sb.dataDir()]), 'session frobnicate');
    assertUsageError(await run(['apikey']), 'apikey without a verb');
  });

  test('a flag without its value exits 2', T, async () => {
    assertUsageError(await run(['session', 'list', '--data']), 'session list --data');
    assertUsageError(await run(['config', 'check', '-c']), 'config check -c');
  });
});


describe('[server] socket_dir', () => {
  test('both sockets live there and none in the data directory; admin commands find the server through the same configuration', T, async () => {
    const sockets = `${sb.root}/run-${++sb.n}`; // made (0700) by the server
    const config = sb.writeFile(`sockets-${sb.n}.ini`, `[server]\nsocket_dir = ${sockets}\n`);
    // lmdb: the admin and the touch socket.
    const data = sb.dataDir();
    const s = await sb.start({ data, config });
    try {
      for (const name of ['admin.sock', 'touch.sock']) {
        const st = fs.statSync(`${sockets}/${name}`);
        assert.ok(st.isSocket(), `${name} in socket_dir`);
        assert.equal(st.mode & 0o077, 0, `${name} mode ${(st.mode & 0o777).toString(8)}`);
        assert.ok(!fs.existsSync(`${data}/${name}`), `no ${name} in the data directory`);
      }
      assert.equal(fs.statSync(sockets).mode & 0o777, 0o700, 'socket_dir made 0700');
    } finally {
      await s.stop();
    }
    assert.deepEqual(fs.readdirSync(sockets), [], 'both sockets removed at exit');
    // memory: admin commands run inside the server, through its admin socket.
    const m = await sb.start({ data: sb.dataDir(), config, store: 'memory' });
    try {
      const add = await run(['user', 'add', 'sockdir', '--password-stdin', '--store', 'memory', '--data', m.data, '-c', config],
        { input: `${PASSWORD}\n` });
      assert.equal(add.code, 0, add.stderr);
      const key = await run(['apikey', 'create', 'it', '--store', 'memory', '--data', m.data, '-c', config]);
      assert.equal(key.code, 0, key.stderr);
      m.key = key.stdout.trim();
      const c = await createSession(m, { user: 'sockdir' });
      const list = await run(['session', 'list', '--store', 'memory', '--data', m.data, '-c', config]);
      assert.equal(list.code, 0, list.stderr);
      assert.ok(list.stdout.includes(c.session_id), list.stdout);
      // Without the configuration the CLI looks in the data directory, and says where it looked.
      const lost = await run(['session', 'list', '--store', 'memory', '--data', m.data]);
      assert.notEqual(lost.code, 0);
      assert.ok(lost.stderr.includes(`${m.data}/admin.sock`), lost.stderr);
    } finally {
      await m.stop();
    }
  });

  test('a socket_dir too long for a unix socket path is a configuration error', T, async () => {
    const long = `/tmp/${'d'.repeat(100)}`; // + "/admin.sock": 117 bytes, sun_path holds 107
    const f = sb.writeFile('sockets-long.ini', `[server]\nsocket_dir = ${long}\n`);
    const r = await run(['config', 'check', '-c', f, '--data', sb.dataDir()]);
    assertUsageError(r, 'long socket_dir');
    assert.match(r.stderr, /socket_dir/);
    assert.match(r.stderr, /unix socket path/);
    const s = await run(['serve', '--listen', '127.0.0.1:0', '--data', sb.dataDir(), '-c', f]);
    assert.equal(s.code, 2, s.stderr);
    assert.match(s.stderr, /socket_dir/);
    // A data directory too long to hold the sockets says to set socket_dir.
    const deep = `${sb.root}/${'e'.repeat(100)}`;
    const d = await run(['config', 'check', '--data', deep]);
    assertUsageError(d, 'long data directory');
    assert.match(d.stderr, /set \[server\] socket_dir/);
    // At the limit and one past it: "/tmp/" + 91 + "/admin.sock" is 107 bytes (sun_path's 108
    // less its NUL), one more is refused.
    const at = sb.writeFile('sockets-at.ini', `[server]\nsocket_dir = /tmp/${'f'.repeat(91)}\n`);
    const ok = await run(['config', 'check', '-c', at, '--data', sb.dataDir()]);
    assert.equal(ok.code, 0, ok.stderr);
    const past = sb.writeFile('sockets-past.ini', `[server]\nsocket_dir = /tmp/${'f'.repeat(92)}\n`);
    assertUsageError(await run(['config', 'check', '-c', past, '--data', sb.dataDir()]), 'socket_dir one byte too long');
  });
});
