# pacemaker.sh - Pacemaker on the simulated nodes of cluster.sh, with real
# fencing (tests/tools/fence_kemari_test).
# shellcheck shell=sh
# Source it AFTER tests/lib/testlib.sh, tests/lib/cluster.sh and
# tests/lib/libvirt.sh (POSIX sh); use it after kc_cluster.
#
# pacemakerd of node I runs in node I's libvirt namespaces (libvirt.sh:
# its network, mount and UTS namespaces, hostname nodeI), beside that
# node's libvirtd, QEMUs and corosync (same network namespace: libqb's
# IPC sockets are abstract, hence per network namespace).  Pacemaker's
# node names are corosync's (node1 ... nodeN).  kp_prepare adds to that
# mount namespace, from node-local directories under $(kl_dir I)/pacemaker/:
#   lib/  -> /var/lib/pacemaker   (cib/, pengine/, ..., hacluster:haclient)
#   log/  -> /var/log/pacemaker   (pacemaker.log: every daemon's log)
#   sbin/ -> an overlay on /usr/sbin adding fence_kemari_test, where the
#            fencer looks for agents (the real /usr/sbin is untouched)
#   $KP_OCF_DIR (when set: PROVIDER/AGENT files) -> an overlay on
#            /usr/lib/ocf/resource.d, so that Pacemaker finds resource
#            agents of the build tree as ocf:PROVIDER:AGENT
# It also writes $KC_DIR/fence-map, which tells the fence agent which
# namespaces and switch ports are this test's nodes (and how to reach
# them: through this shell's namespaces, by pid).  Pass
# "$(kp_fence_params)" (cluster_dir=$KC_DIR) to the stonith resource.
# Daemons log to their file only (PCMK_logfacility=none: nothing goes to
# the machine's syslog).  A node's first CIB is seeded with dc-deadtime
# $KP_DC_DEADTIME (default 5s; empty: Pacemaker's 20s), how long a
# starting controller waits for the others before electing a DC.
#
# API (I, J: node numbers; RSC: a resource id):
#   kp_require_env        skip (77) unless Pacemaker (pacemakerd, crm_mon,
#                         cibadmin, crm_resource, stonith_admin), pcs,
#                         python3, nsenter, overlayfs and the hacluster
#                         user are there (call kl_require_env as well)
#   kp_prepare I          the namespaces (kl_prepare) and the mounts above;
#                         again after the node was killed or fenced
#   kp_start I            pacemakerd in node I (corosync must run there,
#                         kc_corosync_start); waits (60 s) until its
#                         sub-daemons run; sets KP_START_MS
#   kp_stop I [SECS]      clean shutdown: SIGTERM to pacemakerd, wait for
#                         it and its sub-daemons (SECS, default 120), then
#                         SIGKILL what is left; fails if SIGKILL was needed
#                         or pacemakerd's exit status was not 0
#   kp_node_up I          boot node I (again): switch port up, namespaces,
#                         corosync, pacemakerd; KP_WITH_LIBVIRT=1: libvirtd
#                         too, before pacemakerd (resources may need it)
#   kp_on I CMD...        CMD inside node I (= kl_on)
#   kp_pacemakerd_pid I   pacemakerd's pid (empty when not running)
#   kp_daemon_pids I      pids of pacemakerd and its pacemaker-* daemons
#   kp_log I              host path of node I's pacemaker.log
#   kp_nodes I            node I's view, one line per node "nodeJ STATE"
#                         (online, offline, unclean, pending, standby),
#                         then "dc nodeJ" when there is a DC
#   kp_wait_online I SECS [J...]  until node I's crm_mon shows nodes J...
#                         (default all) online and a DC among them
#   kp_where I RSC        node I's view of where RSC (a primitive, or a
#                         clone/group and what is in it) is active: lines
#                         "nodeJ ROLE" (Started, Promoted, Unpromoted;
#                         " failed" appended when failed), sorted; empty
#                         when it runs nowhere
#   kp_wait_where I RSC EXPECTED SECS   until kp_where prints EXPECTED
#                         (e.g. "node2 Started"; lines joined with ";");
#                         KP_WHERE holds the last answer (";"-joined)
#   kp_cib_dump I FILE    the CIB (cibadmin --query) into FILE
#   kp_pcs I FILE ARGS... pcs -f FILE ARGS, offline, inside node I (so pcs
#                         finds fence_kemari_test); no pcsd
#   kp_cib_push I FILE    cibadmin --replace --xml-file FILE
#   kp_configure I FUNC   dump node I's CIB to a file, call FUNC FILE (a
#                         shell function editing it, e.g. with kp_pcs I
#                         FILE ...), then push it (cibadmin --replace)
#   kp_cibadmin I ARGS... cibadmin ARGS inside node I
#   kp_fence_params       the stonith resource's parameters (cluster_dir=)
#   kp_fence_agent I [NAME=VALUE...]  run the fence agent in node I with
#                         these lines on stdin (its exit status)
#   kp_fence_history I [nodeJ]  stonith_admin --history (all targets by
#                         default) on node I, one line per operation
#   kp_fence_log          host path of the agent's own log (one line per
#                         action, with epoch seconds, node, target, result)
# Call kp_prepare/kp_start/kp_stop/kp_node_up in the test's own shell,
# not in $(...) or a pipeline: the daemons must be children of that shell.
#
# Cleanup: Pacemaker's daemons, the resource and fence agents they run,
# are processes of the node's namespaces: the EXIT trap of cluster.sh and
# libvirt.sh kills them (SIGKILL) with everything else of the node, also
# when the test fails; the mounts vanish with the namespaces.  Nothing is
# mounted in the test's own mount namespace.

KP_AGENT=${KEMARI_FENCE_AGENT:-${top_srcdir:-.}/tests/tools/fence_kemari_test}
KP_START_MS=""
KP_DC_DEADTIME=${KP_DC_DEADTIME-5s}

kp__now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

kp_require_env() {
    for _kp_c in pacemakerd crm_mon cibadmin crm_resource stonith_admin \
            crmadmin pcs python3 nsenter; do
        command -v "$_kp_c" >/dev/null || kt_skip "no $_kp_c (Pacemaker)"
    done
    [ -x /usr/lib/pacemaker/pacemaker-fenced ] ||
        kt_skip "no pacemaker-fenced (Pacemaker)"
    for _kp_c in /var/lib/pacemaker /var/log/pacemaker; do
        [ -d "$_kp_c" ] || kt_skip "no $_kp_c (pacemaker)"
    done
    id hacluster >/dev/null 2>&1 || kt_skip "no hacluster user (pacemaker)"
    grep -qw overlay /proc/filesystems ||
        kt_skip "no overlay file system (the fence agent's /usr/sbin)"
    [ -f "$KP_AGENT" ] || kt_skip "no fence agent at $KP_AGENT"
}

kp_dir() { printf '%s/pacemaker\n' "$(kl_dir "$1")"; }
kp_log() { printf '%s/log/pacemaker.log\n' "$(kp_dir "$1")"; }
kp_on() { kl_on "$@"; }
kp_fence_params() { printf 'cluster_dir=%s\n' "$KC_DIR"; }
kp_fence_log() { printf '%s/fence.log\n' "$KC_DIR"; }

kp_pacemakerd_pid() {
    _kp_p=$(cat "$(kl_dir "$1")/pacemakerd.pid" 2>/dev/null)
    [ -n "$_kp_p" ] && kl__alive "$_kp_p" && echo "$_kp_p"
    return 0
}

# pacemakerd and its pacemaker-* daemons in node I.
kp_daemon_pids() {
    for _kp_p in $(kl__ns_pids "$1"); do
        case $(cat "/proc/$_kp_p/comm" 2>/dev/null) in
            pacemakerd|pacemaker-*) echo "$_kp_p" ;;
        esac
    done
}

# kp__fence_map: $KC_DIR/fence-map for the agent (see its header).
kp__fence_map() {
    _kp_st=$(sed 's/.*) //' "/proc/$$/stat" | cut -d' ' -f20)
    {
        echo "# written by tests/lib/pacemaker.sh for fence_kemari_test"
        echo "host $$ $_kp_st"
        echo "prefix $KC_PREFIX"
        echo "switch $(kc_ns sw)"
        for _kp_j in $(seq 1 "$KC_N"); do
            echo "node node$_kp_j $(kc_ns "$_kp_j") n$_kp_j"
        done
    } > "$KC_DIR/fence-map.tmp" &&
        chmod 0644 "$KC_DIR/fence-map.tmp" &&
        mv -f "$KC_DIR/fence-map.tmp" "$KC_DIR/fence-map"
}

# kp__mount_script: run by sh in node I's mount namespace; $1 node dir.
# shellcheck disable=SC2016  # expanded by the inner sh
kp__mount_script='set -e
mount --bind "$1/lib" /var/lib/pacemaker
mount --bind "$1/log" /var/log/pacemaker
mount -t overlay kemari-sbin -o "lowerdir=$1/sbin:/usr/sbin" /usr/sbin
if [ -n "$2" ]; then
    mount -t overlay kemari-ocf \
        -o "lowerdir=$2:/usr/lib/ocf/resource.d" /usr/lib/ocf/resource.d
fi'

kp_prepare() {
    kl_prepare "$1" || return 1
    _kp_d=$(kp_dir "$1")
    case $_kp_d in
        *[,:\ ]*) kt_log "kp_prepare: no overlay under $_kp_d (',', ':'" \
            "or ' ' in the path)"; return 1 ;;
    esac
    _kp_h=$(kl_holder_pid "$1")
    [ "$(cat "$_kp_d/mounted" 2>/dev/null)" = "$_kp_h" ] && return 0
    mkdir -p "$_kp_d/lib/cib" "$_kp_d/lib/pengine" "$_kp_d/lib/blackbox" \
        "$_kp_d/lib/cores" "$_kp_d/log" "$_kp_d/sbin" || return 1
    chown -R hacluster:haclient "$_kp_d/lib" "$_kp_d/log" &&
        chmod 0770 "$_kp_d/lib" "$_kp_d/log" || return 1
    install -m 0755 "$KP_AGENT" "$_kp_d/sbin/fence_kemari_test" || return 1
    if [ -n "$KP_DC_DEADTIME" ] && [ ! -e "$_kp_d/lib/cib/cib.xml" ]; then
        cibadmin --empty > "$_kp_d/cib.seed" &&
        CIB_file=$_kp_d/cib.seed crm_attribute --type crm_config \
            --name dc-deadtime --update "$KP_DC_DEADTIME" &&
        install -o hacluster -g haclient -m 0600 "$_kp_d/cib.seed" \
            "$_kp_d/lib/cib/cib.xml" || return 1
    fi
    kp__fence_map || return 1
    case ${KP_OCF_DIR:-} in
        *[,:\ ]*) kt_log "kp_prepare: no overlay of $KP_OCF_DIR (',', ':'" \
            "or ' ' in the path)"; return 1 ;;
    esac
    if ! nsenter --target "$_kp_h" --mount -- sh -c "$kp__mount_script" \
            kp-node "$_kp_d" "${KP_OCF_DIR:-}" > "$_kp_d/mount.log" 2>&1; then
        kt_log "node $1: Pacemaker's mounts failed: $(cat "$_kp_d/mount.log")"
        return 1
    fi
    echo "$_kp_h" > "$_kp_d/mounted"
}

# kp__wait_corosync I SECS: until node I's corosync answers (quorate or not).
kp__wait_corosync() {
    _kp_t=$(( $2 * 10 ))
    while :; do
        kp_on "$1" corosync-quorumtool -s 2>/dev/null |
            grep -q '^Quorum information' && return 0
        [ "$_kp_t" -gt 0 ] || break
        sleep 0.1
        _kp_t=$((_kp_t - 1))
    done
    kt_log "node $1: corosync does not answer after $2 s"
    return 1
}

kp_start() {
    kp_prepare "$1" || return 1
    if [ -n "$(kp_pacemakerd_pid "$1")" ]; then
        kt_log "node $1: pacemakerd $(kp_pacemakerd_pid "$1") runs already"
        return 1
    fi
    kp__wait_corosync "$1" 30 || return 1
    _kp_t0=$(kp__now_ms)
    kl__spawn "$1" pacemakerd env PCMK_logfile=/var/log/pacemaker/pacemaker.log \
        PCMK_logfacility=none PCMK_blackbox=no \
        HA_LOGFACILITY=none HA_LOGFILE=/var/log/pacemaker/agents.log \
        pacemakerd
    _kp_t=600
    # pacemakerd says "running" once every sub-daemon is up
    until kp_on "$1" crmadmin -P 2>/dev/null | grep -q 'running'; do
        if [ -z "$(kp_pacemakerd_pid "$1")" ] || [ "$_kp_t" -le 0 ]; then
            kt_log "node $1: pacemakerd did not start:" \
                "$(tail -n 5 "$(kl_dir "$1")/pacemakerd.log" 2>/dev/null)" \
                "$(tail -n 5 "$(kp_log "$1")" 2>/dev/null)"
            return 1
        fi
        sleep 0.1
        _kp_t=$((_kp_t - 1))
    done
    # shellcheck disable=SC2034  # read by the caller
    KP_START_MS=$(( $(kp__now_ms) - _kp_t0 ))
}

kp_stop() {
    _kp_p=$(kp_pacemakerd_pid "$1")
    _kp_rc=0
    if [ -n "$_kp_p" ]; then
        kill -TERM "$_kp_p" 2>/dev/null
        _kp_t=$(( ${2:-120} * 10 ))
        while [ -n "$(kp_daemon_pids "$1")" ] && [ "$_kp_t" -gt 0 ]; do
            sleep 0.1
            _kp_t=$((_kp_t - 1))
        done
    fi
    _kp_left=$(kp_daemon_pids "$1")
    if [ -n "$_kp_left" ]; then
        kt_log "node $1: Pacemaker did not stop; SIGKILL to" $_kp_left
        # shellcheck disable=SC2086  # a list of pids
        kill -9 $_kp_left 2>/dev/null
        _kp_rc=1
    fi
    if [ -n "$_kp_p" ]; then
        wait "$_kp_p" 2>/dev/null || _kp_rc=1
    fi
    rm -f "$(kl_dir "$1")/pacemakerd.pid"
    return "$_kp_rc"
}

kp_node_up() {
    kc_restore_link "$1" || return 1
    kp_prepare "$1" || return 1
    _kp_p=$(kc_corosync_pid "$1")
    if [ -z "$_kp_p" ] || ! kl__alive "$_kp_p"; then
        kc_corosync_start "$1" || return 1
    fi
    if [ -n "${KP_WITH_LIBVIRT:-}" ]; then
        _kp_p=$(kl_libvirtd_pid "$1")
        if [ -z "$_kp_p" ] || ! kl__alive "$_kp_p"; then
            kl_start "$1" || return 1
        fi
    fi
    kp_start "$1"
}

# ------------------------------------------------------------- state

# The parser of crm_mon's XML (python3: $1 query, $2 its argument).
# shellcheck disable=SC2016  # python, not shell
kp__py='
import sys
import xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
what = sys.argv[1]
ROLES = {"Master": "Promoted", "Slave": "Unpromoted"}
if what == "nodes":
    for n in root.iterfind("nodes/node"):
        a = n.attrib
        if a.get("unclean") == "true":
            s = "unclean"
        elif a.get("online") != "true":
            s = "offline"
        elif a.get("pending") == "true":
            s = "pending"
        elif a.get("standby") == "true":
            s = "standby"
        else:
            s = "online"
        print(a.get("name"), s)
    dc = root.find("summary/current_dc")
    if dc is not None and dc.get("present") == "true":
        print("dc", dc.get("name"))
elif what == "where":
    want = sys.argv[2]
    out = []
    def walk(e, inside):
        for c in e:
            if c.tag == "resource":
                rid = c.get("id", "")
                if (inside or rid == want or rid.split(":")[0] == want) \
                        and c.get("active") == "true":
                    role = ROLES.get(c.get("role"), c.get("role"))
                    if c.get("failed") == "true":
                        role += " failed"
                    for n in c.iterfind("node"):
                        out.append("%s %s" % (n.get("name"), role))
            elif c.tag in ("clone", "group", "bundle", "replica"):
                walk(c, inside or c.get("id") == want)
    res = root.find("resources")
    if res is not None:
        walk(res, False)
    for l in sorted(out):
        print(l)
'

# kp__xml I QUERY [ARG]: crm_mon's XML of node I through the parser.
kp__xml() {
    _kp_x=$(kp_on "$1" crm_mon -1 --output-as=xml 2>/dev/null) || return 1
    printf '%s\n' "$_kp_x" | python3 -c "$kp__py" "$2" ${3:+"$3"}
}

kp_nodes() { kp__xml "$1" nodes; }
kp_where() { kp__xml "$1" where "$2"; }

kp_wait_online() {
    _kp_i=$1
    _kp_t=$(( $2 * 5 ))
    shift 2
    _kp_want=${*:-$(seq -s " " 1 "$KC_N")}
    while :; do
        _kp_v=$(kp_nodes "$_kp_i" 2>/dev/null)
        _kp_ok=1
        for _kp_j in $_kp_want; do
            printf '%s\n' "$_kp_v" | grep -qx "node$_kp_j online" ||
                _kp_ok=0
        done
        _kp_dc=$(printf '%s\n' "$_kp_v" | sed -n 's/^dc //p')
        case " $_kp_want " in
            *" ${_kp_dc#node} "*) ;;
            *) _kp_ok=0 ;;
        esac
        [ "$_kp_ok" = 0 ] || return 0
        [ "$_kp_t" -gt 0 ] || break
        sleep 0.2
        _kp_t=$((_kp_t - 1))
    done
    kt_log "node $_kp_i: nodes $_kp_want not all online:" \
        "$(printf '%s\n' "$_kp_v" | tr '\n' ';')"
    return 1
}

kp_wait_where() {
    _kp_t=$(( $4 * 5 ))
    while :; do
        KP_WHERE=$(kp_where "$1" "$2" 2>/dev/null | tr '\n' ';')
        [ "${KP_WHERE%;}" = "$3" ] && return 0
        [ "$_kp_t" -gt 0 ] || break
        sleep 0.2
        _kp_t=$((_kp_t - 1))
    done
    kt_log "node $1: $2 is at '${KP_WHERE%;}', not '$3', after $4 s"
    return 1
}

kp_fence_history() {
    kp_on "$1" stonith_admin --history "${2:-*}" --verbose 2>/dev/null |
        grep -E '^ *(reboot|off|on) of '
}

# ------------------------------------------------------------- the CIB

kp_cibadmin() {
    _kp_i=$1
    shift
    kp_on "$_kp_i" cibadmin "$@"
}

kp_cib_dump() { kp_cibadmin "$1" --query > "$2"; }
kp_cib_push() { kp_cibadmin "$1" --replace --xml-file "$2"; }

kp_pcs() {
    _kp_i=$1
    _kp_f=$2
    shift 2
    kp_on "$_kp_i" pcs -f "$_kp_f" "$@"
}

kp_configure() {
    _kp_f=$KT_DIR/cib-$(kp__now_ms).xml
    kp_cib_dump "$1" "$_kp_f" || return 1
    "$2" "$_kp_f" || return 1
    kp_cib_push "$1" "$_kp_f"
}

kp_fence_agent() {
    _kp_i=$1
    shift
    printf '%s\n' "$@" | kp_on "$_kp_i" fence_kemari_test
}
