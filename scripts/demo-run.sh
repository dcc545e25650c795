#!/bin/sh
# demo-run.sh - the demonstration demo.sh runs once everything is built.
#
# A protected pair on one machine: two Kemari QEMUs ("host A", the
# primary, and "host B", the passive secondary) in a private network
# namespace whose bridge is the outside world, sharing one disk image.
# The guest sends numbered UDP datagrams, serves a TCP sequence to one
# long connection and appends fsynced records to its disk; observers
# outside check all of it.  After a few seconds host A's QEMU is killed
# (SIGKILL) and host B takes over.  The demo prints what happened and
# what was lost, which must be nothing.
export KT_NAME=demo
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
command -v python3 >/dev/null || kt_skip "needs python3 (QMP client)"
kt_mkdir
ns=kemari-demo-$$
kt_pair_netns "$ns"
kt_pair_tap "$ns" kt-a
kt_pair_tap "$ns" kt-b
kt_disk 64M
disk=$KT_DISK
append="kemari.udp=9000 kemari.udp_gap_us=200 kemari.disk=9001 \
kemari.disk_gap_us=2000"

json() {
    python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

echo "Kemari demo: $("$KEMARI_QEMU" --version | head -n 1)"
echo "  guest: $(cat "$KEMARI_GUEST_DIR/VERSION" 2>/dev/null)"
echo "  outside world: bridge br0 169.254.10.1 in namespace $ns;" \
     "guest 169.254.10.2"

kt_observers "$ns"
udp_pid=$KT_UDP_PID
disk_pid=$KT_DISK_PID

echo "host A: booting the guest (TCG)..."
# shellcheck disable=SC2086  # $disk is a list of arguments
KT_TAP=kt-a kt_qemu "$ns" host-a "$append" $disk
a_pid=$KT_QEMU_PID
kt_wait_console host-a KEMARI-GUEST-READY 180 ||
    kt_die "the guest did not boot (console: $KT_DIR/host-a.console)"
echo "host B: starting the passive secondary (-incoming defer)..."
# shellcheck disable=SC2086
KT_TAP=kt-b kt_qemu "$ns" host-b "$append" $disk -incoming defer
b_pid=$KT_QEMU_PID
t0=$(date +%s.%N)
kt_protect host-a host-b 4444 || kt_die "protection did not start"
echo "protected after $(awk -v a="$t0" -v b="$(date +%s.%N)" \
    'BEGIN { printf "%.1f", b - a }') s (initial migration included):" \
    "event mode, every guest output held until host B has its checkpoint"
kt_bg "$ns" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check 169.254.10.2 7000 \
    --status "$KT_DIR/tcp.status"
tcp_pid=$KT_BG_PID

sleep 6
info=$(kt_qmp host-a query-kemari)
echo "after 6 s on host A:"
echo "$info" | json '"  checkpoints %d, guest stopped per checkpoint: mean %d us, p99 %d us, max %d us" % (d["checkpoints"], d["stop-time"]["mean"], d["stop-time"]["p99"], d["stop-time"]["max"])'
echo "$info" | json '"  checkpoint size mean %d KiB; output held until released: mean %.1f ms, p99 %.1f ms" % (d["checkpoint-bytes-mean"] / 1024, d["release-latency"]["mean"] / 1000, d["release-latency"]["p99"] / 1000)'
echo "  observers: UDP $(kt_status_field "$KT_DIR/udp.status" distinct) datagrams," \
     "TCP $(kt_status_field "$KT_DIR/tcp.status" records) records," \
     "disk $(kt_status_field "$KT_DIR/disk.status" distinct) records reported"

epoch=$(kt_kemari_field host-a epoch)
echo "killing host A's QEMU (SIGKILL) after checkpoint $epoch..."
kill -9 "$a_pid"
wait "$a_pid" 2>/dev/null
ms=$(kt_failover host-b) || kt_die "failover failed"
echo "host B: x-kemari-failover -> guest running in $ms ms, from checkpoint" \
     "$(kt_kemari_field host-b epoch)"
u0=$(kt_status_field "$KT_DIR/udp.status" highest)
sleep 4
echo "4 s later: UDP highest $u0 -> $(kt_status_field "$KT_DIR/udp.status" highest)," \
     "TCP records $(kt_status_field "$KT_DIR/tcp.status" records)," \
     "disk records $(kt_status_field "$KT_DIR/disk.status" distinct)"

kt_stop "$tcp_pid"
kill -9 "$b_pid"
wait "$b_pid" 2>/dev/null
kt_stop "$udp_pid"
kt_stop "$disk_pid"
dv=$("$KEMARI_KSEQ" disk-verify "$KT_IMG" --reports "$KT_DIR/disk.reports")
echo
echo "what the outside world saw:"
echo "  UDP:  $(cat "$KT_DIR/udp.out")"
echo "  TCP:  $(cat "$KT_DIR/tcp.out")"
echo "  disk: $dv"
missing=$(sed -n 's/.* missing=\([0-9]*\).*/\1/p' "$KT_DIR/udp.out")
mism=$(sed -n 's/.* mismatches=\([0-9]*\).*/\1/p' "$KT_DIR/udp.out")
unmatched=$(echo "$dv" | sed -n 's/.* unmatched=\([0-9]*\).*/\1/p')
tcp_lost=0
grep -q 'result=ok' "$KT_DIR/tcp.out" || tcp_lost=1
lost=$(( ${missing:-1} + ${mism:-1} + ${unmatched:-1} + tcp_lost ))
echo "outputs lost or contradicted: $lost (UDP gaps ${missing:-?}," \
     "UDP rewritten ${mism:-?}, disk records missing ${unmatched:-?}," \
     "TCP connection broken $tcp_lost)"
kt_check "nothing lost across the failover" test "$lost" = 0
kt_finish
