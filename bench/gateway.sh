#!/bin/bash
# Gateway benchmarks on loopback (wrk, nginx from Debian; run `make` first):
#  1. req/s of plain nginx serving a small file, nginx -> nginx `return 204` auth_request, and
#     nginx -> sessiond auth_request, side by side in one run;
#  2. the p99 latency of /auth/verify idle, and during 50 concurrent logins (argon2id at the
#     default cost on the worker pool).
# usage: bench/gateway.sh [SECONDS]   (default 10 per measurement)
#        P99_ONLY=1 skips the req/s part; C=N sets wrk's connections for the p99 part.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-10}
tmp=$(mktemp -d /tmp/sessiond-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NG=$(port); AUTH204=$(port); SD=$(port)

cat > "$tmp/sessiond.ini" <<INI
[server]
public_url = http://127.0.0.1:$NG
trusted_proxies = 127.0.0.1
[login]
argon2_mem = ${ARGON2_MEM:-64m}
# Checks in flight count toward the lockout: the storm's 50 parallel logins of one user need room.
max_failures = 10000
[rule all]
policy = authenticated
INI
./sessiond apikey create bench --data "$tmp/data" > "$tmp/key"
printf 'bench password\n' | ./sessiond user add bench --password-stdin --data "$tmp/data" -c "$tmp/sessiond.ini" >/dev/null
./sessiond serve -c "$tmp/sessiond.ini" --data "$tmp/data" --listen 127.0.0.1:$SD > "$tmp/sessiond.log" 2>&1 &
pids+=($!)
sleep 1
TOKEN=$(curl -s -X POST 127.0.0.1:$SD/v1/sessions -H "Authorization: Bearer $(cat "$tmp/key")" \
  -H 'Content-Type: application/json' -d '{"user":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

mkdir -p "$tmp/www" "$tmp/ng"
echo ok > "$tmp/www/index.html"
cat > "$tmp/ng/nginx.conf" <<NGX
worker_processes 1;
pid $tmp/ng/nginx.pid;
error_log $tmp/ng/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/ng/b; proxy_temp_path $tmp/ng/p; fastcgi_temp_path $tmp/ng/f;
    uwsgi_temp_path $tmp/ng/u; scgi_temp_path $tmp/ng/s;
    upstream sessiond { server 127.0.0.1:$SD; keepalive 64; }
    upstream auth204 { server 127.0.0.1:$AUTH204; keepalive 64; }
    server { listen 127.0.0.1:$AUTH204; location / { return 204; } }
    server {
        listen 127.0.0.1:$NG;
        root $tmp/www;
        location = /plain/ { try_files /index.html =404; }
        location = /nginx204/ { auth_request /_a204; try_files /index.html =404; }
        location = /sessiond/ { auth_request /_sd; try_files /index.html =404; }
        location = /_a204 { internal; proxy_pass http://auth204; proxy_http_version 1.1;
            proxy_set_header Connection ""; proxy_pass_request_body off; proxy_set_header Content-Length ""; }
        location = /_sd { internal; proxy_pass http://sessiond/auth/verify; proxy_http_version 1.1;
            proxy_set_header Connection ""; proxy_pass_request_body off; proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI \$request_uri; proxy_set_header X-Original-Method \$request_method; }
    }
}
NGX
G='daemon off;'; [ "$(id -u)" = 0 ] && G='daemon off; user root;'
nginx -p "$tmp/ng" -c "$tmp/ng/nginx.conf" -g "$G" &
pids+=($!)
sleep 1

rps() { wrk -t1 -c50 -d"${D}s" -H "Cookie: sid=$TOKEN" "http://127.0.0.1:$NG$1" | awk '/Requests\/sec/ {print $2}'; }
check() { [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: sid=$TOKEN" "http://127.0.0.1:$NG$1")" = 200 ] || { echo "$1 does not answer 200" >&2; exit 1; }; }
for p in /plain/ /nginx204/ /sessiond/; do check $p; done
if [ -z "${P99_ONLY:-}" ]; then
echo "== req/s (wrk -t1 -c50, ${D}s each, nginx 1 worker, sessiond $(nproc) threads)"
for round in 1 2 3; do
    echo "round $round: plain nginx $(rps /plain/) | nginx->nginx 204 $(rps /nginx204/) | nginx->sessiond $(rps /sessiond/)"
done
fi

p99() { wrk -t1 -c${C:-20} -d"${D}s" --latency -H "Cookie: sid=$TOKEN" -H 'X-Original-URI: /x' -H 'X-Original-Method: GET' \
        "http://127.0.0.1:$SD/auth/verify" | awk '/^ +99%/ {print $2}'; }
echo "== /auth/verify p99 (wrk -t1 -c${C:-20} straight to sessiond)"
echo "idle: $(p99)"
node bench/login-storm.mjs "$SD" bench 'bench password' 50 > "$tmp/storm.log" 2>&1 &
storm=$!
sleep 2
echo "during 50 concurrent logins: $(p99)"
kill -TERM $storm; wait $storm 2>/dev/null || true
cat "$tmp/storm.log"
echo "idle again: $(p99)"
