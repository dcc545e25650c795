#!/bin/sh
# pacemaker-bench.sh - Kemari under Pacemaker against Pacemaker's
# restart-based VirtualDomain, on one cluster and one guest: how long the
# guest is gone when its node dies, and what the world lost.
#
# The cluster is the one of tests/integration/pacemaker-kemari.sh: two
# simulated nodes (cluster.sh: real corosync, token 1000 ms, two_node),
# Pacemaker with fencing through tests/tools/fence_kemari_test, libvirtd
# with the Kemari hook and kemarid (libvirt backend, failover-policy
# pacemaker) on each node.  The guest is the test guest (TCG, 256 MiB, one
# vCPU): a UDP sequence every 1 ms, a disk record every 5 ms (each
# reported to the observer once fdatasync'd), a TCP sequence server.
#
#   1. Kemari: vm1, a promotable clone of ocf:kemari:KemariDomain.  Each
#      trial kills the primary's node (kd_kill_and_wait: every process
#      SIGKILLed, link cut); Pacemaker fences it and promotes the
#      secondary.  Then the node boots again and becomes the secondary
#      (STANDBY, Unpromoted) before the next trial.  One TCP connection
#      (kseq tcp-check) is held through all trials.
#   2. Restart: vm1-clone disabled; vd, an unprotected copy of the same
#      guest (same kernel, initrd, workload, no <kemari> metadata, its
#      own disk image), as ocf:heartbeat:VirtualDomain (hypervisor
#      qemu:///system: the agent runs inside the node through
#      pacemaker-execd, so that is the node's own libvirtd).  Each trial
#      kills the node running vd; Pacemaker fences it and starts vd on
#      the other node (a cold boot).  The node boots again before the
#      next trial.  Each trial has its own TCP connection and observers.
#
# Measured per trial, from the moment the node is dead (all its processes
# gone, link cut):
#   answer   the guest's next UDP datagram at the observer (by arrival:
#            a rebooted guest starts a new sequence from 0)
#   tcp      the first record on a new TCP connection to the guest's
#            sequence server (a prober opens one every 100 ms)
#   fence    the fence agent's "result=off" in its log (kp_fence_log)
# and what was lost: the open TCP connection (records after the death or
# not), UDP gaps and numbers with two payloads (kseq udp-recv), the UDP
# sequence restarted (a new stream: kseq's other_stream), disk records
# reported durable but not on the disk (kseq disk-verify).  For the
# restart, the dead incarnation's disk image is set aside at the kill
# (a fresh image takes its place for the reboot) and verified alone:
# its successor would otherwise rewrite it from block 0.
# Prints every trial, then a table (median and max of each time, the
# losses) and the ratio of the medians.  A benchmark: asserts nothing
# but that it could run.
#
# usage (root, a build tree's environment as for make check):
#   make bench-pacemaker     or   sh tests/bench/pacemaker-bench.sh
# BENCH_TRIALS (default 10) trials of each system; BENCH_KEMARI_TRIALS,
# BENCH_VD_TRIALS for each alone (0 skips it); BENCH_PFD sets
# priority-fencing-delay (e.g. 10s; default: not set, as in
# pacemaker-kemari.sh); BENCH_KEEP=1 keeps the logs (exit status 3).
# Exits 1 (logs kept) when a trial got no answer at all.
export KT_NAME=pacemaker-bench
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"
. "${top_srcdir:-.}/tests/lib/libvirt.sh"
. "${top_srcdir:-.}/tests/lib/pacemaker.sh"
. "${top_srcdir:-.}/tests/lib/kemarid.sh"

kd_stack_require
VD_AGENT=/usr/lib/ocf/resource.d/heartbeat/VirtualDomain
[ -x "$VD_AGENT" ] || kt_skip "no $VD_AGENT (resource-agents)"

trials=${BENCH_TRIALS:-10}
k_trials=${BENCH_KEMARI_TRIALS:-$trials}
v_trials=${BENCH_VD_TRIALS:-$trials}
disk_size=256M
guest_ip=169.254.10.2

kt_mkdir
KD_LOG_LEVEL=info
K_RES=$KT_DIR/kemari.res
V_RES=$KT_DIR/vd.res
: > "$K_RES"
: > "$V_RES"

say() { printf '%s\n' "$*"; }

# ------------------------------------------------------------- helpers

# node_back I: node I boots again (link, namespaces, corosync, libvirtd,
# Pacemaker, then the hook and kemarid)
node_back() {
    kc_restore_link "$1"
    kp_node_up "$1" || return 1
    kd_node_daemons "$1"
}

# roles_where PROMOTED-NODE: kp_where's answer with PROMOTED-NODE
# Promoted and the other node Unpromoted
roles_where() {
    if [ "$1" = 1 ]; then
        echo "node1 Promoted;node2 Unpromoted"
    else
        echo "node1 Unpromoted;node2 Promoted"
    fi
}

# The TCP prober (host namespace): a new connection to the guest's
# sequence server every 100 ms (each given up after 3 s); for each that
# delivers a first record, a line "ok START_MS ARRIVAL_MS" (epoch ms).
# shellcheck disable=SC2016  # python, not shell
prober_py='
import selectors, socket, sys, time
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
PERIOD, GIVEUP = 0.1, 3.0
sel = selectors.DefaultSelector()
out = open(path, "a", buffering=1)
nxt = 0.0
while True:
    now = time.time()
    if now >= nxt:
        nxt = now + PERIOD
        if len(sel.get_map()) < 40:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                s.connect((host, port))
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                s = None
            if s is not None:
                sel.register(s, selectors.EVENT_WRITE, [now, b"", False])
    for key, _ in sel.select(timeout=max(0.0, nxt - time.time())):
        s, d = key.fileobj, key.data
        done = False
        try:
            if not d[2]:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    done = True
                else:
                    s.send(b"SEQ\n")
                    d[2] = True
                    sel.modify(s, selectors.EVENT_READ, d)
            else:
                b = s.recv(64 - len(d[1]))
                if not b:
                    done = True
                else:
                    d[1] += b
                    if len(d[1]) >= 64:
                        if d[1][:4] == b"KSQ1":
                            out.write("ok %d %d\n" % (d[0] * 1000,
                                                      time.time() * 1000))
                        done = True
        except OSError:
            done = True
        if done:
            sel.unregister(s)
            s.close()
    now = time.time()
    for key in list(sel.get_map().values()):
        if now - key.data[0] > GIVEUP:
            sel.unregister(key.fileobj)
            key.fileobj.close()
'

prober_start() {
    : > "$KT_DIR/prober.out"
    kt_bg "$(kc_ns h)" "$KT_DIR/prober.log" python3 -c "$prober_py" \
        "$guest_ip" 7000 "$KT_DIR/prober.out"
    PROBER_PID=$KT_BG_PID
}

# prober_wait T0 SECS: ms from T0 (epoch ms) to the first record that
# arrived after T0 (waits SECS at most; empty if none); stops the prober
prober_wait() {
    _n=$(( $2 * 10 ))
    PROBE_MS=""
    while [ "$_n" -gt 0 ]; do
        PROBE_MS=$(awk -v t0="$1" '$1 == "ok" && $3 > t0 {
                print $3 - t0; exit }' "$KT_DIR/prober.out")
        [ -z "$PROBE_MS" ] || break
        sleep 0.1
        _n=$((_n - 1))
    done
    kill "$PROBER_PID" 2>/dev/null
    wait "$PROBER_PID" 2>/dev/null
}

# fence_ms FROM-LINE TARGET T0: ms from T0 to the agent's result=off for
# TARGET in the fence log after line FROM (empty if none)
fence_ms() {
    tail -n "+$(( $1 + 1 ))" "$(kp_fence_log)" 2>/dev/null |
        awk -v tgt="target=node$2" -v t0="$3" '
            $0 ~ tgt " " && / result=off/ {
                split($1, a, "."); print a[1] * 1000 + a[2] - t0; exit }'
}

fence_lines() { cat "$(kp_fence_log)" 2>/dev/null | wc -l; }

# complete_lines FILE OUT: FILE's complete lines (the observer may be in
# the middle of one) into OUT
complete_lines() {
    head -n "$(wc -l < "$1")" "$1" > "$2"
}

# disk_check IMAGE REPORTS: kseq disk-verify's line; a record being
# written while we read may look torn: tried again (3 times at most)
disk_check() {
    _n=0
    while :; do
        _v=$("$KEMARI_KSEQ" disk-verify "$1" --reports "$2") && break
        _n=$((_n + 1))
        [ "$_n" -lt 3 ] || break
        case $_v in *reason=block*) ;; *) break ;; esac
        sleep 0.2
    done
    printf '%s\n' "$_v"
}

# unreported RECORDS REPORTS: records on the disk after the last one
# reported durable (written, synced or not, the world never heard of)
unreported() {
    awk -v r="$1" 'BEGIN { m = -1 } $1 > m { m = $1 }
        END { print (m < 0 ? r : r - 1 - m) }' "$2"
}

field() { printf '%s\n' "$1" | sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p"; }

cluster_param() {
    kp_on 1 corosync-cmapctl -g "$1" 2>/dev/null | sed 's/.* = //'
}

# ------------------------------------------------------------- the table

# stats FILE COLUMN: "median max" of a numeric column ("-" for none)
stats() {
    awk -v c="$2" '$c ~ /^[0-9]+$/ { v[n++] = $c }
        END {
            if (!n) { print "- -"; exit }
            for (i = 0; i < n; i++) for (j = i + 1; j < n; j++)
                if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
            m = n % 2 ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
            printf "%d %d\n", m, v[n - 1] }' "$1"
}

# count FILE COLUMN VALUE: trials whose COLUMN is VALUE
count() { awk -v c="$2" -v x="$3" '$c == x { n++ } END { print n + 0 }' "$1"; }
total() { awk -v c="$2" '{ s += $c } END { print s + 0 }' "$1"; }

report() {
    REPORTED=1
    kn=$(wc -l < "$K_RES")
    vn=$(wc -l < "$V_RES")
    say ""
    say "=== Kemari vs restart (ocf:heartbeat:VirtualDomain): node death," \
        "same cluster, same guest ==="
    say "cluster: 2 nodes, corosync token ${P_TOKEN:-?} ms, consensus" \
        "${P_CONSENSUS:-?} ms, two_node ${P_TWO_NODE:-?}," \
        "stonith fence_kemari_test, priority-fencing-delay ${P_PFD:-not set}"
    say "         Pacemaker $P_PCMK, corosync $P_COROSYNC, resource-agents" \
        "$P_RA; guest TCG 256 MiB 1 vCPU, UDP every 1 ms, disk record" \
        "every 5 ms"
    say "guest UDP output reaching the observer, trials included (at most" \
        "1000/s): Kemari ${K_RATE:-?}/s, VirtualDomain ${V_RATE:-?}/s"
    say "times in ms from the node's death (all processes gone, link cut)"
    say "(answered: trials with a UDP answer within the wait; medians and" \
        "maxima over those)"
    printf '%-14s %8s %8s %8s %7s %7s %7s %7s\n' system answered \
        answ_med answ_max tcp_med tcp_max fnc_med fnc_max
    for s in Kemari VirtualDomain; do
        if [ $s = Kemari ]; then f=$K_RES n=$kn; else f=$V_RES n=$vn; fi
        a=$(awk '$3 ~ /^[0-9]+$/ { n++ } END { print n + 0 }' "$f")
        # shellcheck disable=SC2046  # two numbers each
        printf '%-14s %8s %8s %8s %7s %7s %7s %7s\n' $s "$a/$n" \
            $(stats "$f" 3) $(stats "$f" 4) $(stats "$f" 5)
    done
    say "losses:"
    if [ "$kn" -gt 0 ]; then
        say "  Kemari        TCP connection kept through" \
            "$(count "$K_RES" 6 kept) of $kn failovers (one connection" \
            "held through all: ${K_TCP_FINAL:-?});" \
            "UDP gaps $(total "$K_RES" 7), numbers with two payloads" \
            "$(total "$K_RES" 8), sequence restarted $(count "$K_RES" 9 yes)" \
            "times; disk: reported records missing" \
            "$(awk '{ x = $10 } END { print x + 0 }' "$K_RES")" \
            "(${K_DISK_FINAL:-?})"
    fi
    if [ "$vn" -gt 0 ]; then
        say "  VirtualDomain TCP connection kept through" \
            "$(count "$V_RES" 6 kept) of $vn restarts (broken in" \
            "$(count "$V_RES" 6 lost));" \
            "UDP gaps $(total "$V_RES" 7), numbers with two payloads" \
            "$(total "$V_RES" 8), sequence restarted from 0" \
            "$(count "$V_RES" 9 yes) times; disk: reported records missing" \
            "$(total "$V_RES" 10), records written but never reported" \
            "$(total "$V_RES" 11) (of $(total "$V_RES" 12) on the dead" \
            "incarnations' disks); each reboot restarts the writer at" \
            "block 0 (the in-memory state is lost)"
    fi
    if [ "$kn" -gt 0 ] && [ "$vn" -gt 0 ]; then
        set -- "$(stats "$K_RES" 3)" "$(stats "$V_RES" 3)" \
            "$(stats "$K_RES" 4)" "$(stats "$V_RES" 4)"
        awk -v ka="${1% *}" -v va="${2% *}" -v kt="${3% *}" -v vt="${4% *}" \
            'BEGIN {
                printf "ratio of medians (VirtualDomain / Kemari): answer "
                if (ka > 0 && va != "-") printf "%.1f", va / ka
                else printf "-"
                printf ", tcp "
                if (kt > 0 && vt != "-") printf "%.1f\n", vt / kt
                else printf "-\n" }'
    fi
}

# on a failure too, what was measured until then
REPORTED=""
report_on_exit() { [ -n "$REPORTED" ] || report; }
kt_add_cleanup_hook report_on_exit

# ------------------------------------------------------------- the cluster

kd_stack_up 2 "kpb$$" "$disk_size"

meta="<metadata><kemari:kemari xmlns:kemari='https://kemari.dev/xmlns/libvirt/1.0'><kemari:peer node='node1'/><kemari:peer node='node2'/><kemari:failover policy='pacemaker'/></kemari:kemari></metadata>"
KL_APPEND="kemari.udp=9000 kemari.udp_gap_us=1000 kemari.disk=9001 \
kemari.disk_gap_us=5000" kl_domxml vm1 "$meta" > "$KT_DIR/vm1.xml"
# the restart's guest: the same, unprotected, its own disk and ports
VD_IMG=$KT_DIR/vd-disk.img
truncate -s "$disk_size" "$VD_IMG"
KT_IMG=$VD_IMG KL_APPEND="kemari.udp=9010 kemari.udp_gap_us=1000 \
kemari.disk=9011 kemari.disk_gap_us=5000" kl_domxml vd > "$KT_DIR/vd.xml"

kt_observers "$(kc_ns h)"
udp_pid=$KT_UDP_PID
disk_pid=$KT_DISK_PID
config() {
    kp_pcs 1 "$1" property set stonith-enabled=true &&
    if [ -n "${BENCH_PFD:-}" ]; then
        kp_pcs 1 "$1" property set priority-fencing-delay="$BENCH_PFD"
    fi &&
    kp_pcs 1 "$1" stonith create fence-test fence_kemari_test \
        "$(kp_fence_params)" &&
    kp_pcs 1 "$1" resource create vm1 ocf:kemari:KemariDomain domain=vm1 \
        config="$KT_DIR/vm1.xml" kemari_bin="$KEMARI" \
        op start timeout=60s op stop timeout=120s \
        op promote timeout=120s op demote timeout=120s \
        op monitor interval=3s role=Promoted timeout=30s \
        op monitor interval=4s role=Unpromoted timeout=30s \
        promotable promoted-max=1 clone-max=2 notify=true meta priority=10
}
# vm1 runs and is protected before Pacemaker takes it over (its probes
# find the primary and the secondary), so that every trial measures the
# failover of a booted, protected guest (pacemaker-kemari-3node.sh tests
# the cold start by the agent)
out=$(kl_virsh 1 create "$KT_DIR/vm1.xml" 2>&1) || kt_die "vm1: $out"
kl_wait_ready 1 vm1 180 || kt_die "guest did not boot"
kd_wait_field 1 state UNPROTECTED 30 || kt_die "kemarid has no vm1"
km 1 start vm1 --timeout 240 >/dev/null ||
    kt_die "protection did not start: $(km 1 status)"
out=$(kp_configure 1 config 2>&1) || kt_die "configuration: $out"

P_TOKEN=$(cluster_param runtime.config.totem.token)
P_CONSENSUS=$(cluster_param runtime.config.totem.consensus)
P_TWO_NODE=$(cluster_param quorum.two_node)
P_PFD=$(kp_on 1 crm_attribute --type crm_config \
    --name priority-fencing-delay --query -q 2>/dev/null)
P_PCMK=$(pacemakerd --version | sed -n '1s/^Pacemaker //p')
P_COROSYNC=$(corosync -v | sed -n "1s/.*version '\\([^']*\\)'.*/\\1/p")
P_RA=$(dpkg-query -W -f '${Version}' resource-agents 2>/dev/null)

# ------------------------------------------------------------- 1. Kemari

pri=""
n=0
while [ $n -lt 120 ] && [ -z "$pri" ]; do
    pri=$(kp_where 1 vm1-clone | sed -n 's/^node\([0-9]\) Promoted$/\1/p')
    sleep 1
    n=$((n + 1))
done
[ -n "$pri" ] || kt_die "vm1 was not promoted anywhere: $(kp_where 1 vm1-clone)"
sec=$((3 - pri))
kl_wait_ready "$pri" vm1 180 || kt_die "guest did not boot"
kd_wait_field "$sec" state STANDBY 240 ||
    kt_die "no secondary on node$sec: $(km "$sec" status)"
kp_wait_where 1 vm1-clone "$(roles_where "$pri")" 60 ||
    kt_die "crm_mon: $KP_WHERE"
kt_bg "$(kc_ns h)" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check "$guest_ip" \
    7000 --status "$KT_DIR/tcp.status"
tcp_pid=$KT_BG_PID
kt_wait_above "$KT_DIR/tcp.status" records 20 30 ||
    kt_die "the TCP observer gets no records"

say "Kemari: vm1 Promoted on node$pri, Unpromoted on node$sec; $k_trials trials"
say "trial killed  answer_ms  tcp_ms  fence_ms  tcp_conn  udp_gaps" \
    "udp_mism  disk_missing  back_as_secondary_ms"
k_u0=$(kt_status_field "$KT_DIR/udp.status" received)
k_s0=$(kd_now_ms)
t=1
while [ "$t" -le "$k_trials" ]; do
    sleep 2
    m0=$(kt_status_field "$KT_DIR/udp.status" missing)
    x0=$(kt_status_field "$KT_DIR/udp.status" mismatches)
    from=$(fence_lines)
    prober_start
    kd_kill_and_wait "$pri"
    r0=$(kt_status_field "$KT_DIR/tcp.status" records)
    answer=${KD_ANSWER_MS:-none}
    if [ "$answer" = none ]; then
        prober_wait "$KD_KILL_MS" 5
    else
        prober_wait "$KD_KILL_MS" 30
    fi
    tcpms=${PROBE_MS:-none}
    [ "$answer" != none ] ||
        kt_log "trial $t: no output within 30 s: $(km "$sec" status)"
    kp_wait_where "$sec" vm1-clone "node$sec Promoted" 60 ||
        kt_log "trial $t: crm_mon: $KP_WHERE"
    fence=$(fence_ms "$from" "$pri" "$KD_KILL_MS")
    sleep 1
    r1=$(kt_status_field "$KT_DIR/tcp.status" records)
    if kill -0 "$tcp_pid" 2>/dev/null && [ "${r1:-0}" -gt "${r0:-0}" ]; then
        conn=kept
    else
        conn=lost
    fi
    # the dead node boots again and becomes the secondary
    t0=$(kd_now_ms)
    node_back "$pri" || kt_die "trial $t: node$pri did not boot again"
    if kp_wait_where "$sec" vm1-clone "$(roles_where "$sec")" 120 &&
       kd_wait_field "$pri" state STANDBY 240 &&
       kd_wait_field "$sec" state PROTECTED 30; then
        back=$(( $(kd_now_ms) - t0 ))
    else
        kt_die "trial $t: node$pri did not become the secondary:" \
            "$KP_WHERE; $(km "$pri" status)"
    fi
    m1=$(kt_status_field "$KT_DIR/udp.status" missing)
    x1=$(kt_status_field "$KT_DIR/udp.status" mismatches)
    o1=$(kt_status_field "$KT_DIR/udp.status" other_stream)
    complete_lines "$KT_DIR/disk.reports" "$KT_DIR/disk.reports.now"
    dv=$(disk_check "$KT_IMG" "$KT_DIR/disk.reports.now")
    dmiss=$(field "$dv" unmatched)
    case $dv in *result=ok*) ;; *) dmiss="${dmiss:-?}!" ;; esac
    restarted=no
    [ "${o1:-0}" = 0 ] || restarted=yes
    echo "$t $pri $answer $tcpms ${fence:-none} $conn $((m1 - m0))" \
        "$((x1 - x0)) $restarted $dmiss" >> "$K_RES"
    printf '%5s node%s %10s %7s %9s  %8s %9s %9s %13s %21s\n' "$t" "$pri" \
        "$answer" "$tcpms" "${fence:-none}" "$conn" "$((m1 - m0))" \
        "$((x1 - x0))" "$dmiss" "$back"
    [ "$dmiss" = 0 ] || say "      $dv"
    old=$pri pri=$sec sec=$old
    t=$((t + 1))
done

K_RATE=$(( ($(kt_status_field "$KT_DIR/udp.status" received) - k_u0) * 1000 /
    ($(kd_now_ms) - k_s0) ))
kt_stop "$tcp_pid"
K_TCP_FINAL=$(sed -n 's/^tcp-check: //p' "$KT_DIR/tcp.out")
# vm1 down everywhere, then the disk is quiet for the final verdict
dis() { kp_pcs 1 "$1" resource disable vm1-clone; }
out=$(kp_configure 1 dis 2>&1) || kt_die "disabling vm1-clone: $out"
kp_wait_where 1 vm1-clone "" 120 || kt_die "vm1 does not stop: $KP_WHERE"
kt_stop "$udp_pid"
kt_stop "$disk_pid"
K_UDP_FINAL=$(sed -n 's/^udp-recv: //p' "$KT_DIR/udp.out")
K_DISK_FINAL=$("$KEMARI_KSEQ" disk-verify "$KT_IMG" \
    --reports "$KT_DIR/disk.reports")
K_DISK_FINAL="$K_DISK_FINAL unreported=$(unreported \
    "$(field "$K_DISK_FINAL" records)" "$KT_DIR/disk.reports")"
say "Kemari, the whole run: tcp-check $K_TCP_FINAL"
say "                       udp-recv $K_UDP_FINAL"
say "                       $K_DISK_FINAL"

# ------------------------------------------------------------- 2. restart

if [ "$v_trials" = 0 ]; then
    report
    [ -z "${BENCH_KEEP:-}" ] || exit 3
    exit 0
fi
vdcfg() {
    kp_pcs 1 "$1" resource create vd ocf:heartbeat:VirtualDomain \
        hypervisor=qemu:///system config="$KT_DIR/vd.xml" \
        op start timeout=120s op stop timeout=90s \
        op monitor interval=10s timeout=30s \
        meta priority=10 resource-stickiness=100
}
out=$(kp_configure 1 vdcfg 2>&1) || kt_die "configuring vd: $out"
run=""
n=0
while [ $n -lt 120 ] && [ -z "$run" ]; do
    run=$(kp_where 1 vd | sed -n 's/^node\([0-9]\) Started$/\1/p')
    sleep 1
    n=$((n + 1))
done
[ -n "$run" ] || kt_die "vd was not started: $(kp_where 1 vd)"
kl_wait_ready "$run" vd 180 || kt_die "vd did not boot"

say ""
say "VirtualDomain: vd Started on node$run; $v_trials trials"
say "trial killed  answer_ms  tcp_ms  fence_ms  tcp_conn  udp_gaps" \
    "udp_mism  udp_restart  disk_missing  unreported  node_back_ms"
v_u=0
v_w=0
t=1
while [ "$t" -le "$v_trials" ]; do
    surv=$((3 - run))
    # this trial's observers and TCP connection
    rm -f "$KT_DIR/vd-udp.status" "$KT_DIR/vd-tcp.status"
    kt_bg "$(kc_ns h)" "$KT_DIR/vd-udp.out" "$KEMARI_KSEQ" udp-recv 9010 \
        --log "$KT_DIR/vd-udp.log" --status "$KT_DIR/vd-udp.status"
    vu_pid=$KT_BG_PID
    vw0=$(kd_now_ms)
    kt_bg "$(kc_ns h)" "$KT_DIR/vd-disk.out" "$KEMARI_KSEQ" udp-recv 9011 \
        --kind disk --log "$KT_DIR/vd-disk.reports"
    vk_pid=$KT_BG_PID
    kt_bg "$(kc_ns h)" "$KT_DIR/vd-tcp.out" "$KEMARI_KSEQ" tcp-check \
        "$guest_ip" 7000 --status "$KT_DIR/vd-tcp.status"
    vt_pid=$KT_BG_PID
    kt_wait_above "$KT_DIR/vd-tcp.status" records 20 30 ||
        kt_die "trial $t: the TCP observer gets no records"
    kt_wait_above "$KT_DIR/vd-udp.status" received 100 30 ||
        kt_die "trial $t: the UDP observer gets nothing"
    sleep 2
    from=$(fence_lines)
    prober_start
    # the node dies; the dead incarnation's disk is set aside at once
    # (the reboot elsewhere comes seconds later, after fencing)
    kc_kill_node "$run"
    t0=$(kd_now_ms)
    mv "$VD_IMG" "$KT_DIR/vd-dead.img" && truncate -s "$disk_size" "$VD_IMG"
    u0=$(kt_status_field "$KT_DIR/vd-udp.status" received)
    r0=$(kt_status_field "$KT_DIR/vd-tcp.status" records)
    answer=none
    while [ $(( $(kd_now_ms) - t0 )) -lt 180000 ]; do
        u=$(kt_status_field "$KT_DIR/vd-udp.status" received)
        if [ "${u:-0}" -gt "${u0:-0}" ]; then
            answer=$(( $(kd_now_ms) - t0 ))
            break
        fi
        sleep 0.02
    done
    prober_wait "$t0" 120
    tcpms=${PROBE_MS:-none}
    fence=$(fence_ms "$from" "$run" "$t0")
    kp_wait_where "$surv" vd "node$surv Started" 60 ||
        kt_log "trial $t: crm_mon: $KP_WHERE"
    sleep 3
    r1=$(kt_status_field "$KT_DIR/vd-tcp.status" records)
    if kill -0 "$vt_pid" 2>/dev/null && [ "${r1:-0}" -gt "${r0:-0}" ]; then
        conn=kept
    else
        conn=lost
    fi
    kt_stop "$vt_pid"
    kt_stop "$vu_pid"
    kt_stop "$vk_pid"
    vo=$(sed -n 's/^udp-recv: //p' "$KT_DIR/vd-udp.out")
    v_u=$((v_u + $(field "$vo" received)))
    v_w=$((v_w + $(kd_now_ms) - vw0))
    # gaps from the first number this observer saw (it started mid-way)
    vgaps=$(awk '!n++ || $1 < lo { lo = $1 } $1 > hi { hi = $1 }
        END { print n ? hi - lo + 1 - n : 0 }' "$KT_DIR/vd-udp.log")
    restarted=no
    [ "$(field "$vo" other_stream)" = 0 ] || restarted=yes
    dv=$("$KEMARI_KSEQ" disk-verify "$KT_DIR/vd-dead.img" \
        --reports "$KT_DIR/vd-disk.reports")
    dmiss=$(field "$dv" unmatched)
    case $dv in *result=ok*) ;; *) dmiss="${dmiss:-?}!" ;; esac
    drec=$(field "$dv" records)
    dunrep=$(unreported "${drec:-0}" "$KT_DIR/vd-disk.reports")
    rm -f "$KT_DIR/vd-dead.img"
    t1=$(kd_now_ms)
    node_back "$run" || kt_die "trial $t: node$run did not boot again"
    kp_wait_online "$surv" 120 ||
        kt_die "trial $t: node$run is not back online"
    kp_wait_where "$surv" vd "node$surv Started" 60 ||
        kt_die "trial $t: vd is not on node$surv: $KP_WHERE"
    back=$(( $(kd_now_ms) - t1 ))
    echo "$t $run $answer $tcpms ${fence:-none} $conn $vgaps" \
        "$(field "$vo" mismatches) $restarted $dmiss $dunrep ${drec:-0}" \
        >> "$V_RES"
    printf '%5s node%s %10s %7s %9s  %8s %9s %9s %12s %13s %11s %13s\n' \
        "$t" "$run" "$answer" "$tcpms" "${fence:-none}" "$conn" \
        "$vgaps" "$(field "$vo" mismatches)" "$restarted" \
        "$dmiss" "$dunrep" "$back"
    say "      udp-recv $vo"
    say "      $dv"
    run=$surv
    t=$((t + 1))
done

V_RATE=$((v_u * 1000 / (v_w + 1)))
report
# a trial without an answer: the figures are incomplete (logs kept)
if grep -q ' none ' "$K_RES" "$V_RES"; then
    kt_log "some trials got no answer"
    exit 1
fi
[ -z "${BENCH_KEEP:-}" ] || exit 3
exit 0
