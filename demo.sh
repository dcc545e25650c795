#!/bin/sh
# demo.sh - Kemari's main job on a built-in default (as root).
#
# Installs what is missing, builds the project, the Kemari QEMU and the
# test guest (cached), then runs the demonstration in scripts/demo-run.sh.
# Until the engine lands, that is: boot the test guest under the Kemari
# QEMU in a private network namespace and show it serving.
set -eu
cd "$(dirname "$0")"
. scripts/lib.sh

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root" >&2; exit 1; }
phase "install packages" scripts/deps.sh build qemu guest
phase "build (incl. Kemari QEMU)" configure_and_make
phase "test guest" make -C "$KEMARI_BUILD" kemari-guest
print_phases
exec env top_srcdir="$(pwd)" \
    KEMARI_QEMU="$KEMARI_BUILD/qemu/qemu-system-x86_64" \
    KEMARI_GUEST_DIR="$KEMARI_BUILD/tests/guest/image" \
    KEMARI_KSEQ="$KEMARI_BUILD/tests/workload/kseq" \
    sh scripts/demo-run.sh
