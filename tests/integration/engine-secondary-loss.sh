#!/bin/sh
# engine-secondary-loss.sh - losing the secondary never releases outputs
# that no secondary holds.
#
# The secondary QEMU is SIGKILLed.  The primary must declare it lost
# (acknowledgement timeout or broken stream), keep the guest running and
# keep every output held: the observers outside see nothing more, while
# query-kemari shows the held packets growing.  Only
# x-kemari-continue-unprotected releases them, in order: afterwards the
# UDP sequence is complete, no number has two payloads, and the TCP
# connection held through it all is intact.  The guest also writes to a
# disk set up as libvirt does (-blockdev): while the secondary is lost the
# image does not change, and the held writes reach it after the command.
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
command -v python3 >/dev/null || kt_skip "needs python3 (QMP client)"
kt_mkdir
ns=kt-sl-$$
kt_pair_netns "$ns"
append="kemari.udp=9000 kemari.udp_gap_us=1000 kemari.disk=9001 \
kemari.disk_gap_us=20000"
kt_disk 16M

kt_bg "$ns" "$KT_DIR/udp.out" "$KEMARI_KSEQ" udp-recv 9000 \
    --status "$KT_DIR/udp.status"
udp_pid=$KT_BG_PID
kt_pair_tap "$ns" kt0
kt_pair_tap "$ns" kt1
# shellcheck disable=SC2086  # $KT_DISK is a list of arguments
KT_TAP=kt0 kt_qemu "$ns" pri "$append" $KT_DISK
pri_pid=$KT_QEMU_PID
kt_wait_console pri KEMARI-GUEST-READY 180 || kt_die "guest did not boot"
# shellcheck disable=SC2086
KT_TAP=kt1 kt_qemu "$ns" sec "$append" $KT_DISK -incoming defer
sec_pid=$KT_QEMU_PID
kt_check "protected" kt_protect pri sec 4411 '{"x-kemari-ack-timeout": 1000}'
kt_bg "$ns" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check 169.254.10.2 7000 \
    --status "$KT_DIR/tcp.status"
tcp_pid=$KT_BG_PID
sleep 2

kill -9 "$sec_pid"
wait "$sec_pid" 2>/dev/null
kt_check "primary declares the secondary lost" \
    kt_wait_kemari pri secondary-lost 15
sleep 0.5                   # releases of epochs acknowledged before
h1=$(kt_status_field "$KT_DIR/udp.status" highest)
p1=$(kt_kemari_field pri held-packets)
w1=$(kt_kemari_field pri held-writes)
d1=$(md5sum < "$KT_IMG")
sleep 3
h2=$(kt_status_field "$KT_DIR/udp.status" highest)
p2=$(kt_kemari_field pri held-packets)
w2=$(kt_kemari_field pri held-writes)
d2=$(md5sum < "$KT_IMG")
kt_check "nothing released while the secondary is lost (highest $h1 -> $h2)" \
    test "$h1" = "$h2"
kt_check "the guest runs on, its outputs held ($p1 -> $p2 packets)" \
    test "${p2:-0}" -gt "${p1:-0}"
kt_check "its disk writes held too ($w1 -> $w2 writes)" \
    test "${w2:-0}" -gt "${w1:-0}"
kt_check "the disk image unchanged while they are held" test "$d1" = "$d2"
if kt_qmp pri query-status | grep -q '"running": true'; then
    kt_pass "guest still running"
else
    kt_fail "guest not running"
fi

if kt_qmp pri x-kemari-continue-unprotected >/dev/null; then
    kt_pass "continue-unprotected accepted"
else
    kt_fail "continue-unprotected refused"
fi
kt_check "primary runs unprotected" kt_wait_kemari pri unprotected 15
if kt_wait_above "$KT_DIR/udp.status" highest "$((h2 + p2))" 10; then
    kt_pass "held outputs released after the command ($h2 -> $KT_VALUE)"
else
    kt_fail "held outputs not released after the command ($h2 -> $KT_VALUE)"
fi
kt_check "no packet held any more" test "$(kt_kemari_field pri held-packets)" = 0
kt_check "no write held any more" test "$(kt_kemari_field pri held-writes)" = 0
kt_check "the held writes reached the image" \
    test "$(md5sum < "$KT_IMG")" != "$d2"
sleep 1
kt_stop "$tcp_pid"
kt_check "TCP connection intact: $(cat "$KT_DIR/tcp.out")" \
    grep -q 'result=ok' "$KT_DIR/tcp.out"
kill -9 "$pri_pid"
wait "$pri_pid" 2>/dev/null
kt_stop "$udp_pid"
kt_check "UDP: no gap, no number with two payloads: $(cat "$KT_DIR/udp.out")" \
    grep -q 'missing=0 .*mismatches=0 .*bad=0' "$KT_DIR/udp.out"
kt_finish
