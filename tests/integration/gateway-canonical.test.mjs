// gateway-canonical.test.mjs - "never normalise and allow", end to end: behind nginx
// (auth_request, examples/nginx/nginx.conf), Caddy (forward_auth, examples/caddy/Caddyfile) and
// nginx with ngx_http_sessiond_module (examples/nginx/nginx-module.conf), a request target that a
// normaliser would change (dot segments raw or encoded, "#", "//", ";", encoded "/" or "\",
// controls, bad or needless escapes, invalid UTF-8, characters a browser escapes) is refused with
// 400 and never reaches the application, whatever the rules say; because sessiond judges the path
// one way and the application may read it another. Two applications read paths two common ways: a
// "werkzeug-like" one decodes escapes without removing dot segments and cuts at "#" or "?", a
// "url-like" one resolves dot segments (%2e too) as Node's URL does; each records which of its
// routes (public /static/, authenticated /app, admin /admin) every request reached. Each target
// is sent raw (a TCP socket: no client library escapes or refuses anything) by an anonymous visitor
// and by alice, signed in without the admin role. nginx (or Go, under Caddy) may refuse a form
// with its own 400 before sessiond sees it: that is accepted; any other 400 must be sessiond's.
// Positive controls (public, authenticated and admin paths that are canonical, escapes included)
// make sure the gateways are not simply refusing everything. Last, client-sent X-Auth-* headers
// must never reach the application, nor names with "_" (X_Auth_User) that a WSGI or CGI server
// reads as the same header. nginx, Caddy and the module (make nginx-module) are required: without
// them the tests fail (the module's cases are skipped, saying so, only where scripts/check.sh
// found no nginx-dev to build it with, as in gateway-nginx-module.test.mjs).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

import { Sandbox, TEST_TIMEOUT_MS } from './lib.mjs';
import { PASSWORD, Jar, addUser, freePort, gatewayConfig, login, nginxModule, startCaddy, startNginx, startNginxModule, which } from './gateway-lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };

/* ---- the two applications ---------------------------------------------------------------- */

/* Percent-decodes `s` byte by byte (an invalid escape stays as it is) and reads the bytes as
 * UTF-8, or as latin1 when they are not valid UTF-8: never throws, as a lenient framework. */
function lenientDecode(s) {
  const bytes = [];
  const raw = Buffer.from(s, 'latin1');
  for (let i = 0; i < raw.length; i++) {
    const hex = raw.length - i > 2 ? raw.toString('latin1', i + 1, i + 3) : '';
    if (raw[i] === 0x25 && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(raw[i]);
    }
  }
  const b = Buffer.from(bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    return b.toString('latin1');
  }
}

function routeOf(p) {
  if (p === '/admin' || p.startsWith('/admin/')) return 'admin';
  if (p.startsWith('/static/')) return 'static';
  return 'app';
}

/* How each application reads the path of req.url (raw, as the proxy sent it). */
const READERS = {
  // No dot-segment removal; the path ends at the first "#" or "?", then escapes are decoded.
  'werkzeug-like': (url) => {
    const cut = url.search(/[#?]/);
    return lenientDecode(cut < 0 ? url : url.slice(0, cut));
  },
  // WHATWG URL parsing: dot segments (%2e too) resolved, "\" read as "/", cut at "#".
  'url-like': (url) => lenientDecode(new URL(url, 'http://x').pathname),
};

/* One application on 127.0.0.1:0. Every request that reaches it is recorded in `reached` as
 * { route, url, path, headers }; a request its HTTP parser refuses is recorded too (route
 * "parse-error"), so that "not reached" means not reached. */
async function startReader(name) {
  const read = READERS[name];
  const reached = [];
  const server = http.createServer({ insecureHTTPParser: true }, (req, res) => {
    let route;
    let p;
    try {
      p = read(req.url);
      route = routeOf(p);
    } catch (e) {
      p = String(e);
      route = 'unparsable';
    }
    const rec = { route, url: req.url, path: p, headers: req.headers };
    reached.push(rec);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ app: name, ...rec }));
    });
  });
  server.on('clientError', (err, sock) => {
    // A request its parser refused (HPE_*); a connection reset is no request.
    if (String(err.code).startsWith('HPE_')) reached.push({ route: 'parse-error', url: String(err.rawPacket ?? ''), path: '', headers: {}, error: err.code });
    sock.destroy();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    name, reached, port: server.address().port,
    close: () => new Promise((r) => {
      server.closeAllConnections?.();
      server.close(r);
    }),
  };
}

/* ---- a raw client ------------------------------------------------------------------------ */

/* Sends `GET target HTTP/1.1` with `headers` on a new connection (Connection: close) and reads
 * the whole answer. `target` is written byte for byte (latin1), whatever it holds. */
function rawGet(port, target, headers = {}, timeout = 10000, method = 'GET') {
  const lines = [`${method} ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && v !== null) lines.push(`${k}: ${v}`);
  const bytes = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return new Promise((resolve, reject) => {
    const chunks = [];
    const sock = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`${method} ${JSON.stringify(target)}: no complete answer in ${timeout} ms`));
    }, timeout);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (d) => chunks.push(d));
    let error;
    sock.on('error', (e) => (error = e)); // a reset after the answer: what was read is judged below
    sock.on('close', () => {
      clearTimeout(timer);
      if (error && chunks.length === 0) {
        reject(new Error(`${method} ${JSON.stringify(target)}: ${error.code || error.message} before any answer`));
        return;
      }
      try {
        resolve(parseResponse(Buffer.concat(chunks), target));
      } catch (e) {
        reject(e);
      }
    });
  });
}

function parseResponse(data, target) {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`GET ${JSON.stringify(target)}: no response head (${data.length} bytes: ${JSON.stringify(data.toString('latin1').slice(0, 200))})`);
  const head = data.toString('latin1', 0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]);
  if (!m) throw new Error(`GET ${JSON.stringify(target)}: bad status line ${JSON.stringify(head[0])}`);
  const headers = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    const k = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  let body = data.subarray(end + 4);
  if (/chunked/i.test(headers['transfer-encoding'] || '')) {
    const parts = [];
    let at = 0;
    for (;;) {
      const nl = body.indexOf('\r\n', at);
      if (nl < 0) break;
      const size = parseInt(body.toString('latin1', at, nl), 16);
      if (!(size > 0)) break;
      parts.push(body.subarray(nl + 2, nl + 2 + size));
      at = nl + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    body = body.subarray(0, Number(headers['content-length']));
  }
  const text = body.toString('utf8');
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: Number(m[1]), headers, text, json };
}

/* ---- the targets ------------------------------------------------------------------------- */

/* Not canonical, each aimed at the admin route (or at reading a public rule into an admin path):
 * an application reading the path one way or the other would land on /admin for some of them. */
const ATTACKS = [
  // dot segments, raw
  '/admin/users/../../static/a.css',
  '/static/../admin/x',
  '/static/x/../../admin/x',
  '/static/./../admin/x',
  '/static//../admin/x',
  '/./admin/x',
  '/admin/./x',
  '/static/..',
  '/admin/x/..',
  '/auth/../admin/x',
  // dot segments, encoded, in any case and half-encoded
  '/static/%2e%2e/admin/x',
  '/static/%2E%2E/admin/x',
  '/static/.%2e/admin/x',
  '/static/%2e./admin/x',
  '/static/.%2E/admin/x',
  '/static/%2E./admin/x',
  '/admin/x/%2e%2e/%2e%2e/static/a.css',
  '/admin/x/%2E%2E/%2E%2E/static/a.css',
  '/static/%2e/../admin/x',
  '/auth/%2e%2e/admin/x',
  '/static/%2e%2e%2fadmin/x',
  // encoded "/" or "\", raw "\"
  '/static%2F..%2Fadmin/x',
  '/static%2f..%2fadmin/x',
  '/static/..%2fadmin/x',
  '/static/..%2Fadmin/x',
  '/static/..%5cadmin/x',
  '/static/..%5Cadmin/x',
  '/admin%2fx',
  '/admin%2Fx',
  '/admin%5cx',
  '/admin%5Cx',
  '/admin\\x',
  '/static\\..\\admin\\x',
  '/static/..\\admin/x',
  // "#" anywhere
  '/admin#/../static/x',
  '/admin/x#/../../app',
  '/admin#x',
  '/static/x#/../../admin/x',
  '/static/x?#/../../admin',
  '/app?x=1#/../admin/x',
  // "//", ";"
  '//admin/x',
  '///admin/x',
  '/static//admin/x',
  '/admin;x/y',
  '/static/;/../admin/x',
  '/admin/x;jsessionid=1',
  // escapes of unreserved characters, of "%", "#", "?", ";"
  '/%61dmin/x',
  '/%41DMIN/x',
  '/admi%6E/x',
  '/admin/%7Ex',
  '/static/%61.css/../../admin/x',
  '/admin%23x',
  '/admin%3Fx',
  '/admin%3Bx',
  '/admin%25x',
  '/static/%25%32%65%25%32%65/admin',
  '/static/%252e%252e/admin/x',
  // controls, raw or encoded
  '/admin%00',
  '/admin%00/x',
  '/static/a.css%00/../../admin/x',
  '/admin%0A',
  '/admin%0D%0Ax',
  '/admin%7F',
  '/admin%09x',
  '/admin\tx',
  '/admin\x7fx',
  '/app?x=\x01/../admin',
  // bad escapes, lower-case hex
  '/admin%zz',
  '/admin%2',
  '/admin%',
  '/admin/caf%c3%a9',
  '/static/%c0%ae%c0%ae/admin/x',
  // invalid or overlong UTF-8
  '/static/%C0%AE%C0%AE/admin/x',
  '/static/..%C0%AFadmin/x',
  '/static/%C0%AF../admin/x',
  '/static/%E0%80%AE%E0%80%AE/admin/x',
  '/admin%ED%A0%80',
  '/admin/%FF',
  '/admin/%C3',
  '/static/\xc0\xae\xc0\xae/admin/x',
  '/admin/\xff',
  '/admin%C2%85',
  '/admin/%F4%90%80%80',
  // characters a browser escapes
  '/admin/a b',
  '/admin/"x"',
  '/admin/<x>',
  '/admin/`x`',
  '/admin/{x}',
  // a character a browser escapes next to another non-canonical form (a proxy that re-escapes
  // the one may rewrite the other)
  '/%61dmin/"x"',
  '/admin/caf%c3%a9/{x}',
  '/admin/%7E<x>',
  // absolute form
  'http://127.0.0.1/static/../admin/x',
  'http://127.0.0.1/static/%2e%2e/admin/x',
  // not starting with "/"
  '*',
  'admin/x',
];

/* Is this 400 the front proxy's own (the request never reached sessiond): nginx's HTML page, or
 * Go's plain "400 Bad Request" under Caddy (without Caddy's Server header)? */
function proxyOwn400(r) {
  if (r.status !== 400) return false;
  if (/<center>nginx[^<]*<\/center>/.test(r.text) && /<title>400 Bad Request<\/title>/.test(r.text)) return 'nginx';
  if (/^400 Bad Request/.test(r.text) && r.json === undefined && !/caddy/i.test(r.headers.server || '')) return 'go';
  return false;
}

const show = (s) => JSON.stringify(s);
/* A target as text, every byte outside printable ASCII as \xNN. */
const shown = (t) => `"${t.replace(/[\\"]/g, '\\$&').replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}"`;

/* The headers as a WSGI or CGI environment names them: HTTP_X_AUTH_USER for X-Auth-User and
 * X_Auth_User alike; each key lists every value that arrived under it. */
function wsgiView(headers) {
  const env = {};
  for (const [k, v] of Object.entries(headers)) (env[`HTTP_${k.toUpperCase().replaceAll('-', '_')}`] ??= []).push(v);
  return env;
}

/* ---- the gateways ------------------------------------------------------------------------ */

/* As in gateway-nginx-module.test.mjs: scripts/check.sh sets SESSIOND_SKIP_NGINX_MODULE=1 only
 * where nginx-dev could not be installed to build the module; the module's cases are then
 * reported as skipped, with the reason. */
const NO_MODULE = process.env.SESSIOND_SKIP_NGINX_MODULE === '1';
const GATEWAYS = NO_MODULE ? ['nginx', 'caddy'] : ['nginx', 'caddy', 'nginx-module'];
if (NO_MODULE) test('the canonical-target cases through ngx_http_sessiond_module', { skip: 'nginx-dev is not installed (scripts/deps.sh)' }, () => {});
const APPS = Object.keys(READERS);
let sb;
const setups = {}; // app name -> { app, srv, data, gw: { nginx: { port, alice, bob, stop }, ... } }

before(async () => {
  assert.ok(which('nginx'), 'nginx is not installed (scripts/deps.sh)');
  assert.ok(which('caddy'), 'caddy is not installed (scripts/deps.sh)');
  if (!NO_MODULE) assert.ok(nginxModule(), 'the nginx module is not built: make nginx-module (needs nginx-dev, scripts/deps.sh)');
  sb = new Sandbox('sessiond-canonical-');
  await Promise.all(APPS.map(async (name) => {
    const s = { gw: {} };
    setups[name] = s;
    s.app = await startReader(name);
    const ports = {};
    for (const g of GATEWAYS) ports[g] = await freePort();
    s.data = sb.dataDir();
    const config = sb.writeFile(`gw-${name}.ini`, gatewayConfig(`http://127.0.0.1:${ports.nginx}`));
    await addUser(s.data, 'alice', { config });
    await addUser(s.data, 'bob', { roles: 'admin', config });
    s.srv = await sb.start({ data: s.data, config });
    const start = {
      nginx: () => startNginx(sb.root, s.srv.port, s.app.port, ports.nginx),
      caddy: () => startCaddy(sb.root, s.srv.port, s.app.port, ports.caddy),
      'nginx-module': () => startNginxModule(sb.root, s.srv.port, s.app.port, ports['nginx-module'], s.data),
    };
    const started = await Promise.all(GATEWAYS.map((g) => start[g]()));
    GATEWAYS.forEach((g, i) => (s.gw[g] = started[i]));
    for (const g of GATEWAYS) {
      for (const user of ['alice', 'bob']) {
        const jar = new Jar();
        const r = await login(s.gw[g].port, jar, user, PASSWORD);
        assert.equal(r.status, 303, `${g} + ${name}: login of ${user}: ${r.status} ${r.text}`);
        s.gw[g][user] = jar.header();
      }
      // The port was free a moment before the gateway took it; that it answered the logins is
      // not enough if another process took the port first and the gateway could not start.
      const c = s.gw[g].child;
      assert.ok(c.exitCode === null && c.signalCode === null, `${g} + ${name} exited after its start (port ${ports[g]} taken?):\n${gatewayLog(s.gw[g])}`);
    }
  }));
}, T);

after(async () => {
  const stops = [];
  for (const s of Object.values(setups)) {
    for (const g of GATEWAYS) if (s.gw[g]) stops.push(s.gw[g].stop());
  }
  const results = await Promise.allSettled(stops);
  for (const s of Object.values(setups)) {
    if (s.app) await s.app.close();
    if (s.srv) await s.srv.stop();
  }
  if (sb) await sb.cleanup();
  for (const r of results) if (r.status === 'rejected') throw r.reason;
});

/* One request through gateway `g` to the application of `s`: the answer and what the app saw. */
async function through(s, g, target, headers, method = 'GET') {
  const from = s.app.reached.length;
  try {
    const r = await rawGet(s.gw[g].port, target, headers, 10000, method);
    return { r, seen: s.app.reached.slice(from) };
  } catch (e) {
    const gw = s.gw[g];
    const alive = gw.child.exitCode === null && gw.child.signalCode === null;
    e.message += `\n${g} ${alive ? 'is running' : `exited (${gw.child.exitCode ?? gw.child.signalCode})`}; its log:\n${gatewayLog(gw).slice(-3000)}`;
    throw e;
  }
}

/* What a gateway wrote: nginx's error log, Caddy's output. */
function gatewayLog(gw) {
  const file = gw.prefix && path.join(gw.prefix, 'error.log');
  return (file && fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '') + (gw.child?.output ?? '');
}

for (const name of APPS) {
  for (const g of GATEWAYS) {
    const label = `${g} + ${name}`;

    test(`${label}: canonical targets pass (public, authenticated, admin for bob only; escapes and a query with dots)`, T, async () => {
      const s = setups[name];
      const bad = [];
      const expect = async (who, target, status, route, user) => {
        const headers = who === 'anonymous' ? { Accept: 'application/json' } : { Accept: 'application/json', Cookie: s.gw[g][who] };
        const { r, seen } = await through(s, g, target, headers);
        const routes = seen.map((x) => x.route);
        const wantRoutes = route ? [route] : [];
        if (r.status !== status || JSON.stringify(routes) !== JSON.stringify(wantRoutes) ||
            (route && seen[0].url !== target) || (route && seen[0].headers['x-auth-user'] !== user)) {
          bad.push(`${who} ${shown(target)}: ${r.status} (want ${status}), app routes ${show(routes)} (want ${show(wantRoutes)}), ` +
            `app url ${show(seen[0]?.url)}, X-Auth-User ${show(seen[0]?.headers['x-auth-user'])} (want ${show(user)}), body ${show(r.text.slice(0, 200))}`);
        }
      };
      await expect('anonymous', '/static/a.css', 200, 'static');
      await expect('anonymous', '/static/a%20b', 200, 'static');
      await expect('anonymous', '/static/caf%C3%A9', 200, 'static');
      await expect('anonymous', '/static/a.css?v=1/../x', 200, 'static');
      await expect('alice', '/app', 200, 'app', 'alice');
      await expect('alice', '/app?x=/../y', 200, 'app', 'alice');
      await expect('alice', '/app/caf%C3%A9/x%20y', 200, 'app', 'alice');
      await expect('bob', '/admin/x', 200, 'admin', 'bob');
      await expect('bob', '/admin/caf%C3%A9', 200, 'admin', 'bob');
      await expect('alice', '/admin/x', 403, null);
      await expect('alice', '/Admin/x', 403, null);
      await expect('anonymous', '/admin/x', 401, null);
      // Raw UTF-8 is canonical (access.h): judged as what it is, an admin path.
      await expect('alice', '/admin/caf\xc3\xa9', 403, null);
      assert.deepEqual(bad, [], `${label}: canonical targets not answered as they should be:\n${bad.join('\n')}`);
    });

    test(`${label}: every non-canonical target is refused with 400, never reaching the application (anonymous and alice)`, T, async (t) => {
      const s = setups[name];
      const bad = [];
      const origins = { sessiond: 0, nginx: 0, go: 0, other: 0 };
      for (const target of ATTACKS) {
        for (const who of ['anonymous', 'alice']) {
          // Anonymous asks for JSON (sessiond's JSON error), alice browses (its text/plain one).
          const headers = who === 'anonymous' ? { Accept: 'application/json' } : { Accept: 'text/html', Cookie: s.gw[g].alice };
          const { r, seen } = await through(s, g, target, headers);
          const problems = [];
          // 400 only: a 401 or 403 means the target was judged by the rules, which is what must
          // not happen to a target the application may read otherwise.
          if (r.status !== 400) problems.push(`status ${r.status}${r.status === 401 || r.status === 403 ? ' (judged by the rules instead of refused as not canonical)' : ''}`);
          if (seen.length > 0) problems.push(`the app was reached: ${show(seen.map((x) => ({ route: x.route, url: x.url, user: x.headers['x-auth-user'] })))}`);
          const own = proxyOwn400(r);
          if (r.status === 400) {
            if (own) {
              origins[own]++;
            } else if (who === 'anonymous' && r.json?.error === 'invalid_request') {
              origins.sessiond++;
            } else if (who === 'alice' && /^text\/plain/.test(r.headers['content-type'] || '') && /not canonical/.test(r.text)) {
              origins.sessiond++;
            } else {
              origins.other++;
              problems.push(`a 400 that is neither sessiond's nor the proxy's own: ${r.headers['content-type']} ${show(r.text.slice(0, 200))}`);
            }
          }
          if (problems.length) bad.push(`${who} ${shown(target)}: ${problems.join('; ')}`);
        }
      }
      t.diagnostic(`${label}: ${ATTACKS.length * 2} requests; 400 from sessiond ${origins.sessiond}, from nginx itself ${origins.nginx}, from Go (under Caddy) itself ${origins.go}, from elsewhere ${origins.other}`);
      assert.deepEqual(bad, [], `${label}: non-canonical targets not refused as they should be:\n${bad.join('\n')}`);
    });

    test(`${label}: unsafe methods with a non-canonical target get the same 400 (sessiond's check is a GET whatever the method)`, T, async () => {
      const s = setups[name];
      const bad = [];
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
        for (const target of ['/static/../admin/x', '/admin#/../static/x', '/static/%2e%2e/admin/x', '/admin%2Fx']) {
          const headers = { Accept: 'application/json', Cookie: s.gw[g].alice, 'Content-Length': '0', 'Sec-Fetch-Site': 'same-origin' };
          const { r, seen } = await through(s, g, target, headers, method);
          const own = proxyOwn400(r);
          if (r.status !== 400 || seen.length > 0 || (!own && r.json?.error !== 'invalid_request'))
            bad.push(`${method} ${shown(target)}: ${r.status} ${show(r.text.slice(0, 160))}, app reached ${seen.length}`);
        }
      }
      assert.deepEqual(bad, [], `${label}:\n${bad.join('\n')}`);
    });

    test(`${label}: client-sent X-Auth-* headers never reach the application`, T, async () => {
      const s = setups[name];
      const forged = { 'X-Auth-User': 'mallory', 'X-Auth-Roles': 'admin', 'X-Auth-Pref-Font-Size': 'huge', 'X-Auth-Anything': 'x', 'x-auth-session': '00' };
      const pub = await through(s, g, '/static/a.css', forged);
      assert.equal(pub.r.status, 200, `public path: ${pub.r.status} ${pub.r.text}`);
      assert.equal(pub.seen.length, 1);
      const auth = Object.entries(pub.seen[0].headers).filter(([k]) => k.startsWith('x-auth-'));
      assert.deepEqual(auth, [], `${label}: on a public path the app got X-Auth-* headers`);
      const placeholder = Object.entries(pub.seen[0].headers).filter(([, v]) => /\{http\.|<nil>/.test(String(v)));
      assert.deepEqual(placeholder, [], `${label}: a placeholder's text reached the app`);

      const app = await through(s, g, '/app', { ...forged, Cookie: s.gw[g].alice });
      assert.equal(app.r.status, 200, `/app as alice: ${app.r.status} ${app.r.text}`);
      assert.equal(app.seen.length, 1);
      const h = app.seen[0].headers;
      assert.equal(h['x-auth-user'], 'alice');
      assert.ok(!h['x-auth-roles'], `alice has no role, the app got X-Auth-Roles ${show(h['x-auth-roles'])}`);
      assert.equal(h['x-auth-pref-font-size'], undefined);
      assert.equal(h['x-auth-anything'], undefined);
      assert.match(h['x-auth-session'] || '', /^[0-9a-f]{32}$/, 'the session id is sessiond\'s, not the forged one');
      assert.match(h['x-auth-csrf-token'] || '', /^[A-Za-z0-9_-]{43}$/, 'the session\'s CSRF token reaches the app');
      const values = Object.entries(h).filter(([, v]) => /mallory|huge|\{http\.|<nil>/.test(String(v)));
      assert.deepEqual(values, [], `${label}: a forged value or a placeholder reached the app`);
    });

    test(`${label}: client-sent X_Auth_User, X-Auth_Roles (underscores) never reach the application as a WSGI or CGI environment reads them`, T, async () => {
      // WSGI and CGI servers name a header HTTP_ + its name in upper case with "-" turned into
      // "_": X_Auth_User and X-Auth-User are both HTTP_X_AUTH_USER there (gunicorn before 22,
      // uWSGI, PHP's $_SERVER), so a forged one must not pass where the real one is stripped.
      const s = setups[name];
      const forged = { X_Auth_User: 'mallory', 'X-Auth_Roles': 'admin', 'x_auth-pref-font-size': 'huge' };
      const bad = [];
      for (const [who, target] of [['anonymous', '/static/a.css'], ['alice', '/app']]) {
        const headers = who === 'alice' ? { ...forged, Cookie: s.gw[g].alice } : forged;
        const { r, seen } = await through(s, g, target, headers);
        assert.equal(r.status, 200, `${who} ${target}: ${r.status} ${r.text}`);
        assert.equal(seen.length, 1);
        const env = wsgiView(seen[0].headers);
        const want = { HTTP_X_AUTH_USER: who === 'alice' ? ['alice'] : undefined, HTTP_X_AUTH_ROLES: undefined, HTTP_X_AUTH_PREF_FONT_SIZE: undefined };
        for (const [k, v] of Object.entries(want)) {
          if (show(env[k]) !== show(v)) bad.push(`${who} ${target}: ${k} ${show(env[k])} (want ${show(v)}; the app got ${show(Object.fromEntries(Object.entries(seen[0].headers).filter(([h]) => /^x.auth/.test(h))))})`);
        }
      }
      assert.deepEqual(bad, [], `${label}: forged identity under another spelling reached the app:\n${bad.join('\n')}`);
    });
  }
}
