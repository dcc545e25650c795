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

# Benchmark (prints figures, asserts nothing): on the same 2 nodes and
# guest, Kemari's failover (ocf:kemari:KemariDomain) against a restart
# by ocf:heartbeat:VirtualDomain, node death to the guest answering and
# what each loses.  BENCH_TRIALS (default 10) trials of each.
EXTRA_DIST += tests/bench/pacemaker-bench.sh
bench-pacemaker: all kemari-guest
	$(AM_TESTS_ENVIRONMENT) $(SHELL) \
	    $(srcdir)/tests/bench/pacemaker-bench.sh
.PHONY: bench-pacemaker

# Partitions of the whole stack on 2 nodes, priority-fencing-delay: the
# primary's node cut off, then the secondary's; sampled every ~0.2 s on
# both sides, never two running primaries, the node with the primary
# wins, the other is fenced and comes back as the secondary.
INTEGRATION_TESTS += tests/integration/pacemaker-kemari-partition.sh
# The 3-node variant (quorum 2 of 3, clone-max=3, two deaths in a row)
# starts vm1 cold through Pacemaker: the guest is protected while it
# boots.
INTEGRATION_TESTS += tests/integration/pacemaker-kemari-3node.sh
