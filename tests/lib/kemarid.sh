# kemarid.sh - kemarid, kemari(1) and a guest on the simulated nodes of
# cluster.sh.  Source it after testlib.sh and cluster.sh.
# shellcheck shell=sh
#
# kd_start I            kemarid on node I: config $KT_DIR/nI/kemari.conf
#                       (node name nodeI, socket $KT_DIR/nI/kemarid.sock,
#                       run dir $KT_DIR/nI/run, standalone policy, automatic
#                       re-protection), log $KT_DIR/nI/kemarid.log;
#                       KD_BACKEND=libvirt: the libvirt backend, kemarid
#                       inside the node's libvirt namespaces (libvirt.sh);
#                       KD_NODE_NS=1: the direct backend, also inside
#                       them (a node-local /var/lib/libvirt; kl_prepare
#                       first);
#                       KD_POLICY=pacemaker: that failover policy
# km I ARGS...          kemari(1) against node I's kemarid
# kd_vm_field I FIELD   vm1's FIELD in node I's `kemari status --json`
# kd_wait_field I FIELD VALUE SECS
# kd_member I J         True/False: node I's kemarid sees node J as member
# kd_wait_eligible I N SECS  until node I sees N eligible peers
# kd_guest_start I APPEND    the test guest as vm1 on node I, the way the
#                       direct backend finds it (tap kt0 on vmbr0 of every
#                       node, the disk $KT_DISK, as kt_disk sets it);
#                       KD_NODE_NS=1: inside the node's libvirt
#                       namespaces; waits for it
# kd_libvirt_hook I     installs kemari-hook in node I's libvirt hooks
#                       (before kl_start), talking to node I's kemarid,
#                       disks under $KT_DIR counting as shared storage
# kd_libvirt_require, kd_libvirt_up NAME, kd_libvirt_vm1 META
#                       libvirt tests: skip unless installed; three nodes
#                       (libvirtd, hook and kemarid on node1 and node2);
#                       the observers and vm1 started on node1
# kd_node_daemons I     kd_libvirt_hook, libvirtd (unless it runs) and
#                       kemarid on node I, whose socket is linked where
#                       the OCF agent looks (/run/kemari/kemarid.sock of
#                       the node)
# kd_ocf_agent          ocf-agents/KemariDomain of this tree under
#                       $KT_DIR/ocf, set as KP_OCF_DIR (pacemaker.sh): the
#                       nodes see it as ocf:kemari:KemariDomain
# kd_now_ms             wall clock in milliseconds
# kd_kill_and_wait I    kc_kill_node I, then wait (30 s at most) for the
#                       guest's next UDP datagram at the observer; sets
#                       KD_KILL_MS (when) and KD_ANSWER_MS (after how
#                       long; empty if none came)
# kd_wait_progress SECS [UDP TCP]  until the guest went on: the UDP
#                       observer's highest number grew by UDP (default
#                       100) and, when a TCP observer runs (tcp.status),
#                       its records by TCP (default 10), within SECS;
#                       KD_PROGRESS says what was seen ("udp A->B tcp C->D")

KEMARID=${top_builddir:-.}/daemon/kemarid
KEMARI=${top_builddir:-.}/daemon/kemari
KD_KVMCHECK=${top_builddir:-.}/tools/kvm-check/kemari-kvm-check
KD_HOOK=${top_builddir:-.}/libvirt-driver/kemari-hook

kd_now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

kd_node_daemons() {
    kd_libvirt_hook "$1" || return 1
    if [ -z "$(kl_libvirtd_pid "$1")" ] ||
       ! kill -0 "$(kl_libvirtd_pid "$1")" 2>/dev/null; then
        kl_start "$1" || return 1
    fi
    kd_start "$1" || return 1
    mkdir -p "$(kl_dir "$1")/run/kemari" &&
        ln -sf "$KT_DIR/n$1/kemarid.sock" \
            "$(kl_dir "$1")/run/kemari/kemarid.sock"
}

# kd_libvirt_require: skips (77) unless libvirt, corosync, python3 and
# the built kemarid and hook are there.
kd_libvirt_require() {
    kt_require_env
    kl_require_env
    for _kd_c in corosync python3; do
        command -v "$_kd_c" >/dev/null || kt_skip "needs $_kd_c"
    done
    [ -x "$KEMARID" ] && [ -x "$KD_HOOK" ] ||
        kt_skip "kemarid/kemari-hook not built"
}

# kd_libvirt_up NAME: three simulated nodes named NAME with corosync;
# libvirtd with the hook and kemarid (libvirt backend, standalone policy)
# on node1 and node2, node3 only votes.  Returns once node1's kemarid
# sees node2 eligible; dies otherwise.
# shellcheck disable=SC2034  # KD_BACKEND: read by kd_start
kd_libvirt_up() {
    KD_BACKEND=libvirt
    kc_cluster 3 "$1" || kt_die "cannot build the simulated nodes"
    for _kd_i in 1 2 3; do
        kc_corosync_start $_kd_i ||
            kt_die "node $_kd_i: corosync did not start"
    done
    kc_wait_quorate 1 60 || kt_die "the cluster did not become quorate"
    for _kd_i in 1 2; do
        kl_prepare $_kd_i || kt_die "node $_kd_i: no namespaces"
        kd_libvirt_hook $_kd_i || kt_die "node $_kd_i: cannot install the hook"
        kl_start $_kd_i || kt_die "node $_kd_i: libvirtd did not start"
        kd_start $_kd_i || kt_die "node $_kd_i: kemarid did not start"
    done
    kd_wait_eligible 1 1 30 ||
        kt_die "node1 does not see node2: $(km 1 nodes)"
}

# kd_libvirt_vm1 META: the observers (kt_observers in the host namespace)
# and vm1 on node1 with <metadata> META, sending UDP and disk records:
# defined and started through libvirt (so vetted by the hook), booted,
# and found by node1's kemarid; dies otherwise.
kd_libvirt_vm1() {
    kt_observers "$(kc_ns h)"
    KL_APPEND="kemari.udp=9000 kemari.udp_gap_us=1000 kemari.disk=9001 \
kemari.disk_gap_us=5000" kl_domxml vm1 "$1" > "$KT_DIR/vm1.xml"
    kl_virsh 1 define "$KT_DIR/vm1.xml" >/dev/null ||
        kt_die "cannot define vm1"
    _kd_out=$(kl_virsh 1 start vm1 2>&1) ||
        kt_die "vm1 did not start: $_kd_out"
    kl_wait_ready 1 vm1 180 || kt_die "guest did not boot"
    kd_wait_field 1 state UNPROTECTED 30 ||
        kt_die "kemarid did not find vm1 through libvirt: $(km 1 status)"
}

# kd_stack_require [CMD...]: skips (77) unless root, Pacemaker, corosync,
# jq, python3, every CMD and the built kemarid and hook are there.
kd_stack_require() {
    [ "$(id -u)" = 0 ] || kt_skip "needs root (namespaces)"
    command -v pacemakerd >/dev/null || kt_skip "Pacemaker is not installed"
    kt_require_env
    kp_require_env
    kl_require_env
    for _kd_c in corosync jq python3 "$@"; do
        command -v "$_kd_c" >/dev/null || kt_skip "no $_kd_c"
    done
    [ -x "$KEMARID" ] && [ -x "$KD_HOOK" ] ||
        kt_skip "kemarid/kemari-hook not built"
}

# kd_stack_up N NAME DISK-SIZE: the whole stack on N simulated nodes
# named NAME (kc_cluster; with N = 2, corosync's two_node): corosync,
# libvirtd with the hook, kemarid (libvirt backend, pacemaker policy),
# Pacemaker with ocf:kemari:KemariDomain, and the shared disk (kt_disk
# DISK-SIZE).  Returns once node1's kemarid sees every other node
# eligible and every Pacemaker is online; dies otherwise.
# shellcheck disable=SC2034  # KD_*, KP_*, KC_*: read by the libraries
kd_stack_up() {
    KD_BACKEND=libvirt
    KD_POLICY=pacemaker
    KP_WITH_LIBVIRT=1
    KC_TWO_NODE=1       # kc_cluster applies it to 2 nodes only
    kd_ocf_agent || kt_die "cannot install the agent for the nodes"
    kc_cluster "$1" "$2" || kt_die "cannot build the simulated nodes"
    _kd_i=1
    while [ "$_kd_i" -le "$1" ]; do
        kc_corosync_start "$_kd_i" ||
            kt_die "node $_kd_i: corosync did not start"
        _kd_i=$((_kd_i + 1))
    done
    kc_wait_quorate 1 60 || kt_die "corosync is not quorate"
    kt_disk "$3"
    _kd_i=1
    while [ "$_kd_i" -le "$1" ]; do
        kp_prepare "$_kd_i" || kt_die "node $_kd_i: no namespaces"
        kd_node_daemons "$_kd_i" ||
            kt_die "node $_kd_i: libvirtd or kemarid did not start"
        _kd_i=$((_kd_i + 1))
    done
    kd_wait_eligible 1 $(($1 - 1)) 30 ||
        kt_die "node1 does not see the other nodes: $(km 1 nodes)"
    _kd_i=1
    while [ "$_kd_i" -le "$1" ]; do
        kp_start "$_kd_i" || kt_die "node $_kd_i: pacemakerd did not start"
        _kd_i=$((_kd_i + 1))
    done
    kp_wait_online 1 120 ||
        kt_die "Pacemaker did not come up: $(kp_nodes 1 | tr '\n' ' ')"
    _kd_i=2
    while [ "$_kd_i" -le "$1" ]; do
        kp_wait_online "$_kd_i" 30 ||
            kt_die "Pacemaker did not come up: $(kp_nodes 1 | tr '\n' ' ')"
        _kd_i=$((_kd_i + 1))
    done
}

# shellcheck disable=SC2034  # KP_OCF_DIR: read by pacemaker.sh
kd_ocf_agent() {
    KP_OCF_DIR=$KT_DIR/ocf
    mkdir -p "$KP_OCF_DIR/kemari" &&
        install -m 0755 "${top_srcdir:-.}/ocf-agents/KemariDomain" \
            "$KP_OCF_DIR/kemari/KemariDomain"
}

kd_libvirt_hook() {
    _kd_hooks=$(kl_dir "$1")/etc/hooks/qemu.d
    mkdir -p "$_kd_hooks" || return 1
    # libvirt runs hooks with a cleared environment: a wrapper sets it
    cat > "$_kd_hooks/kemari" <<HOOK
#!/bin/sh
KEMARI_QEMU_EMULATOR='$KEMARI_QEMU' KEMARI_SHARED_STORAGE='$KT_DIR' \\
KEMARI_SOCKET='$KT_DIR/n$1/kemarid.sock' \\
KEMARI_STATE_DIR='$KT_DIR/n$1/state' exec '$KD_HOOK' "\$@"
HOOK
    chmod +x "$_kd_hooks/kemari"
}

# shellcheck disable=SC2034  # KD_KILL_MS, KD_ANSWER_MS: for the caller
kd_kill_and_wait() {
    kc_kill_node "$1"
    _kd_t0=$(kd_now_ms)
    KD_KILL_MS=$_kd_t0
    _kd_u0=$(kt_status_field "$KT_DIR/udp.status" highest)
    KD_ANSWER_MS=""
    while [ $(( $(kd_now_ms) - _kd_t0 )) -lt 30000 ]; do
        _kd_u=$(kt_status_field "$KT_DIR/udp.status" highest)
        if [ "${_kd_u:-0}" -gt "${_kd_u0:-0}" ]; then
            KD_ANSWER_MS=$(( $(kd_now_ms) - _kd_t0 ))
            return 0
        fi
        sleep 0.02
    done
    return 1
}

# kd_taps: the guest's tap kt0 on every node's vmbr0.
kd_taps() {
    for _kd_i in $(seq 1 "$KC_N"); do
        ip -n "$(kc_ns "$_kd_i")" tuntap add dev kt0 mode tap &&
            ip -n "$(kc_ns "$_kd_i")" link set kt0 master vmbr0 up ||
            return 1
    done
}

kd_start() {
    _kd_d=$KT_DIR/n$1
    mkdir -p "$_kd_d/run"
    cat > "$_kd_d/kemari.conf" <<CONF
[daemon]
node-name = node$1
control-socket = $_kd_d/kemarid.sock
log-level = ${KD_LOG_LEVEL:-debug}
failover-policy = ${KD_POLICY:-standalone}
reprotect = automatic
kvm-check = $KD_KVMCHECK
migration-address = $(kc_addr "$1")
migration-port-min = 4500
migration-port-max = 4509

[qemu]
backend = ${KD_BACKEND:-direct}
binary = $KEMARI_QEMU
run-dir = $_kd_d/run
state-dir = $_kd_d/state

[checkpoint]
mode = event
min-interval-ms = 0
max-interval-ms = 100
ack-timeout-ms = 2000
CONF
    rm -f "$_kd_d/kemarid.sock"
    if [ "${KD_BACKEND:-direct}" = libvirt ] || [ "${KD_NODE_NS:-0}" = 1 ]
    then
        # nsenter execs kemarid: $! is kemarid's own pid
        nsenter --target "$(kl_holder_pid "$1")" --mount --uts --net \
            "$KEMARID" -f -c "$_kd_d/kemari.conf" \
            >> "$_kd_d/kemarid.log" 2>&1 &
    else
        ip netns exec "$(kc_ns "$1")" "$KEMARID" -f -c "$_kd_d/kemari.conf" \
            >> "$_kd_d/kemarid.log" 2>&1 &
    fi
    kt_track_pid $!
    _kd_n=0
    while [ ! -S "$_kd_d/kemarid.sock" ] && [ $_kd_n -lt 100 ]; do
        sleep 0.1
        _kd_n=$((_kd_n + 1))
    done
    [ -S "$_kd_d/kemarid.sock" ]
}

km() {
    _kd_i=$1
    shift
    "$KEMARI" --socket "$KT_DIR/n$_kd_i/kemarid.sock" "$@"
}

kd_vm_field() {
    km "$1" --json status vm1 2>/dev/null | python3 -c '
import json, sys
v = json.load(sys.stdin)["vms"][0].get(sys.argv[1])
print("null" if v is None else v)' "$2" 2>/dev/null
}

kd_wait_field() {
    _kd_t=$(( $4 * 10 ))
    while [ "$_kd_t" -gt 0 ]; do
        [ "$(kd_vm_field "$1" "$2")" = "$3" ] && return 0
        sleep 0.1
        _kd_t=$((_kd_t - 1))
    done
    return 1
}

kd_member() {
    km "$1" --json nodes 2>/dev/null | python3 -c '
import json, sys
print(any(n["id"] == int(sys.argv[1]) and n["member"]
          for n in json.load(sys.stdin)["nodes"]))' "$2" 2>/dev/null
}

kd_wait_eligible() {
    _kd_t=$(( $3 * 5 ))
    while [ "$_kd_t" -gt 0 ]; do
        [ "$(km "$1" --json nodes 2>/dev/null | python3 -c '
import json, sys
print(sum(1 for n in json.load(sys.stdin)["nodes"] if n["eligible"]))')" \
            = "$2" ] && return 0
        sleep 0.2
        _kd_t=$((_kd_t - 1))
    done
    return 1
}

kd_guest_start() {
    _kd_run=$KT_DIR/n$1/run
    if [ "${KD_NODE_NS:-0}" = 1 ]; then
        set -- "$1" "$2" nsenter --target "$(kl_holder_pid "$1")" --mount \
            --uts --net
    else
        set -- "$1" "$2" ip netns exec "$(kc_ns "$1")"
    fi
    _kd_i=$1 _kd_append=$2
    shift 2
    # shellcheck disable=SC2086  # $KT_DISK is a list of arguments
    "$@" "$KEMARI_QEMU" -accel tcg -m 256 -smp 1 \
        -nodefaults -display none -no-reboot -name vm1 \
        -kernel "$KEMARI_GUEST_DIR/vmlinuz" \
        -initrd "$KEMARI_GUEST_DIR/initrd.gz" \
        -append "console=ttyS0 panic=1 quiet \
kemari.peer_mac=02:00:00:00:00:01 $_kd_append" \
        -serial "file:$_kd_run/vm1.console" \
        -qmp "unix:$_kd_run/vm1.qmp,server=on,wait=off" \
        -netdev tap,id=net0,ifname=kt0,script=no,downscript=no \
        -device virtio-net-pci,netdev=net0,mac=52:54:00:4b:4d:01,romfile= \
        $KT_DISK > "$KT_DIR/n$_kd_i/qemu.stderr" 2>&1 &
    KT_QEMU_PID=$!
    kt_track_pid $KT_QEMU_PID
    _kd_n=0
    until grep -q KEMARI-GUEST-READY "$_kd_run/vm1.console" 2>/dev/null; do
        _kd_n=$((_kd_n + 1))
        kill -0 "$KT_QEMU_PID" 2>/dev/null && [ $_kd_n -lt 1800 ] || {
            kt_log "guest did not boot: $(cat "$KT_DIR/n$_kd_i/qemu.stderr")"
            return 1
        }
        sleep 0.1
    done
}

# shellcheck disable=SC2034  # KD_PROGRESS: for the caller
kd_wait_progress() {
    _kd_u0=$(kt_status_field "$KT_DIR/udp.status" highest)
    _kd_c0=$(kt_status_field "$KT_DIR/tcp.status" records)
    _kd_t=$(( $1 * 10 ))
    while :; do
        _kd_u=$(kt_status_field "$KT_DIR/udp.status" highest)
        _kd_c=$(kt_status_field "$KT_DIR/tcp.status" records)
        KD_PROGRESS="udp ${_kd_u0:-none}->${_kd_u:-none}"
        [ -z "$_kd_c0" ] || KD_PROGRESS="$KD_PROGRESS tcp $_kd_c0->${_kd_c:-0}"
        [ "${_kd_u:-0}" -ge $(( ${_kd_u0:-0} + ${2:-100} )) ] &&
            { [ -z "$_kd_c0" ] ||
              [ "${_kd_c:-0}" -ge $(( _kd_c0 + ${3:-10} )) ]; } && return 0
        [ "$_kd_t" -gt 0 ] || return 1
        sleep 0.1
        _kd_t=$((_kd_t - 1))
    done
}
