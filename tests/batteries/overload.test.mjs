// overload.test.mjs - overload and slow clients (issue 7): slowloris, slow POST bodies, clients
// that do not read their answers, and a flood of connections ten times [server]
// max_connections. While the attacks run, a well-behaved client's /healthz and verify must keep
// answering (its latency is recorded next to a baseline), the server must cut the slow
// connections within [server] request_timeout / send_timeout, refuse the excess of the flood at
// once with 503, keep its memory bounded (RSS before, after and peak are recorded), and serve
// normally once the attack is over.
//
// The slow-client load comes from Debian's slowhttptest (slowloris -H, slow body -B, slow read
// -X); a few probes written here measure what slowhttptest does not report: when exactly the
// server closed a trickling connection, and that a response nobody reads is given up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Sandbox, startWithKey, createSession, verify, httpRequest, sleep } from '../integration/lib.mjs';

const REQUEST_TIMEOUT_MS = 2000;
const SEND_TIMEOUT_MS = 2000;
/* A slow connection must be closed within its timeout plus this: h2o's timers and the send
 * watchdog (once a second) are not exact, and the machine is shared. */
const CUT_SLACK_MS = 8000;
/* Bound on one answer to the well-behaved client while an attack runs. */
const ANSWER_BOUND_MS = 5000;
/* Bound on the growth of peak RSS over the RSS before an attack. */
const RSS_GROWTH_BOUND_KB = 64 * 1024;
let sb;

before(() => {
  sb = new Sandbox('sessiond-overload-');
});
after(async () => {
  await sb?.cleanup();
});

function hasSlowhttptest() {
  try {
    execFileSync('slowhttptest', ['-h'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch (e) {
    return e.status !== undefined && e.status !== null; /* ran, exited non-zero: it exists */
  }
}

/* VmRSS of a process, in kB. */
function rssKb(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1]);
}

/* Watches a process's memory from now on: VmRSS sampled every 50 ms, and the kernel's own peak
 * (VmHWM) after resetting it, where that is allowed (it needs to own the process or be root).
 * The reset matters: the server's start-up (the dummy argon2id hash) peaks far above what an
 * attack adds. stop() resolves {before, after, peak} in kB. */
function watchMemory(pid) {
  let hwm = true;
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    hwm = false;
  }
  const before = rssKb(pid);
  let peak = before;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssKb(pid));
    } catch {
      /* exited: the test fails elsewhere */
    }
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      const after = rssKb(pid);
      if (hwm) peak = Math.max(peak, Number(/^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]));
      return { before, after, peak: Math.max(peak, after), how: hwm ? 'VmHWM since the attack began' : 'VmRSS sampled every 50 ms' };
    },
  };
}

async function metric(s, name) {
  const r = await httpRequest(s.port, 'GET', '/metrics');
  assert.equal(r.status, 200, `/metrics: ${r.status} ${r.text}`);
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(r.text);
  assert.ok(m, `/metrics has ${name}`);
  return Number(m[1]);
}

/* Polls `fn` every 100 ms until it returns true, at most `ms`. */
async function eventually(fn, ms) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > end) return false;
    await sleep(100);
  }
}

function pct(xs, p) {
  const a = [...xs].sort((x, y) => x - y);
  return a.length ? a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))] : NaN;
}

function summary(xs) {
  return `p50 ${pct(xs, 50)} ms, p99 ${pct(xs, 99)} ms, max ${Math.max(...xs)} ms (${xs.length} requests)`;
}

/* One round of the well-behaved client: /healthz, then a verify. Each answer's latency. */
async function goodClient(s, token, lat, { allowBusy = false } = {}) {
  for (const [method, p, opts] of [['GET', '/healthz', {}], ['POST', '/v1/sessions/verify', { key: s.key, body: { token, touch: false } }]]) {
    const t0 = Date.now();
    const r = await httpRequest(s.port, method, p, { ...opts, timeout: ANSWER_BOUND_MS });
    const ms = Date.now() - t0;
    if (allowBusy && r.status === 503) {
      assert.equal(r.json?.error, 'overloaded', `${p} refused over the cap: ${r.text}`);
      assert.equal(r.headers['retry-after'], '1', `${p} refused over the cap: Retry-After`);
    } else {
      assert.equal(r.status, 200, `${p} during the attack: ${r.status} ${r.text}`);
    }
    lat.push(ms);
  }
}

/* Runs the well-behaved client every 100 ms until `stop()` says so. */
async function goodClientLoop(s, token, lat, stop, opts) {
  while (!stop()) {
    await goodClient(s, token, lat, opts);
    await sleep(100);
  }
}

/* Runs slowhttptest with a CSV report; resolves its rows {sec, closed, pending, connected}. */
function slowhttptest(args, prefix) {
  return new Promise((resolve, reject) => {
    const child = spawn('slowhttptest', [...args, '-g', '-o', prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('close', (code) => {
      clearTimeout(timer);
      let rows;
      try {
        rows = fs.readFileSync(`${prefix}.csv`, 'utf8').trim().split('\n').slice(1).map((l) => {
          const [sec, closed, pending, connected] = l.split(',').map(Number);
          return { sec, closed, pending, connected };
        });
      } catch (e) {
        reject(new Error(`slowhttptest ${args.join(' ')} exited ${code} without a report:\n${out}`));
        return;
      }
      resolve({ rows, out: out.replace(/\x1b\[[0-9;]*m/g, '') });
    });
  });
}

/* A connection that sends `first`, then one byte of `drip` every 200 ms, until the server closes
 * it; resolves the milliseconds that took. */
function trickle(port, first, drip) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    let timer;
    sock.on('connect', () => {
      sock.write(first);
      timer = setInterval(() => sock.writable && sock.write(drip), 200);
    });
    sock.on('data', () => {});
    sock.on('error', () => {});
    sock.on('close', () => {
      clearInterval(timer);
      resolve(Date.now() - t0);
    });
    setTimeout(() => {
      sock.destroy();
      reject(new Error(`a trickling connection (${JSON.stringify(first.slice(0, 30))}...) was still open after 60 s`));
    }, 60000);
  });
}

/* A client that pipelines `n` requests for /auth/session.js and reads nothing: the server's
 * send buffer fills and the answer stalls. Returns {sock, result}: result resolves, once
 * reading is resumed, to the number of answers received before the server gave up. */
function nonReader(port, n) {
  const sock = net.connect(port, '127.0.0.1');
  let got = '';
  const result = new Promise((resolve) => {
    sock.on('connect', () => {
      sock.pause();
      sock.write('GET /auth/session.js HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(n));
    });
    sock.on('data', (d) => (got += d.toString('latin1')));
    sock.on('error', () => {});
    sock.on('close', () => resolve((got.match(/HTTP\/1\.1 200/g) || []).length));
  });
  return { sock, result };
}

test('slowloris, slow POST and slow read are cut off within request_timeout / send_timeout while /healthz and verify keep answering', { timeout: 240000 }, async () => {
  assert.ok(hasSlowhttptest(), 'slowhttptest is not installed (apt-get install slowhttptest)');
  const cfg = sb.writeFile('slow.ini', `[server]\nmax_connections = 400\nrequest_timeout = ${REQUEST_TIMEOUT_MS}ms\nsend_timeout = ${SEND_TIMEOUT_MS}ms\nthreads = 2\n`);
  const s = await startWithKey(sb, { config: cfg, store: 'memory' });
  const { token } = await createSession(s, { user: 'alice' });
  const base = [];
  for (let i = 0; i < 30; i++) await goodClient(s, token, base);
  const mem = watchMemory(s.pid);
  const url = `http://127.0.0.1:${s.port}`;

  let attacking = true;
  const during = [];
  const good = goodClientLoop(s, token, during, () => !attacking);
  const tools = Promise.all([
    slowhttptest(['-H', '-c', '150', '-r', '150', '-i', '1', '-x', '24', '-l', '12', '-p', '3', '-u', `${url}/auth/verify`], path.join(sb.root, 'slowloris')),
    slowhttptest(['-B', '-c', '50', '-r', '50', '-i', '1', '-s', '8192', '-x', '10', '-l', '12', '-p', '3', '-t', 'POST', '-u', `${url}/v1/sessions`], path.join(sb.root, 'slowbody')),
    slowhttptest(['-X', '-c', '50', '-r', '50', '-w', '1', '-y', '2', '-n', '5', '-z', '1', '-k', '10', '-l', '12', '-p', '3', '-u', `${url}/auth/session.js`], path.join(sb.root, 'slowread')),
  ]);
  const headerCuts = Promise.all(Array.from({ length: 5 }, () => trickle(s.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 'X')));
  const bodyCuts = Promise.all(Array.from({ length: 5 }, () =>
    trickle(s.port, `POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.key}\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"user":"`, 'x')));
  const stalledBefore = await metric(s, 'sessiond_connections_send_timeouts_total');
  const readers = Array.from({ length: 3 }, () => nonReader(s.port, 10000));
  const given = await eventually(async () => (await metric(s, 'sessiond_connections_send_timeouts_total')) >= stalledBefore + readers.length, SEND_TIMEOUT_MS + CUT_SLACK_MS + 10000);
  assert.ok(given, 'the server gave up the answers of 3 clients that read nothing (sessiond_connections_send_timeouts_total)');
  for (const r of readers) r.sock.resume();
  const answered = await Promise.all(readers.map((r) => r.result));
  for (const n of answered) assert.ok(n < 10000, `a client that read nothing got all its ${n} answers: the server never gave up`);

  const hdr = await headerCuts;
  const body = await bodyCuts;
  for (const ms of [...hdr, ...body]) assert.ok(ms <= REQUEST_TIMEOUT_MS + CUT_SLACK_MS, `a trickling connection was cut after ${ms} ms (request_timeout ${REQUEST_TIMEOUT_MS} ms)`);
  const [loris, slowbody, slowread] = await tools;
  attacking = false;
  await good;
  const m = mem.stop();

  for (const [name, r] of [['slowloris', loris], ['slow body', slowbody]]) {
    assert.ok(r.rows.some((x) => x.connected > 0), `${name}: slowhttptest connected:\n${r.out}`);
    /* Its last CSV row can be a second old; its exit status is the final word. */
    assert.match(r.out, /Exit status: No open connections left/, `${name}: every connection was closed by the server before slowhttptest's 12 s were up:\n${r.out}`);
  }
  assert.ok(slowread.rows.some((x) => x.connected > 0), `slow read: slowhttptest connected:\n${slowread.out}`);
  const drained = await eventually(async () => (await metric(s, 'sessiond_connections')) <= 1, REQUEST_TIMEOUT_MS + SEND_TIMEOUT_MS + CUT_SLACK_MS);
  assert.ok(drained, `the server holds no connection of the attack afterwards (sessiond_connections ${await metric(s, 'sessiond_connections')})`);
  const afterLat = [];
  for (let i = 0; i < 30; i++) await goodClient(s, token, afterLat);
  const growth = m.peak - m.before;
  assert.ok(growth < RSS_GROWTH_BOUND_KB, `peak RSS grew by ${growth} kB under the attack (bound ${RSS_GROWTH_BOUND_KB} kB)`);

  const lastSec = (r) => Number(/Test ended on (\d+)/.exec(r.out)?.[1]);
  console.log(`overload: slowloris 150 + slow body 50 + slow read 50 connections (slowhttptest) and 13 probes; request_timeout ${REQUEST_TIMEOUT_MS} ms: header trickles cut after ${Math.min(...hdr)}-${Math.max(...hdr)} ms, body trickles after ${Math.min(...body)}-${Math.max(...body)} ms, slowloris all closed by second ${lastSec(loris)}, slow body by second ${lastSec(slowbody)}; send_timeout ${SEND_TIMEOUT_MS} ms: 3 non-reading clients given up after ${answered.join('/')} of 10000 answers`);
  console.log(`overload: good client /healthz + verify: baseline ${summary(base)}; during the attack ${summary(during)} (p99 ${(pct(during, 99) / Math.max(1, pct(base, 99))).toFixed(1)}x baseline), all 200; after ${summary(afterLat)}`);
  console.log(`overload: slow clients: RSS before ${m.before} kB, after ${m.after} kB, peak ${m.peak} kB (+${growth} kB; ${m.how})`);
  await s.stop();
});

test('a flood of 10x max_connections: the excess gets 503 at once, no more than the cap is held, service comes back', { timeout: 120000 }, async () => {
  const CAP = 100;
  const FLOOD = 10 * CAP;
  const cfg = sb.writeFile('flood.ini', `[server]\nmax_connections = ${CAP}\nrequest_timeout = 30s\nthreads = 2\n`);
  const s = await startWithKey(sb, { config: cfg, store: 'memory' });
  const { token } = await createSession(s, { user: 'bob' });
  const base = [];
  for (let i = 0; i < 30; i++) await goodClient(s, token, base);
  const mem = watchMemory(s.pid);
  const refusedBefore = await metric(s, 'sessiond_connections_refused_total');

  const socks = [];
  let refused = 0;
  let closedSilently = 0;
  const t0 = Date.now();
  let refusedInMs = 0;
  for (let i = 0; i < FLOOD; i++) {
    const sock = net.connect(s.port, '127.0.0.1');
    let got = '';
    sock.on('data', (d) => {
      got += d;
      if (/^HTTP\/1\.1 503 /.test(got) && /\r\n\r\n\{"error":"overloaded"/.test(got) && !sock.counted) {
        sock.counted = true;
        refused++;
        refusedInMs = Date.now() - t0;
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      if (!sock.counted && !sock.mine) closedSilently++;
    });
    socks.push(sock);
  }
  const allRefused = await eventually(() => refused >= FLOOD - CAP, 30000);
  assert.ok(allRefused, `${refused} of ${FLOOD} flood connections were answered 503 overloaded (want at least ${FLOOD - CAP}); ${closedSilently} closed without one`);
  await sleep(500); /* any late refusal would show now */
  const held = socks.filter((x) => !x.counted && !x.destroyed && x.readyState === 'open').length;
  assert.ok(held <= CAP, `${held} connections held open with max_connections = ${CAP}`);
  assert.equal(refused + held + closedSilently, FLOOD, 'every flood connection was held, refused, or closed');

  /* While the cap is full the good client is refused at once, with the JSON answer. */
  const busy = [];
  await goodClient(s, token, busy, { allowBusy: true });
  for (const x of socks) {
    x.mine = true;
    x.destroy();
  }
  const back = await eventually(async () => {
    const r = await httpRequest(s.port, 'GET', '/healthz');
    return r.status === 200;
  }, 10000);
  assert.ok(back, '/healthz answers 200 again once the flood is gone');
  assert.ok(await eventually(async () => (await metric(s, 'sessiond_connections')) <= 1, 10000), 'the flood connections are all closed in the server');
  const refusedTotal = (await metric(s, 'sessiond_connections_refused_total')) - refusedBefore;
  assert.ok(refusedTotal >= refused, `sessiond_connections_refused_total counted ${refusedTotal}, the clients saw ${refused}`);
  const afterLat = [];
  for (let i = 0; i < 30; i++) await goodClient(s, token, afterLat);
  const m = mem.stop();
  const growth = m.peak - m.before;
  assert.ok(growth < RSS_GROWTH_BOUND_KB, `peak RSS grew by ${growth} kB under the flood (bound ${RSS_GROWTH_BOUND_KB} kB)`);
  console.log(`overload: flood of ${FLOOD} connections with max_connections ${CAP}: ${held} held, ${refused} answered 503 overloaded (all within ${refusedInMs} ms), ${closedSilently} closed without an answer; good client while full: ${busy.join('/')} ms (503 overloaded); after: ${summary(afterLat)} (baseline ${summary(base)})`);
  console.log(`overload: flood: RSS before ${m.before} kB, after ${m.after} kB, peak ${m.peak} kB (+${growth} kB; ${m.how})`);
  await s.stop();
});
