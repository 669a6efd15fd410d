// gateway-hardening.test.mjs - the login path under attack, straight against sessiond (no
// gateway needed): bursts of parallel guesses stay within [login] max_failures, a shutdown with
// logins still queued exits cleanly, and a password helper that dies is replaced and reaped.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { Sandbox, TEST_TIMEOUT_MS, run, sleep } from './lib.mjs';
import { PASSWORD, Jar, addUser, browse, gatewayConfig } from './gateway-lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
const MAX_FAILURES = 5;
let sb, srv, config, data;

before(async () => {
  sb = new Sandbox('sessiond-hardening-');
  data = sb.dataDir();
  config = sb.writeFile('gw.ini', gatewayConfig('http://127.0.0.1:1'));
  await addUser(data, 'alice', { config });
  await addUser(data, 'eve', { config });
  srv = await sb.start({ data, config });
});

after(async () => {
  if (srv) await srv.stop();
  await sb.cleanup();
});

/* The login form's CSRF proof for a new browser on `port`. */
async function loginForm(port) {
  const jar = new Jar();
  const page = await browse(port, 'GET', '/auth/login', { jar });
  assert.equal(page.status, 200);
  return { jar, csrf: /name="csrf" value="([^"]+)"/.exec(page.text)[1] };
}

function post(port, { jar, csrf }, username, password, addr) {
  return browse(port, 'POST', '/auth/login', {
    jar, form: { username, password, csrf }, headers: { 'X-Forwarded-For': addr },
  });
}

function tally(answers) {
  const n = {};
  for (const r of answers) n[r.status] = (n[r.status] || 0) + 1;
  for (const r of answers.filter((x) => x.status === 429))
    assert.ok(Number(r.headers['retry-after']) > 0, `429 without Retry-After: ${JSON.stringify(r.headers)}`);
  return n;
}

test('50 parallel wrong passwords for one user: at most max_failures checked, then locked', T, async () => {
  const form = await loginForm(srv.port);
  // The right password goes out once the lock is visible (a 429, or max_failures 401s), with
  // guesses still in flight: a fixed sleep raced a slow (TSan) server, where the right password
  // could legitimately arrive before the fifth failure and be accepted.
  let locked;
  const lockSeen = new Promise((resolve) => { locked = resolve; });
  let failures = 0;
  const guesses = Array.from({ length: 50 }, (_, i) =>
    post(srv.port, form, 'eve', `wrong ${i}`, `10.1.0.${i + 1}`).then((r) => {
      if (r.status === 429 || (r.status === 401 && ++failures >= MAX_FAILURES)) locked();
      return r;
    }));
  await Promise.race([lockSeen, Promise.all(guesses)]);
  const right = post(srv.port, form, 'eve', PASSWORD, '10.1.1.1');
  const answers = await Promise.all(guesses);
  const n = tally(answers);
  assert.ok((n[401] || 0) <= MAX_FAILURES, `passwords checked: ${JSON.stringify(n)}`);
  assert.equal((n[401] || 0) + (n[429] || 0), 50, JSON.stringify(n));
  assert.equal((await right).status, 429, 'the right password inside the burst');
  assert.equal((await post(srv.port, form, 'eve', PASSWORD, '10.1.1.2')).status, 429, 'after the burst');
});

test('50 parallel guesses from one address: at most max_failures checked', T, async () => {
  const form = await loginForm(srv.port);
  const guesses = Array.from({ length: 50 }, (_, i) => post(srv.port, form, `nobody${i}`, 'wrong', '10.2.0.1'));
  const n = tally(await Promise.all(guesses));
  assert.ok((n[401] || 0) <= MAX_FAILURES, `passwords checked: ${JSON.stringify(n)}`);
  assert.equal((n[401] || 0) + (n[429] || 0), 50, JSON.stringify(n));
  assert.equal((await post(srv.port, form, 'alice', PASSWORD, '10.2.0.2')).status, 303);
});

/* The direct children of `pid` and their states (from /proc). */
function children(pid) {
  const out = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    const list = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
    for (const c of list ? list.split(/\s+/).map(Number) : []) {
      const stat = fs.readFileSync(`/proc/${c}/stat`, 'utf8');
      out.push({ pid: c, state: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] });
    }
  }
  return out;
}

test('a password helper killed with SIGKILL is reaped and replaced; logins go on', T, async () => {
  const before = children(srv.pid);
  assert.ok(before.length > 0, 'sessiond runs password helpers');
  for (const c of before) process.kill(c.pid, 'SIGKILL');
  await sleep(100);
  // Sequential and more than there are helpers, so that every worker meets its dead helper.
  for (let i = 0; i < 2 * before.length + 2; i++) {
    const form = await loginForm(srv.port);
    assert.equal((await post(srv.port, form, 'alice', PASSWORD, `10.3.0.${i + 1}`)).status, 303, `login ${i}`);
  }
  const now = children(srv.pid);
  assert.deepEqual(now.filter((c) => c.state === 'Z'), [], 'no zombie helper');
  assert.equal(now.length, before.length, 'every helper was replaced');
  assert.ok(now.every((c) => !before.some((b) => b.pid === c.pid)), 'by new processes');
  assert.match(srv.output, /password helper/i, 'the death is logged');
  await srv.assertAlive();
});

test('SIGTERM with ~100 logins queued exits 0 without a sanitizer report', T, async () => {
  const slow = sb.writeFile('slow.ini', gatewayConfig('http://127.0.0.1:1').replace('argon2_mem = 8m', 'argon2_mem = 64m'));
  const d = sb.dataDir();
  await addUser(d, 'alice', { config: slow });
  const s = await sb.start({ data: d, config: slow, args: ['--threads', '2'] });
  const form = await loginForm(s.port);
  const pending = Array.from({ length: 100 }, (_, i) =>
    post(s.port, form, i % 2 ? 'alice' : `nobody${i}`, `wrong ${i}`, `10.4.${i}.1`).catch((e) => e));
  await sleep(400);
  await s.stop(); // asserts exit status 0 and no sanitizer report
  await Promise.all(pending);
});

/* Whether `needle` is anywhere in the writable memory of process `pid` (we run as its owner). */
function inMemory(pid, needle) {
  const want = Buffer.from(needle);
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  try {
    for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) rw/.exec(line);
      if (!m || /\[vvar|\[vsyscall/.test(line)) continue;
      const start = parseInt(m[1], 16), len = parseInt(m[2], 16) - start;
      // Terabytes of sanitizer shadow (mostly never touched) are not where a request lands.
      if (len > 1 << 30) continue;
      for (let off = 0; off < len; off += 1 << 24) {
        const n = Math.min(1 << 24, len - off) + want.length;
        const buf = Buffer.alloc(n);
        let got = 0;
        try {
          got = fs.readSync(fd, buf, 0, n, start + off);
        } catch {
          break;
        }
        if (buf.subarray(0, got).includes(want)) return true;
      }
    }
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

test('the password of a login and of the admin socket is not left in the server memory', T, async () => {
  const secret = `Zq${Date.now()}xPw`;
  const d = sb.dataDir();
  await addUser(d, 'mem', { password: secret, config });
  const s = await sb.start({ data: d, config });
  const form = await loginForm(s.port);
  assert.equal((await post(s.port, form, 'mem', secret, '10.5.0.1')).status, 303);
  await sleep(100);
  assert.equal(inMemory(s.pid, secret), false, 'the login password is still in memory');
  await s.stop();
  const m = await sb.start({ data: sb.dataDir(), config, store: 'memory' });
  const other = `Yq${Date.now()}xPw`;
  const add = await run(['user', 'add', 'sock', '--password-stdin', '--store', 'memory', '--data', m.data], { input: `${other}\n` });
  assert.equal(add.code, 0, add.stderr);
  await sleep(100);
  assert.equal(inMemory(m.pid, other), false, 'the admin socket password is still in memory');
  await m.stop();
});
