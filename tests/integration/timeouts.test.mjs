// timeouts.test.mjs - idle and absolute deadlines, enforced on read (contract section 7).
//
// Deadlines are whole unix seconds; tests schedule their requests against the deadlines the
// server reports (idle_expires_at, expires_at) rather than against their own start, so that a
// second boundary falling anywhere cannot make them flaky.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, startWithKey, createSession, verify, assertError, run, sleep, sleepUntil, alignToSecond, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb;

before(() => {
  sb = new Sandbox();
});
after(async () => {
  await sb?.cleanup();
});

test('idle timeout 2 s: verify with touch:false after 3 s is 404 invalid_session', T, async () => {
  const cfg = sb.writeFile('idle.ini', '[session]\nidle_timeout = 2s\nabsolute_timeout = 1h\n');
  const s = await startWithKey(sb, { config: cfg });
  try {
    const t0 = Date.now();
    const c = await createSession(s, { user: 'alice' });
    const created = c.idle_expires_at - 2;
    assert.ok(Math.abs(created - t0 / 1000) < 5, `idle_expires_at ${c.idle_expires_at} is 2 s after creation`);
    assert.ok(c.expires_at - c.idle_expires_at >= 3590, `absolute 1 h: ${c.expires_at}`);

    const v0 = await verify(s, c.token, { touch: false });
    assert.equal(v0.status, 200, 'live right after create');
    assert.equal(v0.json.idle_expires_at, c.idle_expires_at);
    await sleepUntil(created * 1000 + 1300);
    const v1 = await verify(s, c.token, { touch: false });
    assert.equal(v1.status, 200, 'live 1.3 s after creation');
    assert.equal(v1.json.idle_expires_at, c.idle_expires_at, 'touch:false does not move the idle deadline');

    await sleepUntil(Math.max(t0 + 3000, c.idle_expires_at * 1000 + 300));
    assertError(await verify(s, c.token, { touch: false }), 404, 'invalid_session', 'verify after the idle deadline');
    assertError(await verify(s, c.token), 404, 'invalid_session', 'a touching verify does not revive it');
    assertError(await s.api('GET', `/v1/sessions/${c.session_id}`), 404, 'not_found', 'GET after the idle deadline');
    const list = await s.api('GET', '/v1/users/alice/sessions');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json, [], 'an expired session is not listed');
    const p = await s.api('PATCH', `/v1/sessions/${c.session_id}`, { body: { data: { a: 1 } } });
    assert.equal(p.status, 404, `PATCH of an expired session: ${p.text}`);
    const r = await s.api('POST', '/v1/sessions/rotate', { body: { token: c.token } });
    assertError(r, 404, 'invalid_session', 'rotate of an expired session');
  } finally {
    await s.stop();
  }
});

test('absolute timeout 3 s: touching verifies keep it past the idle deadline, not past the absolute one', T, async () => {
  const cfg = sb.writeFile('abs.ini', '[session]\nidle_timeout = 2s\nabsolute_timeout = 3s\n');
  const s = await startWithKey(sb, { config: cfg });
  try {
    const c = await createSession(s, { user: 'alice' });
    const created = c.expires_at - 3;
    assert.equal(c.idle_expires_at, created + 2, 'idle deadline 2 s after creation');

    // Touching verifies every ~0.7 s (touch_interval is 1 s: 1% of 2 s, at least 1 s).
    const at = [0.6, 1.3, 2.0, 2.3, 2.7];
    const seen = [];
    for (const dt of at) {
      await sleepUntil(created * 1000 + dt * 1000);
      const r = await verify(s, c.token);
      seen.push([dt, r.status, r.json?.idle_expires_at]);
      assert.equal(r.status, 200, `touching verify at creation + ${dt} s: ${r.text}`);
      if (r.status === 200) assert.ok(r.json.idle_expires_at <= c.expires_at, `idle deadline past the absolute one: ${JSON.stringify(r.json)}`);
    }
    // The verify at +2.3 s was 200 although the first idle deadline (+2 s) had passed: touches
    // extended it. Now the absolute deadline passes although it was touched 0.5-1 s ago.
    await sleepUntil(Math.max(c.expires_at * 1000 + 300, created * 1000 + 3500));
    const r = await verify(s, c.token, { touch: false });
    assertError(r, 404, 'invalid_session', `verify after the absolute deadline (history ${JSON.stringify(seen)})`);
    assertError(await verify(s, c.token), 404, 'invalid_session', 'touching verify after the absolute deadline');
    assertError(await s.api('GET', `/v1/sessions/${c.session_id}`), 404, 'not_found', 'GET after the absolute deadline');
  } finally {
    await s.stop();
  }
});

test('a touching verify\'s new idle deadline holds at once (not only after the touch is written)', T, async () => {
  // idle 2 s. A touch near the end of second +1 moves the idle deadline from +2 to +3 and says so
  // in its answer; a verify just after +2 must then succeed, whether or not the lazily written
  // touch has reached the store yet (it is flushed every 0.5 s).
  const cfg = sb.writeFile('touch-ryw.ini', '[session]\nidle_timeout = 2s\nabsolute_timeout = 1h\n');
  const s = await startWithKey(sb, { config: cfg });
  try {
    const sessions = [];
    await alignToSecond();
    for (let i = 0; i < 4; i++) sessions.push(await createSession(s, { user: `ryw${i}` }));
    const created = sessions[0].idle_expires_at - 2;
    assert.ok(sessions.every((c) => c.idle_expires_at === created + 2), 'created in the same second');
    await sleepUntil(created * 1000 + 1880);
    const touched = await Promise.all(sessions.map((c) => verify(s, c.token)));
    for (const r of touched) assert.equal(r.status, 200);
    const promised = touched.map((r) => r.json.idle_expires_at);
    await sleepUntil(created * 1000 + 2030);
    const later = await Promise.all(sessions.map((c) => verify(s, c.token, { touch: false })));
    const history = touched.map((r, i) => `touch answered idle_expires_at ${promised[i]}; verify at +2.03 s: ${later[i].status} ${later[i].text}`);
    for (let i = 0; i < sessions.length; i++) {
      if (promised[i] > created + 2) assert.equal(later[i].status, 200, `a session the server had just extended to ${promised[i]} is refused at ${created + 2}:\n${history.join('\n')}`);
    }
    assert.ok(promised.some((p) => p > created + 2), `the verifies at +1.88 s touched (history: ${history.join('; ')})`);
  } finally {
    await s.stop();
  }
});

test('a touch never resurrects a deleted session', T, async () => {
  // idle 60 s: touch_interval = max(1% of 60 s, 1 s) = 1 s, so a verify 1 s after creation
  // queues a touch that is written lazily.
  const cfg = sb.writeFile('touch.ini', '[session]\nidle_timeout = 60s\n');
  const s = await startWithKey(sb, { config: cfg });
  try {
    const c = await createSession(s, { user: 'alice' });
    const created = c.idle_expires_at - 60;
    await sleepUntil(created * 1000 + 1200);
    const v = await verify(s, c.token);
    assert.equal(v.status, 200);
    assert.ok(v.json.idle_expires_at > c.idle_expires_at, `the verify touched: ${v.json.idle_expires_at} > ${c.idle_expires_at}`);
    assert.equal((await s.api('DELETE', `/v1/sessions/${c.session_id}`)).status, 204);
    await sleep(1500); // the touch queue is flushed every 0.5 s
    assertError(await verify(s, c.token), 404, 'invalid_session', 'after the queued touch was written');
    assertError(await s.api('GET', `/v1/sessions/${c.session_id}`), 404, 'not_found');
    const list = await run(['session', 'list', '--data', s.data]);
    assert.equal(list.code, 0, list.stderr);
    assert.ok(!list.stdout.includes(c.session_id), `session list after delete:\n${list.stdout}`);
    await s.stop();
    await s.restart();
    assertError(await verify(s, c.token), 404, 'invalid_session', 'after a restart');
  } finally {
    await s.stop();
  }
});

test('a touch survives a clean restart (last-seen flushed at SIGTERM)', T, async () => {
  const cfg = sb.writeFile('touch2.ini', '[session]\nidle_timeout = 60s\n');
  const s = await startWithKey(sb, { config: cfg });
  try {
    const c = await createSession(s, { user: 'alice' });
    const created = c.idle_expires_at - 60;
    await sleepUntil(created * 1000 + 1200);
    const v = await verify(s, c.token);
    assert.equal(v.status, 200);
    const touchedIdle = v.json.idle_expires_at;
    assert.ok(touchedIdle > c.idle_expires_at);
    await s.stop(); // immediately: the queued touch must be written on the way out
    await s.restart();
    const g = await s.api('GET', `/v1/sessions/${c.session_id}`);
    assert.equal(g.status, 200);
    assert.equal(g.json.idle_expires_at, touchedIdle, 'the idle deadline moved by the touch survived SIGTERM');
  } finally {
    await s.stop();
  }
});

test('remember-me has its own inactivity timeout (remember_idle_timeout), far inside its lifetime', T, async () => {
  // Deadlines are whole seconds and a touch is due after touch_interval (1 s): a session used
  // every 1.2 s keeps at least 2.8 s of its 4 s, whatever second boundaries fall in between.
  const cfg = sb.writeFile('remember-idle.ini', '[session]\nidle_timeout = 1h\nremember_me = 1d\nremember_idle_timeout = 4s\ntouch_interval = 1s\n');
  const s = await startWithKey(sb, { config: cfg });
  try {
    const used = await createSession(s, { user: 'alice', remember: true });
    const left = await createSession(s, { user: 'alice', remember: true });
    const plain = await createSession(s, { user: 'alice' });
    assert.ok(used.expires_at - used.idle_expires_at > 80000, `a day's lifetime, a 4 s idle deadline: ${JSON.stringify(used)}`);
    assert.equal(used.idle_expires_at - (used.expires_at - 86400), 4);
    // Used every 1.2 s, the remember-me session lives on past the first deadline; the other
    // one, left alone, ends at it, while the plain session keeps its hour.
    const deadline = left.idle_expires_at;
    while (Date.now() < deadline * 1000 + 300) {
      await sleep(1200);
      assert.equal((await verify(s, used.token)).status, 200, 'used');
    }
    assertError(await verify(s, left.token, { touch: false }), 404, 'invalid_session', 'left unused past remember_idle_timeout');
    assert.equal((await verify(s, used.token, { touch: false })).status, 200, 'the used one lives on');
    assert.equal((await verify(s, plain.token, { touch: false })).status, 200, 'a plain session keeps idle_timeout');
  } finally {
    await s.stop();
  }
});

test('remember_me = off: /v1 refuses "remember": true, and a session without it is made as ever', T, async () => {
  const cfg = sb.writeFile('remember-off.ini', '[session]\nremember_me = off\n');
  const s = await startWithKey(sb, { config: cfg });
  try {
    const r = await s.api('POST', '/v1/sessions', { body: { user: 'alice', remember: true } });
    assertError(r, 400, 'invalid_request');
    assert.match(r.json.message, /remember_me = off/);
    assert.equal((await s.api('GET', '/v1/users/alice/sessions')).json.length, 0, 'nothing made');
    const c = await createSession(s, { user: 'alice' });
    assert.equal((await verify(s, c.token)).status, 200);
  } finally {
    await s.stop();
  }
});
