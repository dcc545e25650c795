#!/bin/sh
# run-fuzz.sh - build each libFuzzer harness of kemarid with clang and
# run it briefly over a copy of its checked-in corpus.
#
# Environment (make check exports both):
#   top_srcdir     the source tree
#   top_builddir   the build tree; everything is written below
#                  $top_builddir/tests/fuzz/run/
#   FUZZ_SECONDS   time per harness (default 10)
#   CLANG          the compiler (default clang)
#
# Exit 77 (skip) with a reason when clang or libFuzzer is missing; 1 when
# a harness does not build or finds a crash, leak or sanitizer error (its
# reproducer stays in the run directory, path printed).  Ends with
# "N passed, N failed".

set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
seconds=${FUZZ_SECONDS:-10}
cc=${CLANG:-clang}
run="$top_builddir/tests/fuzz/run"
passed=0
failed=0

skip() { printf 'run-fuzz: SKIP: %s\n' "$*"; exit 77; }
pass() { passed=$((passed + 1)); printf 'ok - %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'not ok - %s\n' "$*"; }

command -v "$cc" >/dev/null 2>&1 || skip "no $cc (apt-get install clang)"
command -v pkg-config >/dev/null 2>&1 || skip "no pkg-config"
mkdir -p "$run" || exit 1

# libFuzzer comes with libclang-rt-*-dev, not with clang itself.
cat > "$run/probe.c" <<'PROBE'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return d && n; }
PROBE
"$cc" -fsanitize=fuzzer,address,undefined "$run/probe.c" -o "$run/probe" \
    > "$run/probe.log" 2>&1 ||
    skip "$cc cannot link -fsanitize=fuzzer (install libclang-rt-14-dev)"

pkgs="glib-2.0 gio-2.0 gio-unix-2.0 json-glib-1.0 libxml-2.0"
cflags=$(pkg-config --cflags "$pkgs") || skip "no $pkgs development files"
libs=$(pkg-config --libs "$pkgs")

# Each harness: its name and every source it needs, listed explicitly.
harness_sources() {
    case $1 in
    pairproto) echo "tests/fuzz/fuzz-pairproto.c daemon/pairproto.c" ;;
    ctlproto) echo "tests/fuzz/fuzz-ctlproto.c daemon/ctlproto.c \
        daemon/jsonstrict.c daemon/pairproto.c" ;;
    qmp-line) echo "tests/fuzz/fuzz-qmp-line.c daemon/qmpc.c \
        daemon/jsonstrict.c common/log.c" ;;
    kemarixml) echo "tests/fuzz/fuzz-kemarixml.c libvirt-driver/kemarixml.c \
        daemon/pairproto.c" ;;
    esac
}

for name in pairproto ctlproto qmp-line kemarixml; do
    srcs=""
    for f in $(harness_sources "$name"); do
        srcs="$srcs $top_srcdir/$f"
    done
    bin="$run/fuzz-$name"
    # shellcheck disable=SC2086  # word splitting of flags is intended
    if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined \
            -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
            -I"$top_builddir" -I"$top_srcdir/common" \
            -I"$top_srcdir/daemon" -I"$top_srcdir/libvirt-driver" \
            -I"$top_srcdir/tests/fuzz" \
            $cflags $srcs -o "$bin" $libs > "$run/$name-build.log" 2>&1; then
        fail "$name: build failed (see $run/$name-build.log)"
        continue
    fi
    corpus="$run/corpus-$name"
    rm -rf "$corpus" "$run/$name-crash-"* "$run/$name-leak-"* \
        "$run/$name-timeout-"* "$run/$name-oom-"*
    mkdir -p "$corpus"
    cp "$top_srcdir/tests/fuzz/corpus/$name/"* "$corpus/"
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$run/$name-" "$corpus" \
        > "$run/$name.log" 2>&1
    rc=$?
    stats=$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' \
        "$run/$name.log" | tr '\n' ' ')
    artifacts=$(ls "$run/$name-"crash-* "$run/$name-"leak-* \
        "$run/$name-"timeout-* "$run/$name-"oom-* 2>/dev/null)
    if [ "$rc" -ne 0 ] || [ -n "$artifacts" ]; then
        fail "$name: exit $rc, reproducer(s): ${artifacts:-none}" \
            "(log: $run/$name.log)"
    else
        pass "$name: no crash in ${seconds}s ($stats)"
    fi
done

printf '%s passed, %s failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
