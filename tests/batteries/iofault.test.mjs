// iofault.test.mjs - I/O faults under the lmdb store, injected with libfiu (Debian's fiu-utils:
// the posix preload library, steered at run time with fiu-ctrl). While pwrite, fsync and
// fdatasync fail at random, a write is either acknowledged or refused: 503 store_unavailable, or
// 507 store_full when the injected errno is ENOSPC or EDQUOT (refusedAs below),
// never anything else; the server stays up; every acknowledged write is there after kill -9 and a
// restart, and writes succeed again after it.
//
// And service resumes WITHOUT a restart once the fault is gone: when a commit's meta page write
// or sync fails, LMDB marks the environment as fatally failed (MDB_PANIC); the store then closes
// and reopens it (lib/store/lmdb_env.c, env_reopen) and logs that it did.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, createApiKey, verify, assertError } from '../integration/lib.mjs';

const FIU_DIR = '/usr/lib/fiu';
const POINTS = ['posix/io/rw/pwrite', 'posix/io/rw/pwritev', 'posix/io/sync/fsync', 'posix/io/sync/fdatasync'];
const PROBABILITY = 0.03;
/* Rounds of faults, kill -9 and restart in the first test. */
const ROUNDS = 3;
const FAULTY_WRITES = 200;
let sb;

before(() => {
  sb = new Sandbox('sessiond-iofault-');
});
after(async () => {
  await sb?.cleanup();
});

function fiuCtrl(fifo, pid, commands) {
  execFileSync('fiu-ctrl', ['-f', fifo, ...commands.flatMap((c) => ['-c', c]), String(pid)], { timeout: 10000 });
}

/* Starts a server under the libfiu preload with the faults off; returns it, its control fifo,
 * and the acknowledged-writes model filled with 10 sessions made before any fault. */
async function startUnderFiu(name) {
  assert.ok(fs.existsSync(path.join(FIU_DIR, 'fiu_posix_preload.so')), 'libfiu is not installed (apt-get install fiu-utils)');
  const data = sb.dataDir(name);
  const key = await createApiKey(data);
  const fifo = path.join(sb.root, `fiu-ctrl-${name}`);
  const env = {
    LD_PRELOAD: `${FIU_DIR}/fiu_run_preload.so ${FIU_DIR}/fiu_posix_preload.so`,
    FIU_CTRL_FIFO: fifo,
    FIU_ENABLE: '',
  };
  const s = await sb.start({ data, env });
  s.key = key;
  const acked = [];
  for (let i = 0; i < 10; i++) assert.equal((await create(s, acked, i)).status, 201, 'create before the faults');
  return { s, fifo, acked };
}

async function create(s, acked, i) {
  const r = await s.api('POST', '/v1/sessions', { body: { user: `u${i}`, data: { i } } });
  if (r.status === 201) acked.push({ ...r.json, patches: {} });
  return r;
}

/* A write refused under injected faults: libfiu picks the errno among those the call may return,
 * and a lack of space (ENOSPC, EDQUOT) is 507 store_full, any other failure 503. */
function refusedAs(r, what) {
  if (r.status === 507) assertError(r, 507, 'store_full', what);
  else assertError(r, 503, 'store_unavailable', what);
}

/* FAULTY_WRITES creates and patches with the faults on: each answered 2xx, 503 or 507, some refused. */
async function writeUnderFaults(s, fifo, acked) {
  fiuCtrl(fifo, s.pid, POINTS.map((p) => `enable_random name=${p},probability=${PROBABILITY}`));
  let ok = 0;
  let refused = 0;
  for (let i = 0; i < FAULTY_WRITES; i++) {
    let r;
    if (i % 2 === 0) {
      r = await create(s, acked, `${s.pid}-${i}`);
    } else {
      const a = acked[i % acked.length];
      r = await s.api('PATCH', `/v1/sessions/${a.session_id}`, { body: { data: { [`p${i}`]: i } } });
      if (r.status === 200) a.patches[`p${i}`] = i;
    }
    if (r.status === 200 || r.status === 201) ok++;
    else {
      refusedAs(r, `write ${i} under I/O faults`);
      refused++;
    }
  }
  assert.ok(refused > 0, `no write failed in ${FAULTY_WRITES} with p=${PROBABILITY}: the faults were not injected`);
  await s.assertAlive('under I/O faults');
  fiuCtrl(fifo, s.pid, POINTS.map((p) => `disable name=${p}`));
  return { ok, refused };
}

async function checkAll(s, acked, what) {
  for (const a of acked) {
    const r = await verify(s, a.token, { touch: false });
    assert.equal(r.status, 200, `${what}: acknowledged session ${a.session_id}: ${r.status} ${r.text}`);
    for (const [k, v] of Object.entries(a.patches)) assert.equal(r.json.data[k], v, `${what}: acknowledged patch ${k} of ${a.session_id}`);
  }
}

test(`libfiu I/O faults (${POINTS.join(', ')} at p=${PROBABILITY}): only 2xx, 503 or 507, server up, acknowledged writes kept across kill -9, writes work after the restart`, { timeout: 180000 }, async () => {
  const { s, fifo, acked } = await startUnderFiu('kept');
  let ok = 0;
  let refused = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const w = await writeUnderFaults(s, fifo, acked);
    ok += w.ok;
    refused += w.refused;
    await s.kill();
    await s.restart();
    await checkAll(s, acked, `round ${round}: after kill -9 and a restart`);
    for (let i = 0; i < 10; i++) {
      const r = await create(s, acked, round * 10000 + i);
      assert.equal(r.status, 201, `round ${round}: create ${i} after the restart: ${r.status} ${r.text}`);
    }
  }
  await checkAll(s, acked, 'at the end');
  assert.ok(ok > 0, `no write succeeded under faults in ${ROUNDS} rounds with p=${PROBABILITY}: nothing acknowledged to check`);
  console.log(`iofault: ${ROUNDS} rounds of ${FAULTY_WRITES} writes under faults: ${ok} acknowledged, ${refused} answered 503; all acknowledged kept across kill -9; writes work after each restart`);
  await s.stop();
});

test('libfiu I/O faults: service resumes without a restart once the fault is gone', { timeout: 180000 }, async () => {
  const { s, fifo, acked } = await startUnderFiu('resume');
  const w = await writeUnderFaults(s, fifo, acked);
  for (let i = 0; i < 10; i++) {
    const r = await create(s, acked, 1000 + i);
    assert.equal(r.status, 201, `create ${i} after the faults are gone, without a restart: ${r.status} ${r.text}`);
  }
  await checkAll(s, acked, 'after the faults, same process');
  assert.match(s.stderr, /failed after an I\/O error; reopened it/, 'the reopen is logged');
  const reopens = s.stderr.split('reopened it').length - 1;
  /* And what was acknowledged while the environment was being reopened is on disk, too. */
  await s.kill();
  await s.restart();
  await checkAll(s, acked, 'after the faults, kill -9 and a restart');
  console.log(`iofault: resume without a restart: ${w.ok} acknowledged, ${w.refused} answered 503, ${reopens} reopens of the environment; 10 creates after the faults all 201; all acknowledged kept`);
  await s.stop();
});

test('libfiu I/O faults under concurrent verifies and writes: reads never see a wrong answer across reopens', { timeout: 180000 }, async () => {
  const { s, fifo, acked } = await startUnderFiu('concurrent');
  fiuCtrl(fifo, s.pid, POINTS.map((p) => `enable_random name=${p},probability=${PROBABILITY}`));
  const counts = { created: 0, refused: 0, verified: 0, unavailable: 0 };
  const known = acked.slice(); /* acknowledged before the faults: must verify 200 or 503, never 404 */
  const writer = async (w) => {
    for (let i = 0; i < 60; i++) {
      const r = await create(s, acked, `c${w}-${i}`);
      if (r.status === 201) counts.created++;
      else {
        refusedAs(r, `concurrent create ${w}/${i}`);
        counts.refused++;
      }
    }
  };
  const reader = async () => {
    for (let i = 0; i < 150; i++) {
      const a = known[i % known.length];
      const r = await verify(s, a.token, { touch: false });
      if (r.status === 200) {
        assert.equal(r.json.session_id, a.session_id, 'a verify during the faults answered another session');
        counts.verified++;
      } else {
        assertError(r, 503, 'store_unavailable', 'a verify of an acknowledged session during the faults');
        counts.unavailable++;
      }
    }
  };
  await Promise.all([writer(0), writer(1), writer(2), writer(3), reader(), reader(), reader(), reader()]);
  await s.assertAlive('under I/O faults with concurrent requests');
  fiuCtrl(fifo, s.pid, POINTS.map((p) => `disable name=${p}`));
  assert.ok(counts.refused > 0, 'no write failed: the faults were not injected');
  const reopens = s.stderr.split('reopened it').length - 1;
  for (let i = 0; i < 10; i++) assert.equal((await create(s, acked, 5000 + i)).status, 201, `create ${i} after the faults`);
  await checkAll(s, acked, 'after concurrent faults, same process');
  await s.kill();
  await s.restart();
  await checkAll(s, acked, 'after concurrent faults, kill -9 and a restart');
  console.log(`iofault: concurrent: ${counts.created} creates acknowledged, ${counts.refused} answered 503; ${counts.verified} verifies 200, ${counts.unavailable} answered 503; ${reopens} reopens; all acknowledged kept`);
  await s.stop();
});
