#!/bin/sh
# engine-failover.sh - output commit through repeated failovers.
#
# One guest, protected by a chain of pairs: each trial starts a new
# secondary, protects the guest to it, lets it run for a random time,
# SIGKILLs the primary (so also in the middle of a checkpoint) and fails
# over; the secondary becomes the next trial's primary.  Outside the VM,
# observers watch everything the guest sends through all the trials:
#   UDP:  numbered datagrams as fast as the guest can send them; every
#         number up to the highest one is received, none with two
#         different payloads (the world never saw the guest go back);
#   TCP:  one connection to the guest's sequence server, held through
#         every failover: consecutive records, no gap, no repeat;
#   disk: records appended, fsynced, then reported; at the end every
#         reported record is on the (shared) disk, in order.
# Each trial also checks that the guest makes progress after failover.
#
# KT_TRIALS (default 20) and KT_SMP (default 1) tune the run.  With
# KT_CUTOFF=1 the primary is not killed but frozen (SIGSTOP): alive, its
# checkpoint stream open and silent, as behind a network partition; the
# secondary fails over while its receiving thread still waits on that
# stream, and the frozen copy is killed afterwards, as fencing would.
# Its disk is then opened without image locks (the frozen copy still
# holds them: shared storage whose locks do not reach across hosts).
# With KT_REPLICATED=1 the disk is replicated, not shared: every QEMU has
# an image of its own (a secondary's starts as random bytes), the engine
# copies the disk while the guest runs and then sends each checkpoint's
# writes; the disk check reads the last primary's image.
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
command -v python3 >/dev/null || kt_skip "needs python3 (QMP client)"
kt_mkdir
trials=${KT_TRIALS:-20}
ns=kt-fo-$$
kt_pair_netns "$ns"
cutoff=${KT_CUTOFF:-0}
replicated=${KT_REPLICATED:-0}
params='{}'
[ "$replicated" = 1 ] && params='{"x-kemari-replicated-disks": ["vdisk0"]}'
[ "$cutoff" = 1 ] && KT_DISK_LOCKING=off
kt_disk 64M
disk=$KT_DISK
pri_img=$KT_IMG
kt_workload_guest "$ns" "$disk" || kt_die "guest did not boot"
append=$KT_APPEND
udp_pid=$KT_UDP_PID
disk_pid=$KT_DISK_PID
pri=q0
pri_pid=$KT_QEMU_PID
kt_pass "guest booted (smp ${KT_SMP:-1}, disk $([ "$replicated" = 1 ] &&
    echo replicated || echo shared))"

failover_ms=""
i=1
while [ $i -le "$trials" ]; do
    sec=q$i
    kt_pair_tap "$ns" "kt$i"
    sec_disk=$disk
    sec_img=$pri_img
    if [ "$replicated" = 1 ]; then
        head -c 64M /dev/urandom > "$KT_DIR/disk-$i.img"
        kt_disk 64M "$KT_DIR/disk-$i.img"
        sec_disk=$KT_DISK
        sec_img=$KT_IMG
    fi
    # shellcheck disable=SC2086
    KT_TAP=kt$i kt_qemu "$ns" "$sec" "$append" $sec_disk -incoming defer
    sec_pid=$KT_QEMU_PID
    if ! kt_protect "$pri" "$sec" $((4400 + i)) "$params"; then
        kt_fail "trial $i: protection did not start"
        break
    fi
    if [ $i = 1 ]; then
        kt_bg "$ns" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check \
            169.254.10.2 7000 --status "$KT_DIR/tcp.status"
        tcp_pid=$KT_BG_PID
    fi
    # run for 0.5 .. 3 s, then kill the primary wherever it is
    sleep "$(awk -v s="$$$i" 'BEGIN { srand(s); printf "%.2f", 0.5 + rand() * 2.5 }')"
    epoch=$(kt_kemari_field "$pri" epoch)
    u0=$(kt_status_field "$KT_DIR/udp.status" highest)
    t0=$(kt_status_field "$KT_DIR/tcp.status" records)
    d0=$(kt_status_field "$KT_DIR/disk.status" highest)
    if [ "$cutoff" = 1 ]; then
        kill -STOP "$pri_pid"
    else
        kill -9 "$pri_pid"
        wait "$pri_pid" 2>/dev/null
    fi
    if ! ms=$(kt_failover "$sec"); then
        kt_fail "trial $i: failover did not complete"
        break
    fi
    if [ "$cutoff" = 1 ]; then
        sleep 0.5       # the new primary survives its first moments
        kt_check "trial $i: the new primary runs beside the frozen one" \
            kill -0 "$sec_pid"
        kill -9 "$pri_pid"
        wait "$pri_pid" 2>/dev/null
    fi
    failover_ms="$failover_ms $ms"
    pri=$sec
    pri_pid=$sec_pid
    pri_img=$sec_img
    # the guest goes on: more UDP numbers, TCP records and disk records
    n=0
    while [ $n -lt 300 ]; do
        u=$(kt_status_field "$KT_DIR/udp.status" highest)
        t=$(kt_status_field "$KT_DIR/tcp.status" records)
        d=$(kt_status_field "$KT_DIR/disk.status" highest)
        [ "${u:-0}" -gt "$((${u0:-0} + 100))" ] &&
            [ "${t:-0}" -gt "$((${t0:-0} + 10))" ] &&
            [ "${d:-0}" -gt "$((${d0:-0} + 10))" ] && break
        sleep 0.1
        n=$((n + 1))
    done
    if [ $n -lt 300 ]; then
        kt_pass "trial $i: killed primary after checkpoint $epoch," \
            "failover in $ms ms, guest continues (udp $u0->$u tcp $t0->$t" \
            "disk $d0->$d)"
    else
        kt_fail "trial $i: no progress after failover (udp $u0->$u" \
            "tcp $t0->$t disk $d0->$d)"
        # what the new primary looks like, for the log
        kt_qmp "$pri" query-status
        kt_qmp "$pri" query-kemari
        kt_nic_dump "$pri"
        ip -n "$ns" -s link show "kt$i"
        break
    fi
    i=$((i + 1))
done

kt_stop "$tcp_pid"
kt_check "TCP: one connection through every failover: $(cat "$KT_DIR/tcp.out")" \
    grep -q 'result=ok' "$KT_DIR/tcp.out"
kill -9 "$pri_pid" 2>/dev/null
wait "$pri_pid" 2>/dev/null
# datagrams the observer's own socket dropped (a busy host), for the log
rcvbuf_errors=$(ip netns exec "$ns" awk '/^Udp: [0-9]/ { print $6 }' \
    /proc/net/snmp)
kt_stop "$udp_pid"
kt_check "UDP: no gap, no number with two payloads: $(cat "$KT_DIR/udp.out")" \
    grep -q 'missing=0 .*mismatches=0 .*bad=0' "$KT_DIR/udp.out"
echo "observer socket: $rcvbuf_errors datagrams dropped for lack of buffer"
kt_stop "$disk_pid"
if out=$("$KEMARI_KSEQ" disk-verify "$pri_img" \
        --reports "$KT_DIR/disk.reports" --expect-min 1); then
    kt_pass "disk: every reported record is on ${pri_img##*/}: $out"
else
    kt_fail "disk: $out"
fi
echo "failover times (ms):$failover_ms"
kt_finish
