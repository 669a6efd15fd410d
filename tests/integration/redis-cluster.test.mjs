// redis-cluster.test.mjs - the redis store on a Redis Cluster (issue 5; docs/redis.md): three
// masters on loopback made with `redis-cli --cluster create`, sessiond given them as
// [store] redis_cluster. What is checked: create, verify and revoke-all work for users whose
// keys live on each of the three masters (asserted by looking on the nodes), through the server
// and the admin CLI; a second node sees revocations made on the first within 100 ms; a slot moved to another node after sessiond loaded the slot map (MOVED),
// and a user created while its slot migrates (ASK), still work; a role change with
// --keep-sessions reaches every session of the user (flagged in its slot, past the near cache)
// and a rotation clears the flag; a master killed answers 503
// within the timeout for what needs it, never a 200 it cannot check, and no crash; a Redis URL
// naming a Cluster node is refused with a message that says to use redis_cluster.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Sandbox, createApiKey, createSession, verify, assertError, run, sleep, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
const TIMEOUT_MS = 300; // [store] redis_timeout and redis_connect_timeout
const PREFIX = 'sessiond:';
let sb;
let nodes;
let cfg;
let srv;

/* ---- a small binary-safe RESP client (session keys hold raw bytes) ---- */

function encode(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/* Parses one reply at `at`: [value, next] or null when incomplete. Errors become Error. */
function parse(buf, at) {
  const nl = buf.indexOf('\r\n', at);
  if (nl < 0) return null;
  const line = buf.toString('latin1', at + 1, nl);
  switch (String.fromCharCode(buf[at])) {
    case '+': return [line, nl + 2];
    case '-': return [new Error(line), nl + 2];
    case ':': return [Number(line), nl + 2];
    case '$': {
      const n = Number(line);
      if (n < 0) return [null, nl + 2];
      if (buf.length < nl + 2 + n + 2) return null;
      return [buf.subarray(nl + 2, nl + 2 + n), nl + 2 + n + 2];
    }
    case '*': {
      const n = Number(line);
      const out = [];
      let p = nl + 2;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, p);
        if (r === null) return null;
        out.push(r[0]);
        p = r[1];
      }
      return [out, p];
    }
    default: throw new Error(`bad RESP at ${at}`);
  }
}

function resp(port, args, timeout = 3000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`redis ${args[0]} on ${port}: no answer in ${timeout} ms`));
    }, timeout);
    sock.on('connect', () => sock.write(encode(args)));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const r = parse(buf, 0);
      if (r === null) return;
      clearTimeout(timer);
      sock.destroy();
      if (r[0] instanceof Error) reject(r[0]);
      else resolve(r[0]);
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

const str = (v) => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v));

/* The node id and the port of the master serving `slot`. */
async function slotOwner(slot) {
  const slots = await resp(nodes[0].port, ['CLUSTER', 'SLOTS']);
  for (const [lo, hi, [, port, id]] of slots) if (slot >= lo && slot <= hi) return { port, id: str(id) };
  throw new Error(`slot ${slot} has no owner`);
}

const keySlot = async (key) => resp(nodes[0].port, ['CLUSTER', 'KEYSLOT', key]);
const userSlot = (user) => keySlot(`{u:${user}}`);
const nodeId = async (port) => str(await resp(port, ['CLUSTER', 'MYID']));

/* How many errors of `kind` (MOVED, ASK) the node has answered (INFO errorstats). */
async function errorCount(port, kind) {
  const info = str(await resp(port, ['INFO', 'errorstats']));
  const m = info.match(new RegExp(`errorstat_${kind}:count=(\\d+)`));
  return m ? Number(m[1]) : 0;
}

async function clusterOk() {
  for (const n of nodes) {
    const info = str(await resp(n.port, ['CLUSTER', 'INFO']));
    if (!info.includes('cluster_state:ok')) return false;
  }
  return true;
}

async function waitFor(what, fn, limit = 20000) {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > limit) throw new Error(`${what}: not within ${limit} ms`);
    await sleep(50);
  }
}

/* Moves `slot` from its owner to the node on `toPort`, keys and all, the way redis-cli
 * --cluster reshard does: IMPORTING/MIGRATING, MIGRATE of the keys, SETSLOT NODE everywhere.
 * `during` runs while the slot is half moved (before the keys go). */
async function moveSlot(slot, toPort, during) {
  const from = await slotOwner(slot);
  const toId = await nodeId(toPort);
  assert.notEqual(from.port, toPort);
  await resp(toPort, ['CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id]);
  await resp(from.port, ['CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId]);
  if (during) await during();
  for (;;) {
    const keys = await resp(from.port, ['CLUSTER', 'GETKEYSINSLOT', slot, 100]);
    if (keys.length === 0) break;
    await resp(from.port, ['MIGRATE', '127.0.0.1', toPort, '', 0, 5000, 'KEYS', ...keys]);
  }
  for (const port of [toPort, from.port, ...nodes.map((n) => n.port)])
    await resp(port, ['CLUSTER', 'SETSLOT', slot, 'NODE', toId]);
  return from;
}

/* The user's master, found by looking for its session index on each node. */
async function holder(user) {
  const found = [];
  for (const n of nodes) {
    // Nodes that do not serve the slot answer MOVED: not there.
    const here = await resp(n.port, ['EXISTS', `${PREFIX}z{u:${user}}`]).catch((e) => (/^MOVED /.test(e.message) ? 0 : Promise.reject(e)));
    if (here === 1) found.push(n.port);
  }
  assert.equal(found.length, 1, `the keys of ${user} live on one node`);
  return found[0];
}

before(async () => {
  sb = new Sandbox('sessiond-cluster-');
  nodes = [];
  // An append-only file (a killed master comes back with its keys), written without fsync: a
  // SIGKILL loses nothing the kernel has, and fsync per write would make answers slow on a
  // loaded host.
  for (let i = 0; i < 3; i++) nodes.push(await sb.startRedis({ persist: true, args: ['--appendfsync', 'no', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] }));
  const r = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `redis-cli --cluster create: ${r.stdout}${r.stderr}`);
  await waitFor('cluster_state:ok on every node', clusterOk);
  cfg = sb.writeFile('cluster.ini', `[store]\nkind = redis\nredis_cluster = ${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}\n` +
    `redis_timeout = ${TIMEOUT_MS}ms\nredis_connect_timeout = ${TIMEOUT_MS}ms\n`);
  const data = sb.dataDir('srv');
  const key = await createApiKey(data, 'it', ['-c', cfg]);
  srv = await sb.start({ data, config: cfg, args: ['--threads', '2'] });
  srv.key = key;
});
after(async () => {
  try {
    if (srv?.running) await srv.stop();
  } finally {
    await sb?.cleanup();
  }
});

test('cluster: create, verify and revoke-all across the three masters (server and CLI)', T, async () => {
  assert.equal((await srv.api('GET', '/readyz')).status, 200);
  // Users until each master holds at least one.
  const byNode = new Map();
  const sessions = [];
  for (let i = 0; byNode.size < 3 || i < 6; i++) {
    assert.ok(i < 60, 'sixty users all on fewer than three masters');
    const user = `user${i}`;
    const s = await createSession(srv, { user });
    const port = await holder(user);
    assert.equal(port, (await slotOwner(await userSlot(user))).port, 'the slot map agrees');
    byNode.set(port, [...(byNode.get(port) || []), user]);
    sessions.push({ user, port, token: s.token, id: s.session_id });
  }
  assert.equal(byNode.size, 3, 'sessions on every master');
  for (const s of sessions) assert.equal((await verify(srv, s.token)).status, 200, `verify ${s.user}`);

  // Revoke-all of one user per master: two through the API, one through the CLI.
  const victims = [...byNode.values()].map((users) => users[0]);
  for (const user of victims.slice(0, 2))
    assert.equal((await srv.api('DELETE', `/v1/users/${user}/sessions`, { key: srv.key })).status, 204);
  const cli = await run(['session', 'revoke', '--user', victims[2], '-c', cfg, '--data', srv.data]);
  assert.equal(cli.code, 0, cli.stderr);
  for (const s of sessions) {
    const r = await verify(srv, s.token);
    if (victims.includes(s.user)) assertError(r, 404, 'invalid_session', `${s.user} revoked`);
    else assert.equal(r.status, 200, `${s.user} untouched`);
  }
  // The CLI lists what lives on another master, and a new session after a revoke-all works.
  const keep = sessions.find((s) => !victims.includes(s.user));
  const list = await run(['session', 'list', '--user', keep.user, '-c', cfg, '--data', srv.data]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(keep.id));
  const again = await createSession(srv, { user: victims[0] });
  assert.equal((await verify(srv, again.token)).status, 200);
  // A single revoke reaches the session's master and its token pointer's.
  assert.equal((await srv.api('DELETE', `/v1/sessions/${keep.id}`, { key: srv.key })).status, 204);
  assertError(await verify(srv, keep.token), 404, 'invalid_session');
});

test('cluster: two nodes: a session made on A verifies on B; revocations on A are refused on B within 100 ms', T, async () => {
  const data = sb.dataDir('b');
  fs.mkdirSync(data, { mode: 0o700 });
  fs.copyFileSync(path.join(srv.data, 'server.key'), path.join(data, 'server.key'));
  fs.chmodSync(path.join(data, 'server.key'), 0o600);
  const b = await sb.start({ data, config: cfg, args: ['--threads', '2'] });
  b.key = srv.key;
  try {
    const refusedOnB = async (token, what) => {
      const t0 = performance.now();
      while ((await verify(b, token)).status !== 404)
        if (performance.now() - t0 > 100) throw new Error(`${what}: not refused on B within 100 ms`);
    };
    for (let i = 0; i < 10; i++) {
      const user = `pair${i}`;
      const one = await createSession(srv, { user });
      const all = await createSession(srv, { user });
      // Twice on B: the second answer may come from B's near cache.
      for (let k = 0; k < 2; k++) for (const c of [one, all]) assert.equal((await verify(b, c.token)).status, 200);
      assert.equal((await srv.api('DELETE', `/v1/sessions/${one.session_id}`, { key: srv.key })).status, 204);
      await refusedOnB(one.token, `delete ${user}`);
      assert.equal((await srv.api('DELETE', `/v1/users/${user}/sessions`, { key: srv.key })).status, 204);
      await refusedOnB(all.token, `revoke-all ${user}`);
    }
  } finally {
    await b.stop();
  }
});

/* The flags field of a session's hash, read on the node that holds it. */
async function sessionFlags(port, user, id) {
  const key = Buffer.concat([Buffer.from(`${PREFIX}s{u:${user}}`), Buffer.from(id, 'hex')]);
  return Number(str(await resp(port, ['HGET', key, 'f'])));
}

test('cluster: user roles --keep-sessions gives every session of the user the new roles, in its slot, past the near cache; a rotation clears the flag; without --keep-sessions they end', T, async () => {
  const user = 'roler';
  const other = 'bystander';
  const password = 'correct horse battery';
  const add = await run(['user', 'add', user, '--roles', 'dev', '--password-stdin', '-c', cfg, '--data', srv.data], { input: `${password}\n` });
  assert.equal(add.code, 0, add.stderr);
  const mine = [await createSession(srv, { user, roles: ['dev'] }), await createSession(srv, { user, roles: ['dev'] })];
  const theirs = await createSession(srv, { user: other, roles: ['dev'] });
  // Twice each: the second answer may come from the near cache, which the CLI's write (another
  // process) must reach through the invalidation its script publishes.
  for (let k = 0; k < 2; k++) for (const s of [...mine, theirs]) assert.deepEqual((await verify(srv, s.token)).json.roles, ['dev']);
  const port = await holder(user);
  for (const s of mine) assert.equal(await sessionFlags(port, user, s.session_id), 0);

  const r = await run(['user', 'roles', user, 'admin,dev', '--keep-sessions', '-c', cfg, '--data', srv.data]);
  assert.equal(r.code, 0, r.stderr);
  for (const s of mine) {
    assert.equal(await sessionFlags(port, user, s.session_id), 2, 'SESS_REC_ROLES_CHANGED in the session on its master');
    await waitFor('the new roles past the near cache', async () => {
      const v = await verify(srv, s.token);
      assert.equal(v.status, 200);
      return JSON.stringify(v.json.roles) === JSON.stringify(['admin', 'dev']);
    }, 5000);
  }
  assert.deepEqual((await verify(srv, theirs.token)).json.roles, ['dev'], 'another user untouched');
  assert.equal(await sessionFlags(await holder(other), other, theirs.session_id), 0);

  // A rotation (new token pointer in its own slot, the session in the user's) clears the flag
  // and keeps the roles; the other session keeps its flag until its own rotation.
  const rot = await srv.api('POST', '/v1/sessions/rotate', { key: srv.key, body: { token: mine[0].token } });
  assert.equal(rot.status, 200);
  assert.equal(await sessionFlags(port, user, mine[0].session_id), 0, 'cleared by the rotation');
  assert.equal(await sessionFlags(port, user, mine[1].session_id), 2);
  assert.deepEqual((await verify(srv, rot.json.token)).json.roles, ['admin', 'dev']);

  // Without --keep-sessions a role change ends the user's sessions (contract section 1).
  const end = await run(['user', 'roles', user, 'ops', '-c', cfg, '--data', srv.data]);
  assert.equal(end.code, 0, end.stderr);
  for (const tok of [rot.json.token, mine[1].token]) assertError(await verify(srv, tok), 404, 'invalid_session');
  assert.equal((await verify(srv, theirs.token)).status, 200);
});

test('cluster: a slot moved after the map was loaded (MOVED) and a user made mid-migration (ASK)', T, async () => {
  const user = 'mover';
  const s = await createSession(srv, { user });
  assert.equal((await verify(srv, s.token)).status, 200);
  const slot = await userSlot(user);
  const fromPort = (await slotOwner(slot)).port;
  const target = nodes.find((n) => n.port !== fromPort).port;
  // A second user in the same slot, without keys yet: made while the slot migrates, its
  // script is refused by the old owner with ASK and runs on the new one after ASKING.
  let other = null;
  for (let i = 0; other === null; i++) {
    assert.ok(i < 200000, 'no user name found in the slot');
    if ((await userSlot(`m${i}`)) === slot) other = `m${i}`;
  }
  const askBefore = await errorCount(fromPort, 'ASK');
  let made;
  await moveSlot(slot, target, async () => {
    made = await createSession(srv, { user: other });
  });
  assert.ok((await errorCount(fromPort, 'ASK')) > askBefore, 'the old owner answered ASK');
  assert.equal(await holder(other), target);
  assert.equal(await holder(user), target);
  // sessiond's map still names the old owner: it answers MOVED, and sessiond follows.
  const movedBefore = await errorCount(fromPort, 'MOVED');
  assert.equal((await verify(srv, s.token)).status, 200, 'verify after the move');
  assert.equal((await verify(srv, made.token)).status, 200, 'the session made mid-migration');
  assert.ok((await errorCount(fromPort, 'MOVED')) > movedBefore, 'the old owner answered MOVED');
  const t = await createSession(srv, { user });
  assert.equal((await srv.api('DELETE', `/v1/users/${user}/sessions`, { key: srv.key })).status, 204);
  for (const tok of [s.token, t.token]) assertError(await verify(srv, tok), 404, 'invalid_session');
  assert.equal((await verify(srv, made.token)).status, 200);
});

test('cluster: a master killed answers 503 within the timeout, never 200 for what it held', T, async () => {
  // One user per master, and their tokens.
  const users = [];
  for (let i = 0; users.length < 3; i++) {
    assert.ok(i < 100, 'users on every master');
    const user = `k${i}`;
    const port = (await slotOwner(await userSlot(user))).port;
    if (users.some((u) => u.port === port)) continue;
    users.push({ user, port, token: (await createSession(srv, { user })).token });
  }
  const dead = nodes.find((n) => n.port === users[0].port);
  dead.killNow();
  await dead.exited;
  for (let round = 0; round < 3; round++) {
    for (const u of users) {
      const t0 = performance.now();
      const r = await verify(srv, u.token);
      const took = performance.now() - t0;
      if (u.port === dead.port) assertError(r, 503, 'store_unavailable', `${u.user} on the dead master`);
      else assert.ok(r.status === 200 || r.status === 503, `${u.user}: ${r.status}`);
      // A verify makes up to three store calls (API key, token pointer, session), each bounded
      // by redis_timeout; the slack is for a loaded (sanitizer) host, far below a hang or the
      // Cluster's own 15 s failure detection.
      assert.ok(took < 3 * TIMEOUT_MS + 2000, `${u.user} answered ${r.status} after ${took} ms`);
    }
  }
  assert.equal((await srv.api('GET', '/readyz')).status, 503);
  assert.ok(srv.running, 'no crash');
  // Back on the same port with its nodes.conf (its data is gone: it kept none): service
  // resumes without a restart of sessiond.
  await dead.restart();
  await waitFor('cluster_state:ok again', clusterOk);
  await waitFor('readyz again', async () => (await srv.api('GET', '/readyz')).status === 200, 10000);
  const fresh = await createSession(srv, { user: users[0].user });
  assert.equal((await verify(srv, fresh.token)).status, 200);
  for (const u of users.slice(1)) assert.equal((await verify(srv, u.token)).status, 200, `${u.user} kept`);
});

test('cluster: the cookie store keeps its API keys and revocations in the Cluster, never in an lmdb store', T, async () => {
  // [store] kind = cookie with redis_cluster was opened as lmdb in the data directory (the
  // cluster silently ignored): every node would have had its own revocations.
  const seal = Buffer.alloc(32, 7).toString('base64');
  const ini = sb.writeFile('cookie-cluster.ini', `[store]\nkind = cookie\nredis_prefix = ck:\nredis_cluster = ${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}\n` +
    `redis_timeout = ${TIMEOUT_MS}ms\nredis_connect_timeout = ${TIMEOUT_MS}ms\n[keys]\nseal = k1:${seal}\n`);
  const data = sb.dataDir('cookie-cluster');
  const key = await createApiKey(data, 'ck', ['-c', ini]);
  const s = await sb.start({ data, config: ini });
  s.key = key;
  try {
    const c = await createSession(s, { user: 'cookie-user' });
    assert.equal((await verify(s, c.token)).status, 200);
    let keys = 0;
    for (const n of nodes) keys += (await resp(n.port, ['KEYS', 'ck:*'])).length;
    assert.ok(keys > 0, 'the API key and the account live in the Cluster');
    assert.ok(!fs.existsSync(path.join(data, 'store')), 'no lmdb store in the data directory');
    const cli = await run(['session', 'revoke', '--user', 'cookie-user', '-c', ini, '--data', data]);
    assert.equal(cli.code, 0, cli.stderr);
    assertError(await verify(s, c.token), 404, 'invalid_session');
  } finally {
    await s.stop();
  }
});

test('cluster: a redis_url naming a Cluster node is refused with a message; nothing written', T, async () => {
  const ini = sb.writeFile('url.ini', `[store]\nkind = redis\nredis_url = redis://127.0.0.1:${nodes[1].port}/0\nredis_prefix = other:\n`);
  const r = await run(['apikey', 'create', 'x', '-c', ini, '--data', sb.dataDir('cli')]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /Cluster mode: name its nodes in \[store\] redis_cluster/);
  for (const n of nodes) assert.deepEqual(await resp(n.port, ['KEYS', 'other:*']), [], `keys on node ${n.port}`);
});
