#!/bin/bash
# `make soak`: the long forms of the batteries, not run in CI. Each battery prints its own
# result; the last line is "N passed, N failed" like `make check`.
#   SOAK_FUZZ_SECONDS   seconds per fuzz target (default 600)
#   SOAK_CRASH_CYCLES   kill -9 cycles of tests/batteries/crash.test.mjs (default 100)
set -u
cd "$(dirname "$0")/.."
pass=0; fail=0
logdir=$(mktemp -d /tmp/sessiond-soak.XXXXXX)

step() { # step NAME COMMAND...
    local name=$1; shift
    if "$@" >"$logdir/$name.log" 2>&1; then
        pass=$((pass + 1)); echo "soak $name: ok"
    else
        fail=$((fail + 1)); tail -40 "$logdir/$name.log" >&2; echo "soak $name: FAILED (log in $logdir)"
    fi
    grep -E '^(# )?(fuzz |crash: |diskfull: |iofault: |overload: |token: )' "$logdir/$name.log" || true
}

make -s -j2 test-bin fuzz || { echo "0 passed, 1 failed"; exit 1; }
step fuzz scripts/fuzz.sh build-fuzz "${SOAK_FUZZ_SECONDS:-600}"
step tokens scripts/token-quality.sh build soak
step batteries env CRASH_CYCLES="${SOAK_CRASH_CYCLES:-100}" SESSIOND_BIN="$PWD/sessiond" \
    node --test --test-reporter=tap tests/batteries/
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
