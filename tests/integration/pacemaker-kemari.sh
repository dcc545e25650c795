#!/bin/sh
# pacemaker-kemari.sh - the whole stack on two simulated nodes: real
# corosync (token 1000 ms, two_node), Pacemaker with fencing through the
# test fence agent, libvirtd with the Kemari hook, kemarid (libvirt
# backend, failover-policy pacemaker), and the protected domain vm1 as
# a promotable clone of ocf:kemari:KemariDomain.
#
#   1. vm1 runs on node1, protected by node2, when Pacemaker takes it
#      over: its probes find the running primary (Promoted, score 1000)
#      and the current secondary (Unpromoted, score 100).  With
#      KT_COLD_START=1 Pacemaker cold-starts vm1 instead (both nodes score
#      1) and the agent asks for protection at once, while the guest
#      boots (pacemaker-kemari-3node.sh always starts that way).
#   2. The primary's node dies (every process killed, link cut).
#      Pacemaker fences it through fence_kemari_test and promotes the
#      secondary: the agent runs `kemari failover`, the guest goes on
#      (500 more UDP numbers and 20 more TCP records within 30 s).
#      The observers outside saw no UDP gap, no number with two payloads,
#      one TCP connection throughout, every reported disk record on the
#      disk.  Prints the time from the death to the guest's next output.
#   3. The dead node boots again (corosync, libvirtd, kemarid, Pacemaker):
#      it becomes the new secondary by itself (Unpromoted, STANDBY).
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"
. "${top_srcdir:-.}/tests/lib/libvirt.sh"
. "${top_srcdir:-.}/tests/lib/pacemaker.sh"
. "${top_srcdir:-.}/tests/lib/kemarid.sh"

kd_stack_require
kt_mkdir

kd_stack_up 2 "kk$$" 64M
kt_pass "corosync, libvirtd, kemarid (pacemaker policy) and Pacemaker on 2 nodes"

kt_observers "$(kc_ns h)"
udp_pid=$KT_UDP_PID
disk_pid=$KT_DISK_PID
# either node may hold either copy: both are peers
meta="<metadata><kemari:kemari xmlns:kemari='https://kemari.dev/xmlns/libvirt/1.0'><kemari:peer node='node1'/><kemari:peer node='node2'/><kemari:failover policy='pacemaker'/></kemari:kemari></metadata>"
KL_APPEND="kemari.udp=9000 kemari.udp_gap_us=1000 kemari.disk=9001 \
kemari.disk_gap_us=5000" kl_domxml vm1 "$meta" > "$KT_DIR/vm1.xml"
kt_check "the agent accepts its parameters (validate-all)" kp_on 1 env \
    OCF_ROOT=/usr/lib/ocf OCF_RESKEY_domain=vm1 \
    OCF_RESKEY_config="$KT_DIR/vm1.xml" OCF_RESKEY_kemari_bin="$KEMARI" \
    /usr/lib/ocf/resource.d/kemari/KemariDomain validate-all

if [ "${KT_COLD_START:-0}" != 1 ]; then
    # vm1 runs and is protected before Pacemaker manages it
    out=$(kl_virsh 1 create "$KT_DIR/vm1.xml" 2>&1) ||
        kt_die "vm1 did not start: $out"
    kl_wait_ready 1 vm1 180 || kt_die "guest did not boot"
    kd_wait_field 1 state UNPROTECTED 30 ||
        kt_die "kemarid did not find vm1: $(km 1 status)"
    km 1 start vm1 --timeout 240 >/dev/null ||
        kt_die "protection did not start: $(km 1 status)"
    kt_pass "vm1 runs on node1, protected (kemari start without --peer)"
fi

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
        promotable promoted-max=1 clone-max=2 notify=true meta priority=10
}
if out=$(kp_configure 1 config 2>&1); then
    kt_pass "configuration loaded (stonith, the promotable clone of vm1)"
else
    kt_die "configuration: $out"
fi

# 1. cold start on one node, the secondary on the other
pri=""
n=0
while [ $n -lt 120 ] && [ -z "$pri" ]; do
    pri=$(kp_where 1 vm1-clone | sed -n 's/^node\([0-9]\) Promoted$/\1/p')
    sleep 1
    n=$((n + 1))
done
[ -n "$pri" ] || kt_die "vm1 was not promoted anywhere: $(kp_where 1 vm1-clone)"
sec=$((3 - pri))
if [ "${KT_COLD_START:-0}" = 1 ]; then
    kt_pass "Pacemaker cold-started vm1 on node$pri"
else
    kt_check "Pacemaker found the running primary on node1: node$pri" \
        [ "$pri" = 1 ]
fi
kl_wait_ready "$pri" vm1 180 || kt_die "guest did not boot"
kt_check "node$sec holds the standby copy" \
    kd_wait_field "$sec" state STANDBY 240
# roles PRIMARY-ROLE SECONDARY-ROLE: kp_where's answer (sorted by node)
roles() {
    if [ "$pri" -lt "$sec" ]; then
        echo "node$pri $1;node$sec $2"
    else
        echo "node$sec $2;node$pri $1"
    fi
}
kt_check "crm_mon: Promoted on node$pri, Unpromoted on node$sec" \
    kp_wait_where 1 vm1-clone "$(roles Promoted Unpromoted)" 60
score() {
    kp_on 1 crm_attribute --promotion=vm1 -N "node$1" \
        --query -q 2>/dev/null
}
n=0
until [ "$(score "$sec")" = 100 ] || [ $n -ge 30 ]; do
    sleep 1
    n=$((n + 1))
done
kt_check "promotion scores: node$pri $(score "$pri"), node$sec $(score "$sec")" \
    test "$(score "$pri")/$(score "$sec")" = 1000/100

kt_bg "$(kc_ns h)" "$KT_DIR/tcp.out" "$KEMARI_KSEQ" tcp-check 169.254.10.2 \
    7000 --status "$KT_DIR/tcp.status"
tcp_pid=$KT_BG_PID
kt_wait_above "$KT_DIR/tcp.status" records 20 30 ||
    kt_fail "TCP observer gets no records"
sleep 2

# 2. the primary's node dies
# shellcheck disable=SC2034  # used in the eval below
from=$(cat "$(kp_fence_log)" 2>/dev/null | wc -l)
if kd_kill_and_wait "$pri"; then
    kt_pass "node$pri killed: the guest answers from node$sec after" \
        "$KD_ANSWER_MS ms"
    echo "failover time (node death to the guest's next output):" \
        "$KD_ANSWER_MS ms"
else
    kt_fail "node$pri killed: no guest output within 30 s: $(km "$sec" status)"
fi
# the guest goes on: many more datagrams and TCP records, not a few
if kd_wait_progress 30 500 20; then
    kt_pass "the guest goes on after the failover: $KD_PROGRESS"
else
    kt_fail "the guest does not go on after the failover (30 s):" \
        "$KD_PROGRESS; its console: $(tail -n 1 "$(kl_console "$sec" vm1)")"
fi
kt_check "node$sec fenced node$pri through fence_kemari_test" eval \
    'tail -n "+$((from + 1))" "$(kp_fence_log)" |
        grep -q "^[0-9.]* node$sec .* target=node$pri .*result=off"'
kt_check "crm_mon: vm1 Promoted on node$sec" \
    kp_wait_where "$sec" vm1-clone "node$sec Promoted" 60
kt_check "node$sec's kemarid runs vm1 as primary" \
    kd_wait_field "$sec" role primary 10
state=$(kl_virsh "$sec" domstate vm1 2>&1 | head -n 1)
kt_check "virsh on node$sec: vm1 $state" [ "$state" = running ]
grep -a "KemariDomain.*vm1\|kemari failover" "$(kp_log "$sec")" |
    grep -a "failing over\|promote" | tail -n 3

# 3. the dead node boots again and becomes the new secondary
kc_restore_link "$pri"
t0=$(kd_now_ms)
kp_node_up "$pri" || kt_die "node$pri did not boot again"
kd_node_daemons "$pri" || kt_die "node$pri: libvirtd or kemarid did not start"
if kp_wait_where "$sec" vm1-clone "$(roles Unpromoted Promoted)" 120 &&
   kd_wait_field "$pri" state STANDBY 240; then
    kt_pass "node$pri is back as the secondary (STANDBY) after" \
        "$(( $(kd_now_ms) - t0 )) ms"
else
    kt_fail "node$pri did not become the secondary: $KP_WHERE;" \
        "$(km "$pri" status)"
fi
kt_check "node$sec: vm1 PROTECTED again" kd_wait_field "$sec" state PROTECTED 30
sleep 2
kt_verdicts "$tcp_pid" "$udp_pid" "$disk_pid" "the node's death"
kt_finish
