// ct-lint.mjs - secrets are compared only in constant time. Finds every call of a comparison
// that returns early (memcmp, bcmp, strcmp, strncmp, strcasecmp, strncasecmp, memmem, strstr)
// in the C sources whose arguments name something secret-looking (token, secret, csrf, password,
// proof, nonce, mac, seal, apikey, credential, bearer, hash, key), and fails unless the call is
// in the allow-list tests/ct-allow.txt with a reason. sess_ct_equal (sodium_memcmp) is the
// comparison for secrets. An allow-list entry that matches nothing fails too, so the list
// cannot go stale.
//   node scripts/ct-lint.mjs [FILE_OR_DIR...]   (default: lib src)
import fs from 'node:fs';
import path from 'node:path';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const ALLOW = path.join(REPO, 'tests/ct-allow.txt');
const CALL = /\b(memcmp|bcmp|strcmp|strncmp|strcasecmp|strncasecmp|memmem|strstr)\s*\(/g;
const SECRET = /token|tok\b|secret|csrf|passw|pwhash|proof|nonce|hmac|\bmac\b|seal|apikey|api_key|cred|bearer|hash|\bkey\b/i;

function cFiles(p) {
  const st = fs.statSync(p);
  if (st.isFile()) return /\.[ch]$/.test(p) ? [p] : [];
  return fs.readdirSync(p).sort().flatMap((e) => cFiles(path.join(p, e)));
}

/* The source without comments and (unless keepStrings) with string and character literals
 * blanked, same length, so that offsets match the original. */
function strip(src, keepStrings = false) {
  return src.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'/g, (m) =>
    m[0] === '/' ? m.replace(/[^\n]/g, ' ') : keepStrings ? m : m[0] + ' '.repeat(m.length - 2) + m[0]);
}

/* The text of the call's argument list, from the "(" at `open` to its matching ")". */
function argsAt(s, open) {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')' && --depth === 0) return s.slice(open + 1, i);
  }
  return s.slice(open + 1);
}

const norm = (t) => t.replace(/\s+/g, ' ').trim();

/* Allow-list lines: "FILE: CALL(ARGS) | reason"; '#' starts a comment line. */
const allow = fs.readFileSync(ALLOW, 'utf8').split('\n').map((l, i) => ({ l: l.trim(), line: i + 1 }))
  .filter(({ l }) => l && !l.startsWith('#'))
  .map(({ l, line }) => {
    const m = /^([^:]+):\s*(.+?)\s*\|\s*(.+)$/.exec(l);
    if (!m) {
      console.error(`${ALLOW}:${line}: expected "FILE: CALL(ARGS) | reason"`);
      process.exit(2);
    }
    return { file: m[1], call: norm(m[2]), reason: m[3], used: 0, line };
  });

const targets = process.argv.length > 2 ? process.argv.slice(2) : ['lib', 'src'];
const bad = [];
let calls = 0;
for (const f of targets.flatMap((t) => cFiles(path.resolve(REPO, t)))) {
  const rel = path.relative(REPO, f);
  const src = fs.readFileSync(f, 'utf8');
  const s = strip(src);
  const withStrings = strip(src, true);
  for (const m of s.matchAll(CALL)) {
    calls++;
    const open = m.index + m[0].length - 1;
    const args = argsAt(s, open);
    if (!SECRET.test(args)) continue;
    const call = norm(`${m[1]}(${withStrings.slice(open + 1, open + 1 + args.length)})`);
    const a = allow.find((x) => x.file === rel && x.call === call);
    if (a) {
      a.used++;
      continue;
    }
    const line = src.slice(0, m.index).split('\n').length;
    bad.push(`${rel}:${line}: ${call}: compares something secret-looking with an early-exit comparison; use sess_ct_equal, or allow-list it in tests/ct-allow.txt with the reason it is not a secret`);
  }
}
const stale = process.argv.length > 2 ? [] : allow.filter((a) => a.used === 0);
for (const b of bad) console.error(b);
for (const a of stale) console.error(`${ALLOW}:${a.line}: allow-list entry matches no call: ${a.file}: ${a.call}`);
if (bad.length || stale.length) {
  console.log(`ct-lint: ${bad.length} comparisons of secret-looking values not in constant time, ${stale.length} stale allow-list entries (${calls} comparison calls checked)`);
  process.exit(1);
}
console.log(`ct-lint: ${calls} comparison calls checked, ${allow.length} allow-listed with reasons, none on secrets`);
