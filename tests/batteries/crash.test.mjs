// crash.test.mjs - crash safety of the lmdb store through the real server: create, patch and
// revoke load, kill -9 at a random moment, restart, and check that every acknowledged write is
// there and every acknowledged delete is gone. CRASH_CYCLES cycles (default 20; `make soak`
// runs 100). Then damaged data files: a clear "sessiond:" error and exit 1 at start, no crash.
//
// The model: each load worker owns its sessions and runs one request at a time, so at the
// moment of the kill at most one request per worker is in flight, and only that request's
// outcome is unknown. Values are unique, so an acknowledged patch can be recognised exactly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, createApiKey, verify, assertNoSanitizerReport, sleep } from '../integration/lib.mjs';

const CYCLES = Number(process.env.CRASH_CYCLES || 20);
const WORKERS = 4;
/* Bound of the model's live sessions: beyond it, workers revoke more than they create. */
const LIVE_SOFT_MAX = 150;
let sb;

before(() => {
  sb = new Sandbox('sessiond-crash-');
});
after(async () => {
  await sb?.cleanup();
});

/* A random integer in [lo, hi). */
const rnd = (lo, hi) => lo + crypto.randomInt(hi - lo);

class Model {
  constructor() {
    this.sessions = new Map(); // id -> {token, user, data: {k: v} acknowledged, state}
    this.n = 0;
    this.acked = { create: 0, patch: 0, delete: 0 };
  }
  live() {
    return [...this.sessions.values()].filter((x) => x.state === 'live');
  }
}

/* One worker: random operations on its own sessions until `stop()` says so or the server dies. */
async function worker(s, model, wid, stopped) {
  const mine = [];
  while (!stopped()) {
    const live = mine.filter((x) => x.state === 'live');
    const many = model.live().length > LIVE_SOFT_MAX;
    const roll = rnd(0, 100);
    try {
      if (live.length === 0 || (!many && roll < 35)) {
        const user = `u${wid}-${++model.n}`;
        const r = await s.api('POST', '/v1/sessions', { body: { user, data: { w: wid } } });
        if (stopped()) break; // answered, but counted only when the kill has not begun
        assert.equal(r.status, 201, `create: ${r.status} ${r.text}`);
        const x = { id: r.json.session_id, token: r.json.token, user, data: { w: wid }, state: 'live' };
        mine.push(x);
        model.sessions.set(x.id, x);
        model.acked.create++;
      } else if (roll < (many ? 50 : 80)) {
        const x = live[rnd(0, live.length)];
        const k = `k${++model.n}`;
        const v = crypto.randomBytes(6).toString('hex');
        x.pending = { patch: k };
        const r = await s.api('PATCH', `/v1/sessions/${x.id}`, { body: { data: { [k]: v } } });
        if (stopped()) break;
        assert.equal(r.status, 200, `patch: ${r.status} ${r.text}`);
        x.data[k] = v;
        x.pending = undefined;
        model.acked.patch++;
      } else {
        const x = live[rnd(0, live.length)];
        x.pending = { delete: true };
        const r = await s.api('DELETE', `/v1/sessions/${x.id}`);
        if (stopped()) break;
        assert.equal(r.status, 204, `delete: ${r.status} ${r.text}`);
        x.state = 'deleted';
        x.pending = undefined;
        model.acked.delete++;
      }
    } catch (e) {
      if (stopped()) break; // the connection died with the server: the outcome is unknown
      throw e;
    }
  }
}

/* After a restart: every session in the model is as acknowledged. Sessions whose last request
 * was in flight at the kill are settled from what the server now says (either outcome is
 * allowed), then held to it from here on. */
async function checkModel(s, model, cycle) {
  const all = [...model.sessions.values()];
  for (let i = 0; i < all.length; i += 8) {
    await Promise.all(all.slice(i, i + 8).map(async (x) => {
      const r = await verify(s, x.token, { touch: false });
      const what = `cycle ${cycle}: session ${x.id} (${x.state}${x.pending ? `, in flight: ${JSON.stringify(x.pending)}` : ''})`;
      if (x.state === 'deleted') {
        assert.equal(r.status, 404, `${what}: acknowledged delete, but verify answered ${r.status} ${r.text}`);
        const g = await s.api('GET', `/v1/sessions/${x.id}`);
        assert.equal(g.status, 404, `${what}: acknowledged delete, but GET answered ${g.status}`);
        return;
      }
      if (x.pending?.delete && r.status === 404) {
        x.state = 'deleted';
        x.pending = undefined;
        return;
      }
      assert.equal(r.status, 200, `${what}: acknowledged, but verify answered ${r.status} ${r.text}`);
      for (const [k, v] of Object.entries(x.data)) {
        assert.equal(r.json.data?.[k], v, `${what}: acknowledged data ${k}=${v} lost; data now ${JSON.stringify(r.json.data)}`);
      }
      if (x.pending?.patch && r.json.data?.[x.pending.patch] !== undefined) x.data[x.pending.patch] = r.json.data[x.pending.patch];
      x.pending = undefined;
    }));
  }
  // Sessions whose create was in flight are unknown to the model; the deleted ones need no
  // further checks once proven gone twice.
  for (const x of all) if (x.state === 'deleted') x.checks = (x.checks || 0) + 1;
  for (const x of all) if (x.checks >= 2) model.sessions.delete(x.id);
}

test(`${CYCLES} cycles of create/patch/revoke load, kill -9 at a random moment, restart: acknowledged writes present, acknowledged deletes absent`,
  { timeout: 60000 + CYCLES * 15000 }, async () => {
    const data = sb.dataDir('crash');
    const key = await createApiKey(data);
    const s = await sb.start({ data });
    s.key = key;
    const model = new Model();
    for (let c = 1; c <= CYCLES; c++) {
      let stop = false;
      const stopped = () => stop;
      const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(s, model, w, stopped)));
      await sleep(rnd(30, 400));
      stop = true;
      s.killNow();
      const x = await s.exited;
      assert.equal(x.signal, 'SIGKILL', `cycle ${c}: the server ended by itself: ${JSON.stringify(x)}\n${s.output.slice(-3000)}`);
      await load;
      assertNoSanitizerReport(s.output, `cycle ${c}`);
      await s.restart();
      await checkModel(s, model, c);
    }
    const a = model.acked;
    assert.ok(a.create > CYCLES && a.patch > CYCLES && a.delete > CYCLES,
      `too little load to mean anything: ${JSON.stringify(a)}`);
    console.log(`crash: ${CYCLES} kill -9 cycles, acknowledged ${a.create} creates, ${a.patch} patches, ${a.delete} deletes, all as acknowledged`);
    await s.stop();
  });

/* A data dir with a few sessions in it, stopped cleanly; returns its data.mdb path. */
async function seededDataDir(name) {
  const data = sb.dataDir(name);
  const key = await createApiKey(data);
  const s = await sb.start({ data });
  s.key = key;
  for (let i = 0; i < 20; i++) {
    const r = await s.api('POST', '/v1/sessions', { body: { user: `u${i}`, data: { pad: 'x'.repeat(2000) } } });
    assert.equal(r.status, 201);
  }
  await s.stop();
  const files = fs.readdirSync(data, { recursive: true }).filter((f) => path.basename(f) === 'data.mdb');
  assert.equal(files.length, 1, `one data.mdb in ${data}: ${files}`);
  return { data, file: path.join(data, files[0]) };
}

const damages = {
  'truncated to 0 bytes': (f) => fs.truncateSync(f, 0),
  'truncated to 100 bytes': (f) => fs.truncateSync(f, 100),
  'truncated to half': (f) => fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2)),
  'truncated to two pages': (f) => fs.truncateSync(f, 8192),
  'both meta pages overwritten with random bytes': (f) => {
    const fd = fs.openSync(f, 'r+');
    fs.writeSync(fd, crypto.randomBytes(8192), 0, 8192, 0);
    fs.closeSync(fd);
  },
  'magic number of both meta pages flipped': (f) => {
    const fd = fs.openSync(f, 'r+');
    const b = Buffer.alloc(4);
    for (const page of [0, 4096]) {
      fs.readSync(fd, b, 0, 4, page + 16);
      for (let i = 0; i < 4; i++) b[i] ^= 0xff;
      fs.writeSync(fd, b, 0, 4, page + 16);
    }
    fs.closeSync(fd);
  },
  'whole file replaced by text': (f) => fs.writeFileSync(f, 'not an lmdb file\n'.repeat(1000)),
};

for (const [name, damage] of Object.entries(damages)) {
  test(`data file ${name}: exit 1 at start with one clear sessiond: line, no crash`, { timeout: 60000 }, async () => {
    const { data, file } = await seededDataDir(name.replace(/\W+/g, '-'));
    damage(file);
    const s = await sb.start({ data }).catch((e) => e);
    assert.ok(s instanceof Error, `the server started on a damaged data file (${name})`);
    assert.match(s.message, /exited early \(code 1, signal null\)/, `${name}: ${s.message}`);
    assert.match(s.message, /^sessiond: .*data/m, `${name}: no clear "sessiond:" line naming the data: ${s.message}`);
    assertNoSanitizerReport(s.message, name);
  });
}
