// packaging.test.mjs - `make install` (binary, library, man page, systemd unit), the unit's
// hardening (checked by systemd-analyze verify), and `make deb`: its control fields and
// contents, and an install with dpkg into a scratch root from which `sessiond --version` runs.
// Uses the normal build (build/), which every pass of scripts/check.sh has made first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, REPO, TEST_TIMEOUT_MS, childEnv } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS * 4 };
let sb;

/* Runs a command; resolves {code, stdout, stderr} (bounded in time). */
function sh(cmd, args, { env = {}, cwd = REPO, timeout = 180000 } = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: childEnv(env), timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

before(() => {
  sb = new Sandbox('sessiond-pkg-');
});
/* The installed trees hold only the repository's own files (docs, headers): they are removed
 * before the sandbox is kept for the secrets scan, whose test words (e.g. "wrong password")
 * also occur in the documentation. */
after(async () => {
  for (const d of ['dest', 'units', 'root']) fs.rmSync(path.join(sb.root, d), { recursive: true, force: true });
  await sb?.cleanup();
});

test('make install: binary, library, man page and a hardened systemd unit that systemd-analyze accepts', T, async () => {
  const dest = path.join(sb.root, 'dest');
  const r = await sh('make', ['-s', '--no-print-directory', 'install', `DESTDIR=${dest}`, 'PREFIX=/usr']);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['usr/bin/sessiond', 'usr/lib/libsessiond.so.0', 'usr/lib/libsessiond.a', 'usr/include/sessiond/session.h',
    'usr/lib/pkgconfig/sessiond.pc', 'usr/share/man/man8/sessiond.8', 'usr/lib/systemd/system/sessiond.service',
    'usr/share/doc/sessiond/sessiond.ini', 'usr/share/doc/sessiond/logrotate']) {
    assert.ok(fs.existsSync(path.join(dest, f)), `${f} installed`);
  }
  const v = await sh(path.join(dest, 'usr/bin/sessiond'), ['--version']);
  assert.equal(v.stdout, 'sessiond 0.1.0\n');

  // The man page renders without a warning and names every command group.
  const man = await sh('man', ['--warnings', '-l', path.join(dest, 'usr/share/man/man8/sessiond.8')], { env: { MANWIDTH: '100', MAN_KEEP_FORMATTING: '' } });
  assert.equal(man.code, 0, man.stderr);
  assert.equal(man.stderr, '');
  for (const w of ['serve', 'apikey', 'user add', 'session revoke', '--created-before', 'audit verify', 'config check', 'SIGHUP', 'EXIT STATUS']) {
    assert.ok(man.stdout.includes(w), `man page mentions ${w}`);
  }

  const unitPath = path.join(dest, 'usr/lib/systemd/system/sessiond.service');
  const unit = fs.readFileSync(unitPath, 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/sessiond serve -c \/etc\/sessiond\/sessiond\.ini --data \/var\/lib\/sessiond$/m);
  for (const line of ['DynamicUser=yes', 'StateDirectory=sessiond', 'ProtectSystem=strict', 'NoNewPrivileges=yes',
    'SystemCallFilter=@system-service', 'ProtectHome=yes', 'PrivateTmp=yes', 'CapabilityBoundingSet=', 'LimitCORE=0',
    'ExecReload=/bin/kill -HUP $MAINPID']) {
    assert.ok(unit.split('\n').includes(line), `unit has ${line}`);
  }
  // systemd-analyze verify checks the executables exist: point the unit at the installed tree.
  const verifyDir = path.join(sb.root, 'units');
  fs.mkdirSync(verifyDir);
  fs.writeFileSync(path.join(verifyDir, 'sessiond.service'), unit.replaceAll('/usr/bin/sessiond', path.join(dest, 'usr/bin/sessiond')));
  const sa = await sh('systemd-analyze', ['verify', path.join(verifyDir, 'sessiond.service')], { env: { MANPATH: path.join(dest, 'usr/share/man') } });
  assert.equal(sa.code, 0, `systemd-analyze verify: ${sa.stdout}${sa.stderr}`);
  assert.equal(sa.stderr.trim(), '');
  const sec = await sh('systemd-analyze', ['security', '--offline=yes', path.join(verifyDir, 'sessiond.service')]);
  const m = sec.stdout.match(/Overall exposure level for sessiond\.service: ([\d.]+)/);
  assert.ok(m, sec.stdout + sec.stderr);
  assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]}`);
});

test('make deb: control fields, contents, and an install with dpkg from which sessiond --version runs', T, async () => {
  const r = await sh('make', ['-s', '--no-print-directory', 'deb']);
  assert.equal(r.code, 0, r.stderr);
  const deb = path.join(REPO, r.stdout.trim().split('\n').at(-1));
  assert.match(deb, /build\/sessiond_0\.1\.0_[a-z0-9]+\.deb$/);
  assert.ok(fs.existsSync(deb));

  const info = await sh('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Depends']);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /^Package: sessiond$/m);
  assert.match(info.stdout, /^Version: 0\.1\.0$/m);
  const depends = info.stdout.match(/^Depends: (.*)$/m)[1].split(', ');
  for (const lib of ['libc6', 'libsodium23', 'liblmdb0', 'libjansson4']) assert.ok(depends.includes(lib), `Depends ${lib}: ${depends}`);
  // Every dependency is a package this system has installed (names that exist).
  const q = await sh('dpkg-query', ['-W', '-f=${Package} ${Status}\\n', ...depends]);
  assert.equal(q.code, 0, q.stderr);
  for (const d of depends) assert.match(q.stdout, new RegExp(`^${d.replace(/[.+]/g, '\\$&')} install ok installed$`, 'm'));

  const list = await sh('dpkg-deb', ['-c', deb]);
  for (const f of ['./usr/bin/sessiond', './usr/share/man/man8/sessiond.8.gz', './lib/systemd/system/sessiond.service',
    './etc/sessiond/sessiond.ini', './etc/logrotate.d/sessiond', './usr/share/doc/sessiond/operations.md']) {
    assert.match(list.stdout, new RegExp(` ${f.replace(/[.+]/g, '\\$&')}$`, 'm'), f);
  }
  assert.match(list.stdout, /^drwxr-xr-x root\/root +0 [\d-]+ [\d:]+ \.\/$/m, 'the root directory is 0755, owned by root');
  const conffiles = await sh('sh', ['-c', `dpkg-deb --ctrl-tarfile '${deb}' | tar -xOf - ./conffiles`]);
  assert.equal(conffiles.stdout, '/etc/sessiond/sessiond.ini\n/etc/logrotate.d/sessiond\n');

  // A real dpkg install into a scratch root with its own database (the libraries come from
  // this system, so their packages are not in that database: --force-depends).
  const root = path.join(sb.root, 'root');
  const admin = path.join(root, 'var/lib/dpkg');
  fs.mkdirSync(path.join(admin, 'info'), { recursive: true });
  fs.mkdirSync(path.join(admin, 'updates'));
  fs.writeFileSync(path.join(admin, 'status'), '');
  fs.writeFileSync(path.join(admin, 'available'), '');
  const inst = await sh('dpkg', [`--instdir=${root}`, `--admindir=${admin}`, '--force-depends', '--force-script-chrootless',
    '--log=/dev/null', '-i', deb]);
  assert.equal(inst.code, 0, inst.stdout + inst.stderr);
  const st = await sh('dpkg-query', [`--admindir=${admin}`, '-W', '-f=${Status}', 'sessiond']);
  assert.equal(st.stdout, 'install ok installed');
  const v = await sh(path.join(root, 'usr/bin/sessiond'), ['--version']);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout, 'sessiond 0.1.0\n');
  const check = await sh(path.join(root, 'usr/bin/sessiond'), ['config', 'check', '-c', path.join(root, 'etc/sessiond/sessiond.ini')]);
  assert.equal(check.code, 0, `the packaged configuration is valid: ${check.stderr}`);
  const rm = await sh('dpkg', [`--instdir=${root}`, `--admindir=${admin}`, '--force-script-chrootless', '--log=/dev/null', '--purge', 'sessiond']);
  assert.equal(rm.code, 0, rm.stdout + rm.stderr);
  assert.ok(!fs.existsSync(path.join(root, 'usr/bin/sessiond')), 'purge removes the binary');
});
