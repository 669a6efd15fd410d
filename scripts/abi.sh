#!/bin/bash
# libsessiond.so exports exactly the functions its installed headers mark SESS_EXPORT
# (include/sessiond/export.h), and each of those: nothing internal (sess__*, the backends'
# helpers) leaks into the ABI, and nothing public is missing. Prints the count.
#   scripts/abi.sh DIR   (the build directory holding libsessiond.so.0)
set -u
cd "$(dirname "$0")/.."
so=${1:?build dir}/libsessiond.so.0
[ -f "$so" ] || { echo "abi: $so is not built"; exit 1; }
declared=$(grep -hv "^#define" include/sessiond/*.h | tr '\n' ' ' | grep -oE 'SESS_EXPORT [^;(]*\(' |
    grep -oE '[A-Za-z_][A-Za-z_0-9]*\($' | tr -d '(' | sort -u)
exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort -u)
# Every function prototype of an installed header: one without SESS_EXPORT is hidden, which a
# program using the header would find only at link time.
prototypes=$(grep -hv "^#define" include/sessiond/*.h | tr '\n' ' ' |
    grep -oE '\b(sess|SESS)_[a-z_0-9]+ *\(' | grep -oE '^sess_[a-z_0-9]+' | sort -u)
unexported=$(comm -23 <(echo "$prototypes") <(echo "$exported"))
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
bad=0
[ -n "$extra" ] && { echo "abi: exported but not declared SESS_EXPORT:"; echo "$extra"; bad=1; }
[ -n "$missing" ] && { echo "abi: declared SESS_EXPORT but not exported:"; echo "$missing"; bad=1; }
[ -n "$unexported" ] && { echo "abi: in an installed header but not exported (SESS_EXPORT missing?):"; echo "$unexported"; bad=1; }
[ "$bad" -eq 0 ] && echo "abi: libsessiond.so exports $(echo "$exported" | wc -l) functions, each declared SESS_EXPORT"
exit "$bad"
