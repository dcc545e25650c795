#!/bin/sh
# kemarid-partition.sh - a primary cut off from the cluster is superseded,
# never heard, and destroyed when it is reachable again.
#
# Three simulated nodes (real corosync, token 1000 ms), kemarid with the
# direct backend.  The guest runs on node1, protected by node2.  Its disk
# is shared without image locks, as with shared storage whose locks were
# lost (an NFS lease that expired behind a partition): so nothing but
# Kemari stops two copies from running.
#   1. node1's link is cut: node1 has no quorum and keeps its copy
#      running with every output held; node2 (quorate with node3) takes
#      over and the guest answers from there;
#   2. the link is back: node1's kemarid hears node2 announce the VM in a
#      later epoch and destroys its own copy (its QEMU is gone); node2
#      protects the VM again;
#   3. outside, the observers saw no UDP number with two payloads, no
#      gap, one TCP connection, every reported disk record on the disk:
#      node1's copy, which ran on alone for a while, never reached the
#      world.
# (This test found an engine crash: the failover's bottom half, replaying
# held disk writes, polled the main loop and ran itself again inside;
# engine-failover-cutoff.sh now pins it at the engine level.)
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"
. "${top_srcdir:-.}/tests/lib/kemarid.sh"

kt_require_env
command -v corosync >/dev/null || kt_skip "needs corosync"
command -v python3 >/dev/null || kt_skip "needs python3"
[ -x "$KEMARID" ] && [ -x "$KEMARI" ] || kt_skip "kemarid/kemari not built"
kt_mkdir

kc_cluster 3 "kp$$" || kt_die "cannot build the simulated nodes"
kd_taps || kt_die "no tap devices"
for i in 1 2 3; do
    kc_corosync_start $i || kt_die "node $i: corosync did not start"
done
kc_wait_quorate 1 60 || kt_die "the cluster did not become quorate"
for i in 1 2 3; do
    kd_start $i || kt_die "node $i: kemarid did not start"
done
kd_wait_eligible 1 2 20 || kt_die "peers not eligible: $(km 1 nodes)"

KT_DISK_LOCKING=off kt_disk 64M
kt_observers "$(kc_ns h)"
udp_pid=$KT_UDP_PID
disk_pid=$KT_DISK_PID
kd_guest_start 1 "kemari.udp=9000 kemari.udp_gap_us=1000 kemari.disk=9001 \
kemari.disk_gap_us=5000" || kt_die "guest did not boot"
pri_pid=$KT_QEMU_PID
kd_wait_field 1 state UNPROTECTED 20 || kt_die "vm1 not found: $(km 1 status)"
km 1 start vm1 --peer node2 --timeout 240 >/dev/null ||
    kt_die "protection did not start: $(km 1 status)"
kt_check "protected, node2 standby" kd_wait_field 2 state STANDBY 30
kt_bg "$(kc_ns h)" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check 169.254.10.2 \
    7000 --status "$KT_DIR/tcp.status"
tcp_pid=$KT_BG_PID
kt_wait_above "$KT_DIR/tcp.status" records 20 30 ||
    kt_fail "TCP observer gets no records"
sleep 2

# 1. node1 cut off
kc_cut_link 1
t0=$(kd_now_ms)
u0=$(kt_status_field "$KT_DIR/udp.status" highest)
if kt_wait_above "$KT_DIR/udp.status" highest "${u0:-0}" 30; then
    kt_pass "node1 cut off: the guest answers from node2 after" \
        "$(( $(kd_now_ms) - t0 )) ms"
else
    kt_fail "node1 cut off: no guest output: $(km 2 status)"
fi
kt_check "node2 runs vm1 as primary" kd_wait_field 2 role primary 10
kt_check "node1's copy still runs, alone (pid $pri_pid)" kill -0 "$pri_pid"
kt_check "node1 has no quorum and holds its outputs: $(kd_vm_field 1 state)" \
    kd_wait_field 1 state DEGRADED 10
sleep 3

# 2. the link is back: node1's copy is superseded and destroyed
kc_restore_link 1
n=0
while kill -0 "$pri_pid" 2>/dev/null && [ $n -lt 300 ]; do
    sleep 0.1
    n=$((n + 1))
done
if kill -0 "$pri_pid" 2>/dev/null; then
    kt_fail "node1's stale copy still runs 30 s after the link came back"
else
    kt_pass "node1's stale copy destroyed $((n * 100)) ms after the link" \
        "came back: $(grep -h superseded "$KT_DIR/n1/kemarid.log" | head -n 1)"
fi
kt_check "node1's kemarid: vm1 STOPPED" kd_wait_field 1 state STOPPED 10
kt_check "node2 protects vm1 again" kd_wait_field 2 state PROTECTED 240
sleep 2

# 3. what the world saw
kt_verdicts "$tcp_pid" "$udp_pid" "$disk_pid" "the partition"
for i in 1 2; do
    echo "---- node$i kemarid (last lines) ----"
    tail -n 12 "$KT_DIR/n$i/kemarid.log"
done
kt_finish
