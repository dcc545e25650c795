#!/bin/sh
# kemarid-libvirt.sh - protection of a libvirt domain, with kemarid's
# libvirt backend, on simulated nodes each running real corosync and its
# own real libvirtd (node3 only votes):
#   - the hook (libvirt-driver/kemari-hook, installed in each node's
#     hooks/qemu.d) refuses to start a <kemari> domain it cannot protect,
#     with its message, and lets the protected one start;
#   - kemarid finds the running domain through libvirt; `virsh
#     kemari-start` (the virsh front) protects it with the peer named in
#     its <kemari>; node2's libvirt shows the secondary as a paused domain;
#   - killing every process of node1 and cutting its link makes node2's
#     kemarid fail over; `virsh list` on node2 shows the domain running,
#     and the UDP/TCP/disk observers saw nothing lost, nothing repeated
#     with other contents.
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"
. "${top_srcdir:-.}/tests/lib/libvirt.sh"
. "${top_srcdir:-.}/tests/lib/kemarid.sh"

kd_libvirt_require
kt_mkdir

kt_disk 64M
kd_libvirt_up "kv$$"
kt_pass "corosync on 3 nodes, libvirtd and kemarid (libvirt backend) on 2"

meta="<metadata><kemari:kemari xmlns:kemari='https://kemari.dev/xmlns/libvirt/1.0'><kemari:peer node='node2'/></kemari:kemari></metadata>"

# the hook refuses what the engine cannot protect
bad="<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><qemu:arg value='-device'/><qemu:arg value='ivshmem-plain,memdev=m'/></qemu:commandline>"
kl_domxml vmbad "$meta$bad" > "$KT_DIR/vmbad.xml"
kl_virsh 1 define "$KT_DIR/vmbad.xml" >/dev/null ||
    kt_fail "cannot define vmbad"
out=$(kl_virsh 1 start vmbad 2>&1)
rc=$?
if [ $rc != 0 ] && echo "$out" | grep -q "refused: QEMU command-line passthrough"; then
    kt_pass "hook refuses an unprotectable domain: $(echo "$out" | grep refused | head -n 1)"
else
    kt_fail "hook did not refuse vmbad (exit $rc): $out"
fi

kd_libvirt_vm1 "$meta"
udp_pid=$KT_UDP_PID
disk_pid=$KT_DISK_PID
kt_pass "vm1 started by libvirt, vetted by the hook, found by kemarid"

# through the virsh front, the peer taken from the domain's <kemari>
front=${top_srcdir:-.}/libvirt-driver/virsh-kemari
vf() {
    _i=$1
    shift
    kl_on "$_i" env KEMARI_SOCKET="$KT_DIR/n$_i/kemarid.sock" \
        KEMARI_CLI="$KEMARI" sh "$front" -c qemu:///system "$@"
}
if out=$(vf 1 kemari-start vm1 --timeout 240 2>&1); then
    kt_pass "virsh kemari-start vm1: $(echo "$out" | head -n 1)"
else
    kt_die "virsh kemari-start failed: $out"
fi
kt_check "node2 holds the standby copy" kd_wait_field 2 state STANDBY 30
state=$(kl_virsh 2 domstate vm1 2>&1 | head -n 1)
kt_check "node2's libvirt lists the secondary: $state" [ "$state" = paused ]
kt_bg "$(kc_ns h)" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check 169.254.10.2 \
    7000 --status "$KT_DIR/tcp.status"
tcp_pid=$KT_BG_PID
kt_wait_above "$KT_DIR/tcp.status" records 20 30 ||
    kt_fail "TCP observer gets no records"
sleep 2

if kd_kill_and_wait 1; then
    kt_pass "node1 killed: the guest answers from node2 after $KD_ANSWER_MS ms"
    echo "failover time (kill to next guest output): $KD_ANSWER_MS ms"
else
    kt_fail "node1 killed: no guest output within 30 s: $(km 2 status)"
fi
kt_check "node2's kemarid runs vm1 as primary" kd_wait_field 2 role primary 10
state=""
n=0
while [ $n -lt 50 ]; do
    state=$(kl_virsh 2 domstate vm1 2>&1 | head -n 1)
    [ "$state" = running ] && break
    sleep 0.2
    n=$((n + 1))
done
kt_check "virsh on node2: vm1 $state" [ "$state" = running ]
kl_virsh 2 list --all
vf 2 kemari-status vm1
n=0
until kl_virsh 2 dominfo vm1 2>/dev/null | grep -q '^Persistent: *yes' ||
      [ $n -ge 50 ]; do
    sleep 0.2
    n=$((n + 1))
done
persistent=$(kl_virsh 2 dominfo vm1 2>/dev/null | sed -n 's/^Persistent: *//p')
incoming=$(kl_virsh 2 dumpxml --inactive vm1 2>/dev/null | grep -c -- '-incoming')
kt_check "node2 now defines vm1 (persistent: $persistent), without -incoming ($incoming)" \
    test "$persistent/$incoming" = yes/0

sleep 2
kt_verdicts "$tcp_pid" "$udp_pid" "$disk_pid" "the failover"
# and libvirt manages it like any other domain: an ACPI shutdown
if kl_virsh 2 shutdown vm1 >/dev/null; then
    n=0
    while kl_virsh 2 list --name 2>/dev/null | grep -qx vm1 && [ $n -lt 150 ]; do
        sleep 0.2
        n=$((n + 1))
    done
    if kl_virsh 2 list --name 2>/dev/null | grep -qx vm1; then
        kt_fail "virsh shutdown on node2: vm1 still runs after 30 s"
    else
        kt_pass "virsh shutdown on node2: the guest powered off, libvirt saw it"
    fi
    kt_check "kemarid on node2 saw vm1 stop (state $(kd_vm_field 2 state))" \
        kd_wait_field 2 state STOPPED 10
else
    kt_fail "virsh shutdown refused on node2"
fi
for i in 1 2; do
    echo "---- node$i kemarid (last lines) ----"
    tail -n 12 "$KT_DIR/n$i/kemarid.log"
done
kt_finish
