#!/bin/sh
# engine-replicated.sh - a replicated disk: the initial copy, the copies
# compared byte for byte, and a failover onto the secondary's copy.
#
# The guest appends fsynced records to its disk every 2 ms from boot on,
# so everything below happens under continuous writes.
#   1. Bad requests are refused with a clear error and leave the guest
#      running: a device id that names no disk, a secondary whose image
#      has another size.
#   2. The secondary's own image starts empty (0 bytes, as kemarid
#      makes one that is missing): the secondary grows it to the disk's
#      size.  Protection copies the disk while the guest runs on;
#      query-kemari shows the copy's progress on the primary, then both
#      sides report the disk synced.  (engine-failover-replicated and
#      engine-resync copy onto images of random bytes.)
#   3. The primary's writes are not held (held-writes stays 0) while its
#      network output still is.
#   4. Three times: the guest is stopped, a checkpoint taken while it
#      stands is applied, and the two images are compared byte for byte.
#   5. The primary is killed, the secondary fails over with its own copy:
#      the UDP sequence, the TCP connection and every reported disk record
#      (read from the secondary's image) are intact.
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
command -v python3 >/dev/null || kt_skip "needs python3 (QMP client)"
kt_mkdir
ns=kt-rp-$$
kt_pair_netns "$ns"
rep='{"x-kemari-replicated-disks": ["vdisk0"]}'

kt_disk 64M "$KT_DIR/pri.img"
pri_img=$KT_IMG
kt_workload_guest "$ns" "$KT_DISK" || kt_die "guest did not boot"
append=$KT_APPEND
pri_pid=$KT_QEMU_PID
kt_bg "$ns" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check 169.254.10.2 7000 \
    --status "$KT_DIR/tcp.status"
tcp_pid=$KT_BG_PID
sleep 2

# 1. refusals
kt_pair_tap "$ns" kt1
kt_disk 32M "$KT_DIR/small.img"
# shellcheck disable=SC2086  # $KT_DISK is a list of arguments
KT_TAP=kt1 kt_qemu "$ns" small "$append" $KT_DISK -incoming defer
small_pid=$KT_QEMU_PID
kt_qmp q0 migrate-set-capabilities \
    '{"capabilities":[{"capability":"x-kemari","state":true}]}' >/dev/null
kt_qmp q0 migrate-set-parameters \
    '{"x-kemari-replicated-disks": ["nosuchdisk"]}' >/dev/null
if err=$(kt_qmp q0 migrate '{"uri":"tcp:127.0.0.1:4499"}' 2>&1); then
    kt_fail "a device id that names no disk was accepted"
else
    kt_check "a device id that names no disk is refused: $err" \
        kt_has "$err" 'no device .nosuchdisk. with a disk'
fi
kt_qmp q0 migrate-set-parameters \
    '{"x-kemari-replicated-disks": ["vdisk0", "vdisk0"]}' >/dev/null
err=$(kt_qmp q0 migrate '{"uri":"tcp:127.0.0.1:4499"}' 2>&1)
kt_check "a device named twice is refused: $err" \
    kt_has "$err" 'names .vdisk0. twice'
kt_qmp small migrate-set-capabilities \
    '{"capabilities":[{"capability":"x-kemari","state":true}]}' >/dev/null
kt_qmp small migrate-incoming '{"uri":"tcp:127.0.0.1:4498"}' >/dev/null
kt_qmp q0 migrate-set-parameters "$rep" >/dev/null
kt_qmp q0 migrate '{"uri":"tcp:127.0.0.1:4498"}' >/dev/null
n=0
while kill -0 "$small_pid" 2>/dev/null && [ $n -lt 100 ]; do
    sleep 0.1
    n=$((n + 1))
done
kt_check "a secondary disk of another size is refused: $(
    grep kemari "$KT_DIR/small.stderr" | head -n 1)" \
    grep -q "disk 'vdisk0' has 33554432 bytes here and 67108864 on the source" \
    "$KT_DIR/small.stderr"
kill -9 "$small_pid" 2>/dev/null
wait "$small_pid" 2>/dev/null
n=0
while ! kt_qmp q0 query-migrate | grep -q '"status": "failed"' &&
      [ $n -lt 100 ]; do
    sleep 0.1
    n=$((n + 1))
done
kt_check "the primary's migration failed" \
    eval 'kt_qmp q0 query-migrate | grep -q "\"status\": \"failed\""'
kt_check "the primary's guest still runs" \
    eval 'kt_qmp q0 query-status | grep -q "\"running\": true"'
kt_check "the primary is not protected after the refusals" \
    test "$(kt_kemari_field q0 state)" != protected

# 2. the initial copy, onto an empty image
kt_pair_tap "$ns" kt2
kt_disk 0 "$KT_DIR/sec.img"
sec_img=$KT_IMG
# shellcheck disable=SC2086
KT_TAP=kt2 kt_qemu "$ns" q1 "$append" $KT_DISK -incoming defer
sec_pid=$KT_QEMU_PID
d0=$(kt_status_field "$KT_DIR/disk.status" highest)
kt_qmp q1 migrate-set-capabilities \
    '{"capabilities":[{"capability":"x-kemari","state":true}]}' >/dev/null
kt_qmp q1 migrate-incoming '{"uri":"tcp:127.0.0.1:4401"}' >/dev/null
kt_qmp q0 migrate-set-parameters "$rep" >/dev/null
kt_qmp q0 migrate '{"uri":"tcp:127.0.0.1:4401"}' >/dev/null ||
    kt_die "migrate refused"
remaining_max=0
n=0
while [ $n -lt 1200 ]; do
    st=$(kt_kemari_field q0 state)
    r=$(kt_disk_field q0 remaining)
    [ "${r:-0}" -gt "$remaining_max" ] 2>/dev/null && remaining_max=$r
    [ "$st" = protected ] && break
    sleep 0.1
    n=$((n + 1))
done
kt_check "protected after the initial copy (largest remaining seen: $remaining_max bytes)" \
    test "$st" = protected
kt_wait_kemari q1 protected 30
kt_check "primary: disk synced, $(kt_disk_field q0 transferred) data bytes sent" \
    test "$(kt_disk_field q0 synced)" = true
kt_check "secondary: disk synced, $(kt_disk_field q1 transferred) data bytes received" \
    test "$(kt_disk_field q1 synced)" = true
kt_check "the primary's remaining count is 0" \
    test "$(kt_disk_field q0 remaining)" = 0
kt_check "the secondary's empty image was grown to the disk's size ($(
    stat -c %s "$sec_img") bytes)" test "$(stat -c %s "$sec_img")" = 67108864

# 3. writes are not held, packets are
held_w=0 held_p=0 n=0
while [ $n -lt 20 ]; do
    w=$(kt_kemari_field q0 held-writes)
    p=$(kt_kemari_field q0 held-packets)
    held_w=$((held_w + ${w:-1}))
    held_p=$((held_p + ${p:-0}))
    sleep 0.1
    n=$((n + 1))
done
d1=$(kt_status_field "$KT_DIR/disk.status" highest)
kt_check "records were written during the copy and after ($d0 -> $d1)" \
    test "${d1:-0}" -gt "$((${d0:-0} + 20))"
kt_check "no disk write held in 20 samples (sum $held_w)" test "$held_w" = 0
kt_check "packets are still held (sum over 20 samples: $held_p)" \
    test "$held_p" -gt 0

# 4. quiesced comparisons
for round in 1 2 3; do
    kt_compare_quiesced q0 q1 "$pri_img" "$sec_img" "round $round"
    sleep 1
done

# 5. failover onto the secondary's copy
sleep 1
kill -9 "$pri_pid"
wait "$pri_pid" 2>/dev/null
if ms=$(kt_failover q1); then
    kt_pass "failover in $ms ms"
else
    kt_fail "failover did not complete"
fi
d2=$(kt_status_field "$KT_DIR/disk.status" highest)
if kt_wait_above "$KT_DIR/disk.status" highest "$((${d2:-0} + 20))" 30; then
    kt_pass "the guest writes on after the failover ($d2 -> $KT_VALUE)"
else
    kt_fail "no disk progress after the failover ($d2 -> $KT_VALUE)"
    kt_nic_dump q1
fi
KT_IMG=$sec_img
kt_verdicts "$tcp_pid" "$KT_UDP_PID" "$KT_DISK_PID" "the failover"
kill -9 "$sec_pid"
wait "$sec_pid" 2>/dev/null
kt_finish
