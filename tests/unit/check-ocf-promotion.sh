#!/bin/sh
# check-ocf-promotion.sh - what Pacemaker (crm_simulate) does with the
# promotion scores of ocf:kemari:KemariDomain, on the recorded cluster
# states of tests/unit/ocf/*.xml (remade by tests/unit/ocf/make-cibs.sh):
#
#   lost-insync  the primary's node is lost, the secondary is current
#                (score 100): the node is fenced, the secondary promoted
#   lost-stale   same, the secondary is stale (no score): fenced, nothing
#                promoted
#   fresh        two fresh nodes, score 1 each: exactly one promotion (a
#                cold start), the other node Unpromoted
#   running      a steady pair: nothing to do; and when the secondary's
#                node fails, it is fenced and the primary stays
#
# The scheduler does not read the agent's meta-data (it is not installed
# for this test), so the states need nothing but Pacemaker's CLI tools.
# Skips (77) without crm_simulate.
srcdir=${top_srcdir:-.}
cibs=$srcdir/tests/unit/ocf
command -v crm_simulate > /dev/null || { echo "no crm_simulate: skipped"; exit 77; }
dir=$(mktemp -d /tmp/kemari-ocf-promotion.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
nok() { failed=$((failed + 1)); echo "not ok - $*"; }

# sim NAME [crm_simulate options]: simulates the transition Pacemaker
# computes on tests/unit/ocf/NAME.xml; $dir/sum holds the transition
# summary, $dir/after the revised cluster status.
sim() {
    _f=$1
    shift
    cp "$cibs/$_f.xml" "$dir/in.xml"   # crm_simulate may touch its input
    if ! crm_simulate -x "$dir/in.xml" -S "$@" > "$dir/out" 2> "$dir/err"; then
        nok "crm_simulate on $_f.xml failed: $(cat "$dir/err")"
    fi
    sed -n '/^Transition Summary:/,/^Executing Cluster Transition:/p' \
        "$dir/out" | grep '^ *\*' > "$dir/sum"
    sed -n '/^Revised Cluster Status:/,$p' "$dir/out" > "$dir/after"
}

# has FILE DESC ERE / hasnt FILE DESC ERE / count FILE DESC ERE N
has() {
    grep -Eq -- "$3" "$dir/$1" && ok "$2" ||
        nok "$2: no /$3/ in: $(tr '\n' '|' < "$dir/$1")"
}
hasnt() {
    ! grep -Eq -- "$3" "$dir/$1" && ok "$2" ||
        nok "$2: /$3/ found in: $(tr '\n' '|' < "$dir/$1")"
}
count() {
    _n=$(grep -Ec -- "$3" "$dir/$1")
    [ "$_n" = "$4" ] && ok "$2" ||
        nok "$2: /$3/ $_n times, want $4: $(tr '\n' '|' < "$dir/$1")"
}

sim lost-insync
has sum "lost-insync: the primary's node is fenced" "Fence \(reboot\) node-a"
has sum "lost-insync: the current secondary is promoted" \
    "Promote +vm1:[0-9] +\( *Unpromoted -> Promoted node-b *\)"
has after "lost-insync: afterwards node-b holds the primary" \
    "Promoted: \[ node-b \]"

sim lost-stale
has sum "lost-stale: the primary's node is fenced" "Fence \(reboot\) node-a"
hasnt sum "lost-stale: the stale secondary is not promoted" "\* Promote "
hasnt after "lost-stale: afterwards no node holds the primary" "Promoted:"
has after "lost-stale: the stale copy stays Unpromoted" \
    "Unpromoted: \[ node-b \]"

sim fresh
count sum "fresh: exactly one promotion (cold start)" "\* Promote " 1
has sum "fresh: that promotion is from Stopped" \
    "Promote +vm1:[0-9] +\( *Stopped -> Promoted node-[ab] *\)"
has sum "fresh: the other instance is started" "Start +vm1:[0-9]"
hasnt sum "fresh: nobody is fenced" "Fence"
count after "fresh: afterwards one Promoted node" \
    "Promoted: \[ node-[ab] \]" 1

sim running
hasnt sum "running: a steady pair needs no action" "\*"
has after "running: node-a holds the primary" "Promoted: \[ node-a \]"

sim running --node-fail node-b
has sum "secondary's node lost: it is fenced" "Fence \(reboot\) node-b"
hasnt sum "secondary's node lost: no promotion, no demotion" "\* (Promote|Demote) "
has after "secondary's node lost: the primary stays on node-a" \
    "Promoted: \[ node-a \]"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
