#!/bin/sh
# kemarid-replicated.sh - `kemari start --replicate` with the direct
# backend, on simulated nodes with real corosync (node3 only votes):
#   - node1 and node2 each have their own image of vm1's disk at the same
#     path, /var/lib/libvirt/images/vm1.img (a node-local directory; no
#     libvirtd runs); node2's starts as random bytes;
#   - `kemari start vm1 --peer node2 --replicate vdisk0` copies the disk
#     and protects the VM; its QEMU replicates vdisk0; writes are not held;
#   - node1 is killed: node2 fails over with its own copy;
#   - node1 comes back: node2 protects vm1 again onto node1, on its own,
#     still replicating vdisk0 (the list travelled in the PAIR_REQUEST);
#     node1's image is resynchronised, not copied whole: its state file
#     (kemarid's state-dir) names the session node2's QEMU kept a resync
#     bitmap for since the failover;
#   - with the guest stopped, the two images compare equal; the UDP/TCP/
#     disk observers (the disk read from node2's image) saw nothing lost.
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"
. "${top_srcdir:-.}/tests/lib/libvirt.sh"
. "${top_srcdir:-.}/tests/lib/kemarid.sh"

kt_require_env
kl_require_env
command -v corosync >/dev/null || kt_skip "needs corosync"
command -v python3 >/dev/null || kt_skip "needs python3"
[ -x "$KEMARID" ] || kt_skip "kemarid not built"
kt_mkdir
KD_NODE_NS=1

# kd_engine I KEY: KEY of vm1's engine in node I's `kemari status --json`.
kd_engine() {
    km "$1" --json status vm1 2>/dev/null | python3 -c '
import json, sys
print(json.load(sys.stdin)["vms"][0]["engine"][sys.argv[1]])' "$2" 2>/dev/null
}

# kd_disk I KEY: KEY of vm1's first replicated disk there, lower case;
# "" when there is none.
kd_disk() {
    km "$1" --json status vm1 2>/dev/null | python3 -c '
import json, sys
e = json.load(sys.stdin)["vms"][0].get("engine") or {}
d = e.get("disks") or [{}]
print(str(d[0].get(sys.argv[1], "")).lower())' "$2" 2>/dev/null
}

# wait_synced I: until node I's kemarid reports vm1's disk vdisk0 in sync
# (it polls QEMU every second), 10 s at most.
wait_synced() {
    _n=0
    until [ "$(kd_disk "$1" device)/$(kd_disk "$1" synced)" = vdisk0/true ]
    do
        [ $_n -lt 100 ] || return 1
        sleep 0.1
        _n=$((_n + 1))
    done
}

kc_cluster 3 "kq$$" || kt_die "cannot build the simulated nodes"
for i in 1 2 3; do
    kc_corosync_start $i || kt_die "node $i: corosync did not start"
done
kc_wait_quorate 1 60 || kt_die "the cluster did not become quorate"
kd_taps || kt_die "no taps"
for i in 1 2; do
    kl_prepare $i || kt_die "node $i: no namespaces"
    kd_start $i || kt_die "node $i: kemarid did not start"
done
kd_wait_eligible 1 1 30 || kt_die "node1 does not see node2: $(km 1 nodes)"
kt_pass "corosync on 3 nodes, kemarid (direct backend) on 2"

img=/var/lib/libvirt/images/vm1.img
img1=$(kl_dir 1)/lib/images/vm1.img
img2=$(kl_dir 2)/lib/images/vm1.img
mkdir -p "${img1%/*}" "${img2%/*}"
truncate -s 64M "$img1"
head -c 64M /dev/urandom > "$img2"
# and a second QMP monitor for the test (kemarid holds the first one), in
# the node's own /run: a secondary started from this command line gets
# its own
KT_DISK="-blockdev driver=file,filename=$img,node-name=f0,cache.direct=on,aio=threads
    -blockdev driver=raw,file=f0,node-name=disk0
    -device virtio-blk-pci,drive=disk0,id=vdisk0
    -chardev socket,id=tq,path=/run/vm1-test.qmp,server=on,wait=off
    -mon chardev=tq,mode=control"

kt_observers "$(kc_ns h)"
kd_guest_start 1 "kemari.udp=9000 kemari.udp_gap_us=1000 kemari.disk=9001 \
kemari.disk_gap_us=5000" || kt_die "guest did not boot"
kd_wait_field 1 state UNPROTECTED 30 || kt_die "kemarid has no vm1"

out=$(km 1 start vm1 --peer node2 --replicate .bad 2>&1)
rc=$?
kt_check "a malformed device id is a usage error (exit $rc): $(
    echo "$out" | head -n 1)" \
    test "$rc/$(kd_vm_field 1 state)" = 2/UNPROTECTED
if out=$(km 1 start vm1 --peer node2 --replicate vdisk0 --timeout 240 2>&1)
then
    kt_pass "kemari start --replicate vdisk0: $(echo "$out" | head -n 1)"
else
    kt_die "kemari start failed: $out"
fi
kt_check "node1: disk vdisk0 replicated, in sync" wait_synced 1
line=$(km 1 status vm1 | grep 'disk vdisk0')
kt_check "kemari status: $line" kt_has "$line" 'replicated, in sync'
kt_check "no disk write held" test "$(kd_engine 1 held-writes)" = 0
kt_bg "$(kc_ns h)" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check 169.254.10.2 \
    7000 --status "$KT_DIR/tcp.status"
tcp_pid=$KT_BG_PID
kt_wait_above "$KT_DIR/tcp.status" records 20 30 ||
    kt_fail "TCP observer gets no records"
sleep 2

if kd_kill_and_wait 1; then
    kt_pass "node1 killed: the guest answers from node2 after $KD_ANSWER_MS ms"
else
    kt_fail "node1 killed: no guest output within 30 s: $(km 2 status)"
fi
kt_check "node2 runs vm1 as primary" kd_wait_field 2 role primary 10

# node1 comes back, with its stale image: node2 protects vm1 onto it
kc_restore_link 1
kc_corosync_start 1 || kt_fail "node1: corosync did not restart"
kl_prepare 1 || kt_fail "node1: no namespaces"
kd_start 1 || kt_fail "node1: kemarid did not restart"
kt_check "node2 protects vm1 again, onto node1" \
    kd_wait_field 2 state PROTECTED 240
qmp2() {
    python3 "$top_srcdir/tests/lib/qmp.py" "$(kl_dir 2)/run/vm1-test.qmp" "$@"
}
kt_check "node2: disk vdisk0 still replicated, in sync" wait_synced 2
line=$(km 2 status vm1 | grep 'disk vdisk0')
kt_check "kemari status: $line" kt_has "$line" 'in sync .resync .* sent'
kt_check "the copy onto node1 was incremental" \
    test "$(kd_disk 2 incremental)" = true
copied=$(kd_disk 2 copied)
kt_check "the resync sent $copied bytes, under a quarter of the 64 MiB disk" \
    test "${copied:-67108864}" -lt 16777216
kt_check "node1 keeps the disk's state in kemarid's state-dir" \
    test -s "$KT_DIR/n1/state/disks/vm1/vdisk0.kemari-disk"
params=$(qmp2 query-migrate-parameters)
kt_check "node2's QEMU replicates vdisk0" \
    kt_has "$params" '"x-kemari-replicated-disks": \["vdisk0"\]'

qmp2 stop >/dev/null || kt_fail "stop refused"
sleep 1.5
if cmp -s "$img1" "$img2"; then
    kt_pass "guest stopped: node1's and node2's images are equal"
else
    kt_fail "guest stopped: the images differ: $(cmp "$img1" "$img2" 2>&1 |
        head -n 1)"
fi
qmp2 cont >/dev/null || kt_fail "cont refused"
sleep 2
KT_IMG=$img2
kt_verdicts "$tcp_pid" "$KT_UDP_PID" "$KT_DISK_PID" "the failover"
for i in 1 2; do
    echo "---- node$i kemarid (last lines) ----"
    tail -n 12 "$KT_DIR/n$i/kemarid.log"
done
kt_finish
