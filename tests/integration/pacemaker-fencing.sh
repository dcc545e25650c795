#!/bin/sh
# pacemaker-fencing.sh - Pacemaker with real fencing on two simulated nodes
# (tests/lib/pacemaker.sh): real corosync (token 1000 ms, two_node) and
# pacemakerd per node, stonith-enabled, one stonith device using the test
# fence agent (tests/tools/fence_kemari_test), and ocf:pacemaker:Dummy
# preferring node1.
#
#  - the agent: valid metadata, found by Pacemaker inside the nodes only,
#    status/list answer, and malformed or forged input is refused with a
#    clear message and kills nothing;
#  - (a) node1 dies (kc_kill_node: every process killed, link cut):
#    node2 fences node1 through the agent and Dummy starts on node2;
#  - node1 boots again (the agent's "on", then its daemons) and takes
#    Dummy back;
#  - (b) a partition (node1's link cut, both nodes running) with
#    priority-fencing-delay and Dummy's priority: node1, which runs Dummy
#    (and is not the DC), fences node2; Dummy never leaves node1, node2
#    is off (no process left);
#  - (a') node2 back, node1 dies again: with priority-fencing-delay the
#    survivor waits that long before fencing (the cost of the setting);
#  - clean shutdown: pacemakerd and corosync stop with exit status 0.
# Prints how long each took (node death or link cut to fencing done and
# to Dummy started elsewhere).
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"
. "${top_srcdir:-.}/tests/lib/libvirt.sh"
. "${top_srcdir:-.}/tests/lib/pacemaker.sh"

[ "$(id -u)" = 0 ] || kt_skip "needs root (namespaces)"
command -v pacemakerd >/dev/null || kt_skip "Pacemaker is not installed"
kp_require_env
kl_require_env
for c in ip unshare corosync corosync-quorumtool crm_verify crm_attribute; do
    command -v $c >/dev/null || kt_skip "no $c"
done
[ -x /usr/lib/ocf/resource.d/pacemaker/Dummy ] ||
    kt_skip "no ocf:pacemaker:Dummy"
kt_mkdir

# priority-fencing-delay in (b) and (a'), seconds: longer than the winner
# needs to become DC of its half and fence (about 1 s here)
PFD=${KEMARI_PRIORITY_FENCING_DELAY:-5}
timings=""
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
note() { timings="$timings$*
"; }

KC_TWO_NODE=1
kc_cluster 2 "kp$$" || kt_die "cannot build the simulated nodes"
for i in 1 2; do
    kc_corosync_start $i || kt_die "node $i: corosync did not start"
    kp_prepare $i || kt_die "node $i: no namespaces for Pacemaker"
done
kc_wait_quorate 1 60 || kt_die "corosync is not quorate"
kt_check "corosync: two_node, token 1000" \
    grep -q 'two_node: 1' "$KC_DIR/n1/corosync.conf"
t0=$(now_ms)
for i in 1 2; do
    kp_start $i || kt_die "node $i: pacemakerd did not start"
done
if kp_wait_online 1 120 && kp_wait_online 2 30; then
    ms=$(( $(now_ms) - t0 ))
    kt_pass "Pacemaker: node1 and node2 online, DC $(kp_nodes 1 |
        sed -n 's/^dc //p') ($ms ms after pacemakerd started)"
    note "start: both nodes online in crm_mon $ms ms after pacemakerd started"
else
    kt_die "Pacemaker did not come up: $(tail -n 5 "$(kp_log 1)")"
fi
same_ns() { [ "$(readlink "/proc/$2/ns/$1")" = "$(readlink "/proc/$3/ns/$1")" ]; }
kt_check "pacemakerd runs in node1's libvirt namespaces, beside its corosync" \
    eval 'same_ns mnt "$(kp_pacemakerd_pid 1)" "$(kl_holder_pid 1)" &&
        same_ns net "$(kp_pacemakerd_pid 1)" "$(kc_corosync_pid 1)" &&
        [ "$(kp_on 1 crm_node -n)" = node1 ]'

# ------------------------------------------------------------ the agent

fa() { kp_fence_agent "$@" 2>&1; }
pids_before="$(kc_corosync_pid 1) $(kc_corosync_pid 2) \
$(kp_pacemakerd_pid 1) $(kp_pacemakerd_pid 2)"

meta=$(kp_fence_agent 1 action=metadata)
if printf '%s\n' "$meta" | python3 -c '
import sys, xml.etree.ElementTree as ET
r = ET.fromstring(sys.stdin.read())
assert r.tag == "resource-agent" and r.get("name") == "fence_kemari_test"
acts = {a.get("name") for a in r.iterfind("actions/action")}
assert {"on", "off", "reboot", "status", "list", "monitor",
        "metadata"} <= acts, acts
pars = {p.get("name") for p in r.iterfind("parameters/parameter")}
assert {"action", "plug", "port", "cluster_dir"} <= pars, pars
for p in r.iterfind("parameters/parameter"):
    assert p.find("content") is not None and p.find("shortdesc") is not None
'; then
    kt_pass "agent: metadata is RHCS-style XML (actions, plug/port, cluster_dir)"
else
    kt_fail "agent: bad metadata: $meta"
fi
kt_check "Pacemaker reads the agent's metadata (stonith_admin --metadata)" \
    eval 'kp_on 1 stonith_admin --metadata --agent fence_kemari_test |
        grep -q "<parameter name=\"cluster_dir\""'
kt_check "the agent is installed inside the nodes only (overlay on /usr/sbin)" \
    eval 'kp_on 2 stonith_admin --list-installed | grep -qx fence_kemari_test &&
        [ ! -e /usr/sbin/fence_kemari_test ]'
out=$(fa 1 action=status plug=node2 "$(kp_fence_params)")
rc=$?
kt_check "agent: status of node2, run in node1: $out (exit $rc)" \
    eval '[ $rc = 0 ] && [ "$out" = "Status: ON" ]'
out=$(fa 2 action=list "$(kp_fence_params)")
kt_check "agent: list: $(echo "$out" | tr '\n' ' ')" \
    [ "$out" = "node1,
node2," ]
kt_check "agent: monitor succeeds" \
    eval 'fa 2 action=monitor "$(kp_fence_params)" >/dev/null'

# refuse(EXPECTED-MESSAGE LINES...): the agent fails, says so on stderr
refuse() {
    _want=$1
    shift
    _out=$(fa 1 "$@")
    _rc=$?
    if [ "$_rc" = 1 ] && printf '%s\n' "$_out" | grep -q "$_want"; then
        kt_pass "agent refuses $(echo "$*" | tr '\n' ' ' | cut -c1-60):" \
            "$(printf '%s\n' "$_out" | grep error | head -n 1)"
    else
        kt_fail "agent did not refuse $*: exit $_rc, $_out"
    fi
}
cd_ok=$(kp_fence_params)
refuse 'expected NAME=VALUE' "action=off" "this is not an option" "$cd_ok"
refuse 'bad option name' "action=off" "=node2" "$cd_ok"
refuse 'no plug' "action=off" "$cd_ok"
refuse 'not in' "action=off" "plug=node3" "$cd_ok"
refuse 'bad node name' "action=off" 'plug=node2;reboot' "$cd_ok"
refuse 'given twice' "action=off" "plug=node2" "plug=node1" "$cd_ok"
refuse 'unknown action' "action=explode" "plug=node2" "$cd_ok"
refuse 'no cluster_dir' "action=off" "plug=node2"
refuse 'not absolute' "action=off" "plug=node2" "cluster_dir=tmp"
refuse 'no fence-map' "action=off" "plug=node2" "cluster_dir=/"
# forged maps: a namespace not the test's, a recycled test pid, a map
# anyone could have written
forge() {
    mkdir -p "$KT_DIR/$1" && chmod 0755 "$KT_DIR/$1" &&
    sed "$2" "$KC_DIR/fence-map" > "$KT_DIR/$1/fence-map" &&
    chmod "${3:-0644}" "$KT_DIR/$1/fence-map"
}
forge f1 "s/^node node2 [^ ]*/node node2 notours/"
refuse 'lacks the prefix' action=off plug=node2 "cluster_dir=$KT_DIR/f1"
forge f2 "s/^host \([0-9]*\) .*/host \1 1/"
refuse 'is gone' action=off plug=node2 "cluster_dir=$KT_DIR/f2"
forge f3 "" 0666
refuse 'writable by group or others' action=off plug=node2 \
    "cluster_dir=$KT_DIR/f3"
dead=""
for p in $pids_before; do
    alive "$p" || dead="$dead $p"
done
kt_check "refused requests killed nothing (corosync, pacemakerd of both \
nodes alive${dead:+; dead:$dead})" [ -z "$dead" ]
kt_check "refused requests cut no link" eval \
    '! ip -n "$(kc_ns sw)" link show n1 | grep -q "state DOWN" &&
     ! ip -n "$(kc_ns sw)" link show n2 | grep -q "state DOWN"'

# ------------------------------------------------------------ configuration

config() {
    kp_pcs 1 "$1" property set stonith-enabled=true &&
    kp_pcs 1 "$1" stonith create fence-test fence_kemari_test \
        "$(kp_fence_params)" &&
    kp_pcs 1 "$1" resource create dummy ocf:pacemaker:Dummy \
        op monitor interval=5s meta priority=10 &&
    kp_pcs 1 "$1" constraint location dummy prefers node1=100
}
if out=$(kp_configure 1 config 2>&1); then
    kt_pass "configuration loaded (pcs -f offline, cibadmin --replace)"
else
    kt_die "configuration: $out"
fi
kt_check "stonith-enabled=true in the live CIB" eval \
    'kp_on 2 crm_attribute --type crm_config --name stonith-enabled --query |
        grep -q "value=true"'
if kp_wait_where 2 dummy "node1 Started" 60; then
    kt_pass "dummy runs on node1"
else
    kt_die "dummy not started on node1: $KP_WHERE"
fi
kt_check "the configuration is valid (crm_verify -L)" kp_on 1 crm_verify -L
# Dummy's state file in node I's /run (HA_VARRUN), if there is one
state() {
    ls "$(kl_dir "$1")/run/Dummy-dummy.state" \
        "$(kl_dir "$1")/run/resource-agents/Dummy-dummy.state" 2>/dev/null
}
kt_check "Dummy's state file is on node1 only" \
    eval '[ -n "$(state 1)" ] && [ -z "$(state 2)" ]'

# fenced_at TARGET FROM: the agent's first "off" of TARGET after line
# FROM of its log: FENCE_MS (epoch ms) and FENCE_BY (the node it ran
# in), empty if none; fails when there is none.
fenced_at() {
    FENCE_MS=""
    FENCE_BY=""
    _l=$(tail -n "+$(( $2 + 1 ))" "$(kp_fence_log)" 2>/dev/null |
        grep -m 1 " target=$1 .*result=off")
    [ -n "$_l" ] || return 1
    FENCE_MS=$(echo "$_l" | sed 's/^\([0-9]*\)\.\([0-9]*\) .*/\1\2/')
    FENCE_BY=$(echo "$_l" | cut -d' ' -f2)
}
loglines() { wc -l < "$(kp_fence_log)" 2>/dev/null || echo 0; }
# no_processes I: nothing runs in node I's network namespace
no_processes() { [ -z "$(ip netns pids "$(kc_ns "$1")")" ]; }

# ------------------------------------------------------------ (a) death

from=$(loglines)
t0=$(now_ms)
kc_kill_node 1
if kp_wait_where 2 dummy "node2 Started" 90; then
    ms=$(( $(now_ms) - t0 ))
    kt_pass "(a) node1 killed: dummy started on node2 after $ms ms"
else
    kt_fail "(a) dummy did not move to node2: $KP_WHERE"
    ms=""
fi
fenced_at node1 "$from"
if [ "$FENCE_BY" = node2 ]; then
    kt_pass "(a) node2 fenced node1 through fence_kemari_test," \
        "$(( FENCE_MS - t0 )) ms after the kill"
    note "(a) node1 killed -> fenced by node2: $(( FENCE_MS - t0 )) ms;" \
        "-> dummy started on node2: $ms ms (no priority-fencing-delay)"
else
    kt_fail "(a) no fencing of node1 by node2 in the agent's log:" \
        "$(cat "$(kp_fence_log)")"
fi
h=$(kp_fence_history 2 node1)
kt_check "(a) stonith_admin --history on node2: $h" \
    eval 'echo "$h" | grep -q "of node1 successful: delegate=node2"'
out=$(fa 2 action=status plug=node1 "$(kp_fence_params)")
rc=$?
kt_check "(a) agent, run in node2: node1 is off: $out (exit $rc)" \
    eval '[ $rc = 2 ] && [ "$out" = "Status: OFF" ] && no_processes 1'
kt_check "(a) node2 sees node1 offline (clean, not UNCLEAN)" \
    eval 'kp_nodes 2 | grep -qx "node1 offline"'

# node1 boots again: the agent powers it on (its link), then its daemons
if out=$(fa 2 action=on plug=node1 "$(kp_fence_params)") &&
        ip -n "$(kc_ns sw)" link show n1 | grep -q 'state UP'; then
    kt_pass "agent: on brings node1's switch port up: $out"
else
    kt_fail "agent: on: $out"
fi
t0=$(now_ms)
kp_node_up 1 || kt_die "node1 did not boot again"
if kp_wait_online 2 90 && kp_wait_where 2 dummy "node1 Started" 60; then
    ms=$(( $(now_ms) - t0 ))
    kt_pass "node1 rejoined and runs dummy again ($ms ms after boot)"
    note "node1 boot (corosync, pacemakerd) -> online, dummy back: $ms ms"
else
    kt_die "node1 did not rejoin: $(kp_nodes 2 | tr '\n' ' ') $KP_WHERE"
fi

# ------------------------------------------------------------ (b) partition

if out=$(kp_cibadmin 1 --modify --scope crm_config --xml-text \
        "<cluster_property_set id=\"cib-bootstrap-options\"><nvpair id=\"cib-bootstrap-options-priority-fencing-delay\" name=\"priority-fencing-delay\" value=\"${PFD}s\"/></cluster_property_set>" 2>&1)
then
    kt_pass "priority-fencing-delay=${PFD}s set (dummy has priority 10)"
else
    kt_die "cannot set priority-fencing-delay: $out"
fi
kt_check "both nodes see priority-fencing-delay" eval \
    'kp_on 2 crm_attribute --type crm_config --name priority-fencing-delay \
        --query | grep -q "value=${PFD}s"'
dc=$(kp_nodes 2 | sed -n 's/^dc //p')
from=$(loglines)
t0=$(now_ms)
kc_cut_link 1
moved=""
while [ $(( $(now_ms) - t0 )) -lt 60000 ]; do
    w=$(kp_where 1 dummy | tr '\n' ';')
    [ "$w" = "node1 Started;" ] || moved="$moved [$w]"
    fenced_at node2 "$from" && break
    fenced_at node1 "$from" && break
    sleep 0.2
done
if [ "$FENCE_BY" = node1 ]; then
    kt_pass "(b) partition (DC was $dc): node1 fenced node2" \
        "$(( FENCE_MS - t0 )) ms after the cut"
    note "(b) link of node1 cut (DC $dc) -> node2 fenced by node1:" \
        "$(( FENCE_MS - t0 )) ms; dummy stays on node1"
else
    kt_fail "(b) node2 was not fenced by node1:" \
        "$(tail -n "+$(( from + 1 ))" "$(kp_fence_log)")"
fi
kt_check "(b) dummy ran on node1 all along (sampled every 0.2 s)${moved:+:$moved}" \
    [ -z "$moved" ]
sleep 1
kt_check "(b) node2 is off: no process left in it" no_processes 2
kt_check "(b) node1 was never fenced (agent's log)" \
    eval '[ -z "$(fenced_at node1 "$from")" ]'
kt_check "(b) node1's pacemakerd and corosync run on" \
    eval 'alive "$(kp_pacemakerd_pid 1)" && alive "$(kc_corosync_pid 1)"'
kt_check "(b) node1: dummy Started on node1, node2 offline" eval \
    'kp_wait_where 1 dummy "node1 Started" 10 &&
     kp_nodes 1 | grep -qx "node2 offline"'
h=$(kp_fence_history 1 node2)
kt_check "(b) stonith_admin --history on node1: $h" \
    eval 'echo "$h" | grep -q "of node2 successful: delegate=node1"'
kt_check "(b) Dummy's state file is on node1 only" \
    eval '[ -n "$(state 1)" ] && [ -z "$(state 2)" ]'
if grep -q "Delaying '[a-z]*' action targeting node1 .* for ${PFD}s" \
        "$(kp_log 2)"; then
    echo "(b) node2's fencer had delayed its fencing of node1 by ${PFD}s" \
        "(priority-fencing-delay) when it was switched off"
fi

# ------------------------------------------------------------ (a') death
# with priority-fencing-delay in effect

kc_restore_link 1
t0=$(now_ms)
kp_node_up 2 || kt_die "node2 did not boot again"
if kp_wait_online 1 90 && kp_wait_online 2 30; then
    kt_pass "node2 rejoined ($(( $(now_ms) - t0 )) ms after boot)"
else
    kt_die "node2 did not rejoin: $(kp_nodes 1 | tr '\n' ' ')"
fi
kp_wait_where 2 dummy "node1 Started" 30 ||
    kt_fail "dummy is not on node1 before (a'): $KP_WHERE"
from=$(loglines)
t0=$(now_ms)
kc_kill_node 1
if kp_wait_where 2 dummy "node2 Started" 90; then
    ms=$(( $(now_ms) - t0 ))
    fenced_at node1 "$from"
    fms=$(( ${FENCE_MS:-0} - t0 ))
    kt_pass "(a') node1 killed, priority-fencing-delay ${PFD}s: node2 fenced" \
        "it after $fms ms, dummy on node2 after $ms ms"
    note "(a') node1 killed -> fenced by ${FENCE_BY:-?}: $fms ms;" \
        "-> dummy started on node2: $ms ms (priority-fencing-delay ${PFD}s)"
    kt_check "(a') node2 fenced node1, after waiting priority-fencing-delay" \
        eval '[ "$FENCE_BY" = node2 ] && [ "$fms" -ge $(( PFD * 1000 )) ]'
else
    kt_fail "(a') dummy did not move to node2: $KP_WHERE"
fi

# ------------------------------------------------------------ shutdown

if kp_stop 2 120; then
    kt_pass "node2: pacemakerd stopped cleanly (exit 0, no daemon left)"
else
    kt_fail "node2: Pacemaker did not stop cleanly: $(tail -n 5 "$(kp_log 2)")"
fi
kt_check "node2: corosync stopped cleanly" kc_corosync_stop 2
kt_check "no Pacemaker daemon left in either node" \
    eval '[ -z "$(kp_daemon_pids 1)$(kp_daemon_pids 2)" ]'
kt_check "nothing of the test mounted in the test's own mount namespace" \
    eval '! grep -q "$KT_DIR" /proc/self/mountinfo'

printf '%s' "$timings"
kt_finish
