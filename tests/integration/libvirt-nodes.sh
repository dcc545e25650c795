#!/bin/sh
# libvirt-nodes.sh - one libvirtd per simulated node (tests/lib/libvirt.sh)
# beside the node's real corosync (tests/lib/cluster.sh), on two nodes:
#
#  - corosync on both nodes stays quorate while libvirtd runs beside it,
#    and node 1's libvirt namespace reaches node 1's corosync;
#  - each node's virsh talks to its own libvirtd (distinct host UUIDs);
#  - the test guest, defined and started through node 1's libvirt with
#    the Kemari QEMU (TCG), boots, and the host namespace reads its TCP
#    sequence; node 1 lists it running, node 2 does not;
#  - libvirtd (and virtlogd) of node 1 stopped and started again: the
#    guest runs on, the same QEMU, and libvirt reconnects to it;
#  - virsh destroy stops it.
# Prints how long each libvirtd takes to answer (node 1 probes the QEMU's
# capabilities, node 2 starts from node 1's cache), the first define per
# node, the restart and the guest's boot.
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"
. "${top_srcdir:-.}/tests/lib/libvirt.sh"

kt_require_env
command -v corosync >/dev/null || kt_skip "needs corosync"
command -v corosync-quorumtool >/dev/null || kt_skip "needs corosync-quorumtool"
kl_require_env
kt_mkdir

timings=""
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
alive() { kill -0 "$1" 2>/dev/null; }

kc_cluster 2 "kl$$" || kt_die "cannot build the simulated nodes"
hostns=$(kc_ns h)
for i in 1 2; do
    kc_corosync_start $i || kt_die "node $i: corosync did not start"
done
kc_wait_quorate 1 60 || kt_die "the cluster did not become quorate"
kt_pass "two nodes, corosync quorate"

for i in 1 2; do
    kl_start $i || kt_die "node $i: libvirtd did not start"
    if [ $i = 1 ]; then
        how="probes the Kemari QEMU's capabilities"
    else
        how="capabilities cache copied from node 1"
    fi
    timings="${timings}node $i: libvirtd start-up $KL_START_MS ms ($how)
"
    kt_pass "node $i: libvirtd answers (pid $(kl_libvirtd_pid $i)," \
        "virtlogd $(kl_virtlogd_pid $i)) after $KL_START_MS ms"
done

for i in 1 2; do
    kt_check "node $i: corosync still runs beside libvirtd" \
        alive "$(kc_corosync_pid $i)"
    uuid=$(kl_virsh $i capabilities 2>/dev/null |
        sed -n 's:.*<uuid>\(.*\)</uuid>.*:\1:p' | head -n 1)
    kt_check "node $i: virsh reaches node $i's libvirtd (host uuid $uuid)" \
        [ "$uuid" = "$(printf '4b454d41-5249-4000-8000-%012d' $i)" ]
done
q=$(kl_on 1 corosync-quorumtool -s 2>&1 | grep '^Quorate:')
kt_check "node 1's libvirt namespace reaches node 1's corosync ($q)" \
    [ "$(echo "$q" | tr -d ' ')" = "Quorate:Yes" ]
kt_check "node 1: hostname node1, /dev/kvm hidden" \
    eval '[ "$(kl_on 1 hostname)" = node1 ] && kl_on 1 test ! -c /dev/kvm'
kt_check "node 1: /run is the node's own" \
    kl_on 1 test -S /run/libvirt/libvirt-sock -a ! -e /run/corosync.pid

# the test guest, through node 1's libvirt
kt_disk 64M
kl_domxml vm1 > "$KT_DIR/vm1.xml"
for i in 1 2; do
    t0=$(now_ms)
    if out=$(kl_virsh $i define --validate "$KT_DIR/vm1.xml" 2>&1); then
        timings="${timings}node $i: first virsh define $(( $(now_ms) - t0 )) ms
"
        kt_pass "node $i: virsh define vm1"
    else
        kt_die "node $i: virsh define: $out"
    fi
done
u1=$(kl_virsh 1 domuuid vm1)
kt_check "vm1 has the same UUID on both nodes ($u1)" \
    eval '[ -n "$u1" ] && [ "$u1" = "$(kl_virsh 2 domuuid vm1)" ]'
if out=$(kl_virsh 1 start vm1 2>&1); then
    kt_pass "node 1: virsh start vm1"
else
    kt_die "node 1: virsh start: $out ($(tail -n 5 \
        "$(kl_dir 1)/log/qemu/vm1.log" 2>/dev/null))"
fi
console=$(kl_console 1 vm1)
t0=$(now_ms)
n=0
until grep -q KEMARI-GUEST-READY "$console" 2>/dev/null; do
    n=$((n + 1))
    [ $n -lt 1800 ] && [ "$(kl_virsh 1 domstate vm1 2>/dev/null)" = running ] ||
        break
    sleep 0.1
done
boot_ms=$(( $(now_ms) - t0 ))
if grep -q KEMARI-GUEST-READY "$console"; then
    kt_pass "the guest booted (KEMARI-GUEST-READY on its console)"
else
    kt_die "no guest: $(tail -n 5 "$console" "$(kl_dir 1)/log/qemu/vm1.log")"
fi

qemu=$(kl_qemu_pids 1)
kt_check "one QEMU in node 1 (${qemu:-none}), the Kemari QEMU" \
    eval '[ "$(echo "$qemu" | wc -w)" = 1 ] &&
    [ "$(readlink -f "/proc/$qemu/exe")" = "$(readlink -f "$KEMARI_QEMU")" ]'
kt_check "no QEMU in node 2" [ -z "$(kl_qemu_pids 2)" ]

kt_bg "$hostns" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check 169.254.10.2 \
    7000 --status "$KT_DIR/tcp.status"
tcp_pid=$KT_BG_PID
if kt_wait_above "$KT_DIR/tcp.status" records 20 30; then
    kt_pass "the host reads the guest's TCP sequence ($KT_VALUE records)"
else
    kt_fail "TCP observer gets no records: $(cat "$KT_DIR/tcp.out")"
fi

kt_check "node 1 lists vm1 running" \
    [ "$(kl_virsh 1 list --name | grep -c '^vm1$')" = 1 ]
kt_check "node 2 does not: vm1 defined there, $(kl_virsh 2 domstate vm1 2>&1)" \
    eval '[ "$(kl_virsh 2 domstate vm1)" = "shut off" ] &&
        list=$(kl_virsh 2 list --name) && ! echo "$list" | grep -q "^vm1$"'
id1=$(kl_virsh 1 domid vm1 2>/dev/null)

# libvirtd of node 1 goes away and comes back
libvirtd1=$(kl_libvirtd_pid 1)
if kl_stop 1; then
    kt_pass "node 1: libvirtd and virtlogd stopped (SIGTERM, exit 0)"
else
    kt_fail "node 1: libvirtd/virtlogd did not stop cleanly"
fi
kt_check "node 1: libvirtd $libvirtd1 gone, virsh gets no answer" \
    eval "! alive $libvirtd1 && ! kl_virsh 1 version >/dev/null 2>&1"
kt_check "node 2's libvirtd still answers" kl_virsh 2 version >/dev/null
r0=$(kt_status_field "$KT_DIR/tcp.status" records)
if alive "$qemu" && kt_wait_above "$KT_DIR/tcp.status" records \
        $((r0 + 20)) 20; then
    kt_pass "without libvirtd the guest runs on ($r0 -> $KT_VALUE records)"
else
    kt_fail "guest without libvirtd: QEMU $qemu," \
        "records $r0 -> $(kt_status_field "$KT_DIR/tcp.status" records)"
fi
if kl_start 1; then
    restart_ms=$KL_START_MS
    kt_pass "node 1: libvirtd started again, answers after $restart_ms ms"
else
    kt_die "node 1: libvirtd did not start again"
fi
kt_check "libvirt reconnected: vm1 $(kl_virsh 1 domstate vm1 2>&1), id \
$(kl_virsh 1 domid vm1 2>&1) (was $id1)" \
    eval '[ "$(kl_virsh 1 domstate vm1)" = running ] &&
        [ "$(kl_virsh 1 domid vm1)" = "$id1" ] &&
        kl_virsh 1 qemu-monitor-command vm1 --hmp info status |
        grep -q running'
kt_check "the same QEMU ($qemu) runs vm1" \
    [ "$(kl_qemu_pids 1)" = "$qemu" ]
r0=$(kt_status_field "$KT_DIR/tcp.status" records)
kt_check "the guest still serves after the restart" \
    kt_wait_above "$KT_DIR/tcp.status" records $((r0 + 20)) 20
kt_stop "$tcp_pid"
kt_check "TCP: one connection, no gap, no mismatch: $(cat "$KT_DIR/tcp.out")" \
    grep -q 'result=ok' "$KT_DIR/tcp.out"

if out=$(kl_virsh 1 destroy vm1 2>&1); then
    kt_pass "node 1: virsh destroy vm1"
else
    kt_fail "node 1: virsh destroy: $out"
fi
n=0
while alive "$qemu" && [ $n -lt 100 ]; do
    sleep 0.1
    n=$((n + 1))
done
kt_check "vm1 shut off, its QEMU $qemu gone" \
    eval '[ "$(kl_virsh 1 domstate vm1)" = "shut off" ] && ! alive "$qemu"'

for i in 1 2; do
    kt_check "node $i: corosync ran through it all" \
        alive "$(kc_corosync_pid $i)"
done
kc_wait_quorate 2 10 || :
kt_check "nothing of the test mounted in the test's own mount namespace" \
    eval '! grep -q "$KT_DIR" /proc/self/mountinfo'

printf '%s' "$timings"
echo "node 1: libvirtd restart with a running domain: $restart_ms ms"
echo "guest boot under libvirt (start to KEMARI-GUEST-READY): $boot_ms ms"
kt_finish
