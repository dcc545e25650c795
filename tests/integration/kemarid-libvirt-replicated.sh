#!/bin/sh
# kemarid-libvirt-replicated.sh - a libvirt domain whose disk is local to
# each node (<kemari:storage mode='replicated'/>), protected by kemarid's
# libvirt backend on simulated nodes with real corosync and libvirtd
# (node3 only votes):
#   - each node has its own image at /var/lib/libvirt/images/vm1.img
#     (a node-local directory); node2 has none at first: its kemarid makes
#     an empty one, which the engine grows to the disk's size;
#   - the hook lets the domain start (the same disk in shared mode is
#     refused: it is on no shared storage);
#   - kemarid takes the engine's settings from the domain's <kemari>
#     (replicated disk virtio-disk0, max-interval-ms), as QEMU's
#     query-migrate-parameters shows;
#   - `kemari status` shows the initial copy's progress (percent, rate,
#     time left), then the disk in sync;
#   - the domain is suspended, a checkpoint taken while it stands reaches
#     node2, and the two nodes' images compare equal byte for byte;
#   - node1 is killed: node2 fails over with its own copy, and the
#     UDP/TCP/disk observers (the disk read from node2's image) saw
#     nothing lost;
#   - while node1 is away, node2's QEMU is killed too and the domain is
#     started again on node2 (the guest boots afresh).  kemarid gives the
#     new QEMU its replicated disk and state directory as soon as it sees
#     it run, before the guest writes, so the QEMU takes up the disk's
#     activity log (kept on stable storage since the failover) as its
#     resync bitmap;
#   - node1 comes back and `kemari start` protects vm1 onto it again:
#     node1's image is resynchronised, not copied whole, and the images
#     compare equal.
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"
. "${top_srcdir:-.}/tests/lib/libvirt.sh"
. "${top_srcdir:-.}/tests/lib/kemarid.sh"

kd_libvirt_require
kt_mkdir
size_mb=384

kd_libvirt_up "kr$$"
kt_pass "corosync on 3 nodes, libvirtd and kemarid (libvirt backend) on 2"

# node-local images: the same path in each node, two files on this host
KT_IMG=/var/lib/libvirt/images/vm1.img
img1=$(kl_dir 1)/lib/images/vm1.img
img2=$(kl_dir 2)/lib/images/vm1.img
mkdir -p "${img1%/*}" "${img2%/*}"
# data on most of node1's disk, so that the copy takes a few seconds; the
# first 128 MiB are zero, for the guest's records (kseq disk-verify reads
# them up to the first block that holds none)
head -c 128M /dev/zero > "$img1"
head -c "$((size_mb - 128))M" /dev/urandom >> "$img1"
rm -f "$img2"

ns="<kemari:kemari xmlns:kemari='https://kemari.dev/xmlns/libvirt/1.0'>"
meta="<metadata>$ns<kemari:peer node='node1'/><kemari:peer node='node2'/><kemari:checkpoint max-interval-ms='200'/><kemari:storage mode='replicated'/></kemari:kemari></metadata>"
shared="<metadata>$ns<kemari:peer node='node2'/></kemari:kemari></metadata>"

kl_domxml vmshared "$shared" > "$KT_DIR/vmshared.xml"
kl_virsh 1 define "$KT_DIR/vmshared.xml" >/dev/null ||
    kt_fail "cannot define vmshared"
out=$(kl_virsh 1 start vmshared 2>&1)
rc=$?
if [ $rc != 0 ] && echo "$out" | grep -q "refused"; then
    kt_pass "the node-local disk in shared mode is refused: $(
        echo "$out" | grep refused | head -n 1)"
else
    kt_fail "vmshared was not refused (exit $rc): $out"
fi
kl_virsh 1 undefine vmshared >/dev/null 2>&1

kd_libvirt_vm1 "$meta"
udp_pid=$KT_UDP_PID
disk_pid=$KT_DISK_PID
kt_pass "vm1 (replicated disk) started by libvirt, vetted by the hook"

# 32 MiB/s for the copy (QEMU's max-bandwidth, which kemarid leaves as it
# is; checkpoints are not limited): 256 MiB of data take 8 s, long enough
# for kemarid's one-second samples to give a rate
kl_virsh 1 qemu-monitor-command vm1 \
    '{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":33554432}}' \
    >/dev/null || kt_fail "cannot set max-bandwidth"
if ! km 1 start vm1 --peer node2 --no-wait >/dev/null 2>&1; then
    kt_fail "kemari start vm1 refused"
fi
# the copy's progress, as `kemari status` shows it
progress="" n=0 last=""
while [ $n -lt 600 ]; do
    line=$(km 1 status vm1 2>/dev/null | grep 'disk virtio-disk0')
    [ "$line" = "$last" ] || echo "status: ${line:-(no disk line)}"
    last=$line
    case $line in
        *copying*s\ left*) [ -n "$progress" ] || progress=$line ;;
        *"in sync"*) break ;;
    esac
    sleep 0.1
    n=$((n + 1))
done
kt_check "kemari status showed the copy's progress: ${progress:-nothing}" \
    kt_has "$progress" 'copying, [0-9]+% \(.* to go\), [0-9.]+[KMG]/s, [0-9]+ s left'
kt_check "the disk is in sync: $line" kt_has "$line" 'in sync'
kt_check "node2's kemarid made the missing image: $(grep -h 'made an empty image' "$KT_DIR/n2/kemarid.log")" \
    grep -q 'made an empty image at /var/lib/libvirt/images/vm1.img' \
    "$KT_DIR/n2/kemarid.log"
kt_check "the engine grew it to the disk's size ($(stat -c %s "$img2") bytes)" \
    test "$(stat -c %s "$img2")" = $((size_mb << 20))
kt_check "vm1 protected" kd_wait_field 1 state PROTECTED 60
params=$(kl_virsh 1 qemu-monitor-command vm1 \
    '{"execute":"query-migrate-parameters"}' 2>&1)
kt_check "the engine replicates virtio-disk0 (from <kemari:storage>)" \
    kt_has "$params" '"x-kemari-replicated-disks":\["virtio-disk0"\]'
kt_check "the engine's max interval is the domain's 200 ms" \
    kt_has "$params" '"x-kemari-max-interval":200'

kt_bg "$(kc_ns h)" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check 169.254.10.2 \
    7000 --status "$KT_DIR/tcp.status"
tcp_pid=$KT_BG_PID
kt_wait_above "$KT_DIR/tcp.status" records 20 30 ||
    kt_fail "TCP observer gets no records"

# a checkpoint taken while the guest stands: the copies are equal
kl_virsh 1 suspend vm1 >/dev/null || kt_fail "virsh suspend refused"
e0=$(kd_vm_field 1 epoch)
sleep 1.5
if cmp -s "$img1" "$img2"; then
    kt_pass "suspended: node1's and node2's images are equal ($size_mb MiB)"
else
    kt_fail "suspended: the images differ: $(cmp "$img1" "$img2" 2>&1 |
        head -n 1)"
fi
kl_virsh 1 resume vm1 >/dev/null || kt_fail "virsh resume refused"
echo "epoch when suspended: $e0"
sleep 2

if kd_kill_and_wait 1; then
    kt_pass "node1 killed: the guest answers from node2 after $KD_ANSWER_MS ms"
else
    kt_fail "node1 killed: no guest output within 30 s: $(km 2 status)"
fi
kt_check "node2's kemarid runs vm1 as primary" kd_wait_field 2 role primary 10
sleep 2
KT_IMG=$img2
kt_verdicts "$tcp_pid" "$udp_pid" "$disk_pid" "the failover"

# node2's QEMU dies while node1 is away; vm1 is started again on node2
# shellcheck disable=SC2046  # a list of pids
kill -9 $(kl_qemu_pids 2) 2>/dev/null
kt_check "node2's kemarid sees vm1 stop" kd_wait_field 2 state STOPPED 30
: > "$(kl_console 2 vm1)"
out=$(kl_virsh 2 start vm1 2>&1) || kt_fail "vm1 did not start again: $out"
kt_check "vm1 boots again on node2" kl_wait_ready 2 vm1 180
kt_check "node2's kemarid finds it" kd_wait_field 2 state UNPROTECTED 30
pid=$(kl_qemu_pids 2)
kt_check "node2's kemarid knows the new QEMU's pid ($pid), whose user gets the state directory" \
    grep -q "vm=vm1: QEMU (pid ${pid:-none}) runs here" "$KT_DIR/n2/kemarid.log"
st=$KT_DIR/n2/state/disks/vm1/virtio-disk0.kemari-disk
kt_check "the hook sealed node2's disk state, the new QEMU took it up" \
    test -s "$st" -a ! -e "$st.sealed"

# node1 comes back: an incremental resync from the log node2's new QEMU
# took up
kc_restore_link 1
kc_corosync_start 1 || kt_fail "node1: corosync did not restart"
kl_prepare 1 || kt_fail "node1: no namespaces"
kd_libvirt_hook 1 || kt_fail "node1: cannot install the hook"
kl_start 1 || kt_fail "node1: libvirtd did not restart"
kd_start 1 || kt_fail "node1: kemarid did not restart"
kd_wait_eligible 2 1 60 || kt_fail "node2 does not see node1: $(km 2 nodes)"
out=$(km 2 start vm1 --peer node1 --timeout 240 2>&1)
kt_check "node2 protects vm1 again, onto node1: $(echo "$out" | head -n 1)" \
    kd_wait_field 2 state PROTECTED 10
line=$(km 2 status vm1 | grep 'disk virtio-disk0')
kt_check "kemari status: $line" kt_has "$line" 'in sync .resync .* sent'
copied=$(km 2 --json status vm1 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)["vms"][0]["engine"]["disks"][0]
print(d["copied"] if d.get("incremental") else "full")' 2>/dev/null)
kt_check "the copy onto node1 was incremental, $copied bytes sent, under a quarter of the $size_mb MiB disk" \
    test "${copied:-full}" != full -a "${copied:-0}" -lt $((size_mb * 262144))
kl_virsh 2 suspend vm1 >/dev/null || kt_fail "virsh suspend refused"
sleep 1.5
if cmp -s "$img1" "$img2"; then
    kt_pass "suspended: the images are equal after the resync"
else
    kt_fail "suspended: the images differ after the resync: $(
        cmp "$img1" "$img2" 2>&1 | head -n 1)"
fi
kl_virsh 2 resume vm1 >/dev/null || kt_fail "virsh resume refused"
for i in 1 2; do
    echo "---- node$i kemarid (last lines) ----"
    tail -n 12 "$KT_DIR/n$i/kemarid.log"
done
kt_finish
