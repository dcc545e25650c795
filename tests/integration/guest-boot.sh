#!/bin/sh
# guest-boot.sh - the test guest boots under the Kemari QEMU (TCG), serves
# TCP to the outside of the VM, sends UDP, and what it writes to its
# virtio-blk disk can be read back and matches what it reported.
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
kt_mkdir
ns=kt-boot-$$
kt_netns "$ns"

if kt_workload_start "$ns"; then
    kt_pass "guest booted to its ready marker in $KT_BOOT_S s"
else
    kt_die "guest did not boot; console: $(tail -n 20 "$KT_DIR/guest.console")"
fi

# TCP: the guest's sequence server, from outside the VM.
if out=$(ip netns exec "$ns" "$KEMARI_KSEQ" tcp-check 169.254.10.2 7000 \
        --duration 3 --expect-min 50); then
    kt_pass "TCP sequence server reachable from outside: $out"
else
    kt_fail "TCP sequence server: $out"
fi

# Let enough datagrams and disk reports arrive, then check them all.
n=0
while [ $n -lt 600 ]; do
    u=$(kt_status_field "$KT_DIR/udp.status" distinct)
    d=$(kt_status_field "$KT_DIR/disk.status" distinct)
    [ "${u:-0}" -ge 500 ] && [ "${d:-0}" -ge 50 ] && break
    sleep 0.1
    n=$((n + 1))
done
kt_workload_stop_and_verify 500 50
kt_finish
