#!/bin/sh
# Turns a list of common passwords, one a line (Debian's john-data, /usr/share/john/password.lst),
# into the C initialiser src/core/pwpolicy.c compiles in: comment lines ("#!comment") and empty
# lines dropped, lower-cased (the check is case-insensitive), duplicates removed, each entry a
# string literal. Usage: scripts/pwlist.sh LIST OUT. Fails when the list is missing (install it
# with scripts/deps.sh), holds a non-ASCII byte, an entry over 64 bytes, or over 65536 entries:
# the bounds src/core/pwpolicy.h states.
set -eu
list=$1
out=$2
if [ ! -r "$list" ]; then
    echo "pwlist.sh: $list is missing; scripts/deps.sh installs it (Debian package john-data)" >&2
    exit 1
fi
tmp="$out.tmp"
LC_ALL=C grep -v '^#!comment' "$list" | LC_ALL=C tr -d '\r' | LC_ALL=C tr 'A-Z' 'a-z' |
    LC_ALL=C sort -u | LC_ALL=C awk '
    length($0) == 0 { next }
    /[^ -~]/ { print "pwlist.sh: a non-ASCII or control byte in line " NR > "/dev/stderr"; exit 1 }
    length($0) > 64 { print "pwlist.sh: an entry over 64 bytes" > "/dev/stderr"; exit 1 }
    {
        gsub(/\\/, "\\\\"); gsub(/"/, "\\\"")
        printf "\"%s\",\n", $0; n++
    }
    END { if (n > 65536) { print "pwlist.sh: over 65536 entries" > "/dev/stderr"; exit 1 } }
' > "$tmp"
mv "$tmp" "$out"
