// leak-scan.mjs - the "secrets never leak" battery. Reads the manifest that tests/integration/
// lib.mjs writes when SESSIOND_LEAK_MANIFEST=DIR is set (every API key, token and password the
// integration suite used; every server output, CLI stderr, error body, /metrics answer and kept
// sandbox with its data directories and logs) and searches all of that output for every secret:
// its text, and for tokens and API keys also the 32 raw bytes they encode. Files the tests wrote
// themselves (configs) are inputs and are not searched. Prints one "leaks: ..." line; exit 1 on
// any hit, or when the manifest is too thin to mean anything.
//   node scripts/leak-scan.mjs DIR
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: leak-scan.mjs MANIFEST_DIR');
  process.exit(2);
}
const out = path.join(dir, 'out');
const lines = (suffix) =>
  fs.existsSync(out)
    ? fs.readdirSync(out).filter((f) => f.endsWith(suffix))
        .flatMap((f) => fs.readFileSync(path.join(out, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)))
    : [];

const secrets = [...new Set(lines('-secrets.jsonl'))];
const inputs = new Set(lines('-inputs.jsonl'));
const B64 = /^[A-Za-z0-9_-]{43}$/;

/* Needles: the text of each secret, and the raw bytes of tokens and API keys. The raw form is
 * searched only for random-looking bytes (16 or more distinct values, as 32 random bytes have
 * about 30): tests also send made-up tokens such as 43 'A's, whose raw bytes are all zero and
 * fill every binary file. Their text is still searched. */
const randomLooking = (b) => new Set(b).size >= 16;
const needles = [];
let kinds = { token: 0, apikey: 0, password: 0 };
for (const s of secrets) {
  needles.push({ secret: s, form: 'text', buf: Buffer.from(s) });
  const b64 = s.startsWith('sk_') ? s.slice(3) : s;
  if (B64.test(b64)) {
    kinds[s.startsWith('sk_') ? 'apikey' : 'token']++;
    const raw = Buffer.from(b64, 'base64url');
    if (randomLooking(raw)) needles.push({ secret: s, form: 'raw bytes', buf: raw });
    if (b64 !== s) needles.push({ secret: s, form: 'text without sk_', buf: Buffer.from(b64) });
  } else {
    kinds.password++;
  }
}
/* Index by the first 4 bytes so that one pass over a file checks every needle. */
const index = new Map();
for (const n of needles) {
  const k = n.buf.readUInt32LE(0);
  if (!index.has(k)) index.set(k, []);
  index.get(k).push(n);
}

function listFiles(d) {
  const res = [];
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) res.push(...listFiles(p));
    else if (e.isFile()) res.push(p);
  }
  return res;
}

const files = [
  ...(fs.existsSync(out) ? listFiles(out).filter((f) => f.endsWith('.log')) : []),
  ...(fs.existsSync(path.join(dir, 'roots')) ? listFiles(path.join(dir, 'roots')) : []),
].filter((f) => !inputs.has(f));

const hits = [];
let bytes = 0;
const CHUNK = 16 << 20;
const OVERLAP = 64;
for (const file of files) {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(CHUNK + OVERLAP);
  let carry = 0;
  let base = 0;
  for (;;) {
    const n = fs.readSync(fd, buf, carry, CHUNK, null);
    if (n === 0) break;
    const len = carry + n;
    bytes += n;
    for (let i = 0; i + 4 <= len; i++) {
      const cands = index.get(buf.readUInt32LE(i));
      if (!cands) continue;
      for (const c of cands) {
        if (i + c.buf.length <= len && buf.compare(c.buf, 0, c.buf.length, i, i + c.buf.length) === 0) {
          hits.push({ file, offset: base + i, form: c.form, secret: c.secret });
        }
      }
    }
    carry = Math.min(OVERLAP, len);
    buf.copy(buf, 0, len - carry, len);
    base += len - carry;
  }
  fs.closeSync(fd);
}

const what = `${secrets.length} secrets (${kinds.token} tokens, ${kinds.apikey} API keys, ${kinds.password} passwords) in ${files.length} files (${(bytes / 1048576).toFixed(1)} MB)`;
if (hits.length > 0) {
  const seen = new Set();
  for (const h of hits) {
    const k = `${h.file}:${h.secret}`;
    if (seen.has(k)) continue;
    seen.add(k);
    console.error(`leak: ${h.form} of ${h.secret.slice(0, 6)}... in ${h.file} at offset ${h.offset}`);
  }
  console.log(`leaks: FOUND ${seen.size} leaks of ${what}`);
  process.exit(1);
}
/* A manifest with almost nothing in it means the recording broke, not that nothing leaked. */
if (kinds.token < 50 || kinds.apikey < 10 || kinds.password < 2 || files.length < 20) {
  console.log(`leaks: manifest too thin to mean anything: ${what}`);
  process.exit(1);
}
console.log(`leaks: none of ${what}`);
