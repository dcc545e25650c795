# daemon/membership.mk - corosync membership module (filled in below)
# The only module that talks to corosync (libcpg, libquorum), its test
# probe and the integration test on a cluster of network namespaces.

daemon_libkemarid_a_SOURCES += daemon/membership.c daemon/membership.h
KEMARID_CFLAGS += $(COROSYNC_CFLAGS)
KEMARID_LIBS += $(COROSYNC_LIBS)

# membership-probe: the module on a main loop, one JSON line per callback
# (tests/integration/membership.sh and later cluster tests).
check_PROGRAMS += tests/tools/membership-probe
tests_tools_membership_probe_SOURCES = tests/tools/membership-probe.c
tests_tools_membership_probe_CPPFLAGS = $(KEMARID_CPPFLAGS)
tests_tools_membership_probe_CFLAGS = $(KEMARID_CFLAGS)
tests_tools_membership_probe_LDADD = $(KEMARID_LIBS)

INTEGRATION_TESTS += tests/integration/membership.sh
EXTRA_DIST += tests/lib/cluster.sh
