// diskfull.test.mjs - a full disk under the lmdb store: the data directory lives on a small
// tmpfs (mounting needs root: CI runs as root; elsewhere the test skips loudly, and in CI it
// fails). Writes are answered 507 store_full once space runs out, nothing acknowledged before is
// lost (checked live, and after kill -9 and a restart on the still-full disk), reads keep
// working, and the server stays up. The second test follows one episode from start to end: one
// log line when it starts, /readyz 503 saying why, the metric, and the recovery once space is
// freed (one more line, /readyz 200 again).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, createApiKey, verify, assertError, assertNoSanitizerReport } from '../integration/lib.mjs';

const SIZE = '3m';
/* Bound: far more than a 3 MB tmpfs can hold at ~10 KB per session. */
const MAX_CREATES = 3000;
let sb;
const mounts = [];

before(() => {
  sb = new Sandbox('sessiond-diskfull-');
});
after(async () => {
  // The servers go first (they hold files on the mount), then the mount, then the sandbox.
  for (const s of sb?.servers || []) if (s.running) s.killNow();
  await Promise.all([...(sb?.servers || [])].map((s) => s.exited));
  for (const mnt of mounts) {
    try {
      execFileSync('umount', [mnt]);
    } catch {
      execFileSync('umount', ['-l', mnt]);
    }
  }
  await sb?.cleanup();
});

function mountTmpfs(name = 'small') {
  const dir = path.join(sb.root, name);
  fs.mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE},mode=0700`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

function needRoot(t) {
  if (process.getuid() === 0) return true;
  const msg = 'DISK-FULL TEST NOT RUN: mounting a tmpfs needs root';
  if (process.env.CI === 'true') assert.fail(`${msg} (CI runs as root)`);
  console.error(`\n*** ${msg} ***\n`);
  t.skip(msg);
  return false;
}

test(`disk full (${SIZE} tmpfs): writes answer 507, acknowledged sessions survive, reads and /healthz keep working`, { timeout: 180000 }, async (t) => {
  if (!needRoot(t)) return;
  const data = path.join(mountTmpfs(), 'data');
  const key = await createApiKey(data);
  const s = await sb.start({ data });
  s.key = key;

  const acked = [];
  let full = null;
  for (let i = 0; i < MAX_CREATES && !full; i++) {
    const pad = crypto.randomBytes(5000).toString('hex'); // incompressible, ~10 KB
    const r = await s.api('POST', '/v1/sessions', { body: { user: `u${i}`, data: { pad } } });
    if (r.status === 201) acked.push({ ...r.json, pad });
    else full = r;
  }
  assert.ok(full, `${MAX_CREATES} creates of ~10 KB all succeeded on a ${SIZE} tmpfs: the disk never filled`);
  assertError(full, 507, 'store_full', 'create on a full disk');
  assert.ok(acked.length >= 20, `only ${acked.length} sessions fitted before the disk was full`);
  t.diagnostic(`disk full after ${acked.length} sessions`);
  console.log(`diskfull: ${SIZE} tmpfs full after ${acked.length} acknowledged sessions; writes then 507`);

  // More writes keep failing cleanly, a patch too; the server stays up.
  for (let i = 0; i < 5; i++) {
    const r = await s.api('POST', '/v1/sessions', { body: { user: `late${i}`, data: { pad: crypto.randomBytes(5000).toString('hex') } } });
    assert.ok(r.status === 507 || r.status === 201, `create on a full disk: ${r.status} ${r.text}`);
    if (r.status === 201) acked.push({ ...r.json, pad: JSON.parse(r.text).data?.pad });
  }
  const p = await s.api('PATCH', `/v1/sessions/${acked[0].session_id}`, { body: { data: { more: crypto.randomBytes(1000).toString('hex') } } });
  assert.ok(p.status === 507 || p.status === 200, `patch on a full disk: ${p.status} ${p.text}`);
  await s.assertAlive('after writes on a full disk');

  const checkAll = async (what) => {
    for (const a of acked) {
      const r = await verify(s, a.token, { touch: false });
      assert.equal(r.status, 200, `${what}: acknowledged session ${a.session_id}: ${r.status} ${r.text}`);
      if (a.pad) assert.equal(r.json.data.pad, a.pad, `${what}: data of ${a.session_id}`);
    }
  };
  await checkAll('on the full disk');

  await s.kill();
  assertNoSanitizerReport(s.output);
  await s.restart();
  await checkAll('after kill -9 and a restart on the full disk');
  await s.assertAlive('after the restart');
  await s.stop();
});

const countLines = (text, re) => text.split('\n').filter((l) => re.test(l)).length;
const OUT_OF_SPACE = /out of space/;
const ROOM_AGAIN = /has room again/;

async function metric(s, name) {
  const r = await s.api('GET', '/metrics');
  assert.equal(r.status, 200);
  const m = r.text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

test(`disk full episode (${SIZE} tmpfs): 507 store_full, /readyz 503 with the reason, one log line, the metric, recovery once space is freed`, { timeout: 120000 }, async (t) => {
  if (!needRoot(t)) return;
  const small = mountTmpfs('episode');
  const data = path.join(small, 'data');
  const key = await createApiKey(data);
  const s = await sb.start({ data });
  s.key = key;

  const acked = [];
  for (let i = 0; i < 5; i++) {
    const r = await s.api('POST', '/v1/sessions', { body: { user: `a${i}`, data: { n: i } } });
    assert.equal(r.status, 201, r.text);
    acked.push(r.json);
  }
  assert.equal((await s.api('GET', '/readyz')).status, 200);

  // Everything the file system has left goes to a filler file.
  const filler = path.join(small, 'filler');
  const fd = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (e) {
    assert.equal(e.code, 'ENOSPC');
  }
  try {
    for (;;) fs.writeSync(fd, chunk, 0, 512);
  } catch (e) {
    assert.equal(e.code, 'ENOSPC');
  }
  fs.closeSync(fd);

  // Pages free inside the data file may still take a few; then creates are refused.
  let full = null;
  for (let i = 0; i < 200 && !full; i++) {
    const r = await s.api('POST', '/v1/sessions', { body: { user: `f${i}`, data: { pad: crypto.randomBytes(2000).toString('hex') } } });
    if (r.status !== 201) full = r;
  }
  assert.ok(full, 'creates kept succeeding on a full file system');
  assertError(full, 507, 'store_full', 'create on a full file system');
  assert.match(full.json.message, /out of space/);
  for (let i = 0; i < 3; i++) {
    const r = await s.api('POST', '/v1/sessions', { body: { user: `g${i}`, data: { pad: crypto.randomBytes(2000).toString('hex') } } });
    assertError(r, 507, 'store_full', 'another create on a full file system');
  }

  // Reads go on; readiness says why it is not ready; the metric counts every refused write.
  const v = await verify(s, acked[0].token, { touch: false });
  assert.equal(v.status, 200, v.text);
  const ready = await s.api('GET', '/readyz');
  assert.equal(ready.status, 503);
  assert.match(ready.text, /store full/);
  assert.ok((await metric(s, 'sessiond_store_full_total')) >= 4);
  assert.equal((await s.api('GET', '/healthz')).status, 200);
  assert.equal(countLines(s.output, OUT_OF_SPACE), 1, `one log line for the episode:\n${s.output}`);
  assert.match(s.output.split('\n').find((l) => OUT_OF_SPACE.test(l)), new RegExp(`${data.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*bytes free`));
  assert.equal(countLines(s.output, ROOM_AGAIN), 0);

  // Space comes back: the next create works, which ends the episode.
  fs.unlinkSync(filler);
  const again = await s.api('POST', '/v1/sessions', { body: { user: 'back', data: { n: 1 } } });
  assert.equal(again.status, 201, again.text);
  assert.equal((await s.api('GET', '/readyz')).status, 200);
  assert.equal(countLines(s.output, ROOM_AGAIN), 1, `one log line for the recovery:\n${s.output}`);
  assert.equal(countLines(s.output, OUT_OF_SPACE), 1);
  const v2 = await verify(s, again.json.token, { touch: false });
  assert.equal(v2.status, 200, v2.text);
  await s.stop();
  assertNoSanitizerReport(s.output);
});
