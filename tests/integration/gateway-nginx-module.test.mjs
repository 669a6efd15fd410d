// gateway-nginx-module.test.mjs - the nginx gateway suite (gateway-nginx.test.mjs) a second
// time, with nginx checking sessions itself through ngx_http_sessiond_module
// (examples/nginx/nginx-module.conf, docs/nginx-module.md) instead of auth_request. The module
// must be built first: `make nginx-module` (or, for the ASan pass, `make B=build-asan SAN=1
// nginx-module`); scripts/check.sh does both. Without it every test fails, saying so.

process.env.SESSIOND_NGINX_GATEWAY = 'module';
await import('./gateway-nginx.test.mjs');
