# testlib.sh - shared helpers for Kemari's integration tests and demo.
# Source it from a POSIX/bash script.  It expects (set by `make check`'s
# environment, or by the caller):
#   KEMARI_QEMU       the Kemari QEMU binary
#   KEMARI_GUEST_DIR  directory with vmlinuz and initrd.gz
#   KEMARI_KSEQ       the host build of tests/workload/kseq
#
# Every namespace, process and file a test creates is registered here and
# removed by kt_cleanup, which runs on exit, also when the test fails or is
# interrupted.  Results: kt_pass/kt_fail count checks; kt_finish prints
# "N passed, N failed" and exits 0 only when nothing failed.

KT_NAME=${KT_NAME:-$(basename "$0" .sh)}
: "${top_srcdir:=.}"
KT_PASSED=0
KT_FAILED=0
KT_PIDS=""
KT_NETNS=""
KT_DIR=""

kt_log() { printf '%s: %s\n' "$KT_NAME" "$*" >&2; }
kt_pass() { KT_PASSED=$((KT_PASSED + 1)); printf 'ok - %s\n' "$*"; }
kt_fail() { KT_FAILED=$((KT_FAILED + 1)); printf 'not ok - %s\n' "$*"; }
kt_skip() { printf '%s: SKIP: %s\n' "$KT_NAME" "$*"; exit 77; }
kt_die() { kt_fail "$*"; kt_finish; }

# kt_check DESCRIPTION COMMAND...: pass if the command succeeds.
kt_check() {
    _d=$1; shift
    if "$@"; then kt_pass "$_d"; else kt_fail "$_d"; fi
}

# kt_has TEXT ERE: TEXT matches the extended regular expression ERE.
kt_has() {
    printf '%s\n' "$1" | grep -Eq -- "$2"
}

kt_finish() {
    printf '%s passed, %s failed\n' "$KT_PASSED" "$KT_FAILED"
    [ "$KT_FAILED" = 0 ] && [ "$KT_PASSED" -gt 0 ]
    exit $?
}

# Root, the binaries and the guest; otherwise skip, saying what is missing.
kt_require_env() {
    [ "$(id -u)" = 0 ] || kt_skip "needs root (network namespaces, tap)"
    [ -x "${KEMARI_QEMU:-}" ] ||
        kt_skip "no Kemari QEMU at '${KEMARI_QEMU:-}' (run make)"
    [ -f "${KEMARI_GUEST_DIR:-}/vmlinuz" ] ||
        kt_skip "no test guest in '${KEMARI_GUEST_DIR:-}' (run make check)"
    [ -x "${KEMARI_KSEQ:-}" ] || kt_skip "no kseq at '${KEMARI_KSEQ:-}'"
    command -v ip >/dev/null || kt_skip "no ip(8) (iproute2)"
}

# A scratch directory for logs and images; removed at the end unless the
# test failed (then its logs stay for the developer, path printed).
kt_mkdir() {
    KT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/kemari-$KT_NAME.XXXXXX")
}

kt_cleanup() {
    _rc=$?
    for _p in $KT_PIDS; do
        kill -9 "$_p" 2>/dev/null || true
    done
    for _p in $KT_PIDS; do
        wait "$_p" 2>/dev/null || true
    done
    for _n in $KT_NETNS; do
        ip netns del "$_n" 2>/dev/null || true
    done
    if [ -n "$KT_DIR" ]; then
        if [ "$_rc" = 0 ] || [ "$_rc" = 77 ]; then
            rm -rf "$KT_DIR"
        else
            rm -f "$KT_DIR"/*.img
            kt_log "logs kept in $KT_DIR"
        fi
    fi
    exit "$_rc"
}
trap kt_cleanup EXIT
trap 'exit 130' INT TERM

kt_track_pid() { KT_PIDS="$KT_PIDS $1"; }

# kt_netns NAME: a namespace with a tap device "ktap0" at HOSTADDR/24.
# The guest's NIC sits on the tap; the "outside world" (observers) runs in
# the same namespace, on the tap's host side, whose MAC is the one the
# guest gets as kemari.peer_mac (02:00:00:00:00:01): its permanent
# neighbour entry for the peer.
kt_netns() {
    _ns=$1 _addr=${2:-169.254.10.1/24}
    ip netns add "$_ns" || kt_die "cannot create network namespace $_ns"
    KT_NETNS="$KT_NETNS $_ns"
    ip -n "$_ns" link set lo up
    ip -n "$_ns" tuntap add dev ktap0 mode tap
    ip -n "$_ns" link set ktap0 address 02:00:00:00:00:01
    ip -n "$_ns" addr add "$_addr" dev ktap0
    ip -n "$_ns" link set ktap0 up
}

# kt_qemu NS NAME CMDLINE_EXTRA [QEMU ARGS...]: start the test guest under
# the Kemari QEMU inside namespace NS, console to $KT_DIR/NAME.console,
# QMP at $KT_DIR/NAME.qmp.  Sets KT_QEMU_PID.  Extra QEMU args (a disk,
# -incoming) follow.  KT_TAP names the tap (default ktap0), KT_SMP the
# number of vCPUs (default 1), KT_PEER_MAC the MAC the guest sends to
# (default: the bridge of kt_pair_netns).
kt_qemu() {
    _ns=$1 _name=$2 _append=$3
    shift 3
    ip netns exec "$_ns" "$KEMARI_QEMU" -accel tcg -m 256 \
        -smp "${KT_SMP:-1}" -nodefaults -display none -no-reboot \
        -name "$_name" \
        -kernel "$KEMARI_GUEST_DIR/vmlinuz" \
        -initrd "$KEMARI_GUEST_DIR/initrd.gz" \
        -append "console=ttyS0 panic=1 quiet \
kemari.peer_mac=${KT_PEER_MAC:-02:00:00:00:00:01} $_append" \
        -serial "file:$KT_DIR/$_name.console" \
        -qmp "unix:$KT_DIR/$_name.qmp,server=on,wait=off" \
        -netdev tap,id=net0,ifname="${KT_TAP:-ktap0}",script=no,downscript=no \
        -device virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:4b:4d:01,romfile= \
        "$@" > "$KT_DIR/$_name.stderr" 2>&1 &
    KT_QEMU_PID=$!
    kt_track_pid "$KT_QEMU_PID"
}

# kt_wait_console NAME PATTERN TIMEOUT_S: wait for PATTERN on the console.
kt_wait_console() {
    _f=$KT_DIR/$1.console _pat=$2 _t=$(( $3 * 10 ))
    while [ "$_t" -gt 0 ]; do
        grep -q "$_pat" "$_f" 2>/dev/null && return 0
        kill -0 "$KT_QEMU_PID" 2>/dev/null || {
            kt_log "QEMU exited: $(tail -n 5 "$KT_DIR/$1.stderr")"
            return 1
        }
        sleep 0.1
        _t=$((_t - 1))
    done
    kt_log "timed out waiting for '$_pat' on $_f"
    return 1
}

# kt_bg NS LOG CMD...: run a command in the background in namespace NS.
kt_bg() {
    _ns=$1 _log=$2
    shift 2
    ip netns exec "$_ns" "$@" > "$_log" 2>&1 &
    KT_BG_PID=$!
    kt_track_pid "$KT_BG_PID"
}

# kt_stop PID: SIGTERM and wait (observers print their summary on TERM);
# returns the process's exit status.
kt_stop() {
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# kt_status_field FILE KEY: a value from a kseq --status file.
kt_status_field() {
    sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" "$1" 2>/dev/null
}

# kt_wait_above FILE KEY MIN SECONDS: wait until KEY in a kseq --status
# file exceeds MIN; the last value read is left in KT_VALUE.
kt_wait_above() {
    _t=$(( $4 * 10 ))
    while :; do
        KT_VALUE=$(kt_status_field "$1" "$2")
        [ "${KT_VALUE:-0}" -gt "$3" ] && return 0
        [ "$_t" -gt 0 ] || return 1
        sleep 0.1
        _t=$((_t - 1))
    done
}

# kt_workload_start NS [QEMU ARGS...]: the standard workload guest in NS:
# a 16 MiB virtio-blk disk ($KT_IMG), UDP sequence to port 9000 and disk
# records (reported to port 9001), each watched by a kseq udp-recv
# ($KT_UDP_PID, $KT_DISK_PID; status files udp.status, disk.status in
# $KT_DIR).  Boots and waits for the ready marker; sets KT_BOOT_S
# (seconds to boot) for the caller.
# kt_disk SIZE [IMAGE]: a raw disk image (IMAGE, default $KT_DIR/disk.img)
# in $KT_IMG and, in $KT_DISK, the QEMU arguments of a virtio-blk disk on
# it (several QEMUs may share it).  The disk is set up as libvirt does:
# -blockdev nodes and a device with an id (vdisk0), which leaves the
# device's BlockBackend anonymous.  KT_DISK_STYLE=drive gives the older
# -drive form instead (a named BlockBackend, disk0).  KT_DISK_LOCKING=off:
# QEMU takes no image locks (shared storage whose locks do not reach
# across hosts).
kt_disk() {
    KT_IMG=${2:-$KT_DIR/disk.img}
    truncate -s "$1" "$KT_IMG"
    _kt_lock=""
    if [ "${KT_DISK_STYLE:-blockdev}" = drive ]; then
        [ "${KT_DISK_LOCKING:-on}" = on ] || _kt_lock=,file.locking=off
        KT_DISK="-drive file=$KT_IMG,format=raw,if=none,id=disk0,cache=none,aio=threads$_kt_lock
            -device virtio-blk-pci,drive=disk0,id=vdisk0"
    else
        [ "${KT_DISK_LOCKING:-on}" = on ] || _kt_lock=,locking=off
        KT_DISK="-blockdev driver=file,filename=$KT_IMG,node-name=disk0-file,cache.direct=on,aio=threads$_kt_lock
            -blockdev driver=raw,file=disk0-file,node-name=disk0
            -device virtio-blk-pci,drive=disk0,id=vdisk0"
    fi
}

# kt_observers NS: outside the VM, a kseq udp-recv for the guest's UDP
# sequence (port 9000, $KT_UDP_PID, udp.status) and one for its disk
# reports (port 9001, $KT_DISK_PID, disk.status, disk.reports).
kt_observers() {
    kt_bg "$1" "$KT_DIR/udp.out" "$KEMARI_KSEQ" udp-recv 9000 \
        --status "$KT_DIR/udp.status"
    KT_UDP_PID=$KT_BG_PID
    kt_bg "$1" "$KT_DIR/disk.out" "$KEMARI_KSEQ" udp-recv 9001 \
        --kind disk --log "$KT_DIR/disk.reports" \
        --status "$KT_DIR/disk.status"
    KT_DISK_PID=$KT_BG_PID
}

# kt_workload_guest NS DISK-ARGS: the failover tests' guest, booted: the
# observers outside (KT_UDP_PID, KT_DISK_PID), and q0 on tap kt0 with
# DISK-ARGS, sending UDP flat out and disk records (its kernel command
# line additions in KT_APPEND, for the secondaries); KT_QEMU_PID is q0.
# Fails if the guest did not boot.
kt_workload_guest() {
    KT_APPEND="kemari.udp=9000 kemari.udp_gap_us=0 kemari.disk=9001 \
kemari.disk_gap_us=2000"
    kt_observers "$1"
    kt_pair_tap "$1" kt0
    # shellcheck disable=SC2086  # $2 is a list of arguments
    KT_TAP=kt0 kt_qemu "$1" q0 "$KT_APPEND" $2
    kt_wait_console q0 KEMARI-GUEST-READY 180
}

# kt_verdicts TCP_PID UDP_PID DISK_PID WHAT: stop the observers and check
# them: one TCP connection through WHAT, no UDP gap nor number with two
# payloads, every reported disk record on $KT_IMG.  A pid may be empty.
kt_verdicts() {
    if [ -n "$1" ]; then
        kt_stop "$1"
        kt_check "TCP: one connection through $4: $(cat "$KT_DIR/tcp.out")" \
            grep -q 'result=ok' "$KT_DIR/tcp.out"
    fi
    kt_stop "$2"
    kt_check "UDP: no gap, no number with two payloads: $(cat "$KT_DIR/udp.out")" \
        grep -q 'missing=0 .*mismatches=0 .*bad=0' "$KT_DIR/udp.out"
    [ -n "$3" ] || return 0
    kt_stop "$3"
    if _v=$("$KEMARI_KSEQ" disk-verify "$KT_IMG" \
            --reports "$KT_DIR/disk.reports" --expect-min 1); then
        kt_pass "disk: every reported record is on the disk: $_v"
    else
        kt_fail "disk: $_v"
    fi
}

kt_workload_start() {
    _ns=$1
    shift
    kt_disk 16M
    kt_observers "$_ns"
    _t0=$(date +%s)
    # shellcheck disable=SC2086  # $KT_DISK is a list of arguments
    kt_qemu "$_ns" guest "kemari.udp=9000 kemari.udp_gap_us=2000 \
kemari.disk=9001 kemari.disk_gap_us=10000" $KT_DISK "$@"
    kt_wait_console guest KEMARI-GUEST-READY 180 || return 1
    # shellcheck disable=SC2034  # read by the caller
    KT_BOOT_S=$(( $(date +%s) - _t0 ))
}

# kt_workload_stop_and_verify MIN_UDP MIN_DISK: stop the guest (SIGTERM)
# and the observers, then check the UDP sequence (complete, consistent,
# at least MIN_UDP numbers) and the disk (every reported record on it,
# at least MIN_DISK records).
kt_workload_stop_and_verify() {
    kill -TERM "$KT_QEMU_PID" 2>/dev/null
    wait "$KT_QEMU_PID" 2>/dev/null
    kt_stop "$KT_UDP_PID"
    kt_stop "$KT_DISK_PID"
    _u=$(kt_status_field "$KT_DIR/udp.status" distinct)
    kt_check "UDP: no gap, no mismatch: $(cat "$KT_DIR/udp.out")" \
        grep -q 'missing=0 .*mismatches=0 .*bad=0' "$KT_DIR/udp.out"
    kt_check "UDP: at least $1 datagrams (${_u:-0})" test "${_u:-0}" -ge "$1"
    if _out=$("$KEMARI_KSEQ" disk-verify "$KT_IMG" \
            --reports "$KT_DIR/disk.reports" --expect-min "$2"); then
        kt_pass "disk holds every reported record: $_out"
    else
        kt_fail "disk: $_out"
    fi
}

# ---------------------------------------------------------------- pairs

# kt_pair_netns NS: a namespace whose bridge br0 (169.254.10.1/24) is the
# outside world; each QEMU of a pair gets its own tap on it (kt_pair_tap),
# as the two hosts of a pair share one L2 segment.
kt_pair_netns() {
    ip netns add "$1" || kt_die "cannot create network namespace $1"
    KT_NETNS="$KT_NETNS $1"
    ip -n "$1" link set lo up
    ip -n "$1" link add br0 type bridge stp_state 0 forward_delay 0
    # A fixed address: a bridge otherwise takes the lowest MAC of its
    # ports, and a tap added later would change it under the guest's
    # ARP cache, which then sends to a dead port until the entry expires.
    ip -n "$1" link set br0 address 02:00:00:00:00:01
    ip -n "$1" addr add 169.254.10.1/24 dev br0
    ip -n "$1" link set br0 up
}

kt_pair_tap() {
    ip -n "$1" tuntap add dev "$2" mode tap
    ip -n "$1" link set "$2" master br0 up
}

# kt_qmp NAME COMMAND [ARGS...]: QMP to the QEMU started as NAME.
kt_qmp() {
    _n=$1
    shift
    python3 "$top_srcdir/tests/lib/qmp.py" "$KT_DIR/$_n.qmp" "$@"
}

# kt_kemari_field NAME KEY: a top-level field of query-kemari.
kt_kemari_field() {
    kt_qmp "$1" query-kemari 2>/dev/null |
        python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])" \
        2>/dev/null
}

# kt_wait_kemari NAME STATE TIMEOUT_S: wait for a Kemari state.
kt_wait_kemari() {
    _t=$(( $3 * 5 ))
    while [ "$_t" -gt 0 ]; do
        [ "$(kt_kemari_field "$1" state)" = "$2" ] && return 0
        sleep 0.2
        _t=$((_t - 1))
    done
    kt_log "$1 did not reach Kemari state $2 (now:" \
        "$(kt_kemari_field "$1" state))"
    return 1
}

# kt_protect PRIMARY SECONDARY PORT [PARAMS-JSON]: enable x-kemari on
# both, let the secondary listen on 127.0.0.1:PORT, migrate, and wait
# until both sides are protected.
kt_protect() {
    _params=${4:-'{}'}
    _caps='{"capabilities":[{"capability":"x-kemari","state":true}]}'
    # KT_XBZRLE=1: the primary sends pages as XBZRLE deltas
    _pcaps=$_caps
    [ "${KT_XBZRLE:-0}" = 1 ] &&
        _pcaps='{"capabilities":[{"capability":"x-kemari","state":true},{"capability":"xbzrle","state":true}]}'
    kt_qmp "$2" migrate-set-capabilities "$_caps" >/dev/null &&
    kt_qmp "$2" migrate-incoming "{\"uri\":\"tcp:127.0.0.1:$3\"}" \
        >/dev/null &&
    kt_qmp "$1" migrate-set-capabilities "$_pcaps" >/dev/null &&
    kt_qmp "$1" migrate-set-parameters "$_params" >/dev/null &&
    kt_qmp "$1" migrate "{\"uri\":\"tcp:127.0.0.1:$3\"}" >/dev/null &&
    kt_wait_kemari "$1" protected 120 && kt_wait_kemari "$2" protected 30
}

# kt_disk_field NAME KEY: KEY of the first replicated disk in
# query-kemari, lower case; "" when there is none.
kt_disk_field() {
    kt_qmp "$1" query-kemari 2>/dev/null | python3 -c "
import json, sys
d = json.load(sys.stdin).get('disks') or [{}]
print(str(d[0].get('$2', '')).lower())" 2>/dev/null
}

# kt_compare_quiesced PRIMARY SECONDARY IMAGE1 IMAGE2 WHAT: stop the
# guest, let two more checkpoints reach the secondary, compare the two
# replicated images byte for byte (a check named WHAT), let the guest go
# on.
kt_compare_quiesced() {
    kt_qmp "$1" stop >/dev/null
    _e=$(kt_kemari_field "$1" epoch)
    _n=0
    while [ "$(kt_kemari_field "$2" epoch)" -lt "$((${_e:-0} + 2))" ] \
            2>/dev/null && [ $_n -lt 100 ]; do
        sleep 0.1
        _n=$((_n + 1))
    done
    _e1=$(kt_kemari_field "$2" epoch)
    if cmp -s "$3" "$4"; then
        kt_pass "$5: stopped at checkpoint $_e, secondary at $_e1: the images are equal"
    else
        kt_fail "$5: stopped at checkpoint $_e, secondary at $_e1: the images differ: $(
            cmp "$3" "$4" 2>&1 | head -n 1)"
    fi
    kt_qmp "$1" cont >/dev/null
}

# kt_nic_dump NAME: for the log, after a guest stopped making progress:
# the state of the test NIC's queues (rx 0, tx 1) and the network.
kt_nic_dump() {
    for _q in 0 1; do
        kt_qmp "$1" x-query-virtio-queue-status \
            "{\"path\": \"/machine/peripheral/nic0/virtio-backend\", \"queue\": $_q}"
    done
    kt_qmp "$1" human-monitor-command '{"command-line": "info network"}'
    tail -n 5 "$KT_DIR/$1.console"
}

# kt_failover NAME: x-kemari-failover on NAME; prints the milliseconds
# from the command to KEMARI_STATE_CHANGE failed-over.
kt_failover() {
    kt_qmp "$1" x-kemari-failover '{}' --then-event KEMARI_STATE_CHANGE \
        --match state=failed-over --timeout 30
}
