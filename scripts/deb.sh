#!/bin/sh
# deb.sh - builds the Debian package of sessiond (what `make deb` runs) from a staged tree:
# the binary, the man page, the systemd unit, a default configuration and the logrotate rules.
# Depends: the Debian packages that own the shared libraries the binary links to (ldd, then
# dpkg -S), so the package asks for exactly what this build needs.
#
#   scripts/deb.sh BINARY VERSION OUTDIR      -> OUTDIR/sessiond_VERSION_ARCH.deb
set -eu

bin=$1
version=$2
out=$3
arch=$(dpkg --print-architecture)
stage=$(mktemp -d "${TMPDIR:-/tmp}/sessiond-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM
chmod 0755 "$stage"

install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/share/man/man8" \
    "$stage/lib/systemd/system" "$stage/etc/sessiond" "$stage/etc/logrotate.d" \
    "$stage/usr/share/doc/sessiond"
install -m 0755 "$bin" "$stage/usr/bin/sessiond"
strip --strip-unneeded "$stage/usr/bin/sessiond" 2>/dev/null || true
gzip -9n < packaging/sessiond.8 > "$stage/usr/share/man/man8/sessiond.8.gz"
chmod 0644 "$stage/usr/share/man/man8/sessiond.8.gz"
sed -e 's|@PREFIX@|/usr|g' packaging/sessiond.service.in > "$stage/lib/systemd/system/sessiond.service"
install -m 0644 packaging/sessiond.ini "$stage/etc/sessiond/sessiond.ini"
install -m 0644 packaging/logrotate "$stage/etc/logrotate.d/sessiond"
install -m 0644 README.md docs/configuration.md docs/operations.md "$stage/usr/share/doc/sessiond/"
chmod 0644 "$stage/lib/systemd/system/sessiond.service"

# The packages owning the libraries the binary loads (libc included), without versions: the
# build machine's are the ones it was linked against.
depends=$(ldd "$bin" | awk '/=> \//{print $3}' | while read -r lib; do
    real=$(readlink -f "$lib")
    dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || true
done | cut -d: -f1 | sort -u | paste -sd, - | sed 's/,/, /g')
[ -n "$depends" ] || { echo "sessiond: deb.sh: could not find the packages of the libraries" >&2; exit 1; }

size=$(du -sk "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: sessiond
Version: $version
Architecture: $arch
Maintainer: sessiond maintainers <sessiond@localhost>
Installed-Size: $size
Depends: $depends
Section: net
Priority: optional
Description: session server for web applications and reverse proxies
 Server-side sessions for nginx auth_request, Traefik forwardAuth and Caddy
 forward_auth, with a JSON API for application backends, an embedded LMDB
 store or Redis, a hash-chained audit log and Prometheus metrics.
CONTROL
printf '/etc/sessiond/sessiond.ini\n/etc/logrotate.d/sessiond\n' > "$stage/DEBIAN/conffiles"
cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
# The unit is installed but not enabled: enable it with `systemctl enable --now sessiond`.
# DPKG_ROOT: installed into another root (dpkg --instdir): not this system's systemd.
if [ "$1" = configure ] && [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
POSTINST
cat > "$stage/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
POSTRM
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm"

mkdir -p "$out"
deb="$out/sessiond_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
