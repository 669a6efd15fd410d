// clock.test.mjs - deadlines on a clock that never goes back (docs/operations.md, "Clock
// steps"), with the wall clock stepped under a running server by libfaketime (Debian's
// libfaketime; the monotonic clock is left alone, as a real step leaves it).
//
// The server reads the fake offset from a file at every clock call (FAKETIME_NO_CACHE), so a
// test steps the clock by writing the file. Steps are of whole seconds or more, and every
// assertion is judged against deadlines the server reported.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, startWithKey, createSession, verify, assertError, sleep, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
const FAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
let sb;

before(() => {
  assert.ok(fs.existsSync(FAKETIME), `${FAKETIME} (Debian's libfaketime; scripts/deps.sh installs it)`);
  sb = new Sandbox('sessiond-clock-');
});
after(async () => {
  await sb?.cleanup();
});

/* Waits (up to 10 s) until the server's output matches `re`: the maintenance thread looks at
 * the clock twice a second, and a loaded machine may run it late. */
async function logged(s, re) {
  for (let i = 0; i < 200 && !re.test(s.output); i++) await sleep(50);
  assert.match(s.output, re, s.output);
}

/* A server whose wall clock is the real one plus what `step(seconds)` last wrote. */
async function stepped(configText, data) {
  const file = sb.writeFile(`faketime-${Math.random().toString(36).slice(2)}`, '+0\n');
  const env = {
    LD_PRELOAD: FAKETIME,
    FAKETIME_TIMESTAMP_FILE: file,
    FAKETIME_NO_CACHE: '1',
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
    // The sanitizer builds run this test too: their runtime need not come first here.
    ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ? process.env.ASAN_OPTIONS + ':' : ''}verify_asan_link_order=0`,
  };
  const s = await startWithKey(sb, { config: sb.writeFile(`clock-${Math.random().toString(36).slice(2)}.ini`, configText), env, name: data });
  // Written whole and renamed into place: the server reads the file at every clock call, and a
  // half-written one would be a step of its own.
  s.step = (seconds) => {
    fs.writeFileSync(`${file}.new`, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
    fs.renameSync(`${file}.new`, file);
  };
  return s;
}

test('a backward step of an hour does not let a session outlive its absolute deadline', T, async () => {
  const s = await stepped('[session]\nidle_timeout = 3s\nabsolute_timeout = 3s\n');
  try {
    const c = await createSession(s, { user: 'alice' });
    assert.ok(Math.abs(c.expires_at - 3 - Date.now() / 1000) < 5, JSON.stringify(c));
    s.step(-3600);
    await sleep(4200); // past the absolute deadline on the monotonic clock
    assertError(await verify(s, c.token, { touch: false }), 404, 'invalid_session', 'the hour back does not extend it');
    await logged(s, /the wall clock stepped back by 3(59\d|60\d) s/);
  } finally {
    await s.stop();
  }
});

test('forward 90 s expires a session, and stepping back does not revive it; steps are logged', T, async () => {
  const s = await stepped('[session]\nidle_timeout = 60s\nabsolute_timeout = 1h\n[server]\nclock_step_warning = 30s\n');
  try {
    const c = await createSession(s, { user: 'alice' });
    assert.equal((await verify(s, c.token, { touch: false })).status, 200);
    s.step(90);
    assertError(await verify(s, c.token, { touch: false }), 404, 'invalid_session', '90 s later by the wall clock');
    s.step(0);
    assertError(await verify(s, c.token, { touch: false }), 404, 'invalid_session', 'an expiry once observed stays');
    // Steps that last past a maintenance tick are logged with their size.
    await sleep(1200);
    s.step(120);
    await logged(s, /the wall clock stepped forward by 1(19|20|21) s/);
    s.step(0);
    await logged(s, /the wall clock stepped back by 1(19|20|21) s/);
    // New sessions are judged on the time reached: their deadlines run from it.
    const after = await createSession(s, { user: 'bob' });
    assert.ok(after.idle_expires_at - Date.now() / 1000 > 60 + 110, `deadlines from the time reached: ${JSON.stringify(after)}`);
    assert.equal((await verify(s, after.token, { touch: false })).status, 200);
  } finally {
    await s.stop();
  }
});

test('the time reached survives a restart (DATA/clock): a step back while stopped moves no deadline back', T, async () => {
  const s = await stepped('[session]\nidle_timeout = 60s\nabsolute_timeout = 1h\n', 'restart');
  try {
    s.step(600);
    const c = await createSession(s, { user: 'alice' });
    await s.stop();
    const recorded = Number(fs.readFileSync(path.join(s.data, 'clock'), 'utf8'));
    assert.ok(recorded >= c.expires_at - 3600, `DATA/clock ${recorded} >= ${c.expires_at - 3600}`);
    s.step(0); // back to the real time while the server is down
    await s.restart();
    const d = await createSession(s, { user: 'bob' });
    assert.ok(d.expires_at - 3600 >= recorded, `time goes on from ${recorded}, not back 600 s: ${d.expires_at - 3600}`);
    const r = await verify(s, c.token, { touch: false });
    assert.equal(r.status, 200, 'the session made before the restart is as live as it was');
  } finally {
    if (s.running) await s.stop();
  }
});
