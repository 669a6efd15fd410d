// lib.mjs - shared helpers for the integration tests (not a test file).
//
// Every test starts the real binary (SESSIOND_BIN, default ./sessiond at the repository root) on
// 127.0.0.1 port 0 with a temporary data directory, talks to it over HTTP, and stops it. Nothing
// here depends on a package outside Node's standard library.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.resolve(REPO, process.env.SESSIOND_BIN || 'sessiond');
/* The HTTP/1 conformance corpus lives beside the repository (../shared from its root). */
export const CORPUS = path.resolve(REPO, '../shared/conformance/http1-requests.json');

/* Bounds: generous enough for the ASan build, short enough that a hang fails fast. */
export const START_TIMEOUT_MS = 20000;
export const STOP_TIMEOUT_MS = 20000;
export const REQUEST_TIMEOUT_MS = 10000;
export const CLI_TIMEOUT_MS = 20000;
/* Per-test bound (node:test `timeout` option). */
export const TEST_TIMEOUT_MS = 60000;

export const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;
export const SESSION_ID_RE = /^[0-9a-f]{32}$/;
export const APIKEY_RE = /^sk_[A-Za-z0-9_-]{43}$/;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Sleeps until the wall clock reaches `ms` (epoch milliseconds). */
export async function sleepUntil(ms) {
  const d = ms - Date.now();
  if (d > 0) await sleep(d);
}

/* Sleeps until just after the start of a wall-clock second, so that a test measuring a
 * whole-second deadline has the most room before the next second begins. */
export async function alignToSecond(offsetMs = 30) {
  const now = Date.now();
  const inSecond = now % 1000;
  if (inSecond > offsetMs + 100 || inSecond < offsetMs) await sleep((1000 - inSecond + offsetMs) % 1000);
}

/* The environment for a child: ours without any SESSIOND_* variable (the binary treats unknown
 * ones as errors, and a stray override would change what a test means), plus `extra`. */
export function childEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSIOND_')) env[k] = v;
  return { ...env, ...extra };
}

/* ---- the secrets manifest ------------------------------------------------------------------ */

/* With SESSIOND_LEAK_MANIFEST=DIR (scripts/check.sh sets it for the normal integration pass),
 * every secret a test sees or sends (API keys, tokens, passwords) is recorded in DIR, together
 * with everything the server wrote: each server's output, each CLI's stderr, the error bodies and
 * /metrics answers, and every sandbox (data directories, logs), which is moved into DIR instead
 * of being removed. scripts/leak-scan.mjs then searches all of it for every secret. */
const MANIFEST = process.env.SESSIOND_LEAK_MANIFEST || '';
let manifestSeq = 0;
const inputs = new Set();

function manifestFile(name) {
  fs.mkdirSync(path.join(MANIFEST, 'out'), { recursive: true });
  return path.join(MANIFEST, 'out', `${process.pid}-${name}`);
}

/* Records a secret (a string) that must never appear in anything the server writes. */
export function leakSecret(value) {
  if (!MANIFEST || typeof value !== 'string' || value.length < 8) return;
  fs.appendFileSync(manifestFile('secrets.jsonl'), `${JSON.stringify(value)}\n`);
}

/* Records text the server produced (output, an error body, /metrics), to be searched. */
export function leakOutput(kind, text) {
  if (!MANIFEST || !text) return;
  fs.appendFileSync(manifestFile(`${kind}.log`), `${text}\n`);
}

/* Records the secrets of an HTTP exchange: the API key, a password sent, tokens answered, and
 * session cookies set; and keeps the body of an error answer or of /metrics. */
export function leakExchange(urlPath, { key, body, form } = {}, res) {
  if (!MANIFEST) return;
  leakSecret(key);
  // A public session_id sent as a token (to show it grants nothing) is no secret: the audit log
  // names sessions by it.
  for (const b of [body, form]) if (b && typeof b === 'object') for (const f of ['password', 'token', 'current_password', 'new_password', 'new_password2']) if (!SESSION_ID_RE.test(b[f])) leakSecret(b[f]);
  if (res) {
    if (typeof res.json?.token === 'string') leakSecret(res.json.token);
    for (const line of res.headers?.['set-cookie'] || []) {
      const v = /^[^=]+=([^;]*)/.exec(line)?.[1];
      if (v && TOKEN_RE.test(v)) leakSecret(v);
    }
    if (res.status >= 400 || urlPath.startsWith('/metrics')) leakOutput('bodies', `${res.status} ${urlPath}\n${res.text}`);
  }
}

/* Sanitizer reports a test must never see in the server's output. */
const SANITIZER_RE = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|UndefinedBehaviorSanitizer|ThreadSanitizer/;
export function assertNoSanitizerReport(output, what = 'server output') {
  const m = SANITIZER_RE.exec(output);
  assert.equal(m, null, `sanitizer report in ${what}:\n${output.slice(Math.max(0, (m?.index ?? 0) - 200), (m?.index ?? 0) + 4000)}`);
}

/* ---- temporary directories --------------------------------------------------------------- */

/* A scratch area for one test file: a root directory under os.tmpdir(), a data directory inside
 * it (created by the binary), config files, and every server started from it, all cleaned up by
 * cleanup(). */
export class Sandbox {
  constructor(prefix = 'sessiond-it-') {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.servers = new Set();
    this.n = 0;
  }

  /* A fresh data directory path (not created: the binary creates it, mode 0700). */
  dataDir(name) {
    return path.join(this.root, name || `data-${++this.n}`);
  }

  /* Writes `text` to a file in the root and returns its path. */
  writeFile(name, text) {
    const p = path.join(this.root, name);
    fs.writeFileSync(p, text);
    inputs.add(p);
    return p;
  }

  async start(opts) {
    const s = await Server.start(opts);
    this.servers.add(s);
    return s;
  }

  /* A redis-server of this sandbox (see RedisServer), stopped by cleanup(). */
  async startRedis(opts) {
    const r = await RedisServer.start(path.join(this.root, `redis-${++this.n}`), opts);
    this.redis = this.redis || new Set();
    this.redis.add(r);
    return r;
  }

  async cleanup() {
    for (const s of this.servers) if (s.running) s.killNow();
    for (const r of this.redis || []) r.killNow();
    await Promise.all([...this.servers].map((s) => s.exited));
    await Promise.all([...(this.redis || [])].map((r) => r.exited));
    if (MANIFEST) {
      // Kept for scripts/leak-scan.mjs; the files the test wrote itself are inputs, not output.
      const kept = path.join(MANIFEST, 'roots', `${process.pid}-${++manifestSeq}`);
      fs.mkdirSync(path.dirname(kept), { recursive: true });
      fs.cpSync(this.root, kept, { recursive: true });
      fs.appendFileSync(manifestFile('inputs.jsonl'),
        [...inputs].filter((p) => p.startsWith(this.root + path.sep))
          .map((p) => `${JSON.stringify(path.join(kept, path.relative(this.root, p)))}\n`).join(''));
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/* ---- redis-server ------------------------------------------------------------------------ */

/* A free TCP port on 127.0.0.1 (bound and released; a race with another process is unlikely). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/* Sends one command in RESP and resolves the first line of the answer (e.g. "+PONG"), or
 * rejects after `timeout`. Enough for PING, CLIENT, CONFIG and DEBUG commands in tests. */
export function redisCommand(port, args, timeout = 2000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`redis ${args[0]}: no answer in ${timeout} ms`));
    }, timeout);
    sock.on('connect', () => sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      const nl = buf.indexOf('\r\n');
      if (nl >= 0) {
        clearTimeout(timer);
        sock.destroy();
        resolve(buf.slice(0, nl));
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/* A private redis-server on a free loopback port with its own directory. With `persist` it
 * keeps an append-only file synced on every write, so that a restart loses nothing. `args` are
 * added to the command line (e.g. --replicaof HOST PORT). With `sentinel` (a master's name,
 * host and port) it runs as a Sentinel watching that master instead. */
export class RedisServer {
  static async start(dir, { persist = true, args = [], sentinel, timeout = START_TIMEOUT_MS } = {}) {
    const r = new RedisServer();
    r.dir = dir;
    r.persist = persist;
    r.extraArgs = args;
    r.sentinel = sentinel;
    fs.mkdirSync(dir, { recursive: true });
    r.port = await freePort();
    r.url = `redis://127.0.0.1:${r.port}/0`;
    await r._spawn(timeout);
    return r;
  }

  /* Sentinel rewrites its configuration file, so it gets one of its own. */
  _sentinelArgs() {
    const { name, host, port } = this.sentinel;
    const conf = path.join(this.dir, 'sentinel.conf');
    if (!fs.existsSync(conf))
      fs.writeFileSync(conf, [`port ${this.port}`, 'bind 127.0.0.1', `dir ${this.dir}`,
        `sentinel monitor ${name} ${host} ${port} 2`, `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 3000`, `sentinel parallel-syncs ${name} 1`, ''].join('\n'));
    return [conf, '--sentinel', '--logfile', ''];
  }

  _spawn(timeout) {
    const args = this.sentinel ? this._sentinelArgs() : ['--bind', '127.0.0.1', '--port', String(this.port), '--dir', this.dir,
      '--save', '', '--appendonly', this.persist ? 'yes' : 'no', '--appendfsync', 'always', '--logfile', '', ...this.extraArgs];
    this.output = '';
    this.running = true;
    let child;
    try {
      child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      throw new Error(`cannot start redis-server (scripts/deps.sh installs it): ${e.message}`);
    }
    this.child = child;
    child.stdout.setEncoding('utf8').on('data', (d) => (this.output += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (this.output += d));
    this.exited = new Promise((resolve) => child.on('close', (code, signal) => {
      this.running = false;
      resolve({ code, signal });
    }));
    const spawnError = new Promise((_, reject) => child.on('error', (e) => reject(new Error(`cannot start redis-server (scripts/deps.sh installs it): ${e.message}`))));
    const ready = (async () => {
      const deadline = Date.now() + timeout;
      for (;;) {
        if (!this.running) throw new Error(`redis-server exited at start:\n${this.output}`);
        try {
          if ((await redisCommand(this.port, ['PING'], 500)) === '+PONG') return this;
        } catch {
          /* not up yet */
        }
        if (Date.now() > deadline) throw new Error(`redis-server did not answer PING in ${timeout} ms:\n${this.output}`);
        await sleep(50);
      }
    })();
    return Promise.race([ready, spawnError]);
  }

  command(...args) {
    return redisCommand(this.port, args);
  }

  /* SIGTERM (Redis syncs its append-only file and exits); waits for the exit. */
  async stop() {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }

  /* Starts it again on the same port and directory. */
  async restart(timeout = START_TIMEOUT_MS) {
    assert.equal(this.running, false, 'restart() of a running redis-server');
    await this._spawn(timeout);
  }

  /* SIGSTOP / SIGCONT: a Redis that accepts connections and never answers, then answers. */
  pause() {
    this.child.kill('SIGSTOP');
  }

  resume() {
    this.child.kill('SIGCONT');
  }

  killNow() {
    try {
      this.child.kill('SIGCONT');
      this.child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/* ---- running the CLI --------------------------------------------------------------------- */

/* Runs `sessiond ARGS...`; resolves {code, signal, stdout, stderr}. Killed after `timeout`. */
export function run(args, { env = {}, input, timeout = CLI_TIMEOUT_MS } = {}) {
  if (args.includes('--password-stdin') && typeof input === 'string') leakSecret(input.replace(/\r?\n$/, ''));
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeout);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      leakOutput('cli-stderr', stderr);
      if (timedOut) reject(new Error(`sessiond ${args.join(' ')} did not finish in ${timeout} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      else resolve({ code, signal, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

/* `sessiond apikey create NAME --data DIR`: returns the key (stdout, alone on its line). */
export async function createApiKey(dataDir, name = 'it', extraArgs = []) {
  const r = await run(['apikey', 'create', name, '--data', dataDir, ...extraArgs]);
  assert.equal(r.code, 0, `apikey create exited ${r.code}: ${r.stderr}`);
  assertNoSanitizerReport(r.stderr, 'apikey create');
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `apikey create printed more than the key: ${JSON.stringify(r.stdout)}`);
  assert.match(lines[0], APIKEY_RE);
  leakSecret(lines[0]);
  return lines[0];
}

/* ---- HTTP -------------------------------------------------------------------------------- */

/* One request on a fresh connection. `body` is sent as JSON (Content-Type application/json
 * unless `contentType` says otherwise; `contentType: null` sends none); `rawBody` (string or
 * Buffer) is sent as is. Resolves {status, headers, text, json}; json is undefined when the body
 * is not JSON. */
export function httpRequest(port, method, urlPath, { key, body, rawBody, contentType, headers = {}, timeout = REQUEST_TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    let payload;
    if (rawBody !== undefined) payload = Buffer.isBuffer(rawBody) ? rawBody : Buffer.from(rawBody);
    else if (body !== undefined) payload = Buffer.from(JSON.stringify(body));
    if (payload !== undefined) {
      const ct = contentType === undefined ? 'application/json' : contentType;
      if (ct !== null) h['Content-Type'] = ct;
      h['Content-Length'] = String(payload.length);
    } else if (contentType) {
      h['Content-Type'] = contentType;
    }
    if (key !== undefined) h.Authorization = `Bearer ${key}`;
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: h, agent: false, timeout });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer in ${timeout} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = text === '' ? undefined : JSON.parse(text);
        } catch {
          json = undefined;
        }
        const out = { status: res.statusCode, headers: res.headers, text, json };
        leakExchange(urlPath, { key, body }, out);
        resolve(out);
      });
    });
    // A server may answer (413, 431) and close before it has read the whole body: the answer
    // still arrives; a write error after that is not a test failure.
    req.on('socket', (s) => s.on('error', () => {}));
    if (payload !== undefined) req.end(payload);
    else req.end();
  });
}

/* Sends raw bytes on a fresh TCP connection and collects what comes back until the server
 * closes, `timeout` passes, or a whole response head (status line and headers) has arrived.
 * Resolves {data: Buffer, head: bool, closed: bool, timedOut: bool, error?}. */
export function rawExchange(port, bytes, { timeout = 2000, halfClose = false } = {}) {
  return new Promise((resolve) => {
    const chunks = [];
    let done = false;
    const sock = net.connect({ host: '127.0.0.1', port });
    const finish = (how) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const data = Buffer.concat(chunks);
      resolve({ data, head: data.includes('\r\n\r\n'), closed: false, timedOut: false, ...how });
    };
    const timer = setTimeout(() => finish({ timedOut: true }), timeout);
    sock.on('connect', () => {
      sock.write(bytes);
      if (halfClose) sock.end();
    });
    sock.on('data', (d) => {
      chunks.push(d);
      if (Buffer.concat(chunks).includes('\r\n\r\n')) finish({});
    });
    sock.on('end', () => finish({ closed: true }));
    sock.on('close', () => finish({ closed: true }));
    sock.on('error', (e) => finish({ closed: true, error: e.code || String(e) }));
  });
}

/* The HTTP status of the first status line in `buf`, or null. */
export function statusOf(buf) {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf.toString('latin1'));
  return m ? Number(m[1]) : null;
}

/* ---- the server -------------------------------------------------------------------------- */

const LISTEN_RE = /sessiond listening on http:\/\/([^\s:]+|\[[^\]]+\]):(\d+)\r?\n/;
const live = new Set();
process.on('exit', () => {
  for (const s of live) s.killNow();
});

export class Server {
  /* Starts `sessiond serve --listen 127.0.0.1:0 --data DATA [-c CONFIG] [--store KIND] ARGS...`
   * and waits for its "listening" line. */
  static async start({ data, config, store, args = [], env = {}, timeout = START_TIMEOUT_MS } = {}) {
    const s = new Server();
    s.data = data;
    s.config = config;
    s.argv = ['serve', '--listen', '127.0.0.1:0', '--data', data];
    if (config) s.argv.push('-c', config);
    if (store) s.argv.push('--store', store);
    s.argv.push(...args);
    s.env = env;
    await s._spawn(timeout);
    return s;
  }

  _spawn(timeout) {
    this.stdout = '';
    this.stderr = '';
    this.output = ''; // stdout and stderr interleaved in arrival order
    this.running = true;
    this.exitInfo = null;
    const child = spawn(BIN, this.argv, { env: childEnv(this.env), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.pid = child.pid;
    live.add(this);
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        leakOutput('server', this.output);
        this.running = false;
        live.delete(this);
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
    child.stdout.setEncoding('utf8').on('data', (d) => {
      this.stdout += d;
      this.output += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      this.stderr += d;
      this.output += d;
    });
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (why) => {
        if (settled) return;
        settled = true;
        clearInterval(poll);
        clearTimeout(timer);
        if (this.running) this.killNow();
        reject(new Error(`sessiond serve ${why}\nargs: ${this.argv.join(' ')}\noutput:\n${this.output}`));
      };
      const timer = setTimeout(() => fail(`printed no listening line in ${timeout} ms`), timeout);
      const poll = setInterval(() => {
        const m = LISTEN_RE.exec(this.stdout);
        if (m && !settled) {
          settled = true;
          clearInterval(poll);
          clearTimeout(timer);
          this.host = m[1];
          this.port = Number(m[2]);
          this.url = `http://${m[1]}:${m[2]}`;
          resolve(this);
        }
      }, 10);
      child.on('error', (e) => fail(`could not be started: ${e.message}`));
      this.exited.then((x) => fail(`exited early (code ${x.code}, signal ${x.signal})`));
    });
  }

  /* Starts the same command line again (same data dir, config, store, environment). */
  async restart(timeout = START_TIMEOUT_MS) {
    assert.equal(this.running, false, 'restart() of a running server');
    live.delete(this);
    await this._spawn(timeout);
    return this;
  }

  /* A /v1 (or any) request; `key` defaults to this.key when set. When the request fails because
   * the server died, the error says so and carries the end of its output. */
  async api(method, urlPath, opts = {}) {
    const o = { ...opts };
    if (!('key' in o) && this.key !== undefined) o.key = this.key;
    try {
      return await httpRequest(this.port, method, urlPath, o);
    } catch (e) {
      await Promise.race([this.exited, sleep(300)]);
      if (!this.running) {
        e.message = `sessiond exited (${JSON.stringify(this.exitInfo)}) before answering ${method} ${urlPath}: ${e.message}\noutput:\n${this.output.slice(-6000)}`;
      }
      throw e;
    }
  }

  signal(sig) {
    this.child.kill(sig);
  }

  killNow() {
    try {
      this.child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }

  /* Waits for the process to exit by itself, at most `timeout`; then kills it and throws. */
  async waitExit(timeout = STOP_TIMEOUT_MS) {
    let timer;
    const t = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`sessiond did not exit in ${timeout} ms\noutput:\n${this.output}`)), timeout);
    });
    try {
      return await Promise.race([this.exited, t]);
    } catch (e) {
      this.killNow();
      await this.exited;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /* SIGTERM; asserts a clean exit (status 0, no sanitizer report). */
  async stop() {
    if (!this.running) return this.exitInfo;
    this.signal('SIGTERM');
    const x = await this.waitExit();
    assert.deepEqual(x, { code: 0, signal: null }, `SIGTERM: sessiond exited with ${JSON.stringify(x)}\noutput:\n${this.output}`);
    assertNoSanitizerReport(this.output);
    return x;
  }

  /* kill -9, as a crash would. */
  async kill() {
    if (!this.running) return this.exitInfo;
    this.killNow();
    return this.exited;
  }

  /* Asserts the server still answers /healthz with 200 "ok". */
  async assertAlive(what = '') {
    assert.equal(this.running, true, `sessiond exited ${what}: ${JSON.stringify(this.exitInfo)}\n${this.output}`);
    const r = await this.api('GET', '/healthz', { key: undefined });
    assert.equal(r.status, 200, `/healthz ${what}`);
    assert.equal(r.text.trim(), 'ok');
  }
}

/* Starts a server with a fresh data dir and one API key. With the lmdb store (default) the key
 * is made on the data dir before the start; with the memory store, which lives inside the
 * server, it is made through the running server's admin socket (`--store memory`). */
export async function startWithKey(sb, { config, args, env, name, store } = {}) {
  const data = sb.dataDir(name);
  if (store === 'memory') {
    const s = await sb.start({ data, config, args, env, store });
    s.key = await createApiKey(data, 'it', ['--store', 'memory']);
    return s;
  }
  const key = await createApiKey(data, 'it', store ? ['--store', store] : []);
  const s = await sb.start({ data, config, args, env, store });
  s.key = key;
  return s;
}

/* ---- session helpers --------------------------------------------------------------------- */

export async function createSession(s, body = { user: 'alice' }) {
  const r = await s.api('POST', '/v1/sessions', { body });
  assert.equal(r.status, 201, `create: ${r.status} ${r.text}`);
  return r.json;
}

export function verify(s, token, extra = {}) {
  return s.api('POST', '/v1/sessions/verify', { body: { token, ...extra } });
}

/* Asserts `r` is the JSON error `code` with HTTP `status` and a message. */
export function assertError(r, status, code, what = '') {
  assert.equal(r.status, status, `${what} status (body ${r.text})`);
  assert.equal(r.json?.error, code, `${what} error code (body ${r.text})`);
  assert.equal(typeof r.json.message, 'string', `${what} message`);
  assert.match(r.headers['content-type'] || '', /^application\/json/, `${what} content-type`);
}

/* ---- searching files for secrets --------------------------------------------------------- */

/* Every regular file under `dir`, recursively. */
export function listFiles(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/* Files under `dir` containing any of `needles` (Buffers), read in chunks so that a large
 * sparse LMDB map costs memory of one chunk. Returns [{file, needle index, offset}]. */
export function findInFiles(dir, needles) {
  const hits = [];
  const maxLen = Math.max(...needles.map((n) => n.length));
  const CHUNK = 4 << 20;
  for (const file of listFiles(dir)) {
    const fd = fs.openSync(file, 'r');
    try {
      let carry = Buffer.alloc(0);
      let base = 0; // file offset of carry[0]
      const buf = Buffer.alloc(CHUNK);
      for (;;) {
        const n = fs.readSync(fd, buf, 0, CHUNK, null);
        if (n === 0) break;
        const window = Buffer.concat([carry, buf.subarray(0, n)]);
        needles.forEach((nd, i) => {
          const at = window.indexOf(nd);
          if (at >= 0 && !hits.some((h) => h.file === file && h.needle === i)) hits.push({ file, needle: i, offset: base + at });
        });
        const keep = Math.min(window.length, maxLen - 1);
        base += window.length - keep;
        carry = Buffer.from(window.subarray(window.length - keep));
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  return hits;
}
