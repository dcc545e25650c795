#!/bin/sh
# fake-virsh.sh - a stand-in for virsh in the OCF agent's tests.  Logs
# its argv to $FAKE_WORLD/log; the domain's state is $FAKE_WORLD/dom:
# running, paused, "shut off", absent (no such domain), hang, nolibvirt
# (cannot connect).  create/start make it run and, like kemarid noticing
# a new domain, make the fake kemarid report an UNPROTECTED primary
# (unless $FAKE_WORLD/ignored exists); destroy ends it (unless
# $FAKE_WORLD/sticky exists); suspend/resume pause and run it, and
# suspend lets the held outputs drain (unless $FAKE_WORLD/held-sticky).
w=${FAKE_WORLD:?FAKE_WORLD is not set}
echo "virsh $*" >> "$w/log"
while [ $# -gt 0 ]; do
    case $1 in
    -c) shift ;;
    -q) ;;
    *) break ;;
    esac
    shift
done
dom=$(cat "$w/dom" 2>/dev/null || echo absent)
case $dom in
hang) exec sleep 60 ;;
nolibvirt) echo "error: failed to connect to the hypervisor" >&2; exit 1 ;;
esac
nodomain() { echo "error: failed to get domain '$1'" >&2; exit 1; }
case $1 in
domstate)
    [ "$dom" = absent ] && nodomain "$2"
    printf '%s\n\n' "$dom" ;;
create|start)
    case $dom in running|paused) echo "error: domain is already active" >&2; exit 1 ;; esac
    echo running > "$w/dom"
    if [ ! -e "$w/ignored" ]; then
        echo primary > "$w/role"; echo UNPROTECTED > "$w/state"
        echo null > "$w/acked"
    fi ;;
suspend)
    [ "$dom" = absent ] && nodomain "$2"
    echo paused > "$w/dom"
    [ -e "$w/held-sticky" ] || echo 0 > "$w/held" ;;
resume)
    [ "$dom" = absent ] && nodomain "$2"
    echo running > "$w/dom" ;;
destroy)
    case $dom in running|paused) ;; *) echo "error: domain is not running" >&2; exit 1 ;; esac
    if [ ! -e "$w/sticky" ]; then
        echo absent > "$w/dom"; echo none > "$w/role"; echo STOPPED > "$w/state"
    fi ;;
*) echo "error: unknown command: '$1'" >&2; exit 1 ;;
esac
exit 0
