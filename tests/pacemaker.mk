# tests/pacemaker.mk - Pacemaker on the simulated test nodes, with real
# fencing: the library (tests/lib/pacemaker.sh), the test fence agent and
# the integration test.  Paths are relative to the top of the tree.

# The fence agent is found by the tests in the source tree (pacemaker.sh
# copies it into each node's /usr/sbin overlay); it is never installed.
EXTRA_DIST += tests/lib/pacemaker.sh tests/tools/fence_kemari_test

# 2 nodes, corosync + pacemakerd each, stonith through fence_kemari_test:
# node death, a partition settled by priority-fencing-delay.  Skips (77)
# without Pacemaker.
INTEGRATION_TESTS += tests/integration/pacemaker-fencing.sh

# The whole stack on 2 nodes: Pacemaker (fencing), libvirtd with the hook,
# kemarid (pacemaker policy) and ocf:kemari:KemariDomain: cold start,
# the primary's node killed, fenced, the secondary promoted, the node
# back as the new secondary.
INTEGRATION_TESTS += tests/integration/pacemaker-kemari.sh
