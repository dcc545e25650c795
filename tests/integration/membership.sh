#!/bin/sh
# membership.sh - kemarid's membership module against real corosync.
#
# Three simulated nodes (tests/lib/cluster.sh: network namespaces, knet,
# token 1000 ms, votequorum), one membership-probe per node:
#  (a) every probe comes up and sees nodes [1,2,3], daemons [1,2,3],
#      quorate;
#  (b) group messages reach every node with the sender's node id, and
#      two senders' interleaved messages arrive in the same order
#      everywhere;
#  (c) a killed probe (SIGKILL, its corosync stays) leaves the daemons
#      but not the nodes;
#  (d) a cut link: nodes 1 and 2 see [1,2] quorate, node 3 sees [3] not
#      quorate; the time from the cut to node 1's new view is printed;
#  (e) the restored link merges everything back;
#  (f) corosync stopped under a probe: down() once; started again: the
#      same probe reconnects, up() and a fresh view.
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"

kc_require_env
kt_mkdir
kc_cluster 3

full=$(kc_view 1,2,3 1,2,3 true)
# kc_wait_line without printing the line
waitl() { kc_wait_line "$@" >/dev/null; }
# line counts of the probes' output before a step
set_marks() {
    mark1=$(kc_probe_lines 1)
    mark2=$(kc_probe_lines 2)
    mark3=$(kc_probe_lines 3)
}
mark_of() {
    case $1 in
        1) echo "$mark1" ;;
        2) echo "$mark2" ;;
        *) echo "$mark3" ;;
    esac
}

# --------------------------------------------------------------- (a)
for i in 1 2 3; do
    kc_corosync_start "$i"
done
for i in 1 2 3; do
    kc_wait_quorate "$i" 30 || kt_die "corosync on node $i not quorate"
done
for i in 1 2 3; do
    kc_probe_start "$i" --backoff-initial 100 --backoff-max 1000
done
for i in 1 2 3; do
    kt_check "(a) node $i: probe up as node $i" \
        waitl "$i" "\"event\":\"up\",\"local\":$i," 10
    kt_check "(a) node $i: quorate view, nodes [1,2,3], daemons [1,2,3]" \
        kc_wait_status "$i" "$full" 10
done

# --------------------------------------------------------------- (b)
# messages FROM:TEXT received by node $1 after line $2 of its output
messages() {
    tail -n "+$(( $2 + 1 ))" "$KC_DIR/n$1/probe.out" | sed -n \
        's/.*"message","from":\([0-9]*\),"text":"\([^"]*\)".*/\1:\2/p'
}

set_marks
kc_probe_send 1 "hello-from-1"
for i in 1 2 3; do
    kt_check "(b) node $i: node 1's message arrives with from=1" \
        waitl "$i" '"event":"message","from":1,"text":"hello-from-1"' \
        10 "$(mark_of "$i")"
done

set_marks
# nodes 1 and 2 send alternately, without waiting for delivery
count=50
k=1
while [ "$k" -le "$count" ]; do
    kc_probe_send 1 "a$k"
    kc_probe_send 2 "b$k"
    k=$((k + 1))
done
for i in 1 2 3; do
    waitl "$i" "\"text\":\"a$count\"" 10 "$(mark_of "$i")"
    waitl "$i" "\"text\":\"b$count\"" 10 "$(mark_of "$i")"
    messages "$i" "$(mark_of "$i")" > "$KT_DIR/order$i"
done
n1=$(wc -l < "$KT_DIR/order1" | tr -d ' ')
kt_check "(b) node 1 received all $((2 * count)) messages (got $n1)" \
    test "$n1" -eq $((2 * count))
kt_check "(b) node 2 received them in node 1's order" \
    cmp -s "$KT_DIR/order1" "$KT_DIR/order2"
kt_check "(b) node 3 received them in node 1's order" \
    cmp -s "$KT_DIR/order1" "$KT_DIR/order3"
# each sender's messages in its own order and with its node id
k=1 expect_a="" expect_b=""
while [ "$k" -le "$count" ]; do
    expect_a="$expect_a 1:a$k"
    expect_b="$expect_b 2:b$k"
    k=$((k + 1))
done
got_a=$(grep ':a' "$KT_DIR/order1" | tr '\n' ' ')
got_b=$(grep ':b' "$KT_DIR/order1" | tr '\n' ' ')
kt_check "(b) node 1's messages in order, from=1" \
    test "$got_a" = "${expect_a# } "
kt_check "(b) node 2's messages in order, from=2" \
    test "$got_b" = "${expect_b# } "
# how much the two senders interleaved in the total order (the more, the
# more the identical orders above prove)
runs=$(cut -d: -f1 "$KT_DIR/order1" | uniq | wc -l | tr -d ' ')
echo "# (b) $runs runs of one sender in the total order of $((2 * count))"

# --------------------------------------------------------------- (c)
set_marks
kc_probe_stop 3 KILL
for i in 1 2; do
    kt_check "(c) node $i: probe 3 killed: nodes [1,2,3], daemons [1,2]" \
        kc_wait_status "$i" "$(kc_view 1,2,3 1,2 true)" 10
    if tail -n "+$(( $(mark_of "$i") + 1 ))" "$KC_DIR/n$i/probe.out" |
            grep '"event":"view"' | grep -v -q '"nodes":\[1,2,3\]'; then
        kt_fail "(c) node $i: a view without node 3 after its probe died"
    else
        kt_pass "(c) node $i: node 3 never left the nodes"
    fi
done
kc_probe_start 3 --backoff-initial 100 --backoff-max 1000
for i in 1 2 3; do
    kt_check "(c) node $i: a new probe on node 3 is back in the daemons" \
        kc_wait_status "$i" "$full" 10
done

# --------------------------------------------------------------- (d)
set_marks
t0=$(date +%s%3N)
kc_cut_link 3
for i in 1 2; do
    kt_check "(d) node $i: link of node 3 cut: nodes [1,2] quorate" \
        kc_wait_status "$i" "$(kc_view 1,2 1,2 true)" 20
done
kt_check "(d) node 3: alone and not quorate" \
    kc_wait_status 3 "$(kc_view 3 3 false)" 20
# the first view on node 1 without node 3
line=$(tail -n "+$((mark1 + 1))" "$KC_DIR/n1/probe.out" |
    grep '"event":"view"' | grep -v '"nodes":\[[0-9,]*3\]' | head -n 1)
t1=$(printf '%s\n' "$line" | sed -n 's/.*"t_ms":\([0-9]*\).*/\1/p')
if [ -n "$t1" ]; then
    echo "# detection: node 1 saw node 3 gone $((t1 - t0)) ms after the cut"
    kt_pass "(d) node 1 lost node 3 $((t1 - t0)) ms after the cut"
else
    kt_fail "(d) node 1 never showed a view without node 3"
fi
if tail -n "+$((mark1 + 1))" "$KC_DIR/n1/probe.out" |
        grep '"event":"view"' | grep -q '"quorate":false'; then
    kt_fail "(d) node 1 lost quorum on the way"
else
    kt_pass "(d) node 1 stayed quorate"
fi

# --------------------------------------------------------------- (e)
kc_restore_link 3
for i in 1 2 3; do
    kt_check "(e) node $i: link restored: nodes [1,2,3], daemons [1,2,3]" \
        kc_wait_status "$i" "$full" 30
done

# --------------------------------------------------------------- (f)
mark2=$(kc_probe_lines 2)
probe2=$(kc_probe_pid 2)
kt_check "(f) corosync on node 2 stops on SIGTERM" kc_corosync_stop 2
kt_check "(f) node 2: probe reports down" \
    waitl 2 '"event":"down"' 10 "$mark2"
for i in 1 3; do
    kt_check "(f) node $i: nodes [1,3] quorate without node 2's corosync" \
        kc_wait_status "$i" "$(kc_view 1,3 1,3 true)" 20
done
sleep 2                 # a few failed reconnection attempts
downs=$(tail -n "+$((mark2 + 1))" "$KC_DIR/n2/probe.out" |
    grep -c '"event":"down"')
kt_check "(f) node 2: down reported once while corosync is away ($downs)" \
    test "$downs" -eq 1
if grep -q 'cannot connect to corosync' "$KC_DIR/n2/probe.err"; then
    kt_pass "(f) node 2: the probe tried to reconnect"
else
    kt_fail "(f) node 2: no reconnection attempt logged"
fi
mark2=$(kc_probe_lines 2)
kc_corosync_start 2
kt_check "(f) node 2: the same probe comes up again" \
    waitl 2 '"event":"up","local":2,' 30 "$mark2"
kt_check "(f) node 2: probe pid unchanged (reconnected, not restarted)" \
    kc__alive "$probe2"
up_at=$(tail -n "+$((mark2 + 1))" "$KC_DIR/n2/probe.out" |
    grep -n '"event":"up"' | head -n 1 | cut -d: -f1)
next=$(tail -n "+$((mark2 + 1))" "$KC_DIR/n2/probe.out" |
    sed -n "$((${up_at:-0} + 1))p")
case $next in
    *'"event":"view"'*) kt_pass "(f) node 2: a view right after up" ;;
    *) kt_fail "(f) node 2: after up came '$next', not a view" ;;
esac
for i in 1 2 3; do
    kt_check "(f) node $i: nodes [1,2,3], daemons [1,2,3] again" \
        kc_wait_status "$i" "$full" 30
done

kt_finish
