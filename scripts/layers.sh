#!/bin/bash
# The layers point one way (docs/architecture.md): lib/ knows nothing of src/; src/core/ and the
# command line (src/cli/) know nothing of HTTP (h2o, src/http/); src/http/ may use all of them.
# Checked twice: by the includes in the sources, and by the symbols in the objects of build dir
# DIR (what core and cli objects need that only http objects define).
#   scripts/layers.sh DIR
set -u
cd "$(dirname "$0")/.."
dir=${1:?build dir}
bad=0
if out=$(grep -n '#include "\(core\|http\|cli\)/\|#include "server/' lib/*.c lib/*.h lib/store/*.[ch] include/sessiond/*.h); then
    echo "layers: lib/ includes a header of src/:"; echo "$out"; bad=1
fi
if out=$(grep -n '#include "\(\.\./\)*http/\|#include <h2o' src/core/*.[ch] src/cli/*.[ch]); then
    echo "layers: src/core or src/cli includes HTTP:"; echo "$out"; bad=1
fi
for o in "$dir"/src/core "$dir"/src/cli "$dir"/src/http; do
    ls "$o"/*.o >/dev/null 2>&1 || { echo "layers: no objects in $o (build first)"; exit 1; }
done
need=$(nm -u "$dir"/src/core/*.o "$dir"/src/cli/*.o | awk 'NF == 2 {print $2}' | sort -u)
have=$(nm -g --defined-only "$dir"/src/http/*.o | awk 'NF == 3 {print $3}' | sort -u)
if out=$(comm -12 <(echo "$need") <(echo "$have")) && [ -n "$out" ]; then
    echo "layers: src/core or src/cli uses what src/http defines:"; echo "$out"; bad=1
fi
[ "$bad" -eq 0 ] && echo "layers: lib < core, cli < http: no include or symbol against the grain"
exit "$bad"
