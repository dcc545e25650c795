#!/bin/sh
# engine-failover-early.sh - a guest protected while it boots must go on
# after a failover.
#
# The secondary is started with the primary and protection begins after
# EARLY seconds (default 2), while the guest boots; once the guest is up
# and sending, the primary is SIGKILLed and the secondary fails over.
# Pass: the guest sends at least 500 more UDP datagrams within 10 s.
#
# The first checkpoint then holds devices the guest has not set up yet.
# Before the fix (qemu-patches/0002), the secondary kept the "disabled"
# flag of the virtio-net device from that checkpoint (later ones leave
# the optional subsection out) and, after failing over, ignored the
# guest's queues: the guest sent nothing more and its kernel reported
# "NETDEV WATCHDOG ... transmit queue 0 timed out".
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
command -v python3 >/dev/null || kt_skip "needs python3 (QMP client)"
kt_mkdir
ns=kt-efo-$$
kt_pair_netns "$ns"
kt_pair_tap "$ns" kt0
kt_pair_tap "$ns" kt1
append="kemari.udp=9000 kemari.udp_gap_us=1000"
kt_bg "$ns" "$KT_DIR/udp.out" "$KEMARI_KSEQ" udp-recv 9000 \
    --status "$KT_DIR/udp.status"
udp_pid=$KT_BG_PID
KT_TAP=kt0 kt_qemu "$ns" pri "$append"
pri_pid=$KT_QEMU_PID
KT_TAP=kt1 kt_qemu "$ns" sec "$append" -incoming defer
sleep "${EARLY:-2}"
kt_check "protected while the guest boots" kt_protect pri sec 4478
KT_QEMU_PID=$pri_pid kt_wait_console pri KEMARI-GUEST-READY 180 ||
    kt_die "guest did not boot"
sleep 3
u0=$(kt_status_field "$KT_DIR/udp.status" highest)
kill -9 "$pri_pid"
wait "$pri_pid" 2>/dev/null
ms=$(kt_failover sec) || kt_die "failover did not complete"
kt_pass "failover in $ms ms"
n=0
while [ $n -lt 100 ]; do
    u=$(kt_status_field "$KT_DIR/udp.status" highest)
    [ "${u:-0}" -gt "$((${u0:-0} + 500))" ] && break
    sleep 0.1
    n=$((n + 1))
done
kt_check "the guest goes on after the failover (udp $u0 -> $u)" [ $n -lt 100 ]
kt_stop "$udp_pid"
kt_check "UDP: no gap, no number with two payloads: $(cat "$KT_DIR/udp.out")" \
    grep -q 'missing=0 .*mismatches=0 .*bad=0' "$KT_DIR/udp.out"
kt_finish
