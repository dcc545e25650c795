#!/bin/sh
# ocf-tester.sh - resource-agents' ocf-tester passes on ocf:kemari:KemariDomain
# run against live daemons, not fakes: two simulated nodes with real
# corosync, libvirtd with the hook and kemarid (libvirt backend,
# failover-policy pacemaker); ocf-tester runs in node1 every action the
# way Pacemaker would (meta-data, validate-all, probes, start, monitor,
# notify, promote: a cold start and a request for protection, demote:
# the guest paused, drained and destroyed, stop), each twice where the
# result must not change.  Afterwards no copy of the domain runs on
# node1.
. "${top_srcdir:-.}/tests/lib/testlib.sh"
. "${top_srcdir:-.}/tests/lib/cluster.sh"
. "${top_srcdir:-.}/tests/lib/libvirt.sh"
. "${top_srcdir:-.}/tests/lib/kemarid.sh"

kt_require_env
kl_require_env
for c in corosync ocf-tester jq; do
    command -v $c >/dev/null || kt_skip "no $c"
done
[ -f /usr/lib/ocf/lib/heartbeat/ocf-shellfuncs ] ||
    kt_skip "no ocf-shellfuncs (resource-agents)"
[ -x "$KEMARID" ] && [ -x "$KD_HOOK" ] || kt_skip "kemarid/kemari-hook not built"
kt_mkdir
KD_BACKEND=libvirt
KD_POLICY=pacemaker
# ocf-tester runs meta-data as user nobody: the agent's directory must
# be reachable (the test directory only traversable, not listable)
chmod 0711 "$KT_DIR"
mkdir -m 0755 "$KT_DIR/agent"
agent=$KT_DIR/agent/KemariDomain
install -m 0755 "${top_srcdir:-.}/ocf-agents/KemariDomain" "$agent"

KC_TWO_NODE=1
kc_cluster 2 "ko$$" || kt_die "cannot build the simulated nodes"
for i in 1 2; do
    kc_corosync_start $i || kt_die "node $i: corosync did not start"
done
kc_wait_quorate 1 60 || kt_die "the cluster did not become quorate"
for i in 1 2; do
    kl_prepare $i || kt_die "node $i: no namespaces"
    kd_libvirt_hook $i || kt_die "node $i: cannot install the hook"
    kl_start $i || kt_die "node $i: libvirtd did not start"
    kd_start $i || kt_die "node $i: kemarid did not start"
done
kd_wait_eligible 1 1 30 || kt_die "node1 does not see node2: $(km 1 nodes)"
meta="<metadata><kemari:kemari xmlns:kemari='https://kemari.dev/xmlns/libvirt/1.0'><kemari:peer node='node1'/><kemari:peer node='node2'/><kemari:failover policy='pacemaker'/></kemari:kemari></metadata>"
kl_domxml vm1 "$meta" > "$KT_DIR/vm1.xml"

# -v: the agent's own messages are kept, for when an action fails
if kl_on 1 env OCF_ROOT=/usr/lib/ocf ocf-tester -v -n vm1 \
        -o domain=vm1 -o config="$KT_DIR/vm1.xml" \
        -o kemari_bin="$KEMARI" -o kemari_socket="$KT_DIR/n1/kemarid.sock" \
        "$agent" > "$KT_DIR/ocf-tester.out" 2>&1; then
    rc=0
else
    rc=$?
fi
cat "$KT_DIR/ocf-tester.out"
kt_check "ocf-tester: exit $rc, $(tail -n 1 "$KT_DIR/ocf-tester.out")" \
    eval '[ $rc = 0 ] && grep -q "passed all tests" "$KT_DIR/ocf-tester.out"'
state=$(kl_virsh 1 domstate vm1 2>&1 | head -n 1)
kt_check "after the last stop no copy of vm1 runs on node1 ($state)" \
    eval 'case $state in running|paused) false ;; esac'
kt_check "node1's kemarid: vm1 stopped or gone" eval \
    '[ "$(kd_vm_field 1 role)" != primary ]'
kt_finish
