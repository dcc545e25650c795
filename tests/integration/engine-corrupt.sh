#!/bin/sh
# engine-corrupt.sh - a damaged checkpoint stream is never applied.
#
# A proxy between primary and secondary damages the stream once the
# guest is protected: it flips a byte in a checkpoint header, flips a
# byte in a checkpoint's payload, or cuts the stream in the middle of a
# checkpoint.  In every case the secondary must refuse the checkpoint
# (and say why), keep the last good one, and a failover after the primary
# is killed must give a consistent guest: the UDP sequence seen outside
# has no gap and no number with two payloads, and the guest goes on.
# Last, the proxy sends a checkpoint whose checksums are right but whose
# vmstate ends badly (spoiled): the secondary applies part of it, so its
# copy matches no checkpoint: it must refuse to fail over and not run.
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
command -v python3 >/dev/null || kt_skip "needs python3 (QMP client)"
kt_mkdir
append="kemari.udp=9000 kemari.udp_gap_us=1000"

# run_case NAME EXPECTED-ERROR PROXY-OPTIONS...
run_case() {
    _case=$1 _expect=$2
    shift 2
    ns=kt-cr-$_case-$$
    kt_pair_netns "$ns"
    kt_pair_tap "$ns" kt0
    kt_pair_tap "$ns" kt1
    kt_bg "$ns" "$KT_DIR/$_case.udp.out" "$KEMARI_KSEQ" udp-recv 9000 \
        --status "$KT_DIR/$_case.udp.status"
    udp_pid=$KT_BG_PID
    KT_TAP=kt0 kt_qemu "$ns" "$_case-pri" "$append"
    pri_pid=$KT_QEMU_PID
    kt_wait_console "$_case-pri" KEMARI-GUEST-READY 180 ||
        kt_die "$_case: guest did not boot"
    KT_TAP=kt1 kt_qemu "$ns" "$_case-sec" "$append" -incoming defer
    sec_pid=$KT_QEMU_PID
    # primary -> proxy (4500) -> secondary (4501); the 20th checkpoint
    # header ("KMRI") is the reference point for the damage
    caps='{"capabilities":[{"capability":"x-kemari","state":true}]}'
    kt_qmp "$_case-sec" migrate-set-capabilities "$caps" >/dev/null
    kt_qmp "$_case-sec" migrate-incoming '{"uri":"tcp:127.0.0.1:4501"}' \
        >/dev/null
    kt_bg "$ns" "$KT_DIR/$_case.proxy.out" "$KEMARI_KSEQ" proxy 4500 \
        127.0.0.1 4501 --marker KMRI --marker-count 20 "$@"
    sleep 0.3
    kt_qmp "$_case-pri" migrate-set-capabilities "$caps" >/dev/null
    kt_qmp "$_case-pri" migrate '{"uri":"tcp:127.0.0.1:4500"}' >/dev/null
    if kt_wait_kemari "$_case-sec" primary-lost 60; then
        err=$(kt_kemari_field "$_case-sec" error)
        kt_check "$_case: secondary refuses the damaged checkpoint: $err" \
            sh -c "echo '$err' | grep -q '$_expect'"
    else
        kt_fail "$_case: the secondary did not notice the damage"
    fi
    applied=$(kt_kemari_field "$_case-sec" epoch)
    kt_check "$_case: the last good checkpoint ($applied) is kept" \
        test "${applied:-0}" -ge 1
    kt_wait_kemari "$_case-pri" secondary-lost 15 ||
        kt_fail "$_case: the primary did not notice"
    h=$(kt_status_field "$KT_DIR/$_case.udp.status" highest)
    kill -9 "$pri_pid"
    wait "$pri_pid" 2>/dev/null
    if [ "$_case" = spoiled ]; then
        # applied in part: this copy matches no checkpoint
        if out=$(kt_qmp "$_case-sec" x-kemari-failover 2>&1); then
            kt_fail "$_case: failover of an inconsistent copy accepted"
        else
            kt_check "$_case: failover refused: $out" \
                sh -c "echo '$out' | grep -q 'inconsistent and must not run'"
        fi
        st=$(kt_qmp "$_case-sec" query-status 2>&1)
        kt_check "$_case: the copy does not run ($st)" \
            sh -c "echo '$st' | grep -q '\"running\": false'"
        kill -9 "$sec_pid"
        wait "$sec_pid" 2>/dev/null
        kt_stop "$udp_pid"
        return
    fi
    if ms=$(kt_failover "$_case-sec"); then
        kt_pass "$_case: failover from checkpoint $applied in $ms ms"
    else
        kt_fail "$_case: failover failed"
    fi
    if kt_wait_above "$KT_DIR/$_case.udp.status" highest \
            "$((${h:-0} + 100))" 20; then
        kt_pass "$_case: the guest goes on after failover ($h -> $KT_VALUE)"
    else
        kt_fail "$_case: no progress after failover ($h -> $KT_VALUE)"
    fi
    kill -9 "$sec_pid"
    wait "$sec_pid" 2>/dev/null
    kt_stop "$udp_pid"
    kt_check "$_case: UDP consistent: $(cat "$KT_DIR/$_case.udp.out")" \
        grep -q 'missing=0 .*mismatches=0 .*bad=0' "$KT_DIR/$_case.udp.out"
}

run_case header-flip "header checksum" --flip-after 20
run_case payload-flip "checksum mismatch" --flip-after 200
run_case truncate "cut off\\|stream ended" --cut-after 100
# valid checksums, a vmstate that cannot be applied in full
run_case spoiled "applying the checkpoint failed" --spoil-checkpoint 7
kt_finish
