// gateway-lib.mjs - helpers for the gateway tests (not a test file): a tiny protected
// application, real nginx and real Caddy started from examples/ on free loopback ports with
// temporary configurations, a cookie jar, and a browser-like client for the login form.
//
// nginx and Caddy are the Debian packages (scripts/deps.sh installs them). A test that cannot
// start them fails: it never skips silently.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import assert from 'node:assert/strict';

import { BIN, REPO, run, sleep, assertNoSanitizerReport, leakSecret, leakExchange } from './lib.mjs';

export const PASSWORD = 'correct horse battery';

/* A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, what, child, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = net.connect({ host: '127.0.0.1', port }, () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (child && child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}: ${child.output}`);
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} in ${timeoutMs} ms: ${child?.output ?? ''}`);
    await sleep(30);
  }
}

/* The protected application: answers every request with what it saw, as JSON. */
export async function startApp() {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const rec = { method: req.method, url: req.url, headers: req.headers, body };
      seen.push(rec);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(rec));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { port: server.address().port, seen, close: () => new Promise((r) => server.close(r)) };
}

function fill(template, vars) {
  let text = fs.readFileSync(path.join(REPO, template), 'utf8');
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`@${k}@`, String(v));
  const left = /@[A-Z]+@/.exec(text);
  assert.equal(left, null, `unfilled placeholder ${left?.[0]} in ${template}`);
  return text;
}

function spawnLogged(cmd, args, env) {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.output = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (child.output += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (child.output += d));
  child.exited = new Promise((r) => child.on('close', (code, signal) => r({ code, signal })));
  return child;
}

async function stopChild(child, sig = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(sig);
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await child.exited;
  clearTimeout(t);
}

/* nginx from examples/nginx/nginx.conf, in the foreground, on a free port. */
export async function startNginx(root, sessiondPort, appPort, port) {
  const prefix = fs.mkdtempSync(path.join(root, 'nginx-'));
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(conf, fill('examples/nginx/nginx.conf', {
    PREFIX: prefix, LISTEN: `127.0.0.1:${port}`, SESSIOND: `127.0.0.1:${sessiondPort}`, APP: `127.0.0.1:${appPort}`,
  }));
  // As root, nginx's workers would run as nobody and could not use the private temp dir.
  const g = process.getuid() === 0 ? 'daemon off; user root;' : 'daemon off;';
  const child = spawnLogged('nginx', ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log'), '-g', g], process.env);
  await waitForPort(port, 'nginx', child);
  return { port, url: `http://127.0.0.1:${port}`, child, prefix, stop: () => stopChild(child, 'SIGQUIT') };
}

/* ngx_http_sessiond_module for this run: SESSIOND_NGINX_MODULE, else the one built next to the
 * server under test (build-asan/ for the ASan pass, `make B=build-asan SAN=1 nginx-module`), else
 * build/ (`make nginx-module`). `asan` when it was built with AddressSanitizer. */
export function nginxModule() {
  const candidates = [process.env.SESSIOND_NGINX_MODULE, path.join(path.dirname(BIN), 'ngx_http_sessiond_module.so'),
    path.join(REPO, 'build', 'ngx_http_sessiond_module.so')].filter(Boolean);
  const file = candidates.find((f) => fs.existsSync(f));
  if (!file) return null;
  const asan = execFileSync('sh', ['-c', 'nm -D "$1" | grep -c __asan_init || true', 'sh', file], { encoding: 'utf8' }).trim() !== '0';
  return { file, asan };
}

/* nginx from examples/nginx/nginx-module.conf: the module checks sessions in nginx's workers,
 * reading sessiond's data directory `data`; `http` adds directives to its http block. An ASan build of the module runs with libasan
 * preloaded (nginx itself is not instrumented); its reports go to PREFIX/asan.*, which stop()
 * turns into a failure. */
export async function startNginxModule(root, sessiondPort, appPort, port, data, { http = '' } = {}) {
  const mod = nginxModule();
  assert.ok(mod, 'the nginx module is not built: run make nginx-module (needs nginx-dev, scripts/deps.sh)');
  const prefix = fs.mkdtempSync(path.join(root, 'nginx-module-'));
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(conf, fill('examples/nginx/nginx-module.conf', {
    MODULE: mod.file, DATA: data, PREFIX: prefix, LISTEN: `127.0.0.1:${port}`, SESSIOND: `127.0.0.1:${sessiondPort}`, APP: `127.0.0.1:${appPort}`,
  }).replace('    sessiond_cookie sid;\n', `    sessiond_cookie sid;\n    ${http}\n`));
  // As root, the workers run as root too: the data directory and its key are root's (the
  // module wants the workers to be sessiond's user; see docs/nginx-module.md).
  const g = process.getuid() === 0 ? 'daemon off; user root;' : 'daemon off;';
  const env = { ...process.env };
  if (mod.asan) {
    const lib = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
    env.LD_PRELOAD = lib;
    // nginx is not built for LeakSanitizer (it leaves its pools to exit); memory errors in the
    // module and libsessiond abort the worker and are reported.
    env.ASAN_OPTIONS = `detect_leaks=0:abort_on_error=1:log_path=${path.join(prefix, 'asan')}`;
    env.UBSAN_OPTIONS = `print_stacktrace=1:halt_on_error=1:log_path=${path.join(prefix, 'ubsan')}`;
  }
  const child = spawnLogged('nginx', ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log'), '-g', g], env);
  await waitForPort(port, 'nginx', child);
  const reports = () => fs.readdirSync(prefix).filter((f) => /^(asan|ubsan)\./.test(f))
    .map((f) => fs.readFileSync(path.join(prefix, f), 'utf8')).join('\n');
  return {
    port, url: `http://127.0.0.1:${port}`, child, prefix, asan: mod.asan,
    errorLog: () => fs.readFileSync(path.join(prefix, 'error.log'), 'utf8'),
    stop: async () => {
      await stopChild(child, 'SIGQUIT');
      const found = reports();
      assert.equal(found, '', `a sanitizer report from the nginx module:\n${found}`);
      assertNoSanitizerReport(child.output, 'nginx with the module');
    },
  };
}

/* Caddy from examples/caddy/Caddyfile, with its state in a temporary directory. */
export async function startCaddy(root, sessiondPort, appPort, port) {
  const dir = fs.mkdtempSync(path.join(root, 'caddy-'));
  const file = path.join(dir, 'Caddyfile');
  fs.writeFileSync(file, fill('examples/caddy/Caddyfile', {
    LISTEN: `http://127.0.0.1:${port}`, SESSIOND: `127.0.0.1:${sessiondPort}`, APP: `127.0.0.1:${appPort}`,
  }));
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config') };
  const child = spawnLogged('caddy', ['run', '--config', file, '--adapter', 'caddyfile'], env);
  await waitForPort(port, 'caddy', child);
  return { port, url: `http://127.0.0.1:${port}`, child, stop: () => stopChild(child) };
}

/* sessiond's configuration for a gateway in front of it at `publicUrl`; `extra` goes at the
 * end, `firstRules` before the built-in rules (the first matching rule decides). */
export function gatewayConfig(publicUrl, extra = '', firstRules = '') {
  return `[server]
public_url = ${publicUrl}
trusted_proxies = 127.0.0.1
[login]
argon2_ops = 1
argon2_mem = 8m
${firstRules}
[rule adminhost]
host = admin.test
policy = role:admin
[rule static]
path = /static/*
methods = GET,HEAD
policy = public
[rule admin]
path = /admin/*
policy = role:admin
[rule app]
policy = authenticated
${extra}`;
}

/* `sessiond user add NAME --password-stdin` on a data directory. */
export async function addUser(data, name, { password = PASSWORD, roles, config } = {}) {
  const args = ['user', 'add', name, '--password-stdin', '--data', data];
  if (roles) args.push('--roles', roles);
  if (config) args.push('-c', config);
  leakSecret(password);
  const r = await run(args, { input: `${password}\n` });
  assert.equal(r.code, 0, `user add ${name}: ${r.stderr}`);
  assertNoSanitizerReport(r.stderr, 'user add');
}

/* ---- a small browser --------------------------------------------------------------------- */

export class Jar {
  constructor() {
    this.cookies = new Map();
  }

  /* Applies the Set-Cookie headers of a response (Max-Age=0 deletes). */
  take(headers) {
    for (const line of headers['set-cookie'] || []) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/* One request through a gateway on `port`, keeping cookies in `jar`. Never follows redirects.
 * Like a browser posting one of sessiond's own forms, an unsafe request under /auth/ says
 * `Sec-Fetch-Site: same-origin` unless `headers` names Origin or Sec-Fetch-Site itself (a null
 * value leaves that header out: a non-browser client). Other paths get only what is given. */
export function browse(port, method, urlPath, { jar, headers = {}, form, body, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    const named = Object.keys(headers).map((k) => k.toLowerCase());
    const h = {};
    if (!['GET', 'HEAD'].includes(method) && urlPath.startsWith('/auth/') && !named.includes('origin') && !named.includes('sec-fetch-site'))
      h['Sec-Fetch-Site'] = 'same-origin';
    for (const [k, v] of Object.entries(headers)) if (v !== null) h[k] = v;
    if (jar && jar.cookies.size > 0) h.Cookie = jar.header();
    let payload;
    if (form) {
      payload = Buffer.from(new URLSearchParams(form).toString());
      h['Content-Type'] = 'application/x-www-form-urlencoded';
    } else if (body !== undefined) {
      payload = Buffer.from(body);
    }
    if (payload) h['Content-Length'] = String(payload.length);
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: h, agent, timeout: 20000 });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer`)));
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        if (jar) jar.take(res.headers);
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        const out = { status: res.statusCode, headers: res.headers, text, json };
        leakExchange(urlPath, { form }, out);
        resolve(out);
      });
    });
    req.end(payload);
  });
}

/* The hidden fields of the login page in `html`. */
export function formFields(html) {
  const out = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    out[m[1]] = m[2].replaceAll('&amp;', '&').replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>');
  }
  return out;
}

/* Opens the login page (as a redirect would) and submits it. Returns the POST's answer. */
export async function login(port, jar, user, password, { rd, remember, headers = {} } = {}) {
  const page = await browse(port, 'GET', `/auth/login${rd !== undefined ? `?rd=${encodeURIComponent(rd)}` : ''}`, { jar, headers });
  assert.equal(page.status, 200, `login page: ${page.status} ${page.text}`);
  const fields = formFields(page.text);
  assert.ok(fields.csrf, 'the login form carries a CSRF proof');
  const form = { username: user, password, rd: fields.rd ?? '', csrf: fields.csrf };
  if (remember) form.remember = '1';
  return browse(port, 'POST', '/auth/login', { jar, form, headers });
}

export function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}
