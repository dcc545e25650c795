# daemon/local.mk - kemarid's modules (libkemarid.a), their unit tests and
# fuzz harnesses.  Paths are relative to the top of the tree.

KEMARID_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(JSON_CFLAGS)
# Install directories the configuration's defaults point into.
KEMARID_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon \
	-DKEMARI_LIBEXECDIR='"$(pkglibexecdir)"' \
	-DKEMARI_SBINDIR='"$(sbindir)"' \
	-DKEMARI_STATEDIR='"$(localstatedir)/lib/kemari"'
KEMARID_LIBS = daemon/libkemarid.a common/libkemari-common.a \
	$(JSON_LIBS) $(GLIB_LIBS)

noinst_LIBRARIES += daemon/libkemarid.a
daemon_libkemarid_a_SOURCES = \
	daemon/fsm.c daemon/fsm.h \
	daemon/pairproto.c daemon/pairproto.h \
	daemon/ctlproto.c daemon/ctlproto.h \
	daemon/jsonstrict.c daemon/jsonstrict.h \
	daemon/conf.c daemon/conf.h \
	daemon/qmpc.c daemon/qmpc.h
daemon_libkemarid_a_CPPFLAGS = $(KEMARID_CPPFLAGS)
daemon_libkemarid_a_CFLAGS = $(KEMARID_CFLAGS)

EXTRA_DIST += daemon/README.md daemon/PROTOCOL.md daemon/kemari.conf.example \
	tests/fuzz/corpus tests/fuzz/fuzz.h \
	tests/unit/golden/kemarid-conf-example.out \
	tests/unit/golden/kemarid-conf-defaults.out \
	tests/unit/golden/kemarid-conf-errors.out \
	tests/unit/golden/kemarid-fsm-table.out

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-kemarid-fsm
UNIT_TESTS += tests/unit/test-kemarid-fsm
tests_unit_test_kemarid_fsm_SOURCES = tests/unit/test-kemarid-fsm.c
tests_unit_test_kemarid_fsm_CPPFLAGS = $(KEMARID_CPPFLAGS) \
	-DKEMARI_TOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_kemarid_fsm_CFLAGS = $(KEMARID_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_kemarid_fsm_LDADD = $(KEMARID_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test-kemarid-pairproto
UNIT_TESTS += tests/unit/test-kemarid-pairproto
tests_unit_test_kemarid_pairproto_SOURCES = \
	tests/unit/test-kemarid-pairproto.c
tests_unit_test_kemarid_pairproto_CPPFLAGS = $(KEMARID_CPPFLAGS)
tests_unit_test_kemarid_pairproto_CFLAGS = $(KEMARID_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_kemarid_pairproto_LDADD = $(KEMARID_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test-kemarid-ctlproto
UNIT_TESTS += tests/unit/test-kemarid-ctlproto
tests_unit_test_kemarid_ctlproto_SOURCES = \
	tests/unit/test-kemarid-ctlproto.c
tests_unit_test_kemarid_ctlproto_CPPFLAGS = $(KEMARID_CPPFLAGS)
tests_unit_test_kemarid_ctlproto_CFLAGS = $(KEMARID_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_kemarid_ctlproto_LDADD = $(KEMARID_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test-kemarid-jsonstrict
UNIT_TESTS += tests/unit/test-kemarid-jsonstrict
tests_unit_test_kemarid_jsonstrict_SOURCES = \
	tests/unit/test-kemarid-jsonstrict.c
tests_unit_test_kemarid_jsonstrict_CPPFLAGS = $(KEMARID_CPPFLAGS)
tests_unit_test_kemarid_jsonstrict_CFLAGS = $(KEMARID_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_kemarid_jsonstrict_LDADD = $(KEMARID_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test-kemarid-conf
UNIT_TESTS += tests/unit/test-kemarid-conf
tests_unit_test_kemarid_conf_SOURCES = tests/unit/test-kemarid-conf.c \
	tests/unit/golden-file.c tests/unit/golden-file.h
tests_unit_test_kemarid_conf_CPPFLAGS = $(KEMARID_CPPFLAGS) \
	-I$(top_srcdir)/tests/unit -DKEMARI_TOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_kemarid_conf_CFLAGS = $(KEMARID_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_kemarid_conf_LDADD = $(KEMARID_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test-kemarid-qmpc
UNIT_TESTS += tests/unit/test-kemarid-qmpc
tests_unit_test_kemarid_qmpc_SOURCES = tests/unit/test-kemarid-qmpc.c \
	tests/unit/test-kemarid-fakeqemu.c tests/unit/test-kemarid-fakeqemu.h
tests_unit_test_kemarid_qmpc_CPPFLAGS = $(KEMARID_CPPFLAGS)
tests_unit_test_kemarid_qmpc_CFLAGS = $(KEMARID_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_kemarid_qmpc_LDADD = $(KEMARID_LIBS) $(CMOCKA_LIBS)
endif

# Fuzz harnesses.  make check runs each under libFuzzer (clang) for a few
# seconds through run-fuzz.sh; the replay programs (gcc) feed them their
# checked-in corpus in check-unit too.
FUZZ_REPLAY_CPPFLAGS = $(KEMARID_CPPFLAGS) -I$(top_srcdir)/tests/fuzz \
	-DKEMARI_TOP_SRCDIR='"$(abs_top_srcdir)"'

check_PROGRAMS += tests/fuzz/replay-pairproto tests/fuzz/replay-ctlproto \
	tests/fuzz/replay-qmp-line
UNIT_TESTS += tests/fuzz/replay-pairproto tests/fuzz/replay-ctlproto \
	tests/fuzz/replay-qmp-line

tests_fuzz_replay_pairproto_SOURCES = tests/fuzz/replay.c \
	tests/fuzz/fuzz-pairproto.c
tests_fuzz_replay_pairproto_CPPFLAGS = $(FUZZ_REPLAY_CPPFLAGS) \
	-DFUZZ_NAME='"pairproto"'
tests_fuzz_replay_pairproto_CFLAGS = $(KEMARID_CFLAGS)
tests_fuzz_replay_pairproto_LDADD = $(KEMARID_LIBS)

tests_fuzz_replay_ctlproto_SOURCES = tests/fuzz/replay.c \
	tests/fuzz/fuzz-ctlproto.c
tests_fuzz_replay_ctlproto_CPPFLAGS = $(FUZZ_REPLAY_CPPFLAGS) \
	-DFUZZ_NAME='"ctlproto"'
tests_fuzz_replay_ctlproto_CFLAGS = $(KEMARID_CFLAGS)
tests_fuzz_replay_ctlproto_LDADD = $(KEMARID_LIBS)

tests_fuzz_replay_qmp_line_SOURCES = tests/fuzz/replay.c \
	tests/fuzz/fuzz-qmp-line.c
tests_fuzz_replay_qmp_line_CPPFLAGS = $(FUZZ_REPLAY_CPPFLAGS) \
	-DFUZZ_NAME='"qmp-line"'
tests_fuzz_replay_qmp_line_CFLAGS = $(KEMARID_CFLAGS)
tests_fuzz_replay_qmp_line_LDADD = $(KEMARID_LIBS)

# The daemon itself.
sbin_PROGRAMS += daemon/kemarid
daemon_kemarid_SOURCES = daemon/kemarid.c daemon/kemarid.h daemon/vm.c \
	daemon/ctlserver.c daemon/backend.h daemon/backend-direct.c \
	daemon/backend-libvirt.c
daemon_kemarid_CPPFLAGS = $(KEMARID_CPPFLAGS) -I$(top_srcdir)/libvirt-driver
daemon_kemarid_CFLAGS = $(KEMARID_CFLAGS) $(LIBVIRT_CFLAGS)
# libkemarixml: the libvirt backend reads each domain's <kemari> element
daemon_kemarid_LDADD = libvirt-driver/libkemarixml.a $(KEMARID_LIBS) \
	$(LIBVIRT_LIBS) $(LIBXML_LIBS)

# Its systemd unit (Type=notify, after corosync, before Pacemaker).
systemdsystemunit_DATA = daemon/kemarid.service
CLEANFILES += daemon/kemarid.service
EXTRA_DIST += daemon/kemarid.service.in
daemon/kemarid.service: daemon/kemarid.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) daemon && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' \
	    -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    $(srcdir)/daemon/kemarid.service.in > $@

# kemarid, kemari(1), corosync and QEMU pairs on three simulated nodes.
INTEGRATION_TESTS += tests/integration/kemarid-cluster.sh
# A primary cut off and superseded is destroyed when it is back (its
# QEMU with the direct backend, its domain with the libvirt backend).
INTEGRATION_TESTS += tests/integration/kemarid-partition.sh \
	tests/integration/kemarid-libvirt-partition.sh
# A libvirt domain whose disk is replicated: settings from its <kemari>,
# the copy's progress in `kemari status`, failover onto node2's copy.
INTEGRATION_TESTS += tests/integration/kemarid-libvirt-replicated.sh
# The same with the direct backend and `kemari start --replicate`, and a
# re-protection after the failover that keeps the disk replicated.
INTEGRATION_TESTS += tests/integration/kemarid-replicated.sh

# (tests/local.mk puts $(INTEGRATION_TESTS) in EXTRA_DIST)
INTEGRATION_TESTS += tests/fuzz/run-fuzz.sh
clean-local: clean-kemarid-fuzz
clean-kemarid-fuzz:
	-rm -rf tests/fuzz/run
.PHONY: clean-kemarid-fuzz
