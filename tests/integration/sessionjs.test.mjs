// sessionjs.test.mjs - the behaviour of /auth/session.js, as served by the real binary, run in a
// small fake browser (node:vm with stubbed document, fetch, timers, BroadcastChannel and
// localStorage): keep-alive with the CSRF header, the expiry warning and its button, logout
// broadcast to other tabs and the storage-event fallback. A real browser test is issue 4's.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';

import { Sandbox, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
let sb, srv, script;

before(async () => {
  sb = new Sandbox('sessiond-sessionjs-');
  srv = await sb.start({ data: sb.dataDir() });
  const r = await srv.api('GET', '/auth/session.js');
  assert.equal(r.status, 200);
  script = r.text;
});

after(async () => {
  if (srv) await srv.stop();
  await sb.cleanup();
});

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

/* A fake tab. `answers` maps a path to a function giving {status, body}. */
function tab({ answers, lang = 'en', broadcast = true, channels }) {
  const calls = [];
  const timers = new Map();
  let nextTimer = 1;
  const listeners = {};
  const docListeners = {};
  const body = { children: [], append: (...c) => body.children.push(...c) };
  const el = (tag) => {
    const e = { tag, attrs: {}, children: [], textContent: '', removed: false, focused: false };
    e.setAttribute = (k, v) => (e.attrs[k] = v);
    e.append = (...c) => e.children.push(...c);
    e.remove = () => {
      e.removed = true;
      body.children = body.children.filter((x) => x !== e);
    };
    e.focus = () => (e.focused = true);
    return e;
  };
  const storage = new Map();
  const env = {
    document: {
      currentScript: { src: 'http://app.example/auth/session.js' },
      documentElement: { lang },
      body,
      createElement: el,
      addEventListener: (ev, fn) => ((docListeners[ev] ||= []).push(fn)),
    },
    location: { pathname: '/orders', search: '?page=2', assigned: [], assign: (u) => env.location.assigned.push(u) },
    localStorage: { setItem: (k, v) => storage.set(k, v) },
    addEventListener: (ev, fn) => ((listeners[ev] ||= []).push(fn)),
    setTimeout: (fn, ms) => {
      timers.set(nextTimer, { fn, ms });
      return nextTimer++;
    },
    clearTimeout: (id) => timers.delete(id),
    fetch: (url, opts = {}) => {
      calls.push({ url, opts });
      const path = new URL(url).pathname;
      const a = answers[path]();
      return Promise.resolve({
        status: a.status,
        ok: a.status >= 200 && a.status < 300,
        headers: { get: (n) => (n.toLowerCase() === 'date' ? new Date().toUTCString() : null) },
        json: () => Promise.resolve(a.body),
      });
    },
  };
  if (broadcast) {
    env.BroadcastChannel = class {
      constructor(name) {
        this.name = name;
        this.sent = [];
        channels.push(this);
      }
      postMessage(m) {
        this.sent.push(m);
        for (const c of channels) if (c !== this && c.name === this.name && c.onmessage) c.onmessage({ data: m });
      }
    };
  }
  env.self = env;
  vm.createContext(env);
  vm.runInContext(script, env);
  return {
    env, calls, timers, storage, body,
    fire: (ev, arg) => (listeners[ev] || []).forEach((fn) => fn(arg)),
    submit: (action) => (docListeners.submit || []).forEach((fn) => fn({ target: { getAttribute: () => action } })),
    /* Runs the timer due first. */
    runTimer() {
      const [id, t] = [...timers].sort((a, b) => a[1].ms - b[1].ms)[0];
      timers.delete(id);
      t.fn();
      return t.ms;
    },
  };
}

const now = () => Math.floor(Date.now() / 1000);
const session = (idleIn) => () => ({ status: 200, body: { idle_expires_at: now() + idleIn, csrf_token: 'C'.repeat(43) } });

test('session.js is valid JavaScript of a few kilobytes', T, () => {
  assert.doesNotThrow(() => new vm.Script(script));
  assert.ok(script.length < 4096);
});

test('activity sends a throttled keepalive with the CSRF header', T, async () => {
  const t = tab({ channels: [], answers: { '/auth/whoami': session(1800), '/auth/keepalive': session(1800) } });
  await flush();
  assert.equal(t.calls[0].url, 'http://app.example/auth/whoami');
  assert.equal(t.calls[0].opts.credentials, 'same-origin');
  t.fire('keydown');
  await flush();
  assert.equal(t.calls.length, 1, 'no keepalive right after the page loaded');
  // Five minutes later (the throttle is at most five minutes), two events in a row.
  vm.runInContext(`Date.now = () => ${Date.now() + 301000}`, t.env);
  t.fire('pointerdown');
  await flush();
  t.fire('scroll');
  await flush();
  const ka = t.calls.filter((c) => c.url.endsWith('/auth/keepalive'));
  assert.equal(ka.length, 1, 'one keepalive for two events in a row');
  assert.equal(ka[0].opts.method, 'POST');
  assert.equal(ka[0].opts.headers['X-CSRF-Token'], 'C'.repeat(43));
});

test('a warning with a "stay signed in" button comes before the idle deadline', T, async () => {
  let idleIn = 30;
  const t = tab({ lang: 'fr', channels: [], answers: { '/auth/whoami': () => session(idleIn)(), '/auth/keepalive': session(1800) } });
  await flush();
  assert.equal(t.body.children.length, 0, 'no warning while far from the deadline');
  idleIn = 10; // nobody extended the session meanwhile
  const ms = t.runTimer(); // the check before the warning
  assert.ok(ms > 10000 && ms <= 30000, `first check after ${ms} ms`);
  await flush();
  assert.equal(t.body.children.length, 1, 'the warning is shown');
  const box = t.body.children[0];
  assert.equal(box.attrs.role, 'alertdialog');
  const button = box.children.find((c) => c.tag === 'button');
  assert.equal(button.textContent, 'Rester connecté');
  assert.equal(button.focused, true, 'the button gets the focus');
  button.onclick();
  await flush();
  const ka = t.calls.filter((c) => c.url.endsWith('/auth/keepalive'));
  assert.equal(ka.length, 1);
  assert.equal(t.body.children.length, 0, 'the warning goes once the session is extended');
});

test('at the deadline an ended session goes to the login page', T, async () => {
  let whoami = session(5);
  const t = tab({ channels: [], answers: { '/auth/whoami': () => whoami(), '/auth/keepalive': session(1800) } });
  await flush();
  assert.equal(t.body.children.length, 1, 'close to the deadline: warned at once');
  whoami = () => ({ status: 401, body: { error: 'unauthorized' } });
  t.runTimer();
  await flush();
  assert.deepEqual(t.env.location.assigned, ['http://app.example/auth/login?rd=%2Forders%3Fpage%3D2']);
});

test('logout in one tab sends every other tab to the login page (BroadcastChannel)', T, async () => {
  const channels = [];
  const answers = { '/auth/whoami': session(1800), '/auth/keepalive': session(1800) };
  const a = tab({ channels, answers });
  const b = tab({ channels, answers });
  await flush();
  a.submit('/auth/logout');
  assert.deepEqual(channels[0].sent, ['logout']);
  assert.equal(b.env.location.assigned.length, 1);
  assert.match(b.env.location.assigned[0], /\/auth\/login\?rd=/);
  // A form posting elsewhere is not a logout.
  b.submit('/orders/new');
  assert.equal(channels[1].sent.length, 0);
});

test('without BroadcastChannel the logout goes through localStorage and storage events', T, async () => {
  const answers = { '/auth/whoami': session(1800), '/auth/keepalive': () => ({ status: 401, body: {} }) };
  const a = tab({ broadcast: false, answers });
  const b = tab({ broadcast: false, answers });
  await flush();
  a.submit('http://app.example/auth/logout');
  const [[key, value]] = [...a.storage];
  assert.equal(key, 'sessiond-logout');
  b.fire('storage', { key, newValue: value });
  assert.equal(b.env.location.assigned.length, 1);
  // A keepalive answered 401 (logged out elsewhere) is announced as well.
  const c = tab({ broadcast: false, answers });
  await flush();
  c.env.document.body.children.length = 0;
  vm.runInContext(`Date.now = () => ${Date.now() + 400000}`, c.env);
  c.fire('keydown');
  await flush();
  assert.equal(c.storage.get('sessiond-logout') !== undefined, true);
  assert.equal(c.env.location.assigned.length, 1);
});
