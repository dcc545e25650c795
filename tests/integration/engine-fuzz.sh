#!/bin/sh
# engine-fuzz.sh - the secondary survives malformed checkpoints.
#
# One guest is protected again and again, each time by a new secondary
# through a proxy (kseq proxy) that damages one checkpoint, each time with
# another seed.  The guest sends UDP flat out and writes to its disk, so
# both kinds of outputs are there.
#   - KT_FUZZ_RUNS runs (default 12), the disk shared.  Odd runs: the
#     proxy (--fuzz-outputs) replaces 1 to 4 bytes of the checkpoint's
#     outputs (the held packets and disk requests, parsed by the
#     secondary before it acknowledges), half of them among the section
#     and record headers, and recomputes the checksum, so the damage
#     reaches the parsers.  Even runs (--fuzz-header): 1 to 4 bytes of its
#     header fields, CRC recomputed, so that the checks of type, epoch,
#     lengths and reserved fields are reached; a changed length frames
#     the rest of the stream anew.
#   - Then KT_FUZZ_DISK_RUNS runs (default 3) replicate the disk, each
#     secondary with an image of its own, and the proxy (--fuzz-vmstate
#     --fuzz-at vdisk0) damages one checkpoint's replicated-disk records
#     (type, id, offset, length): the secondary acknowledges it, then must
#     refuse to apply it and refuse failover from that copy, or apply it.
# Every secondary must either refuse the checkpoint with an error,
# staying up and answering QMP, or take it (a packet's payload bytes are
# not checked); never crash.  At least one must refuse, at least one
# header and at least one set of disk records.  The primary must declare
# each secondary lost, continue alone and be protected again, and its
# guest must run on.
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
command -v python3 >/dev/null || kt_skip "needs python3 (QMP client)"
kt_mkdir
ns=kt-fz-$$
kt_pair_netns "$ns"
runs=${KT_FUZZ_RUNS:-12}
seed=${KT_FUZZ_SEED:-$$}
caps='{"capabilities":[{"capability":"x-kemari","state":true}]}'
kt_disk 64M
disk=$KT_DISK
kt_workload_guest "$ns" "$disk" || kt_die "guest did not boot"
append=$KT_APPEND
pri_pid=$KT_QEMU_PID
kt_qmp q0 migrate-set-capabilities "$caps" >/dev/null
kt_qmp q0 migrate-set-parameters '{"x-kemari-ack-timeout": 1000}' \
    >/dev/null
kt_log "seed $seed (KT_FUZZ_SEED to repeat)"

refused=0
hrefused=0
drefused=0
disk_runs=${KT_FUZZ_DISK_RUNS:-3}
i=1
while [ $i -le $((runs + disk_runs)) ]; do
    sec=s$i
    kt_pair_tap "$ns" "kt$i"
    kind=outputs
    [ $((i % 2)) = 0 ] && kind=header
    fuzz="--fuzz-$kind $((seed + i))"
    sec_disk=$disk
    wait_s=10
    if [ $i -gt "$runs" ]; then
        kind=disk
        fuzz="--fuzz-vmstate $((seed + i)) --fuzz-at vdisk0"
        kt_disk 64M "$KT_DIR/$sec.img"
        sec_disk=$KT_DISK
        wait_s=40    # the disk is copied first
        kt_qmp q0 migrate-set-parameters \
            '{"x-kemari-replicated-disks": ["vdisk0"]}' >/dev/null ||
            kt_die "run $i: cannot replicate vdisk0"
    fi
    # shellcheck disable=SC2086  # $sec_disk is a list of arguments
    KT_TAP=kt$i kt_qemu "$ns" "$sec" "$append" $sec_disk -incoming defer
    sec_pid=$KT_QEMU_PID
    kt_qmp "$sec" migrate-set-capabilities "$caps" >/dev/null &&
        kt_qmp "$sec" migrate-incoming \
            "{\"uri\":\"tcp:127.0.0.1:$((4600 + i))\"}" >/dev/null ||
        kt_die "run $i: the secondary does not listen"
    kt_bg "$ns" "$KT_DIR/proxy-$i.out" "$KEMARI_KSEQ" proxy $((4700 + i)) \
        127.0.0.1 $((4600 + i)) --marker KMRI --marker-count 5 $fuzz
    proxy_pid=$KT_BG_PID
    sleep 0.3
    # the previous session may still be ending: retry for 5 s
    n=0
    until kt_qmp q0 migrate "{\"uri\":\"tcp:127.0.0.1:$((4700 + i))\"}" \
            >/dev/null 2>&1; do
        [ $n -lt 50 ] || kt_die "run $i: migrate refused"
        sleep 0.1
        n=$((n + 1))
    done
    # the mutated checkpoint is the 6th: give it time to arrive
    n=0
    st=""
    while [ $n -lt $((wait_s * 10)) ]; do
        st=$(kt_kemari_field "$sec" state)
        [ "$st" = primary-lost ] && break
        [ "$st" = protected ] && [ "$(kt_kemari_field "$sec" epoch)" -ge 10 ] \
            2>/dev/null && break
        sleep 0.1
        n=$((n + 1))
    done
    what=$(grep -E '(outputs|header|vmstate) byte|not mutated' \
           "$KT_DIR/proxy-$i.out" | tr '\n' ';')
    if ! kill -0 "$sec_pid" 2>/dev/null; then
        kt_fail "run $i: the secondary died (${what:-nothing mutated}): $(
            tail -n 3 "$KT_DIR/$sec.stderr")"
    elif ! kt_qmp "$sec" query-status >/dev/null 2>&1; then
        kt_fail "run $i: the secondary does not answer QMP (${what})"
    elif [ "$st" = primary-lost ]; then
        refused=$((refused + 1))
        [ "$kind" = header ] && hrefused=$((hrefused + 1))
        kt_pass "run $i ($kind): refused, up: $(kt_kemari_field "$sec" error) (${what})"
        if [ "$kind" = disk ]; then
            drefused=$((drefused + 1))
            # it acknowledged the checkpoint, then applied part of it
            if err=$(kt_qmp "$sec" x-kemari-failover 2>&1); then
                kt_fail "run $i: a secondary that applied part of a bad checkpoint failed over"
            else
                kt_pass "run $i: its failover is refused: $err"
            fi
        fi
    else
        kt_pass "run $i ($kind): state $st, up (${what:-nothing mutated})"
    fi
    kill -9 "$sec_pid" 2>/dev/null
    wait "$sec_pid" 2>/dev/null
    kt_stop "$proxy_pid"
    if ! kt_wait_kemari q0 secondary-lost 15; then
        kt_fail "run $i: the primary did not declare its secondary lost"
        break
    fi
    kt_qmp q0 x-kemari-continue-unprotected >/dev/null
    kt_wait_kemari q0 unprotected 15 ||
        kt_fail "run $i: the primary did not continue unprotected"
    i=$((i + 1))
done

kt_check "at least one secondary refused a mutated checkpoint ($refused of $((runs + disk_runs)))" \
    test "$refused" -ge 1
if [ "$runs" -ge 2 ]; then
    kt_check "at least one secondary refused a mutated header ($hrefused of $((runs / 2)))" \
        test "$hrefused" -ge 1
fi
if [ "$disk_runs" -ge 1 ]; then
    kt_check "at least one secondary refused mutated disk records ($drefused of $disk_runs)" \
        test "$drefused" -ge 1
fi
kt_check "the primary is up" kill -0 "$pri_pid"
u0=$(kt_status_field "$KT_DIR/udp.status" highest)
if kt_wait_above "$KT_DIR/udp.status" highest "$((${u0:-0} + 100))" 15; then
    kt_pass "the guest runs on ($u0 -> $KT_VALUE)"
else
    kt_fail "the guest stopped sending ($u0 -> $KT_VALUE)"
fi
kt_finish
