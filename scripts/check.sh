#!/bin/bash
# The test driver behind `make check`: unit tests (cmocka) and integration tests (node --test)
# against the normal build, then both again against the ASan+UBSan build, then the example that
# links libsessiond through pkg-config. Then the batteries (docs/batteries.md): the constant-time
# lint (scripts/ct-lint.mjs); the layering, ABI and hardening checks (scripts/layers.sh,
# scripts/abi.sh, scripts/hardening.sh: readelf on the normal build's binary, library and nginx
# module); a scan of everything the normal integration pass made the server write for every
# secret it used (scripts/leak-scan.mjs); token quality with ent and dieharder
# (scripts/token-quality.sh); tests/batteries/ against the normal build (kill -9 crash safety,
# CRASH_CYCLES cycles, default 20; damaged data files; a full tmpfs disk; libfiu I/O faults);
# the integration suite and the store suite's Redis cases against a ThreadSanitizer build;
# every fuzz target for FUZZ_SECONDS seconds (default 60; scripts/fuzz.sh). The browser suite (tests/browser: Debian's chromium
# driven by playwright-core behind real nginx) runs against the normal and the ASan build,
# after `npm ci` when node_modules was not made from the current package-lock.json. Prints one
# "N passed, N failed" line at the end and exits non-zero when anything failed or could not run.
# The Redis backend's unit tests use a private redis-server started here on a free loopback port
# with a temporary directory (SESSD_TEST_REDIS_URL), and a three-master Redis Cluster made with
# `redis-cli --cluster create` (SESSD_TEST_REDIS_CLUSTER), all stopped at the end; the
# integration tests start their own.
#   scripts/check.sh                 everything
#   scripts/check.sh --asan-only     only the sanitizer pass
#   scripts/check.sh --unit-only B   only the unit tests of build dir B
#   scripts/check.sh --fuzz-only     only the fuzz targets
#   scripts/check.sh --ct-lint-only  only the constant-time comparison lint
#   scripts/check.sh --batteries-only  only tests/batteries/ (normal build)
#   scripts/check.sh --browser-only  only tests/browser/ (normal build)
set -u
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
W=0; [ "${CI:-}" = "true" ] && W=1
pass=0; fail=0; errors=()
logdir=$(mktemp -d /tmp/sessiond-check.XXXXXX)

note_fail() { errors+=("$1"); }

redis_pid=""
# A free loopback TCP port (Node is needed for the integration tests anyway).
free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

start_redis() {
    local dir="$logdir/redis" port i
    if ! command -v redis-server >/dev/null 2>&1; then
        note_fail "redis-server is missing (scripts/deps.sh installs it)"; fail=$((fail + 1)); return 1
    fi
    mkdir -p "$dir"
    for i in 1 2 3 4 5; do
        port=$(free_port) || continue
        redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
            --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null 2>&1
        for _ in $(seq 50); do
            if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
                redis_pid=$(cat "$dir/redis.pid")
                export SESSD_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
                echo "redis-server $redis_pid on 127.0.0.1:$port for the unit tests"
                return 0
            fi
            sleep 0.1
        done
        [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null
    done
    cat "$dir/redis.log" >&2
    note_fail "could not start redis-server"; fail=$((fail + 1)); return 1
}

cluster_pids=()
# Three Cluster nodes on free loopback ports, each in its own directory (nodes.conf), joined as
# masters without replicas.
start_cluster() {
    local i port dir seeds=() addrs=()
    for i in 1 2 3; do
        dir="$logdir/cluster$i"; mkdir -p "$dir"
        port=$(free_port) || break
        redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
            --cluster-enabled yes --cluster-config-file nodes.conf --daemonize yes \
            --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null 2>&1
        for _ in $(seq 50); do
            redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
            sleep 0.1
        done
        [ -f "$dir/redis.pid" ] && cluster_pids+=("$(cat "$dir/redis.pid")")
        addrs+=("127.0.0.1:$port")
    done
    if [ "${#cluster_pids[@]}" -eq 3 ] &&
        timeout 30 redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes \
            >"$logdir/cluster-create.log" 2>&1; then
        for _ in $(seq 100); do
            redis-cli -p "${addrs[0]##*:}" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && break
            sleep 0.1
        done
        seeds=$(IFS=,; echo "${addrs[*]}")
        export SESSD_TEST_REDIS_CLUSTER="$seeds"
        echo "redis Cluster ${cluster_pids[*]} on $seeds for the unit tests"
        return 0
    fi
    cat "$logdir/cluster-create.log" >&2
    note_fail "could not start a Redis Cluster"; fail=$((fail + 1)); return 1
}

stop_redis() {
    local p
    for p in $redis_pid "${cluster_pids[@]}"; do
        kill "$p" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    redis_pid=""; cluster_pids=()
}
trap stop_redis EXIT
start_redis
start_cluster

build() { # build DIR SAN
    if ! make -s -j"$JOBS" B="$1" SAN="$2" WERROR=$W test-bin >"$logdir/build-$1.log" 2>&1; then
        cat "$logdir/build-$1.log" >&2
        note_fail "build of $1 failed"; fail=$((fail + 1)); return 1
    fi
}

# The nginx module (make nginx-module) next to the server of build dir $1, for the module's run
# of the nginx gateway suite (tests/integration/gateway-nginx-module.test.mjs); with SAN=1 an
# ASan+UBSan build that the suite loads into Debian's nginx with libasan preloaded. Only with
# nginx-dev installed (scripts/deps.sh installs it): without it the suite says it was not run.
build_nginx_module() { # build_nginx_module DIR SAN
    if [ ! -f /usr/share/nginx/src/conf_flags ]; then
        echo "nginx module: nginx-dev is not installed, its suite is not run (scripts/deps.sh installs it)"
        export SESSIOND_SKIP_NGINX_MODULE=1
        return 0
    fi
    if ! make -s -j"$JOBS" B="$1" SAN="$2" WERROR=$W nginx-module >"$logdir/build-nginx-module-$1.log" 2>&1; then
        cat "$logdir/build-nginx-module-$1.log" >&2
        note_fail "build of the nginx module in $1 failed"; fail=$((fail + 1)); return 1
    fi
}

run_unit() { # run_unit DIR
    local t out p f
    for t in "$1"/tests/test_*; do
        [ -x "$t" ] || continue
        out=$(cd "$logdir" && timeout 300 "$OLDPWD/$t" 2>&1); rc=$?
        echo "$out" > "$logdir/$(basename "$t").$(basename "$1").log"
        p=$(grep -oE '\[  PASSED  \] [0-9]+' <<<"$out" | grep -oE '[0-9]+$' | tail -1)
        f=$(grep -oE '\[  FAILED  \] [0-9]+' <<<"$out" | grep -oE '[0-9]+$' | tail -1)
        p=${p:-0}; f=${f:-0}
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        pass=$((pass + p)); fail=$((fail + f))
        if [ "$f" -ne 0 ]; then echo "$out" >&2; note_fail "$t"; fi
        echo "unit $t: $p passed, $f failed"
    done
}

run_integration() { # run_integration BIN LABEL [DIR]
    local out p f rc conc=() dir=${3:-tests/integration/}
    # --test-concurrency exists from Node 20.10; older runners use their default.
    node --help 2>/dev/null | grep -q -- --test-concurrency && conc=(--test-concurrency=2)
    out=$(SESSIOND_BIN="$PWD/$1" timeout 900 node --test "${conc[@]}" \
          --test-reporter=tap "$dir" 2>&1); rc=$?
    echo "$out" > "$logdir/integration-$2.log"
    p=$(grep -oE '^# pass [0-9]+' <<<"$out" | grep -oE '[0-9]+$' | tail -1)
    f=$(grep -oE '^# fail [0-9]+' <<<"$out" | grep -oE '[0-9]+$' | tail -1)
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" -ne 0 ]; then grep -B2 -A30 '^not ok' <<<"$out" | head -200 >&2; note_fail "integration ($2)"; fi
    echo "integration ($2): $p passed, $f failed"
    grep -oE '^# (crash|diskfull|iofault|overload): .*' <<<"$out" | sed 's/^# /  /'
    # Known failures, marked `todo` with the issue that tracks them: counted neither way, shown.
    grep -E '^not ok .* # TODO' <<<"$out" | sed 's/^not ok [0-9]* - /  KNOWN FAILURE (todo): /'
}

# playwright-core for the browser suite, exactly as package-lock.json says. `npm ci` runs when
# node_modules was not made from the current lock file (a copy of it marks one that was).
npm_ci() {
    if [ -d node_modules/playwright-core ] && cmp -s package-lock.json node_modules/.sessiond-lock; then
        return 0
    fi
    if npm ci --no-audit --no-fund >"$logdir/npm-ci.log" 2>&1; then
        cp package-lock.json node_modules/.sessiond-lock
    else
        cat "$logdir/npm-ci.log" >&2; note_fail "npm ci (the browser suite's playwright-core)"; fail=$((fail + 1))
        return 1
    fi
}

run_browser() { # run_browser BIN LABEL
    npm_ci && run_integration "$1" "$2" tests/browser/
}

run_examples() {
    if scripts/build-examples.sh build >"$logdir/examples.log" 2>&1; then
        pass=$((pass + 1)); echo "examples: embed.c built through pkg-config and ran"
    else
        cat "$logdir/examples.log" >&2; fail=$((fail + 1)); note_fail "examples"
    fi
}

run_leak_scan() { # run_leak_scan MANIFEST_DIR
    local out
    if out=$(node scripts/leak-scan.mjs "$1" 2>"$logdir/leaks.err"); then
        pass=$((pass + 1))
    else
        fail=$((fail + 1)); head -50 "$logdir/leaks.err" >&2; note_fail "secrets leak scan"
    fi
    echo "$out"
}

run_ct_lint() { # secrets compared only in constant time: the tree passes, the fixture is caught
    local out
    if out=$(node scripts/ct-lint.mjs 2>&1); then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "$out" >&2; note_fail "ct-lint"; fi
    echo "$out" | tail -1
    out=$(node scripts/ct-lint.mjs tests/ct-lint/bad.c 2>&1)
    if [ "$(grep -c 'early-exit comparison' <<<"$out")" -eq 3 ]; then
        pass=$((pass + 1)); echo "ct-lint fixture: all 3 planted comparisons reported"
    else
        fail=$((fail + 1)); echo "$out" >&2; note_fail "ct-lint missed a planted comparison"
    fi
}

run_layers() { # run_layers BUILD_DIR: lib < core, cli < http; the library's exports; hardening
    local out s
    for s in layers abi hardening; do
        if out=$(scripts/$s.sh "$1" 2>&1); then pass=$((pass + 1)); else
            fail=$((fail + 1)); echo "$out" >&2; note_fail "$s"; fi
        echo "$out" | tail -1
    done
}

run_token_quality() { # run_token_quality BUILD_DIR
    local out
    if out=$(scripts/token-quality.sh "$1" quick 2>"$logdir/token.err"); then pass=$((pass + 1)); else
        fail=$((fail + 1)); cat "$logdir/token.err" >&2; note_fail "token quality"; fi
    echo "$out"
}

run_fuzz() { # run_fuzz SECONDS
    local out p f
    if ! make -s -j"$JOBS" WERROR=$W fuzz >"$logdir/build-fuzz.log" 2>&1; then
        cat "$logdir/build-fuzz.log" >&2
        note_fail "build of the fuzz targets failed"; fail=$((fail + 1)); return 1
    fi
    out=$(FUZZ_LOGDIR="$logdir/fuzz" scripts/fuzz.sh build-fuzz "$1" 2>"$logdir/fuzz.err")
    echo "$out"
    p=$(grep -c ', ok$' <<<"$out"); f=$(grep -c 'FAILED' <<<"$out")
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    pass=$((pass + p)); fail=$((fail + f))
    [ "$f" -eq 0 ] || { cat "$logdir/fuzz.err" >&2; note_fail "fuzz"; }
}

# The store conformance suite's Redis cases (redis, redis-cache, redis-cluster: pools, slot
# map, near cache, concurrent patches) under ThreadSanitizer; any report fails it (~10 s).
run_tsan_store() {
    local out p rc
    if ! make -s -j"$JOBS" B=build-tsan CC=clang CFLAGS=-fsanitize=thread LDFLAGS=-fsanitize=thread \
        WERROR=$W build-tsan/tests/test_store >"$logdir/build-tsan-store.log" 2>&1; then
        cat "$logdir/build-tsan-store.log" >&2
        note_fail "build of build-tsan/tests/test_store failed"; fail=$((fail + 1)); return 1
    fi
    out=$(cd "$logdir" && SESSD_TEST_FILTER='redis*' TSAN_OPTIONS="halt_on_error=1 exitcode=66" \
        timeout 600 "$OLDPWD/build-tsan/tests/test_store" 2>&1); rc=$?
    echo "$out" > "$logdir/test_store.tsan.log"
    p=$(grep -oE '\[  PASSED  \] [0-9]+' <<<"$out" | grep -oE '[0-9]+$' | tail -1)
    if [ "$rc" -eq 0 ] && [ "${p:-0}" -gt 0 ]; then
        pass=$((pass + p)); echo "unit test_store (TSan, redis*): $p passed, 0 failed"
    else
        fail=$((fail + 1)); echo "$out" | tail -60 >&2; note_fail "test_store under TSan (rc $rc)"
    fi
}

case "${1:-all}" in
--fuzz-only) run_fuzz "${FUZZ_SECONDS:-60}" ;;
--ct-lint-only) run_ct_lint ;;
--batteries-only)
    build build 0 && CRASH_CYCLES=${CRASH_CYCLES:-20} run_integration sessiond batteries tests/batteries/ ;;
--unit-only) run_unit "$2" ;;
--browser-only) build build 0 && run_browser sessiond browser ;;
--asan-only)
    build build-asan 1 && build_nginx_module build-asan 1 && {
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
        run_unit build-asan; run_integration build-asan/sessiond asan
        run_browser build-asan/sessiond browser-asan; } ;;
*)
    run_ct_lint
    if build build 0; then
        build_nginx_module build 0
        run_layers build
        run_unit build
        # The normal pass records every secret it uses and everything the server writes; the
        # leak scan then searches the lot (tests/integration/lib.mjs, scripts/leak-scan.mjs).
        mkdir -p "$logdir/leaks"
        SESSIOND_LEAK_MANIFEST="$logdir/leaks" run_integration sessiond normal
        run_leak_scan "$logdir/leaks"
        run_examples
        run_token_quality build
        # The batteries that need the real server: crash safety (CRASH_CYCLES kill -9 cycles,
        # default 20), damaged data files.
        CRASH_CYCLES=${CRASH_CYCLES:-20} run_integration sessiond batteries tests/batteries/
        run_browser sessiond browser
    fi
    if build build-asan 1; then
        build_nginx_module build-asan 1
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
        run_unit build-asan; run_integration build-asan/sessiond asan
        run_browser build-asan/sessiond browser-asan
    fi
    # ThreadSanitizer: the integration suite against a TSan build of the server; lib.mjs fails
    # a test whose server output holds a ThreadSanitizer report.
    if make -s -j"$JOBS" WERROR=$W tsan >"$logdir/build-tsan.log" 2>&1; then
        TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1" run_integration build-tsan/sessiond tsan
        run_tsan_store
    else
        cat "$logdir/build-tsan.log" >&2; note_fail "build of build-tsan failed"; fail=$((fail + 1))
    fi
    run_fuzz "${FUZZ_SECONDS:-60}" ;;
esac

for e in "${errors[@]}"; do echo "FAILED: $e (logs in $logdir)" >&2; done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
