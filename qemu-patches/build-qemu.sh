#!/bin/sh
# build-qemu.sh - build the Kemari QEMU: Debian's QEMU source, Debian's
# patches, then the series in this directory; only qemu-system-x86_64.
#
# usage: qemu-patches/build-qemu.sh [--print-key | --print-path]
#
# It also builds QEMU's own migration qtest (tests/qtest/migration-test)
# from the same patched tree, so that make check can prove the series
# leaves ordinary migration intact, and the series' own test of the
# parsers of what peers and files feed it (tests/unit/test-kemari-wire).  The result is cached outside the clone, in $KEMARI_CACHE/qemu/<key>/
# (default KEMARI_CACHE=/var/cache/kemari), where <key> is a hash of the
# Debian version in BASE, the series, every patch it names and this script.
# A second run with the same inputs finds the cache and returns at once.
# On success the path of the binary is printed on the last line.
#
# Environment:
#   KEMARI_CACHE      cache root (default /var/cache/kemari)
#   KEMARI_QEMU_JOBS  ninja -j (default: number of CPUs)
#   KEMARI_QEMU_KEEP  1 = keep $KEMARI_CACHE/qemu-build (source and build
#                     tree) after the build, for a look at what was built
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${KEMARI_CACHE:-/var/cache/kemari}
base=$(sed -n '1{s/[[:space:]]*$//;p;}' "$here/BASE")
[ -n "$base" ] || { echo "build-qemu.sh: $here/BASE is empty" >&2; exit 1; }

# The series: one patch file name per line, '#' comments and blanks allowed.
series() {
    sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$here/series"
}

# Everything that changes the binary goes into the key, in a fixed order:
# the Debian version, QEMU's configure flags, every patch.  (This script's
# own logic does not: editing it does not force a rebuild.)
# What the pipeline produces; bump when that changes.
products="qemu-system-x86_64 tests/qtest/migration-test tests/unit/test-kemari-wire"
key=$( {
    echo "base $base"
    echo "products $products"
    echo "flags"; cat "$here/configure-flags"
    for p in $(series); do
        [ -f "$here/$p" ] || { echo "missing patch $p" >&2; exit 1; }
        echo "patch $p"; cat "$here/$p"
    done
} | sha256sum | cut -c1-16)

out=$cache/qemu/$key
bin=$out/qemu-system-x86_64
case "${1:-}" in
    --print-key) echo "$key"; exit 0 ;;
    --print-path) echo "$bin"; exit 0 ;;
    "") ;;
    *) echo "usage: $0 [--print-key | --print-path]" >&2; exit 2 ;;
esac

if [ -x "$bin" ] && [ -f "$out/.complete" ]; then
    echo "Kemari QEMU $key is cached"
    echo "$bin"
    exit 0
fi

# One build per key at a time: a second caller waits for the first.
mkdir -p "$out"
exec 9> "$out/.lock"
flock 9
if [ -x "$bin" ] && [ -f "$out/.complete" ]; then
    echo "Kemari QEMU $key was built meanwhile"
    echo "$bin"
    exit 0
fi

# The source: Debian's package at exactly the BASE version, kept in the
# cache so that a rebuild with a changed series needs no download.
upver=${base#*:}                     # drop the epoch: 7.2+dfsg-7+deb12u18
srcdir=$cache/qemu-src
dsc=$srcdir/qemu_$upver.dsc
mkdir -p "$srcdir"
# apt-get drops privileges to _apt for downloads when it can write here.
chown _apt "$srcdir" 2>/dev/null || true
if [ ! -f "$dsc" ]; then
    echo "fetching Debian source qemu=$base"
    if ! (cd "$srcdir" && apt-get source --download-only -q "qemu=$base" \
            >/dev/null); then
        echo "build-qemu.sh: cannot fetch Debian's qemu source at version" \
             "$base (BASE)." >&2
        echo "  apt knows: $(apt-cache showsrc qemu 2>/dev/null |
             sed -n 's/^Version: //p' | tr '\n' ' ')" >&2
        echo "  Is there a deb-src entry?  scripts/deps.sh qemu adds one." >&2
        exit 1
    fi
fi

# Builds happen in one fixed place, under a lock, so that ccache sees the
# same paths every time and a changed series recompiles only what the
# change touches.
build_lock=$cache/qemu-build.lock
exec 8> "$build_lock"
flock 8
work=$cache/qemu-build
rm -rf "$work"
mkdir -p "$work"
echo "unpacking qemu $base (with Debian's patches)"
dpkg-source --no-check -q -x "$dsc" "$work/src" >/dev/null

n=0
for p in $(series); do
    n=$((n + 1))
    echo "applying $p"
    if ! patch -d "$work/src" -p1 -s --no-backup-if-mismatch \
            < "$here/$p"; then
        echo "build-qemu.sh: patch $p does not apply to qemu $base" >&2
        exit 1
    fi
done
echo "applied $n Kemari patch(es)"

cc=gcc
if command -v ccache >/dev/null 2>&1; then
    cc="ccache gcc"
    export CCACHE_DIR="$cache/ccache" CCACHE_BASEDIR="$work"
fi
mkdir -p "$work/build"
cd "$work/build"
echo "configuring"
# The version string names the Debian base only: a per-key string would
# change config-host.h, which every file includes, and defeat ccache.
# The key is in $out/KEY.
# shellcheck disable=SC2046  # one flag per line in configure-flags
PATH=/usr/bin:$PATH ../src/configure --cc="$cc" \
    $(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/configure-flags") \
    --with-pkgversion="Kemari, Debian $base" \
    > "$out/configure.log" 2>&1 || {
        tail -30 "$out/configure.log" >&2
        echo "build-qemu.sh: configure failed, see $out/configure.log" >&2
        exit 1
    }
echo "building $products (about 10 minutes on 2 cores from scratch)"
jobs=${KEMARI_QEMU_JOBS:-$(nproc)}
# shellcheck disable=SC2086  # the product list is split on purpose
PATH=/usr/bin:$PATH ninja -j "$jobs" $products > "$out/build.log" 2>&1 || {
    tail -40 "$out/build.log" >&2
    echo "build-qemu.sh: build failed, see $out/build.log" >&2
    exit 1
}
# QEMU's own migration qtest, run against the Kemari QEMU by make check,
# and the series' test of its parsers (built with the sanitizers)
cp tests/qtest/migration-test "$out/migration-test"
cp tests/unit/test-kemari-wire "$out/test-kemari-wire"
cp qemu-system-x86_64 "$bin.tmp"
mv "$bin.tmp" "$bin"
cd "$out"
if [ "${KEMARI_QEMU_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
fi
echo "$key" > "$out/KEY"
touch "$out/.complete"
echo "built Kemari QEMU $key"
echo "$bin"
