#!/bin/sh
# engine-held-limit.sh - held outputs are bounded by x-kemari-max-held,
# and nothing is lost for it.
#
# The guest sends UDP datagrams as fast as it can; x-kemari-max-held is
# 4 MiB; the secondary QEMU is SIGKILLed.  The primary declares it lost
# and keeps every output held; once the held bytes reach the limit it
# stops the guest's vCPUs (query-kemari "throttled", query-status
# "kemari", not running, KEMARI_OUTPUT_THROTTLE) instead of growing: the
# held bytes stay at the limit plus what the NIC was already sending,
# QEMU's resident memory stops growing and nothing is released.  After
# x-kemari-continue-unprotected the guest runs again and everything held
# comes out in order: no gap, no number with two payloads.  The range
# checks of the parameter are tested first.
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
command -v python3 >/dev/null || kt_skip "needs python3 (QMP client)"
kt_mkdir
ns=kt-hl-$$
kt_pair_netns "$ns"
append="kemari.udp=9000 kemari.udp_gap_us=0"
limit=4194304
# What the NIC may already be sending when the limit is reached: one
# virtio-net transmit burst (256 frames) of full-size frames.
slack=$((256 * 1536))

# held_bytes: held packet + write bytes on the primary.
held_bytes() {
    kt_qmp pri query-kemari 2>/dev/null | python3 -c "import json, sys
i = json.load(sys.stdin)
print(i['held-packet-bytes'] + i['held-write-bytes'])" 2>/dev/null
}

# rss_kib PID: resident memory of a process, KiB.
rss_kib() {
    sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"
}

kt_bg "$ns" "$KT_DIR/udp.out" "$KEMARI_KSEQ" udp-recv 9000 \
    --status "$KT_DIR/udp.status"
udp_pid=$KT_BG_PID
kt_pair_tap "$ns" kt0
kt_pair_tap "$ns" kt1
# A second QMP monitor, to wait for events while tests query the first.
KT_TAP=kt0 kt_qemu "$ns" pri "$append" \
    -qmp "unix:$KT_DIR/pri-ev.qmp,server=on,wait=off"
pri_pid=$KT_QEMU_PID
kt_wait_console pri KEMARI-GUEST-READY 180 || kt_die "guest did not boot"
KT_TAP=kt1 kt_qemu "$ns" sec "$append" -incoming defer
sec_pid=$KT_QEMU_PID

# The parameter: its range and how it is shown.
if err=$(kt_qmp pri migrate-set-parameters \
        '{"x-kemari-max-held": 1048575}' 2>&1); then
    kt_fail "x-kemari-max-held below 1 MiB accepted"
else
    kt_check "x-kemari-max-held below 1 MiB refused: $err" \
        eval 'echo "$err" | grep -q "x-kemari-max-held.*1 MiB and 16 GiB"'
fi
if err=$(kt_qmp pri migrate-set-parameters \
        '{"x-kemari-max-held": 17179869185}' 2>&1); then
    kt_fail "x-kemari-max-held above 16 GiB accepted"
else
    kt_check "x-kemari-max-held above 16 GiB refused: $err" \
        eval 'echo "$err" | grep -q "x-kemari-max-held.*1 MiB and 16 GiB"'
fi
kt_check "default x-kemari-max-held is 256 MiB" eval \
    'kt_qmp pri query-migrate-parameters | grep -q "\"x-kemari-max-held\": 268435456"'
kt_check "protected" kt_protect pri sec 4412 \
    "{\"x-kemari-ack-timeout\": 1000, \"x-kemari-max-held\": $limit}"
kt_check "query-migrate-parameters shows x-kemari-max-held" eval \
    'kt_qmp pri query-migrate-parameters | grep -q "\"x-kemari-max-held\": $limit"'
kt_check "info migrate_parameters shows x-kemari-max-held" eval \
    "kt_qmp pri human-monitor-command \
'{\"command-line\": \"info migrate_parameters\"}' |
grep -q 'x-kemari-max-held: $limit bytes'"
kt_check "query-kemari shows the limit, not throttled" eval \
    'test "$(kt_kemari_field pri held-limit)" = $limit &&
     test "$(kt_kemari_field pri throttled)" = False'
sleep 2
rss0=$(rss_kib "$pri_pid")

kt_qmp pri-ev --wait-event KEMARI_OUTPUT_THROTTLE --match throttled=True \
    --timeout 60 > "$KT_DIR/throttle-on.event" 2>&1 &
ev_pid=$!
kt_track_pid "$ev_pid"
sleep 0.5
kill -9 "$sec_pid"
wait "$sec_pid" 2>/dev/null
kt_check "primary declares the secondary lost" \
    kt_wait_kemari pri secondary-lost 15
t=0
while [ "$(kt_kemari_field pri throttled)" != True ] && [ "$t" -lt 300 ]; do
    sleep 0.1
    t=$((t + 1))
done
kt_check "the guest is throttled once the held outputs reach the limit" \
    test "$(kt_kemari_field pri throttled)" = True
if wait "$ev_pid"; then
    kt_pass "KEMARI_OUTPUT_THROTTLE: $(cat "$KT_DIR/throttle-on.event")"
else
    kt_fail "no KEMARI_OUTPUT_THROTTLE: $(cat "$KT_DIR/throttle-on.event")"
fi
sleep 0.5                   # releases of epochs acknowledged before

h1=$(kt_status_field "$KT_DIR/udp.status" highest)
max=0 min=
for _ in 1 2 3 4 5 6; do
    b=$(held_bytes)
    [ "${b:-0}" -gt "$max" ] && max=$b
    [ -z "$min" ] || [ "${b:-0}" -lt "$min" ] && min=${b:-0}
    sleep 0.5
done
h2=$(kt_status_field "$KT_DIR/udp.status" highest)
p2=$(kt_kemari_field pri held-packets)
rss1=$(rss_kib "$pri_pid")
kt_log "held bytes $min..$max (limit $limit), RSS $rss0 -> $rss1 KiB"
kt_check "held bytes at the limit ($min..$max, limit $limit + $slack)" \
    test "$min" -ge "$limit" -a "$max" -le "$((limit + slack))"
kt_check "held bytes do not grow while throttled ($min..$max)" \
    test "$min" = "$max"
kt_check "nothing released while the secondary is lost (highest $h1 -> $h2)" \
    test "$h1" = "$h2"
status=$(kt_qmp pri query-status)
kt_check "vCPUs stopped, run state kemari: $status" eval \
    'echo "$status" | grep -q "\"running\": false" &&
     echo "$status" | grep -q "\"status\": \"kemari\""'
# Per held datagram the held bytes count the frame; the list entry costs
# about as much again.  Allow three times the limit plus 32 MiB.
kt_check "RSS bounded: $rss0 -> $rss1 KiB" \
    test "$((rss1 - rss0))" -le "$((3 * limit / 1024 + 32768))"
sleep 2
rss2=$(rss_kib "$pri_pid")
kt_check "RSS does not grow while throttled: $rss1 -> $rss2 KiB" \
    test "$((rss2 - rss1))" -le 4096
kt_check "one throttle episode" \
    test "$(kt_kemari_field pri throttle-episodes)" = 1

# An operator's stop while throttled takes over: the end of the throttle
# does not resume the guest.
kt_check "stop while throttled" eval 'kt_qmp pri stop >/dev/null'
status=$(kt_qmp pri query-status)
kt_check "run state paused after stop: $status" eval \
    'echo "$status" | grep -q "\"status\": \"paused\""'
if ms=$(kt_qmp pri-ev x-kemari-continue-unprotected '{}' \
        --then-event KEMARI_OUTPUT_THROTTLE --match throttled=False \
        --timeout 30); then
    kt_pass "continue-unprotected ends the throttle ($ms ms)"
else
    kt_fail "continue-unprotected: no end of the throttle"
fi
kt_check "primary runs unprotected" kt_wait_kemari pri unprotected 15
kt_check "not throttled any more" \
    test "$(kt_kemari_field pri throttled)" = False
kt_check "Kemari holds nothing any more" test "$(held_bytes)" = 0
status=$(kt_qmp pri query-status)
kt_check "the operator's stop stays in force: $status" eval \
    'echo "$status" | grep -q "\"status\": \"paused\""'
# A stopped VM's NICs send nothing (QEMU queues their packets until it
# runs): the released outputs leave with "cont".
sleep 1
h3=$(kt_status_field "$KT_DIR/udp.status" highest)
kt_check "a guest stopped by the operator sends nothing ($h2 -> $h3)" \
    test "$h3" = "$h2"
kt_check "cont" eval 'kt_qmp pri cont >/dev/null'
kt_check "the guest runs again" eval \
    'kt_qmp pri query-status | grep -q "\"running\": true"'
if kt_wait_above "$KT_DIR/udp.status" highest "$((h2 + p2))" 20; then
    kt_pass "held outputs released, the guest sends again ($h2 -> $KT_VALUE)"
else
    kt_fail "held outputs not released after cont ($h2 -> $KT_VALUE)"
fi
sleep 1
kill -9 "$pri_pid"
wait "$pri_pid" 2>/dev/null
kt_stop "$udp_pid"
kt_check "UDP: no gap, no number with two payloads: $(cat "$KT_DIR/udp.out")" \
    grep -q 'missing=0 .*mismatches=0 .*bad=0' "$KT_DIR/udp.out"
kt_finish
