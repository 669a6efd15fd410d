// run.mjs - the benchmark suite of `make bench` (docs/benchmarks.md explains the method).
//
// Throughput: every server runs pinned to CPU 0 (taskset), wrk runs pinned to CPU 1 with one
// thread and 50 connections, so client and servers each have one of the machine's two cores.
// Scenarios run in alternating rounds (A, B, C, ... then again), ROUNDS times, SECONDS each;
// the table reports medians over the rounds. CPU per request is the servers' utime+stime delta
// (/proc/PID/stat, all threads) over the requests wrk counted.
//   A  nginx `return 200`                    D  nginx -> auth_request -> nginx `return 204`
//   B  sessiond GET /auth/verify (lmdb, memory) E  nginx -> auth_request -> sessiond (lmdb)
//   C  sessiond POST /v1/sessions/verify      F  express-session + connect-redis, direct and
//   G  sessiond store=redis, near cache on/off     behind nginx auth_request
//   H  nginx with ngx_http_sessiond_module protecting a static file; S the same file unprotected
// Then: redis-benchmark GET; memory per session at 1M sessions (memory, lmdb, redis-server);
// LMDB file size per session; restart time with 1M sessions; verify p99 during a login storm;
// verify p99 under slowloris and slow-read connections; thread scaling. Writes
// bench/results/latest.{md,dat,png,svg} and the "Latest run" section of
// docs/benchmarks.md.
//
// env: BENCH_QUICK=1 (2 s rounds, 100k sessions: about 2 minutes), BENCH_SECONDS, BENCH_ROUNDS,
//      BENCH_SESSIONS, BENCH_REDIS_SESSIONS, BENCH_FILL (path of build/bench/fill), BENCH_ONLY=throughput|extras|memory|storm|slow|scaling.
//      BENCH_SCENARIOS=D,E,Dx (only those throughput scenarios, by their letters).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Sandbox, createApiKey, freePort, httpRequest, sleep, REPO, BIN } from '../tests/integration/lib.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
const SECONDS = Number(process.env.BENCH_SECONDS || (QUICK ? 2 : 4));
const ROUNDS = Number(process.env.BENCH_ROUNDS || (QUICK ? 3 : 5));
const SESSIONS = Number(process.env.BENCH_SESSIONS || (QUICK ? 100000 : 1000000));
// Filling redis-server goes through one Lua script per session (about 3,000 a second here):
// per-session memory is measured on fewer sessions there, so that a full run stays in 15 min.
const REDIS_SESSIONS = Number(process.env.BENCH_REDIS_SESSIONS || Math.min(SESSIONS, 300000));
const FILL = path.resolve(REPO, process.env.BENCH_FILL || 'build/bench/fill');
const ONLY = process.env.BENCH_ONLY || '';
const PICK = (process.env.BENCH_SCENARIOS || '').split(',').filter(Boolean); // e.g. D,E,Dx
const CONNS = 50;
const SERVER_CPU = '0';
const CLIENT_CPU = '1';
const RESULTS = path.join(REPO, 'bench/results');
const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

const log = (...a) => console.error('bench:', ...a);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function pin(pid, cpu = SERVER_CPU) {
  const r = spawnSync('taskset', ['-a', '-cp', cpu, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset ${pid}: ${r.stderr}`);
}

function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
}

function rssOf(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

/* Milliseconds from wrk's "123.45us" / "1.20ms" / "1.01s". */
function ms(text) {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) throw new Error(`wrk latency "${text}"`);
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
}

/* One wrk run, pinned to the client CPU. Fails when any answer was not the expected status. */
function wrk(url, { headers = {}, script, env = {}, seconds = SECONDS, conns = CONNS, pinned = true, tolerate = false } = {}) {
  const args = ['-t1', `-c${conns}`, `-d${seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  if (script) args.push('-s', script);
  args.push(url);
  const cmd = pinned ? ['taskset', ['-c', CLIENT_CPU, 'wrk', ...args]] : ['wrk', args];
  const r = spawnSync(cmd[0], cmd[1], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: (seconds + 30) * 1000 });
  if (r.status !== 0) throw new Error(`wrk ${url}: ${r.stderr || r.stdout}`);
  const out = r.stdout;
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const sockErr = /Socket errors: (.*)/.exec(out);
  if ((bad || sockErr) && !tolerate) throw new Error(`wrk ${url}: failed answers:\n${out}`);
  return {
    failed: (bad ? Number(bad[1]) : 0),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]),
    requests: Number(/(\d+) requests in/.exec(out)[1]),
    p50: ms(/ 50%\s+(\S+)/.exec(out)[1]),
    p99: ms(/ 99%\s+(\S+)/.exec(out)[1]),
  };
}

/* ---- the servers -------------------------------------------------------------------------- */

const sb = new Sandbox('sessiond-bench-');
const children = [];

/* A helper process (nginx, node) of the sandbox, killed at the end. */
function child(cmd, args, opts = {}) {
  const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  c.output = '';
  c.stdout.setEncoding('utf8').on('data', (d) => (c.output += d));
  c.stderr.setEncoding('utf8').on('data', (d) => (c.output += d));
  c.exited = new Promise((resolve) => c.on('close', resolve));
  children.push(c);
  return c;
}

async function until(what, fn, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready in ${timeoutMs} ms`);
    await sleep(20);
  }
}

const SHAPE = {
  user: 'bench', roles: ['admin', 'staff'], data: { cart: [1, 2, 3], theme: 'dark' },
  client: { ip: '127.0.0.1', user_agent: 'Mozilla/5.0 (X11; Linux x86_64) bench' },
};

function iniFor(publicPort, extra = '') {
  return `[server]\npublic_url = http://127.0.0.1:${publicPort}\ntrusted_proxies = 127.0.0.1\n` +
    `[log]\nlevel = warn\n[rule all]\npolicy = authenticated\n${extra}`;
}

/* A sessiond with one thread (unless `threads`), its API key and one session of the shape. */
async function sessiond(label, { store = 'lmdb', redis, cache, threads = 1, publicPort, extraIni = '' } = {}) {
  const data = sb.dataDir(label);
  let ini = iniFor(publicPort, extraIni);
  if (store === 'redis') ini += `[store]\nkind = redis\nredis_url = ${redis.url}\nredis_prefix = ${label}:\nredis_cache = ${cache}\n`;
  if (store === 'memory') ini += '[store]\nkind = memory\n';
  const config = sb.writeFile(`${label}.ini`, ini);
  const key = store === 'memory' ? null : await createApiKey(data, 'bench', ['-c', config]);
  const s = await sb.start({ data, config, args: ['--threads', String(threads)] });
  s.key = key || (await createApiKey(data, 'bench', ['-c', config]));
  const r = await httpRequest(s.port, 'POST', '/v1/sessions', { key: s.key, body: SHAPE });
  if (r.status !== 201) throw new Error(`${label}: create ${r.status} ${r.text}`);
  s.token = r.json.token;
  s.label = label;
  return s;
}

function nginxConf(dir, p) {
  return `load_module ${process.env.BENCH_NGINX_MODULE || path.join(REPO, 'build/ngx_http_sessiond_module.so')};
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
    sessiond_data_dir ${p.moduleData};
    access_log off;
    client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f;
    uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
    open_file_cache max=16;
    upstream sessiond { server 127.0.0.1:${p.sessiond}; keepalive 64; }
    upstream auth204 { server 127.0.0.1:${p.auth204}; keepalive 64; }
    upstream peer { server 127.0.0.1:${p.peer}; keepalive 64; }
    upstream mirror { server 127.0.0.1:${p.mirror}; keepalive 64; }
    server { listen 127.0.0.1:${p.auth204}; location / { return 204; } }
    server { listen 127.0.0.1:${p.plain}; location / { return 200; } }
    server {
        listen 127.0.0.1:${p.gate};
        root ${dir}/www;
        location = /d { auth_request /_204; try_files /ok =404; }
        location = /e { auth_request /_sessiond; try_files /ok =404; }
        location = /f { auth_request /_peer; try_files /ok =404; }
        location = /dx { auth_request /_mirror; try_files /ok =404; }
        location = /h { sessiond_policy authenticated; try_files /ok =404; }
        location = /s { try_files /ok =404; }
        location = /_204 { internal; proxy_pass http://auth204; proxy_http_version 1.1;
            proxy_set_header Connection ""; proxy_pass_request_body off; proxy_set_header Content-Length ""; }
        location = /_sessiond { internal; proxy_pass http://sessiond/auth/verify; proxy_http_version 1.1;
            proxy_set_header Connection ""; proxy_pass_request_body off; proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri; proxy_set_header X-Original-Method $request_method; }
        location = /_mirror { internal; proxy_pass http://mirror/auth/verify; proxy_http_version 1.1;
            proxy_set_header Connection ""; proxy_pass_request_body off; proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri; proxy_set_header X-Original-Method $request_method; }
        location = /_peer { internal; proxy_pass http://peer/verify; proxy_http_version 1.1;
            proxy_set_header Connection ""; proxy_pass_request_body off; proxy_set_header Content-Length ""; }
    }
}
`;
}

async function startNginx(ports) {
  const dir = path.join(sb.root, 'nginx');
  fs.mkdirSync(path.join(dir, 'www'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'www/ok'), 'ok\n');
  fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConf(dir, ports));
  return spawnNginx('nginx', dir, `http://127.0.0.1:${ports.plain}/`, 200);
}

/* Runs nginx with dir/nginx.conf until probe answers status; master and its one worker pinned. */
async function spawnNginx(label, dir, probe, status) {
  const g = process.getuid() === 0 ? 'daemon off; user root;' : 'daemon off;';
  const master = child('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', g]);
  await until(label, async () => (await fetch(probe)).status === status);
  const kids = fs.readFileSync(`/proc/${master.pid}/task/${master.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  if (kids.length !== 1) throw new Error(`${label}: expected one worker, found ${kids.length}`);
  pin(master.pid);
  pin(kids[0]);
  return { master, worker: kids[0] };
}

/*
 * Dx: a second nginx, in its own process on the same core, that answers every request with the
 * status and headers sessiond's verify gave (taken from a real answer at the start of the run).
 * nginx -> auth_request -> Dx is what any separate auth server honouring the contract's verify
 * answer could reach at best here; E/Dx is then sessiond's own cost, Dx/D that of the process
 * boundary and of the answer's headers. nginx adds one header of its own (Server: nginx).
 */
async function startMirror(port, answer) {
  const dir = path.join(sb.root, 'nginx-mirror');
  fs.mkdirSync(dir, { recursive: true });
  const skip = new Set(['date', 'connection', 'content-length', 'server']);
  const adds = Object.entries(answer.headers).filter(([k]) => !skip.has(k))
    .map(([k, v]) => `add_header ${k} "${String(v).replace(/["\\$]/g, '')}" always;`).join(' ');
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
    access_log off; server_tokens off; default_type "";
    client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f;
    uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
    server { listen 127.0.0.1:${port}; location / { ${adds} return ${answer.status} ""; } }
}
`);
  return spawnNginx('nginx mirror', dir, `http://127.0.0.1:${port}/auth/verify`, answer.status);
}

async function startPeer(port, redisPort) {
  const p = child('node', [path.join(REPO, 'bench/peer.mjs'), String(port), String(redisPort)]);
  await until('peer', async () => p.output.includes('peer listening'));
  pin(p.pid);
  const r = await fetch(`http://127.0.0.1:${port}/login`, { method: 'POST' });
  if (r.status !== 204) throw new Error(`peer login: ${r.status}`);
  p.cookie = r.headers.get('set-cookie').split(';')[0];
  return p;
}

/* ---- throughput --------------------------------------------------------------------------- */

async function throughput(rows) {
  const redis = await sb.startRedis({ persist: false });
  pin(redis.child.pid);
  const ports = { plain: await freePort(), gate: await freePort(), auth204: await freePort(), peer: await freePort(), mirror: await freePort() };
  const lmdb = await sessiond('lmdb', { publicPort: ports.gate });
  const mem = await sessiond('memory', { store: 'memory', publicPort: ports.gate });
  const rc = await sessiond('redis-cache', { store: 'redis', redis, cache: true, publicPort: ports.gate });
  const rn = await sessiond('redis-nocache', { store: 'redis', redis, cache: false, publicPort: ports.gate });
  for (const s of [lmdb, mem, rc, rn]) pin(s.pid);
  ports.sessiond = lmdb.port;
  ports.moduleData = lmdb.data; // H: the nginx module reads the lmdb server's data directory
  const peer = await startPeer(ports.peer, redis.port);
  const answer = await httpRequest(lmdb.port, 'GET', '/auth/verify',
    { headers: { Cookie: `sid=${lmdb.token}`, 'X-Original-URI': '/e', 'X-Original-Method': 'GET' } });
  if (answer.status !== 200) throw new Error(`verify for the mirror: ${answer.status}`);
  const mirror = await startMirror(ports.mirror, answer);
  const ng = await startNginx(ports);

  const verifyHeaders = (s) => ({ Cookie: `sid=${s.token}`, 'X-Original-URI': '/app', 'X-Original-Method': 'GET' });
  const scenarios = [
    { id: 'A', name: 'nginx return 200', url: `http://127.0.0.1:${ports.plain}/`, pids: [ng.worker] },
    { id: 'Ax', name: "nginx giving sessiond's verify answer (Dx's second nginx, called directly)", url: `http://127.0.0.1:${ports.mirror}/auth/verify`,
      headers: verifyHeaders(lmdb), pids: [mirror.worker] },
    { id: 'B', name: 'sessiond /auth/verify, lmdb', url: `${lmdb.url}/auth/verify`, headers: verifyHeaders(lmdb), pids: [lmdb.pid] },
    { id: 'Bm', name: 'sessiond /auth/verify, memory', url: `${mem.url}/auth/verify`, headers: verifyHeaders(mem), pids: [mem.pid] },
    { id: 'C', name: 'sessiond POST /v1/sessions/verify, lmdb', url: lmdb.url, script: path.join(REPO, 'bench/verify.lua'),
      env: { SESSIOND_BENCH_KEY: lmdb.key, SESSIOND_BENCH_TOKEN: lmdb.token }, pids: [lmdb.pid] },
    { id: 'D', name: 'nginx -> auth_request -> nginx 204', url: `http://127.0.0.1:${ports.gate}/d`, pids: [ng.worker] },
    { id: 'S', name: 'nginx static file, unprotected (H without the module)', url: `http://127.0.0.1:${ports.gate}/s`, pids: [ng.worker] },
    { id: 'H', name: 'nginx + ngx_http_sessiond_module', url: `http://127.0.0.1:${ports.gate}/h`, headers: { Cookie: `sid=${lmdb.token}` },
      pids: [ng.worker] },
    { id: 'E', name: 'nginx -> auth_request -> sessiond', url: `http://127.0.0.1:${ports.gate}/e`, headers: { Cookie: `sid=${lmdb.token}` },
      pids: [ng.worker, lmdb.pid] },
    { id: 'Dx', name: "nginx -> auth_request -> second nginx giving sessiond's verify answer", url: `http://127.0.0.1:${ports.gate}/dx`,
      headers: { Cookie: `sid=${lmdb.token}` }, pids: [ng.worker, mirror.worker] },
    { id: 'F', name: 'express-session + connect-redis', url: `http://127.0.0.1:${ports.peer}/verify`, headers: { Cookie: peer.cookie },
      pids: [peer.pid, redis.child.pid] },
    { id: 'Fn', name: 'nginx -> auth_request -> express-session', url: `http://127.0.0.1:${ports.gate}/f`, headers: { Cookie: peer.cookie },
      pids: [ng.worker, peer.pid, redis.child.pid] },
    { id: 'Gc', name: 'sessiond /auth/verify, redis, near cache', url: `${rc.url}/auth/verify`, headers: verifyHeaders(rc), pids: [rc.pid, redis.child.pid] },
    { id: 'Gn', name: 'sessiond /auth/verify, redis, no cache', url: `${rn.url}/auth/verify`, headers: verifyHeaders(rn), pids: [rn.pid, redis.child.pid] },
  ].filter((sc) => !PICK.length || PICK.includes(sc.id));
  for (const sc of scenarios) {
    sc.runs = [];
    wrk(sc.url, { ...sc, seconds: 1 }); // warm-up, and a check that every answer is a 2xx
  }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const sc of scenarios) {
      const t0 = sc.pids.reduce((a, p) => a + cpuTicks(p), 0);
      const r = wrk(sc.url, sc);
      const t1 = sc.pids.reduce((a, p) => a + cpuTicks(p), 0);
      r.cpu_us = ((t1 - t0) / TICK / r.requests) * 1e6;
      sc.runs.push(r);
      log(`round ${round} ${sc.id}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.cpu_us.toFixed(1)} us CPU/req`);
    }
  }
  for (const sc of scenarios) {
    rows.push({ id: sc.id, name: sc.name, rps: median(sc.runs.map((r) => r.rps)), p50: median(sc.runs.map((r) => r.p50)),
      p99: median(sc.runs.map((r) => r.p99)), cpu_us: median(sc.runs.map((r) => r.cpu_us)), rounds: sc.runs.map((r) => Math.round(r.rps)) });
  }
  const rb = spawnSync('taskset', ['-c', CLIENT_CPU, 'redis-benchmark', '-p', String(redis.port), '-t', 'get', '-n', String(QUICK ? 100000 : 300000),
    '-c', String(CONNS), '--csv'], { encoding: 'utf8', timeout: 120000 });
  const line = rb.stdout.split('\n').find((l) => l.startsWith('"GET"'));
  if (line) {
    const f = line.split(',').map((x) => Number(x.replace(/"/g, '')));
    rows.push({ id: 'R', name: 'redis-benchmark GET (context)', rps: f[1], p50: f[4], p99: f[6], cpu_us: NaN, rounds: [] });
  } else log(`redis-benchmark gave no GET line: ${rb.stderr}`);
  for (const s of [lmdb, mem, rc, rn]) await s.stop();
  ng.master.kill('SIGTERM');
  mirror.master.kill('SIGTERM');
  peer.kill('SIGTERM');
  await Promise.all([ng.master.exited, mirror.master.exited, peer.exited]);
  await redis.stop();
}

/* ---- memory, file size, restart ----------------------------------------------------------- */

function fill(args) {
  const r = spawnSync(FILL, args, { encoding: 'utf8', timeout: 20 * 60 * 1000 });
  if (r.status !== 0) throw new Error(`fill ${args.join(' ')}: ${r.stderr}`);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split('=')).map(([k, v]) => [k, Number(v)]));
}

async function redisInfo(redis) {
  const r = spawnSync('redis-cli', ['-p', String(redis.port), 'info', 'memory'], { encoding: 'utf8' });
  return Number(/used_memory:(\d+)/.exec(r.stdout)[1]);
}

async function memory(extra) {
  log(`filling the memory store with ${SESSIONS} sessions`);
  const m = fill(['memory', String(SESSIONS)]);
  extra.memory = { sessions: m.sessions, per: (m.rss_after - m.rss_before) / m.sessions, fill_s: m.seconds };

  log(`filling redis-server with ${REDIS_SESSIONS} sessions through the redis store`);
  const redis = await sb.startRedis({ persist: false });
  const used0 = await redisInfo(redis);
  const rss0 = rssOf(redis.child.pid);
  const rf = fill(['redis', String(REDIS_SESSIONS), redis.url, 'bench:']);
  const used1 = await redisInfo(redis);
  extra.redis = { sessions: rf.sessions, per: (rssOf(redis.child.pid) - rss0) / rf.sessions, used_per: (used1 - used0) / rf.sessions, fill_s: rf.seconds };
  await redis.stop();

  log(`filling an lmdb store with ${SESSIONS} sessions`);
  const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'sessiond-bench-lmdb-'));
  try {
    const l = fill(['lmdb', String(SESSIONS), dir]);
    const size = fs.statSync(path.join(dir, 'store/data.mdb')).size;
    extra.lmdb = { sessions: l.sessions, file_per: size / l.sessions, fill_s: l.seconds, rss_per: (l.rss_after - l.rss_before) / l.sessions,
      anon_per: l.rss_anon / l.sessions };
    const times = [];
    let rss = 0;
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const t0 = performance.now();
      const s = child(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data', dir, '--threads', '1']);
      await until('restart', async () => (await httpRequest(port, 'GET', '/readyz', { timeout: 1000 })).status === 200, 120000);
      times.push(performance.now() - t0);
      rss = rssOf(s.pid);
      s.kill('SIGTERM');
      await s.exited;
    }
    extra.lmdb.restart_ms = median(times);
    extra.lmdb.restart_runs = times.map((t) => Math.round(t));
    extra.lmdb.rss_after_start = rss;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/* ---- login storm, thread scaling ---------------------------------------------------------- */

async function storm(extra) {
  const data = sb.dataDir('storm');
  const config = sb.writeFile('storm.ini', iniFor(8080, '[login]\nmax_failures = 10000\n'));
  const add = spawnSync(BIN, ['user', 'add', 'bench', '--password-stdin', '--data', data, '-c', config], { input: 'bench password\n', encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`user add: ${add.stderr}`);
  const srv = await sb.start({ data, config, args: [] });
  const key = await createApiKey(data, 'bench', ['-c', config]);
  // The verified session belongs to another user than the storm's: [session] max_per_user (50)
  // would otherwise end it once the storm's logins pass 50, and every verify after it is a 401.
  const tok = (await httpRequest(srv.port, 'POST', '/v1/sessions', { key, body: { ...SHAPE, user: 'reader' } })).json.token;
  const h = { Cookie: `sid=${tok}`, 'X-Original-URI': '/app', 'X-Original-Method': 'GET' };
  const secs = QUICK ? 3 : 8;
  // Answers other than 2xx are counted and shown, not fatal: the table says how many.
  const p99 = () => wrk(`${srv.url}/auth/verify`, { headers: h, seconds: secs, conns: 20, pinned: false, tolerate: true });
  const idle = p99();
  const st = child('node', [path.join(REPO, 'bench/login-storm.mjs'), String(srv.port), 'bench', 'bench password', '50']);
  await sleep(1000);
  const during = p99();
  st.kill('SIGTERM');
  await st.exited;
  const after = p99();
  extra.storm = { idle: idle.p99, during: during.p99, after: after.p99, failed: [idle.failed, during.failed, after.failed],
    logins: (/logins ok (\d+)/.exec(st.output) || [])[1] };
  if (idle.failed + during.failed + after.failed > 0) extra.storm.server_output = srv.output.slice(-4000);
  await srv.stop();
}

async function scaling(extra) {
  extra.scaling = [];
  const n = os.cpus().length;
  for (const threads of [...new Set([1, 2, n, 2 * n])].sort((a, b) => a - b)) {
    const s = await sessiond(`scale-${threads}`, { threads, publicPort: 8080 });
    const h = { Cookie: `sid=${s.token}`, 'X-Original-URI': '/app', 'X-Original-Method': 'GET' };
    wrk(`${s.url}/auth/verify`, { headers: h, seconds: 1, pinned: false });
    const runs = [0, 1, 2].map(() => wrk(`${s.url}/auth/verify`, { headers: h, seconds: QUICK ? 2 : 4, pinned: false }));
    extra.scaling.push({ threads, rps: median(runs.map((r) => r.rps)), p99: median(runs.map((r) => r.p99)) });
    await s.stop();
  }
}

/* ---- slow clients ------------------------------------------------------------------------- */

/* Verify p99 while slowhttptest holds slowloris (headers never finished) and slow-read (answers
 * read a few bytes at a time) connections open, against the same server without them: alternating
 * rounds, the ratio taken within each round. The server is pinned to CPU 0 like every server
 * here; wrk (-c50, as for B) and both slowhttptest runs share CPU 1. slowhttptest polls in a loop
 * (about 30% of a core per run here while the server spends under 1% on its connections), so it
 * runs at SCHED_IDLE: otherwise wrk, preempted between sending and reading, would time the
 * attacking tool rather than the server (4.9x at nice 0, 2.7x at nice 19 on a quiet machine).
 * The server's side of the attack is the same: it holds the connections whatever the tool's
 * speed. request_timeout and send_timeout are raised so that the attack lasts the
 * whole round (the defaults would cut it after 10 s; make check proves the cuts). */
async function slowClients(extra) {
  const data = sb.dataDir('slow');
  const config = sb.writeFile('slow.ini', iniFor(8080).replace('[server]\n', '[server]\nmax_connections = 2000\nrequest_timeout = 120s\nsend_timeout = 120s\n'));
  const key = await createApiKey(data, 'bench', ['-c', config]);
  const srv = await sb.start({ data, config, args: ['--threads', '1'] });
  pin(srv.pid);
  const tok = (await httpRequest(srv.port, 'POST', '/v1/sessions', { key, body: SHAPE })).json.token;
  const h = { Cookie: `sid=${tok}`, 'X-Original-URI': '/app', 'X-Original-Method': 'GET' };
  const url = `${srv.url}/auth/verify`;
  const open = async () => {
    const r = await httpRequest(srv.port, 'GET', '/metrics');
    return Number((/^sessiond_connections (\d+)$/m.exec(r.text) || [])[1]);
  };
  const LORIS = 300, SLOWREAD = 100;
  const secs = SECONDS + 2;
  const rounds = [];
  wrk(url, { headers: h, seconds: 1 });
  for (let i = 0; i < ROUNDS; i++) {
    const base = wrk(url, { headers: h });
    const tools = [
      child('chrt', ['--idle', '0', 'taskset', '-c', CLIENT_CPU, 'slowhttptest', '-H', '-c', String(LORIS), '-r', String(LORIS), '-i', '5', '-x', '24', '-l', String(secs + 6), '-p', '3', '-u', url]),
      child('chrt', ['--idle', '0', 'taskset', '-c', CLIENT_CPU, 'slowhttptest', '-X', '-c', String(SLOWREAD), '-r', String(SLOWREAD), '-w', '1', '-y', '2', '-n', '5', '-z', '1', '-k', '10', '-l', String(secs + 6), '-p', '3', '-u', `${srv.url}/auth/session.js`]),
    ];
    await until('slowhttptest connected', async () => (await open()) >= (LORIS + SLOWREAD) * 0.9, 15000);
    const held = await open();
    const during = wrk(url, { headers: h });
    const heldAfter = await open();
    for (const t of tools) t.kill('SIGINT');
    await Promise.all(tools.map((t) => t.exited));
    await until('attack connections closed', async () => (await open()) <= 2, 30000);
    rounds.push({ base: base.p99, during: during.p99, base_rps: base.rps, during_rps: during.rps, held: Math.min(held, heldAfter) });
    log(`slow clients round ${i + 1}: baseline p99 ${base.p99} ms (${Math.round(base.rps)} req/s); with ${Math.min(held, heldAfter)} slow connections held: p99 ${during.p99} ms (${Math.round(during.rps)} req/s)`);
  }
  extra.slow = { rounds, ratio: median(rounds.map((r) => r.during / r.base)), base: median(rounds.map((r) => r.base)), during: median(rounds.map((r) => r.during)) };
  await srv.stop();
}

/* ---- report ------------------------------------------------------------------------------- */

const TARGETS = [
  ['B/A', 'B', 'A', 0.9], ['C/A', 'C', 'A', 0.6], ['E/D', 'E', 'D', 0.9], ['B/F', 'B', 'F', 10], ['E/F', 'E', 'Fn', 5],
  ['H/A', 'H', 'A', 0.8], ['H/E', 'H', 'E', 1.8],
];

function report(rows, extra) {
  const by = Object.fromEntries(rows.map((r) => [r.id, r]));
  const out = [];
  const f0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
  const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '-');
  out.push(`Run ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} on ${os.cpus().length} cores (${os.cpus()[0].model.trim()}), ` +
    `${QUICK ? 'quick mode' : 'full mode'}: ${ROUNDS} alternating rounds of ${SECONDS} s, wrk -t1 -c${CONNS} on CPU ${CLIENT_CPU}, ` +
    `servers on CPU ${SERVER_CPU}, one server thread each; medians.`, '');
  if (rows.length) {
    out.push('| | scenario | req/s | p50 ms | p99 ms | CPU us/req | req/s per round |', '|---|---|---:|---:|---:|---:|---|');
    for (const r of rows) out.push(`| ${r.id} | ${r.name} | ${f0(r.rps)} | ${f2(r.p50)} | ${f2(r.p99)} | ${f2(r.cpu_us)} | ${r.rounds.join(', ')} |`);
    // A ratio is taken within each round (its two runs were seconds apart, under the same
    // background load) and the median of those is judged; the ratio of the medians and the
    // ratio of CPU per request are shown beside it.
    out.push('', '| ratio | median of per-round ratios | per round | ratio of medians | CPU per request ratio | target | |', '|---|---:|---|---:|---:|---:|---|');
    for (const [name, a, b, target] of TARGETS) {
      if (!by[a] || !by[b]) continue;
      const per = by[a].rounds.map((x, i) => x / by[b].rounds[i]);
      const v = median(per);
      out.push(`| ${name}${b === 'Fn' ? ' (F behind nginx)' : ''} | ${v.toFixed(2)} | ${per.map((x) => x.toFixed(2)).join(', ')} | ` +
        `${(by[a].rps / by[b].rps).toFixed(2)} | ${(by[b].cpu_us / by[a].cpu_us).toFixed(2)} | >= ${target} | ${v >= target ? 'met' : '**missed**'} |`);
    }
    if (by.H && by.S) {
      const per = by.H.rounds.map((x, i) => x / by.S.rounds[i]);
      out.push(`| H/S (the module's own cost; S/A ${median(by.S.rounds.map((x, i) => x / by.A.rounds[i])).toFixed(2)}) | ${median(per).toFixed(2)} | ${per.map((x) => x.toFixed(2)).join(', ')} | ` +
        `${(by.H.rps / by.S.rps).toFixed(2)} | ${(by.S.cpu_us / by.H.cpu_us).toFixed(2)} | (context) | |`);
    }
    for (const [name, a, b, what] of [['B/Ax', 'B', 'Ax', 'sessiond against nginx giving the same answer'],
      ['Ax/A', 'Ax', 'A', 'what the verify answer\'s headers cost nginx'], ['E/Dx', 'E', 'Dx', "sessiond's own cost as the auth server"], ['Dx/D', 'Dx', 'D', 'a separate process giving the contract\'s answer'],
      ['H/D', 'H', 'D', 'the nginx module against the auth_request ceiling']]) {
      if (!by[a] || !by[b]) continue;
      const per = by[a].rounds.map((x, i) => x / by[b].rounds[i]);
      out.push(`| ${name} (${what}) | ${median(per).toFixed(2)} | ${per.map((x) => x.toFixed(2)).join(', ')} | ` +
        `${(by[a].rps / by[b].rps).toFixed(2)} | ${(by[b].cpu_us / by[a].cpu_us).toFixed(2)} | (context) | |`);
    }
    if (by.B) out.push(`| p99 of B at ${CONNS} connections | ${by.B.p99.toFixed(2)} ms | | (A's: ${by.A ? by.A.p99.toFixed(2) : '-'} ms) | | <= 2 ms | ${by.B.p99 <= 2 ? 'met' : '**missed**'} |`);
  }
  if (extra.failed) out.push('', ...extra.failed.map((f) => `**Failed:** ${f}`));
  if (extra.memory && extra.redis && extra.lmdb && extra.lmdb.restart_ms) {
    const red = extra.redis.per;
    out.push('', `Memory with ${extra.memory.sessions.toLocaleString('en-US')} sessions of the ~200-byte shape (user, roles, agent, address, CSRF secret, two data keys):`, '',
      '| store | bytes per session | vs redis-server | fill time |', '|---|---:|---:|---:|',
      `| sessiond memory store (process RSS growth) | ${f0(extra.memory.per)} | ${(extra.memory.per / red).toFixed(2)}x | ${extra.memory.fill_s.toFixed(1)} s |`,
      `| redis-server holding ${extra.redis.sessions.toLocaleString('en-US')} of them as the redis store writes them (RSS growth; used_memory ${f0(extra.redis.used_per)}) | ${f0(red)} | 1.00x | ${extra.redis.fill_s.toFixed(1)} s |`,
      `| sessiond lmdb: data.mdb size (page cache, not heap) | ${f0(extra.lmdb.file_per)} | ${(extra.lmdb.file_per / red).toFixed(2)}x | ${extra.lmdb.fill_s.toFixed(1)} s |`,
      ...(Number.isFinite(extra.lmdb.rss_per) ? [`| sessiond lmdb: RSS growth of the process that wrote them (mapped file pages; its anonymous memory, all of it, is ${f0(extra.lmdb.anon_per)} B per session) | ${f0(extra.lmdb.rss_per)} | ${(extra.lmdb.rss_per / red).toFixed(2)}x | |`] : []),
      '', `| restart with ${extra.lmdb.sessions.toLocaleString('en-US')} sessions (lmdb, exec to /readyz 200; RSS then ${(extra.lmdb.rss_after_start / 1048576).toFixed(1)} MiB) | ${f0(extra.lmdb.restart_ms)} ms (runs ${extra.lmdb.restart_runs.join(', ')} ms) | target <= 2,000 ms | ${extra.lmdb.restart_ms <= 2000 ? 'met' : '**missed**'} |`,
      '|---|---|---|---|',
      `| memory store vs redis-server | ${(extra.memory.per / red).toFixed(2)}x | target <= 0.8x | ${extra.memory.per / red <= 0.8 ? 'met' : '**missed**'} |`);
  }
  if (extra.storm) {
    out.push('', `Verify p99 during a login storm (sessiond lmdb, default threads, wrk -t1 -c20 unpinned; 50 browsers logging in, ${extra.storm.logins} logins):`, '',
      '| idle before | during the storm | idle after | answers other than 2xx (before, during, after) |', '|---:|---:|---:|---|',
      `| ${f2(extra.storm.idle)} ms | ${f2(extra.storm.during)} ms | ${f2(extra.storm.after)} ms | ${extra.storm.failed.join(', ')} |`);
  }
  if (extra.slow) {
    const sl = extra.slow;
    out.push('', `Verify p99 under slow clients (sessiond lmdb, one thread on CPU 0; wrk -t1 -c50 and slowhttptest at SCHED_IDLE on CPU 1; slowloris and slow-read connections held through each round):`, '',
      '| round | slow connections held | baseline p99 | p99 during the attack | ratio | req/s baseline, during |', '|---:|---:|---:|---:|---:|---|',
      ...sl.rounds.map((r, i) => `| ${i + 1} | ${r.held} | ${f2(r.base)} ms | ${f2(r.during)} ms | ${(r.during / r.base).toFixed(2)} | ${f0(r.base_rps)}, ${f0(r.during_rps)} |`),
      '', `| p99 under slow clients vs baseline (median of per-round ratios) | ${sl.ratio.toFixed(2)}x | target <= 2x | ${sl.ratio <= 2 ? 'met' : '**missed**'} |`, '|---|---|---|---|');
  }
  if (extra.scaling) {
    out.push('', 'Thread scaling (GET /auth/verify, lmdb; wrk -t1 -c50 and sessiond unpinned, sharing the 2 cores):', '',
      '| threads | req/s | p99 ms |', '|---:|---:|---:|', ...extra.scaling.map((s) => `| ${s.threads} | ${f0(s.rps)} | ${f2(s.p99)} |`));
  }
  return out.join('\n') + '\n';
}

function chart(rows) {
  const dat = path.join(RESULTS, 'latest.dat');
  fs.writeFileSync(dat, rows.filter((r) => r.id !== 'R').map((r) => `"${r.id}" ${Math.round(r.rps)} ${r.p99}`).join('\n') + '\n');
  const plot = (term, out) => `set terminal ${term}\nset output "${out}"\nset title "GET verify and peers: req/s (bars) and p99 ms (labels), one core each"\n` +
    'set style data histograms\nset style fill solid 0.7 border -1\nset boxwidth 0.8\nset yrange [0:*]\nset ylabel "req/s"\nset grid ytics\nunset key\n' +
    `plot "${dat}" using 2:xtic(1) lc rgb "#4477aa", "" using 0:2:(sprintf("%.2f ms", $3)) with labels offset 0,1 font ",8"\n`;
  for (const [term, file] of [['pngcairo size 900,450', 'latest.png'], ['svg size 900,450', 'latest.svg']]) {
    const r = spawnSync('gnuplot', { input: plot(term, path.join(RESULTS, file)), encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`gnuplot: ${r.stderr}`);
  }
}

function updateDocs(md) {
  const doc = path.join(REPO, 'docs/benchmarks.md');
  const text = fs.readFileSync(doc, 'utf8');
  const begin = '<!-- bench:latest -->';
  const end = '<!-- /bench:latest -->';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error('docs/benchmarks.md has no bench:latest markers');
  fs.writeFileSync(doc, `${text.slice(0, i + begin.length)}\n${md}\n![req/s and p99](../bench/results/latest.svg)\n\n${text.slice(j)}`);
}

const rows = [];
const extra = {};
try {
  if (!fs.existsSync(FILL)) throw new Error(`${FILL} missing: run \`make bench\` (it builds it)`);
  if (!ONLY || ONLY === 'throughput') await throughput(rows);
  if (ONLY !== 'throughput') {
    // A part that fails is reported in the table instead of losing the whole run.
    for (const [name, part] of [['memory', memory], ['storm', storm], ['slow', slowClients], ['scaling', scaling]]) {
      if (ONLY && ONLY !== 'extras' && ONLY !== name) continue;
      try {
        await part(extra);
      } catch (e) {
        log(`${name} failed: ${e.message}`);
        extra.failed = [...(extra.failed || []), `${name}: ${e.message.split('\n')[0]}`];
      }
    }
  }
  const md = report(rows, extra);
  process.stdout.write(md);
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, 'latest.md'), `# Latest benchmark run\n\n${md}\n![req/s and p99](latest.svg)\n`);
  fs.writeFileSync(path.join(RESULTS, 'latest.json'), JSON.stringify({ rows, extra }, null, 1));
  if (rows.length) chart(rows);
  if (!ONLY && !PICK.length) updateDocs(md);
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sb.cleanup();
}
