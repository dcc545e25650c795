# libvirt.sh - one libvirtd (+ virtlogd) per simulated node of cluster.sh.
# shellcheck shell=sh
# Source it AFTER tests/lib/testlib.sh and tests/lib/cluster.sh (POSIX
# sh); use it after kc_cluster.
#
# Node I gets, besides its network namespace $(kc_ns I), a private mount
# (and UTS, hostname nodeI) namespace, kept alive by one holder process
# (`sleep infinity`) for the whole test.  In it, node-local directories
# under $KT_DIR/libvirt/nI/ are bound over
#   etc/   -> /etc/libvirt        (fresh config written by kl_prepare)
#   lib/   -> /var/lib/libvirt    log/   -> /var/log/libvirt
#   cache/ -> /var/cache/libvirt  run/   -> /run
# $KT_DIR/libvirt/hosts over /etc/hosts (nodeI -> 169.254.77.I), and an
# empty 0600 file, bound read-only, over /dev/kvm: the host's KVM cannot
# run guests (guests use TCG), and libvirt re-probes QEMU (about 2 s) on
# every lookup when it thinks /dev/kvm usable but its last probe found no
# KVM; with QEMU running as root only a read-only mount makes access(2)
# say "not usable".
# libvirtd's PATH starts with the Kemari QEMU's directory, so its
# default x86_64 emulator (which `virsh version` needs) is that QEMU; it
# probes it once at start-up (1.5-2.5 s here), and kl_start copies those
# cached capabilities to the next node (which then starts in 0.2 s).
# Every
# command for node I enters that same namespace set with nsenter, so
# libvirtd, virtlogd, the QEMUs libvirtd starts and `kl_on I CMD` all see
# the node's /run, /etc/libvirt and network.  Nothing is ever mounted in
# the caller's own mount namespace; a node's mounts vanish with its last
# process.
#
# corosync (cluster.sh) runs in another mount namespace of the same node
# (its own /run); that is fine: its IPC is abstract sockets (per network
# namespace) plus ring buffers in /dev/shm, which both namespaces share.
#
# qemu.conf: user/group root (the shared disk and the guest's kernel
# stay root's, under the test's 0700 directory), no dynamic ownership,
# security_driver "none", no cgroups (they would be host-global), no
# per-domain /dev namespace (libvirt cannot move our /dev/kvm bind into
# it), stdio_handler "file" (QEMU writes its log and the serial file
# itself, so the guest's console survives kl_stop of virtlogd).
# libvirtd.conf: a distinct host_uuid per node, logs to
# /var/log/libvirt/libvirtd.log, no auth on the (node-local) UNIX socket.
# No network is defined (guests join the node's bridge vmbr0).
#
# API (I is a node number):
#   kl_require_env        skip (77) unless libvirtd, virtlogd, virsh,
#                         nsenter and unshare are installed
#   kl_prepare I          node-local dirs and config, the holder process;
#                         kl_start calls it; call it first to add e.g.
#                         hooks (kl_dir I/etc/hooks/qemu.d) before start.
#                         After kc_kill_node I it sets the namespaces up
#                         again (a reboot: config and /var kept, /run
#                         emptied), so kl_start I works once more
#   kl_start I            virtlogd + libvirtd in node I, waits until
#                         libvirtd answers (60 s); sets KL_START_MS (ms
#                         from starting libvirtd to its first answer)
#   kl_stop I             SIGTERM libvirtd, then virtlogd (SIGKILL after
#                         30 s); domains keep running
#   kl_wait I SECS        until `virsh version` answers in node I
#   kl_on I CMD...        run CMD inside node I (its network, mount and
#                         UTS namespaces), in the foreground
#   kl_virsh I ARGS...    kl_on I virsh -c qemu:///system ARGS...
#   kl_dir I              node I's directory ($KT_DIR/libvirt/nI)
#   kl_console I NAME     host path of domain NAME's console log on node I
#   kl_wait_ready I NAME SECS  until guest NAME on node I is ready
#   kl_libvirtd_pid I, kl_virtlogd_pid I, kl_holder_pid I: real pids
#   kl_qemu_pids I        pids of the QEMUs node I's libvirtd started
#   kl_domxml NAME [EXTRA]  the test guest's domain XML (see below)
# Call kl_prepare/kl_start/kl_stop in the test's own shell, not in $(...)
# or a pipeline: the daemons must be children of that shell.
#
# Cleanup (a hook run by cluster.sh's EXIT trap, also on failure and
# SIGINT/SIGTERM): every process in a node's mount namespace (holder,
# libvirtd, virtlogd, QEMUs, stray kl_on commands) is killed with
# SIGKILL and waited for; the namespaces and their mounts disappear with
# them.

KL_DIR=""
KL_PATH=$PATH
KL_NODES=""
KL_CHILDREN=""

kl__now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

kl__alive() {
    _kl_st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$_kl_st" ] && [ "$_kl_st" != Z ]
}

kl_dir() { printf '%s/n%s\n' "$KL_DIR" "$1"; }

# kl_wait_ready I NAME SECS: until the test guest NAME on node I says
# KEMARI-GUEST-READY on its console; 1 after SECS seconds.
kl_wait_ready() {
    _kl_t=$(( $3 * 10 ))
    until grep -q KEMARI-GUEST-READY "$(kl_console "$1" "$2")" 2>/dev/null; do
        [ "$_kl_t" -gt 0 ] || return 1
        sleep 0.1
        _kl_t=$((_kl_t - 1))
    done
}
kl_holder_pid() { cat "$KL_DIR/n$1/holder.pid" 2>/dev/null; }
kl_libvirtd_pid() { cat "$KL_DIR/n$1/libvirtd.pid" 2>/dev/null; }
kl_virtlogd_pid() { cat "$KL_DIR/n$1/virtlogd.pid" 2>/dev/null; }
kl_console() { printf '%s/n%s/log/qemu/%s.console\n' "$KL_DIR" "$1" "$2"; }

kl_require_env() {
    for _kl_c in libvirtd virtlogd virsh nsenter unshare; do
        command -v "$_kl_c" >/dev/null || kt_skip "no $_kl_c (libvirt)"
    done
    for _kl_c in /etc/libvirt /var/lib/libvirt /var/log/libvirt \
            /var/cache/libvirt; do
        [ -d "$_kl_c" ] || kt_skip "no $_kl_c (libvirt-daemon-system)"
    done
}

# The node's identity: its mount and network namespaces (inode links).
kl__ns_id() {
    printf '%s %s\n' "$(readlink "/proc/$1/ns/mnt" 2>/dev/null)" \
        "$(readlink "/proc/$1/ns/net" 2>/dev/null)"
}

# kl__ns_pids I: every process inside node I's mount + network namespace.
kl__ns_pids() {
    _kl_id=$(cat "$KL_DIR/n$1/ns.id" 2>/dev/null)
    [ -n "$_kl_id" ] || return 0
    for _kl_p in /proc/[0-9]*; do
        _kl_p=${_kl_p#/proc/}
        [ "$(kl__ns_id "$_kl_p")" = "$_kl_id" ] && echo "$_kl_p"
    done
    return 0
}

kl_qemu_pids() {
    for _kl_f in "$KL_DIR/n$1"/run/libvirt/qemu/*.pid; do
        [ -f "$_kl_f" ] || continue
        _kl_p=$(cat "$_kl_f" 2>/dev/null)
        [ -n "$_kl_p" ] && kl__alive "$_kl_p" || continue
        # driver.pid is libvirtd's own lock: only QEMUs of this node
        case $(readlink "/proc/$_kl_p/exe" 2>/dev/null) in
            *qemu-system*) ;;
            *) continue ;;
        esac
        [ "$(kl__ns_id "$_kl_p")" = "$(cat "$KL_DIR/n$1/ns.id")" ] &&
            echo "$_kl_p"
    done
    return 0
}

# kl__config I: node I's /etc/libvirt.
kl__config() {
    _kl_e=$KL_DIR/n$1/etc
    mkdir -p "$_kl_e/qemu" "$_kl_e/hooks/qemu.d"
    cat > "$_kl_e/libvirtd.conf" <<EOF
# node $1 of a Kemari test ($KT_NAME)
host_uuid = "$(printf '4b454d41-5249-4000-8000-%012d' "$1")"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
auth_unix_ro = "none"
auth_unix_rw = "none"
unix_sock_group = "root"
EOF
    cat > "$_kl_e/virtlogd.conf" <<EOF
log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
EOF
    : > "$_kl_e/libvirt.conf"
    cat > "$_kl_e/qemu.conf" <<EOF
# node $1 of a Kemari test ($KT_NAME)
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
EOF
}

# kl__holder_script: run by sh inside the new namespaces; $1 node dir,
# $2 $KL_DIR, $3 node number.  Mounts, says ready, becomes the holder.
# shellcheck disable=SC2016  # expanded by the inner sh
kl__holder_script='set -e
hostname "node$3"
mount --bind "$1/etc" /etc/libvirt
mount --bind "$1/lib" /var/lib/libvirt
mount --bind "$1/log" /var/log/libvirt
mount --bind "$1/cache" /var/cache/libvirt
mount --bind "$1/run" /run
mount --bind "$2/hosts" /etc/hosts
if [ -e /dev/kvm ]; then
    mount --bind "$2/nokvm" /dev/kvm
    mount -o remount,bind,ro /dev/kvm
fi
echo ready > "$1/holder.ready"
exec sleep infinity'

kl_prepare() {
    [ -n "$KT_DIR" ] && [ "$KC_N" -gt 0 ] ||
        kt_die "kl_prepare: build the nodes with kc_cluster first"
    _kl_h=$(kl_holder_pid "$1")
    if [ -n "$_kl_h" ]; then
        kl__alive "$_kl_h" && return 0
        # Every process of the node died (kc_kill_node): it boots again
        # with its disk (etc, lib, log, cache) but a fresh /run.
        kt_log "node $1: its namespaces are gone; setting them up again"
        wait "$_kl_h" 2>/dev/null
        rm -rf "$KL_DIR/n$1/run" "$KL_DIR/n$1/holder.ready" \
            "$KL_DIR/n$1/holder.pid"
    fi
    if [ -z "$KL_DIR" ]; then
        KL_DIR=$KT_DIR/libvirt
        mkdir -p "$KL_DIR"
        install -m 0600 /dev/null "$KL_DIR/nokvm"
        {
            cat /etc/hosts
            for _kl_j in $(seq 1 "$KC_N"); do
                printf '%s node%s\n' "$(kc_addr "$_kl_j")" "$_kl_j"
            done
        } > "$KL_DIR/hosts"
        # libvirtd's default x86_64 emulator (`virsh version` needs one)
        # is the Kemari QEMU: found in PATH under its own name, so that
        # libvirt caches one set of capabilities for it, not two
        case ${KEMARI_QEMU:-} in
            */qemu-system-x86_64) KL_PATH=${KEMARI_QEMU%/*}:$PATH ;;
            ?*) mkdir -p "$KL_DIR/bin"
                ln -s "$KEMARI_QEMU" "$KL_DIR/bin/qemu-system-x86_64"
                KL_PATH=$KL_DIR/bin:$PATH ;;
            *) KL_PATH=$PATH ;;
        esac
    fi
    _kl_d=$KL_DIR/n$1
    [ -f "$_kl_d/etc/qemu.conf" ] || kl__config "$1"
    mkdir -p "$_kl_d/lib" "$_kl_d/log/qemu" "$_kl_d/cache" "$_kl_d/run"
    # ip netns exec, unshare and sh each exec() the next program: $! is
    # the holder's own pid
    ip netns exec "$(kc_ns "$1")" unshare --mount --uts \
        --propagation private sh -c "$kl__holder_script" kl-node \
        "$_kl_d" "$KL_DIR" "$1" < /dev/null > "$_kl_d/holder.log" 2>&1 &
    _kl_h=$!
    KL_CHILDREN="$KL_CHILDREN $_kl_h"
    case " $KL_NODES " in
        *" $1 "*) ;;
        *) KL_NODES="$KL_NODES $1" ;;
    esac
    echo "$_kl_h" > "$_kl_d/holder.pid"
    _kl_t=100
    until [ -f "$_kl_d/holder.ready" ]; do
        if ! kl__alive "$_kl_h" || [ "$_kl_t" -le 0 ]; then
            kt_log "node $1: namespace set-up failed:" \
                "$(cat "$_kl_d/holder.log")"
            return 1
        fi
        sleep 0.05
        _kl_t=$((_kl_t - 1))
    done
    kl__ns_id "$_kl_h" > "$_kl_d/ns.id"
}

kl_on() {
    _kl_h=$(kl_holder_pid "$1")
    [ -n "$_kl_h" ] || { kt_log "kl_on: node $1 not prepared"; return 1; }
    shift
    case $PWD in
        /run|/run/*|/etc/libvirt*|/var/lib/libvirt*|/var/log/libvirt*|\
        /var/cache/libvirt*) _kl_wd=/ ;;
        *) _kl_wd=$PWD ;;
    esac
    nsenter --target "$_kl_h" --mount --uts --net --wd="$_kl_wd" -- "$@"
}

kl_virsh() {
    _kl_i=$1
    shift
    kl_on "$_kl_i" virsh -c qemu:///system "$@"
}

# kl__spawn I NAME CMD...: CMD in node I in the background, output to
# NAME.log.  nsenter exec()s CMD (no --pid), so $! is CMD's own pid; a
# function run with & would leave the pid of a subshell instead.
kl__spawn() {
    _kl_d=$KL_DIR/n$1
    _kl_name=$2
    _kl_h=$(kl_holder_pid "$1")
    shift 2
    nsenter --target "$_kl_h" --mount --uts --net --wd=/ -- "$@" \
        < /dev/null >> "$_kl_d/$_kl_name.log" 2>&1 &
    _kl_p=$!
    KL_CHILDREN="$KL_CHILDREN $_kl_p"
    echo "$_kl_p" > "$_kl_d/$_kl_name.pid"
}

kl_wait() {
    _kl_t=$(( $2 * 10 ))
    while :; do
        kl_virsh "$1" version >/dev/null 2>&1 && return 0
        _kl_p=$(kl_libvirtd_pid "$1")
        if [ -z "$_kl_p" ] || ! kl__alive "$_kl_p"; then
            kt_log "node $1: libvirtd is not running:" \
                "$(tail -n 5 "$KL_DIR/n$1/libvirtd.log" 2>/dev/null)"
            return 1
        fi
        [ "$_kl_t" -gt 0 ] || break
        sleep 0.1
        _kl_t=$((_kl_t - 1))
    done
    kt_log "node $1: libvirtd does not answer after $2 s"
    return 1
}

kl_start() {
    kl_prepare "$1" || return 1
    _kl_d=$KL_DIR/n$1
    _kl_p=$(kl_libvirtd_pid "$1")
    if [ -n "$_kl_p" ] && kl__alive "$_kl_p"; then
        kt_log "node $1: libvirtd $_kl_p is running already"
        return 1
    fi
    # The QEMU capabilities of another node are valid here too (same
    # binary, same hidden /dev/kvm): saves the probe (seconds per QEMU).
    if [ -z "$(ls "$_kl_d/cache/qemu/capabilities" 2>/dev/null)" ]; then
        for _kl_o in "$KL_DIR"/n*/cache/qemu/capabilities; do
            [ -n "$(ls "$_kl_o" 2>/dev/null)" ] || continue
            mkdir -p "$_kl_d/cache/qemu"
            cp -a "$_kl_o" "$_kl_d/cache/qemu/" && break
        done
    fi
    _kl_p=$(kl_virtlogd_pid "$1")
    if [ -z "$_kl_p" ] || ! kl__alive "$_kl_p"; then
        kl__spawn "$1" virtlogd virtlogd
        _kl_t=100
        until [ -S "$_kl_d/run/libvirt/virtlogd-sock" ]; do
            if ! kl__alive "$(kl_virtlogd_pid "$1")" || [ "$_kl_t" -le 0 ]
            then
                kt_log "node $1: virtlogd did not start:" \
                    "$(tail -n 5 "$_kl_d/virtlogd.log")"
                return 1
            fi
            sleep 0.05
            _kl_t=$((_kl_t - 1))
        done
    fi
    _kl_t0=$(kl__now_ms)
    kl__spawn "$1" libvirtd env PATH="$KL_PATH" libvirtd
    kl_wait "$1" 60 || return 1
    # shellcheck disable=SC2034  # read by the caller
    KL_START_MS=$(( $(kl__now_ms) - _kl_t0 ))
}

# kl__term PIDFILE SECS: SIGTERM the daemon, SIGKILL after SECS; returns
# its exit status when it is our child.
kl__term() {
    _kl_p=$(cat "$1" 2>/dev/null)
    [ -n "$_kl_p" ] || return 0
    kill -TERM "$_kl_p" 2>/dev/null
    _kl_t=$(( $2 * 10 ))
    while kl__alive "$_kl_p" && [ "$_kl_t" -gt 0 ]; do
        sleep 0.1
        _kl_t=$((_kl_t - 1))
    done
    kl__alive "$_kl_p" && kill -9 "$_kl_p" 2>/dev/null
    wait "$_kl_p" 2>/dev/null
    _kl_rc=$?
    rm -f "$1"
    return "$_kl_rc"
}

kl_stop() {
    kl__term "$KL_DIR/n$1/libvirtd.pid" 30
    _kl_rc1=$?
    kl__term "$KL_DIR/n$1/virtlogd.pid" 30
    _kl_rc2=$?
    [ "$_kl_rc1" = 0 ] && [ "$_kl_rc2" = 0 ]
}

kl__cleanup() {
    for _kl_i in $KL_NODES; do
        _kl_pids=$(kl__ns_pids "$_kl_i")
        # shellcheck disable=SC2086  # a list of pids
        [ -z "$_kl_pids" ] || kill -9 $_kl_pids 2>/dev/null
    done
    for _kl_p in $KL_CHILDREN; do
        kill -9 "$_kl_p" 2>/dev/null
        wait "$_kl_p" 2>/dev/null
    done
    # others (QEMUs: libvirtd daemonizes them) are not our children
    _kl_t=50
    for _kl_i in $KL_NODES; do
        while [ -n "$(kl__ns_pids "$_kl_i")" ] && [ "$_kl_t" -gt 0 ]; do
            sleep 0.1
            _kl_t=$((_kl_t - 1))
        done
    done
    return 0
}
kt_add_cleanup_hook kl__cleanup

# kl_domxml NAME [EXTRA]: the test guest as a libvirt domain: TCG, 256
# MiB, one vCPU, the Kemari QEMU ($KEMARI_QEMU), kernel and initrd from
# $KEMARI_GUEST_DIR, console (ttyS0) to kl_console's file, one virtio NIC
# on the node's bridge vmbr0 (MAC 52:54:00:4b:4d:01, userspace virtio,
# no option ROM, like kt_qemu), the shared disk $KT_IMG of kt_disk when
# there is one (virtio, raw, cache=none, aio=threads, as in $KT_DISK),
# kernel command line as kt_qemu's plus $KL_APPEND.  Its UUID derives
# from NAME (the same domain on every node), or is $KL_UUID.  EXTRA
# (e.g. a <metadata> element) goes before </domain>.
kl_domxml() {
    # a version 4 UUID made of the name's MD5: 8-4-4-4-12 hex digits
    _kl_u=$(printf 'kemari-test-%s' "$1" | md5sum | cut -c1-32)
    _kl_u=$(echo "$_kl_u" | cut -c1-8)-$(echo "$_kl_u" | cut -c9-12)-4$(
        echo "$_kl_u" | cut -c14-16)-8$(echo "$_kl_u" | cut -c18-20)-$(
        echo "$_kl_u" | cut -c21-32)
    _kl_u=${KL_UUID:-$_kl_u}
    _kl_cmd="console=ttyS0 panic=1 quiet kemari.peer_mac=02:00:00:00:00:01"
    _kl_cmd="$_kl_cmd${KL_APPEND:+ $KL_APPEND}"
    cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <uuid>$_kl_u</uuid>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>$KEMARI_GUEST_DIR/vmlinuz</kernel>
    <initrd>$KEMARI_GUEST_DIR/initrd.gz</initrd>
    <cmdline>$_kl_cmd</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$KEMARI_QEMU</emulator>
EOF
    [ -z "${KT_IMG:-}" ] || cat <<EOF
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none' io='threads'/>
      <source file='$KT_IMG'/>
      <target dev='vda' bus='virtio'/>
    </disk>
EOF
    cat <<EOF
    <interface type='bridge'>
      <source bridge='vmbr0'/>
      <mac address='52:54:00:4b:4d:01'/>
      <model type='virtio'/>
      <driver name='qemu'/>
      <rom enabled='no'/>
    </interface>
    <serial type='file'>
      <source path='/var/log/libvirt/qemu/$1.console'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
EOF
    [ -z "${2:-}" ] || printf '%s\n' "$2"
    echo "</domain>"
}
