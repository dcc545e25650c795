#!/bin/sh
# engine-bench.sh - what protection costs, side by side in one run.
#
# One guest, measured in four phases on the same machine: unprotected,
# protected in event mode (Kemari's), protected in periodic mode at
# 25 ms (Remus's), and protected in event mode with QEMU's XBZRLE page
# delta encoding (capability xbzrle, to a second secondary).  For each:
# request/response round trips from outside the VM (p50, p99) for
# requests that dirty 0, 100, 500 and 1000 guest pages (one byte written
# in each) and 1000 whole pages (rr1000f: every byte rewritten), bulk TCP
# throughput out of the guest, and from query-kemari the checkpoints per
# second, guest stop time per checkpoint, bytes per checkpoint; the
# secondary's resident memory against guest RAM; and the floor under a
# checkpoint's transfer (kseq tcpfloor: the same bytes between two plain
# processes over loopback TCP).
# Prints a table; this is a benchmark, not a test: it asserts nothing.
#
# usage (root, from a build tree's environment as for make check):
#   make bench          or    sh tests/bench/engine-bench.sh
# BENCH_RR_COUNT (default 400) and BENCH_BULK_S (default 5) tune it.
export KT_NAME=engine-bench
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
kt_mkdir
count=${BENCH_RR_COUNT:-400}
bulk_s=${BENCH_BULK_S:-5}
mem_mib=256
ns=kt-bench-$$
kt_pair_netns "$ns"
kt_pair_tap "$ns" kt0
kt_pair_tap "$ns" kt1
kt_pair_tap "$ns" kt2
KT_TAP=kt0 kt_qemu "$ns" pri "kemari.tcp_gap_us=0"
pri_pid=$KT_QEMU_PID
kt_wait_console pri KEMARI-GUEST-READY 180 || kt_die "guest did not boot"

field() {
    sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p"
}

# measure LABEL: rr at 0/100/500/1000 dirty pages and 1000 whole pages,
# then bulk
measure() {
    _c0=$(kt_kemari_field pri checkpoints)
    _t0=$(date +%s.%N)
    rr_cols=""
    for dirty in 0:1 100:1 500:1 1000:1 1000:4096; do
        _out=$(ip netns exec "$ns" "$KEMARI_KSEQ" rr 169.254.10.2 7000 \
               --count "$count" --pages "${dirty%:*}" \
               --page-bytes "${dirty#*:}")
        rr_cols="$rr_cols $(echo "$_out" | field p50_us)"
        rr_cols="$rr_cols $(echo "$_out" | field p99_us)"
    done
    bulk=$(ip netns exec "$ns" "$KEMARI_KSEQ" bulk 169.254.10.2 7000 \
           --duration "$bulk_s" | field mbit_s)
    _c1=$(kt_kemari_field pri checkpoints)
    _t1=$(date +%s.%N)
    cps=$(awk -v a="${_c0:-0}" -v b="${_c1:-0}" -v t0="$_t0" -v t1="$_t1" \
          'BEGIN { printf "%.0f", (b - a) / (t1 - t0) }')
    stats=$(kt_qmp pri query-kemari | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["stop-time"]["mean"], d["stop-time"]["p99"], d["stop-time"]["max"],
      d["checkpoint-bytes-mean"], d["dirty-pages-last"])')
    # shellcheck disable=SC2086  # ten round-trip columns
    printf '%-16s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %10s %7s %s\n' "$1" \
        $rr_cols "$bulk" "$cps" "$stats"
}

echo "guest: $mem_mib MiB, 1 vCPU, TCG; round trips in microseconds" \
     "($count requests each); bulk in Mbit/s over ${bulk_s} s"
printf '%-16s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %10s %7s %s\n' mode \
    rr0_p50 rr0_p99 rr100_p50 rr100_p99 rr500_p50 rr500_p99 \
    rr1000_p50 rr1000_p99 \
    rr1000f_p50 rr1000f_p99 bulk \
    ckpt/s "stop_mean_us stop_p99_us stop_max_us bytes_mean dirty_pages_last"
measure unprotected

KT_TAP=kt1 kt_qemu "$ns" sec "kemari.tcp_gap_us=0" -incoming defer
sec_pid=$KT_QEMU_PID
kt_protect pri sec 4444 '{"x-kemari-mode": "event"}' ||
    kt_die "protection did not start"
measure "event"
kt_qmp pri migrate-set-parameters \
    '{"x-kemari-mode": "periodic", "x-kemari-max-interval": 25}' >/dev/null
sleep 1
measure "periodic-25ms"
sec_rss=$(awk '/VmRSS/ { print $2 }' "/proc/$sec_pid/status")
sec_staging=$(kt_kemari_field sec staging-bytes)

# the same in event mode with XBZRLE, to a new secondary (capabilities
# are set before a migration starts)
kt_qmp pri x-kemari-stop > /dev/null || kt_die "x-kemari-stop failed"
kt_wait_kemari pri stopped 30 || kt_die "protection did not stop"
KT_TAP=kt2 kt_qemu "$ns" sec2 "kemari.tcp_gap_us=0" -incoming defer
sleep 1    # the ended session is cleaned up within milliseconds
KT_XBZRLE=1 kt_protect pri sec2 4445 '{"x-kemari-mode": "event"}' ||
    kt_die "protection with xbzrle did not start"
measure "event-xbzrle"

rss=$sec_rss
staging=$sec_staging
echo "secondary resident memory: $((rss / 1024)) MiB for a $mem_mib MiB" \
     "guest (ratio $(awk -v r="$rss" -v m="$mem_mib" \
     'BEGIN { printf "%.2f", r / 1024 / m }')); staging buffer" \
     "$((${staging:-0} / 1024)) KiB"
prss=$(awk '/VmRSS/ { print $2 }' "/proc/$pri_pid/status")
echo "primary resident memory: $((prss / 1024)) MiB"
# The floor under a checkpoint's transfer: the same bytes over this
# host's loopback TCP between two plain processes, with a one-byte answer
# (a checkpoint of 1000 dirtied pages is about 4.5 MB, of none about
# 350 KB)
for b in 350000 4500000; do
    echo "loopback TCP floor: $(ip netns exec "$ns" "$KEMARI_KSEQ" tcpfloor \
         --bytes "$b" --count 200 | sed 's/^tcpfloor: //')"
done
kt_pass "benchmark ran"
kt_finish
