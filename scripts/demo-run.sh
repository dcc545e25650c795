#!/bin/sh
# demo-run.sh - the demonstration demo.sh runs once everything is built.
#
# Today (before the engine): boot the test guest under the Kemari QEMU in
# a private network namespace, with a virtio-net NIC on a tap and a
# virtio-blk disk, and show it serving to an observer outside the VM:
# its TCP sequence server, its UDP sequence, and the records it writes to
# its disk, read back and compared with what it reported.
KT_NAME=demo
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
kt_mkdir
ns=kemari-demo-$$
kt_netns "$ns"

echo "Kemari demo: $("$KEMARI_QEMU" --version | head -n 1)"
echo "  guest: $(cat "$KEMARI_GUEST_DIR/VERSION" 2>/dev/null)"
echo "  network namespace $ns: host side 169.254.10.1, guest 169.254.10.2"
echo "booting the test guest (TCG)..."
kt_workload_start "$ns" ||
    kt_die "the guest did not boot (console: $KT_DIR/guest.console)"
echo "guest ready after $KT_BOOT_S s:" \
     "$(grep KEMARI-GUEST-READY "$KT_DIR/guest.console")"

echo "observer: one TCP connection to the guest's sequence server, 5 s..."
if out=$(ip netns exec "$ns" "$KEMARI_KSEQ" tcp-check 169.254.10.2 7000 \
        --duration 5 --expect-min 1); then
    kt_pass "TCP: $out"
else
    kt_fail "TCP: $out"
fi
echo "stopping the guest, checking what the observers received..."
kt_workload_stop_and_verify 1 1
echo
echo "The engine (protected pair, kill of the primary, failover) is not in"
echo "this build yet; this demo shows the guest and observers it will use."
kt_finish
