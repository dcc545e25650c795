#!/bin/sh
# disk-bench.sh - guest disk write throughput, side by side in one run:
# unprotected, protected with the disk shared (writes held until their
# checkpoint is acknowledged) and protected with the disk replicated (the
# primary writes its own image at once; each checkpoint carries the
# blocks written since the last one).
#
# The workload is fio-like and runs inside the guest: sequential
# O_DIRECT writes at queue depth 1, then fdatasync (kseq dwrite).  It is
# timed from outside the VM, from the request to the guest's answer: the
# answer is an output, so under protection it leaves the guest only once
# a checkpoint holding the writes is acknowledged.  Each row is the
# median of BENCH_DISK_RUNS (default 5) runs; for the protected rows also
# the checkpoints per second and the mean bytes per checkpoint during the
# writes, and for the replicated row the initial copy (time and data
# bytes sent for a BENCH_DISK_MB disk, default 256, holding data all over).
# Replicated disks are measured twice: without and with
# x-kemari-disk-state-dir (as kemarid runs them: the primary keeps an
# activity log, synced when a write reaches a new 4 MiB extent).  Then
# protection stops, the guest writes 8 MiB alone, and the secondary's
# image comes back: the incremental resync's time and data bytes.
# Prints a table; this is a benchmark, not a test: it asserts nothing.
#
# usage (root, from a build tree's environment as for make check):
#   make bench-disk       or    sh tests/bench/disk-bench.sh
export KT_NAME=disk-bench
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
command -v python3 >/dev/null || kt_skip "needs python3 (QMP client)"
kt_mkdir
runs=${BENCH_DISK_RUNS:-5}
size_mb=${BENCH_DISK_MB:-256}
ns=kt-dbench-$$
kt_pair_netns "$ns"
for t in kt0 kt1 kt2 kt3 kt4; do
    kt_pair_tap "$ns" "$t"
done

# data all over the primary's disk, so that the initial copy has work
head -c "${size_mb}M" /dev/urandom > "$KT_DIR/pri.img"
kt_disk "${size_mb}M" "$KT_DIR/pri.img"
pri_disk=$KT_DISK
# shellcheck disable=SC2086  # a list of arguments
KT_TAP=kt0 kt_qemu "$ns" pri "kemari.tcp_gap_us=0" $pri_disk
kt_wait_console pri KEMARI-GUEST-READY 180 || kt_die "guest did not boot"

# median of the numbers on stdin
median() {
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "-"; exit }
        print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# kemari_totals: "checkpoints bytes" of pri's session so far
kemari_totals() {
    kt_qmp pri query-kemari 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["checkpoints"], d["checkpoints"] * d["checkpoint-bytes-mean"])' \
        2>/dev/null || echo "0 0"
}

# row LABEL BYTES BLOCK: the median MiB/s of $runs runs, and (protected)
# checkpoints per second and bytes per checkpoint over those runs
row() {
    _k0=$(kemari_totals)
    _t0=$(date +%s.%N)
    _mibs=$(for _r in $(seq "$runs"); do
        ip netns exec "$ns" "$KEMARI_KSEQ" dwrite 169.254.10.2 7000 \
            --bytes "$2" --block "$3" | sed -n 's/.* mib_s=\([^ ]*\).*/\1/p'
    done | median)
    _t1=$(date +%s.%N)
    _k1=$(kemari_totals)
    awk -v l="$1" -v b="$3" -v m="$_mibs" -v a="$_k0" -v z="$_k1" \
        -v t0="$_t0" -v t1="$_t1" 'BEGIN {
        split(a, x, " "); split(z, y, " ")
        c = y[1] - x[1]
        if (c > 0) {
            cps = sprintf("%.0f", c / (t1 - t0))
            bpc = sprintf("%.0f", (y[2] - x[2]) / c)
        } else {
            cps = "-"; bpc = "-"
        }
        printf "%-12s %7s %10s %8s %14s\n", l, b / 1024 "K", m, cps, bpc }'
}

# both rows (64 KiB and 4 KiB writes) of one mode
rows() {
    row "$1" $((64 << 20)) 65536
    row "$1" $((8 << 20)) 4096
}

echo "guest: 256 MiB, 1 vCPU, TCG; disk ${size_mb} MiB raw, cache=none;" \
     "sequential O_DIRECT writes, queue depth 1, then fdatasync; median" \
     "of $runs runs; MiB/s timed outside the VM"
printf '%-12s %7s %10s %8s %14s\n' mode block MiB/s ckpt/s bytes/ckpt
rows unprotected

# shared: the secondary opens the same image
# shellcheck disable=SC2086
KT_TAP=kt1 kt_qemu "$ns" sec "kemari.tcp_gap_us=0" $pri_disk -incoming defer
kt_protect pri sec 4461 '{"x-kemari-mode": "event"}' ||
    kt_die "protection (shared) did not start"
rows shared
kt_qmp pri x-kemari-stop > /dev/null || kt_die "x-kemari-stop failed"
kt_wait_kemari pri stopped 30 || kt_die "protection did not stop"

# copy SEC TAP PORT STATE-DIR: protect pri onto a new secondary SEC on
# sec.img, replicating the disk, each side keeping its state in STATE-DIR
# ("" for none); sets COPY to "seconds data-bytes incremental" of the
# copy.  (Not run in a subshell: the QEMU must stay tracked for cleanup.)
copy() {
    kt_disk "${size_mb}M" "$KT_DIR/sec.img"
    # shellcheck disable=SC2086
    KT_TAP=$2 kt_qemu "$ns" "$1" "kemari.tcp_gap_us=0" $KT_DISK \
        -incoming defer
    kt_qmp "$1" migrate-set-parameters \
        "{\"x-kemari-disk-state-dir\": \"${4:+$4/sec}\"}" > /dev/null
    sleep 1    # the ended session is cleaned up within milliseconds
    _c0=$(date +%s.%N)
    kt_protect pri "$1" "$3" "{\"x-kemari-mode\": \"event\",
        \"x-kemari-replicated-disks\": [\"vdisk0\"],
        \"x-kemari-disk-state-dir\": \"${4:+$4/pri}\"}" ||
        kt_die "protection (replicated, onto $1) did not start"
    _c1=$(date +%s.%N)
    COPY=$(kt_qmp pri query-kemari | python3 -c '
import json, sys
d = json.load(sys.stdin)["disks"][0]
print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])), d["copied"],
      str(d["incremental"]).lower())' "$_c0" "$_c1")
}

# unprotect SEC: stop protection and SEC's QEMU
unprotect() {
    kt_qmp pri x-kemari-stop > /dev/null || kt_die "x-kemari-stop failed"
    kt_wait_kemari pri stopped 30 || kt_die "protection did not stop"
    kt_qmp "$1" quit > /dev/null 2>&1
    sleep 1
}

# replicated: the secondary has an image of its own, random bytes
head -c "${size_mb}M" /dev/urandom > "$KT_DIR/sec.img"
mkdir -p "$KT_DIR/state/pri" "$KT_DIR/state/sec"
copy sec2 kt2 4462 ""
rows repl-nolog
unprotect sec2
copy sec3 kt3 4463 "$KT_DIR/state"
# shellcheck disable=SC2086  # the three words of the answer
set -- $COPY
rows replicated
unprotect sec3
echo "replicated: initial copy of the $size_mb MiB disk and the guest's" \
     "RAM: $1 s, $(($2 / 1048576)) MiB of disk data sent (incremental: $3)"
full=$2
# the guest writes 8 MiB alone, then the secondary's image comes back
ip netns exec "$ns" "$KEMARI_KSEQ" dwrite 169.254.10.2 7000 \
    --bytes $((8 << 20)) --block 65536 > /dev/null ||
    kt_die "the guest did not write"
copy sec4 kt4 4464 "$KT_DIR/state"
# shellcheck disable=SC2086  # the three words of the answer
set -- $COPY
echo "replicated: resync after 8 MiB of writes: $1 s, $(($2 / 1048576))" \
     "MiB of disk data sent (incremental: $3), $(awk -v a="$2" -v b="$full" \
     'BEGIN { printf "%.3f", a / b }') of the initial copy's"
kt_pass "benchmark ran"
kt_finish
