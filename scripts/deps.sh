#!/bin/sh
# Installs the Debian packages sessiond needs to build and test, when some are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -e
# nginx and caddy are run by the gateway integration tests (their own instances on loopback
# with temporary configurations; the system services are never used). clang and its runtime
# libraries (libFuzzer, sanitizers) build the fuzz targets of `make check`; ent and dieharder
# judge the randomness of tokens (scripts/token-quality.sh); fiu-utils injects I/O faults;
# slowhttptest makes the slow-client load of tests/batteries/overload.test.mjs. nginx-dev is
# what `make nginx-module` builds the nginx module against (nginx/, docs/nginx-module.md);
# libnginx-mod-http-headers-more-filter is what the nginx examples clear clients' X-Auth-*
# headers with (more_clear_input_headers).
# chromium is the browser the browser tests drive (tests/browser, through playwright-core, which
# `npm ci` installs from package-lock.json; playwright's own browser downloads are never used).
# systemd (systemd-analyze verify of the unit) and man-db check the packaging. libfaketime
# steps the wall clock under a running server (tests/integration/clock.test.mjs).
# john-data's password.lst is the common-password list the build compiles in (scripts/pwlist.sh;
# the password page refuses its entries); it is needed to build, not to run.
PKGS="build-essential pkg-config libh2o-evloop-dev libsodium-dev liblmdb-dev libjansson-dev
      libinih-dev libhiredis-dev libcmocka-dev nodejs npm nginx nginx-dev libnginx-mod-http-headers-more-filter caddy redis-server clang libclang-rt-14-dev
      ent dieharder fiu-utils slowhttptest chromium systemd man-db libfaketime john-data"
# `scripts/deps.sh bench` adds what `make bench` runs: wrk drives the load, gnuplot draws the
# chart; npm (already in the list) installs the Node peer (bench/package.json), and
# redis-benchmark comes with redis-server.
if [ "${1:-}" = bench ]; then PKGS="$PKGS wrk gnuplot-nox slowhttptest"; fi
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Debian's node is enough: it only needs `node --test`. A node that brings its own npm needs
# no npm package (the two would conflict).
if command -v node >/dev/null 2>&1; then missing=$(echo "$missing" | sed 's/ nodejs\b//g'); fi
if command -v npm >/dev/null 2>&1; then missing=$(echo "$missing" | sed 's/ npm\b//g'); fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "sessiond: installing missing packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "sessiond: missing packages; run: sudo apt-get install -y$missing" >&2
    exit 1
fi
