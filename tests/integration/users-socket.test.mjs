// users-socket.test.mjs - `sessiond user` against a memory-store server goes through its admin
// socket, and the password travels in the request, never in argv or output.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, startWithKey, run, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb;

before(() => {
  sb = new Sandbox();
});
after(async () => {
  await sb?.cleanup();
});

test('memory store: a user added through the admin socket, password kept out of sight', T, async () => {
  const s = await startWithKey(sb, { store: 'memory' });
  try {
    const add = await run(['user', 'add', 'sockuser', '--roles', 'ops', '--password-stdin', '--store', 'memory', '--data', s.data],
      { input: 'socket password\n' });
    assert.equal(add.code, 0, add.stderr);
    const users = await run(['user', 'list', '--store', 'memory', '--data', s.data]);
    assert.equal(users.code, 0, users.stderr);
    assert.match(users.stdout, /^sockuser\tops\tenabled\t/m);
    assert.doesNotMatch(users.stdout + add.stdout + add.stderr + s.output, /socket password/);
  } finally {
    await s.stop();
  }
});
