#!/bin/sh
# engine-refuse.sh - protection is refused, naming the device, when a
# device would bypass the output taps; an ordinary guest is accepted.
. "${top_srcdir:-.}/tests/lib/testlib.sh"

[ -x "${KEMARI_QEMU:-}" ] || kt_skip "no Kemari QEMU (run make)"
command -v python3 >/dev/null || kt_skip "needs python3 (QMP client)"
kt_mkdir

# try NAME EXPECT QEMU-ARGS...: start a paused QEMU, enable x-kemari,
# migrate; EXPECT is a pattern the error must match, or "accepted".
try() {
    _name=$1 _expect=$2
    shift 2
    "$KEMARI_QEMU" -accel tcg -m 64 -nodefaults -display none -S \
        -qmp "unix:$KT_DIR/$_name.qmp,server=on,wait=off" "$@" \
        > "$KT_DIR/$_name.stderr" 2>&1 &
    kt_track_pid $!
    kt_qmp "$_name" migrate-set-capabilities \
        '{"capabilities":[{"capability":"x-kemari","state":true}]}' \
        > /dev/null || { kt_fail "$_name: x-kemari not accepted"; return; }
    # a port nobody listens on: an accepted migrate fails later, elsewhere
    if err=$(kt_qmp "$_name" migrate '{"uri":"tcp:127.0.0.1:9"}' 2>&1); then
        if [ "$_expect" = accepted ]; then
            kt_pass "$_name: protection may start"
        else
            kt_fail "$_name: protection was not refused"
        fi
    elif [ "$_expect" != accepted ] && echo "$err" | grep -q "$_expect"; then
        kt_pass "$_name: refused: ${err#qmp.py: migrate: }"
    else
        kt_fail "$_name: unexpected answer: $err"
    fi
}

try plain accepted -device virtio-net-pci,id=nic0,romfile=
# QEMU's own migration blocker for ivshmem answers first; either way
# the device is named
try ivshmem "ivshmem" \
    -object "memory-backend-file,id=mem1,share=on,mem-path=$KT_DIR/shm,size=1M" \
    -device ivshmem-plain,memdev=mem1,id=shm0
try shared-ram "shared memory 'ram'" \
    -object "memory-backend-file,id=ram,share=on,mem-path=$KT_DIR/ram,size=64M" \
    -machine memory-backend=ram
# x-kemari cannot be combined with COLO
"$KEMARI_QEMU" -accel tcg -m 64 -nodefaults -display none -S \
    -qmp "unix:$KT_DIR/colo.qmp,server=on,wait=off" \
    > "$KT_DIR/colo.stderr" 2>&1 &
kt_track_pid $!
kt_qmp colo migrate-set-capabilities \
    '{"capabilities":[{"capability":"x-colo","state":true}]}' >/dev/null
if err=$(kt_qmp colo migrate-set-capabilities \
        '{"capabilities":[{"capability":"x-kemari","state":true}]}' 2>&1); then
    kt_fail "x-kemari accepted together with x-colo"
else
    kt_check "x-kemari refused with x-colo: ${err#qmp.py: }" \
        sh -c "echo '$err' | grep -q 'mutually exclusive'"
fi
kt_finish
