#!/bin/sh
# kemarid-libvirt-partition.sh - through libvirt, a primary cut off from
# the cluster is superseded and its domain destroyed when its node is
# reachable again, so that libvirt cannot resume it.
#
# Three simulated nodes (real corosync, token 1000); libvirtd with the
# hook and kemarid (libvirt backend, standalone policy) on node1 and
# node2, node3 only votes.  The domain has no disk: on one machine the
# image lock the cut-off copy keeps would stop the take-over (as it
# should), and this test is about the domains.
#   1. node1's link is cut: node1 has no quorum, its domain keeps running
#      with every output held; node2 (quorate with node3) takes over;
#   2. the link is back: node1's kemarid hears node2 announce vm1 in a
#      later epoch and destroys its own domain through libvirt (virsh on
#      node1 no longer shows it running or paused); node2 protects vm1
#      again;
#   3. outside, the observers saw no UDP number with two payloads, no
#      gap, one TCP connection.
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"
. "${top_srcdir:-.}/tests/lib/libvirt.sh"
. "${top_srcdir:-.}/tests/lib/kemarid.sh"

kd_libvirt_require
kt_mkdir

kd_libvirt_up "kw$$"

kt_observers "$(kc_ns h)"
udp_pid=$KT_UDP_PID
meta="<metadata><kemari:kemari xmlns:kemari='https://kemari.dev/xmlns/libvirt/1.0'><kemari:peer node='node1'/><kemari:peer node='node2'/></kemari:kemari></metadata>"
KL_APPEND="kemari.udp=9000 kemari.udp_gap_us=1000" kl_domxml vm1 "$meta" \
    > "$KT_DIR/vm1.xml"
kl_virsh 1 define "$KT_DIR/vm1.xml" >/dev/null || kt_die "cannot define vm1"
out=$(kl_virsh 1 start vm1 2>&1) || kt_die "vm1 did not start: $out"
kl_wait_ready 1 vm1 180 || kt_die "guest did not boot"
kd_wait_field 1 state UNPROTECTED 30 ||
    kt_die "kemarid did not find vm1 through libvirt: $(km 1 status)"
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
state=$(kl_virsh 1 domstate vm1 2>&1 | head -n 1)
kt_check "node1's domain still runs, alone: $state" [ "$state" = running ]
kt_check "node1 has no quorum and holds its outputs: $(kd_vm_field 1 state)" \
    kd_wait_field 1 state DEGRADED 10
sleep 3

# 2. the link is back: node1's domain is superseded and destroyed
kc_restore_link 1
t0=$(kd_now_ms)
n=0
while [ $n -lt 300 ]; do
    state=$(kl_virsh 1 domstate vm1 2>&1 | head -n 1)
    case $state in running|paused|"in shutdown") ;; *) break ;; esac
    sleep 0.1
    n=$((n + 1))
done
case $state in
running|paused|"in shutdown")
    kt_fail "node1's stale domain is still $state 30 s after the link" \
        "came back" ;;
*)
    kt_pass "node1's stale domain destroyed $(( $(kd_now_ms) - t0 )) ms" \
        "after the link came back (virsh: ${state:-gone}):" \
        "$(grep -h superseded "$KT_DIR/n1/kemarid.log" | head -n 1)" ;;
esac
kt_check "node1's kemarid: vm1 no longer primary there" eval \
    'kd_wait_field 1 role secondary 240 || kd_wait_field 1 state STOPPED 1'
kt_check "node2 protects vm1 again" kd_wait_field 2 state PROTECTED 240
sleep 2

# 3. what the world saw
kt_verdicts "$tcp_pid" "$udp_pid" "" "the partition"
for i in 1 2; do
    echo "---- node$i kemarid (last lines) ----"
    tail -n 12 "$KT_DIR/n$i/kemarid.log"
done
kt_finish
