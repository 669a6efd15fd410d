#!/bin/bash
# Instructions per request of GET /auth/verify and POST /v1/sessions/verify, counted by
# valgrind --tool=callgrind (repeatable, unlike timings on a shared machine): starts ./sessiond
# with one thread under callgrind, sends a few seconds of each request with wrk, and prints the
# inclusive instruction count of the request handlers divided by the requests served.
# usage: bench/profile.sh [SECONDS]   (default 5 per request kind; run `make` first;
#        SESSIOND_BIN=PATH profiles another build)
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-5}
BIN=${SESSIOND_BIN:-./sessiond}
tmp=$(mktemp -d /tmp/sessiond-profile.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '[server]\npublic_url = http://127.0.0.1:8080\ntrusted_proxies = 127.0.0.1\n[log]\nlevel = warn\n[rule all]\npolicy = authenticated\n' > "$tmp/sd.ini"
key=$("$BIN" apikey create bench --data "$tmp/data" -c "$tmp/sd.ini")
valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$BIN" serve -c "$tmp/sd.ini" \
    --data "$tmp/data" --listen "127.0.0.1:$port" --threads 1 > "$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 300); do curl -sf -m1 "127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.2; done
token=$(curl -sf -X POST "127.0.0.1:$port/v1/sessions" -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' \
    -d '{"user":"bench","roles":["admin","staff"],"data":{"cart":[1,2,3],"theme":"dark"},"client":{"ip":"127.0.0.1","user_agent":"Mozilla/5.0 bench"}}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
count() { awk '/requests in/ {print $1} /Non-2xx/ {print "failed answers" > "/dev/stderr"; exit 1}'; }
n_get=$(wrk -t1 -c4 -d"${D}s" -H "Cookie: sid=$token" -H 'X-Original-URI: /app' -H 'X-Original-Method: GET' \
    "http://127.0.0.1:$port/auth/verify" | count)
n_post=$(SESSIOND_BENCH_KEY=$key SESSIOND_BENCH_TOKEN=$token wrk -t1 -c4 -d"${D}s" \
    -s bench/verify.lua "http://127.0.0.1:$port" | count)
kill -TERM "$pid"
wait "$pid" || true
pid=
callgrind_annotate --inclusive=yes "$tmp/cg.out" > "$tmp/annotate"
[ -n "${KEEP:-}" ] && cp "$tmp/annotate" "$KEEP"
ir() { awk -v f="$1" '$0 ~ ":"f" " {gsub(",", "", $1); print $1; exit}' "$tmp/annotate"; }
get=$(ir sessd_auth_verify)
post=$(ir v1_verify)
echo "GET /auth/verify: $n_get requests, $((get / n_get)) instructions each in sessd_auth_verify"
echo "POST /v1/sessions/verify: $n_post requests, $((post / n_post)) instructions each in v1_verify"
grep -E 'sess_csrf_token|sess_token_decode|sess_keyed_hash|lmdb_lookup|sess_prefs_get|json_loadb|add_identity|sess_apikey_check' "$tmp/annotate" | head -12
