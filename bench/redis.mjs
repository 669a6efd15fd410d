// redis.mjs - measurements of the redis store (issue 5), run by hand: `node bench/redis.mjs`
// (SESSIOND_BIN picks the binary; default ./sessiond). Needs redis-server and wrk.
//
// 1. Propagation: two nodes on one redis-server; 1,000 times: create a session on A, verify it
//    twice on B (the second answer comes from B's near cache), DELETE it on A, then verify on B
//    until it is refused. Reports the time from A's 204 to B's first 404 (p50, p99, max), how
//    many were refused on the very first try, and how long after the 204 a verify had to start
//    to be refused (the staleness window, without the HTTP time of the answer).
//    ONLY=propagation stops after this part.
// 2. Throughput: wrk -t1 -c50 on POST /v1/sessions/verify against one server thread, for the
//    redis store with the near cache, without it, and the lmdb store for reference; each run
//    three times, the median reported; then the same on a three-master Redis Cluster
//    (redis_cluster), with and without the near cache. ONLY=throughput skips part 1.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, createApiKey, createSession, verify, REPO } from '../tests/integration/lib.mjs';

const REVOCATIONS = Number(process.env.REVOCATIONS || 1000);
const WRK_SECONDS = Number(process.env.WRK_SECONDS || 10);

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function startPair(sb, redis) {
  const ini = sb.writeFile('pair.ini', `[store]\nkind = redis\nredis_url = ${redis.url}\n`);
  const dataA = sb.dataDir('a');
  const key = await createApiKey(dataA, 'bench', ['-c', ini]);
  const dataB = sb.dataDir('b');
  fs.mkdirSync(dataB, { mode: 0o700 });
  fs.copyFileSync(path.join(dataA, 'server.key'), path.join(dataB, 'server.key'));
  const a = await sb.start({ data: dataA, config: ini, args: ['--threads', '2'] });
  const b = await sb.start({ data: dataB, config: ini, args: ['--threads', '2'] });
  a.key = key;
  b.key = key;
  return { a, b };
}

/* Verifies on B until refused; returns [ms to the 404, ms after the 204 at which the refused
 * verify started (0 when it was the first), tries]. */
async function untilRefused(b, token) {
  const t0 = performance.now();
  for (let tries = 0; ; tries++) {
    const started = performance.now() - t0;
    const s = (await verify(b, token)).status;
    if (s === 404) return [performance.now() - t0, tries === 0 ? 0 : started, tries];
    if (s !== 200) throw new Error(`verify on B: ${s}`);
  }
}

async function propagation(sb, redis) {
  const { a, b } = await startPair(sb, redis);
  const took = [];
  const window = [];
  let first = 0;
  for (let i = 0; i < REVOCATIONS; i++) {
    const c = await createSession(a, { user: `u${i % 50}` });
    if ((await verify(b, c.token)).status !== 200 || (await verify(b, c.token)).status !== 200) throw new Error('B does not see the session');
    const d = await a.api('DELETE', `/v1/sessions/${c.session_id}`);
    if (d.status !== 204) throw new Error(`DELETE: ${d.status}`);
    const [ms, started, tries] = await untilRefused(b, c.token);
    took.push(ms);
    window.push(started);
    if (tries === 0) first++;
  }
  await a.stop();
  await b.stop();
  took.sort((x, y) => x - y);
  window.sort((x, y) => x - y);
  return { n: took.length, first, p50: pct(took, 50), p99: pct(took, 99), max: took[took.length - 1], w99: pct(window, 99), wmax: window[window.length - 1] };
}

function wrk(port, key, token) {
  const r = spawnSync('wrk', ['-t1', '-c50', `-d${WRK_SECONDS}s`, '--latency', '-s', path.join(REPO, 'bench/verify.lua'), `http://127.0.0.1:${port}`], {
    env: { ...process.env, SESSIOND_BENCH_KEY: key, SESSIOND_BENCH_TOKEN: token },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`wrk: ${r.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)[1]);
  const p99 = /99%\s+([\d.]+\w+)/.exec(r.stdout)[1];
  const bad = Number(/non-2xx: (\d+)/.exec(r.stdout)[1]);
  if (bad > 0) throw new Error(`wrk saw ${bad} failed answers:\n${r.stdout}`);
  return { rps, p99 };
}

async function throughput(sb, redis, label, store, extra) {
  const data = sb.dataDir(label);
  const where = store === 'cluster' ? `redis_cluster = ${redis}` : `redis_url = ${redis.url}`;
  const ini = sb.writeFile(`${label}.ini`, store !== 'lmdb' ? `[store]\nkind = redis\n${where}\nredis_prefix = ${label}:\n${extra}` : '[log]\nlevel = warn\n');
  const key = await createApiKey(data, 'bench', ['-c', ini]);
  const s = await sb.start({ data, config: ini, args: ['--threads', '1'] });
  s.key = key;
  const c = await createSession(s, { user: 'bench', data: { cart: [1, 2, 3], theme: 'dark' } });
  wrk(s.port, key, c.token); // warm-up
  const runs = [0, 1, 2].map(() => wrk(s.port, key, c.token)).sort((x, y) => x.rps - y.rps);
  await s.stop();
  return { label, runs, median: runs[1] };
}

const sb = new Sandbox('sessiond-bench-');
try {
  const redis = await sb.startRedis({ persist: false });
  if (process.env.ONLY !== 'throughput') {
    const p = await propagation(sb, redis);
    console.log(`revocation on A refused on B, over ${p.n}: 204 -> 404 received p50 ${p.p50.toFixed(2)} ms, p99 ${p.p99.toFixed(2)} ms, max ${p.max.toFixed(2)} ms; ` +
      `refused on the first verify: ${p.first}/${p.n}; a verify started this long after the 204 was refused: p99 ${p.w99.toFixed(2)} ms, max ${p.wmax.toFixed(2)} ms`);
  }
  if (process.env.ONLY !== 'propagation') {
    const nodes = [];
    for (let i = 0; i < 3; i++) nodes.push(await sb.startRedis({ persist: false, args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] }));
    const seeds = nodes.map((n) => `127.0.0.1:${n.port}`);
    const made = spawnSync('redis-cli', ['--cluster', 'create', ...seeds, '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 20000 });
    if (made.status !== 0) throw new Error(`redis-cli --cluster create: ${made.stdout}${made.stderr}`);
    for (let ok = false; !ok; await new Promise((r) => setTimeout(r, 100)))
      ok = spawnSync('redis-cli', ['-p', String(nodes[2].port), 'cluster', 'info'], { encoding: 'utf8' }).stdout.includes('cluster_state:ok');
    for (const [label, store, extra] of [
      ['redis-cache', 'redis', 'redis_cache = true\n'],
      ['redis-nocache', 'redis', 'redis_cache = false\n'],
      ['lmdb', 'lmdb', ''],
      ['cluster-cache', 'cluster', 'redis_cache = true\n'],
      ['cluster-nocache', 'cluster', 'redis_cache = false\n'],
    ]) {
      const t = await throughput(sb, store === 'cluster' ? seeds.join(',') : redis, label, store, extra);
      console.log(`${label}: verify ${t.median.rps.toFixed(0)} req/s median (runs ${t.runs.map((x) => x.rps.toFixed(0)).join(', ')}), p99 ${t.median.p99}`);
    }
  }
} finally {
  await sb.cleanup();
}
