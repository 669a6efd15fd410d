// logs.test.mjs - the server's log ([log] level and format, serve --log-level/--log-format), the
// access log ([log] access_log, access_log_format) and the operations metrics added with them
// (store latency, lockouts, rotations, audit errors). Contract 2 ([log]) and 6.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, startWithKey, run, createSession, verify, sleep, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb;

before(() => {
  sb = new Sandbox('sessiond-logs-');
});
after(async () => {
  await sb?.cleanup();
});

async function until(what, fn, limit = 20000) {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > limit) throw new Error(`${what}: not within ${limit} ms`);
    await sleep(20);
  }
}

const fileLines = (p) => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8').split('\n').filter((l) => l !== '') : []);

test('logs: --log-format json writes one JSON object per line; --log-level debug shows debug lines', T, async () => {
  const s = await startWithKey(sb, { args: ['--log-format', 'json', '--log-level', 'debug'] });
  await createSession(s, { user: 'j' });
  await s.stop();
  const lines = s.stderr.split('\n').filter((l) => l !== '');
  assert.ok(lines.length >= 3, s.stderr);
  for (const l of lines) {
    const o = JSON.parse(l);
    assert.match(o.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(['debug', 'info', 'notice', 'warn'].includes(o.level), l);
    assert.equal(typeof o.msg, 'string');
  }
  assert.ok(lines.some((l) => /^audit log .*audit\.log: closed, the file ends at seq \d+, hash [0-9a-f]{64}$/.test(JSON.parse(l).msg)), 'the audit head is logged at exit');
});

test('logs: level warn hides info and notice lines; a bad level is refused', T, async () => {
  const s = await startWithKey(sb, { args: ['--log-level', 'warn'] });
  await s.stop();
  assert.doesNotMatch(s.stderr, / (info|notice) /);
  const r = await run(['serve', '--log-level', 'loud', '--data', sb.dataDir()]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^sessiond: --log-level: \[log\] level: "loud" is not one of debug, info, notice, warn/);
});

test('access log: the default format, no query string, no cookie, no authorization', T, async () => {
  const log = path.join(sb.root, 'access.log');
  const config = sb.writeFile('access.ini', `[log]\naccess_log = ${log}\n`);
  const s = await startWithKey(sb, { config });
  const c = await createSession(s, { user: 'acc' });
  await s.api('GET', '/healthz?token=very-secret-query-value', { headers: { 'User-Agent': 'probe/1.0', Cookie: `sid=${c.token}` } });
  await verify(s, c.token);
  await until('three access lines', () => fileLines(log).length >= 3);
  await s.stop();
  const lines = fileLines(log);
  const re = /^127\.0\.0\.1 \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "(GET|POST) (\/\S*) HTTP\/1\.1" (\d{3}) (\d+) "([^"]*)"$/;
  for (const l of lines) assert.match(l, re);
  const health = lines.map((l) => l.match(re)).find((m) => m[2] === '/healthz');
  assert.ok(health, lines.join('\n'));
  assert.equal(health[3], '200');
  assert.equal(health[5], 'probe/1.0');
  const text = fs.readFileSync(log, 'utf8');
  assert.ok(!text.includes('very-secret-query-value'), 'no query string');
  assert.ok(!text.includes(c.token), 'no token');
  assert.ok(!text.includes(s.key), 'no API key');
});

test('access log: a JSON format with [log] format = json gives parseable lines', T, async () => {
  const log = path.join(sb.root, 'access.jsonl');
  const config = sb.writeFile('access-json.ini', `[log]\nformat = json\naccess_log = ${log}\n` +
    'access_log_format = {"client":"%h","method":"%m","path":"%U","status":%s,"agent":"%{user-agent}i"}\n');
  const s = await startWithKey(sb, { config });
  await s.api('GET', '/readyz', { headers: { 'User-Agent': 'quote"back\\slash' } });
  await until('one access line', () => fileLines(log).length >= 1);
  await s.stop();
  const o = JSON.parse(fileLines(log)[0]);
  assert.deepEqual(o, { client: '127.0.0.1', method: 'GET', path: '/readyz', status: 200, agent: 'quote"back\\slash' });
});

test('access log: formats that could log a secret are refused by config check', T, async () => {
  for (const [fmt, why] of [['%h %r', /%r is refused/], ['%h %q', /%q is refused/], ['%{Authorization}i', /authorization header is refused/],
    ['%{cookie}i', /cookie header is refused/], ['%{Set-Cookie}o', /set-cookie header is refused/], ['%{x-csrf-token}i', /x-csrf-token header is refused/]]) {
    const f = sb.writeFile('bad-access.ini', `[log]\naccess_log_format = ${fmt}\n`);
    const r = await run(['config', 'check', '-c', f]);
    assert.equal(r.code, 2, fmt);
    assert.match(r.stderr, /bad-access\.ini:2: \[log\] access_log_format: /);
    assert.match(r.stderr, why);
  }
});

test('metrics: store latency histogram, lockouts, rotations and audit errors are exported', T, async () => {
  const s = await startWithKey(sb);
  const c = await createSession(s, { user: 'm' });
  assert.equal((await s.api('POST', '/v1/sessions/rotate', { body: { token: c.token } })).status, 200);
  const m = (await s.api('GET', '/metrics')).text;
  await s.stop();
  for (const name of ['sessiond_requests_total', 'sessiond_verify_duration_seconds', 'sessiond_sessions', 'sessiond_logins_total',
    'sessiond_store_errors_total', 'sessiond_store_duration_seconds', 'sessiond_lockouts_total', 'sessiond_rotations_total', 'sessiond_audit_errors_total']) {
    assert.match(m, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  assert.match(m, /^sessiond_store_duration_seconds_bucket\{op="write",le="\+Inf"\} [1-9]\d*$/m);
  assert.match(m, /^sessiond_store_duration_seconds_count\{op="read"\} [1-9]\d*$/m);
  assert.match(m, /^sessiond_rotations_total 1$/m);
  assert.match(m, /^sessiond_lockouts_total 0$/m);
  assert.doesNotMatch(m, /near_cache/, 'no near cache series without the redis store');
});
