# tests/local.mk - the workload, the test guest, unit and integration tests

# kseq: the workload.  Built natively here for the observers; the guest
# gets a static build of the same sources (tests/guest/build-guest.sh).
noinst_PROGRAMS += tests/workload/kseq
tests_workload_kseq_SOURCES = tests/workload/kseq.c \
	tests/workload/kseq-proto.c tests/workload/kseq-proto.h

# The test guest, cached outside the tree; tests/guest/image links to it.
check_DATA += kemari-guest
kemari-guest:
	@$(MKDIR_P) tests/guest
	@dir=$$(KEMARI_CACHE='$(kemaricachedir)' \
	    $(SHELL) $(srcdir)/tests/guest/build-guest.sh | tail -n 1) && \
	  test -f "$$dir/vmlinuz" && rm -f tests/guest/image && \
	  ln -s "$$dir" tests/guest/image
.PHONY: kemari-guest
CLEANFILES += tests/guest/image

EXTRA_DIST += tests/guest/build-guest.sh tests/guest/init \
	tests/lib/testlib.sh tests/lib/qmp.py

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-kseq-proto
UNIT_TESTS += tests/unit/test-kseq-proto
tests_unit_test_kseq_proto_SOURCES = tests/unit/test-kseq-proto.c \
	tests/workload/kseq-proto.c
tests_unit_test_kseq_proto_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/tests/workload
tests_unit_test_kseq_proto_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_kseq_proto_LDADD = $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test-log
UNIT_TESTS += tests/unit/test-log
tests_unit_test_log_SOURCES = tests/unit/test-log.c
tests_unit_test_log_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_log_LDADD = common/libkemari-common.a $(CMOCKA_LIBS)
endif

# Every shell script passes shellcheck (warning level).
UNIT_TESTS += tests/unit/check-shell.sh
EXTRA_DIST += tests/unit/check-shell.sh

INTEGRATION_TESTS += tests/integration/guest-boot.sh \
	tests/integration/engine-failover.sh \
	tests/integration/engine-failover-smp.sh \
	tests/integration/engine-failover-cutoff.sh \
	tests/integration/engine-failover-early.sh \
	tests/integration/engine-failover-replicated.sh \
	tests/integration/engine-replicated.sh \
	tests/integration/engine-resync.sh \
	tests/integration/engine-ram-compare.sh \
	tests/integration/engine-secondary-loss.sh \
	tests/integration/engine-held-limit.sh \
	tests/integration/engine-reprotect.sh \
	tests/integration/engine-corrupt.sh \
	tests/integration/engine-fuzz.sh \
	tests/integration/engine-refuse.sh \
	tests/integration/qemu-migration-test.sh \
	tests/integration/qemu-kemari-wire.sh
EXTRA_DIST += $(INTEGRATION_TESTS)

# Benchmarks: programs that print figures, not tests (`make bench`).
EXTRA_DIST += tests/bench/engine-bench.sh
bench: all kemari-guest
	$(AM_TESTS_ENVIRONMENT) $(SHELL) $(srcdir)/tests/bench/engine-bench.sh
# kemarid: failover time over real corosync, against corosync's detection
EXTRA_DIST += tests/bench/cluster-failover-bench.sh tests/lib/kemarid.sh
bench-cluster: all kemari-guest tests/tools/membership-probe$(EXEEXT)
	$(AM_TESTS_ENVIRONMENT) $(SHELL) \
	    $(srcdir)/tests/bench/cluster-failover-bench.sh
# guest disk write throughput: unprotected, shared and replicated disks
EXTRA_DIST += tests/bench/disk-bench.sh
bench-disk: all kemari-guest
	$(AM_TESTS_ENVIRONMENT) $(SHELL) $(srcdir)/tests/bench/disk-bench.sh
.PHONY: bench bench-cluster bench-disk
