#!/bin/bash
# The nginx module against the other gateways, side by side in one run (loopback, wrk, Debian's
# nginx with one worker; run `make` and `make nginx-module` first):
#   A  plain nginx serving a small static file (no check at all)
#   E  nginx -> auth_request -> sessiond /auth/verify, then the same file
#   H  nginx with ngx_http_sessiond_module (sessiond_policy authenticated), then the same file
# Each round measures A, E and H in turn with the same session cookie; three rounds.
# usage: bench/nginx-module.sh [SECONDS]   (default 10 per measurement)
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-10}
MOD=${SESSIOND_NGINX_MODULE:-$PWD/build/ngx_http_sessiond_module.so}
[ -f "$MOD" ] || { echo "no $MOD: run make nginx-module" >&2; exit 1; }
tmp=$(mktemp -d /tmp/sessiond-bench-mod.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NG=$(port); SD=$(port)

cat > "$tmp/sessiond.ini" <<INI
[server]
public_url = http://127.0.0.1:$NG
trusted_proxies = 127.0.0.1
[rule all]
policy = authenticated
INI
./sessiond apikey create bench --data "$tmp/data" > "$tmp/key"
./sessiond serve -c "$tmp/sessiond.ini" --data "$tmp/data" --listen 127.0.0.1:$SD > "$tmp/sessiond.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "127.0.0.1:$SD/healthz" && break; sleep 0.1; done
TOKEN=$(curl -s -X POST 127.0.0.1:$SD/v1/sessions -H "Authorization: Bearer $(cat "$tmp/key")" \
  -H 'Content-Type: application/json' -d '{"user":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

mkdir -p "$tmp/www" "$tmp/ng"
echo ok > "$tmp/www/index.html"
cat > "$tmp/ng/nginx.conf" <<NGX
load_module $MOD;
worker_processes 1;
pid $tmp/ng/nginx.pid;
error_log $tmp/ng/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/ng/b; proxy_temp_path $tmp/ng/p; fastcgi_temp_path $tmp/ng/f;
    uwsgi_temp_path $tmp/ng/u; scgi_temp_path $tmp/ng/s;
    sessiond_data_dir $tmp/data;
    upstream sessiond { server 127.0.0.1:$SD; keepalive 64; }
    server {
        listen 127.0.0.1:$NG;
        root $tmp/www;
        location = /A/ { try_files /index.html =404; }
        location = /E/ { auth_request /_sd; try_files /index.html =404; }
        location = /H/ { sessiond_policy authenticated; try_files /index.html =404; }
        location = /_sd { internal; proxy_pass http://sessiond/auth/verify; proxy_http_version 1.1;
            proxy_set_header Connection ""; proxy_pass_request_body off; proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI \$request_uri; proxy_set_header X-Original-Method \$request_method; }
    }
}
NGX
G='daemon off;'; [ "$(id -u)" = 0 ] && G='daemon off; user root;'
nginx -p "$tmp/ng" -c "$tmp/ng/nginx.conf" -g "$G" &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "127.0.0.1:$NG/A/" && break; sleep 0.1; done

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
for p in /A/ /E/ /H/; do
    [ "$(code -H "Cookie: sid=$TOKEN" "http://127.0.0.1:$NG$p")" = 200 ] || { echo "$p does not answer 200" >&2; exit 1; }
done
# The checks are real: without the cookie E and H refuse.
[ "$(code "http://127.0.0.1:$NG/E/")" = 401 ] && [ "$(code "http://127.0.0.1:$NG/H/")" = 401 ] ||
    { echo "E or H let a request without a session through" >&2; exit 1; }

rps() { wrk -t1 -c50 -d"${D}s" -H "Cookie: sid=$TOKEN" "http://127.0.0.1:$NG$1" | awk '/Requests\/sec/ {print $2}'; }
echo "== req/s (wrk -t1 -c50, ${D}s each, nginx 1 worker, sessiond $(nproc) threads, $(nproc) cores)"
for round in 1 2 3; do
    a=$(rps /A/); e=$(rps /E/); h=$(rps /H/)
    echo "round $round: A plain $a | E auth_request $e | H module $h | H/A $(python3 -c "print(round($h/$a,2))") | H/E $(python3 -c "print(round($h/$e,2))")"
done
