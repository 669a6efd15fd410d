// demo.mjs - `make demo`: sessiond, nginx (examples/nginx/nginx.conf) and a small protected app on
// loopback, with a demo user. Prints the URL and the credentials; Ctrl-C stops everything and
// removes the temporary directory. Needs ./sessiond built and nginx installed (make deps).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(REPO, 'sessiond');
const USER = 'demo', PASSWORD = 'demo-password';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sessiond-demo-'));
const children = [];

const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function stop(code = 0) {
  for (const c of children) c.kill('SIGTERM');
  setTimeout(() => { fs.rmSync(dir, { recursive: true, force: true }); process.exit(code); }, 500);
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

const [nginxPort, sessiondPort] = [await freePort(), await freePort()];
const notes = [];
const app = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/notes') {
      notes.push(new URLSearchParams(body).get('note') || '');
      res.writeHead(303, { Location: '/' });
      return res.end();
    }
    const user = req.headers['x-auth-user'];
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><meta charset="utf-8"><title>Demo app</title>
<link rel="stylesheet" href="/auth/style.css"><main><h1>Hello, ${esc(user)}</h1>
<p>Roles: ${esc(req.headers['x-auth-roles'])}. This page is served by a small app behind nginx;
it knows who you are only from the X-Auth-* headers sessiond gave nginx.</p>
<form method="post" action="/notes"><label for="note">A note</label>
<input type="text" id="note" name="note"><button>Save</button></form>
<ul>${notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>
<form method="post" action="/auth/logout"><input type="hidden" name="csrf_token" value="${esc(req.headers['x-auth-csrf-token'])}">
<button>Sign out</button></form></main></html>`);
  });
});
await new Promise((r) => app.listen(0, '127.0.0.1', r));

const ini = path.join(dir, 'sessiond.ini');
fs.writeFileSync(ini, `[server]\npublic_url = http://127.0.0.1:${nginxPort}\ntrusted_proxies = 127.0.0.1\n` +
  `[rule assets]\npath = /static/*\npolicy = public\n[rule app]\npolicy = authenticated\n`);
const data = path.join(dir, 'data');
const add = spawnSync(BIN, ['user', 'add', USER, '--roles', 'admin', '--password-stdin', '-c', ini, '--data', data],
  { input: `${PASSWORD}\n`, encoding: 'utf8' });
if (add.status !== 0) { console.error(add.stderr); stop(1); }
children.push(spawn(BIN, ['serve', '-c', ini, '--data', data, '--listen', `127.0.0.1:${sessiondPort}`], { stdio: 'inherit' }));

const ngDir = path.join(dir, 'nginx');
fs.mkdirSync(ngDir);
let conf = fs.readFileSync(path.join(REPO, 'examples/nginx/nginx.conf'), 'utf8');
for (const [k, v] of Object.entries({ PREFIX: ngDir, LISTEN: `127.0.0.1:${nginxPort}`, SESSIOND: `127.0.0.1:${sessiondPort}`, APP: `127.0.0.1:${app.address().port}` }))
  conf = conf.replaceAll(`@${k}@`, v);
fs.writeFileSync(path.join(ngDir, 'nginx.conf'), conf);
const g = process.getuid() === 0 ? 'daemon off; user root;' : 'daemon off;';
children.push(spawn('nginx', ['-p', ngDir, '-c', path.join(ngDir, 'nginx.conf'), '-e', path.join(ngDir, 'error.log'), '-g', g], { stdio: 'inherit' }));

setTimeout(() => {
  console.log(`\nsessiond demo: open http://127.0.0.1:${nginxPort}/ and sign in as ${USER} / ${PASSWORD}`);
  console.log('Ctrl-C stops sessiond, nginx and the app.\n');
}, 800);
