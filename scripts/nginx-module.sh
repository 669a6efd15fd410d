#!/usr/bin/env bash
# scripts/nginx-module.sh BUILD_DIR - builds ngx_http_sessiond_module.so into BUILD_DIR against
# Debian's nginx-dev (its configure flags, so the module's signature matches the packaged
# nginx), linking BUILD_DIR/libsessiond.a. SAN=1 builds it with ASan+UBSan (load it into nginx
# with libasan preloaded, as tests/integration/gateway-nginx.test.mjs does). HARDEN_CFLAGS and
# HARDEN_LDFLAGS (set by `make nginx-module`) are added to the compile and link options.
set -euo pipefail
B=${1:?usage: nginx-module.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=${NGINX_DEV_SRC:-/usr/share/nginx/src}
if [ ! -f "$SRC/conf_flags" ]; then
    echo "nginx-module: $SRC/conf_flags is missing: install nginx-dev (scripts/deps.sh)" >&2
    exit 2
fi
# shellcheck disable=SC1091
. "$SRC/conf_flags" # NGX_CONF_FLAGS=( ... )
OUT="$ROOT/$B/nginx-module"
rm -rf "$OUT"
mkdir -p "$OUT"
cp -r "$SRC/." "$OUT/src"
CC_OPT="-g -O2 -fPIC -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -D_GNU_SOURCE"
LD_OPT="-fPIC"
if [ "${SAN:-0}" = 1 ]; then
    CC_OPT="-g -O1 -fPIC -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE"
    LD_OPT="-fPIC -fsanitize=address,undefined"
fi
# The Makefile's hardening flags (stack protector, fortify, full RELRO; docs/security.md, V14).
CC_OPT="$CC_OPT ${HARDEN_CFLAGS:-}"
LD_OPT="$LD_OPT ${HARDEN_LDFLAGS:-}"
export SESSIOND_ROOT="$ROOT"
export SESSIOND_LIBS="$ROOT/$B/libsessiond.a $(pkg-config --libs libsodium lmdb jansson hiredis) -lpthread"
cd "$OUT/src"
./configure "${NGX_CONF_FLAGS[@]}" --with-cc-opt="$CC_OPT" --with-ld-opt="$LD_OPT" \
    --add-dynamic-module="$ROOT/nginx" > "$OUT/configure.log" 2>&1 ||
    { tail -20 "$OUT/configure.log" >&2; exit 1; }
make -f objs/Makefile modules > "$OUT/make.log" 2>&1 || { grep -E "error|warning" "$OUT/make.log" >&2; tail -5 "$OUT/make.log" >&2; exit 1; }
grep -E "sessiond_module.c.*(warning|error)" "$OUT/make.log" >&2 || true
cp objs/ngx_http_sessiond_module.so "$ROOT/$B/ngx_http_sessiond_module.so"
echo "built $B/ngx_http_sessiond_module.so"
