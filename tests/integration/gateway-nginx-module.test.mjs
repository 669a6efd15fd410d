// gateway-nginx-module.test.mjs - the nginx gateway suite (gateway-nginx.test.mjs) a second
// time, with nginx checking sessions itself through ngx_http_sessiond_module
// (examples/nginx/nginx-module.conf, docs/nginx-module.md) instead of auth_request; then what
// only the module has: the touches it reports to sessiond. The module must be built first:
// `make nginx-module` (or, for the ASan pass, `make B=build-asan SAN=1 nginx-module`);
// scripts/check.sh does both. Without it every test fails, saying so, unless scripts/check.sh
// found no nginx-dev to build it with (SESSIOND_SKIP_NGINX_MODULE=1): then the one test below is
// reported as skipped, with the reason.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { Sandbox, sleep, TEST_TIMEOUT_MS } from './lib.mjs';
import { PASSWORD, Jar, addUser, browse, freePort, gatewayConfig, login, startApp, startNginxModule } from './gateway-lib.mjs';

if (process.env.SESSIOND_SKIP_NGINX_MODULE === '1') {
  test('the nginx gateway suite with ngx_http_sessiond_module', { skip: 'nginx-dev is not installed (scripts/deps.sh)' }, () => {});
} else {
  process.env.SESSIOND_NGINX_GATEWAY = 'module';
  await import('./gateway-nginx.test.mjs');

  // Once with the touch socket in the data directory (the default on both sides), once with
  // sessiond's [server] socket_dir and the module's sessiond_socket_dir naming another one.
  for (const where of ['data directory', 'socket_dir']) test(`the module reports the sessions it lets through to touch.sock in the ${where} (a busy session outlives idle_timeout, an idle one still ends) and binds them to their user agent`, { timeout: TEST_TIMEOUT_MS }, async () => {
    const sb = new Sandbox('sessiond-nginx-touch-');
    let app, srv, nginx;
    try {
      app = await startApp();
      const port = await freePort();
      const data = sb.dataDir();
      const sockets = where === 'socket_dir' ? `${sb.root}/run` : data;
      const server = where === 'socket_dir' ? `[server]\nsocket_dir = ${sockets}\n` : '';
      const config = sb.writeFile('gw.ini', gatewayConfig(`http://127.0.0.1:${port}`, `${server}[session]\nidle_timeout = 3s\ntouch_interval = 1s\nbind_user_agent = true\n`));
      await addUser(data, 'erin', { config });
      srv = await sb.start({ data, config });
      assert.ok(fs.statSync(`${sockets}/touch.sock`).isSocket(), `touch.sock in the ${where}`);
      if (sockets !== data) assert.ok(!fs.existsSync(`${data}/touch.sock`), 'no touch.sock in the data directory');
      const http = `sessiond_touch_interval 1s; sessiond_bind_user_agent on;${where === 'socket_dir' ? ` sessiond_socket_dir ${sockets};` : ''}`;
      nginx = await startNginxModule(sb.root, srv.port, app.port, port, data, { http });
      const jar = new Jar();
      const ua = { 'User-Agent': 'erin-browser/1.0' };
      assert.equal((await login(port, jar, 'erin', PASSWORD, { headers: ua })).status, 303);
      // The token from another user agent is refused; its owner goes on.
      const thief = await browse(port, 'GET', '/private/x', { headers: { Cookie: jar.header(), 'User-Agent': 'thief/2.0', Accept: 'application/json' } });
      assert.equal(thief.status, 401, 'another user agent');
      const noUa = await browse(port, 'GET', '/private/x', { headers: { Cookie: jar.header(), Accept: 'application/json' } });
      assert.equal(noUa.status, 401, 'no user agent');
      // Three idle timeouts of requests that only nginx answers (the app, not sessiond).
      const until = Date.now() + 9000;
      let n = 0;
      while (Date.now() < until) {
        const r = await browse(port, 'GET', `/private/busy?n=${n++}`, { jar, headers: { ...ua, Accept: 'application/json' } });
        assert.equal(r.status, 200, `request ${n}, ${Math.round((until - Date.now()) / 1000)} s before the end: the busy session ended`);
        await sleep(300);
      }
      // Left alone longer than idle_timeout (3 s, whole seconds): it ends.
      await sleep(5000);
      const gone = await browse(port, 'GET', '/private/idle', { jar, headers: { ...ua, Accept: 'application/json' } });
      assert.equal(gone.status, 401, 'an idle session still ends');
    } finally {
      if (nginx) await nginx.stop();
      if (app) await app.close();
      if (srv) await srv.stop();
      await sb.cleanup();
    }
  });
}
