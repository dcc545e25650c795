#!/bin/sh
# engine-resync.sh - incremental resync of a replicated disk: a copy that
# comes back is brought up to date with only what changed.
#
# Host A's image is a.img (state directory sa), host B's is b.img (sb).
# The guest appends fsynced records to its disk every 2 ms throughout.
#   1. A protects onto B: a full copy.
#   2. A's QEMU is killed, B fails over: B's bitmap starts there.
#   3. Failback: a.img comes back as the secondary.  Its state names the
#      session B's bitmap is for, so the copy is incremental: only B's
#      writes since the failover and A's own unacknowledged extents (its
#      activity log) are sent.  The images are compared at a checkpoint
#      taken with the guest stopped.
#   4. B's QEMU is killed, A fails over; b.img comes back the same way
#      (its activity log as the last primary is what it adds).
#   5. The secondary's QEMU is killed: the primary continues unprotected,
#      then b.img comes back as a secondary once more (incremental).
#   6. The same after damaging b.img's state file: a full copy.
#   7. A last failover onto b.img: the UDP sequence, the TCP connection
#      and every reported disk record, read from b.img, are intact.
#   8. B's QEMU, running the guest alone, is killed and started again on
#      b.img (paused, given its parameters, then let go: the guest boots
#      afresh), its state file sealed first as libvirt's hook does.  It
#      takes up b.img's activity log, kept on stable storage since the
#      failover, as its resync bitmap (and unseals it): a.img comes back
#      with an incremental resync, and the images compare equal.
#   9. The same restart, but the guest writes before the parameters come:
#      the log is not taken up (the state file says no session), and a.img
#      comes back with a full copy.
# Both images start with 96 MiB of random bytes (different on each), so a
# full copy sends most of the disk;
# each copy's bytes are checked and printed against the disk's size.
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
command -v python3 >/dev/null || kt_skip "needs python3 (QMP client)"
kt_mkdir
ns=kt-rs-$$
kt_pair_netns "$ns"
size=128M
size_bytes=134217728
a_img=$KT_DIR/a.img b_img=$KT_DIR/b.img
sa=$KT_DIR/sa sb=$KT_DIR/sb
mkdir -p "$sa" "$sb"

# rs_params NAME STATE-DIR: the parameters each host's QEMU gets.
rs_params() {
    kt_qmp "$1" migrate-set-parameters "{\"x-kemari-replicated-disks\":
        [\"vdisk0\"], \"x-kemari-disk-state-dir\": \"$2\"}" >/dev/null ||
        kt_die "$1: migrate-set-parameters refused"
}

# rs_secondary NAME IMAGE STATE-DIR TAP: a secondary QEMU on IMAGE.
rs_secondary() {
    kt_pair_tap "$ns" "$4"
    kt_disk "$size" "$2"
    # shellcheck disable=SC2086  # $KT_DISK is a list of arguments
    KT_TAP=$4 kt_qemu "$ns" "$1" "$append" $KT_DISK -incoming defer
    rs_params "$1" "$3"
}

# rs_copy PRIMARY SECONDARY PORT WHAT INCREMENTAL: protect, then check
# the kind of copy and report its bytes.
rs_copy() {
    kt_check "$4: protected" kt_protect "$1" "$2" "$3"
    _inc=$(kt_disk_field "$1" incremental)
    _sent=$(kt_disk_field "$1" copied)
    _recv=$(kt_disk_field "$2" copied)
    kt_check "$4: incremental=$_inc on the source, $(kt_disk_field "$2" incremental) on the destination (expected $5)" \
        test "$_inc" = "$5" -a "$(kt_disk_field "$2" incremental)" = "$5"
    kt_log "$4: $_sent data bytes sent of $size_bytes" \
        "($(( ${_sent:-0} * 1000 / size_bytes ))/1000 of the disk)"
    kt_check "$4: the destination received what was sent ($_recv)" \
        test "${_recv:-x}" = "${_sent:-y}"
    RS_SENT=$_sent
}

# rs_return PRIMARY SECONDARY IMAGE STATE-DIR TAP PORT WHAT INCREMENTAL:
# a secondary on IMAGE, protected by PRIMARY; the copy must be
# incremental (and send under a quarter of the disk) or full (and send
# over half of it); then the images are compared.  RS_PID: the QEMU.
rs_return() {
    rs_secondary "$2" "$3" "$4" "$5"
    RS_PID=$KT_QEMU_PID
    rs_copy "$1" "$2" "$6" "$7" "$8"
    if [ "$8" = true ]; then
        kt_check "$7: the resync sent under a quarter of the disk ($RS_SENT bytes)" \
            test "${RS_SENT:-$size_bytes}" -lt $((size_bytes / 4))
    else
        kt_check "$7: the full copy sent over half of the disk ($RS_SENT bytes)" \
            test "${RS_SENT:-0}" -gt $((size_bytes / 2))
    fi
    kt_compare_quiesced "$1" "$2" "$a_img" "$b_img" "$7"
}

# rs_progress WHAT: the guest writes records (at least 200 more).
rs_progress() {
    _d=$(kt_status_field "$KT_DIR/disk.status" highest)
    if kt_wait_above "$KT_DIR/disk.status" highest "$((${_d:-0} + 200))" 60
    then
        kt_pass "$1: the guest writes on ($_d -> $KT_VALUE)"
    else
        kt_fail "$1: no disk progress ($_d -> $KT_VALUE)"
    fi
}

# rs_failover NAME WHAT: x-kemari-failover on NAME.
rs_failover() {
    if _ms=$(kt_failover "$1"); then
        kt_pass "$2 in $_ms ms"
    else
        kt_fail "$2: the failover did not complete"
    fi
}

# rs_kill PID: SIGKILL a QEMU and reap it.
rs_kill() {
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# the guest appends its records from the start of the disk: random bytes
# from 32 MiB on, zeroes before (where the verifier expects records, then
# nothing)
rs_random() {
    truncate -s 0 "$1"
    truncate -s "$size" "$1"
    head -c 96M /dev/urandom |
        dd of="$1" bs=1M seek=32 conv=notrunc 2>/dev/null
}
rs_random "$a_img"
kt_disk "$size" "$a_img"
kt_workload_guest "$ns" "$KT_DISK" || kt_die "guest did not boot"
append=$KT_APPEND
q0=$KT_QEMU_PID
rs_params q0 "$sa"
kt_bg "$ns" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check 169.254.10.2 7000 \
    --status "$KT_DIR/tcp.status"
tcp_pid=$KT_BG_PID
rs_random "$b_img"
sleep 2

# 1. the first copy is full
rs_return q0 q1 "$b_img" "$sb" kt1 4461 "A to B, first copy" false
q1=$RS_PID
rs_progress "protected by B"

# 2. A is lost, B takes over
rs_kill "$q0"
rs_failover q1 "B fails over"
rs_progress "B alone"

# 3. failback: A's image comes back
rs_return q1 q2 "$a_img" "$sa" kt2 4462 "B to A after A was lost" true
q2=$RS_PID
rs_progress "protected by A"

# 4. B is lost, A takes over, B's image comes back
rs_kill "$q1"
rs_failover q2 "A fails over"
rs_progress "A alone"
rs_return q2 q3 "$b_img" "$sb" kt3 4463 \
    "A to B after B was lost as the primary" true
q3=$RS_PID

# 5. the secondary is lost; the primary goes on alone, then B returns
rs_kill "$q3"
kt_check "A declares its secondary lost" kt_wait_kemari q2 secondary-lost 15
kt_qmp q2 x-kemari-continue-unprotected >/dev/null
kt_check "A continues unprotected" kt_wait_kemari q2 unprotected 15
rs_progress "A unprotected"
rs_return q2 q4 "$b_img" "$sb" kt4 4464 \
    "A to B after the secondary was lost" true
q4=$RS_PID

# 6. a damaged state file means a full copy
rs_kill "$q4"
kt_wait_kemari q2 secondary-lost 15
kt_qmp q2 x-kemari-continue-unprotected >/dev/null
kt_wait_kemari q2 unprotected 15
printf 'X' | dd of="$sb/vdisk0.kemari-disk" bs=1 seek=20 conv=notrunc \
    2>/dev/null
rs_return q2 q5 "$b_img" "$sb" kt5 4465 \
    "A to B with B's state file damaged" false
q5=$RS_PID
rs_progress "protected by B again"

# 7. the guest's outputs through all of it, read from b.img
rs_kill "$q2"
rs_failover q5 "B fails over at last"
rs_progress "B alone at last"
KT_IMG=$b_img
kt_verdicts "$tcp_pid" "$KT_UDP_PID" "$KT_DISK_PID" "four failovers"

# rs_restart NAME TAP EARLY PID...: the QEMUs PID are killed, and B's
# QEMU runs on b.img once more, as after a crash; EARLY=yes: its
# parameters come before the guest runs.  The observers are started again
# for the new boot's disk records.
rs_restart() {
    _name=$1 _tap=$2 _early=$3
    shift 3
    for _p in "$@"; do
        rs_kill "$_p"
    done
    kt_stop "$KT_UDP_PID"
    kt_stop "$KT_DISK_PID"
    rm -f "$KT_DIR/udp.status" "$KT_DIR/disk.status" "$KT_DIR/disk.reports"
    # sealed before the QEMU starts, as libvirt's hook does
    mv "$sb/vdisk0.kemari-disk" "$sb/vdisk0.kemari-disk.sealed" ||
        kt_fail "$_name: b.img has no state file to seal"
    kt_observers "$ns"
    kt_pair_tap "$ns" "$_tap"
    kt_disk "$size" "$b_img"
    if [ "$_early" = yes ]; then
        # shellcheck disable=SC2086  # $KT_DISK is a list of arguments
        KT_TAP=$_tap kt_qemu "$ns" "$_name" "$append" $KT_DISK -S
        rs_params "$_name" "$sb"
        kt_qmp "$_name" cont >/dev/null
    else
        # shellcheck disable=SC2086  # $KT_DISK is a list of arguments
        KT_TAP=$_tap kt_qemu "$ns" "$_name" "$append" $KT_DISK
    fi
    RS_PID=$KT_QEMU_PID
    kt_check "$_name: the guest boots again" \
        kt_wait_console "$_name" KEMARI-GUEST-READY 180
    if [ "$_early" != yes ]; then
        rs_progress "$_name written to"
        rs_params "$_name" "$sb"
    fi
    kt_check "$_name: the state file is no longer sealed" \
        test -s "$sb/vdisk0.kemari-disk" -a ! -e "$sb/vdisk0.kemari-disk.sealed"
    rs_progress "$_name alone"
}

# 8. B's QEMU dies while it runs the guest alone; started again, it
# resyncs a.img from b.img's activity log
rs_restart q6 kt6 yes "$q5"
q6=$RS_PID
rs_return q6 q7 "$a_img" "$sa" kt7 4467 \
    "B to A after B's QEMU was restarted" true
q7=$RS_PID

# 9. the same when the guest wrote before the parameters: a full copy
rs_restart q8 kt8 no "$q7" "$q6"
q8=$RS_PID
rs_return q8 q9 "$a_img" "$sa" kt9 4469 \
    "B to A after B's QEMU was restarted and wrote unlogged" false
q9=$RS_PID
rs_kill "$q9"
rs_kill "$q8"
kt_finish
