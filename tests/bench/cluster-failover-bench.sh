#!/bin/sh
# cluster-failover-bench.sh - how long a protected guest is silent when
# its primary's node dies, and how much of that is corosync's.
#
# Three simulated nodes (cluster.sh: real corosync, token 1000 ms),
# kemarid on each, one guest protected with kemarid's standalone policy.
# Each trial SIGKILLs every process of the primary's node and cuts its
# link, then measures, side by side:
#   detect   kill -> a membership probe on the survivor sees the node
#            gone (what corosync costs: the baseline)
#   answer   kill -> the guest's next UDP datagram reaches the observer
#            (the guest answering from the secondary)
#   kemari   answer - detect (what Kemari adds: decision, take-over,
#            replay of held outputs)
# then waits until kemarid protected the guest again on the third node
# and revives the dead one for the next trial.  Prints every trial and
# the median and maximum of each column.  A benchmark: asserts nothing.
#
# usage (root, a build tree's environment as for make check):
#   make bench-cluster       or   sh tests/bench/cluster-failover-bench.sh
# BENCH_TRIALS (default 10); KC_TOKEN_COEFFICIENT (default corosync's,
# 650 ms) changes corosync's timing (see kemarid(8)).
export KT_NAME=cluster-failover-bench
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"
. "${top_srcdir:-.}/tests/lib/kemarid.sh"

kt_require_env
kt_mkdir
trials=${BENCH_TRIALS:-10}
KD_LOG_LEVEL=info
kc_cluster 3 "kb$$" || kt_die "cannot build the simulated nodes"
kd_taps || kt_die "no tap devices"
for i in 1 2 3; do
    kc_corosync_start $i || kt_die "node $i: corosync did not start"
done
kc_wait_quorate 1 60 || kt_die "not quorate"
for i in 1 2 3; do
    kd_start $i || kt_die "node $i: kemarid did not start"
    # a probe in another group: it sees the same membership as kemarid
    kc_probe_start $i --group kemari-bench
done
kd_wait_eligible 1 2 20 || kt_die "peers not eligible: $(km 1 nodes)"
kt_disk 64M
kt_observers "$(kc_ns h)"
kd_guest_start 1 "kemari.udp=9000 kemari.udp_gap_us=1000" ||
    kt_die "guest did not boot"
kd_wait_field 1 state UNPROTECTED 20 || kt_die "vm1 not found"
km 1 start vm1 --peer node2 --timeout 240 >/dev/null ||
    kt_die "protection did not start: $(km 1 status)"
kd_wait_field 2 state STANDBY 30 || kt_die "no standby on node2"

# probe_gone_ms I DEAD T0: ms from T0 to the first view of node I's
# probe (after T0) without node DEAD, or nothing
probe_gone_ms() {
    python3 - "$KC_DIR/n$1/probe.out" "$2" "$3" <<'PY'
import json, sys
path, dead, t0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for line in open(path):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == "view" and e.get("t_ms", 0) >= t0 and \
            dead not in e.get("nodes", []):
        print(e["t_ms"] - t0)
        break
PY
}

echo "trial  killed  survivor  detect_ms  answer_ms  kemari_ms"
pri=1 sec=2 spare=3 results=""
t=1
while [ $t -le "$trials" ]; do
    sleep 2
    kd_kill_and_wait $pri
    t0=$KD_KILL_MS
    answer=$KD_ANSWER_MS
    sleep 1
    detect=$(probe_gone_ms $sec $pri "$t0")
    if [ -z "$answer" ] || [ -z "$detect" ]; then
        kt_log "trial $t: no answer ($answer) or no detection ($detect)"
        break
    fi
    printf '%5d  node%d   node%d     %9d  %9d  %9d\n' "$t" $pri $sec \
        "$detect" "$answer" $((answer - detect))
    results="$results $detect:$answer"
    km $sec stats vm1 --count 1 --interval 1000 | sed 's/^/    /'
    # the survivor protects the guest again with the spare node
    kd_wait_field $sec state PROTECTED 240 ||
        kt_die "trial $t: no re-protection: $(km $sec status)"
    # the dead node comes back, empty, for the next trial
    kc_restore_link $pri
    kc_corosync_start $pri || kt_die "node $pri: corosync did not restart"
    kd_start $pri || kt_die "node $pri: kemarid did not restart"
    kc_probe_start $pri --group kemari-bench
    kd_wait_eligible $sec 2 30 || kt_die "node $pri did not come back"
    old=$pri pri=$sec sec=$spare spare=$old
    t=$((t + 1))
done

echo "$results" | tr ' ' '\n' | awk -F: 'NF == 2 {
        d[n] = $1; a[n] = $2; k[n] = $2 - $1; n++ }
    function med(x, n,    i, j, t, y) {
        for (i = 0; i < n; i++) y[i] = x[i]
        for (i = 0; i < n; i++) for (j = i + 1; j < n; j++)
            if (y[j] < y[i]) { t = y[i]; y[i] = y[j]; y[j] = t }
        return n % 2 ? y[int(n / 2)] : (y[n / 2 - 1] + y[n / 2]) / 2 }
    function max(x, n,    i, m) { m = x[0]; for (i = 1; i < n; i++)
        if (x[i] > m) m = x[i]; return m }
    END { if (!n) exit
        printf "trials %d   median  detect %d ms  answer %d ms  kemari %d ms\n",
            n, med(d, n), med(a, n), med(k, n)
        printf "             max  detect %d ms  answer %d ms  kemari %d ms\n",
            max(d, n), max(a, n), max(k, n) }'
