#!/bin/sh
# kemarid-cluster.sh - kemarid and kemari(1) on three simulated nodes
# (network namespaces, each with its own real corosync, token 1000 ms)
# protecting one real QEMU guest whose disk is shared:
#
#  -) while node1's corosync is stopped, vm1 is PEER_UNKNOWN there and
#     cannot be protected; when corosync is back kemarid reconnects;
#  a) `kemari start vm1 --peer node2` on node1 protects the running
#     guest; node2 holds a standby copy;
#  b) killing every process of node1 and cutting its link makes node2's
#     kemarid fail over on its own (standalone policy, quorate with
#     node3); the time from the kill to the guest's next output is
#     measured;
#  d) with node3 in the membership, node2 protects the VM again without
#     anyone asking;
#  e) node1 comes back; killing node3 (the secondary now) leaves node2
#     holding the guest's outputs until corosync confirms node3 gone,
#     then the guest continues unprotected, and node1 becomes the new
#     secondary automatically;
#  c) cutting node2's link leaves both node1 and node2 without quorum:
#     node1's secondary never fails over, node2 never releases outputs.
#
# All along, outside the VM, the UDP, TCP and disk observers of the
# engine tests check that the world never saw the guest go back in time
# and that nothing the guest reported was lost.
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"

. "${top_srcdir:-.}/tests/lib/kemarid.sh"

kt_require_env
command -v corosync >/dev/null || kt_skip "needs corosync"
command -v python3 >/dev/null || kt_skip "needs python3"
[ -x "$KEMARID" ] && [ -x "$KEMARI" ] || kt_skip "kemarid/kemari not built"
kt_mkdir

kc_cluster 3 "kd$$" || kt_die "cannot build the simulated nodes"
hostns=$(kc_ns h)
kd_taps || kt_die "no tap devices"
for i in 1 2 3; do
    kc_corosync_start $i || kt_die "node $i: corosync did not start"
done
kc_wait_quorate 1 60 || kt_die "the cluster did not become quorate"
kt_pass "three nodes, corosync quorate"

for i in 1 2 3; do
    kd_start $i || kt_die "node $i: kemarid did not start"
done
kd_wait_eligible 1 2 20 ||
    kt_die "node1 does not see two eligible peers: $(km 1 nodes)"
kt_pass "kemarid on every node; node1 sees node2 and node3 eligible"

# only root (or kemari.conf's control-group) may use the control socket:
# first the socket's mode stops others, then (mode opened up) kemarid's
# own peer-credential check does
sock=$KT_DIR/n1/kemarid.sock
if command -v setpriv >/dev/null; then
    as_nobody() {
        setpriv --reuid=65534 --regid=65534 --clear-groups "$KEMARI" \
            --socket "$sock" status 2>&1
    }
    out=$(as_nobody)
    rc=$?
    kt_check "uid 65534 cannot reach the socket (exit $rc: $out)" [ $rc = 5 ]
    dmode=$(stat -c %a "$KT_DIR")
    chmod 0711 "$KT_DIR" "$KT_DIR/n1"
    chmod 0666 "$sock"
    out=$(as_nobody)
    rc=$?
    chmod 0600 "$sock"
    chmod "$dmode" "$KT_DIR" "$KT_DIR/n1"
    case "$out" in
    *permission-denied*) rc_ok=yes ;;
    *) rc_ok=no ;;
    esac
    kt_check "kemarid refuses uid 65534 itself (exit $rc: $out)" \
        test "$rc/$rc_ok" = 5/yes
fi

# A KVM-accelerated VM on a node whose kemari-kvm-check failed (these
# machines' /dev/kvm cannot run ordinary guests): protection is refused
# with the check's verdict.  It only needs to exist, paused (-S).
kvm_verdict() {
    km 1 --json status | python3 -c '
import json, sys; print(json.load(sys.stdin)["kvm-check"]["verdict"])'
}
n=0
while [ "$(kvm_verdict)" = not-run ] && [ $n -lt 300 ]; do
    sleep 0.1
    n=$((n + 1))
done
verdict=$(kvm_verdict)
vm2_state() {
    km 1 --json status vm2 2>/dev/null | python3 -c '
import json, sys; print(json.load(sys.stdin)["vms"][0]["state"])' 2>/dev/null
}
if [ "$verdict" = pass ]; then
    echo "kemari-kvm-check passes on this host: refusal not exercised"
else
    ip netns exec "$(kc_ns 1)" "$KEMARI_QEMU" -accel kvm -S -m 64 \
        -nodefaults -display none -name vm2 \
        -qmp "unix:$KT_DIR/n1/run/vm2.qmp,server=on,wait=off" \
        > "$KT_DIR/n1/vm2.stderr" 2>&1 &
    vm2_pid=$!
    kt_track_pid $vm2_pid
    n=0
    while [ "$(vm2_state)" != UNPROTECTED ] && [ $n -lt 100 ] &&
          kill -0 $vm2_pid 2>/dev/null; do
        sleep 0.1
        n=$((n + 1))
    done
    if [ "$(vm2_state)" = UNPROTECTED ]; then
        out=$(km 1 start vm2 --peer node2 2>&1)
        rc=$?
        if [ $rc = 4 ] && echo "$out" | grep -q "kemari-kvm-check"; then
            kt_pass "KVM guest on a failing host: start refused: $out"
        else
            kt_fail "KVM guest on a failing host: exit $rc: $out"
        fi
    else
        echo "QEMU cannot use KVM here ($(tail -n 1 "$KT_DIR/n1/vm2.stderr")):" \
            "refusal not exercised"
    fi
    kill $vm2_pid 2>/dev/null
    wait $vm2_pid 2>/dev/null
fi

# The guest, started by hand on node1 the way the direct backend expects.
kt_disk 64M
kt_observers "$hostns"
udp_pid=$KT_UDP_PID
disk_pid=$KT_DISK_PID
kd_guest_start 1 "kemari.udp=9000 kemari.udp_gap_us=1000 kemari.disk=9001 \
kemari.disk_gap_us=5000" || kt_die "guest did not boot"
kd_wait_field 1 state UNPROTECTED 20 ||
    kt_die "node1's kemarid did not find vm1: $(km 1 status)"
kt_pass "guest booted on node1; kemarid found it: $(kd_vm_field 1 state)"

# corosync goes away under a running VM: nothing is guessed meanwhile
kc_corosync_stop 1
if kd_wait_field 1 state PEER_UNKNOWN 15; then
    out=$(km 1 start vm1 --peer node2 2>&1)
    rc=$?
    kt_check "corosync gone: vm1 PEER_UNKNOWN, start refused (exit $rc: $out)" \
        [ $rc = 6 ]
else
    kt_fail "corosync gone: vm1 is $(kd_vm_field 1 state), not PEER_UNKNOWN"
fi
kc_corosync_start 1 || kt_die "node1: corosync did not restart"
kt_check "corosync back: kemarid reconnected, vm1 UNPROTECTED again" \
    kd_wait_field 1 state UNPROTECTED 30
kd_wait_eligible 1 2 30 || kt_die "node1 lost its peers: $(km 1 nodes)"

# (a) protect it
if out=$(km 1 start vm1 --peer node2 --timeout 240 2>&1); then
    kt_pass "kemari start vm1 --peer node2: protected"
else
    kt_die "kemari start failed (exit $?): $out"
fi
kt_check "node2 holds the standby copy" kd_wait_field 2 state STANDBY 30
kt_bg "$hostns" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check 169.254.10.2 \
    7000 --status "$KT_DIR/tcp.status"
tcp_pid=$KT_BG_PID
kt_wait_above "$KT_DIR/tcp.status" records 20 30 ||
    kt_fail "TCP observer gets no records: $(cat "$KT_DIR/tcp.out")"
sleep 2

# (b) node1 dies: node2 takes over on its own
if kd_kill_and_wait 1; then
    kt_pass "node1 killed: the guest answers from node2 after $KD_ANSWER_MS ms"
    echo "failover time (kill to next guest output): $KD_ANSWER_MS ms"
else
    kt_fail "node1 killed: no guest output within 30 s: $(km 2 status)"
fi
kt_check "node2 runs vm1 as primary" kd_wait_field 2 role primary 10

# (d) re-protection to node3, nobody asking
if kd_wait_field 2 state PROTECTED 240 && [ "$(kd_vm_field 2 peer)" = node3 ]; then
    kt_pass "node2 protected vm1 again, with node3, on its own"
else
    kt_fail "no automatic re-protection: $(km 2 status)"
fi
kt_check "node3 holds the standby copy" kd_wait_field 3 state STANDBY 30

# node1 comes back (a fresh node: nothing of vm1 on it)
kc_restore_link 1
kc_corosync_start 1 || kt_fail "node1: corosync did not restart"
kd_start 1 || kt_fail "node1: kemarid did not restart"
n=0
until [ "$(kd_member 2 1)" = True ] || [ $n -gt 300 ]; do
    sleep 0.1
    n=$((n + 1))
done
kt_check "node1 is back in node2's membership" [ "$(kd_member 2 1)" = True ]
sleep 3

# (e) node3 (the secondary) dies: outputs held until corosync confirms
kc_kill_node 3
t0=$(kd_now_ms)
u0=$(kt_status_field "$KT_DIR/udp.status" highest)
early="" t_gone="" t_out=""
while [ $(( $(kd_now_ms) - t0 )) -lt 30000 ]; do
    # output first, then membership: an output seen while node3 is
    # still a member afterwards was certainly released too early
    u=$(kt_status_field "$KT_DIR/udp.status" highest)
    member=$(kd_member 2 3)
    if [ "$member" = True ] && [ "${u:-0}" -gt "${u0:-0}" ]; then
        early="udp $u0->$u at $(( $(kd_now_ms) - t0 )) ms"
    fi
    [ "$member" = False ] && [ -z "$t_gone" ] && t_gone=$(( $(kd_now_ms) - t0 ))
    if [ -n "$t_gone" ] && [ "${u:-0}" -gt "${u0:-0}" ]; then
        t_out=$(( $(kd_now_ms) - t0 ))
        break
    fi
    sleep 0.05
done
if [ -z "$early" ] && [ -n "$t_out" ]; then
    kt_pass "node3 killed: outputs held until node3 left the membership" \
        "(${t_gone} ms), released at ${t_out} ms"
else
    kt_fail "node3 killed: early=${early:-no} gone=${t_gone:-never}" \
        "released=${t_out:-never}: $(km 2 status)"
fi
if kd_wait_field 2 state PROTECTED 240 && [ "$(kd_vm_field 2 peer)" = node1 ]; then
    kt_pass "node2 protected vm1 again, now with node1"
else
    kt_fail "no re-protection with node1: $(km 2 status)"
fi
kt_check "node1 holds the standby copy" kd_wait_field 1 state STANDBY 30
sleep 2

# (c) node2 cut off: nobody has quorum (node3 is dead)
kc_cut_link 2
sleep 1
n=0 bad=""
while [ $n -lt 80 ]; do
    r1=$(kd_vm_field 1 role)
    s1=$(kd_vm_field 1 state)
    [ "$r1" = secondary ] || bad="node1's copy became $r1 $s1"
    case "$s1" in FAILING_OVER|UNPROTECTED) bad="node1 went $s1" ;; esac
    sleep 0.1
    n=$((n + 1))
done
q1=$(km 1 --json status | python3 -c '
import json, sys; print(json.load(sys.stdin)["cluster"]["quorate"])')
kt_check "node1 without quorum (quorate=$q1)" [ "$q1" = False ]
kt_check "node1 without quorum never failed over (${bad:-stayed $(kd_vm_field 1 state)})" \
    [ -z "$bad" ]
# node2's outputs cannot reach the world now anyway; what counts is that
# its engine still holds them, unreleased
held=$(km 2 --json status vm1 | python3 -c '
import json, sys
v = json.load(sys.stdin)["vms"][0]
print(v["state"], v["engine"]["state"], v["engine"]["held-packets"])')
case "$held" in
DEGRADED\ secondary-lost\ [1-9]*)
    kt_pass "node2 without quorum holds its outputs: $held" ;;
*)  kt_fail "node2 without quorum: expected DEGRADED, secondary-lost and" \
        "held packets: $held" ;;
esac

# the observers' verdicts
kt_verdicts "$tcp_pid" "$udp_pid" "$disk_pid" "failover and re-protection"
for i in 1 2 3; do
    echo "---- node$i kemarid (last lines) ----"
    tail -n 15 "$KT_DIR/n$i/kemarid.log"
done
kt_finish
