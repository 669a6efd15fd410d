#!/bin/bash
# Runs every libFuzzer target of build dir DIR for SECONDS seconds each, two at a time, from the
# committed seeds (fuzz/corpus/TARGET, read only: new inputs go to a scratch directory) with the
# target's dictionary. A crash, leak, timeout or broken property fails the target; its input is
# kept in the log directory. Prints "fuzz TARGET: N runs, ok" or "... FAILED" per target and
# exits non-zero when any failed.
#   scripts/fuzz.sh DIR SECONDS
set -u
cd "$(dirname "$0")/.."
dir=${1:?build dir}; secs=${2:?seconds}
JOBS=${JOBS:-2}
logdir=${FUZZ_LOGDIR:-$(mktemp -d /tmp/sessiond-fuzz.XXXXXX)}
mkdir -p "$logdir"
targets=()
for t in "$dir"/fuzz/fuzz_*; do
    [ -x "$t" ] && [ -f "$t" ] && targets+=("$(basename "$t")")
done
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz: no targets in $dir/fuzz" >&2; exit 1; }

run_one() { # run_one TARGET
    local t=$1 work="$logdir/$1.corpus" dict=() rc
    mkdir -p "$work"
    [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
    # -timeout: one input taking over 10 s is a hang; the outer timeout bounds the whole run.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        timeout $((secs + 120)) "$dir/fuzz/$t" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 "${dict[@]}" \
        -artifact_prefix="$logdir/$t-" "$work" "fuzz/corpus/$t" >"$logdir/$t.log" 2>&1
    rc=$?
    local runs
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$logdir/$t.log" | grep -oE '[0-9]+$')
    if [ "$rc" -eq 0 ]; then
        echo "fuzz $t: ${runs:-?} runs in ${secs}s, ok"
    else
        tail -40 "$logdir/$t.log" >&2
        echo "fuzz $t: FAILED (exit $rc; log and crashing input in $logdir)"
    fi
}

export -f run_one
export dir secs logdir
out=$(printf '%s\n' "${targets[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one {}')
echo "$out"
! grep -q FAILED <<<"$out"
