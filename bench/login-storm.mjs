// login-storm.mjs - N concurrent browsers logging in over and over until killed.
// usage: node bench/login-storm.mjs PORT USER PASSWORD [N]
// Prints, on SIGTERM, how many logins succeeded and their mean latency.
import http from 'node:http';

const [port, user, password, n = '50'] = process.argv.slice(2);
let ok = 0, failed = 0, totalMs = 0, stop = false;

function request(method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function browser() {
  const page = await request('GET', '/auth/login', {});
  const nonce = page.headers['set-cookie'][0].split(';')[0];
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)[1];
  const body = new URLSearchParams({ username: user, password, csrf }).toString();
  while (!stop) {
    const t0 = process.hrtime.bigint();
    const r = await request('POST', '/auth/login', {
      Cookie: nonce, 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': body.length,
    }, body);
    totalMs += Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status === 303) ok++;
    else failed++;
  }
}

process.on('SIGTERM', () => {
  stop = true;
  console.log(`logins ok ${ok}, failed ${failed}, mean ${(totalMs / Math.max(1, ok + failed)).toFixed(1)} ms`);
  process.exit(0);
});
for (let i = 0; i < Number(n); i++) browser().catch((e) => console.error(e.message));
