#!/bin/sh
# check.sh - run Kemari's whole test suite on this machine (as root).
#
# Installs what is missing (Debian packages, the deb-src entry, Debian's
# QEMU source), builds the project, the patched QEMU and the test guest
# (both cached in /var/cache/kemari), runs `make check` and then
# `make distcheck` (the tarball: unit tests and one integration test of
# each kind, see Makefile.am's SMOKE_TESTS).  Prints the time per phase and ends with the line
# "N passed, N failed" (one count per test program or script).
# Exit status: 0 only when every test passed.
set -eu
cd "$(dirname "$0")"
. scripts/lib.sh

[ "$(id -u)" = 0 ] || { echo "check.sh: run as root" >&2; exit 1; }

rc=0
phase "install packages" scripts/deps.sh build qemu guest cluster || rc=$?
[ $rc = 0 ] && { phase "build (incl. Kemari QEMU)" configure_and_make ||
                 rc=$?; }
[ $rc = 0 ] && { phase "make check" make -C "$KEMARI_BUILD" check ||
                 rc=$?; }
check_rc=$rc
[ $rc = 0 ] && { phase "make distcheck" make -C "$KEMARI_BUILD" distcheck \
                 > "$KEMARI_BUILD/distcheck.log" 2>&1 || rc=$?; }
if [ $check_rc = 0 ] && [ $rc != 0 ]; then
    tail -n 40 "$KEMARI_BUILD/distcheck.log"
fi

# One result per test, from automake's .trs files.
pass=0 fail=0 skip=0 failed=
for trs in $(find "$KEMARI_BUILD/tests" -name '*.trs' 2>/dev/null | sort); do
    res=$(sed -n 's/^:test-result: //p' "$trs")
    name=${trs#"$KEMARI_BUILD"/}
    case "$res" in
    PASS|XFAIL) pass=$((pass + 1)) ;;
    SKIP) skip=$((skip + 1)); echo "skipped: ${name%.trs}" ;;
    *) fail=$((fail + 1)); failed="$failed ${trs%.trs}.log"
       echo "FAILED: ${name%.trs} (see ${name%.trs}.log)" ;;
    esac
done
# The end of each failed test's log, so that CI's output shows why.
for log in $failed; do
    echo "---- last 60 lines of ${log#"$KEMARI_BUILD"/} ----"
    tail -n 60 "$log" 2>/dev/null || true
done
# A build or distcheck failure is a failure even if no test ran.
if [ $rc != 0 ] && [ $fail = 0 ]; then
    fail=1
    echo "FAILED: a phase failed before or after the tests (see above)"
fi
print_phases
[ $skip = 0 ] || echo "$skip skipped"
echo "$pass passed, $fail failed"
[ $fail = 0 ] && [ $rc = 0 ]
