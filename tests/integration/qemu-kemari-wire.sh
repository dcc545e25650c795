#!/bin/sh
# qemu-kemari-wire.sh - the series' test of its parsers passes: every
# parser of what a peer or a file feeds the Kemari QEMU (checkpoint
# header, replies, outputs framing, a replicated disk's state file, the
# destination's answer, disk record extents) refuses the cases it must,
# and survives KEMARI_WIRE_ITERATIONS (default here 200000) mutations of
# valid input each, built with AddressSanitizer and UBSan where the
# compiler has them (tests/unit/test-kemari-wire.c in the series).
. "${top_srcdir:-.}/tests/lib/testlib.sh"

tw=$(dirname "${KEMARI_QEMU:-.}")/test-kemari-wire
[ -x "$tw" ] || kt_skip "no test-kemari-wire beside $KEMARI_QEMU (run make)"
kt_mkdir
if KEMARI_WIRE_ITERATIONS=${KEMARI_WIRE_ITERATIONS:-200000} \
        timeout 600 "$tw" --tap -k > "$KT_DIR/test-kemari-wire.tap" 2>&1; then
    kt_pass "test-kemari-wire: $(grep -c '^ok ' "$KT_DIR/test-kemari-wire.tap")" \
        "tests ok ($(grep 'mutations accepted' "$KT_DIR/test-kemari-wire.tap" |
        sed 's/^# //' | tr '\n' ';'))"
else
    grep -E '^not ok|ERROR|SUMMARY' "$KT_DIR/test-kemari-wire.tap" | head -n 20
    tail -n 20 "$KT_DIR/test-kemari-wire.tap"
    kt_fail "test-kemari-wire failed"
fi
# a sanitizer build says so in its symbols
if nm "$tw" 2>/dev/null | grep -q __asan_init; then
    kt_pass "built with AddressSanitizer"
else
    kt_log "built without AddressSanitizer (the compiler lacks it)"
fi
kt_finish
