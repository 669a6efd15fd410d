// http1.test.mjs - black-box HTTP/1.1 robustness with the llhttp-derived conformance corpus
// (../shared/conformance/http1-requests.json from the repository root; see its README.md).
//
// Each request goes on a fresh TCP connection with a 2 s bound. The corpus comes from parser
// tests that feed fragments, so many requests stop before the blank line that ends the header
// block; a server would then just wait for more. To make the server decide, a missing header
// terminator is appended (and, for `accept` cases, an incomplete body is completed: Content-Length
// padded, chunked bodies given their last chunk), nothing else is changed.
//
// `reject` cases must be answered with a 4xx status line by the HTTP layer or with a closed
// connection, and must never succeed (2xx). A 4xx that comes from sessiond's router (its JSON
// answers, marked by X-Content-Type-Options) means the request was parsed and processed; those,
// and requests left waiting at the 2 s bound, are listed in the test's diagnostics.
// `accept` cases must get a status line. After the whole corpus the server still answers /healthz.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Sandbox, startWithKey, rawExchange, statusOf, CORPUS, TEST_TIMEOUT_MS } from './lib.mjs';

const T = { timeout: TEST_TIMEOUT_MS };
const PARALLEL = 6;
let sb;
let s;
let corpus;

before(async () => {
  corpus = JSON.parse(fs.readFileSync(CORPUS, 'utf8'));
  sb = new Sandbox();
  s = await startWithKey(sb);
});
after(async () => {
  try {
    if (s?.running) await s.stop();
  } finally {
    await sb?.cleanup();
  }
});

/* Ends the header block if the request leaves it open; with `body`, completes the first
 * request's body too (Content-Length padding, chunked termination). */
function complete(raw, body) {
  let text = raw.toString('latin1');
  let end = text.indexOf('\r\n\r\n');
  let sepLen = 4;
  if (end < 0 && text.indexOf('\n\n') >= 0) {
    end = text.indexOf('\n\n');
    sepLen = 2;
  }
  if (end < 0) {
    text += text.endsWith('\r\n') ? '\r\n' : '\r\n\r\n';
    end = text.indexOf('\r\n\r\n', Math.max(0, text.length - 5));
    sepLen = 4;
  }
  if (body) {
    const head = text.slice(0, end);
    const rest = text.slice(end + sepLen);
    const te = /^transfer-encoding:[ \t]*([^\r\n]*)$/gim;
    let chunked = false;
    for (const m of head.matchAll(te)) chunked = /(^|,)\s*chunked\s*$/i.test(m[1].trim());
    const cl = /^content-length:[ \t]*(\d+)[ \t]*$/im.exec(head);
    if (chunked) {
      if (rest === '') text += '0\r\n\r\n';
      else if (!rest.endsWith('\r\n\r\n')) text += rest.endsWith('\r\n') ? '\r\n' : '\r\n\r\n';
    } else if (cl && Number(cl[1]) > rest.length) {
      text += 'x'.repeat(Number(cl[1]) - rest.length);
    }
  }
  return Buffer.from(text, 'latin1');
}

/* Runs `fn` over `items` with at most `n` at a time, in order of results. */
async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

/* What the server did with one request. */
function classify(x) {
  const status = statusOf(x.data);
  const headText = x.data.toString('latin1').split('\r\n\r\n')[0];
  const byRouter = status !== null && /^x-content-type-options:/im.test(headText);
  if (status !== null) return { kind: byRouter ? 'processed' : 'http', status };
  if (x.closed) return { kind: 'closed', status: null };
  return { kind: 'pending', status: null };
}

const label = (c, i) => `#${i} ${c.file}:${c.line} "${c.name}"`;

test('the corpus is there and as described', T, () => {
  assert.ok(Array.isArray(corpus));
  assert.equal(corpus.length, 122);
  assert.equal(corpus.filter((c) => c.expect === 'reject').length, 53);
  assert.equal(corpus.filter((c) => c.expect === 'accept').length, 69);
});

test('reject cases: a 4xx or a closed connection, never a 2xx; the server survives', T, async (t) => {
  const cases = corpus.map((c, i) => ({ c, i })).filter(({ c }) => c.expect === 'reject');
  const results = await pool(cases, PARALLEL, async ({ c, i }) => {
    const x = await rawExchange(s.port, complete(Buffer.from(c.b64, 'base64'), false), { timeout: 2000 });
    return { c, i, ...classify(x), first: x.data.toString('latin1').split('\r\n')[0] };
  });

  const rejected = results.filter((r) => (r.kind === 'http' && r.status >= 400 && r.status < 500) || r.kind === 'closed');
  const succeeded = results.filter((r) => r.status !== null && r.status >= 200 && r.status < 300);
  const serverError = results.filter((r) => r.status !== null && r.status >= 500);
  const processed = results.filter((r) => r.kind === 'processed');
  const pending = results.filter((r) => r.kind === 'pending');
  t.diagnostic(`reject cases: ${rejected.length}/${results.length} rejected ` +
    `(${rejected.filter((r) => r.kind === 'http').length} with a 4xx, ${rejected.filter((r) => r.kind === 'closed').length} closed)`);
  for (const r of processed) t.diagnostic(`NOT REJECTED (parsed and routed, ${r.status}): ${label(r.c, r.i)}`);
  for (const r of pending) t.diagnostic(`NOT REJECTED (no answer in 2 s, server waits for more): ${label(r.c, r.i)}`);
  for (const r of results.filter((x) => x.kind === 'http' && !(x.status >= 400 && x.status < 500))) t.diagnostic(`odd answer ${r.first}: ${label(r.c, r.i)}`);

  assert.deepEqual(succeeded.map((r) => `${label(r.c, r.i)} -> ${r.first}`), [], 'reject cases answered with a 2xx');
  assert.deepEqual(serverError.map((r) => `${label(r.c, r.i)} -> ${r.first}`), [], 'reject cases answered with a 5xx');
  await s.assertAlive('after the reject corpus');
});

test('accept cases: each gets an HTTP status line; the server survives', T, async (t) => {
  const cases = corpus.map((c, i) => ({ c, i })).filter(({ c }) => c.expect === 'accept');
  const results = await pool(cases, PARALLEL, async ({ c, i }) => {
    const x = await rawExchange(s.port, complete(Buffer.from(c.b64, 'base64'), true), { timeout: 2000 });
    return { c, i, status: statusOf(x.data), x };
  });
  const noStatus = results.filter((r) => r.status === null);
  const counts = {};
  for (const r of results) counts[r.status] = (counts[r.status] || 0) + 1;
  t.diagnostic(`accept cases by status: ${JSON.stringify(counts)}`);
  for (const r of results.filter((x) => x.status === 400)) t.diagnostic(`accept case refused with 400: ${label(r.c, r.i)}`);
  assert.deepEqual(noStatus.map((r) => `${label(r.c, r.i)} (${r.x.timedOut ? 'timed out' : 'closed'}, got ${JSON.stringify(r.x.data.toString('latin1').slice(0, 80))})`), [], 'accept cases without a status line');
  for (const r of results) assert.ok(r.status >= 100 && r.status < 600, `${label(r.c, r.i)}: ${r.status}`);
  assert.equal(results.filter((r) => r.status >= 500).length, 0, 'no 5xx for well-formed requests');
  await s.assertAlive('after the accept corpus');
});

test('the whole corpus again on one connection each, all at once: still alive', T, async () => {
  await Promise.all(corpus.map((c) => rawExchange(s.port, Buffer.from(c.b64, 'base64'), { timeout: 2000, halfClose: true })));
  await s.assertAlive('after the concurrent raw corpus');
  const m = await s.api('GET', '/metrics');
  assert.equal(m.status, 200);
});

test('a server that got the corpus still stops cleanly', T, async () => {
  await s.stop();
});
