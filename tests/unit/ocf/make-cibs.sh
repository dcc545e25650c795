#!/bin/sh
# make-cibs.sh - rebuilds the recorded cluster states of
# tests/unit/check-ocf-promotion.sh (tests/unit/ocf/*.xml) with
# Pacemaker's own tools, so that they can be checked and remade:
#
#   sh tests/unit/ocf/make-cibs.sh [DIR]     (default: beside this script)
#
# then review `git diff tests/unit/ocf/`.  A 2-node cluster (node-a,
# node-b) with quorum, stonith enabled, priority-fencing-delay, a fence
# device, and vm1-clone: ocf:kemari:KemariDomain as a promotable clone
# (promoted-max=1, clone-max=2, the operations of doc/pacemaker.md, meta
# priority 10).  The promotion scores are the node attributes
# master-vm1 that the agent sets (crm_attribute --promotion, lifetime
# reboot), written here with crm_attribute under CIB_file.
#
#   fresh.xml         both nodes just joined, nothing run yet, score 1
#                     each (what the agent's probe sets on a node with no
#                     copy)
#   running.xml       vm1 promoted on node-a (score 1000), unpromoted on
#                     node-b, whose secondary is current (score 100)
#   lost-insync.xml   running.xml, then node-a fails (unclean)
#   lost-stale.xml    as lost-insync.xml, but node-b's secondary is not
#                     current: the agent removed its score
#
# Needs cibadmin, crm_attribute and crm_simulate (pacemaker-cli-utils).
set -eu
out=${1:-$(dirname "$0")}
tmp=$(mktemp -d /tmp/kemari-make-cibs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
unset CIB_file CIB_shadow

cibadmin --empty > "$tmp/base.xml"
CIB_file=$tmp/base.xml
export CIB_file
crm_attribute -t crm_config -n stonith-enabled -v true
crm_attribute -t crm_config -n priority-fencing-delay -v 10s
cibadmin -C -o nodes -X '<node id="1" uname="node-a"/>'
cibadmin -C -o nodes -X '<node id="2" uname="node-b"/>'
cibadmin -C -o resources -X \
    '<primitive id="fence-kemari" class="stonith" type="fence_kemari_test"/>'
cibadmin -C -o resources -X '
<clone id="vm1-clone">
  <meta_attributes id="vm1-clone-meta">
    <nvpair id="vm1-clone-promotable" name="promotable" value="true"/>
    <nvpair id="vm1-clone-promoted-max" name="promoted-max" value="1"/>
    <nvpair id="vm1-clone-clone-max" name="clone-max" value="2"/>
    <nvpair id="vm1-clone-clone-node-max" name="clone-node-max" value="1"/>
  </meta_attributes>
  <primitive id="vm1" class="ocf" provider="kemari" type="KemariDomain">
    <instance_attributes id="vm1-ia">
      <nvpair id="vm1-ia-domain" name="domain" value="vm1"/>
      <nvpair id="vm1-ia-config" name="config" value="/etc/kemari/vm1.xml"/>
    </instance_attributes>
    <meta_attributes id="vm1-meta">
      <nvpair id="vm1-meta-priority" name="priority" value="10"/>
    </meta_attributes>
    <operations>
      <op id="vm1-start" name="start" interval="0s" timeout="60s"/>
      <op id="vm1-stop" name="stop" interval="0s" timeout="120s"/>
      <op id="vm1-promote" name="promote" interval="0s" timeout="120s"/>
      <op id="vm1-demote" name="demote" interval="0s" timeout="120s"/>
      <op id="vm1-monitor-promoted" name="monitor" interval="10s"
          timeout="30s" role="Promoted"/>
      <op id="vm1-monitor-unpromoted" name="monitor" interval="11s"
          timeout="30s" role="Unpromoted"/>
    </operations>
  </primitive>
</clone>'
unset CIB_file

# score FILE NODE VALUE|-D: the agent's promotion score on NODE
score() {
    if [ "$3" = -D ]; then
        CIB_file=$1 crm_attribute -N "$2" -n master-vm1 -l reboot -D
    else
        CIB_file=$1 crm_attribute -N "$2" -n master-vm1 -l reboot -v "$3"
    fi
}

# fresh: the nodes join (with quorum); nothing has run
crm_simulate -x "$tmp/base.xml" -R -q 1 -u node-a -u node-b \
    -I "$tmp/fresh.xml" > /dev/null
score "$tmp/fresh.xml" node-a 1
score "$tmp/fresh.xml" node-b 1

# running: the cluster acts on fresh (probes, starts, one promotion,
# which lands on node-a); then the agent's scores of that situation
cp "$tmp/fresh.xml" "$tmp/start.xml"
score "$tmp/start.xml" node-a 2      # only to put the primary on node-a
crm_simulate -x "$tmp/start.xml" -S -O "$tmp/running.xml" > /dev/null
score "$tmp/running.xml" node-a 1000
score "$tmp/running.xml" node-b 100
crm_simulate -x "$tmp/running.xml" -S -O "$tmp/running2.xml" > /dev/null
mv "$tmp/running2.xml" "$tmp/running.xml"

# node-a fails while it holds the primary
crm_simulate -x "$tmp/running.xml" -R --node-fail node-a \
    -I "$tmp/lost-insync.xml" > /dev/null
cp "$tmp/lost-insync.xml" "$tmp/lost-stale.xml"
score "$tmp/lost-stale.xml" node-b -D

for f in fresh running lost-insync lost-stale; do
    cp "$tmp/$f.xml" "$out/$f.xml"
done
echo "make-cibs.sh: wrote fresh.xml running.xml lost-insync.xml lost-stale.xml in $out"
