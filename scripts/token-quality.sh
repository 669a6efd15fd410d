#!/bin/bash
# Token quality: are decoded session tokens indistinguishable from random bytes?
#   scripts/token-quality.sh DIR [quick|soak]
# DIR/tools/token-stream makes tokens the way the server does (sess_token_new), takes each
# through its text form and sess_token_decode, and writes the decoded bytes.
#
# 1. ent over 10 MB (10485760 bytes) of decoded tokens. Pass thresholds, each several standard
#    deviations wide for 10 MB of random bytes, so that a good generator fails about once in
#    thousands of runs and a biased one (one stuck bit, a repeated token, a skewed alphabet)
#    fails every time:
#      entropy >= 7.9999 bits per byte (random: 7.99998)
#      chi-square exceeded between 0.01% and 99.99% of the time
#      arithmetic mean within 127.5 +- 0.2 (sd 0.023)
#      Monte Carlo pi error <= 0.2% (sd about 0.04%)
#      |serial correlation| <= 0.002 (sd about 0.0003)
# 2. dieharder on a fresh stream of decoded tokens (stdin; files would be rewound and reused):
#    quick: birthdays, count-1s stream, runs, STS monobit, STS runs; soak adds operm5, the two
#    rank tests, squeeze and STS serial. -Y 1 re-runs a WEAK result with more data until it is
#    PASSED or FAILED; any FAILED fails the battery, and every test must report.
set -u
dir=${1:?build dir}; mode=${2:-quick}
gen="$dir/tools/token-stream"
[ -x "$gen" ] || { echo "token: $gen not built" >&2; exit 1; }
for t in ent dieharder; do
    command -v $t >/dev/null || { echo "token: $t is not installed (apt-get install ent dieharder)" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/sessiond-tokens.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
bad=0

"$gen" 10485760 >"$tmp/tokens.bin" || { echo "token: generator failed" >&2; exit 1; }
ent "$tmp/tokens.bin" >"$tmp/ent.txt"
ent -t "$tmp/tokens.bin" | tail -1 >"$tmp/ent.csv"
IFS=, read -r _ bytes entropy _ mean pi serial <"$tmp/ent.csv"
chi=$(grep -oE 'exceed this value (less than |more than )?[0-9.]+ percent' "$tmp/ent.txt")
chip=$(grep -oE '[0-9.]+ percent' <<<"$chi" | grep -oE '^[0-9.]+')
verdict=$(awk -v b="$bytes" -v e="$entropy" -v m="$mean" -v p="$pi" -v s="$serial" -v c="$chip" \
    -v lm="$(grep -c 'less than\|more than' <<<"$chi")" 'BEGIN {
    why = "";
    if (b != 10485760) why = why " size " b;
    if (e < 7.9999) why = why " entropy " e;
    if (lm > 0 || c < 0.01 || c > 99.99) why = why " chi-square p " c "%";
    if (m < 127.3 || m > 127.7) why = why " mean " m;
    pe = (p - 3.14159265) / 3.14159265; if (pe < 0) pe = -pe;
    if (pe > 0.002) why = why " pi " p;
    if (s < -0.002 || s > 0.002) why = why " serial correlation " s;
    print why == "" ? "ok" : "FAILED:" why }')
echo "token: ent on 10 MB of decoded tokens: entropy $entropy bits/byte, chi-square exceeded ${chip}% of the time, mean $mean, pi $pi, serial correlation $serial: $verdict"
[ "$verdict" = ok ] || bad=1

tests=(${TOKEN_DIEHARDER_TESTS:-0 8 15 100 101})
[ "$mode" = soak ] && tests+=(1 2 3 13 102)
for d in "${tests[@]}"; do
    out=$( ("$gen" 2>/dev/null) | timeout 900 dieharder -g 200 -d "$d" -Y 1 2>&1)
    rows=$(grep -E '\|(  PASSED  |   WEAK   |  FAILED  )' <<<"$out")
    name=$(awk -F'|' 'NR==1 {gsub(/ /, "", $1); print $1}' <<<"$rows")
    # -Y 1 prints the first batch of results, then again with more samples while any is WEAK:
    # the verdict is the last batch (as many rows as the first); FAILED anywhere fails.
    k=$(awk -F'|' 'NR==1 {p=$4} $4==p {n++} END {print n+0}' <<<"$rows")
    last=$(tail -n "${k:-1}" <<<"$rows")
    n=$(grep -c . <<<"$last"); f=$(grep -c FAILED <<<"$rows"); w=$(grep -c WEAK <<<"$last")
    rr=$(($(grep -c . <<<"$rows") / ${k:-1} - 1))
    pv=$(awk -F'|' '{gsub(/ /, "", $5); printf "%s ", $5}' <<<"$last")
    if [ -z "$rows" ] || [ "$k" -eq 0 ] || [ "$f" -ne 0 ] || [ "$w" -ne 0 ]; then
        bad=1; echo "token: dieharder -d $d ${name:-?}: FAILED ($n results, $f failed, $w weak after -Y 1; p $pv)"
        echo "$out" | tail -20 >&2
    else
        echo "token: dieharder -d $d $name: $n passed (p $pv)$([ "$rr" -gt 0 ] && echo ", after $rr re-runs of a WEAK result")"
    fi
done
exit $bad
