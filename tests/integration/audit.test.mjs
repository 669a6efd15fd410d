// audit.test.mjs - the hash-chained audit log and `sessiond audit verify` (contract 1, [audit]):
// logins, failures, logouts, lockouts and admin commands each leave one JSON line; an edited or
// a deleted line is found with its number; a rotated file continues the chain; the CLI and the
// server append at once without breaking it; no token ever appears.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Sandbox, run, createApiKey, freePort, sleep, TEST_TIMEOUT_MS, assertNoSanitizerReport } from './lib.mjs';
import { addUser, browse, login, Jar, PASSWORD } from './gateway-lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS * 2 };
let sb;
let srv;
let port;
let data;
let key;
let auditPath;
const tokens = [];

/* Waits (bounded) until `fn` holds; the server writes its lines before answering, so this only
 * covers the file system's view under slow sanitizer builds. */
async function until(what, fn, limit = 20000) {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > limit) throw new Error(`${what}: not within ${limit} ms`);
    await sleep(20);
  }
}

const lines = (file = auditPath) => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
const events = (file) => lines(file).map((l) => JSON.parse(l));

before(async () => {
  sb = new Sandbox('sessiond-audit-');
  port = await freePort();
  data = sb.dataDir();
  const config = sb.writeFile('audit.ini', `[server]
public_url = http://127.0.0.1:${port}
[login]
argon2_ops = 1
argon2_mem = 8m
max_failures = 3
[rule app]
policy = authenticated
`);
  await addUser(data, 'alice', { config });
  await addUser(data, 'mallory', { config });
  key = await createApiKey(data);
  srv = await sb.start({ data, config, args: ['--listen', `127.0.0.1:${port}`] });
  srv.key = key;
  auditPath = path.join(data, 'audit.log');
});

after(async () => {
  try {
    if (srv?.running) await srv.stop();
  } finally {
    await sb?.cleanup();
  }
});

async function verifyAudit(...files) {
  const r = await run(['audit', 'verify', ...(files.length ? files : ['--data', data])]);
  assertNoSanitizerReport(r.stderr, 'audit verify');
  return r;
}

test('audit: logins, a failed login, a logout and a lockout each leave a line; the chain is intact', T, async () => {
  const jar = new Jar();
  assert.equal((await login(port, jar, 'alice', PASSWORD)).status, 303);
  tokens.push(jar.cookies.get('sid'));
  assert.equal((await login(port, new Jar(), 'alice', 'not-alices-password-7')).status, 401);
  assert.equal((await browse(port, 'POST', '/auth/logout', { jar })).status, 303);
  // max_failures = 3: the third failure from this address (alice's, then mallory's two) locks the
  // address; mallory's third try is refused before any password check.
  for (let i = 0; i < 3; i++) await login(port, new Jar(), 'mallory', `nope ${i}`);
  await until('the lockout line', () => events().some((e) => e.event === 'lockout'));

  const ev = events();
  const names = ev.map((e) => e.event);
  for (const want of ['admin', 'login', 'login_failed', 'logout', 'lockout']) assert.ok(names.includes(want), `${want} in ${names}`);
  const ok = ev.find((e) => e.event === 'login');
  assert.equal(ok.user, 'alice');
  assert.match(ok.session_id, /^[0-9a-f]{32}$/);
  assert.equal(ok.client, '127.0.0.1');
  assert.match(ok.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const out = ev.find((e) => e.event === 'logout');
  assert.equal(out.session_id, ok.session_id);
  const lock = ev.find((e) => e.event === 'lockout');
  assert.equal(lock.client, '127.0.0.1');
  assert.equal(lock.detail, 'address locked out');
  assert.equal(ev.filter((e) => e.event === 'login_failed' && e.user === 'mallory').length, 2);
  ev.forEach((e, i) => assert.equal(e.seq, i + 1, `seq of line ${i + 1}`));
  assert.equal(ev[0].prev, '0'.repeat(64));

  const text = fs.readFileSync(auditPath, 'utf8');
  for (const t of tokens) assert.ok(!text.includes(t), 'no session token in the audit log');
  assert.ok(!text.includes(key), 'no API key in the audit log');
  assert.ok(!text.includes(PASSWORD), 'no password in the audit log');

  const r = await verifyAudit();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`audit.log: intact, ${ev.length} lines, last hash [0-9a-f]{64}`));
});

test('audit verify: an edited line is named by its number, and so is a deleted one', T, async () => {
  const all = lines();
  assert.ok(all.length >= 5, `${all.length} lines`);
  const edited = sb.writeFile('edited.log', all.map((l, i) => (i === 2 ? l.replace(/"user":("[^"]*"|null)/, '"user":"someone-else"') : l)).join('\n') + '\n');
  assert.notEqual(fs.readFileSync(edited, 'utf8'), all.join('\n') + '\n', 'line 3 was edited');
  let r = await verifyAudit(edited);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^sessiond: .*edited\.log:3: the audit chain is broken: line 3 was changed/m);

  const deleted = sb.writeFile('deleted.log', all.filter((_, i) => i !== 3).join('\n') + '\n');
  r = await verifyAudit(deleted);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /deleted\.log:4: the audit chain is broken: its seq is 5, expected 4 \(lines before it were deleted\)/);

  // Deleting the first line is found too (the new first line does not start a chain).
  const head = sb.writeFile('head.log', all.slice(1).join('\n') + '\n');
  r = await verifyAudit(head);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /head\.log:1: /);

  // A torn last line (no newline) is reported, not skipped.
  const torn = sb.writeFile('torn.log', all.join('\n') + '\n{"seq":');
  r = await verifyAudit(torn);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`torn\\.log:${all.length + 1}: `));

  r = await verifyAudit(path.join(sb.root, 'missing.log'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^sessiond: cannot read the audit log .*missing\.log/);
});

test('audit: the CLI and the server append at once and the chain stays intact', T, async () => {
  const before = lines().length;
  const cli = [];
  for (let i = 0; i < 8; i++) cli.push(run(['apikey', 'create', `par${i}`, '--data', data]));
  const api = [];
  for (let i = 0; i < 16; i++) api.push(srv.api('POST', '/v1/sessions', { body: { user: `p${i}`, client: { ip: '203.0.113.7' } } }));
  const done = await Promise.all(cli);
  for (const d of done) assert.equal(d.code, 0, d.stderr);
  const made = await Promise.all(api);
  for (const m of made) {
    assert.equal(m.status, 201);
    tokens.push(m.json.token);
  }
  const ev = events();
  assert.equal(ev.length, before + 8 + 16);
  assert.equal(ev.filter((e) => e.event === 'admin' && /^apikey create par/.test(e.detail)).length, 8);
  const text = fs.readFileSync(auditPath, 'utf8');
  for (const d of done) assert.ok(!text.includes(d.stdout.trim()), 'no API key in the audit log');
  for (const t of tokens) assert.ok(!text.includes(t), 'no session token in the audit log');
  const r = await verifyAudit();
  assert.equal(r.code, 0, r.stderr);
});

test('audit: after a rotation and SIGHUP the new file continues the old chain', T, async () => {
  const old = path.join(data, 'audit.log.1');
  fs.renameSync(auditPath, old);
  srv.signal('SIGHUP');
  await until('the new audit file', () => fs.existsSync(auditPath) && lines().length >= 1);
  const first = events()[0];
  assert.equal(first.event, 'audit_continued');
  assert.equal(first.seq, 1);
  const m = (await verifyAudit(old)).stdout.match(/last hash ([0-9a-f]{64})/);
  assert.ok(m, 'verify prints the old file\'s last hash');
  assert.equal(first.prev, m[1]);
  const c = await srv.api('POST', '/v1/sessions', { body: { user: 'after-rotation' } });
  assert.equal(c.status, 201);
  assert.equal(events().at(-1).event, 'login');

  let r = await verifyAudit(old, auditPath);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /audit\.log\.1: intact/);
  assert.match(r.stdout, /audit\.log: intact, 2 lines/);
  // Out of order, the link does not hold.
  r = await verifyAudit(auditPath, old);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /audit\.log\.1:1: /);
});

test('audit: a token from another user agent is theft_detected; a verify after a role change and /v1 rotate are rotations', T, async () => {
  const cfg = sb.writeFile('bind.ini', '[session]\nbind_user_agent = true\n[rule app]\npolicy = authenticated\n');
  const d = sb.dataDir('bind');
  await addUser(d, 'bob', { config: cfg });
  const k = await createApiKey(d, 'it', ['-c', cfg]);
  const s = await sb.start({ data: d, config: cfg });
  s.key = k;
  try {
    const fwd = (token, ua) => ({ headers: { Cookie: `sid=${token}`, 'User-Agent': ua, 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/app', 'X-Forwarded-Host': 'app.test' } });
    const stolen = (await s.api('POST', '/v1/sessions', { body: { user: 'bob', client: { user_agent: 'Browser/1' } } })).json;
    assert.equal((await s.api('GET', '/auth/verify', fwd(stolen.token, 'Thief/9'))).status, 401);

    const kept = (await s.api('POST', '/v1/sessions', { body: { user: 'bob', client: { user_agent: 'Browser/1' } } })).json;
    const r = await run(['user', 'roles', 'bob', 'admin', '--keep-sessions', '--data', d, '-c', cfg]);
    assert.equal(r.code, 0, r.stderr);
    const v = await s.api('GET', '/auth/verify', fwd(kept.token, 'Browser/1'));
    assert.equal(v.status, 200);
    assert.match(String(v.headers['set-cookie']), /^sid=/, 'the verify rotated the token');
    const rot = await s.api('POST', '/v1/sessions', { body: { user: 'carol' } });
    assert.equal((await s.api('POST', '/v1/sessions/rotate', { body: { token: rot.json.token } })).status, 200);

    const ev = events(path.join(d, 'audit.log'));
    const theft = ev.find((e) => e.event === 'theft_detected');
    assert.equal(theft?.session_id, stolen.session_id, JSON.stringify(ev));
    assert.equal(theft.user, 'bob');
    const rotations = ev.filter((e) => e.event === 'rotate');
    assert.deepEqual(rotations.map((e) => e.session_id), [kept.session_id, rot.json.session_id]);
    assert.equal(rotations[0].detail, "the user's roles changed");
    assert.ok(ev.some((e) => e.event === 'admin' && e.user === 'bob' && /^user roles bob admin --keep-sessions -> exit 0$/.test(e.detail)));
    const m = await s.api('GET', '/metrics');
    assert.match(m.text, /^sessiond_rotations_total 2$/m);
    assert.equal((await verifyAudit(path.join(d, 'audit.log'))).code, 0);
  } finally {
    await s.stop();
  }
});

test('audit: a torn tail (a crash in the middle of an append) is cut at start with an audit_gap line; an edit is still found', T, async () => {
  const d = sb.dataDir('torn');
  const k = await createApiKey(d);
  let s = await sb.start({ data: d });
  s.key = k;
  const file = path.join(d, 'audit.log');
  try {
    for (let i = 0; i < 3; i++) {
      const c = await s.api('POST', '/v1/sessions', { body: { user: `t${i}` } });
      assert.equal(c.status, 201);
      assert.equal((await s.api('DELETE', `/v1/sessions/${c.json.session_id}`)).status, 204);
    }
  } finally {
    await s.stop();
  }
  const whole = fs.readFileSync(file);
  const ends = [];
  whole.forEach((b, i) => b === 0x0a && ends.push(i + 1));
  const last = ends.at(-2); // where the last line starts
  // Inside the second-to-last line, inside the last one, and the last one without its newline.
  for (const cut of [ends.at(-3) + 40, last + 1, last + 100, whole.length - 1]) {
    fs.writeFileSync(file, whole.subarray(0, cut));
    const keep = ends.filter((e) => e <= cut).at(-1);
    s = await sb.start({ data: d });
    try {
      assert.match(s.output, new RegExp(`a torn tail of ${cut - keep} bytes cut at start`));
      const ev = events(file);
      const gap = ev[ends.indexOf(keep) + 1];
      assert.equal(gap.event, 'audit_gap', JSON.stringify(ev.slice(-2)));
      assert.equal(gap.detail, `torn tail of ${cut - keep} bytes cut at start`);
      assert.equal(gap.seq, ends.indexOf(keep) + 2);
      assert.ok(fs.readFileSync(file).subarray(0, keep).equals(whole.subarray(0, keep)), 'whole lines are kept');
      const r = await verifyAudit(file);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`audit\\.log:${gap.seq}: note: audit_gap: torn tail of ${cut - keep} bytes cut at start`));
      assert.match(r.stdout, /intact, \d+ lines, last hash [0-9a-f]{64} \(with the gaps noted above\)/);
    } finally {
      await s.stop();
    }
  }
  // An edit in the middle is not a cut at the tail: it still fails.
  const all = lines(file);
  const edited = sb.writeFile('torn-edited.log', all.map((l, i) => (i === 1 ? l.replace('"client":"127.0.0.1"', '"client":"127.0.0.2"') : l)).join('\n') + '\n');
  const r = await verifyAudit(edited);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /torn-edited\.log:2: the audit chain is broken: line 2 was changed/);
});

/* A tiny tmpfs that can be filled up under a running server: the audit log's write(2) then
 * fails with ENOSPC, as on a full disk (root only; chmod and the like do not stop root). */
function mountTiny(dir) {
  fs.mkdirSync(dir, { recursive: true });
  assert.equal(process.getuid(), 0, 'this test mounts a tmpfs to fill a disk: run it as root');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', dir]);
  return {
    fill() {
      const fd = fs.openSync(path.join(dir, 'filler'), 'w');
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(1024));
      } catch (e) {
        assert.equal(e.code, 'ENOSPC');
      } finally {
        fs.closeSync(fd);
      }
    },
    free: () => fs.rmSync(path.join(dir, 'filler')),
    umount: () => execFileSync('umount', [dir]),
  };
}

/* Sets up a server whose audit log is on a tiny tmpfs, with [audit] on_failure = `mode`. */
async function fullDiskServer(mode) {
  const d = sb.dataDir(`full-${mode}`);
  const mnt = path.join(sb.root, `mnt-${mode}`);
  const disk = mountTiny(mnt);
  const file = path.join(mnt, 'audit.log');
  const cfg = sb.writeFile(`full-${mode}.ini`, `[audit]\npath = ${file}\non_failure = ${mode}\n`);
  const k = await createApiKey(d, 'it', ['-c', cfg]);
  const s = await sb.start({ data: d, config: cfg });
  s.key = k;
  return { d, s, disk, file, cfg };
}

const auditErrors = async (s) => Number((await s.api('GET', '/metrics')).text.match(/^sessiond_audit_errors_total (\d+)$/m)[1]);

test('audit: on_failure = refuse: a change whose audit line cannot be written is not confirmed; a gap line counts the lost events later', T, async () => {
  const { s, disk, file, cfg, d } = await fullDiskServer('refuse');
  try {
    const made = [];
    for (let i = 0; i < 3; i++) made.push((await s.api('POST', '/v1/sessions', { body: { user: `keep${i}` } })).json.session_id);
    disk.fill();
    // The file's last page still has room for a few lines: go on until a change is refused.
    let refused = null;
    for (let i = 0; i < 40 && !refused; i++) {
      const c = await s.api('POST', '/v1/sessions', { body: { user: `fill${i}` } });
      if (c.status === 503) refused = { c, user: `fill${i}` };
      else {
        assert.equal(c.status, 201);
        const del = await s.api('DELETE', `/v1/sessions/${c.json.session_id}`);
        if (del.status === 503) refused = { c: del };
        else assert.equal(del.status, 204);
      }
    }
    assert.ok(refused, 'a change was refused once the disk was full');
    assert.equal(refused.c.json.error, 'audit_unavailable', refused.c.text);
    // While it is full: a revocation is refused (the session is ended anyway: fail closed)...
    const del = await s.api('DELETE', `/v1/sessions/${made[0]}`);
    assert.equal(del.status, 503);
    assert.equal(del.json.error, 'audit_unavailable');
    assert.equal((await s.api('GET', `/v1/sessions/${made[0]}`)).status, 404);
    // ...a new session is refused and not kept...
    const c = await s.api('POST', '/v1/sessions', { body: { user: 'unaudited' } });
    assert.equal(c.status, 503);
    assert.equal(c.json.token, undefined);
    assert.deepEqual((await s.api('GET', '/v1/users/unaudited/sessions')).json, []);
    // ...and an admin command exits 1 saying so.
    const a = await run(['apikey', 'create', 'unaudited', '--data', d, '-c', cfg]);
    assert.equal(a.code, 1);
    assert.match(a.stderr, /the command ran, but its audit line could not be written, so it is not confirmed/);
    const lost = await auditErrors(s);
    assert.ok(lost >= 3, `${lost} audit errors`);

    disk.free();
    assert.equal((await s.api('DELETE', `/v1/sessions/${made[1]}`)).status, 204);
    const ev = events(file);
    const gap = ev.at(-2);
    assert.equal(gap.event, 'audit_gap', JSON.stringify(ev.slice(-3)));
    assert.match(gap.detail, new RegExp(`^${lost} events lost from \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z to \\d{4}-[\\d:T.-]+Z: the audit log could not be written \\(No space left on device\\)$`));
    assert.equal(ev.at(-1).event, 'revoke');
    const r = await verifyAudit(file);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /note: audit_gap: \d+ events lost from/);
  } finally {
    await s.stop();
    disk.umount();
  }
});

test('audit: on_failure = continue: changes go through while the log cannot be written, and a gap line says how many events were lost, from when to when', T, async () => {
  const { s, disk, file } = await fullDiskServer('continue');
  try {
    disk.fill();
    let n = 0;
    for (; n < 40 && (await auditErrors(s)) === 0; n++) {
      const c = await s.api('POST', '/v1/sessions', { body: { user: `go${n}` } });
      assert.equal(c.status, 201);
      assert.equal((await s.api('DELETE', `/v1/sessions/${c.json.session_id}`)).status, 204);
    }
    assert.ok(n < 40, 'the audit log stopped taking lines');
    for (let i = 0; i < 2; i++) {
      const c = await s.api('POST', '/v1/sessions', { body: { user: `more${i}` } });
      assert.equal(c.status, 201);
      assert.equal((await s.api('DELETE', `/v1/sessions/${c.json.session_id}`)).status, 204);
    }
    const lost = await auditErrors(s);
    assert.ok(lost >= 4, `${lost} audit errors`);
    disk.free();
    const c = await s.api('POST', '/v1/sessions', { body: { user: 'after' } });
    assert.equal(c.status, 201);
    const ev = events(file);
    assert.equal(ev.at(-2).event, 'audit_gap');
    assert.match(ev.at(-2).detail, new RegExp(`^${lost} events lost from .+Z to .+Z: the audit log could not be written \\(No space left on device\\)$`));
    assert.equal(ev.at(-1).event, 'login');
    assert.equal(ev.at(-1).user, 'after');
    const r = await verifyAudit(file);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`note: audit_gap: ${lost} events lost from`));
  } finally {
    await s.stop();
    disk.umount();
  }
});
