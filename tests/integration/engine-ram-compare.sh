#!/bin/sh
# engine-ram-compare.sh - once a checkpoint is applied, the secondary's
# guest RAM is the primary's, page for page.
#
# The guest runs the failover tests' workload (UDP flat out, disk
# records, the TCP sequence server with a client).  TRIALS (default 4)
# times a new secondary protects the current primary; ROUNDS (default 4)
# times the primary is paused (QMP stop) after a random 0.5 to 3 s, two
# more checkpoints complete, and both QEMUs' guest RAM is saved
# (pmemsave) and compared page by page; then the primary goes on (cont).
# At the end of a trial the primary is SIGKILLed and the secondary fails
# over, so later trials protect a primary that itself took over.
# Pass: no page differs, ever.  A page that differs is one the secondary
# would resume with although the guest had changed it: a write the
# dirty tracking missed.  The differing pages are printed.
. "${top_srcdir:-.}/tests/lib/testlib.sh"

kt_require_env
command -v python3 >/dev/null || kt_skip "needs python3 (QMP client)"
kt_mkdir
trials=${TRIALS:-4}
rounds=${ROUNDS:-4}
mem_mib=256
ns=kt-rc-$$
kt_pair_netns "$ns"
kt_disk 64M
kt_workload_guest "$ns" "$KT_DISK" || kt_die "guest did not boot"
append=$KT_APPEND
udp_pid=$KT_UDP_PID
disk_pid=$KT_DISK_PID
pri=q0
pri_pid=$KT_QEMU_PID

# same_ram A B: prints the differing 4 KiB pages of two RAM images
# (at most 20, then the count), outside the legacy ROM area
# 0xa0000-0xfffff; true when there are none
same_ram() {
    python3 - "$1" "$2" <<'EOF'
import sys
a, b = open(sys.argv[1], 'rb'), open(sys.argv[2], 'rb')
diff, page = [], 0
while True:
    x, y = a.read(4096), b.read(4096)
    if not x and not y:
        break
    if x != y and not 0xa0 <= page < 0x100:
        diff.append(page)
    page += 1
for p in diff[:20]:
    a.seek(p * 4096)
    b.seek(p * 4096)
    x, y = a.read(4096), b.read(4096)
    d = [i for i in range(4096) if x[i] != y[i]]
    print("page 0x%x differs: %d bytes, %d..%d" % (p * 4096, len(d), d[0], d[-1]))
if diff:
    print("%d pages differ" % len(diff))
sys.exit(1 if diff else 0)
EOF
}

i=1
tcp_pid=""
while [ $i -le "$trials" ]; do
    sec=q$i
    kt_pair_tap "$ns" "kt$i"
    # shellcheck disable=SC2086
    KT_TAP=kt$i kt_qemu "$ns" "$sec" "$append" $KT_DISK -incoming defer
    sec_pid=$KT_QEMU_PID
    kt_protect "$pri" "$sec" $((4600 + i)) ||
        kt_die "trial $i: protection did not start"
    if [ -z "$tcp_pid" ]; then
        kt_bg "$ns" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check \
            169.254.10.2 7000 --status "$KT_DIR/tcp.status"
        tcp_pid=$KT_BG_PID
    fi
    r=1
    while [ $r -le "$rounds" ]; do
        sleep "$(awk -v s="$$$i$r" 'BEGIN { srand(s); printf "%.2f", 0.5 + rand() * 2.5 }')"
        kt_qmp "$pri" stop > /dev/null || kt_die "trial $i: stop failed"
        e=$(kt_kemari_field "$pri" epoch)
        n=0
        until [ "$(kt_kemari_field "$sec" epoch)" -ge "$((${e:-0} + 2))" ] \
                2>/dev/null; do
            n=$((n + 1))
            [ $n -lt 100 ] || kt_die "trial $i: no checkpoint while paused"
            sleep 0.1
        done
        for q in "$pri" "$sec"; do
            kt_qmp "$q" pmemsave "{\"val\": 0, \"size\": $((mem_mib << 20)), \"filename\": \"$KT_DIR/$q.ram\"}" \
                > /dev/null || kt_die "trial $i: pmemsave on $q failed"
        done
        ep=$(kt_kemari_field "$sec" epoch)
        if out=$(same_ram "$KT_DIR/$pri.ram" "$KT_DIR/$sec.ram"); then
            kt_pass "trial $i round $r: checkpoint $ep: the secondary's RAM is the primary's"
            rm -f "$KT_DIR/$pri.ram" "$KT_DIR/$sec.ram"
        else
            kt_fail "trial $i round $r: checkpoint $ep: $(echo "$out" | tail -n 1)"
            echo "$out"
            # kept for a look (kt_finish keeps the directory on failure)
            mv "$KT_DIR/$pri.ram" "$KT_DIR/t$i-r$r-primary.ram"
            mv "$KT_DIR/$sec.ram" "$KT_DIR/t$i-r$r-secondary.ram"
        fi
        kt_qmp "$pri" cont > /dev/null || kt_die "trial $i: cont failed"
        r=$((r + 1))
    done
    kill -9 "$pri_pid"
    wait "$pri_pid" 2>/dev/null
    kt_failover "$sec" > /dev/null || kt_die "trial $i: failover failed"
    pri=$sec
    pri_pid=$sec_pid
    i=$((i + 1))
done
kill -TERM "$pri_pid"
wait "$pri_pid" 2>/dev/null
kt_verdicts "$tcp_pid" "$udp_pid" "$disk_pid" "$trials failovers"
kt_finish
