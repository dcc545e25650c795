#!/bin/sh
# fake-kemari.sh - a stand-in for kemari(1) in the OCF agent's tests
# (check-ocf-actions.sh, and ocf-tester by hand: see doc/pacemaker.md).
# It logs its argv to $FAKE_WORLD/log and answers from the files of the
# fake node in $FAKE_WORLD, printing JSON of exactly the shape kemarid's
# status_result() and kd_vm_status_json() build (daemon/ctlserver.c,
# daemon/vm.c):
#
#   kemarid   up (default), down (exit 6), hang, badjson, perm (exit 5)
#   policy    the failover policy (default pacemaker)
#   role      primary, secondary, none (a STOPPED entry), absent (no entry)
#   state     kemarid's state of the VM
#   acked     the engine's acked checkpoint, or null (no engine answer)
#   held      held packets (held writes are 0)
#   failover  ok (default): the secondary becomes a running primary;
#             refuse: exit 4; refuse-once: exit 4 the first time
#   start     ok (default); refuse: exit 4; needpeer: exit 2 without --peer
#             (a kemari(1) older than optional --peer)
#   fenced    ok (default): NODE is recorded in the file fenced-nodes;
#             member: exit 4 (the node is in the membership)
w=${FAKE_WORLD:?FAKE_WORLD is not set}
get() { cat "$w/$1" 2>/dev/null || echo "$2"; }
echo "kemari $*" >> "$w/log"

mode=$(get kemarid up)
case $mode in
down) echo "kemari: cannot reach kemarid at /run/kemari/kemarid.sock: No such file or directory (is kemarid running?)" >&2
      exit 6 ;;
hang) exec sleep 60 ;;
perm) echo "kemari: permission-denied: only root or members of group kemari may connect" >&2
      exit 5 ;;
esac

json=0 peer=
while [ $# -gt 0 ]; do
    case $1 in
    --json) json=1 ;;
    --socket) echo "$2" > "$w/socket"; shift ;;
    --peer) peer=$2; shift ;;
    --timeout) shift ;;
    --no-wait) ;;
    -*) echo "kemari: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
    shift
done
cmd=$1 vm=$2
[ -z "$vm" ] || shift 2
for a in "$@"; do
    case $a in --peer) peer="set" ;; esac
done

vm_json() {
    role=$(get role absent) state=$(get state STOPPED) acked=$(get acked null)
    held=$(get held 0)
    [ "$role" = absent ] && return
    if [ "$role" = none ]; then
        printf '{"name":"vm1","role":"none","state":"STOPPED","peer":null,"peer-id":0,"epoch":3,"protect-wanted":false,"since":1764105600.25,"last-error":null,"engine":null}'
        return
    fi
    if [ "$acked" = null ]; then
        engine=null
    else
        engine=$(printf '{"state":"protected","acked":%s,"checkpoints":%s,"stop-time-us":{"last":310,"mean":295,"p99":720,"max":1900},"release-latency-us":{"last":900,"mean":850,"p99":2100,"max":4000},"checkpoint-bytes-last":81920,"held-packets":%s,"held-writes":0,"held-bytes":%s}' \
            "$acked" "$acked" "$held" $((held * 1500)))
    fi
    printf '{"name":"vm1","role":"%s","state":"%s","peer":"node-b","peer-id":2,"epoch":3,"protect-wanted":true,"since":1764105600.25,"last-error":null,"engine":%s}' \
        "$role" "$state" "$engine"
}

case $cmd in
status)
    [ "$mode" = badjson ] && { echo '{"node":'; exit 0; }
    printf '{"node":{"name":"node-a","id":1},"cluster":{"membership":"up","quorate":true},"policy":{"failover":"%s","reprotect":"automatic"},"kvm-check":{"verdict":"pass","detail":null},"vms":[%s]}\n' \
        "$(get policy pacemaker)" "$(vm_json)"
    ;;
nodes)
    echo '{"local-id":1,"membership":"up","quorate":true,"nodes":[{"id":1,"name":"node-a","local":true,"member":true,"daemon":true,"kvm-check":"pass","sw-version":"kemari 0.1.0","proto-min":1,"proto-max":1,"roles":["primary","secondary"],"eligible":true},{"id":3,"name":"node-c","local":false,"member":true,"daemon":true,"kvm-check":"pass","sw-version":"kemari 0.1.0","proto-min":1,"proto-max":1,"roles":["primary"],"eligible":false},{"id":2,"name":"node-b","local":false,"member":true,"daemon":true,"kvm-check":"pass","sw-version":"kemari 0.1.0","proto-min":1,"proto-max":1,"roles":["primary","secondary"],"eligible":true}]}'
    ;;
failover)
    case $(get failover ok) in
    refuse) echo "kemari: refused: the primary's node is still in the membership" >&2; exit 4 ;;
    refuse-once)
        echo ok > "$w/failover"
        echo "kemari: refused: the primary's node is still in the membership" >&2; exit 4 ;;
    esac
    echo primary > "$w/role"; echo UNPROTECTED > "$w/state"
    echo running > "$w/dom"
    [ $json = 1 ] && echo "{\"vm\":\"$vm\",\"state\":\"FAILING_OVER\"}"
    ;;
start)
    case $(get start ok) in
    refuse) echo "kemari: refused: no node is eligible to run the secondary of $vm (see kemari nodes)" >&2; exit 4 ;;
    needpeer) [ -n "$peer" ] || { echo "kemari: start: --peer is required" >&2; exit 2; } ;;
    esac
    echo PAIRING > "$w/state"
    ;;
fenced)
    node=$vm
    case $(get fenced ok) in
    member) echo "kemari: refused: $node is in this node's membership: it was not fenced" >&2; exit 4 ;;
    esac
    echo "$node" >> "$w/fenced-nodes"
    echo "$node: fenced; the other copy of vm1 was there"
    ;;
*) echo "kemari: unknown command '$cmd'" >&2; exit 2 ;;
esac
exit 0
