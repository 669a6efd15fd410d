// revoke-filter.test.mjs - mass revocation by filter (contract 1: `session revoke
// [--created-before T] [--ip CIDR] [--agent TEXT] [--yes]`, and POST /v1/sessions/revoke) on the
// lmdb, memory (through the admin socket) and redis stores: a dry run changes nothing and
// counts; --yes revokes exactly the matching sessions; bad filters are refused; each is audited.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, Sandbox, startWithKey, createApiKey, run, createSession, verify, assertError, sleepUntil, TEST_TIMEOUT_MS, assertNoSanitizerReport } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS * 3 };
let sb;

before(() => {
  sb = new Sandbox('sessiond-revoke-');
});
after(async () => {
  await sb?.cleanup();
});

/* Sessions from three kinds of clients; returns them by label. */
async function population(s, prefix) {
  const spec = [
    ['officeA', '10.1.2.3', 'Mozilla/5.0 Firefox/120'],
    ['officeB', '10.200.0.9', 'curl/8.0'],
    ['home', '192.0.2.44', 'Mozilla/5.0 FIREFOX/121'],
    ['v6', '2001:db8::5', 'Safari'],
    ['other', '198.51.100.1', 'Safari'],
  ];
  const out = {};
  for (const [label, ip, agent] of spec) {
    out[label] = await createSession(s, { user: `${prefix}-${label}`, client: { ip, user_agent: agent } });
  }
  return out;
}

async function live(s, sessions) {
  const res = {};
  for (const [label, c] of Object.entries(sessions)) res[label] = (await verify(s, c.token)).status === 200;
  return res;
}

function cli(s, args, store) {
  const extra = store === 'memory' ? ['--store', 'memory'] : s.config ? ['-c', s.config] : [];
  return run(['session', 'revoke', ...args, '--data', s.data, ...extra]);
}

async function exercise(s, store) {
  const pop = await population(s, store);
  // Dry run (the default): a count, nothing revoked.
  let r = await cli(s, ['--ip', '10.0.0.0/8'], store);
  assertNoSanitizerReport(r.stderr, 'session revoke');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '2 sessions match; run again with --yes to revoke them\n');
  assert.deepEqual(await live(s, pop), { officeA: true, officeB: true, home: true, v6: true, other: true });

  // --yes: exactly the matching ones.
  r = await cli(s, ['--ip', '10.0.0.0/8', '--yes'], store);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'revoked 2 sessions (2 matched)\n');
  assert.deepEqual(await live(s, pop), { officeA: false, officeB: false, home: true, v6: true, other: true });

  // The agent filter is a case-insensitive substring; filters combine with AND.
  r = await cli(s, ['--agent', 'firefox', '--ip', '192.0.2.0/24', '--yes'], store);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'revoked 1 sessions (1 matched)\n');
  assert.deepEqual(await live(s, pop), { officeA: false, officeB: false, home: false, v6: true, other: true });

  // The /v1 call: a dry run by default, then for real; IPv6 CIDR.
  let a = await s.api('POST', '/v1/sessions/revoke', { body: { ip: '2001:db8::/32' } });
  assert.equal(a.status, 200, a.text);
  assert.deepEqual(a.json, { matched: 1, revoked: 0, dry_run: true });
  assert.equal((await verify(s, pop.v6.token)).status, 200);
  a = await s.api('POST', '/v1/sessions/revoke', { body: { ip: '2001:db8::/32', dry_run: false } });
  assert.deepEqual(a.json, { matched: 1, revoked: 1, dry_run: false });
  assert.deepEqual(await live(s, pop), { officeA: false, officeB: false, home: false, v6: false, other: true });
  return pop;
}

async function refusals(s, store) {
  const before = await s.api('GET', '/metrics');
  for (const args of [[], ['--ip', '10.0.0.0/33'], ['--ip', 'nonsense'], ['--created-before', 'yesterday'],
    ['--agent', ''], ['--yes'], ['--ip', '10.0.0.0/8', '0123456789abcdef0123456789abcdef']]) {
    const r = await cli(s, args, store);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout} ${r.stderr}`);
    assert.match(r.stderr, /^sessiond: /);
  }
  for (const body of [{}, { ip: '300.0.0.1' }, { created_before: 'soon' }, { created_before: true }, { agent: '' },
    { ip: '10.0.0.0/8', dry_run: 'no' }, { ip: '10.0.0.0/8', extra: 1 }]) {
    assertError(await s.api('POST', '/v1/sessions/revoke', { body }), 400, 'invalid_request', JSON.stringify(body));
  }
  assert.equal((await s.api('POST', '/v1/sessions/revoke', { body: { ip: '10.0.0.0/8' }, key: 'sk_nope' })).status, 401);
  assert.ok(before.status === 200);
}

test('revoke by filter: lmdb store, CLI and /v1, with --created-before and the audit trail', T, async () => {
  const s = await startWithKey(sb);
  try {
    await exercise(s, 'lmdb');
    await refusals(s, 'lmdb');
    // created-before: a session made in an earlier second goes, one made later stays.
    const old = await createSession(s, { user: 'early' });
    const t = Math.floor(Date.now() / 1000) + 1;
    // 50 ms into the next second: the server's time() (a coarse clock) has seen it by then.
    await sleepUntil(t * 1000 + 50);
    const young = await createSession(s, { user: 'late' });
    let r = await cli(s, ['--created-before', String(t), '--yes'], 'lmdb');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await verify(s, old.token)).status, 404);
    assert.equal((await verify(s, young.token)).status, 200);
    r = await cli(s, ['--created-before', new Date((t + 3600) * 1000).toISOString().replace(/\.\d+Z$/, 'Z')], 'lmdb');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[1-9]\d* sessions match/);

    const audit = fs.readFileSync(path.join(s.data, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const revokes = audit.filter((e) => e.event === 'revoke');
    assert.ok(revokes.some((e) => e.user === 'lmdb-officeA' && /ip=10\.0\.0\.0\/8/.test(e.detail)));
    const summaries = audit.filter((e) => e.event === 'revoke_filter');
    assert.ok(summaries.some((e) => /by \/v1, api key it: ip=2001:db8::\/32 matched=1 revoked=1/.test(e.detail)), JSON.stringify(summaries));
    const v = await run(['audit', 'verify', '--data', s.data]);
    assert.equal(v.code, 0, v.stderr);
  } finally {
    await s.stop();
  }
});

test('revoke by filter: memory store through the admin socket, with progress over many sessions', T, async () => {
  const s = await startWithKey(sb, { store: 'memory' });
  try {
    await exercise(s, 'memory');
    await refusals(s, 'memory');
    const N = 1100;
    const made = [];
    for (let i = 0; i < N; i += 50) {
      const batch = [];
      for (let k = i; k < Math.min(N, i + 50); k++) batch.push(createSession(s, { user: `bulk${k}`, client: { ip: '172.16.5.5', user_agent: 'bot' } }));
      made.push(...(await Promise.all(batch)));
    }
    const r = await cli(s, ['--agent', 'BOT', '--yes'], 'memory');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `revoked ${N} sessions (${N} matched)\n`);
    assert.match(r.stderr, /^sessiond: revoked 1000 of 1100 sessions$/m);
    assert.match(r.stderr, /^sessiond: revoked 1100 of 1100 sessions$/m);
    for (const c of made.slice(0, 20)) assert.equal((await verify(s, c.token)).status, 404);
  } finally {
    await s.stop();
  }
});

test('revoke by filter: redis store', T, async () => {
  const redis = await sb.startRedis();
  const config = sb.writeFile('redis.ini', `[store]\nkind = redis\nredis_url = ${redis.url}\nredis_prefix = revoke-${process.pid}:\n`);
  const data = sb.dataDir();
  const key = await createApiKey(data, 'it', ['-c', config]);
  const s = await sb.start({ data, config });
  s.key = key;
  s.config = config;
  try {
    await exercise(s, 'redis');
    await refusals(s, 'redis');
    const m = await s.api('GET', '/metrics');
    assert.match(m.text, /^sessiond_near_cache_lookups_total\{result="hit"\} \d+$/m);
    assert.match(m.text, /^sessiond_near_cache_lookups_total\{result="miss"\} [1-9]\d*$/m);
    // Every series the Grafana dashboard queries exists (this server has them all).
    const dash = fs.readFileSync(path.join(REPO, 'examples/grafana/sessiond.json'), 'utf8');
    const names = new Set([...dash.matchAll(/\b(sessiond_[a-z_]+)/g)].map((x) => x[1].replace(/_bucket$/, '')));
    assert.ok(names.size >= 9, [...names].join(' '));
    for (const n of names) assert.match(m.text, new RegExp(`^# TYPE ${n} `, 'm'), `dashboard series ${n}`);
  } finally {
    await s.stop();
  }
});
