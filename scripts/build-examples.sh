#!/bin/sh
# Installs libsessiond into a temporary prefix, builds examples/embed.c the way a user would
# (through pkg-config only), and runs it against the memory and the lmdb store, with no
# LD_LIBRARY_PATH (sessiond.pc carries an rpath).
set -eu
cd "$(dirname "$0")/.."
B=${1:-build}
tmp=$(mktemp -d /tmp/sessiond-examples.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
make -s B="$B" install PREFIX="$tmp/prefix" >/dev/null
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
cc -std=c17 -Wall -Wextra -Werror examples/embed.c $(pkg-config --cflags --libs sessiond) \
   -o "$tmp/embed"
# Run as a user would, with nothing in the environment telling the loader where to look.
env -u LD_LIBRARY_PATH "$tmp/embed"
env -u LD_LIBRARY_PATH "$tmp/embed" "$tmp/data"
echo "embed.c: built through pkg-config, ran on the memory and lmdb stores"
