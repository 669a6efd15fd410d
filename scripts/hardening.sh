#!/bin/bash
# The build's hardening (the Makefile's HARDEN_* flags; docs/security.md, V14) as readelf sees
# it in what was built: the sessiond binary, libsessiond.so.0 and, when built, the nginx module.
# Each must have full RELRO (a GNU_RELRO segment and BIND_NOW in the dynamic section), a stack
# that is not executable (GNU_STACK without E), the stack protector (__stack_chk_fail
# referenced) and fortify (some glibc __*_chk function referenced); the binary must also be
# position-independent (ELF type DYN). Prints one line per file; exits 1 if anything is missing.
#   scripts/hardening.sh DIR   (the build directory; its sessiond is ./sessiond for DIR=build)
set -u
cd "$(dirname "$0")/.." || exit 1
dir=${1:?build dir}
bin=$dir/sessiond
[ "$dir" = build ] && bin=sessiond
bad=0

check() { # check FILE KIND (exe or lib)
    local f=$1 missing=() dyn syms
    if [ ! -f "$f" ]; then
        echo "hardening: $f is not built"
        bad=1
        return
    fi
    dyn=$(readelf -dW "$f")
    syms=$(readelf -W --dyn-syms "$f" | awk '{print $8}')
    readelf -lW "$f" | grep -q 'GNU_RELRO' || missing+=("RELRO (no GNU_RELRO segment)")
    grep -qE '\(BIND_NOW\)|\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*\bNOW\b' <<<"$dyn" ||
        missing+=("BIND_NOW (RELRO only partial)")
    readelf -lW "$f" | awk '$1 == "GNU_STACK" {found = 1; if ($7 ~ /E/) exec = 1}
        END {exit !(found && !exec)}' || missing+=("a non-executable stack (GNU_STACK)")
    grep -qE '^__stack_chk_fail(@|$)' <<<"$syms" || missing+=("the stack protector (__stack_chk_fail)")
    grep -qE '^__[a-z0-9_]+_chk(@|$)' <<<"$(grep -v '^__stack_chk_fail' <<<"$syms")" ||
        missing+=("fortify (no __*_chk function)")
    if [ "$2" = exe ]; then
        readelf -hW "$f" | grep -qE 'Type: +DYN' || missing+=("PIE (ELF type is not DYN)")
    fi
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "hardening: $f: full RELRO, non-executable stack, stack protector, fortify$(
            [ "$2" = exe ] && echo ", PIE")"
    else
        local m
        for m in "${missing[@]}"; do echo "hardening: $f lacks $m"; done
        bad=1
    fi
}

check "$bin" exe
check "$dir/libsessiond.so.0" lib
if [ -f "$dir/ngx_http_sessiond_module.so" ]; then
    check "$dir/ngx_http_sessiond_module.so" lib
else
    echo "hardening: $dir/ngx_http_sessiond_module.so is not built (make nginx-module), not checked"
fi
[ "$bad" -eq 0 ] && echo "hardening: every file checked has the build's hardening"
exit "$bad"
