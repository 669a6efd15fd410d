// redis-cluster.test.mjs - Redis Cluster is not supported by this build (docs/redis.md): pointed
// at a node of a three-master Cluster on loopback (made with `redis-cli --cluster create`), the
// admin CLI and the server refuse it with a message that says so, and nothing is written to any
// node (a Cluster would otherwise run each script up to its first key of another node).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Sandbox, run, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb;
let nodes;

before(async () => {
  sb = new Sandbox('sessiond-cluster-');
  nodes = [];
  // Each node runs in its own directory, where its relative nodes.conf goes.
  for (let i = 0; i < 3; i++) nodes.push(await sb.startRedis({ persist: false, args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] }));
  const r = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `redis-cli --cluster create: ${r.stdout}${r.stderr}`);
});
after(async () => {
  await sb?.cleanup();
});

test('cluster: refused with a clear message; nothing written on any node', T, async () => {
  const ini = sb.writeFile('cluster.ini', `[store]\nkind = redis\nredis_url = redis://127.0.0.1:${nodes[0].port}/0\n`);
  const r = await run(['apikey', 'create', 'x', '-c', ini, '--data', sb.dataDir('cli')]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^sessiond: .*Cluster mode, which this build does not support/);
  const s = await sb.start({ data: sb.dataDir('srv'), config: ini, args: ['--threads', '1'] });
  assert.equal((await s.api('GET', '/readyz')).status, 503);
  assert.match(s.output, /Cluster mode, which this build does not support/);
  await s.stop();
  for (const n of nodes) assert.equal(await n.command('DBSIZE'), ':0', `keys on node ${n.port}`);
});
