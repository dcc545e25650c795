# cluster.sh - simulated cluster nodes on one machine, with real corosync.
# shellcheck shell=sh
# Source it AFTER tests/lib/testlib.sh (POSIX sh).
#
# kc_cluster N [PREFIX] builds (PREFIX defaults to kc<pid of the test>):
#   ${PREFIX}sw   the switch: bridge br0, one port per node (n1..nN) and
#                 one for the host (h0)
#   ${PREFIX}h    the host, where test observers run: eth0 at
#                 169.254.10.1/16, MAC 02:00:00:00:00:01
#   ${PREFIX}nI   node I: eth0 (its veth to the switch) enslaved to bridge
#                 vmbr0 at 169.254.77.I/16; guests' taps join vmbr0 later,
#                 so guests, nodes and the host share one L2 segment
# Loopback is up everywhere.  kc_ns I / kc_addr I print node I's
# namespace and address (kc_ns h: the host, kc_ns sw: the switch).
#
# corosync: one per node (kc_corosync_start I), knet, token 1000 ms,
# votequorum with N votes and no two_node, its own files under
# $KC_DIR/nI/ (corosync.conf, state/, corosync.log, corosync.pid).  The
# only fixed path corosync writes, its lock file /run/corosync.pid, is
# private: each corosync runs in its own mount namespace with a private
# directory bound over /run.  libqb IPC sockets are abstract, hence per
# network namespace: a client started with `ip netns exec "$(kc_ns I)"`
# talks to node I's corosync.
# Timing: with more than two nodes corosync waits token + (N - 2) *
# token_coefficient (650 ms by default) for the token, then consensus
# (1.2 times that): a lost node of three is seen after about 3.6 s.
# KC_TOKEN (default 1000) and KC_TOKEN_COEFFICIENT (default: corosync's)
# change that, before kc_cluster.  KC_TWO_NODE=1 (before kc_cluster, two
# nodes only) adds votequorum's two_node (hence wait_for_all): either
# node alone stays quorate, as Pacemaker's 2-node clusters are run (with
# fencing to settle a partition).
#
# Failures: kc_kill_node I (SIGKILL to every process of the node, then
# the link cut), kc_cut_link I / kc_restore_link I (the switch-side veth
# of node I down/up: corosync and guest traffic of that node).
#
# The membership probe (tests/tools/membership-probe): kc_probe_start I,
# kc_probe_send I TEXT, kc_probe_stop I, kc_wait_line I REGEX SECS (on
# its output), kc_wait_status I REGEX SECS (on its status file).
#
# Cleanup: every process inside our namespaces is killed and every
# namespace deleted on exit, also on failure and on SIGINT/SIGTERM.
# libqb (corosync, Pacemaker) keeps each IPC connection's ring buffers in
# /dev/shm/qb-SERVER-CLIENT-... and corosync its flight recorder in
# /dev/shm/qb-corosync-PID-blackbox-*; a process killed with SIGKILL
# leaves them behind (megabytes, in memory): those that appeared since
# kc_cluster and whose processes are all gone are removed too.
# testlib.sh's kt_cleanup stays the EXIT trap's last step; hooks listed
# in KT_CLEANUP_HOOKS (function names, kt_add_cleanup_hook NAME) run
# before it, in order.

KC_PREFIX=""
KC_N=0
KC_DIR=""
KC_PROBE=${KEMARI_MEMBERSHIP_PROBE:-}
: "${KC_PROBE:=${top_builddir:-.}/tests/tools/membership-probe}"
KC_NETNS=""
KC_CHILDREN=""

# ------------------------------------------------------------- cleanup

KT_CLEANUP_HOOKS=${KT_CLEANUP_HOOKS:-}

kt_add_cleanup_hook() { KT_CLEANUP_HOOKS="$KT_CLEANUP_HOOKS $1"; }

kc__return() { return "$1"; }

# The EXIT trap: the hooks, then testlib's kt_cleanup with the exit
# status intact (it reads $?).
kc__exit_trap() {
    _kc_rc=$?
    trap '' INT TERM
    for _kc_h in $KT_CLEANUP_HOOKS; do
        "$_kc_h" || :
    done
    kc__return "$_kc_rc"
    kt_cleanup
}

if [ -z "${KC_TRAP_SET:-}" ]; then
    KC_TRAP_SET=1
    trap kc__exit_trap EXIT
    kt_add_cleanup_hook kc__cleanup
fi

# Whether PID exists and is not a zombie.
kc__alive() {
    _kc_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$_kc_st" ] && [ "$_kc_st" != Z ]
}

# kc__kill_ns NS: SIGKILL every process inside namespace NS, wait until
# they are gone (children are reaped, others polled for up to 5 s).
kc__kill_ns() {
    _kc_pids=$(ip netns pids "$1" 2>/dev/null)
    [ -n "$_kc_pids" ] || return 0
    # shellcheck disable=SC2086  # a list of pids
    kill -9 $_kc_pids 2>/dev/null
    for _kc_p in $_kc_pids; do
        case " $KC_CHILDREN " in
            *" $_kc_p "*) wait "$_kc_p" 2>/dev/null ;;
        esac
    done
    _kc_t=50
    for _kc_p in $_kc_pids; do
        while kc__alive "$_kc_p" && [ "$_kc_t" -gt 0 ]; do
            sleep 0.1
            _kc_t=$((_kc_t - 1))
        done
    done
}

kc__cleanup() {
    for _kc_ns in $KC_NETNS; do
        kc__kill_ns "$_kc_ns"
    done
    kc__shm_gc
}

# The libqb entries of /dev/shm, sorted (kc__shm_gc removes only new ones).
kc__shm_list() {
    for _kc_f in /dev/shm/qb-*; do
        [ -e "$_kc_f" ] && printf '%s\n' "${_kc_f#/dev/shm/}"
    done | LC_ALL=C sort
}

kc__shm_gc() {
    [ -n "$KC_DIR" ] && [ -f "$KC_DIR/shm.before" ] || return 0
    kc__shm_list > "$KC_DIR/shm.after"
    for _kc_f in $(LC_ALL=C comm -13 "$KC_DIR/shm.before" \
            "$KC_DIR/shm.after"); do
        _kc_r=${_kc_f#qb-}
        case $_kc_r in
            corosync-*-blackbox-data|corosync-*-blackbox-header)
                _kc_r=${_kc_r#corosync-}
                _kc_s=${_kc_r%%-*}
                _kc_c=$_kc_s ;;
            *)  _kc_s=${_kc_r%%-*}
                _kc_r=${_kc_r#*-}
                _kc_c=${_kc_r%%-*} ;;
        esac
        case $_kc_s$_kc_c in ''|*[!0-9]*) continue ;; esac
        kc__alive "$_kc_s" || kc__alive "$_kc_c" || rm -rf "/dev/shm/$_kc_f"
    done
    rm -f "$KC_DIR/shm.after"
}

# ------------------------------------------------------------- topology

kc_ns() {
    case $1 in
        h) printf '%sh\n' "$KC_PREFIX" ;;
        sw) printf '%ssw\n' "$KC_PREFIX" ;;
        *) printf '%sn%s\n' "$KC_PREFIX" "$1" ;;
    esac
}

kc_addr() {
    case $1 in
        h) printf '169.254.10.1\n' ;;
        *) printf '169.254.77.%s\n' "$1" ;;
    esac
}

# kc__netns NAME: a namespace with loopback up, deleted at cleanup.
kc__netns() {
    ip netns add "$1" || kt_die "cannot create network namespace $1"
    KT_NETNS="$KT_NETNS $1"
    KC_NETNS="$KC_NETNS $1"
    ip -n "$1" link set lo up
}

# kc__bridge NS NAME MAC: a bridge that forwards at once.  Its MAC is
# fixed: a bridge otherwise takes the lowest MAC of its ports, and a port
# added later (a guest's tap) would change it under every ARP cache.
kc__bridge() {
    ip -n "$1" link add "$2" type bridge stp_state 0 forward_delay 0 &&
    ip -n "$1" link set "$2" address "$3" &&
    ip -n "$1" link set "$2" up
}

# kc_cluster N [PREFIX]: the switch, the host and N nodes (no daemons).
kc_cluster() {
    KC_N=$1
    KC_PREFIX=${2:-kc$$}
    [ -n "$KT_DIR" ] || kt_mkdir
    KC_DIR=$KT_DIR/cluster
    mkdir -p "$KC_DIR"
    kc__shm_list > "$KC_DIR/shm.before"
    _kc_sw=$(kc_ns sw)
    kc__netns "$_kc_sw"
    kc__bridge "$_kc_sw" br0 02:00:00:00:00:fe ||
        kt_die "cannot create the switch bridge"

    _kc_h=$(kc_ns h)
    kc__netns "$_kc_h"
    ip link add h0 netns "$_kc_sw" type veth peer name eth0 \
        netns "$_kc_h" || kt_die "cannot create the host's veth"
    ip -n "$_kc_sw" link set h0 master br0 up
    ip -n "$_kc_h" link set eth0 address 02:00:00:00:00:01
    ip -n "$_kc_h" addr add "$(kc_addr h)/16" dev eth0
    ip -n "$_kc_h" link set eth0 up

    _kc_i=1
    while [ "$_kc_i" -le "$KC_N" ]; do
        _kc_n=$(kc_ns "$_kc_i")
        kc__netns "$_kc_n"
        ip link add "n$_kc_i" netns "$_kc_sw" type veth peer name eth0 \
            netns "$_kc_n" || kt_die "cannot create node $_kc_i's veth"
        ip -n "$_kc_sw" link set "n$_kc_i" master br0 up
        kc__bridge "$_kc_n" vmbr0 "$(printf '02:00:00:00:77:%02x' "$_kc_i")" ||
            kt_die "cannot create vmbr0 in node $_kc_i"
        ip -n "$_kc_n" link set eth0 master vmbr0 up
        ip -n "$_kc_n" addr add "$(kc_addr "$_kc_i")/16" dev vmbr0
        mkdir -p "$KC_DIR/n$_kc_i/state" "$KC_DIR/n$_kc_i/run"
        kc__corosync_conf "$_kc_i" > "$KC_DIR/n$_kc_i/corosync.conf"
        _kc_i=$((_kc_i + 1))
    done
    kt_log "cluster of $KC_N nodes: namespaces" \
        "${KC_PREFIX}{sw,h,n1..n$KC_N}, files in $KC_DIR"
}

# kc__corosync_conf I: node I's corosync.conf (one key per line: corosync
# rejects `node { a: b }` on one line).
kc__corosync_conf() {
    _kc_d=$KC_DIR/n$1
    _kc_two=""
    [ -z "${KC_TWO_NODE:-}" ] || [ "$KC_N" != 2 ] || _kc_two="
    two_node: 1"
    cat <<EOF
totem {
    version: 2
    cluster_name: kemari-test
    transport: knet
    crypto_cipher: none
    crypto_hash: none
    token: ${KC_TOKEN:-1000}${KC_TOKEN_COEFFICIENT:+
    token_coefficient: $KC_TOKEN_COEFFICIENT}
}
system {
    state_dir: $_kc_d/state
}
logging {
    to_stderr: no
    to_syslog: no
    to_logfile: yes
    logfile: $_kc_d/corosync.log
    timestamp: hires
}
quorum {
    provider: corosync_votequorum
    expected_votes: $KC_N$_kc_two
}
nodelist {
EOF
    _kc_j=1
    while [ "$_kc_j" -le "$KC_N" ]; do
        printf '    node {\n        name: node%s\n        nodeid: %s\n' \
            "$_kc_j" "$_kc_j"
        printf '        quorum_votes: 1\n        ring0_addr: %s\n    }\n' \
            "$(kc_addr "$_kc_j")"
        _kc_j=$((_kc_j + 1))
    done
    echo "}"
}

# ------------------------------------------------------------- corosync

# kc_corosync_pid I: the pid of node I's corosync (empty when stopped).
kc_corosync_pid() {
    cat "$KC_DIR/n$1/corosync.pid" 2>/dev/null
}

# kc_corosync_start I: corosync in the foreground, in node I's network
# namespace and a private mount namespace.  ip netns exec, unshare and
# sh -c each exec() the next program, so $! is corosync's own pid.
kc_corosync_start() {
    _kc_d=$KC_DIR/n$1
    # shellcheck disable=SC2016  # expanded by the inner sh
    ip netns exec "$(kc_ns "$1")" unshare --mount --propagation private \
        sh -c 'mount --bind "$1" /run && shift && exec "$@"' kc-node \
        "$_kc_d/run" corosync -f -c "$_kc_d/corosync.conf" \
        >> "$_kc_d/corosync.stderr" 2>&1 &
    _kc_pid=$!
    KC_CHILDREN="$KC_CHILDREN $_kc_pid"
    kt_track_pid "$_kc_pid"
    echo "$_kc_pid" > "$_kc_d/corosync.pid"
}

# kc_corosync_stop I: SIGTERM, wait (SIGKILL after 20 s); returns its
# exit status.
kc_corosync_stop() {
    _kc_pid=$(kc_corosync_pid "$1")
    [ -n "$_kc_pid" ] || return 0
    kill -TERM "$_kc_pid" 2>/dev/null
    _kc_t=200
    while kc__alive "$_kc_pid" && [ "$_kc_t" -gt 0 ]; do
        sleep 0.1
        _kc_t=$((_kc_t - 1))
    done
    kc__alive "$_kc_pid" && kill -9 "$_kc_pid" 2>/dev/null
    wait "$_kc_pid" 2>/dev/null
    _kc_rc=$?
    rm -f "$KC_DIR/n$1/corosync.pid"
    return "$_kc_rc"
}

# kc_wait_quorate I SECS: until node I's corosync says it is quorate.
kc_wait_quorate() {
    _kc_t=$(( $2 * 5 ))
    while :; do
        ip netns exec "$(kc_ns "$1")" corosync-quorumtool -s 2>/dev/null |
            grep -q '^Quorate: *Yes' && return 0
        [ "$_kc_t" -gt 0 ] || break
        sleep 0.2
        _kc_t=$((_kc_t - 1))
    done
    kt_log "node $1 not quorate after $2 s"
    return 1
}

# ------------------------------------------------------------- failures

kc_cut_link() { ip -n "$(kc_ns sw)" link set "n$1" down; }
kc_restore_link() { ip -n "$(kc_ns sw)" link set "n$1" up; }

# kc_kill_node I: SIGKILL every process in node I, then cut its link.
kc_kill_node() {
    kc__kill_ns "$(kc_ns "$1")"
    rm -f "$KC_DIR/n$1/corosync.pid" "$KC_DIR/n$1/probe.pid"
    kc_cut_link "$1"
}

# ------------------------------------------------------------- probe

# kc_probe_start I [ARGS...]: membership-probe in node I; its output in
# $KC_DIR/nI/probe.out, logs in probe.err, status file probe.status,
# stdin from the FIFO probe.in (opened read-write, so it never sees end
# of file and writers never block).  Sets KC_PROBE_PID.
kc_probe_start() {
    _kc_d=$KC_DIR/n$1
    _kc_i=$1
    shift
    rm -f "$_kc_d/probe.in" "$_kc_d/probe.status"
    mkfifo "$_kc_d/probe.in" || return 1
    ip netns exec "$(kc_ns "$_kc_i")" "$KC_PROBE" \
        --status "$_kc_d/probe.status" "$@" \
        <> "$_kc_d/probe.in" >> "$_kc_d/probe.out" 2>> "$_kc_d/probe.err" &
    KC_PROBE_PID=$!
    KC_CHILDREN="$KC_CHILDREN $KC_PROBE_PID"
    kt_track_pid "$KC_PROBE_PID"
    echo "$KC_PROBE_PID" > "$_kc_d/probe.pid"
}

kc_probe_pid() { cat "$KC_DIR/n$1/probe.pid" 2>/dev/null; }

# kc_probe_send I TEXT: one group message from node I's probe.
kc_probe_send() {
    printf '%s\n' "$2" > "$KC_DIR/n$1/probe.in"
}

# kc_probe_stop I [SIGNAL]: signal (default TERM) node I's probe, wait.
kc_probe_stop() {
    _kc_pid=$(kc_probe_pid "$1")
    [ -n "$_kc_pid" ] || return 0
    kill "-${2:-TERM}" "$_kc_pid" 2>/dev/null
    wait "$_kc_pid" 2>/dev/null
    _kc_rc=$?
    rm -f "$KC_DIR/n$1/probe.pid"
    return "$_kc_rc"
}

# kc_wait_line I REGEX SECS [FROM]: until a line of node I's probe output
# after line FROM (default 0) matches REGEX (grep -E); prints that line.
kc_wait_line() {
    _kc_t=$(( $3 * 20 ))
    while :; do
        _kc_l=$(tail -n "+$(( ${4:-0} + 1 ))" "$KC_DIR/n$1/probe.out" \
            2>/dev/null | grep -E -m 1 -e "$2")
        if [ -n "$_kc_l" ]; then
            printf '%s\n' "$_kc_l"
            return 0
        fi
        [ "$_kc_t" -gt 0 ] || break
        sleep 0.05
        _kc_t=$((_kc_t - 1))
    done
    kt_log "node $1: no probe line matching '$2' within $3 s"
    return 1
}

# kc_probe_lines I: the number of lines node I's probe has printed.
kc_probe_lines() {
    if [ -f "$KC_DIR/n$1/probe.out" ]; then
        wc -l < "$KC_DIR/n$1/probe.out" | tr -d ' '
    else
        echo 0
    fi
}

# kc_wait_status I REGEX SECS: until node I's probe status file (its
# last view, or "down") matches REGEX (grep -E).
kc_wait_status() {
    _kc_t=$(( $3 * 20 ))
    while :; do
        grep -E -q -e "$2" "$KC_DIR/n$1/probe.status" 2>/dev/null &&
            return 0
        [ "$_kc_t" -gt 0 ] || break
        sleep 0.05
        _kc_t=$((_kc_t - 1))
    done
    kt_log "node $1: status '$(cat "$KC_DIR/n$1/probe.status" 2>/dev/null)'" \
        "does not match '$2' after $3 s"
    return 1
}

# kc_view NODES DAEMONS QUORATE: a REGEX for kc_wait_*: the view with
# these node and daemon lists ("1,2,3") and quorate flag (true/false).
kc_view() {
    printf '"event":"view","quorate":%s,"nodes":\\[%s\\],"daemons":\\[%s\\]' \
        "$3" "$1" "$2"
}

# kc_require_env: root, ip(8), corosync and the probe; otherwise skip.
kc_require_env() {
    [ "$(id -u)" = 0 ] || kt_skip "needs root (network namespaces)"
    command -v ip >/dev/null || kt_skip "no ip(8) (iproute2)"
    command -v unshare >/dev/null || kt_skip "no unshare(1)"
    command -v corosync >/dev/null || kt_skip "no corosync"
    command -v corosync-quorumtool >/dev/null ||
        kt_skip "no corosync-quorumtool"
    [ -x "$KC_PROBE" ] || kt_skip "no membership-probe at '$KC_PROBE'"
}
