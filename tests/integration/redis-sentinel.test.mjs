// redis-sentinel.test.mjs - the redis store behind Redis Sentinel (issue 5): one master, one
// replica and three Sentinels on loopback, and a sessiond node that knows only the Sentinels.
// The master is killed while requests keep coming; after the failover the node serves again
// without a restart, sessions made before still verify, and nothing answered in between was
// anything but a success or a bounded 503.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, createApiKey, createSession, verify, sleep, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
const TIMEOUT_MS = 300;
let sb;
let master;
let replica;
let sentinels;
let node;

/* Waits until `fn` (async predicate) holds, at most `limit` ms; returns the time it took. */
async function within(limit, what, fn) {
  const t0 = performance.now();
  for (;;) {
    if (await fn()) return performance.now() - t0;
    if (performance.now() - t0 > limit) throw new Error(`${what}: not within ${limit} ms`);
    await sleep(50);
  }
}

before(async () => {
  sb = new Sandbox('sessiond-sentinel-');
  master = await sb.startRedis();
  replica = await sb.startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  sentinels = [];
  for (let i = 0; i < 3; i++) sentinels.push(await sb.startRedis({ sentinel: { name: 'sessmaster', host: '127.0.0.1', port: master.port } }));
  // The Sentinels must have found each other and the replica before a failover can happen.
  await within(15000, 'Sentinels see the replica and each other', async () => {
    const r = await sentinels[0].command('SENTINEL', 'REPLICAS', 'sessmaster');
    const s = await sentinels[0].command('SENTINEL', 'SENTINELS', 'sessmaster');
    return r === '*1' && s === '*2';
  });
  const ini = sb.writeFile('sentinel.ini', `[store]\nkind = redis\nredis_sentinels = ${sentinels.map((x) => `127.0.0.1:${x.port}`).join(',')}\n` +
    `redis_master = sessmaster\nredis_timeout = ${TIMEOUT_MS}ms\nredis_connect_timeout = ${TIMEOUT_MS}ms\n`);
  const data = sb.dataDir('node');
  const key = await createApiKey(data, 'it', ['-c', ini]);
  node = await sb.start({ data, config: ini, args: ['--threads', '2'] });
  node.key = key;
});
after(async () => {
  try {
    if (node?.running) await node.stop();
  } finally {
    await sb?.cleanup();
  }
});

test('sentinel: the node finds the master through the Sentinels', T, async () => {
  assert.equal((await node.api('GET', '/readyz')).status, 200);
  const c = await createSession(node, { user: 'alice', data: { n: 1 } });
  assert.equal((await verify(node, c.token)).status, 200);
});

test('sentinel: master killed under load: failover without a restart, sessions made before still verify', { timeout: 90000 }, async () => {
  const before = [];
  for (let i = 0; i < 20; i++) before.push(await createSession(node, { user: `u${i}`, data: { i } }));
  // Let the replica catch up (asynchronous replication), then check it has the sessions.
  await within(5000, 'replica in step', async () => (await replica.command('DBSIZE')) === (await master.command('DBSIZE')));

  // Load: verifies and creates in a loop, every answer recorded with its duration.
  const seen = [];
  let stop = false;
  const load = (async () => {
    for (let i = 0; !stop; i++) {
      const t0 = performance.now();
      const r = i % 3 ? await verify(node, before[i % before.length].token) : await node.api('POST', '/v1/sessions', { body: { user: 'load' } });
      seen.push({ status: r.status, ms: performance.now() - t0, code: r.json?.error });
      await sleep(5);
    }
  })();
  await sleep(300);
  master.killNow();
  const ms = await within(30000, 'service after the failover', async () => (await node.api('GET', '/readyz')).status === 200 &&
      (await verify(node, before[0].token)).status === 200);
  await sleep(500);
  stop = true;
  await load;

  await node.assertAlive('after the failover');
  for (const c of before) {
    const v = await verify(node, c.token);
    assert.equal(v.status, 200, `session ${c.session_id} made before the failover: ${v.text}`);
  }
  const created = await createSession(node, { user: 'after' });
  assert.equal((await verify(node, created.token)).status, 200);
  assert.match(node.output, /Sentinel: master sessmaster is now at 127\.0\.0\.1:\d+/);

  const bad = seen.filter((x) => ![200, 201, 503].includes(x.status) || (x.status === 503 && x.code !== 'store_unavailable'));
  assert.deepEqual(bad, [], 'only successes and 503 store_unavailable during the failover');
  const slow = seen.filter((x) => x.ms > TIMEOUT_MS + 700);
  assert.deepEqual(slow, [], 'no request hung past its bound');
  assert.ok(seen.some((x) => x.status === 503), 'the outage was seen (the test did kill the master)');
  assert.ok(seen.filter((x) => x.status !== 503).length > 10, 'requests were served around it');
  console.log(`# failover: service back ${ms.toFixed(0)} ms after the kill; ${seen.length} requests, ${seen.filter((x) => x.status === 503).length} answered 503`);
});

test('sentinel: SIGTERM exits 0', T, async () => {
  await node.stop();
});
