// peer.mjs - the peer of the benchmark suite (bench/run.mjs): the popular Node setup,
// express-session with connect-redis, answering the same question sessiond's /auth/verify does.
// usage: node bench/peer.mjs PORT REDIS_PORT
//   POST /login   creates a session shaped like the suite's (user, roles, agent, address, CSRF
//                 secret, two data keys) and sets the signed cookie;
//   GET /verify   200 with X-Auth-User / X-Auth-Roles for a live session, 401 otherwise; the
//                 usual settings (resave false, saveUninitialized false, rolling false), so a
//                 verify is one Redis GET and no write, as for sessiond with touch throttled.
// Prints "peer listening on PORT" once Redis is connected and the port is open.
import crypto from 'node:crypto';
import express from 'express';
import session from 'express-session';
import RedisStore from 'connect-redis';
import { createClient } from 'redis';

const [port, redisPort] = process.argv.slice(2).map(Number);
if (!port || !redisPort) {
  console.error('usage: node bench/peer.mjs PORT REDIS_PORT');
  process.exit(2);
}
const client = createClient({ url: `redis://127.0.0.1:${redisPort}` });
client.on('error', (e) => console.error(`peer: redis: ${e.message}`));
await client.connect();

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.use(session({
  store: new RedisStore({ client, prefix: 'peer:' }),
  secret: crypto.randomBytes(32).toString('hex'),
  resave: false,
  saveUninitialized: false,
  rolling: false,
  cookie: { httpOnly: true, sameSite: 'lax', maxAge: 24 * 3600 * 1000 },
}));
app.post('/login', (req, res, next) => {
  req.session.regenerate((err) => {
    if (err) return next(err);
    Object.assign(req.session, {
      user: 'bench', roles: ['admin', 'staff'], agent: 'Mozilla/5.0 (X11; Linux x86_64) bench',
      ip: '127.0.0.1', csrf: crypto.randomBytes(32).toString('base64url'), data: { cart: [1, 2, 3], theme: 'dark' },
    });
    res.status(204).end();
  });
});
app.get('/verify', (req, res) => {
  if (!req.session.user) return res.status(401).end();
  res.set('X-Auth-User', req.session.user).set('X-Auth-Roles', req.session.roles.join(',')).status(200).end();
});
app.listen(port, '127.0.0.1', () => console.log(`peer listening on ${port}`));
