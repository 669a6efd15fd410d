// gateway-nginx-module.test.mjs - the nginx gateway suite (gateway-nginx.test.mjs) a second
// time, with nginx checking sessions itself through ngx_http_sessiond_module
// (examples/nginx/nginx-module.conf, docs/nginx-module.md) instead of auth_request. The module
// must be built first: `make nginx-module` (or, for the ASan pass, `make B=build-asan SAN=1
// nginx-module`); scripts/check.sh does both. Without it every test fails, saying so, unless
// scripts/check.sh found no nginx-dev to build it with (SESSIOND_SKIP_NGINX_MODULE=1): then the
// one test below is reported as skipped, with the reason.

import { test } from 'node:test';

if (process.env.SESSIOND_SKIP_NGINX_MODULE === '1') {
  test('the nginx gateway suite with ngx_http_sessiond_module', { skip: 'nginx-dev is not installed (scripts/deps.sh)' }, () => {});
} else {
  process.env.SESSIOND_NGINX_GATEWAY = 'module';
  await import('./gateway-nginx.test.mjs');
}
