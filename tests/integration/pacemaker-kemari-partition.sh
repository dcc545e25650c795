#!/bin/sh
# pacemaker-kemari-partition.sh - network partitions of the whole stack on
# two simulated nodes (as pacemaker-kemari.sh: real corosync, token 1000
# ms, two_node; Pacemaker with fencing through fence_kemari_test;
# libvirtd with the Kemari hook; kemarid with the libvirt backend and
# failover-policy pacemaker; vm1 a promotable clone of
# ocf:kemari:KemariDomain with meta priority=10), plus
# priority-fencing-delay, so that the node holding the primary wins the
# fence race of a partition.  With two_node each side stays quorate and
# tries to fence the other.
#
#   A. The primary's node is cut off (kc_cut_link: its switch port down,
#      every daemon running on).  From the cut until things settle, every
#      ~0.2 s, both nodes are sampled: kemarid's role and state of vm1,
#      virsh domstate vm1, crm_mon's roles.  No sample shows two copies
#      running the guest (domain running and kemarid role primary) nor
#      two Promoted nodes.  The primary's node fences the other one (it
#      is off: no process left); vm1 stays Promoted and running there.
#      The cable is put back: the guest's outputs reach the world again.
#      The fenced node boots again and becomes the secondary.
#   B. The secondary's node is cut off.  Sampled the same way; the
#      primary's node fences it, the primary keeps running and its
#      outputs, held while the secondary's fate is unknown, flow again
#      once the agent's notification told kemarid that node was fenced
#      (not before: the cut-off half is quorate too and could have won
#      the fence race; not held forever); the fenced node comes back as
#      the secondary.
#   Outside, the observers saw no UDP number with two payloads, one TCP
#   connection throughout, every reported disk record on the disk.  UDP
#   datagrams the guest sent while its node's cable was out (A) are lost
#   on the way, as on a real network: the test checks that every missing
#   number was sent during that cut and that B lost none.
# Prints how long each partition took to settle (cut -> fencing done ->
# vm1 alone and Promoted on the survivor) and how long the outputs stood
# still.
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"
. "${top_srcdir:-.}/tests/lib/libvirt.sh"
. "${top_srcdir:-.}/tests/lib/pacemaker.sh"
. "${top_srcdir:-.}/tests/lib/kemarid.sh"

kd_stack_require timeout
kt_mkdir
# priority-fencing-delay, seconds: far longer than the winner needs to
# become DC of its half and fence (a few seconds here, on a loaded host)
PFD=${KEMARI_PRIORITY_FENCING_DELAY:-10}

kd_stack_up 2 "kq$$" 64M
kt_pass "corosync (two_node), libvirtd, kemarid (pacemaker policy) and" \
    "Pacemaker on 2 nodes"

kt_observers "$(kc_ns h)"
udp_pid=$KT_UDP_PID
disk_pid=$KT_DISK_PID
meta="<metadata><kemari:kemari xmlns:kemari='https://kemari.dev/xmlns/libvirt/1.0'><kemari:peer node='node1'/><kemari:peer node='node2'/><kemari:failover policy='pacemaker'/></kemari:kemari></metadata>"
KL_APPEND="kemari.udp=9000 kemari.udp_gap_us=1000 kemari.disk=9001 \
kemari.disk_gap_us=5000" kl_domxml vm1 "$meta" > "$KT_DIR/vm1.xml"

config() {
    kp_pcs 1 "$1" property set stonith-enabled=true \
        "priority-fencing-delay=${PFD}s" &&
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
if out=$(kp_configure 1 config 2>&1); then
    kt_pass "configuration loaded (stonith, priority-fencing-delay=${PFD}s," \
        "vm1's promotable clone with priority 10)"
else
    kt_die "configuration: $out"
fi
kt_check "both nodes see priority-fencing-delay=${PFD}s" eval \
    'kp_on 2 crm_attribute --type crm_config --name priority-fencing-delay \
        --query | grep -q "value=${PFD}s"'

# cold start on one node, the secondary on the other (pacemaker-kemari.sh)
pri=""
n=0
while [ $n -lt 120 ] && [ -z "$pri" ]; do
    pri=$(kp_where 1 vm1-clone | sed -n 's/^node\([0-9]\) Promoted$/\1/p')
    sleep 1
    n=$((n + 1))
done
[ -n "$pri" ] || kt_die "vm1 was not promoted anywhere: $(kp_where 1 vm1-clone)"
sec=$((3 - pri))
kt_pass "Pacemaker cold-started vm1 on node$pri"
kl_wait_ready "$pri" vm1 180 || kt_die "guest did not boot"
# roles PRIMARY-ROLE SECONDARY-ROLE: kp_where's answer (sorted by node)
roles() {
    if [ "$pri" -lt "$sec" ]; then
        echo "node$pri $1;node$sec $2"
    else
        echo "node$sec $2;node$pri $1"
    fi
}
score() {
    kp_on "$1" crm_attribute --promotion=vm1 -N "node$2" \
        --query -q 2>/dev/null
}
# protected WHAT: node$pri runs vm1 protected by node$sec, as Pacemaker
# and both kemarids see it
protected() {
    kt_check "$1: node$sec holds the standby copy" \
        kd_wait_field "$sec" state STANDBY 240
    kt_check "$1: crm_mon: Promoted on node$pri, Unpromoted on node$sec" \
        kp_wait_where "$pri" vm1-clone "$(roles Promoted Unpromoted)" 120
    kt_check "$1: node$pri: vm1 PROTECTED" \
        kd_wait_field "$pri" state PROTECTED 30
    _n=0
    until [ "$(score "$pri" "$sec")" = 100 ] || [ $_n -ge 30 ]; do
        sleep 1
        _n=$((_n + 1))
    done
    kt_check "$1: promotion scores: node$pri $(score "$pri" "$pri"), node$sec $(score "$pri" "$sec")" \
        test "$(score "$pri" "$pri")/$(score "$pri" "$sec")" = 1000/100
}
protected "cold start"

kt_bg "$(kc_ns h)" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check 169.254.10.2 \
    7000 --status "$KT_DIR/tcp.status"
tcp_pid=$KT_BG_PID
kt_wait_above "$KT_DIR/tcp.status" records 20 30 ||
    kt_fail "TCP observer gets no records"
sleep 2

# ------------------------------------------------------------ sampling

now_ms() { kd_now_ms; }
udp_field() { kt_status_field "$KT_DIR/udp.status" "$1"; }
loglines() { cat "$(kp_fence_log)" 2>/dev/null | wc -l; }
# no_processes I: nothing runs in node I's network namespace
no_processes() { [ -z "$(ip netns pids "$(kc_ns "$1")")" ]; }

# look I: node I's view in one line: ROLE STATE DOMSTATE PROMOTED, where
# ROLE and STATE are kemarid's (role and state of vm1), DOMSTATE is
# virsh domstate vm1, PROMOTED the nodes node I's crm_mon shows vm1
# Promoted on ("," separated); "-" for what did not answer (within 2 s
# for kemari and virsh; a node that is off answers nothing).
look() {
    _l_k=$(timeout -k 1 2 "$KEMARI" --socket "$KT_DIR/n$1/kemarid.sock" \
        --json status vm1 2>/dev/null |
        jq -r '.vms[0] // {} | "\(.role // "-") \(.state // "-")"' \
            2>/dev/null)
    _l_d=$(kl_on "$1" timeout -k 1 2 virsh -c qemu:///system domstate vm1 \
        2>/dev/null | head -n 1 | tr ' ' _)
    _l_c=$(kp_where "$1" vm1-clone 2>/dev/null |
        sed -n 's/^\(node[0-9]*\) Promoted.*/\1/p' | tr '\n' , )
    printf '%s %s %s\n' "${_l_k:-- -}" "${_l_d:--}" "${_l_c:--}"
}

# sample: both nodes looked at in parallel; appends to $KT_DIR/samples
# "MS UDP-HIGHEST | node1: ROLE STATE DOM PROMOTED | node2: ..." and sets
# S_RUN (nodes that run the guest: domain running, kemarid primary),
# S_PROM (nodes any view shows Promoted), S_1, S_2 (the looks).
sample() {
    # the UDP number first, with its time: the looks take a while
    _s_t=$(now_ms)
    _s_u=$(udp_field highest)
    look 1 > "$KT_DIR/look.1" 2>/dev/null &
    _s_p1=$!
    look 2 > "$KT_DIR/look.2" 2>/dev/null &
    _s_p2=$!
    wait "$_s_p1" "$_s_p2"
    S_1=$(cat "$KT_DIR/look.1")
    S_2=$(cat "$KT_DIR/look.2")
    S_RUN=""
    S_PROM=""
    for _s_i in 1 2; do
        eval "_s_v=\$S_$_s_i"
        # shellcheck disable=SC2086,SC2154  # split the fields on purpose
        set -- $_s_v
        case $1/$3 in
            primary/running) S_RUN="$S_RUN node$_s_i" ;;
        esac
        for _s_n in $(echo "$4" | tr , ' '); do
            [ "$_s_n" = - ] && continue
            case " $S_PROM " in
                *" $_s_n "*) ;;
                *) S_PROM="$S_PROM $_s_n" ;;
            esac
        done
    done
    echo "$(( _s_t - T0 )) $_s_u | node1: $S_1 | node2: $S_2" \
        >> "$KT_DIR/samples"
}

# fenced_by TARGET FROM: the node that fenced TARGET (result=off) in the
# agent's log after line FROM, and when (FENCE_MS, epoch ms); fails if
# none did.
fenced_by() {
    FENCE_MS=""
    FENCE_BY=""
    _f_l=$(tail -n "+$(( $2 + 1 ))" "$(kp_fence_log)" 2>/dev/null |
        grep -m 1 " target=$1 .*result=off")
    [ -n "$_f_l" ] || return 1
    FENCE_MS=$(echo "$_f_l" | sed 's/^\([0-9]*\)\.\([0-9]*\) .*/\1\2/')
    FENCE_BY=$(echo "$_f_l" | cut -d' ' -f2)
}

# partition WHAT CUT: cut node CUT's link, sample until settled (the
# node that was not fenced runs vm1 as the only, unprotected primary,
# Promoted in its crm_mon; the fenced one has no process left), then 3 s
# more.  Checks and reports; sets WIN, LOSE, SETTLE_MS, FENCE_AFTER,
# U_CUT (the UDP observer's highest number at the cut).
partition() {
    _p_what=$1
    _p_from=$(loglines)
    : > "$KT_DIR/samples"
    U_CUT=$(udp_field highest)
    T0=$(now_ms)
    kc_cut_link "$2"
    echo "$_p_what: cut node$2's link; samples: ms-after-cut" \
        "udp-highest | node: role state domstate promoted-in-its-crm_mon"
    _p_two=""
    _p_prom=""
    SETTLE_MS=""
    _p_n=0
    _p_after=0
    WIN=""
    LOSE=""
    while [ $(( $(now_ms) - T0 )) -lt 150000 ]; do
        _p_t=$(now_ms)
        sample
        _p_n=$((_p_n + 1))
        # shellcheck disable=SC2086  # count the words
        [ "$(echo $S_RUN | wc -w)" -le 1 ] ||
            _p_two="$_p_two [$(tail -n 1 "$KT_DIR/samples")]"
        # shellcheck disable=SC2086
        [ "$(echo $S_PROM | wc -w)" -le 1 ] ||
            _p_prom="$_p_prom [$(tail -n 1 "$KT_DIR/samples")]"
        if [ -n "$SETTLE_MS" ]; then
            _p_after=$((_p_after + 1))
            [ "$_p_after" -lt 15 ] || break
        else
            for _p_l in 1 2; do
                _p_w=$((3 - _p_l))
                fenced_by "node$_p_l" "$_p_from" || continue
                eval "_p_v=\$S_$_p_w"
                # shellcheck disable=SC2154
                [ "$_p_v" = "primary UNPROTECTED running node$_p_w," ] &&
                    no_processes "$_p_l" || continue
                SETTLE_MS=$(( $(now_ms) - T0 ))
                FENCE_AFTER=$(( FENCE_MS - T0 ))
                WIN=$_p_w
                LOSE=$_p_l
                break
            done
        fi
        _p_t=$(( 200 - $(now_ms) + _p_t ))
        [ "$_p_t" -le 0 ] || sleep "0.$(printf '%03d' "$_p_t")"
    done
    _p_ms=$(( $(now_ms) - T0 ))
    [ -z "$LOSE" ] || fenced_by "node$LOSE" "$_p_from"
    # the samples where a node's view changed
    awk '{ k = $0; sub(/^[^|]*/, "", k) } k != p { print "    " $0; p = k }' \
        "$KT_DIR/samples" | head -n 40
    kt_check "$_p_what: $_p_n samples over $_p_ms ms (one every $(( _p_ms / _p_n )) ms): never two copies running the guest${_p_two:+:$_p_two}" \
        [ -z "$_p_two" ]
    kt_check "$_p_what: no sample shows vm1 Promoted on two nodes${_p_prom:+:$_p_prom}" \
        [ -z "$_p_prom" ]
    if [ -z "$SETTLE_MS" ]; then
        kt_fail "$_p_what: not settled after $_p_ms ms: $S_1 / $S_2;" \
            "fence log: $(tail -n "+$(( _p_from + 1 ))" "$(kp_fence_log)")"
        return 1
    fi
    kt_pass "$_p_what: settled $SETTLE_MS ms after the cut: node$LOSE" \
        "fenced by $FENCE_BY ($FENCE_AFTER ms after the cut), vm1 alone on" \
        "node$WIN (primary, UNPROTECTED, running, Promoted)"
    echo "$_p_what: cut -> node$LOSE fenced: $FENCE_AFTER ms;" \
        "-> settled (vm1 the only primary, Promoted on node$WIN): $SETTLE_MS ms"
    kt_check "$_p_what: node$pri, which holds the primary, won the fence race" \
        eval '[ "$WIN" = "$pri" ] && [ "$FENCE_BY" = "node$pri" ]'
    kt_check "$_p_what: node$LOSE is off (no process left), node$WIN was never fenced" \
        eval 'no_processes "$LOSE" &&
            ! fenced_by "node$WIN" "$_p_from"'
    kt_check "$_p_what: node$WIN's pacemakerd, corosync, kemarid, libvirtd run on" \
        eval 'kill -0 "$(kp_pacemakerd_pid "$WIN")" &&
            kill -0 "$(kc_corosync_pid "$WIN")" &&
            kill -0 "$(kl_libvirtd_pid "$WIN")" &&
            [ -n "$(km "$WIN" status 2>/dev/null)" ]'
    if grep -q "Delaying '[a-z]*' action targeting node$WIN .* for ${PFD}s" \
            "$(kp_log "$LOSE")" 2>/dev/null; then
        echo "$_p_what: node$LOSE's fencer had delayed its fencing of" \
            "node$WIN by ${PFD}s (priority-fencing-delay) when it was shot"
    fi
    # when the outputs stood still and moved again, as the UDP observer
    # saw them (at the resolution of the samples)
    awk '{ if (NR > 1 && $2 == h && s == "") s = t
           if (s != "" && e == "" && $2 > h) e = $1
           t = $1; h = $2 }
         END { if (s != "" && e != "") print s, e }' "$KT_DIR/samples" \
        > "$KT_DIR/stall"
    return 0
}

# outputs_flow WHAT SECS: the guest's outputs reach the world: 100 more
# UDP numbers and 10 more TCP records within SECS
outputs_flow() {
    _o_t=$(now_ms)
    if kd_wait_progress "$2"; then
        kt_pass "$1: the guest's outputs reach the world ($KD_PROGRESS" \
            "within $(( $(now_ms) - _o_t )) ms)"
    else
        kt_fail "$1: the guest's outputs do not flow ($2 s): $KD_PROGRESS;" \
            "$(km "$pri" status)"
    fi
}

# comeback WHAT: the fenced node boots again and becomes the secondary
comeback() {
    _c_t=$(now_ms)
    kp_node_up "$LOSE" || kt_die "$1: node$LOSE did not boot again"
    kd_node_daemons "$LOSE" ||
        kt_die "$1: node$LOSE: libvirtd or kemarid did not start"
    if kp_wait_where "$pri" vm1-clone "$(roles Promoted Unpromoted)" 120 &&
       kd_wait_field "$sec" state STANDBY 240; then
        kt_pass "$1: node$LOSE is back as the secondary (STANDBY) after" \
            "$(( $(now_ms) - _c_t )) ms"
    else
        kt_fail "$1: node$LOSE did not become the secondary: $KP_WHERE;" \
            "$(km "$LOSE" status)"
    fi
    protected "$1, node$LOSE back"
}

# ------------------------------------------------------------ A

missing0=$(udp_field missing)
if partition "A (the primary's node cut off)" "$pri"; then
    sleep 1
    # the cable is put back: the survivor's guest talks to the world
    # again (the fenced node's port stays down: it is off)
    hcut=$U_CUT
    kc_restore_link "$WIN"
    outputs_flow "A, node$WIN's cable back" 60
    hback=$(udp_field highest)
    kt_check "A: node$WIN still runs vm1 as primary, Promoted" eval \
        'kd_wait_field "$WIN" role primary 5 &&
         kp_wait_where "$WIN" vm1-clone "node$WIN Promoted" 10'
    [ "$WIN" = "$pri" ] || kt_die "the secondary's node won: stopping here"
    comeback "A"
else
    kt_die "A: the partition did not settle"
fi
missingA=$(udp_field missing)

# ------------------------------------------------------------ B

if partition "B (the secondary's node cut off)" "$sec"; then
    [ "$WIN" = "$pri" ] || kt_die "the secondary's node won: stopping here"
    outputs_flow "B, after the fencing" 10
    sleep 1
    outputs_flow "B, still" 5
    s=0 e=0
    if [ -s "$KT_DIR/stall" ]; then
        read -r s e < "$KT_DIR/stall"
        echo "B: the guest's outputs stood still from about $s ms to $e ms" \
            "after the cut (held, then released; node$LOSE was fenced at" \
            "$FENCE_AFTER ms)"
    fi
    kt_check "B: node$pri: vm1 UNPROTECTED, outputs released" \
        kd_wait_field "$pri" state UNPROTECTED 5
    # two_node: node$LOSE's half was quorate too; only its fencing made
    # the release safe.  The agent's notification said so to kemarid.
    kt_check "B: node$pri's kemarid released the outputs on the fencing report (DEGRADED --peer-fenced--> UNPROTECTED), not before" \
        eval 'grep -q "vm=vm1: DEGRADED --peer-fenced--> UNPROTECTED" \
                  "$KT_DIR/n$pri/kemarid.log" &&
              ! grep -q "vm=vm1: DEGRADED --peer-left--> UNPROTECTED" \
                  "$KT_DIR/n$pri/kemarid.log"'
    kt_check "B: the world saw no output before node$LOSE was fenced (first sample with progress at $e ms, fenced at $FENCE_AFTER ms)" \
        [ "$e" -ge "${FENCE_AFTER:-0}" ]
    comeback "B"
else
    kt_die "B: the partition did not settle"
fi
sleep 2

# ------------------------------------------------------------ verdicts

kt_stop "$tcp_pid"
kt_check "TCP: one connection through both partitions: $(cat "$KT_DIR/tcp.out")" \
    grep -q 'result=ok' "$KT_DIR/tcp.out"
kt_stop "$udp_pid"
u=$(grep '^udp-recv:' "$KT_DIR/udp.out")
kt_check "UDP: no number with two payloads, nothing malformed: $u" \
    eval 'echo "$u" | grep -q " mismatches=0 .* bad=0 other_stream=0"'
m=$(echo "$u" | sed -n 's/.* missing=\([0-9]*\) .*/\1/p')
# the numbers lost are those the guest sent while its node's cable was
# out in A: after $hcut (the last one seen before the cut), before
# $hback (the first ones seen after)
gaps=$(sed -n 's/^kseq: udp-recv: missing \([0-9]*\)\.\.\([0-9]*\)$/\1 \2/p' \
    "$KT_DIR/udp.out")
# shellcheck disable=SC2034  # used in the eval below
outside=$(echo "$gaps" | awk -v a="$hcut" -v b="$hback" \
    'NF == 2 && ($1 <= a || $2 >= b) { print $1 ".." $2 }')
kt_check "UDP: ${m:-?} numbers lost, all sent while node$pri's cable was out in A (after $hcut, before $hback; gaps $(echo "$gaps" | tr ' \n' '-,')); none before ($missing0), none in B (${missingA:-?} then)" \
    eval '[ "${missing0:-0}" = 0 ] && [ "$m" = "$missingA" ] &&
        [ -n "$gaps" ] && [ -z "$outside" ]'
kt_stop "$disk_pid"
if v=$("$KEMARI_KSEQ" disk-verify "$KT_IMG" \
        --reports "$KT_DIR/disk.reports" --expect-min 1); then
    kt_pass "disk: every reported record is on the disk: $v"
else
    kt_fail "disk: $v"
fi
kt_finish
