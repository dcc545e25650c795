#!/bin/sh
# check-selftest.sh - apply kvm-patches/ to its BASE kernel source, check
# the patches with the kernel's checkpatch.pl, build the KVM selftest they
# add and, with --run, run it under a timeout.
#
# Usage: kvm-patches/check-selftest.sh [--run] [--force] [--timeout SECS]
#
#   BASE     "<debian source package> <version>", e.g.
#            "linux-source-6.1 6.1.192-2": the tarball it installs in
#            /usr/src is the tree the series applies to
#   series   the patch files, in order
#
# The patched and built tree is cached in
# ${KEMARI_KERNEL_CACHE:-/var/cache/kemari/kernel}/<key>, where <key> hashes
# BASE, series and the patches: a second run reuses it (--force rebuilds).
# Installing the source package needs root (apt-get).
#
# Exit status: 0 applied, clean and built (and with --run: the selftest
# passed); 1 a step failed; 2 usage; with --run, the selftest's own
# status when it failed (it may fail on a host whose KVM cannot run it).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache_root=${KEMARI_KERNEL_CACHE:-/var/cache/kemari/kernel}
test_name=x86_64/io_exit_completion_test
run=0
force=0
timeout_s=60

while [ $# -gt 0 ]; do
    case $1 in
    --run) run=1 ;;
    --force) force=1 ;;
    --timeout)
        if [ $# -lt 2 ]; then
            echo "check-selftest: --timeout needs SECS" >&2
            exit 2
        fi
        timeout_s=$2
        shift
        ;;
    -h|--help)
        sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) echo "check-selftest: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done

say() {
    echo "check-selftest: $*"
}

die() {
    echo "check-selftest: error: $*" >&2
    exit 1
}

read -r pkg version < "$here/BASE" || die "cannot read $here/BASE"
if [ -z "$pkg" ] || [ -z "$version" ]; then
    die "BASE must be '<package> <version>'"
fi
patches=$(grep -v '^[[:space:]]*#' "$here/series" | grep -v '^[[:space:]]*$') ||
    die "series lists no patch"

# 1. The exact source package named by BASE.
have=$(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null || true)
if [ "$have" != "$version" ]; then
    say "installing $pkg=$version (have: ${have:-none})"
    apt-get install -y --allow-downgrades "$pkg=$version" >/dev/null ||
        die "apt-get install $pkg=$version failed (run apt-get update?)"
fi
tarball=$(dpkg -L "$pkg" | grep '/usr/src/.*\.tar\.xz$' | head -n 1)
[ -f "$tarball" ] || die "$pkg installs no /usr/src tarball"

# 2. A cache directory per (BASE, series, patches).
key=$( (cat "$here/BASE" "$here/series"
        for p in $patches; do cat "$here/$p"; done) | sha256sum | cut -c1-16)
dir=$cache_root/$pkg-$version-$key
tree=$dir/src
if [ "$force" = 1 ]; then
    rm -rf "$dir"
fi
mkdir -p "$dir"

if [ -f "$dir/built.stamp" ]; then
    say "cached build: $tree"
else
    rm -rf "$tree" "$dir/tmp"
    mkdir -p "$dir/tmp"
    say "extracting $tarball"
    tar -C "$dir/tmp" -xf "$tarball"
    mv "$dir/tmp/$(basename "$tarball" .tar.xz)" "$tree"
    rmdir "$dir/tmp"

    # 3. Apply, strictly: no fuzz, no offsets tolerated by git apply.
    for p in $patches; do
        say "applying $p"
        (cd "$tree" && git apply --verbose "$here/$p") ||
            die "$p does not apply to $pkg $version"
    done

    # 4. The kernel's own style checker, --strict.  Two message types
    # are ignored because they cannot be satisfied here: FILE_PATH_CHANGES
    # ("does MAINTAINERS need updating?") is printed for every added file,
    # and tools/testing/selftests/kvm/ is already in MAINTAINERS;
    # UNKNOWN_COMMIT_ID needs upstream git history to look a cited commit up,
    # and the BASE tarball has none (the ids are checked in README.md).
    for p in $patches; do
        out=$("$tree/scripts/checkpatch.pl" --no-tree --strict \
                --ignore FILE_PATH_CHANGES,UNKNOWN_COMMIT_ID "$here/$p" 2>&1) ||
            true
        echo "$out" | grep '^total:' | sed "s|^|check-selftest: $p: |"
        echo "$out" | grep -q '^total: 0 errors, 0 warnings, 0 checks' ||
            { echo "$out"; die "checkpatch is not clean on $p"; }
    done

    # 5. Build only the new test (at 6.1.192-2 the full kvm selftest
    # build stops in dirty_log_test.c, which this series does not touch).
    say "make headers_install"
    nice make -C "$tree" -s headers_install >"$dir/headers.log" 2>&1 ||
        { tail -n 20 "$dir/headers.log"; die "headers_install failed"; }
    say "building $test_name"
    nice make -C "$tree/tools/testing/selftests/kvm" \
        "$tree/tools/testing/selftests/kvm/$test_name" >"$dir/build.log" 2>&1 ||
        { tail -n 20 "$dir/build.log"; die "selftest build failed"; }
    if grep -q 'warning:' "$dir/build.log"; then
        grep 'warning:' "$dir/build.log"
        die "the build printed warnings"
    fi
    touch "$dir/built.stamp"
fi
bin=$tree/tools/testing/selftests/kvm/$test_name
[ -x "$bin" ] || die "$bin missing"
say "built $bin"

[ "$run" = 1 ] || exit 0

# 6. Run it, never longer than the timeout.
if [ ! -c /dev/kvm ]; then
    say "no /dev/kvm: not running the selftest"
    exit 0
fi
say "running $test_name (timeout ${timeout_s}s)"
rc=0
timeout -k 5 "$timeout_s" "$bin" || rc=$?
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    say "selftest timed out after ${timeout_s}s"
fi
say "selftest exit status $rc"
exit "$rc"
