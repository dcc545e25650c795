#!/bin/sh
# check-ocf-actions.sh - ocf-agents/KemariDomain run as Pacemaker runs it
# (OCF_ROOT, OCF_RESKEY_*, OCF_RESOURCE_INSTANCE, HA_RSCTMP; every action
# under dash when it is installed) against fake kemari, virsh and
# crm_attribute programs (tests/unit/ocf/fake-*.sh), which print what the
# real ones print and log their argv.  Each case sets up a node (kemarid's
# view of the VM, the libvirt domain, the state file), runs one action and
# checks its exit code, the promotion score it left, and the commands it
# ran or must never run (a stale secondary is never failed over).  Skips
# (77) without resource-agents' ocf-shellfuncs or jq.
srcdir=${top_srcdir:-.}
agent=$srcdir/ocf-agents/KemariDomain
fakes=$srcdir/tests/unit/ocf
: "${OCF_ROOT:=/usr/lib/ocf}"
[ -r "$OCF_ROOT/lib/heartbeat/ocf-shellfuncs" ] ||
    { echo "no $OCF_ROOT/lib/heartbeat/ocf-shellfuncs (resource-agents): skipped"; exit 77; }
command -v jq > /dev/null || { echo "no jq: skipped"; exit 77; }
command -v timeout > /dev/null || { echo "no timeout: skipped"; exit 77; }
run_sh="sh"
command -v dash > /dev/null && run_sh="dash"

dir=$(mktemp -d /tmp/kemari-ocf-actions.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/bin" "$dir/rsc"
for f in kemari virsh crm_attribute; do
    printf '#!/bin/sh\nexec sh %s/fake-%s.sh "$@"\n' "$fakes" "$f" > "$dir/bin/$f"
    chmod +x "$dir/bin/$f"
done
W=$dir/world
export FAKE_WORLD="$W"
export OCF_ROOT OCF_RA_VERSION_MAJOR=1 OCF_RA_VERSION_MINOR=1
export OCF_RESOURCE_INSTANCE=vm1 OCF_RESKEY_crm_feature_set=3.16.2
export HA_RSCTMP="$dir/rsc" HA_SBIN_DIR="$dir/bin" HA_LOGFACILITY=none
export HA_LOGFILE="$dir/ha.log" HA_DEBUGLOG=/dev/null
export OCF_RESKEY_kemari_bin="$dir/bin/kemari"
export OCF_RESKEY_virsh_bin="$dir/bin/virsh"
statefile=$dir/rsc/KemariDomain-vm1.state

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
nok() { failed=$((failed + 1)); echo "not ok - $*"; }

# node ROLE STATE ACKED HELD DOM [STATEFILE]: a fresh fake node.  ROLE and
# STATE are kemarid's (absent: it knows no such VM), ACKED the engine's
# checkpoint (null: no engine answer), DOM the libvirt domain's state,
# STATEFILE the agent's state file (- : none).
node() {
    rm -rf "$W" "$statefile"
    mkdir "$W"
    echo "$1" > "$W/role"; echo "$2" > "$W/state"; echo "$3" > "$W/acked"
    echo "$4" > "$W/held"; echo "$5" > "$W/dom"
    [ "${6:--}" = - ] || echo "$6" > "$statefile"
    : > "$W/log"
}

# act ACTION [VAR=VALUE...]: runs the agent; sets rc, ms (elapsed),
# out, err.  Default parameters: domain=vm1, timeouts of 20 s.
act() {
    _a=$1
    shift
    _t0=$(date +%s%3N)
    env OCF_RESKEY_domain=vm1 OCF_RESKEY_CRM_meta_timeout=20000 \
        OCF_RESKEY_CRM_meta_interval=10000 "$@" \
        "$run_sh" "$agent" "$_a" > "$dir/out" 2> "$dir/err"
    rc=$?
    ms=$(($(date +%s%3N) - _t0))
    out=$(cat "$dir/out") err=$(tr '\n' ' ' < "$dir/err")
}

score() { cat "$W/score" 2>/dev/null || echo unset; }

# check DESC WANT_RC WANT_SCORE [+PATTERN | -PATTERN]...: the exit code,
# the score left (unset: never called), and for each +PATTERN a line of
# the command log matching it (grep -E), for each -PATTERN none.
check() {
    _d=$1 _wrc=$2 _wscore=$3
    shift 3
    _why=
    [ "$rc" = "$_wrc" ] || _why="$_why rc $rc, want $_wrc;"
    [ "$(score)" = "$_wscore" ] || _why="$_why score $(score), want $_wscore;"
    for _p in "$@"; do
        case $_p in
        +*) grep -Eq -- "${_p#+}" "$W/log" || _why="$_why no command /${_p#+}/;" ;;
        -*) ! grep -Eq -- "${_p#-}" "$W/log" || _why="$_why forbidden command /${_p#-}/ ran;" ;;
        esac
    done
    if [ -z "$_why" ]; then
        ok "$_d"
    else
        nok "$_d:$_why log: $(tr '\n' '|' < "$W/log") stderr: $err"
    fi
}

# has_reason: the agent printed an ocf-exit-reason
reason() {
    case $err in
    *ocf-exit-reason:*) ok "$1: exit reason given" ;;
    *) nok "$1: no ocf-exit-reason on stderr: $err" ;;
    esac
}

never='kemari.* (failover|start) |virsh.* (create|start|destroy|suspend|resume) '

## meta-data, notify, usage
act meta-data
if [ "$rc" = 0 ] && echo "$out" | grep -q '<resource-agent name="KemariDomain"'; then
    ok "meta-data"
else
    nok "meta-data: rc $rc"
fi
node absent STOPPED null 0 absent
act notify
check "notify succeeds, touches nothing" 0 unset "-."
# the post-stop notification: the stopped nodes other than this one were
# fenced (kemarid refuses it for members: a clean stop)
notify_stop() {
    act notify OCF_RESKEY_CRM_meta_notify_type="$1" \
        OCF_RESKEY_CRM_meta_notify_operation="$2" \
        OCF_RESKEY_CRM_meta_notify_stop_uname="$3" \
        OCF_RESKEY_CRM_meta_on_node=node-a
}
node primary DEGRADED 1200 3 running promoted
notify_stop post stop "node-b"
check "post-stop notify for node-b: kemari fenced node-b" 0 unset \
    "+^kemari fenced node-b$" "-$never"
node primary DEGRADED 1200 3 running promoted
notify_stop post stop "node-a node-b node-c"
check "post-stop notify for three nodes: each other one, not this one" 0 unset \
    "+^kemari fenced node-b$" "+^kemari fenced node-c$" "-fenced node-a"
node primary DEGRADED 1200 3 running promoted
notify_stop pre stop "node-b"
check "pre-stop notify: nothing" 0 unset "-."
node primary DEGRADED 1200 3 running promoted
notify_stop post promote "node-b"
check "post-promote notify: nothing" 0 unset "-."
node primary PROTECTED 1200 0 running promoted
echo member > "$W/fenced"
notify_stop post stop "node-b"
check "post-stop notify, node-b still a member (refused): notify succeeds" 0 unset \
    "+^kemari fenced node-b$"
node primary DEGRADED 1200 3 running promoted
echo down > "$W/kemarid"
notify_stop post stop "node-b"
check "post-stop notify, kemarid down: notify succeeds all the same" 0 unset
act frobnicate
check "unknown action: unimplemented" 3 unset

## monitor: honest codes, and the score each state deserves
node primary PROTECTED 1200 0 running promoted
act monitor
check "monitor: running primary is Promoted" 8 1000 "-$never"
node primary DEGRADED 1200 3 running promoted
act monitor
check "monitor: DEGRADED primary still runs: Promoted" 8 1000
node primary PEER_UNKNOWN 1200 0 running promoted
act monitor
check "monitor: primary with corosync away runs, score removed" 8 deleted
node primary UNPROTECTED null 0 paused started
act monitor
check "monitor: paused primary is Unpromoted, no score" 0 deleted "-$never"
node absent STOPPED null 0 absent promoted
act monitor
check "monitor: promoted but no primary left: failed Promoted" 9 1
reason "monitor failed promoted"
node none STOPPED null 0 "shut off" promoted
act monitor
check "monitor: promoted, kemarid STOPPED, domain shut off: failed Promoted" 9 1
node secondary STANDBY 1200 0 paused started
act monitor
check "monitor: current secondary (STANDBY): 0, score 100" 0 100 "-$never"
node secondary PRIMARY_LOST 5 0 paused started
act monitor
check "monitor: PRIMARY_LOST with a checkpoint: 0, score 100" 0 100
node secondary STANDBY 0 0 paused started
act monitor
check "monitor: STANDBY without a checkpoint yet: no score" 0 deleted
node secondary STANDBY null 0 paused started
act monitor
check "monitor: STANDBY without engine answer: no score" 0 deleted
for st in INCOMING RECEIVING FAILING_OVER PEER_UNKNOWN; do
    node secondary "$st" 40 0 paused started
    act monitor
    check "monitor: secondary $st is not current: no score" 0 deleted "-$never"
done
node absent STOPPED null 0 absent started
act monitor
check "monitor: started, no copy: 0, score 1" 0 1
node absent STOPPED null 0 absent
act monitor OCF_RESKEY_CRM_meta_interval=0
check "probe: nothing here: not running, score 1" 7 1
node none STOPPED null 0 "shut off"
act monitor OCF_RESKEY_CRM_meta_interval=0
check "probe: domain defined but shut off: not running" 7 1
node absent STOPPED null 0 running
act monitor
check "monitor: domain runs but kemarid ignores it: error, no score" 1 deleted
reason "monitor unmanaged domain"
node primary UNPROTECTED null 0 "shut off" started
act monitor
check "monitor: kemarid primary whose domain is shut off: error" 1 deleted
node primary PROTECTED 10 0 running
echo down > "$W/kemarid"
act monitor OCF_RESKEY_CRM_meta_interval=0
check "probe, no state file, kemarid down, domain runs: error" 1 unset
reason "probe kemarid down"
node absent STOPPED null 0 absent
echo down > "$W/kemarid"
act monitor OCF_RESKEY_CRM_meta_interval=0
check "probe, no state file, kemarid down, no domain: not running" 7 unset
node secondary STANDBY 10 0 paused started
echo down > "$W/kemarid"
act monitor
check "monitor, kemarid down: error" 1 unset
reason "monitor kemarid down"
node primary PROTECTED 10 0 running promoted
echo badjson > "$W/kemarid"
act monitor
check "monitor, kemarid's reply unreadable: error" 1 unset
node primary PROTECTED 10 0 running promoted
echo hang > "$W/kemarid"
act monitor OCF_RESKEY_CRM_meta_timeout=3000
check "monitor, kemarid hangs: error" 1 unset
[ "$ms" -lt 3000 ] && ok "monitor, kemarid hangs: cut within its 3 s timeout (${ms} ms)" ||
    nok "monitor, kemarid hangs: took ${ms} ms, timeout 3 s"
node primary PROTECTED 10 0 hang promoted
act monitor OCF_RESKEY_CRM_meta_timeout=3000
check "monitor, virsh hangs: error" 1 unset
[ "$ms" -lt 3000 ] && ok "monitor, virsh hangs: cut within its 3 s timeout (${ms} ms)" ||
    nok "monitor, virsh hangs: took ${ms} ms, timeout 3 s"
node secondary STANDBY 10 0 paused started
act monitor OCF_RESKEY_kemari_socket=/run/k/x.sock
[ "$(cat "$W/socket" 2>/dev/null)" = /run/k/x.sock ] &&
    ok "kemari_socket is passed as kemari --socket" ||
    nok "kemari_socket not passed: $(cat "$W/log")"

## start
node absent STOPPED null 0 absent
act start
check "start, nothing here: success, score 1" 0 1 "-$never"
[ "$(cat "$statefile" 2>/dev/null)" = started ] && ok "start writes the state file" ||
    nok "start: state file is '$(cat "$statefile" 2>/dev/null)'"
node secondary STANDBY 10 0 paused
act start
check "start beside a current secondary leaves it: score 100" 0 100 "-$never"
node absent STOPPED null 0 absent
echo standalone > "$W/policy"
act start
check "start under failover-policy standalone: not configured" 6 unset
reason "start standalone"
[ ! -e "$statefile" ] && ok "refused start writes no state file" ||
    nok "refused start wrote a state file"
node absent STOPPED null 0 absent
act start OCF_RESKEY_CRM_meta_clone_max=2
check "start as a clone without notify=true: not configured" 6 unset
reason "start without notify"
node absent STOPPED null 0 absent
act start OCF_RESKEY_CRM_meta_clone_max=2 OCF_RESKEY_CRM_meta_notify=true
check "start as a clone with notify=true: success" 0 1
node absent STOPPED null 0 absent
echo down > "$W/kemarid"
act start
check "start, kemarid down: error" 1 unset
reason "start kemarid down"
node absent STOPPED null 0 absent
echo perm > "$W/kemarid"
act start
check "start, kemarid refuses us: permission" 4 unset

## promote
node secondary STANDBY 1200 0 paused started
act promote
check "promote a current secondary: kemari failover" 0 1000 \
    "+^kemari failover vm1 --timeout [0-9]+$" "-virsh.* (create|start|destroy)"
[ "$(sed -n 1p "$statefile")" = promoted ] && ok "promote records promoted" ||
    nok "promote: state file '$(cat "$statefile")'"
t=$(sed -n 's/^kemari failover vm1 --timeout //p' "$W/log")
[ -n "$t" ] && [ "$t" -lt 20 ] && [ "$t" -ge 10 ] &&
    ok "failover --timeout $t within the action's 20 s" ||
    nok "failover --timeout '$t' for an action of 20 s"
node secondary PRIMARY_LOST 7 0 paused started
act promote
check "promote PRIMARY_LOST with a checkpoint: failover" 0 1000 "+kemari failover vm1"
for st in INCOMING RECEIVING PEER_UNKNOWN; do
    node secondary "$st" 7 0 paused started
    act promote
    check "promote a stale secondary ($st): refused, never a failover" 1 deleted \
        "-$never"
    reason "promote $st"
done
node secondary STANDBY 0 0 paused started
act promote
check "promote STANDBY without a checkpoint: no failover" 1 deleted "-$never"
node secondary STANDBY 9 0 paused started
echo refuse-once > "$W/failover"
act promote
check "promote: failover refused once (release not yet there), then done" 0 1000
[ "$(grep -c '^kemari failover' "$W/log")" = 2 ] && ok "failover asked twice" ||
    nok "failover asked $(grep -c '^kemari failover' "$W/log") times, want 2"
node secondary STANDBY 9 0 paused started
echo refuse > "$W/failover"
act promote OCF_RESKEY_CRM_meta_timeout=3000
check "promote: failover always refused: error" 1 unset "+kemari failover"
reason "promote refused"
[ "$ms" -lt 3000 ] && ok "refused failover gives up within the 3 s timeout (${ms} ms)" ||
    nok "refused failover took ${ms} ms, timeout 3 s"
node secondary FAILING_OVER 9 0 paused started
act promote OCF_RESKEY_CRM_meta_timeout=3000
check "promote while already failing over waits for it, no second failover" 1 unset \
    "-kemari failover"
node primary PROTECTED 50 0 running started
act promote
check "promote the running primary: nothing to do" 0 1000 "-$never"
node primary PROTECTED 50 0 paused started
act promote
check "promote a paused primary: virsh resume" 0 1000 "+virsh .*resume vm1" \
    "-kemari failover|virsh.* (create|destroy)"
node primary UNPROTECTED null 0 "shut off" started
act promote
check "promote a primary whose domain is shut off: error" 1 deleted "-$never"
node absent STOPPED null 0 absent started
act promote OCF_RESKEY_config=/dev/null
check "cold start with config: virsh create, then protection" 0 1000 \
    "+^virsh -c qemu:///system -q create /dev/null$" \
    "+^kemari start vm1 --no-wait$" "-kemari failover"
node none STOPPED null 0 "shut off" started
act promote
check "cold start without config: virsh start DOMAIN" 0 1000 \
    "+^virsh -c qemu:///system -q start vm1$" "+^kemari start vm1 --no-wait$"
node absent STOPPED null 0 absent started
echo needpeer > "$W/start"
act promote OCF_RESKEY_hypervisor=qemu+ssh://h/system
check "cold start, kemari(1) needs --peer: first eligible other node" 0 1000 \
    "+^virsh -c qemu\+ssh://h/system -q start vm1$" "+^kemari --json nodes$" \
    "+^kemari start vm1 --peer node-b --no-wait$"
node absent STOPPED null 0 absent started
echo refuse > "$W/start"
act promote
check "cold start, no node for a secondary yet: promoted all the same" 0 1000 \
    "+^kemari start vm1 --no-wait$"
[ "$(sed -n 2p "$statefile")" = protect-pending ] && ok "protection marked pending" ||
    nok "state file: $(cat "$statefile")"
echo ok > "$W/start"; echo UNPROTECTED > "$W/state"; : > "$W/log"
act monitor
check "promoted monitor asks for the pending protection" 8 1000 "+^kemari start vm1 --no-wait$"
[ "$(cat "$statefile")" = promoted ] && ok "pending protection cleared" ||
    nok "state file: $(cat "$statefile")"
: > "$W/log"
act monitor
check "protection asked once only" 8 1000 "-kemari start"
node absent STOPPED null 0 absent started
touch "$W/ignored"
act promote OCF_RESKEY_CRM_meta_timeout=3000
check "cold start kemarid never sees: error within the timeout" 1 unset "+virsh .*start vm1"
reason "promote unmanaged"
[ "$ms" -lt 3000 ] && ok "gave up within 3 s (${ms} ms)" || nok "took ${ms} ms"
node absent STOPPED null 0 absent started
echo down > "$W/kemarid"
act promote
check "promote, kemarid down: error, no cold start" 1 unset "-$never"

## demote
node primary PROTECTED 80 4 running promoted
act demote
check "demote a running primary: pause, drain, destroy" 0 1 \
    "+virsh .*suspend vm1" "+virsh .*destroy vm1" "-kemari failover"
if [ "$(grep -n 'suspend' "$W/log" | cut -d: -f1)" -lt \
     "$(grep -n 'destroy' "$W/log" | cut -d: -f1)" ]; then
    ok "demote pauses before it destroys"
else
    nok "demote order: $(tr '\n' '|' < "$W/log")"
fi
[ "$(cat "$statefile")" = started ] && ok "demote records started" ||
    nok "demote: state file $(cat "$statefile")"
node primary PROTECTED 80 4 running promoted
touch "$W/held-sticky"
act demote OCF_RESKEY_CRM_meta_timeout=3000
check "demote, outputs never drain: destroyed within the timeout" 0 1 \
    "+virsh .*destroy vm1"
[ "$ms" -lt 3000 ] && ok "demote with held outputs within 3 s (${ms} ms)" || nok "took ${ms} ms"
node secondary STANDBY 80 0 paused started
act demote
check "demote a secondary: nothing to do" 0 100 "-$never"
node absent STOPPED null 0 absent started
act demote
check "demote with no copy: success" 0 1 "-$never"

## stop
node absent STOPPED null 0 absent started
act stop
check "stop with nothing here: success, score removed" 0 deleted "-$never"
[ ! -e "$statefile" ] && ok "stop removes the state file" || nok "state file left"
node secondary STANDBY 80 0 paused started
act stop
check "stop a secondary: destroyed" 0 deleted "+virsh .*destroy vm1" "-kemari failover"
node none STOPPED null 0 "shut off" started
act stop
check "stop, domain defined but shut off: nothing to destroy" 0 deleted "-virsh.* destroy"
node secondary STANDBY 80 0 paused started
echo down > "$W/kemarid"
act stop
check "stop, kemarid down: still destroys the copy" 0 deleted "+virsh .*destroy vm1"
node secondary STANDBY 80 0 paused started
touch "$W/sticky"
act stop OCF_RESKEY_CRM_meta_timeout=3000
check "stop, domain will not die: error within the timeout" 1 deleted "+virsh .*destroy"
reason "stop sticky"
[ "$ms" -lt 3000 ] && ok "stop gave up within 3 s (${ms} ms)" || nok "took ${ms} ms"
node secondary STANDBY 80 0 nolibvirt started
act stop OCF_RESKEY_CRM_meta_timeout=3000
check "stop, libvirt unreachable: error (cannot prove nothing runs)" 1 deleted
node absent STOPPED null 0 absent started
act stop OCF_RESKEY_virsh_bin=/nonexistent/virsh
check "stop without virsh: nothing can run, success" 0 unset

## validate-all
node absent STOPPED null 0 absent
act validate-all
check "validate-all with defaults" 0 unset "-."
act validate-all OCF_RESKEY_domain=
check "validate-all: domain missing" 6 unset
act validate-all OCF_RESKEY_domain=-vm
check "validate-all: domain starting with -" 6 unset
act validate-all "OCF_RESKEY_domain=a b"
check "validate-all: domain with a blank" 6 unset
act validate-all OCF_RESKEY_domain="$(printf %065d 0)"
check "validate-all: 65-character domain" 6 unset
act validate-all OCF_RESKEY_domain="$(printf %064d 0)"
check "validate-all: 64-character domain" 0 unset
act validate-all OCF_RESKEY_config=/nonexistent.xml
check "validate-all: unreadable config" 5 unset
reason "validate config"
act validate-all OCF_RESKEY_kemari_bin=/nonexistent/kemari
check "validate-all: no kemari program" 5 unset
printf '%s\n' "<domain><metadata><kemari:kemari xmlns:kemari='https://kemari.dev/xmlns/libvirt/1.0'>" \
    "<kemari:failover policy='standalone'/></kemari:kemari></metadata></domain>" > "$dir/sa.xml"
act validate-all OCF_RESKEY_config="$dir/sa.xml"
check "validate-all: config asks for the standalone policy" 6 unset
act monitor OCF_RESKEY_CRM_meta_interval=0 OCF_RESKEY_kemari_bin=/nonexistent/kemari
check "probe without the kemari program: not running" 7 unset

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
