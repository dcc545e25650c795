#!/bin/sh
# pacemaker-kemari-3node.sh - the whole stack of pacemaker-kemari.sh on
# three simulated nodes: real corosync (token 1000 ms, votequorum 2 of 3,
# no two_node), Pacemaker with fencing through fence_kemari_test,
# libvirtd with the Kemari hook, kemarid (libvirt backend,
# failover-policy pacemaker), vm1 a promotable clone of
# ocf:kemari:KemariDomain with clone-max=3.
#
# clone-max=3, one instance per node: kemarid, not Pacemaker, picks the
# node of the secondary (any eligible one), so every node must be allowed
# to hold an Unpromoted instance.  With clone-max=2 the node kemarid
# picks after a failure may have no instance: Pacemaker would find an
# unexpected copy there and stop it, and the agent's stop destroys it.
#
#   1. Pacemaker cold-starts vm1 on one node (P); kemarid protects it
#      with one of the others (S, chosen by kemarid); the third (T) holds
#      an Unpromoted instance without a copy: scores 1000, 100, 1.
#   2. P dies (every process killed, link cut).  A survivor fences it
#      (the two survivors keep quorum); Pacemaker promotes S, the guest
#      goes on; kemarid protects it again with T, the only eligible node
#      left: T becomes STANDBY (score 100), S PROTECTED.
#   3. P boots again: an Unpromoted instance without a copy (score 1);
#      the pair S/T stays as it is.
#   4. S, the primary now, dies: fenced, T promoted, and the protection
#      is rebuilt on P, the node that came back.
#   The observers outside saw no UDP gap, no number with two payloads,
#   one TCP connection through both deaths, every reported disk record
#   on the disk.  Prints the failover times (death to the guest's next
#   output) and how long the protection took to be rebuilt.
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"
. "${top_srcdir:-.}/tests/lib/libvirt.sh"
. "${top_srcdir:-.}/tests/lib/pacemaker.sh"
. "${top_srcdir:-.}/tests/lib/kemarid.sh"

kd_stack_require
kt_mkdir

kd_stack_up 3 "k3$$" 64M
kt_check "corosync: 3 votes, no two_node" eval \
    '! grep -q two_node "$KC_DIR/n1/corosync.conf" &&
     grep -q "expected_votes: 3" "$KC_DIR/n1/corosync.conf"'
kt_pass "corosync, libvirtd, kemarid (pacemaker policy) and Pacemaker on 3 nodes"

kt_observers "$(kc_ns h)"
udp_pid=$KT_UDP_PID
disk_pid=$KT_DISK_PID
meta="<metadata><kemari:kemari xmlns:kemari='https://kemari.dev/xmlns/libvirt/1.0'><kemari:peer node='node1'/><kemari:peer node='node2'/><kemari:peer node='node3'/><kemari:failover policy='pacemaker'/></kemari:kemari></metadata>"
KL_APPEND="kemari.udp=9000 kemari.udp_gap_us=1000 kemari.disk=9001 \
kemari.disk_gap_us=5000" kl_domxml vm1 "$meta" > "$KT_DIR/vm1.xml"

config() {
    kp_pcs 1 "$1" property set stonith-enabled=true &&
    kp_pcs 1 "$1" stonith create fence-test fence_kemari_test \
        "$(kp_fence_params)" &&
    kp_pcs 1 "$1" resource create vm1 ocf:kemari:KemariDomain domain=vm1 \
        config="$KT_DIR/vm1.xml" kemari_bin="$KEMARI" \
        op start timeout=60s op stop timeout=120s \
        op promote timeout=120s op demote timeout=120s \
        op monitor interval=3s role=Promoted timeout=30s \
        op monitor interval=4s role=Unpromoted timeout=30s \
        promotable promoted-max=1 promoted-node-max=1 clone-max=3 \
        clone-node-max=1 notify=true meta priority=10
}
if out=$(kp_configure 1 config 2>&1); then
    kt_pass "configuration loaded (stonith, vm1's promotable clone," \
        "clone-max=3)"
else
    kt_die "configuration: $out"
fi

# where P S T: kp_where's expected answer with vm1 Promoted on node P,
# Unpromoted on S and T (either may be empty: no instance there)
where() {
    for _w in "$1 Promoted" "$2 Unpromoted" "$3 Unpromoted"; do
        case $_w in " "*) continue ;; esac
        echo "node$_w"
    done | sort | tr '\n' ';' | sed 's/;$//'
}
score() {
    kp_on "$1" crm_attribute --promotion=vm1 -N "node$2" \
        --query -q 2>/dev/null
}
# wait_score I J VALUE: node I sees node J's promotion score VALUE (30 s)
wait_score() {
    _n=0
    until [ "$(score "$1" "$2")" = "$3" ] || [ $_n -ge 30 ]; do
        sleep 1
        _n=$((_n + 1))
    done
    [ "$(score "$1" "$2")" = "$3" ]
}
# standby_node A B: the one of nodes A and B whose kemarid holds vm1's
# standby copy (240 s); empty if none
standby_node() {
    _n=0
    while [ $_n -lt 1200 ]; do
        for _j in "$@"; do
            [ "$(kd_vm_field "$_j" state)" = STANDBY ] && echo "$_j" &&
                return 0
        done
        sleep 0.2
        _n=$((_n + 1))
    done
}
# killed WHAT P S T: node P, vm1's primary protected by S, dies; S takes
# over, T becomes its secondary
killed() {
    k_what=$1 k_p=$2 k_s=$3 k_t=$4
    k_from=$(cat "$(kp_fence_log)" 2>/dev/null | wc -l)
    if kd_kill_and_wait "$k_p"; then
        kt_pass "$k_what: node$k_p killed: the guest answers from" \
            "node$k_s after $KD_ANSWER_MS ms"
        echo "$k_what: failover time (node death to the guest's next" \
            "output): $KD_ANSWER_MS ms"
    else
        kt_fail "$k_what: node$k_p killed: no guest output within 30 s:" \
            "$(km "$k_s" status)"
    fi
    k_l=$(tail -n "+$((k_from + 1))" "$(kp_fence_log)" |
        grep -m 1 " target=node$k_p .*result=off")
    kt_check "$k_what: node$k_p fenced through fence_kemari_test by a survivor: $(echo "$k_l" | cut -d' ' -f2)" \
        eval 'echo "$k_l" | grep -q "^[0-9.]* node[$k_s$k_t] "'
    kt_check "$k_what: crm_mon: vm1 Promoted on node$k_s" \
        kp_wait_where "$k_s" vm1-clone "$(where "$k_s" "$k_t" "")" 60
    kt_check "$k_what: node$k_s's kemarid runs vm1 as primary, virsh: running" \
        eval 'kd_wait_field "$k_s" role primary 10 &&
            [ "$(kl_virsh "$k_s" domstate vm1 2>&1 | head -n 1)" = running ]'
    if kd_wait_progress 20; then
        kt_pass "$k_what: the guest keeps going on node$k_s: $KD_PROGRESS"
    else
        kt_fail "$k_what: the guest does not go on on node$k_s (20 s):" \
            "$KD_PROGRESS; its console: $(tail -n 1 "$(kl_console "$k_s" vm1)")"
    fi
    if kd_wait_field "$k_t" state STANDBY 240; then
        k_ms=$(( $(kd_now_ms) - KD_KILL_MS ))
        kt_pass "$k_what: protection rebuilt on node$k_t (STANDBY) $k_ms ms" \
            "after the death"
        echo "$k_what: death -> new standby copy complete on node$k_t:" \
            "$k_ms ms"
    else
        kt_fail "$k_what: no new standby on node$k_t: $(km "$k_t" status);" \
            "$(km "$k_s" status)"
    fi
    kt_check "$k_what: node$k_s: vm1 PROTECTED" \
        kd_wait_field "$k_s" state PROTECTED 30
    kt_check "$k_what: node$k_s's crm_mon: Promoted on node$k_s, Unpromoted on node$k_t" \
        kp_wait_where "$k_s" vm1-clone "$(where "$k_s" "$k_t" "")" 60
    wait_score "$k_s" "$k_t" 100
    kt_check "$k_what: promotion scores: node$k_s $(score "$k_s" "$k_s"), node$k_t $(score "$k_s" "$k_t")" \
        eval '[ "$(score "$k_s" "$k_s")/$(score "$k_s" "$k_t")" = 1000/100 ]'
}
# back WHAT I P S: node I boots again, an Unpromoted instance without a
# copy beside the pair P/S
back() {
    b_what=$1 b_i=$2 b_p=$3 b_s=$4
    b_t=$(kd_now_ms)
    kp_node_up "$b_i" || kt_die "$b_what: node$b_i did not boot again"
    kd_node_daemons "$b_i" ||
        kt_die "$b_what: node$b_i: libvirtd or kemarid did not start"
    if kp_wait_where "$b_p" vm1-clone "$(where "$b_p" "$b_s" "$b_i")" 120; then
        kt_pass "$b_what: node$b_i is back: Unpromoted beside node$b_p" \
            "(Promoted) and node$b_s (Unpromoted) after" \
            "$(( $(kd_now_ms) - b_t )) ms"
    else
        kt_fail "$b_what: node$b_i did not come back: $KP_WHERE"
    fi
    wait_score "$b_p" "$b_i" 1
    kt_check "$b_what: node$b_i holds no copy (kemarid: '$(kd_vm_field "$b_i" role)', score $(score "$b_p" "$b_i")); node$b_s stays STANDBY" \
        eval '[ "$(score "$b_p" "$b_i")" = 1 ] &&
            case $(kd_vm_field "$b_i" role) in primary|secondary) false ;; esac &&
            [ "$(kd_vm_field "$b_s" state)" = STANDBY ]'
    kt_check "$b_what: kemarid on node$b_p sees node$b_i eligible again" \
        kd_wait_eligible "$b_p" 2 30
}

# 1. cold start on P, the secondary on S (kemarid's choice), T empty
p=""
n=0
while [ $n -lt 120 ] && [ -z "$p" ]; do
    p=$(kp_where 1 vm1-clone | sed -n 's/^node\([0-9]\) Promoted$/\1/p')
    sleep 1
    n=$((n + 1))
done
[ -n "$p" ] || kt_die "vm1 was not promoted anywhere: $(kp_where 1 vm1-clone)"
kt_pass "Pacemaker cold-started vm1 on node$p"
kl_wait_ready "$p" vm1 180 || kt_die "guest did not boot"
others=$(echo 1 2 3 | tr ' ' '\n' | grep -vx "$p" | tr '\n' ' ')
# shellcheck disable=SC2086  # the two other nodes
s=$(standby_node $others)
[ -n "$s" ] || kt_die "no standby copy on node$others: $(km "$p" status)"
t=$((6 - p - s))
kt_pass "the agent asked for protection: kemarid picked node$s for the" \
    "standby copy"
kt_check "node$p: vm1 PROTECTED" kd_wait_field "$p" state PROTECTED 30
kt_check "crm_mon: Promoted on node$p, Unpromoted on node$s and node$t" \
    kp_wait_where 1 vm1-clone "$(where "$p" "$s" "$t")" 60
wait_score "$p" "$s" 100
wait_score "$p" "$t" 1
kt_check "promotion scores: node$p $(score "$p" "$p"), node$s $(score "$p" "$s"), node$t $(score "$p" "$t")" \
    test "$(score "$p" "$p")/$(score "$p" "$s")/$(score "$p" "$t")" = 1000/100/1

kt_bg "$(kc_ns h)" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check 169.254.10.2 \
    7000 --status "$KT_DIR/tcp.status"
tcp_pid=$KT_BG_PID
kt_wait_above "$KT_DIR/tcp.status" records 20 30 ||
    kt_fail "TCP observer gets no records"
sleep 2

# 2. P dies: S takes over, T becomes the secondary
killed "1st death" "$p" "$s" "$t"
# 3. P is back, without a copy
back "P back" "$p" "$s" "$t"
sleep 2
# 4. S dies: T takes over, P (which came back) becomes the secondary
killed "2nd death" "$s" "$t" "$p"
sleep 2
kt_verdicts "$tcp_pid" "$udp_pid" "$disk_pid" "two deaths"
kt_finish
